#!/usr/bin/env bash
# cdc-sink-es: truncates under every order of re-delivery, against the real
# server that is up (OpenSearch or Elasticsearch 7.17/8/9).  A truncate
# deletes each document by id at its commit LSN (external_gte): documents of
# later events stay, documents of earlier events never come back, and no
# replay (of the whole, of a prefix, of a suffix, after a lost checkpoint,
# after a kill between the deletes and the checkpoint, by two sinks at once)
# ends with an index other than the table.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es
need_es
SINK=$CDC_BIN/cdc-sink-es
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1
diag "server: $(es_kind) $(es_version)"

# Deletes are remembered for an hour: the tests must not depend on timing.
echo '{"settings":{"index":{"number_of_shards":1,"number_of_replicas":0,"gc_deletes":"1h"}}}' >create.json

# ev OP ID COMMIT SEQ [AFTER-JSON]: one event of table "t".
ev() {
	jq -cn --arg op "$1" --argjson id "$2" --argjson lsn "$3" --argjson seq "$4" \
		--argjson after "${5:-null}" '
	{op:$op, before:null, after:$after, key:(if $op == "t" then null else {id:$id} end),
	 source:{name:"slot1",db:"shop",schema:"public",table:"t",lsn:$lsn,commit_lsn:$lsn,
	         seq:$seq,ts_ms:1700000000000,snapshot:"false"}}
	+ (if $op == "t" then {truncate:{cascade:false,restart_identity:false}} else {} end)'
}

# The table after the events of a file: id -> last image; a truncate empties it.
expected() {
	jq -s -r 'reduce .[] as $e ({};
		if $e.op == "t" then {}
		elif $e.op == "d" then del(.[($e.key.id|tostring)])
		else .[($e.key.id|tostring)] = $e.after end) | to_entries | sort_by(.key)[] |
		"\(.key) \(.value|tojson)"' "$@"
}
# The live documents of index NAME + "t" (soft-delete markers left out) as sorted "id source" lines.
docs() {
	es_curl POST "/$1t/_refresh" >/dev/null 2>&1
	es_curl GET "/$1t/_search?size=10000" |
		jq -r '.hits.hits | map(select(._source.__deleted != true)) | sort_by(._id)[] |
			"\(._id) \(._source|tojson)"'
}
# apply NAME FROM TO [OPTION]...: lines FROM..TO of $STREAM into index NAME + "t"
# (the template must have {table} for truncates).
apply() {
	local idx=$1 from=$2 to=$3
	shift 3
	sed -n "${from},${to}p" "$STREAM" | "$SINK" -q --url "$U" --index "$idx{table}" \
		--create-index create.json "$@"
}

# ---- the issue's case: an insert, a truncate, an insert, fed twice
{
	ev c 1 100 1 '{"id":1}'
	ev t 0 200 1
	ev c 2 300 1 '{"id":2}'
} >small.ndjson
STREAM=small.ndjson
apply "${P}small" 1 3 && apply "${P}small" 1 3
ok $? "c @100, t @200, c @300 twice: exit 0"
is "$(docs "${P}small")" '2 {"id":2}' "fed twice, the row inserted after the truncate is there, the one before is not"
is "$(es_curl GET "/${P}smallt/_doc/2" | jq -r ._version)" 300 "its version is its commit LSN"

# ---- an update with unchanged TOAST columns, re-delivered after a truncate
# removed its row: stale (a delete at a higher version is there), not a row
# without values.
{
	ev c 1 100 1 '{"id":1,"big":"B","n":1}'
	ev u 1 200 1 '{"id":1,"n":2}' | jq -c '. + {unchanged_toast:["big"]}'
	ev t 0 300 1
	ev c 2 400 1 '{"id":2}'
} >toast.ndjson
STREAM=toast.ndjson
apply "${P}toast" 1 4 && apply "${P}toast" 1 4 2>err.txt
ok $? "a TOAST update before a truncate, fed twice: exit 0"
is "$(docs "${P}toast")" '2 {"id":2}' "the truncated row stays gone"
# The same with the delete later in the update's own transaction.
{
	ev c 3 100 1 '{"id":3,"big":"B","n":1}'
	ev u 3 200 1 '{"id":3,"n":2}' | jq -c '. + {unchanged_toast:["big"]}'
	ev d 3 200 2
} >toast3.ndjson
STREAM=toast3.ndjson
apply "${P}toast" 1 3 && apply "${P}toast" 1 3 2>err.txt
ok $? "a TOAST update, then a delete in its transaction, fed twice: exit 0"
is "$(docs "${P}toast")" '2 {"id":2}' "the deleted row stays gone"
ev u 7 500 1 '{"id":7,"n":2}' | jq -c '. + {unchanged_toast:["big"]}' >toast7.ndjson
STREAM=toast7.ndjson
apply "${P}toast" 1 1 2>err.txt
is "$?" 65 "a TOAST update of a row never indexed is still bad data"
like "$(cat err.txt)" "id 7: HTTP 404 document_missing" "and says so"

