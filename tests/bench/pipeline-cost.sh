#!/usr/bin/env bash
# bench pipeline-cost: what a change costs and how late it arrives, through
#
#   cdc-capture --ack-file CK | cdc-map PROG | cdc-sink-es --checkpoint CK
#
# into the real OpenSearch, with pgbench (the same PostgreSQL's) paced at
# each of BENCH_PIPE_RATES changed rows per second, in transactions of 1 to
# 10 rows (5.5 on average).  Issue 22's goals and issue 18's latency row.
#
# Latency: cdc-map copies the commit time (source.ts_ms) into the document;
# an ingest pipeline (index.default_pipeline) stamps it with
# _ingest.timestamp and stores lat_ms = ingest time - commit time.  p50/p99
# (HDR histogram) and max are taken over the documents committed inside the
# measured window, after BENCH_PIPE_WARM seconds of warm-up.  The sink's own
# commit-to-acknowledged lag (its --stats, whole run) is printed beside.
# Cost, over the window (tests/bench/pipeline-measure.py): bulk requests/s
# and mean documents per request (the index's bulk and indexing stats),
# OpenSearch CPU seconds per 100k changes and % of a core, cdc-sink-es %
# of a core (/proc/PID/stat), checkpoint writes/s (inotify: renames onto
# the checkpoint file), and each stage's system calls per change
# (perf stat on the raw_syscalls:sys_enter tracepoint, which needs perf
# and root: issue 22's "no system call per change").  Nothing lost: rows
# in the table = documents.
#
# Env: CDC_BIN, CDC_TEST_PG, CDC_TEST_ES_URL, CDC_TEST_STATE (run.sh sets
# them); BENCH_PIPE_RATES (default "1000 2000 5000 10000 20000"),
# BENCH_PIPE_SECS (measured seconds per rate, default 20), BENCH_PIPE_WARM
# (default 3), BENCH_PIPE_JIT (seconds of an unmeasured run at 5000/s
# first, default 30, 0: none), BENCH_SINK_OPTS (extra cdc-sink-es options, e.g. to compare
# settings).  Default options otherwise.
set -euo pipefail

: "${CDC_BIN:?}" "${CDC_TEST_ES_URL:?}" "${CDC_TEST_PG:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
U=${CDC_TEST_ES_URL%/}
RATES=${BENCH_PIPE_RATES:-1000 2000 5000 10000 20000}
SECS=${BENCH_PIPE_SECS:-20}
WARM=${BENCH_PIPE_WARM:-3}
JIT=${BENCH_PIPE_JIT:-30}
JIT_RUN=
[ "$JIT" -gt 0 ] && JIT_RUN=1
BINDIR=${CDC_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}
STATE=${CDC_TEST_STATE:-$top/tests/.services}
db=bench_pipe_$$
dsn="$CDC_TEST_PG dbname=$db"
IDX=bench-pipe-orders
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-pipe.XXXXXX")
pids=()

psql() { command "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || :; done
	psql -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db'" >/dev/null 2>&1 || :
	psql -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || :
	curl -s -o /dev/null -XDELETE "$U/$IDX"
	curl -s -o /dev/null -XDELETE "$U/_ingest/pipeline/bench-pipe-ts"
	if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

es_pidfile=$(sed -n "s/^ES_PIDFILE='\(.*\)'$/\1/p" "$STATE/services.state" 2>/dev/null || :)
es_pid=$(cat "$es_pidfile" 2>/dev/null || :)
[ -n "$es_pid" ] && [ -r "/proc/$es_pid/stat" ] ||
	{ echo "bench pipeline-cost: no OpenSearch pid (needs a managed server, $STATE)" >&2; exit 1; }
curl -s "$U/_nodes/_local" | grep -q '"ingest"' ||
	{ echo "bench pipeline-cost: the OpenSearch node has no ingest role" >&2; exit 1; }

psql -d "$CDC_TEST_PG" -c "CREATE DATABASE $db"
psql -d "$dsn" -c "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, amount int)"
psql -d "$dsn" -c "CREATE PUBLICATION pipe FOR TABLE orders"
cat >"$tmp/load.sql" <<'SQL'
\set n random(1, 10)
INSERT INTO orders (note, amount) SELECT 'order note', g FROM generate_series(1, :n) g;
SQL
curl -sf -o /dev/null -XPUT "$U/_ingest/pipeline/bench-pipe-ts" -H 'Content-Type: application/json' -d '{
  "processors": [
    {"set": {"field": "ingest_ts", "value": "{{{_ingest.timestamp}}}"}},
    {"script": {"source": "ctx.lat_ms = ZonedDateTime.parse(ctx.ingest_ts).toInstant().toEpochMilli() - ctx.commit_ms"}}
  ]}'

now_ms() { date +%s%3N; }
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
print("%.0f %.0f %.0f %d" % (v["50.0"], v["99.0"], r["aggregations"]["mx"]["value"] or 0, r["hits"]["total"]["value"]))'
}

