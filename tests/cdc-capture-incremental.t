#!/usr/bin/env bash
# cdc-capture incremental snapshots (--signal-file, --signal): the
# watermark method under concurrent inserts, updates (key updates too) and
# deletes folds with the stream to exactly the table; a conditional
# re-send; a table added to the publication later and backfilled; tables
# without a primary key refused; kill -9 in the middle and a restart that
# resumes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture
need_pg
command -v jq >/dev/null || skip_all "jq is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"
pg_new_db incr

CAP=$CDC_BIN/cdc-capture
T=$TEST_TMP
FOLD="python3 $TEST_ROOT/tests/incr-fold.py"
# 20000 rows by default (make check, also under ASan); make check-all
# sets CDC_TEST_INCR_ROWS=1000000, the issue's size.
N=${CDC_TEST_INCR_ROWS:-20000}
# Timeouts grow with the table.
TMO=$((120 + N / 2000))
# okc COMMAND NAME: ok when the shell command succeeds.
okc() { eval "$1" >/dev/null 2>&1; ok $? "$2"; }

# ---------------------------------------------------------------- usage

"$CAP" --signal 'snapshot public.items' >/dev/null 2>"$T/err"
is "$?" 2 "--signal without --signal-file: exit 2"
"$CAP" --signal-file "$T/sig" --signal 'snapshot public.items wher id > 1' >/dev/null 2>"$T/err"
is "$?" 2 "a malformed request: exit 2"
like "$(cat "$T/err")" "expected 'where CONDITION'" "... with the reason"
"$CAP" --signal-file "$T/sig" --signal 'select 1' >/dev/null 2>"$T/err"
is "$?" 2 "a request that is not 'snapshot TABLE': exit 2"
okc "[ ! -e '$T/sig' ]" "... and nothing written"
"$CAP" --signal-file "$T/sig" --signal 'snapshot public."we ird" where a = '"'"'x y'"'"
is "$?" 0 "a request is appended: exit 0"
is "$(cat "$T/sig")" "snapshot public.\"we ird\" where a = 'x y'" "... as one line"
"$CAP" --slot s --publication p --snapshot-chunk 0 >/dev/null 2>&1
is "$?" 2 "--snapshot-chunk 0: exit 2"
rm -f "$T/sig"

# ---------------------------------------------------------------- setup

psql_t <<SQL
CREATE TABLE items (id int PRIMARY KEY, grp int NOT NULL, val text, n bigint);
INSERT INTO items SELECT i, i % 10, 'v' || i, i * 7 FROM generate_series(1, $N) i;
CREATE TABLE nokey (a int, b text);
INSERT INTO nokey VALUES (1, 'x');
CREATE TABLE marker (id serial PRIMARY KEY, note text);
CREATE PUBLICATION pub FOR TABLE items, nokey, marker;
SQL
psql_t "SELECT pg_create_logical_replication_slot('s1', 'pgoutput')" >/dev/null

# The table as the fold prints it.
table_rows() {
	psql_t "SELECT row_to_json(t)::text FROM (SELECT $2 FROM $1 ORDER BY 1) t" |
		python3 -c 'import json,sys; rows=[json.dumps(json.loads(l), sort_keys=True) for l in sys.stdin]; print("\n".join(sorted(rows)))'
}
# Cols of items as cdc-capture writes them (bigint as a number, id/grp int).
ITEMS_COLS="id, grp, val, n"

# A concurrent workload on items until $T/stop exists: inserts, updates,
# key updates, deletes.
workload() {
	local i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		psql_t "BEGIN;
			INSERT INTO items VALUES ($N + $i * 3, 1, 'new$i', $i);
			UPDATE items SET val = 'u$i', n = n + 1 WHERE id = (random() * $N)::int + 1;
			UPDATE items SET id = -id WHERE id = (random() * $N)::int + 1 AND id > 0;
			DELETE FROM items WHERE id = (random() * $N)::int + 1;
			UPDATE items SET val = 'w$i' WHERE id IN (SELECT id FROM items WHERE id > 0 ORDER BY random() LIMIT 3);
			COMMIT;" >/dev/null 2>&1 || true
	done
}
# Wait until capture's output (file $1) has the marker row $2.
marker_seen() {
	wait_for "grep -q '\"note\":\"$2\"' '$1'" 60
}

# ---------------------------------------------------------------- under concurrent changes

