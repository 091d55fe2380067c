#!/usr/bin/env bash
# A stage whose next stage has gone ends within a second, even when its own
# input is quiet, with the broken-pipe status (141), instead of waiting for
# input it would only write into a closed pipe (cdc-capture would keep its
# replication slot busy all that time).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-filter cdc-map cdc-record cdc-replay cdc-capture
T=$TEST_TMP

# idle_stage NAME CMD...: CMD reads a quiet pipe; its reader goes away
# after 0.3 s.  Sets GONE_MS (how long CMD took to end after that) and RC.
idle_stage() {
	local name=$1 pid t0
	shift
	rm -f "$T/in" "$T/out"
	mkfifo "$T/in" "$T/out"
	exec {hold}<>"$T/in"		# a writer that never writes
	"$@" <"$T/in" >"$T/out" 2>"$T/$name.err" &
	pid=$!
	exec {rd}<"$T/out"
	sleep 0.3
	t0=$(date +%s%3N)
	exec {rd}<&-			# the next stage ends
	if wait_for "! kill -0 $pid" 5; then
		wait "$pid"
		RC=$?
	else
		kill -KILL "$pid"
		wait "$pid"
		RC=timeout
	fi
	GONE_MS=$(($(date +%s%3N) - t0))
	exec {hold}>&-
}

for stage in "cdc-filter ." "cdc-map ." "cdc-record $T/log" "cdc-replay -"; do
	set -- $stage
	idle_stage "$1" "$CDC_BIN/$1" "${@:2}"
	is "$RC" 141 "$1: the next stage ended while the input was quiet: exit 141"
	[ "$GONE_MS" -lt 3000 ]
	ok $? "$1: ended ${GONE_MS} ms after (within a second, give or take the test's own polling)"
done

# cdc-replay --follow waiting for more of a log.
printf '%s\n' '{"op":"c","source":{"commit_lsn":1,"seq":1}}' | "$CDC_BIN/cdc-record" --no-output "$T/flog"
idle_stage replay-follow "$CDC_BIN/cdc-replay" -F --poll-interval 100ms "$T/flog"
is "$RC" 141 "cdc-replay --follow: the next stage ended: exit 141"
[ "$GONE_MS" -lt 3000 ]
ok $? "cdc-replay --follow: ended ${GONE_MS} ms after"

# cdc-capture streaming an idle slot: it ends and the slot is free again at once.
if [ -n "${CDC_TEST_PG:-}" ]; then
	pg_new_db sc
	psql_t "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p_$TEST_ID FOR TABLE t"
	slot=s_$TEST_ID
	"$CDC_BIN/cdc-capture" -d "$PGTEST_DSN" --slot "$slot" --publication "p_$TEST_ID" --create-slot \
		--snapshot never --endpos 0/1 >/dev/null 2>&1
	idle_stage capture "$CDC_BIN/cdc-capture" -d "$PGTEST_DSN" --slot "$slot" --publication "p_$TEST_ID" \
		--heartbeat 0
	is "$RC" 141 "cdc-capture on an idle slot: the next stage ended: exit 141"
	[ "$GONE_MS" -lt 3000 ]
	ok $? "cdc-capture: ended ${GONE_MS} ms after"
	is "$(psql_t "SELECT active FROM pg_replication_slots WHERE slot_name = '$slot'")" f \
		"cdc-capture: the slot is free at once"
	psql_t "SELECT pg_drop_replication_slot('$slot')" >/dev/null
else
	skip "no test PostgreSQL" 3
fi

done_testing
