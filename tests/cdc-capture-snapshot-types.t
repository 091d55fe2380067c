#!/usr/bin/env bash
# The same value gives the same JSON in a snapshot event and in a stream
# event.  A table with a column of (nearly) every type capture maps gets rows
# of edge values before the slot exists (they come out of the snapshot,
# through COPY) and the very same rows again afterwards (they come out of
# the stream, through pgoutput); every column of every row must match.  A
# few values are also checked against the mapping in cdc-events(7), so the
# two paths cannot agree on something wrong.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture
need_pg
command -v jq >/dev/null || skip_all "jq is not installed"
pg_new_db snaptypes

CAP=$CDC_BIN/cdc-capture
T=$TEST_TMP

psql_t <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN shorttext AS text;
CREATE TYPE pair AS (a int, b text);
CREATE TABLE ty (
  id int PRIMARY KEY,
  b bool, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8,
  n numeric, n2 numeric(12,3), m money,
  t text, vc varchar(20), ch char(5), nm name, u uuid,
  ip inet, cd cidr, mac macaddr,
  en mood, dom posint, domt shorttext,
  j json, jb jsonb, by bytea,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  ai int4[], at text[], a2 int[][], ajb jsonb[], ab bool[], an numeric[], af float8[],
  aen mood[], atstz timestamptz[], aby bytea[], adom posint[],
  comp pair, rng int4range, bt bit(4), vb varbit, pt point, x xml, tsv tsvector, ch1 "char"
);
INSERT INTO ty VALUES
 (1, true, 32767, 2147483647, 9223372036854775807, 4294967295, 1.5, 0.1,
  123.4500, 1.5, 12.34,
  'plain', 'varchar', 'ab', 'name', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '192.168.1.5/24', '10.0.0.0/8', '08:00:2b:01:02:03',
  'happy', 7, 'dom text',
  '{"a": [1, 2.50, "x"],  "b": null}', '{"b": {"c": true}, "a": 1}', '\x00015c6e0aff',
  '2024-01-31', '13:45:00.123456', '13:45:00+02', '2024-01-31 13:45:00.5', '2024-01-31 13:45:00.123456+02', '1 day 2 hours 3 minutes 4.5 seconds',
  '{1,2,3}', '{"a","b c","","NULL",NULL,"q\"uote","back\\slash"}', '{{1,2},{3,4}}', ARRAY['{"k":1}'::jsonb, 'null'::jsonb], '{t,f,NULL}', '{1.10,NaN}', '{1.5,NaN,-Infinity}',
  '{sad,happy}', ARRAY['2024-01-31 00:00:00+00'::timestamptz, 'infinity'], ARRAY['\x00'::bytea, '\x5c22'::bytea], '{1,2}',
  ROW(1, 'x, "y"'), '[1,10)', B'1010', B'101', '(1.5,-2)', '<a>x &amp; y</a>', 'fat:1 cat:2', 'z'),
 (2, false, -32768, -2147483648, -9223372036854775808, 0, 'NaN', 'Infinity',
  'NaN', -0.001, -1.00,
  E'tab\there\nnewline\\backslash "quote" \u00e9 \U0001D11E \x01 end', '', '     ', '', '00000000-0000-0000-0000-000000000000',
  '::1', '::/0', 'ff:ff:ff:ff:ff:ff',
  'sad', 1, '',
  '[]', '"just a string"', '\x',
  'infinity', '00:00:00', '23:59:59.999999-11:30', '-infinity', 'infinity', '-1 years -2 mons 3 days -00:00:01',
  '{}', '{}', '{}', '{}', '{}', '{}', '{}',
  '{}', '{}', '{}', '{}',
  ROW(NULL, NULL), 'empty', B'0000', B'', '(0,0)', '', '', E'\\'),
 (3, NULL, NULL, NULL, NULL, NULL, '-Infinity', -1.7976931348623157e308,
  '-99999999999999999999999999999999999.000000000000000000001', NULL, NULL,
  E'\\N literal, \\t not a tab, \r carriage', NULL, NULL, NULL, NULL,
  NULL, NULL, NULL,
  NULL, NULL, NULL,
  'null', 'null', NULL,
  '-infinity', '24:00:00', NULL, '0001-01-01 00:00:00 BC', '1970-01-01 00:00:00+00', '0 seconds',
  '{NULL}', '{"\\\\N"}', '{{NULL,1},{2,NULL}}', NULL, NULL, NULL, '{1e-300,-0}',
  NULL, NULL, NULL, NULL,
  NULL, '(,)', NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE marker (id int PRIMARY KEY);
CREATE PUBLICATION pub FOR TABLE ty, marker;
SQL
ok $? "table of types created"
nrows=$(psql_t "SELECT count(*) FROM ty")
ncols=$(psql_t "SELECT count(*) FROM pg_attribute WHERE attrelid = 'ty'::regclass AND attnum > 0 AND NOT attisdropped")

for jobs in 1 2; do
	slot=s_types$jobs
	spawn "$CAP" -d "$PGTEST_DSN" --slot $slot --publication pub --create-slot --snapshot-state "$T/$slot.state" \
		--snapshot-jobs $jobs --heartbeat 0 >"$T/$slot.ndjson" 2>"$T/$slot.err"
	cap=$SPAWNED_PID
	wait_for "grep -q snapshot_end '$T/$slot.ndjson'" 20
	ok $? "jobs $jobs: snapshot written"
	# The same rows again, now through the stream (ids + 1000 * jobs).
	psql_t "INSERT INTO ty SELECT id + 1000 * $jobs, b, i2, i4, i8, o, f4, f8, n, n2, m, t, vc, ch, nm, u, ip, cd, mac,
	        en, dom, domt, j, jb, by, d, tm, ttz, ts, tstz, iv, ai, at, a2, ajb, ab, an, af, aen, atstz, aby, adom,
	        comp, rng, bt, vb, pt, x, tsv, ch1 FROM ty WHERE id < 1000"
	psql_t "INSERT INTO marker VALUES ($jobs)"
	wait_for "grep -q '\"table\":\"marker\"' '$T/$slot.ndjson'" 20
	ok $? "jobs $jobs: stream written"
	kill -TERM "$cap"
	wait "$cap"

	ev=$T/$slot.ndjson
	is "$(jq -r 'select(.op == "r" and .source.table == "ty" and .after.id < 1000) | .op' "$ev" | wc -l)" "$nrows" "jobs $jobs: $nrows rows in the snapshot"
	is "$(jq -r 'select(.op == "c" and .source.table == "ty") | .op' "$ev" | wc -l)" "$nrows" "jobs $jobs: $nrows rows in the stream"
	is "$(jq -r 'select(.op == "r" and .source.table == "ty") | .after | length' "$ev" | sort -u)" "$ncols" \
		"jobs $jobs: every column in after"
	# One line per (row, column) from each path; the stream's ids mapped back.
	jq -c 'select(.op == "r" and .source.table == "ty" and .after.id < 1000) | .after as $a | $a | keys_unsorted[] | [$a.id, ., $a[.]]' "$ev" \
		| sort >"$T/snap$jobs.txt"
	jq -c --argjson off $((1000 * jobs)) 'select(.op == "c" and .source.table == "ty" and .after.id > $off)
		| .after as $a | $a | keys_unsorted[] | [$a.id - $off, ., (if . == "id" then $a.id - $off else $a[.] end)]' "$ev" \
		| sort >"$T/stream$jobs.txt"
	is "$(wc -l <"$T/snap$jobs.txt")" $((nrows * ncols)) "jobs $jobs: $((nrows * ncols)) values from the snapshot"
	d=$(diff "$T/snap$jobs.txt" "$T/stream$jobs.txt")
	is "$d" "" "jobs $jobs: every value gives the same JSON through the snapshot and through the stream"
	# The keys too.
	is "$(jq -c 'select(.op == "r" and .source.table == "ty" and .after.id < 1000) | .key' "$ev" | sort | tr '\n' ' ')" \
		'{"id":1} {"id":2} {"id":3} {"id":4} ' "jobs $jobs: snapshot keys"
done

# Spot checks against cdc-events(7) (snapshot path).
v() { jq -c --argjson id "$1" --arg col "$2" 'select(.op == "r" and .source.table == "ty" and .after.id == $id) | .after[$col]' "$T/s_types1.ndjson"; }
is "$(v 1 b) $(v 2 b) $(v 4 b)" "true false null" "bool: true/false, NULL: null"
# (jq 1.6 reads numbers as doubles: look at the bytes.)
is "$(grep '"op":"r"' "$T/s_types1.ndjson" | grep -o '"i8":[^,]*,"o":[^,]*' | sort | tr '\n' ' ')" \
	'"i8":-9223372036854775808,"o":0 "i8":9223372036854775807,"o":4294967295 "i8":null,"o":null "i8":null,"o":null ' \
	"int8/oid: numbers digit for digit"
is "$(v 2 f4) $(v 2 f8) $(v 3 f4)" '"NaN" "Infinity" "-Infinity"' "float NaN/Infinity as strings"
is "$(v 1 n) $(v 2 n)" '"123.4500" "NaN"' "numeric: string, scale kept"
is "$(v 1 jb)" '{"a":1,"b":{"c":true}}' "jsonb embedded" || :
is "$(v 2 jb)" '"just a string"' "jsonb scalar embedded"
is "$(v 1 by) $(v 2 by)" '"AAFcbgr/" ""' "bytea: base64"
is "$(v 2 t)" '"tab\there\nnewline\\backslash \"quote\" é 𝄞 \u0001 end"' "text with escapes and non-ASCII"
is "$(v 3 t)" '"\\N literal, \\t not a tab, \r carriage"' "text that looks like COPY escapes"
is "$(v 2 ch)" '"     "' "char(n) padding kept"
is "$(v 1 d) $(v 2 d) $(v 3 d)" '"2024-01-31" "infinity" "-infinity"' "date, infinity"
is "$(v 1 ts) $(v 1 tstz)" '"2024-01-31T13:45:00.5" "2024-01-31T11:45:00.123456Z"' "timestamp, timestamptz in UTC"
is "$(v 1 iv)" '"P1DT2H3M4.5S"' "interval in ISO 8601"
is "$(v 1 at)" '["a","b c","","NULL",null,"q\"uote","back\\slash"]' "text[]: quoting, NULL, the string NULL"
is "$(v 1 a2) $(v 3 a2)" '[[1,2],[3,4]] [[null,1],[2,null]]' "2-D arrays"
is "$(v 1 en) $(v 1 dom) $(v 1 aen)" '"happy" 7 ["sad","happy"]' "enum, domain over int, enum[]"

done_testing
