-- tests/debezium-parity.t: the tables both cdc-capture and Debezium read.
-- Tables are created in name order: both snapshots then visit them in the
-- same order (cdc-capture: largest first, then by OID; all are one page),
-- so the per-table snapshot markers can be compared too.
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN shorttext AS varchar(10);
CREATE TYPE pair AS (a int, b text);

-- Every type, REPLICA IDENTITY FULL (before images in full).
CREATE TABLE a_types (
  id int PRIMARY KEY,
  b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, n2 numeric(10,2), m money,
  c char(5), vc varchar(10), tx text, nm name, u uuid, j json, jb jsonb, by bytea, o oid,
  d date, t time, t3 time(3), tz timetz, ts timestamp, ts0 timestamp(0), tstz timestamptz, iv interval,
  inet inet, cidr cidr, mac macaddr, mac8 macaddr8,
  bt bit(10), b1 bit(1), vb varbit, x xml, tsv tsvector, tsq tsquery, hs hstore,
  ir int4range, nr numrange, tr tsrange, tzr tstzrange, dr daterange, i8r int8range, imr int4multirange,
  pt point, ln line, ls lseg, bx box, pa path, pg polygon, ci circle,
  en mood, dom posint, dom2 shorttext, comp pair,
  ai int[], at text[], ad date[], ats timestamptz[], an numeric[], aj jsonb[], aen mood[], ab bool[],
  a2 int[][], aby bytea[], auu uuid[], am money[], apt point[], ahs hstore[]
);
ALTER TABLE a_types REPLICA IDENTITY FULL;
-- DEFAULT identity: deletes and key changes send the old key only.
CREATE TABLE b_keys (id int PRIMARY KEY, v text);
-- FULL identity, a TOASTed column, key changes.
CREATE TABLE c_full (id int PRIMARY KEY, v text, big text);
ALTER TABLE c_full REPLICA IDENTITY FULL;
ALTER TABLE c_full ALTER COLUMN big SET STORAGE EXTERNAL;
-- No primary key: Debezium's record key is null, ours the FULL row.
CREATE TABLE d_nopk (a int, b text);
ALTER TABLE d_nopk REPLICA IDENTITY FULL;
-- Empty at snapshot time; a composite key.
CREATE TABLE e_comp (k1 int, k2 text, v int, PRIMARY KEY (k1, k2));
-- The last event of the test: both sides are done when they wrote it.
CREATE TABLE zz_end (end_marker int PRIMARY KEY);

INSERT INTO a_types (id, b, i4, n, m, d, ts, tstz, t, tz, iv, jb, ad)
  VALUES (1, true, 5, 1.50, 12.5, '0044-03-15 BC', '0001-01-01 00:00:00 BC', '2024-01-01 00:00:00.5+00',
          '24:00:00', '13:45:00+02', '1 day 2 hours', '{"snap": [1, "x"]}', '{2024-01-01,0001-01-01 BC}');
INSERT INTO a_types (id, tstz, ts, d) VALUES (2, '2024-06-30 23:59:59+00', '2024-06-30 23:59:59.25', '2024-06-30');
INSERT INTO b_keys SELECT g, 'b' || g FROM generate_series(1, 3) g;
INSERT INTO c_full VALUES (1, 'c1', repeat('x', 9000));
INSERT INTO d_nopk VALUES (1, 'd1'), (2, 'd2');
