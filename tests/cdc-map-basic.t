#!/usr/bin/env bash
# cdc-map: the command line, output identical to `jq -c PROGRAM`, --doc
# keeping the envelope byte for byte, flushing, signals, memory.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cases/cases.sh"
need_bin cdc-map
M=$CDC_BIN/cdc-map

# --- command line
out=$("$M" --help)
ok $? "--help: exit status 0"
like "$out" "^Usage: cdc-map \[OPTION\]\.\.\. PROGRAM \[FILE\]\.\.\." "--help: usage on stdout"
like "$out" "Exit status:" "--help: the exit statuses"
like "$("$M" --version)" "^cdc-map \(cdc\) [0-9]" "--version"
"$M" </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 2 "no PROGRAM: exit status 2"
like "$(cat "$TEST_TMP/err")" "Try 'cdc-map --help' for more information." "no PROGRAM: the hint"
"$M" . "$TEST_TMP/no-such-file" </dev/null >/dev/null 2>&1
is "$?" 2 "an input file that does not exist: exit status 2"
"$M" --slurpfile x "$TEST_TMP/none" . </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 2 "--slurpfile of a missing file: exit status 2"
like "$(cat "$TEST_TMP/err")" "--slurpfile $TEST_TMP/none" "--slurpfile of a missing file: named"

# --- --help, the man page and the completions name the same options
missing=""
for o in $("$CDC_BIN/cdc-map" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -qwF -- "$o" "$TEST_ROOT/completions/bash/cdc-map" || missing+=" bash:$o"
	grep -qwF -- "$o" "$TEST_ROOT/completions/zsh/_cdc-map" || missing+=" zsh:$o"
	grep -qwF -- "-l ${o#--}" "$TEST_ROOT/completions/fish/cdc-map.fish" || missing+=" fish:$o"
	grep -qwF -- "${o//-/\\-}" "$TEST_ROOT/man/cdc-map.1" || missing+=" man:$o"
done
is "$missing" "" "every option of --help is in the man page and the bash, zsh and fish completions"

# --- the same output as jq -c, byte for byte (data events; control events pass)
ev=$TEST_TMP/events.ndjson
{ cat "$EVENTS"; awk -v n=3000 -f "$CASES/gen-events.awk"; } >"$ev"
data='select(.op | IN("c","u","d","r","t","m"))'
for prog in '.' '.after' '{id: .key.id, op, table: .source.table, lsn: .source.lsn, doc: .after}' \
	'(.after // .before // {}) | to_entries[] | [.key, .value]' '[(.source.ts_ms / 1000 | todate), ((.after.amount // "0") | tonumber)]' \
	'select(.op == "u") | .after | del(.note) | .items = (.items // 0) * 2' 'tojson' '.after // {} | keys' \
	'include "cdc"; to_canal' 'include "cdc"; to_maxwell' 'include "cdc"; to_dms' 'include "cdc"; unwrap("rewrite")'; do
	"$M" --drop-control "$prog" <"$ev" >"$TEST_TMP/ours"
	ok $? "cdc-map '$prog': exit status 0"
	case $prog in
	include*) jq -c -L "$TEST_ROOT/jq" "${prog%%;*}; $data | ${prog#*; }" <"$ev" >"$TEST_TMP/theirs" ;;
	*) jq -c "$data | $prog" <"$ev" >"$TEST_TMP/theirs" ;;
	esac
	cmp -s "$TEST_TMP/ours" "$TEST_TMP/theirs"
	ok $? "cdc-map '$prog' prints what jq -c prints"
done
out=$("$M" '.after' <"$ev" | grep -c '"op":"heartbeat"')
is "$out" "$(grep -c '"op":"heartbeat"' "$ev")" "control events pass untouched by default"

# --- --doc: only the row images change; the envelope keeps its bytes
"$M" --doc '.' <"$ev" >"$TEST_TMP/doc"
cmp -s "$ev" "$TEST_TMP/doc"
ok $? "--doc . on compact events gives the events back byte for byte"
"$M" --doc '{id, status: (.status // "none" | ascii_upcase)}' <"$ev" >"$TEST_TMP/doc"
is "$(jq -c 'del(.after, .before)' <"$TEST_TMP/doc")" "$(jq -c 'del(.after, .before)' <"$ev")" \
	"--doc: everything but the images is unchanged"
