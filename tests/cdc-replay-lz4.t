#!/usr/bin/env bash
# cdc-replay: files made by the lz4 command, in its different modes,
# detected by content whatever their name; record then replay is
# byte-identical.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
command -v lz4 >/dev/null || skip_all "lz4 is not installed"
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP

awk -v n=20000 -v pad=200 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/in.json"

# same NAME FILE: cdc-replay FILE gives the input.
same() {
	"$RP" "$2" >"$T/got" 2>"$T/err"
	local rc=$?
	cmp -s "$T/got" "$T/in.json" && [ "$rc" = 0 ]
	ok $? "$1"
}

lz4 -q -c "$T/in.json" >"$T/default.lz4"
same "lz4 default (4 MiB independent blocks)" "$T/default.lz4"
lz4 -q -c -B4 -BD "$T/in.json" >"$T/linked.lz4"
same "lz4 -B4 -BD (64 KiB linked blocks)" "$T/linked.lz4"
lz4 -q -c -BX --no-frame-crc "$T/in.json" >"$T/nocrc.lz4"
same "lz4 -BX --no-frame-crc (block checksums, no content checksum)" "$T/nocrc.lz4"
lz4 -q -c -9 --content-size "$T/in.json" >"$T/hc.lz4"
same "lz4 -9 --content-size" "$T/hc.lz4"
cp "$T/default.lz4" "$T/events.txt"
same "detected by content, not by name (.txt)" "$T/events.txt"
cp "$T/in.json" "$T/plain.lz4"
same "plain text named .lz4 is read as text" "$T/plain.lz4"
head -10000 "$T/in.json" | lz4 -q -c >"$T/cat.lz4"
tail -n +10001 "$T/in.json" | lz4 -q -c >>"$T/cat.lz4"
same "concatenated lz4 frames" "$T/cat.lz4"
# A skippable frame (magic 0x184D2A50, 4 bytes of payload) in front.
{ printf '\x50\x2a\x4d\x18\x04\x00\x00\x00abcd'; cat "$T/default.lz4"; } >"$T/skip.lz4"
same "a skippable frame is passed over" "$T/skip.lz4"
"$RP" - <"$T/linked.lz4" | cmp -s - "$T/in.json"
ok $? "lz4 on standard input"
lz4 -q -c -l "$T/in.json" >"$T/legacy.lz4"
"$RP" "$T/legacy.lz4" >/dev/null 2>"$T/err"
is $? 65 "the legacy format (lz4 -l): exit 65"
like "$(cat "$T/err")" "legacy lz4 format" "and says why"
: >"$T/empty"
is "$("$RP" "$T/empty" | wc -c)" 0 "an empty file: nothing"
printf '{"op":"c"}' >"$T/short"
is "$("$RP" "$T/short")" '{"op":"c"}' "a short file without a newline is one line"

# ---- record, replay: byte-identical, and lz4 -dc agrees
"$REC" -s 1M "$T/log" <"$T/in.json" >/dev/null
"$RP" "$T/log" | cmp -s - "$T/in.json"
ok $? "record then replay is byte-identical ($(ls "$T/log" | grep -c '\.lz4$') segments)"
for s in "$T"/log/cdc-*.lz4; do lz4 -dc "$s"; done 2>/dev/null | cmp -s - "$T/in.json"
ok $? "lz4 -dc reads the segments"
"$RP" "$T"/log/cdc-*.lz4 | cmp -s - "$T/in.json"
ok $? "cdc-replay reads the segments as lz4 files too"
# Unusual bytes survive: escapes, multi-byte UTF-8, long lines.
{
	printf '%s\n' '{"op":"c","s":"tab\there \"q\" \\ \u00e9 é 日本 🎉"}'
	printf '{"op":"u","big":"%s"}\n' "$(head -c 300000 /dev/zero | tr '\0' z)"
	printf '%s\n' '{"op":"d"}'
} >"$T/odd.json"
"$REC" --no-output "$T/odd" <"$T/odd.json"
"$RP" "$T/odd" | cmp -s - "$T/odd.json"
ok $? "escapes, UTF-8 and a 300 KB line are byte-identical"

