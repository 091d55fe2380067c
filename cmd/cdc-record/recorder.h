/*
 * recorder.h: the writing side of a cdc-record log directory (format in
 * common/segment.h): segments of lz4 frames, their indexes, group commit,
 * the checkpoint, crash recovery and retention.
 *
 * Lines are gathered into a frame; a frame ends when it reaches
 * frame_bytes, when it is sync_ms old, or when the input goes idle (then
 * after at most sync_ms since the last sync: group commit).  An ended frame
 * is compressed, written and indexed; at a sync the segment is
 * fdatasync()ed and the checkpoint moves to the last positioned event in
 * the synced data.  The recorder owns everything it allocates; rec_close()
 * releases it.  Functions that fail print a message and return -1.
 */
#ifndef CDC_RECORDER_H
#define CDC_RECORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "checkpoint.h"
#include "event.h"
#include "json.h"
#include "segment.h"

struct rec_opts {
	const char *dir;
	const char *checkpoint;		/* NULL: none */
	uint64_t segment_bytes;		/* rotate after this many compressed bytes */
	int64_t segment_age_ms;		/* rotate a segment this old (0: never) */
	uint64_t frame_bytes;		/* uncompressed bytes per frame */
	int64_t sync_ms;		/* group commit window */
	uint64_t retain_bytes;		/* 0: keep everything */
	int64_t retain_age_ms;		/* 0: keep everything */
	int level;			/* lz4 compression level (0..12) */
	bool dedupe;			/* leave out events at or before the greatest position logged */
};

/* The last positioned event of some data, as the checkpoint records it. */
struct rec_last {
	bool valid;
	struct cdc_pos pos;
	bool snapshot;
	char name[128];
};

struct recorder {
	struct rec_opts o;
	int lockfd;
	/* the open segment (fd -1 when none) */
	int fd, idxfd;
	char segname[SEG_NAME_BUFSZ];
	uint64_t next_seq;
	uint64_t seg_size;
	int64_t seg_opened;		/* mono_ms() */
	/* the frame being gathered */
	struct buf frame;
	struct seg_entry ent;
	int64_t frame_started;
	struct rec_last frame_last;
	void *cctx;			/* LZ4F_cctx */
	struct buf cbuf, ibuf;
	/* durability */
	bool unsynced;			/* frames written since the last fdatasync */
	int64_t last_sync;
	struct rec_last written;	/* last positioned event in written frames */
	struct checkpoint cp;
	bool have_cp;
	uint64_t epoch;			/* the last rewind's epoch (cdc-source-kafka upstream) */
	/* the greatest position in the log, to leave out re-delivered events */
	bool have_max;
	struct cdc_pos log_max;
	uint64_t last_lsn;		/* for naming segments whose first line has no position */
	/* counters */
	uint64_t lines, dups, frames, segments;
};

/* Open (creating) the directory, lock it, recover the last segment, apply retention. */
int rec_open(struct recorder *r, const struct rec_opts *o);
/* Append one line (len bytes, no '\n'); ev: what event_scan() found, or NULL. */
int rec_append(struct recorder *r, const char *line, size_t len, const struct event_info *ev);
/* The input is idle: commit now, or wait on in_fd up to the group-commit deadline. */
int rec_idle(struct recorder *r, int in_fd);
/* End the frame, write it, fdatasync, move the checkpoint. */
int rec_commit(struct recorder *r);
/* Commit, close the segment, release everything.  Returns 0 or -1. */
int rec_close(struct recorder *r);

#endif
