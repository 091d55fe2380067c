#!/usr/bin/env bash
# cdc-sink-es against a real OpenSearch: every op, versioning (old events
# never win, replays change nothing), ids, the checkpoint, bad input,
# soft deletes, truncate, index creation, dry runs, usage.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es
need_es
SINK=$CDC_BIN/cdc-sink-es
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

# ev OP KEY-JSON COMMIT SEQ AFTER-JSON [EXTRA-JSON] [TABLE]: one event line.
ev() {
	jq -cn --arg op "$1" --argjson key "$2" --argjson lsn "$3" --argjson seq "$4" \
		--argjson after "${5:-null}" --argjson extra "${6:-{\}}" --arg table "${7:-t}" '
	{op:$op, before:null, after:$after, key:$key,
	 source:{version:"0.1.0",connector:"postgresql",name:"slot1",db:"shop",schema:"public",
	         table:$table,txId:1,lsn:$lsn,commit_lsn:$lsn,seq:$seq,ts_ms:1700000000000,
	         snapshot:"false"},
	 ts_ms:1700000000100} + $extra'
}
# The index's documents as sorted "id source" lines.
docs() {
	es_curl POST "/$1/_refresh" >/dev/null 2>&1
	es_curl GET "/$1/_search?size=10000&version=true" |
		jq -r '.hits.hits | sort_by(._id)[] | "\(._id) \(._source|tojson)"'
}
versions() {
	es_curl GET "/$1/_search?size=10000&version=true" | jq -r '.hits.hits | sort_by(._id)[] | "\(._id)=\(._version)"' | tr '\n' ' '
}
sink() { "$SINK" --url "$U" "$@"; }

# ---- every op
{
	ev r '{"id":1}' 100 1 '{"id":1,"s":"snap"}' '{"source":{"name":"slot1","db":"shop","schema":"public","table":"t","commit_lsn":100,"seq":1,"lsn":100,"ts_ms":1,"snapshot":"true"}}'
	ev c '{"id":2}' 200 1 '{"id":2,"s":"new"}'
	ev c '{"id":3}' 200 2 '{"id":3,"s":"gone soon"}'
	ev u '{"id":2}' 300 1 '{"id":2,"s":"paid"}'
	ev d '{"id":3}' 300 2
	jq -cn '{op:"m",message:{prefix:"p",content:"eA==",transactional:false},source:{name:"slot1",db:"shop",lsn:310,commit_lsn:310,seq:0,ts_ms:1,snapshot:"false"}}'
	jq -cn '{op:"heartbeat",source:{name:"slot1",db:"shop",lsn:400,commit_lsn:400,seq:0,ts_ms:1,snapshot:"false"}}'
} >ops.ndjson
sink --index "${P}{table}" --checkpoint ck1 <ops.ndjson 2>err.txt
ok $? "c r u d m heartbeat: exit 0"
is "$(docs "${P}t")" '1 {"id":1,"s":"snap"}
2 {"id":2,"s":"paid"}' "r and c index, u replaces, d deletes"
is "$(versions "${P}t")" "1=100 2=300 " "version = source.commit_lsn"
is "$(grep -E '^(position|snapshot|name|writer)=' ck1 | tr '\n' ' ')" \
	"position=0/190:0 snapshot=false name=slot1 writer=cdc-sink-es " \
	"checkpoint at the heartbeat (m and control events advance it)"
is "$(stat -c %a ck1)" 600 "checkpoint file is private"
like "$(cat err.txt)" "gc_deletes is 60s" "warns about index.gc_deletes"

