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

done_testing
