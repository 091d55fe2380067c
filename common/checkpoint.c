#include "checkpoint.h"
#include "buf.h"
#include "log.h"
#include "opt.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	const char *p = text, *end = text + len;
	struct checkpoint c;
	bool have_version = false, have_lsn = false, have_seq = false;
	unsigned lineno = 0;

	memset(&c, 0, sizeof(c));
	*line = 0;
	if (memchr(text, '\0', len) != NULL) {
		*err = "contains a NUL byte: not a cdc checkpoint";
		return -1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *eq;
		char val[128];
		size_t klen, vlen;

		lineno++;
		*line = lineno;
		if (eol > p && eol[-1] == '\r')
			eol--;
		if (eol == p || *p == '#')
			goto next;
		eq = memchr(p, '=', (size_t)(eol - p));
		if (eq == NULL) {
			*err = "expected key=value: not a cdc checkpoint";
			return -1;
		}
		klen = (size_t)(eq - p);
		vlen = (size_t)(eol - eq - 1);
		if (vlen >= sizeof(val)) {
			*err = "value too long";
			return -1;
		}
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(p, lit, klen) == 0)
		if (KEY("version")) {
			if (strcmp(val, "1") != 0) {
				*err = "unsupported checkpoint version (this program reads version=1)";
				return -1;
			}
			have_version = true;
		} else if (KEY("commit_lsn")) {
			if (lsn_parse(val, &c.pos.commit_lsn) < 0) {
				*err = "commit_lsn is not an LSN (X/X)";
				return -1;
			}
			have_lsn = true;
		} else if (KEY("seq")) {
			if (parse_u64(val, 0, UINT64_MAX, &c.pos.seq) < 0) {
				*err = "seq is not an unsigned integer";
				return -1;
			}
			have_seq = true;
		} else if (KEY("snapshot")) {
			if (strcmp(val, "true") == 0)
				c.snapshot = true;
			else if (strcmp(val, "false") == 0)
				c.snapshot = false;
			else {
				*err = "snapshot is neither true nor false";
				return -1;
			}
		} else if (KEY("name")) {
			copy_field(c.name, sizeof(c.name), val, vlen);
		} else if (KEY("writer")) {
			copy_field(c.writer, sizeof(c.writer), val, vlen);
		} else if (KEY("updated")) {
			int64_t ms;

			if (time_parse(val, &ms) == 0)
				c.updated_ms = ms;
		}
#undef KEY
next:
		p = nl ? nl + 1 : end;
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
	char text[CHECKPOINT_MAX_BYTES];
	size_t len = 0;
	const char *err;
	unsigned line;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return error_errno("cannot open checkpoint %s", path);
	}
	for (;;) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			error_errno("cannot read checkpoint %s", path);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(text)) {
			close(fd);
			return error("checkpoint %s: larger than %d bytes: not a cdc checkpoint",
				     path, CHECKPOINT_MAX_BYTES);
		}
	}
	close(fd);
	if (checkpoint_parse(text, len, cp, &err, &line) < 0) {
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

static int
fsync_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	int fd, r;

	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
atomic_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	struct buf tmp = BUF_INIT;
	const char *p = data;
	int fd, saved;

	buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail_close;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail_close;
	if (close(fd) < 0) {
		fd = -1;
		goto fail_unlink;
	}
	if (rename(tmp.data, path) < 0)
		goto fail_unlink;
	buf_release(&tmp);
	return fsync_dir_of(path);
fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp.data);
	errno = saved;
fail:
	buf_release(&tmp);
	return -1;
}
