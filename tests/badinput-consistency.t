#!/usr/bin/env bash
# The same bad line gets the same reason from every program that reads
# events (cdc-events(7): one bad-input contract for all): each case of
# tests/corpus/lines goes through cdc-filter, cdc-map, cdc-record,
# cdc-replay and cdc-sink-es (--dry-run: no server needed) with
# --dead-letter, and the records' "reason" and "line" must agree.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-filter cdc-map cdc-record cdc-replay cdc-sink-es
. "$TEST_ROOT/tests/corpus/lib.sh"

# Cases cdc-record and cdc-replay pass on by design (an object without "op").
SKIP_CASES=" shape-empty-object op-missing "
PROGS=(cdc-filter cdc-map cdc-record cdc-replay cdc-sink-es)
bad_mk_all

for p in "${PROGS[@]}"; do
	dl=$TEST_TMP/$p.dl
	case $p in
	cdc-filter) cmd=("$CDC_BIN/cdc-filter") ;;
	cdc-map) cmd=("$CDC_BIN/cdc-map" .) ;;
	cdc-record) cmd=("$CDC_BIN/cdc-record" --no-output "$TEST_TMP/log") ;;
	cdc-replay) cmd=("$CDC_BIN/cdc-replay" -) ;;
	cdc-sink-es) cmd=("$CDC_BIN/cdc-sink-es" --dry-run --index 'x-{table}') ;;
	esac
	timeout 60 "${cmd[@]}" --dead-letter "$dl" <"$BAD_ALL_IN" >/dev/null 2>"$TEST_TMP/$p.err"
	is "$?" 0 "$p --dead-letter on every case: exit 0"
done

for i in "${!CASE_NAME[@]}"; do
	n=${CASE_NAME[$i]}
	case $SKIP_CASES in *" $n "*) continue ;; esac
	line=${BAD_ALL_LINES[$i]}
	want=""
	why=""
	for p in "${PROGS[@]}"; do
		got=$(jq -r --argjson n "$line" 'select(.line == $n) | .reason' "$TEST_TMP/$p.dl" 2>/dev/null)
		[ -n "$got" ] || { why+="$p: no record for line $line; "; continue; }
		if [ -z "$want" ]; then
			want=$got
			first=$p
		elif [ "$got" != "$want" ]; then
			why+="$p: \"$got\" but $first: \"$want\"; "
		fi
	done
	[ -z "$why" ]
	ok $? "same reason everywhere: $n" || diag "$why"
done

done_testing
