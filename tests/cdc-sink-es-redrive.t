#!/usr/bin/env bash
# Dead letters re-driven (cdc-events(7), "Re-driving dead letters"): the
# sink refuses a document the index's mapping cannot take and writes it to
# its dead-letter file; the running pipeline goes on and its checkpoint
# moves past it.  Once fixed with cdc-map, `cdc-replay --dead-letters`
# feeds the original events to a separate sink run without a checkpoint:
# the fixed document is applied, and a dead letter older than what the
# index holds is refused as stale, never overwriting the newer document.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es cdc-replay cdc-map
need_es
SINK=$CDC_BIN/cdc-sink-es
IDX="$(es_new_index_prefix)redrive"
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

ev() {
	jq -cn --arg op "$1" --argjson id "$2" --argjson lsn "$3" --argjson after "$4" '
	{op:$op, before:null, after:$after, key:{id:$id},
	 source:{name:"slot1",db:"shop",schema:"public",table:"t",commit_lsn:$lsn,seq:1,lsn:$lsn,
	         ts_ms:1700000000000,snapshot:"false"}, ts_ms:1700000000100}'
}
printf '%s\n' '{"mappings":{"properties":{"n":{"type":"long"}}}}' >create.json
{
	ev c 1 100 '{"id":1,"n":1}'
	ev c 2 200 '{"id":2,"n":"two"}'      # the mapping refuses it
	ev c 3 300 '{"id":3,"n":"three"}'    # refused too, but overtaken below
	ev u 3 400 '{"id":3,"n":33}'
	ev c 4 500 '{"id":4,"n":4}'
} >stream.ndjson

"$SINK" --url "$U" --index "$IDX" --create-index create.json --checkpoint ck \
	--dead-letter dl.ndjson <stream.ndjson 2>err.txt
is "$?" 0 "the pipeline's sink goes on past refused documents: exit 0"
is "$(wc -l <dl.ndjson)" 2 "two dead letters"
is "$(sed -n 's/^position=//p' ck)" "0/1F4:1" "its checkpoint is past them"
like "$(cat err.txt)" "mapper_parsing_exception|document_parsing_exception" "stderr gives the reason"
unlike "$(cat err.txt)" "two|three" "stderr never shows row values"
is "$(es_count "$IDX")" 3 "the index has the other documents"

# The fix: a number for n.  Re-driven without a checkpoint.
"$CDC_BIN/cdc-replay" --dead-letters dl.ndjson >orig.ndjson
is "$?" 0 "cdc-replay --dead-letters: exit 0"
is "$(jq -c .after <orig.ndjson | sort | tr '\n' ' ')" '{"id":2,"n":"two"} {"id":3,"n":"three"} ' \
	"it writes the original events (in the order the lanes refused them)"
is "$(cmp <(jq -c . <orig.ndjson | sort) <(grep -F -e '"id":2,' -e '"id":3,' stream.ndjson | grep -F '"op":"c"' | jq -c . | sort) && echo same)" same \
	"... the same events the sink was given"
"$CDC_BIN/cdc-replay" --dead-letters dl.ndjson |
	"$CDC_BIN/cdc-map" '.after.n |= (if . == "two" then 2 elif . == "three" then 3 else . end)' |
	"$SINK" -q --url "$U" --index "$IDX" --stats 2>redrive.err
is "$?" 0 "the re-drive run: exit 0"
es_curl POST "/$IDX/_refresh" >/dev/null
is "$(es_curl GET "/$IDX/_doc/2" | jq -c ._source)" '{"id":2,"n":2}' "the fixed document is applied"
is "$(es_curl GET "/$IDX/_doc/3" | jq -c ._source)" '{"id":3,"n":33}' \
	"an older dead letter does not overwrite the newer document"
like "$(cat redrive.err)" "1 stale \(409\)" "... it is counted as stale"
is "$(es_count "$IDX")" 4 "every row is in the index"

# The pipeline's own checkpoint is untouched, and its next run goes on from it.
is "$(sed -n 's/^position=//p' ck)" "0/1F4:1" "the pipeline's checkpoint is unchanged"
{ cat stream.ndjson; ev c 5 600 '{"id":5,"n":5}'; } |
	"$SINK" -q --url "$U" --index "$IDX" --checkpoint ck --dead-letter dl2.ndjson
is "$?:$(es_count "$IDX")" "0:5" "the pipeline resumes after its checkpoint"
ok "$([ ! -s dl2.ndjson ]; echo $?)" "and dead-letters nothing again"

done_testing
