#include "segment.h"
#include "log.h"
#include "opt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4frame.h>

#define LZ4R_IN_CAP (256 * 1024)
/* LZ4F decodes a block straight into out only when a whole block (up to 4 MiB) fits. */
#define LZ4R_OUT_ROOM ((4 << 20) + 65536)

/* --- names --- */

char *
seg_name_format(uint64_t seq, uint64_t first_lsn, char *out)
{
	snprintf(out, SEG_NAME_BUFSZ, "cdc-%010" PRIu64 "-%016" PRIX64 ".lz4", seq, first_lsn);
	return out;
}

int
seg_name_parse(const char *name, uint64_t *seq, uint64_t *first_lsn)
{
	uint64_t s = 0, l = 0;
	const char *p = name;

	/* cdc- 10 digits - 16 hex .lz4: exactly 35 characters. */
	if (strlen(name) != 35 || strncmp(p, "cdc-", 4) != 0 || p[14] != '-' ||
	    strcmp(p + 31, ".lz4") != 0)
		return -1;
	for (p = name + 4; p < name + 14; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		s = s * 10 + (uint64_t)(*p - '0');
	}
	for (p = name + 15; p < name + 31; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return -1;
		l = l << 4 | (uint64_t)d;
	}
	*seq = s;
	*first_lsn = l;
	return 0;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct seg_file *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
seg_list(const char *dir, struct seg_file **out)
{
	struct seg_file *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct seg_file f;

		if (seg_name_parse(de->d_name, &f.seq, &f.first_lsn) < 0)
			continue;
		memcpy(f.name, de->d_name, strlen(de->d_name) + 1);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = f;
	}
	if (errno) {
		int saved = errno;

		closedir(d);
		free(v);
		errno = saved;
		return -1;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), seg_cmp);
	*out = v;
	return (int)n;
}

/* --- index --- */

void
seg_entry_clear(struct seg_entry *e)
{
	e->ulen = 0;
	e->lines = 0;
	e->has_pos = false;
	e->has_ts = false;
	memset(&e->min_pos, 0, sizeof(e->min_pos));
	memset(&e->max_pos, 0, sizeof(e->max_pos));
	e->min_ts = e->max_ts = 0;
}

void
seg_entry_add(struct seg_entry *e, size_t ulen, const struct event_info *ev)
{
	e->ulen += ulen;
	e->lines++;
	if (ev == NULL)
		return;
	if (ev->has_pos) {
		if (!e->has_pos) {
			e->min_pos = e->max_pos = ev->pos;
			e->has_pos = true;
		} else if (pos_cmp(&ev->pos, &e->min_pos) < 0) {
			e->min_pos = ev->pos;
		} else if (pos_cmp(&ev->pos, &e->max_pos) > 0) {
			e->max_pos = ev->pos;
		}
	}
	if (ev->has_ts) {
		if (!e->has_ts) {
			e->min_ts = e->max_ts = ev->ts_ms;
			e->has_ts = true;
		} else if (ev->ts_ms < e->min_ts) {
			e->min_ts = ev->ts_ms;
		} else if (ev->ts_ms > e->max_ts) {
			e->max_ts = ev->ts_ms;
		}
	}
}

void
seg_entry_format(const struct seg_entry *e, struct buf *b)
{
	char p1[POS_BUFSZ], p2[POS_BUFSZ];

	buf_addf(b, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ", e->off, e->clen,
		 e->ulen, e->lines);
	if (e->has_pos)
		buf_addf(b, "%s %s ", pos_format(&e->min_pos, p1), pos_format(&e->max_pos, p2));
	else
		buf_adds(b, "- - ");
	if (e->has_ts)
		buf_addf(b, "%" PRId64 " %" PRId64 "\n", e->min_ts, e->max_ts);
	else
		buf_adds(b, "- -\n");
}

/* Split the next space-separated field of [*p, end) into f (NUL-terminated, size fsz). */
static int
next_field(const char **p, const char *end, char *f, size_t fsz)
{
	const char *s = *p, *e;

	e = memchr(s, ' ', (size_t)(end - s));
	if (e == NULL)
		e = end;
	if (e == s || (size_t)(e - s) >= fsz)
		return -1;
	memcpy(f, s, (size_t)(e - s));
	f[e - s] = '\0';
	*p = e < end ? e + 1 : e;
	return 0;
}

static int
parse_i64_field(const char *f, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(f, &end, 10);
	if (errno || end == f || *end)
		return -1;
	*out = v;
	return 0;
}

