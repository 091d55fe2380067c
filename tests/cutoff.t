#!/usr/bin/env bash
# The framing rule (cdc-events(7)): a last line without its newline that is
# not a whole JSON value is what a writer killed in the middle of a line
# leaves.  Every program that reads events exits 75 for it ("restart me"),
# after passing on and checkpointing everything before it; nothing is
# dead-lettered, emitted or logged for it, and the whole event comes again
# from the restarted writer.  A real writer process is SIGKILLed in the
# middle of a 1 MiB line here (tests/helpers/torn-writer.py).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-filter cdc-map cdc-record cdc-replay

W=$TEST_ROOT/tests/helpers/torn-writer.py
N=6
T=$TEST_TMP

# run_torn NAME CMD...: writer | CMD, the writer killed mid-line; sets RC.
run_torn() {
	local name=$1 wpid
	shift
	rm -f "$T/mark" "$T/fifo"
	mkfifo "$T/fifo"
	python3 "$W" "$N" "$T/mark" >"$T/fifo" &
	wpid=$!
	"$@" <"$T/fifo" >"$T/$name.out" 2>"$T/$name.err" &
	local ppid=$!
	if ! wait_for "[ -e '$T/mark' ]" 20; then
		diag "the writer never reached the middle of its last line"
	fi
	kill -KILL "$wpid"
	wait "$wpid" 2>/dev/null
	wait "$ppid"
	RC=$?
}

for prog in cdc-filter cdc-map; do
	for policy in stop dead-letter; do
		args=()
		rm -f "$T/dl"
		[ "$policy" = dead-letter ] && args=(--dead-letter "$T/dl")
		run_torn "$prog-$policy" "$CDC_BIN/$prog" "${args[@]}" .
		is "$RC" 75 "$prog ($policy): a writer killed mid-line: exit 75"
		is "$(wc -l <"$T/$prog-$policy.out")" $((N - 1)) "$prog ($policy): every whole event before it went out"
		is "$(jq -s 'map(.after.id) | join(",")' <"$T/$prog-$policy.out" 2>&1)" '"1,2,3,4,5"' \
			"$prog ($policy): events 1 to 5, in order"
		like "$(cat "$T/$prog-$policy.err")" "standard input cut off: its last [0-9]+ bytes .* the last whole event was at position 0/1388:1" \
			"$prog ($policy): one line says so, with the size and the last whole position"
		ok "$([ ! -s "$T/dl" ]; echo $?)" "$prog ($policy): nothing dead-lettered"
	done
	# The writer comes back and sends everything again.
	python3 "$W" "$N" - | "$CDC_BIN/$prog" . >"$T/$prog-again.out"
	is "$?" 0 "$prog: after the writer's restart: exit 0"
	is "$(jq -s 'map(.after.id) | join(",")' <"$T/$prog-again.out")" '"1,2,3,4,5,6"' \
		"$prog: after the writer's restart: every event, the torn one whole"
done

# ---- cdc-record: nothing logged for the fragment, checkpoint at the last whole event
for policy in stop dead-letter; do
	args=()
	rm -rf "$T/log-$policy" "$T/ck-$policy" "$T/dl"
	[ "$policy" = dead-letter ] && args=(--dead-letter "$T/dl")
	run_torn "record-$policy" "$CDC_BIN/cdc-record" "${args[@]}" --checkpoint "$T/ck-$policy" "$T/log-$policy"
	is "$RC" 75 "cdc-record ($policy): a writer killed mid-line: exit 75"
	is "$(wc -l <"$T/record-$policy.out")" $((N - 1)) "cdc-record ($policy): the whole events passed through"
	is "$(sed -n 's/^position=//p' "$T/ck-$policy")" "0/1388:1" \
		"cdc-record ($policy): checkpoint at the last whole event"
	is "$("$CDC_BIN/cdc-replay" "$T/log-$policy" | jq -s 'map(.after.id) | join(",")')" '"1,2,3,4,5"' \
		"cdc-record ($policy): the log holds the whole events only"
	ok "$([ ! -s "$T/dl" ]; echo $?)" "cdc-record ($policy): nothing dead-lettered"
	python3 "$W" "$N" - | "$CDC_BIN/cdc-record" --no-output --checkpoint "$T/ck-$policy" "$T/log-$policy"
	is "$?" 0 "cdc-record ($policy): the writer's restart re-sends everything: exit 0"
	is "$("$CDC_BIN/cdc-replay" "$T/log-$policy" | jq -s 'map(.after.id) | join(",")')" '"1,2,3,4,5,6"' \
		"cdc-record ($policy): then the log holds every event once"
	is "$(sed -n 's/^position=//p' "$T/ck-$policy")" "0/1770:1" "cdc-record ($policy): checkpoint at the last event"
