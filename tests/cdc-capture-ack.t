#!/usr/bin/env bash
# alone: it restarts the test PostgreSQL (tests/run.sh runs no other test file beside it)
# cdc-capture: acknowledgement through --ack-file, heartbeats on filtered
# streams, crashes (kill -9) and restarts, a server restart.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
need_pg
pg_new_db capture_ack
CAP=$CDC_BIN/cdc-capture
slot=${TEST_ID}_s
pub=${TEST_ID}_p
ack=$TEST_TMP/ack.ckpt

# write_ack COMMIT_LSN SEQ [NAME]: a checkpoint as cdc-sink-es writes it.
write_ack() {
	printf 'version=1\ncommit_lsn=%s\nseq=%s\nsnapshot=false\nname=%s\nwriter=test\n' "$1" "$2" "${3:-$slot}" >"$ack.tmp"
	mv "$ack.tmp" "$ack"
}
confirmed() { psql_t "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = '$slot'"; }
lines() { wc -l <"$1"; }

psql_t <<SQL >/dev/null
CREATE TABLE pubt (id int PRIMARY KEY, tx int);
CREATE TABLE unpub (id bigserial PRIMARY KEY, pad text);
CREATE PUBLICATION $pub FOR TABLE pubt;
SELECT pg_create_logical_replication_slot('$slot', 'pgoutput');
SQL
start_lsn=$(confirmed)

# ---- an ack file nobody writes: the slot does not move.
spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" --heartbeat 1 \
	--status-interval 0.5 >"$TEST_TMP/o1.json" 2>"$TEST_TMP/e1"
cap=$SPAWNED_PID
psql_t "INSERT INTO pubt SELECT g, 1 FROM generate_series(1, 100) g"
psql_t "INSERT INTO pubt SELECT g, 2 FROM generate_series(101, 200) g"
wait_for "[ \$(lines $TEST_TMP/o1.json) -ge 200 ]" 15
ok $? "200 events streamed"
sleep 2.5
is "$(confirmed)" "$start_lsn" "ack file missing: confirmed_flush_lsn does not move"
like "$(jq -r -s '[.[] | select(.op == "heartbeat")] | length' "$TEST_TMP/o1.json")" '^[1-9]' "heartbeats emitted while idle"

# ---- the far end made the first transaction durable: confirm exactly its commit_lsn.
tx1_commit=$(jq -s '[.[] | select(.after.tx == 1)][-1].source.commit_lsn' "$TEST_TMP/o1.json")
write_ack "$tx1_commit" 100
wait_for "[ \"\$(confirmed)\" = $tx1_commit ]" 5
ok $? "flush confirmed = the checkpoint's commit_lsn"
kill -KILL "$cap"
wait "$cap" 2>/dev/null

# ---- restart after kill -9 between transactions: nothing missing, nothing before the ack again.
psql_t "INSERT INTO pubt SELECT g, 3 FROM generate_series(201, 300) g"
spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" --heartbeat 0 \
	--status-interval 0.5 >"$TEST_TMP/o2.json" 2>"$TEST_TMP/e2"
cap=$SPAWNED_PID
wait_for "[ \$(jq -s '[.[] | select(.after.tx == 3)] | length' $TEST_TMP/o2.json) -ge 100 ]" 15
ok $? "restarted capture streams the new transaction"
is "$(jq -c -s '[.[] | .after.tx] | group_by(.) | map([.[0], length])' "$TEST_TMP/o2.json")" '[[2,100],[3,100]]' \
	"after restart: the unacknowledged transaction again, whole, and the new one; not the acknowledged one"
all_ids=$(cat "$TEST_TMP/o1.json" "$TEST_TMP/o2.json" | jq -s '[.[] | .after.id // empty] | unique | length')
is "$all_ids" 300 "nothing missing across the crash"

# ---- kill -9 inside a large transaction.
tx2_last=$(jq -c -s '[.[] | select(.after.tx == 3)][-1].source | [.commit_lsn, .seq]' "$TEST_TMP/o2.json")
write_ack "$(jq '.[0]' <<<"$tx2_last")" "$(jq '.[1]' <<<"$tx2_last")"
psql_t "INSERT INTO pubt SELECT g, 4 FROM generate_series(1001, 101000) g"
wait_for "[ \$(lines $TEST_TMP/o2.json) -ge 1000 ]" 15
kill -KILL "$cap"
wait "$cap" 2>/dev/null
got4=$(jq -s '[.[] | select(.after.tx == 4)] | length' "$TEST_TMP/o2.json" 2>/dev/null || echo partial)
note "events of the big transaction before kill -9: $got4"
spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" --heartbeat 0 \
	--status-interval 0.5 >"$TEST_TMP/o3.json" 2>"$TEST_TMP/e3"
