#!/usr/bin/env bash
# bench kafka: issue 16's speed rows, on the same broker in one run (best of
# BENCH_RUNS, runs interleaved so that a change of load on the box hits both
# sides alike):
#   kafka-sink     cdc-sink-kafka  vs  kcat -P -K TAB, the same lines and keys,
#                  both idempotent with acks=all and the murmur2_random
#                  partitioner, the same -X BENCH_KAFKA_PROPS, each run into a
#                  fresh 3-partition topic; time to the last acknowledgement
#                  (both exit once everything is delivered).  Throughput
#                  ratio = kcat time / ours, goal >= 0.90.  A reference
#                  line beside it: kcat with two headers like ours (-H op
#                  -H position), what the headers cost the broker and
#                  librdkafka.  Two rows compare the same messages on both
#                  sides: ours against that kcat -H (kafka-sink-same-headers)
#                  and ours --no-headers against kcat -P
#                  (kafka-sink-no-headers).
#   kafka-source   cdc-source-kafka -e  vs  kcat -C -G -e -q -f '%s\n', both a
#                  fresh consumer group each run, reading one topic that
#                  cdc-sink-kafka wrote (marks included) to /dev/null.  Goal
#                  >= 0.90 as a throughput ratio.
#   kafka-latency  commit-to-index p50/p99 at 2000 changes/s through Kafka:
#                    cdc-capture | cdc-sink-kafka
#                    cdc-source-kafka | cdc-map | cdc-sink-es
#                  pgbench paced at 2000 rows/s (1-10 rows a transaction),
#                  commit time copied into the document by cdc-map, stamped
#                  by an ingest pipeline (as in pipeline-cost.sh); CPU of
#                  each stage from tests/bench/pipeline-measure.py; rows in
#                  the table = documents in the index.
#
# Without CDC_TEST_KAFKA_BROKERS the broker is started here
# (tests/services.sh kafka-up) and stopped at the end (kafka-down).
# Env: CDC_BIN, CDC_TEST_KAFKA_BROKERS, CDC_TEST_PG, CDC_TEST_ES_URL (run.sh
# sets them; without PostgreSQL or Elasticsearch the latency row is
# skipped); BENCH_KAFKA_EVENTS (default 300000 events of ~430 bytes),
# BENCH_RUNS (3), BENCH_KAFKA_PROPS (librdkafka properties given to both
# producers, default "linger.ms=5 batch.num.messages=10000", librdkafka's
# defaults made explicit), BENCH_KAFKA_SECS (measured seconds of the latency
# row, default 20), BENCH_KAFKA_WARM (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
: "${CDC_BIN:=$top/build/bin}"
N=${BENCH_KAFKA_EVENTS:-300000}
RUNS=${BENCH_RUNS:-3}
PROPS=${BENCH_KAFKA_PROPS:-linger.ms=5 batch.num.messages=10000}
SECS=${BENCH_KAFKA_SECS:-20}
WARM=${BENCH_KAFKA_WARM:-3}
PY=/usr/bin/python3	# Debian's, with python3-confluent-kafka (tests/kafka/topics.py)
command -v kcat >/dev/null || { echo "bench kafka: kcat is not installed" >&2; exit 1; }

started_kafka=false
if [ -z "${CDC_TEST_KAFKA_BROKERS:-}" ]; then
	# A broker the services already run is someone else's: use it, leave it up.
	if ! ./tests/services.sh status kafka >/dev/null 2>&1; then
		./tests/services.sh kafka-up
		started_kafka=true
	fi
	eval "$(./tests/services.sh env)"
fi
B=$CDC_TEST_KAFKA_BROKERS
PFX=bench-kafka-$$-
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-kafka.XXXXXX")
pids=()
cleanup_more=:
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || :; done
	$cleanup_more
	"$PY" tests/kafka/topics.py "$B" delete-prefix "$PFX" >/dev/null 2>&1 || :
	rm -rf "$tmp"
	if $started_kafka; then ./tests/services.sh kafka-down || :; fi
}
trap cleanup EXIT

