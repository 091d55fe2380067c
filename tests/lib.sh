# tests/lib.sh: a small TAP library for the program tests (tests/*.t).
#
# A test file is a bash script that starts
#
#   #!/usr/bin/env bash
#   set -uo pipefail
#   . "$(dirname "$0")/lib.sh"
#
# and reports with the functions below; tests/run.sh runs it under prove
# with the test services' environment (CDC_TEST_PG, CDC_TEST_ES_URL, ...)
# and CDC_BIN.  Run one by hand with `tests/run.sh` and TESTS=tests/x.t, or
# after `tests/services.sh up` with plain `prove tests/x.t` (this library
# then reads the services' environment from tests/.services/env itself).
# Leave `set -e` off: a failing check must not end the file.
#
# Reporting
#   plan N | done_testing          declare the count first, or at the end
#   ok STATUS NAME                 passes when STATUS is 0: `cmd; ok $? "name"`
#   is GOT EXPECTED NAME           string equality, with a diff on failure
#   isnt GOT UNEXPECTED NAME
#   like GOT REGEX NAME | unlike   bash extended regular expression
#   skip REASON [COUNT]            report COUNT (1) tests as skipped
#   diag MSG... (stderr) | note MSG... (stdout)
#   skip_all REASON                the whole file does not apply here
#   bail_out REASON                stop the whole test run
#
# Fixtures (call them in the test's own shell, not inside $(...))
#   TEST_TMP                       a private directory, removed at exit
#                                  (kept, and named, when CDC_TEST_KEEP=1)
#   TEST_ID                        unique per file and run: use it in slot
#                                  and publication names (cluster-wide)
#   need_bin PROG...               skip_all unless $CDC_BIN/PROG is built
#   need_pg | need_es | need_kafka skip_all unless the service is there
#   need_managed_pg | need_managed_es | need_managed_kafka
#                                  ... and ours to stop and start
#   services CMD                   tests/services.sh CMD (pg-restart,
#                                  es-restart, kafka-restart kill, ...)
#   pg_new_db NAME                 create database NAME_<pid>; sets and
#                                  exports PGTEST_DB and PGTEST_DSN; the
#                                  database and its slots go at exit
#   psql_t [SQL] [PSQL-ARGS...]    psql -X -q -At -v ON_ERROR_STOP=1 on
#                                  PGTEST_DSN; SQL from stdin when omitted
#   es_new_index_prefix            prints this file's index prefix
#                                  (indices named PREFIX* go at exit)
#   es_curl METHOD PATH [BODY]     body on stdout, exit 0 for 2xx, 22 for an
#                                  HTTP error, curl's code otherwise;
#                                  BODY "-" reads stdin
#   es_count INDEX                 refresh INDEX and print its doc count
#   es_kind | es_version           which Elasticsearch-API server runs:
#                                  opensearch, es7, es8, es9 (or unknown)
#                                  and the version it reports
#   es_has_delete_by_query         0 if the server serves _delete_by_query
#                                  (not our Elasticsearch 8/9 nodes: the
#                                  reindex module is not on Maven Central)
#   kafka_topic_prefix             prints this file's topic prefix (topics
#                                  named PREFIX* go at exit)
#   kafka_new_topic NAME [PARTS]   create topic NAME with PARTS (1)
#                                  partitions and wait for their leaders
#   wait_for CMD TIMEOUT           run CMD (a string, eval'd) every 0.1 s
#                                  until it succeeds; 1 after TIMEOUT s
#   spawn CMD...                   start CMD in the background in its own
#                                  process group; its pid in SPAWNED_PID;
#                                  still running at exit: TERM, then KILL
#   at_exit CMD                    run the string CMD at exit (LIFO)

TEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Services: when not started by tests/run.sh, use a running `services.sh up`.
if [ -z "${CDC_TEST_PG:-}${CDC_TEST_ES_URL:-}${CDC_TEST_KAFKA_BROKERS:-}" ]; then
	_tap_envfile=${CDC_TEST_STATE:-$TEST_ROOT/tests/.services}/env
	if [ -r "$_tap_envfile" ]; then
		# shellcheck disable=SC1090
		. "$_tap_envfile"
	fi
fi
: "${CDC_BIN:=$TEST_ROOT/build/bin}"
export CDC_BIN

