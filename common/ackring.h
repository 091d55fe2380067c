/*
 * ackring.h: the events a sink must acknowledge, and its checkpoint.
 *
 * A sink hands events to a server that answers out of order (several
 * bulk requests in flight, Kafka delivery reports from several
 * partitions, N exec workers).  Every event that needs acknowledging gets
 * a slot in the ring, in input order, with the number of answers it
 * waits for.  ackring_release() counts one answer; a slot is done when it
 * has all of them.  The watermark is the position of the last slot of
 * the contiguous run of done slots: every event up to it is applied, so
 * it is what the checkpoint may say (never more).  A slot can be blocked
 * (failed under the stop policy): the watermark never passes it.
 *
 * Checkpoint writes are coalesced: ackring_checkpoint() writes at most
 * once per interval (and always when forced, at the end), after syncing
 * the dead-letter file, since a checkpoint must never pass a dead letter
 * that is not on disk.  ackring_wait() says how long a poll may sleep
 * before a held-back write is due.
 *
 * A "rewind" control event (cdc-events(7)), which cdc-source-kafka emits
 * before events older than what it emitted before (a partition taken
 * over from another consumer), says: everything up to here is done; what
 * follows starts after the rewind's position.  From the rewind on, events
 * after its position are applied even if the checkpoint was past them;
 * once everything before it is done, the watermark moves back to its
 * position and the checkpoint says so with the rewind's epoch.
 *
 * The ring grows up to its limit; ackring_full() says when the caller
 * must wait for answers before pushing.  It updates the shared metrics:
 * events out and their lag as data events are done, the confirmed
 * position as the checkpoint moves.
 */
#ifndef CDC_ACKRING_H
#define CDC_ACKRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "deadletter.h"
#include "event.h"
#include "lsn.h"
#include "metrics.h"

struct ackslot {
	struct cdc_pos pos;
	int64_t ts_ms;			/* commit time, 0 if unknown */
	uint32_t pending;		/* answers still awaited */
	bool snapshot;			/* source.snapshot says inside a snapshot */
	bool blocked;			/* failed under the stop policy: never done */
	bool data;			/* a data event (counts for lag) */
	bool rewind;			/* a rewind: the watermark moves back to pos */
	uint64_t epoch;			/* the rewind's epoch */
};

struct ackring {
	struct ackslot *s;
	size_t cap;			/* power of two */
	size_t max;			/* the most slots it grows to */
	uint64_t head;			/* next ordinal to hand out */
	uint64_t tail;			/* oldest slot not yet retired */

	const char *path;		/* checkpoint file, or NULL */
	const char *writer;		/* "writer=" in it */
	int64_t interval_ms;		/* at most one write this often */
	bool no_write;			/* --dry-run: keep the watermark, write nothing */
	struct checkpoint start;	/* read at ackring_open() */
	bool have_start;
	char name[128];			/* source.name of the events */
	struct cdc_pos floor;		/* events at or below it were done before */
	bool have_floor;
	uint64_t epoch;			/* rewinds applied */

	struct cdc_pos wm;		/* watermark: last retired position */
	bool wm_snapshot, wm_valid, wm_dirty;
	struct cdc_pos written;		/* last position written */
	bool have_written;
	int64_t written_ms;		/* when (monotonic) */
	uint64_t writes;		/* durable checkpoint writes */

	struct deadletter *dl;		/* synced before each write, or NULL */
	uint64_t dl_synced;
	struct metrics *m;
};

/*
 * Set up r: read the checkpoint at path (NULL: none) and check that it can
 * be written (unless no_write).  Returns 0, or -1 with a message printed.
 */
int ackring_open(struct ackring *r, const char *path, const char *writer,
		 int64_t interval_ms, size_t max, bool no_write, struct metrics *m);
void ackring_close(struct ackring *r);

/*
 * True when an event at ev's position was made durable before (at or
 * below the start checkpoint, or the last rewind's position): skip it.
 */
bool ackring_seen(const struct ackring *r, const struct event_info *ev);

/*
 * Remember the events' source.name (the slot); -1 with a message naming
 * the input line if the start checkpoint is for another source.
 */
int ackring_name(struct ackring *r, const struct json_span *name, uint64_t lineno);

/* No slot is free and the ring is at its limit: answers must come first. */
bool ackring_full(struct ackring *r);
/* A slot for ev, awaiting pending answers (0: done at once); its ordinal. */
uint64_t ackring_push(struct ackring *r, const struct event_info *ev, uint32_t pending);
/*
 * A rewind event (op "rewind"): its slot, done at once; -1 when the line
 * has no "rewind":{"epoch":N} (bad input).
 */
bool ackring_is_rewind(const struct event_info *ev);
/* The epoch of a rewind line; -1 when it has no "rewind":{"epoch":N}. */
int ackring_rewind_epoch(const char *line, size_t len, uint64_t *epoch);
int ackring_push_rewind(struct ackring *r, const struct event_info *ev, const char *line, size_t len);
struct ackslot *ackring_slot(const struct ackring *r, uint64_t ord);
/* One answer for slot ord. */
void ackring_release(struct ackring *r, uint64_t ord);
void ackring_block(struct ackring *r, uint64_t ord);
/* Slots in the ring (pushed, not yet retired). */
static inline uint64_t ackring_count(const struct ackring *r) { return r->head - r->tail; }

/*
 * Retire done slots and move the watermark; then write the checkpoint if
 * it moved and the interval has passed (force: regardless of the
 * interval).  Returns 0, or -1 when the write failed (message printed).
 */
int ackring_checkpoint(struct ackring *r, bool force);
/* The longest a poll may sleep (at most max_ms) before a held-back write is due. */
int ackring_wait(const struct ackring *r, int max_ms);

#endif
