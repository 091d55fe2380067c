#!/usr/bin/env bash
# cdc-filter: the command line, each fast flag and expressions against the
# same selection in jq, byte fidelity, flushing, signals, memory.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cases/cases.sh"
need_bin cdc-filter
F=$CDC_BIN/cdc-filter

# --- command line
out=$("$F" --help)
ok $? "--help: exit status 0"
like "$out" "^Usage: cdc-filter \[OPTION\]\.\.\. \[EXPR\] \[FILE\]\.\.\." "--help: usage on stdout"
like "$out" "Exit status:" "--help: the exit statuses"
like "$("$F" -h)" "^Usage: cdc-filter" "-h is --help"
like "$("$F" -V)" "^cdc-filter \(cdc\) [0-9]" "-V is --version"
like "$("$F" --version)" "^cdc-filter \(cdc\) [0-9]" "--version"
"$F" --nope </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 2 "unknown option: exit status 2"
like "$(cat "$TEST_TMP/err")" "Try 'cdc-filter --help' for more information." "unknown option: the hint"
"$F" true "$TEST_TMP/no-such-file" </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 2 "an input file that does not exist: exit status 2"
like "$(cat "$TEST_TMP/err")" "cannot open .*no-such-file" "an input file that does not exist: named"
"$F" --nope='postgres://u:secret@h' </dev/null >/dev/null 2>"$TEST_TMP/err"
unlike "$(cat "$TEST_TMP/err")" "secret" "an unknown option's value is not repeated"
like "$(cat "$TEST_TMP/err")" "unknown option '--nope'" "an unknown option is named"
"$F" --arg onlyname </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 2 "--arg without a value: exit status 2"
"$F" --max-line 2G </dev/null >/dev/null 2>&1
is "$?" 2 "--max-line out of range: exit status 2"

