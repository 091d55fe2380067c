#!/usr/bin/env bash
# Network faults between cdc-capture and PostgreSQL: tests/chaos/tcpproxy.py
# sits in front of the real server and adds latency, resets the
# connections, stalls them for longer than wal_sender_timeout, and leaves
# a connection half-open (silent, never closed).  The pipeline
# cdc-capture --ack-file | cdc-sink-es --checkpoint keeps running through
# all of it; after each fault the index must equal the table again (zero
# loss: no lost, stale or extra document).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture cdc-sink-es
need_pg
need_es
command -v python3 >/dev/null || skip_all "python3 is needed for the TCP proxy"
cd "$TEST_TMP" || exit 1
CHAOS=$TEST_ROOT/tests/chaos
. "$CHAOS/netfault-lib.sh"
P=$(es_new_index_prefix)
INDEX=${P}items

pg_new_db netpg
nf_setup_table
slot=s_$TEST_ID
pub=p_$TEST_ID
CK=$TEST_TMP/es.ckpt

# The server's address, for the proxy.
pg_host=$(psql_t "SELECT coalesce(host(inet_server_addr()), '127.0.0.1')")
pg_port=$(psql_t "SHOW port")
spawn python3 "$CHAOS/tcpproxy.py" --upstream "$pg_host:$pg_port" --port-file "$TEST_TMP/pf"
wait_for "test -s $TEST_TMP/pf" 10 || bail_out "the TCP proxy did not start"
read -r PPORT CPORT <"$TEST_TMP/pf"
ctl() { curl -sf "http://127.0.0.1:$CPORT/$1" >/dev/null; }
pstat() { curl -sf "http://127.0.0.1:$CPORT/stats" | jq -r ".$1"; }

# Capture goes through the proxy (restarted like a systemd unit would be:
# a capture that exits where it should reconnect fails one test, and the
# other faults are still tested), with a short wal_sender_timeout for its
# walsender (the setting is per session).
WST=3
PROXY_DSN="$PGTEST_DSN host=127.0.0.1 port=$PPORT options='-c wal_sender_timeout=${WST}s'"

export NF_PREFIX=$P
# A half-open connection is noticed after --receive-timeout (default 60 s,
# the server's default wal_sender_timeout); 10 s keeps test 4 short.
NF_CAPTURE_ARGS="--receive-timeout 10"
nf_start_pipeline "$PROXY_DSN" -- -q --url "$CDC_TEST_ES_URL"

wait_for "[ \"\$(es_count $INDEX 2>/dev/null)\" = 300 ]" 60
ok $? "the snapshot arrives through the proxy"

# 1. Latency: 150 ms on every chunk both ways.
ctl "latency?ms=150"
nf_workload 4
ctl "latency?ms=0"
nf_zero_loss "150 ms latency"

# 2. Resets, twice, in the middle of the stream.
c0=$(pstat connections)
nf_workload 2 &
wl=$!
sleep 0.7
ctl reset
sleep 1.5
ctl reset
wait "$wl"
nf_zero_loss "connections reset twice"
wait_for "[ \$(pstat connections) -gt $c0 ]" 30
ok $? "capture reconnected after the resets"
is "$(nf_runs)" 1 "capture rode out the resets without exiting (it reconnects by itself)" ||
	diag "$(grep -v -e '^cdc-capture: created' "$TEST_TMP/capture.err" | tail -n 5)"

# 3. A stall longer than wal_sender_timeout: the server gives up on the
# connection; after the stall the proxy passes the close on, and capture
# reconnects and resumes from the slot.
c0=$(pstat connections)
nf_workload 2 &
wl=$!
sleep 0.5
ctl "stall?secs=$((WST * 3))"
sleep $((WST * 3 + 1))
wait "$wl"
wait_for "[ \$(pstat connections) -gt $c0 ]" 40
ok $? "capture reconnected after a ${WST}x3 s stall (wal_sender_timeout ${WST} s)"
nf_zero_loss "stall longer than wal_sender_timeout"

# 4. Half-open: the connection goes silent for good, nothing is closed.
# The server drops its side after wal_sender_timeout; the client has only
# the silence to go by (its status updates are still accepted by the
# proxy's kernel).  A client that waits on such a socket forever stops the
# pipeline without a word.
c0=$(pstat connections)
ctl halfopen
nf_workload 2
t0=$(date +%s)
wait_for "[ \$(pstat connections) -gt $c0 ]" 45
ok $? "capture leaves a half-open connection and reconnects by itself (within 45 s)" ||
	diag "capture was still waiting on the silent connection after $(($(date +%s) - t0)) s"
ctl clear   # closes the frozen connection, if capture still waits on it
nf_zero_loss "half-open connection"

ctl clear
touch "$TEST_TMP/stop"
note "pipeline runs: $(nf_runs); capture said: $(sort "$TEST_TMP/capture.err" | uniq -c | sort -rn | head -n 6)"
done_testing
