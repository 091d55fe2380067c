#!/usr/bin/env bash
# make bench: run every side-by-side benchmark (tests/bench/*.sh) against the
# throwaway services, or only those named in BENCH="capture-stream sink-es".
# Each script runs a peer tool and ours on the same input in one run and
# prints "bench NAME: ours X, peer Y, ratio R (goal ...)".
# debezium.sh runs the real Debezium 3.6.1 embedded engine as the peer of
# cdc-capture (stream and snapshot, time and peak RSS of each side); its jars
# come from Maven Central once (tests/debezium/debezium.sh, ~/.cache/cdc).  Not part of CI:
# the figures depend on the machine; they go into the README with this command.
# kafka.sh (ours against kcat) starts its own broker unless CDC_TEST_KAFKA_BROKERS is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
export CDC_BUILD=${CDC_BUILD:-build}
export CDC_BIN=${CDC_BIN:-$top/$CDC_BUILD/bin}

export CDC_TEST_STATE=${CDC_TEST_STATE:-$top/tests/.services/bench}
./tests/services.sh up
trap './tests/services.sh down' EXIT
eval "$(./tests/services.sh env)"

status=0
for script in tests/bench/*.sh; do
	name=$(basename "$script" .sh)
	[ "$name" = run ] && continue
	if [ -n "${BENCH:-}" ] && ! grep -qw -- "$name" <<<"$BENCH"; then
		continue
	fi
	echo "== $name"
	if ! bash "$script"; then
		echo "bench $name: FAILED" >&2
		status=1
	fi
done
exit $status
