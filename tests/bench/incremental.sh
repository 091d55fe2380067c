#!/usr/bin/env bash
# bench incremental: an incremental snapshot of a table of ROWS rows
# (cdc-capture --signal-file, then --signal 'snapshot public.orders') while
# pgbench runs a stream of RATE single-row updates a second on the same
# table, against the initial snapshot of that table (cdc-capture --snapshot
# only, one connection, no stream; best of RUNS).  Both write their events
# to a file.  Prints the throughput ratio (goal >= 0.50), the rate the
# stream reached, and the stream's latency (event ts_ms - commit
# source.ts_ms of its updates) before and during the snapshot: p50 and p99.
#
# Incremental time: from the start of the first chunk's read (the
# incremental_begin event's source.ts_ms) to the incremental_end event
# (its ts_ms): the signal file's polling is left out.
#
# Environment: CDC_TEST_PG (conninfo), CDC_TEST_PG_BINDIR, CDC_BIN;
# ROWS (default 300000), RATE (2000 changes/s), RUNS (3), CHUNK
# (--snapshot-chunk; default: cdc-capture's).
set -euo pipefail
: "${CDC_TEST_PG:?run through make bench or source the services env}"
CDC_BIN=${CDC_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
BINDIR=${CDC_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-300000}
RATE=${RATE:-2000}
RUNS=${RUNS:-3}
CHUNK=${CHUNK:-}
DB=bench_incr_$$
DSN="$CDC_TEST_PG dbname=$DB"
tmp=$(mktemp -d)
CAP_PID= PGB_PID=

psql_q() { "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DSN" "$@"; }
cleanup() {
	if [ -n "$PGB_PID" ]; then kill "$PGB_PID" 2>/dev/null || :; fi
	if [ -n "$CAP_PID" ]; then kill "$CAP_PID" 2>/dev/null || :; wait "$CAP_PID" 2>/dev/null || :; fi
	"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$DB'" >/dev/null 2>&1 || :
	"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || :
	rm -rf "$tmp"
}
trap cleanup EXIT

"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "CREATE DATABASE $DB"
psql_q >/dev/null <<SQL
CREATE TABLE orders (
	id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
	amount numeric(12,2) NOT NULL, price float8, created_at timestamptz NOT NULL,
	ship_date date, paid bool NOT NULL, note text, attrs jsonb, tags text[], ref uuid, qty smallint);
INSERT INTO orders
SELECT g, g % 997, CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'new' END, (g % 10000) / 100.0, g / 7.0,
       '2024-01-01'::timestamptz + g * interval '1 minute', '2024-01-01'::date + g % 365, g % 2 = 0,
       'order note number ' || g,
       jsonb_build_object('source', 'web', 'items', g % 7, 'tags', jsonb_build_array('a', 'b')),
       ARRAY['t' || g % 10, 'x'], md5(g::text)::uuid, g % 30
FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE orders;
CREATE PUBLICATION bench FOR TABLE orders;
SELECT 1 FROM pg_create_logical_replication_slot('bench_incr', 'pgoutput');
SQL

now_ms() { date +%s%3N; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print ((a == "" || b + 0 < a + 0) ? b : a) }'; }

# ---- the initial snapshot, alone
best_init=""
for i in $(seq 1 "$RUNS"); do
	t0=$(now_ms)
	"$CDC_BIN/cdc-capture" -d "$DSN" --slot "bench_init_$i" --publication bench --snapshot only \
		--quiet >"$tmp/init.json"
	t1=$(now_ms)
	n=$(grep -c '^{"op":"r"' "$tmp/init.json")
	[ "$n" = "$ROWS" ] || { echo "bench incremental: the initial snapshot emitted $n rows, expected $ROWS" >&2; exit 1; }
	best_init=$(min "$best_init" $((t1 - t0)))
done
rm -f "$tmp/init.json"

# ---- the stream, then the incremental snapshot while it runs
cat >"$tmp/update.sql" <<'SQL'
\set id random(1, :rows)
UPDATE orders SET qty = qty + 1, note = 'updated ' || :id WHERE id = :id;
SQL
"$CDC_BIN/cdc-capture" -d "$DSN" --slot bench_incr --publication bench --signal-file "$tmp/sig" \
	${CHUNK:+--snapshot-chunk "$CHUNK"} --heartbeat 1 ${VERBOSE:--v} >"$tmp/incr.json" 2>"$tmp/incr.err" &
CAP_PID=$!
"$BINDIR/pgbench" -n -c 2 -j 2 -R "$RATE" -T 3600 -D rows="$ROWS" -f "$tmp/update.sql" "$DSN" \
	>"$tmp/pgbench.out" 2>&1 &
PGB_PID=$!
sleep 1
kill -0 "$PGB_PID" 2>/dev/null || { echo "bench incremental: pgbench failed:" >&2; cat "$tmp/pgbench.out" >&2; exit 1; }
# A few seconds of stream alone: the latency before.
sleep 5
"$CDC_BIN/cdc-capture" --signal-file "$tmp/sig" --signal 'snapshot public.orders'
deadline=$(($(now_ms) + 600000))
# Look at the end of the output only: grepping the whole growing file five
# times a second took the CPU the snapshot was being measured on.  (Not
# grep -q: under pipefail its early exit fails tail with SIGPIPE.)
until tail -c 4000000 "$tmp/incr.json" | grep '"op":"incremental_end"' >/dev/null; do
	[ "$(now_ms)" -lt "$deadline" ] || { echo "bench incremental: no incremental_end after 600 s" >&2; exit 1; }
	kill -0 "$CAP_PID" 2>/dev/null || { echo "bench incremental: cdc-capture died:" >&2; cat "$tmp/incr.err" >&2; exit 1; }
	sleep 0.2
done
kill "$PGB_PID" 2>/dev/null; wait "$PGB_PID" 2>/dev/null || :
PGB_PID=
kill "$CAP_PID"; wait "$CAP_PID" || :
CAP_PID=

if [ -n "${ERRLOG:-}" ]; then cp "$tmp/incr.err" "$ERRLOG"; fi
python3 - "$tmp/incr.json" "$ROWS" "$best_init" "$RATE" "$RUNS" <<'PY'
import json, sys
path, rows, init_ms, rate, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
before, during = [], []
begin = end = None
nrows = 0
t_first_u = None
with open(path) as f:
    for line in f:
        e = json.loads(line)
        op = e["op"]
        if op == "incremental_begin":
            begin = e
        elif op == "incremental_end":
            end = e
            break
        elif op == "r" and begin is not None:
            nrows += 1
        elif op == "u":
            lag = e["ts_ms"] - e["source"]["ts_ms"]
            (during if begin is not None else before).append(lag)
            if t_first_u is None:
                t_first_u = e["source"]["ts_ms"]
if begin is None or end is None:
    sys.exit("bench incremental: no incremental_begin/end in the output")
incr_ms = max(1, end["ts_ms"] - begin["source"]["ts_ms"])
def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]
init_rate = rows / (init_ms / 1000)
incr_rate = rows / (incr_ms / 1000)
ratio = incr_rate / init_rate
stream_rate = len(during) / (incr_ms / 1000)
verdict = "PASS" if ratio >= 0.5 else "FAIL"
print(f"bench incremental: incremental snapshot {incr_ms / 1000:.2f} s ({incr_rate / 1000:.0f}k rows/s, "
      f"{nrows} r events) under a stream of {stream_rate:.0f} updates/s (asked {rate}), "
      f"initial snapshot {init_ms / 1000:.2f} s ({init_rate / 1000:.0f}k rows/s, alone, best of {runs}), "
      f"ratio {ratio:.2f} (goal >= 0.50) {verdict}; "
      f"stream latency p50/p99 {pct(before, 50)}/{pct(before, 99)} ms before, "
      f"{pct(during, 50)}/{pct(during, 99)} ms during; {rows} rows")
PY
