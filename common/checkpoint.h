/*
 * checkpoint.h: checkpoint files, and atomic file replacement.
 *
 * A checkpoint holds the last event position a writer (cdc-sink-es,
 * cdc-record) has made durable.  It is text, key=value per line, '#'
 * comments, unknown keys ignored (format in cdc-events(7)):
 *
 *     version=1
 *     position=0/16B3748:3
 *     commit_lsn=0/16B3748
 *     seq=3
 *     snapshot=false
 *     name=shop
 *     writer=cdc-sink-es
 *     updated=2026-11-21T05:30:00.123Z
 *
 * epoch=N (written only when N > 0) counts the rewinds the writer has
 * applied: cdc-source-kafka numbers each "rewind" control event it emits
 * and maps the checkpoint back to Kafka offsets only once the writer
 * reports the same epoch (ackring.h).
 *
 * Files are replaced atomically (atomic_write_file() in fileio.h) and
 * created mode 0600.
 */
#ifndef CDC_CHECKPOINT_H
#define CDC_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsn.h"

struct checkpoint {
	struct cdc_pos pos;
	bool snapshot;		/* the position is inside an unfinished snapshot */
	char name[128];		/* source.name (the slot); "" if unknown */
	char writer[64];	/* program that wrote it; "" if unknown */
	long long updated_ms;	/* when it was written (ms since epoch); 0 if unknown */
	uint64_t epoch;		/* rewinds applied (0: none) */
};

/*
 * Read a checkpoint.  Returns 0 when read, 1 when the file does not exist
 * (*cp untouched), -1 when it cannot be read or is malformed: then a
 * message naming the file (and line) has been printed.
 */
int checkpoint_read(const char *path, struct checkpoint *cp);

/*
 * Parse checkpoint text (for tests and fuzzing).  Returns 0, or -1 with a
 * static reason in *err and the 1-based line in *line (0: whole file).
 */
int checkpoint_parse(const char *text, size_t len, struct checkpoint *cp,
		     const char **err, unsigned *line);

/*
 * Render *cp as checkpoint text into b (appends).  Control characters in
 * name and writer are written as '?': each value stays on its own line.
 */
struct buf;
void checkpoint_format(const struct checkpoint *cp, struct buf *b);

/* Write *cp to path atomically; updated_ms is set to now.  Returns 0 or -1 (message printed). */
int checkpoint_write(const char *path, struct checkpoint *cp);

#endif
