#!/usr/bin/env bash
# bench debezium: cdc-capture against the real Debezium 3.6.1 (embedded
# engine, PostgreSQL connector, pgoutput, JSON without schemas, the parity
# test's settings), the same work on both sides, wall time and peak RSS of
# each process (Debezium's JVM start included; its time from the first
# record to the last is shown too).
#
#   stream:   drain the same WAL, ROWS inserts + ROWS updates + ROWS deletes
#             in transactions of 1000, from slots created before the
#             workload: cdc-capture --endpos, Debezium snapshot.mode=no_data
#             until it has written every change.
#   snapshot: the initial snapshot of a table of SNAP_ROWS rows of mixed
#             types: cdc-capture --snapshot only (--snapshot-jobs 1, as
#             Debezium's one snapshot thread), Debezium
#             snapshot.mode=initial_only.
#
# Both write JSON to /dev/null.  The JVM runs with its default heap
# settings, as a user would start it.
#
# Environment: CDC_TEST_PG (conninfo), CDC_TEST_PG_BINDIR, CDC_BIN;
# ROWS (default 100000), SNAP_ROWS (300000), RUNS (1).
set -euo pipefail
: "${CDC_TEST_PG:?run through make bench or source the services env}"
top=$(cd "$(dirname "$0")/../.." && pwd)
CDC_BIN=${CDC_BIN:-$top/build/bin}
BINDIR=${CDC_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-100000}
SNAP_ROWS=${SNAP_ROWS:-300000}
RUNS=${RUNS:-1}
DB=bench_dbz_$$
DSN="$CDC_TEST_PG dbname=$DB"
tmp=$(mktemp -d)
# shellcheck source=../debezium/debezium.sh
. "$top/tests/debezium/debezium.sh"

psql_q() { "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DSN" "$@"; }
cleanup() {
	"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$DB' AND NOT active" >/dev/null 2>&1 || :
	"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || :
	rm -rf "$tmp"
}
trap cleanup EXIT

dbz_fetch || { echo "bench debezium: Debezium is not available" >&2; exit 1; }
DBZ_JVM_FLAGS=" " dbz_cmd	# the JVM's defaults

"$BINDIR/psql" -X -q -d "$CDC_TEST_PG" -c "CREATE DATABASE $DB"
psql_q <<'SQL'
CREATE TABLE orders (
	id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
	amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz, paid bool NOT NULL DEFAULT false, note text,
	attrs jsonb, qty smallint);
CREATE TABLE snap (
	id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
	amount numeric(12,2) NOT NULL, price float8, created_at timestamptz NOT NULL,
	ship_date date, paid bool NOT NULL, note text, attrs jsonb, tags text[], ref uuid, qty smallint);
CREATE PUBLICATION bench_stream FOR TABLE orders;
CREATE PUBLICATION bench_snap FOR TABLE snap;
SQL

