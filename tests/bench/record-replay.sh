#!/usr/bin/env bash
# bench record-replay: cdc-record and cdc-replay against the lz4 command on
# the same events (best of RUNS runs each):
#   replay-full   cdc-replay DIR          vs  lz4 -dc FILE.lz4      goal <= 1.0 (issue 18)
#   replay-lz4    cdc-replay FILE.lz4     vs  lz4 -dc FILE.lz4      goal <= 1.2 (issue 18)
#                 (a file made by the lz4 command: no index, lines checked)
#   replay-tail   cdc-replay --from P DIR vs  cdc-replay DIR        goal <= 0.05 (issue 18)
#                 (P: the position 99% into the log: the index works)
#   record        cdc-record --no-output DIR       vs  lz4 -1 FILE           reported
#   record-pipe   cdc-record DIR >/dev/null (passing events on)     reported
# EVENTS (default 1000000, about 360 MB) and RUNS (default 5) can be set.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${CDC_BIN:=$PWD/build/bin}"
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-5}
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
command -v lz4 >/dev/null || { echo "bench record-replay: lz4 is not installed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cdc-bench-rr.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# best CMD: the least wall time of RUNS runs of the shell command CMD, in seconds.
best() {
	local i t0 t1 d min=""
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		bash -c "$1"
		t1=$(date +%s%N)
		d=$(((t1 - t0) / 1000))
		if [ -z "$min" ] || [ "$d" -lt "$min" ]; then min=$d; fi
	done
	awk -v us="$min" 'BEGIN { printf "%.3f", us / 1e6 }'
}
# cpu CMD: the least user+sys CPU time of RUNS runs, in seconds (needs GNU time; "?" without).
cpu() {
	local i t min=""
	[ -x /usr/bin/time ] || { echo "?"; return; }
	for ((i = 0; i < RUNS; i++)); do
		t=$(/usr/bin/time -f '%U %S' bash -c "$1" 2>&1 >/dev/null | tail -1 | awk '{ printf "%.2f", $1 + $2 }')
		if [ -z "$min" ] || awk -v a="$t" -v b="$min" 'BEGIN { exit !(a < b) }'; then min=$t; fi
	done
	echo "$min"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict RATIO GOAL: PASS when RATIO <= GOAL.
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r + 0 <= g + 0) ? "PASS" : "FAIL" }'; }
mbps() { awk -v bytes="$1" -v s="$2" 'BEGIN { printf "%.0f", bytes / 1048576 / s }'; }

awk -v n="$EVENTS" -f tests/cdc-record-events.awk >"$tmp/in.json"
bytes=$(stat -c %s "$tmp/in.json")
echo "input: $EVENTS events, $((bytes / 1048576)) MiB"
lz4 -q -1 -c "$tmp/in.json" >"$tmp/in.lz4"
"$REC" --no-output -s 16M "$tmp/log" <"$tmp/in.json"
echo "log: $(ls "$tmp/log" | grep -c '\.lz4$') segments, $(du -sm "$tmp/log" | cut -f1) MiB; lz4 -1: $(($(stat -c %s "$tmp/in.lz4") / 1048576)) MiB"
"$RP" "$tmp/log" | cmp -s - "$tmp/in.json" || { echo "bench record-replay: replay differs from the input" >&2; exit 1; }

# ---- full replay against lz4 -dc
peer=$(best "lz4 -dc '$tmp/in.lz4' >/dev/null")
ours=$(best "'$RP' '$tmp/log' >/dev/null")
r=$(ratio "$ours" "$peer")
echo "bench replay-full: ours $ours s, peer $peer s (lz4 -dc), ratio $r (goal <= 1.00: $(verdict "$r" 1.00))"
full=$ours
lz4_ours=$(best "'$RP' '$tmp/in.lz4' >/dev/null")
r=$(ratio "$lz4_ours" "$peer")
echo "bench replay-lz4: ours $lz4_ours s (cdc-replay FILE.lz4), peer $peer s (lz4 -dc), ratio $r (goal <= 1.20: $(verdict "$r" 1.20))"
peer_pipe=$(best "lz4 -dc '$tmp/in.lz4' | cat >/dev/null")
ours_pipe=$(best "'$RP' '$tmp/log' | cat >/dev/null")
echo "bench replay-full-pipe: ours $ours_pipe s, peer $peer_pipe s (lz4 -dc | cat), ratio $(ratio "$ours_pipe" "$peer_pipe") (goal <= 1.50)"

# ---- the last 1% through the index
from=$(sed -n "$((EVENTS * 99 / 100))p" "$tmp/in.json" | sed 's/.*"commit_lsn":\([0-9]*\).*/\1/')
n=$("$RP" --from "$from" "$tmp/log" | wc -l)
tail_s=$(best "'$RP' --from $from '$tmp/log' >/dev/null")
r=$(ratio "$tail_s" "$full")
echo "bench replay-tail: ours $tail_s s ($n events from $from), full replay $full s, ratio $r (goal <= 0.05: $(verdict "$r" 0.05))"

# ---- recording against lz4 -1
peer=$(best "lz4 -q -1 -c '$tmp/in.json' >/dev/null")
ours=$(best "rm -rf '$tmp/r'; '$REC' --no-output '$tmp/r' <'$tmp/in.json'")
echo "bench record: ours $ours s ($(mbps "$bytes" "$ours") MiB/s), peer $peer s (lz4 -1, $(mbps "$bytes" "$peer") MiB/s), ratio $(ratio "$ours" "$peer") (reported)"
cpu_ours=$(cpu "rm -rf '$tmp/r'; exec '$REC' --no-output '$tmp/r' <'$tmp/in.json'")
cpu_peer=$(cpu "exec lz4 -q -1 -c '$tmp/in.json' >/dev/null")
echo "bench record-cpu: ours $cpu_ours s, peer $cpu_peer s (lz4 -1), user+sys CPU (reported; ours checks every line as JSON)"
pipe=$(best "rm -rf '$tmp/r'; '$REC' '$tmp/r' <'$tmp/in.json' >/dev/null")
cat_s=$(best "cat '$tmp/in.json' >/dev/null")
echo "bench record-pipe: ours $pipe s ($(mbps "$bytes" "$pipe") MiB/s, passing events on), peer $peer s (lz4 -1), ratio $(ratio "$pipe" "$peer") (reported; cat alone $cat_s s)"
