#!/usr/bin/env bash
# cdc-sink-exec --keep-running: one long-lived worker per lane, fed batches
# each ended by an empty line, answering one JSON line per batch.  A shell
# and a Python worker; every event once and each key in order; status 65
# bisected down to the poison event; an item failure retried; a worker
# killed mid-batch is restarted and the batch retried.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-exec
command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"
SX=$CDC_BIN/cdc-sink-exec
cd "$TEST_TMP" || exit 1

# 300 events, commit_lsn 1000..1299 (the last 0/513:1), key i%7.
python3 - >in.ndjson <<'PY'
import json
for i in range(300):
    src = {"name": "shop", "db": "shop", "schema": "public", "table": "orders",
           "lsn": 1000 + i, "commit_lsn": 1000 + i, "seq": 1, "ts_ms": 1763700000000, "snapshot": "false"}
    print(json.dumps({"op": "u", "before": None, "after": {"id": i % 7, "n": i}, "key": {"id": i % 7},
                      "source": src}, separators=(",", ":")))
PY
ckpt() { sed -n 's/^position=//p' "$1" 2>/dev/null; }
# check.py LOG [SKIP...] [--any-order] [--again=LSN]: each log line "PID KEY LSN"; every
# event once but SKIP, each key's in order.  --again: LSN was reported failed, so the later
# changes of its row in its batch (50) go again with it: they may come twice, and after
# LSN's own line its row's changes come in order.
cat >check.py <<'PY'
import sys, collections
again = [int(x[8:]) for x in sys.argv[2:] if x.startswith("--again=")]
skip = set(int(x) for x in sys.argv[2:] if x != "--any-order" and not x.startswith("--"))
seen, last, bad = collections.Counter(), {}, []
for l in open(sys.argv[1]):
    pid, k, lsn = l.split()
    lsn = int(lsn)
    seen[lsn] += 1
    if k in last and last[k] > lsn and "--any-order" not in sys.argv:
        bad.append("key %s: %d after %d" % (k, lsn, last[k]))
    last[k] = lsn
for x in range(1000, 1300):
    want = {0} if x in skip else {1}
    for a in again:
        if a < x < a + 50 and (x - a) % 7 == 0:
            want = {1, 2}
    if seen[x] not in want:
        bad.append("%d handled %d times" % (x, seen[x]))
for a in again:
    row = [int(l.split()[2]) for l in open(sys.argv[1]) if (int(l.split()[2]) - a) % 7 == 0]
    after = row[row.index(a):] if a in row else []
    if after != sorted(set(x for x in row if x >= a)):
        bad.append("row of %d after it: %s" % (a, after[:8]))
print("\n".join(bad[:10]))
PY
pids() { awk '{print $1}' "$1" | sort -u | wc -l | tr -d ' '; }