# ---- a stream with truncates alone, after inserts in their transaction and
# before inserts in their transaction (the "refresh a table" pattern)
{
	ev c 1 100 1 '{"id":1,"v":"a"}'; ev c 2 100 2 '{"id":2,"v":"a"}'; ev c 3 100 3 '{"id":3,"v":"a"}'
	ev u 1 200 1 '{"id":1,"v":"b"}'; ev d 2 200 2
	ev t 0 300 1
	ev c 4 400 1 '{"id":4,"v":"a"}'; ev c 1 400 2 '{"id":1,"v":"c"}'
	ev t 0 500 1; ev c 5 500 2 '{"id":5,"v":"a"}'; ev c 4 500 3 '{"id":4,"v":"b"}'
	ev u 5 600 1 '{"id":5,"v":"b"}'; ev c 6 600 2 '{"id":6,"v":"a"}'
	ev c 7 700 1 '{"id":7,"v":"a"}'; ev t 0 700 2
	ev c 8 800 1 '{"id":8,"v":"a"}'; ev c 1 800 2 '{"id":1,"v":"d"}'
	ev u 8 900 1 '{"id":8,"v":"b"}'; ev c 9 900 2 '{"id":9,"v":"a"}'; ev c 3 900 3 '{"id":3,"v":"x"}'
	ev d 3 1000 1
} >s.ndjson
STREAM=s.ndjson
N=$(wc -l <s.ndjson)
FINAL=$(expected s.ndjson)
is "$FINAL" '1 {"id":1,"v":"d"}
8 {"id":8,"v":"b"}
9 {"id":9,"v":"a"}' "the model of the stream (rows inserted before each truncate are gone)"
# Lines after which a transaction ends (a cut there is between transactions).
BOUNDS=$(jq -r '.source.commit_lsn' s.ndjson | awk 'NR > 1 && $1 != prev { print NR - 1 } { prev = $1 } END { print NR }')
TRUNCS=$(jq -r '.op' s.ndjson | awk '$1 == "t" { print NR }')

apply "${P}w1" 1 "$N" && apply "${P}w1" 1 "$N"
is "$(docs "${P}w1")" "$FINAL" "the whole stream twice"

# A prefix replayed over the applied stream: cut between transactions, the
# index is the table's at once; cut anywhere, the rest of the stream repairs it.
bad_prefix=; bad_prefix_tail=
for k in $(seq 1 "$N"); do
	idx="${P}p$k"
	apply "$idx" 1 "$N" || bad_prefix="$bad_prefix $k(rc)"
	apply "$idx" 1 "$k" || bad_prefix="$bad_prefix $k(rc)"
	if grep -qx "$k" <<<"$BOUNDS" && [ "$(docs "$idx")" != "$FINAL" ]; then
		bad_prefix="$bad_prefix $k"
	fi
	if [ "$k" -lt "$N" ]; then
		apply "$idx" $((k + 1)) "$N" || bad_prefix_tail="$bad_prefix_tail $k(rc)"
	fi
	[ "$(docs "$idx")" = "$FINAL" ] || bad_prefix_tail="$bad_prefix_tail $k"
	es_curl DELETE "/${idx}t" >/dev/null
done
is "${bad_prefix:-none}" none "replaying any prefix that ends between transactions changes nothing"
is "${bad_prefix_tail:-none}" none "replaying any prefix, then the rest: the table"

