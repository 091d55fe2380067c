#!/usr/bin/env bash
# Bad input for cdc-map: every case of tests/corpus/lines under each policy
# (stop, --skip-bad, --dead-letter), for a whole-event program and for
# --doc; over-long lines; numbers libjq cannot hold; events on which the
# jq program fails (a per-event error follows the same policies).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-map
. "$TEST_ROOT/tests/corpus/lib.sh"

BAD_PROG=cdc-map
MAP_ARGS=(.)
run_prog() {
	$BAD_WRAP "$CDC_BIN/cdc-map" "$@" "${MAP_ARGS[@]}"
}

bad_reference
is "$(jq -c . "$TEST_TMP/ref6.out" 2>&1)" "$(jq -c . "$GOOD")" "cdc-map .: the good events come out as the same JSON"
bad_stop_each
bad_policies_all
bad_no_final_newline
bad_crlf
# Numbers beyond a double are refused without --lossy-numbers (tested below).
BAD_TRICKY_SKIP=(huge-numbers)
bad_tricky
BAD_TRICKY_SKIP=()

MAP_ARGS=(--doc '{id, status}')
bad_reference
is "$(jq -c '.after' "$TEST_TMP/ref3.out" | head -n 2 | tr '\n' ' ')" '{"id":1,"status":"new"} {"id":1,"status":"paid"} ' \
	"cdc-map --doc: the row images are rewritten"
bad_stop_each
bad_policies_all

MAP_ARGS=(.)
bad_reference
bad_long_line 3000000 1M 60
bad_long_line 100000000 "" 150

# A number libjq would round (2^53 + 1) is bad input unless --lossy-numbers.
printf '%s\n' "$(head -n 3 "$GOOD")" \
	'{"op":"c","before":null,"after":{"id":9007199254740993},"key":{"id":9007199254740993},"source":{"schema":"public","table":"orders","commit_lsn":23879650,"seq":1}}' \
	"$(tail -n 3 "$GOOD")" >"$TEST_TMP/big.in"
bad_run "$TEST_TMP/big.in" "$TEST_TMP/out" "$TEST_TMP/err"
is "$RC" 65 "cdc-map: a number beyond 2^53: exit 65"
cmp -s "$TEST_TMP/out" "$TEST_TMP/ref3.out"
ok $? "cdc-map: a number beyond 2^53: the good events before it written"
like "$(cat "$TEST_TMP/err")" "line 4.*(libjq|exact|lossy)" "cdc-map: a number beyond 2^53: message names line 4 and the cause"
unlike "$(cat "$TEST_TMP/err")" "9007199254740993" "cdc-map: the message does not show the value"
rm -f "$TEST_TMP/big.dl"
bad_run "$TEST_TMP/big.in" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$TEST_TMP/big.dl"
is "$RC" 0 "cdc-map --dead-letter: a number beyond 2^53: exit 0"
cmp -s "$TEST_TMP/out" "$TEST_TMP/ref6.out"
ok $? "cdc-map --dead-letter: a number beyond 2^53: every good event written"
is "$(jq -r '[.line, .position, (.input | fromjson | .after.id | tostring)] | @tsv' "$TEST_TMP/big.dl" 2>&1)" \
	"4	0/$(printf %X 23879650):1	9007199254740992" "cdc-map --dead-letter: record names line 4 and the position"
is "$(jq -j .input "$TEST_TMP/big.dl" 2>&1)" "$(sed -n 4p "$TEST_TMP/big.in")" \
	"cdc-map --dead-letter: the input is kept digit for digit"
bad_run "$TEST_TMP/big.in" "$TEST_TMP/out" "$TEST_TMP/err" --lossy-numbers
is "$RC" 0 "cdc-map --lossy-numbers: the event is accepted"
is "$(wc -l <"$TEST_TMP/out")" 7 "cdc-map --lossy-numbers: all 7 events written"

# The jq program failing on one event: the policies apply to that event.
MAP_ARGS=('if .after.id == 2 and .op == "c" then error("boom") else . end')
bad_run "$GOOD" "$TEST_TMP/out" "$TEST_TMP/err"
is "$RC" 65 "cdc-map: jq error on line 4: exit 65"
is "$(wc -l <"$TEST_TMP/out")" 3 "cdc-map: jq error on line 4: the three events before it written"
like "$(cat "$TEST_TMP/err")" "^cdc-map: line 4.*boom" "cdc-map: jq error: message names line 4 and the error"
bad_run "$GOOD" "$TEST_TMP/out" "$TEST_TMP/err" --skip-bad
is "$RC/$(wc -l <"$TEST_TMP/out")" 0/5 "cdc-map --skip-bad: jq error: exit 0, the five other events written"
rm -f "$TEST_TMP/jq.dl"
bad_run "$GOOD" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$TEST_TMP/jq.dl"
is "$RC/$(wc -l <"$TEST_TMP/out")" 0/5 "cdc-map --dead-letter: jq error: exit 0, the five other events written"
is "$(jq -r '[.line, (.reason | test("boom"))] | @tsv' "$TEST_TMP/jq.dl" 2>&1)" "4	true" \
	"cdc-map --dead-letter: jq error: the record names line 4 and the error"
cmp -s <(jq -j .input "$TEST_TMP/jq.dl") <(sed -n 4p "$GOOD" | head -c -1)
ok $? "cdc-map --dead-letter: jq error: the record holds the original event"

done_testing
