#!/usr/bin/env bash
# cdc-capture: the type mapping, every operation, TOAST, schema changes and
# transaction order, on a real PostgreSQL (cdc-events(7)).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
need_pg
pg_new_db capture_types
CAP=$CDC_BIN/cdc-capture
slot=${TEST_ID}_s
pub=${TEST_ID}_p

# drain OUT: run capture from the slot up to the current WAL position.
drain() {
	local endpos
	endpos=$(psql_t "SELECT pg_current_wal_lsn()")
	"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --endpos "$endpos" --heartbeat 0 \
		--no-loop >"$1" 2>"$TEST_TMP/err"
}

psql_t <<'SQL' >/dev/null
CREATE TYPE mood AS ENUM ('sad', 'happy', 'it''s "ok"');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN intarr AS int[];
CREATE TABLE ty (
	id int PRIMARY KEY, b bool, i2 smallint, i8 bigint, o oid, f4 real, f8 float8,
	n numeric, n2 numeric(10,4), t text, vc varchar(10), c char(5), u uuid, ip inet,
	j json, jb jsonb, by bytea, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
	iv interval, ai int[], at text[], ann int[], m mood, am mood[], p posint, da intarr);
SQL
psql_t "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
psql_t "CREATE PUBLICATION $pub FOR ALL TABLES"

psql_t <<'SQL'
INSERT INTO ty VALUES (1, true, -32768, 9223372036854775807, 4294967295, 1.5, 0.1,
	123.4500, 1.5, E'quote " backslash \\ newline \n tab \t unicode é ✓ 😀', 'vc', 'ab',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24',
	E'{"k": [1, 2.50, null],\n "s": "x\\ny"}', '{"b": {"c": true}, "a": 1e3}', '\x00ff10',
	'2024-01-31', '13:45:00.123456', '13:45:00+02', '2024-01-31 13:45:00.5',
	'2024-01-31 13:45:00.123456+02', '1 day 2 hours 3.5 seconds', '{1,NULL,3}',
	'{"a b","c\"d",NULL,"NULL",""}', '{{1,2},{3,NULL}}', 'it''s "ok"', '{sad,happy}', 5, '{7,8}');
INSERT INTO ty (id, i8, f4, f8, n, d, ts, tstz) VALUES
	(2, 9007199254740993, 'NaN', 'Infinity', 'NaN', 'infinity', '-infinity', 'infinity'),
	(3, -9007199254740993, '-Infinity', '-0', '-0.000001', '0044-03-15 BC', '2024-01-31 00:00:00', '2024-01-31 23:59:59.999999+00');
INSERT INTO ty (id) VALUES (4);
SQL
drain "$TEST_TMP/types.json"
ok $? "capture drains the inserts (exit 0)"
is "$(wc -l <"$TEST_TMP/types.json")" 4 "four events"
while IFS= read -r line; do jq -e . >/dev/null <<<"$line" || { echo bad; break; }; done <"$TEST_TMP/types.json" >"$TEST_TMP/valid"
is "$(cat "$TEST_TMP/valid")" "" "every line is valid JSON"
ev1=$(sed -n 1p "$TEST_TMP/types.json")
a() { jq -c "$@" <<<"$ev1"; }
is "$(a .after.b)" true "bool"
is "$(a .after.i2)" -32768 "int2"
# Digit for digit: compare the raw text, jq would round.
like "$ev1" '"i8":9223372036854775807,' "int8 max digit for digit"
like "$ev1" '"o":4294967295,' "oid as a number"
like "$ev1" '"f4":1.5,' "float4"
like "$ev1" '"f8":0.1,' "float8 shortest exact"
is "$(a .after.n)" '"123.4500"' "numeric as a string, scale kept"
is "$(a .after.n2)" '"1.5000"' "numeric(10,4)"
is "$(a -r .after.t)" "$(printf 'quote " backslash \\ newline \n tab \t unicode é ✓ 😀')" "text with quotes, newline, unicode"
is "$(a .after.vc)" '"vc"' "varchar"
is "$(a .after.c)" '"ab   "' "char(n) padding kept"
is "$(a .after.u)" '"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"' "uuid"
is "$(a .after.ip)" '"192.168.0.1/24"' "inet"
is "$(a -c .after.j)" '{"k":[1,2.5,null],"s":"x\ny"}' "json embedded (newline between tokens ok)"
is "$(a -c .after.jb)" '{"a":1000,"b":{"c":true}}' "jsonb embedded"
is "$(a -r .after.by | base64 -d | od -An -tx1 | tr -d ' ')" "00ff10" "bytea as base64"
is "$(a .after.d)" '"2024-01-31"' "date"
is "$(a .after.tm)" '"13:45:00.123456"' "time"
is "$(a .after.ttz)" '"13:45:00+02:00"' "timetz with offset"
is "$(a .after.ts)" '"2024-01-31T13:45:00.5"' "timestamp with T, no offset"
is "$(a .after.tstz)" '"2024-01-31T11:45:00.123456Z"' "timestamptz in UTC with Z"
is "$(a .after.iv)" '"P1DT2H3.5S"' "interval ISO 8601"
is "$(a -c .after.ai)" '[1,null,3]' "int[] with NULL"
is "$(a -c .after.at)" '["a b","c\"d",null,"NULL",""]' "text[] with quotes, NULL, the string NULL, empty"
is "$(a -c .after.ann)" '[[1,2],[3,null]]' "nested int[][]"
is "$(a .after.m)" '"it'"'"'s \"ok\""' "enum"
is "$(a -c .after.am)" '["sad","happy"]' "enum[]"
is "$(a .after.p)" 5 "domain over int as a number"
is "$(a -c .after.da)" '[7,8]' "domain over int[] as an array"
is "$(a -c .key)" '{"id":1}' "key from the primary key"
ev2=$(sed -n 2p "$TEST_TMP/types.json")
like "$ev2" '"i8":9007199254740993,' "bigint beyond 2^53 digit for digit"
is "$(jq -c '[.after.f4, .after.f8, .after.n, .after.d, .after.ts, .after.tstz]' <<<"$ev2")" \
	'["NaN","Infinity","NaN","infinity","-infinity","infinity"]' "NaN, Infinity, infinity as strings"
