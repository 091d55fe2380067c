#!/usr/bin/env bash
# cdc-sink-es when things go wrong: item errors under both policies, the
# TOAST case, and faults injected by tests/proxy/faultproxy.py in front of
# the real OpenSearch (429/503 items and requests, resets, slow answers,
# 413, a server gone for 10 s, 401, write blocks, failover).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es
need_es
command -v python3 >/dev/null || skip_all "python3 is needed for the fault proxy"
SINK=$CDC_BIN/cdc-sink-es
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

spawn python3 "$TEST_ROOT/tests/proxy/faultproxy.py" --upstream "$U" --port-file "$TEST_TMP/pf"
wait_for "test -s $TEST_TMP/pf" 10 || bail_out "the fault proxy did not start"
read -r PPORT CPORT <pf
PROXY=http://127.0.0.1:$PPORT
ctl() { curl -sf "http://127.0.0.1:$CPORT/$1" >/dev/null; }
pstat() { curl -sf "http://127.0.0.1:$CPORT/stats" | jq -r ".$1"; }

ev() {
	jq -cn --arg op "$1" --argjson key "$2" --argjson lsn "$3" --argjson seq "$4" \
		--argjson after "${5:-null}" --argjson extra "${6:-{\}}" '
	{op:$op, before:null, after:$after, key:$key,
	 source:{name:"slot1",db:"shop",schema:"public",table:"t",lsn:$lsn,commit_lsn:$lsn,
	         seq:$seq,ts_ms:1700000000000,snapshot:"false"}} + $extra'
}
# N events over 300 ids: inserts, updates, every 7th a delete; commit LSNs from BASE.
gen() {
	jq -cn --argjson n "$1" --argjson base "${2:-1000}" '
	range(0;$n) as $i | ($i % 300) as $id |
	(if $i % 7 == 6 then "d" elif $i < 300 then "c" else "u" end) as $op |
	{op:$op, before:null, after:(if $op == "d" then null else {id:$id, v:$i, pad:("x" * ($i % 50))} end),
	 key:{id:$id}, source:{name:"slot1",db:"shop",schema:"public",table:"t",lsn:($base+$i*10),
	 commit_lsn:($base+$i*10),seq:1,ts_ms:1700000000000,snapshot:"false"}}'
}
expected() {
	jq -s -r 'reduce .[] as $e ({}; if $e.op == "d" then del(.[($e.key.id|tostring)])
		else .[($e.key.id|tostring)] = $e.after end) | to_entries | sort_by(.key)[] |
		"\(.key) \(.value|tojson)"' "$@"
}
docs() {
	es_curl POST "/$1/_refresh" >/dev/null 2>&1
	es_curl GET "/$1/_search?size=10000" | jq -r '.hits.hits | sort_by(._id)[] | "\(._id) \(._source|tojson)"'
}

# ---- a mapping error: stop (default)
{
	ev c '{"id":1}' 100 1 '{"id":1,"n":1}'
	ev c '{"id":2}' 200 1 '{"id":2,"n":2}'
	ev c '{"id":3}' 300 1 '{"id":3,"n":"not a number"}'
	ev c '{"id":4}' 400 1 '{"id":4,"n":4}'
} >map.ndjson
echo '{"mappings":{"properties":{"n":{"type":"long"}}}}' >map.json
"$SINK" -q --url "$U" --index "${P}map" --create-index map.json --checkpoint ck <map.ndjson 2>err.txt
is "$?" 65 "mapping error: data-error exit under the stop policy"
like "$(cat err.txt)" "line 3 \(position 0/12C:1\): index ${P}map, id 3: HTTP 400 (mapper|document)_parsing_exception" \
	"message names line, position, index, id and reason"
unlike "$(cat err.txt)" "not a number" "no row value in the message"
is "$(grep ^position= ck)" "position=0/C8:1" "checkpoint just before the failed event"
"$SINK" -q --url "$U" --index "${P}map" --checkpoint ck <map.ndjson 2>/dev/null
is "$?" 65 "restarted: stops at the same event again"

# ---- the same under --dead-letter
"$SINK" -q --url "$U" --index "${P}map2" --create-index map.json --checkpoint ck2 --dead-letter dl.ndjson <map.ndjson
ok $? "mapping error with --dead-letter: exit 0"
is "$(jq -c '[.line,.status,.index,.id,.position,(.reason|startswith("HTTP 400 "))]' dl.ndjson)" \
	"[3,400,\"${P}map2\",\"3\",\"0/12C:1\",true]" "dead letter: line, status, index, id, position, reason"
