#!/usr/bin/env bash
# bench sink-es: cdc-sink-es throughput against (1) the same documents as
# pre-built _bulk bodies posted with curl at the same batch size and the same
# number of requests in flight (what the server takes on this box), and (2)
# opensearch-py's helpers.streaming_bulk (the elasticsearch-py helper, in the
# OpenSearch client; installed into ~/.cache/cdc/bench-venv on first use).
# Then the commit-to-acknowledged latency p50/p99 of the whole pipeline
# cdc-capture | cdc-sink-es at a steady 2000 changes/s.
#
# Env: CDC_BIN, CDC_TEST_ES_URL, CDC_TEST_PG (tests/bench/run.sh sets them);
# BENCH_DOCS (default 200000), BENCH_BATCH (5000), BENCH_WORKERS (2),
# BENCH_RUNS (3), BENCH_RATE_SECS (20), BENCH_PEER (1; 0: no opensearch-py,
# e.g. against Elasticsearch, whose product check that client does not pass).
set -euo pipefail

: "${CDC_BIN:?}" "${CDC_TEST_ES_URL:?}"
U=${CDC_TEST_ES_URL%/}
N=${BENCH_DOCS:-200000}
B=${BENCH_BATCH:-5000}
W=${BENCH_WORKERS:-2}
RUNS=${BENCH_RUNS:-3}
SINK=$CDC_BIN/cdc-sink-es
IDX=bench-sink-es
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-sink-es.XXXXXX")
trap 'rm -rf "$tmp"; curl -s -o /dev/null -XDELETE "$U/$IDX"' EXIT

# ---- input: N insert events, ~330 bytes each
python3 - "$N" >"$tmp/events.ndjson" <<'PY'
import json, sys
n = int(sys.argv[1])
w = sys.stdout.write
for i in range(n):
    lsn = 0x1000000 + i * 64
    after = {"id": i, "customer": "customer-%d" % (i % 977), "status": ("new", "paid", "shipped")[i % 3],
             "amount": "%d.%02d" % (i % 10000, i % 100), "note": "x" * (i % 40),
             "created": "2026-11-21T05:30:%02d.123456Z" % (i % 60)}
    w(json.dumps({"op": "c", "before": None, "after": after, "key": {"id": i},
                  "source": {"version": "0.1.0", "connector": "postgresql", "name": "bench",
                             "db": "shop", "schema": "public", "table": "orders", "txId": i,
                             "lsn": lsn, "commit_lsn": lsn, "seq": 1, "ts_ms": 1763700000000,
                             "snapshot": "false"}, "ts_ms": 1763700000100},
                 separators=(",", ":")) + "\n")
PY
# The same actions as pre-built bodies of B documents (what the sink sends).
mkdir "$tmp/bodies"
"$SINK" --dry-run --index "$IDX" --batch-docs "$B" --workers 1 <"$tmp/events.ndjson" |
	split -l $((2 * B)) -d -a 5 - "$tmp/bodies/b."
nbodies=$(ls "$tmp/bodies" | wc -l)

