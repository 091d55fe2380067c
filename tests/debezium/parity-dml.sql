-- tests/debezium-parity.t: the changes both sides stream.
INSERT INTO a_types VALUES (10, false, 2, 4, 8, 1.1, -2.25e-10, 123.4500, 1.20, -1234.56,
 'ab', 'vc', E'tx "q" \\ \n é ✓', 'nm', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50]}', '{"b": {"c": null}}', '\x00ff10', 42,
 '2024-02-29', '13:45:00.123456', '01:02:03.1', '13:45:00.5+02', '2024-01-31 13:45:00.5', '2024-01-31 13:45:00',
 '2024-01-31 13:45:00.123+05:30', '1 year 2 mons 3 days 04:05:06.5',
 '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
 B'1000000001', B'1', B'1101', '<a>x</a>', 'a fat cat', 'fat & cat', 'a=>1, b=>NULL',
 '[1,5)', '(1.5,2.5]', '[2024-01-01 00:00,2024-02-01 00:00)', '[2024-01-01 00:00+00,infinity)', '[2024-01-01,2024-02-01)', '[1,10)',
 '{[1,3), [5,7)}',
 '(1,2.5)', '{1,2,3}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),1>',
 'happy', 5, 'short', ROW(1, 'x y'),
 '{1,NULL,3}', '{"a b","c"}', '{2024-01-01,0044-03-15 BC}', '{"2024-01-01 00:00:00+00","2024-01-01 00:00:00.25+00"}',
 '{1.50,-2}', ARRAY['{"x": 1}'::jsonb], '{sad,ok}', '{t,f}', '{{1,2},{3,4}}',
 '{"\\x0102"}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{1.5,-2}', '{"(1,2)"}', ARRAY['k=>v'::hstore]);
-- Special values: infinities, NaN, BC, the edges of time.
INSERT INTO a_types (id, d, ts, tstz, t, tz, f8, f4, n, ts0, iv, an)
  VALUES (11, 'infinity', '-infinity', 'infinity', '00:00:00', '00:00:00.5-03:30', 'NaN', '-Infinity', 'NaN',
          '1999-12-31 23:59:59', '-1 day +02:00:00', '{1,NaN}');
INSERT INTO a_types (id, d, ts, tstz, t, n, iv)
  VALUES (12, '0001-01-01 BC', '4713-01-01 00:00:00 BC', '0044-03-15 12:00:00.25+00 BC', '23:59:59.999999',
          'Infinity', '1 year -1 mon 3 days -04:05:06.789');
INSERT INTO a_types (id, d, ts, tstz, n, iv, vb, bt)
  VALUES (13, '9999-12-31', '294276-12-31 23:59:59', '12345-06-07 08:09:10+00', '-Infinity', 'P0D', B'111111111', B'0000000000');
UPDATE a_types SET tx = 'changed', tstz = '2024-01-31 13:45:00+00' WHERE id = 10;
DELETE FROM a_types WHERE id = 11;

-- DEFAULT identity: insert, key change, update, delete.
INSERT INTO b_keys VALUES (20, 'a');
UPDATE b_keys SET id = 21 WHERE id = 20;
UPDATE b_keys SET v = 'b' WHERE id = 21;
DELETE FROM b_keys WHERE id = 21;
-- Several changes in one transaction, over two tables, a key change inside.
BEGIN;
INSERT INTO b_keys VALUES (30, 'x');
INSERT INTO d_nopk VALUES (30, 'y');
UPDATE b_keys SET id = 31 WHERE id = 30;
UPDATE b_keys SET v = 'z' WHERE id = 31;
COMMIT;

-- FULL identity: a key change that leaves the TOASTed column alone, an update.
UPDATE c_full SET id = 2 WHERE id = 1;
UPDATE c_full SET v = 'c2' WHERE id = 2;
DELETE FROM c_full WHERE id = 2;

-- No primary key.
UPDATE d_nopk SET b = 'd1b' WHERE a = 1;
DELETE FROM d_nopk WHERE a = 2;

-- Composite key, and a key change of it.
INSERT INTO e_comp VALUES (1, 'one', 10), (2, 'two', 20);
UPDATE e_comp SET k2 = 'uno' WHERE k1 = 1;

-- Logical decoding messages, transactional and not.
SELECT pg_logical_emit_message(true, 'pfx', 'hello');
SELECT pg_logical_emit_message(false, 'pfx2', '\x00ff'::bytea);

-- A transaction replicated from elsewhere: it carries a replication origin.
SELECT pg_replication_origin_create('parity_origin');
SELECT pg_replication_origin_session_setup('parity_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/1234ABCD', '2024-05-01 00:00:00+00');
INSERT INTO b_keys VALUES (40, 'from elsewhere');
COMMIT;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('parity_origin');

TRUNCATE e_comp;
