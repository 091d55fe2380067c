#!/usr/bin/env bash
# cdc-sink-exec: handlers in shell and Python, on event files.  Every event
# handled once and in order per key; a poison event isolated by bisection
# and dead-lettered with the reason; a handler killed mid-batch, a timeout,
# reported item failures, --max-retries; --parallel 4 keeps each key's
# order and the checkpoint never passes an unhandled event; kill -9 of the
# sink and a restart with the same checkpoint skip nothing.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-exec
command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"

SX=$CDC_BIN/cdc-sink-exec
cd "$TEST_TMP" || exit 1

# gen.py N KEYS: N events, commit_lsn 1000+i, key i%KEYS, a heartbeat every 50th.
cp "$TEST_ROOT/tests/fn/gen.py" gen.py
# check.py INPUT CHECKPOINT LOG...: each log line "KEY LSN"; prints what is wrong.
#   --once: every data event exactly once (else: at least once)
#   --all: every data event handled (else: those at or below the checkpoint)
#   --order: each key's events in input order in every log
cat >check.py <<'PY'
import json, sys, collections
args = [a for a in sys.argv[1:] if not a.startswith("--")]
flags = set(a for a in sys.argv[1:] if a.startswith("--"))
inp, ck, logs = args[0], args[1], args[2:]
data = {}
for l in open(inp):
    e = json.loads(l)
    if e["op"] != "heartbeat":
        data[e["source"]["commit_lsn"]] = e["key"]["id"]
wm = -1
try:
    for l in open(ck):
        if l.startswith("position="):
            hi, rest = l.strip()[9:].split("/")
            wm = (int(hi, 16) << 32) + int(rest.split(":")[0], 16)
except FileNotFoundError:
    pass
seen = collections.Counter()
bad = []
for f in logs:
    last = {}
    for l in open(f):
        k, lsn = map(int, l.split())
        seen[lsn] += 1
        if data.get(lsn) != k:
            bad.append("%s: %d is not key %d's" % (f, lsn, k))
        if "--order" in flags and k in last and last[k] > lsn:
            bad.append("%s: key %d: %d after %d" % (f, k, lsn, last[k]))
        last[k] = lsn
want = [x for x in data if "--all" in flags or x <= wm]
missing = [x for x in want if seen[x] == 0]
if missing:
    bad.append("%d events never handled (first %d), checkpoint %d" % (len(missing), min(missing), wm))
if "--once" in flags:
    dup = [x for x in seen if seen[x] > 1]
    if dup:
        bad.append("%d events handled twice (first %d)" % (len(dup), min(dup)))
extra = [x for x in seen if x not in data]
if extra:
    bad.append("%d unknown events handled" % len(extra))
print("; ".join(bad[:5]))
PY
# The shell handler: logs "KEY LSN" per event (after reading the whole batch) and its environment.
cat >h.sh <<'SH'
#!/bin/sh
batch=$(cat) || exit 1
printf '%s\n' "$batch" | sed -n 's/.*"key":{"id":\([0-9]*\)}.*"commit_lsn":\([0-9]*\),.*/\1 \2/p' >>"$LOG"
n=$(printf '%s\n' "$batch" | wc -l)
echo "$CDC_BATCH_SIZE $n $CDC_BATCH_ATTEMPT $CDC_BATCH_FIRST $CDC_BATCH_LAST $CDC_BATCH_TABLES" >>"$LOG.env"
SH
chmod +x h.sh
ckpos() { sed -n 's/^position=//p' "$1" 2>/dev/null; }