# ---- a frame bigger than what is held in memory (8 MiB) is written as it
# is decoded, as lz4 -dc does: damage that its content checksum reveals at
# its end stops the replay after its first part, and the message says so.
# --verify-first holds such a frame in a temporary file until it is verified.
awk -v n=30000 -v pad=200 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/big.json"
lz4 -q -c "$T/big.json" >"$T/big.lz4"
"$RP" "$T/big.lz4" | cmp -s - "$T/big.json"
ok $? "a $(($(wc -c <"$T/big.json") >> 20)) MiB single-frame file: byte-identical"
"$RP" --verify-first "$T/big.lz4" | cmp -s - "$T/big.json"
ok $? "--verify-first: byte-identical"
# change one byte: a literal, or what decodes it
flip() {	# flip FILE OFFSET
	local b
	b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# whole_prefix NAME: what was written ($T/got) is whole lines from the start of big.json.
whole_prefix() {
	local n
	n=$(wc -c <"$T/got")
	[ "$n" -gt 0 ] && cmp -s "$T/got" <(head -c "$n" "$T/big.json") &&
		[ "$(tail -c 1 "$T/got" | od -An -c | tr -d ' ')" = '\n' ]
	ok $? "$1: what was written ($(wc -l <"$T/got") lines) is whole lines from the start"
}
cp "$T/big.lz4" "$T/bigbad.lz4"
flip "$T/bigbad.lz4" $(($(wc -c <"$T/big.lz4") - 1000))
"$RP" "$T/bigbad.lz4" >"$T/got" 2>"$T/err"
is $? 65 "the big frame with a changed byte near its end: exit 65"
whole_prefix "the big frame with a changed byte"
like "$(cat "$T/err")" "offset 0: .*its first part was already output" "the message names the frame and says its first part went out"
"$RP" --skip-corrupt "$T/bigbad.lz4" >"$T/got" 2>"$T/err"
is $? 0 "--skip-corrupt: exit 0"
whole_prefix "--skip-corrupt"
like "$(cat "$T/err")" "frame skipped \(its first part was already output\)" "--skip-corrupt: the warning says its first part went out"
"$RP" - <"$T/bigbad.lz4" >"$T/got" 2>/dev/null
is $? 65 "the same through standard input: exit 65"
whole_prefix "through standard input"
"$RP" --verify-first "$T/bigbad.lz4" >"$T/got" 2>"$T/err"
is "$? $(wc -c <"$T/got")" "65 0" "--verify-first: exit 65, not one byte of the frame written"
like "$(cat "$T/err")" "offset 0: " "--verify-first: the message names the frame"
unlike "$(cat "$T/err")" "already output" "--verify-first: and no part of it went out"
"$RP" --verify-first --skip-corrupt "$T/bigbad.lz4" >"$T/got" 2>"$T/err"
is "$? $(wc -c <"$T/got")" "0 0" "--verify-first --skip-corrupt: exit 0, nothing of the damaged frame written"
"$RP" --verify-first - <"$T/bigbad.lz4" >"$T/got" 2>/dev/null
is "$? $(wc -c <"$T/got")" "65 0" "--verify-first through standard input: exit 65, nothing written"
cat "$T/big.lz4" "$T/bigbad.lz4" | "$RP" --verify-first --skip-corrupt - >"$T/got" 2>/dev/null
cmp -s "$T/got" "$T/big.json"
ok $? "--verify-first: a good big frame then a damaged one: exactly the good one"
TMPDIR=$T/no-such-dir "$RP" --verify-first "$T/big.lz4" >"$T/got" 2>"$T/err"
is "$? $(wc -c <"$T/got")" "1 0" "--verify-first, no room for the temporary file: exit 1, nothing written"
like "$(cat "$T/err")" "temporary file in $T/no-such-dir" "and the message names TMPDIR"
TMPDIR=$T/no-such-dir "$RP" "$T/big.lz4" 2>"$T/err" | cmp -s - "$T/big.json"
ok $? "without --verify-first no temporary file is needed"
# A cdc-record log keeps the guarantee whatever its frames' size: a frame
# over 8 MiB (--frame-bytes 16M) is held until verified.
# (A frame also ends when it is --sync-interval old: long here, so that a
# slow build still writes the one frame.)
"$REC" --no-output --frame-bytes 16M --sync-interval 10m -s 64M "$T/biglog" <"$T/big.json"
"$RP" "$T/biglog" | cmp -s - "$T/big.json"
ok $? "a log with a $(($(wc -c <"$T/big.json") >> 20)) MiB frame: byte-identical"
seg=$(ls "$T"/biglog/cdc-*.lz4)
is "$(grep -vc '^#' "$seg.idx")" 1 "the log holds that one frame"
flip "$seg" $(($(wc -c <"$seg") - 1000))
"$RP" "$T/biglog" >"$T/got" 2>"$T/err"
is "$? $(wc -c <"$T/got")" "65 0" "that frame damaged near its end: exit 65, not one byte written"
rm -rf "$T/biglog"
head -2000 "$T/in.json" | lz4 -q -c >"$T/small.lz4"
TMPDIR=$T/no-such-dir "$RP" --verify-first "$T/small.lz4" 2>"$T/err" | cmp -s - <(head -2000 "$T/in.json")
ok $? "--verify-first: a frame that fits in memory (8 MiB) needs no temporary file"
# With block checksums each block is verified before it is decoded: what
# goes out before the damage is whole, verified lines.
lz4 -q -c -BX "$T/big.json" >"$T/bigbx.lz4"
flip "$T/bigbx.lz4" $(($(wc -c <"$T/bigbx.lz4") * 7 / 10))
"$RP" "$T/bigbx.lz4" >"$T/got" 2>"$T/err"
is $? 65 "block checksums, a changed byte: exit 65"
cmp -s "$T/got" <(head -c "$(wc -c <"$T/got")" "$T/big.json") && [ "$(tail -c 1 "$T/got" | od -An -c | tr -d ' ')" = '\n' ]
ok $? "block checksums: what was written ($(wc -l <"$T/got") lines) is whole lines of the input"
rm -f "$T"/big*

# ---- lz4 through a pipe: a frame's events go out while the input is idle,
# before the next frame arrives.
head -5 "$T/in.json" | lz4 -q -c >"$T/f1.lz4"
sed -n 6,10p "$T/in.json" | lz4 -q -c >"$T/f2.lz4"
: >"$T/slow.out"
{
	cat "$T/f1.lz4"
	if wait_for "[ \$(wc -l <$T/slow.out) -ge 5 ]" 5; then echo seen; else echo late; fi >"$T/slow.flag"
	cat "$T/f2.lz4"
} | "$RP" - >"$T/slow.out"
is "$(cat "$T/slow.flag")" seen "lz4 on a pipe: the first frame's events are out before the second frame is sent"
cmp -s "$T/slow.out" <(head -10 "$T/in.json")
ok $? "lz4 on a pipe: then all of them"

done_testing
