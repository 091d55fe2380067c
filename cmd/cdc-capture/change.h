/*
 * change.h: formatting decoded pgoutput messages as cdc-events(7) lines.
 *
 * Each function appends one event object (no newline) to out, using the
 * type mapping of types.h and the envelope of event.h.  Nothing here talks
 * to the server; the unit tests feed crafted messages through it.
 */
#ifndef CDC_CAPTURE_CHANGE_H
#define CDC_CAPTURE_CHANGE_H

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

/* Where an event sits in the stream. */
struct change_pos {
	uint64_t lsn;		/* the change's own LSN */
	uint64_t commit_lsn;
	uint64_t seq;
	uint32_t xid;
	int64_t ts_ms;		/* commit time */
};

void change_fmt_init(struct change_fmt *f, struct typemap *tm, const struct event_ctx *ctx);
void change_fmt_release(struct change_fmt *f);

/* An Insert, Update or Delete message (m->type 'I', 'U', 'D'). */
void change_format(struct change_fmt *f, struct buf *out, const struct pgo_msg *m, const struct change_pos *p);
/* The "t" event of one relation of a Truncate message (options: m->flags). */
void truncate_format(struct change_fmt *f, struct buf *out, const struct pgo_rel *rel, uint8_t options,
		     const struct change_pos *p);
/* A logical decoding message ('M'). */
void message_format(struct change_fmt *f, struct buf *out, const struct pgo_msg *m, const struct change_pos *p);
/*
 * A control event: op "heartbeat", "begin" or "commit".  For begin and
 * commit, events is the number of data events of the transaction (commit
 * only; pass -1 for begin).
 */
void control_format(struct change_fmt *f, struct buf *out, const char *op, long long events,
		    const struct change_pos *p);

#endif