spawn "$CAP" -d "$PGTEST_DSN" --slot s1 --publication pub --signal-file "$T/sig" --heartbeat 1 \
	--snapshot-state "$T/snap.state" --metrics-file "$T/metrics" -v >"$T/o1.json" 2>"$T/e1"
CAP_PID=$SPAWNED_PID
wait_for "grep -q streaming '$T/e1'" 30
rm -f "$T/stop"
workload & WL=$!
# The workload runs (its first transaction is in the stream) before the request.
wait_for "grep -q '\"val\":\"new1\"' '$T/o1.json'" 60
ok $? "the workload's changes stream"
start=$(date +%s%N)
"$CAP" --signal-file "$T/sig" --signal 'snapshot public.items'
is "$?" 0 "request sent"
wait_for "grep -q '\"op\":\"incremental_end\"' '$T/o1.json'" $TMO
ok $? "incremental_end written"
end=$(date +%s%N)
touch "$T/stop"
wait "$WL"
psql_t "INSERT INTO marker (note) VALUES ('m1')"
marker_seen "$T/o1.json" m1
rows_r=$(grep '"snapshot":"incremental"' "$T/o1.json" | grep -c '^{"op":"r"')
diag "incremental snapshot of $N rows under load: $rows_r r events in $(( (end - start) / 1000000 )) ms"
okc "[ $rows_r -gt $((N / 2)) ]" "most rows came as incremental r events ($rows_r)"
is "$(jq -c 'select(.op == "incremental_begin") | [.source.schema, .source.table, .snapshot.condition]' "$T/o1.json")" \
	'["public","items",null]' "incremental_begin names the table"
is "$(jq -c 'select(.op == "incremental_end") | .snapshot.rows' "$T/o1.json")" "$((rows_r))" \
	"incremental_end counts the rows"
since=$(jq -c 'select(.op == "incremental_begin") | .snapshot.since_lsn' "$T/o1.json")
like "$since" '^[1-9][0-9]*$' "incremental_begin has since_lsn"
is "$(jq -c 'select(.op == "incremental_end") | .snapshot.since_lsn' "$T/o1.json")" "$since" \
	"incremental_begin and incremental_end carry the same since_lsn"
# Every event from the first chunk on (of the stream or the snapshot) is at or above since_lsn.
is "$(jq -c --argjson s "$since" 'select(.source.commit_lsn != null) | .source.commit_lsn >= $s' "$T/o1.json" |
	awk '/^true$/ { seen = 1 } seen' | sort -u)" true "every event from the first chunk on is at or above since_lsn ($since)"
# Positions strictly increase in the output.
is "$(jq -r '[.source.commit_lsn, .source.seq] | @tsv' "$T/o1.json" | awk -F'\t' '
	{ if (n && ($1 < pl || ($1 == pl && $2 <= ps))) bad++; pl = $1; ps = $2; n++ } END { print bad + 0 }')" 0 \
	"positions increase"
is "$(jq -c 'select(.source.snapshot == "incremental" and .op == "r") | .source.seq >= 1099511627776' "$T/o1.json" | sort -u)" \
	true "r events at seq >= 2^40"
$FOLD public.items "$T/o1.json" >"$T/fold1"
table_rows items "$ITEMS_COLS" >"$T/table1"
is "$(wc -l <"$T/table1")" "$(psql_t 'SELECT count(*) FROM items')" "table dump has every row"
if cmp -s "$T/fold1" "$T/table1"; then pass=0; else pass=1; diff "$T/fold1" "$T/table1" | head -5 >&2; fi
is "$pass" 0 "stream + incremental snapshot fold to exactly the table ($(wc -l <"$T/table1") rows)"
like "$(cat "$T/e1")" "incremental snapshot of public.items" "progress on stderr with -v"

# ---------------------------------------------------------------- conditional, no key, added later

"$CAP" --signal-file "$T/sig" --signal 'snapshot public.items where grp = 3 and id < 2000'
wait_for "[ \$(grep -c '\"op\":\"incremental_end\"' '$T/o1.json') -ge 2 ]" 60
ok $? "conditional snapshot ended"
awk '/^\{"op":"incremental_begin"/ { n++ } n == 2 && /^\{"op":"r"/ && /"snapshot":"incremental"/' \
	"$T/o1.json" >"$T/cond.json"
