#!/usr/bin/env bash
# cdc-sink-es --alias: a rebuild writes a new index and, at a clean end of
# input, points the alias at it and away from the old one in one step;
# a run that stops early (bad data, a signal) leaves the alias alone.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es
need_es
SINK=$CDC_BIN/cdc-sink-es
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

ev() {
	jq -cn --argjson id "$1" --argjson lsn "$2" --arg table "${3:-t}" '
	{op:"c", before:null, after:{id:$id}, key:{id:$id},
	 source:{name:"slot1",db:"shop",schema:"public",table:$table,commit_lsn:$lsn,seq:1,lsn:$lsn,
	         ts_ms:1700000000000,snapshot:"false"}, ts_ms:1700000000100}'
}
# Where an alias points: index names, sorted, space-separated.
points() { es_curl GET "/_alias/$1" 2>/dev/null | jq -r 'keys | sort | join(" ")'; }

{ ev 1 100; ev 2 200; } >two.ndjson
{ ev 1 100; ev 2 200; ev 3 300; } >three.ndjson

"$SINK" -q --url "$U" --index "${P}v1" --alias "${P}cur" <two.ndjson
is "$?:$(points "${P}cur")" "0:${P}v1" "a first build: the alias points at it"
"$SINK" -q --url "$U" --index "${P}v2" --alias "${P}cur" <three.ndjson
is "$?:$(points "${P}cur")" "0:${P}v2" "a rebuild: the alias moved to the new index, away from the old"
is "$(es_curl GET "/${P}cur/_count" | jq .count)" 3 "the alias shows the new index's documents at once"
is "$(es_count "${P}v1")" 2 "the old index is left as it was"

# Bad data under the stop policy: exit 65, the alias stays.
{ ev 1 100; echo 'not json'; } | "$SINK" -q --url "$U" --index "${P}v3" --alias "${P}cur" 2>/dev/null
is "$?:$(points "${P}cur")" "65:${P}v2" "a run that stops on bad data leaves the alias alone"

# No input: nothing was written, the alias stays, and a warning says so.
"$SINK" --url "$U" --index "${P}v4" --alias "${P}cur" </dev/null 2>err.txt
is "$?:$(points "${P}cur")" "0:${P}v2" "no events: the alias stays"
like "$(cat err.txt)" "no index was written" "... and a warning says why"

# A template: one alias per table.
{ ev 1 100 a; ev 2 200 b; } | "$SINK" -q --url "$U" --index "${P}{table}-v1" --alias "${P}{table}"
is "$?:$(points "${P}a"):$(points "${P}b")" "0:${P}a-v1:${P}b-v1" "--alias with {table}: one alias per table"

# An alias whose name is an index: refused by the server, exit 1, said clearly.
"$SINK" -q --url "$U" --index "${P}v5" --alias "${P}v1" <two.ndjson 2>err.txt
is "$?" 1 "an alias named like an existing index: exit 1"
like "$(cat err.txt)" "alias ${P}v1: switch: HTTP 400" "... the message names the alias and the server's answer"

# -n / --dry-run never touches aliases.
"$SINK" -n --index "${P}v6" --alias "${P}cur" <two.ndjson >/dev/null
is "$?:$(points "${P}cur")" "0:${P}v2" "--dry-run leaves aliases alone"

done_testing
