#!/usr/bin/env bash
# Network faults between cdc-sink-es and OpenSearch.  The sink talks to
# tests/chaos/tcpproxy.py, which forwards to tests/proxy/faultproxy.py,
# which forwards to the real node:
#   a bulk request cut in the middle (tcpproxy /cut: the server never gets
#   it whole, the client gets a reset: outcome unknown),
#   a bulk request applied whose answer is lost (faultproxy /reset),
#   answers slower than --timeout (faultproxy /delay),
#   a half-open connection (tcpproxy /halfopen: silence, nothing closed),
#   added latency, and the server refusing connections for a while.
# The pipeline cdc-capture --ack-file | cdc-sink-es --checkpoint runs
# through all of it; after each fault the index must equal the table.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture cdc-sink-es
need_pg
need_es
command -v python3 >/dev/null || skip_all "python3 is needed for the proxies"
cd "$TEST_TMP" || exit 1
CHAOS=$TEST_ROOT/tests/chaos
. "$CHAOS/netfault-lib.sh"
P=$(es_new_index_prefix)
INDEX=${P}items

pg_new_db netes
nf_setup_table
slot=s_$TEST_ID
pub=p_$TEST_ID
CK=$TEST_TMP/es.ckpt

spawn python3 "$TEST_ROOT/tests/proxy/faultproxy.py" --upstream "$CDC_TEST_ES_URL" --port-file "$TEST_TMP/fp"
wait_for "test -s $TEST_TMP/fp" 10 || bail_out "the fault proxy did not start"
read -r FPORT FCPORT <"$TEST_TMP/fp"
spawn python3 "$CHAOS/tcpproxy.py" --upstream "127.0.0.1:$FPORT" --port-file "$TEST_TMP/tp"
wait_for "test -s $TEST_TMP/tp" 10 || bail_out "the TCP proxy did not start"
read -r TPORT TCPORT <"$TEST_TMP/tp"
fctl() { curl -sf "http://127.0.0.1:$FCPORT/$1" >/dev/null; }
fstat() { curl -sf "http://127.0.0.1:$FCPORT/stats" | jq -r ".$1"; }
tctl() { curl -sf "http://127.0.0.1:$TCPORT/$1" >/dev/null; }
tstat() { curl -sf "http://127.0.0.1:$TCPORT/stats" | jq -r ".$1"; }

export NF_PREFIX=$P
# --timeout 4s: a request that gets no answer for 4 s is given up and sent
# again; --backoff (first retry delay) keeps the test short.
nf_start_pipeline "$PGTEST_DSN" -- --url "http://127.0.0.1:$TPORT" --timeout 4s \
	--max-retries 30 --backoff 200ms

wait_for "[ \"\$(es_count $INDEX 2>/dev/null)\" = 300 ]" 60
ok $? "the snapshot arrives through both proxies"

# 1. A bulk request cut in the middle: more than 300 bytes without an
# answer (every bulk request here is bigger) is cut there, three times.
tctl "cut?bytes=300&count=3"
nf_workload 3
wait_for "[ \$(tstat cut_pending) = 0 ]" 20
is "$(tstat cuts)" 3 "three bulk requests were cut in the middle"
nf_zero_loss "bulk requests cut in the middle"
tctl clear

# 2. Applied, but the answer lost: the connection is reset after the server
# answered.
fctl "reset?count=3"
nf_workload 3
wait_for "[ \$(fstat resets) -ge 3 ]" 20
ok $? "three bulk answers were lost after the server applied them"
nf_zero_loss "bulk answers lost (outcome unknown)"

# 3. Answers slower than --timeout.
fctl "delay?ms=6000&count=2"
nf_workload 2
wait_for "[ \$(fstat delays) -ge 2 ]" 30
ok $? "two answers came after the sink's timeout"
nf_zero_loss "answers slower than --timeout"
fctl clear

# 4. Half-open: every open connection goes silent for good.
c0=$(tstat connections)
tctl halfopen
nf_workload 3
wait_for "[ \$(tstat connections) -gt $c0 ]" 30
ok $? "the sink gives up a silent connection and opens a new one"
nf_zero_loss "half-open connection"
tctl clear

# 5. Latency, and the server refusing connections for 6 s.
tctl "latency?ms=100"
fctl "down?secs=6"
nf_workload 4
tctl "latency?ms=0"
nf_zero_loss "latency and 6 s of refused connections"

is "$(nf_runs)" 1 "the sink rode out every fault without exiting" ||
	diag "$(grep exit "$TEST_TMP/runs"; tail -n 5 "$TEST_TMP/sink.err")"
fctl clear
tctl clear
touch "$TEST_TMP/stop"
note "sink said: $(sort "$TEST_TMP/sink.err" | uniq -c | sort -rn | head -n 8)"
done_testing
