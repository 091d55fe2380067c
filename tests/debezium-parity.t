#!/usr/bin/env bash
# Debezium parity: cdc-capture's events against the real Debezium 3.6.1
# (embedded engine, PostgreSQL connector, pgoutput) on the same database and
# the same changes, field by field; and the cdc jq module's unwrap against
# Debezium's ExtractNewRecordState transform.  Every difference must be one
# of the documented, intentional ones (tests/debezium/compare.py, and
# cdc-events(7) "DEBEZIUM COMPATIBILITY"); the test prints them with their
# counts and the number of equal fields.
#
# One JVM runs every Debezium configuration (one engine, slot and output
# file each); cdc-capture runs once per configuration of its own.  Debezium
# connects over TCP as the test cluster's superuser, so this works when the
# tests run as root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/debezium/debezium.sh"
need_bin cdc-capture cdc-map
need_pg
command -v python3 >/dev/null || skip_all "python3 not found (scripts/deps.sh test)"
dbz_fetch >"$TEST_TMP/fetch.log" 2>&1 || skip_all "Debezium is not available: $(tail -n 1 "$TEST_TMP/fetch.log")"
pg_new_db dbz_parity
CAP=$CDC_BIN/cdc-capture
D=$TEST_ROOT/tests/debezium
pub=${TEST_ID}_p
id=${TEST_ID}
cd "$TEST_TMP" || bail_out "cannot cd to $TEST_TMP"

psql_t <"$D/parity-schema.sql" >/dev/null || bail_out "cannot create the parity schema"
psql_t "CREATE PUBLICATION $pub FOR ALL TABLES"
# The column types, for the comparison's rules.
psql_t "SELECT json_object_agg(t, cols) FROM (
	SELECT n.nspname || '.' || c.relname AS t,
	       json_object_agg(a.attname, format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) AS cols
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped GROUP BY 1) s" >types.json

# --- both sides take their snapshot, then stream
# cdc-capture: the defaults, with --tx-events --ts-ns, and with
# --values=debezium (compared with the same engine as the defaults).  source.name is the slot;
# Debezium's topic.prefix is set to the same string.
start_capture() {
	local name=$1
	shift
	spawn "$CAP" -d "$PGTEST_DSN" --slot "$name" --publication "$pub" --create-slot \
		--snapshot-state "$name.state" --heartbeat 0 "$@" >"ours_$name.ndjson" 2>"ours_$name.err"
}
start_capture "${id}_plain"
cap_plain=$SPAWNED_PID
start_capture "${id}_tx" --tx-events --ts-ns
cap_tx=$SPAWNED_PID
start_capture "${id}_dv" --values=debezium
cap_dv=$SPAWNED_PID

dbz_props plain.props "${id}_plain" "dbz_${id}_plain" "$pub" "$PGTEST_DSN"
dbz_props tx.props "${id}_tx" "dbz_${id}_tx" "$pub" "$PGTEST_DSN" provide.transaction.metadata=true \
	hstore.handling.mode=map
ENRS=io.debezium.transforms.ExtractNewRecordState
dbz_props u_drop.props "${id}_ud" "dbz_${id}_ud" "$pub" "$PGTEST_DSN" \
	transforms=unwrap transforms.unwrap.type=$ENRS transforms.unwrap.delete.tombstone.handling.mode=drop
dbz_props u_tomb.props "${id}_ut" "dbz_${id}_ut" "$pub" "$PGTEST_DSN" \
	transforms=unwrap transforms.unwrap.type=$ENRS transforms.unwrap.delete.tombstone.handling.mode=tombstone
dbz_props u_rewrite.props "${id}_ur" "dbz_${id}_ur" "$pub" "$PGTEST_DSN" \
	transforms=unwrap transforms.unwrap.type=$ENRS transforms.unwrap.delete.tombstone.handling.mode=rewrite \
	transforms.unwrap.add.fields=op,table,lsn,db,source.ts_ms,ts_ms,ts_us
