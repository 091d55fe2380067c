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

struct reader {
	struct emitter *em;
	int64_t poll_ms;	/* --follow: how often to look for more */
	bool skip_corrupt;	/* skip damaged frames (else stop, exit 65) */
	bool use_index;		/* a position or time range: seek with the index */
	struct buf data;	/* decoded bytes not yet handed over */
	bool frame_emitted;	/* part of the current frame went out already */
	uint64_t damaged;	/* frames skipped */
	uint64_t frames_skipped; /* frames the index let us pass over */
};

/*
 * Replay one argument: a file, a cdc-record directory, or "-" (standard
 * input).  follow: when it is read, keep reading as it grows.  Returns 0,
 * or -1 when replay must stop (exit status in em->status; 0 on a signal).
 */
int replay_arg(struct reader *rd, const char *arg, bool follow);
void reader_free(struct reader *rd);

#endif