# A suffix replayed over the applied stream (a checkpoint lost or older than
# what the index has): every start line.
bad=
for k in $(seq 2 "$N"); do
	idx="${P}s$k"
	{ apply "$idx" 1 "$N" && apply "$idx" "$k" "$N"; } || bad="$bad $k(rc)"
	[ "$(docs "$idx")" = "$FINAL" ] || bad="$bad $k"
	es_curl DELETE "/${idx}t" >/dev/null
done
is "${bad:-none}" none "replaying the stream from any line over the applied stream: the table"

# Stopped (killed) anywhere after the checkpoint: lines 1..c checkpointed,
# lines c+1..k applied without the checkpoint moving, then a restart from
# the checkpoint.  Every c before a truncate, every k from it.
bad=; runs=0
for t in $TRUNCS; do
	# The checkpoint: at the start, at the transaction boundary before the
	# truncate, just before it (inside its transaction when it is not first).
	prevb=$(awk -v t="$t" '$1 < t { b = $1 } END { print b + 0 }' <<<"$BOUNDS")
	for c in $(printf '%s\n' 0 "$prevb" $((t - 1)) | sort -un); do
		for k in $t $((t + 1)) "$N"; do
			[ "$k" -le "$N" ] || continue
			idx="${P}k$t-$c-$k"
			rm -f ck
			if [ "$c" -gt 0 ]; then apply "$idx" 1 "$c" --checkpoint ck || bad="$bad $t/$c/$k(rc)"; fi
			apply "$idx" $((c + 1)) "$k" || bad="$bad $t/$c/$k(rc)"
			apply "$idx" 1 "$N" --checkpoint ck || bad="$bad $t/$c/$k(rc)"
			[ "$(docs "$idx")" = "$FINAL" ] || bad="$bad $t/$c/$k"
			es_curl DELETE "/${idx}t" >/dev/null
			runs=$((runs + 1))
		done
	done
done
is "${bad:-none}" none "killed between a truncate's deletes and the checkpoint, restarted: the table ($runs orders)"

# A truncate cut short: some documents deleted at its version, not all.
idx="${P}half"
t=$(head -n1 <<<"$TRUNCS")
apply "$idx" 1 $((t - 1))
es_curl DELETE "/${idx}t/_doc/1?version=300&version_type=external_gte" >/dev/null
apply "$idx" 1 "$N"
is "$(docs "$idx")" "$FINAL" "a truncate that stopped half-way, then the whole stream again"

# Two sinks at once on the same stream and index, in different batch sizes.
bad=
for r in 1 2 3; do
	idx="${P}two$r"
	apply "$idx" 1 "$N" --batch-docs 1 --workers 3 &
	p1=$!
	apply "$idx" 1 "$N" --batch-docs 2 &
	p2=$!
	wait "$p1" || bad="$bad $r(rc)"
	wait "$p2" || bad="$bad $r(rc)"
	[ "$(docs "$idx")" = "$FINAL" ] || bad="$bad $r"
	# And a third one, late, from the start.
	apply "$idx" 1 "$N" || bad="$bad $r(rc)"
	[ "$(docs "$idx")" = "$FINAL" ] || bad="$bad $r(late)"
done
is "${bad:-none}" none "two sinks at once, then a third from the start: the table"

# --soft-delete: a truncate indexes markers at its version.
idx="${P}soft"
apply "$idx" 1 "$N" --soft-delete && apply "$idx" 1 "$N" --soft-delete && apply "$idx" 3 9 --soft-delete
is "$(docs "$idx")" "$FINAL" "--soft-delete: the whole stream twice and a middle part: the table"
is "$(es_curl GET "/${idx}t/_doc/4" | jq -c '[._version, ._source]')" '[700,{"__deleted":true}]' \
	"--soft-delete: a truncated row is a marker at the truncate's version"

# A truncate of an index that does not exist yet, and of an empty one.
ev t 0 50 1 | "$SINK" -q --url "$U" --index "${P}none{table}"
ok $? "a truncate of an index that does not exist: exit 0"

