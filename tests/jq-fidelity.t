#!/usr/bin/env bash
# jq fidelity of cdc-map and cdc-filter (issue 15): no program or data value
# can crash a stage, and the corners where libjq 1.6 misbehaves have a
# defined result.  No services needed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-map cdc-filter

MAP=$CDC_BIN/cdc-map
FILTER=$CDC_BIN/cdc-filter

# run PROG ARGS...: stdin is the input; sets out, err and rc.
run() {
	out=$("$@" 2>"$TEST_TMP/err")
	rc=$?
	err=$(cat "$TEST_TMP/err")
}

# --- deep values: printed up to 512 levels, a defined failure beyond ---
run "$MAP" 'reduce range(100000) as $i (0;[.])' <<<'{"op":"c"}'
is "$rc" 65 "100000 levels: the event fails as bad data (no crash)"
like "$err" "line 1: an output nests arrays or objects deeper than 512 levels" "... with the reason"
is "$out" "" "... and writes nothing"
run "$MAP" --skip-bad 'reduce range(100000) as $i (0;[.])' <<<'{"op":"c"}'
is "$rc" 0 "... --skip-bad goes on"
run "$MAP" 'reduce range(511) as $i (0;[.])' <<<'{"op":"c"}'
is "$rc" 0 "512 levels are printed"
is "$out" "$(printf '%.0s[' $(seq 511))0$(printf '%.0s]' $(seq 511))" "... in full"
run "$MAP" 'reduce range(600) as $i (0;{b:.})' <<<'{"op":"c"}'
is "$rc" 65 "deep objects fail the event too"
run "$MAP" 'reduce range(100000) as $i (0;[.]) | debug | length' <<<'{"op":"c"}'
is "$rc" 0 "debug of a deep value does not crash"
is "$out" 1 "... the program goes on"
like "$err" "debug: a value nested deeper than 512 levels is not printed" "... debug says why it prints nothing"
run "$MAP" --doc 'reduce range(100000) as $i (0;[.])' <<<'{"op":"c","after":{"a":1}}'
is "$rc" 65 "--doc: a deep row image fails the event (no crash)"
run "$FILTER" 'reduce range(100000) as $i (0;[.]) | debug | true' <<<'{"op":"c"}'
is "$rc" 0 "cdc-filter: debug of a deep value does not crash"
is "$out" '{"op":"c"}' "... and the event is kept"
run "$MAP" '"x" | halt_error' <<<'{"op":"c"}'
is "$rc" 5 "halt_error still prints and exits 5"

