#!/usr/bin/env bash
# Bad input for cdc-replay: every case of tests/corpus/lines under each
# policy, read from standard input, from a plain file and from an lz4
# file (whose lines pass unchecked when nothing looks at them); damaged
# lz4 files (truncated, checksum, junk, bad headers, legacy format) with
# and without --skip-corrupt; a cdc-record log with a torn segment and a
# garbage index; over-long lines; --after-checkpoint with damaged or
# foreign checkpoint files.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-replay cdc-record
command -v lz4 >/dev/null || skip_all "the lz4 command is not installed"
. "$TEST_ROOT/tests/corpus/lib.sh"

BAD_PROG=cdc-replay
# cdc-replay re-emits what was recorded; like cdc-record it takes a JSON
# object without "op" as a line to pass on (cdc-filter and cdc-map refuse it).
BAD_ACCEPTS=(shape-empty-object op-missing)
REPLAY_MODE=stdin
run_prog() {
	case $REPLAY_MODE in
	stdin) $BAD_WRAP "$CDC_BIN/cdc-replay" "$@" - ;;
	file)
		cat >"$TEST_TMP/replay-in.ndjson"
		$BAD_WRAP "$CDC_BIN/cdc-replay" "$@" "$TEST_TMP/replay-in.ndjson"
		;;
	lz4)
		lz4 -q -c >"$TEST_TMP/replay-in.lz4"
		$BAD_WRAP "$CDC_BIN/cdc-replay" "$@" "$TEST_TMP/replay-in.lz4"
		;;
	esac
}

# Lines of an lz4 file are passed through unchecked, like lz4 -dc, when
# nothing looks at them (no selection, pacing, --skip-bad, --dead-letter):
# each bad line comes out as it is; the next program checks it.  With
# --op (every op) they are checked, as in plain text.
replay_pass_each() {
	local i n
	for i in "${!CASE_NAME[@]}"; do
		n=${CASE_NAME[$i]}
		bad_mk_input "$n" "$TEST_TMP/in"
		bad_run "$TEST_TMP/in" "$TEST_TMP/out" "$TEST_TMP/err"
		[ "$RC" = 0 ] && cmp -s "$TEST_TMP/out" "$TEST_TMP/in"
		ok $? "cdc-replay (lz4) passes through: $n (${CASE_WHAT[$i]})" || diag "exit $RC" "stderr: $(head -c 400 "$TEST_TMP/err")"
		bad_accepted "$n" && continue
		bad_run "$TEST_TMP/in" "$TEST_TMP/out" "$TEST_TMP/err" --op c,u,d,r,t,m
		[ "$RC" = 65 ] && grep -Eq "^cdc-replay: .*line 4\b" "$TEST_TMP/err" &&
			grep -Eiq -- "${CASE_RE[$i]}" "$TEST_TMP/err"
		ok $? "cdc-replay (lz4) --op: stops at $n" || diag "exit $RC" "stderr: $(head -c 400 "$TEST_TMP/err")"
	done
}

for REPLAY_MODE in stdin file lz4; do
	note "input from $REPLAY_MODE"
	bad_reference
	cmp -s "$TEST_TMP/ref6.out" "$GOOD"
	ok $? "cdc-replay ($REPLAY_MODE): the good events come out byte for byte"
	if [ "$REPLAY_MODE" = lz4 ]; then
		replay_pass_each
	else
		bad_stop_each
	fi
	bad_policies_all
	bad_no_final_newline
done
REPLAY_MODE=lz4
BAD_TRICKY_EXACT=1
bad_tricky
BAD_TRICKY_EXACT=0
REPLAY_MODE=stdin
bad_crlf
bad_long_line 3000000 1M 60
REPLAY_MODE=lz4
bad_reference
bad_long_line 100000000 "" 200
REPLAY_MODE=stdin

