#!/usr/bin/env bash
# cdc-replay: the index of a cdc-record segment is only an accelerator.
# A wrong index (offsets that chain but are not frame boundaries, entries
# describing other frames) never makes replay fail or lose events on
# intact data: a frame read through the index that is not the one its
# entry describes sends replay back to the segment's start (said at -v),
# and --skip-corrupt skips only frames that are really damaged.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP
GOOD=$TEST_ROOT/tests/corpus/good.ndjson

# Six events (positions 0/16C5DBC .. 0/16C6140), two frames of 4 and 2.
"$REC" --no-output --frame-bytes 1K "$T/log" <"$GOOD"
SEG=$(ls "$T"/log/cdc-*.lz4)
IDX=$SEG.idx
SIZE=$(stat -c %s "$SEG")
grep -v '^#' "$IDX" >"$T/entries"
read -r o1 c1 u1 n1 p1 q1 t1 s1 <"$T/entries"
read -r o2 c2 u2 n2 p2 q2 t2 s2 < <(sed -n 2p "$T/entries")
is "$o1 $n1 $o2 $n2" "0 4 $c1 2" "the log has two indexed frames of 4 and 2 events"
is $((c1 + c2)) "$SIZE" "which fill the segment"
tail -n 4 "$GOOD" >"$T/from3"	# --from 0/16C5EE8: events 3-6
head -n 4 "$GOOD" >"$T/to4"	# --to 0/16C5FB0: events 1-4

# wrong NAME INDEX-LINES...: replay with that index, with and without --skip-corrupt.
wrong() {
	local name=$1
	shift
	{ echo "# cdc-record index 1"; printf '%s\n' "$@"; } >"$IDX"
	"$RP" -v --from 0/16C5EE8 "$T/log" >"$T/out" 2>"$T/err"
	is $? 0 "$name: --from: exit 0"
	cmp -s "$T/out" "$T/from3"
	ok $? "$name: --from: events 3-6" || diag "$(cat "$T/err")"
	like "$(cat "$T/err")" "index does not match .*reading the segment from the start" \
		"$name: -v says the segment is read from the start"
	"$RP" --skip-corrupt --from 0/16C5EE8 "$T/log" >"$T/out" 2>"$T/err"
	is $? 0 "$name: --skip-corrupt --from: exit 0"
	cmp -s "$T/out" "$T/from3"
	ok $? "$name: --skip-corrupt --from: events 3-6, none lost"
	unlike "$(cat "$T/err")" "damaged|skipped" "$name: --skip-corrupt: no frame called damaged"
	"$RP" --to 0/16C5FB0 "$T/log" >"$T/out" 2>"$T/err"
	is $? 0 "$name: --to: exit 0"
	cmp -s "$T/out" "$T/to4"
	ok $? "$name: --to: events 1-4"
}

# The first entry's size is wrong; the chain breaks after it.
wrong "first frame size wrong" \
	"0 100 $u1 $n1 $p1 $q1 $t1 $s1" \
	"$o2 $c2 $u2 $n2 $p2 $q2 $t2 $s2"
# Wrong but self-consistent: the entries chain and end at the file's end.
wrong "self-consistent offsets" \
	"0 100 $u1 $n1 $p1 $q1 $t1 $s1" \
	"100 $((SIZE - 100)) $u2 $n2 $p2 $q2 $t2 $s2"
# Right offsets, but each entry describes the other frame: the first is
# passed over for --to, the second contradicts its bounds.
wrong "entries swapped" \
	"$o1 $c1 $u2 $n2 $p2 $q2 $t2 $s2" \
	"$o2 $c2 $u1 $n1 $p1 $q1 $t1 $s1"
# Right offsets and sizes, wrong positions.
wrong "positions wrong" \
	"$o1 $c1 $u1 $n1 0/1:0 0/2:0 $t1 $s1" \
	"$o2 $c2 $u2 $n2 0/3:0 0/4:0 $t2 $s2"

# The right index: frames are passed over, no rescan.
grep -v '^#' "$T/entries" >/dev/null
{ echo "# cdc-record index 1"; cat "$T/entries"; } >"$IDX"
"$RP" -v --from 0/16C6078 "$T/log" >"$T/out" 2>"$T/err"
cmp -s "$T/out" <(tail -n 2 "$GOOD")
ok $? "the right index: --from 0/16C6078 gives events 5-6"
like "$(cat "$T/err")" "the index let 1 frame go unread" "and the index let the first frame go unread"
unlike "$(cat "$T/err")" "from the start" "without reading the segment again"

# A really damaged frame with the right index: --skip-corrupt skips it
# (and only it), and counts it in the singular.
cp "$SEG" "$T/seg.orig"
printf '\xff' | dd of="$SEG" bs=1 seek=$((c1 + c2 / 2)) conv=notrunc 2>/dev/null
"$RP" --from 0/16C5EE8 "$T/log" >"$T/out" 2>"$T/err"
is $? 65 "a damaged second frame, through the index: exit 65"
like "$(cat "$T/err")" "offset $c1: " "the message names the damaged frame's offset"
cmp -s "$T/out" <(sed -n 3,4p "$GOOD")
ok $? "the events of the intact first frame came out"
"$RP" --skip-corrupt --from 0/16C5EE8 "$T/log" >"$T/out" 2>"$T/err"
is $? 0 "--skip-corrupt: exit 0"
cmp -s "$T/out" <(sed -n 3,4p "$GOOD")
ok $? "--skip-corrupt: events 3-4 of the intact frame"
like "$(cat "$T/err")" "1 damaged frame skipped" "--skip-corrupt: '1 damaged frame skipped'"
unlike "$(cat "$T/err")" "damaged frames" "in the singular"
# The same damage under a wrong index: still only the damaged frame.
printf '# cdc-record index 1\n0 100 %s %s %s %s %s %s\n' "$u1" "$n1" "$p1" "$q1" "$t1" "$s1" >"$IDX"
"$RP" --skip-corrupt --from 0/16C5EE8 "$T/log" >"$T/out" 2>"$T/err"
is $? 0 "damaged frame and a wrong index, --skip-corrupt: exit 0"
cmp -s "$T/out" <(sed -n 3,4p "$GOOD")
ok $? "damaged frame and a wrong index: events 3-4"
is "$(grep -c 'offset [0-9]*: .*frame skipped' "$T/err")" 1 "damaged frame and a wrong index: one frame skipped"
cp "$T/seg.orig" "$SEG"

done_testing
