#!/usr/bin/env bash
# SIGTERM while a sink waits for input on a pipe whose writer is still
# there (the common case: capture is quiet).  Every sink reads through
# common/evinput's loop; each must end within a second, exit 0 and leave a
# checkpoint of what it applied.  cdc-sink-exec, cdc-sink-http, and
# cdc-sink-kafka when a test broker is up.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-exec cdc-sink-http cdc-sink-kafka
command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"
cd "$TEST_TMP" || exit 1

# 20 events, commit_lsn 1000..1019: the last position is 0/3FB:1.
python3 - >in.ndjson <<'PY'
import json
for i in range(20):
    src = {"name": "shop", "db": "shop", "schema": "public", "table": "orders",
           "lsn": 1000 + i, "commit_lsn": 1000 + i, "seq": 1, "ts_ms": 1763700000000, "snapshot": "false"}
    print(json.dumps({"op": "c", "before": None, "after": {"id": i}, "key": {"id": i}, "source": src},
                     separators=(",", ":")))
PY
ckpt() { sed -n 's/^position=//p' "$1" 2>/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# term_on_pipe NAME APPLIED-CHECK CKPT CMD...: feed in.ndjson through an
# open pipe, wait until APPLIED-CHECK holds, SIGTERM, check the exit.
term_on_pipe() {
	local name=$1 applied=$2 ck=$3 t0 st
	shift 3
	rm -f fifo
	mkfifo fifo
	exec 7<>fifo
	spawn "$@" <fifo 2>"err.$name"
	local pid=$SPAWNED_PID
	cat in.ndjson >&7
	wait_for "$applied" 20 || diag "$name: the events were not applied in 20 s"
	sleep 0.3	# idle on the open pipe
	t0=$(now_ms)
	kill -TERM "$pid"
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$pid" 2>/dev/null; then
		ok 1 "$name: SIGTERM on an open pipe ends the run within a second"
		kill -KILL "$pid"
		wait "$pid"
	else
		wait "$pid"
		st=$?
		t0=$(($(now_ms) - t0))
		ok "$((t0 < 1000 ? 0 : 1))" "$name: SIGTERM on an open pipe ends the run within a second"
		note "$name: exited $t0 ms after SIGTERM"
		is "$st" 0 "... exit 0"
	fi
	exec 7>&-
	is "$(ckpt "$ck")" "0/3FB:1" "... the checkpoint is at the last event applied"
}

# ---- cdc-sink-exec
term_on_pipe exec "test \$(wc -l <exec.log) -eq 20" exec.ckpt \
	"$CDC_BIN/cdc-sink-exec" --batch-window 10ms -c exec.ckpt -- sh -c "cat >>'$PWD/exec.log'"

# ---- cdc-sink-http
mkdir -p rx
spawn python3 "$TEST_ROOT/tests/http/rx.py" "$PWD/rx"
wait_for "test -s rx/port" 10 || bail_out "the receiver did not start"
term_on_pipe http "test \$(wc -l <rx/events) -eq 20" http.ckpt \
	"$CDC_BIN/cdc-sink-http" --url "http://127.0.0.1:$(cat rx/port)/hook" --batch-window 10ms -c http.ckpt

# ---- cdc-sink-kafka
if [ -n "${CDC_TEST_KAFKA_BROKERS:-}" ]; then
	topic=$(kafka_topic_prefix)orders
	kafka_new_topic "$topic" 1 >/dev/null
	term_on_pipe kafka "grep -q '^position=0/3FB:1' kafka.ckpt" kafka.ckpt \
		"$CDC_BIN/cdc-sink-kafka" -b "$CDC_TEST_KAFKA_BROKERS" --topic "$topic" \
		--checkpoint-interval 10ms --checkpoint kafka.ckpt
else
	skip "no test Kafka (tests/services.sh kafka-up): cdc-sink-kafka not tried" 3
fi
done_testing
