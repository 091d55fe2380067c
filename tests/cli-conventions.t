#!/usr/bin/env bash
# The command-line conventions every program shares (common/cli.h): -h and
# --help (usage and the exit statuses on stdout, exit 0), -V and --version,
# -v/-q, one message for a refused option that never repeats its value, and
# short options that mean one thing across the toolkit.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PROGS=$(sed -n "s/^PROGS *= *//p" "$TEST_ROOT/Makefile")
need_bin $PROGS

for p in $PROGS; do
	B=$CDC_BIN/$p
	help=$("$B" --help)
	is "$?" 0 "$p --help: exit 0"
	like "$help" "^Usage: $p " "$p --help: usage on stdout"
	like "$help" $'Exit status:\n  0 .*\n  1 .*\n  2 .*\n  65 .*\n  75 .*\n  141 ' "$p --help: the exit statuses"
	if [ "$p" = cdc-capture ]; then
		is "$("$B" -'?')" "$help" "$p -?: the same help (-h is the host, as in psql)"
	else
		is "$("$B" -h)" "$help" "$p -h: the same help"
	fi
	like "$("$B" --version)" "^$p \(cdc\) [0-9]" "$p --version"
	is "$("$B" -V)" "$("$B" --version)" "$p -V"
	"$B" --nope='postgres://u:secret@h' </dev/null >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	is "$?" 2 "$p: an unknown option: exit 2"
	like "$(cat "$TEST_TMP/err")" "^$p: unknown option '--nope'"$'\n'"Try '$p --help' for more information.$" \
		"$p: an unknown option: one line naming it, and the hint"
	unlike "$(cat "$TEST_TMP/err")" "secret" "$p: an unknown option's value is never repeated"
	is "$(cat "$TEST_TMP/out")" "" "$p: nothing on stdout"
	"$B" -Z </dev/null >/dev/null 2>"$TEST_TMP/err"
	is "$?:$(head -1 "$TEST_TMP/err")" "2:$p: unknown option '-Z'" "$p: an unknown short option"
		"$B" --version --verbose >/dev/null 2>&1
	is "$?" 0 "$p: --verbose is an option"
	"$B" --version --quiet >/dev/null 2>&1
	is "$?" 0 "$p: --quiet is an option"
done

# A missing value.
for p in cdc-filter cdc-map cdc-record cdc-replay cdc-sink-es; do
	"$CDC_BIN/$p" --max-line </dev/null >/dev/null 2>"$TEST_TMP/err"
	is "$?:$(head -1 "$TEST_TMP/err")" "2:$p: option '--max-line' needs a value" "$p: a missing value is named"
done
"$CDC_BIN/cdc-capture" --slot </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?:$(head -1 "$TEST_TMP/err")" "2:cdc-capture: option '--slot' needs a value" "cdc-capture: a missing value is named"
"$CDC_BIN/cdc-filter" --ver </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?:$(head -1 "$TEST_TMP/err")" "2:cdc-filter: option '--ver' is ambiguous" "an ambiguous prefix is refused"

# A short option means one thing everywhere: "-X, --name" in every --help
# agrees.  The one exception is deliberate: cdc-capture's -h is the host, as
# in psql and pg_recvlogical (its help is -? and --help).
for p in $PROGS; do
	"$CDC_BIN/$p" --help | grep -oE '^  -[A-Za-z?], --[a-z-]+' | sed "s/^  //; s/, / /; s/\$/ $p/"
done | grep -v '^-h --host cdc-capture$' | sort >"$TEST_TMP/shorts"
conflicts=$(awk '{ if ($1 in name && name[$1] != $2) print $1 ": " name[$1] " (" prog[$1] ") and " $2 " (" $3 ")"; name[$1] = $2; prog[$1] = $3 }' "$TEST_TMP/shorts")
is "$conflicts" "" "no short option means two things"
note "short options: $(awk '{ print $1 "=" $2 }' "$TEST_TMP/shorts" | sort -u | tr '\n' ' ')"

# cdc-capture connects the way psql does: -d NAME, -h, -p, -U.
err=$("$CDC_BIN/cdc-capture" -d shop -h "$TEST_TMP" -p 5999 -U someone --slot s --publication p --no-loop 2>&1 >/dev/null)
is "$?" 75 "cdc-capture -d NAME -h DIR -p PORT -U USER: the server is not there: exit 75"
like "$err" "$TEST_TMP/.s.PGSQL.5999" "... it tried the socket -h and -p name"
err=$("$CDC_BIN/cdc-capture" -d 'postgresql://x@127.0.0.1:1/db' -p 5998 --slot s --publication p --no-loop 2>&1 >/dev/null)
like "$err" "port 5998" "-p wins over the port of a URI in -d"

# Input files after the options, like jq ("-" is standard input).
E='{"op":"c","after":{"id":1},"source":{"table":"t","commit_lsn":1,"seq":1}}'
printf '%s\n' "$E" >"$TEST_TMP/a.ndjson"
is "$(printf '%s\n' "$E" | "$CDC_BIN/cdc-filter" . "$TEST_TMP/a.ndjson" - "$TEST_TMP/a.ndjson" | wc -l)" 3 \
	"cdc-filter EXPR FILE - FILE reads them in turn"
is "$(printf '%s\n' "$E" | "$CDC_BIN/cdc-map" .after "$TEST_TMP/a.ndjson" -)" $'{"id":1}\n{"id":1}' \
	"cdc-map PROGRAM FILE -"
printf 'not json\n' >"$TEST_TMP/bad.ndjson"
"$CDC_BIN/cdc-filter" . "$TEST_TMP/a.ndjson" "$TEST_TMP/bad.ndjson" >/dev/null 2>"$TEST_TMP/err"
is "$?" 65 "a bad line in the second file: exit 65"
like "$(cat "$TEST_TMP/err")" "bad.ndjson: line 1: " "... the message names the file and the line"

done_testing