_tap_n=0
_tap_fail=0
_tap_plan=""
_tap_done=0
_tap_skip_all=0
_tap_exit_cmds=()
_tap_spawned=()
_tap_dbs=()
_tap_kafka_topics=0

TEST_ID=$(basename "$0" .t | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9\n' '_' | cut -c1-24)_$$
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdc-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 255
}
export TEST_ID TEST_TMP

# ---------------------------------------------------------------- TAP

plan() {
	_tap_plan=$1
	echo "1..$1"
}

done_testing() {
	_tap_done=1
	[ -n "$_tap_plan" ] || echo "1..$_tap_n"
}

diag() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line" >&2
	done
}

note() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

# The caller of the assertion, for "at tests/x.t line N".
_tap_where() {
	local i=1
	while [ "$i" -lt "${#BASH_SOURCE[@]}" ] && [ "${BASH_SOURCE[$i]}" = "${BASH_SOURCE[0]}" ]; do
		i=$((i + 1))
	done
	echo "${BASH_SOURCE[$i]:-$0} line ${BASH_LINENO[$((i - 1))]}"
}

# _tap_result PASSED NAME: print one result line; returns 0/1 like the test.
_tap_result() {
	_tap_n=$((_tap_n + 1))
	local name=${2:-}
	name=${name//\#/\\#}
	if [ "$1" = 1 ]; then
		echo "ok $_tap_n${name:+ - $name}"
		return 0
	fi
	_tap_fail=$((_tap_fail + 1))
	echo "not ok $_tap_n${name:+ - $name}"
	# shellcheck disable=SC2016 # (it does expand: the quotes are literal)
	diag "  Failed test${2:+ '$2'}"
	diag "  at $(_tap_where)."
	return 1
}

ok() {
	local status=$1 name=${2:-}
	if [ "$status" = 0 ]; then
		_tap_result 1 "$name"
	else
		_tap_result 0 "$name" || :
		diag "  exit status: $status"
		return 1
	fi
}

is() {
	local got=$1 want=$2 name=${3:-}
	if [ "$got" = "$want" ]; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name" || :
	if [ "$(printf '%s' "$got" | wc -l)" -eq 0 ] && [ "$(printf '%s' "$want" | wc -l)" -eq 0 ]; then
		diag "         got: '$got'"
		diag "    expected: '$want'"
	else
		diag "$(diff -u --label expected --label got <(printf '%s\n' "$want") <(printf '%s\n' "$got"))"
	fi
	return 1
}

isnt() {
	local got=$1 unwanted=$2 name=${3:-}
	if [ "$got" != "$unwanted" ]; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name" || :
	diag "         got: '$got'"
	diag "    expected: anything else"
	return 1
}

like() {
	local got=$1 re=$2 name=${3:-}
	if [[ $got =~ $re ]]; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name" || :
	diag "                  '$got'"
	diag "    doesn't match '$re'"
	return 1
}

unlike() {
	local got=$1 re=$2 name=${3:-}
	if ! [[ $got =~ $re ]]; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name" || :
	diag "                  '$got'"
	diag "          matches '$re'"
	return 1
}

skip() {
	local reason=$1 count=${2:-1} i
	for ((i = 0; i < count; i++)); do
		_tap_n=$((_tap_n + 1))
		echo "ok $_tap_n # skip $reason"
	done
}

skip_all() {
	if [ "$_tap_n" -gt 0 ]; then
		bail_out "skip_all after $_tap_n tests: $*"
	fi
	_tap_skip_all=1
	echo "1..0 # SKIP $*"
	exit 0
}

bail_out() {
	echo "Bail out! $*"
	_tap_skip_all=1   # no plan complaints on the way out
	exit 255
}

# ---------------------------------------------------------------- exit

at_exit() {
	_tap_exit_cmds+=("$1")
}

# Not `kill -0`, which also succeeds for a zombie nobody has reaped yet.
_tap_alive() {
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	[ "${rest%% *}" != Z ]
}

_tap_cleanup() {
	local i pid
	for ((i = ${#_tap_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_tap_exit_cmds[$i]}" >&2 || :
	done
	for pid in "${_tap_spawned[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || :
	done
	for pid in "${_tap_spawned[@]}"; do
		for ((i = 0; i < 50; i++)); do
			_tap_alive "$pid" || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || :
	done
	if [ "${CDC_TEST_KEEP:-0}" = 1 ]; then
		diag "CDC_TEST_KEEP=1: kept $TEST_TMP${_tap_dbs[*]:+ and database(s) ${_tap_dbs[*]}}"
		return 0
	fi
	for i in "${_tap_dbs[@]}"; do
		_pg_drop_db "$i"
	done
	if [ -n "${CDC_TEST_ES_URL:-}" ]; then
		curl -s -m 5 -o /dev/null -X DELETE "$CDC_TEST_ES_URL/cdct-${TEST_ID//_/-}-*" 2>/dev/null || :
	fi
	if [ "$_tap_kafka_topics" = 1 ]; then
		_kafka_topics delete-prefix "$(kafka_topic_prefix)" >&2 || :
	fi
	rm -rf "$TEST_TMP"
}

_tap_exit() {
	local rc=$?
	trap - EXIT
	_tap_cleanup
	if [ "$_tap_skip_all" = 1 ]; then
		exit "$rc"
	fi
	if [ -z "$_tap_plan" ] && [ "$_tap_done" = 0 ]; then
		diag "Tests were run but no plan was declared and done_testing was not seen."
		[ "$rc" != 0 ] || rc=254
	elif [ -n "$_tap_plan" ] && [ "$_tap_n" != "$_tap_plan" ]; then
		diag "Looks like you planned $_tap_plan tests but ran $_tap_n."
		rc=255
	fi
	if [ "$_tap_fail" -gt 0 ] && [ "$rc" != 255 ]; then
		diag "Looks like you failed $_tap_fail test(s) of $_tap_n."
		rc=$((_tap_fail > 254 ? 254 : _tap_fail))
	elif [ "$rc" != 0 ] && [ "$rc" != 255 ]; then
		diag "Looks like your test exited with $rc just after $_tap_n."
	fi
	exit "$rc"
}
trap _tap_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

wait_for() {
	local cmd=$1 timeout=${2:-10} deadline
	deadline=$(($(date +%s%N) / 1000000 + ${timeout%.*} * 1000))
	while :; do
		if eval "$cmd" >/dev/null 2>&1; then return 0; fi
		[ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

spawn() {
	# The explicit <&0 keeps the caller's stdin: without a redirection of
	# its own, bash gives a background command /dev/null.
	( exec setsid "$@" ) <&0 &
	SPAWNED_PID=$!
	_tap_spawned+=("$SPAWNED_PID")
}

services() {
	"$TEST_ROOT/tests/services.sh" "$@"
}

need_bin() {
	local p
	for p in "$@"; do
		[ -x "$CDC_BIN/$p" ] || skip_all "$p is not built ($CDC_BIN/$p)"
	done
}

need_pg() {
	[ -n "${CDC_TEST_PG:-}" ] || skip_all "no test PostgreSQL (run tests/services.sh up, or set CDC_TEST_PG)"
}

need_es() {
	[ -n "${CDC_TEST_ES_URL:-}" ] ||
		skip_all "no test Elasticsearch/OpenSearch (run tests/services.sh up, or set CDC_TEST_ES_URL)"
}

need_kafka() {
	[ -n "${CDC_TEST_KAFKA_BROKERS:-}" ] ||
		skip_all "no test Kafka (run tests/services.sh kafka-up, or set CDC_TEST_KAFKA_BROKERS)"
}

need_managed_pg() {
	need_pg
	[ "${CDC_TEST_PG_MANAGED:-0}" = 1 ] || skip_all "PostgreSQL comes from CDC_TEST_PG; this test stops and starts it"
}

need_managed_es() {
	need_es
	[ "${CDC_TEST_ES_MANAGED:-0}" = 1 ] ||
		skip_all "$(es_kind) comes from CDC_TEST_ES_URL; this test stops and starts it"
}

need_managed_kafka() {
	need_kafka
	[ "${CDC_TEST_KAFKA_MANAGED:-0}" = 1 ] ||
		skip_all "Kafka comes from CDC_TEST_KAFKA_BROKERS; this test stops and starts it"
}

# ---------------------------------------------------------------- PostgreSQL

_tap_psql() {
	local bin=psql
	if [ -n "${CDC_TEST_PG_BINDIR:-}" ] && [ -x "$CDC_TEST_PG_BINDIR/psql" ]; then
		bin=$CDC_TEST_PG_BINDIR/psql
	fi
	"$bin" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

pg_new_db() {
	local name
	need_pg
	case $CDC_TEST_PG in
	postgres://* | postgresql://*) bail_out "CDC_TEST_PG must be a key=value conninfo string, not a URI" ;;
	esac
	name=$(printf '%s' "${1:-db}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9' '_' | cut -c1-40)_$$
	_tap_psql -d "$CDC_TEST_PG" -c 'SET client_min_messages = warning' \
		-c "DROP DATABASE IF EXISTS \"$name\"" -c "CREATE DATABASE \"$name\"" ||
		bail_out "cannot create database $name on $CDC_TEST_PG"
	_tap_dbs+=("$name")
	# In a conninfo string the last dbname wins.
	PGTEST_DB=$name
	PGTEST_DSN="$CDC_TEST_PG dbname=$name"
	export PGTEST_DB PGTEST_DSN
}

# Drop a test database with its replication slots (a slot pins WAL for
# the whole cluster, and a database that has one cannot be dropped).
_pg_drop_db() {
	local db=$1 i
	for ((i = 0; i < 50; i++)); do
		_tap_psql -d "$CDC_TEST_PG" >/dev/null 2>&1 <<-EOF && break
			SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
			 WHERE database = '$db' AND active_pid IS NOT NULL;
			SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			 WHERE database = '$db';
		EOF
		sleep 0.1
	done
	_tap_psql -d "$CDC_TEST_PG" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
		diag "could not drop test database $db"
}

psql_t() {
	[ -n "${PGTEST_DSN:-}" ] || bail_out "psql_t before pg_new_db"
	if [ $# -eq 0 ]; then
		_tap_psql -d "$PGTEST_DSN" -f -
	else
		local sql=$1
		shift
		_tap_psql -d "$PGTEST_DSN" "$@" -c "$sql"
	fi
}

# ---------------------------------------------------------------- Elasticsearch API

es_new_index_prefix() {
	need_es
	echo "cdct-${TEST_ID//_/-}-"
}

es_curl() {
	local method=$1 path=$2 ctype=application/json
	[ -n "${CDC_TEST_ES_URL:-}" ] || bail_out "es_curl without CDC_TEST_ES_URL"
	case $path in */_bulk*) ctype=application/x-ndjson ;; esac
	local args=(-s -m 60 --fail-with-body -X "$method" -H "Content-Type: $ctype") rc=0
	if [ $# -ge 3 ]; then
		if [ "$3" = - ]; then args+=(--data-binary @-); else args+=(--data-binary "$3"); fi
	fi
	curl "${args[@]}" "${CDC_TEST_ES_URL%/}/${path#/}" || rc=$?
	# An HTTP error is the caller's to judge; anything else is worth a word.
	if [ "$rc" != 0 ] && [ "$rc" != 22 ]; then
		diag "es_curl $method $path: curl failed with exit status $rc"
	fi
	return "$rc"
}

es_count() {
	es_curl POST "/$1/_refresh" >/dev/null || return 1
	es_curl GET "/$1/_count" | jq -r .count
}

es_kind() {
	echo "${CDC_TEST_ES_KIND:-unknown}"
}

es_version() {
	echo "${CDC_TEST_ES_VERSION:-}"
}

# Ask the server rather than trust the kind: a handler that is missing
# answers 400/405 "no handler found", one that is there says the index
# does not exist.
es_has_delete_by_query() {
	if [ -z "${_es_dbq:-}" ]; then
		local body
		body=$(curl -s -m 30 -X POST -H 'Content-Type: application/json' \
			"${CDC_TEST_ES_URL%/}/cdct-no-such-index-$$/_delete_by_query" -d '{"query":{"match_all":{}}}')
		case $body in
		*index_not_found*) _es_dbq=0 ;;
		*) _es_dbq=1 ;;
		esac
	fi
	return "$_es_dbq"
}

# ---------------------------------------------------------------- Kafka

kafka_topic_prefix() {
	need_kafka
	echo "cdct-${TEST_ID//_/-}-"
}

_kafka_topics() {
	/usr/bin/python3 "$TEST_ROOT/tests/kafka/topics.py" "$CDC_TEST_KAFKA_BROKERS" "$@"
}

kafka_new_topic() {
	need_kafka
	_tap_kafka_topics=1
	_kafka_topics create "$1" "${2:-1}" || bail_out "cannot create Kafka topic $1 on $CDC_TEST_KAFKA_BROKERS"
}
