#!/usr/bin/env bash
# cdc-replay: damaged input.  A corrupt or truncated lz4 frame or a checksum
# mismatch stops replay with a message naming file and offset (exit 65);
# --skip-corrupt skips the frame and reports it.  Bad lines: stop,
# --skip-bad, --dead-letter, as cdc-filter.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
command -v lz4 >/dev/null || skip_all "lz4 is not installed"
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP

awk -v n=5000 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/in.json"
"$REC" --no-output --frame-bytes 64K -s 100K "$T/log" <"$T/in.json"
segs=($(ls "$T"/log/cdc-*.lz4))
[ "${#segs[@]}" -ge 2 ]
ok $? "log with ${#segs[@]} segments"
seg=${segs[0]}
read -r off clen _ lines _ < <(sed -n 4p "$seg.idx")
before=$(awk 'NR > 1 && NR < 4 { n += $4 } END { print n }' "$seg.idx")
cp -r "$T/log" "$T/good"

# ---- a flipped byte inside a frame's data: content checksum
printf '\xff' | dd of="$seg" bs=1 seek=$((off + clen / 2)) conv=notrunc 2>/dev/null
"$RP" "$T/log" >"$T/out" 2>"$T/err"
is $? 65 "damaged frame: exit 65"
like "$(cat "$T/err")" "$(basename "$seg"): offset $off: " "the message names the file and the frame's offset"
is "$(wc -l <"$T/out")" "$before" "the frames before it were written"
cmp -s "$T/out" <(head -"$before" "$T/in.json")
ok $? "and are intact"
"$RP" --skip-corrupt "$T/log" >"$T/out" 2>"$T/err"
ok $? "--skip-corrupt: exit 0"
like "$(cat "$T/err")" "offset $off: .*frame skipped" "--skip-corrupt: the frame is reported"
like "$(cat "$T/err")" "1 damaged frame skipped" "--skip-corrupt: the count at the end"
is "$(wc -l <"$T/out")" $((5000 - lines)) "--skip-corrupt: every other frame is replayed"
cmp -s "$T/out" <(sed "$((before + 1)),$((before + lines))d" "$T/in.json")
ok $? "--skip-corrupt: exactly the damaged frame's lines are missing"
# The same with a --from that seeks through the index.
"$RP" --skip-corrupt --from 1 "$T/log" 2>/dev/null | cmp -s - "$T/out"
ok $? "--skip-corrupt with the index"

# ---- a damaged frame header in an unindexed segment (resync on the magic number)
rm -rf "$T/log2"
cp -r "$T/good" "$T/log2"
seg2=$(ls "$T"/log2/cdc-*.lz4 | head -1)
rm "$seg2.idx"
printf '\x00\x00' | dd of="$seg2" bs=1 seek=$((off + 4)) conv=notrunc 2>/dev/null
"$RP" --skip-corrupt "$T/log2" 2>"$T/err" | cmp -s - "$T/out"
ok $? "damaged header, no index: resync finds the next frame"
like "$(cat "$T/err")" "offset $off: " "and the damage is reported at the frame's offset"

# ---- a truncated segment that is not the last one
rm -rf "$T/log3"
cp -r "$T/good" "$T/log3"
seg3=$(ls "$T"/log3/cdc-*.lz4 | head -1)
truncate -s $((off + clen / 2)) "$seg3"
"$RP" "$T/log3" >/dev/null 2>"$T/err"
is $? 65 "a truncated segment before the last: exit 65"
like "$(cat "$T/err")" "offset $off: truncated lz4 frame" "named as truncated at its offset"

# ---- lz4 files: truncated, bit-flipped
lz4 -q -c -B4 "$T/in.json" >"$T/f.lz4"
head -c $(($(stat -c %s "$T/f.lz4") - 100)) "$T/f.lz4" >"$T/trunc.lz4"
"$RP" "$T/trunc.lz4" >/dev/null 2>"$T/err"
is $? 65 "a truncated lz4 file: exit 65"
like "$(cat "$T/err")" "trunc.lz4: offset 0: truncated lz4 frame" "the message names file and offset"
cp "$T/f.lz4" "$T/flip.lz4"
printf '\x55' | dd of="$T/flip.lz4" bs=1 seek=$(($(stat -c %s "$T/f.lz4") - 2)) conv=notrunc 2>/dev/null
"$RP" "$T/flip.lz4" >/dev/null 2>"$T/err"
is $? 65 "a content checksum mismatch: exit 65"
like "$(cat "$T/err")" "content checksum mismatch" "says so"