# ---- a shell worker, two lanes
cat >worker.sh <<'SH'
#!/bin/sh
# An empty line ends a batch: answer it.
while IFS= read -r line; do
	if [ -z "$line" ]; then echo '{}'; continue; fi
	k=${line#*\"key\":\{\"id\":}; k=${k%%\}*}
	l=${line#*\"commit_lsn\":}; l=${l%%,*}
	echo "$$ $k $l" >>"$LOG"
done
SH
chmod +x worker.sh
"$SX" --keep-running --parallel 2 --batch-size 20 --batch-window 10ms -c sh.ckpt in.ndjson \
	-- env LOG="$PWD/sh.log" ./worker.sh 2>err1
is $? 0 "a shell worker, --parallel 2: exit 0"
is "$(python3 check.py sh.log)" "" "... every event once, each key in order"
is "$(pids sh.log)" 2 "... by two long-lived workers (one per lane)"
is "$(ckpt sh.ckpt)" "0/513:1" "... the checkpoint at the last event"

# ---- a Python worker: 1234 is poison (status 65), 1100 fails once as an item
cat >worker.py <<'PY'
import json, os, sys
log = open(os.environ["LOG"], "a")
batch, failed_once = [], set()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    if line != "\n":
        batch.append(json.loads(line))
        continue
    lsns = [e["source"]["commit_lsn"] for e in batch]
    if 1234 in lsns:
        print("order 1234: no such customer", file=sys.stderr, flush=True)
        answer = {"status": 65}
    elif 1100 in lsns and 1100 not in failed_once:
        failed_once.add(1100)
        answer = {"batchItemFailures": [{"itemIdentifier": "0/%X:1" % 1100}]}
        for e in batch:
            if e["source"]["commit_lsn"] != 1100:
                log.write("%d %d %d\n" % (os.getpid(), e["key"]["id"], e["source"]["commit_lsn"]))
    else:
        answer = {}
        for e in batch:
            log.write("%d %d %d\n" % (os.getpid(), e["key"]["id"], e["source"]["commit_lsn"]))
    log.flush()
    print(json.dumps(answer), flush=True)
    batch = []
PY
"$SX" -v --keep-running --batch-size 50 --batch-window 10ms --dead-letter py.dl -c py.ckpt in.ndjson \
	-- env LOG="$PWD/py.log" python3 worker.py 2>err2
is $? 0 "a Python worker with a poison event and an item failure: exit 0"
is "$(python3 check.py py.log 1234 --any-order --again=1100)" "" \
	"... every other event once (the failed item's later row changes may come again, after it, in order)"
is "$(wc -l <py.dl | tr -d ' ')" 1 "... one dead letter"
like "$(cat py.dl)" 'commit_lsn.{1,3}1234,' "... the poison event"
like "$(cat py.dl)" 'order 1234: no such customer' "... with the tail of the worker's stderr"
like "$(cat err2)" 'bisecting' "... found by bisection"
like "$(cat err2)" '1 of 50 events reported failed' "... the item failure retried"
is "$(pids py.log)" 1 "... one worker for the whole run"
is "$(ckpt py.ckpt)" "0/513:1" "... the checkpoint at the last event"

"$SX" --keep-running --batch-size 50 --batch-window 10ms -c stop.ckpt in.ndjson \
	-- env LOG="$PWD/stop.log" python3 worker.py 2>err3
is $? 65 "the poison event under the stop policy: exit 65"
like "$(ckpt stop.ckpt)" '^0/4D1:1$' "... the checkpoint just before it"

# ---- a worker killed in the middle of a batch: restarted, the batch again
cat >killer.py <<'PY'
import json, os, signal, sys
log = open(os.environ["LOG"], "a")
batch = []
while True:
    line = sys.stdin.readline()
    if not line:
        break
    if line != "\n":
        e = json.loads(line)
        if e["source"]["commit_lsn"] == 1150 and not os.path.exists("killed"):
            open("killed", "w").close()
            log.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        batch.append(e)
        continue
    for e in batch:
        log.write("%d %d %d\n" % (os.getpid(), e["key"]["id"], e["source"]["commit_lsn"]))
    log.flush()
    print("{}", flush=True)
    batch = []
PY
"$SX" --keep-running --batch-size 20 --batch-window 10ms --backoff 10ms -c k.ckpt in.ndjson \
	-- env LOG="$PWD/k.log" python3 killer.py 2>err4
is $? 0 "a worker killed mid-batch: exit 0"
like "$(cat err4)" 'killed by signal 9; retrying 20 events' "... the batch is retried"
is "$(python3 check.py k.log)" "" "... every event once (the killed batch was never answered), in order"
is "$(pids k.log)" 2 "... by a restarted worker"
is "$(ckpt k.ckpt)" "0/513:1" "... the checkpoint at the last event"

# ---- a worker that hangs: --timeout kills it, the batch goes to a new one
cat >hang.sh <<'SH'
#!/bin/sh
while IFS= read -r line; do
	if [ -z "$line" ]; then
		if [ ! -e hung ]; then : >hung; sleep 30; fi
		echo '{}'
	fi
done
SH
chmod +x hang.sh
"$SX" --keep-running --batch-size 100 --batch-window 10ms --backoff 10ms --timeout 500ms -c h.ckpt in.ndjson \
	-- ./hang.sh 2>err5
is $? 0 "a hung worker with --timeout: exit 0"
like "$(cat err5)" 'ran over --timeout; retrying 100 events' "... killed and the batch retried"
is "$(ckpt h.ckpt)" "0/513:1" "... the checkpoint at the last event"

# ---- a bad answer line
"$SX" --keep-running --max-retries 1 --backoff 10ms -c bad.ckpt in.ndjson \
	-- sh -c 'while IFS= read -r l; do [ -z "$l" ] && echo "fine thanks"; done' 2>err6
is $? 75 "an answer that is not JSON: retried, then exit 75"
like "$(cat err6)" 'not a JSON object answer: fine thanks' "... and says so"
done_testing
