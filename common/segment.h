/*
 * segment.h: the on-disk log of cdc-record, as cdc-record writes it and
 * cdc-replay reads it, and a streaming reader for lz4 frames.
 *
 * A log directory holds segment files named
 *
 *     cdc-SSSSSSSSSS-LLLLLLLLLLLLLLLL.lz4
 *
 * S: the segment's sequence number (10 decimal digits, one more than the
 * last segment's), L: the commit LSN of the segment's first event (16
 * upper-case hex digits; that of the last event before it, or 0, when the
 * first line has no position).  Names sort in write order, which for a
 * stream in position order is position order; readers order by S.  In a
 * log in position order (cdc-record's default) a segment holds nothing
 * after the L of the segment that follows it: cdc-replay does not open a
 * segment whose successor's L is below the commit LSN of --from.
 *
 * A segment is a concatenation of complete lz4 frames (frame format,
 * independent blocks, content checksum, content size), each holding whole
 * lines; `lz4 -dc` decodes it.  Each segment has a sparse index beside it,
 * "<segment>.idx": text, one line per frame:
 *
 *     # cdc-record index 1
 *     OFFSET CLEN ULEN LINES MINPOS MAXPOS MINTS MAXTS
 *
 * OFFSET/CLEN: the frame's byte range in the segment; ULEN: its
 * decompressed size; LINES: lines in it; MINPOS/MAXPOS: the least and
 * greatest event position ("X/X:seq") among its lines that have one, and
 * MINTS/MAXTS the same for source.ts_ms; "-" when no line has one.  The
 * index is only an accelerator: a reader uses its entries while they
 * chain (each OFFSET is the previous OFFSET + CLEN, within the file),
 * checks that each frame it reads through them is the one described
 * (cdc-replay reads the segment from the start when one is not), and
 * reads the rest of the segment frame by frame.  A torn last line is
 * ignored.
 *
 * Ownership: seg_list() and seg_index_load() return arrays the caller
 * frees with free(); struct lz4r owns its buffers until lz4r_free().
 */
#ifndef CDC_SEGMENT_H
#define CDC_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "json.h"
#include "lsn.h"

#define SEG_NAME_BUFSZ 48
#define SEG_INDEX_HEADER "# cdc-record index 1\n"

/* --- names --- */

/* Format a segment name (no directory) into out (SEG_NAME_BUFSZ bytes); returns out. */
char *seg_name_format(uint64_t seq, uint64_t first_lsn, char *out);
/* Parse a segment name (no directory).  Returns 0, or -1 if it is not one. */
int seg_name_parse(const char *name, uint64_t *seq, uint64_t *first_lsn);

struct seg_file {
	char name[SEG_NAME_BUFSZ];
	uint64_t seq;
	uint64_t first_lsn;
};

/*
 * List the segments in dir, sorted by sequence number.  Returns the count
 * with *out set (free() it; NULL when 0), or -1 with errno set.
 */
int seg_list(const char *dir, struct seg_file **out);

/* --- index --- */

struct seg_entry {
	uint64_t off, clen;	/* byte range of the frame in the segment */
	uint64_t ulen;		/* decompressed bytes */
	uint64_t lines;
	bool has_pos;
	struct cdc_pos min_pos, max_pos;
	bool has_ts;
	int64_t min_ts, max_ts;
};

/* Reset an entry to "no lines yet" (offsets untouched). */
void seg_entry_clear(struct seg_entry *e);
/* Account one line of ulen bytes (with its '\n') and what event_scan() found (ev may be NULL). */
void seg_entry_add(struct seg_entry *e, size_t ulen, const struct event_info *ev);
/* Append an entry as one index line (with '\n') to b. */
void seg_entry_format(const struct seg_entry *e, struct buf *b);
/* Parse one index line (without '\n').  Returns 0 or -1. */
int seg_entry_parse(const char *line, size_t len, struct seg_entry *e);

/*
 * Load path's index entries that chain from offset 0 and end within
 * file_size bytes, stopping at the first that does not (or at a torn or
 * malformed line).  Returns the count with *out set (free() it), 0 when the
 * file is missing or empty, -1 on a read error (errno set).
 */
long seg_index_load(const char *path, uint64_t file_size, struct seg_entry **out);

