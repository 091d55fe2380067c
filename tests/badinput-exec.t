#!/usr/bin/env bash
# Bad input for cdc-sink-exec: every case of tests/corpus/lines under each
# policy.  What the handler saw (its own log) and the checkpoint must be what
# the good events alone make.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-exec
. "$TEST_ROOT/tests/corpus/lib.sh"

SX=$CDC_BIN/cdc-sink-exec
cd "$TEST_TMP" || exit 1

BAD_PROG=cdc-sink-exec
BAD_EMPTY_OUTPUT=1
RUN_N=0
run_prog() {
	RUN_N=$((RUN_N + 1))
	RUN_LOG=$TEST_TMP/handled.$RUN_N
	RUN_CK=$TEST_TMP/sx.$RUN_N.ckpt
	: >"$RUN_LOG"
	$BAD_WRAP "$SX" --batch-size 2 --batch-window 10ms --checkpoint "$RUN_CK" "$@" -- sh -c 'cat >>"$0"' "$RUN_LOG"
}
# What the handler received, and the checkpoint.
prog_side() {
	cat "$RUN_LOG"
	sed -n 's/^position=/checkpoint /p' "$RUN_CK" 2>/dev/null
}

bad_reference
like "$(cat ref6.out.side)" 'checkpoint 0/16C6140:1' "the checkpoint is at the last good event"
is "$(grep -c '"op":"heartbeat"' ref6.out.side)" 0 "the heartbeat never reaches the handler"
bad_stop_each
bad_policies_all
bad_no_final_newline

# ---- its command line
"$SX" </dev/null >/dev/null 2>err.txt
is $? 2 "no command: exit 2"
like "$(cat err.txt)" "no command" "... and says so"
"$SX" --batch-size 0 -- true </dev/null >/dev/null 2>err.txt
is $? 2 "--batch-size 0: exit 2"
"$SX" --parallel x -- true </dev/null >/dev/null 2>err.txt
is $? 2 "--parallel x: exit 2"
"$SX" --timeout=-1s -- true </dev/null >/dev/null 2>err.txt
is $? 2 "a negative --timeout: exit 2"
"$SX" --skip-bad --dead-letter x.dl -- true </dev/null >/dev/null 2>err.txt
is $? 2 "--skip-bad with --dead-letter: exit 2"
done_testing
