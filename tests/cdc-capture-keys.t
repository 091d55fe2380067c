#!/usr/bin/env bash
# cdc-capture: the event "key" (cdc-capture(1) "Keys"): the primary key when
# the table has one, whatever its replica identity; else the replica
# identity index; else all columns (FULL) or null.  Snapshot and stream
# give the same key for the same row; updates carry the new key and, when
# the primary key changed, the old one in "before"; deletes the old key.
# End to end: with REPLICA IDENTITY FULL, cdc-sink-es keeps one document
# per row.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
need_pg
command -v jq >/dev/null || skip_all "jq is not installed"
pg_new_db capture_keys
CAP=$CDC_BIN/cdc-capture
slot=${TEST_ID}_k
pub=${TEST_ID}_kp
T=$TEST_TMP

drain() {
	"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub,${pub}_ins" --heartbeat 0 --no-loop \
		--endpos "$(psql_t "SELECT pg_current_wal_lsn()")" "$@"
}
# keys FILE OP TABLE: the keys of the events OP on TABLE, one per line, sorted.
keys() { jq -c --arg op "$2" --arg t "$3" 'select(.op == $op and .source.table == $t) | .key' "$1" | sort | tr '\n' ' ' | sed 's/ $//'; }

psql_t <<'SQL'
CREATE TABLE pk_d (id int PRIMARY KEY, v text);
CREATE TABLE pk_full (id int PRIMARY KEY, v text, big text);
ALTER TABLE pk_full REPLICA IDENTITY FULL;
CREATE TABLE full_nopk (k text, v int);
ALTER TABLE full_nopk REPLICA IDENTITY FULL;
CREATE TABLE idx_nopk (a int NOT NULL, b int NOT NULL, c text);
CREATE UNIQUE INDEX idx_nopk_ba ON idx_nopk (b, a);
ALTER TABLE idx_nopk REPLICA IDENTITY USING INDEX idx_nopk_ba;
CREATE TABLE idx_pk_cov (id int PRIMARY KEY, b int NOT NULL, c text);
CREATE UNIQUE INDEX idx_pk_cov_bid ON idx_pk_cov (b, id);
ALTER TABLE idx_pk_cov REPLICA IDENTITY USING INDEX idx_pk_cov_bid;
CREATE TABLE idx_pk_not (id int PRIMARY KEY, b int NOT NULL, c text);
CREATE UNIQUE INDEX idx_pk_not_b ON idx_pk_not (b);
ALTER TABLE idx_pk_not REPLICA IDENTITY USING INDEX idx_pk_not_b;
CREATE TABLE nothing_pk (id int PRIMARY KEY, v text);
ALTER TABLE nothing_pk REPLICA IDENTITY NOTHING;
CREATE TABLE nothing_nopk (v text);
ALTER TABLE nothing_nopk REPLICA IDENTITY NOTHING;
CREATE TABLE nopk (v text);
CREATE TABLE pk_incl (id int, x int, v text, PRIMARY KEY (id) INCLUDE (x));
ALTER TABLE pk_incl REPLICA IDENTITY FULL;
CREATE TABLE comp (v text, b text, a int, PRIMARY KEY (b, a));
ALTER TABLE comp REPLICA IDENTITY FULL;
INSERT INTO pk_d VALUES (1, 'x'), (2, 'y');
INSERT INTO pk_full VALUES (1, 'x', 'b1'), (2, 'y', 'b2');
INSERT INTO full_nopk VALUES ('k1', 1);
INSERT INTO idx_nopk VALUES (1, 2, 'c');
INSERT INTO idx_pk_cov VALUES (1, 10, 'c');
INSERT INTO idx_pk_not VALUES (1, 10, 'c');
INSERT INTO nothing_pk VALUES (1, 'x');
INSERT INTO nothing_nopk VALUES ('x');
INSERT INTO nopk VALUES ('x');
INSERT INTO pk_incl VALUES (1, 5, 'x');
INSERT INTO comp VALUES ('x', 'B', 1);
SQL
# NOTHING tables cannot publish updates or deletes: a second, insert-only publication.
psql_t "CREATE PUBLICATION $pub FOR TABLE pk_d, pk_full, full_nopk, idx_nopk, idx_pk_cov, idx_pk_not, nopk, pk_incl, comp"
psql_t "CREATE PUBLICATION ${pub}_ins FOR TABLE nothing_pk, nothing_nopk WITH (publish = 'insert')"