# --- % and / : libjq 1.6's % is (intmax_t)a % (intmax_t)b ---
# mod A B EXPECTED-OUTPUT-OR-!ERROR
mod() {
	local ev="{\"op\":\"c\",\"after\":{\"a\":$1,\"b\":$2}}" want=$3
	run "$MAP" --lossy-numbers '.after.a % .after.b' <<<"$ev"
	if [ "${want:0:1}" = "!" ]; then
		is "$rc" 65 "cdc-map: $1 % $2 is an error"
		like "$err" "${want:1}" "... $1 % $2: the reason"
	else
		is "$rc:$out" "0:$want" "cdc-map: $1 % $2 = $want"
	fi
	run "$FILTER" '(.after.a % .after.b) != null' <<<"$ev"
	if [ "${want:0:1}" = "!" ]; then
		is "$rc" 65 "cdc-filter: $1 % $2 is an error"
	else
		is "$rc:$out" "0:$ev" "cdc-filter: $1 % $2 gives a value"
	fi
}
range='an operand is beyond the 64-bit integer range'
mod 1e300 -1 "!$range"
mod -1e300 -1 "!$range"
mod 9223372036854775808 -1 "!$range"
mod -9223372036854775808 -1 0
mod -9223372036854775807 -1 0
mod 7 -1.5 0
mod 7 -1 0
mod 1e300 7 "!$range"
mod 7 1e300 "!$range"
mod 7 -9223372036854775808 7
mod -7 3 -1
mod 7 -3 1
mod 5.9 2.1 1
mod 7 0.5 "!cannot be divided \\(remainder\\) because the divisor is zero"
mod 7 0 "!because the divisor is zero"
mod 0 -1 0
run "$MAP" '[nan % 2]' <<<'{"op":"c"}'
is "$rc" 65 "nan % 2 is an error"
like "$err" "$range" "... beyond the range"
run "$MAP" '[infinite % 2]' <<<'{"op":"c"}'
is "$rc" 65 "infinite % 2 is an error"
run "$MAP" '.after.a %= -1 | .after' <<<'{"op":"c","after":{"a":1e300}}'
is "$rc" 65 "%= goes through the checked % too"
run "$MAP" '.after.a %= 4 | .after' <<<'{"op":"c","after":{"a":10}}'
is "$out" '{"a":2}' "... and still works"
run "$MAP" '[.a % .b]' <<<'{"op":"c","a":"x","b":1}'
like "$err" "string and number cannot be divided \\(remainder\\)" "% of a string: jq's error"
run "$MAP" '[(1,2) % (3,5)]' <<<'{"op":"c"}'
is "$out" "$(jq -nc '[(1,2) % (3,5)]')" "% over generators: jq's order"
run "$MAP" 'def f: . % 3; [10 | f]' <<<'{"op":"c"}'
is "$out" "[1]" "% inside a user definition"
run "$MAP" 'include "cdc"; [23880120 | lsn_text, (. as $e | 7 % -1)]' <<<'{"op":"c"}'
is "$out" '["0/16C61B8",0]' "after include: the module's % and the program's"
# / : double division, no integer corner
div() {
	run "$MAP" --lossy-numbers ".after.a / .after.b" <<<"{\"op\":\"c\",\"after\":{\"a\":$1,\"b\":$2}}"
	is "$rc:$out" "0:$(jq -c '.after.a / .after.b' <<<"{\"after\":{\"a\":$1,\"b\":$2}}")" "$1 / $2 as jq"
}
div -9223372036854775808 -1
div 1e300 -1
div 1e308 1e-308
div 7 -0.5
div 1 3
run "$MAP" '[.after.a / .after.b]' <<<'{"op":"c","after":{"a":1,"b":0}}'
like "$rc:$err" "^65:.*because the divisor is zero" "1 / 0 is jq's error"
run "$MAP" '.a +' </dev/null
like "$err" "syntax error" "a compile error is still reported"
unlike "$err" "_cdc_mod0" "... without the added definitions"
run "$MAP" '$__loc__' <<<'{"op":"c"}'
is "$out" '{"file":"<top-level>","line":1}' "\$__loc__ keeps the program's line"

# --- input_filename and input_line_number, as jq gives them ---
printf '{"op":"c"}\n{"op":"u"}\n' >"$TEST_TMP/a.ndjson"
printf '{"op":"d"}\n{"op":"c"}' >"$TEST_TMP/b.ndjson"
prog='[input_filename, input_line_number, .op]'
want=$(jq -c "$prog" "$TEST_TMP/a.ndjson" "$TEST_TMP/b.ndjson")
run "$MAP" "$prog" "$TEST_TMP/a.ndjson" "$TEST_TMP/b.ndjson"
is "$out" "$want" "cdc-map: file names and line numbers as jq (a last line without newline too)"
want=$(jq -c "$prog" <"$TEST_TMP/b.ndjson")
run "$MAP" "$prog" <"$TEST_TMP/b.ndjson"
is "$out" "$want" "cdc-map: standard input is \"<stdin>\", as jq"
run "$MAP" "$prog" - <"$TEST_TMP/a.ndjson"
is "$out" "$(jq -c "$prog" - <"$TEST_TMP/a.ndjson")" "cdc-map: \"-\" as jq"
run "$FILTER" 'input_line_number == 2 and input_filename == $f' --arg f "$TEST_TMP/a.ndjson" "$TEST_TMP/b.ndjson" "$TEST_TMP/a.ndjson"
is "$out" '{"op":"u"}' "cdc-filter: input_filename and input_line_number"
run "$MAP" --doc '{n: input_line_number}' <<<$'{"op":"c","after":{"a":1}}\n{"op":"c","after":{"a":2}}'
is "$out" $'{"op":"c","after":{"n":1}}\n{"op":"c","after":{"n":2}}' "--doc: the event's line number"
run "$MAP" '[input_line_number] | debug | length' <<<'{"op":"c"}'
is "$out:$err" '1:["DEBUG:",[1]]' "debug still works after the helper hook"

done_testing
