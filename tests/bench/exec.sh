#!/usr/bin/env bash
# bench exec: the function sinks.
#   - cdc-sink-exec with a no-op handler (cat >/dev/null) once per batch,
#     against --keep-running with a no-op Python worker (answering {} at each
#     empty line), BENCH_BATCH-event batches: events/s of each and the ratio
#     (goals: 200k/s per batch, 500k/s kept running);
#   - the per-batch cost of cdc-sink-exec at batch size 1 (fork + exec + the
#     answer), in ms;
#   - cdc-sink-http against curl posting the same NDJSON bodies one after
#     the other on one connection, to the same local receiver (a minimal
#     http.server that reads the body and answers 200 {}): events/s of each
#     and the ratio (goal 0.9).
# The sinks run with a long --batch-window, so that each batch is BENCH_BATCH
# events as the goals say: with --batch-window 0 a batch goes as soon as the
# lane is free, and against a fast receiver that is a few dozen events.
# Env: CDC_BIN; BENCH_EVENTS (default 200000), BENCH_BATCH (1000),
# BENCH_RUNS (3: the best run counts), BENCH_ONE (2000 events at batch size 1).
set -euo pipefail

: "${CDC_BIN:?}"
N=${BENCH_EVENTS:-200000}
B=${BENCH_BATCH:-1000}
RUNS=${BENCH_RUNS:-3}
ONE=${BENCH_ONE:-2000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-exec.XXXXXX")
rx_pid=
trap '[ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

python3 - "$N" >"$tmp/events.ndjson" <<'PY'
import json, sys
n = int(sys.argv[1])
w = sys.stdout.write
for i in range(n):
    lsn = 0x1000000 + i * 64
    after = {"id": i, "customer": "customer-%d" % (i % 977), "status": ("new", "paid", "shipped")[i % 3],
             "amount": "%d.%02d" % (i % 10000, i % 100)}
    w(json.dumps({"op": "c", "before": None, "after": after, "key": {"id": i},
                  "source": {"name": "bench", "db": "shop", "schema": "public", "table": "orders",
                             "lsn": lsn, "commit_lsn": lsn, "seq": 1, "ts_ms": 1763700000000,
                             "snapshot": "false"}}, separators=(",", ":")) + "\n")
PY
head -n "$ONE" "$tmp/events.ndjson" >"$tmp/one.ndjson"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
# best CMD...: the shortest of RUNS runs, in seconds.
best() {
	local b= t0 t1 t
	for _ in $(seq 1 "$RUNS"); do
		rm -f "$tmp/ck"
		t0=$(now)
		"$@" >/dev/null
		t1=$(now)
		t=$(calc "$t1 - $t0")
		if [ -z "$b" ] || [ "$(calc "$t < $b")" = 1 ]; then b=$t; fi
	done
	echo "$b"
}
rate() { printf '%.0f' "$(calc "$1 / $2")"; }

SX=$CDC_BIN/cdc-sink-exec
SH=$CDC_BIN/cdc-sink-http

# ---- exec: a process per batch against a kept worker
t_batch=$(best "$SX" --batch-size "$B" --batch-window 10s -c "$tmp/ck" "$tmp/events.ndjson" \
	-- sh -c 'cat >/dev/null')
# (Not awk: mawk reads ahead until its buffer is full, so it never sees the
# empty line of a batch smaller than that.)
cat >"$tmp/noop.py" <<'PY'
import sys
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if line == b"\n":
        out.write(b"{}\n")
        out.flush()
PY
t_keep=$(best "$SX" --keep-running --batch-size "$B" --batch-window 10s -c "$tmp/ck" "$tmp/events.ndjson" \
	-- python3 "$tmp/noop.py")
r_batch=$(rate "$N" "$t_batch")
r_keep=$(rate "$N" "$t_keep")
echo "bench exec: per batch $r_batch events/s, --keep-running $r_keep events/s, ratio $(printf '%.2f' "$(calc "$r_keep / $r_batch")") ($N events, batches of $B; goals 200000 and 500000)"
t_one=$(best "$SX" --batch-size 1 --batch-window 0 -c "$tmp/ck" "$tmp/one.ndjson" -- sh -c 'cat >/dev/null')
echo "bench exec: batch size 1: $(printf '%.3f' "$(calc "$t_one * 1000 / $ONE")") ms a batch ($ONE batches, a process each)"

# ---- http: ours against curl, the same bodies, the same receiver
cat >"$tmp/rx.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer, no Nagle: else each answer waits for a delayed ACK (40 ms).
    wbufsize = 65536
    disable_nagle_algorithm = True
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
s = HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$tmp/rx.py" "$tmp/port" &
rx_pid=$!
for _ in $(seq 1 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url=http://127.0.0.1:$(cat "$tmp/port")/hook
mkdir "$tmp/bodies"
split -l "$B" -d -a 5 "$tmp/events.ndjson" "$tmp/bodies/b."
# One curl, every body in turn on one kept-alive connection (--next).
args=()
for f in "$tmp"/bodies/b.*; do
	args+=(--next -s -o /dev/null -H 'Content-Type: application/x-ndjson' -H 'Expect:'
	       --data-binary "@$f" "$url")
done
t_curl=$(best curl "${args[@]:1}")
t_ours=$(best "$SH" --url "$url" --batch-size "$B" --batch-window 10s -c "$tmp/ck" "$tmp/events.ndjson")
r_curl=$(rate "$N" "$t_curl")
r_ours=$(rate "$N" "$t_ours")
echo "bench http: ours $r_ours events/s, curl $r_curl events/s, ratio $(printf '%.2f' "$(calc "$r_ours / $r_curl")") ($N events, bodies of $B; goal 0.9)"