# Many documents: more than a scroll page and a bulk request.
jq -cn 'range(0; 2500) as $i | {op:"c",before:null,after:{id:$i},key:{id:$i},
	source:{name:"slot1",db:"shop",schema:"public",table:"t",lsn:(10000+$i),commit_lsn:(10000+$i),
	        seq:1,ts_ms:1,snapshot:"false"}}' >many.ndjson
{ cat many.ndjson; ev t 0 20000 1; ev c 99999 20001 1 '{"id":99999}'; } >many2.ndjson
STREAM=many2.ndjson
apply "${P}many" 1 2502 --batch-docs 1000 -v 2>err.txt
ok $? "2500 documents, then a truncate (pages of 1000): exit 0"
is "$(docs "${P}many")" '99999 {"id":99999}' "every page deleted, the later row kept"
like "$(cat err.txt)" "truncate: deleted 2500 documents of index ${P}manyt at version 20000" "the truncate says what it did"
apply "${P}many" 1 2502 --batch-docs 1000
is "$(docs "${P}many")" '99999 {"id":99999}' "and fed again: the same"

# The server's refusal reaches the message: a closed index.
idx="${P}closed"
STREAM=s.ndjson
apply "$idx" 1 5
es_curl POST "/${idx}t/_close" >/dev/null
apply "$idx" 6 6 --max-retries 1 2>err.txt
rc=$?
isnt "$rc" 0 "a truncate of a closed index fails"
like "$(cat err.txt)" "truncate of index ${idx}t: .*HTTP [0-9]+: index_closed_exception" "with the server's reason"

# ---- kill -9 at random moments, restart from the checkpoint, until done
# A longer stream: 40 keys, transactions of 1 to 4 events, a truncate in
# every 60th transaction (alone, or first or last in its transaction).
awk -v seed=11 'BEGIN {
	srand(seed); lsn = 1000
	for (tx = 0; tx < 400; tx++) {
		lsn += 16; n = 1 + int(rand() * 4); tpos = (tx % 60 == 59) ? int(rand() * (n + 1)) : -1
		seq = 0
		for (i = 0; i <= n; i++) {
			if (i == tpos) {
				printf "{\"op\":\"t\",\"before\":null,\"after\":null,\"key\":null,\"source\":{\"name\":\"slot1\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":%d,\"commit_lsn\":%d,\"seq\":%d,\"ts_ms\":1,\"snapshot\":\"false\"}}\n", lsn, lsn, ++seq
			}
			if (i == n) break
			id = int(rand() * 40); r = rand()
			op = r < 0.15 ? "d" : (r < 0.5 ? "c" : "u")
			if (op == "d")
				printf "{\"op\":\"d\",\"before\":null,\"after\":null,\"key\":{\"id\":%d},\"source\":{\"name\":\"slot1\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":%d,\"commit_lsn\":%d,\"seq\":%d,\"ts_ms\":1,\"snapshot\":\"false\"}}\n", id, lsn, lsn, ++seq
			else
				printf "{\"op\":\"%s\",\"before\":null,\"after\":{\"id\":%d,\"tx\":%d},\"key\":{\"id\":%d},\"source\":{\"name\":\"slot1\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":%d,\"commit_lsn\":%d,\"seq\":%d,\"ts_ms\":1,\"snapshot\":\"false\"}}\n", op, id, tx, id, lsn, lsn, ++seq
		}
	}
}' >rand.ndjson
is "$(jq -r 'select(.op == "t") | .op' rand.ndjson | wc -l)" 6 "the random stream holds 6 truncates"
RFINAL=$(expected rand.ndjson)
idx="${P}kill"
rm -f ck
kills=0; runs=0; rc=1
while [ "$rc" != 0 ] && [ "$runs" -lt 60 ]; do
	runs=$((runs + 1))
	"$SINK" -q --url "$U" --index "$idx{table}" --create-index create.json --checkpoint ck \
		--batch-docs 3 --workers 2 <rand.ndjson &
	pid=$!
	sleep "0.$((RANDOM % 6 + 1))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	[ "$rc" != 137 ] || kills=$((kills + 1))
	# A kill that came after the end is a clean run.
	[ "$rc" = 137 ] || [ "$rc" = 0 ] || break
done
is "$rc" 0 "killed $kills times with kill -9, restarted from the checkpoint: finished ($runs runs)"
is "$(docs "$idx")" "$RFINAL" "and the index is the table"
ok "$([ "$kills" -gt 0 ] && echo 0 || echo 1)" "at least one kill landed"
"$SINK" -q --url "$U" --index "$idx{table}" <rand.ndjson
is "$(docs "$idx")" "$RFINAL" "the whole random stream again: the table"

done_testing
