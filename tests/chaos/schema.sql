-- The chaos runs' tables.  items is published and reaches the index; noise
-- is published too but cdc-filter drops it (transactions the sink never
-- sees, so only heartbeats move its checkpoint past them).
CREATE SEQUENCE items_id_seq;
CREATE TABLE items (
	id bigint PRIMARY KEY DEFAULT nextval('items_id_seq'),
	grp int NOT NULL,
	status text NOT NULL,
	n int NOT NULL DEFAULT 0,
	amount numeric(12,2),
	flag boolean,
	meta jsonb,
	secret text,
	big text
);
-- Stored out of line and uncompressed: every big value is a TOAST value,
-- and an update that leaves it alone sends it as "unchanged".
ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE noise (id bigserial PRIMARY KEY, v text);
