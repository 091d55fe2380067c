/*
 * deadletter.h: what programs do with input they cannot process.
 *
 * Every program with bad-input handling offers the same three policies:
 * stop (the default: message naming the line and reason, exit 65 after
 * everything before it was written), skip (count and go on), or
 * dead-letter (--dead-letter FILE: append a record and go on).  The count
 * of skipped or dead-lettered lines is reported on exit.
 *
 * The dead-letter record is one JSON line (format in cdc-events(7)):
 *   {"program":"cdc-filter","time":"...","line":42,"position":"0/16B3748:3",
 *    "reason":"not a JSON object","input":"<original line>"}
 * with "input_base64" instead of "input" when the line is not valid UTF-8,
 * and "input_prefix_base64" (first 4096 bytes) and "input_bytes" for over-long lines.  Extra members
 * (e.g. a sink's "status", "index", "id") can be added by the caller.
 * The file is created mode 0600 and appended to.
 */
#ifndef CDC_DEADLETTER_H
#define CDC_DEADLETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lsn.h"

/* How much of an over-long line a record keeps. */
#define DL_PREFIX 4096

enum bad_policy {
	BAD_STOP = 0,
	BAD_SKIP,
	BAD_DEADLETTER,
};

struct deadletter {
	enum bad_policy policy;
	int fd;			/* -1 unless BAD_DEADLETTER */
	char *path;
	uint64_t count;		/* lines skipped or dead-lettered */
	const char *input;	/* the input file being read, NULL for standard input */
	struct buf rec;		/* scratch for one record */
	int64_t notice_window_ms;	/* rate limit of the stderr notices */
	unsigned notices;
	uint64_t notices_dropped;
};

/* Policy stop (path NULL and skip false), skip, or dead-letter to path.  Dies if the file cannot be opened. */
void dl_init(struct deadletter *dl, const char *path, bool skip);

/*
 * Name the input file being read (NULL: standard input): messages then
 * start "FILE: line N" and records get a "file" member.  name must stay
 * valid while it is in use.
 */
void dl_set_input(struct deadletter *dl, const char *name);

/*
 * Handle one bad line under the policy.  what: "line 42" style location is
 * built from lineno; pos may be NULL; extra, if not NULL, is raw JSON
 * members ("\"status\":400,...") added to the record.
 * Under BAD_STOP prints "prog: line N: reason" and returns -1: the caller
 * flushes what it wrote before and exits CDC_EXIT_DATAERR.  Otherwise
 * returns 0 (dies if the dead-letter file cannot be written); a
 * dead-lettered line is also reported on stderr (at most 10 lines a
 * minute, the reason cut at 200 bytes, never the line itself), a skipped
 * one only with -v.
 * truncated_len: when the line was over-long, its full length (line then
 * holds only its first bytes, at most DL_PREFIX); 0 otherwise.
 */
int dl_bad_line(struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos,
		const char *reason, const char *line, size_t len, size_t truncated_len,
		const char *extra);
/*
 * As dl_bad_line(), with a reason for the record that may quote the row
 * (a server's message, say): detail goes into the record's "reason",
 * reason (free of row values) into the messages on stderr.
 */
int dl_bad_line_detail(struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos,
		       const char *reason, const char *detail, const char *line, size_t len,
		       size_t truncated_len, const char *extra);

/*
 * Read a dead-letter record back (re-driving dead letters): append the
 * original line it holds ("input", or "input_base64" decoded) to out.
 * Returns 0; 1 when the record holds only the first bytes of an over-long
 * line (it cannot be re-driven); -1 with *err set when rec is not a
 * dead-letter record.
 */
int dl_record_input(const char *rec, size_t len, struct buf *out, const char **err);

/* fsync the dead-letter file (before a checkpoint moves past its lines). Returns 0 or -1. */
int dl_sync(struct deadletter *dl);

/* Print "N lines skipped/dead-lettered" if any, close.  Returns the count. */
uint64_t dl_finish(struct deadletter *dl);

#endif
