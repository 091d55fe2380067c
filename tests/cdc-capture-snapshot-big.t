#!/usr/bin/env bash
# A snapshot of a table of a million rows: every row comes out once, and
# capture's memory stays small and bounded (peak RSS measured with
# /usr/bin/time; the figure is printed as a note).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture
need_pg
pg_new_db snapbig

CAP=$CDC_BIN/cdc-capture
T=$TEST_TMP
ROWS=1000000
# Peak RSS allowed, in KiB: the rows are streamed, never held.  Sanitizer
# builds carry shadow memory and quarantine.
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ]; then LIMIT=262144; else LIMIT=49152; fi

psql_t <<SQL
CREATE TABLE big (id bigint PRIMARY KEY, v int, s text, ts timestamptz, n numeric(12,2), j jsonb);
INSERT INTO big SELECT i, i % 1000, 'row ' || i, '2024-01-01'::timestamptz + i * interval '1 second',
  i / 100.0, jsonb_build_object('i', i)
  FROM generate_series(1, $ROWS) i;
ANALYZE big;
CREATE PUBLICATION pub FOR TABLE big;
SQL
ok $? "$ROWS rows loaded"

TIME=/usr/bin/time
for jobs in 1 2; do
	if [ -x "$TIME" ]; then
		"$TIME" -f '%M %e' -o "$T/time$jobs" "$CAP" -d "$PGTEST_DSN" --slot s_big --publication pub --snapshot only \
			--snapshot-jobs $jobs 2>"$T/err$jobs" |
			awk '/^\{"op":"r"/ { n++; if ($0 ~ /"id":1,/) one++ } { last = $0 } END { print n, one; print last }' >"$T/sum$jobs"
	else
		"$CAP" -d "$PGTEST_DSN" --slot s_big --publication pub --snapshot only --snapshot-jobs $jobs 2>"$T/err$jobs" |
			awk '/^\{"op":"r"/ { n++; if ($0 ~ /"id":1,/) one++ } { last = $0 } END { print n, one; print last }' >"$T/sum$jobs"
	fi
	is "$(head -n1 "$T/sum$jobs")" "$ROWS 1" "jobs $jobs: $ROWS rows, the first one once"
	like "$(tail -n1 "$T/sum$jobs")" "^\{\"op\":\"snapshot_end\",\"snapshot\":\{\"rows\":$ROWS\}" "jobs $jobs: snapshot_end with the count"
	if [ -x "$TIME" ]; then
		read -r rss secs <"$T/time$jobs"
		note "jobs $jobs: $ROWS rows in $secs s, peak RSS $rss KiB"
		[ "$rss" -lt "$LIMIT" ]
		ok $? "jobs $jobs: peak RSS $rss KiB < $LIMIT KiB"
	else
		skip "no /usr/bin/time"
	fi
done

done_testing
