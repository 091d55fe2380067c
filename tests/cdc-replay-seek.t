#!/usr/bin/env bash
# cdc-replay through the index: frames wholly inside the selection go out
# unscanned, frames wholly outside are passed over (also a segment's last,
# which is always read).  Whatever the range, a log replays exactly as the
# same events replayed line by line from a plain file, which takes none of
# these short cuts.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-record cdc-replay
REC=$CDC_BIN/cdc-record
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP

# 3000 events in frames of about 4 KiB (about 12 events each) over several
# segments: many frame and segment boundaries to cut at.
awk -v n=3000 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/in.json"
"$REC" --no-output --frame-bytes 4K -s 48K "$T/log" <"$T/in.json"
segs=$(ls "$T/log" | grep -c '\.lz4$')
[ "$segs" -ge 3 ]
ok $? "the log has several segments ($segs)"

# Positions and times of a few events: first, last, inside, and around them.
lsn() { sed -n "${1}p" "$T/in.json" | sed 's/.*"commit_lsn":\([0-9]*\).*/\1/'; }
seq_of() { sed -n "${1}p" "$T/in.json" | sed 's/.*"seq":\([0-9]*\).*/\1/'; }
ts() { sed -n "${1}p" "$T/in.json" | sed 's/.*"source":{[^}]*"ts_ms":\([0-9]*\).*/\1/'; }
iso() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

# same NAME ARGS...: the log and the plain file give the same bytes.
same() {
	local name=$1
	shift
	"$RP" "$@" "$T/log" >"$T/a" 2>"$T/a.err"
	local ra=$?
	"$RP" "$@" "$T/in.json" >"$T/b" 2>"$T/b.err"
	local rb=$?
	if [ "$ra" = 0 ] && [ "$rb" = 0 ] && cmp -s "$T/a" "$T/b"; then
		ok 0 "$name: $(wc -l <"$T/a") events, as from the plain file"
	else
		ok 1 "$name: log exit $ra, file exit $rb, $(wc -l <"$T/a") vs $(wc -l <"$T/b") events"
		diag "$(cat "$T/a.err" "$T/b.err")"
	fi
}

same "everything"
for i in 1 2 13 500 1499 2990 3000; do
	same "--from event $i" --from "$(lsn $i)"
	same "--to event $i" --to "$(lsn $i)"
	same "--from event $i, inside its transaction" --from "$(lsn $i):$(seq_of $i)"
done
same "--from after the last event" --from $(($(lsn 3000) + 1))
same "--to before the first event" --to $(($(lsn 1) - 1))
same "--from and --to in one frame" --from "$(lsn 700)" --to "$(lsn 705)"
same "--from and --to over segments" --from "$(lsn 300)" --to "$(lsn 2700)"
for i in 1 250 1800 3000; do
	same "--since event $i" --since "$(iso "$(ts $i)")"
	same "--until event $i" --until "$(iso "$(ts $i)")"
done
same "--since and --table" --since "$(iso "$(ts 1000)")" --table orders
same "--from and --op" --from "$(lsn 2000)" --op u,d

# --after-checkpoint: a checkpoint at an event's position.
hexlsn() { printf '%X/%X' $(($1 >> 32)) $(($1 & 0xFFFFFFFF)); }
printf 'version=1\ncommit_lsn=%s\nseq=%s\nsnapshot=false\nwriter=test\n' "$(hexlsn "$(lsn 1234)")" \
	"$(seq_of 1234)" >"$T/ck.json"
"$RP" --after-checkpoint "$T/ck.json" "$T/log" >"$T/a" 2>/dev/null
n=$(wc -l <"$T/a")
if [ "$n" -gt 0 ] && cmp -s "$T/a" <(tail -n "$n" "$T/in.json"); then
	ok 0 "--after-checkpoint: the tail after the checkpoint ($n events)"
else
	ok 1 "--after-checkpoint: the tail after the checkpoint ($n events)"
fi
same "--after-checkpoint" --after-checkpoint "$T/ck.json"