# secs_rss NAME: "wall_seconds peak_rss_kb" of the last run of NAME
run() {
	local name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$tmp/$name.time" "$@"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a > 0 ? b / a : 0) }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print ((a == "" || b + 0 < a + 0) ? b : a) }'; }
# Debezium's time from its first record to the moment it had them all.
dbz_span() {
	local first end
	first=$(sed -n "s/^first $1 //p" "$tmp/status" | head -n 1)
	end=$(sed -n 's/^end //p' "$tmp/status" | tail -n 1)
	awk -v f="$first" -v e="$end" 'BEGIN { printf "%.1f", (e - f) / 1000 }'
}

# ---------------------------------------------------------------- stream
changes=$((ROWS * 3))
for i in $(seq 1 "$RUNS"); do
	psql_q -c "SELECT pg_create_logical_replication_slot('ours_$i', 'pgoutput')" >/dev/null
	psql_q -c "SELECT pg_create_logical_replication_slot('dbz_$i', 'pgoutput')" >/dev/null
done
psql_q <<SQL
DO \$\$
BEGIN
	FOR b IN 0..($ROWS / 1000 - 1) LOOP
		INSERT INTO orders (id, customer_id, status, amount, updated_at, note, attrs, qty)
		SELECT g, g % 997, 'new', (g % 10000) / 100.0, now(), 'order note number ' || g,
		       jsonb_build_object('source', 'web', 'items', g % 7, 'tags', jsonb_build_array('a', 'b')), g % 30
		FROM generate_series(b * 1000 + 1, b * 1000 + 1000) g;
		COMMIT;
	END LOOP;
	FOR b IN 0..($ROWS / 1000 - 1) LOOP
		UPDATE orders SET status = 'paid', paid = true, updated_at = now()
		WHERE id BETWEEN b * 1000 + 1 AND b * 1000 + 1000;
		COMMIT;
	END LOOP;
	FOR b IN 0..($ROWS / 1000 - 1) LOOP
		DELETE FROM orders WHERE id BETWEEN b * 1000 + 1 AND b * 1000 + 1000;
		COMMIT;
	END LOOP;
END
\$\$;
SQL
endpos=$(psql_q -c "SELECT pg_current_wal_lsn()")

best_ours="" best_dbz="" rss_ours=0 rss_dbz=0 span=""
for i in $(seq 1 "$RUNS"); do
	run ours "$CDC_BIN/cdc-capture" -d "$DSN" --slot "ours_$i" --publication bench_stream \
		--endpos "$endpos" --no-loop --heartbeat 0 --quiet >"$tmp/ours.out"
	n=$(wc -l <"$tmp/ours.out")
	[ "$n" -ge "$changes" ] || { echo "cdc-capture wrote $n events, expected $changes" >&2; exit 1; }
	dbz_props "$tmp/s.props" "bench_s_$i" "dbz_$i" bench_stream "$DSN" snapshot.mode=no_data
	: >"$tmp/status"
	run dbz "${DBZ_CMD[@]}" "$tmp/status" --exit-after "$changes" s "$tmp/s.props" /dev/null 2>"$tmp/dbz.err" ||
		{ tail -n 20 "$tmp/dbz.err" >&2; exit 1; }
	grep -q "^count s $changes\$" "$tmp/status" || { echo "Debezium did not write $changes records" >&2; tail -n 5 "$tmp/status" >&2; exit 1; }
	read -r ow orss <"$tmp/ours.time"
	read -r dw drss <"$tmp/dbz.time"
	echo "stream run $i: ours ${ow}s $(mb "$orss"), Debezium ${dw}s $(mb "$drss") (first record to last $(dbz_span s)s)"
	best_ours=$(min "$best_ours" "$ow")
	best_dbz=$(min "$best_dbz" "$dw")
	[ "$orss" -gt "$rss_ours" ] && rss_ours=$orss
	[ "$drss" -gt "$rss_dbz" ] && rss_dbz=$drss
done
echo "bench debezium stream: ours $best_ours s, Debezium $best_dbz s, Debezium/ours $(ratio "$best_ours" "$best_dbz")x;" \
	"peak RSS ours $(mb "$rss_ours"), Debezium $(mb "$rss_dbz"); $changes changes"

# ---------------------------------------------------------------- snapshot
psql_q <<SQL
INSERT INTO snap
SELECT g, g % 997, CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'new' END, (g % 10000) / 100.0, g / 7.0,
       '2024-01-01'::timestamptz + g * interval '1 minute', '2024-01-01'::date + g % 365, g % 2 = 0,
       'order note number ' || g,
       jsonb_build_object('source', 'web', 'items', g % 7, 'tags', jsonb_build_array('a', 'b')),
       ARRAY['t' || g % 10, 'x'], md5(g::text)::uuid, g % 30
FROM generate_series(1, $SNAP_ROWS) g;
VACUUM ANALYZE snap;
SQL
best_ours="" best_dbz="" rss_ours=0 rss_dbz=0
for i in $(seq 1 "$RUNS"); do
	run ours "$CDC_BIN/cdc-capture" -d "$DSN" --slot "ours_snap_$i" --publication bench_snap --snapshot only \
		--snapshot-jobs 1 --quiet >"$tmp/ours.out"
	n=$(grep -c '^{"op":"r"' "$tmp/ours.out")
	[ "$n" = "$SNAP_ROWS" ] || { echo "cdc-capture wrote $n rows, expected $SNAP_ROWS" >&2; exit 1; }
	dbz_props "$tmp/n.props" "bench_n_$i" "dbz_snap_$i" bench_snap "$DSN" snapshot.mode=initial_only
	: >"$tmp/status"
	run dbz "${DBZ_CMD[@]}" "$tmp/status" --exit-after "$SNAP_ROWS" n "$tmp/n.props" /dev/null 2>"$tmp/dbz.err" ||
		{ tail -n 20 "$tmp/dbz.err" >&2; exit 1; }
	grep -q "^count n $SNAP_ROWS\$\|^stopped n" "$tmp/status" || { echo "Debezium did not finish its snapshot" >&2; tail -n 5 "$tmp/status" >&2; exit 1; }
	read -r ow orss <"$tmp/ours.time"
	read -r dw drss <"$tmp/dbz.time"
	echo "snapshot run $i: ours ${ow}s $(mb "$orss"), Debezium ${dw}s $(mb "$drss") (first record to last $(dbz_span n)s)"
	best_ours=$(min "$best_ours" "$ow")
	best_dbz=$(min "$best_dbz" "$dw")
	[ "$orss" -gt "$rss_ours" ] && rss_ours=$orss
	[ "$drss" -gt "$rss_dbz" ] && rss_dbz=$drss
done
echo "bench debezium snapshot: ours $best_ours s, Debezium $best_dbz s, Debezium/ours $(ratio "$best_ours" "$best_dbz")x;" \
	"peak RSS ours $(mb "$rss_ours"), Debezium $(mb "$rss_dbz"); $SNAP_ROWS rows"
