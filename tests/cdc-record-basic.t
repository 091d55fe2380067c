#!/usr/bin/env bash
# cdc-record: pass-through, the log's format (lz4 frames, names, index),
# rotation, the checkpoint, bad input, retention, locking, usage.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
command -v lz4 >/dev/null || skip_all "lz4 is not installed"
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP
gen() { awk -v n="$1" ${2:+-v start_lsn="$2"} -f "$TEST_ROOT/tests/cdc-record-events.awk"; }

gen 20000 >"$T/in.json"

# ---- pass-through and the log
"$REC" "$T/log" <"$T/in.json" >"$T/out.json" 2>"$T/err"
ok $? "exit 0 at end of input"
cmp -s "$T/in.json" "$T/out.json"
ok $? "standard output is the input, byte for byte"
is "$(cat "$T/err")" "" "nothing on stderr"
cat "$T"/log/cdc-*.lz4 | lz4 -dc 2>/dev/null | cmp -s - "$T/in.json"
ok $? "the segments are lz4 frames: lz4 -dc of them gives the input"
"$RP" "$T/log" | cmp -s - "$T/in.json"
ok $? "cdc-replay of the directory gives the input"
first_lsn=$(head -1 "$T/in.json" | jq -r '.source.commit_lsn')
is "$(ls "$T/log" | grep -c '\.lz4$')" 1 "one segment below --segment-bytes"
is "$(ls "$T/log" | grep '\.lz4$')" "$(printf 'cdc-0000000001-%016X.lz4' "$first_lsn")" \
	"segment named by sequence and first commit LSN"