# --- --help, the man page and the completions name the same options
missing=""
for o in $("$CDC_BIN/cdc-filter" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -qwF -- "$o" "$TEST_ROOT/completions/bash/cdc-filter" || missing+=" bash:$o"
	grep -qwF -- "$o" "$TEST_ROOT/completions/zsh/_cdc-filter" || missing+=" zsh:$o"
	grep -qwF -- "-l ${o#--}" "$TEST_ROOT/completions/fish/cdc-filter.fish" || missing+=" fish:$o"
	grep -qwF -- "${o//-/\\-}" "$TEST_ROOT/man/cdc-filter.1" || missing+=" man:$o"
done
is "$missing" "" "every option of --help is in the man page and the bash, zsh and fish completions"

# --- the fast flags keep what the same jq select keeps (control events pass)
ev=$TEST_TMP/events.ndjson
{ cat "$EVENTS"; awk -v n=3000 -f "$CASES/gen-events.awk"; } >"$ev"
ctl='(.op | IN("c","u","d","r","t","m") | not)'
check_flags() {
	local sel=$1
	shift
	local ours theirs
	ours=$("$F" "$@" <"$ev" | jq -c .)
	theirs=$(jq -c "select($ctl or ($sel))" <"$ev")
	is "$ours" "$theirs" "cdc-filter $* keeps what jq select($sel) keeps"
	[ -n "$ours" ] || diag "empty selection for $*"
}
check_flags '.op == "u"' --op u
check_flags '.op == "c" or .op == "d"' --op c,d
check_flags '.op == "t" or .op == "m"' --op t --op m
check_flags '.source.table == "orders"' --table orders
check_flags '.source.schema == "public" and .source.table == "orders"' --table public.orders
check_flags '(.source.schema == "sales" and .source.table == "orders") or .source.table == "customers"' --table sales.orders,customers
check_flags '.source.schema == "sales"' --schema sales
check_flags '.op == "u" and .source.table == "orders"' --op u --table orders
check_flags '.op == "u" and .source.table == "orders" and .source.schema == "public"' --op u --table orders --schema public
check_flags '(.op == "u" and .source.table == "orders") | not' --op u --table orders --invert

# --- expressions: the same events as jq's select, as their original bytes
for expr in '.after.status == "paid"' '.after.items > 5 and .source.schema == "public"' \
	'.before != null' '(.after.items // 0) % 3 == 0' 'changed(.status)'; do
	ours=$("$F" "include \"cdc\"; $expr" <"$ev")
	theirs=$(jq -c -L "$TEST_ROOT/jq" "include \"cdc\"; select($ctl or ($expr))" <"$ev")
	is "$(printf '%s\n' "$ours" | jq -c .)" "$theirs" "cdc-filter '$expr' keeps what jq keeps"
	is "$(printf '%s\n' "$ours" | grep -vxFf "$ev" | wc -l)" 0 "cdc-filter '$expr': every kept line is an input line, byte for byte"
done
out=$("$F" --drop-control --invert '.op == "u"' <"$ev" | jq -c .)
is "$out" "$(jq -c "select(($ctl | not) and .op != \"u\")" <"$ev")" "--drop-control --invert"

# --- byte fidelity: what jq would rewrite stays as it came
odd=$TEST_TMP/odd.ndjson
cat >"$odd" <<'X'
{ "op":"u" , "after" : {"b":2,"a":1.50,"big":123456789012345678901234567890,"e":1E+2,"u":"\u00e9\ud83d\ude00"} ,"source":{"table":"orders","schema":"public","commit_lsn":18446744073709551615,"seq":1}}	
{"op":"c","after":{"payload":{"order": 1, "total": "10.50"}},"source":{"table":"outbox","schema":"public"}}
X
"$F" 'true' <"$odd" >"$TEST_TMP/odd.out"
cmp -s "$odd" "$TEST_TMP/odd.out"
ok $? "an expression keeps spacing, key order, number literals, escapes"
"$F" --table orders,outbox <"$odd" >"$TEST_TMP/odd.out"
cmp -s "$odd" "$TEST_TMP/odd.out"
ok $? "the fast flags keep the bytes too"
printf '{"op":"c","after":{"id":1}}' | "$F" true >"$TEST_TMP/nonl.out"
is "$(cat "$TEST_TMP/nonl.out")" '{"op":"c","after":{"id":1}}' "a last line without a newline is kept"
is "$(tail -c 1 "$TEST_TMP/nonl.out" | od -An -tx1 | tr -d ' ')" 0a "... and gets its newline"

# --- flushing when the input is idle, not at exit
mkfifo "$TEST_TMP/in"
exec 7<>"$TEST_TMP/in"
"$F" --op c <"$TEST_TMP/in" >"$TEST_TMP/live.out" &
pid=$!
sed -n 6p "$EVENTS" >&7
wait_for "[ -s '$TEST_TMP/live.out' ]" 5
ok $? "an event is written while the input stays open"
# SIGTERM: finish, flush, exit 0
kill -TERM "$pid"
wait "$pid"
is "$?" 0 "SIGTERM: exit status 0"
exec 7>&-
is "$(cat "$TEST_TMP/live.out")" "$(sed -n 6p "$EVENTS")" "SIGTERM: the event is out"

# --- a reader that goes away: exit 141, quietly
yes "$(sed -n 6p "$EVENTS")" | head -n 200000 | "$F" true 2>"$TEST_TMP/err" | head -n 1 >/dev/null
st=("${PIPESTATUS[@]}")
is "${st[2]}" 141 "stdout closed: exit status 141"
is "$(cat "$TEST_TMP/err")" "" "stdout closed: nothing on stderr"

# --- memory stays flat on a long stream; the program is compiled once
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ]; then
	skip "peak RSS under a sanitizer says nothing" 2
else
	awk -v n=100000 -f "$CASES/gen-events.awk" >"$TEST_TMP/long.ndjson"
	/usr/bin/time -f %M -o "$TEST_TMP/rss" "$F" '.after.status == "paid"' <"$TEST_TMP/long.ndjson" >/dev/null
	rss=$(cat "$TEST_TMP/rss")
	ok $((rss < 20000 ? 0 : 1)) "100k events through an expression: peak RSS ${rss} KiB < 20 MiB"
	head -n 1000 "$TEST_TMP/long.ndjson" >"$TEST_TMP/short.ndjson"
	/usr/bin/time -f %M -o "$TEST_TMP/rss1" "$F" '.after.status == "paid"' <"$TEST_TMP/short.ndjson" >/dev/null
	rss1=$(cat "$TEST_TMP/rss1")
	ok $((rss - rss1 < 2048 ? 0 : 1)) "1k events: ${rss1} KiB, 100k events: ${rss} KiB (flat)"
fi

# --- no leaks (valgrind, on a small run)
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ] || ! command -v valgrind >/dev/null; then
	skip "valgrind run (sanitized build or no valgrind)" 1
else
	head -n 300 "$ev" | valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 "$F" --dead-letter "$TEST_TMP/vg-dl" --arg s paid \
		'include "cdc"; .after.status == $s and changed(.status) and (.after.id | tostring | length) > 0' \
		>/dev/null 2>"$TEST_TMP/vg"
	is "$?" 0 "valgrind: no memory errors or leaks"
	[ -s "$TEST_TMP/vg" ] && diag "$(head -n 30 "$TEST_TMP/vg")"
fi

done_testing
