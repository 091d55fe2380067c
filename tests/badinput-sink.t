#!/usr/bin/env bash
# Bad input for cdc-sink-es: every case of tests/corpus/lines under each
# policy, against a real OpenSearch: the index must hold exactly what the
# good events make (with their versions) and the checkpoint must stop at
# the last good event; over-long lines; events the server rejects
# (mapping conflicts); damaged or foreign checkpoint files.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-es
need_es
. "$TEST_ROOT/tests/corpus/lib.sh"

BAD_PROG=cdc-sink-es
BAD_EMPTY_OUTPUT=1
PREFIX=$(es_new_index_prefix)
SINK_N=0
SINK_ARGS=()
run_prog() {
	SINK_N=$((SINK_N + 1))
	SINK_INDEX=${PREFIX}r$SINK_N-orders
	SINK_CK=$TEST_TMP/sink.$SINK_N.ckpt
	$BAD_WRAP "$CDC_BIN/cdc-sink-es" --url "$CDC_TEST_ES_URL" --index "${PREFIX}r$SINK_N-{table}" \
		--checkpoint "$SINK_CK" "${SINK_ARGS[@]}" "$@"
}
# The durable side: the documents with their versions, and the checkpoint.
prog_side() {
	es_curl POST "/$SINK_INDEX/_refresh" >/dev/null 2>&1
	# Sorted here: Elasticsearch 8 and 9 refuse to sort on _id.
	es_curl GET "/$SINK_INDEX/_search?size=100&version=true" 2>/dev/null |
		jq -c '.hits.hits // [] | sort_by(._id)[] | [._id, ._version, ._source]'
	sed -n 's/^position=/checkpoint /p' "$SINK_CK" 2>/dev/null
}

bad_reference
is "$(cat "$TEST_TMP/ref6.out.side")" '["1",23879300,{"id":1,"status":"paid","note":"x"}]
["3",23880000,{"id":3,"status":"x"}]
checkpoint 0/16C6140:1' "cdc-sink-es: the good events leave documents 1 and 3, checkpoint at the last"
is "$(cat "$TEST_TMP/ref3.out.side")" '["1",23879300,{"id":1,"status":"paid","note":"x"}]
checkpoint 0/16C5EE8:0' "cdc-sink-es: the first three leave document 1, checkpoint at the heartbeat"
bad_stop_each
bad_policies_all
bad_no_final_newline
bad_long_line 100000000 "" 250
# OpenSearch itself refuses these documents (nesting over its depth limit,
# a number beyond a double, an empty field name): tested as rejected items.
BAD_TRICKY_SKIP=(deep-500 huge-numbers unicode-keys)
bad_tricky
BAD_TRICKY_SKIP=()
for n in deep-500 huge-numbers unicode-keys; do
	{ cat "$CORPUS/tricky/$n.line"; printf '\n'; } >"$TEST_TMP/refused.in"
	bad_run "$TEST_TMP/refused.in" "$TEST_TMP/out" "$TEST_TMP/err"
	if [ "$RC" = 0 ] && [ "$(es_kind)" != opensearch ]; then
		# Elasticsearch's limits differ (it takes 500 levels of nesting).
		skip "$(es_kind) takes $n" 2
		continue
	fi
	is "$RC" 65 "cdc-sink-es: the server refuses $n: exit 65"
	like "$(cat "$TEST_TMP/err")" "line 1.*id 9.*HTTP 400" "cdc-sink-es: the server refuses $n: message names line, id and status"
done

# An event the server refuses (a string field given an object): not bad
# input, but an item that can never be applied: exit 65 under the default
# policy, a dead-letter record with the HTTP status otherwise.
{
	head -n 3 "$GOOD"
	printf '%s\n' '{"op":"c","before":null,"after":{"id":5,"status":{"nested":true}},"key":{"id":5},"source":{"name":"shop","db":"shop","schema":"public","table":"orders","lsn":23879550,"commit_lsn":23879550,"seq":1,"ts_ms":1763700002500,"snapshot":"false"},"ts_ms":1763700002600}'
	tail -n 3 "$GOOD"
} >"$TEST_TMP/reject.in"
# An explicit mapping: with dynamic mapping the first of the two shapes to
# reach the server (the sink's lanes run side by side) would win.
printf '%s\n' '{"mappings":{"properties":{"status":{"type":"keyword"}}}}' >"$TEST_TMP/mapping.json"
SINK_ARGS=(--create-index "$TEST_TMP/mapping.json")
bad_run "$TEST_TMP/reject.in" "$TEST_TMP/out" "$TEST_TMP/err"
is "$RC" 65 "cdc-sink-es: an item the server rejects: exit 65"
like "$(cat "$TEST_TMP/err")" "line 4" "cdc-sink-es: rejected item: message names line 4"
unlike "$(cat "$TEST_TMP/err")" "nested" "cdc-sink-es: rejected item: the message shows no row value"
unlike "$(cat "$TEST_TMP/out.side")" '"5"' "cdc-sink-es: rejected item: not in the index"
like "$(grep '^checkpoint' "$TEST_TMP/out.side")" "^checkpoint 0/16C5EE8:0$" \
	"cdc-sink-es: rejected item: the checkpoint stops before it"
