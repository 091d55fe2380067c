#!/usr/bin/env bash
# cdc-capture behind tests/chaos/tcpproxy.py (a fault-injecting TCP proxy in
# front of the real server): after a reset the replication connection and
# the catalog connection are both reopened; a half-open connection (the
# server silent, nothing closed) is noticed by --receive-timeout and
# reconnected (or exit 75 with --no-loop); every connection has TCP
# keepalives on.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture
need_pg
command -v python3 >/dev/null || skip_all "python3 is needed for the TCP proxy"
command -v curl >/dev/null || skip_all "curl is needed to steer the TCP proxy"
cd "$TEST_TMP" || exit 1
CAP=$CDC_BIN/cdc-capture

pg_new_db capture_netfault
psql_t "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE t (id int PRIMARY KEY, v text, m mood);
	CREATE TABLE u (a int, b int, v text, PRIMARY KEY (b, a));
	CREATE PUBLICATION p FOR TABLE t, u" >/dev/null || bail_out "cannot set up the tables"

pg_host=$(psql_t "SELECT coalesce(host(inet_server_addr()), '127.0.0.1')")
pg_port=$(psql_t "SHOW port")
[ -n "$pg_port" ] || bail_out "cannot ask the server for its port"
spawn python3 "$TEST_ROOT/tests/chaos/tcpproxy.py" --upstream "$pg_host:$pg_port" --port-file "$TEST_TMP/pf"
wait_for "test -s $TEST_TMP/pf" 10 || bail_out "the TCP proxy did not start"
read -r PPORT CPORT <"$TEST_TMP/pf"
ctl() { curl -sf "http://127.0.0.1:$CPORT/$1" >/dev/null; }
pstat() { curl -sf "http://127.0.0.1:$CPORT/stats" | jq -r ".$1"; }
DSN="$PGTEST_DSN host=127.0.0.1 port=$PPORT"
# Events of table T with id ID written so far.
has_event() { grep -qE "\"after\":\\{\"$2\":$3[,}].*\"table\":\"$1\"" "$4" 2>/dev/null; }

# ---- 1. reset: both connections reopened, capture keeps running
slot=s1_$TEST_ID
spawn "$CAP" -d "$DSN" --slot "$slot" --publication p --create-slot --snapshot never --heartbeat 1 \
	--status-interval 1 >out1 2>err1
cap=$SPAWNED_PID
wait_for "grep -q 'created replication slot' err1" 15 || bail_out "capture did not start: $(cat err1)"
psql_t "INSERT INTO t VALUES (1, 'a', 'ok'); INSERT INTO u VALUES (1, 10, 'x')" >/dev/null
wait_for "has_event u a 1 out1" 15
ok $? "events arrive through the proxy (the catalog connection is open)"
c0=$(pstat connections)
ctl reset
wait_for "grep -q '^cdc-capture: reconnected' err1" 20
ok $? "capture reconnects after the reset"
# The server sends the Relation messages again on the new connection: the
# key look-up and the enum type go over the catalog connection.
psql_t "INSERT INTO t VALUES (2, 'b', 'happy'); INSERT INTO u VALUES (2, 20, 'y')" >/dev/null
wait_for "has_event u a 2 out1" 15
ok $? "capture writes the changes after the reset"
kill -0 "$cap" 2>/dev/null
ok $? "capture is still running" || diag "$(cat err1)"
like "$(grep '"id":2,' out1)" '"key":\{"id":2\}.*' "... with the key from the catalog"
like "$(grep '"a":2,' out1)" '"key":\{"a":2,"b":20\}' "... the composite key too"
like "$(grep '"id":2,' out1)" '"m":"happy"' "... and the enum value"
unlike "$(cat err1)" "cannot look up|catalog" "no failed catalog look-up"
# The replication connection, the catalog connection and their two
# replacements (plus psql's of the test, which do not go through the proxy).
[ "$(pstat connections)" -ge $((c0 + 2)) ]
ok $? "the catalog connection was reopened too ($(pstat connections) connections, $c0 before the reset)"

# ---- 2. half-open: the server goes silent, --receive-timeout notices
kill "$cap"
wait "$cap" 2>/dev/null
# The server holds the slot for the walsender of the frozen connection
# until its wal_sender_timeout (60 s by default; 3 s here, a per-session
# setting): capture retries until the slot is free.
slot2=s2_$TEST_ID
spawn "$CAP" -d "$DSN options='-c wal_sender_timeout=3s'" --slot "$slot2" --publication p --create-slot --snapshot never --heartbeat 0 \
	--receive-timeout 2 >out2 2>err2