is "$(jq -s 'map(select(.after.grp != 3 or .after.id >= 2000)) | length' "$T/cond.json")" 0 \
	"only rows matching the condition"
is "$(wc -l <"$T/cond.json")" "$(psql_t 'SELECT count(*) FROM items WHERE grp = 3 AND id < 2000')" \
	"every matching row"
is "$(jq -c 'select(.op == "incremental_begin") | .snapshot.condition' "$T/o1.json" | tail -1)" \
	'"grp = 3 and id < 2000"' "incremental_begin carries the condition"

"$CAP" --signal-file "$T/sig" --signal 'snapshot nokey'
wait_for "grep -q 'no primary key' '$T/e1'" 60
ok $? "a table without a primary key is refused with a warning"

psql_t "CREATE TABLE late (k text, j int, v text, PRIMARY KEY (k, j));
	INSERT INTO late SELECT 'k' || (i % 7), i, 'v' || i FROM generate_series(1, 3000) i;"
"$CAP" --signal-file "$T/sig" --signal 'snapshot public.late'
wait_for "grep -q 'not in the publication' '$T/e1'" 60
ok $? "a table outside the publication is refused"
psql_t "ALTER PUBLICATION pub ADD TABLE late"
psql_t "UPDATE late SET v = 'changed' WHERE j % 100 = 0; DELETE FROM late WHERE j % 250 = 0"
"$CAP" --signal-file "$T/sig" --signal 'snapshot public.late'
wait_for "[ \$(grep -c '\"op\":\"incremental_end\"' '$T/o1.json') -ge 3 ]" 60
psql_t "INSERT INTO late VALUES ('z', 1, 'after'); INSERT INTO marker (note) VALUES ('m2')"
marker_seen "$T/o1.json" m2
$FOLD public.late "$T/o1.json" >"$T/fold2"
table_rows late "k, j, v" >"$T/table2"
okc "cmp -s '$T/fold2' '$T/table2'" "a table added to the publication is backfilled (composite key, $(wc -l <"$T/table2") rows)"

# ---------------------------------------------------------------- a slow chunk read

# The stream goes on while a chunk is read: the first chunk's condition
# sleeps 5 s on its first row (('k0', 7) in key order); a change made
# meanwhile comes out before the chunk (before incremental_begin).
psql_t "CREATE FUNCTION slow(j int) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
	IF j = 7 THEN
		PERFORM pg_sleep(5);
	END IF;
	RETURN true;
END \$\$;"
"$CAP" --signal-file "$T/sig" --signal 'snapshot public.late where slow(j)'
wait_for "[ \"\$(psql_t \"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name = 'cdc-capture incremental'\")\" -ge 1 ]" 30
ok $? "the chunk query sleeps"
psql_t "UPDATE late SET v = 'during' WHERE k = 'k1' AND j = 1; INSERT INTO marker (note) VALUES ('m4')"
wait_for "grep -q '\"note\":\"m4\"' '$T/o1.json'" 3
ok $? "the stream's changes come out while the chunk is read"
wait_for "[ \$(grep -c '\"op\":\"incremental_end\"' '$T/o1.json') -ge 4 ]" 60
ok $? "the slow snapshot ends"
m4=$(grep -n '"note":"m4"' "$T/o1.json" | cut -d: -f1)
b4=$(grep -n '"op":"incremental_begin"' "$T/o1.json" | sed -n 4p | cut -d: -f1)
okc "[ $m4 -lt $b4 ]" "... before the chunk it waited for (line $m4, incremental_begin at line $b4)"
psql_t "INSERT INTO marker (note) VALUES ('m5')"
marker_seen "$T/o1.json" m5
$FOLD public.late "$T/o1.json" >"$T/fold4"
table_rows late "k, j, v" >"$T/table4"
okc "cmp -s '$T/fold4' '$T/table4'" "... and the fold still equals the table"
kill -TERM "$CAP_PID"
wait "$CAP_PID" 2>/dev/null
is "$?" 0 "capture stops on SIGTERM"
okc "grep -q 'cdc_capture_incremental_rows_total{.*} [1-9]' '$T/metrics'" "metrics count the rows"
okc "grep -q 'cdc_capture_incremental_chunks_total{.*} [1-9]' '$T/metrics'" "metrics count the chunks"

# ---------------------------------------------------------------- kill -9 and resume

