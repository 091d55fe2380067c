#!/usr/bin/env bash
# cdc-record: kill -9 in the middle of writing, a torn tail, restart with
# the source re-delivering from the checkpoint (as cdc-capture --ack-file
# does), and replay: nothing checkpointed is lost, nothing is logged twice.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
command -v lz4 >/dev/null || skip_all "lz4 is not installed"
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP
gen() { awk -v n="$1" -f "$TEST_ROOT/tests/cdc-record-events.awk"; }
# ck_pos FILE: the checkpoint's position as "decimal_commit_lsn seq".
ck_pos() {
	awk -F= '$1 == "commit_lsn" { split($2, h, "/"); c = $2 } $1 == "seq" { s = $2 } END { print c, s }' "$1" |
		{ read -r c s; printf '%d %s\n' "0x${c/\//}" "$s"; }
}

gen 40000 >"$T/in.json"

# ---- run 1: killed with SIGKILL while the input streams in
mkfifo "$T/fifo"
exec 7<>"$T/fifo"
spawn "$REC" --no-output -c "$T/ck" -s 256K --frame-bytes 16K --sync-interval 50ms "$T/log" <"$T/fifo"
rec=$SPAWNED_PID
# The feeder runs in a process group of its own, killed whole below: a sed
# left blocked on the fifo would keep prove's output pipe open for ever.
spawn bash -c 'for i in $(seq 0 79); do
	sed -n "$((i * 500 + 1)),$((i * 500 + 500))p" "$1"
	sleep 0.03
done' feeder "$T/in.json" >&7
feeder=$SPAWNED_PID
wait_for "[ -s '$T/ck' ]" 10
ok $? "checkpoint written while streaming"
sleep 0.5
{
	kill -KILL "$rec"
	wait "$rec"
	kill -KILL -- "-$feeder"
	wait "$feeder"
} 2>/dev/null
exec 7>&-
read -r ck_lsn ck_seq < <(ck_pos "$T/ck")
note "killed at checkpoint $ck_lsn:$ck_seq"
[ "$ck_lsn" -gt 0 ]
ok $? "checkpoint holds a position"

"$RP" "$T/log" >"$T/r1.json" 2>"$T/r1.err"
ok $? "the killed recorder's log replays"
n1=$(wc -l <"$T/r1.json")
cmp -s "$T/r1.json" <(head -"$n1" "$T/in.json")
ok $? "what it holds is a prefix of the input ($n1 lines)"
jq -e --argjson l "$ck_lsn" --argjson s "$ck_seq" -n \
	'[inputs | select(.source.commit_lsn == $l and .source.seq == $s)] | length == 1' "$T/r1.json" >/dev/null
ok $? "the checkpointed event is in the log"

# ---- a torn tail, as a crash in the middle of a write leaves it
last=$(ls "$T"/log/cdc-*.lz4 | tail -1)
size_before=$(stat -c %s "$last")
gen 3000 | lz4 -c | head -c 5000 >>"$last"
"$RP" "$T/log" 2>/dev/null | cmp -s - "$T/r1.json"
ok $? "replay stops at the last complete frame of a live log"

# ---- run 2: the source re-delivers from the checkpoint's transaction
start=$(jq -c --argjson l "$ck_lsn" -n '[inputs | .source.commit_lsn] | index($l) + 1' "$T/in.json")
tail -n +"$start" "$T/in.json" | "$REC" --no-output -c "$T/ck" -s 256K --frame-bytes 16K "$T/log" 2>"$T/e2"
ok $? "restart exits 0"
like "$(cat "$T/e2")" "truncated lz4 frame at offset $size_before: cutting the last 5000 bytes" \
	"the torn tail is found and cut"
"$RP" "$T/log" >"$T/r2.json"
cmp -s "$T/r2.json" "$T/in.json"
ok $? "replay after the restart is the whole input: no loss, no duplicates"
is "$(ck_pos "$T/ck")" "$(tail -1 "$T/in.json" | jq -r '"\(.source.commit_lsn) \(.source.seq)"')" \
	"checkpoint at the last event"

# ---- --keep-duplicates logs re-delivered events again
tail -3 "$T/in.json" | "$REC" --no-output --keep-duplicates "$T/log"
is "$("$RP" "$T/log" | wc -l)" 40003 "--keep-duplicates: re-delivered events logged again"
tail -3 "$T/in.json" | "$REC" --no-output "$T/log"
is "$("$RP" "$T/log" | wc -l)" 40003 "default: events at or before the end of the log are left out"

# ---- a source that reconnects mid-run re-delivers: logged once
gen 3000 >"$T/g3"
{ head -2000 "$T/g3"; sed -n 1500,3000p "$T/g3"; } | "$REC" -c "$T/re.ck" "$T/re" >"$T/re.out"
is "$(wc -l <"$T/re.out")" 3501 "re-delivered events are passed on"
"$RP" "$T/re" | cmp -s - "$T/g3"
ok $? "but logged once"

# ---- garbage after the last frame, and an empty newest segment
gen 100 | "$REC" --no-output "$T/g"
seg=$(ls "$T"/g/cdc-*.lz4)
printf 'garbage' >>"$seg"
touch "$T/g/cdc-0000000009-0000000000000000.lz4"
gen 100 | "$REC" --no-output "$T/g" 2>"$T/g.err"
ok $? "restart over garbage and an empty segment"
[ ! -e "$T/g/cdc-0000000009-0000000000000000.lz4" ]
ok $? "the empty segment is removed"
"$RP" "$T/g" | cmp -s - <(gen 100)
ok $? "the garbage is cut, the log is intact"
like "$(cat "$T/g.err")" "cutting the last 7 bytes" "the cut is reported"

# ---- a checkpoint past the end of the log is reported
printf 'version=1\ncommit_lsn=FF/0\nseq=1\n' >"$T/far.ck"
gen 10 | "$REC" --no-output -c "$T/far.ck" "$T/g" 2>"$T/far.err"
like "$(cat "$T/far.err")" "past the end of the log" "a checkpoint ahead of the log is reported"
printf 'version=2\n' >"$T/bad.ck"
gen 10 | "$REC" --no-output -c "$T/bad.ck" "$T/g2" 2>"$T/badck.err"
is $? 1 "a malformed checkpoint: exit 1"
like "$(cat "$T/badck.err")" "bad.ck" "the message names the file"

done_testing