seg=$(ls "$T"/log/cdc-*.lz4)
is "$(stat -c %a "$seg")" 600 "segment file mode 0600"
is "$(head -1 "$seg.idx")" "# cdc-record index 1" "index header"
# The index chains, covers the file, and counts every line.
read -r chain total lines < <(awk 'NR > 1 { if ($1 != next_off) bad = 1; next_off = $1 + $2; n += $4 }
	END { print (bad ? "broken" : "chained"), next_off, n }' "$seg.idx")
is "$chain" chained "index entries chain"
is "$total" "$(stat -c %s "$seg")" "index covers the whole segment"
is "$lines" 20000 "index counts every line"
# Every frame's recorded positions bound its lines.
off=$(awk 'NR == 3 { print $1, $2, $5, $6 }' "$seg.idx")
read -r o c lo hi <<<"$off"
got=$(tail -c +$((o + 1)) "$seg" | head -c "$c" | lz4 -dc | jq -r '"\(.source.commit_lsn):\(.source.seq)"' | sort -t: -k1,1n -k2,2n | sed -n '1p;$p' | tr '\n' ' ')
lo_d=$(printf '%d:%s' "0x$(echo "${lo%%:*}" | tr -d /)" "${lo##*:}")
hi_d=$(printf '%d:%s' "0x$(echo "${hi%%:*}" | tr -d /)" "${hi##*:}")
is "$got" "$lo_d $hi_d " "a frame's index line holds its least and greatest position"

# ---- rotation by size
"$REC" --no-output -s 64K --frame-bytes 16K "$T/rot" <"$T/in.json"
ok $? "--segment-bytes 64K, --no-output"
n=$(ls "$T/rot" | grep -c '\.lz4$')
[ "$n" -ge 5 ]
ok $? "several segments ($n)"
ls "$T/rot" | grep '\.lz4$' | sort -c
ok $? "segment names sort in write order"
prev=0
sorted=1
for s in "$T"/rot/cdc-*.lz4; do
	l=$((16#$(basename "$s" .lz4 | cut -d- -f3)))
	[ "$l" -ge "$prev" ] || sorted=0
	prev=$l
	sz=$(stat -c %s "$s")
done
is "$sorted" 1 "segment names sort by position too"
"$RP" "$T/rot" | cmp -s - "$T/in.json"
ok $? "replay across segments is byte-identical"

# ---- rotation by age
(head -100 "$T/in.json"; sleep 1.3; sed -n 101,200p "$T/in.json") |
	"$REC" --no-output --segment-age 1s --sync-interval 50ms "$T/age"
is "$(ls "$T/age" | grep -c '\.lz4$')" 2 "--segment-age 1s: a new segment after a pause"
"$RP" "$T/age" | cmp -s - <(head -200 "$T/in.json")
ok $? "and replay still gives every line"

# ---- last line without a newline
printf '{"op":"c","x":1}\n{"op":"c","x":2}' | "$REC" "$T/nonl" >"$T/nonl.out"
is "$(tail -c 1 "$T/nonl.out")" '}' "pass-through keeps a missing final newline"
is "$("$RP" "$T/nonl" | tail -1)" '{"op":"c","x":2}' "the log holds the last line (with a newline)"

# ---- the checkpoint
gen 3000 | "$REC" --no-output -c "$T/ck" "$T/ckl"
last=$(gen 3000 | tail -1)
want=$(jq -r '"\(.source.commit_lsn):\(.source.seq)"' <<<"$last")
got=$(awk -F= '$1 == "commit_lsn" { c = $2 } $1 == "seq" { s = $2 } END { print c ":" s }' "$T/ck")
lsn_hex=${got%%:*}
is "$(printf '%d:%s' "0x${lsn_hex/\//}" "${got##*:}")" "$want" "checkpoint at the last event's position"
grep -qx 'writer=cdc-record' "$T/ck"
ok $? "checkpoint names its writer"
grep -qx 'name=shop' "$T/ck"
ok $? "checkpoint carries source.name"
grep -qx 'version=1' "$T/ck" && grep -q '^position=' "$T/ck" && grep -qx 'snapshot=false' "$T/ck"
ok $? "checkpoint has version, position and snapshot"
is "$(stat -c %a "$T/ck")" 600 "checkpoint mode 0600"

# An idle input: the checkpoint catches up within the group-commit window.
mkfifo "$T/fifo"
exec 7<>"$T/fifo"	# read-write: opening a FIFO this way does not wait for a partner
spawn "$REC" --no-output -c "$T/ck2" --sync-interval 100ms "$T/idle" <"$T/fifo"
rpid=$SPAWNED_PID
head -5 "$T/in.json" >&7
want=$(sed -n 5p "$T/in.json" | jq -r .source.seq)
wait_for "grep -qx 'seq=$want' '$T/ck2'" 5
ok $? "checkpoint written while the input is idle (group commit)"
kill -TERM "$rpid"
wait_for "! kill -0 $rpid" 5
ok $? "SIGTERM: the recorder stops"
exec 7>&-

# SIGTERM while waiting out a long group-commit window: stop at once, sync, checkpoint.
exec 7<>"$T/fifo"
spawn "$REC" --no-output -c "$T/ck4" --sync-interval 30s "$T/term" <"$T/fifo"
rpid=$SPAWNED_PID
head -3 "$T/in.json" >&7
sleep 0.3
kill -TERM "$rpid"
wait_for "! kill -0 $rpid" 3
ok $? "SIGTERM during the group-commit wait: the recorder stops at once"
exec 7>&-
is "$("$RP" "$T/term")" "$(head -3 "$T/in.json")" "everything read is logged"
grep -qx "seq=$(sed -n 3p "$T/in.json" | jq .source.seq)" "$T/ck4"
ok $? "and checkpointed"

# ---- events without a position
printf '%s\n' '{"op":"c","source":{"commit_lsn":100,"seq":1}}' '{"a":1}' '{"op":"heartbeat","source":{"commit_lsn":200,"seq":0}}' >"$T/mixed"
"$REC" -c "$T/ck3" "$T/mixed.log" <"$T/mixed" >/dev/null
ok $? "JSON objects without op are accepted"
is "$("$RP" "$T/mixed.log")" "$(cat "$T/mixed")" "and logged"
grep -qx 'commit_lsn=0/C8' "$T/ck3" && grep -qx 'seq=0' "$T/ck3"
ok $? "the checkpoint follows the last event with a position"

# ---- bad input
printf '%s\n' '{"op":"c","source":{"commit_lsn":1,"seq":1}}' 'not json' '{"op":"c","source":{"commit_lsn":2,"seq":1}}' >"$T/bad"
"$REC" "$T/bad.log" <"$T/bad" >"$T/bad.out" 2>"$T/bad.err"
is $? 65 "bad line: exit 65"
like "$(cat "$T/bad.err")" "line 2: " "message names the line"
is "$(cat "$T/bad.out")" '{"op":"c","source":{"commit_lsn":1,"seq":1}}' "lines before it were passed on"
is "$("$RP" "$T/bad.log")" '{"op":"c","source":{"commit_lsn":1,"seq":1}}' "and logged"
"$REC" --skip-bad "$T/skip.log" <"$T/bad" >"$T/skip.out" 2>"$T/skip.err"
ok $? "--skip-bad: exit 0"
is "$(wc -l <"$T/skip.out")" 2 "--skip-bad: the bad line is dropped"
like "$(cat "$T/skip.err")" "1 " "--skip-bad: the count is reported"
"$REC" --dead-letter "$T/dl" "$T/dl.log" <"$T/bad" >/dev/null 2>&1
ok $? "--dead-letter: exit 0"
is "$(jq -r '"\(.program) \(.line) \(.input)"' "$T/dl")" "cdc-record 2 not json" "dead-letter record"
printf '{"op":"c","v":"\xff"}\n' | "$REC" "$T/utf.log" >/dev/null 2>"$T/utf.err"
is $? 65 "invalid UTF-8 is bad input"
like "$(cat "$T/utf.err")" "UTF-8" "and says so"
{ printf '{"op":"c","v":"'; head -c 5000 /dev/zero | tr '\0' a; printf '"}\n{"op":"c"}\n'; } |
	"$REC" --max-line 4K --skip-bad "$T/long.log" >"$T/long.out" 2>/dev/null
is "$(cat "$T/long.out")" '{"op":"c"}' "--max-line: an over-long line is bad input"

# ---- standard output closed
"$REC" "$T/pipe.log" <"$T/in.json" 2>"$T/pipe.err" | head -1 >/dev/null
is "${PIPESTATUS[0]}" 141 "reader gone: exit 141"
is "$(cat "$T/pipe.err")" "" "quietly"
"$RP" "$T/pipe.log" | cmp -s - <(head -"$("$RP" "$T/pipe.log" | wc -l)" "$T/in.json")
ok $? "what was read is in the log"

# ---- one recorder per directory
mkfifo "$T/fifo2"
exec 8<>"$T/fifo2"
spawn "$REC" --no-output "$T/locked" <"$T/fifo2"
wait_for "[ -e '$T/locked/.lock' ]" 5
sleep 0.2
echo '{"op":"c"}' | "$REC" "$T/locked" >/dev/null 2>"$T/lock.err"
is $? 1 "a second recorder on the same directory fails"
like "$(cat "$T/lock.err")" "another cdc-record" "and says why"
exec 8>&-

# ---- retention
"$REC" --no-output -s 32K --frame-bytes 8K --retain-bytes 100K "$T/ret" <"$T/in.json"
total=$(du -cb "$T"/ret/cdc-* | tail -1 | cut -f1)
[ "$total" -le $((100 * 1024 + 40 * 1024)) ]
ok $? "--retain-bytes 100K keeps the log near 100K ($total bytes)"
"$RP" "$T/ret" | cmp -s - <(tail -"$("$RP" "$T/ret" | wc -l)" "$T/in.json")
ok $? "what is left is the newest part of the stream"
"$REC" --no-output -s 32K "$T/reta" <"$T/in.json"
before=$(ls "$T/reta" | grep -c '\.lz4$')
touch -d '-2 hours' "$T"/reta/cdc-*
echo '{"op":"c","source":{"commit_lsn":99999999999,"seq":1}}' | "$REC" --no-output --retain-age 1h "$T/reta"
after=$(ls "$T/reta" | grep -c '\.lz4$')
[ "$before" -ge 2 ] && [ "$after" = 1 ]
ok $? "--retain-age removes the segments older than 1h ($before -> $after)"
is "$("$RP" "$T/reta")" '{"op":"c","source":{"commit_lsn":99999999999,"seq":1}}' "the new segment stays"

# ---- usage
"$REC" >/dev/null 2>"$T/u1"
is $? 2 "no DIR: exit 2"
like "$(cat "$T/u1")" "Try 'cdc-record --help'" "usage hint"
"$REC" a b >/dev/null 2>&1
is $? 2 "two directories: exit 2"
"$REC" --segment-bytes 12x d >/dev/null 2>&1
is $? 2 "bad size: exit 2"
"$REC" --skip-bad --dead-letter x d >/dev/null 2>&1
is $? 2 "--skip-bad with --dead-letter: exit 2"
"$REC" --bogus d >/dev/null 2>&1
is $? 2 "unknown option: exit 2"
"$REC" --help | grep '^Usage: cdc-record' >/dev/null
ok $? "--help"
like "$("$REC" --version)" "^cdc-record" "--version"

# A rewind from cdc-source-kafka: passed on, not logged; what follows at or
# before the log's greatest position is left out; the checkpoint stays and
# reports the rewind's epoch.
rw_ev() { printf '{"op":"c","key":{"id":%d},"after":{"id":%d},"source":{"name":"k","commit_lsn":%d,"seq":1}}\n' "$1" "$1" "$((1000 + $1))"; }
{ rw_ev 1; rw_ev 2; rw_ev 3
  printf '{"op":"rewind","source":{"name":"k","lsn":1001,"commit_lsn":1001,"seq":0},"rewind":{"epoch":4},"ts_ms":1}\n'
  rw_ev 2; rw_ev 3; rw_ev 4; } >"$T/rw.in"
"$REC" --checkpoint "$T/rw.ckpt" "$T/rwlog" <"$T/rw.in" >"$T/rw.out" 2>"$T/rw.err"
is $? 0 "a rewind: exit 0"
is "$(grep -c rewind "$T/rw.out")" 1 "... passed on to the next stage"
is "$("$RP" "$T/rwlog" | jq -r .after.id | tr '\n' ' ')" "1 2 3 4 " "... the log holds each event once, the rewind not"
like "$(cat "$T/rw.ckpt")" "position=0/3EC:1" "... the checkpoint at the greatest position"
like "$(cat "$T/rw.ckpt")" "epoch=4" "... with the rewind's epoch"

done_testing
