#!/usr/bin/env bash
# cdc-source-kafka --debezium serves an existing Debezium deployment: the
# real Debezium embedded engine (tests/debezium) captures a table through a
# snapshot, updates, deletes (with tombstones) and inserts; its records go
# to a 3-partition topic as Debezium's Kafka Connect sink would write them
# (key and value as JSON, the Java clients' partitioner); cdc-source-kafka
# --debezium | cdc-sink-es then makes an index equal to the table.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$TEST_ROOT/tests/debezium/debezium.sh"

need_bin cdc-source-kafka cdc-sink-es
need_pg
need_es
need_kafka
command -v kcat >/dev/null 2>&1 || skip_all "kcat is not installed (scripts/deps.sh test)"
# Nothing of ours differs from the plain build here but the two programs,
# which other tests run under the sanitizers; the JVM is slow there.
[ "${CDC_TEST_SANITIZED:-0}" = 1 ] && skip_all "covered by the plain build"
cd "$TEST_TMP" || exit 1
dbz_fetch >fetch.log 2>&1 || skip_all "Debezium is not available: $(tail -n 1 fetch.log)"
B=$CDC_TEST_KAFKA_BROKERS
KP=$(kafka_topic_prefix)
P=$(es_new_index_prefix)
T=${KP}dbz.public.items

pg_new_db kdbz
psql_t <<'SQL' || bail_out "cannot set up the table"
CREATE TABLE items (id int PRIMARY KEY, v text, n int);
INSERT INTO items SELECT g, 'v' || g, g FROM generate_series(1, 200) g;
SQL
pub=p_$TEST_ID
psql_t "CREATE PUBLICATION $pub FOR TABLE items"
dbz_props dbz.props "${KP}dbz" "dbz_$TEST_ID" "$pub" "$PGTEST_DSN" tombstones.on.delete=true
dbz_cmd
spawn "${DBZ_CMD[@]}" status dbz dbz.props dbz.json 2>dbz.log
dbz_pid=$SPAWNED_PID
wait_for "grep -q '^started ' status || grep -q '^failed ' status" 240
ok "$(grep -q '^started ' status; echo $?)" "the Debezium engine runs" || diag "$(tail -5 dbz.log)"
wait_for "[ \$(grep -c . dbz.json 2>/dev/null) -ge 200 ]" 120
ok $? "Debezium's snapshot: 200 records"

for r in $(seq 1 15); do
	psql_t >/dev/null <<-SQL
	BEGIN;
	UPDATE items SET v = 'r$r-' || id, n = n + 1 WHERE id % 6 = $r % 6;
	DELETE FROM items WHERE id = $r * 7;
	INSERT INTO items VALUES (1000 + $r, 'new$r', $r);
	COMMIT;
	SQL
done
# The last transaction's insert is its last record.
wait_for "grep -q '\"id\":1015' dbz.json" 120
ok $? "Debezium streams the 15 transactions"
sleep 1
kill -TERM -- "-$dbz_pid" 2>/dev/null
wait_for "! kill -0 $dbz_pid 2>/dev/null" 60
is "$(wc -l <dbz.json)" "$(wc -l <dbz.json.keys)" "a key for every record"
ok "$(grep -qx null dbz.json; echo $?)" "deletes are followed by tombstones"

kafka_new_topic "$T" 3
paste -d '\t' dbz.json.keys dbz.json | kcat -b "$B" -P -t "$T" -K $'\t' -X partitioner=murmur2_random 2>kcat.err
ok $? "Debezium's records on a 3-partition topic, keyed as Kafka Connect keys them"

"$CDC_BIN/cdc-source-kafka" -b "$B" -g "g-$TEST_ID" -t "$T" --debezium -e >events.ndjson 2>src.err
is $? 0 "cdc-source-kafka --debezium reads them (exit 0)" || diag "$(head -5 src.err)"
# (Partitions are merged by arrival here: an older record after a newer one
# comes after a rewind, which the sink takes in its stride.)
jq -c 'select(.op != "rewind")' events.ndjson >data.ndjson
is "$(jq -r '.source.commit_lsn | type' data.ndjson | sort -u)" "number" "each event has a commit position"
is "$(jq -c '.key' data.ndjson | grep -vc '^{"id":')" 0 "... and the row's key"
is "$(grep -c . data.ndjson)" "$(grep -vcx null dbz.json)" "every record but the tombstones is an event, once"
is "$(jq -r '.source | "\(.commit_lsn) \(.seq)"' data.ndjson | sort | uniq -d)" "" "no two events share a position"

"$CDC_BIN/cdc-sink-es" -q --url "$CDC_TEST_ES_URL" --index "${P}{table}" --checkpoint es.ckpt <events.ndjson 2>sink.err
is $? 0 "cdc-sink-es applies them" || diag "$(head -5 sink.err)"
table_rows() { psql_t "SELECT json_build_object('id', id, 'v', v, 'n', n) FROM items ORDER BY id" | jq -cS .; }
index_rows() {
	es_curl POST "/${P}items/_refresh" >/dev/null 2>&1
	es_curl GET "/${P}items/_search?size=10000" | jq -cS '.hits.hits | sort_by(._source.id)[] | ._source | {id, v, n}'
}
is "$(index_rows)" "$(table_rows)" "the index equals the table"

# Bad input: our own events are not Debezium's.
printf '%s\n' '{"op":"c","after":{"id":1},"key":{"id":1},"source":{"lsn":5,"commit_lsn":5,"seq":1}}' |
	kcat -b "$B" -P -t "${KP}ours" 2>/dev/null
kafka_new_topic "${KP}ours" 1
"$CDC_BIN/cdc-source-kafka" -b "$B" -g "o-$TEST_ID" -t "${KP}ours" --debezium -e >/dev/null 2>err.txt
is $? 65 "--debezium on a topic of ours: bad data (65)"
like "$(cat err.txt)" "not a Debezium record" "... and says why"

done_testing