# ---- older events never overwrite newer ones; the same stream twice changes nothing
before=$(docs "${P}t"; versions "${P}t")
sink -q --index "${P}{table}" <ops.ndjson
ok $? "the same stream again: exit 0"
is "$(docs "${P}t"; versions "${P}t")" "$before" "the same stream twice changes nothing"
{
	ev c '{"id":2}' 200 1 '{"id":2,"s":"OLD"}'
	ev c '{"id":3}' 200 2 '{"id":3,"s":"OLD, deleted later"}'
	ev r '{"id":1}' 50 1 '{"id":1,"s":"OLDER"}'
} >old.ndjson
sink -q --index "${P}{table}" --stats <old.ndjson 2>err.txt
ok $? "replaying older events: exit 0"
is "$(docs "${P}t")" "$(printf '%s\n' '1 {"id":1,"s":"snap"}' '2 {"id":2,"s":"paid"}')" \
	"replaying older events after newer ones leaves the newest (and no resurrection)"
like "$(cat err.txt)" "3 stale \(409\)" "stale actions counted"

# ---- checkpoint: events at or below it are skipped
sink -q --index "${P}{table}" --checkpoint ck1 --stats <ops.ndjson 2>err.txt
like "$(cat err.txt)" "total: 7 events in .*, 0 out, 7 skipped" "everything at or below the checkpoint is skipped"
{ cat ops.ndjson; ev c '{"id":9}' 500 1 '{"id":9}'; } | sink -q --index "${P}{table}" --checkpoint ck1 --stats 2>err.txt
like "$(cat err.txt)" "total: 8 events in .*, 1 out, 7 skipped, .*; 1 docs indexed" "only the new event is applied"
is "$(grep ^position= ck1)" "position=0/1F4:1" "checkpoint moves on"

# ---- one transaction changing a row twice (same version): the last one wins
{
	ev u '{"id":9}' 600 1 '{"id":9,"s":"first"}'
	ev u '{"id":9}' 600 2 '{"id":9,"s":"second"}'
	ev d '{"id":9}' 600 3
	ev c '{"id":9}' 600 4 '{"id":9,"s":"reinserted"}'
} >tx.ndjson
sink -q --index "${P}{table}" <tx.ndjson && sink -q --index "${P}{table}" <tx.ndjson
is "$(docs "${P}t" | grep '^9 ')" '9 {"id":9,"s":"reinserted"}' "same-transaction changes apply in order (twice)"

# ---- ids: several columns, escaping, long ids, key changes
long=$(printf 'k%.0s' $(seq 600))
{
	ev c '{"a":1,"b":"x,y"}' 700 1 '{"k":"1"}'
	ev c '{"a":"1,x","b":"y"}' 700 2 '{"k":"2"}'
	ev c '{"a":"50%"}' 700 3 '{"k":"3"}'
	ev c "{\"a\":\"$long\"}" 700 4 '{"k":"4"}'
	ev c '{"id":"old"}' 700 5 '{"k":"5"}'
} >ids.ndjson
jq -cn '{op:"u",before:{id:"old"},after:{k:"6"},key:{id:"new"},
	source:{name:"slot1",db:"shop",schema:"public",table:"ids",lsn:800,commit_lsn:800,seq:1,ts_ms:1,snapshot:"false"}}' >>ids.ndjson
sed -i 's/"table":"t"/"table":"ids"/' ids.ndjson
sink -q --index "${P}{table}" <ids.ndjson
ok $? "ids: exit 0"
want_hash=$(printf '%s' "$long" | sha256sum | cut -d' ' -f1)
is "$(docs "${P}ids" | cut -d' ' -f1 | sort | tr '\n' ' ')" \
	"$(printf '%s\n' '1%2Cx,y' '1,x%2Cy' '50%' new "sha256:$want_hash" | sort | tr '\n' ' ')" \
	"multi-column ids joined unambiguously, single '50%' as is, long id hashed, key change moves the document"