# ---- a shell handler: every event once, in order; the environment; the checkpoint
python3 gen.py 300 10 >e300
LOG=$PWD/sh.log "$SX" --batch-size 7 --checkpoint sh.ckpt e300 -- env LOG="$PWD/sh.log" ./h.sh 2>err.txt
is $? 0 "shell handler: exit 0"
is "$(python3 check.py e300 sh.ckpt sh.log --once --all --order)" "" "shell handler: every event handled once, in order"
is "$(ckpos sh.ckpt)" "0/513:1" "... the checkpoint is at the last event (a heartbeat)"
is "$(awk '$1 != $2' sh.log.env | wc -l)" 0 "... CDC_BATCH_SIZE is the number of lines on stdin"
is "$(awk '$1 > 7' sh.log.env | wc -l)" 0 "... no batch over --batch-size"
is "$(awk '{print $3, $6}' sh.log.env | sort -u)" "1 public.orders" "... CDC_BATCH_ATTEMPT 1, CDC_BATCH_TABLES public.orders"
is "$(head -n 1 sh.log.env | awk '{print $4, $5}')" "0/3E8:1 0/3EE:1" "... CDC_BATCH_FIRST and CDC_BATCH_LAST are positions"
cmp -s <(grep -v '"op":"heartbeat"' e300) <(LOG=/dev/null "$SX" --batch-size 1000 e300 -- sh -c 'cat' 2>&1 | sed 's/^cdc-sink-exec\[0\]: //' >/dev/null; "$SX" --batch-size 1000 e300 -- sh -c 'cat >"$0"' "$PWD/bytes.out"; cat bytes.out)
ok $? "the handler gets the lines byte for byte (heartbeats aside)"

# CDC_BATCH_TABLES when tables change from one event to the next, and look
# alike: "a"."bc" against "ab"."c", a name written with an escape, no schema.
# (The sink decodes a table's name again only when it differs from the last
# event's, as written.)
{
	n=0
	for st in '"schema":"a","table":"bc"' '"schema":"ab","table":"c"' '"schema":"a","table":"bc"' \
		  '"schema":"a","table":"b\u0063"' '"table":"bc"' '"schema":"ab","table":"c"' \
		  '"schema":"a","table":"bc"'; do
		n=$((n + 1))
		printf '{"op":"c","key":{"id":%d},"after":{"id":%d},"source":{%s,"commit_lsn":%d,"seq":1}}\n' \
			"$n" "$n" "$st" "$((2000 + n))"
	done
} >tables.ndjson
"$SX" --batch-size 1 tables.ndjson -- sh -c 'echo "$CDC_BATCH_TABLES" >>"$0"' "$PWD/tables.log" 2>err.txt
is $? 0 "look-alike tables: exit 0"
is "$(tr '\n' ' ' <tables.log)" "a.bc ab.c a.bc a.bc bc ab.c a.bc " "... each batch names its own event's table"

# The batch sizes in the metrics: a histogram, summing to the events handled.
"$SX" --batch-size 7 --metrics-file m.prom e300 -- sh -c 'cat >/dev/null' 2>err.txt
is $? 0 "--metrics-file: exit 0"
msum=$(sed -n 's/^cdc_sink_exec_batch_events_sum{[^}]*} //p' m.prom)
mcount=$(sed -n 's/^cdc_sink_exec_batch_events_count{[^}]*} //p' m.prom)
is "$msum" "$(grep -vc '"op":"heartbeat"' e300)" "... the batch sizes sum to the events handled"
is "$mcount" "$(sed -n 's/^cdc_sink_exec_runs_total{[^}]*} //p' m.prom)" "... one size per run"
is "$(sed -n 's/^cdc_sink_exec_batch_events_bucket{[^}]*le="10"} //p' m.prom)" "$mcount" "... none over 10 (--batch-size 7)"
small=$(sed -n 's/^cdc_sink_exec_batch_events_bucket{[^}]*le="5"} //p' m.prom)
[ -n "$small" ] && [ "$small" -le 1 ]
ok $? "... batches of 7 from a file, only the last may be smaller ($small of 5 or fewer)"

# Again with the same checkpoint: everything is at or below it.
: >sh2.log
"$SX" --checkpoint sh.ckpt e300 -- env LOG="$PWD/sh2.log" ./h.sh 2>err.txt
is "$?:$(wc -l <sh2.log)" "0:0" "a rerun with the checkpoint skips every event"

# A partial batch goes after --batch-window, while the input stays open.
( head -n 3 e300; sleep 3 ) | "$SX" --batch-size 100 --batch-window 200ms -- env LOG="$PWD/win.log" ./h.sh 2>err.txt &
sleep 1.5
is "$(wc -l <win.log 2>/dev/null)" 3 "a partial batch runs after --batch-window, before more input comes"
wait

# ---- a Python handler with a poison event: bisection isolates it
cat >poison.py <<'PY'
import json, os, sys
events = [json.loads(l) for l in sys.stdin]
for e in events:
    if e["after"]["n"] == 123:
        print("cannot handle order 123: no such customer", file=sys.stderr)
        sys.exit(65)
