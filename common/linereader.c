#include "linereader.h"
#include "buf.h"
#include "sig.h"
#include "timeutil.h"

#include <errno.h>
#include <poll.h>
#include <sys/select.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LR_INITIAL_CAP (256 * 1024)

void
lr_init(struct linereader *lr, int fd, size_t max_line)
{
	memset(lr, 0, sizeof(*lr));
	lr->fd = fd;
	lr->max_line = max_line ? max_line : LR_DEFAULT_MAX_LINE;
	lr->cap = LR_INITIAL_CAP;
	if (lr->cap > lr->max_line + 1 && lr->max_line + 1 >= LR_PREFIX)
		lr->cap = lr->max_line + 1;
	if (lr->cap < LR_PREFIX + 1)
		lr->cap = LR_PREFIX + 1;
	lr->buf = xmalloc(lr->cap);
	lr->watch_fd = -1;
}

void
lr_set_idle(struct linereader *lr, void (*fn)(void *), void *arg)
{
	lr->idle = fn;
	lr->idle_arg = arg;
}

void
lr_set_watch(struct linereader *lr, int fd)
{
	lr->watch_fd = fd;
}

void
lr_input_ready(struct linereader *lr)
{
	lr->ready = true;
}

void
lr_free(struct linereader *lr)
{
	free(lr->buf);
	lr->buf = NULL;
}

/*
 * Call the idle hook when the read would block; true when it was called.
 * A small last read means the writer had little to give: the input is
 * taken as drained without asking the kernel (a poll per read is a system
 * call per event at a few thousand events a second).  Should more have
 * come meanwhile, the hook only flushes a little early.
 */
static bool
idle_if_blocking(struct linereader *lr)
{
	struct pollfd pfd = { .fd = lr->fd, .events = POLLIN };

	if (lr->idle && (lr->drained || poll(&pfd, 1, 0) == 0)) {
		lr->idle(lr->idle_arg);
		return true;
	}
	return false;
}

/*
 * Wait until the input is readable, or the watched output closed (-1 with
 * errno EPIPE), or a signal came (-1 with errno EINTR).
 */
static int
wait_input(struct linereader *lr)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = lr->fd, .events = POLLIN },
			{ .fd = lr->watch_fd, .events = 0 },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				return -1;
			return 0;	/* let read() report it */
		}
		if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			errno = EPIPE;
			return -1;
		}
		if (p[0].revents)
			return 0;
	}
}

/*
 * Read more input into the buffer after end.  Calls the idle hook first
 * when the read would block.  Returns bytes read, 0 at EOF, -1 on error
 * (errno EINTR for a signal).
 */
static ssize_t
fill(struct linereader *lr)
{
	ssize_t n;

	lr->ready = false;
	if (idle_if_blocking(lr)) {
		if (lr->ready) {
			if (cdc_stop) {
				errno = EINTR;
				return -1;
			}
		} else if (lr->watch_fd < 0 && lr->fd < FD_SETSIZE) {
			if (sig_wait_readable(lr->fd) < 0)
				return -1;
		} else if (cdc_stop) {
			errno = EINTR;
			return -1;
		}
	}
	if (lr->watch_fd >= 0 && wait_input(lr) < 0)
		return -1;
	n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
	lr->drained = n > 0 && (size_t)n < lr->cap - lr->end && (size_t)n < LR_DRAINED_READ;
	if (n == 0)
		lr->eof = true;
	else if (n > 0) {
		lr->end += (size_t)n;
		lr->read_ms = mono_ms();
	}
	return n;
}

/* Move unconsumed data to the front of the buffer. */
static void
compact(struct linereader *lr)
{
	if (lr->start == 0)
		return;
	memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
	lr->end -= lr->start;
	lr->start = 0;
}

bool
lr_has_line(struct linereader *lr)
{
	size_t from = lr->start + lr->scanned;

	return memchr(lr->buf + from, '\n', lr->end - from) != NULL;
}

