#!/usr/bin/env bash
# cdc-map against the data-driven cases in tests/cases/cdc-map.test and the
# cdc jq module's cases in tests/cases/cdc-module.test.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cases/cases.sh"
need_bin cdc-map
run_case_file "$CASES/cdc-map.test"
run_case_file "$CASES/cdc-module.test"
done_testing
