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
"$REC" -n "$T/odd" <"$T/odd.json"
"$RP" "$T/odd" | cmp -s - "$T/odd.json"
ok $? "escapes, UTF-8 and a 300 KB line are byte-identical"

done_testing
