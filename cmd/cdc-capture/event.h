/*
 * event.h: the envelope shared by stream and snapshot events (cdc-events(7)).
 *
 * The caller opens the event object and writes op, before, after, key
 * (and unchanged_toast); event_source() appends the "source" object, the
 * "transaction" member and the top-level times, and closes the object.
 * No newline is written.
 *
 * The source object carries Debezium's members (version, connector, name,
 * db, schema, table, txId, lsn, ts_ms, ts_us, snapshot, sequence, xmin,
 * origin, origin_lsn; ts_ns with --ts-ns) and ours (commit_lsn, seq).
 */
#ifndef CDC_CAPTURE_EVENT_H
#define CDC_CAPTURE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct event_ctx {
	const char *db;		/* source.db */
	const char *slot;	/* source.name */
	bool ts_ns;		/* --ts-ns: ts_ns in the envelope and the source */
};

/* Debezium's "transaction" block of a data event (provide.transaction.metadata). */
struct event_tx {
	uint32_t xid;
	uint64_t first_lsn;		/* id "xid:first_lsn", the id of the transaction's begin */
	uint64_t total_order;		/* 1-based index among the transaction's data events */
	uint64_t collection_order;	/* ... among those of the same table */
};

/* Where an event comes from: everything in "source" but the constants. */
struct event_src {
	const char *schema, *table;	/* NULL: left out (messages, control events) */
	uint64_t lsn;			/* the change's own LSN */
	uint64_t commit_lsn;
	uint64_t seq;
	uint32_t xid;			/* 0: "txId":null */
	int64_t ts_us;			/* commit time, microseconds since the epoch */
	const char *snapshot;		/* "false", "true", "first", "last", ... */
	bool has_last_commit;		/* "sequence": ["last_commit", "lsn"]; else [null, "lsn"] */
	uint64_t last_commit;
	const char *origin;		/* replication origin of the transaction; NULL: null */
	uint64_t origin_lsn;
	/* "transaction": tx_member false leaves the member out (control
	 * events); else tx NULL writes null. */
	bool tx_member;
	const struct event_tx *tx;
};

/*
 * Append ,"source":{...},"transaction":...,"ts_ms":..,"ts_us":..,"ts_ns":..}
 * closing the event object opened by the caller (who wrote
 * {"op":"r","before":null,"after":{...},"key":{...} before).  The
 * top-level times are now_ns, nanoseconds since the epoch (event_now_ns()).
 */
void event_source(struct buf *out, const struct event_ctx *ctx, const struct event_src *s, int64_t now_ns);

/* Append "ts_ms":..,"ts_us":..[,"ts_ns":..]} for the time ns (the event's end). */
void event_times(struct buf *out, const struct event_ctx *ctx, int64_t ns);

/* The wall clock, nanoseconds since the epoch. */
int64_t event_now_ns(void);

/*
 * The rule for the event "key", one function for stream and snapshot: is
 * it the table's primary key (true), or the replica identity columns
 * (false)?  replident: pg_class.relreplident ('d', 'n', 'f', 'i'); npk:
 * columns of the primary key (0: none); present: how many of them are
 * published (in the Relation message / the column list); in_ri: how many
 * of them are replica identity columns.  The primary key is used when
 * there is one, all of it is published, and the server sends all of it in
 * the old key of a delete (always for DEFAULT and FULL; for USING INDEX
 * only when the index covers it; NOTHING has no deletes to send).
 */
bool key_use_pk(char replident, int npk, int present, int in_ri);

#endif
