# shellcheck shell=bash
# tests/chaos/netfault-lib.sh: shared by tests/netfault-*.t (sourced after
# tests/lib.sh, pg_new_db, with CHAOS, CK (the sink's checkpoint) and INDEX
# set).
#
#   nf_setup_table          items (id, v, n) with 300 rows
#   nf_workload SECS        transactions of inserts, updates, deletes and a
#                           primary key update for about SECS seconds
#   nf_zero_loss NAME       drain (the sink's checkpoint reaches the WAL
#                           position after the last transaction), then one
#                           test: the index equals the table

nf_setup_table() {
	psql_t <<-'SQL' >/dev/null || bail_out "cannot set up the table"
	CREATE SEQUENCE nf_seq START 1000;
	CREATE TABLE items (id int PRIMARY KEY, v text, n int);
	INSERT INTO items SELECT g, 'v' || g, 0 FROM generate_series(1, 300) g;
	SQL
}

# Transactions of inserts, updates, deletes and a key update, for about S s.
nf_workload() {
	local secs=$1 end r
	end=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$end" ]; do
		r=$RANDOM
		psql_t >/dev/null 2>&1 <<-SQL
		BEGIN;
		INSERT INTO items SELECT nextval('nf_seq'), 'r$r', 0 FROM generate_series(1, 4);
		UPDATE items SET n = n + 1, v = 'u$r' WHERE id % 17 = $r % 17;
		DELETE FROM items WHERE id = (SELECT min(id) FROM items WHERE id > $r % 250);
		UPDATE items SET id = nextval('nf_seq') WHERE id = (SELECT max(id) FROM items);
		COMMIT;
		SQL
		sleep 0.1
	done
}

nf_lsn2int() { local hi=${1%/*} lo=${1#*/}; echo $(((16#$hi << 32) + 16#$lo)); }
nf_ck_lsn() { local v; v=$(sed -n 's/^commit_lsn=//p' "$CK" 2>/dev/null); [ -n "$v" ] && nf_lsn2int "$v" || echo 0; }
# Drain: the sink's checkpoint reaches the WAL position after the last
# transaction (a heartbeat brings it there), then every row is compared.
nf_zero_loss() {
	local name=$1 target out
	target=$(nf_lsn2int "$(psql_t "SELECT pg_current_wal_lsn()")")
	psql_t "SELECT pg_logical_emit_message(false, 'drain', 'x')" >/dev/null
	if ! wait_for "[ \$(nf_ck_lsn) -ge $target ]" 45; then
		ok 1 "$name: the pipeline drains (checkpoint $(sed -n 's/^position=//p' "$CK"))"
		return
	fi
	out=$(python3 "$CHAOS/compare.py" --psql "${CDC_TEST_PG_BINDIR:+$CDC_TEST_PG_BINDIR/}psql" \
		--dsn "$PGTEST_DSN" --es-url "$CDC_TEST_ES_URL" --index "$INDEX" --columns "id, v, n")
	ok $? "$name: zero loss ($(echo "$out" | jq -c '{rows, docs, lost, stale, extra}'))" ||
		diag "$out"
}


# nf_start_pipeline CONNINFO -- SINK-ARGS...: cdc-capture -d CONNINFO
# --ack-file $CK | cdc-sink-es --checkpoint $CK SINK-ARGS, restarted after
# 1 s whenever it ends (as systemd's Restart=always would).  Each start
# appends a line to $TEST_TMP/runs; stderr goes to $TEST_TMP/*.err.
# NF_CAPTURE_ARGS: more cdc-capture options (split on spaces).
nf_start_pipeline() {
	local dsn=$1
	shift 2
	: >"$TEST_TMP/runs"
	NF_CAPTURE_ARGS=${NF_CAPTURE_ARGS:-} spawn bash -c '
		t=$1 cap=$2 dsn=$3 slot=$4 pub=$5 ck=$6 sink=$7
		shift 7
		while [ ! -e "$t/stop" ]; do
			echo start >>"$t/runs"
			"$cap" -d "$dsn" --slot "$slot" --publication "$pub" --create-slot \
				--create-publication --tables items --snapshot-state "$t/snap.state" \
				--ack-file "$ck" --heartbeat 1 --status-interval 1 $NF_CAPTURE_ARGS 2>>"$t/capture.err" |
				"$sink" --index "${NF_PREFIX}{table}" --checkpoint "$ck" --batch-wait 100ms "$@" 2>>"$t/sink.err"
			echo "exit ${PIPESTATUS[*]}" >>"$t/runs"
			sleep 1
		done' nf "$TEST_TMP" "$CDC_BIN/cdc-capture" "$dsn" "$slot" "$pub" "$CK" "$CDC_BIN/cdc-sink-es" "$@"
}
nf_runs() { grep -c '^start' "$TEST_TMP/runs"; }
