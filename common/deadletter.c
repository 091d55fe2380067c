#include "deadletter.h"
#include "fileio.h"
#include "text.h"
#include "json.h"
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

void
dl_set_input(struct deadletter *dl, const char *name)
{
	dl->input = name;
}

/*
 * "FILE: line 42 (position 0/16B3748:3)" for messages; line 0 is none
 * (a message from Kafka: the input names topic, partition and offset).
 */
static void
where(const struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos, struct buf *b)
{
	char p[POS_BUFSZ];

	if (dl->input)
		buf_addf(b, lineno ? "%s: " : "%s", dl->input);
	if (lineno || !dl->input)
		buf_addf(b, "line %llu", (unsigned long long)lineno);
	if (pos)
		buf_addf(b, " (position %s)", pos_format(pos, p));
}

/*
 * Say on stderr that a line was dead-lettered: at most
 * DL_NOTICES_PER_MIN lines a minute, then one line saying how many were
 * not shown.
 */
#define DL_NOTICES_PER_MIN 10

static void
notice(struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos, const char *reason)
{
	int64_t now = mono_ms();
	struct buf msg = BUF_INIT;

	if (now - dl->notice_window_ms >= 60000) {
		if (dl->notices_dropped)
			warning("%llu more bad lines written to %s in the last minute (not shown)",
				(unsigned long long)dl->notices_dropped, dl->path);
		dl->notice_window_ms = now;
		dl->notices = 0;
		dl->notices_dropped = 0;
	}
	if (dl->notices >= DL_NOTICES_PER_MIN) {
		dl->notices_dropped++;
		return;
	}
	dl->notices++;
	where(dl, lineno, pos, &msg);
	warning("%s: %.200s: written to %s", msg.data, reason, dl->path);
	buf_release(&msg);
}

int
dl_bad_line(struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos,
	    const char *reason, const char *line, size_t len, size_t truncated_len,
	    const char *extra)
{
	return dl_bad_line_detail(dl, lineno, pos, reason, NULL, line, len, truncated_len, extra);
}

int
dl_bad_line_detail(struct deadletter *dl, uint64_t lineno, const struct cdc_pos *pos,
		   const char *reason, const char *detail, const char *line, size_t len,
		   size_t truncated_len, const char *extra)
{
	char when[RFC3339_BUFSZ], p[POS_BUFSZ];
	struct buf *r = &dl->rec;
	size_t n;

	if (dl->policy == BAD_STOP) {
		struct buf msg = BUF_INIT;

		where(dl, lineno, pos, &msg);
		error("%s: %s", msg.data, reason);
		buf_release(&msg);
		return -1;
	}
	dl->count++;
	if (dl->policy == BAD_SKIP) {
		struct buf msg = BUF_INIT;

		where(dl, lineno, pos, &msg);
		info(1, "%s: %s: skipped", msg.data, reason);
		buf_release(&msg);
		return 0;
	}
	notice(dl, lineno, pos, reason);
	buf_reset(r);
	buf_adds(r, "{\"program\":");
	json_add_cstr(r, cdc_progname);
	buf_adds(r, ",\"time\":");
	json_add_cstr(r, rfc3339_format(now_ms(), when));
	if (dl->input) {
		buf_adds(r, ",\"file\":");
		json_add_cstr(r, dl->input);
	}
	buf_adds(r, ",\"line\":");
	json_add_u64(r, lineno);
	buf_adds(r, ",\"position\":");
	if (pos)
		json_add_cstr(r, pos_format(pos, p));
	else
		buf_adds(r, "null");
	buf_adds(r, ",\"reason\":");
	json_add_cstr(r, detail ? detail : reason);
	if (extra && *extra) {
		buf_addc(r, ',');
		buf_adds(r, extra);
	}
	if (truncated_len) {
		n = len < DL_PREFIX ? len : DL_PREFIX;
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
	if (write_all(dl->fd, r->data, r->len) < 0)
		die_errno("cannot write dead-letter file %s", dl->path);
	return 0;
}

/* The value of a base64 character, -1 for anything else. */
static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode standard base64 (padding optional).  Returns 0, or -1 if malformed. */
static int
base64_decode(const char *s, size_t len, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	while (len > 0 && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(out, (char)((acc >> bits) & 0xff));
		}
	}
	return 0;
}

int
dl_record_input(const char *rec, size_t len, struct buf *out, const char **err)
{
	struct json_span sp;
	const char *v;
	size_t vlen;
	int r;

	r = json_member(rec, len, "input", NULL, &v, &vlen);
	if (r == 1 && vlen >= 2 && v[0] == '"') {
		sp = (struct json_span){ v + 1, vlen - 2, memchr(v, '\\', vlen) != NULL };
		if (json_span_decode(&sp, out) < 0)
			goto bad;
		return 0;
	}
	if (r == 0 && json_member(rec, len, "input_base64", NULL, &v, &vlen) == 1 && vlen >= 2 &&
	    v[0] == '"') {
		if (base64_decode(v + 1, vlen - 2, out) < 0)
			goto bad;
		return 0;
	}
	if (r == 0 && json_member(rec, len, "input_prefix_base64", NULL, &v, &vlen) == 1)
		return 1;
bad:
	*err = r < 0 ? "not a JSON object" : "not a dead-letter record (no \"input\" or \"input_base64\")";
	return -1;
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
