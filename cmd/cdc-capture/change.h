/*
 * change.h: formatting decoded pgoutput messages as cdc-events(7) lines.
 *
 * Each function appends one event object (no newline) to out, using the
 * type mapping of types.h and the envelope of event.h.  Nothing here talks
 * to the server; the unit tests feed crafted messages through it.
 *
 * The event_src argument says where the event sits in the stream; the
 * functions fill in its schema and table from the relation.
 */
#ifndef CDC_CAPTURE_CHANGE_H
#define CDC_CAPTURE_CHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "pgoutput.h"
#include "types.h"

struct change_fmt {
	struct typemap *tm;
	const struct event_ctx *ctx;
	struct buf toast;	/* scratch: the unchanged_toast list */
};

void change_fmt_init(struct change_fmt *f, struct typemap *tm, const struct event_ctx *ctx);
void change_fmt_release(struct change_fmt *f);

/* Which event change_format() writes for a message. */
enum change_part {
	CHANGE_WHOLE,		/* the message as one event: c, u or d */
	CHANGE_OLD_KEY,		/* an update that changed the key: the d of the old key */
	CHANGE_NEW_KEY,		/* ... and the c of the new one */
};

/*
 * Does Update message m change the row's event "key"?  True when the
 * server sent the old key or old row and a key column's value differs
 * (cdc-capture --key-change).
 */
bool change_key_changed(const struct pgo_msg *m);
/*
 * Does Update message m hold every column of the new row?  False when a
 * TOASTed value the update did not change is missing and no old row
 * (REPLICA IDENTITY FULL) supplies it: a c event of the new row would
 * then lack it for good.
 */
bool change_new_row_complete(const struct pgo_msg *m);

/* An Insert, Update or Delete message (m->type 'I', 'U', 'D'). */
void change_format(struct change_fmt *f, struct buf *out, const struct pgo_msg *m, enum change_part part,
		   struct event_src *p);
/*
 * The event "key" objects an Insert, Update or Delete message m touches,
 * as change_format() writes them: the new row's key into key (I, U; left
 * empty for D) and the old row's key into old (D, and U when the server
 * sent the old key or row; else left empty).  Both are reset first; both
 * stay empty when the relation has no key.  For the incremental snapshot,
 * which matches them against its chunk's rows (copy.h writes the same
 * bytes for the same values).
 */
void change_keys(struct change_fmt *f, const struct pgo_msg *m, struct buf *key, struct buf *old);

/* The "t" event of one relation of a Truncate message (options: m->flags). */
void truncate_format(struct change_fmt *f, struct buf *out, const struct pgo_rel *rel, uint8_t options,
		     struct event_src *p);
/* A logical decoding message ('M'). */
void message_format(struct change_fmt *f, struct buf *out, const struct pgo_msg *m, struct event_src *p);

/* Debezium's per-table tally in a transaction's end record. */
struct change_tally {
	const char *schema, *table;
	uint64_t events;
};

/*
 * A control event: op "heartbeat", "begin" or "commit".  For begin and
 * commit (with --tx-events) events is the number of data events of the
 * transaction (commit only; pass -1 for begin), tally/ntally the count per
 * table (commit only), first_lsn the LSN of the transaction's begin: the
 * event also carries Debezium's transaction record members (status, id,
 * event_count, data_collections).
 */
void control_format(struct change_fmt *f, struct buf *out, const char *op, long long events,
		    const struct change_tally *tally, int ntally, uint64_t first_lsn, struct event_src *p);

#endif
