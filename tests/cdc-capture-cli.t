#!/usr/bin/env bash
# cdc-capture: command line, --help/--version, and every setup error message.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
CAP=$CDC_BIN/cdc-capture

out=$("$CAP" --help)
is $? 0 "--help exits 0"
like "$out" "^Usage: cdc-capture --slot NAME --publication" "--help prints the synopsis on stdout"
like "$("$CAP" --version)" "^cdc-capture \(cdc\) " "--version"

# usage_error NAME ARGS...: exit 2 and the "Try" line.
usage_error() {
	local name=$1 err
	shift
	err=$("$CAP" "$@" 2>&1 >/dev/null)
	is $? 2 "usage error exits 2: $name"
	like "$err" "Try 'cdc-capture --help' for more information." "usage error says Try --help: $name"
}
usage_error "no --slot" --publication p
usage_error "no --publication" --slot s
usage_error "unknown option" --slot s --publication p --bogus
usage_error "missing argument" --slot s --publication
usage_error "stray argument" --slot s --publication p extra
usage_error "bad --heartbeat" --slot s --publication p --heartbeat ten
usage_error "bad --status-interval" --slot s --publication p --status-interval 0
usage_error "bad --receive-timeout" --slot s --publication p --receive-timeout 0.2
usage_error "--receive-timeout not a number" --slot s --publication p --receive-timeout soon
usage_error "bad --endpos" --slot s --publication p --endpos 12/XYZ
usage_error "bad --numeric" --slot s --publication p --numeric=float
usage_error "bad --key-change" --slot s --publication p --key-change=upsert
usage_error "bad --values" --slot s --publication p --values=java
err=$("$CAP" --slot s --publication p --key-change=upsert 2>&1 >/dev/null)
like "$err" "invalid --key-change: 'upsert' \\(delete-create or update\\)" "--key-change names its choices"
err=$("$CAP" --slot s --publication p --values=java 2>&1 >/dev/null)
like "$err" "invalid --values: 'java' \\(cdc or debezium\\)" "--values names its choices"
like "$("$CAP" --help)" "--key-change=MODE.*--ts-ns|--ts-ns.*--key-change" "--help lists --key-change and --ts-ns"
usage_error "bad --snapshot" --slot s --publication p --snapshot sometimes
usage_error "bad --snapshot-jobs" --slot s --publication p --snapshot-jobs 0
usage_error "empty publication" --slot s --publication a,,b
usage_error "--tables without --create-publication" --slot s --publication p --tables t
usage_error "--drop-slot with --publication" --slot s --drop-slot --publication p
usage_error "--quiet with --progress" --slot s --publication p --quiet --progress

need_pg
pg_new_db capture_cli
slot=${TEST_ID}_s
pub=${TEST_ID}_p
psql_t "CREATE TABLE t (id int PRIMARY KEY)"

err=$("$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" 2>&1 >/dev/null)
is $? 1 "missing publication: exit 1"
like "$err" "publication \"$pub\" does not exist.*--create-publication" "missing publication: message with the fix"

psql_t "CREATE PUBLICATION $pub FOR TABLE t"
err=$("$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" 2>&1 >/dev/null)
is $? 1 "missing slot: exit 1"
like "$err" "replication slot \"$slot\" does not exist: create it with --create-slot" "missing slot: suggests --create-slot"

