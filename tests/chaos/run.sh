#!/usr/bin/env bash
# tests/chaos/run.sh: `make chaos`.  Brings up a private PostgreSQL and
# OpenSearch (and, for the kafka variant, a Kafka broker) (tests/services.sh with CDC_TEST_STATE=$CHAOS_STATE: the run
# restarts them, so never the shared ones), runs tests/chaos/chaos.sh once
# per variant in $CHAOS_VARIANTS for $CHAOS_SECONDS each with the extra
# arguments given, prints the reports, and stops the services it started.
# Exit status: 0 when every run found nothing lost, stale or extra.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${CHAOS_STATE:=$ROOT/tests/.chaos-services}"
: "${CHAOS_SECONDS:=300}"
: "${CHAOS_VARIANTS:=direct record exec http}"
export CDC_TEST_STATE=$CHAOS_STATE
# Servers of our own: ignore any CDC_TEST_PG/CDC_TEST_ES_URL from outside.
unset CDC_TEST_PG CDC_TEST_ES_URL CDC_TEST_PG_MANAGED CDC_TEST_ES_MANAGED
unset CDC_TEST_KAFKA_BROKERS CDC_TEST_KAFKA_MANAGED
case " $CHAOS_VARIANTS " in *" kafka "*) export CDC_TEST_KAFKA=1 ;; esac

started=0
if ! "$ROOT/tests/services.sh" status >/dev/null 2>&1; then
	"$ROOT/tests/services.sh" up || exit 2
	started=1
	trap '"$ROOT/tests/services.sh" down --quiet' EXIT
fi
if [ "${CDC_TEST_KAFKA:-0}" = 1 ] && ! "$ROOT/tests/services.sh" status kafka >/dev/null 2>&1; then
	"$ROOT/tests/services.sh" kafka-up || exit 2
	[ "$started" = 1 ] || trap '"$ROOT/tests/services.sh" kafka-down' EXIT
fi
eval "$("$ROOT/tests/services.sh" env)"
: "${CDC_BIN:=$ROOT/build/bin}"
export CDC_BIN

rc=0
reports=()
for v in $CHAOS_VARIANTS; do
	f=$(mktemp)
	"$ROOT/tests/chaos/chaos.sh" --variant "$v" --seconds "$CHAOS_SECONDS" --report "$f" "$@" || rc=1
	reports+=("$(cat "$f")")
	rm -f "$f"
done
echo
for r in "${reports[@]}"; do echo "$r"; echo; done
[ "$started" = 1 ] || echo "chaos: the services in $CHAOS_STATE are still up (tests/services.sh down)" >&2
exit "$rc"