ev3=$(sed -n 3p "$TEST_TMP/types.json")
like "$ev3" '"i8":-9007199254740993,' "negative bigint beyond 2^53"
is "$(jq -c '[.after.f4, .after.n, .after.d, .after.tstz]' <<<"$ev3")" \
	'["-Infinity","-0.000001","-0043-03-15","2024-01-31T23:59:59.999999Z"]' \
	"-Infinity, small numeric, BC date in astronomical years"
like "$ev3" '"f8":-0,' "float8 -0"
is "$(sed -n 4p "$TEST_TMP/types.json" | jq -c '[.after.b, .after.t, .after.ai, .after.jb]')" '[null,null,null,null]' "NULLs"

# --numeric=number
endpos=$(psql_t "SELECT pg_current_wal_lsn()")
psql_t "SELECT pg_create_logical_replication_slot('${slot}_n', 'pgoutput')" >/dev/null
psql_t "INSERT INTO ty (id, n, n2) VALUES (5, 12345678901234567890.123456789, 1.5)"
"$CAP" -d "$PGTEST_DSN" --slot "${slot}_n" --publication "$pub" --numeric=number \
	--endpos "$(psql_t "SELECT pg_current_wal_lsn()")" --heartbeat 0 >"$TEST_TMP/num.json"
like "$(cat "$TEST_TMP/num.json")" '"n":12345678901234567890.123456789,"n2":1.5000,' "--numeric=number digit for digit"
drain "$TEST_TMP/skip.json"
is "$(jq -c .after.n "$TEST_TMP/skip.json")" '"12345678901234567890.123456789"' "numeric as a string digit for digit"

# ---- every operation, transactions, order
psql_t <<'SQL'
CREATE TABLE ops (id int PRIMARY KEY, v text, big text);
CREATE TABLE full_t (id int PRIMARY KEY, v text, big text);
ALTER TABLE full_t REPLICA IDENTITY FULL;
CREATE TABLE nokey (v text);
SQL
psql_t <<'SQL' >/dev/null
BEGIN;
INSERT INTO ops VALUES (1, 'a', repeat('x', 100000)), (2, 'b', 'small');
UPDATE ops SET v = 'a2' WHERE id = 1;
UPDATE ops SET id = 10 WHERE id = 2;
DELETE FROM ops WHERE id = 10;
SELECT pg_logical_emit_message(true, 'tx-msg', '\x0001'::bytea);
COMMIT;
INSERT INTO full_t SELECT 1, 'a', string_agg(md5(g::text), '') FROM generate_series(1, 3125) g;
UPDATE full_t SET v = 'b' WHERE id = 1;
DELETE FROM full_t;
INSERT INTO nokey VALUES ('n');
SELECT pg_logical_emit_message(false, 'nontx', 'hello');
TRUNCATE ops, full_t RESTART IDENTITY;
SQL
drain "$TEST_TMP/ops.json"
ok $? "capture drains the operations"
q() { jq -c "$1" "$TEST_TMP/ops.json" | tr '\n' ' ' | sed 's/ $//'; }
# The key change (id 2 -> 10) is a d of the old key and a c of the new
# one, as Debezium writes it (--key-change=delete-create, the default).
is "$(q '.op')" '"c" "c" "u" "d" "c" "d" "m" "c" "u" "d" "c" "m" "t" "t"' "ops in order"
is "$(jq -s -c '[.[0:7][] | .source.seq]' "$TEST_TMP/ops.json")" '[1,2,3,4,5,6,7]' "seq 1..7 inside the transaction"
is "$(jq -s -c '[.[0:7][] | .source.commit_lsn] | unique | length' "$TEST_TMP/ops.json")" 1 "one commit_lsn for the transaction"
is "$(jq -s -c '[.[0:7][] | .source.txId] | unique | length' "$TEST_TMP/ops.json")" 1 "one txId"
is "$(jq -s -c '.[2] | [.before, .after.v, (.after.big | length)]' "$TEST_TMP/ops.json")" '[null,"a2",100000]' \
	"update in the inserting transaction: the value is sent"
