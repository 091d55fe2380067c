#!/usr/bin/env bash
# --max-event-age for cdc-sink-exec and cdc-sink-http (Lambda's
# MaximumRecordAgeInSeconds): after a temporary failure, events older than
# the limit by source.ts_ms go to the bad-input policy instead of being
# retried; younger ones are retried and applied.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-exec cdc-sink-http
command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"
cd "$TEST_TMP" || exit 1

# 6 events: commit_lsn 1000..1005; 1000-1002 committed a day ago, 1003-1005 now.
python3 - >in.ndjson <<'PY'
import json, time
now = int(time.time() * 1000)
for i in range(6):
    ts = now - 86400 * 1000 if i < 3 else now
    src = {"name": "shop", "db": "shop", "schema": "public", "table": "orders",
           "lsn": 1000 + i, "commit_lsn": 1000 + i, "seq": 1, "ts_ms": ts, "snapshot": "false"}
    print(json.dumps({"op": "c", "before": None, "after": {"id": i}, "key": {"id": i}, "source": src},
                     separators=(",", ":")))
PY
ckpt() { sed -n 's/^position=//p' "$1" 2>/dev/null; }
# The commit_lsn of each dead letter's event, or of each event of a handler's log.
lsns() { python3 -c 'import json,sys; print(" ".join(str(json.loads(json.loads(l)["input"])["source"]["commit_lsn"]) for l in open(sys.argv[1])))' "$1"; }
logged() { python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["source"]["commit_lsn"]) for l in open(sys.argv[1])))' "$1"; }

# A handler that fails every first attempt (a flaky downstream) and logs what it applied.
cat >flaky.sh <<'SH'
#!/bin/sh
[ "$CDC_BATCH_ATTEMPT" = 1 ] && { echo "downstream is down" >&2; exit 1; }
cat >>"$LOG"
SH
chmod +x flaky.sh

# ---- cdc-sink-exec
"$CDC_BIN/cdc-sink-exec" --batch-size 10 --backoff 10ms --max-event-age 1h \
	--dead-letter x1.dl -c x1.ckpt in.ndjson -- env LOG="$PWD/x1.log" ./flaky.sh 2>err1
is $? 0 "exec, --max-event-age 1h --dead-letter: exit 0"
is "$(lsns x1.dl)" "1000 1001 1002" "... the three day-old events are dead-lettered after the failure"
like "$(head -1 x1.dl)" '"reason":"older than --max-event-age' "... with the reason"
is "$(logged x1.log)" "1003 1004 1005" "... the fresh ones are retried and applied"
is "$(ckpt x1.ckpt)" "0/3ED:1" "... the checkpoint is at the last event"

"$CDC_BIN/cdc-sink-exec" --batch-size 10 --backoff 10ms --max-event-age 1h -c x2.ckpt in.ndjson \
	-- env LOG="$PWD/x2.log" ./flaky.sh 2>err2
is $? 65 "exec, --max-event-age under the stop policy: exit 65"
like "$(cat err2)" 'older than --max-event-age' "... and says why"
is "$(ckpt x2.ckpt)" "" "... no checkpoint past the expired event"

"$CDC_BIN/cdc-sink-exec" --batch-size 10 --backoff 10ms --max-event-age 2d --dead-letter x3.dl \
	-c x3.ckpt in.ndjson -- env LOG="$PWD/x3.log" ./flaky.sh 2>err3
is $? 0 "exec, --max-event-age 2d: exit 0"
is "$(wc -l <x3.log | tr -d ' ')" 6 "... every event is younger: all retried and applied"
[ ! -s x3.dl ]
ok $? "... nothing dead-lettered"

"$CDC_BIN/cdc-sink-exec" --max-event-age 0 in.ndjson -- true </dev/null >/dev/null 2>err4
is $? 2 "exec, --max-event-age 0: exit 2"

# ---- cdc-sink-http: the receiver answers 500 to the first request
mkdir -p rx
spawn python3 "$TEST_ROOT/tests/http/rx.py" "$PWD/rx" 500
wait_for "test -s rx/port" 10 || bail_out "the receiver did not start"
"$CDC_BIN/cdc-sink-http" --url "http://127.0.0.1:$(cat rx/port)/hook" --batch-size 10 --backoff 10ms \
	--max-event-age 1h --dead-letter h1.dl -c h1.ckpt in.ndjson 2>err5
is $? 0 "http, --max-event-age 1h --dead-letter after a 500: exit 0"
is "$(lsns h1.dl)" "1000 1001 1002" "... the day-old events are dead-lettered"
is "$(awk '{print $2}' rx/events | tr '\n' ' ')" "1003 1004 1005 " "... the fresh ones delivered"
is "$(ckpt h1.ckpt)" "0/3ED:1" "... the checkpoint is at the last event"
"$CDC_BIN/cdc-sink-http" --url http://127.0.0.1:1/ --max-event-age x </dev/null >/dev/null 2>err6
is $? 2 "http, --max-event-age x: exit 2"
done_testing
