#!/usr/bin/env bash
# cdc-filter against the data-driven cases in tests/cases/cdc-filter.test.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cases/cases.sh"
need_bin cdc-filter
run_case_file "$CASES/cdc-filter.test"
done_testing
