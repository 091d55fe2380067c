#include "writer.h"
#include "fileio.h"
#include "buf.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
wr_init(struct writer *w, int fd, size_t cap)
{
	w->fd = fd;
	w->cap = cap ? cap : WR_DEFAULT_CAP;
	w->buf = xmalloc(w->cap);
	w->len = 0;
	w->err = 0;
	w->bytes = 0;
}

/* Hand n bytes to the kernel; a failure is sticky. */
static int
write_out(struct writer *w, const char *p, size_t n)
{
	if (write_all(w->fd, p, n) < 0) {
		w->err = errno;
		return -1;
	}
	w->bytes += n;
	return 0;
}

int
wr_flush(struct writer *w)
{
	if (w->err)
		return -1;
	if (w->len == 0)
		return 0;
	if (write_out(w, w->buf, w->len) < 0)
		return -1;
	w->len = 0;
	return 0;
}

int
wr_write(struct writer *w, const void *data, size_t len)
{
	if (w->err)
		return -1;
	if (len <= w->cap - w->len) {
		memcpy(w->buf + w->len, data, len);
		w->len += len;
		if (w->len == w->cap)
			return wr_flush(w);
		return 0;
	}
	if (wr_flush(w) < 0)
		return -1;
	/* Bigger than a block: send it directly instead of copying. */
	if (len >= w->cap)
		return write_out(w, data, len);
	memcpy(w->buf, data, len);
	w->len = len;
	return 0;
}

int
wr_line(struct writer *w, const void *data, size_t len)
{
	if (len < w->cap - w->len) {
		memcpy(w->buf + w->len, data, len);
		w->len += len;
		w->buf[w->len++] = '\n';
		if (w->len == w->cap)
			return wr_flush(w);
		return w->err ? -1 : 0;
	}
	if (wr_write(w, data, len) < 0)
		return -1;
	return wr_write(w, "\n", 1);
}

int
wr_close(struct writer *w)
{
	int r = wr_flush(w);

	free(w->buf);
	w->buf = NULL;
	w->cap = w->len = 0;
	return r;
}

void
wr_die_on_error(struct writer *w, const char *what)
{
	if (w->err == 0)
		return;
	if (w->err == EPIPE)
		exit(CDC_EXIT_PIPE);
	errno = w->err;
	die_errno("write error on %s", what);
}
