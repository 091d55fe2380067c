#!/usr/bin/env bash
# alone: it kills and restarts the test Kafka broker (tests/run.sh runs no other test file beside it)
# Two cdc-source-kafka processes in one consumer group, each feeding its own
# cdc-sink-es into the same index, on real PostgreSQL, Kafka and OpenSearch:
# the second member joins mid-stream (a rebalance), the broker is killed
# with SIGKILL and restarted, then the first member is killed with SIGKILL
# and the second takes over its partitions (a rebalance, and rewinds: the
# partitions hold events older than what the second printed).  At the end
# the index equals the table: 0 lost, 0 stale, 0 extra.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture cdc-sink-kafka cdc-source-kafka cdc-sink-es
need_pg
need_es
need_kafka
CAP=$CDC_BIN/cdc-capture
SK=$CDC_BIN/cdc-sink-kafka
SRC=$CDC_BIN/cdc-source-kafka
SINK=$CDC_BIN/cdc-sink-es
B=$CDC_TEST_KAFKA_BROKERS
KP=$(kafka_topic_prefix)
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

pg_new_db kgroup
psql_t <<'SQL' || bail_out "cannot set up the table"
CREATE TABLE items (id int PRIMARY KEY, v text, n int);
INSERT INTO items SELECT g, 'v' || g, g FROM generate_series(1, 500) g;
SQL
kafka_new_topic "${KP}public.items" 4
slot=s_$TEST_ID
pub=p_$TEST_ID
G=g-$TEST_ID
# Short sessions, so that a killed member's partitions move on soon.
GROUP_OPTS=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500)

mkfifo hop1
spawn sh -c 'exec "$@" >"$0" 2>>cap.err' hop1 \
	"$CAP" -q -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --create-slot \
	--create-publication --tables items --snapshot-state snap.state --ack-file k.ckpt \
	--heartbeat 1 --status-interval 1
CAP_PID=$SPAWNED_PID
spawn sh -c 'exec "$@" <"$0" 2>>sk.err' hop1 \
	"$SK" -q -b "$B" --topic "${KP}{schema}.{table}" --checkpoint k.ckpt
SK_PID=$SPAWNED_PID

# member NAME: cdc-source-kafka | cdc-sink-es with checkpoint NAME.ckpt
member() {
	rm -f "$1.fifo"
	mkfifo "$1.fifo"
	spawn sh -c 'exec "$@" >"$0" 2>>"$0.src.err"' "$1.fifo" \
		"$SRC" -v -b "$B" --group "$G" --topic "${KP//./\\.}public\\.items" --ack-file "$1.ckpt" \
		"${GROUP_OPTS[@]}"
	SRC_PID=$SPAWNED_PID
	spawn sh -c 'exec "$@" <"$0" 2>>"$0.sink.err"' "$1.fifo" \
		"$SINK" -q --url "$U" --index "${P}{table}" --checkpoint "$1.ckpt" --batch-docs 50
	SINK_PID=$SPAWNED_PID
}

workload() {
	local r
	for r in $(seq 1 "$1"); do
		psql_t >/dev/null <<-SQL
		BEGIN;
		UPDATE items SET v = 'r$r-' || id, n = n + 1 WHERE id % 11 = $r % 11;
		INSERT INTO items VALUES (1000 + $r, 'new$r', $r);
		DELETE FROM items WHERE id = $r * 3;
		COMMIT;
		SQL
		sleep 0.1
	done
}
table_rows() {
	psql_t "SELECT json_build_object('id', id, 'v', v, 'n', n) FROM items ORDER BY id" | jq -cS .
}
index_rows() {
	es_curl POST "/${P}items/_refresh" >/dev/null 2>&1
	es_curl GET "/${P}items/_search?size=10000" | jq -cS '.hits.hits | sort_by(._source.id)[] | ._source | {id, v, n}'
}
same() { [ "$(table_rows)" = "$(index_rows)" ]; }

member a
A_SRC=$SRC_PID A_SINK=$SINK_PID
wait_for "[ \"\$(es_count ${P}items 2>/dev/null)\" = 500 ]" 90
ok $? "member a alone: the snapshot arrives"

workload 80 &
wl=$!
sleep 1
member b
B_SRC=$SRC_PID B_SINK=$SINK_PID
wait_for "grep -q 'assigned' b.fifo.src.err && [ \$(grep -c 'assigned' a.fifo.src.err) -ge 2 ]" 30
ok $? "member b joins: a rebalance shares the partitions"
is "$(( $(grep -o 'assigned [0-9]*' a.fifo.src.err | tail -1 | cut -d' ' -f2) + $(grep -o 'assigned [0-9]*' b.fifo.src.err | tail -1 | cut -d' ' -f2) ))" 4 \
	"between them they hold the 4 partitions"

if [ "${CDC_TEST_KAFKA_MANAGED:-0}" = 1 ]; then
	sleep 1
	services kafka-restart kill >/dev/null
	ok $? "the broker is killed with SIGKILL and restarted mid-stream"
else
	skip "the broker is not ours to restart"
fi

sleep 2
kill -KILL "$A_SRC"
ok $? "member a's cdc-source-kafka killed with SIGKILL"
wait_for "grep -q 'assigned 4' b.fifo.src.err" 60
ok $? "member b takes over all 4 partitions"
wait "$wl"
ok $? "the workload ran to its end"

wait_for same 90
ok $? "the index equals the table: 0 lost, 0 stale, 0 extra" ||
	diag "$(diff <(table_rows) <(index_rows) | head -20)"
diag "member b: $(grep -c 'rewind' b.fifo.src.err) rewinds"
for p in "$CAP_PID" "$SK_PID" "$B_SRC" "$B_SINK"; do
	kill -0 "$p" 2>/dev/null || { diag "pid $p is gone"; cat ./*.err >&2; }
done
ok "$(kill -0 "$B_SRC" && kill -0 "$B_SINK" && kill -0 "$SK_PID"; echo $?)" \
	"member b and the producer ran through the broker restart and the rebalances"

kill -TERM "$B_SRC" "$CAP_PID"
wait_for "! kill -0 $B_SINK 2>/dev/null && ! kill -0 $SK_PID 2>/dev/null" 30
ok $? "SIGTERM ends both hops"
like "$(cat b.ckpt)" "writer=cdc-sink-es" "member b's sink keeps its checkpoint"

done_testing
