#!/usr/bin/env bash
# cdc-replay --follow: keep reading a cdc-record log as it grows, across
# segment rotation and a recorder crash and restart; plain files; stopping.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
command -v lz4 >/dev/null || skip_all "lz4 is not installed"
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP
lines() { wc -l <"$1"; }

awk -v n=6000 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/in.json"
mkdir "$T/log"

spawn "$RP" -F --poll-interval 50ms "$T/log" >"$T/out" 2>"$T/err"
rp=$SPAWNED_PID

# ---- a recorder writes in bursts, rotating every ~24 KiB
mkfifo "$T/fifo"
exec 7<>"$T/fifo"
spawn "$REC" --no-output -c "$T/ck" -s 24K --frame-bytes 8K --sync-interval 50ms "$T/log" <"$T/fifo"
rec=$SPAWNED_PID
for i in 0 1 2 3 4 5; do
	sed -n "$((i * 500 + 1)),$((i * 500 + 500))p" "$T/in.json" >&7
	sleep 0.1
done
wait_for "[ \$(lines $T/out) -ge 3000 ]" 10
ok $? "the follower sees 3000 lines as they are recorded"
n=$(ls "$T/log" | grep -c '\.lz4$')
[ "$n" -ge 3 ]
ok $? "across $n segments"
cmp -s "$T/out" <(head -3000 "$T/in.json")
ok $? "byte-identical, in order"

# A new line shows up promptly.
sed -n 3001p "$T/in.json" >&7
wait_for "[ \$(lines $T/out) -ge 3001 ]" 3
ok $? "one more line reaches the follower within 3 s"

# ---- the recorder dies mid-stream; its successor cuts the torn tail
sed -n 3002,3500p "$T/in.json" >&7
wait_for "[ \$(lines $T/out) -ge 3500 ]" 10
{
	kill -KILL "$rec"
	wait "$rec"
} 2>/dev/null
exec 7>&-
last=$(ls "$T"/log/cdc-*.lz4 | tail -1)
sed -n 3501,4500p "$T/in.json" | lz4 -q -c | head -c 3000 >>"$last"
sleep 0.3
is "$(lines "$T/out")" 3500 "a torn frame is not replayed"
ck_lsn=$(awk -F= '$1 == "commit_lsn" { print $2 }' "$T/ck")
ck_dec=$(printf '%d' "0x${ck_lsn/\//}")
start=$(jq -n --argjson l "$ck_dec" '[inputs | .source.commit_lsn] | index($l) + 1' "$T/in.json")
tail -n +"$start" "$T/in.json" | "$REC" --no-output -c "$T/ck" -s 24K --frame-bytes 8K "$T/log" 2>/dev/null
ok $? "a new recorder resumes from the checkpoint"
wait_for "[ \$(lines $T/out) -ge 6000 ]" 10
ok $? "the follower goes on into the new recorder's segments"
sleep 0.3
cmp -s "$T/out" "$T/in.json"
ok $? "it saw every event once, in order"

kill -TERM "$rp"
wait "$rp"
is $? 0 "SIGTERM: the follower exits 0"

# ---- --follow with --to ends once the log is past it
to=$(sed -n 100p "$T/in.json" | jq .source.commit_lsn)
timeout 5 "$RP" -F --poll-interval 50ms --to "$to" "$T/log" >"$T/to.out"
is $? 0 "--follow --to: ends by itself once past --to"
jq -c "select(.source.commit_lsn <= $to)" "$T/in.json" | cmp -s - "$T/to.out"
ok $? "with the events up to --to"

# ---- plain files, like tail -f
head -10 "$T/in.json" >"$T/plain.json"
spawn "$RP" -F --poll-interval 50ms "$T/plain.json" >"$T/pout"
pf=$SPAWNED_PID
wait_for "[ \$(lines $T/pout) -ge 10 ]" 5
ok $? "follows a plain file: existing lines"
sed -n 11,20p "$T/in.json" >>"$T/plain.json"
wait_for "[ \$(lines $T/pout) -ge 20 ]" 5
ok $? "and appended ones"
cmp -s "$T/pout" <(head -20 "$T/in.json")
ok $? "byte-identical"
kill -TERM "$pf"
wait "$pf"
is $? 0 "exit 0 on SIGTERM"

# ---- only the last argument is followed
timeout 5 "$RP" -F --poll-interval 50ms "$T/log" <(head -1 "$T/in.json") >"$T/two.out" &
wait_for "[ \$(lines $T/two.out) -ge 6001 ]" 5
ok $? "--follow with two inputs: the first is read to its end"
kill %% 2>/dev/null
wait 2>/dev/null

# ---- a log directory that does not exist yet is waited for (like tail -F)
spawn "$RP" -v -F --poll-interval 50ms "$T/later/log" >"$T/later.out" 2>"$T/later.err"
pl=$SPAWNED_PID
sleep 0.5
kill -0 "$pl" 2>/dev/null
ok $? "--follow on a directory that does not exist: still waiting after 0.5 s"
like "$(cat "$T/later.err")" "later/log does not exist yet: waiting for it" "and says so at -v"
mkdir "$T/later"
head -100 "$T/in.json" | "$REC" --no-output "$T/later/log"
wait_for "[ \$(lines $T/later.out) -ge 100 ]" 5
ok $? "once it is created, the events recorded into it come out"
cmp -s "$T/later.out" <(head -100 "$T/in.json")
ok $? "byte-identical"
kill -TERM "$pl"
wait "$pl"
is $? 0 "exit 0 on SIGTERM"
spawn "$RP" -F --poll-interval 50ms "$T/never" >/dev/null 2>"$T/never.err"
pn=$SPAWNED_PID
sleep 0.3
kill -TERM "$pn"
wait "$pn"
is $? 0 "waiting for a directory that never comes: exit 0 on SIGTERM"
"$RP" "$T/never" >/dev/null 2>"$T/never.err"
is $? 1 "without --follow a missing directory is an error (exit 1)"
like "$(cat "$T/never.err")" "cannot open .*never" "naming it"

done_testing
