#!/usr/bin/env bash
# cdc-sink-es and a 50 MB document, against whichever server is up.
# OpenSearch and Elasticsearch 7/8 index it; Elasticsearch 9 refuses it with
# an item 429 "rejected execution of primary operation [...,
# primary_operation_bytes=N, max_primary_bytes=M]" (N > M: a limit on one
# operation, not load).  Either way the sink must never be stuck: it applies
# the document or treats it as bad data (exit 65, or --dead-letter and go
# on), never exit 75 for ever.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es
need_es
SINK=$CDC_BIN/cdc-sink-es
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1
diag "server: $(es_kind) $(es_version)"

ev() {
	printf '{"op":"c","before":null,"after":%s,"key":{"id":%d},"source":{"name":"slot1","db":"shop","schema":"public","table":"t","lsn":%d,"commit_lsn":%d,"seq":1,"ts_ms":1,"snapshot":"false"}}\n' \
		"$3" "$1" "$2" "$2"
}
{
	ev 1 100 '{"id":1}'
	printf '{"op":"c","before":null,"after":{"id":2,"big":"'
	head -c $((50 * 1024 * 1024)) /dev/zero | tr '\0' 'x'
	printf '"},"key":{"id":2},"source":{"name":"slot1","db":"shop","schema":"public","table":"t","lsn":200,"commit_lsn":200,"seq":1,"ts_ms":1,"snapshot":"false"}}\n'
	ev 3 300 '{"id":3}'
} >big.ndjson
ids() {
	es_curl POST "/$1/_refresh" >/dev/null 2>&1
	es_curl GET "/$1/_search?size=100&_source=false" | jq -r '[.hits.hits[]._id] | sort | join(" ")'
}

# --dead-letter: whatever the server says, the sink goes on.
timeout 300 "$SINK" -q --url "$U" --index "${P}dl" --dead-letter dl.jsonl --max-retries 3 \
	--checkpoint ck1 <big.ndjson 2>err.txt
rc=$?
is "$rc" 0 "a 50 MB document with --dead-letter: exit 0"
got=$(ids "${P}dl")
if [ -s dl.jsonl ]; then
	is "$got" "1 3" "refused: the documents around it are applied"
	is "$(jq -r .status dl.jsonl)" 429 "the dead letter has the server's status"
	like "$(jq -r .reason dl.jsonl)" "max_primary_bytes" "and its reason"
	is "$(wc -l <dl.jsonl)" 1 "one dead letter"
else
	is "$got" "1 2 3" "applied: all three documents are there"
fi
is "$(grep ^position= ck1)" "position=0/12C:1" "the checkpoint passes it"
if [ "$(es_kind)" = es9 ]; then
	ok "$([ -s dl.jsonl ] && echo 0 || echo 1)" "Elasticsearch 9 refuses it (the case this test is for)"
fi

# The stop policy: applied, or exit 65 with the checkpoint just before it.
timeout 300 "$SINK" -q --url "$U" --index "${P}stop" --max-retries 3 --checkpoint ck2 <big.ndjson 2>err.txt
rc=$?
if [ "$rc" = 65 ]; then
	like "$(cat err.txt)" "line 2 \(position 0/C8:1\): index ${P}stop, id 2: HTTP 429" \
		"refused: exit 65 naming the line, the index and the id"
	is "$(grep ^position= ck2)" "position=0/64:1" "the checkpoint stays just before it"
	timeout 300 "$SINK" -q --url "$U" --index "${P}stop" --max-retries 3 --checkpoint ck2 <big.ndjson 2>err.txt
	is "$?" 65 "a restart stops at it again, at once (bad data, not a temporary failure)"
else
	is "$rc" 0 "accepted: exit 0"
	is "$(ids "${P}stop")" "1 2 3" "accepted: all three documents are there"
fi
isnt "$rc" 75 "never the temporary-failure exit that a supervisor restarts for ever"

done_testing
