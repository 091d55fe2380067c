#!/usr/bin/env bash
# alone: it kills and restarts the test Elasticsearch-API server (tests/run.sh runs no other test file beside it)
# The Elasticsearch-API server of tests/services.sh, whichever kind runs
# (CDC_TEST_ES_KIND: opensearch, es7, es8, es9): it says what it is, and it
# serves what cdc-sink-es relies on: _bulk with external_gte versioning
# (and its 409s), _mget, scroll search, index templates, cluster settings;
# it survives a 50 MB document, and a kill -9 loses no acknowledged write.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_es
# Nothing of ours runs here: a sanitizer build has nothing to add.
[ "${CDC_TEST_SANITIZED:-0}" = 1 ] && skip_all "tests the servers only (ran in the plain build)"
P=$(es_new_index_prefix)
I=${P}v
kind=$(es_kind)
note "server: $kind $(es_version) at $CDC_TEST_ES_URL"

# ---- what it is
like "$kind" '^(opensearch|es7|es8|es9)$' "CDC_TEST_ES_KIND names the server kind"
reported=$(es_curl GET "/_nodes/_local?filter_path=nodes.*.version" | jq -r '.nodes[].version')
is "$reported" "$(es_version)" "CDC_TEST_ES_VERSION is the version the server reports"
case $kind in
opensearch) like "$reported" '^[23]\.' "OpenSearch 2.x or 3.x" ;;
es7) like "$reported" '^7\.17\.' "Elasticsearch 7.17" ;;
es8) like "$reported" '^8\.' "Elasticsearch 8" ;;
es9) like "$reported" '^9\.' "Elasticsearch 9" ;;
*) ok 1 "unknown server kind '$kind'" ;;
esac
like "$(es_curl GET /_cluster/health | jq -r .status)" '^(green|yellow)$' "cluster health is green or yellow"

# ---- _bulk with external_gte
# bulk NDJSON-LINES...: POST them, print "status status ..." of the items.
bulk() {
	printf '%s\n' "$@" | es_curl POST "/_bulk?refresh=true" - >"$TEST_TMP/bulk.json"
	jq -r '[.items[] | .[] | .status] | map(tostring) | join(" ")' "$TEST_TMP/bulk.json"
}
act() { # act OP ID VERSION
	printf '{"%s":{"_index":"%s","_id":"%s","version":%s,"version_type":"external_gte"}}' "$1" "$I" "$2" "$3"
}
got=$(bulk "$(act index 1 5)" '{"id":1,"v":"five"}' \
	"$(act index 1 5)" '{"id":1,"v":"five again"}' \
	"$(act index 1 4)" '{"id":1,"v":"four"}' \
	"$(act index 2 9223372036854775807)" '{"id":2,"v":"max"}' \
	"$(act delete 3 7)")
is "$got" "201 200 409 201 404" \
	"external_gte: new 201, equal version 200, older 409, version 2^63-1 accepted, delete of a missing id 404"
is "$(jq -r .errors "$TEST_TMP/bulk.json")" true "a 409 sets errors:true"
is "$(jq -r '.items[2].index.error.type' "$TEST_TMP/bulk.json")" version_conflict_engine_exception \
	"the 409 is a version_conflict_engine_exception"
is "$(es_curl GET "/$I/_doc/1" | jq -c '[._version, ._source.v]')" '[5,"five again"]' \
	"the equal version replaced the document, the older did not"

got=$(bulk "$(act delete 1 6)" "$(act index 1 5)" '{"id":1,"v":"late"}' "$(act index 1 6)" '{"id":1,"v":"six"}')
is "$got" "200 409 201" "after a delete at 6: a write at 5 is stale, one at 6 recreates"

# ---- _mget
es_curl POST "/_mget" "{\"docs\":[{\"_index\":\"$I\",\"_id\":\"1\"},{\"_index\":\"$I\",\"_id\":\"2\"},{\"_index\":\"$I\",\"_id\":\"3\"}]}" >"$TEST_TMP/mget.json"
is "$(jq -c '[.docs[] | [._id, .found]]' "$TEST_TMP/mget.json")" '[["1",true],["2",true],["3",false]]' "_mget finds what is there"
# (not through jq 1.6, which turns 2^63-1 into a double)
is "$(grep -o '"_version":[0-9]*' "$TEST_TMP/mget.json" | cut -d: -f2 | tr '\n' ' ')" "6 9223372036854775807 " \
	"and gives the versions exactly"

