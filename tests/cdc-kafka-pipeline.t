#!/usr/bin/env bash
# A pipeline cut in two at Kafka, on real PostgreSQL, Kafka and OpenSearch:
#
#   cdc-capture --ack-file k.ckpt | cdc-sink-kafka --checkpoint k.ckpt
#   cdc-source-kafka --ack-file es.ckpt | cdc-sink-es --checkpoint es.ckpt
#
# Two tables on topics of 3 and 2 partitions.  While a workload runs, each
# of the four programs is killed with SIGKILL in turn and its half of the
# pipeline restarted; at the end the index equals the tables (0 lost, 0
# stale, 0 extra), no offset was committed past an unapplied event, and
# what cdc-source-kafka prints for a fresh group is in position order.
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

pg_new_db kpipe
psql_t <<'SQL' || bail_out "cannot set up the tables"
CREATE TABLE items (id int PRIMARY KEY, v text, n int);
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO items SELECT g, 'v' || g, g FROM generate_series(1, 300) g;
INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g;
SQL
kafka_new_topic "${KP}public.items" 3
kafka_new_topic "${KP}public.notes" 2
slot=s_$TEST_ID
pub=p_$TEST_ID
KCK=$TEST_TMP/k.ckpt
ECK=$TEST_TMP/es.ckpt

start_hop1() {
	rm -f hop1
	mkfifo hop1
	spawn sh -c 'exec "$@" >"$0" 2>>cap.err' hop1 \
		"$CAP" -q -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --create-slot \
		--create-publication --tables items,notes --snapshot-state snap.state --ack-file "$KCK" \
		--heartbeat 1 --status-interval 1
	CAP_PID=$SPAWNED_PID
	spawn sh -c 'exec "$@" <"$0" 2>>sk.err' hop1 \
		"$SK" -q -b "$B" --topic "${KP}{schema}.{table}" --checkpoint "$KCK"
	SK_PID=$SPAWNED_PID
}
start_hop2() {
	rm -f hop2
	mkfifo hop2
	spawn sh -c 'exec "$@" >"$0" 2>>src.err' hop2 \
		"$SRC" -q -b "$B" --group "g-$TEST_ID" --topic "${KP//./\\.}public\\..*" --ack-file "$ECK"
	SRC_PID=$SPAWNED_PID
	spawn sh -c 'exec "$@" <"$0" 2>>sink.err' hop2 \
		"$SINK" -q --url "$U" --index "${P}{table}" --checkpoint "$ECK" --batch-docs 50
	SINK_PID=$SPAWNED_PID
}
# Kill one program with SIGKILL; the other of its hop then ends (75, 141
# or 0): wait for it, and start the hop again.
kill_and_restart() {
	local victim=$1 other=$2 hop=$3
	kill -KILL "$victim"
	wait_for "! kill -0 $other 2>/dev/null" 20 || kill -TERM -- "-$other" 2>/dev/null
	wait_for "! kill -0 $other 2>/dev/null" 10
	"start_$hop"
}

workload() {
	local r
	for r in $(seq 1 "$1"); do
		psql_t >/dev/null <<-SQL
		BEGIN;
		UPDATE items SET v = 'r$r-' || id, n = n + 1 WHERE id % 7 = $r % 7;
		INSERT INTO items VALUES (1000 + $r, 'new$r', $r);
		DELETE FROM items WHERE id = $r * 4;
		UPDATE notes SET body = body || ' +$r' WHERE id = $r % 50 + 1;
		COMMIT;
		SQL
		sleep 0.08
	done
}