fresh() {
	curl -s -o /dev/null -XDELETE "$U/$IDX"
	curl -sf -o /dev/null -XPUT "$U/$IDX" -H 'Content-Type: application/json' \
		-d '{"settings":{"number_of_shards":1,"number_of_replicas":0}}'
}
count() {
	curl -s -o /dev/null -XPOST "$U/$IDX/_refresh"
	curl -s "$U/$IDX/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}
now() { date +%s.%N; }
# once NAME CMD...: one timed run into a fresh index; checks the count; prints seconds.
once() {
	local name=$1 t0 t1 c
	shift
	fresh
	t0=$(now)
	"$@"
	t1=$(now)
	c=$(count)
	[ "$c" = "$N" ] || { echo "bench sink-es: $name indexed $c of $N documents" >&2; exit 1; }
	echo "$t1 - $t0" | bc -l
}
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
rate() { printf '%.2f s (%d docs/s)' "$1" "$(echo "$N / $1" | bc)"; }

curl_bodies() {
	ls "$tmp"/bodies/b.* | xargs -P "$W" -I{} curl -sf -o /dev/null \
		-H 'Content-Type: application/x-ndjson' -H 'Expect:' -XPOST "$U/_bulk?filter_path=errors" \
		--data-binary @{}
}
ours() {
	"$SINK" -q --url "$U" --index "$IDX" --batch-docs "$B" --workers "$W" <"$tmp/events.ndjson"
}

venv=${XDG_CACHE_HOME:-$HOME/.cache}/cdc/bench-venv
if [ "${BENCH_PEER:-1}" = 0 ]; then
	:
elif [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import opensearchpy' 2>/dev/null; then
	python3 -m venv "$venv" && "$venv/bin/pip" install -q opensearch-py ||
		echo "bench sink-es: cannot install opensearch-py; skipping the peer client" >&2
fi
cat >"$tmp/peer.py" <<'PY'
import json, sys
from opensearchpy import OpenSearch, helpers
url, index, path, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = OpenSearch(url, timeout=120)
def actions():
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            yield {"_op_type": "index", "_index": index, "_id": str(e["key"]["id"]),
                   "version": e["source"]["commit_lsn"], "version_type": "external_gte",
                   "_source": e["after"]}
for ok, item in helpers.streaming_bulk(client, actions(), chunk_size=chunk,
                                       max_chunk_bytes=5 << 20, raise_on_error=True):
    pass
PY
peer() { "$venv/bin/python" "$tmp/peer.py" "$U" "$IDX" "$tmp/events.ndjson" "$B"; }

have_peer=false
if [ "${BENCH_PEER:-1}" != 0 ] && [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import opensearchpy' 2>/dev/null; then
	have_peer=true
fi
echo "sink-es: $N documents, $nbodies bodies of $B, $W in flight, $(du -h "$tmp/events.ndjson" | cut -f1) of events"
# The runs interleave, so that a change of load on the box hits every contender alike.
t_curl= t_ours= t_peer=
for r in $(seq "$RUNS"); do
	t_curl=$(min "$t_curl" "$(once curl curl_bodies)")
	t_ours=$(min "$t_ours" "$(once cdc-sink-es ours)")
	if $have_peer; then t_peer=$(min "$t_peer" "$(once opensearch-py peer)"); fi
done
echo "  curl, pre-built _bulk bodies: best of $RUNS: $(rate "$t_curl")"
echo "  cdc-sink-es:                  best of $RUNS: $(rate "$t_ours")"
$have_peer && echo "  opensearch-py streaming_bulk: best of $RUNS: $(rate "$t_peer")"
# Throughput ratio: ours / curl in docs/s = t_curl / t_ours (goal >= 0.9).
echo "bench sink-es: ours $(printf %.2f "$t_ours") s, peer(curl bodies) $(printf %.2f "$t_curl") s, throughput ratio $(printf '%.2f' "$(echo "$t_curl / $t_ours" | bc -l)") (goal >= 0.90)"
if $have_peer; then
	echo "bench sink-es-peer: ours $(printf %.2f "$t_ours") s, peer(opensearch-py streaming_bulk) $(printf %.2f "$t_peer") s, throughput ratio $(printf '%.2f' "$(echo "$t_peer / $t_ours" | bc -l)")"
fi

# ---- latency of the whole pipeline at a steady 2000 changes/s
if [ -n "${CDC_TEST_PG:-}" ] && [ -x "$CDC_BIN/cdc-capture" ]; then
	secs=${BENCH_RATE_SECS:-20}
	db=bench_sink_es_$$
	psql() { command "${CDC_TEST_PG_BINDIR:+$CDC_TEST_PG_BINDIR/}psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
	psql -d "$CDC_TEST_PG" -c "CREATE DATABASE $db"
	dsn="$CDC_TEST_PG dbname=$db"
	cleanup_db() {
		psql -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db'" >/dev/null 2>&1 || :
		psql -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || :
	}
	trap 'cleanup_db; rm -rf "$tmp"; curl -s -o /dev/null -XDELETE "$U/$IDX" "$U/bench-lat-*"' EXIT
	psql -d "$dsn" <<-'SQL'
	CREATE TABLE orders (id bigint PRIMARY KEY, status text, amount numeric, note text);
	CREATE PROCEDURE load(secs int, per_tick int) LANGUAGE plpgsql AS $$
	DECLARE t0 timestamptz := clock_timestamp(); tick int := 0; n bigint := 0;
	BEGIN
	  WHILE clock_timestamp() < t0 + make_interval(secs => secs) LOOP
	    INSERT INTO orders SELECT n + g, 'new', g, 'x' FROM generate_series(1, per_tick) g;
	    n := n + per_tick;
	    COMMIT;
	    tick := tick + 1;
	    PERFORM pg_sleep(greatest(0, extract(epoch FROM (t0 + make_interval(secs => tick * 0.01)) - clock_timestamp())));
	  END LOOP;
	END $$;
	SQL
	ck=$tmp/lat.ckpt
	# Steady state: the index exists before the first change.
	curl -s -o /dev/null -XDELETE "$U/bench-lat-orders"
	curl -sf -o /dev/null -XPUT "$U/bench-lat-orders" -H 'Content-Type: application/json' \
		-d '{"settings":{"number_of_shards":1,"number_of_replicas":0}}'
	mkfifo "$tmp/pipe"
	"$SINK" -q --url "$U" --index "bench-lat-{table}" --checkpoint "$ck" --workers "$W" --stats \
		<"$tmp/pipe" 2>"$tmp/lat.err" &
	sink_pid=$!
	"$CDC_BIN/cdc-capture" -q -d "$dsn" --slot "$db" --publication "$db" --create-slot \
		--create-publication --snapshot never --ack-file "$ck" --heartbeat 1 --status-interval 1 \
		>"$tmp/pipe" &
	cap_pid=$!
	sleep 2
	# 20 rows every 10 ms: 2000 changes/s.
	psql -d "$dsn" -c "CALL load($secs, 20)"
	rows=$(psql -d "$dsn" -c "SELECT count(*) FROM orders")
	for _ in $(seq 100); do
		c=$(curl -s -XPOST "$U/bench-lat-orders/_refresh" -o /dev/null; curl -s "$U/bench-lat-orders/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))')
		[ "$c" = "$rows" ] && break
		sleep 0.2
	done
	kill -TERM "$cap_pid" 2>/dev/null || :
	wait "$cap_pid" 2>/dev/null || :
	wait "$sink_pid" 2>/dev/null || :
	stats=$(grep 'stats:' "$tmp/lat.err" || :)
	echo "  pipeline: $rows changes in ${secs} s ($((rows / secs))/s), index has $c"
	echo "  $stats"
	p50=$(sed -n 's/.*lag p50 \([-0-9]*\) ms, p99 \([-0-9]*\) ms.*/\1/p' <<<"$stats")
	p99=$(sed -n 's/.*lag p50 \([-0-9]*\) ms, p99 \([-0-9]*\) ms.*/\2/p' <<<"$stats")
	echo "bench sink-es-latency: commit-to-acknowledged at 2000 changes/s: p50 ${p50} ms, p99 ${p99} ms"
fi