done

# ---- cdc-replay reading a pipe: the same rule
run_torn replay "$CDC_BIN/cdc-replay" -
is "$RC" 75 "cdc-replay -: a writer killed mid-line: exit 75"
is "$(wc -l <"$T/replay.out")" $((N - 1)) "cdc-replay -: the whole events went out"

# ---- a saved file whose writer died mid-line: replay stops cleanly before the fragment
python3 "$W" "$N" "$T/mark2" >"$T/torn.ndjson" &
wpid=$!
wait_for "[ -e '$T/mark2' ]" 20
kill -KILL "$wpid"
wait "$wpid" 2>/dev/null
"$CDC_BIN/cdc-replay" "$T/torn.ndjson" >"$T/file.out" 2>"$T/file.err"
is "$?" 0 "cdc-replay FILE with a torn last line: exit 0"
is "$(wc -l <"$T/file.out")" $((N - 1)) "cdc-replay FILE: stops at the last whole event"
like "$(cat "$T/file.err")" "cut off" "cdc-replay FILE: and says so"

# ---- cdc-sink-es: the whole events applied and checkpointed, then 75
if [ -n "${CDC_TEST_ES_URL:-}" ]; then
	IDX="$(es_new_index_prefix)torn"
	for policy in stop dead-letter; do
		args=()
		rm -f "$T/sck-$policy" "$T/dl"
		es_curl DELETE "/$IDX" >/dev/null 2>&1
		[ "$policy" = dead-letter ] && args=(--dead-letter "$T/dl")
		run_torn "sink-$policy" "$CDC_BIN/cdc-sink-es" -q --url "$CDC_TEST_ES_URL" --index "$IDX" \
			"${args[@]}" --checkpoint "$T/sck-$policy"
		is "$RC" 75 "cdc-sink-es ($policy): a writer killed mid-line: exit 75"
		is "$(es_count "$IDX")" $((N - 1)) "cdc-sink-es ($policy): the whole events are in the index"
		is "$(sed -n 's/^position=//p' "$T/sck-$policy")" "0/1388:1" \
			"cdc-sink-es ($policy): checkpoint at the last whole event"
		like "$(cat "$T/sink-$policy.err")" "cut off" "cdc-sink-es ($policy): says so"
		ok "$([ ! -s "$T/dl" ]; echo $?)" "cdc-sink-es ($policy): nothing dead-lettered"
		python3 "$W" "$N" - | "$CDC_BIN/cdc-sink-es" -q --url "$CDC_TEST_ES_URL" --index "$IDX" \
			--checkpoint "$T/sck-$policy"
		is "$?" 0 "cdc-sink-es ($policy): the writer's restart re-sends everything: exit 0"
		is "$(es_count "$IDX")" "$N" "cdc-sink-es ($policy): then the torn event is applied whole"
		is "$(sed -n 's/^position=//p' "$T/sck-$policy")" "0/1770:1" "cdc-sink-es ($policy): checkpoint at the last event"
	done
else
	skip "no test Elasticsearch/OpenSearch: the cdc-sink-es cases" 16
fi

# ---- what the rule does not cover
GOOD='{"op":"c","after":{"id":1},"source":{"table":"t","commit_lsn":1,"seq":1}}'
for prog in cdc-filter cdc-map; do
	out=$(printf '%s' "$GOOD" | "$CDC_BIN/$prog" . 2>&1)
	is "$?:$out" "0:$GOOD" "$prog: a whole event without its newline at the end is an ordinary last line"
	printf '%s\n%s\n' "$GOOD" '{"op":"c","after":' | "$CDC_BIN/$prog" . >/dev/null 2>&1
	is "$?" 65 "$prog: a malformed line that ends with a newline is still bad data (65)"
done
printf '%s' "$GOOD" | "$CDC_BIN/cdc-record" --no-output "$T/log-whole"
is "$?" 0 "cdc-record: a whole event without its newline is logged"

done_testing