# ---------------------------------------------------------------- snapshot
"$CAP" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub,${pub}_ins" --create-slot \
	--snapshot-state "$T/state" --heartbeat 0 --no-loop --endpos 0/1 >"$T/snap.json" 2>"$T/snap.err"
is "$?" 0 "snapshot: exit 0"
S=$T/snap.json
# A second slot from here on, read with the default --key-change.
psql_t "SELECT pg_create_logical_replication_slot('${slot}_dc', 'pgoutput')" >/dev/null
is "$(keys "$S" r pk_d)" '{"id":1} {"id":2}' "snapshot, DEFAULT with primary key: the primary key"
is "$(keys "$S" r pk_full)" '{"id":1} {"id":2}' "snapshot, FULL with primary key: the primary key, not the row"
is "$(keys "$S" r full_nopk)" '{"k":"k1","v":1}' "snapshot, FULL without primary key: every column"
is "$(keys "$S" r idx_nopk)" '{"a":1,"b":2}' "snapshot, USING INDEX without primary key: the index columns"
is "$(keys "$S" r idx_pk_cov)" '{"id":1}' "snapshot, USING INDEX covering the primary key: the primary key"
is "$(keys "$S" r idx_pk_not)" '{"b":10}' "snapshot, USING INDEX not covering the primary key: the index columns"
is "$(keys "$S" r nothing_pk)" '{"id":1}' "snapshot, NOTHING with primary key: the primary key"
is "$(keys "$S" r nothing_nopk)" 'null' "snapshot, NOTHING without primary key: null"
is "$(keys "$S" r nopk)" 'null' "snapshot, DEFAULT without primary key: null"
is "$(keys "$S" r pk_incl)" '{"id":1}' "snapshot, INCLUDE columns are not part of the key"
is "$(keys "$S" r comp)" '{"b":"B","a":1}' "snapshot, composite primary key (column order)"

# ---------------------------------------------------------------- stream
psql_t <<'SQL' >/dev/null
INSERT INTO pk_d VALUES (3, 'z');
INSERT INTO pk_full VALUES (3, 'z', 'b3');
INSERT INTO full_nopk VALUES ('k2', 2);
INSERT INTO idx_nopk VALUES (3, 4, 'c');
INSERT INTO idx_pk_cov VALUES (2, 20, 'c');
INSERT INTO idx_pk_not VALUES (2, 20, 'c');
INSERT INTO nothing_pk VALUES (2, 'y');
INSERT INTO nothing_nopk VALUES ('y');
INSERT INTO nopk VALUES ('y');
INSERT INTO pk_incl VALUES (2, 6, 'y');
INSERT INTO comp VALUES ('y', 'C', 2);
UPDATE pk_d SET v = 'x2' WHERE id = 1;
UPDATE pk_full SET v = 'x2' WHERE id = 1;
UPDATE full_nopk SET v = 10 WHERE k = 'k1';
UPDATE idx_nopk SET c = 'c2' WHERE a = 1;
UPDATE idx_pk_cov SET c = 'c2' WHERE id = 1;
UPDATE idx_pk_not SET c = 'c2' WHERE id = 1;
UPDATE pk_incl SET x = 50, v = 'x2' WHERE id = 1;
UPDATE comp SET v = 'x2' WHERE a = 1;
SQL
psql_t <<'SQL' >/dev/null
UPDATE pk_d SET id = 20 WHERE id = 2;
UPDATE pk_full SET id = 20 WHERE id = 2;
UPDATE idx_pk_not SET b = 200 WHERE id = 2;
SQL
psql_t <<'SQL' >/dev/null
DELETE FROM pk_d WHERE id = 3;
DELETE FROM pk_full WHERE id = 3;
DELETE FROM full_nopk WHERE k = 'k2';
DELETE FROM idx_nopk WHERE a = 3;
DELETE FROM idx_pk_cov WHERE id = 2;
DELETE FROM idx_pk_not WHERE id = 1;
DELETE FROM pk_incl WHERE id = 2;
DELETE FROM comp WHERE a = 2;
SQL
# The rules for the key of each event, with key changes as one u event
# (--key-change=update); the default (a d and a c) is checked below.
drain --key-change=update >"$T/stream.json" 2>"$T/stream.err"
is "$?" 0 "stream: exit 0"
E=$T/stream.json
is "$(keys "$E" c pk_full)" '{"id":3}' "insert, FULL with primary key: the primary key"
is "$(keys "$E" c nothing_pk)" '{"id":2}' "insert, NOTHING with primary key: the primary key"
is "$(keys "$E" c nothing_nopk)" 'null' "insert, NOTHING without primary key: null"
is "$(keys "$E" c nopk)" 'null' "insert, DEFAULT without primary key: null"
is "$(keys "$E" c full_nopk)" '{"k":"k2","v":2}' "insert, FULL without primary key: every column"
is "$(keys "$E" c idx_pk_not)" '{"b":20}' "insert, USING INDEX not covering the primary key: the index columns"
is "$(keys "$E" c comp)" '{"b":"C","a":2}' "insert, composite primary key"

