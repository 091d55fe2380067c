#!/usr/bin/env bash
# cdc-filter, cdc-map and the cdc jq module on real capture output:
# cdc-capture streams changes from the test PostgreSQL.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture cdc-filter cdc-map
need_pg
F=$CDC_BIN/cdc-filter
M=$CDC_BIN/cdc-map

pg_new_db mapcap
slot=s_$TEST_ID
pub=p_$TEST_ID
psql_t >/dev/null <<SQL || bail_out "cannot set up the test database"
CREATE TABLE orders (id bigint PRIMARY KEY, status text, amount numeric(10,2), email text, payload jsonb);
ALTER TABLE orders REPLICA IDENTITY FULL;
CREATE TABLE items (id int PRIMARY KEY, qty int, note text);
CREATE TABLE big (id bigint PRIMARY KEY, n bigint);
CREATE TABLE outbox (id uuid PRIMARY KEY, aggregatetype text, aggregateid text, type text, payload jsonb);
CREATE PUBLICATION $pub FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('$slot', 'pgoutput');
SQL
psql_t >/dev/null <<'SQL' || bail_out "cannot make the changes"
INSERT INTO orders VALUES (1, 'new', 10.50, 'ann@example.com', '{"a": 1, "b": [1, 2]}'), (2, 'new', 20, 'bob@example.com', NULL);
UPDATE orders SET status = 'paid' WHERE id = 1;
UPDATE orders SET email = 'bob2@example.com' WHERE id = 2;
DELETE FROM orders WHERE id = 2;
INSERT INTO items VALUES (1, 3, 'x');
UPDATE items SET qty = 4 WHERE id = 1;
INSERT INTO big VALUES (1, 9007199254740993);
INSERT INTO outbox VALUES ('6f1a3c1e-0000-4000-8000-000000000001', 'order', '1', 'OrderPaid', '{"order": 1, "total": "10.50"}');
DELETE FROM outbox;
TRUNCATE items;
SQL
lsn=$(psql_t "SELECT pg_current_wal_lsn()")
stream=$TEST_TMP/stream.ndjson
timeout 60 "$CDC_BIN/cdc-capture" -d "$PGTEST_DSN" --slot "$slot" --publication "$pub" \
	--endpos "$lsn" --heartbeat 0 >"$stream" 2>"$TEST_TMP/capture.err"
ok $? "cdc-capture streamed the changes"
is "$(jq -r '.op' <"$stream" | tr -d '\n')" "ccuudcuccdt" "the ops, in commit order"

# --- cdc-filter: the flags select what jq selects; bytes untouched
out=$("$F" --table orders --op u <"$stream")
is "$(printf '%s\n' "$out" | jq -c '[.after.id, .after.status]' | tr -d '\n')" '[1,"paid"][2,"new"]' \
	"--table orders --op u: the two updates"
is "$(printf '%s\n' "$out" | grep -cvxFf "$stream")" 0 "kept lines are input lines, byte for byte"
like "$out" '"payload":\{"a": 1, "b": \[1, 2\]\}' "jsonb as PostgreSQL spaced it is kept"
is "$("$F" --table big <"$stream" | grep -o '"n":[0-9]*')" '"n":9007199254740993' "a bigint beyond 2^53 passes cdc-filter digit for digit"

# --- cdc-map: the bigint row goes to the error policy unless accepted
"$M" '.after' <"$stream" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
is "$?" 65 "cdc-map stops at the bigint row (exit 65)"
like "$(cat "$TEST_TMP/err")" "^cdc-map: line 8 \(position [0-9A-F]+/[0-9A-F]+:1\): number at byte [0-9]+ cannot be held exactly" \
	"... naming its line, position and the reason"