with open(os.environ["LOG"], "a") as f:
    for e in events:
        f.write("%d %d\n" % (e["key"]["id"], e["source"]["commit_lsn"]))
with open(os.environ["LOG"] + ".runs", "a") as f:
    f.write("%s\n" % os.environ["CDC_BATCH_SIZE"])
PY
LOG=$PWD/py.log "$SX" --batch-size 32 --checkpoint py.ckpt --dead-letter py.dl e300 -- python3 poison.py 2>err.txt
is $? 0 "poison event under --dead-letter: exit 0"
is "$(wc -l <py.dl)" 1 "... one dead letter"
is "$(python3 -c 'import json,sys; r=json.loads(open("py.dl").readline()); print(json.loads(r["input"])["after"]["n"], r["position"])')" "123 0/463:1" "... exactly the poison event"
like "$(cat py.dl)" '"reason":"the handler refused the event \(exit 65\): cannot handle order 123: no such customer"' "... the reason is the tail of the handler's stderr"
grep -v '"n":123}' e300 >e300-good
is "$(python3 check.py e300-good py.ckpt py.log --once --all --order)" "" "... every other event handled exactly once, in order"
is "$(ckpos py.ckpt)" "0/513:1" "... the checkpoint passed it"
like "$(cat err.txt)" 'cdc-sink-exec\[0\]: cannot handle order 123' "the handler's stderr comes through with a prefix"

: >py2.log
LOG=$PWD/py2.log "$SX" --batch-size 32 --checkpoint py2.ckpt e300 -- python3 poison.py 2>err.txt
is $? 65 "poison event under the stop policy: exit 65"
is "$(ckpos py2.ckpt)" "0/462:1" "... the checkpoint is just before it"
like "$(cat err.txt)" 'line 124 \(position 0/463:1\): the handler refused the event' "... the message names the line"

# ---- reported item failures: only those again
cat >items.py <<'PY'
import json, os, sys
events = [json.loads(l) for l in sys.stdin]
log = open(os.environ["LOG"], "a")
failed = []
for e in events:
    if e["after"]["n"] % 10 == 3 and os.environ["CDC_BATCH_ATTEMPT"] == "1":
        failed.append({"itemIdentifier": "0/%X:%d" % (e["source"]["commit_lsn"], e["source"]["seq"])})
    else:
        log.write("%d %d\n" % (e["key"]["id"], e["source"]["commit_lsn"]))
print("some output first")
print(json.dumps({"batchItemFailures": failed}))
open(os.environ["LOG"] + ".env", "a").write("%s %s\n" % (os.environ["CDC_BATCH_ATTEMPT"], os.environ["CDC_BATCH_SIZE"]))
PY
"$SX" --batch-size 20 --backoff 1ms --checkpoint it.ckpt e300 -- env LOG="$PWD/it.log" python3 items.py 2>err.txt
is $? 0 "reported item failures: exit 0"
is "$(python3 check.py e300 it.ckpt it.log --once --all)" "" "... every event handled exactly once"
is "$(awk '$1 == 2 { n += $2 } END { print n }' it.log.env)" 30 "... only the reported events ran again (the 30 with n % 10 == 3)"
is "$(awk '$1 == 2' it.log.env | wc -l)" 15 "... once per batch"

# ---- a handler killed mid-batch: temporary, the batch again
cat >killed.sh <<'SH'
#!/bin/sh
batch=$(cat)
if [ ! -e "$LOG.died" ] && printf '%s\n' "$batch" | grep -q '"n":150}'; then
	: >"$LOG.died"
	printf '%s\n' "$batch" | head -n 2 | sed -n 's/.*"key":{"id":\([0-9]*\)}.*"commit_lsn":\([0-9]*\),.*/\1 \2/p' >>"$LOG"
	kill -9 $$
fi
printf '%s\n' "$batch" | sed -n 's/.*"key":{"id":\([0-9]*\)}.*"commit_lsn":\([0-9]*\),.*/\1 \2/p' >>"$LOG"
SH
chmod +x killed.sh
"$SX" --batch-size 10 --backoff 10ms --checkpoint k.ckpt e300 -- env LOG="$PWD/k.log" ./killed.sh 2>err.txt
is $? 0 "a handler killed mid-batch: exit 0 in the end"
ok "$([ -e k.log.died ]; echo $?)" "... it was killed once"
like "$(cat err.txt)" 'killed by signal 9; retrying 10 events' "... the batch ran again"
is "$(python3 check.py e300 k.ckpt k.log --all --order)" "" "... every event handled at least once"
is "$(sort k.log | uniq -d | wc -l)" 2 "... only the two it had done before dying twice"

