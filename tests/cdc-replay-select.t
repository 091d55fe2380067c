#!/usr/bin/env bash
# cdc-replay: selection by position, commit time, checkpoint, table and op,
# checked against jq over the original events, on a plain file, an lz4 file
# and a cdc-record directory (where --from/--since seek with the index).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
command -v lz4 >/dev/null || skip_all "lz4 is not installed"
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP

awk -v n=30000 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/in.json"
lz4 -q -c "$T/in.json" >"$T/in.lz4"
"$REC" --no-output -s 256K --frame-bytes 32K "$T/log" <"$T/in.json"
nseg=$(ls "$T/log" | grep -c '\.lz4$')
[ "$nseg" -ge 3 ]
ok $? "a multi-segment log ($nseg segments)"

# hexlsn DECIMAL: PostgreSQL's X/X form.
hexlsn() { printf '%X/%X' $(($1 >> 32)) $(($1 & 0xFFFFFFFF)); }
ev() { sed -n "${1}p" "$T/in.json"; }
lsn_a=$(ev 12000 | jq .source.commit_lsn)
lsn_b=$(ev 12500 | jq .source.commit_lsn)
seq_a=$(ev 12000 | jq .source.seq)
ts_a=$(ev 20000 | jq .source.ts_ms)
ts_b=$(ev 21000 | jq .source.ts_ms)
iso() { date -u -d "@$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

# check NAME JQ-FILTER ARGS...: the same lines as jq's selection, from all three inputs.
check() {
	local name=$1 filter=$2 src
	shift 2
	jq -c "$filter" "$T/in.json" >"$T/want"
	for src in in.json in.lz4 log; do
		"$RP" "$@" "$T/$src" >"$T/got" 2>"$T/err"
		if ! cmp -s "$T/got" "$T/want"; then
			diag "$name from $src: $(wc -l <"$T/got") lines, jq says $(wc -l <"$T/want")"
			ok 1 "$name"
			return
		fi
	done
	[ -s "$T/want" ]
	ok $? "$name ($(wc -l <"$T/want") events, plain, lz4 and directory agree with jq)"
}

check "--from/--to decimal" "select(.source.commit_lsn >= $lsn_a and .source.commit_lsn <= $lsn_b)" \
	--from "$lsn_a" --to "$lsn_b"
check "--from/--to X/X" "select(.source.commit_lsn >= $lsn_a and .source.commit_lsn <= $lsn_b)" \
	--from "$(hexlsn "$lsn_a")" --to "$(hexlsn "$lsn_b")"
check "--from X/X:seq" "select(.source.commit_lsn > $lsn_a or (.source.commit_lsn == $lsn_a and .source.seq >= $seq_a))" \
	--from "$(hexlsn "$lsn_a"):$seq_a"
check "--to only" "select(.source.commit_lsn <= $lsn_a)" --to "$lsn_a"
check "--since/--until RFC 3339" "select(.source.ts_ms >= $ts_a and .source.ts_ms <= $ts_b)" \
	--since "$(iso "$ts_a")" --until "$(iso "$ts_b")"
check "--since with an offset" "select(.source.ts_ms >= $ts_a)" \
	--since "$(date -u -d "@$(($ts_a / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf '%03d' $(($ts_a % 1000)))+00:00"
check "--table" 'select(.source.table == "orders")' --table orders
check "--table SCHEMA.NAME, --op" 'select(.source.table == "items" and (.op == "c" or .op == "u"))' \
	--table public.items --op c,u
check "range and table together" "select(.source.commit_lsn >= $lsn_a and .source.table == \"customers\")" \
	--from "$lsn_a" --table customers

# ---- the index: --from near the end reads few frames
"$RP" -v --from "$(ev 29900 | jq .source.commit_lsn)" "$T/log" >/dev/null 2>"$T/err"
skipped=$(sed -n 's/.*the index let \([0-9]*\) frames\? go unread.*/\1/p' "$T/err")
unopened=$(sed -n 's/.*the segment names let \([0-9]*\) segments\? go unopened.*/\1/p' "$T/err")
total=$(cat "$T"/log/*.idx | grep -vc '^#')
# Each segment's last indexed frame is read too: it checks where the unindexed rest starts.
nseg=$(ls "$T"/log/*.idx | wc -l)
# The segments before the one holding --from are not even opened.
idx=("$T"/log/*.idx)
unseen=$(cat "${idx[@]:0:${unopened:-0}}" /dev/null | grep -vc '^#')
[ -n "$unopened" ] && [ "$unopened" -ge 1 ] && [ $((skipped + unseen)) -ge $((total - 3 - (nseg - unopened))) ]
ok $? "--from near the end: $unopened of $nseg segments not opened; the index skips $skipped of the other $((total - unseen)) frames"
"$RP" -v --since "$(iso "$(ev 29900 | jq .source.ts_ms)")" "$T/log" >/dev/null 2>"$T/err"
skipped=$(sed -n 's/.*the index let \([0-9]*\) frames\? go unread.*/\1/p' "$T/err")
[ -n "$skipped" ] && [ "$skipped" -ge $((total - 3 - nseg)) ]
ok $? "--since near the end: the index skips $skipped of $total frames"
# A damaged index is only an accelerator: garbage in one, the other removed.
first=$(ls "$T"/log/*.idx | head -1)
last=$(ls "$T"/log/*.idx | tail -1)
printf 'garbage\n' >"$first"
rm "$last"
check "a damaged or missing index changes nothing" "select(.source.commit_lsn >= $lsn_a)" --from "$lsn_a"

# ---- --after-checkpoint
printf 'version=1\ncommit_lsn=%s\nseq=%s\nsnapshot=false\nwriter=test\n' "$(hexlsn "$lsn_a")" "$seq_a" >"$T/ck"
check "--after-checkpoint" "select(.source.commit_lsn > $lsn_a or (.source.commit_lsn == $lsn_a and .source.seq > $seq_a))" \
	--after-checkpoint "$T/ck"
"$RP" --after-checkpoint "$T/nothing.ck" "$T/in.json" | cmp -s - "$T/in.json"
ok $? "--after-checkpoint with no checkpoint yet: everything"
printf 'version=1\nseq=1\n' >"$T/bad.ck"
"$RP" --after-checkpoint "$T/bad.ck" "$T/in.json" >/dev/null 2>"$T/err"
is $? 1 "a malformed checkpoint: exit 1"
like "$(cat "$T/err")" "bad.ck" "the message names the file"

# ---- lines without what a range needs, control events
printf '%s\n' '{"a":1}' '{"op":"heartbeat","source":{"commit_lsn":5,"seq":0,"ts_ms":1}}' \
	'{"op":"c","source":{"schema":"s","table":"t","commit_lsn":6,"seq":1}}' >"$T/mixed"
is "$("$RP" --from 5 "$T/mixed")" "$(sed -n '2,3p' "$T/mixed")" "--from: lines without a position are not selected"
is "$("$RP" --table other "$T/mixed")" "$(sed -n 2p "$T/mixed")" "--table: control events pass"
is "$("$RP" --since 1970-01-01 "$T/mixed")" "$(sed -n 2p "$T/mixed")" "--since: events without source.ts_ms are not selected"

# ---- several inputs, standard input
"$RP" "$T/in.json" - <"$T/in.lz4" | cmp -s - <(cat "$T/in.json" "$T/in.json")
ok $? "FILE then - (lz4 on standard input), in argument order"
"$RP" <"$T/in.json" | cmp -s - "$T/in.json"
ok $? "no argument: standard input"

# ---- usage
"$RP" --from nope x >/dev/null 2>"$T/err"
is $? 2 "bad --from: exit 2"
like "$(cat "$T/err")" "Try 'cdc-replay --help'" "usage hint"
"$RP" --since yesterday-ish x >/dev/null 2>&1
is $? 2 "bad --since: exit 2"
"$RP" --from 10 --to 5 x >/dev/null 2>&1
is $? 2 "--from after --to: exit 2"
"$RP" --rate 5 --speed 2 x >/dev/null 2>&1
is $? 2 "--rate with --speed: exit 2"
"$RP" --op x x >/dev/null 2>&1
is $? 2 "bad --op: exit 2"
"$RP" "$T/missing" >/dev/null 2>"$T/err"
is $? 1 "missing input: exit 1"
like "$(cat "$T/err")" "missing" "names it"
mkdir "$T/notalog"
"$RP" "$T/notalog" >"$T/out" 2>"$T/err"
ok $? "a directory without segments: exit 0"
like "$(cat "$T/err")" "no cdc-record segments" "with a warning"
"$RP" --help | grep '^Usage: cdc-replay' >/dev/null
ok $? "--help"

done_testing