# --- damaged lz4 files ---
L=$TEST_TMP/lz4
"$CORPUS/make-lz4.sh" "$L"
ok $? "make-lz4.sh wrote the damaged files"
head -n 3 "$GOOD" >"$TEST_TMP/first3"
tail -n 3 "$GOOD" >"$TEST_TMP/last3"
: >"$TEST_TMP/none"
# replay_case FILE OPTS RC EXPECTED-OUTPUT-FILE MESSAGE-REGEX
replay_case() {
	local f=$1 opts=$2 rc=$3 want=$4 re=$5 why=""
	# shellcheck disable=SC2086
	timeout 20 "$CDC_BIN/cdc-replay" $opts "$L/$f" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	local got=$?
	[ "$got" = "$rc" ] || why+="exit $got, expected $rc; "
	cmp -s "$TEST_TMP/out" "$want" || why+="output is not $(basename "$want") ($(wc -l <"$TEST_TMP/out") lines); "
	! grep -q PAID "$TEST_TMP/out" || why+="an event from a frame that failed its checksum was written; "
	[ -z "$re" ] || grep -Eq "$re" "$TEST_TMP/err" || why+="message does not match /$re/; "
	[ -z "$why" ]
	ok $? "cdc-replay ${opts:-(default)} $f: exit $rc, $(basename "$want")" || diag "$why" "stderr: $(head -c 300 "$TEST_TMP/err")"
}
replay_case good.lz4 "" 0 "$GOOD" ""
replay_case truncated.lz4 "" 65 "$TEST_TMP/first3" "offset [0-9]+: truncated"
replay_case truncated.lz4 --skip-corrupt 0 "$TEST_TMP/first3" "truncated"
replay_case flipped-literal.lz4 "" 65 "$TEST_TMP/none" "offset 0: .*checksum"
replay_case flipped-literal.lz4 --skip-corrupt 0 "$TEST_TMP/last3" "checksum.*skipped"
replay_case second-corrupt.lz4 "" 65 "$TEST_TMP/first3" "checksum"
replay_case second-corrupt.lz4 --skip-corrupt 0 "$TEST_TMP/first3" "checksum"
replay_case garbage-between.lz4 "" 65 "$TEST_TMP/first3" "offset [0-9]+"
replay_case garbage-between.lz4 --skip-corrupt 0 "$GOOD" "skipped"
replay_case header-loop.lz4 "" 65 "$TEST_TMP/none" "offset 0: .*header"
replay_case header-loop.lz4 --skip-corrupt 0 "$GOOD" "skipped"
replay_case magic-only.lz4 "" 65 "$TEST_TMP/none" "truncated"
replay_case magic-only.lz4 --skip-corrupt 0 "$TEST_TMP/none" ""
replay_case legacy.lz4 "" 65 "$TEST_TMP/none" "legacy"
replay_case empty.lz4 "" 0 "$TEST_TMP/none" ""
# The input with which libFuzzer made lz4r_resync() return the damaged
# frame again (a reader looping on it), between good frames.
tail -c +2 "$TEST_ROOT/tests/fuzz/corpus/segment/regress-resync-same-frame" >"$L/fuzz-header.bin"
cat "$L/good.lz4" "$L/fuzz-header.bin" "$L/good.lz4" >"$L/fuzz-mix.lz4"
cat "$GOOD" "$GOOD" >"$TEST_TMP/good2"
replay_case fuzz-mix.lz4 --skip-corrupt 0 "$TEST_TMP/good2" "skipped"
replay_case fuzz-mix.lz4 "" 65 "$GOOD" "offset [0-9]+"