# The update that broke every consumer: FULL identity, a non-key column changes.
is "$(jq -c 'select(.op == "u" and .source.table == "pk_full" and .after.id == 1) | [.key, .before.v, .after.v]' "$E")" \
	'[{"id":1},"x","x2"]' "update, FULL with primary key: key is the primary key (before is the whole old row)"
is "$(jq -c 'select(.op == "u" and .source.table == "pk_d" and .after.id == 1) | [.key, .before]' "$E")" \
	'[{"id":1},null]' "update, DEFAULT: key, no before"
is "$(keys "$E" u full_nopk)" '{"k":"k1","v":10}' "update, FULL without primary key: every column of the new row"
is "$(keys "$E" u idx_nopk)" '{"a":1,"b":2}' "update, USING INDEX without primary key: the index columns"
is "$(keys "$E" u idx_pk_cov | head -c 200)" '{"id":1}' "update, USING INDEX covering the primary key: the primary key"
is "$(jq -c 'select(.op == "u" and .source.table == "pk_incl") | [.key, .after.x]' "$E")" '[{"id":1},50]' \
	"update, INCLUDE column changed: key is still the primary key"
is "$(keys "$E" u comp)" '{"b":"B","a":1}' "update, FULL composite primary key"

# Primary key changes: before carries the old key, key is the new one.
is "$(jq -c 'select(.op == "u" and .source.table == "pk_d" and .after.id == 20) | [.before, .key]' "$E")" \
	'[{"id":2},{"id":20}]' "primary key update, DEFAULT: before is the old key ('K' tuple), key the new"
is "$(jq -c 'select(.op == "u" and .source.table == "pk_full" and .after.id == 20) | [.before.id, .before.v, .key]' "$E")" \
	'[2,"y",{"id":20}]' "primary key update, FULL: before is the old row, key the new"
is "$(jq -c 'select(.op == "u" and .source.table == "idx_pk_not" and .after.id == 2) | [.before, .key]' "$E")" \
	'[{"b":20},{"b":200}]' "index key update, USING INDEX: before is the old index key, key the new"

# Deletes: the old key.
is "$(jq -c 'select(.op == "d" and .source.table == "pk_full") | [.key, .before.v]' "$E")" '[{"id":3},"z"]' \
	"delete, FULL with primary key: key is the primary key of the old row"
is "$(keys "$E" d pk_d)" '{"id":3}' "delete, DEFAULT: the old primary key"
is "$(keys "$E" d full_nopk)" '{"k":"k2","v":2}' "delete, FULL without primary key: the old row"
is "$(keys "$E" d idx_nopk)" '{"a":3,"b":4}' "delete, USING INDEX without primary key: the old index key"
is "$(keys "$E" d idx_pk_cov)" '{"id":2}' "delete, USING INDEX covering the primary key: the primary key from the old key"
is "$(keys "$E" d idx_pk_not)" '{"b":10}' "delete, USING INDEX not covering the primary key: the old index key"
is "$(keys "$E" d pk_incl)" '{"id":2}' "delete, INCLUDE: the primary key"
is "$(keys "$E" d comp)" '{"b":"C","a":2}' "delete, composite primary key"
# No key has a null member: every key column was sent.
is "$(jq -c 'select(.key != null) | .key | to_entries[] | select(.value == null)' "$S" "$E")" "" \
	"no key member is null"

# The default --key-change=delete-create: each key change is a d of the
# old key and a c of the new one, at consecutive positions; nothing else
# differs.
"$CAP" -d "$PGTEST_DSN" --slot "${slot}_dc" --publication "$pub,${pub}_ins" --heartbeat 0 --no-loop \
	--endpos "$(jq -s -r 'map(.source.commit_lsn) | max' "$E")" >"$T/dc.json" 2>"$T/dc.err"
