#include "checkpoint.h"
#include "buf.h"
#include "fileio.h"
#include "kvfile.h"
#include "log.h"
#include "opt.h"
#include "timeutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKPOINT_MAX_BYTES 65536

static void
copy_field(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

int
checkpoint_parse(const char *text, size_t len, struct checkpoint *cp,
		 const char **err, unsigned *line)
{
	struct checkpoint c;
	struct kv_iter it;
	const char *k, *v;
	size_t klen, vlen;
	bool have_version = false, have_lsn = false, have_seq = false;
	int r;

	memset(&c, 0, sizeof(c));
	*line = 0;
	if (memchr(text, '\0', len) != NULL) {
		*err = "contains a NUL byte: not a cdc checkpoint";
		return -1;
	}
	kv_begin(&it, text, len);
	while ((r = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
		char val[128];

		*line = it.lineno;
		if (vlen >= sizeof(val)) {
			*err = "value too long";
			return -1;
		}
		memcpy(val, v, vlen);
		val[vlen] = '\0';
		if (kv_key_is(k, klen, "version")) {
			if (strcmp(val, "1") != 0) {
				*err = "unsupported checkpoint version (this program reads version=1)";
				return -1;
			}
			have_version = true;
		} else if (kv_key_is(k, klen, "commit_lsn")) {
			if (lsn_parse(val, &c.pos.commit_lsn) < 0) {
				*err = "commit_lsn is not an LSN (X/X)";
				return -1;
			}
			have_lsn = true;
		} else if (kv_key_is(k, klen, "seq")) {
			if (parse_u64(val, 0, UINT64_MAX, &c.pos.seq) < 0) {
				*err = "seq is not an unsigned integer";
				return -1;
			}
			have_seq = true;
		} else if (kv_key_is(k, klen, "snapshot")) {
			if (strcmp(val, "true") == 0) {
				c.snapshot = true;
			} else if (strcmp(val, "false") == 0) {
				c.snapshot = false;
			} else {
				*err = "snapshot is neither true nor false";
				return -1;
			}
		} else if (kv_key_is(k, klen, "name")) {
			copy_field(c.name, sizeof(c.name), val, vlen);
		} else if (kv_key_is(k, klen, "writer")) {
			copy_field(c.writer, sizeof(c.writer), val, vlen);
		} else if (kv_key_is(k, klen, "epoch")) {
			if (parse_u64(val, 0, UINT64_MAX, &c.epoch) < 0) {
				*err = "epoch is not an unsigned integer";
				return -1;
			}
		} else if (kv_key_is(k, klen, "updated")) {
			int64_t ms;

			if (time_parse(val, &ms) == 0)
				c.updated_ms = ms;
		}
	}
	if (r < 0) {
		*line = it.lineno;
		*err = "expected key=value: not a cdc checkpoint";
		return -1;
	}
	*line = 0;
	if (!have_version) {
		*err = "no version=1 line: not a cdc checkpoint";
		return -1;
	}
	if (!have_lsn || !have_seq) {
		*err = "commit_lsn or seq missing";
		return -1;
	}
	*cp = c;
	return 0;
}

int
checkpoint_read(const char *path, struct checkpoint *cp)
{
	struct buf text = BUF_INIT;
	const char *err;
	unsigned line;
	int r = read_file(path, CHECKPOINT_MAX_BYTES, false, &text);

	if (r == 1)
		return 1;
	if (r < 0) {
		if (errno == EFBIG)
			error("checkpoint %s: larger than %d bytes: not a cdc checkpoint", path,
			      CHECKPOINT_MAX_BYTES);
		else
			error_errno("cannot read checkpoint %s", path);
		buf_release(&text);
		return -1;
	}
	r = checkpoint_parse(text.data, text.len, cp, &err, &line);
	buf_release(&text);
	if (r < 0) {
		if (line)
			return error("checkpoint %s: line %u: %s", path, line, err);
		return error("checkpoint %s: %s", path, err);
	}
	return 0;
}

/*
 * A copy of s safe on one key=value line: control characters (a newline
 * would start a line of its own, e.g. "commit_lsn=...", that every reader
 * would take) become '?'.  Names come from events' source.name.
 */
static const char *
one_line(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	return out;
}

void
checkpoint_format(const struct checkpoint *cp, struct buf *b)
{
	char pos[POS_BUFSZ], lsn[LSN_BUFSZ], when[RFC3339_BUFSZ];
	char name[sizeof(cp->name)], writer[sizeof(cp->writer)];

	one_line(cp->name, name, sizeof(name));
	one_line(cp->writer, writer, sizeof(writer));
	buf_addf(b, "# cdc checkpoint: the last position %s has made durable\n"
		 "version=1\nposition=%s\ncommit_lsn=%s\nseq=%llu\nsnapshot=%s\n"
		 "name=%s\nwriter=%s\nupdated=%s\n",
		 writer[0] ? writer : "this writer",
		 pos_format(&cp->pos, pos), lsn_format(cp->pos.commit_lsn, lsn),
		 (unsigned long long)cp->pos.seq, cp->snapshot ? "true" : "false",
		 name, writer, rfc3339_format(cp->updated_ms, when));
	if (cp->epoch)
		buf_addf(b, "epoch=%llu\n", (unsigned long long)cp->epoch);
}

int
checkpoint_write(const char *path, struct checkpoint *cp)
{
	struct buf b = BUF_INIT;
	int r;

	cp->updated_ms = now_ms();
	checkpoint_format(cp, &b);
	r = atomic_write_file(path, b.data, b.len, 0600);
	if (r < 0)
		error_errno("cannot write checkpoint %s", path);
	buf_release(&b);
	return r;
}