xprops=()
for p in $PROPS; do xprops+=(-X "$p"); done
topic() { "$PY" tests/kafka/topics.py "$B" create "$1" "$2"; }
# messages TOPIC: the messages on TOPIC (sum of the high watermarks; an
# idempotent producer outside transactions leaves no gaps).
messages() {
	"$PY" - "$B" "$1" <<-'PY'
	import sys
	from confluent_kafka import Consumer, TopicPartition
	c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "bench-kafka-watermarks"})
	t = sys.argv[2]
	parts = c.list_topics(t, timeout=10).topics[t].partitions
	print(sum(c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1] for p in parts))
	c.close()
	PY
}
now_ns() { date +%s%N; }
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
rate() { awk -v ns="$1" -v n="$2" 'BEGIN { printf "%.2f s (%.0f msgs/s)", ns / 1e9, n * 1e9 / ns }'; }
# row NAME OURS-NS PEER-NS PEER-NAME: throughput ratio peer time / ours, goal >= 0.90.
row() {
	awk -v name="$1" -v o="$2" -v p="$3" -v peer="$4" 'BEGIN {
		r = p / o
		printf "bench %s: ours %.2f s, peer %.2f s (%s), throughput ratio %.2f (goal >= 0.90) %s\n",
			name, o / 1e9, p / 1e9, peer, r, (r >= 0.9 ? "PASS" : "FAIL") }'
}

# ---- input: N insert events of ~430 bytes (as sink-es.sh), and the same as
# "KEY<TAB>LINE" for kcat, KEY being the event's key member byte for byte.
"$PY" - "$N" "$tmp/events.ndjson" "$tmp/keyed.tsv" <<'PY'
import json, sys
n = int(sys.argv[1])
with open(sys.argv[2], "w") as ev, open(sys.argv[3], "w") as kv:
    for i in range(n):
        lsn = 0x1000000 + i * 64
        after = {"id": i, "customer": "customer-%d" % (i % 977), "status": ("new", "paid", "shipped")[i % 3],
                 "amount": "%d.%02d" % (i % 10000, i % 100), "note": "x" * (i % 40),
                 "created": "2026-11-21T05:30:%02d.123456Z" % (i % 60)}
        line = json.dumps({"op": "c", "before": None, "after": after, "key": {"id": i},
                           "source": {"version": "0.1.0", "connector": "postgresql", "name": "bench",
                                      "db": "shop", "schema": "public", "table": "orders", "txId": i,
                                      "lsn": lsn, "commit_lsn": lsn, "seq": 1, "ts_ms": 1763700000000,
                                      "snapshot": "false"}, "ts_ms": 1763700000100},
                          separators=(",", ":"))
        ev.write(line + "\n")
        kv.write('{"id":%d}\t%s\n' % (i, line))
PY
echo "kafka: broker $B, $N events ($(du -h "$tmp/events.ndjson" | cut -f1)), 3 partitions, best of $RUNS, producer properties: $PROPS"

# ---- 1. producing: cdc-sink-kafka against kcat -P
ours_sink() {
	"$CDC_BIN/cdc-sink-kafka" -q --brokers "$B" --topic "$1" "${xprops[@]}" <"$tmp/events.ndjson"
}
kcat_sink() {
	kcat -P -q -b "$B" -t "$1" -K $'\t' -X acks=all -X enable.idempotence=true \
		-X partitioner=murmur2_random "${xprops[@]}" <"$tmp/keyed.tsv"
}
# The same with two headers of our headers' size on every message (kcat
# sets the same ones on all): what the broker and librdkafka pay for the
# headers ours carry.  A reference row, not the goal's peer.
kcath_sink() {
	kcat -P -q -b "$B" -t "$1" -K $'\t' -X acks=all -X enable.idempotence=true \
		-X partitioner=murmur2_random "${xprops[@]}" -H op=c -H position=0/1000000:1 <"$tmp/keyed.tsv"
}
# Ours with --no-headers: the same messages as kcat -P's, byte for byte.
ourn_sink() {
	"$CDC_BIN/cdc-sink-kafka" -q --no-headers --brokers "$B" --topic "$1" "${xprops[@]}" <"$tmp/events.ndjson"
}
# produce WHO TOPIC: one timed run into the fresh TOPIC; nanoseconds in $took.
produce() {
	local t0 t1 m
	topic "$2" 3
	t0=$(now_ns)
	"${1}_sink" "$2"
	t1=$(now_ns)
	m=$(messages "$2")
	[ "$m" -ge "$N" ] || { echo "bench kafka-sink: $1 wrote $m of $N messages to $2" >&2; exit 1; }
	if [ "${1#kcat}" != "$1" ] && [ "$m" != "$N" ]; then
		echo "bench kafka-sink: kcat wrote $m messages, not $N, to $2" >&2
		exit 1
	fi
	took=$((t1 - t0))
}
t_ours= t_kcat= t_kcath= t_ourn=
for r in $(seq "$RUNS"); do
	produce kcat "${PFX}kcat-$r"
	t_kcat=$(min "$t_kcat" "$took")
	produce ours "${PFX}ours-$r"
	t_ours=$(min "$t_ours" "$took")
	produce kcath "${PFX}kcath-$r"
	t_kcath=$(min "$t_kcath" "$took")
	produce ourn "${PFX}ourn-$r"
	t_ourn=$(min "$t_ourn" "$took")
