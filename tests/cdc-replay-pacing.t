#!/usr/bin/env bash
# cdc-replay pacing: --rate N events per second, --speed X (the original
# commit timing X times faster); progress only on a terminal.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-replay
RP=$CDC_BIN/cdc-replay
T=$TEST_TMP
ms() { date +%s%3N; }

awk -v n=60 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/in.json"

# Upper limits compare with a paced run of the same test, never with the
# wall clock alone: under a sanitizer or a loaded machine everything is slower.

# ---- --rate
t0=$(ms)
"$RP" --rate 100 "$T/in.json" >"$T/out"
dt=$(($(ms) - t0))
cmp -s "$T/out" "$T/in.json"
ok $? "--rate: every event, unchanged"
[ "$dt" -ge 550 ]
ok $? "--rate 100: 60 events take at least 0.6 s ($dt ms)"
slow=$dt
t0=$(ms)
"$RP" --rate 1000000 "$T/in.json" >/dev/null
dt=$(($(ms) - t0))
[ $((dt * 2)) -lt "$slow" ]
ok $? "--rate 1000000 does not slow a short replay ($dt ms, under half of --rate 100's $slow ms)"
# Only selected events count.
n=$(jq -c 'select(.source.table == "orders")' "$T/in.json" | wc -l)
t0=$(ms)
"$RP" --rate 50 --table orders "$T/in.json" >"$T/out"
dt=$(($(ms) - t0))
is "$(wc -l <"$T/out")" "$n" "--rate with --table: the selected events"
[ "$dt" -ge $(((n - 1) * 20 - 50)) ] && [ "$dt" -lt $((60 * 20 - 50)) ]
ok $? "--rate paces the selected events only ($n events, $dt ms, less than 60 events would take)"

# ---- --speed: commit times 0, 1 s, 2 s apart
printf '%s\n' '{"op":"c","source":{"commit_lsn":1,"seq":1,"ts_ms":1763700000000}}' \
	'{"op":"c","source":{"commit_lsn":2,"seq":1,"ts_ms":1763700001000}}' \
	'{"op":"c","source":{"commit_lsn":3,"seq":1,"ts_ms":1763700002000}}' >"$T/timed.json"
t0=$(ms)
"$RP" --speed 4 "$T/timed.json" >"$T/out"
dt=$(($(ms) - t0))
cmp -s "$T/out" "$T/timed.json"
ok $? "--speed: every event, unchanged"
[ "$dt" -ge 480 ]
ok $? "--speed 4: 2 s of commits take at least 0.5 s ($dt ms)"
slow=$dt
# The first event goes out at once, the second after 250 ms.
"$RP" --speed 4 "$T/timed.json" | while IFS= read -r l; do ms; done >"$T/times"
d1=$(($(sed -n 2p "$T/times") - $(sed -n 1p "$T/times")))
[ "$d1" -ge 200 ]
ok $? "events are written (flushed) at their time, not at the end ($d1 ms apart)"
t0=$(ms)
"$RP" --speed 1000 "$T/timed.json" >/dev/null
dt=$(($(ms) - t0))
[ $((dt * 2)) -lt "$slow" ]
ok $? "--speed 1000 ($dt ms, under half of --speed 4's $slow ms)"
# Events without a commit time are not held back.
printf '%s\n' '{"op":"c","source":{"commit_lsn":1,"seq":1,"ts_ms":1763700000000}}' '{"a":1}' \
	'{"op":"c","source":{"commit_lsn":3,"seq":1,"ts_ms":1763700000000}}' >"$T/untimed.json"
is "$("$RP" --speed 2 "$T/untimed.json" | wc -l)" 3 "--speed passes lines without a commit time"

# ---- SIGTERM while pacing: exit 0 with what was written
# On a loaded machine the sleep may last longer than asked: bound the count
# by the time that really passed, not by the sleep's argument.
t0=$(ms)
"$RP" --rate 10 "$T/in.json" >"$T/out" &
pid=$!
sleep 0.5
kill -TERM "$pid"
wait "$pid"
is $? 0 "SIGTERM during a paced replay: exit 0"
dt=$(($(ms) - t0))
n=$(wc -l <"$T/out")
[ "$n" -ge 1 ] && [ "$n" -le $((dt / 100 + 2)) ] && [ "$n" -lt 60 ]
ok $? "with the events written so far ($n in $dt ms at 10/s)"
cmp -s "$T/out" <(head -"$n" "$T/in.json")
ok $? "whole lines only"

# ---- progress goes to a terminal only
"$RP" "$T/in.json" 2>"$T/err" >/dev/null
is "$(cat "$T/err")" "" "no progress when stderr is not a terminal"
if command -v script >/dev/null; then
	awk -v n=200000 -f "$TEST_ROOT/tests/cdc-record-events.awk" >"$T/big.json"
	script -qec "$RP --rate 150000 $T/big.json >/dev/null" /dev/null >"$T/tty" 2>&1
	like "$(tr '\r' '\n' <"$T/tty")" "cdc-replay: [0-9]+ events, [0-9.]+ MiB" "progress on a terminal"
else
	skip "script(1) is not installed"
fi

done_testing