# ---- bad input: stop (default), --skip-bad, --dead-letter
{
	ev c '{"id":20}' 900 1 '{"id":20}'
	echo 'not json'
	ev c '{"id":21}' 901 1 '{"id":21}'
} >bad.ndjson
rm -f ck2
sink -q --index "${P}bad" --checkpoint ck2 <bad.ndjson 2>err.txt
is "$?" 65 "bad line: exit 65 under the default stop policy"
like "$(cat err.txt)" "line 2: " "the message names the line"
is "$(grep ^position= ck2)" "position=0/384:1" "checkpoint just before the bad line"
is "$(docs "${P}bad" | cut -d' ' -f1 | tr '\n' ' ')" "20 " "nothing after the bad line applied"
sink -q --index "${P}bad" --skip-bad <bad.ndjson
ok $? "--skip-bad: exit 0"
is "$(docs "${P}bad" | cut -d' ' -f1 | tr '\n' ' ')" "20 21 " "--skip-bad goes on"
{
	ev c '{"id":22}' 902 1 '{"id":22}'
	ev c 'null' 903 1 '{"x":1}'
	# (not ev: jq would keep one of the two)
	ev c '{"id":24}' 903 2 '{"id":24}' | sed 's/"key":{"id":24}/"key":{"id":24,"id":25}/'
	printf '{"op":"c","after":{"x":"\xff"}}\n'
	ev c '{"id":23}' 904 1 '{"id":23}'
} >bad2.ndjson
rm -f ck3 dl.ndjson
sink -q --index "${P}bad" --dead-letter dl.ndjson --checkpoint ck3 <bad2.ndjson
ok $? "--dead-letter: exit 0"
is "$(jq -r '"\(.line) \(.reason)"' dl.ndjson | tr '\n' '|')" \
	"2 no key|3 key names a column twice|4 invalid UTF-8 at byte 25|" \
	"dead letters: no key, a key column twice, invalid UTF-8"
is "$(jq -r 'has("input_base64")' dl.ndjson | tr '\n' ' ')" "false false true " "invalid UTF-8 kept as base64"
is "$(grep ^position= ck3)" "position=0/388:1" "the checkpoint passes dead-lettered events"
is "$(stat -c %a dl.ndjson)" 600 "dead-letter file is private"

# ---- soft delete keeps the version
{
	ev c '{"id":30}' 1000 1 '{"id":30,"s":"x"}'
	ev d '{"id":30}' 1100 1
} >soft.ndjson
sink -q --index "${P}soft" --soft-delete <soft.ndjson
ok $? "--soft-delete: exit 0"
is "$(docs "${P}soft")" '30 {"id":30,"__deleted":true}' "a soft delete leaves the key and the marker"
ev c '{"id":30}' 1000 1 '{"id":30,"s":"x"}' | sink -q --index "${P}soft" --soft-delete
is "$(docs "${P}soft"; versions "${P}soft")" '30 {"id":30,"__deleted":true}
30=1100 ' "an older event cannot bring a soft-deleted document back"

# ---- truncate
{
	ev c '{"id":1}' 2000 1 '{"id":1}' '{}' tr
	ev c '{"id":2}' 2000 2 '{"id":2}' '{}' tr
	jq -cn '{op:"t",before:null,after:null,key:null,truncate:{cascade:false,restart_identity:false},
		source:{name:"slot1",db:"shop",schema:"public",table:"tr",lsn:2100,commit_lsn:2100,seq:1,ts_ms:1,snapshot:"false"}}'
	ev c '{"id":3}' 2200 1 '{"id":3}' '{}' tr
} >trunc.ndjson
sink -q --index "${P}{table}" <trunc.ndjson
ok $? "truncate: exit 0"
is "$(docs "${P}tr" | cut -d' ' -f1 | tr '\n' ' ')" "3 " "truncate deletes the table's documents before later events"
sink -q --index "${P}tr2" <trunc.ndjson 2>err.txt
is "$?" 65 "truncate with an index template without {table}: refused (65)"
like "$(cat err.txt)" "no \{table\}" "and says why"
sink -q --index "${P}{table}x" --truncate skip <trunc.ndjson
is "$(docs "${P}trx" | cut -d' ' -f1 | tr '\n' ' ')" "1 2 3 " "--truncate skip ignores it"
sink -q --index "${P}{table}y" --truncate stop <trunc.ndjson 2>err.txt
is "$?" 65 "--truncate stop: exit 65"