done
T=${PFX}ours-$RUNS
marks=$(($(messages "$T") - N))
echo "  kcat -P -K:      best of $RUNS: $(rate "$t_kcat" "$N")"
echo "  cdc-sink-kafka:  best of $RUNS: $(rate "$t_ours" "$N") (+ $marks marks in the last run)"
row kafka-sink "$t_ours" "$t_kcat" "kcat -P"
echo "  kcat -P -K -H op -H position (reference): best of $RUNS: $(rate "$t_kcath" "$N"); ratio to ours $(awk -v o="$t_ours" -v p="$t_kcath" 'BEGIN { printf "%.2f", p / o }')"
echo "  cdc-sink-kafka --no-headers: best of $RUNS: $(rate "$t_ourn" "$N")"
# The same messages on both sides: with the two headers, and without.
row kafka-sink-same-headers "$t_ours" "$t_kcath" "kcat -P -H op -H position"
row kafka-sink-no-headers "$t_ourn" "$t_kcat" "kcat -P; ours --no-headers"

# ---- 2. consuming the topic cdc-sink-kafka wrote: cdc-source-kafka against kcat -C
ours_source() {
	"$CDC_BIN/cdc-source-kafka" -q -e --brokers "$B" --group "$1" --topic "$T"
}
kcat_source() {
	kcat -C -q -e -b "$B" -G "$1" -X auto.offset.reset=earliest -f '%s\n' "$T"
}
# The output once, checked: ours prints the N events in order, kcat every
# message (marks too).
ours_source "${PFX}check-ours" >"$tmp/out.ours"
kcat_source "${PFX}check-kcat" >"$tmp/out.kcat"
[ "$(wc -l <"$tmp/out.ours")" = "$N" ] || { echo "bench kafka-source: cdc-source-kafka printed $(wc -l <"$tmp/out.ours") of $N events" >&2; exit 1; }
cmp -s "$tmp/out.ours" "$tmp/events.ndjson" || { echo "bench kafka-source: cdc-source-kafka's output differs from the input" >&2; exit 1; }
[ "$(wc -l <"$tmp/out.kcat")" = "$((N + marks))" ] || { echo "bench kafka-source: kcat printed $(wc -l <"$tmp/out.kcat") of $((N + marks)) messages" >&2; exit 1; }
rm -f "$tmp/out.ours" "$tmp/out.kcat"
# consume WHO GROUP: one timed read of the topic as the new GROUP; nanoseconds in $took.
consume() {
	local t0 t1
	t0=$(now_ns)
	"${1}_source" "$2" >/dev/null
	t1=$(now_ns)
	took=$((t1 - t0))
}
c_ours= c_kcat=
for r in $(seq "$RUNS"); do
	consume kcat "${PFX}kcat-$r"
	c_kcat=$(min "$c_kcat" "$took")
	consume ours "${PFX}ours-$r"
	c_ours=$(min "$c_ours" "$took")
