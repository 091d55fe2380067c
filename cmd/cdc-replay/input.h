/*
 * input.h: the readers of cdc-replay: plain NDJSON, lz4 frames (detected
 * by content), and cdc-record log directories (segments in order, the
 * index to seek, following the log as it grows).  Decoded bytes go to the
 * emitter (emit.h).  The reader owns its buffer; reader_free() releases it.
 */
#ifndef CDC_REPLAY_INPUT_H
#define CDC_REPLAY_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "emit.h"
#include "segment.h"

struct reader {
	struct emitter *em;
	int64_t poll_ms;	/* --follow: how often to look for more */
	bool skip_corrupt;	/* skip damaged frames (else stop, exit 65) */
	bool verify_first;	/* hold a big frame whole until its content checksum is verified */
	bool use_index;		/* a position or time range: seek with the index */
	bool dead_letters;	/* the inputs are dead-letter files: replay their original lines */
	struct buf data;	/* decoded bytes not yet handed over */
	bool frame_emitted;	/* part of the current frame went out already */
	uint64_t damaged;	/* frames skipped */
	uint64_t frames_skipped; /* frames the index let us pass over */
	uint64_t segments_skipped; /* segments not opened: their successor's name starts before --from */
	uint64_t index_fallbacks; /* segments read from the start: their index was wrong */
	/*
	 * A frame's decoded bytes are held until its checksum is verified:
	 * in data, and past HOLD_MAX bytes (in a cdc-record segment, or with
	 * --verify-first) in an unlinked temporary file.
	 */
	size_t hold_from;	/* where the current frame's bytes start in data */
	int spill_fd;		/* the temporary file (-1: none yet) */
	uint64_t spill_len;	/* bytes of the current frame in it */
	struct buf tail;	/* the frame's last part while the spill is replayed */
	/* A frame read through the index: what its entry says, what it holds. */
	const struct seg_entry *expect;
	struct seg_entry seen;
	bool seen_bad;		/* a line longer than the frame's indexed size */
	struct buf partial;	/* a line split between two held parts */
	/* Frames already emitted in this segment (offsets, ascending): skipped by a rescan. */
	uint64_t *done;
	size_t ndone, done_cap;
	bool skip_done;
};

/*
 * Replay one argument: a file, a cdc-record directory, or "-" (standard
 * input).  follow: when it is read, keep reading as it grows.  Returns 0,
 * or -1 when replay must stop (exit status in em->status; 0 on a signal).
 */
int replay_arg(struct reader *rd, const char *arg, bool follow);
/* Ready a zeroed reader (after the caller set em and the options). */
void reader_init(struct reader *rd);
void reader_free(struct reader *rd);

#endif