is "$(wc -l <"$TEST_TMP/out")" 7 "... after writing the seven events before it"
out=$("$M" --skip-bad '.after.n // empty' <"$stream" 2>&1)
like "$out" "1 bad line skipped" "--skip-bad: counted"
is "$("$F" --table big <"$stream" | "$M" --lossy-numbers '.after.n')" 9007199254740992 "--lossy-numbers: accepted, rounded"

# --- the cdc module on real events
orders() { "$F" --table orders <"$stream"; }
is "$(orders | "$M" 'include "cdc"; unwrap("rewrite") | [.id, .status, .__deleted]' | tr -d '\n')" \
	'[1,"new","false"][2,"new","false"][1,"paid","false"][2,"new","false"][2,"new","true"]' "unwrap(\"rewrite\")"
is "$(orders | "$M" 'include "cdc"; select(.op == "u") | [changed(.status), changed(.email), changed_columns]' | tr -d '\n')" \
	'[true,false,["status"]][false,true,["email"]]' "changed and changed_columns (REPLICA IDENTITY FULL)"
is "$("$F" --table items --op u <"$stream" | "$M" 'include "cdc"; [changed(.qty), changed(.note), changed_columns]')" \
	'[true,true,null]' "changed without a before image (REPLICA IDENTITY DEFAULT) counts as changed"
is "$(orders | "$M" 'include "cdc"; to_canal | select(.type == "UPDATE") | [.database, .table, .data[0].status, .data[0].amount, .old]' | head -n 1)" \
	'["public","orders","paid","10.50",[{"status":"new"}]]' "to_canal"
is "$(orders | "$M" 'include "cdc"; to_maxwell | select(.type != "insert") | [.type, .old, .data.id]' | tr -d '\n')" \
	'["update",{"status":"new"},1]["update",{"email":"bob@example.com"},2]["delete",null,2]' "to_maxwell"
is "$(orders | "$M" 'include "cdc"; to_dms | .metadata.operation + ":" + (has("before-image") | tostring)' | tr -d '\n')" \
	'"insert:false""insert:false""update:true""update:true""delete:false"' "to_dms"
like "$(orders | "$M" 'include "cdc"; to_dms | .metadata.timestamp' | head -n 1)" \
	'^"20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9:]{8}\.[0-9]{6}Z"$' "to_dms timestamp"
outbox() { "$F" --table outbox <"$stream"; }
is "$(outbox | "$M" 'include "cdc"; outbox')" '{"order":1,"total":"10.50"}' "outbox: the payload of the inserted row, not the delete"
is "$(outbox | "$M" 'include "cdc"; outbox_event | [.aggregate_type, .type, (.position | test("^[0-9A-F]+/[0-9A-F]+:1$"))]')" \
	'["order","OrderPaid",true]' "outbox_event"
want=$(printf %s ann@example.com | sha256sum | cut -d' ' -f1)
is "$(orders | "$M" 'include "cdc"; select(.op == "c" and .after.id == 1) | hash_columns(["email"]) | .after.email')" \
	"\"sha256:$want\"" "hash_columns: sha256 of the value"
is "$("$F" --table items --op t <"$stream" | "$M" 'include "cdc"; to_canal | [.type, .isDdl]')" '["TRUNCATE",true]' "to_canal of a truncate"

# --- --doc on real events: the envelope keeps its bytes
orders | "$M" --doc 'include "cdc"; redact(["email"])' >"$TEST_TMP/doc"
is "$(jq -c 'del(.after, .before)' <"$TEST_TMP/doc")" "$(orders | jq -c 'del(.after, .before)')" "--doc: the envelope is unchanged"
is "$(jq -r '[.after.email, .before.email] | map(. // "-") | join(",")' <"$TEST_TMP/doc" | tr '\n' ' ')" \
	'[redacted],- [redacted],- [redacted],[redacted] [redacted],[redacted] -,[redacted] ' "--doc: both images redacted"
is "$(jq -c .key <"$TEST_TMP/doc")" "$(orders | jq -c .key)" "--doc: the key is left alone"

done_testing
