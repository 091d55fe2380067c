#!/usr/bin/env bash
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
#
# CHAOS_SHORT_ARGS: more chaos.sh options (word-split), e.g. --no-pk-toast.
#
# Server restarts disturb other users of the same servers: they happen only
# when tests/services.sh manages them (CDC_TEST_PG_MANAGED/ES_MANAGED = 1)
# and CDC_CHAOS_RESTARTS is not 0.  Set CDC_CHAOS_RESTARTS=0 when running
# this file against services somebody else is using.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture cdc-filter cdc-map cdc-sink-es cdc-record cdc-replay
need_pg
need_es
command -v python3 >/dev/null || skip_all "python3 is needed for the workload and the comparison"
[ "${CDC_TEST_SANITIZED:-0}" = 1 ] && [ -z "${CDC_CHAOS_UNDER_ASAN:-}" ] &&
	skip_all "sanitizer build: the chaos run's timing assumptions do not hold (CDC_CHAOS_UNDER_ASAN=1 to force)"
SECS=${CHAOS_SHORT_SECONDS:-35}
pg_r=0
os_r=0
if [ "${CDC_CHAOS_RESTARTS:-1}" != 0 ]; then
	[ "${CDC_TEST_PG_MANAGED:-0}" = 1 ] && pg_r=1
	[ "${CDC_TEST_ES_MANAGED:-0}" = 1 ] && os_r=1
fi
[ "$pg_r" = 1 ] || note "no PostgreSQL restart (not managed here, or CDC_CHAOS_RESTARTS=0)"
[ "$os_r" = 1 ] || note "no OpenSearch restart (not managed here, or CDC_CHAOS_RESTARTS=0)"

run() {
	local variant=$1 pgn=$2 osn=$3 out rc
	out=$("$TEST_ROOT/tests/chaos/chaos.sh" --variant "$variant" --seconds "$SECS" \
		--kill-min 2 --kill-max 6 --pg-restarts "$pgn" --os-restarts "$osn" --workers 3 \
		--initial 1000 --truncate-every 20 --drain-timeout 90 --recovery-timeout 45 \
		--work-dir "$TEST_TMP/$variant" ${CHAOS_SHORT_ARGS:-} 2>"$TEST_TMP/$variant.log")
	rc=$?
	note "$out"
	ok "$rc" "chaos run ($variant): drained, nothing lost, stale or extra" ||
		diag "$(grep -v '^chaos.sh: \[' "$TEST_TMP/$variant.log" | tail -n 25)"
	like "$out" "kills \(SIGKILL\): +[1-9]" "chaos run ($variant): stages were killed"
	like "$out" "stages that exited 65: +0"$'\n' "chaos run ($variant): no stage took a neighbour's kill for bad data (65)"
	like "$out" "units stopped for good: +0"$'\n' "chaos run ($variant): no unit stopped for good (RestartPreventExitStatus=65)"
	like "$out" "dead letters written: +0"$'\n' "chaos run ($variant): no dead letters"
}
run direct "$pg_r" 0
run record 0 "$os_r"
done_testing
