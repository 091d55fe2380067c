#!/usr/bin/env bash
# cdc-filter: every kind of bad input under each policy; a 100 MB line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cases/cases.sh"
. "$(dirname "$0")/cases/badinput.sh"
need_bin cdc-filter

bad_input_matrix cdc-filter '.after.id + 1 > 0' \
	not-json not-object no-op bad-envelope bad-utf8 nul too-long jq-error

# A big integer is not bad input for cdc-filter: the bytes pass untouched.
out=$(printf '%s\n' "$(_bad_line bigint)" | "$CDC_BIN/cdc-filter" '.after.id > 0')
is "$out" "$(_bad_line bigint)" "a big integer passes untouched"

# A 100 MB line: over the default cap (64M) it is bad input; under a
# higher --max-line it passes byte for byte.
big=$TEST_TMP/big.ndjson
{
	printf '%s\n' "$GOOD1"
	printf '{"op":"c","after":{"id":3,"blob":"'
	head -c 104857600 /dev/zero | tr '\0' a
	printf '"},"source":{"table":"t","schema":"public","commit_lsn":300,"seq":1}}\n'
	printf '%s\n' "$GOOD2"
} >"$big"
out=$("$CDC_BIN/cdc-filter" --dead-letter "$TEST_TMP/big-dl" '.after.id > 0' <"$big" 2>/dev/null | cut -c1-60)
is "$out" "$(printf '%s\n%s' "${GOOD1:0:60}" "${GOOD2:0:60}")" "100 MB line over the default cap: the lines around it pass"
is "$(jq -r '[.line, .input_bytes, (.reason | test("line too long"))] | @tsv' <"$TEST_TMP/big-dl")" \
	"$(printf '2\t104857703\ttrue')" "100 MB line over the default cap: dead-lettered with its size"
"$CDC_BIN/cdc-filter" --max-line 128M '.after.blob | length == 104857600' <"$big" >"$TEST_TMP/big.out"
ok $? "100 MB line under --max-line 128M: exit status 0"
cmp -s <(sed -n 2p "$big") "$TEST_TMP/big.out"
ok $? "100 MB line under --max-line 128M: kept byte for byte"
rm -f "$big" "$TEST_TMP/big.out"

done_testing