# The kill must come in the middle whatever the machine's load, so the
# snapshot is stopped at a known point rather than raced: its condition
# calls gate(id), which for rows past half the table waits for an advisory
# lock the test holds.  Capture then blocks inside the chunk that reaches
# the middle, with every chunk before it written out; only then is it
# killed.  gate() is true for every row: this is a snapshot of the whole
# table.
HALF=$((N / 2))
psql_t <<SQL
CREATE FUNCTION gate(i int) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
	IF i > $HALF THEN
		PERFORM pg_advisory_lock_shared(4242);
		PERFORM pg_advisory_unlock_shared(4242);
	END IF;
	RETURN true;
END \$\$;
SQL
gate_held() {
	[ "$(psql_t "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND $1")" -ge 1 ]
}
psql_t "SELECT pg_advisory_lock(4242), pg_sleep(3600)" >/dev/null 2>&1 & GATE=$!
at_exit "kill $GATE 2>/dev/null"
wait_for "gate_held 'granted'" 30
ok $? "the gate is closed"

psql_t "SELECT pg_create_logical_replication_slot('s2', 'pgoutput')" >/dev/null
rm -f "$T/stop" "$T/sig2"
spawn "$CAP" -d "$PGTEST_DSN" --slot s2 --publication pub --signal-file "$T/sig2" --heartbeat 1 \
	--snapshot-chunk 200 -v >"$T/k1.json" 2>"$T/k1.err"
K_PID=$SPAWNED_PID
wait_for "grep -q streaming '$T/k1.err'" 30
workload & WL=$!
"$CAP" --signal-file "$T/sig2" --signal 'snapshot public.items where gate(id)'
# Capture waits at the gate: every chunk before the middle is written.
wait_for "gate_held 'NOT granted'" $TMO
ok $? "capture reached the middle of the table and waits at the gate"
kill -9 "$K_PID"
wait "$K_PID" 2>/dev/null
okc "! grep -q incremental_end '$T/k1.json'" "killed in the middle of the snapshot"
okc "grep -q '\"snapshot\":\"incremental\"' '$T/k1.json'" "... after some chunks were written"
like "$(cat "$T/sig2.state")" "last_key=" "the state file has the last chunk's key"
# Open the gate (its session ends), and wait for the killed capture's
# walsender to let the slot go before starting again.
psql_t "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted AND mode = 'ExclusiveLock'" >/dev/null
wait "$GATE" 2>/dev/null
wait_for "[ \"\$(psql_t \"SELECT active FROM pg_replication_slots WHERE slot_name = 's2'\")\" = f ]" 60
ok $? "the killed capture's slot is released"
spawn "$CAP" -d "$PGTEST_DSN" --slot s2 --publication pub --signal-file "$T/sig2" --heartbeat 1 \
	--snapshot-chunk 200 -v >"$T/k2.json" 2>"$T/k2.err"
K_PID=$SPAWNED_PID
wait_for "grep -q '\"op\":\"incremental_end\"' '$T/k2.json'" $TMO
ok $? "the restarted capture finishes the snapshot"
like "$(cat "$T/k2.err")" "resuming" "... resuming it"
r2=$(grep '"snapshot":"incremental"' "$T/k2.json" | grep -c '^{"op":"r"')
okc "[ $r2 -lt $(psql_t 'SELECT count(*) FROM items') ]" "... not from the start ($r2 rows after the restart)"
touch "$T/stop"
wait "$WL"
psql_t "INSERT INTO marker (note) VALUES ('m3')"
marker_seen "$T/k2.json" m3
$FOLD public.items "$T/k1.json" "$T/k2.json" >"$T/fold3"
table_rows items "$ITEMS_COLS" >"$T/table3"
if cmp -s "$T/fold3" "$T/table3"; then pass=0; else pass=1; diff "$T/fold3" "$T/table3" | head -5 >&2; fi
is "$pass" 0 "after kill -9 and a restart the fold still equals the table"
okc "! grep -q request= '$T/sig2.state'" "the state file no longer names a request"
kill -TERM "$K_PID"
wait "$K_PID" 2>/dev/null
is "$?" 0 "the restarted capture stops on SIGTERM"

# No slot is left behind (the database goes at exit with its publication).
psql_t "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()" >/dev/null
is "$(psql_t "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()")" 0 "slots dropped"
psql_t "DROP PUBLICATION pub"

done_testing
