#include "linereader.h"
#include "buf.h"

#include <errno.h>
#include <poll.h>
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
}

void
lr_set_idle(struct linereader *lr, void (*fn)(void *), void *arg)
{
	lr->idle = fn;
	lr->idle_arg = arg;
}

void
lr_free(struct linereader *lr)
{
	free(lr->buf);
	lr->buf = NULL;
}

/*
 * Read more input into the buffer after end.  Calls the idle hook first
 * when the read would block.  Returns bytes read, 0 at EOF, -1 on error
 * (errno EINTR for a signal).
 */
static void
idle_if_blocking(struct linereader *lr)
{
	struct pollfd pfd = { .fd = lr->fd, .events = POLLIN };

	if (lr->idle && poll(&pfd, 1, 0) == 0)
		lr->idle(lr->idle_arg);
}

static ssize_t
fill(struct linereader *lr)
{
	ssize_t n;

	idle_if_blocking(lr);
	n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
	if (n == 0)
		lr->eof = true;
	else if (n > 0)
		lr->end += (size_t)n;
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
			return errno == EINTR ? LR_INTR : LR_ERROR;
	}
}

/*
 * UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
 * ASCII runs are checked eight bytes at a time: event lines are mostly ASCII.
 */
bool
utf8_valid(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c;
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;

		while (i + 8 <= len) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			goto invalid;
		}
		if (i + need >= len)
			goto invalid;
		if (s[i + 1] < lo || s[i + 1] > hi)
			goto invalid;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				goto invalid;
		i += need + 1;
	}
	return true;
invalid:
	if (bad)
		*bad = i;
	return false;
}

enum line_problem
lr_check(const char *line, size_t len, size_t *where)
{
	const char *nul = memchr(line, '\0', len);
	size_t bad;

	if (nul) {
		*where = (size_t)(nul - line);
		return LINE_NUL;
	}
	if (!utf8_valid(line, len, &bad)) {
		*where = bad;
		return LINE_BAD_UTF8;
	}
	return LINE_OK;
}

const char *
lr_problem_str(enum line_problem p)
{
	switch (p) {
	case LINE_OK:
		return "ok";
	case LINE_NUL:
		return "NUL byte";
	case LINE_BAD_UTF8:
		return "invalid UTF-8";
	}
	return "?";
}

void
lr_problem_describe(enum line_problem p, size_t where, char *out, size_t size)
{
	snprintf(out, size, "%s at byte %zu", lr_problem_str(p), where + 1);
}