is "$(jq -r .input dl.ndjson)" "$(sed -n 3p map.ndjson)" "dead letter keeps the original line"
is "$(docs "${P}map2" | cut -d' ' -f1 | tr '\n' ' ')" "1 2 4 " "the other events are applied"
is "$(grep ^position= ck2)" "position=0/190:1" "checkpoint passes the dead-lettered event"

# ---- unchanged TOAST columns keep their stored value
big=$(head -c 30000 /dev/zero | tr '\0' 'B')
{
	ev c '{"id":1}' 100 1 "{\"id\":1,\"big\":\"$big\",\"n\":1}"
	ev u '{"id":1}' 200 1 '{"id":1,"n":2}' '{"unchanged_toast":["big"]}'
	ev u '{"id":1}' 300 1 '{"id":1,"n":3}' '{"unchanged_toast":["big"]}'
	ev c '{"id":2}' 300 2 '{"id":2,"big":"small","n":1}'
} >toast.ndjson
"$SINK" -q --url "$U" --index "${P}toast" <toast.ndjson
ok $? "TOAST events: exit 0"
is "$(docs "${P}toast" | jq -Rrc 'split(" ")[1] | fromjson | [.id, .n, (.big|length)]' | tr '\n' ' ')" \
	"[1,3,30000] [2,1,5] " "the unchanged TOAST column keeps its stored value, the rest is updated"
ev u '{"id":2}' 400 1 '{"id":2,"n":9}' '{"unchanged_toast":["big"]}' |
	"$SINK" -q --url "$U" --index "${P}toast" --batch-docs 1
is "$(docs "${P}toast" | sed -n 2p)" '2 {"id":2,"n":9,"big":"small"}' "TOAST merge in a later run"
ev u '{"id":1}' 250 1 '{"id":1,"n":-1}' '{"unchanged_toast":["big"]}' |
	"$SINK" -q --url "$U" --index "${P}toast" --stats 2>err.txt
like "$(cat err.txt)" "1 stale" "an older TOAST event is stale"
is "$(docs "${P}toast" | head -1 | jq -Rrc 'split(" ")[1] | fromjson | .n')" 3 "and changes nothing"
ev u '{"id":7}' 500 1 '{"id":7,"n":1}' '{"unchanged_toast":["big"]}' |
	"$SINK" -q --url "$U" --index "${P}toast" 2>err.txt
is "$?" 65 "TOAST event for a document the index does not have: stop"
like "$(cat err.txt)" "no stored document" "with the reason"

# ---- a key change keeps unchanged TOAST columns: they come from the OLD id's document
# (PostgreSQL: UPDATE t SET id = ... on a row whose TOASTed column is unchanged;
# "before" holds the old key only.)
mv() { ev u "{\"id\":$2}" "$3" 1 "{\"id\":$2,\"n\":$3}" "{\"before\":{\"id\":$1},\"unchanged_toast\":[\"big\"]}"; }
{
	ev c '{"id":1}' 100 1 '{"id":1,"v":"a","big":"BIGVALUE"}'
	ev u '{"id":5}' 300 1 '{"id":5,"v":"a"}' '{"before":{"id":1},"unchanged_toast":["big"]}'
} >moved1.ndjson
"$SINK" -q --url "$U" --index "${P}moved" <moved1.ndjson 2>err.txt
ok $? "key change with an unchanged TOAST column, old document in the same batch: exit 0"
is "$(docs "${P}moved")" '5 {"id":5,"v":"a","big":"BIGVALUE"}' \
	"the new id has the old document's TOAST value; the old id is deleted"