done
echo "  kcat -C -G -e:        best of $RUNS: $(rate "$c_kcat" "$((N + marks))") (prints the marks too)"
echo "  cdc-source-kafka -e:  best of $RUNS: $(rate "$c_ours" "$N") (merged in position order, marks dropped)"
row kafka-source "$c_ours" "$c_kcat" "kcat -C -G -e"

# ---- 3. commit-to-index latency through Kafka at 2000 changes/s
if [ -z "${CDC_TEST_PG:-}" ] || [ -z "${CDC_TEST_ES_URL:-}" ]; then
	echo "bench kafka-latency: skipped (needs CDC_TEST_PG and CDC_TEST_ES_URL)"
	exit 0
fi
U=${CDC_TEST_ES_URL%/}
BINDIR=${CDC_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}
STATE=${CDC_TEST_STATE:-$top/tests/.services}
db=bench_kafka_$$
dsn="$CDC_TEST_PG dbname=$db"
IDX=bench-kafka-lat
LT=${PFX}lat.orders
psql() { command "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup_lat() {
	psql -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db'" >/dev/null 2>&1 || :
	psql -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || :
	curl -s -o /dev/null -XDELETE "$U/$IDX"
	curl -s -o /dev/null -XDELETE "$U/_ingest/pipeline/bench-kafka-ts"
}
cleanup_more=cleanup_lat
curl -s "$U/_nodes/_local" | grep -q '"ingest"' ||
	{ echo "bench kafka-latency: the Elasticsearch node has no ingest role" >&2; exit 1; }

psql -d "$CDC_TEST_PG" -c "CREATE DATABASE $db"
psql -d "$dsn" -c "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, amount int)"
psql -d "$dsn" -c "CREATE PUBLICATION pipe FOR TABLE orders"
cat >"$tmp/load.sql" <<'SQL'
\set n random(1, 10)
INSERT INTO orders (note, amount) SELECT 'order note', g FROM generate_series(1, :n) g;
SQL
curl -sf -o /dev/null -XPUT "$U/_ingest/pipeline/bench-kafka-ts" -H 'Content-Type: application/json' -d '{
  "processors": [
    {"set": {"field": "ingest_ts", "value": "{{{_ingest.timestamp}}}"}},
    {"script": {"source": "ctx.lat_ms = ZonedDateTime.parse(ctx.ingest_ts).toInstant().toEpochMilli() - ctx.commit_ms"}}
  ]}'
curl -s -o /dev/null -XDELETE "$U/$IDX"
curl -sf -o /dev/null -XPUT "$U/$IDX" -H 'Content-Type: application/json' -d '{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "index.default_pipeline": "bench-kafka-ts"},
  "mappings": {"properties": {"commit_ms": {"type": "long"}, "lat_ms": {"type": "long"},
                              "ingest_ts": {"type": "date_nanos"}}}}'
topic "$LT" 3

count_docs() {
	curl -s -o /dev/null -XPOST "$U/$IDX/_refresh"
	curl -s "$U/$IDX/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))'
}
# latency FROM TO: "p50 p99 max n" of lat_ms over documents committed in [FROM, TO) ms.
latency() {
	curl -s "$U/$IDX/_search?size=0&track_total_hits=true" -H 'Content-Type: application/json' -d '{
	  "query": {"range": {"commit_ms": {"gte": '"$1"', "lt": '"$2"'}}},
	  "aggs": {"p": {"percentiles": {"field": "lat_ms", "percents": [50, 99],
	                                 "hdr": {"number_of_significant_value_digits": 3}}},
	           "mx": {"max": {"field": "lat_ms"}}}}' |
		python3 -c 'import json,sys
r = json.load(sys.stdin)
v = r["aggregations"]["p"]["values"]
print("%.0f %.0f %.0f %d" % (v["50.0"] or 0, v["99.0"] or 0, r["aggregations"]["mx"]["value"] or 0, r["hits"]["total"]["value"]))'
}

mkdir "$tmp/ck"
kck=$tmp/ck/kafka.ckpt
eck=$tmp/ck/es.ckpt
mkfifo "$tmp/p1" "$tmp/p2" "$tmp/p3"
# Machine one: PostgreSQL to Kafka.
"$CDC_BIN/cdc-sink-kafka" -q --brokers "$B" --topic "${PFX}lat.{table}" --checkpoint "$kck" \
	<"$tmp/p1" 2>"$tmp/sink-kafka.err" &