table_rows() {
	psql_t "SELECT json_build_object('t', 'items', 'id', id, 'v', v, 'n', n) FROM items
	        UNION ALL SELECT json_build_object('t', 'notes', 'id', id, 'body', body) FROM notes" |
		jq -cS . | sort
}
index_rows() {
	es_curl POST "/${P}*/_refresh" >/dev/null 2>&1
	{ es_curl GET "/${P}items/_search?size=10000" | jq -cS '.hits.hits[]._source | {t: "items", id, v, n}'
	  es_curl GET "/${P}notes/_search?size=10000" | jq -cS '.hits.hits[]._source | {t: "notes", id, body}'
	} | sort
}
same() { [ "$(table_rows)" = "$(index_rows)" ]; }

start_hop1
start_hop2
wait_for "[ \"\$(es_count ${P}items 2>/dev/null)\" = 300 ] && [ \"\$(es_count ${P}notes 2>/dev/null)\" = 50 ]" 90
ok $? "the snapshot of both tables goes through Kafka into the index"

workload 60 &
wl=$!
sleep 1
kill_and_restart "$SK_PID" "$CAP_PID" hop1
ok $? "cdc-sink-kafka killed with SIGKILL, hop 1 restarted"
sleep 1
kill_and_restart "$SRC_PID" "$SINK_PID" hop2
ok $? "cdc-source-kafka killed with SIGKILL, hop 2 restarted"
sleep 1
kill_and_restart "$SINK_PID" "$SRC_PID" hop2
ok $? "cdc-sink-es killed with SIGKILL, hop 2 restarted"
sleep 1
kill_and_restart "$CAP_PID" "$SK_PID" hop1
ok $? "cdc-capture killed with SIGKILL, hop 1 restarted"
wait "$wl"
ok $? "the workload ran to its end"

wait_for same 90
ok $? "after four kills, the index equals the tables (0 lost, 0 stale, 0 extra)" ||
	diag "$(diff <(table_rows) <(index_rows) | head -20)"

# The checkpoints: hop 1's is the brokers', hop 2's the index's.
like "$(cat "$KCK")" "writer=cdc-sink-kafka" "cdc-sink-kafka keeps the checkpoint cdc-capture reads"
like "$(cat "$ECK")" "writer=cdc-sink-es" "cdc-sink-es keeps the checkpoint cdc-source-kafka reads"

kill -TERM "$CAP_PID" "$SRC_PID" 2>/dev/null
wait_for "! kill -0 $SK_PID 2>/dev/null && ! kill -0 $SINK_PID 2>/dev/null" 30
ok $? "SIGTERM to the sources ends both hops"

# ---- what a fresh group sees: one stream in position order, each event once
"$SRC" -q -b "$B" --group "fresh-$TEST_ID" --topic "${KP//./\\.}public\\..*" -e >fresh.ndjson 2>fresh.err
is $? 0 "a fresh group reads everything to the end (-e) and exits 0"
jq -r '.source | "\(.commit_lsn) \(.seq)"' fresh.ndjson >pos.txt
is "$(sort -n -k1,1 -k2,2 pos.txt | uniq)" "$(cat pos.txt)" "its output is in position order, no event twice"
is "$(grep -c '"op":"mark"' fresh.ndjson)" 0 "marks are never printed"
is "$(jq -r 'select(.op == "r") | .source.table' fresh.ndjson | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
	"items=300 notes=50 " "the snapshot rows are there once each"

# ---- kcat reads what we write
kcat -b "$B" -C -t "${KP}public.items" -e -q -f '%k\t%h\t%s\n' >kcat.txt 2>kcat.err
ok $? "kcat reads the topic"
awk -F'\t' '$1 != "" { print $1 "\t" $3 }' kcat.txt | head -200 | while IFS=$'\t' read -r k v; do
	[ "$k" = "$(printf '%s' "$v" | jq -cS .key)" ] || { echo "key $k for $v"; break; }
done >keys.bad
is "$(cat keys.bad)" "" "each data message is keyed by the event's key"
# (A re-delivered copy differs from the first in its top-level ts_ms and ts_us only.)
is "$(awk -F'\t' '$1 != "" { print $3 }' kcat.txt | jq -c 'select(.op | test("^[cud]$")) | del(.ts_ms, .ts_us)' | sort -u)" \
	"$(jq -c 'select(.source.table == "items" and (.op | test("^[cud]$"))) | del(.ts_ms, .ts_us)' fresh.ndjson | sort)" \
	"the topic holds each change of items as printed, keyed (re-deliveries aside)"
