#!/usr/bin/env bash
# cdc-capture: no password on the command line (-d keyword or URI), and a
# warning for a TCP connection without a verified server certificate,
# except over a Unix socket or to a loopback name; --quiet silences it.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
cd "$TEST_TMP" || exit 1
CAP=$CDC_BIN/cdc-capture
SECRET=Pw-9f3c-hunter

# refused NAME CONNINFO: exit 2, says what to use, never repeats the secret.
refused() {
	"$CAP" -d "$2" --slot s --publication p </dev/null >out 2>err
	is "$?" 2 "a password in -d is refused: $1"
	unlike "$(cat err)" "$SECRET" "... without repeating it: $1"
	like "$(cat err)" "pgpass.*PGPASSFILE.*service file.*PGPASSWORD" "... naming the alternatives: $1"
}
refused "password= keyword" "host=127.0.0.1 port=1 dbname=x password=$SECRET"
refused "quoted keyword" "host=127.0.0.1 port=1 password='$SECRET x' dbname=x"
refused "URI user:password@" "postgresql://u:$SECRET@127.0.0.1:1/x"
refused "URI ?password=" "postgres://u@127.0.0.1:1/x?password=$SECRET"
"$CAP" -d "host=127.0.0.1 port=1 password $SECRET" --slot s --publication p </dev/null >out 2>err
is "$?" 2 "a broken conninfo with a password is a usage error"
unlike "$(cat err)" "$SECRET" "... that does not quote it"
# Not a password: an empty one, the word in another value.
"$CAP" -d "host=127.0.0.1 port=1 dbname=password password=" --slot s --publication p --no-loop </dev/null >out 2>err
is "$?" 75 "an empty password= and a database named password are fine (the server is tried)"

need_pg
pg_new_db capture_sec
psql_t "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t" >/dev/null
addr=$(psql_t "SELECT coalesce(host(inet_server_addr()), '127.0.0.1')")
case $addr in 127.* | ::1) ;; *) skip_all "the test PostgreSQL is not on the loopback interface ($addr)" ;; esac
n=0
# run EXTRA-CONNINFO [OPTION...]: a --snapshot only run, stderr in err.
run() {
	local extra=$1
	shift
	n=$((n + 1))
	"$CAP" -d "$PGTEST_DSN $extra" --slot "s${n}_$TEST_ID" --publication p --snapshot only "$@" >out 2>err
}
run "host=db.example.invalid hostaddr=$addr"
is "$?" 0 "TCP to a remote name (hostaddr: the test server)"
like "$(cat err)" "warning: the connection to db.example.invalid is neither encrypted nor verified \(sslmode=prefer\): use sslmode=verify-full" "... warns, naming host and sslmode"
is "$(grep -c warning err)" 1 "... once (replication, catalog and snapshot connections)"
run "host=db.example.invalid hostaddr=$addr sslmode=disable"
like "$(cat err)" "neither encrypted nor verified \(sslmode=disable\)" "sslmode=disable warns too"
run "host=db.example.invalid hostaddr=$addr" --quiet
is "$?" 0 "--quiet run"
unlike "$(cat err)" "warning" "--quiet silences the warning"
for h in 127.0.0.1 localhost 127.1.2.3; do
	if [ "$h" = 127.1.2.3 ]; then run "host=$h hostaddr=$addr"; else run "host=$h"; fi
	is "$?" 0 "TCP to $h"
	unlike "$(cat err)" "warning" "... no warning for a loopback name ($h)"
done
if [ -n "${CDC_TEST_PG_SOCKDIR:-}" ] && [ -d "$CDC_TEST_PG_SOCKDIR" ]; then
	run "host=$CDC_TEST_PG_SOCKDIR"
	is "$?" 0 "Unix socket"
	unlike "$(cat err)" "warning" "... no warning"
else
	skip "no Unix socket directory" 2
fi
done_testing
