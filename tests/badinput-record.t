#!/usr/bin/env bash
# Bad input for cdc-record: every case of tests/corpus/lines under each
# policy; what reaches the log (read back with cdc-replay) and the
# checkpoint must be exactly the good events; over-long lines; damaged or
# foreign checkpoint files (refused, never overwritten).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
. "$TEST_ROOT/tests/corpus/lib.sh"

BAD_PROG=cdc-record
# cdc-record logs any JSON object: one without "op" is passed on and logged
# (cdc-filter, cdc-map and cdc-sink-es refuse it as bad input).
BAD_ACCEPTS=(shape-empty-object op-missing)
REC_N=0
run_prog() {
	REC_N=$((REC_N + 1))
	REC_LOG=$TEST_TMP/log.$REC_N
	REC_CK=$TEST_TMP/ck.$REC_N
	$BAD_WRAP "$CDC_BIN/cdc-record" --checkpoint "$REC_CK" "$@" "$REC_LOG"
}
# The durable side: the log replayed, and the checkpoint's position.
prog_side() {
	"$CDC_BIN/cdc-replay" "$REC_LOG"
	sed -n 's/^position=/checkpoint /p' "$REC_CK"
}

bad_reference
cmp -s "$TEST_TMP/ref6.out" "$GOOD"
ok $? "cdc-record: stdout is the input, byte for byte"
is "$(tail -n 1 "$TEST_TMP/ref3.out.side")" "checkpoint 0/16C5EE8:0" "cdc-record: checkpoint at the third event"
bad_stop_each
bad_policies_all
bad_no_final_newline
bad_crlf
bad_long_line 3000000 1M 60
bad_long_line 100000000 "" 150
BAD_TRICKY_EXACT=1
bad_tricky
BAD_TRICKY_EXACT=0

# An event whose source.name holds a newline must not add a line to the
# checkpoint: "commit_lsn=FFFFFFFF/FFFFFFFF" there would be read back (by
# cdc-capture --ack-file too) as the position.
printf '%s\n' '{"op":"c","before":null,"after":{"id":1},"key":{"id":1},"source":{"name":"shop\ncommit_lsn=FFFFFFFF/FFFFFFFF\nversion=2","db":"shop","schema":"public","table":"orders","lsn":1,"commit_lsn":1,"seq":1,"ts_ms":1,"snapshot":"false"},"ts_ms":1}' >"$TEST_TMP/inject.in"
bad_run "$TEST_TMP/inject.in" "$TEST_TMP/out" "$TEST_TMP/err"
ok $((RC >= 128)) "cdc-record: source.name with newlines: no crash (exit $RC)"
is "$(grep -c '^commit_lsn=' "$REC_CK" 2>&1)/$(grep -c '^version=' "$REC_CK" 2>&1)" 1/1 \
	"cdc-record: source.name with newlines: one commit_lsn and one version line in the checkpoint"
is "$(grep '^commit_lsn=' "$REC_CK" 2>&1)" "commit_lsn=0/1" "cdc-record: source.name with newlines: the position is the event's"

# Checkpoints: cdc-record reads its own at start.
ckpt_run() {
	rm -rf "$TEST_TMP/cklog"
	timeout 60 "$CDC_BIN/cdc-record" --checkpoint "$1" "$TEST_TMP/cklog" <"$GOOD" >"$TEST_TMP/ck.out" 2>"$TEST_TMP/ck.err"
	RC=$?
}
ckpt_accepted() {
	cmp -s "$TEST_TMP/ck.out" "$GOOD" || echo "stdout is not the input; "
	grep -q '^position=0/16C6140:1$' "$TEST_TMP/ck/$1" || echo "checkpoint not moved to the last event; "
}
bad_checkpoints

done_testing