like "$(head -1 kcat.txt | cut -f2)" "op=.*position=" "and carries the op and position headers"

# ---- and we read what kcat writes
T2=${KP}bykcat
kafka_new_topic "$T2" 2
jq -c 'select(.source.table == "notes")' fresh.ndjson | head -40 >notes.ndjson
jq -r '"\(.key|tojson)\t\(tojson)"' notes.ndjson | kcat -b "$B" -P -t "$T2" -K $'\t' -X partitioner=murmur2_random 2>kcatp.err
ok $? "kcat -P writes 40 events over 2 partitions"
"$SRC" -q -b "$B" --group "k-$TEST_ID" --topic "$T2" -e >fromkcat.ndjson 2>fromkcat.err
is "$?" 0 "cdc-source-kafka reads them"
is "$(jq -cS . fromkcat.ndjson)" "$(jq -cS . notes.ndjson)" \
	"in position order, though nothing marked kcat's partitions (-e ends the merge)"

# ---- --no-headers: the same messages without headers, read back alike
T4=${KP}nohdr
kafka_new_topic "$T4" 2
"$SK" -q -b "$B" --topic "$T4" --no-headers <notes.ndjson 2>nohdr.err
ok $? "cdc-sink-kafka --no-headers writes the 40 events"
kcat -b "$B" -C -t "$T4" -e -q -f '%h|%k\n' >nohdr.kcat 2>>nohdr.err
is "$(grep -c '"id"' nohdr.kcat)" 40 "kcat sees the 40 keyed messages"
is "$(cut -d'|' -f1 nohdr.kcat | sort -u | tr -d '\n')" "" "none carries a header, marks included"
"$SRC" -q -b "$B" --group "nh-$TEST_ID" --topic "$T4" -e >nohdr.ndjson 2>>nohdr.err
is "$(jq -cS . nohdr.ndjson)" "$(jq -cS . notes.ndjson)" "cdc-source-kafka reads them in position order"

# ---- a backlog far over --max-queued: partitions paused and resumed, nothing lost or reordered
T3=${KP}backlog
kafka_new_topic "$T3" 3
awk 'BEGIN { for (i = 1; i <= 30000; i++)
	printf "{\"op\":\"c\",\"before\":null,\"after\":{\"id\":%d,\"v\":\"row %d\"},\"key\":{\"id\":%d},\"source\":{\"name\":\"bl\",\"db\":\"d\",\"schema\":\"public\",\"table\":\"t\",\"commit_lsn\":%d,\"seq\":1,\"ts_ms\":1}}\n", i, i, i, 1000 + i }' >backlog.ndjson
"$SK" -q -b "$B" --topic "$T3" <backlog.ndjson 2>backlog-sk.err
ok $? "cdc-sink-kafka writes 30,000 events over 3 partitions"
timeout 120 "$SRC" -v -b "$B" --group "b-$TEST_ID" --topic "$T3" -e --max-queued 1000 >backlog.out 2>backlog.err
is "$?" 0 "cdc-source-kafka --max-queued 1000 reads the backlog to its end"
cmp -s backlog.out backlog.ndjson
ok $? "every event once, in position order, byte for byte" ||
	diag "$(wc -l <backlog.out) lines; first difference: $(cmp backlog.out backlog.ndjson 2>&1)"
pauses=$(sed -n 's/.* \([0-9]*\) pauses$/\1/p' backlog.err)
[ "${pauses:-0}" -gt 0 ]
ok $? "on the way, partitions were paused and resumed (${pauses:-no} pauses)" ||
	diag "$(tail -3 backlog.err)"

done_testing
