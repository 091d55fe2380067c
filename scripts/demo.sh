#!/usr/bin/env bash
# scripts/demo.sh (`make demo`): the cdc pipeline end to end, on a throwaway
# PostgreSQL and OpenSearch that it starts and removes again.
#
# It installs what is missing, builds the programs, starts the two servers
# the test suite uses (tests/services.sh, with a state directory of its
# own, so a running test suite is not disturbed), creates a small shop
# database and runs the pipeline on it.  Everything it started is stopped
# when it ends, also on ^C or an error.
#
# scripts/demo.sh --kafka (`make demo-kafka`): the same pipeline cut in two
# at a throwaway Kafka broker (KRaft, from Maven Central):
#   cdc-capture | cdc-sink-kafka        cdc-source-kafka | cdc-filter | cdc-map | cdc-sink-es
set -euo pipefail

KAFKA=0
case ${1:-} in
--kafka) KAFKA=1 ;;
"") ;;
*) echo "usage: scripts/demo.sh [--kafka]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "Installing missing Debian packages (scripts/deps.sh)"
scripts/deps.sh build test

step "Building (make)"
make -s --no-print-directory

step "Starting a throwaway PostgreSQL and OpenSearch (tests/services.sh)"
# The demo always brings its own servers, whatever the test environment says.
unset CDC_TEST_PG CDC_TEST_ES_URL CDC_TEST_PG_MANAGED CDC_TEST_ES_MANAGED
unset CDC_TEST_KAFKA_BROKERS CDC_TEST_KAFKA_MANAGED
export CDC_TEST_KAFKA=$KAFKA
CDC_TEST_STATE=$(mktemp -d "${TMPDIR:-/tmp}/cdc-demo.XXXXXX")
export CDC_TEST_STATE
WORK=$CDC_TEST_STATE/work
mkdir -p "$WORK"
PIPELINE=
HOP1=
cleanup() {
	trap '' INT TERM   # a second ^C must not cut the clean-up short
	[ -n "$PIPELINE" ] && stop_pipeline
	step "Stopping the servers"
	tests/services.sh down --quiet || :
	rm -rf "$CDC_TEST_STATE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tests/services.sh up
eval "$(tests/services.sh env)"

PATH=$ROOT/build/bin:$PATH
PSQL=("$CDC_TEST_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
SHOP_DSN="$CDC_TEST_PG dbname=shop"
ES_URL=$CDC_TEST_ES_URL

step "Creating database shop with table shop.orders"
"${PSQL[@]}" -d "$CDC_TEST_PG" -c 'CREATE DATABASE shop'
"${PSQL[@]}" -d "$SHOP_DSN" <<'SQL'
CREATE SCHEMA shop;
CREATE TABLE shop.orders (
    id          serial PRIMARY KEY,
    customer    text NOT NULL,
    status      text NOT NULL DEFAULT 'draft',
    amount      numeric(10,2) NOT NULL,
    items       jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO shop.orders (customer, status, amount, items) VALUES
    ('ada',     'paid',    42.50, '[{"sku": "tea",    "qty": 2}]'),
    ('brian',   'new',     19.99, '[{"sku": "mug",    "qty": 1}]'),
    ('chandra', 'draft',    5.00, '[]'),
    ('dmitri',  'shipped', 120.00, '[{"sku": "kettle", "qty": 1}]'),
    ('eve',     'new',      7.25, '[{"sku": "biscuits", "qty": 3}]');
CREATE PUBLICATION shop FOR TABLE shop.orders;
SQL

# The pipeline: capture (initial snapshot, then the stream) | filter | map |
# sink.  The sink's checkpoint is capture's ack file: the slot only moves
# over what OpenSearch has.
start_pipeline() {
	# An explicit mapping: left to dynamic mapping, the first document
	# decides whether "total" is a long or a float.
	cat >"$WORK/orders-index.json" <<'JSON'
{"mappings": {"properties": {
    "id": {"type": "long"}, "customer": {"type": "keyword"}, "status": {"type": "keyword"},
    "total": {"type": "scaled_float", "scaling_factor": 100}, "items": {"type": "object"}}}}
JSON
	cat >&2 <<'EOF2'
    cdc-capture --dbname "$SHOP_DSN" --slot shop --publication shop --create-slot \
                --ack-file es.ckpt --heartbeat 1 \
      | cdc-filter --table shop.orders '.after.status != "draft"' \
      | cdc-map --doc '{id, customer, status, total: ((.amount | tonumber?) // null), items}' \
      | cdc-sink-es --url "$ES_URL" --index 'shop-{table}' --create-index orders-index.json \
                    --checkpoint es.ckpt --refresh
EOF2
	# (the demo also keeps a copy of the events capture prints, to show a few)
	if [ "$KAFKA" = 1 ]; then
		start_kafka_pipeline
		return
	fi
	{ cdc-capture --dbname "$SHOP_DSN" --slot shop --publication shop \
	              --create-slot --ack-file "$WORK/es.ckpt" --heartbeat 1 --quiet &
	  echo $! >"$WORK/capture.pid"; wait; } \
	  | tee "$WORK/events.ndjson" \
	  | cdc-filter --table shop.orders '.after.status != "draft"' \
	  | cdc-map --doc '{id, customer, status, total: ((.amount | tonumber?) // null), items}' \
	  | cdc-sink-es --url "$ES_URL" --index 'shop-{table}' \
	                --create-index "$WORK/orders-index.json" \
	                --checkpoint "$WORK/es.ckpt" --refresh --quiet &
	PIPELINE=$!
}

# The Kafka variant: two halves that could run on two machines.  Hop 1's
# checkpoint is what the brokers hold; hop 2's is what OpenSearch holds,
# and cdc-source-kafka commits the group's offsets only as far as that.
start_kafka_pipeline() {
	/usr/bin/python3 tests/kafka/topics.py "$CDC_TEST_KAFKA_BROKERS" create shop.shop.orders 3
	cat >&2 <<'EOF2'
    # hop 1: PostgreSQL -> Kafka (topic shop.shop.orders: {name}.{schema}.{table})
    cdc-capture --dbname "$SHOP_DSN" --slot shop --publication shop --create-slot \
                --ack-file k.ckpt --heartbeat 1 \
      | cdc-sink-kafka --brokers "$BROKERS" --checkpoint k.ckpt
    # hop 2: Kafka -> OpenSearch, as a member of consumer group "search"
    cdc-source-kafka --brokers "$BROKERS" --group search --topic 'shop\..*' --ack-file es.ckpt \
      | cdc-filter --table shop.orders '.after.status != "draft"' \
      | cdc-map --doc '{id, customer, status, total: ((.amount | tonumber?) // null), items}' \
      | cdc-sink-es --url "$ES_URL" --index 'shop-{table}' --create-index orders-index.json \
                    --checkpoint es.ckpt --refresh
EOF2
	{ cdc-capture --dbname "$SHOP_DSN" --slot shop --publication shop \
	              --create-slot --ack-file "$WORK/k.ckpt" --heartbeat 1 --quiet &
	  echo $! >"$WORK/capture.pid"; wait; } \
	  | tee "$WORK/events.ndjson" \
	  | cdc-sink-kafka --brokers "$CDC_TEST_KAFKA_BROKERS" --checkpoint "$WORK/k.ckpt" --quiet &
	HOP1=$!
	{ cdc-source-kafka --brokers "$CDC_TEST_KAFKA_BROKERS" --group search --topic 'shop\..*' \
	                   --ack-file "$WORK/es.ckpt" --quiet &
	  echo $! >"$WORK/source.pid"; wait; } \
	  | cdc-filter --table shop.orders '.after.status != "draft"' \
	  | cdc-map --doc '{id, customer, status, total: ((.amount | tonumber?) // null), items}' \
	  | cdc-sink-es --url "$ES_URL" --index 'shop-{table}' \
	                --create-index "$WORK/orders-index.json" \
	                --checkpoint "$WORK/es.ckpt" --refresh --quiet &
	PIPELINE=$!
}

stop_pipeline() {
	# SIGTERM to capture: it sends its last status update and exits 0; the
	# other stages see end of input, flush, checkpoint and exit.
	kill -TERM "$(cat "$WORK/capture.pid")" 2>/dev/null || :
	if [ "$KAFKA" = 1 ]; then
		wait "$HOP1" || :
		kill -TERM "$(cat "$WORK/source.pid")" 2>/dev/null || :
	fi
	wait "$PIPELINE" || :
	PIPELINE=
}

es_count() {
	curl -fsS "$ES_URL/shop-orders/_count" 2>/dev/null | sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}

# Wait until OpenSearch holds as many documents as the table has non-draft rows.
wait_for_documents() {
	local want got i
	want=$("${PSQL[@]}" -At -d "$SHOP_DSN" -c "SELECT count(*) FROM shop.orders WHERE status <> 'draft'")
	for i in $(seq 1 120); do
		got=$(es_count || :)
		[ "${got:-}" = "$want" ] && return 0
		sleep 0.5
	done
	echo "demo: OpenSearch has ${got:-no} documents, expected $want" >&2
	return 1
}

show_events() {
	step "A few of the change events cdc-capture printed (cdc-events(7)), one per line"
	grep -m 2 '"op":"r"' "$WORK/events.ndjson" | cut -c1-400 || :
	grep -m 1 '"op":"u"' "$WORK/events.ndjson" | cut -c1-400 || :
	grep -m 1 '"op":"d"' "$WORK/events.ndjson" | cut -c1-400 || :
}

show_result() {
	show_events
	step "The source: shop.orders in PostgreSQL"
	"${PSQL[@]}" -d "$SHOP_DSN" -c 'SELECT id, customer, status, amount FROM shop.orders ORDER BY id'

	step "The destination: index shop-orders in OpenSearch (drafts filtered out)"
	curl -fsS "$ES_URL/shop-orders/_search?size=100&sort=id:asc&filter_path=hits.hits._source" |
		jq -r '.hits.hits[]._source | [.id, .customer, .status, .total] | @tsv' |
		awk -F'\t' 'BEGIN { printf "%4s  %-12s  %-8s  %8s\n", "id", "customer", "status", "total" }
		             { printf "%4s  %-12s  %-8s  %8s\n", $1, $2, $3, $4 }'

	step "A search: paid orders over 20"
	curl -fsS -H 'Content-Type: application/json' "$ES_URL/shop-orders/_search?filter_path=hits.hits._source" \
		-d '{"query":{"bool":{"filter":[{"term":{"status":"paid"}},{"range":{"total":{"gt":20}}}]}}}' |
		jq -c '.hits.hits[]._source'

	if [ "$KAFKA" = 1 ]; then
		step "In Kafka: topic shop.shop.orders (partition, offset, key, op), read with kcat"
		kcat -b "$CDC_TEST_KAFKA_BROKERS" -C -t shop.shop.orders -e -q -f '%p\t%o\t%k\t%h\n' |
			grep -v 'op=mark' | head -12 || :
		step "The ack loop, hop 1: cdc-sink-kafka's checkpoint (what the brokers hold)"
		grep -E '^(position|updated)=' "$WORK/k.ckpt"
	fi
	step "The ack loop: the sink's checkpoint and the slot's confirmed position"
	grep -E '^(position|updated)=' "$WORK/es.ckpt"
	"${PSQL[@]}" -d "$SHOP_DSN" -c "SELECT slot_name, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'shop'"
}

run_pipeline() {
	if [ "$KAFKA" = 1 ]; then
		step "Starting: cdc-capture | cdc-sink-kafka, and cdc-source-kafka | cdc-filter | cdc-map | cdc-sink-es"
	else
		step "Starting: cdc-capture | cdc-filter | cdc-map | cdc-sink-es"
	fi
	start_pipeline
	wait_for_documents
	echo "initial snapshot indexed: $(es_count) documents"

	step "Changing the table while the pipeline runs"
	"${PSQL[@]}" -d "$SHOP_DSN" <<'SQL'
UPDATE shop.orders SET status = 'paid' WHERE customer = 'brian';
UPDATE shop.orders SET status = 'new', amount = 6.00 WHERE customer = 'chandra';
DELETE FROM shop.orders WHERE customer = 'dmitri';
INSERT INTO shop.orders (customer, status, amount, items)
    SELECT 'customer ' || i, (ARRAY['new','paid','shipped','draft'])[1 + i % 4], i * 1.25, '[]'
    FROM generate_series(1, 20) AS i;
SQL
	wait_for_documents
	# Give the heartbeat a moment to carry the checkpoint past the last commit.
	sleep 2
	show_result
	stop_pipeline
}

run_pipeline
step "Done"
