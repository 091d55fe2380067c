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

# --- envelope member names written with escapes ---
run "$MAP" --doc 'include "cdc"; redact(["email"])' <<<'{"op":"c","af\u0074er":{"email":"a@b","id":1}}'
is "$out" '{"op":"c","af\u0074er":{"email":"[redacted]","id":1}}' "--doc: an escaped \"after\" is redacted"
run "$MAP" --doc '.email |= "R"' <<<'{"op":"\u0075","after":{"email":"a"},"b\u0065fore":{"email":"b"}}'
is "$out" '{"op":"\u0075","after":{"email":"R"},"b\u0065fore":{"email":"R"}}' "--doc: an escaped \"before\" is mapped"
run "$FILTER" --table orders <<<'{"op":"c","source":{"t\u0061ble":"orders"}}'
is "$out" '{"op":"c","source":{"t\u0061ble":"orders"}}' "--table: an escaped \"table\" matches"
run "$FILTER" --table public.orders --op c <<<'{"op":"\u0063","source":{"sch\u0065ma":"public","t\u0061ble":"orders"}}'
is "$rc:$(wc -l <<<"$out")" "0:1" "--table SCHEMA.NAME and --op: escaped names and op match"
run "$FILTER" '.source.table == "orders"' <<<'{"op":"c","source":{"t\u0061ble":"orders"}}'
is "$rc:$out" '0:{"op":"c","source":{"t\u0061ble":"orders"}}' "an expression sees the decoded name (the event built in part)"
run "$MAP" --doc '.email |= "R"' <<<'{"op":"c","after":{"email":"x"},"af\u0074er":{"email":"y"}}'
is "$rc:$out" "65:" "two \"after\" members, one escaped: bad input, nothing written"
like "$err" 'line 1: duplicate member "after"' "... with the reason"
run "$FILTER" --table orders <<<'{"op":"c","source":{"table":"x","t\u0061ble":"orders"}}'
is "$rc:$out" "65:" "two source tables: bad input"
like "$err" 'duplicate member "source.table"' "... with the reason"
run "$MAP" --skip-bad '.op' <<<$'{"op":"c","op":"d"}\n{"op":"u"}'
is "$rc:$out" '0:"u"' "two ops: skipped under --skip-bad"

# --- a lone high surrogate is bad input, as jq rejects it ---
for s in '"\ud800"' '"\ud800x"' '"\ud800\u0041"' '"\ud800\ud800"' '"\uDBFF"'; do
	ev="{\"op\":\"c\",\"a\":$s}"
	jq -c . <<<"$ev" >/dev/null 2>&1
	ok $(( $? == 0 )) "jq rejects $s"
	run "$MAP" '.a' <<<"$ev"
	is "$rc:$out" "65:" "cdc-map rejects $s"
	like "$err" "lone high surrogate" "... saying why"
	run "$FILTER" '.' <<<"$ev"
	is "$rc:$out" "65:" "cdc-filter rejects $s"
done
for s in '"\ud83d\ude00"' '"\uD83D\uDE00"' '"\udc00"' '"\udbff\udfff"'; do
	ev="{\"op\":\"c\",\"a\":$s}"
	run "$MAP" '.a' <<<"$ev"
	is "$rc:$out" "0:$(jq -c .a <<<"$ev")" "$s as jq gives it"
done

# --- --argjson and --slurpfile: the exact-number rule of events ---
run "$MAP" --argjson x 9007199254740993 '$x' <<<'{"op":"c"}'
is "$rc:$out" "2:" "--argjson with a number libjq rounds: refused"
like "$err" "--argjson x: a number cannot be held exactly" "... saying why"
run "$MAP" --argjson x 9007199254740993 --lossy-numbers '$x' <<<'{"op":"c"}'
is "$rc:$out" "0:9007199254740992" "... accepted rounded with --lossy-numbers (after it, too)"
run "$MAP" --argjson x '{"a":[1.50,1e3,9007199254740992]}' '$x' <<<'{"op":"c"}'
is "$out" '{"a":[1.5,1000,9007199254740992]}' "--argjson: exact numbers pass"
printf '1 {"a":12345678901234567890}\n' >"$TEST_TMP/big.json"
run "$MAP" --slurpfile x "$TEST_TMP/big.json" '$x' <<<'{"op":"c"}'
is "$rc:$out" "2:" "--slurpfile with a number libjq rounds: refused"
like "$err" "--slurpfile x: a number cannot be held exactly" "... saying why"
printf '1 2\n[3]{"a":"\\u00e9"}' >"$TEST_TMP/many.json"
run "$MAP" --slurpfile x "$TEST_TMP/many.json" '$x' <<<'{"op":"c"}'
is "$out" "$(jq -nc --slurpfile x "$TEST_TMP/many.json" '$x')" "--slurpfile: every value, as jq"
run "$MAP" --argjson x '1 2' '$x' <<<'{"op":"c"}'
like "$rc:$err" "^2:.*more than one JSON value" "--argjson with two values: usage error"
run "$FILTER" --argjson x 9007199254740993 '.op == "c"' <<<'{"op":"c"}'
is "$rc:$out" '0:{"op":"c"}' "cdc-filter checks no numbers (events neither)"

