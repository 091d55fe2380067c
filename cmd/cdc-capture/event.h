/*
 * event.h: the envelope shared by stream and snapshot events (cdc-events(7)).
 *
 * The caller opens the event object and writes op, before, after, key
 * (and unchanged_toast); event_source() appends the "source" object and the
 * top-level "ts_ms" and closes the object.  No newline is written.
 */
#ifndef CDC_CAPTURE_EVENT_H
#define CDC_CAPTURE_EVENT_H

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

#endif