/*
 * The current line is over the cap: keep its first LR_PREFIX bytes (or all
 * of it, if shorter) at the front of the buffer, discard the rest up to and
 * including the next '\n'.  The buffer may hold fewer than LR_PREFIX bytes
 * of the line on entry (a cap below LR_PREFIX): the prefix is topped up
 * from what is read next.
 */
static enum lr_status
skip_long_line(struct linereader *lr, const char **line, size_t *len)
{
	size_t total, keep;

	compact(lr);
	total = lr->end;		/* no '\n' among these bytes */
	keep = total < LR_PREFIX ? total : LR_PREFIX;
	lr->end = keep;
	for (;;) {
		char *data = lr->buf + keep;	/* new bytes land after the prefix */
		size_t used, take;
		ssize_t n;
		char *nl;

		idle_if_blocking(lr);
		n = read(lr->fd, data, lr->cap - keep);
		lr->drained = false;
		if (n < 0) {
			if (errno == EINTR)
				continue;	/* finish skipping; flags are checked after */
			return LR_ERROR;
		}
		if (n == 0) {
			lr->eof = true;
			break;
		}
		nl = memchr(data, '\n', (size_t)n);
		used = nl ? (size_t)(nl - data) : (size_t)n;
		total += used;
		/* Bytes of the line still missing from the prefix are already in place. */
		take = LR_PREFIX - keep < used ? LR_PREFIX - keep : used;
		keep += take;
		if (nl) {
			size_t rest = (size_t)n - used - 1;

			/* Keep what follows the newline. */
			memmove(lr->buf + keep, nl + 1, rest);
			lr->end = keep + rest;
			lr->consumed += total + 1;
			goto done;
		}
		lr->end = keep;
	}
	lr->consumed += total;
done:
	lr->lineno++;
	lr->offset = lr->consumed - total - (lr->eof ? 0 : 1);
	*line = lr->buf;
	*len = total;
	/* The prefix stays in [0, keep); unread data starts after it. */
	lr->start = keep;
	lr->scanned = 0;
	return LR_TOO_LONG;
}

enum lr_status
lr_next(struct linereader *lr, const char **line, size_t *len)
{
	for (;;) {
		char *base = lr->buf + lr->start;
		size_t avail = lr->end - lr->start;
		char *nl = memchr(base + lr->scanned, '\n', avail - lr->scanned);
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - base);

			lr->start += l + 1;
			lr->scanned = 0;
			lr->lineno++;
			lr->offset = lr->consumed;
			lr->consumed += l + 1;
			if (l > lr->max_line) {
				*line = base;
				*len = l;
				return LR_TOO_LONG;
			}
			*line = base;
			*len = l;
			return LR_OK;
		}
		lr->scanned = avail;
		if (lr->eof) {
			if (avail == 0)
				return LR_EOF;
			lr->start = lr->end;
			lr->scanned = 0;
			lr->lineno++;
			lr->offset = lr->consumed;
			lr->consumed += avail;
			*line = base;
			*len = avail;
			return avail > lr->max_line ? LR_TOO_LONG : LR_OK;
		}
		if (avail > lr->max_line)
			return skip_long_line(lr, line, len);
		/* Make room: first reclaim consumed space, then grow up to the cap. */
		if (lr->end == lr->cap) {
			if (lr->start > 0) {
				compact(lr);
			} else {
				size_t ncap = lr->cap * 2;

				if (ncap > lr->max_line + 2)
					ncap = lr->max_line + 2;
				if (ncap <= lr->cap)
					return skip_long_line(lr, line, len);
				lr->buf = xrealloc(lr->buf, ncap);
				lr->cap = ncap;
			}
			continue;
		}
		n = fill(lr);
		if (n < 0)
			return errno == EINTR ? LR_INTR : errno == EPIPE ? LR_OUTPUT_CLOSED : LR_ERROR;
	}
}