declare -A R
curve=()
# Counting system calls needs perf and its tracepoints (root).
PERF=
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -o /dev/null -- true 2>/dev/null; then
	PERF=1
else
	echo "bench pipeline-cost: perf cannot count system calls here (perf missing, or not root): not measured" >&2
fi
echo "pipeline-cost: ${SECS} s measured per rate after ${WARM} s warm-up (OpenSearch warmed by ${JIT} s at 5000/s first); pgbench -R, 1-10 rows per transaction; sink options: ${BENCH_SINK_OPTS:-(defaults)}"
# The first run ("jit") is not measured: a fresh OpenSearch spends the
# first minute compiling its hot paths (measured: 2-4 times the CPU of
# the steady state), which would be charged to whichever rate came first.
for rate in ${JIT_RUN:+jit} $RATES; do
	if [ "$rate" = jit ]; then
		run_secs=$JIT
		rate=5000
		measure=
		slot=${db}_jit
	else
		run_secs=$SECS
		measure=1
		slot=${db}_r$rate
	fi
	ck=$tmp/ck.$slot/es.ckpt
	mkdir -p "$(dirname "$ck")"
	psql -d "$dsn" -c "TRUNCATE orders"
	curl -s -o /dev/null -XDELETE "$U/$IDX"
	curl -sf -o /dev/null -XPUT "$U/$IDX" -H 'Content-Type: application/json' -d '{
	  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "index.default_pipeline": "bench-pipe-ts"},
	  "mappings": {"properties": {"commit_ms": {"type": "long"}, "lat_ms": {"type": "long"},
	                              "ingest_ts": {"type": "date_nanos"}}}}'
	rm -f "$tmp/p1" "$tmp/p2"
	mkfifo "$tmp/p1" "$tmp/p2"
	# shellcheck disable=SC2086
	"$CDC_BIN/cdc-sink-es" -q --url "$U" --index "$IDX" --checkpoint "$ck" --stats \
		${BENCH_SINK_OPTS:-} <"$tmp/p2" 2>"$tmp/sink.$rate.err" &
	sink_pid=$!
	"$CDC_BIN/cdc-map" 'if .after then .after.commit_ms = .source.ts_ms else . end' \
		<"$tmp/p1" >"$tmp/p2" 2>"$tmp/map.$rate.err" &
	map_pid=$!
	"$CDC_BIN/cdc-capture" -q -d "$dsn" --slot "$slot" --publication pipe --create-slot \
		--snapshot never --ack-file "$ck" >"$tmp/p1" 2>"$tmp/capture.$rate.err" &
	cap_pid=$!
	pids=("$sink_pid" "$map_pid" "$cap_pid")
	for _ in $(seq 100); do
		[ "$(psql -d "$dsn" -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active")" = 1 ] && break
		sleep 0.1
	done
	tps=$(python3 -c "print(round($rate / 5.5, 1))")
	"$BINDIR/pgbench" -n -c 4 -j 2 -R "$tps" -T $((WARM + run_secs + 1)) -f "$tmp/load.sql" "$dsn" \
		>"$tmp/pgbench.$rate.log" 2>&1 &
	pg_pid=$!
	pids+=("$pg_pid")
	sleep "$WARM"
	sys_pids=()
	if [ -n "$measure" ] && [ -n "$PERF" ]; then
		for st in capture:$cap_pid map:$map_pid sink:$sink_pid; do
			perf stat -x, -e raw_syscalls:sys_enter -p "${st#*:}" -o "$tmp/sys.${st%%:*}" \
				-- sleep "$run_secs" >/dev/null 2>&1 &
			sys_pids+=($!)
		done
	fi
	t0=$(now_ms)
	m=$(python3 "$top/tests/bench/pipeline-measure.py" "$run_secs" "$ck" "$U" "$IDX" \
		os="$es_pid" sink="$sink_pid" map="$map_pid" capture="$cap_pid")
	t1=$(now_ms)
	for p in "${sys_pids[@]}"; do wait "$p" || :; done
	wait "$pg_pid" || { cat "$tmp/pgbench.$rate.log" >&2; echo "bench pipeline-cost: pgbench failed" >&2; exit 1; }
	rows=$(psql -d "$dsn" -c "SELECT count(*) FROM orders")
	docs=0
	for _ in $(seq 300); do
		docs=$(count_docs)
		[ "$docs" = "$rows" ] && break
		sleep 0.2
	done
	kill -TERM "$cap_pid" 2>/dev/null || :
	wait "$cap_pid" "$map_pid" "$sink_pid" 2>/dev/null || :
	pids=()
	psql -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1 || :
	if [ -z "$measure" ]; then
		[ "$docs" = "$rows" ] || echo "  warm-up: $rows rows, $docs documents" >&2
		continue
	fi
	read -r p50 p99 max nlat < <(latency "$t0" "$t1")
	# key=value pairs of the measurement into shell variables.
	declare -A M=()
	for kv in $m; do M[${kv%%=*}]=${kv#*=}; done
	w=${M[secs]}
	achieved=$(python3 -c "print(round(${M[docs]} / $w))")
	rps=$(python3 -c "print('%.0f' % (${M[bulk_ops]} / $w))")
	bsz=$(python3 -c "print('%.1f' % (${M[docs]} / max(1, ${M[bulk_ops]})))")
	os_per=$(python3 -c "print('%.1f' % (${M[cpu_os]} * 100000 / max(1, ${M[docs]})))")
	os_pct=$(python3 -c "print('%.0f' % (${M[cpu_os]} * 100 / $w))")
	sink_pct=$(python3 -c "print('%.1f' % (${M[cpu_sink]} * 100 / $w))")
	map_pct=$(python3 -c "print('%.1f' % (${M[cpu_map]} * 100 / $w))")
	cap_pct=$(python3 -c "print('%.1f' % (${M[cpu_capture]} * 100 / $w))")
	ckps=$(python3 -c "print('%.1f' % (${M[ckpt_renames]} / $w))")
	lag=$(sed -n 's/^cdc-sink-es: total: .*, p50 \([-0-9]*\) ms, p99 \([-0-9]*\) ms .*/\1 \2/p' "$tmp/sink.$rate.err" | tail -n 1)
	sys=
	if [ ${#sys_pids[@]} -gt 0 ]; then
		for st in capture map sink; do
			n=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print ($1 ~ /^[0-9]+$/) ? $1 : 0 }' "$tmp/sys.$st" 2>/dev/null)
			R[$rate.sys.$st]=$(python3 -c "print('%.2f' % (${n:-0} / max(1, ${M[docs]})))")
		done
		sys="; system calls per change: capture ${R[$rate.sys.capture]}, map ${R[$rate.sys.map]}, sink ${R[$rate.sys.sink]}"
	fi
	lost=ok
	[ "$docs" = "$rows" ] || lost="LOST: $rows rows, $docs documents"
	echo "  rate $rate/s: achieved $achieved/s; commit->ingest p50 $p50 ms, p99 $p99 ms, max $max ms ($nlat docs); sink lag p50/p99 ${lag:-? ?} ms;" \
		"$rps requests/s of $bsz docs; OpenSearch ${os_pct}% of a core, ${os_per} CPU s per 100k changes;" \
		"cdc-sink-es ${sink_pct}%, cdc-map ${map_pct}%, cdc-capture ${cap_pct}% of a core; checkpoint writes ${ckps}/s$sys; rows $rows, docs $docs: $lost"
	R[$rate.p99]=$p99 R[$rate.os]=$os_pct R[$rate.sink]=$sink_pct R[$rate.ck]=$ckps R[$rate.lost]=$lost
	R[$rate.ack99]=$(echo "${lag:-x x}" | cut -d' ' -f2)
	curve+=("$(printf '  %6s %9s %10s %9s %8s %7s' "$rate" "$achieved" "$rps" "$bsz" "$p99" "$max")")
done

echo "  curve:   rate  achieved  requests/s  batch(docs)  p99(ms)  max(ms)"
printf '%s\n' "${curve[@]}"

# verdict NAME VALUE OP GOAL UNIT: "bench NAME: VALUE UNIT (goal OP GOAL UNIT) PASS|FAIL"
verdict() {
	local ok
	if [ -z "$2" ] || [ "$2" = "?" ]; then
		echo "bench $1: not measured (goal $3 $4$5) FAIL"
		return
	fi
	ok=$(python3 -c "import operator as o; print('PASS' if {'<=': o.le, '>=': o.ge, '<': o.lt}['$3']($2, $4) else 'FAIL')")
	echo "bench $1: $2$5 (goal $3 $4$5) $ok"
}
lostv() { if [ "$1" = ok ]; then echo "bench $2: nothing lost PASS"; else echo "bench $2: $1 FAIL"; fi; }
if [ -n "${R[5000.p99]:-}" ]; then
	verdict "pipeline-cost 5k/s commit->ingest p99" "${R[5000.p99]}" "<=" 15 " ms"
	verdict "pipeline-cost 5k/s OpenSearch CPU" "${R[5000.os]}" "<=" 35 "% of a core"
	verdict "pipeline-cost 5k/s cdc-sink-es CPU" "${R[5000.sink]}" "<=" 12 "% of a core"
	verdict "pipeline-cost 5k/s checkpoint writes" "${R[5000.ck]}" "<=" 20 "/s"
	verdict "pipeline-cost 5k/s commit->acknowledged p99 (issue 18)" "${R[5000.ack99]}" "<=" 50 " ms"
	for st in capture map sink; do
		verdict "pipeline-cost 5k/s $st system calls per change" "${R[5000.sys.$st]:-}" "<" 1 ""
	done
fi
if [ -n "${R[10000.p99]:-}" ]; then
	verdict "pipeline-cost 10k/s commit->ingest p99" "${R[10000.p99]}" "<=" 50 " ms"
fi
for rate in $RATES; do lostv "${R[$rate.lost]}" "pipeline-cost ${rate}/s"; done
