#!/usr/bin/env bash
# tests/run.sh: run the test suite; `make check` and `make check-asan` call it.
#
#   CDC_BUILD=build tests/run.sh
#   CDC_BUILD=build TESTS="tests/cdc-filter.t test_buf" tests/run.sh
#
# 1. installs missing Debian packages (scripts/deps.sh build test),
# 2. starts the throwaway PostgreSQL and Elasticsearch-API server (the kind
#    CDC_TEST_ES_KIND names, OpenSearch by default), and a Kafka broker when
#    a test to run asks for one (need_kafka) unless CDC_TEST_KAFKA=0
#    (tests/services.sh up; services somebody already started with `up`
#    are used and left running, a broker added to them is removed again),
# 3. runs prove over the unit test binaries $CDC_BUILD/tests/test_* and the
#    program tests tests/*.t, or over TESTS (paths, or unit test names),
# 4. stops the services it started, whatever happened.
# Exits with prove's status; prove's summary is the last line printed.
#
# Environment for the tests: everything `tests/services.sh env` prints,
# CDC_BUILD and CDC_BIN (absolute), CDC_TEST_SANITIZED=1 for a sanitizer
# build (a build dir named *asan*), and ASAN_OPTIONS/UBSAN_OPTIONS/
# LSAN_OPTIONS defaults that make any sanitizer report fail the test.
# Knobs: PROVE_FLAGS (e.g. -v), CDC_TEST_JOBS (test files at a time,
# default 2; see "3. prove"), CDC_TEST_TIMEOUT (seconds per test file,
# default 900), CDC_TEST_KEEP=1 (keep temp dirs and test databases).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# prove runs every test file through us (see --exec below): one file,
# bounded in time; a .t file is a bash script whether executable or not.
if [ "${1:-}" = --exec-one ]; then
	f=$2
	# Files run side by side share the lock; one marked "# alone:" holds it
	# alone.  -o: a server such a file restarts must not inherit the lock.
	lock=()
	if [ -n "${CDC_TEST_LOCK:-}" ]; then
		lock=(flock -o -s "$CDC_TEST_LOCK")
		case $f in
		*.t) if grep -q '^# alone:' "$f"; then lock=(flock -o -x "$CDC_TEST_LOCK"); fi ;;
		esac
	fi
	case $f in
	*.t) exec "${lock[@]}" timeout -k 10 "${CDC_TEST_TIMEOUT:-900}" bash "$f" ;;
	*) exec "${lock[@]}" timeout -k 10 "${CDC_TEST_TIMEOUT:-900}" "$f" ;;
	esac
fi

cd "$ROOT"
prog=run.sh

# ---- 1. packages (a dpkg-query when everything is there)
if ! scripts/deps.sh --check build test >/dev/null 2>&1; then
	scripts/deps.sh build test
fi

# ---- the build under test
CDC_BUILD=${CDC_BUILD:-build}
mkdir -p "$CDC_BUILD"
CDC_BUILD=$(cd "$CDC_BUILD" && pwd)
CDC_BIN=$CDC_BUILD/bin
export CDC_BUILD CDC_BIN

case ${CDC_BUILD##*/} in
*asan*) export CDC_TEST_SANITIZED=1 ;;
*) export CDC_TEST_SANITIZED=0 ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${LSAN_OPTIONS:-}" ] && [ -f "$ROOT/tests/lsan.supp" ]; then
	export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
fi

# ---- which tests
files=()
if [ -n "${TESTS:-}" ]; then
	for t in $TESTS; do
		if [ -f "$t" ]; then
			files+=("$t")
		elif [ -f "$CDC_BUILD/tests/$t" ]; then
			files+=("$CDC_BUILD/tests/$t")
		else
			echo "$prog: no test '$t' (neither a file nor $CDC_BUILD/tests/$t)" >&2
			exit 2
		fi
	done
else
	for t in "$CDC_BUILD"/tests/test_* tests/*.t; do
		case $t in *.o | *.d) continue ;; esac
		if [ -f "$t" ]; then files+=("$t"); fi
	done
fi
if [ ${#files[@]} -eq 0 ]; then
	echo "$prog: no tests to run" >&2
	exit 2
fi
for t in "${files[@]}"; do
	case $t in
	*.t) ;;
	*) [ -x "$t" ] || { echo "$prog: $t is not executable" >&2; exit 2; } ;;
	esac
done

# ---- 2. services
# A broker only for the tests that need one (it costs a JVM).
if [ -z "${CDC_TEST_KAFKA:-}" ]; then
	CDC_TEST_KAFKA=0
	for t in "${files[@]}"; do
		case $t in
		*.t) if grep -q 'need_kafka\|need_managed_kafka' "$t"; then CDC_TEST_KAFKA=1; break; fi ;;
		esac
	done
fi
export CDC_TEST_KAFKA
want_kind=${CDC_TEST_ES_KIND:-}
[ "$want_kind" != os ] || want_kind=opensearch
started=0
if ! tests/services.sh status >/dev/null 2>&1; then
	# Stop them again however we leave: prove's summary stays the last line.
	trap 'trap "" INT TERM; tests/services.sh down --quiet || :' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	started=1
	tests/services.sh up
elif [ "$CDC_TEST_KAFKA" = 1 ] && ! tests/services.sh status kafka >/dev/null 2>&1; then
	trap 'trap "" INT TERM; tests/services.sh kafka-down || :' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	tests/services.sh kafka-up
fi
eval "$(tests/services.sh env)"
if [ -n "$want_kind" ] && [ "$want_kind" != "$CDC_TEST_ES_KIND" ]; then
	echo "$prog: CDC_TEST_ES_KIND=$want_kind, but the services already up run $CDC_TEST_ES_KIND" \
		"(tests/services.sh down, or another CDC_TEST_STATE)" >&2
	exit 2
fi
[ "$started" = 1 ] || echo "$prog: using the services already up (tests/services.sh status)" >&2
echo "$prog: Elasticsearch API: $CDC_TEST_ES_KIND $CDC_TEST_ES_VERSION${CDC_TEST_KAFKA_BROKERS:+; Kafka at $CDC_TEST_KAFKA_BROKERS}" >&2

# ---- 3. prove
# CDC_TEST_JOBS files at a time (default 2: most of a test's time is spent
# waiting for servers and processes).  A file that stops or restarts a
# shared service says so on a line starting "# alone:"; it runs with no
# other file beside it (an exclusive lock; the others share it), and such
# files go last so that they wait for nobody.
jobs=${CDC_TEST_JOBS:-2}
alone=() together=()
for t in "${files[@]}"; do
	case $t in
	*.t) if grep -q '^# alone:' "$t"; then alone+=("$t"); continue; fi ;;
	esac
	together+=("$t")
done
files=("${together[@]}" "${alone[@]}")
jflag=()
if [ "$jobs" -gt 1 ] && [ ${#files[@]} -gt 1 ]; then
	export CDC_TEST_LOCK=$CDC_BUILD/tests.lock
	: >>"$CDC_TEST_LOCK"
	jflag=(-j "$jobs")
fi
set +e
# Word splitting of PROVE_FLAGS is intended.
# shellcheck disable=SC2086
prove "${jflag[@]}" ${PROVE_FLAGS:-} --exec "tests/run.sh --exec-one" "${files[@]}"
rc=$?
set -e
exit "$rc"