int
seg_entry_parse(const char *line, size_t len, struct seg_entry *e)
{
	const char *p = line, *end = line + len;
	char f[8][POS_BUFSZ];

	for (int i = 0; i < 8; i++)
		if (next_field(&p, end, f[i], sizeof(f[i])) < 0)
			return -1;
	if (p != end)
		return -1;
	if (parse_u64(f[0], 0, UINT64_MAX, &e->off) < 0 ||
	    parse_u64(f[1], 1, UINT64_MAX, &e->clen) < 0 ||
	    parse_u64(f[2], 0, UINT64_MAX, &e->ulen) < 0 ||
	    parse_u64(f[3], 0, UINT64_MAX, &e->lines) < 0)
		return -1;
	e->has_pos = strcmp(f[4], "-") != 0;
	if (e->has_pos != (strcmp(f[5], "-") != 0))
		return -1;
	if (e->has_pos && (pos_parse(f[4], &e->min_pos) < 0 || pos_parse(f[5], &e->max_pos) < 0))
		return -1;
	e->has_ts = strcmp(f[6], "-") != 0;
	if (e->has_ts != (strcmp(f[7], "-") != 0))
		return -1;
	if (e->has_ts && (parse_i64_field(f[6], &e->min_ts) < 0 ||
			  parse_i64_field(f[7], &e->max_ts) < 0))
		return -1;
	return 0;
}

long
seg_index_load(const char *path, uint64_t file_size, struct seg_entry **out)
{
	struct buf b = BUF_INIT;
	struct seg_entry *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t next = 0;
	char chunk[65536];
	const char *p, *end;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;

			close(fd);
			buf_release(&b);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		buf_add(&b, chunk, (size_t)r);
	}
	close(fd);
	if (b.len == 0)
		return 0;
	p = b.data;
	end = b.data + b.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct seg_entry e;

		if (nl == NULL)
			break;	/* torn last line */
		if (*p == '#') {
			p = nl + 1;
			continue;
		}
		if (seg_entry_parse(p, (size_t)(nl - p), &e) < 0 || e.off != next ||
		    e.clen > file_size - e.off || e.off > file_size)
			break;
		next = e.off + e.clen;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = e;
		p = nl + 1;
	}
	buf_release(&b);
	*out = v;
	return (long)n;
}

bool
seg_entry_may_match(const struct seg_entry *e, const struct seg_range *r)
{
	if (r->has_from || r->has_to) {
		if (!e->has_pos)
			return false;
		if (r->has_from && pos_cmp(&e->max_pos, &r->from) < 0)
			return false;
		if (r->has_to && pos_cmp(&e->min_pos, &r->to) > 0)
			return false;
	}
	if (r->has_since || r->has_until) {
		if (!e->has_ts)
			return false;
		if (r->has_since && e->max_ts < r->since)
			return false;
		if (r->has_until && e->min_ts > r->until)
			return false;
	}
	return true;
}

/* --- lz4 frames --- */

static uint32_t
read_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool
is_frame_magic(uint32_t m)
{
	return m == LZ4F_MAGICNUMBER || (m & 0xFFFFFFF0U) == LZ4F_MAGIC_SKIPPABLE_START;
}

enum lz4_kind
lz4_detect(const void *p, size_t n)
{
	uint32_t m;

	if (n < 4)
		return LZ4_KIND_NONE;
	m = read_le32(p);
	if (is_frame_magic(m))
		return LZ4_KIND_FRAME;
	if (m == 0x184C2102U)
		return LZ4_KIND_LEGACY;
	return LZ4_KIND_NONE;
}

void
lz4r_init(struct lz4r *r, int fd, uint64_t off, const void *prefix, size_t n)
{
	LZ4F_dctx *dctx;

	memset(r, 0, sizeof(*r));
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		die("cannot create an lz4 decompression context");
	r->dctx = dctx;
	r->fd = fd;
	r->in_cap = LZ4R_IN_CAP > n ? LZ4R_IN_CAP : n;
	r->in = xmalloc(r->in_cap);
	if (n)
		memcpy(r->in, prefix, n);
	r->in_end = n;
	r->base_off = off;
}

void
lz4r_free(struct lz4r *r)
{
	if (r->dctx)
		LZ4F_freeDecompressionContext(r->dctx);
	free(r->in);
	r->dctx = NULL;
	r->in = NULL;
}

void
lz4r_set_idle(struct lz4r *r, void (*fn)(void *), void *arg)
{
	r->idle = fn;
	r->idle_arg = arg;
}

int
lz4r_frame_checks(struct lz4r *r, bool *content, bool *block)
{
	LZ4F_frameInfo_t info;
	size_t none = 0;

	memset(&info, 0, sizeof(info));
	if (LZ4F_isError(LZ4F_getFrameInfo(r->dctx, &info, NULL, &none)))
		return -1;
	*content = info.contentChecksumFlag == LZ4F_contentChecksumEnabled;
	*block = info.blockChecksumFlag == LZ4F_blockChecksumEnabled;
	return 0;
}

uint64_t
lz4r_offset(const struct lz4r *r)
{
	return r->base_off + r->in_pos;
}

int
lz4r_seek(struct lz4r *r, uint64_t off)
{
	if (lseek(r->fd, (off_t)off, SEEK_SET) < 0)
		return -1;
	LZ4F_resetDecompressionContext(r->dctx);
	r->in_pos = r->in_end = 0;
	r->base_off = off;
	r->in_frame = false;
	return 0;
}

