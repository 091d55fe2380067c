#!/usr/bin/env bash
# make-lz4.sh DIR: write lz4 files made from tests/corpus/good.ndjson with
# the lz4 command (content checksum on, its default), whole and damaged,
# into DIR.  Generated at test time; nothing here is committed.
#
#   good.lz4            two frames: events 1-3, then events 4-6
#   truncated.lz4       good.lz4 cut in the middle of the second frame
#   flipped-literal.lz4 the word "paid" (event 2, first frame) changed to
#                       "PAID" in the compressed bytes: still valid JSON,
#                       caught only by the content checksum
#   second-corrupt.lz4  the content checksum of the second frame damaged
#   garbage-between.lz4 100 bytes of junk between the two frames
#   header-loop.lz4     a frame magic number followed by a bad header, then
#                       good.lz4 (a reader skipping damage must get past it)
#   legacy.lz4          the legacy format of `lz4 -l`
#   magic-only.lz4      just a frame magic number
#   empty.lz4           no bytes
set -euo pipefail
dir=${1:?usage: make-lz4.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
good=$here/good.ndjson
mkdir -p "$dir"
head -n 3 "$good" | lz4 -q -c >"$dir/f1.lz4"
tail -n 3 "$good" | lz4 -q -c >"$dir/f2.lz4"
cat "$dir/f1.lz4" "$dir/f2.lz4" >"$dir/good.lz4"
s1=$(stat -c %s "$dir/f1.lz4")
s2=$(stat -c %s "$dir/f2.lz4")
head -c $((s1 + s2 / 2)) "$dir/good.lz4" >"$dir/truncated.lz4"

# "paid" appears once in events 1-3 and lz4 keeps it as a literal.
off=$(grep -obUa 'paid' "$dir/f1.lz4" | head -n 1 | cut -d: -f1)
if [ -z "$off" ]; then
	echo "make-lz4.sh: no literal 'paid' in the first frame" >&2
	exit 1
fi
cp "$dir/good.lz4" "$dir/flipped-literal.lz4"
printf 'PAID' | dd of="$dir/flipped-literal.lz4" bs=1 seek="$off" conv=notrunc status=none

# The last 4 bytes of a frame are its content checksum.
cp "$dir/good.lz4" "$dir/second-corrupt.lz4"
printf '\xde\xad\xbe\xef' | dd of="$dir/second-corrupt.lz4" bs=1 seek=$((s1 + s2 - 4)) conv=notrunc status=none

{ cat "$dir/f1.lz4"; head -c 100 /dev/zero | tr '\0' 'j'; cat "$dir/f2.lz4"; } >"$dir/garbage-between.lz4"
{ printf '\x04\x22\x4d\x18\x22\x3a\x22'; cat "$dir/good.lz4"; } >"$dir/header-loop.lz4"
lz4 -q -l -c "$good" >"$dir/legacy.lz4"
printf '\x04\x22\x4d\x18' >"$dir/magic-only.lz4"
: >"$dir/empty.lz4"
rm -f "$dir/f1.lz4" "$dir/f2.lz4"