/* True if an entry can hold a line matching [from, to] and [since, until] (bounds inclusive). */
struct seg_range {
	bool has_from, has_to, has_since, has_until;
	struct cdc_pos from, to;
	int64_t since, until;
};
bool seg_entry_may_match(const struct seg_entry *e, const struct seg_range *r);

/* --- lz4 frames --- */

enum lz4_kind {
	LZ4_KIND_NONE = 0,	/* not lz4: plain text */
	LZ4_KIND_FRAME,		/* lz4 frame (or skippable frame) magic number */
	LZ4_KIND_LEGACY,	/* the legacy format of `lz4 -l` (not supported) */
};

/* What the first n bytes of a stream are (n < 4: LZ4_KIND_NONE). */
enum lz4_kind lz4_detect(const void *p, size_t n);

enum lz4r_status {
	LZ4R_FRAME,		/* a frame ended: its data is all in out */
	LZ4R_MORE,		/* max_out bytes appended; the frame goes on */
	LZ4R_EOF,		/* end of input at a frame boundary */
	LZ4R_PARTIAL,		/* end of input inside a frame (truncated, or still being written) */
	LZ4R_CORRUPT,		/* damaged frame: err, err_off set; the context is reset */
	LZ4R_INTR,		/* read interrupted by a signal: call again */
	LZ4R_IOERR,		/* read error: errno set */
};

/*
 * A streaming lz4 frame reader on a file descriptor, with bounded memory
 * (its input block plus what the caller lets accumulate in out).  After
 * LZ4R_PARTIAL a later call reads on (for files that grow).  After
 * LZ4R_CORRUPT call lz4r_resync() to look for the next frame.
 */
struct lz4r {
	int fd;
	void *dctx;		/* LZ4F_dctx */
	unsigned char *in;
	size_t in_cap, in_pos, in_end;
	uint64_t base_off;	/* file offset of in[0] */
	uint64_t frame_off;	/* offset of the frame being decoded */
	bool in_frame;		/* some of the current frame was consumed */
	const char *err;	/* what was wrong (static text) */
	uint64_t err_off;	/* offset of the damaged frame */
	void (*idle)(void *arg);	/* called before a read that would block */
	void *idle_arg;
};

/* Set up a reader on fd at file offset off; prefix (n bytes) was already read from fd there. */
void lz4r_init(struct lz4r *r, int fd, uint64_t off, const void *prefix, size_t n);
/* Reposition at offset off (lseek) and forget any partial frame.  Returns 0 or -1. */
int lz4r_seek(struct lz4r *r, uint64_t off);
/*
 * Call fn(arg) before any read that would block (a pipe with nothing
 * ready): where the caller flushes its output, as with lr_set_idle().
 */
void lz4r_set_idle(struct lz4r *r, void (*fn)(void *), void *arg);
/*
 * Which checksums protect the frame being decoded (once its header was
 * read): *content, the whole frame's content (checked at its end);
 * *block, each block (checked before the block is decoded).  Returns 0,
 * or -1 when no frame header has been decoded yet.
 */
int lz4r_frame_checks(struct lz4r *r, bool *content, bool *block);
/* Offset of the next input byte not yet consumed. */
uint64_t lz4r_offset(const struct lz4r *r);
/* Decode on, appending to out, until one of the statuses above (MORE after max_out bytes). */
enum lz4r_status lz4r_read(struct lz4r *r, struct buf *out, size_t max_out);
/*
 * After LZ4R_CORRUPT: skip to the next frame magic number.  Returns
 * LZ4R_FRAME when one was found (read on with lz4r_read()), LZ4R_EOF,
 * LZ4R_INTR or LZ4R_IOERR.
 */
enum lz4r_status lz4r_resync(struct lz4r *r);
void lz4r_free(struct lz4r *r);

/*
 * Check a whole segment file's frames (decode, content checksums) from
 * offset 0.  For each complete frame fn(arg, off, clen, data, ulen) is
 * called (it may be NULL).  Returns the end offset of the last good frame
 * (where a torn or damaged tail starts; the file size when all is good),
 * or -1 on a read error.  *why is set to what stopped it (NULL at a clean end).
 */
typedef void seg_frame_fn(void *arg, uint64_t off, uint64_t clen, const char *data, size_t ulen);
int64_t seg_scan_frames(int fd, seg_frame_fn *fn, void *arg, const char **why);

#endif
