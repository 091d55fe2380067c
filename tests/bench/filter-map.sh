#!/usr/bin/env bash
# tests/bench/filter-map.sh: cdc-filter and cdc-map against the jq CLI (1.6)
# on the same 200k realistic change events (about 480 bytes each), in one
# run, best of several runs each.  Prints three `bench` lines and the peak
# RSS of each of our runs.
#
#   CDC_BIN=build/bin tests/bench/filter-map.sh [EVENTS] [RUNS]
#
# Each `bench` line gives the wall-clock figures first (ratio = ours / peer
# wall time, the figure the goal is checked against), then the CPU time
# (user + system) of the same runs, the steadier figure on a loaded
# machine.  CALLGRIND=N (e.g. 20000) adds the instruction counts of ours
# and the peer on the first N events under valgrind --tool=callgrind, which
# do not depend on the machine's load at all (slow: about a minute).
#
# Goals: cdc-filter 'EXPR' >= 2x faster than jq -c 'select(EXPR)' (issue
# 5); cdc-filter --op u --table orders >= 25x faster than the jq select
# keeping the same events, and reported against grep -F of the table's
# member on the same file, the physical limit of a scan (issue 18);
# cdc-map PROGRAM >= 3x faster than jq -c PROGRAM (issue 18).
set -euo pipefail
export LC_ALL=C	# the decimal point of $EPOCHREALTIME and of awk

N=${1:-200000}
RUNS=${2:-5}
BIN=${CDC_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/cdc-bench-fm.XXXXXX")
trap 'rm -rf "$work"' EXIT
events=$work/events.ndjson

# Events shaped like cdc-capture's: inserts, updates (old key only, as with
# REPLICA IDENTITY DEFAULT, or the full old row for orders, FULL), deletes,
# heartbeats, over a few tables in two schemas.
awk -v n="$N" -f "$(dirname "$0")/../cases/gen-events.awk" >"$events"
bytes=$(wc -c <"$events")
echo "input: $N events, $((bytes / N)) bytes per event on average"

# best_of RUNS CMD...: the least wall time and the least CPU time (user +
# system) in seconds of RUNS runs of CMD (reading $events, output to $OUT,
# /dev/null unless set); sets BEST and BEST_CPU.  On a shared machine the
# CPU time is the steadier figure.  The clock is bash's own
# ($EPOCHREALTIME): a `date` on each side would add two of its starts to
# every run, milliseconds against the tenth of a second of the fast rows.
best_of() {
	local runs=$1 i w c t0 t1
	shift
	BEST=
	BEST_CPU=
	for ((i = 0; i < runs; i++)); do
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%e %U %S' -o "$work/time" "$@" <"$events" >"${OUT:-/dev/null}"
		t1=$EPOCHREALTIME
		read -r w u s <"$work/time"
		w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
		c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
		if [ -z "$BEST" ] || awk -v a="$w" -v b="$BEST" 'BEGIN { exit !(a < b) }'; then BEST=$w; fi
		if [ -z "$BEST_CPU" ] || awk -v a="$c" -v b="$BEST_CPU" 'BEGIN { exit !(a < b) }'; then BEST_CPU=$c; fi
	done
}

# peak RSS in KiB of one run of CMD
peak_rss() {
	/usr/bin/time -f %M -o "$work/rss" "$@" <"$events" >/dev/null
	cat "$work/rss"
}

# report NAME GOAL OURS PEER OURS_CPU PEER_CPU
report() {
	awk -v n="$1" -v g="$2" -v o="$3" -v p="$4" -v oc="$5" -v pc="$6" 'BEGIN {
		printf "bench %s: ours %.2f s, peer %.2f s, ratio %.3f (wall; goal <= %.3f, %sx faster: %s); cpu (user+sys): ours %.2f s, peer %.2f s, ratio %.3f, %.2fx faster\n",
			n, o, p, o / p, 1 / g, g, (o / p <= 1 / g ? "PASS" : "FAIL"), oc, pc, oc / pc, pc / oc }'
}