# Stored in an earlier run; several lanes; moved twice and updated in one input.
for i in $(seq 10 29); do ev c "{\"id\":$i}" 1000 "$i" "{\"id\":$i,\"n\":0,\"big\":\"B$i\"}"; done >moved2a.ndjson
"$SINK" -q --url "$U" --index "${P}moved2" <moved2a.ndjson
{
	for i in $(seq 10 29); do mv "$i" $((i + 100)) $((2000 + i)); done
	for i in $(seq 10 29); do mv $((i + 100)) $((i + 200)) $((3000 + i)); done
	for i in $(seq 10 29); do
		ev u "{\"id\":$((i + 200))}" $((4000 + i)) 1 "{\"id\":$((i + 200)),\"n\":$((4000 + i))}" \
			'{"unchanged_toast":["big"]}'
	done
} >moved2b.ndjson
"$SINK" -q --url "$U" --index "${P}moved2" --workers 4 --batch-docs 7 <moved2b.ndjson 2>err.txt
ok $? "keys changed twice across lanes, then updated: exit 0"
want=$(for i in $(seq 10 29); do printf '%s {"id":%s,"n":%s,"big":"B%s"}\n' $((i + 200)) $((i + 200)) $((4000 + i)) "$i"; done)
is "$(docs "${P}moved2")" "$want" "every row ends under its last key with its TOAST value, no old ids left"
"$SINK" -q --url "$U" --index "${P}moved2" --workers 4 <moved2b.ndjson 2>err.txt
ok $? "the same input again (a re-delivery after the old ids are gone): exit 0"
is "$(docs "${P}moved2")" "$want" "and changes nothing"
# Neither the old nor the new id has a document (the old one was filtered out).
mv 66 77 500 >moved3.ndjson
"$SINK" -q --url "$U" --index "${P}moved" <moved3.ndjson 2>err.txt
is "$?" 65 "key change, no stored document under either id: stop"
like "$(cat err.txt)" "line 1 .*key changed and neither the old nor the new id has a stored document" \
	"with a reason naming the key change"
"$SINK" -q --url "$U" --index "${P}moved" --dead-letter moved.dl <moved3.ndjson 2>err.txt
ok $? "... with --dead-letter: exit 0"
is "$(jq -c '[.line,(.reason|test("key changed"))]' moved.dl)" '[1,true]' "and the event is dead-lettered"
# --soft-delete: the old id gets the marker, the new one the merged document.
"$SINK" -q --url "$U" --index "${P}movedsoft" --soft-delete <moved1.ndjson
ok $? "key change with TOAST under --soft-delete: exit 0"
is "$(docs "${P}movedsoft")" '1 {"id":1,"__deleted":true}
5 {"id":5,"v":"a","big":"BIGVALUE"}' "old id marked deleted, new id merged"

# ---- 429 items, 503 and reset requests, slow answers: nothing lost, nothing doubled
gen 3000 >many.ndjson
expected many.ndjson >want.txt
ctl clear
ctl "items?code=429&count=40"
ctl "status?code=503&count=2"
ctl "reset?count=2"
ctl "status?code=429&count=1"
"$SINK" -q --url "$PROXY" --index "${P}faults" --workers 4 --batch-docs 200 --backoff 20ms --stats <many.ndjson 2>err.txt
ok $? "429/503 items and requests, resets: exit 0"
is "$(docs "${P}faults")" "$(cat want.txt)" "the index equals the stream's end state"
is "$(pstat items) $(pstat status) $(pstat resets) $(pstat pending_rules)" "40 3 2 0" "every fault was injected"
like "$(cat err.txt)" "[1-9][0-9]* retries" "retries counted"

ctl clear
ctl "delay?ms=2500&count=2"
"$SINK" -q --url "$PROXY" --index "${P}slow" --timeout 1s --backoff 20ms --batch-docs 500 <many.ndjson
ok $? "slow answers past --timeout: retried, exit 0"
is "$(docs "${P}slow")" "$(cat want.txt)" "nothing lost with slow answers"

# ---- waiting for a slow answer while the input trickles: no busy loop
# (the other lane gathers; nothing is due until the answer comes)
ctl clear
ctl "delay?ms=1500&count=1"
d0=$(pstat delays)
TIMEFORMAT='%U %S'
head -n 40 many.ndjson | while IFS= read -r l; do printf '%s\n' "$l"; sleep 0.05; done |
	{ time "$SINK" -q --url "$PROXY" --index "${P}trickle" --workers 2 2>err.txt; } 2>cpu.txt
ok $? "a trickle during a slow answer: exit 0"
is "$(pstat delays)" $((d0 + 1)) "the answer was held"
cpu=$(awk '{ print $1 + $2 }' cpu.txt)
ok "$(awk -v c="$cpu" 'BEGIN { print (c < 0.5) ? 0 : 1 }')" \
	"the sink waited without spinning: $cpu s of CPU over about 2 s"