# ---- bad lines (plain input): the policies of cdc-filter
printf '%s\n' '{"op":"c","n":1}' '[1,2]' '{"op":"c","n":2}' '{"op":' '{"op":"c","n":3}' >"$T/bad.json"
"$RP" "$T/bad.json" >"$T/out" 2>"$T/err"
is $? 65 "bad line: exit 65"
is "$(cat "$T/out")" '{"op":"c","n":1}' "lines before it are written"
like "$(cat "$T/err")" "bad.json: line 2: not a JSON object" "the message names file and line"
"$RP" --skip-bad "$T/bad.json" >"$T/out" 2>"$T/err"
ok $? "--skip-bad: exit 0"
is "$(jq -c .n "$T/out" | tr '\n' ' ')" "1 2 3 " "--skip-bad: good lines pass"
like "$(cat "$T/err")" "2 " "--skip-bad: the count is reported"
"$RP" --dead-letter "$T/dl" "$T/bad.json" >/dev/null 2>&1
ok $? "--dead-letter: exit 0"
is "$(jq -r '"\(.program) \(.line) \(.file | test("bad.json$")) \(.input)"' "$T/dl" | tr '\n' '|')" \
	'cdc-replay 2 true [1,2]|cdc-replay 4 true {"op":|' "--dead-letter: records name line, file, input"
printf '{"op":"c","v":"\xc3\x28"}\n{"op":"c","n":1}\n' | "$RP" --dead-letter "$T/dl2" >"$T/out" 2>/dev/null
is "$(jq -r .input_base64 "$T/dl2" | base64 -d | od -An -tx1 | tr -d ' \n' | tail -c 8)" "c328227d" \
	"invalid UTF-8 is dead-lettered as base64"
{ printf '{"op":"c","v":"'; head -c 10000 /dev/zero | tr '\0' a; printf '"}\n{"op":"c","n":9}\n'; } |
	"$RP" --max-line 4K --dead-letter "$T/dl3" >"$T/out" 2>/dev/null
is "$(cat "$T/out")" '{"op":"c","n":9}' "--max-line: the long line is bad, the next one passes"
is "$(jq -r .input_bytes "$T/dl3")" 10017 "and its full length is recorded"
# Lines of an lz4 file go through unchecked, as lz4 -dc passes them, when
# nothing looks at them: the next program checks them.  A selection,
# pacing, --skip-bad or --dead-letter looks at them: they are checked then.
lz4 -q -c "$T/bad.json" >"$T/bad.lz4"
"$RP" "$T/bad.lz4" >"$T/out" 2>"$T/err"
is $? 0 "bad lines inside an lz4 file, nothing selected: exit 0"
cmp -s "$T/out" "$T/bad.json"
ok $? "and they are passed through as they are"
"$RP" --op c "$T/bad.lz4" >"$T/out" 2>"$T/err"
is $? 65 "bad line inside an lz4 file, --op: exit 65"
like "$(cat "$T/err")" "bad.lz4: line 2: not a JSON object" "named by file and line"
is "$(cat "$T/out")" '{"op":"c","n":1}' "lines before it are written"
"$RP" --from 0 "$T/bad.lz4" >/dev/null 2>"$T/err"
is $? 65 "bad line inside an lz4 file, --from: exit 65"
"$RP" --rate 100000 "$T/bad.lz4" >/dev/null 2>"$T/err"
is $? 65 "bad line inside an lz4 file, --rate: exit 65"
"$RP" --skip-bad - <"$T/bad.lz4" >"$T/out" 2>/dev/null
is "$(jq -c .n "$T/out" | tr '\n' ' ')" "1 2 3 " "--skip-bad on lz4 from standard input"
"$RP" --dead-letter "$T/dl4" "$T/bad.lz4" >"$T/out" 2>/dev/null
is "$(jq -c .n "$T/out" | tr '\n' ' ')" "1 2 3 " "--dead-letter on an lz4 file: the good lines"
is "$(jq -r .line "$T/dl4" | tr '\n' ' ')" "2 4 " "and the bad ones, by line"
# A line over --max-line is caught unchecked too, named by its line.
{ cat "$T/bad.json"; printf '{"op":"c","v":"'; head -c 10000 /dev/zero | tr '\0' a; printf '"}\n'; } |
	lz4 -q -c >"$T/long.lz4"
"$RP" --max-line 4K "$T/long.lz4" >"$T/out" 2>"$T/err"
is $? 65 "an over-long line inside an lz4 file: exit 65"
like "$(cat "$T/err")" "long.lz4: line 6: line too long" "named by file and line"
cmp -s "$T/out" "$T/bad.json"
ok $? "the lines before it are written"
printf '{"op":"c","n":1}\n' | lz4 -q -c | cat - <(printf 'x') >"$T/tail.lz4"
"$RP" --skip-corrupt "$T/tail.lz4" >"$T/out" 2>"$T/err"
is "$(cat "$T/out")" '{"op":"c","n":1}' "bytes after the last frame that are no frame: skipped with --skip-corrupt"

done_testing