rm -f "$TEST_TMP/reject.dl"
bad_run "$TEST_TMP/reject.in" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$TEST_TMP/reject.dl"
is "$RC" 0 "cdc-sink-es --dead-letter: rejected item: exit 0"
is "$(cat "$TEST_TMP/out.side")" "$(cat "$TEST_TMP/ref6.out.side")" \
	"cdc-sink-es --dead-letter: rejected item: the good events all applied, checkpoint at the last"
is "$(jq -r '[.program, .line, .status, (.input | fromjson | .after.id)] | @tsv' "$TEST_TMP/reject.dl" 2>&1)" \
	"cdc-sink-es	4	400	5" "cdc-sink-es --dead-letter: rejected item: record with line 4, status 400 and the event"
like "$(jq -r .reason "$TEST_TMP/reject.dl" 2>&1)" "400.*(mapp|pars)" "cdc-sink-es --dead-letter: rejected item: the server's reason"
is "$(stat -c %a "$TEST_TMP/reject.dl" 2>&1)" 600 "cdc-sink-es --dead-letter: rejected item: file mode 0600"
bad_run "$TEST_TMP/reject.in" "$TEST_TMP/out" "$TEST_TMP/err" --skip-bad
is "$RC" 0 "cdc-sink-es --skip-bad: rejected item: exit 0"
is "$(cat "$TEST_TMP/out.side")" "$(cat "$TEST_TMP/ref6.out.side")" \
	"cdc-sink-es --skip-bad: rejected item: the good events all applied"
SINK_ARGS=()

# An event whose source.name holds a newline must not add a line to the
# checkpoint: "commit_lsn=FFFFFFFF/FFFFFFFF" there would be read back (by
# cdc-capture --ack-file too) as the position.
printf '%s\n' '{"op":"c","before":null,"after":{"id":1},"key":{"id":1},"source":{"name":"shop\ncommit_lsn=FFFFFFFF/FFFFFFFF\nversion=2","db":"shop","schema":"public","table":"orders","lsn":1,"commit_lsn":1,"seq":1,"ts_ms":1,"snapshot":"false"},"ts_ms":1}' >"$TEST_TMP/inject.in"
bad_run "$TEST_TMP/inject.in" "$TEST_TMP/out" "$TEST_TMP/err"
ok $((RC >= 128)) "cdc-sink-es: source.name with newlines: no crash (exit $RC)"
is "$(grep -c '^commit_lsn=' "$SINK_CK" 2>&1)/$(grep -c '^version=' "$SINK_CK" 2>&1)" 1/1 \
	"cdc-sink-es: source.name with newlines: one commit_lsn and one version line in the checkpoint"
is "$(grep '^commit_lsn=' "$SINK_CK" 2>&1)" "commit_lsn=0/1" "cdc-sink-es: source.name with newlines: the position is the event's"

# Checkpoints: the sink reads its own at start and skips what it covers;
# it refuses one written for events of another source (name=other).
CKPT_SLOT=refuse
ckpt_run() {
	SINK_N=$((SINK_N + 1))
	SINK_INDEX=${PREFIX}r$SINK_N-orders
	SINK_CK=$1
	timeout 60 "$CDC_BIN/cdc-sink-es" --url "$CDC_TEST_ES_URL" --index "${PREFIX}r$SINK_N-{table}" \
		--checkpoint "$1" <"$GOOD" >"$TEST_TMP/ck.out" 2>"$TEST_TMP/ck.err"
	RC=$?
}
ckpt_accepted() {
	# Events after 0/16C5EE8:0 only: insert 2, delete 2, insert 3.
	[ "$(prog_side | grep -v '^checkpoint')" = '["3",23880000,{"id":3,"status":"x"}]' ] ||
		echo "the index does not hold exactly the events after the checkpoint; "
	grep -q '^position=0/16C6140:1$' "$1" 2>/dev/null || grep -q '^position=0/16C6140:1$' "$SINK_CK" ||
		echo "checkpoint not moved to the last event; "
}
bad_checkpoints

# ---- index and alias templates are checked before any event
for t in '{tabel}' 'Shop-{table}' 'a b' '-x' 'x:y' 'x{db'; do
	err=$("$CDC_BIN/cdc-sink-es" -n --index "$t" </dev/null 2>&1)
	is "$?" 2 "--index '$t': refused at start (exit 2)"
	is "$(wc -l <<<"$err")" 2 "--index '$t': one line and the hint"
done
like "$("$CDC_BIN/cdc-sink-es" -n --index 'x-{tabel}' </dev/null 2>&1)" "unknown placeholder \{tabel\}" "an unknown placeholder is named"
"$CDC_BIN/cdc-sink-es" -n --index 'ok' --alias 'Bad' </dev/null >/dev/null 2>&1
is "$?" 2 "--alias is checked the same way"
"$CDC_BIN/cdc-sink-es" -n --index '{db}.{schema}.{table}' </dev/null >/dev/null 2>&1
is "$?" 0 "every placeholder is taken"

done_testing
