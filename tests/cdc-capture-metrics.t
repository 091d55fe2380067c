#!/usr/bin/env bash
# cdc-capture's --metrics-file and --stats: the shared names (cdc-events(7),
# METRICS), WAL bytes behind the server, the confirmed position; -v says
# at start what it streams and where acknowledgements come from; a path
# that cannot be written is refused at start.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
need_pg
pg_new_db capture_metrics
CAP=$CDC_BIN/cdc-capture
slot=${TEST_ID}_s
pub=${TEST_ID}_p
M=$TEST_TMP/m.prom
ack=$TEST_TMP/ack.ckpt

psql_t <<SQL >/dev/null
CREATE TABLE t (id int PRIMARY KEY);
CREATE PUBLICATION $pub FOR TABLE t;
SELECT pg_create_logical_replication_slot('$slot', 'pgoutput');
SQL

"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --metrics-file /nonexistent/dir/m.prom \
	--no-loop </dev/null >/dev/null 2>"$TEST_TMP/e0"
is "$?" 1 "an unwritable --metrics-file: exit 1 at start"
like "$(cat "$TEST_TMP/e0")" "cannot write metrics file /nonexistent/dir/m.prom" "... one clear line"

psql_t "INSERT INTO t SELECT g FROM generate_series(1, 50) g"
spawn "$CAP" -v -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --ack-file "$ack" \
	--status-interval 0.5 --metrics-file "$M" --stats >"$TEST_TMP/o.json" 2>"$TEST_TMP/e"
cap=$SPAWNED_PID
wait_for "[ \$(wc -l <$TEST_TMP/o.json) -ge 50 ]" 15
ok $? "50 events streamed"
like "$(cat "$TEST_TMP/e")" "streaming slot $slot of database [^ ]+ from [0-9A-F]+/[0-9A-F]+, acknowledging from $ack" \
	"-v: what it streams, from where, and the ack file"
commit=$(jq -s '.[-1].source.commit_lsn' "$TEST_TMP/o.json")
printf 'version=1\ncommit_lsn=%s\nseq=50\nsnapshot=false\nname=%s\nwriter=test\n' \
	"$(printf '%X/%X' $((commit >> 32)) $((commit & 0xFFFFFFFF)))" "$slot" >"$ack"
wait_for "grep -q 'cdc_checkpoint_commit_lsn{[^}]*} $commit\$' '$M'" 15
ok $? "the metrics file shows the confirmed position (the ack file's)"
m=$(cat "$M")
like "$m" "cdc_events_out_total\{program=\"cdc-capture\",source=\"$slot\"\} 50" "events out, labelled with program and slot"
like "$m" "cdc_capture_wal_bytes_behind\{[^}]*\} [0-9]+" "WAL bytes behind the server"
like "$m" "cdc_event_lag_seconds_count\{[^}]*\} 50" "a lag sample per event (commit to written)"
like "$m" "cdc_lag_seconds\{[^}]*\} [0-9.]+" "the current lag gauge"
kill -TERM "$cap"
wait "$cap"
is "$?" 0 "SIGTERM: exit 0"
like "$(cat "$TEST_TMP/e")" "cdc-capture: total: 50 events in .*, 50 out, .*bytes behind the server" \
	"--stats: the shared line at exit, with the bytes behind"

done_testing