# ---- segments passed over by their names.  A segment's name holds the
# commit LSN of its first event; in a log in position order, a segment
# whose successor is named below --from's commit LSN holds nothing at or
# after it and is never opened.
segs=($(cd "$T/log" && ls cdc-*.lz4))
nseg=${#segs[@]}
name_lsn() { local n=${1%.lz4}; echo $((16#${n##*-})); }
first_seq() { lz4 -dc "$T/log/$1" | head -1 | sed 's/.*"seq":\([0-9]*\).*/\1/'; }
# k: a late segment (not the last, at least the third) whose first event
# is not its transaction's first: the transaction spans the rotation.
k=""
for ((j = nseg - 2; j >= 2; j--)); do
	if [ "$(first_seq "${segs[j]}")" != 1 ]; then k=$j; break; fi
done
[ -n "$k" ]
ok $? "a transaction spans the rotation into segment $((k + 1)) of $nseg"
Lk=$(name_lsn "${segs[k]}")
# The first event of segment k with a commit LSN above its name: inside it.
inside=$(lz4 -dc "$T/log/${segs[k]}" | sed 's/.*"commit_lsn":\([0-9]*\).*/\1/' |
	awk -v l="$Lk" '$1 > l { print; exit }')
# unopened NAME COUNT ARGS...: -v says COUNT segments went unopened.
unopened() {
	local name=$1 count=$2
	shift 2
	"$RP" -v "$@" "$T/log" 2>&1 >/dev/null | grep -o 'let [0-9]* segments* go unopened' >"$T/msg"
	is "$(cat "$T/msg")" "let $count segment$([ "$count" = 1 ] || echo s) go unopened" "$name: $count segments not opened"
}
same "--from inside a late segment" --from "$inside"
unopened "--from inside a late segment" "$k" --from "$inside"
same "--from at a segment's name (its transaction began in the segment before)" --from "$Lk"
unopened "--from at a segment's name" $((k - 1)) --from "$Lk"
same "--from inside the spanning transaction" --from "$Lk:$(first_seq "${segs[k]}")"
"$RP" --from "$Lk" "$T/log" >"$T/a"
sed -n 1p "$T/a" | grep -q "\"commit_lsn\":$Lk,\"seq\":1,"
ok $? "--from at the name: the transaction's first event, from the segment before"
printf 'version=1\ncommit_lsn=%s\nseq=1\nsnapshot=false\nwriter=test\n' "$(hexlsn "$inside")" >"$T/ck2.json"
same "--after-checkpoint in a late segment" --after-checkpoint "$T/ck2.json"
unopened "--after-checkpoint in a late segment" "$k" --after-checkpoint "$T/ck2.json"
# Following passes over them too (it ends at the first event past --to).
timeout 20 "$RP" -v --follow --from "$inside" --to "$(lsn 2990)" "$T/log" >"$T/a" 2>"$T/a.err"
ra=$?
"$RP" --from "$inside" --to "$(lsn 2990)" "$T/in.json" >"$T/b" 2>/dev/null
[ "$ra" = 0 ] && cmp -s "$T/a" "$T/b" && grep -q "let $k segments go unopened" "$T/a.err"
ok $? "--follow --from inside a late segment: $(wc -l <"$T/a") events, $k segments not opened" || diag "exit $ra" "$(cat "$T/a.err")"
# Without a position bound (--since, --to) names say nothing: all are opened.
"$RP" -v --since "$(iso "$(ts 2990)")" "$T/log" 2>&1 >/dev/null | grep -q unopened
ok $((!$?)) "--since opens every segment"

# Unopened for real: damage the segments before k-1 (their last frame, which
# a segment read through the index always reads).  A full replay stops at
# the damage; --from past them does not see it.
cp -r "$T/log" "$T/good"
flip_last() { local f=$1 s; s=$(stat -c %s "$f"); printf '\x00\x00\x00\x00' | dd of="$f" bs=1 seek=$((s - 4)) conv=notrunc 2>/dev/null; }
for ((j = 0; j < k - 1; j++)); do flip_last "$T/log/${segs[j]}"; done
"$RP" "$T/log" >/dev/null 2>"$T/err"
is $? 65 "damaged early segments: a full replay stops (exit 65)"
same "damaged early segments: --from at segment $((k + 1))'s name" --from "$Lk"
same "damaged early segments: --from inside segment $((k + 1))" --from "$inside"
# Segment k-1 may hold the start of segment k's first transaction: it is opened.
flip_last "$T/log/${segs[k - 1]}"
"$RP" --from "$Lk" "$T/log" >/dev/null 2>"$T/err"
is $? 65 "damaged segment $k: --from at the next segment's name opens it (exit 65)"
like "$(cat "$T/err")" "${segs[k - 1]}" "and names it"
same "damaged segment $k: --from past its successor's name does not open it" --from "$inside"
rm -rf "$T/log"
mv "$T/good" "$T/log"

# And by the system calls: which segment files --from opens.
if strace -o /dev/null true 2>/dev/null; then
	# (LeakSanitizer cannot run under ptrace: no leak check in a sanitizer build.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -e trace=openat,open -o "$T/trace" "$RP" --from "$inside" "$T/log" >/dev/null
	opened=$(grep -o 'cdc-[0-9]*-[0-9A-F]*\.lz4"' "$T/trace" | tr -d '"' | sort -u | tr '\n' ' ')
	is "$opened" "${segs[*]:k} " "strace: --from opens only segments $((k + 1)) to $nseg"
else
	skip "strace cannot trace here"
fi

done_testing
