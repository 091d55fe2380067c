#!/usr/bin/env bash
# alone: it restarts the test PostgreSQL and OpenSearch (tests/run.sh runs no other test file beside it)
# The test harness itself: the services tests/services.sh started are real
# and usable the way the program tests use them, and tests/lib.sh reports
# what it should.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_pg
need_es

# ---- PostgreSQL

is "$(_tap_psql -d "$CDC_TEST_PG" -c 'SELECT 1')" 1 "PostgreSQL answers at CDC_TEST_PG"
is "$(_tap_psql -d "$CDC_TEST_PG" -c 'SHOW wal_level')" logical "wal_level is logical"
slots=$(_tap_psql -d "$CDC_TEST_PG" -c 'SHOW max_replication_slots')
senders=$(_tap_psql -d "$CDC_TEST_PG" -c 'SHOW max_wal_senders')
[ "${slots:-0}" -ge 20 ] && [ "${senders:-0}" -ge 20 ]
ok $? "at least 20 replication slots and WAL senders ($slots, $senders)"

pg_new_db harness
is "$(psql_t 'SELECT current_database()')" "$PGTEST_DB" "pg_new_db: PGTEST_DSN connects to the new database"
like "$PGTEST_DB" '^harness_[0-9]+$' "pg_new_db: database name is NAME_pid"

if [ "${CDC_TEST_PG_MANAGED:-0}" = 1 ]; then
	# A long-lived server process (a backend would be gone by the time ps looks).
	pid=$(psql_t "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
	owner=$(ps -o user= -p "$pid" | tr -d ' ')
	[ -n "$owner" ] && [ "$owner" != root ]
	ok $? "the test cluster does not run as root (runs as '$owner')"
else
	skip "PostgreSQL comes from CDC_TEST_PG"
fi

psql_t <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, status text);
CREATE PUBLICATION harness_pub FOR TABLE orders;
SQL
ok $? "psql_t runs SQL from stdin"

slot=slot_$TEST_ID
lsn=$(psql_t "SELECT lsn FROM pg_create_logical_replication_slot('$slot', 'pgoutput')")
like "$lsn" '^[0-9A-F]+/[0-9A-F]+$' "a logical slot with pgoutput can be created (at $lsn)"
psql_t "INSERT INTO orders VALUES (1, 'new')"
# pgoutput message types: B(egin) R(elation) I(nsert) C(ommit).
msgs=$(psql_t "SELECT string_agg(chr(get_byte(data, 0)), ' ')
                 FROM pg_logical_slot_peek_binary_changes('$slot', NULL, NULL,
                      'proto_version', '1', 'publication_names', 'harness_pub')")
is "$msgs" "B R I C" "pgoutput decodes the insert at once"
psql_t "SELECT pg_drop_replication_slot('$slot')" >/dev/null
is "$(psql_t "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" 0 \
	"the slot can be dropped"

if [ "${CDC_TEST_PG_MANAGED:-0}" = 1 ]; then
	services pg-restart
	ok $? "services.sh pg-restart"
	is "$(psql_t 'SELECT count(*) FROM orders')" 1 "data survives a PostgreSQL restart"
else
	skip "PostgreSQL comes from CDC_TEST_PG" 2
fi

# ---- OpenSearch

# (GET /_nodes, not GET /: the Elasticsearch 8/9 test nodes lack the module behind "/".)
nodes=$(es_curl GET /_nodes/_local/version)
ok $? "the server answers at CDC_TEST_ES_URL ($(es_kind))"
like "$(jq -r '.nodes[].version' <<<"$nodes")" '^[0-9]+\.[0-9]+' "it reports a version"
like "$(es_curl GET /_cluster/health | jq -r .status)" '^(green|yellow)$' "cluster health is green or yellow"
if [ "${CDC_TEST_ES_MANAGED:-0}" = 1 ]; then
	is "$(es_curl GET /_cluster/settings | jq -r .persistent.cluster.routing.allocation.disk.threshold_enabled)" \
		false "disk watermark checks are off"
else
	skip "OpenSearch comes from CDC_TEST_ES_URL"
fi

prefix=$(es_new_index_prefix)
like "$prefix" '^cdct-[a-z0-9-]+-$' "es_new_index_prefix gives a lowercase index prefix"
index=${prefix}orders
es_curl PUT "/$index/_doc/1?refresh=true" '{"id":1,"status":"new"}' >/dev/null
ok $? "a document can be indexed"
is "$(es_curl GET "/$index/_doc/1" | jq -c ._source)" '{"id":1,"status":"new"}' "and read back"
printf '%s\n' '{"index":{"_id":"2"}}' '{"id":2}' '{"index":{"_id":"3"}}' '{"id":3}' |
	es_curl POST "/$index/_bulk" - | jq -e '.errors == false' >/dev/null
ok $? "es_curl sends a _bulk body from stdin"
is "$(es_count "$index")" 3 "es_count refreshes and counts"
es_curl GET "/$index/_doc/404" >/dev/null
is "$?" 22 "es_curl exits 22 on an HTTP error"

if [ "${CDC_TEST_ES_MANAGED:-0}" = 1 ]; then
	services os-restart
	ok $? "services.sh os-restart"
	is "$(es_curl GET "/$index/_doc/1" | jq -r ._source.status)" new "data survives an OpenSearch restart"
else
	skip "OpenSearch comes from CDC_TEST_ES_URL" 2
fi

# ---- tests/lib.sh

[ -d "$TEST_TMP" ] && [ -w "$TEST_TMP" ]
ok $? "TEST_TMP is a writable directory"
case $CDC_BIN in /*) true ;; *) false ;; esac
ok $? "CDC_BIN is absolute ($CDC_BIN)"

spawn sh -c "sleep 0.3; touch '$TEST_TMP/flag'"
wait_for "test -e '$TEST_TMP/flag'" 10
ok $? "spawn + wait_for see a background command finish"
wait_for false 1
is "$?" 1 "wait_for gives up after its timeout"

# A file with failures, run the way prove runs one.
cat >"$TEST_TMP/inner.t" <<EOF
#!/usr/bin/env bash
. '$TEST_ROOT/tests/lib.sh'
plan 4
ok 0 "passes"
is "a
b" "a
c" "multi-line mismatch"
like "cdc-filter" '^cdc-' "like"
ok 3 "fails"
EOF
inner=$(CDC_TEST_PG='' CDC_TEST_ES_URL='' CDC_TEST_STATE=/nonexistent bash "$TEST_TMP/inner.t" 2>"$TEST_TMP/inner.err")
is "$?" 2 "a file's exit status is its number of failures"
is "$inner" "1..4
ok 1 - passes
not ok 2 - multi-line mismatch
ok 3 - like
not ok 4 - fails" "TAP lines of a failing file"
like "$(cat "$TEST_TMP/inner.err")" "-c.*\+b" "is() shows a diff for multi-line values"
like "$(cat "$TEST_TMP/inner.err")" "at $TEST_TMP/inner.t line 9" "failures name file and line"

printf '%s\n' '. "$1"' 'plan 2' 'ok 0 one' >"$TEST_TMP/short.t"
bash "$TEST_TMP/short.t" "$TEST_ROOT/tests/lib.sh" >/dev/null 2>&1
is "$?" 255 "a file that runs fewer tests than planned fails"
printf '%s\n' '. "$1"' 'skip_all "not here"' 'ok 1 never' >"$TEST_TMP/skip.t"
is "$(bash "$TEST_TMP/skip.t" "$TEST_ROOT/tests/lib.sh" 2>/dev/null)" "1..0 # SKIP not here" "skip_all"

done_testing