# ---- scroll search
S=${P}scroll
for ((i = 1; i <= 25; i++)); do
	printf '{"index":{"_index":"%s","_id":"%d"}}\n{"n":%d}\n' "$S" "$i" "$i"
done | es_curl POST "/_bulk?refresh=true" - | jq -e '.errors == false' >/dev/null
ok $? "25 documents indexed for the scroll"
page=$(es_curl POST "/$S/_search?scroll=1m" '{"size":10,"sort":["_doc"]}')
ids=$(jq -r '.hits.hits[]._id' <<<"$page")
sid=$(jq -r ._scroll_id <<<"$page")
pages=1
while :; do
	page=$(es_curl POST "/_search/scroll" "{\"scroll\":\"1m\",\"scroll_id\":\"$sid\"}") || break
	n=$(jq '.hits.hits | length' <<<"$page")
	[ "$n" -gt 0 ] || break
	ids+=$'\n'$(jq -r '.hits.hits[]._id' <<<"$page")
	sid=$(jq -r ._scroll_id <<<"$page")
	pages=$((pages + 1))
done
is "$pages" 3 "the scroll came in 3 pages of at most 10"
is "$(sort -n <<<"$ids" | tr '\n' ' ')" "$(seq 1 25 | tr '\n' ' ')" "and gave every document once"
is "$(es_curl DELETE "/_search/scroll" "{\"scroll_id\":\"$sid\"}" | jq -r .succeeded)" true "clearing the scroll works"

# ---- index templates and cluster settings (the sink's start-up checks)
es_curl PUT "/_index_template/${P}tpl" \
	"{\"index_patterns\":[\"${P}tpl-*\"],\"template\":{\"settings\":{\"number_of_replicas\":0},\"mappings\":{\"properties\":{\"n\":{\"type\":\"long\"}}}}}" >/dev/null
ok $? "an index template can be put"
at_exit "es_curl DELETE '/_index_template/${P}tpl' >/dev/null"
is "$(es_curl POST "/_index_template/_simulate_index/${P}tpl-1" | jq -r .template.mappings.properties.n.type)" long \
	"_index_template/_simulate_index shows what an index would get"
is "$(es_curl GET "/_cluster/settings?include_defaults=true&filter_path=defaults.http.max_content_length" |
	jq -r .defaults.http.max_content_length)" 100mb "_cluster/settings?include_defaults shows http.max_content_length"

# ---- _delete_by_query: not on our Elasticsearch 8/9 nodes
case $kind in
es8 | es9) want=no ;;
*) want=yes ;;
esac
if es_has_delete_by_query; then have=yes; else have=no; fi
is "$have" "$want" "_delete_by_query served: $want on $kind (reindex module)"

# ---- a 50 MB document: the server must not run out of heap
B=${P}big
{
	printf '{"index":{"_index":"%s","_id":"1","version":1,"version_type":"external_gte"}}\n' "$B"
	printf '{"id":1,"blob":"'
	head -c $((50 * 1024 * 1024)) /dev/zero | tr '\0' x
	printf '"}\n'
} >"$TEST_TMP/big.ndjson"
es_curl POST "/_bulk" - <"$TEST_TMP/big.ndjson" >"$TEST_TMP/big.json"
rc=$?
rm -f "$TEST_TMP/big.ndjson"
status=$(jq -r '.items[0].index.status' "$TEST_TMP/big.json" 2>/dev/null)
note "50 MB document: curl $rc, item status ${status:-none} $(jq -c '.items[0].index.error.reason // empty' "$TEST_TMP/big.json" 2>/dev/null | cut -c1-200)"
like "$rc:$status" '^0:(201|429)$' "a 50 MB document is indexed (or refused by the item, es9's per-operation limit)"
like "$(es_curl GET /_cluster/health | jq -r .status)" '^(green|yellow)$' "the server is still up after it"

# ---- restarts keep what was acknowledged
if [ "${CDC_TEST_ES_MANAGED:-0}" = 1 ]; then
	bulk "$(act index 10 1)" '{"id":10}' >/dev/null
	services es-restart kill
	ok $? "services.sh es-restart kill"
	is "$(es_curl GET "/$I/_doc/10" | jq -r ._version)" 1 "an acknowledged write survives a kill -9"
else
	skip "the server comes from CDC_TEST_ES_URL" 2
fi

done_testing