# ---- --create-index, --pipeline-free mapping check, metrics, stats
echo '{"settings":{"number_of_shards":2,"number_of_replicas":0},"mappings":{"properties":{"s":{"type":"keyword"}}}}' >create.json
ev c '{"id":1}' 3000 1 '{"id":1,"s":"k"}' | sink -q --index "${P}created" --create-index create.json --metrics-file m.prom
ok $? "--create-index: exit 0"
is "$(es_curl GET "/${P}created/_settings" | jq -r '.[].settings.index.number_of_shards')" 2 "index created with the settings file"
is "$(es_curl GET "/${P}created/_mapping" | jq -r '.[].mappings.properties.s.type')" keyword "and its mappings"
like "$(cat m.prom)" 'cdc_sink_es_docs_indexed_total\{program="cdc-sink-es",source="[^"]*"\} 1' "metrics file in Prometheus text format"
like "$(cat m.prom)" 'cdc_checkpoint_commit_lsn\{program="cdc-sink-es",source="[^"]*"\} 3000' "metrics carry the checkpoint"
like "$(cat m.prom)" 'cdc_events_out_total\{program="cdc-sink-es",source="[^"]*"\} 1' "the shared names"
like "$(cat m.prom)" 'cdc_sink_es_request_actions_bucket\{program="cdc-sink-es",source="[^"]*",le="1"\} 1' \
	"the actions per request as a histogram: one request of one action"
like "$(cat m.prom)" 'cdc_sink_es_request_actions_count\{program="cdc-sink-es",source="[^"]*"\} 1' "... its count"

# ---- index.gc_deletes: warned about once per index, only when short
echo '{"settings":{"index.gc_deletes":"30m"}}' >gc30m.json
{
	ev c '{"id":1}' 100 1 '{"id":1}' '{}' a
	ev c '{"id":2}' 100 2 '{"id":2}' '{}' a
	ev c '{"id":1}' 100 3 '{"id":1}' '{}' b
} >gc.ndjson
sink --index "${P}gc30-{table}" --create-index gc30m.json <gc.ndjson 2>err.txt
ok $? "--create-index with gc_deletes 30m: exit 0"
is "$(es_curl GET "/${P}gc30-a/_settings" | jq -r '.[].settings.index.gc_deletes')" 30m "the index has 30m"
unlike "$(cat err.txt)" "gc_deletes" "no gc_deletes warning for 30m (nor the default before creating)"
sink --index "${P}gc30-{table}" <gc.ndjson 2>err.txt
unlike "$(cat err.txt)" "gc_deletes" "nor when the existing index has 30m"
sink --index "${P}gc60-{table}" <gc.ndjson 2>err.txt
is "$(grep -c 'gc_deletes is 60s' err.txt)" 2 "the default 60s: one warning per index"
like "$(cat err.txt)" "index ${P}gc60-a: index.gc_deletes is 60s" "naming the index"
sink --index "${P}gc60-{table}" --soft-delete <gc.ndjson 2>err.txt
unlike "$(cat err.txt)" "gc_deletes" "no warning with --soft-delete"

# ---- dry run
out=$(ev c '{"id":1}' 4000 1 '{"id":1}' | "$SINK" --index "x-{table}" --dry-run)
is "$out" '{"index":{"_index":"x-t","_id":"1","version":4000,"version_type":"external_gte"}}
{"id":1}' "--dry-run prints the bulk body (no server needed)"