is "$(jq -s -c '.[3] | [.before, .after, .key]' "$TEST_TMP/ops.json")" '[{"id":2},null,{"id":2}]' \
	"key change: a d of the old key"
is "$(jq -s -c '.[4] | [.before, .after, .key]' "$TEST_TMP/ops.json")" '[null,{"id":10,"v":"b","big":"small"},{"id":10}]' \
	"key change: a c of the new key"
is "$(jq -s -c '[.[3], .[4]] | map(.source.lsn) | unique | length' "$TEST_TMP/ops.json")" 1 \
	"key change: both at the update's LSN"
is "$(jq -s -c '.[5] | [.before, .after, .key]' "$TEST_TMP/ops.json")" '[{"id":10},null,{"id":10}]' "delete: before = old key"
is "$(jq -s -c '.[6] | [.message.prefix, .message.content, .message.transactional, .source.seq]' "$TEST_TMP/ops.json")" \
	'["tx-msg","AAE=",true,7]' "transactional message in order"
is "$(jq -s -c '.[8] | [.before.v, .after.v, (.after.big | length), has("unchanged_toast")]' "$TEST_TMP/ops.json")" \
	'["a","b",100000,false]' "FULL identity: unchanged TOAST filled from the old tuple"
is "$(jq -s -c '.[9] | [.before.v, (.before.big|length), .after]' "$TEST_TMP/ops.json")" '["b",100000,null]' "FULL delete: whole old row"
is "$(jq -s -c '.[10] | [.after, .key]' "$TEST_TMP/ops.json")" '[{"v":"n"},null]' "table without key: key null"
is "$(jq -s -c '.[11] | [.message.content, .message.transactional, .source.seq, .source.commit_lsn == .source.lsn]' "$TEST_TMP/ops.json")" \
	'["aGVsbG8=",false,0,true]' "non-transactional message: (lsn, 0)"
is "$(jq -s -c '[.[12], .[13]] | map([.source.table, .truncate.restart_identity, .before, .after, .key])' "$TEST_TMP/ops.json")" \
	'[["ops",true,null,null,null],["full_t",true,null,null,null]]' "truncate: one event per table"
is "$(jq -s -c '[.[] | .source | [.commit_lsn, .seq]] | . == sort' "$TEST_TMP/ops.json")" true "positions strictly ordered"
is "$(jq -s -c '[.[] | .source | [.commit_lsn, .seq]] | . == unique' "$TEST_TMP/ops.json")" true "positions unique"
is "$(jq -s -c '[.[] | select(.op != "m") | .source.schema] | unique' "$TEST_TMP/ops.json")" '["public"]' "source.schema"
is "$(jq -s -c '[.[] | (.ts_ms >= .source.ts_ms)] | all' "$TEST_TMP/ops.json")" true "ts_ms after commit time"

# ---- TOAST with REPLICA IDENTITY DEFAULT: the value is not sent again.
psql_t "CREATE TABLE toast_d (id int PRIMARY KEY, v text, big text)"
psql_t "INSERT INTO toast_d SELECT 1, 'a', string_agg(md5(g::text), '') FROM generate_series(1, 3125) g"
psql_t "UPDATE toast_d SET v = 'b'"
drain "$TEST_TMP/toast.json"
is "$(jq -s -c '.[0].after.big | length' "$TEST_TMP/toast.json")" 100000 "TOASTed value sent on insert"
is "$(jq -s -c '.[1] | [.after, .unchanged_toast]' "$TEST_TMP/toast.json")" '[{"id":1,"v":"b"},["big"]]' \
	"DEFAULT identity: unchanged TOAST left out of after and listed, never null"
