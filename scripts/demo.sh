#!/usr/bin/env bash
# scripts/demo.sh (`make demo`): the cdc pipeline end to end, on a throwaway
# PostgreSQL and OpenSearch that it starts and removes again.
#
# It installs what is missing, builds the programs, starts the two servers
# the test suite uses (tests/services.sh, with a state directory of its
# own, so a running test suite is not disturbed), creates a small shop
# database and runs the pipeline on it.  Everything it started is stopped
# when it ends, also on ^C or an error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "Installing missing Debian packages (scripts/deps.sh)"
scripts/deps.sh build test

step "Building (make)"
make

step "Starting a throwaway PostgreSQL and OpenSearch (tests/services.sh)"
# The demo always brings its own servers, whatever the test environment says.
unset CDC_TEST_PG CDC_TEST_ES_URL CDC_TEST_PG_MANAGED CDC_TEST_ES_MANAGED
CDC_TEST_STATE=$(mktemp -d "${TMPDIR:-/tmp}/cdc-demo.XXXXXX")
export CDC_TEST_STATE
WORK=$CDC_TEST_STATE/work
mkdir -p "$WORK"
cleanup() {
	trap '' INT TERM   # a second ^C must not cut the clean-up short
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

# -----------------------------------------------------------------------------
# PLACEHOLDER: the pipeline.  To be completed once the programs exist, along
# the lines of
#
#   cdc-capture --dbname "$SHOP_DSN" --slot shop --publication shop \
#               --ack-file "$WORK/es.ckpt" \
#     | cdc-filter --table shop.orders '.after.status != "draft"' \
#     | cdc-map --doc '{id, customer, status, total: (.amount|tonumber)}' \
#     | cdc-sink-es --url "$ES_URL" --index 'shop-{table}' \
#                   --checkpoint "$WORK/es.ckpt"
#
# then a few UPDATEs and DELETEs in shop.orders while it runs, and the
# resulting documents from OpenSearch next to the table.  For now it only
# shows the source table and the empty search side.
# -----------------------------------------------------------------------------
run_pipeline() {
	step "The source: shop.orders in PostgreSQL"
	"${PSQL[@]}" -d "$SHOP_DSN" -c 'SELECT id, customer, status, amount, items FROM shop.orders ORDER BY id'

	step "The destination: OpenSearch at $ES_URL"
	curl -fsS "$ES_URL/_cat/indices?v"
	echo "(the pipeline from PostgreSQL to OpenSearch is not wired up yet)"
}

run_pipeline
step "Done"
