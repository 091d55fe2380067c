#!/usr/bin/env bash
# bench capture-stream: drain the same WAL (>= 300k changes of a realistic
# table) with pg_recvlogical (pgoutput, raw binary output to /dev/null) and
# with cdc-capture (JSON events to /dev/null); best of 3 wall times each.
# Both read from slots created before the workload, at the same point, so
# both decode exactly the same transactions up to the same --endpos.
#
# Environment: CDC_TEST_PG (conninfo), CDC_TEST_PG_BINDIR, CDC_BIN;
# ROWS (default 100000: 100k inserts + 100k updates + 100k deletes), RUNS (3).
set -euo pipefail
: "${CDC_TEST_PG:?run through make bench or source the services env}"
CDC_BIN=${CDC_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
BINDIR=${CDC_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-100000}
RUNS=${RUNS:-3}
DB=bench_capture_$$
DSN="$CDC_TEST_PG dbname=$DB"
tmp=$(mktemp -d)

psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DSN" "$@"; }
cleanup() {
	psql -X -q -d "$CDC_TEST_PG" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$DB'" >/dev/null 2>&1 || :
	psql -X -q -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || :
	rm -rf "$tmp"
}
trap cleanup EXIT

psql -X -q -d "$CDC_TEST_PG" -c "CREATE DATABASE $DB"
psql_q <<'SQL'
CREATE TABLE orders (
	id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
	amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz, paid bool NOT NULL DEFAULT false, note text,
	attrs jsonb, qty smallint);
CREATE PUBLICATION bench FOR TABLE orders;
SQL
for i in $(seq 1 "$RUNS"); do
	psql_q -c "SELECT pg_create_logical_replication_slot('peer_$i', 'pgoutput')" >/dev/null
	psql_q -c "SELECT pg_create_logical_replication_slot('ours_$i', 'pgoutput')" >/dev/null
done
# The workload: one transaction per 1000 rows, inserts, updates, deletes.
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
changes=$((ROWS * 3))

# run NAME CMD...: wall seconds and CPU seconds (user+sys) into $tmp/NAME
run() {
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$tmp/$name" "$@"
}

best_peer="" best_ours="" best_ours_cpu=""
for i in $(seq 1 "$RUNS"); do
	run peer "$BINDIR/pg_recvlogical" -d "$DSN" --slot "peer_$i" --start --no-loop \
		-o proto_version=1 -o publication_names=bench -E "$endpos" -f /dev/null
	run ours "$CDC_BIN/cdc-capture" -d "$DSN" --slot "ours_$i" --publication bench \
		--endpos "$endpos" --no-loop --heartbeat 0 >"$tmp/ours.out"
	n=$(wc -l <"$tmp/ours.out")
	[ "$n" -ge "$changes" ] || { echo "capture wrote $n events, expected $changes" >&2; exit 1; }
	read -r pw _ _ <"$tmp/peer"
	read -r ow ou os <"$tmp/ours"
	oc=$(echo "$ou + $os" | bc -l)
	echo "run $i: peer ${pw}s, ours ${ow}s (cpu ${oc}s, $n events)"
	if [ -z "$best_peer" ] || [ "$(echo "$pw < $best_peer" | bc -l)" = 1 ]; then best_peer=$pw; fi
	if [ -z "$best_ours" ] || [ "$(echo "$ow < $best_ours" | bc -l)" = 1 ]; then best_ours=$ow; fi
	if [ -z "$best_ours_cpu" ] || [ "$(echo "$oc < $best_ours_cpu" | bc -l)" = 1 ]; then best_ours_cpu=$oc; fi
done
ratio=$(echo "scale=2; $best_ours / $best_peer" | bc -l)
per_event=$(echo "scale=3; $best_ours_cpu * 1000000 / $changes" | bc -l)
echo "bench capture-stream: ours $best_ours s, peer $best_peer s, ratio $ratio (goal <= 1.10); capture CPU $per_event us/event over $changes changes"