sinkk_pid=$!
"$CDC_BIN/cdc-capture" -q -d "$dsn" --slot "$db" --publication pipe --create-slot \
	--snapshot never --ack-file "$kck" >"$tmp/p1" 2>"$tmp/capture.err" &
cap_pid=$!
# Machine two: Kafka to Elasticsearch.
"$CDC_BIN/cdc-sink-es" -q --url "$U" --index "$IDX" --checkpoint "$eck" --stats \
	<"$tmp/p3" 2>"$tmp/sink-es.err" &
sinke_pid=$!
"$CDC_BIN/cdc-map" 'if .after then .after.commit_ms = .source.ts_ms else . end' \
	<"$tmp/p2" >"$tmp/p3" 2>"$tmp/map.err" &
map_pid=$!
"$CDC_BIN/cdc-source-kafka" -q --brokers "$B" --group "${PFX}lat" --topic "$LT" --ack-file "$eck" \
	>"$tmp/p2" 2>"$tmp/source.err" &
src_pid=$!
pids=("$cap_pid" "$sinkk_pid" "$src_pid" "$map_pid" "$sinke_pid")
for _ in $(seq 100); do
	[ "$(psql -d "$dsn" -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$db' AND active")" = 1 ] && break
	sleep 0.1
done
tps=$(python3 -c "print(round(2000 / 5.5, 1))")
"$BINDIR/pgbench" -n -c 4 -j 2 -R "$tps" -T $((WARM + SECS + 1)) -f "$tmp/load.sql" "$dsn" \
	>"$tmp/pgbench.log" 2>&1 &
pg_pid=$!
pids+=("$pg_pid")
sleep "$WARM"
t0=$(date +%s%3N)
m=$("$PY" tests/bench/pipeline-measure.py "$SECS" "$eck" "$U" "$IDX" \
	capture="$cap_pid" sink_kafka="$sinkk_pid" source_kafka="$src_pid" map="$map_pid" sink_es="$sinke_pid")
t1=$(date +%s%3N)
wait "$pg_pid" || { cat "$tmp/pgbench.log" >&2; echo "bench kafka-latency: pgbench failed" >&2; exit 1; }
rows=$(psql -d "$dsn" -c "SELECT count(*) FROM orders")
docs=0
for _ in $(seq 300); do
	docs=$(count_docs)
	[ "$docs" = "$rows" ] && break
	sleep 0.2
done
kill -TERM "$cap_pid" "$src_pid" 2>/dev/null || :
wait "$cap_pid" "$sinkk_pid" "$src_pid" "$map_pid" "$sinke_pid" 2>/dev/null || :
pids=()
read -r p50 p99 max nlat < <(latency "$t0" "$t1")
declare -A M=()
for kv in $m; do M[${kv%%=*}]=${kv#*=}; done
pct() { awk -v c="${M[cpu_$1]}" -v w="${M[secs]}" 'BEGIN { printf "%.1f", c * 100 / w }'; }
achieved=$(awk -v d="${M[docs]}" -v w="${M[secs]}" 'BEGIN { printf "%.0f", d / w }')
echo "  pipeline: ${SECS} s measured after ${WARM} s warm-up, achieved $achieved changes/s; commit->ingest p50 $p50 ms, p99 $p99 ms, max $max ms ($nlat docs);" \
	"CPU % of a core: cdc-capture $(pct capture), cdc-sink-kafka $(pct sink_kafka), cdc-source-kafka $(pct source_kafka), cdc-map $(pct map), cdc-sink-es $(pct sink_es); rows $rows, docs $docs"
if [ "$docs" = "$rows" ] && [ "$nlat" -gt 0 ]; then verdict=PASS; else verdict=FAIL; fi
echo "bench kafka-latency: commit->index through Kafka at 2000 changes/s: p50 $p50 ms, p99 $p99 ms over $nlat changes; rows $rows, documents $docs (goal: measured, nothing lost) $verdict"
