#!/usr/bin/env bash
# cdc-record in the ack loop: cdc-capture --ack-file reads the recorder's
# checkpoint; the pipeline is killed with SIGKILL mid-stream and restarted;
# the log then holds every change exactly once, in commit order.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture cdc-record cdc-replay
need_pg
pg_new_db record_cap
CAP=$CDC_BIN/cdc-capture
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP
slot=${TEST_ID}_s
pub=${TEST_ID}_p

psql_t <<SQL >/dev/null
CREATE TABLE rc (id int PRIMARY KEY, tx int, pad text);
CREATE PUBLICATION $pub FOR TABLE rc;
SELECT pg_create_logical_replication_slot('$slot', 'pgoutput');
SQL
confirmed() { psql_t "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = '$slot'"; }
logged() { "$RP" --op c "$T/log" 2>/dev/null | wc -l; }
pipeline() {
	spawn bash -c "'$CAP' -d '$PGTEST_DSN' --slot '$slot' --publication '$pub' --ack-file '$T/ck' \
		--heartbeat 1 --status-interval 0.5 2>>'$T/cap.err' |
		'$REC' --no-output -c '$T/ck' -s 64K --frame-bytes 8K --sync-interval 50ms '$T/log' 2>>'$T/rec.err'"
	pl=$SPAWNED_PID
}
# 200 transactions of 10 rows, spread over about two seconds.
(
	for tx in $(seq 1 200); do
		psql_t "INSERT INTO rc SELECT g, $tx, repeat('x', 200) FROM generate_series($(((tx - 1) * 10 + 1)), $((tx * 10))) g"
		sleep 0.01
	done
) &
writer=$!

pipeline
wait_for "[ \$(logged) -ge 500 ]" 20
ok $? "capture | record: events reach the log"
{
	kill -KILL -- "-$pl"
	wait "$pl"
} 2>/dev/null
wait "$writer"
[ -s "$T/ck" ]
ok $? "the recorder wrote its checkpoint"
ck_lsn=$(awk -F= '$1 == "commit_lsn" { print $2 }' "$T/ck")
ck_dec=$(printf '%d' "0x${ck_lsn/\//}")
conf=$(confirmed)
[ "$conf" -le "$ck_dec" ]
ok $? "the server confirmed no more than the recorder's checkpoint ($conf <= $ck_dec)"
n1=$(logged)
note "$n1 rows logged before SIGKILL"

pipeline
wait_for "[ \$(logged) -ge 2000 ]" 30
ok $? "after the restart the log catches up"
sleep 0.5
kill -TERM -- "-$pl"
wait "$pl" 2>/dev/null
"$RP" --op c "$T/log" | jq -r .after.id >"$T/ids"
is "$(wc -l <"$T/ids")" 2000 "2000 rows logged: nothing twice"
is "$(sort -un "$T/ids" | wc -l)" 2000 "2000 distinct rows: nothing lost"
"$RP" "$T/log" | jq -r '"\(.source.commit_lsn) \(.source.seq)"' >"$T/pos"
sort -n -k1,1 -k2,2 -c "$T/pos" 2>/dev/null
ok $? "the log is in position order across the crash"
grep -qx "name=$slot" "$T/ck"
ok $? "with the slot's name (capture accepts it)"

done_testing