# ---- usage and credentials
"$SINK" --help >help.txt
ok $? "--help exits 0"
like "$(head -1 help.txt)" "^Usage: cdc-sink-es" "--help prints usage"
"$SINK" --url "$U" </dev/null 2>err.txt
is "$?" 2 "missing --index: exit 2"
like "$(cat err.txt)" "Try 'cdc-sink-es --help'" "usage hint"
"$SINK" --bogus 2>/dev/null
is "$?" 2 "unknown option: exit 2"
"$SINK" --url "http://u:secret@127.0.0.1:1" --index x </dev/null 2>err.txt
is "$?" 2 "credentials in --url refused"
unlike "$(cat err.txt)" "secret" "and not echoed"
# getopt_long would take "--password X" as --password-file X: every
# abbreviation of a credential-file option is refused, the value not shown.
for a in "--password=Sekr3t-v" "--password Sekr3t-v" "--pass Sekr3t-v" "--password-f Sekr3t-v" \
	"--api-key Sekr3t-v" "--api-key=Sekr3t-v" "--api-key-f Sekr3t-v" "--netrc Sekr3t-v"; do
	# shellcheck disable=SC2086
	"$SINK" --url http://127.0.0.1:1 --index x $a </dev/null >out.txt 2>err.txt
	is "$?" 2 "$a: usage error"
	unlike "$(cat err.txt)" "Sekr3t" "$a: the value is not repeated"
done
"$SINK" --url http://127.0.0.1:1 --index x --password Sekr3t-v </dev/null 2>err.txt
like "$(cat err.txt)" 'CDC_ES_PASSWORD or --password-file FILE' "--password: names the right way"
"$SINK" --url http://127.0.0.1:1 --index x --api-key Sekr3t-v </dev/null 2>err.txt
like "$(cat err.txt)" 'CDC_ES_API_KEY or --api-key-file FILE' "--api-key: names the right way"
"$SINK" --url http://127.0.0.1:1 --index x --es-password=Sekr3t-v </dev/null 2>err.txt
is "$?" 2 "an unknown --opt=VALUE: usage error"
unlike "$(cat err.txt)" "Sekr3t" "... without repeating the value"
echo pw >pw.txt
chmod 600 pw.txt
CDC_ES_USER=u "$SINK" -n --index x --password-file=pw.txt </dev/null
is "$?" 0 "--password-file=FILE spelled out is accepted"
chmod 644 pw.txt
CDC_ES_USER=u "$SINK" --url "$U" --index x --password-file pw.txt </dev/null 2>err.txt
is "$?" 1 "a password file readable by others is refused"
like "$(cat err.txt)" "chmod 600" "with a hint"
CDC_ES_URL="http://elastic:topsecret@127.0.0.1:1" "$SINK" --index x --max-retries 0 </dev/null 2>err.txt
is "$?" 75 "server unreachable at start: exit 75"
unlike "$(cat err.txt)" "topsecret" "credentials from CDC_ES_URL never printed"

printf 'version=1\ncommit_lsn=zz\nseq=1\n' >badck
ev c '{"id":1}' 100 1 '{"id":1}' | sink -q --index "${P}x" --checkpoint badck 2>err.txt
is "$?" 1 "a malformed checkpoint file: exit 1"
like "$(cat err.txt)" "badck" "the message names the file"
echo '[1,2]' >bad-create.json
"$SINK" --url "$U" --index x --create-index bad-create.json </dev/null 2>err.txt
is "$?" 1 "--create-index with a file that is not a JSON object: exit 1"
printf 'version=1\ncommit_lsn=0/1\nseq=0\nname=otherslot\n' >otherck
ev c '{"id":1}' 100 1 '{"id":1}' | sink -q --index "${P}x" --checkpoint otherck 2>err.txt
is "$?" 1 "a checkpoint of another source is refused"
like "$(cat err.txt)" "otherslot" "naming both sources"
ev c '{"id":1}' 100 1 '{"id":1}' | "$SINK" --index x --dry-run --workers 0 2>/dev/null
is "$?" 2 "--workers 0: usage error"

done_testing