is "$(jq -c 'select(.after != null) | .after' <"$TEST_TMP/doc" | sort -u | head -n 3)" \
	"$(jq -c 'select(.after != null) | .after | {id, status: (.status // "none" | ascii_upcase)}' <"$ev" | sort -u | head -n 3)" \
	"--doc: the images are the program's output"
spaced='{ "op" : "u", "before": {"id": 1, "n": "a"}, "after" : {"id": 1, "n": "b"} , "key": {"id": 1}, "source": {"lsn": 18446744073709551615, "commit_lsn": 18446744073709551615, "seq": 1} }'
is "$(printf '%s\n' "$spaced" | "$M" --doc '.n |= ascii_upcase')" \
	'{ "op" : "u", "before": {"id":1,"n":"A"}, "after" : {"id":1,"n":"B"} , "key": {"id": 1}, "source": {"lsn": 18446744073709551615, "commit_lsn": 18446744073709551615, "seq": 1} }' \
	"--doc: spacing and 64-bit positions of the envelope are kept"

# --- outputs of one event are all or nothing when the event fails
out=$(printf '%s\n' '{"op":"c","after":{"a":1}}' | "$M" --skip-bad '.after.a, error("late")' 2>/dev/null)
is "$out" "" "an event that fails after an output writes none of its outputs"

# --- flushing when the input is idle; SIGTERM
mkfifo "$TEST_TMP/in"
exec 7<>"$TEST_TMP/in"
"$M" '.op' <"$TEST_TMP/in" >"$TEST_TMP/live.out" &
pid=$!
sed -n 6p "$EVENTS" >&7
wait_for "[ -s '$TEST_TMP/live.out' ]" 5
ok $? "an output is written while the input stays open"
kill -TERM "$pid"
wait "$pid"
is "$?" 0 "SIGTERM: exit status 0"
exec 7>&-
is "$(cat "$TEST_TMP/live.out")" '"c"' "SIGTERM: the output is out"

# --- a reader that goes away: exit 141, quietly
yes "$(sed -n 6p "$EVENTS")" | head -n 200000 | "$M" .after 2>"$TEST_TMP/err" | head -n 1 >/dev/null
st=("${PIPESTATUS[@]}")
is "${st[2]}" 141 "stdout closed: exit status 141"
is "$(cat "$TEST_TMP/err")" "" "stdout closed: nothing on stderr"

# --- memory stays flat on a long stream
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ]; then
	skip "peak RSS under a sanitizer says nothing" 2
else
	awk -v n=100000 -f "$CASES/gen-events.awk" >"$TEST_TMP/long.ndjson"
	/usr/bin/time -f %M -o "$TEST_TMP/rss" "$M" '{id: .key.id, doc: .after}' <"$TEST_TMP/long.ndjson" >/dev/null
	rss=$(cat "$TEST_TMP/rss")
	ok $((rss < 20000 ? 0 : 1)) "100k events: peak RSS ${rss} KiB < 20 MiB"
	head -n 1000 "$TEST_TMP/long.ndjson" >"$TEST_TMP/short.ndjson"
	/usr/bin/time -f %M -o "$TEST_TMP/rss1" "$M" '{id: .key.id, doc: .after}' <"$TEST_TMP/short.ndjson" >/dev/null
	rss1=$(cat "$TEST_TMP/rss1")
	ok $((rss - rss1 < 2048 ? 0 : 1)) "1k events: ${rss1} KiB, 100k events: ${rss} KiB (flat)"
fi

# --- no leaks (valgrind, on a small run: the module helpers, errors, --doc)
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ] || ! command -v valgrind >/dev/null; then
	skip "valgrind runs (sanitized build or no valgrind)" 2
else
	{ head -n 300 "$ev"; echo 'not json'; echo '{"op":"c","after":{"big":9007199254740993}}'; } |
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
			"$M" --skip-bad --arg k key 'include "cdc"; hash_columns(["note"]; $k) | to_canal, (.after.id / 0)' \
			>/dev/null 2>"$TEST_TMP/vg"
	is "$?" 0 "valgrind: no memory errors or leaks"
	grep -v "bad lines skipped" "$TEST_TMP/vg" | head -n 30 | while IFS= read -r l; do diag "$l"; done
	head -n 300 "$ev" | valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		"$M" --doc --skip-bad 'select(.status != "draft") | .id, .id' >/dev/null 2>"$TEST_TMP/vg"
	is "$?" 0 "valgrind --doc: no memory errors or leaks"
fi

done_testing
