#!/usr/bin/env bash
# Differential test (issue 15): the programs of
# tests/cases/jq-differential.programs, run by cdc-map and cdc-filter and
# by the jq 1.6 CLI over the events of tests/cases/jq-differential.ndjson,
# must give the same results; the documented differences
# (tests/cases/jq-differential.known) are printed, and checked to still
# differ.  No services needed.
#
# cdc-map: `try (P) catch "<error>"` through both, outputs compared (an
# error ends an event's outputs in both; messages differ: ours leave row
# values out).  cdc-filter: P through cdc-filter --skip-bad against
# select(try ([P] | .[0] | truthy) catch false) through jq, the kept lines
# compared (the event file is in jq -c form, so jq reprints it unchanged).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-map cdc-filter
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ]; then
	# libjq 1.6 itself leaks in some builtins on some inputs (ltrimstr and
	# rtrimstr on a non-string, indices, path(..)): nothing of ours can free
	# those jv.  This test compares outputs with jq's; leaks of our own are
	# checked by every other test of cdc-map and cdc-filter.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
command -v jq >/dev/null || skip_all "no jq CLI (scripts/deps.sh test installs it)"
case $(jq --version) in
jq-1.6*) ;;
*) skip_all "the reference is jq 1.6, this jq is $(jq --version)" ;;
esac

CASES=$(cd "$(dirname "$0")/cases" && pwd)
EVENTS=$CASES/jq-differential.ndjson
MAP=$CDC_BIN/cdc-map
FILTER=$CDC_BIN/cdc-filter

nprog=0
while IFS= read -r p; do
	case $p in '#'* | '') continue ;; esac
	nprog=$((nprog + 1))
	wrapped="try ($p) catch \"<error>\""
	want=$(jq -c "$wrapped" "$EVENTS" 2>"$TEST_TMP/jq.err")
	jrc=$?
	got=$("$MAP" "$wrapped" "$EVENTS" 2>"$TEST_TMP/map.err")
	mrc=$?
	if [ "$jrc" -ne 0 ]; then
		# jq 1.6 cannot compile it (a builtin of a later jq): neither can we
		is "$mrc:$got" "2:" "cdc-map: $p (no compile, as jq)"
		continue
	fi
	if [ "$mrc:$got" = "0:$want" ]; then
		ok 0 "cdc-map: $p"
	else
		ok 1 "cdc-map: $p"
		diag "exit $mrc; stderr: $(head -c 300 "$TEST_TMP/map.err")"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -10 >&2
	fi
	# not first(P): in jq 1.6 a try inside P catches first's break
	want=$(jq -c "select(try ([$p] | .[0] | . != null and . != false) catch false)" "$EVENTS" 2>/dev/null)
	got=$("$FILTER" --skip-bad "$p" "$EVENTS" 2>"$TEST_TMP/filter.err")
	frc=$?
	if [ "$frc:$got" = "0:$want" ]; then
		ok 0 "cdc-filter: $p"
	else
		ok 1 "cdc-filter: $p"
		diag "exit $frc; stderr: $(head -c 300 "$TEST_TMP/filter.err")"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -10 >&2
	fi
done <"$CASES/jq-differential.programs"
ok $(( nprog < 300 )) "$nprog programs (at least 300)"

# Programs of paths and objects run on the event text itself (jqp_fast()):
# not wrapped in try, which would send them to libjq.  An event jq fails on
# is skipped by both (--skip-bad; `try ... catch empty`), and numbers are
# rounded by both (--lossy-numbers).
for p in \
	'select(.op != "heartbeat") | {id: .key.id, op, table: .source.table, doc: .after, lsn: .source.lsn}' \
	'.after' \
	'.after.nested.a' \
	'{k: .key, v: {s: .after.status, t: .after.tags}, m: .message}' \
	'select(.op == "u" or .op == "d") | {before, after}' \
	'select(.after.status == "new" and .source.schema != "s2") | .after.email' \
	'select(.after.qty == 3 or .after.ratio == 0.1 or .after.flag == true) | .after' \
	'select(.after.payload) | {p: .after.payload.order}'; do
	info=$("$MAP" -v -v --skip-bad --lossy-numbers "$p" "$EVENTS" 2>&1 >/dev/null)
	like "$info" "runs on the event's text" "cdc-map runs without libjq: $p"
	want=$(jq -c "try ($p) catch empty" "$EVENTS" 2>/dev/null)
	got=$("$MAP" --skip-bad --lossy-numbers "$p" "$EVENTS" 2>"$TEST_TMP/map.err")
	is "$?:$got" "0:$want" "... the outputs of jq -c"
done

note "documented differences from jq 1.6 (man/cdc-map.1):"
while IFS=$'\t' read -r p run why; do
	case $p in '#'* | '') continue ;; esac
	note "  $p: $why"
	got=$("$MAP" --skip-bad "$p" "$EVENTS" 2>"$TEST_TMP/map.err")
	mrc=$?
	ok $(( mrc >= 128 )) "cdc-map survives: $p"
	if [ "$run" = both ]; then
		want=$(jq -c "$p" "$EVENTS" 2>/dev/null)
		isnt "$got" "$want" "... and differs from jq as documented"
	fi
done <"$CASES/jq-differential.known"

done_testing
