#!/usr/bin/env bash
# Bad input for cdc-filter: every case of tests/corpus/lines under each
# policy (stop, --skip-bad, --dead-letter), over-long lines (100 MB against
# the default 64 MiB cap, bounded memory), input without a final newline,
# CRLF line ends; with and without selection flags and a jq expression.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-filter
. "$TEST_ROOT/tests/corpus/lib.sh"

BAD_PROG=cdc-filter
FILTER_ARGS=()
run_prog() {
	$BAD_WRAP "$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}" "$@"
}

bad_reference
cmp -s "$TEST_TMP/ref6.out" "$GOOD"
ok $? "cdc-filter: with no expression every good event passes byte for byte"
bad_stop_each
bad_policies_all
bad_no_final_newline
bad_crlf
cmp -s "$TEST_TMP/out" "$TEST_TMP/crlf.in"
ok $? "cdc-filter: CRLF lines pass through unchanged (CR kept)"
BAD_TRICKY_EXACT=1
bad_tricky
cdc_filter_op() { printf '%s\n' "$(cat "$CORPUS/lines/duplicate-op.line")" | "$CDC_BIN/cdc-filter" --skip-bad --op "$1" 2>/dev/null | wc -l; }
is "$(cdc_filter_op d)/$(cdc_filter_op c)" 0/0 "cdc-filter --op: with op twice the event is bad input, whatever --op"
BAD_TRICKY_EXACT=0

# The fast path (selection flags, no jq) and the jq path see the same bad lines.
FILTER_ARGS=(--table orders --op c)
bad_reference
is "$(wc -l <"$TEST_TMP/ref6.out")" 4 "cdc-filter --table orders --op c: the heartbeat and the 3 inserts pass"
bad_stop_each
FILTER_ARGS=('.op == "heartbeat" or .after.id != 2')
bad_reference
is "$(wc -l <"$TEST_TMP/ref6.out")" 5 "cdc-filter EXPR: all but the insert of id 2 pass"
bad_policies_all

# 100 MB line against the default 64 MiB cap: memory stays bounded.
FILTER_ARGS=()
bad_reference
bad_long_line 100000000 "" 150
# A line just over a small cap, and one exactly at it (which is good).
bad_long_line 70000 64K
"$CORPUS/gen-long-line.sh" 65536 >"$TEST_TMP/at-cap.in"
printf '\n' >>"$TEST_TMP/at-cap.in"
bad_run "$TEST_TMP/at-cap.in" "$TEST_TMP/out" "$TEST_TMP/err" --max-line 64K
is "$RC" 0 "cdc-filter --max-line 64K: a line of exactly 65536 bytes is accepted"
cmp -s "$TEST_TMP/out" "$TEST_TMP/at-cap.in"
ok $? "cdc-filter --max-line 64K: ... and written unchanged"

done_testing