# ---- 413: split and resend
ctl clear
ctl "maxbody?bytes=20000"
"$SINK" --url "$PROXY" --index "${P}split" --batch-docs 1000 <many.ndjson 2>err.txt
ok $? "413: exit 0"
like "$(cat err.txt)" "HTTP 413 .* splitting" "says it splits"
is "$(docs "${P}split")" "$(cat want.txt)" "all documents arrive after splitting"
[ "$(pstat max_body_seen)" -gt 20000 ] && [ "$(pstat too_large)" -ge 1 ]
ok $? "the proxy did refuse large bodies"
ev c '{"id":1}' 100 1 "{\"id\":1,\"big\":\"$big\"}" >huge.ndjson
ev c '{"id":2}' 200 1 '{"id":2}' >>huge.ndjson
"$SINK" -q --url "$PROXY" --index "${P}split2" --dead-letter dl413.ndjson <huge.ndjson
ok $? "one action over the limit: dead-lettered, exit 0"
is "$(jq -r .status dl413.ndjson)" 413 "dead letter status 413"
is "$(docs "${P}split2" | cut -d' ' -f1)" 2 "the rest applied"
ctl clear

# ---- the server gone for 10 s mid-stream: the sink waits, nothing is lost
gen 2000 >first.ndjson
gen 2000 100000 | sed 's/"table":"t"/"table":"t"/' >second.ndjson
cat first.ndjson second.ndjson >both.ndjson
expected both.ndjson >want2.txt
rm -f ckd
start=$(date +%s)
{
	cat first.ndjson
	sleep 1
	ctl "down?secs=10"
	cat second.ndjson
} | "$SINK" --url "$PROXY" --index "${P}down" --checkpoint ckd --backoff 200ms 2>err.txt
rc=$?
end=$(date +%s)
is "$rc" 0 "server down 10 s: exit 0"
[ $((end - start)) -ge 10 ]
ok $? "the sink waited for the server ($((end - start)) s)"
like "$(cat err.txt)" "retrying" "it said it retries"
is "$(docs "${P}down")" "$(cat want2.txt)" "nothing lost while the server was down"
is "$(grep ^position= ckd)" "position=$(tail -1 second.ndjson | jq -r '.source.commit_lsn' | awk '{printf "0/%X", $1}'):1" \
	"checkpoint at the last event"

# ---- retries run out: exit 75, checkpoint before what is not applied
rm -f ckr
{
	ev c '{"id":1}' 100 1 '{"id":1}'
	sleep 1
	ctl "down?secs=8"
	ev c '{"id":2}' 200 1 '{"id":2}'
} | "$SINK" -q --url "$PROXY" --index "${P}giveup" --checkpoint ckr --max-retries 2 --backoff 100ms 2>err.txt
is "$?" 75 "retries exhausted: temporary-failure exit"
like "$(cat err.txt)" "giving up after 2 retries" "says so"
is "$(grep ^position= ckr)" "position=0/64:1" "checkpoint holds what was applied"
ctl clear
wait_for "curl -sf $PROXY/ >/dev/null" 15

# ---- 401 stops; a write block pauses and retries
ctl "status?code=401&count=1"
ev c '{"id":1}' 100 1 '{"id":1}' | "$SINK" -q --url "$PROXY" --index "${P}auth" 2>err.txt
is "$?" 1 "401: exit 1"
like "$(cat err.txt)" "authentication failed \(HTTP 401\)" "with a clear message"
ctl clear
ctl "status?code=403&count=3"
ev c '{"id":1}' 100 1 '{"id":1}' | "$SINK" -q --url "$PROXY" --index "${P}block" --backoff 20ms --dead-letter dlb.ndjson
ok $? "a write block (403 cluster_block_exception): paused and retried, exit 0"
is "$(docs "${P}block" | cut -d' ' -f1)" 1 "applied after the block"
ok "$([ ! -s dlb.ndjson ]; echo $?)" "never dead-lettered"
ctl clear

# ---- failover: the first node refuses connections
ev c '{"id":1}' 100 1 '{"id":1}' |
	"$SINK" -q --url http://127.0.0.1:1 --url "$PROXY" --index "${P}failover" --backoff 20ms
ok $? "fails over to the second node"
is "$(docs "${P}failover" | cut -d' ' -f1)" 1 "document applied through the second node"

# ---- SIGTERM: finish, checkpoint, exit 0
rm -f ckt
mkfifo fifo
"$SINK" -q --url "$U" --index "${P}term" --checkpoint ckt <fifo &
pid=$!
exec 7>fifo
ev c '{"id":1}' 100 1 '{"id":1}' >&7
wait_for "grep -q position=0/64:1 ckt" 10
ok $? "checkpoint written while the input is idle"
kill -TERM "$pid"
wait "$pid"
is "$?" 0 "SIGTERM: exit 0"
exec 7>&-

done_testing