# instructions NAME OURS_CMD... -- PEER_CMD...: callgrind instruction counts
# on the first $CALLGRIND events (only when CALLGRIND is set)
instructions() {
	local name=$1 ours=() peer=() o p
	shift
	[ -n "${CALLGRIND:-}" ] || return 0
	command -v valgrind >/dev/null || { echo "instructions $name: valgrind is not installed"; return 0; }
	while [ "$1" != -- ]; do ours+=("$1"); shift; done
	shift
	peer=("$@")
	head -n "$CALLGRIND" "$events" >"$work/small"
	o=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "${ours[@]}" <"$work/small" 2>&1 >/dev/null |
		awk '/refs:/ { gsub(",", "", $NF); print $NF }')
	p=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "${peer[@]}" <"$work/small" 2>&1 >/dev/null |
		awk '/refs:/ { gsub(",", "", $NF); print $NF }')
	awk -v n="$name" -v e="$CALLGRIND" -v o="$o" -v p="$p" 'BEGIN {
		printf "instructions %s (%d events, callgrind): ours %.0f M, peer %.0f M, ratio %.3f, %.2fx fewer\n",
			n, e, o / 1e6, p / 1e6, o / p, p / o }'
}

# 1. a jq expression
expr='.after.status == "paid" and (.after.items > 3)'
cmp <("$BIN/cdc-filter" "$expr" <"$events" | grep -v '"op":"heartbeat"') \
	<(jq -c "select(.op != \"heartbeat\") | select($expr)" <"$events") >/dev/null ||
	echo "warning: cdc-filter and jq kept different events" >&2
best_of "$RUNS" "$BIN/cdc-filter" "$expr"; ours=$BEST; ours_cpu=$BEST_CPU
best_of "$RUNS" jq -c "select($expr)"; peer=$BEST; peer_cpu=$BEST_CPU
report filter-expr 2 "$ours" "$peer" "$ours_cpu" "$peer_cpu"
instructions filter-expr "$BIN/cdc-filter" "$expr" -- jq -c "select($expr)"
echo "peak RSS cdc-filter EXPR: $(peak_rss "$BIN/cdc-filter" "$expr") KiB"

# 2. fast flags; the jq select keeping the same events (control events too)
sel='select((.op | IN("c","u","d","r","t","m") | not) or (.op == "u" and .source.table == "orders"))'
cmp <("$BIN/cdc-filter" --op u --table orders <"$events") <(jq -c "$sel" <"$events") >/dev/null ||
	echo "warning: cdc-filter --op u --table orders and jq kept different events" >&2
best_of "$RUNS" "$BIN/cdc-filter" --op u --table orders; ours=$BEST; ours_cpu=$BEST_CPU
best_of "$RUNS" jq -c "$sel"; peer=$BEST; peer_cpu=$BEST_CPU
report filter-flags 25 "$ours" "$peer" "$ours_cpu" "$peer_cpu"
instructions filter-flags "$BIN/cdc-filter" --op u --table orders -- jq -c "$sel"
flags=$ours flags_cpu=$ours_cpu
# Into a file: with its output on /dev/null, GNU grep stops at the first
# match, even with -c.
OUT=$work/grep.out best_of "$RUNS" grep -c -F '"table":"orders"'; grep_w=$BEST; grep_cpu=$BEST_CPU
awk -v o="$flags" -v g="$grep_w" -v oc="$flags_cpu" -v gc="$grep_cpu" 'BEGIN {
	printf "bench filter-flags-vs-grep: ours %.3f s, grep -c -F %.3f s, ratio %.1f (wall); cpu: ours %.2f s, grep %.2f s (reported: grep -F matches bytes, cdc-filter checks every line is an event)\n",
		o, g, o / g, oc, gc }'
echo "peak RSS cdc-filter --op u --table orders: $(peak_rss "$BIN/cdc-filter" --op u --table orders) KiB"

# 3. a mapping program (control events left out on both sides)
prog='select(.op != "heartbeat") | {id: .key.id, op, table: .source.table, doc: .after, lsn: .source.lsn}'
cmp <("$BIN/cdc-map" --drop-control "$prog" <"$events") <(jq -c "$prog" <"$events") >/dev/null ||
	echo "warning: cdc-map and jq printed different output" >&2
best_of "$RUNS" "$BIN/cdc-map" --drop-control "$prog"; ours=$BEST; ours_cpu=$BEST_CPU
best_of "$RUNS" jq -c "$prog"; peer=$BEST; peer_cpu=$BEST_CPU
report map 3 "$ours" "$peer" "$ours_cpu" "$peer_cpu"
instructions map "$BIN/cdc-map" --drop-control "$prog" -- jq -c "$prog"
echo "peak RSS cdc-map PROGRAM: $(peak_rss "$BIN/cdc-map" --drop-control "$prog") KiB"
echo "peak RSS jq -c PROGRAM: $(peak_rss jq -c "$prog") KiB"
