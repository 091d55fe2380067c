#!/usr/bin/env bash
# The end-to-end ack loop: cdc-capture --ack-file | cdc-sink-es --checkpoint
# against real PostgreSQL and OpenSearch.  The sink is killed with SIGKILL
# mid-stream, the pipeline restarted, and the index must equal the table
# (unchanged TOAST values included).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es cdc-capture
need_pg
need_es
SINK=$CDC_BIN/cdc-sink-es
CAP=$CDC_BIN/cdc-capture
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

pg_new_db sinkpipe
psql_t <<'SQL' || bail_out "cannot set up the table"
CREATE TABLE items (id int PRIMARY KEY, v text, n int, big text);
ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO items SELECT g, 'v' || g, g, repeat(md5(g::text), 200) FROM generate_series(1, 200) g;
SQL
slot=s_$TEST_ID
pub=p_$TEST_ID
CK=$TEST_TMP/es.ckpt

start_pipeline() {
	rm -f "$TEST_TMP/pipe"
	mkfifo "$TEST_TMP/pipe"
	# The redirections happen in the children: opening a FIFO blocks until
	# the other end is opened too.
	spawn sh -c 'exec "$@" >"$0" 2>>"$0.capture.err"' "$TEST_TMP/pipe" \
		"$CAP" -q -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --create-slot \
		--create-publication --tables items --snapshot-state "$TEST_TMP/snap.state" --ack-file "$CK" --heartbeat 1 --status-interval 1
	CAP_PID=$SPAWNED_PID
	spawn sh -c 'exec "$@" <"$0" 2>>"$0.sink.err"' "$TEST_TMP/pipe" \
		"$SINK" -q --url "$U" --index "${P}{table}" --checkpoint "$CK" --batch-docs 100
	SINK_PID=$SPAWNED_PID
}

# Changes in transactions: updates of v/n only (big stays unchanged TOAST),
# inserts with a new big value, deletes, and an update of big.
workload() {
	local round
	for round in $(seq 1 "$1"); do
		psql_t >/dev/null <<-SQL
		BEGIN;
		UPDATE items SET v = 'r$round-' || id, n = n + 1 WHERE id % 5 = $round % 5;
		INSERT INTO items SELECT g, 'new$round', g, repeat(md5((g + $round)::text), 150)
		  FROM generate_series(1000 + $round * 10, 1000 + $round * 10 + 4) g;
		DELETE FROM items WHERE id = $round * 3;
		UPDATE items SET big = repeat('z', 3000) || $round WHERE id = 1000 + ($round - 1) * 10;
		COMMIT;
		SQL
		sleep 0.05
	done
}

table_rows() {
	psql_t "SELECT json_build_object('id', id, 'v', v, 'n', n, 'big', big) FROM items ORDER BY id" | jq -cS .
}
index_rows() {
	es_curl POST "/${P}items/_refresh" >/dev/null 2>&1
	es_curl GET "/${P}items/_search?size=10000" |
		jq -cS '.hits.hits | sort_by(._source.id)[] | ._source | {id, v, n, big}'
}
same() { [ "$(table_rows)" = "$(index_rows)" ]; }

start_pipeline
wait_for "[ \"\$(es_count ${P}items 2>/dev/null)\" = 200 ]" 60
ok $? "the initial snapshot arrives"

workload 20 &
wl=$!
sleep 1.5
kill -KILL "$SINK_PID"
ok $? "sink killed with SIGKILL mid-stream"
wait_for "! kill -0 $CAP_PID" 20 || kill -TERM -- "-$CAP_PID"
ck_at_kill=$(grep ^position= "$CK" 2>/dev/null)
note "checkpoint at the kill: ${ck_at_kill:-none}"
start_pipeline
wait "$wl"
ok $? "workload done"

wait_for same 60
ok $? "after the restart the index equals the table"
if ! same; then
	diag "$(diff <(table_rows | cut -c1-120) <(index_rows | cut -c1-120) | head -20)"
fi
is "$(index_rows | grep -c '"big":"zzz')" "$(psql_t "SELECT count(*) FROM items WHERE big LIKE 'zzz%'")" \
	"changed TOAST values arrive"

# The ack loop: the slot's confirmed position follows the sink's checkpoint.
ck_lsn=$(sed -n 's/^commit_lsn=//p' "$CK")
wait_for "[ \"\$(psql_t \"SELECT confirmed_flush_lsn >= '$ck_lsn' FROM pg_replication_slots WHERE slot_name = '$slot'\")\" = t ]" 30
ok $? "the slot confirmed up to the sink's checkpoint ($ck_lsn)"

kill -TERM "$SINK_PID" "$CAP_PID" 2>/dev/null
sleep 0.5
done_testing
