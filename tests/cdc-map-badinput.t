#!/usr/bin/env bash
# cdc-map: every kind of bad input under each policy (big integers
# included); a 100 MB line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cases/cases.sh"
. "$(dirname "$0")/cases/badinput.sh"
need_bin cdc-map

bad_input_matrix cdc-map '{id: (.after.id + 1), s: .after.s}' \
	not-json not-object no-op bad-envelope bad-utf8 nul too-long jq-error bigint

# --doc sends the same bad lines to the policy
out=$(printf '%s\n%s\n%s\n' "$GOOD1" "$(_bad_line bigint)" "$GOOD2" | "$CDC_BIN/cdc-map" --doc --skip-bad '.s |= ascii_upcase' 2>/dev/null)
is "$out" "$(printf '%s\n%s' "${GOOD1/\"x\"/\"X\"}" "${GOOD2/\"y\"/\"Y\"}")" "--doc: a big integer in a row image goes to the policy"

big=$TEST_TMP/big.ndjson
{
	printf '%s\n' "$GOOD1"
	printf '{"op":"c","after":{"id":3,"blob":"'
	head -c 104857600 /dev/zero | tr '\0' a
	printf '"},"source":{"table":"t","schema":"public","commit_lsn":300,"seq":1}}\n'
	printf '%s\n' "$GOOD2"
} >"$big"
out=$("$CDC_BIN/cdc-map" --skip-bad '.after.id' <"$big" 2>"$TEST_TMP/err")
is "$out" "$(printf '1\n2')" "100 MB line over the default cap: skipped, the lines around it mapped"
like "$(cat "$TEST_TMP/err")" "1 bad line skipped" "100 MB line over the default cap: counted"
out=$("$CDC_BIN/cdc-map" --max-line 128M '[.after.id, (.after.blob | length)]' <"$big")
is "$out" "$(printf '[1,0]\n[3,104857600]\n[2,0]')" "100 MB line under --max-line 128M: mapped"
out=$("$CDC_BIN/cdc-map" --max-line 128M --doc '.blob |= length' <"$big" | sed -n 2p)
is "$out" '{"op":"c","after":{"id":3,"blob":104857600},"source":{"table":"t","schema":"public","commit_lsn":300,"seq":1}}' \
	"100 MB line under --max-line 128M: --doc rewrites it"
rm -f "$big"

done_testing