is "$?" 0 "stream, --key-change=delete-create: exit 0"
DC=$T/dc.json
is "$(wc -l <"$DC")" "$(($(wc -l <"$E") + 3))" "three key changes, three more events"
is "$(jq -c 'select(.source.table == "pk_d" and ((.op == "d" and .key.id == 2) or (.op == "c" and .key.id == 20)))
	| [.op, .before, .after, .key]' "$DC" | tr '\n' ' ')" \
	'["d",{"id":2},null,{"id":2}] ["c",null,{"id":20,"v":"y"},{"id":20}] ' \
	"primary key update, DEFAULT: a d of the old key ('K' tuple), a c of the new row"
is "$(jq -c 'select(.source.table == "pk_full" and ((.op == "d" and .key.id == 2) or (.op == "c" and .key.id == 20)))
	| [.op, .before.v, .after.v, .key]' "$DC" | tr '\n' ' ')" \
	'["d","y",null,{"id":2}] ["c",null,"y",{"id":20}] ' "primary key update, FULL: a d of the old row, a c of the new"
is "$(jq -c 'select(.source.table == "idx_pk_not" and ((.op == "d" and .key.b == 20) or (.op == "c" and .key.b == 200)))
	| [.op, .key]' "$DC" | tr '\n' ' ')" '["d",{"b":20}] ["c",{"b":200}] ' \
	"index key update, USING INDEX: a d of the old index key, a c of the new"
is "$(jq -c 'select(.op == "u") | .key' "$DC" | sort | tr '\n' ' ')" \
	"$(jq -c 'select(.op == "u") | .key' "$E" | grep -vx '{"id":20}' | grep -vx '{"b":200}' | sort | tr '\n' ' ')" \
	"updates that keep the key stay u events"
is "$(jq -s -c '[.[] | select(.source.table == "pk_d" and .op != "r") | [.source.commit_lsn, .source.seq]] | . == unique' "$DC")" \
	true "the d and the c have positions of their own"
full_fk=$(jq -c 'select(.source.table == "full_nopk" and .op == "u") | .op' "$DC")
is "$full_fk" '"u"' "FULL without primary key: an update stays u (its key is the row, not an identity)"

# Snapshot and stream agree: the same row has the same key in both.
is "$(jq -c 'select(.source.table == "pk_full" and .after.id == 1) | .key' "$S" "$E" | sort -u)" '{"id":1}' \
	"pk_full row 1: one key in snapshot and stream"

# A primary key added later: the next Relation message brings it.
psql_t "ALTER TABLE nopk ADD COLUMN id serial PRIMARY KEY"
psql_t "INSERT INTO nopk (v) VALUES ('z')"
drain >"$T/later.json" 2>"$T/later.err"
is "$(jq -c 'select(.source.table == "nopk") | .key' "$T/later.json")" '{"id":3}' \
	"primary key added mid-stream: the key follows the catalog"

# ---------------------------------------------------------------- end to end
if [ -x "$CDC_BIN/cdc-sink-es" ] && [ -n "${CDC_TEST_ES_URL:-}" ] && es_curl GET / >/dev/null 2>&1; then
	P=$(es_new_index_prefix)
	psql_t "UPDATE pk_full SET v = 'e1' WHERE id = 1"
	psql_t "UPDATE pk_full SET v = 'e2' WHERE id = 1"
	psql_t "UPDATE pk_full SET big = 'e3' WHERE id = 1"
	psql_t "UPDATE pk_full SET id = 30 WHERE id = 20"
	cat "$S" "$E" >"$T/all.json"
	drain >>"$T/all.json" 2>"$T/e2e.err"
	jq -c 'select(.source.table == "pk_full" or (.op | test("^[a-z]+_") ))' "$T/all.json" |
		"$CDC_BIN/cdc-sink-es" -q --url "$CDC_TEST_ES_URL" --index "${P}{table}" >/dev/null 2>"$T/sink.err"
	is "$?" 0 "cdc-sink-es applies the FULL-identity table's events"
	is "$(es_count "${P}pk_full")" "$(psql_t "SELECT count(*) FROM pk_full")" \
		"FULL identity: one document per row (updates did not make new documents)"
	is "$(es_curl GET "/${P}pk_full/_doc/1" | jq -c '._source.v')" '"e2"' "the row's document has its last value"
	es_curl GET "/${P}pk_full/_doc/20" >/dev/null 2>&1
	isnt "$?" 0 "primary key change: the old key's document is gone"
else
	skip "no OpenSearch or cdc-sink-es" 4
fi
done_testing
