#!/usr/bin/env bash
# Bad input for cdc-sink-http: every case of tests/corpus/lines under each
# policy.  What the receiver got (its own log, tests/http/rx.py) and the
# checkpoint must be what the good events alone make.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-http
command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"
. "$TEST_ROOT/tests/corpus/lib.sh"

SH=$CDC_BIN/cdc-sink-http
cd "$TEST_TMP" || exit 1

RXD=$TEST_TMP/rx
mkdir -p "$RXD"
spawn python3 "$TEST_ROOT/tests/http/rx.py" "$RXD"
wait_for "test -s $RXD/port" 10 || bail_out "the receiver did not start"
URL=http://127.0.0.1:$(cat "$RXD/port")/hook

BAD_PROG=cdc-sink-http
BAD_EMPTY_OUTPUT=1
RUN_N=0
run_prog() {
	RUN_N=$((RUN_N + 1))
	RUN_CK=$TEST_TMP/sh.$RUN_N.ckpt
	: >"$RXD/lines"
	$BAD_WRAP "$SH" --url "$URL" --batch-size 2 --batch-window 10ms --checkpoint "$RUN_CK" "$@"
}
# What the receiver received, and the checkpoint.
prog_side() {
	cat "$RXD/lines"
	sed -n 's/^position=/checkpoint /p' "$RUN_CK" 2>/dev/null
}

bad_reference
like "$(cat ref6.out.side)" 'checkpoint 0/16C6140:1' "the checkpoint is at the last good event"
is "$(grep -c '"op":"heartbeat"' ref6.out.side)" 0 "the heartbeat is never sent"
bad_stop_each
bad_policies_all
bad_no_final_newline

# ---- its command line
"$SH" </dev/null >/dev/null 2>err.txt
is $? 2 "no --url: exit 2"
like "$(cat err.txt)" "no --url" "... and says so"
"$SH" --url "$URL" --batch-size 0 </dev/null >/dev/null 2>err.txt
is $? 2 "--batch-size 0: exit 2"
"$SH" --url "$URL" --concurrency x </dev/null >/dev/null 2>err.txt
is $? 2 "--concurrency x: exit 2"
"$SH" --url "$URL" --timeout=-1s </dev/null >/dev/null 2>err.txt
is $? 2 "a negative --timeout: exit 2"
"$SH" --url "$URL" --skip-bad --dead-letter x.dl </dev/null >/dev/null 2>err.txt
is $? 2 "--skip-bad with --dead-letter: exit 2"
"$SH" --url "$URL" --header nocolon </dev/null >/dev/null 2>err.txt
is $? 2 "a --header without a colon: exit 2"
done_testing