# --- a failed event writes nothing, even past 64 MiB of outputs ---
big='(range(3000000) | "xxxxxxxxxxxxxxxxxxxxxxxxxx")'
"$MAP" --skip-bad "$big, error(\"x\")" <<<'{"op":"c"}' >"$TEST_TMP/big.out" 2>"$TEST_TMP/err"
is "$?:$(wc -c <"$TEST_TMP/big.out")" "0:0" "87 MB of outputs, then an error: nothing written"
printf '{"op":"c"}\n{"op":"d"}\n' >"$TEST_TMP/two.ndjson"
prog="$big, .op, if .op == \"c\" then error(\"x\") else empty end"
"$MAP" --skip-bad "$prog" "$TEST_TMP/two.ndjson" 2>/dev/null | md5sum >"$TEST_TMP/ours"
jq -c "$prog" "$TEST_TMP/two.ndjson" 2>/dev/null | tail -n +3000002 | md5sum >"$TEST_TMP/theirs"
is "$(cat "$TEST_TMP/ours")" "$(cat "$TEST_TMP/theirs")" "... and the next event's 87 MB come out whole and in order"

# --- jq's rule for options: "-" then '-' or a letter ---
run "$MAP" '-.a' <<<'{"op":"c","a":1}'
is "$rc:$out" "0:-1" "cdc-map '-.a' is a program, as in jq"
run "$MAP" --skip-bad '-.a, -1' - <<<'{"op":"c","a":1}'
is "$rc:$out" $'0:-1\n-1' "... among options and files"
run "$MAP" --arg x -y '$x' <<<'{"op":"c"}'
is "$out" '"-y"' "... an option's value starting with - is still its value"
run "$FILTER" '-.a < 0' <<<'{"op":"c","a":1}'
is "$rc:$out" '0:{"op":"c","a":1}' "cdc-filter '-.a < 0' is an expression"
run "$MAP" -x '.' <<<'{"op":"c"}'
like "$rc:$err" "^2:.*unknown option '-x'" "-x is still an unknown option"

# --- a program stopped inside a path expression (libjq 1.6 aborts on the next event) ---
run "$FILTER" 'path(..) | select(length > 3)' <<<$'{"op":"c","a":{"b":{"c":{"d":1}}}}\n{"op":"c"}\n{"op":"u","a":{"b":{"c":{"d":2}}}}'
is "$rc:$out" $'0:{"op":"c","a":{"b":{"c":{"d":1}}}}\n{"op":"u","a":{"b":{"c":{"d":2}}}}' "cdc-filter: first output of path(..), then the next events (no abort)"
run "$FILTER" '[paths] | length > 0, error("later")' <<<$'{"op":"c","a":1}\n{"op":"d"}'
is "$rc:$out" $'0:{"op":"c","a":1}\n{"op":"d"}' "cdc-filter: outputs after the first are not run"
run "$MAP" --doc 'path(..) | select(length > 0)' <<<$'{"op":"c","after":{"a":1}}\n{"op":"c","after":{"b":{"c":1}}}'
is "$rc:$out" '65:{"op":"c","after":["a"]}' "--doc: two values from a path expression fail the event, the next one runs"
like "$err" "more than one value" "... saying why"
run "$FILTER" '.a + # comment' </dev/null
like "$rc:$err" "^2:.*syntax error" "a program ending in a comment still compiles as jq would (here: an error)"
unlike "$err" "__cdc" "... without the wrapper's text"
run "$FILTER" '.a # comment' <<<'{"op":"c","a":1}'
is "$out" '{"op":"c","a":1}' "a program ending in a comment"

# --- libjq's own recursion (freeing, comparing) over a deep value: the stack is 1 GiB ---
run "$MAP" 'reduce range(1000000) as $i (0; [.]) | length' <<<'{"op":"c"}'
is "$rc:$out" "0:1" "cdc-map: a value 1000000 levels deep is built and freed (jq dies at about 300000)"
run "$FILTER" '(reduce range(1000000) as $i (0; [.])) as $x | $x == $x' <<<'{"op":"c"}'
is "$rc:$out" '0:{"op":"c"}' "cdc-filter: ... and compared"

run "$FILTER" 'def f: .a = 1;' <<<'{"op":"c","a":2}'
is "$rc:$out" '0:{"op":"c","a":2}' "a program of definitions alone is the identity, as in jq"
run "$MAP" --doc 'def f: del(.a);' <<<'{"op":"c","after":{"a":1}}'
is "$rc:$out" '0:{"op":"c","after":{"a":1}}' "... under --doc too"
run "$FILTER" '.a = # comment' </dev/null
like "$err" "line 1:" "a compile error names the program's own line"

done_testing
