/*
 * event.h: the envelope shared by stream and snapshot events (cdc-events(7)).
 *
 * The caller opens the event object and writes op, before, after, key
 * (and unchanged_toast); event_source() appends the "source" object and the
 * top-level "ts_ms" and closes the object.  No newline is written.
 */
#ifndef CDC_CAPTURE_EVENT_H
#define CDC_CAPTURE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct event_ctx {
	const char *db;		/* source.db */
	const char *slot;	/* source.name */
};

/*
 * Append ,"source":{...},"ts_ms":<now>} closing the event object opened by
 * the caller (who wrote {"op":"r","before":null,"after":{...},"key":{...}
 * before).  schema/table NULL: left out (messages, control events).
 * xid 0: "txId":null.  snapshot: "true", "false" or "last".
 */
void event_source(struct buf *out, const struct event_ctx *ctx, const char *schema, const char *table,
		  uint64_t lsn, uint64_t commit_lsn, uint64_t seq, uint32_t xid, int64_t commit_ts_ms,
		  const char *snapshot);

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