# A key change that leaves the TOASTed value alone: no c could carry it, so
# it stays one u naming the old key (a sink moves the document with it).
psql_t "UPDATE toast_d SET id = 2"
drain "$TEST_TMP/toast2.json"
is "$(jq -s -c 'map([.op, .before, .key, .unchanged_toast])' "$TEST_TMP/toast2.json")" \
	'[["u",{"id":1},{"id":2},["big"]]]' "DEFAULT identity: key change with unchanged TOAST stays one u"

# ---- concurrent interleaved transactions: order is commit order.
psql_t "CREATE TABLE inter (id int PRIMARY KEY, who text)"
# Session A holds its transaction open through a fifo.  (Not coproc: bash
# unsets a coprocess's variables once it exits, so under set -u a quick
# psql made "wait $A_PID" fail with "unbound variable" at random.)
mkfifo "$TEST_TMP/a.in"
psql -X -q -At -d "$PGTEST_DSN" <"$TEST_TMP/a.in" >"$TEST_TMP/a.out" 2>&1 &
a_pid=$!
exec {a_fd}>"$TEST_TMP/a.in"
echo "BEGIN; INSERT INTO inter VALUES (1, 'A');" >&"$a_fd"
# A's insert must come first by LSN: wait until A is idle in its open
# transaction with a transaction id.
wait_for "[ -n \"\$(psql_t \"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND backend_xid IS NOT NULL\")\" ]" 10
psql_t "BEGIN; INSERT INTO inter VALUES (2, 'B'); INSERT INTO inter VALUES (3, 'B'); COMMIT;"
echo "INSERT INTO inter VALUES (4, 'A'); COMMIT;" >&"$a_fd"
exec {a_fd}>&-
wait "$a_pid"
is $? 0 "session A commits (psql exit 0)"
drain "$TEST_TMP/inter.json"
is "$(jq -c -s '[.[] | .after.who]' "$TEST_TMP/inter.json")" '["B","B","A","A"]' "interleaved: whole transactions in commit order"
is "$(jq -c -s '[.[] | .source.seq]' "$TEST_TMP/inter.json")" '[1,2,1,2]' "seq restarts per transaction"
is "$(jq -c -s '(.[2].source.lsn < .[0].source.lsn) and (.[2].source.commit_lsn > .[0].source.commit_lsn)' "$TEST_TMP/inter.json")" \
	true "later commit with a smaller change LSN sorts after by position"

# ---- --tx-events
psql_t "INSERT INTO inter VALUES (5, 'C'), (6, 'C')"
endpos=$(psql_t "SELECT pg_current_wal_lsn()")
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --endpos "$endpos" --heartbeat 0 --tx-events >"$TEST_TMP/tx.json"
is "$(jq -c -s '[.[] | [.op, .source.seq, .tx.events]]' "$TEST_TMP/tx.json")" \
	'[["begin",0,null],["c",1,null],["c",2,null],["commit",3,2]]' "--tx-events: begin (C,0) and commit (C,N+1)"

# ---- ALTER TABLE mid-stream, a new table in the publication.
psql_t "CREATE TABLE alt (id int PRIMARY KEY, a int, b text)"
psql_t "INSERT INTO alt VALUES (1, 1, 'x')"
spawn "$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" --heartbeat 0 >"$TEST_TMP/alt.json" 2>"$TEST_TMP/alt.err"
cap=$SPAWNED_PID
wait_for "[ \$(wc -l <$TEST_TMP/alt.json) -ge 1 ]" 10
psql_t "ALTER TABLE alt ADD COLUMN c jsonb DEFAULT '{\"d\":1}'"
psql_t "INSERT INTO alt VALUES (2, 2, 'y')"
psql_t "ALTER TABLE alt DROP COLUMN b"
psql_t "ALTER TABLE alt ALTER COLUMN a TYPE text"
psql_t "UPDATE alt SET a = 'three' WHERE id = 2"
psql_t "CREATE TABLE alt_new (k text PRIMARY KEY)"
psql_t "INSERT INTO alt_new VALUES ('new')"
wait_for "[ \$(wc -l <$TEST_TMP/alt.json) -ge 4 ]" 15
kill -TERM "$cap"
wait "$cap"
is $? 0 "SIGTERM: exit 0"
is "$(jq -c -s '[.[] | .after]' "$TEST_TMP/alt.json")" \
	'[{"id":1,"a":1,"b":"x"},{"id":2,"a":2,"b":"y","c":{"d":1}},{"id":2,"a":"three","c":{"d":1}},{"k":"new"}]' \
	"schema changes mid-stream: added, dropped, retyped column, new table"
done_testing
