#!/usr/bin/env bash
# bench record-replay: cdc-record and cdc-replay against the lz4 command on
# the same events (best of RUNS runs each):
#   replay-full   cdc-replay DIR          vs  lz4 -dc FILE.lz4      goal <= 1.0 (issue 18)
#   replay-lz4    cdc-replay FILE.lz4     vs  lz4 -dc FILE.lz4      goal <= 1.2 (issue 18)
#                 (a file made by the lz4 command, one frame: no index; streamed and
#                 passed through unchecked, as lz4 -dc does)
#   replay-tail   cdc-replay --from P DIR vs  cdc-replay DIR        goal <= 0.05 (issue 18)
#                 (P: the position 99% into the log: the index works)
#   record        cdc-record --no-output DIR       vs  lz4 -1 FILE           reported
#   record-pipe   cdc-record DIR >/dev/null (passing events on)     reported
#   seek-curve    cdc-replay --from P LOG at each size in SEEK_CURVE: last 1%, a
#                 fixed tail of 1000 events, full replay; index bytes and bytes read
#   seek-flat     the fixed tail at the largest size vs the smallest  goal <= SEEK_FLAT (2)
#                 (off by default: SEEK_CURVE="100000 1000000 4000000" takes minutes
#                 and ~1.4 GB of temporary JSON at 4M, deleted once recorded; needs strace)
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

# ---- the seek curve (issue 18: opening a log costs the index and the part read, not the log)
# For each size N in SEEK_CURVE: a log of N events (cdc-record --no-output -s 16M),
# then best of RUNS of cdc-replay --from P for the last 1% and for a fixed tail
# of 1000 events, and of the full replay; and, from one strace'd run of the fixed
# tail, the bytes read from the index files and from the segments, and how many
# segments were opened.  The fixed tail is flat when its time at the largest N is
# within SEEK_FLAT (default 2) times its time at the smallest; the bytes it read
# at both sizes are reported beside it (they do not depend on the machine's load).
seek_bytes() {	# seek_bytes FROM LOG: "IDX_BYTES SEG_BYTES SEGS_OPENED GETDENTS" of one run
	strace -f -qq -y -e trace=read,pread64,openat,getdents64 -e signal=none -o "$tmp/strace" \
		"$RP" --from "$1" "$2" >/dev/null
	awk '
		/^[0-9]+ +(read|pread64)\(/ || /^(read|pread64)\(/ {
			n = $NF + 0
			if ($0 ~ /\.idx>/) idx += n; else if ($0 ~ /\.lz4>/) seg += n
		}
		/openat\(.*\.lz4"/ && !/= -1/ { segs++ }
		/getdents64\(/ { dents++ }
		END { printf "%d %d %d %d", idx, seg, segs, dents }' "$tmp/strace"
	rm -f "$tmp/strace"
}
if [ -n "${SEEK_CURVE:-}" ]; then
	command -v strace >/dev/null || { echo "bench seek-curve: strace is not installed" >&2; exit 1; }
	first_tail="" last_tail="" first_n="" last_n="" first_rd=0 last_rd=0
	for N in $SEEK_CURVE; do
		awk -v n="$N" -f tests/cdc-record-events.awk >"$tmp/seek.json"
		rm -rf "$tmp/seek"
		"$REC" --no-output -s 16M "$tmp/seek" <"$tmp/seek.json"
		pos() { sed -n "${1}p" "$tmp/seek.json" | sed 's/.*"commit_lsn":\([0-9]*\).*/\1/'; }
		from1=$(pos $((N * 99 / 100)))
		from2=$(pos $((N - 1000 + 1)))
		jbytes=$(stat -c %s "$tmp/seek.json")
		rm -f "$tmp/seek.json"	# up to 1.4 GB at 4M events
		n1=$("$RP" --from "$from1" "$tmp/seek" | wc -l)
		n2=$("$RP" --from "$from2" "$tmp/seek" | wc -l)
		segs=$(ls "$tmp/seek" | grep -c '\.lz4$')
		logb=$(du -sb "$tmp/seek" | cut -f1)
		idxb=$(cat "$tmp/seek"/*.idx 2>/dev/null | wc -c)
		t1=$(best "'$RP' --from $from1 '$tmp/seek' >/dev/null")
		t2=$(best "'$RP' --from $from2 '$tmp/seek' >/dev/null")
		tf=$(best "'$RP' '$tmp/seek' >/dev/null")
		read -r rd_idx rd_seg rd_open rd_dents <<<"$(seek_bytes "$from2" "$tmp/seek")"
		echo "bench seek-curve: $N events ($((jbytes / 1048576)) MiB JSON, $segs segments, log $((logb / 1048576)) MiB, index $idxb B):" \
			"last 1% $t1 s ($n1 events, $(ratio "$t1" "$tf") of full)," \
			"tail $t2 s ($n2 events), full $tf s;" \
			"tail read $rd_idx B of index, $rd_seg B of segments, opened $rd_open segments, $rd_dents getdents64"
		[ -z "$first_tail" ] && { first_tail=$t2; first_n=$N; first_rd=$((rd_idx + rd_seg)); }
		last_tail=$t2 last_n=$N last_rd=$((rd_idx + rd_seg))
		rm -rf "$tmp/seek"
	done
	r=$(ratio "$last_tail" "$first_tail")
	echo "bench seek-flat: tail of 1000 events $last_tail s at $last_n events, $first_tail s at $first_n events, ratio $r (goal <= ${SEEK_FLAT:-2}: $(verdict "$r" "${SEEK_FLAT:-2}")); bytes read $last_rd vs $first_rd, ratio $(ratio "$last_rd" "$first_rd") (reported)"
else
	echo "bench seek-curve: skipped (set SEEK_CURVE=\"100000 1000000 4000000\" to measure it)"
fi
