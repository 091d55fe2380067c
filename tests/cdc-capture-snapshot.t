#!/usr/bin/env bash
# cdc-capture's initial snapshot: modes, event shape and positions, keys,
# publication row filters and column lists, partitions, parallel copies,
# progress, the state file, and interrupted snapshots (kill -9 and SIGTERM
# in the middle, then a restart that starts over).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture
need_pg
# markers_ok FILE: the snapshot rows carry Debezium's source.snapshot
# markers in emission order: "first" on the first row, "last" on the last,
# "first_in_data_collection" / "last_in_data_collection" on the first and
# last row of every table (the last wins for a table of one row), "true"
# on the rest.
markers_ok() {
	jq -s '[.[] | select(.op == "r")] as $r | ($r | length) as $n
		| (reduce range(0; $n) as $i ({}; .[$r[$i].source.table] |= ((. // {first: $i}) | .last = $i))) as $ix
		| [range(0; $n) as $i | $r[$i].source.table as $t
		   | if $i == $n - 1 then "last" elif $i == 0 then "first"
		     elif $ix[$t].last == $i then "last_in_data_collection"
		     elif $ix[$t].first == $i then "first_in_data_collection" else "true" end]
		  == [$r[].source.snapshot]' "$1"
}
command -v jq >/dev/null || skip_all "jq is not installed"
pg_new_db snap

CAP=$CDC_BIN/cdc-capture
T=$TEST_TMP

# Run capture on the test database: cap ARGS... (stdout, stderr as given by the caller).
cap() { "$CAP" -d "$PGTEST_DSN" "$@"; }
# The slots of the test database, sorted.
slots() { psql_t "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots WHERE database = current_database()"; }
state_phase() { sed -n 's/^phase=//p' "$1"; }

psql_t <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, status text, amount numeric(10,2), note text);
INSERT INTO orders SELECT i, CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'new' END, i * 1.5, 'n' || i
  FROM generate_series(1, 50) i;
CREATE TABLE nokey (a int, b text);
INSERT INTO nokey VALUES (1, 'x'), (2, NULL);
CREATE TABLE full_ri (k text, v int);
ALTER TABLE full_ri REPLICA IDENTITY FULL;
INSERT INTO full_ri VALUES ('k1', 1);
CREATE TABLE idx_ri (a int NOT NULL, b int NOT NULL, c text);
CREATE UNIQUE INDEX idx_ri_ab ON idx_ri (b, a);
ALTER TABLE idx_ri REPLICA IDENTITY USING INDEX idx_ri_ab;
INSERT INTO idx_ri VALUES (1, 2, 'c');
CREATE TABLE gen (id int PRIMARY KEY, x int, dropme int, twice int GENERATED ALWAYS AS (x * 2) STORED);
ALTER TABLE gen DROP COLUMN dropme;
INSERT INTO gen (id, x) VALUES (1, 21);
CREATE TABLE empty_t (id int PRIMARY KEY);
CREATE PUBLICATION pub_all FOR TABLE orders, nokey, full_ri, idx_ri, gen, empty_t;
SQL

# ---------------------------------------------------------------- usage

cap --slot s_bad --publication pub_all --snapshot sometimes >/dev/null 2>"$T/err"
is "$?" 2 "--snapshot with an unknown mode: exit 2"
like "$(cat "$T/err")" "Try 'cdc-capture --help'" "... with the usage hint"
cap --slot s_bad --publication pub_all --snapshot only --snapshot-jobs 0 >/dev/null 2>&1
is "$?" 2 "--snapshot-jobs 0: exit 2"
cap --slot s_bad --publication pub_all --create-slot >/dev/null 2>"$T/err"
is "$?" 2 "creating a slot with a snapshot but no --snapshot-state: exit 2"
like "$(cat "$T/err")" "snapshot-state" "... naming --snapshot-state"
like "$(cat "$T/err")" "--ack-file FILE .*FILE\.snapshot" "... and --ack-file, which implies a state file"
is "$(slots)" "" "... and no slot was created"

# ---------------------------------------------------------------- --snapshot only

cap --slot s_only --publication pub_all --snapshot only >"$T/only.ndjson" 2>"$T/only.err"
is "$?" 0 "--snapshot only: exit 0"
unlike "$(cat "$T/only.err")" "status update" "--snapshot only: no status update (streaming never started)"
is "$(slots)" "" "--snapshot only leaves no slot behind"
n=$(wc -l <"$T/only.ndjson")
is "$n" 57 "55 rows + snapshot_begin + snapshot_end"
is "$(head -n1 "$T/only.ndjson" | jq -r '[.op, .source.seq, .source.snapshot] | join(" ")')" \
	"snapshot_begin 0 true" "first event: snapshot_begin at seq 0, snapshot true"
is "$(tail -n1 "$T/only.ndjson" | jq -r '[.op, .source.seq, .source.snapshot, .snapshot.rows] | join(" ")')" \
	"snapshot_end 56 last 55" "last event: snapshot_end at seq N+1, snapshot last, rows N"
is "$(jq -r '.source.seq' "$T/only.ndjson" | awk '$1 != NR - 1 { print "gap at line " NR; exit }')" "" \
	"seq runs 0..N+1 without gaps, in output order"
is "$(jq -r '[.source.lsn, .source.commit_lsn] | @tsv' "$T/only.ndjson" | sort -u | wc -l)" 1 \
	"one lsn = commit_lsn for every snapshot event"
c=$(head -n1 "$T/only.ndjson" | jq -r '.source.lsn')
[ "$(head -n1 "$T/only.ndjson" | jq -r '.source.commit_lsn == .source.lsn')" = true ] && [ "$c" -gt 0 ]
ok $? "snapshot_begin's lsn is just before the consistent point ($c)"
is "$(jq -r 'select(.op == "r") | [(.before == null), (.source.txId == null), .source.db, .source.name] | @tsv' "$T/only.ndjson" | sort -u)" \
	"$(printf 'true\ttrue\t%s\ts_only' "$PGTEST_DB")" "rows: before null, txId null, db and slot name"
is "$(markers_ok "$T/only.ndjson")" true \
	"rows: snapshot first, first_in_data_collection, true, last_in_data_collection, last (as Debezium)"
is "$(jq -r 'select(.op == "r") | .source.ts_ms' "$T/only.ndjson" | sort -u | wc -l)" 1 \
	"rows share source.ts_ms (the snapshot's start)"
is "$(jq -c 'select(.op == "r" and .source.table == "orders" and .after.id == 3) | [.after, .key]' "$T/only.ndjson")" \
	'[{"id":3,"status":"paid","amount":"4.50","note":"n3"},{"id":3}]' "orders row: after and primary key"
is "$(jq -r 'select(.op == "r" and .source.table == "orders") | .after.id' "$T/only.ndjson" | sort -n | uniq | wc -l)" 50 \
	"every orders row once"
is "$(jq -c 'select(.op == "r" and .source.table == "nokey") | [.after, .key]' "$T/only.ndjson" | sort | tr '\n' ' ')" \
	'[{"a":1,"b":"x"},null] [{"a":2,"b":null},null] ' "table without key: key null, NULL as null"
is "$(jq -c 'select(.op == "r" and .source.table == "full_ri") | .key' "$T/only.ndjson")" '{"k":"k1","v":1}' \
	"REPLICA IDENTITY FULL: every column in key"
is "$(jq -c 'select(.op == "r" and .source.table == "idx_ri") | .key' "$T/only.ndjson")" '{"a":1,"b":2}' \
	"REPLICA IDENTITY USING INDEX: the index's columns, in column order"
is "$(jq -c 'select(.op == "r" and .source.table == "gen") | .after' "$T/only.ndjson")" '{"id":1,"x":21}' \
	"generated and dropped columns are left out (as pgoutput does)"
is "$(jq -r 'select(.op == "r") | .source.schema' "$T/only.ndjson" | sort -u)" public "source.schema"
is "$(jq -c 'select(.op | startswith("snapshot")) | [has("before"), has("after"), has("key"), (.source | has("table"))]' "$T/only.ndjson" | sort -u)" \
	'[false,false,false,false]' "control events have no before/after/key and no table"

# ---------------------------------------------------------------- row filters and column lists

psql_t <<'SQL'
CREATE PUBLICATION pub_paid FOR TABLE orders (id, status) WHERE (status = 'paid');
CREATE PUBLICATION pub_big FOR TABLE orders (id, status) WHERE (id > 45);
SQL
cap --slot s_filter --publication pub_paid --snapshot only >"$T/filter.ndjson" 2>/dev/null
is "$?" 0 "row filter + column list: exit 0"
is "$(jq -r 'select(.op == "r") | .after.id' "$T/filter.ndjson" | sort -n | tr '\n' ' ')" \
	"3 6 9 12 15 18 21 24 27 30 33 36 39 42 45 48 " "only the rows the row filter passes"
is "$(jq -c 'select(.op == "r") | .after | keys' "$T/filter.ndjson" | sort -u)" '["id","status"]' \
	"only the columns of the column list"
cap --slot s_filter2 --publication pub_paid,pub_big --snapshot only >"$T/filter2.ndjson" 2>/dev/null
is "$(jq -r 'select(.op == "r") | .after.id' "$T/filter2.ndjson" | sort -n | tr '\n' ' ')" \
	"3 6 9 12 15 18 21 24 27 30 33 36 39 42 45 46 47 48 49 50 " "two publications: their filters ORed, each row once"

# ---------------------------------------------------------------- partitions

psql_t <<'SQL'
CREATE TABLE meas (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu');
CREATE TABLE meas_us PARTITION OF meas FOR VALUES IN ('us');
INSERT INTO meas SELECT i, CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, i FROM generate_series(1, 10) i;
CREATE PUBLICATION pub_root FOR TABLE meas WITH (publish_via_partition_root = true);
CREATE PUBLICATION pub_leaf FOR TABLE meas;
SQL
cap --slot s_root --publication pub_root --snapshot only >"$T/root.ndjson" 2>/dev/null
is "$(jq -r 'select(.op == "r") | .source.table' "$T/root.ndjson" | sort | uniq -c | awk '{ printf "%s %s,", $1, $2 }')" "10 meas," \
	"publish_via_partition_root: all rows under the root's name"
is "$(jq -c 'select(.op == "r" and .after.id == 4) | .key' "$T/root.ndjson")" '{"id":4,"region":"eu"}' \
	"... with the root's primary key"
cap --slot s_leaf --publication pub_leaf --snapshot only >"$T/leaf.ndjson" 2>/dev/null
is "$(jq -r 'select(.op == "r") | .source.table' "$T/leaf.ndjson" | sort | uniq -c | awk '{ printf "%s %s,", $1, $2 }')" \
	"5 meas_eu,5 meas_us," "without it: rows under the partitions' names"

# ---------------------------------------------------------------- parallel copies

# ~3000 pages: cut into page ranges over the connections.
psql_t <<'SQL'
CREATE TABLE wide (id int PRIMARY KEY, pad text);
INSERT INTO wide SELECT i, repeat('x', 300) FROM generate_series(1, 60000) i;
CREATE TABLE small1 (id int PRIMARY KEY);
INSERT INTO small1 SELECT generate_series(1, 100);
ANALYZE wide; ANALYZE small1; ANALYZE orders;
CREATE PUBLICATION pub_par FOR TABLE wide, small1, orders;
SQL
for jobs in 1 3; do
	cap --slot s_par --publication pub_par --snapshot only --snapshot-jobs "$jobs" -v >"$T/par$jobs.ndjson" 2>"$T/par$jobs.err"
	is "$?" 0 "--snapshot-jobs $jobs: exit 0"
	is "$(jq -r 'select(.op == "r" and .source.table == "wide") | .after.id' "$T/par$jobs.ndjson" | sort -n | uniq | wc -l)" 60000 \
		"--snapshot-jobs $jobs: 60000 distinct wide rows"
	is "$(jq -r 'select(.op == "r") | .source.table' "$T/par$jobs.ndjson" | wc -l)" 60150 \
		"--snapshot-jobs $jobs: 60150 rows in all, none twice"
	is "$(jq -r '.source.seq' "$T/par$jobs.ndjson" | awk '$1 != NR - 1 { print "gap at line " NR; exit }')" "" \
		"--snapshot-jobs $jobs: seq numbered in emission order"
	is "$(markers_ok "$T/par$jobs.ndjson")" true "--snapshot-jobs $jobs: snapshot markers by emission order"
done
like "$(cat "$T/par3.err")" "3 connections" "--snapshot-jobs 3 uses 3 connections"
is "$(jq -c 'select(.op == "r") | del(.ts_ms, .ts_us, .source.ts_ms, .source.ts_us, .source.seq, .source.lsn, .source.commit_lsn, .source.sequence, .source.snapshot)' "$T/par1.ndjson" | sort | md5sum)" \
	"$(jq -c 'select(.op == "r") | del(.ts_ms, .ts_us, .source.ts_ms, .source.ts_us, .source.seq, .source.lsn, .source.commit_lsn, .source.sequence, .source.snapshot)' "$T/par3.ndjson" | sort | md5sum)" \
	"1 and 3 jobs give the same events"

# The reader goes away in the middle: exit 141, quietly, and the temporary slot goes with the connection.
cap --slot s_pipe --publication pub_par --snapshot only --quiet 2>"$T/pipe.err" | head -n 2 >/dev/null
is "${PIPESTATUS[0]}" 141 "stdout closed during the snapshot: exit 141"
is "$(cat "$T/pipe.err")" "" "... without a message"
wait_for '[ -z "$(slots)" ]' 5
ok $? "... and no slot is left"

# ---------------------------------------------------------------- progress

cap --slot s_prog --publication pub_par --snapshot only --progress >/dev/null 2>"$T/prog.err"
like "$(cat "$T/prog.err")" "snapshot: 60150 of ~60[0-9]+ rows \(100%\), 3/3 tables, [0-9]+ rows/s, done" \
	"--progress: final line with rows of the estimate, tables, rate"
cap --slot s_prog --publication pub_par --snapshot only --quiet >/dev/null 2>"$T/quiet.err"
is "$(cat "$T/quiet.err")" "" "--quiet: nothing on stderr"
cap --slot s_prog --publication pub_par --snapshot only >/dev/null 2>"$T/auto.err"
unlike "$(cat "$T/auto.err")" "rows/s" "no progress when stderr is not a terminal"

if command -v script >/dev/null; then
	# stderr on a pseudo-terminal: the line is redrawn in place.
	script -qec "\"$CAP\" -d \"$PGTEST_DSN\" --slot s_tty --publication pub_par --snapshot only >\"$T/tty.ndjson\"" \
		"$T/tty.typescript" >/dev/null 2>&1
	like "$(tr '\r\033' 'RE' <"$T/tty.typescript")" "Rcdc-capture: snapshot: 60150 of ~60[0-9]+ rows \(100%\), 3/3 tables, [0-9]+ rows/s, doneE\[K" \
		"stderr on a terminal: progress by default, redrawn in place"
	is "$(grep -c '"op":"r"' "$T/tty.ndjson")" 60150 "... and the events still on stdout"
else
	skip "script(1) is not installed" 2
fi

# ---------------------------------------------------------------- initial, state file, restarts

# Snapshot then stream: run capture in the background until it has written what we wait for.
# start_capture NAME ARGS...: output in $T/NAME.ndjson, errors in $T/NAME.err, pid in CAP_PID.
start_capture() {
	local name=$1
	shift
	spawn "$CAP" -d "$PGTEST_DSN" --heartbeat 0 "$@" >"$T/$name.ndjson" 2>"$T/$name.err"
	CAP_PID=$SPAWNED_PID
}
stop_capture() {
	kill -TERM "$CAP_PID" 2>/dev/null
	wait "$CAP_PID"
}
has_line() { grep -q "$2" "$T/$1.ndjson"; }

state=$T/s_init.state
start_capture init1 --slot s_init --publication pub_all --create-slot --snapshot-state "$state"
wait_for "has_line init1 snapshot_end" 20
ok $? "initial: snapshot written"
psql_t "INSERT INTO orders VALUES (1000, 'new', 1, 'after snapshot')"
wait_for "has_line init1 '\"id\":1000'" 20
ok $? "initial: then the stream"
stop_capture
is "$?" 0 "SIGTERM while streaming: exit 0"
is "$(jq -r '.op' "$T/init1.ndjson" | uniq -c | awk '{ printf "%s %s,", $1, $2 }')" "1 snapshot_begin,55 r,1 snapshot_end,1 c," \
	"events: snapshot_begin, rows, snapshot_end, then the insert"
c=$(head -n1 "$T/init1.ndjson" | jq -r '.source.lsn')
is "$(jq -r 'select(.op == "c") | (.source.commit_lsn > '"$c"')' "$T/init1.ndjson")" true \
	"the streamed change's position is after the snapshot's"
is "$(state_phase "$state")" done "state file: phase done"
is "$(sed -n 's/^rows=//p' "$state")" 55 "state file: rows"
is "$(stat -c %a "$state")" 600 "state file: mode 0600"
is "$(slots)" s_init "the slot stays"

# A restart with the state at done streams on (no new snapshot).
start_capture init2 --slot s_init --publication pub_all --snapshot-state "$state"
psql_t "INSERT INTO orders VALUES (1001, 'new', 1, 'x')"
wait_for "has_line init2 '\"id\":1001'" 20
ok $? "restart after a finished snapshot: streams"
stop_capture
is "$(jq -r '.op' "$T/init2.ndjson" | tr '\n' ' ')" "c " "... without a second snapshot"

# Interrupted hard: capture is killed while the snapshot is blocked on a full pipe.
psql_t "SELECT pg_drop_replication_slot('s_init')" >/dev/null
rm -f "$state"
mkfifo "$T/fifo"
exec 7<>"$T/fifo"	# a reader that never reads: the pipe fills up
spawn "$CAP" -d "$PGTEST_DSN" --slot s_init --publication pub_par --create-slot --snapshot-state "$state" \
	>"$T/fifo" 2>"$T/kill.err"
CAP_PID=$SPAWNED_PID
wait_for "[ \"\$(state_phase $state)\" = running ]" 20
ok $? "state file says running during the snapshot"
sleep 0.5
kill -KILL "$CAP_PID"
wait "$CAP_PID" 2>/dev/null
exec 7<&-
old_c=$(sed -n 's/^consistent_lsn=//p' "$state")
is "$(state_phase "$state")" running "after kill -9: state still running"
is "$(slots)" s_init "... and the slot is there"

start_capture redo --slot s_init --publication pub_par --snapshot-state "$state"
wait_for "has_line redo snapshot_end" 30
ok $? "restart after kill -9: a snapshot again"
psql_t "INSERT INTO orders VALUES (1002, 'new', 1, 'x')"
wait_for "has_line redo '\"id\":1002'" 20
ok $? "... then the stream"
stop_capture
like "$(cat "$T/redo.err")" "snapshot of slot \"s_init\" at $old_c was interrupted: dropping the slot and starting over" \
	"the restart says the snapshot was interrupted"
want=$(psql_t "SELECT (SELECT count(*) FROM wide) + (SELECT count(*) FROM small1) + (SELECT count(*) FROM orders WHERE id <> 1002)")
is "$(jq -r 'select(.op == "r") | .source.table' "$T/redo.ndjson" | wc -l)" "$want" "the new snapshot is complete ($want rows)"
is "$(jq -r 'select(.op == "snapshot_end") | .snapshot.rows' "$T/redo.ndjson")" "$want" "... snapshot_end says so"
new_c=$(sed -n 's/^consistent_lsn=//p' "$state")
isnt "$new_c" "$old_c" "the slot was created again (new consistent point $new_c)"
is "$(state_phase "$state")" done "state file: done"

# Interrupted softly: SIGTERM while the snapshot is blocked on a full pipe.
psql_t "SELECT pg_drop_replication_slot('s_init')" >/dev/null
rm -f "$state" "$T/fifo"
mkfifo "$T/fifo"
exec 7<>"$T/fifo"
spawn "$CAP" -d "$PGTEST_DSN" --slot s_init --publication pub_par --create-slot --snapshot-state "$state" \
	>"$T/fifo" 2>"$T/term.err"
CAP_PID=$SPAWNED_PID
wait_for "[ \"\$(state_phase $state)\" = running ]" 20
sleep 0.5
kill -TERM "$CAP_PID"
cat "$T/fifo" 7<&- >"$T/term.ndjson" &
reader=$!
exec 7<&-
wait "$CAP_PID"
is "$?" 0 "SIGTERM during the snapshot: exit 0"
wait "$reader"
like "$(cat "$T/term.err")" "snapshot interrupted after [0-9]+ rows: it is incomplete; the next run starts it over" \
	"... saying the snapshot is incomplete"
is "$(grep -c snapshot_end "$T/term.ndjson")" 0 "... without snapshot_end"
is "$(jq -r 'select(.op != "r" and .op != "snapshot_begin") | .op' "$T/term.ndjson" | head -n1)" "" \
	"... and without streaming"
is "$(state_phase "$state")" running "... state running: the next run starts over"

# --ack-file: the far end never got past the snapshot.
psql_t "SELECT pg_drop_replication_slot('s_init')" >/dev/null
rm -f "$state"
start_capture ack1 --slot s_init --publication pub_all --create-slot --snapshot-state "$state"
wait_for "has_line ack1 snapshot_end" 20
stop_capture
c=$(head -n1 "$T/ack1.ndjson" | jq -r '.source.lsn')
printf 'version=1\ncommit_lsn=%s\nseq=7\nsnapshot=true\nname=s_init\n' "$c" >"$T/ack.ckpt"
start_capture ack2 --slot s_init --publication pub_all --snapshot-state "$state" --ack-file "$T/ack.ckpt"
wait_for "has_line ack2 snapshot_end" 20
ok $? "checkpoint inside the snapshot: the snapshot is taken again"
stop_capture
like "$(cat "$T/ack2.err")" "checkpoint is at .*:7 \(inside the snapshot\): dropping the slot and starting over" \
	"... saying why"
is "$(jq -r 'select(.op == "r") | .op' "$T/ack2.ndjson" | wc -l)" "$(jq -r 'select(.op == "r") | .op' "$T/ack1.ndjson" | wc -l)" \
	"... all rows again"
c2=$(head -n1 "$T/ack2.ndjson" | jq -r '.source.lsn')
[ "$c2" -gt "$c" ]
ok $? "... at a later consistent point (the sink rewrites the rows)"
end=$(tail -n1 "$T/ack2.ndjson" | jq -r 'select(.op == "snapshot_end") | .source.seq')
printf 'version=1\ncommit_lsn=%s\nseq=%s\nsnapshot=false\nname=s_init\n' "$c2" "$end" >"$T/ack.ckpt"
start_capture ack3 --slot s_init --publication pub_all --snapshot-state "$state" --ack-file "$T/ack.ckpt"
psql_t "INSERT INTO orders VALUES (1003, 'new', 1, 'x')"
wait_for "has_line ack3 '\"id\":1003'" 20
ok $? "checkpoint at snapshot_end: streams on"
stop_capture
is "$(jq -r '.op' "$T/ack3.ndjson" | tr '\n' ' ')" "c " "... without a new snapshot"

# A state file of another slot, and a damaged one.
cap --slot s_other --publication pub_all --create-slot --snapshot-state "$state" >/dev/null 2>"$T/other.err"
is "$?" 1 "state file of another slot: exit 1"
like "$(cat "$T/other.err")" "belongs to slot \"s_init\", not \"s_other\"" "... saying whose it is"
printf 'garbage\n' >"$T/bad.state"
cap --slot s_init --publication pub_all --snapshot-state "$T/bad.state" >/dev/null 2>"$T/bad.err"
is "$?" 1 "damaged state file: exit 1"
like "$(cat "$T/bad.err")" "bad.state: line 1: .*not a cdc-capture snapshot state file" "... naming file and line"

# --snapshot initial on an existing slot cannot be consistent.
cap --slot s_init --publication pub_all --snapshot initial --snapshot-state "$state" >/dev/null 2>"$T/exists.err"
is "$?" 1 "--snapshot initial on an existing slot: refused"

# --ack-file without --snapshot-state: the state file is FILE.snapshot.
psql_t "SELECT pg_drop_replication_slot('s_init')" >/dev/null
ck=$T/pipe.ckpt
start_capture def1 --slot s_init --publication pub_all --create-slot --ack-file "$ck"
wait_for "has_line def1 snapshot_end" 20
ok $? "--ack-file FILE alone: the slot is created with a snapshot"
stop_capture
is "$(state_phase "$ck.snapshot")" done "... its state in FILE.snapshot"
is "$(stat -c %a "$ck.snapshot")" 600 "... mode 0600"
# The far end never confirmed the snapshot: the next run takes it again.
start_capture def2 --slot s_init --publication pub_all --ack-file "$ck"
wait_for "has_line def2 snapshot_end" 20
ok $? "... a restart without a checkpoint takes the snapshot again (the state file is found)"
stop_capture
like "$(cat "$T/def2.err")" "ack file has no checkpoint: dropping the slot and starting over" "... saying why"
c=$(head -n1 "$T/def2.ndjson" | jq -r '.source.lsn')
end=$(tail -n1 "$T/def2.ndjson" | jq -r 'select(.op == "snapshot_end") | .source.seq')
printf 'version=1\ncommit_lsn=%s\nseq=%s\nsnapshot=false\nname=s_init\n' "$c" "$end" >"$ck"
start_capture def3 --slot s_init --publication pub_all --ack-file "$ck"
psql_t "INSERT INTO orders VALUES (1004, 'new', 1, 'x')"
wait_for "has_line def3 '\"id\":1004'" 20
ok $? "... with the snapshot confirmed: streams on"
stop_capture
is "$(jq -r '.op' "$T/def3.ndjson" | tr '\n' ' ')" "c " "... without a new snapshot"

# A checkpoint of an earlier slot of the same name, beyond the new slot's
# consistent point (the database was restored from a backup): its positions
# mean nothing for the new slot.  Taking it would confirm a position the new
# stream has not reached and make the writers skip the new snapshot.
psql_t "SELECT pg_drop_replication_slot('s_init')" >/dev/null
rm -f "$T/stale.ckpt.snapshot"
printf 'version=1\ncommit_lsn=FF/0\nseq=3\nsnapshot=false\nname=s_init\n' >"$T/stale.ckpt"
timeout 30 "$CAP" -d "$PGTEST_DSN" --slot s_init --publication pub_all --create-slot --ack-file "$T/stale.ckpt" \
	--snapshot-state "$T/stale.state" --heartbeat 0 --endpos "$(psql_t "SELECT pg_current_wal_lsn()")" \
	>"$T/stale.ndjson" 2>"$T/stale.err"
is "$?" 1 "stale checkpoint beyond the new consistent point: exit 1"
like "$(cat "$T/stale.err")" "holds position FF/0:3 of an earlier slot \"s_init\", at or beyond the new slot's consistent point" \
	"... saying why"
is "$(wc -l <"$T/stale.ndjson")" 0 "... before writing any event"
is "$(slots)" "" "... and the new slot is dropped again"
# A checkpoint of an earlier slot behind the new consistent point is harmless.
printf 'version=1\ncommit_lsn=0/1\nseq=3\nsnapshot=false\nname=s_init\n' >"$T/old.ckpt"
timeout 30 "$CAP" -d "$PGTEST_DSN" --slot s_init --publication pub_all --create-slot --ack-file "$T/old.ckpt" \
	--heartbeat 0 --endpos "$(psql_t "SELECT pg_current_wal_lsn()")" >"$T/old.ndjson" 2>"$T/old.err"
is "$?" 0 "old checkpoint behind the new consistent point: snapshot and stream (exit 0)"
is "$(grep -c snapshot_end "$T/old.ndjson")" 1 "... with the snapshot"
psql_t "SELECT pg_drop_replication_slot('s_init')" >/dev/null

# Permission problems surface as errors naming the table.
role=snap_reader_$$
psql_t <<SQL
CREATE ROLE $role LOGIN REPLICATION;
GRANT SELECT ON orders TO $role;
SQL
at_exit "psql_t 'DROP OWNED BY $role' >/dev/null 2>&1; _tap_psql -d \"\$CDC_TEST_PG\" -c 'DROP ROLE IF EXISTS $role' >/dev/null 2>&1"
"$CAP" -d "$PGTEST_DSN user=$role" --slot s_perm --publication pub_all --snapshot only >"$T/perm.ndjson" 2>"$T/perm.err"
is "$?" 1 "a table the role cannot read: exit 1"
like "$(cat "$T/perm.err")" "snapshot: cannot copy table public\.[a-z_]+: permission denied" "... naming the table"
is "$(grep -c snapshot_end "$T/perm.ndjson")" 0 "... and no snapshot_end"

done_testing