cap=$SPAWNED_PID
wait_for "grep -q 'created replication slot' err2" 15 || bail_out "capture did not start: $(cat err2)"
psql_t "INSERT INTO t VALUES (4, 'd', 'ok')" >/dev/null
wait_for "has_event t id 4 out2" 15
ok $? "capture with --receive-timeout 2 streams"
c0=$(pstat connections)
t0=$(date +%s)
ctl halfopen
psql_t "INSERT INTO t VALUES (5, 'e', 'ok'); INSERT INTO u VALUES (5, 50, 'w')" >/dev/null
wait_for "grep -q 'no message from the server' err2" 15
ok $? "capture notices the silent connection (--receive-timeout 2, --heartbeat 0)" || diag "$(cat err2)"
wait_for "grep -q '^cdc-capture: reconnected' err2" 20
ok $? "... and reconnects by itself in $(($(date +%s) - t0)) s" || diag "$(cat err2)"
# The catalog connection was frozen with the rest: a look-up on it would
# wait for ever.  The first Relation after the reconnection needs one.
wait_for "has_event u a 5 out2" 20
ok $? "the changes made while the connection was frozen arrive (new catalog connection)" ||
	diag "$(cat err2)"
has_event t id 5 out2
ok $? "... both of them"
unlike "$(cat err2)" "catalog" "no catalog look-up waited on the frozen connection (reopened with the replication one)"
kill -0 "$cap" 2>/dev/null
ok $? "capture is still running"
[ "$(pstat frozen)" -ge 2 ] && [ "$(pstat connections)" -ge $((c0 + 1)) ]
ok $? "the proxy saw the frozen connections and new ones ($(pstat frozen) frozen)"
kill "$cap"
wait "$cap" 2>/dev/null
ctl clear

# ---- 3. half-open with --no-loop: exit 75
slot3=s3_$TEST_ID
"$CAP" -d "$DSN" --slot "$slot3" --publication p --create-slot --snapshot never --heartbeat 0 \
	--receive-timeout 2 --no-loop >out3 2>err3 &
cap=$!
wait_for "grep -q 'created replication slot' err3" 15 || bail_out "capture did not start: $(cat err3)"
sleep 0.5
t0=$(date +%s)
ctl halfopen
wait_for "! kill -0 $cap" 20
wait "$cap"
is "$?" 75 "--no-loop: a silent connection exits 75 after --receive-timeout"
[ $(($(date +%s) - t0)) -le 10 ]
ok $? "... within a few seconds ($(($(date +%s) - t0)) s)"
ctl clear

# ---- 4. TCP keepalives on every connection (libpq defaults of capture)
slot4=s4_$TEST_ID
spawn "$CAP" -d "$DSN" --slot "$slot4" --publication p --create-slot --snapshot never >out4 2>err4
cap=$SPAWNED_PID
wait_for "grep -q 'created replication slot' err4" 15 || bail_out "capture did not start: $(cat err4)"
psql_t "INSERT INTO t VALUES (6, 'f', 'ok')" >/dev/null
wait_for "has_event t id 6 out4" 15
if command -v ss >/dev/null; then
	socks=$(ss -tnop state established "( dport = :$PPORT )" 2>/dev/null | grep "pid=$cap,")
	is "$(printf '%s\n' "$socks" | grep -c 'timer:(keepalive')" 2 \
		"both connections (replication, catalog) have TCP keepalives on" || diag "$socks"
	# The timer shows the time left: at most 30 s (the kernel's default is 2 hours).
	left=$(printf '%s\n' "$socks" | sed -n 's/.*timer:(keepalive,\([0-9.]*\)sec.*/\1/p' | head -n 1)
	[ -n "$left" ] && awk -v l="$left" 'BEGIN { exit !(l <= 30) }'
	ok $? "... after 30 s idle (${left:-?} s left)" || diag "$socks"
else
	skip "no ss(8)" 2
fi
kill "$cap"
wait "$cap" 2>/dev/null
# keepalives=0 in the connection string wins.
spawn "$CAP" -d "$DSN keepalives=0" --slot "$slot4" --publication p >out5 2>err5
cap=$SPAWNED_PID
psql_t "INSERT INTO t VALUES (7, 'g', 'ok')" >/dev/null
wait_for "has_event t id 7 out5" 15
if command -v ss >/dev/null; then
	socks=$(ss -tnop state established "( dport = :$PPORT )" 2>/dev/null | grep "pid=$cap,")
	is "$(printf '%s\n' "$socks" | grep -c 'timer:(keepalive')" 0 "keepalives=0 in -d turns them off" ||
		diag "$socks"
else
	skip "no ss(8)" 1
fi
kill "$cap"
wait "$cap" 2>/dev/null
done_testing