err=$("$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --create-slot 2>&1 >/dev/null)
is $? 2 "--create-slot with the default snapshot needs --snapshot-state"
like "$err" "snapshot-state" "... and says so"

endpos=$(psql_t "SELECT pg_current_wal_lsn()")
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --create-slot --snapshot never --endpos "$endpos" \
	>/dev/null 2>"$TEST_TMP/e"
is $? 0 "--create-slot --snapshot never"
is "$(psql_t "SELECT plugin FROM pg_replication_slots WHERE slot_name = '$slot'")" pgoutput "the slot exists, pgoutput"

err=$("$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --snapshot initial 2>&1 >/dev/null)
is $? 1 "--snapshot initial on an existing slot refused"
like "$err" "exists already" "... with the reason"

# A slot in use by another process.
psql_t "CREATE TABLE busy (id int)"
# (A fifo, not coproc: bash unsets a coprocess's variables once it exits,
# which under set -u made the clean-up below fail at random.)
mkfifo "$TEST_TMP/hold"
psql -X -q -At -d "$PGTEST_DSN replication=database" <"$TEST_TMP/hold" >/dev/null 2>&1 &
hold_pid=$!
exec {hold_fd}>"$TEST_TMP/hold"
echo "START_REPLICATION SLOT $slot LOGICAL 0/0 (proto_version '1', publication_names '$pub');" >&"$hold_fd"
wait_for "[ -n \"\$(psql_t \"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'\")\" ]" 10
start=$(date +%s)
err=$("$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" 2>&1 >/dev/null)
is $? 75 "slot in use: exit 75"
like "$err" "in use by server process [0-9]+" "slot in use: names the PID"
kill "$hold_pid" 2>/dev/null
wait "$hold_pid" 2>/dev/null
exec {hold_fd}>&-

# Another plugin's slot.
psql_t "SELECT pg_create_logical_replication_slot('${slot}_td', 'test_decoding')" >/dev/null
err=$("$CAP" -d "$PGTEST_DSN" --slot "${slot}_td" --publication "$pub" 2>&1 >/dev/null)
is $? 1 "test_decoding slot refused"
like "$err" "needs a logical pgoutput slot" "... with the reason"

# A role without REPLICATION.
psql_t "DROP ROLE IF EXISTS ${TEST_ID}_norepl; CREATE ROLE ${TEST_ID}_norepl LOGIN" 2>/dev/null
at_exit "psql -X -q -d \"$CDC_TEST_PG\" -c 'DROP ROLE IF EXISTS ${TEST_ID}_norepl' >/dev/null 2>&1"
err=$("$CAP" -d "$PGTEST_DSN user=${TEST_ID}_norepl" --slot "$slot" --publication "$pub" 2>&1 >/dev/null)
is $? 1 "no REPLICATION attribute: exit 1"
like "$err" "needs the REPLICATION attribute \(ALTER ROLE" "... message with the fix"

# Server unreachable.
err=$("$CAP" -d "host=127.0.0.1 port=1 dbname=x connect_timeout=2" --slot "$slot" --publication "$pub" 2>&1 >/dev/null)
is $? 75 "server unreachable: exit 75"
like "$err" "cannot connect to the server" "... message"

# A bad conninfo.
err=$("$CAP" -d "host='unterminated" --slot "$slot" --publication "$pub" 2>&1 >/dev/null)
is $? 2 "malformed --dbname: usage error"

# --create-publication with --tables.
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "${pub}_new" --create-publication --tables public.t \
	--endpos "$(psql_t "SELECT pg_current_wal_lsn()")" >/dev/null 2>"$TEST_TMP/e"
is $? 0 "--create-publication --tables"
is "$(psql_t "SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE pubname = '${pub}_new'")" t \
	"publication created for the listed table"

# --endpos with nothing to stream: the server's position (a keepalive asked
# for) says endpos is reached; exit at once, as pg_recvlogical -E does.  An
# idle server sends no keepalive of its own for wal_sender_timeout / 2.
psql_t "SELECT pg_replication_slot_advance('$slot', pg_current_wal_lsn())" >/dev/null
sleep 1
start=$(date +%s%N)
timeout 20 "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --snapshot=never \
	--endpos "$(psql_t "SELECT pg_current_wal_lsn()")" >"$TEST_TMP/idle.out" 2>"$TEST_TMP/idle.err"
is $? 0 "--endpos on an idle database: exit 0"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 5000 ]
ok $? "... promptly (${ms} ms)"
is "$(cat "$TEST_TMP/idle.out" "$TEST_TMP/idle.err")" "" "... with no events and no message"

# --drop-slot
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --drop-slot 2>/dev/null
is $? 0 "--drop-slot exits 0"
is "$(psql_t "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" 0 "the slot is gone"
err=$("$CAP" -d "$PGTEST_DSN" --slot "$slot" --drop-slot 2>&1)
is $? 1 "--drop-slot of a missing slot: exit 1"
like "$err" "does not exist" "... says so"

# stdout closed: exit quietly.
psql_t "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
psql_t "INSERT INTO t SELECT generate_series(1, 20000)"
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --endpos "$(psql_t "SELECT pg_current_wal_lsn()")" \
	2>"$TEST_TMP/epipe" | head -1 >/dev/null
is "${PIPESTATUS[0]}" 141 "stdout closed: exit 141"
is "$(cat "$TEST_TMP/epipe")" "" "... quietly"
done_testing
