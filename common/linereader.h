/*
 * linereader.h: read newline-delimited input of any line length up to a cap.
 *
 * lr_next() returns one line at a time, without its '\n', pointing into the
 * reader's own buffer: the pointer is valid until the next call.  Line
 * numbers start at 1.  A last line without '\n' is returned as a line.
 *
 * A line longer than the cap is not kept: lr_next() returns LR_TOO_LONG
 * with the line's first bytes (up to LR_PREFIX) in *line and its full
 * length in *len, having skipped the rest, so the caller can report it and
 * go on.  Memory use is bounded by the cap.
 *
 * Before blocking on a read, the reader calls its idle hook (if set): this
 * is where programs flush their output, so that nothing sits in a buffer
 * while the input is quiet.  The input counts as quiet when the last read
 * was small (under LR_DRAINED_READ bytes) or when a poll finds nothing.
 * A signal interrupting the read makes lr_next() return LR_INTR so the caller can look at its flags; so does
 * a stop signal (sig.h's cdc_stop) that came while the idle hook ran, rather
 * than a read that would block.  With a
 * watched output (lr_set_watch()), the wait also ends when that output's
 * reader has gone.
 *
 * Checking what a line holds is text.h's job (text_check()).
 */
#ifndef CDC_LINEREADER_H
#define CDC_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LR_DEFAULT_MAX_LINE ((size_t)64 << 20)	/* 64 MiB */
#define LR_PREFIX 4096
/* A read shorter than this (and than asked for) ends a burst of input. */
#define LR_DRAINED_READ 16384

enum lr_status {
	LR_OK = 0,
	LR_EOF,
	LR_TOO_LONG,
	LR_INTR,		/* read interrupted by a signal; call again */
	LR_ERROR,		/* read error; errno is set */
	LR_OUTPUT_CLOSED,	/* the watched output's reader went away (lr_set_watch) */
};

struct linereader {
	int fd;
	char *buf;
	size_t cap;		/* allocated size */
	size_t start;		/* first unconsumed byte */
	size_t end;		/* end of valid data */
	size_t scanned;		/* bytes after start already searched for '\n' */
	size_t max_line;
	uint64_t lineno;	/* number of the line last returned */
	uint64_t offset;	/* input offset of the line last returned */
	uint64_t consumed;	/* input bytes consumed so far */
	bool eof;
	void (*idle)(void *arg);
	void *idle_arg;
	bool ready;		/* the idle hook saw the input readable (lr_input_ready) */
	bool drained;		/* the last read was small: the input is likely idle */
	int64_t read_ms;	/* mono_ms() at the last read that returned bytes */
	int watch_fd;		/* -1, or an output whose closing ends the wait */
};

/* Set up a reader on fd; max_line 0 means LR_DEFAULT_MAX_LINE. */
void lr_init(struct linereader *lr, int fd, size_t max_line);
/* Call fn(arg) before any read that would block. */
void lr_set_idle(struct linereader *lr, void (*fn)(void *), void *arg);
/*
 * Said by an idle hook that waited for the input itself and saw it
 * readable: the reader then reads at once instead of waiting again (a
 * stop signal that came meanwhile still ends the read with LR_INTR).
 */
void lr_input_ready(struct linereader *lr);
/*
 * While waiting for input, also watch output fd (a pipe to the next stage):
 * when its reader goes away, lr_next() returns LR_OUTPUT_CLOSED at once
 * instead of waiting for input that would only be written into a closed
 * pipe.  A pipeline stage thus ends with its neighbour even when idle.
 */
void lr_set_watch(struct linereader *lr, int fd);
/* Next line; see the status values above. */
enum lr_status lr_next(struct linereader *lr, const char **line, size_t *len);
/* True when a whole line is already buffered. */
bool lr_has_line(struct linereader *lr);
/* Free the buffer (does not close fd). */
void lr_free(struct linereader *lr);

#endif