# --- a cdc-record log with damage ---
LOG=$TEST_TMP/log
"$CDC_BIN/cdc-record" --no-output --frame-bytes 1K "$LOG" <"$GOOD"
ok $? "cdc-record wrote a log of several frames"
SEG=$(cd "$LOG" && ls cdc-*.lz4)
timeout 20 "$CDC_BIN/cdc-replay" "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
is "$?" 0 "cdc-replay LOG: exit 0"
cmp -s "$TEST_TMP/out" "$GOOD"
ok $? "cdc-replay LOG: every event"
nframes=$(grep -vc '^#' "$LOG/$SEG.idx")
ok $((nframes < 2)) "the log has $nframes frames (2 or more)"
# A garbage index is only a missing accelerator.
cp "$LOG/$SEG.idx" "$TEST_TMP/idx.orig"
printf 'garbage\n\x00\x01\n' >"$LOG/$SEG.idx"
timeout 20 "$CDC_BIN/cdc-replay" "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
is "$?" 0 "cdc-replay LOG with a garbage index: exit 0"
cmp -s "$TEST_TMP/out" "$GOOD"
ok $? "cdc-replay LOG with a garbage index: every event"
timeout 20 "$CDC_BIN/cdc-replay" --from 0/16C5EE8 "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
cmp -s "$TEST_TMP/out" <(tail -n 4 "$GOOD")
ok $? "cdc-replay --from 0/16C5EE8 LOG with a garbage index: events 3-6"
rm -f "$LOG/$SEG.idx"
timeout 20 "$CDC_BIN/cdc-replay" --from 0/16C5EE8 "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
cmp -s "$TEST_TMP/out" <(tail -n 4 "$GOOD")
ok $? "cdc-replay --from 0/16C5EE8 LOG without an index: events 3-6"
cp "$TEST_TMP/idx.orig" "$LOG/$SEG.idx"
# A torn tail (the recorder died writing): the whole frames before it come out.
first_clen=$(grep -v '^#' "$LOG/$SEG.idx" | head -n 1 | cut -d' ' -f2)
first_lines=$(grep -v '^#' "$LOG/$SEG.idx" | head -n 1 | cut -d' ' -f4)
cp "$LOG/$SEG" "$TEST_TMP/seg.orig"
truncate -s -10 "$LOG/$SEG"
timeout 20 "$CDC_BIN/cdc-replay" "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
rc=$?
ok $((rc != 0 && rc != 65)) "cdc-replay LOG with a torn last frame: exit $rc (0 or 65)"
head -n "$first_lines" "$GOOD" >"$TEST_TMP/firstframe"
cmp -s <(head -n "$first_lines" "$TEST_TMP/out") "$TEST_TMP/firstframe"
ok $? "cdc-replay LOG with a torn last frame: the $first_lines events of the whole first frame"
# A changed byte in the first frame: caught by the checksum, never written.
cp "$TEST_TMP/seg.orig" "$LOG/$SEG"
off=$(grep -obUa 'paid' "$LOG/$SEG" | head -n 1 | cut -d: -f1)
if [ -n "$off" ] && [ "$off" -lt "$first_clen" ]; then
	printf 'PAID' | dd of="$LOG/$SEG" bs=1 seek="$off" conv=notrunc status=none
	timeout 20 "$CDC_BIN/cdc-replay" "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	is "$?" 65 "cdc-replay LOG with a changed byte: exit 65"
	is "$(grep -c PAID "$TEST_TMP/out")" 0 "cdc-replay LOG with a changed byte: the damaged event is not written"
	timeout 20 "$CDC_BIN/cdc-replay" --skip-corrupt "$LOG" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	is "$?" 0 "cdc-replay --skip-corrupt LOG with a changed byte: exit 0"
	cmp -s "$TEST_TMP/out" <(tail -n +"$((first_lines + 1))" "$GOOD")
	ok $? "cdc-replay --skip-corrupt LOG with a changed byte: the events of the other frames"
else
	skip "no literal 'paid' in the first frame of the log" 4
fi

# --- checkpoints for --after-checkpoint ---
ckpt_run() {
	timeout 20 "$CDC_BIN/cdc-replay" --after-checkpoint "$1" "$GOOD" >"$TEST_TMP/ck.out" 2>"$TEST_TMP/ck.err"
	RC=$?
}
ckpt_accepted() {
	cmp -s "$TEST_TMP/ck.out" "$TEST_TMP/last3" || echo "output is not the three events after 0/16C5EE8:0; "
}
bad_checkpoints

done_testing
