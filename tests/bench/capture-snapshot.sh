#!/usr/bin/env bash
# bench capture-snapshot: the initial snapshot of a table of ROWS rows with
# mixed column types.  Ours: cdc-capture --snapshot only (a temporary slot,
# an exported snapshot, COPY over --snapshot-jobs connections, every row
# formatted as a full event) to /dev/null.  Peer: the server formatting the
# same rows as JSON itself, psql -c "COPY (SELECT row_to_json(t) FROM t t)
# TO STDOUT" to /dev/null.  Also shown: the plain COPY t TO STDOUT (text,
# no JSON at all), the floor for anything that reads the table over one
# connection.  Best (min) wall time of RUNS runs each.
#
# Environment: CDC_TEST_PG (conninfo), CDC_TEST_PG_BINDIR, CDC_BIN;
# ROWS (default 300000), RUNS (5), JOBS (cdc-capture --snapshot-jobs, 2).
set -euo pipefail
: "${CDC_TEST_PG:?run through make bench or source the services env}"
CDC_BIN=${CDC_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
BINDIR=${CDC_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-300000}
RUNS=${RUNS:-5}
JOBS=${JOBS:-2}
DB=bench_snapshot_$$
DSN="$CDC_TEST_PG dbname=$DB"
tmp=$(mktemp -d)

psql_q() { "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DSN" "$@"; }
cleanup() {
	"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || :
	rm -rf "$tmp"
}
trap cleanup EXIT

"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "CREATE DATABASE $DB"
psql_q <<SQL
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
SQL

# run NAME CMD...: wall seconds into $tmp/NAME
run() {
	local name=$1
	shift
	/usr/bin/time -f '%e' -o "$tmp/$name" "$@"
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print ((a == "" || b + 0 < a + 0) ? b : a) }'; }

# Check once that ours emits every row.
n=$("$CDC_BIN/cdc-capture" -d "$DSN" --slot bench_snap --publication bench --snapshot only \
	--snapshot-jobs "$JOBS" --quiet | grep -c '^{"op":"r"')
[ "$n" = "$ROWS" ] || { echo "bench capture-snapshot: ours emitted $n rows, expected $ROWS" >&2; exit 1; }

best_ours="" best_peer="" best_raw=""
for i in $(seq 1 "$RUNS"); do
	run peer "$BINDIR/psql" -X -q -d "$DSN" -c "COPY (SELECT row_to_json(t) FROM orders t) TO STDOUT" -o /dev/null
	run raw "$BINDIR/psql" -X -q -d "$DSN" -c "COPY orders TO STDOUT" -o /dev/null
	run ours "$CDC_BIN/cdc-capture" -d "$DSN" --slot "bench_snap_$i" --publication bench --snapshot only \
		--snapshot-jobs "$JOBS" --quiet >/dev/null
	best_peer=$(min "$best_peer" "$(cat "$tmp/peer")")
	best_raw=$(min "$best_raw" "$(cat "$tmp/raw")")
	best_ours=$(min "$best_ours" "$(cat "$tmp/ours")")
done
ratio=$(awk -v a="$best_ours" -v b="$best_peer" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
rate() { awk -v s="$1" -v n="$ROWS" 'BEGIN { printf "%.0fk rows/s", (s > 0 ? n / s / 1000 : 0) }'; }
echo "bench capture-snapshot: ours $best_ours s ($(rate "$best_ours"), --snapshot-jobs $JOBS)," \
	"peer row_to_json COPY $best_peer s ($(rate "$best_peer")), ratio $ratio (goal <= 1.00);" \
	"plain COPY $best_raw s ($(rate "$best_raw")); $ROWS rows, best of $RUNS"
