#!/usr/bin/env bash
# cdc-sink-es --checkpoint-interval: under a steady stream the checkpoint is
# written at most once per interval (each write is two fsyncs), it never
# passes what the index holds (kill -9 mid-stream), a move held back is
# written when the interval ends even if no more input comes, and exit
# always writes the last position.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-sink-es
need_es
SINK=$CDC_BIN/cdc-sink-es
P=$(es_new_index_prefix)
U=$CDC_TEST_ES_URL
cd "$TEST_TMP" || exit 1

# N events, one transaction each: id i at commit position 1000 + i.
events() {
	python3 - "$1" <<-'PY'
	import json, sys
	for i in range(1, int(sys.argv[1]) + 1):
	    print(json.dumps({"op": "c", "before": None, "after": {"id": i, "v": "x" * 40}, "key": {"id": i},
	        "source": {"version": "0.1.0", "connector": "postgresql", "name": "slot1", "db": "shop",
	                   "schema": "public", "table": "t", "txId": i, "lsn": 1000 + i,
	                   "commit_lsn": 1000 + i, "seq": 1, "ts_ms": 1700000000000, "snapshot": "false"},
	        "ts_ms": 1700000000100}, separators=(",", ":")))
	PY
}
events 400 >all.json
# paced FILE MS: FILE's lines, one every MS milliseconds, each in its own write.
paced() {
	python3 -c '
import sys, time
d = float(sys.argv[2]) / 1000
for line in open(sys.argv[1]):
    sys.stdout.write(line)
    sys.stdout.flush()
    time.sleep(d)
' "$1" "$2"
}
writes() { sed -n 's/^cdc_sink_es_checkpoint_writes_total{[^}]*} \([0-9]*\)$/\1/p' "$1"; }
ck_lsn() { sed -n 's/^commit_lsn=//p' "$1"; }
lsn_dec() { local h=${1#*/} ; echo $((16#${1%/*} * 4294967296 + 16#$h)); }

# ---- 400 events over about 2.5 s: coalesced against every move
paced all.json 6 | "$SINK" -q --url "$U" --index "${P}a" --checkpoint a.ckpt --metrics-file a.prom
is $? 0 "coalesced run: exit 0"
paced all.json 6 | "$SINK" -q --url "$U" --index "${P}b" --checkpoint b.ckpt --metrics-file b.prom \
	--checkpoint-interval 0
is $? 0 "--checkpoint-interval 0: exit 0"
wa=$(writes a.prom)
wb=$(writes b.prom)
[ -n "$wa" ] && [ "$wa" -ge 2 ] && [ "$wa" -le 40 ]
ok $? "at most one write per 100 ms: $wa writes in about 2.5 s"
[ -n "$wb" ] && [ "$wb" -gt $((3 * wa)) ]
ok $? "against $wb when every move is written"
is "$(lsn_dec "$(ck_lsn a.ckpt)")" 1400 "exit writes the last position (the 400th event)"
is "$(es_count "${P}a")" 400 "and the index has every event"

# ---- a move held back is written when the interval ends, input or not
rm -f c.ckpt
mkfifo c.in
"$SINK" -q --url "$U" --index "${P}c" --checkpoint c.ckpt --checkpoint-interval 500ms <c.in &
pid=$!
exec {w}>c.in
head -n 1 all.json >&$w
wait_for "[ -s c.ckpt ]" 10
ok $? "the first position is written at once"
t0=$(date +%s%3N)
sed -n 2,3p all.json >&$w
wait_for "[ \"\$(lsn_dec \"\$(ck_lsn c.ckpt)\")\" = 1003 ]" 10
ok $? "a later one, held back, is written with no more input"
dt=$(($(date +%s%3N) - t0))
[ "$dt" -ge 300 ] && [ "$dt" -lt 3000 ]
ok $? "when the interval ends (${dt} ms after the events, interval 500 ms)"
exec {w}>&-
wait "$pid"
is $? 0 "end of input: exit 0"

# ---- kill -9 mid-stream: the checkpoint never passes what the index holds
rm -f d.ckpt
{ paced all.json 4 2>/dev/null; } | "$SINK" -q --url "$U" --index "${P}d" --checkpoint d.ckpt &
pid=$!
wait_for "[ -s d.ckpt ] && [ \"\$(lsn_dec \"\$(ck_lsn d.ckpt)\")\" -gt 1100 ]" 20
kill -KILL "$(pgrep -n -f "cdc-sink-es -q --url $U --index ${P}d")" 2>/dev/null
wait "$pid" 2>/dev/null
n=$(($(lsn_dec "$(ck_lsn d.ckpt)") - 1000))
es_curl POST "/${P}d/_refresh" >/dev/null 2>&1
have=$(es_curl POST "/${P}d/_count" "{\"query\":{\"range\":{\"id\":{\"lte\":$n}}}}" | jq .count)
[ "$n" -gt 100 ] && [ "$n" -lt 400 ]
ok $? "killed mid-stream with the checkpoint at event $n"
is "$have" "$n" "every event at or below the checkpoint is in the index"

# ---- bad values
"$SINK" --url "$U" --index x --checkpoint-interval soon </dev/null 2>err
is $? 2 "--checkpoint-interval soon: exit 2"
like "$(cat err)" "checkpoint-interval" "with a message naming the option"

done_testing
