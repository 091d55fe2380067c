#!/usr/bin/env bash
# alone: it kills and restarts the test services and measures under load (tests/run.sh runs no other test file beside it)
# The short crash-and-restart chaos run that `make check` includes (the
# long one is `make chaos`): tests/chaos/chaos.sh, once per variant
#   direct: cdc-capture --ack-file | cdc-filter | cdc-map | cdc-sink-es --checkpoint
#   record: cdc-capture | cdc-record, and cdc-replay --follow | ... | cdc-sink-es
# each for CHAOS_SHORT_SECONDS (default 35) of concurrent transactions,
# SIGKILL to a random stage every 2-6 s, one PostgreSQL restart (direct)
# and one OpenSearch restart (record) when the services are ours to
# restart; then drain and compare every row with every document: nothing
# lost, stale or extra; and, over the whole run, no stage exited 65, no
# unit stopped for good and no dead letter was written (issue 20).
# Then the function sinks (issue 21), each for CHAOS_SHORT_FN_SECONDS
# (default 20), SIGKILL every 1-4 s, the user's function killed first:
#   exec:   ... | cdc-map | cdc-sink-exec --parallel 2 -- HANDLER (a
#           handler per batch and --keep-running in turn), one PostgreSQL
#           restart
#   http:   ... | cdc-map | cdc-sink-http --concurrency 2 to a receiver
#           (its own unit, killed too), no server restart
# The handler and the receiver apply each batch with cdc-sink-es without a
# checkpoint; the checks are the same.
#
# CHAOS_SHORT_ARGS: more chaos.sh options (word-split), e.g. --no-pk-toast.
#
# Server restarts disturb other users of the same servers: they happen only
# when tests/services.sh manages them (CDC_TEST_PG_MANAGED/ES_MANAGED = 1)
# and CDC_CHAOS_RESTARTS is not 0.  Set CDC_CHAOS_RESTARTS=0 when running
# this file against services somebody else is using.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture cdc-filter cdc-map cdc-sink-es cdc-record cdc-replay cdc-sink-exec cdc-sink-http
need_pg
need_es
command -v python3 >/dev/null || skip_all "python3 is needed for the workload and the comparison"
[ "${CDC_TEST_SANITIZED:-0}" = 1 ] && [ -z "${CDC_CHAOS_UNDER_ASAN:-}" ] &&
	skip_all "sanitizer build: the chaos run's timing assumptions do not hold (CDC_CHAOS_UNDER_ASAN=1 to force)"
SECS=${CHAOS_SHORT_SECONDS:-35}
FN_SECS=${CHAOS_SHORT_FN_SECONDS:-20}
pg_r=0
os_r=0
if [ "${CDC_CHAOS_RESTARTS:-1}" != 0 ]; then
	[ "${CDC_TEST_PG_MANAGED:-0}" = 1 ] && pg_r=1
	[ "${CDC_TEST_ES_MANAGED:-0}" = 1 ] && os_r=1
fi
[ "$pg_r" = 1 ] || note "no PostgreSQL restart (not managed here, or CDC_CHAOS_RESTARTS=0)"
[ "$os_r" = 1 ] || note "no OpenSearch restart (not managed here, or CDC_CHAOS_RESTARTS=0)"

# run VARIANT PG_RESTARTS OS_RESTARTS [SECONDS KILL_MIN KILL_MAX FIRST_KILL]
run() {
	local variant=$1 pgn=$2 osn=$3 secs=${4:-$SECS} kmin=${5:-2} kmax=${6:-6} first=${7:-} out rc
	out=$("$TEST_ROOT/tests/chaos/chaos.sh" --variant "$variant" --seconds "$secs" \
		--kill-min "$kmin" --kill-max "$kmax" ${first:+--kill-first "$first"} \
		--pg-restarts "$pgn" --os-restarts "$osn" --workers 3 \
		--initial 1000 --truncate-every 20 --drain-timeout 90 --recovery-timeout 45 \
		--work-dir "$TEST_TMP/$variant" ${CHAOS_SHORT_ARGS:-} 2>"$TEST_TMP/$variant.log")
	rc=$?
	note "$out"
	ok "$rc" "chaos run ($variant): drained, nothing lost, stale or extra" ||
		diag "$(grep -v '^chaos.sh: \[' "$TEST_TMP/$variant.log" | tail -n 25)"
	like "$out" "kills \(SIGKILL\): +[1-9]" "chaos run ($variant): stages were killed"
	[ -z "$first" ] || like "$out" "kills \(SIGKILL\): .*[(, ]$first [1-9]" "chaos run ($variant): $first was killed"
	like "$out" "stages that exited 65: +0"$'\n' "chaos run ($variant): no stage took a neighbour's kill for bad data (65)"
	like "$out" "units stopped for good: +0"$'\n' "chaos run ($variant): no unit stopped for good (RestartPreventExitStatus=65)"
	like "$out" "dead letters written: +0"$'\n' "chaos run ($variant): no dead letters"
}
run direct "$pg_r" 0
run record 0 "$os_r"
run exec "$pg_r" 0 "$FN_SECS" 1 4 handler
run http 0 0 "$FN_SECS" 1 4 receiver
done_testing
