/*
 * writer.h: buffered output in large blocks, flushed when the input is idle.
 *
 * Programs write events with wr_write(); the writer sends them to the file
 * descriptor in blocks of its capacity.  The owner calls wr_flush() when its
 * input has nothing more immediately available (the line reader does this
 * through its idle hook), so latency stays low without a flush per line.
 *
 * Errors are sticky: after a failed write every call returns -1 and
 * wr->err holds the errno (EPIPE when the reader went away).  The caller
 * decides what to do (see wr_die_on_error()).
 */
#ifndef CDC_WRITER_H
#define CDC_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct writer {
	int fd;
	char *buf;
	size_t len;
	size_t cap;
	int err;		/* errno of the first failed write, 0 if none */
	uint64_t bytes;		/* bytes handed to the kernel so far */
};

#define WR_DEFAULT_CAP (256 * 1024)

/* Set up a writer on fd with a block of cap bytes (0: WR_DEFAULT_CAP). */
void wr_init(struct writer *w, int fd, size_t cap);
/* Queue len bytes; writes out full blocks.  Returns 0 or -1. */
int wr_write(struct writer *w, const void *data, size_t len);
/* Queue a line: data then '\n'.  Returns 0 or -1. */
int wr_line(struct writer *w, const void *data, size_t len);
/* Write out everything queued.  Returns 0 or -1. */
int wr_flush(struct writer *w);
/* Flush and free the block (does not close fd).  Returns 0 or -1. */
int wr_close(struct writer *w);
/*
 * If the writer failed: on EPIPE exit quietly with CDC_EXIT_PIPE, otherwise
 * die with "write error on what: strerror".  Returns when there is no error.
 */
void wr_die_on_error(struct writer *w, const char *what);

#endif