# ---- --timeout
cat >slow.sh <<'SH'
#!/bin/sh
batch=$(cat)
if [ ! -e "$LOG.slept" ]; then : >"$LOG.slept"; sleep 30; fi
printf '%s\n' "$batch" | sed -n 's/.*"key":{"id":\([0-9]*\)}.*"commit_lsn":\([0-9]*\),.*/\1 \2/p' >>"$LOG"
SH
chmod +x slow.sh
head -n 40 e300 >e40
start=$(date +%s)
"$SX" --batch-size 10 --timeout 500ms --backoff 10ms --checkpoint t.ckpt e40 -- env LOG="$PWD/t.log" ./slow.sh 2>err.txt
is $? 0 "--timeout: exit 0 in the end"
ok "$([ $(($(date +%s) - start)) -lt 15 ]; echo $?)" "... the slow handler was not waited for"
like "$(cat err.txt)" 'ran over --timeout' "... and says so"
is "$(python3 check.py e40 t.ckpt t.log --once --all --order)" "" "... every event handled once"

# ---- --max-retries: then exit 75, checkpoint before the batch
"$SX" --batch-size 10 --max-retries 2 --backoff 1ms --checkpoint mr.ckpt e40 -- sh -c 'cat >/dev/null; exit 3' 2>err.txt
is $? 75 "a handler that always fails: exit 75 after --max-retries"
like "$(cat err.txt)" 'giving up after 3 attempts' "... after three attempts"
ok "$([ ! -e mr.ckpt ]; echo $?)" "... and no checkpoint was written"
# With --dead-letter the user chose to go on: the batch's events are dead-lettered.
"$SX" --batch-size 10 --max-retries 1 --backoff 1ms --checkpoint mrdl.ckpt --dead-letter mr.dl e40 \
	-- sh -c 'cat >/dev/null; echo "upstream is down" >&2; exit 3' 2>err.txt
is $? 0 "--dead-letter: after --max-retries the events go to the dead-letter file (exit 0)"
is "$(wc -l <mr.dl)" "$(grep -c . e40)" "... every event of the input, one record each"
like "$(head -1 mr.dl)" 'gave up after 2 attempts.*upstream is down' "... with the attempts and the handler's stderr"
like "$(cat mrdl.ckpt)" "position=" "... and the checkpoint moves past them"

# ---- --parallel 4: each key in order; the checkpoint never passes an unhandled event
cat >par.py <<'PY'
import json, os, sys, time
events = [json.loads(l) for l in sys.stdin]
time.sleep(0.002 * len(events))
with open("%s.%s" % (os.environ["LOG"], os.environ["CDC_WORKER"]), "a") as f:
    for e in events:
        f.write("%d %d\n" % (e["key"]["id"], e["source"]["commit_lsn"]))
PY
python3 gen.py 3000 40 >e3000
"$SX" --parallel 4 --batch-size 25 --checkpoint-interval 10ms --checkpoint par.ckpt e3000 -- env LOG="$PWD/par.log" python3 par.py 2>err.txt &
pid=$!
probs=""
while kill -0 $pid 2>/dev/null; do
	cp par.ckpt par.snap 2>/dev/null || { sleep 0.05; continue; }
	p=$(python3 check.py e3000 par.snap par.log.*)
	[ -n "$p" ] && probs+="$p; "
	sleep 0.2
done
wait $pid
is $? 0 "--parallel 4: exit 0"
is "$probs" "" "... while it ran, every event at or below the checkpoint was handled"
is "$(ls par.log.* | wc -l)" 4 "... four workers ran"
is "$(python3 check.py e3000 par.ckpt par.log.* --once --all --order)" "" "... every event once, each key in order"
is "$(ckpos par.ckpt)" "0/F9F:1" "... the checkpoint is at the last event"