cap=$SPAWNED_PID
wait_for "[ \$(lines $TEST_TMP/o3.json) -ge 100000 ]" 30
is "$(jq -s '[.[] | select(.after.tx == 4) | .after.id] | unique | length' "$TEST_TMP/o3.json")" 100000 \
	"killed inside a transaction: it comes again whole"
is "$(jq -s '[.[] | select(.after.tx != 4)] | length' "$TEST_TMP/o3.json")" 0 "nothing acknowledged comes again"
is "$(jq -s -c '[.[] | .source.seq] | . == [range(1; 100001)]' "$TEST_TMP/o3.json")" true "seq 1..N, in order"

# ---- a checkpoint of another slot is refused.
kill -TERM "$cap"
wait "$cap"
is $? 0 "SIGTERM: exit 0"
write_ack "$tx1_commit" 1 other_slot
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" >/dev/null 2>"$TEST_TMP/e4"
is $? 1 "wrong ack file: exit 1"
like "$(cat "$TEST_TMP/e4")" 'checkpoint of "other_slot", not of slot' "wrong ack file: clear message"
printf 'version=9\n' >"$ack"
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" >/dev/null 2>"$TEST_TMP/e5"
is $? 1 "malformed ack file: exit 1"
like "$(cat "$TEST_TMP/e5")" "$ack" "malformed ack file: message names the file"

# ---- 40 MB of unpublished WAL: heartbeats + ack file keep the slot close.
tx4_last=$(jq -c -s '.[-1].source | [.commit_lsn, .seq]' "$TEST_TMP/o3.json")
write_ack "$(jq '.[0]' <<<"$tx4_last")" "$(jq '.[1]' <<<"$tx4_last")"
spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" --heartbeat 0.5 \
	--status-interval 0.5 >"$TEST_TMP/hb.json" 2>"$TEST_TMP/ehb"
cap=$SPAWNED_PID
# The "sink": checkpoint the latest heartbeat, as cdc-sink-es does.
(
	while sleep 0.3; do
		hb=$(grep '"op":"heartbeat"' "$TEST_TMP/hb.json" | tail -1 | jq -r '.source.commit_lsn' 2>/dev/null)
		[ -n "$hb" ] && write_ack "$hb" 0
	done
) &
sink=$!
at_exit "kill $sink 2>/dev/null"
before=$(psql_t "SELECT pg_current_wal_lsn() - '0/0'")
for i in 1 2 3 4; do
	psql_t "INSERT INTO unpub (pad) SELECT repeat(md5(g::text), 3) FROM generate_series(1, 50000) g"
done
after=$(psql_t "SELECT pg_current_wal_lsn() - '0/0'")
note "unpublished WAL written: $(((after - before) / 1048576)) MB"
[ $((after - before)) -ge 40000000 ]
ok $? "at least 40 MB of WAL"
wait_for "[ \$(psql_t \"SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint < 1048576 FROM pg_replication_slots WHERE slot_name = '$slot'\") = t ]" 20
ok $? "slot lag behind the WAL stays under 1 MB (no write on the source)"
is "$(jq -s '[.[] | select(.op != "heartbeat")] | length' "$TEST_TMP/hb.json")" 0 "only heartbeats for a filtered stream"
is "$(jq -s -c '[.[] | .source | [.commit_lsn, .seq]] | (. == sort) and (. == unique)' "$TEST_TMP/hb.json")" true \
	"heartbeat positions strictly increasing"
kill "$sink" 2>/dev/null
kill -TERM "$cap"
wait "$cap"

# ---- a server restart while streaming.
if [ "${CDC_TEST_PG_MANAGED:-0}" = 1 ]; then
	spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --heartbeat 0 \
		--status-interval 0.5 >"$TEST_TMP/r.json" 2>"$TEST_TMP/er"
	cap=$SPAWNED_PID
	psql_t "INSERT INTO pubt VALUES (200001, 5)"
	wait_for "grep -q 200001 $TEST_TMP/r.json" 10
	services pg-restart >/dev/null 2>&1
	psql_t "INSERT INTO pubt VALUES (200002, 6)"
	wait_for "grep -q 200002 $TEST_TMP/r.json" 40
	ok $? "capture reconnects after a server restart and goes on"
	like "$(cat "$TEST_TMP/er")" "reconnect" "reconnection reported on stderr"
	kill -TERM "$cap"
	wait "$cap"
	is $? 0 "exit 0 after SIGTERM"
	spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --heartbeat 0 --no-loop \
		>/dev/null 2>"$TEST_TMP/enl"
	cap=$SPAWNED_PID
	sleep 1
	services pg-restart >/dev/null 2>&1
	wait "$cap"
	is $? 75 "--no-loop: exit 75 when the connection is lost"
else
	skip "PostgreSQL not managed by the tests: no restart" 4
fi
done_testing