/* Read more input after in_end (reclaiming consumed space).  Returns bytes read, 0 at EOF, -1. */
static ssize_t
refill(struct lz4r *r)
{
	ssize_t n;

	if (r->in_pos == r->in_end) {
		r->base_off += r->in_pos;
		r->in_pos = r->in_end = 0;
	} else if (r->in_end == r->in_cap) {
		memmove(r->in, r->in + r->in_pos, r->in_end - r->in_pos);
		r->base_off += r->in_pos;
		r->in_end -= r->in_pos;
		r->in_pos = 0;
	}
	if (r->idle) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 0)
			r->idle(r->idle_arg);
	}
	n = read(r->fd, r->in + r->in_end, r->in_cap - r->in_end);
	if (n > 0)
		r->in_end += (size_t)n;
	return n;
}

/*
 * A plain message for an LZ4F error code.  The error enum is only in the
 * library's static API, so this goes by the error's name.
 */
static const char *
lz4_error_text(size_t code)
{
	static const struct {
		const char *name;
		const char *text;
	} map[] = {
		{ "contentChecksum_invalid", "content checksum mismatch" },
		{ "blockChecksum_invalid", "block checksum mismatch" },
		{ "headerChecksum_invalid", "frame header checksum mismatch" },
		{ "frameType_unknown", "not an lz4 frame (bad magic number)" },
		{ "decompressionFailed", "corrupt lz4 block" },
		{ "frameSize_wrong", "frame content size mismatch" },
		{ "maxBlockSize_invalid", "corrupt lz4 block header" },
		{ "blockMode_invalid", "corrupt lz4 frame header" },
		{ "reservedFlag_set", "corrupt lz4 frame header" },
		{ "headerVersion_wrong", "corrupt lz4 frame header" },
		{ "parameter_invalid", "corrupt lz4 frame header" },
	};
	const char *name = LZ4F_getErrorName(code);

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(name, map[i].name))
			return map[i].text;
	return "corrupt lz4 frame";
}

enum lz4r_status
lz4r_read(struct lz4r *r, struct buf *out, size_t max_out)
{
	size_t start = out->len;

	for (;;) {
		size_t dst, src, hint;

		if (r->in_pos == r->in_end) {
			ssize_t n = refill(r);

			if (n < 0)
				return errno == EINTR ? LZ4R_INTR : LZ4R_IOERR;
			if (n == 0)
				return r->in_frame ? LZ4R_PARTIAL : LZ4R_EOF;
		}
		if (!r->in_frame) {
			r->frame_off = r->base_off + r->in_pos;
			r->in_frame = true;
		}
		if (buf_avail(out) < LZ4R_OUT_ROOM)
			buf_grow(out, LZ4R_OUT_ROOM);
		dst = buf_avail(out);
		src = r->in_end - r->in_pos;
		hint = LZ4F_decompress(r->dctx, out->data + out->len, &dst, r->in + r->in_pos, &src,
				       NULL);
		r->in_pos += src;
		out->len += dst;
		out->data[out->len] = '\0';
		if (LZ4F_isError(hint)) {
			r->err = lz4_error_text(hint);
			r->err_off = r->frame_off;
			r->in_frame = false;
			/* Never resync onto the damaged frame's own magic number. */
			if (lz4r_offset(r) <= r->frame_off)
				r->in_pos = (size_t)(r->frame_off + 1 - r->base_off);
			LZ4F_resetDecompressionContext(r->dctx);
			return LZ4R_CORRUPT;
		}
		if (hint == 0) {
			r->in_frame = false;
			return LZ4R_FRAME;
		}
		if (out->len - start >= max_out)
			return LZ4R_MORE;
	}
}

enum lz4r_status
lz4r_resync(struct lz4r *r)
{
	for (;;) {
		while (r->in_end - r->in_pos >= 4) {
			if (is_frame_magic(read_le32(r->in + r->in_pos)))
				return LZ4R_FRAME;
			r->in_pos++;
		}
		/* Keep the last (up to 3) bytes: a magic number may straddle reads. */
		ssize_t n = refill(r);

		if (n < 0)
			return errno == EINTR ? LZ4R_INTR : LZ4R_IOERR;
		if (n == 0) {
			r->in_pos = r->in_end;
			return LZ4R_EOF;
		}
	}
}

int64_t
seg_scan_frames(int fd, seg_frame_fn *fn, void *arg, const char **why)
{
	struct buf out = BUF_INIT;
	struct lz4r r;
	int64_t good = 0;

	*why = NULL;
	lz4r_init(&r, fd, 0, NULL, 0);
	if (lz4r_seek(&r, 0) < 0) {
		lz4r_free(&r);
		return -1;
	}
	for (;;) {
		enum lz4r_status st = lz4r_read(&r, &out, SIZE_MAX);

		if (st == LZ4R_INTR)
			continue;
		if (st == LZ4R_FRAME) {
			uint64_t end = lz4r_offset(&r);

			if (fn)
				fn(arg, (uint64_t)good, end - (uint64_t)good, out.data, out.len);
			good = (int64_t)end;
			buf_reset(&out);
			continue;
		}
		if (st == LZ4R_PARTIAL)
			*why = "truncated lz4 frame";
		else if (st == LZ4R_CORRUPT)
			*why = r.err;
		else if (st == LZ4R_IOERR)
			good = -1;
		break;
	}
	lz4r_free(&r);
	buf_release(&out);
	return good;
}
