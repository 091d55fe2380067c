#include "deadletter.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
dl_init(struct deadletter *dl, const char *path, bool skip)
{
	memset(dl, 0, sizeof(*dl));
	dl->fd = -1;
	if (path) {
		dl->policy = BAD_DEADLETTER;
		dl->path = xstrdup(path);
		dl->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (dl->fd < 0)
			die_errno("cannot open dead-letter file %s", path);
	} else if (skip) {
		dl->policy = BAD_SKIP;
	}
}

int
dl_bad_line(struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos,
	    const char *reason, const char *line, size_t len, size_t truncated_len,
	    const char *extra)
{
	char when[RFC3339_BUFSZ], p[POS_BUFSZ];
	struct buf *r = &dl->rec;
	const char *w;
	size_t n;

	if (dl->policy == BAD_STOP) {
		if (pos)
			return error("line %llu (position %s): %s", (unsigned long long)lineno,
				     pos_format(pos, p), reason);
		return error("line %llu: %s", (unsigned long long)lineno, reason);
	}
	dl->count++;
	if (dl->policy == BAD_SKIP) {
		info(1, "line %llu: %s: skipped", (unsigned long long)lineno, reason);
		return 0;
	}
	buf_reset(r);
	buf_adds(r, "{\"program\":");
	json_add_cstr(r, cdc_progname);
	buf_adds(r, ",\"time\":");
	json_add_cstr(r, rfc3339_format(now_ms(), when));
	buf_adds(r, ",\"line\":");
	json_add_u64(r, lineno);
	buf_adds(r, ",\"position\":");
	if (pos)
		json_add_cstr(r, pos_format(pos, p));
	else
		buf_adds(r, "null");
	buf_adds(r, ",\"reason\":");
	json_add_cstr(r, reason);
	if (extra && *extra) {
		buf_addc(r, ',');
		buf_adds(r, extra);
	}
	if (truncated_len) {
		n = len < LR_PREFIX ? len : LR_PREFIX;
		buf_adds(r, ",\"input_bytes\":");
		json_add_u64(r, truncated_len);
		/* The prefix may end inside a UTF-8 sequence: base64 keeps it exact. */
		buf_adds(r, ",\"input_prefix_base64\":");
		json_add_base64(r, line, n);
	} else if (memchr(line, '\0', len) == NULL && utf8_valid(line, len, NULL)) {
		buf_adds(r, ",\"input\":");
		json_add_str(r, line, len);
	} else {
		buf_adds(r, ",\"input_base64\":");
		json_add_base64(r, line, len);
	}
	buf_adds(r, "}\n");
	/* One write() per record: O_APPEND keeps records whole. */
	w = r->data;
	n = r->len;
	while (n > 0) {
		ssize_t k = write(dl->fd, w, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			die_errno("cannot write dead-letter file %s", dl->path);
		}
		w += k;
		n -= (size_t)k;
	}
	return 0;
}

int
dl_sync(struct deadletter *dl)
{
	if (dl->fd < 0)
		return 0;
	if (fsync(dl->fd) < 0)
		return error_errno("cannot sync dead-letter file %s", dl->path);
	return 0;
}

uint64_t
dl_finish(struct deadletter *dl)
{
	uint64_t n = dl->count;

	if (n && dl->policy == BAD_SKIP)
		warning("%llu bad line%s skipped", (unsigned long long)n, n == 1 ? "" : "s");
	if (n && dl->policy == BAD_DEADLETTER)
		warning("%llu bad line%s written to %s", (unsigned long long)n, n == 1 ? "" : "s",
			dl->path);
	if (dl->fd >= 0) {
		if (fsync(dl->fd) < 0 || close(dl->fd) < 0)
			error_errno("cannot close dead-letter file %s", dl->path);
		dl->fd = -1;
	}
	free(dl->path);
	dl->path = NULL;
	buf_release(&dl->rec);
	return n;
}