engines=(plain u_drop u_tomb u_rewrite tx)
args=()
for e in "${engines[@]}"; do args+=("$e" "$e.props" "dbz_$e.json"); done
: >status
dbz_cmd
spawn "${DBZ_CMD[@]}" status "${args[@]}" 2>dbz.log
dbz_pid=$SPAWNED_PID

# All set when both captures wrote their snapshot and every engine runs
# (its slot exists: what is committed from now on is streamed).
wait_for "grep -q snapshot_end ours_${id}_plain.ndjson && grep -q snapshot_end ours_${id}_tx.ndjson &&
	grep -q snapshot_end ours_${id}_dv.ndjson" 60
ok $? "cdc-capture took its snapshots"
wait_for "[ \$(grep -c '^started ' status) = ${#engines[@]} ] || grep -q '^failed ' status" 240
! grep -q '^failed ' status && [ "$(grep -c '^started ' status)" = ${#engines[@]} ]
ok $? "Debezium's ${#engines[@]} engines started" || { diag "$(grep '^failed ' status)"; diag "$(grep -i 'caused by' dbz.log | tail -n 5)"; }

# --- the same changes through both
psql_t <"$D/parity-dml.sql" >/dev/null
ok $? "the changes ran"
psql_t "INSERT INTO zz_end VALUES (1)"
done_all() {
	local f
	for f in ours_*.ndjson dbz_*.json; do
		grep -q '"end_marker":1' "$f" || return 1
	done
}
wait_for done_all 120
ok $? "both sides streamed to the end marker" || { diag "$(tail -n 30 dbz.log)"; cat status >&2; }
kill -TERM "$cap_plain" "$cap_tx" "$cap_dv" 2>/dev/null
kill -TERM -- "-$dbz_pid" 2>/dev/null
wait_for "! kill -0 $dbz_pid" 60

# --- the envelope, field by field
compare() {
	local name=$1 out
	shift
	out=$(python3 "$D/compare.py" "$@" 2>&1)
	local rc=$?
	note "$name:"
	note "$(sed 's/^/  /' <<<"$out")"
	ok "$rc" "$name: no differences but the documented ones"
	# A comparison that compared nothing proves nothing.
	like "$(sed -n 's/^fields equal: //p' <<<"$out")" '^[1-9][0-9]{2,}$' "$name: hundreds of fields equal"
}
compare "envelope (defaults)" types.json "ours_${id}_plain.ndjson" dbz_plain.json
compare "envelope (--tx-events --ts-ns, provide.transaction.metadata)" types.json "ours_${id}_tx.ndjson" dbz_tx.json
compare "envelope (--values=debezium)" --values debezium --names "${id}_dv=${id}_plain" types.json \
	"ours_${id}_dv.ndjson" dbz_plain.json

# --- unwrap against ExtractNewRecordState
# unwrap(mode; fields) over our events, each result kept with its event's
# op and table (records that unwrap drops leave nothing, as the transform).
unwrapped() {
	"$CDC_BIN/cdc-map" -L "$TEST_ROOT/jq" "include \"cdc\"; . as \$e | unwrap($1) as \$u
		| [\$e.op, (\$e.source.schema + \".\" + \$e.source.table), \$u]" \
		<"ours_${id}_plain.ndjson"
}
unwrapped '"drop"' >u_drop.ours
ok $? "cdc-map unwrap(\"drop\")"
compare 'unwrap("drop") vs delete.tombstone.handling.mode=drop' --unwrap --names "${id}_plain=${id}_ud" types.json u_drop.ours dbz_u_drop.json
unwrapped '"none"' >u_tomb.ours
compare 'unwrap("none") vs delete.tombstone.handling.mode=tombstone' --unwrap --names "${id}_plain=${id}_ut" types.json u_tomb.ours dbz_u_tomb.json
unwrapped '"rewrite"; ["op", "table", "lsn", "db", "source.ts_ms", "ts_ms", "ts_us"]' >u_rewrite.ours
compare 'unwrap("rewrite"; fields) vs rewrite, add.fields=op,table,lsn,db,source.ts_ms,ts_ms,ts_us' --unwrap \
	--names "${id}_plain=${id}_ur" \
	types.json u_rewrite.ours dbz_u_rewrite.json

done_testing