# ---- --parallel 4 and a truncate, or an update that moves its row to
# another key (cdc-capture --key-change=update: "before" holds the old key):
# a barrier over all workers.  Batches without it are slow, its batch is
# fast: every event before it must still be handled before it, every event
# after it after it.
cat >bar.py <<'PY'
import json, sys
def ev(op, i, key, before=None):
    e = {"op": op, "source": {"name": "shop", "schema": "public", "table": "orders",
                              "lsn": i, "commit_lsn": i, "seq": 1, "ts_ms": 1763700000000}}
    if key is not None:
        e.update(before=before, after={"id": key}, key={"id": key})
    return json.dumps(e, separators=(",", ":"))
for i in range(40):
    print(ev("u", 1000 + i, i))
if sys.argv[1] == "t":
    print(ev("t", 1040, None))
else:
    print(ev("u", 1040, 99, {"id": 3}))
for i in range(40):
    print(ev("u", 1041 + i, i))
PY
cat >tr.py <<'PY'
import json, os, sys, time
events = [json.loads(l) for l in sys.stdin]
if not any(e["source"]["commit_lsn"] == 1040 for e in events):
    time.sleep(0.3)
with open(os.environ["LOG"], "a") as f:
    f.write("".join("%s %d\n" % (e["op"], e["source"]["commit_lsn"]) for e in events))
PY
for what in truncate move; do
	python3 bar.py "${what:0:1}" >"e$what"
	"$SX" --parallel 4 --batch-size 5 --batch-window 50ms --checkpoint "$what.ckpt" "e$what" -- env LOG="$PWD/$what.log" python3 tr.py 2>err.txt
	is $? 0 "--parallel 4 with a $what: exit 0"
	is "$(wc -l <"$what.log")" 81 "... every event handled once"
	is "$(awk '$2 == 1040 { print NR }' "$what.log")" 41 "... the $what after the 40 events before it"
	is "$(awk 'NR <= 40 && $2 >= 1040 || NR > 41 && $2 <= 1040' "$what.log")" "" "... and before the 40 after it"
	is "$(ckpos "$what.ckpt")" "0/438:1" "... the checkpoint is at the last event"
done
# An update that keeps its key is no barrier: no batch of its own.
python3 - >eupd <<'PY'
import json
for i in range(20):
    print(json.dumps({"op": "u", "before": {"id": i, "n": 0}, "after": {"id": i, "n": 1}, "key": {"id": i},
                      "source": {"schema": "public", "table": "orders", "commit_lsn": 1000 + i, "seq": 1}}))
PY
"$SX" --batch-size 20 --batch-window 1s eupd -- sh -c 'wc -l >>"$0"' "$PWD/upd.log" 2>err.txt
is "$(tr -d ' ' <upd.log)" 20 "an update whose before has the same key: one batch of all 20"

# ---- kill -9 of the sink mid-run, then a restart with the same checkpoint
"$SX" --parallel 2 --batch-size 20 --checkpoint-interval 10ms --checkpoint k9.ckpt e3000 -- env LOG="$PWD/k9.log" python3 par.py 2>err.txt &
pid=$!
sleep 1
kill -9 $pid
wait $pid 2>/dev/null
first=$(cat k9.log.* | wc -l)
ok "$([ "$first" -gt 0 ] && [ "$first" -lt 2940 ]; echo $?)" "kill -9 mid-run: some events were handled ($first)"
like "$(ckpos k9.ckpt)" '^0/' "... and checkpointed"
sleep 0.5	# the orphaned handlers finish
"$SX" --parallel 2 --batch-size 20 --checkpoint k9.ckpt e3000 -- env LOG="$PWD/k9.log" python3 par.py 2>err.txt
is $? 0 "the restart: exit 0"
is "$(python3 check.py e3000 k9.ckpt k9.log.* --all)" "" "... every event handled at least once, none skipped"

# ---- SIGTERM: the batch in flight finishes, the checkpoint, exit 0
"$SX" --batch-size 50 --checkpoint-interval 10ms --checkpoint term.ckpt e3000 -- env LOG="$PWD/term.log" python3 par.py 2>err.txt &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
is $? 0 "SIGTERM: exit 0"
is "$(python3 check.py e3000 term.ckpt term.log.*)" "" "... every event up to the checkpoint was handled"
is "$(tail -n 1 term.log.0 | awk '{printf "0/%X:1\n", $2}')" "$(ckpos term.ckpt)" "... the checkpoint is at the last event handled"

done_testing
