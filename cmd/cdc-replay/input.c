#include "input.h"
#include "log.h"
#include "segment.h"
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Hold a frame's lines until its checksum is verified, up to this much. */
#define HOLD_MAX ((size_t)8 << 20)
#define PLAIN_CHUNK (256 * 1024)

enum pump {
	PUMP_FRAME,		/* one frame done (one_frame mode) */
	PUMP_EOF,		/* input ended at a frame boundary */
	PUMP_PARTIAL,		/* input ended inside a frame */
	PUMP_STOP,		/* stop replay (em->status) */
};

void
reader_free(struct reader *rd)
{
	buf_release(&rd->data);
}

static int
stop(struct reader *rd, int status)
{
	rd->em->status = status;
	return -1;
}

/* Sleep for --poll-interval; -1 when a signal asks us to stop. */
static int
poll_sleep(struct reader *rd)
{
	struct timespec ts = { .tv_sec = rd->poll_ms / 1000, .tv_nsec = rd->poll_ms % 1000 * 1000000 };

	if (emit_flush(rd->em) < 0)
		return -1;
	nanosleep(&ts, NULL);
	if (cdc_stop)
		return stop(rd, CDC_EXIT_OK);
	return 0;
}

/* A damaged or truncated frame: stop (exit 65), or with --skip-corrupt report it and drop it. */
static int
damaged(struct reader *rd, const char *name, uint64_t off, const char *what)
{
	if (!rd->skip_corrupt) {
		error("%s: offset %llu: %s", name, (unsigned long long)off, what);
		if (emit_flush(rd->em) < 0)
			return -1;
		return stop(rd, CDC_EXIT_DATAERR);
	}
	warning("%s: offset %llu: %s: frame skipped%s", name, (unsigned long long)off, what,
		rd->frame_emitted ? " (its first part was already output)" : "");
	rd->damaged++;
	rd->frame_emitted = false;
	emit_drop_partial(rd->em, &rd->data);
	return 0;
}

/* Decode frames from r and emit their lines: one frame, or up to the end of the input. */
static enum pump
pump(struct reader *rd, struct lz4r *r, const char *name, bool one_frame)
{
	for (;;) {
		enum lz4r_status st = lz4r_read(r, &rd->data, HOLD_MAX);

		switch (st) {
		case LZ4R_FRAME:
			rd->frame_emitted = false;
			if (emit_lines(rd->em, &rd->data, false) < 0)
				return PUMP_STOP;
			if (one_frame)
				return PUMP_FRAME;
			break;
		case LZ4R_MORE:
			/* A big frame: its lines go out before its checksum is seen. */
			rd->frame_emitted = true;
			if (emit_lines(rd->em, &rd->data, false) < 0)
				return PUMP_STOP;
			break;
		case LZ4R_EOF:
			return PUMP_EOF;
		case LZ4R_PARTIAL:
			return PUMP_PARTIAL;
		case LZ4R_INTR:
			if (cdc_stop) {
				stop(rd, CDC_EXIT_OK);
				return PUMP_STOP;
			}
			break;
		case LZ4R_IOERR:
			error_errno("read error on %s", name);
			stop(rd, CDC_EXIT_FAILURE);
			return PUMP_STOP;
		case LZ4R_CORRUPT:
			if (damaged(rd, name, r->err_off, r->err) < 0)
				return PUMP_STOP;
			do {
				st = lz4r_resync(r);
			} while (st == LZ4R_INTR && !cdc_stop);
			if (st == LZ4R_IOERR) {
				error_errno("read error on %s", name);
				stop(rd, CDC_EXIT_FAILURE);
				return PUMP_STOP;
			}
			if (one_frame)
				return PUMP_FRAME;
			break;
		}
	}
}

/* The input ended inside a frame and will not grow: that frame is damaged. */
static int
truncated(struct reader *rd, struct lz4r *r, const char *name)
{
	return damaged(rd, name, r->frame_off, "truncated lz4 frame");
}

/* --- plain text --- */

static int
replay_plain(struct reader *rd, int fd, const char *name, bool follow)
{
	struct stat st;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	uint64_t off = rd->data.len;

	for (;;) {
		ssize_t n;

		if (!regular) {
			/* About to wait on a pipe: pass on what we have first. */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (poll(&pfd, 1, 0) == 0 && emit_flush(rd->em) < 0)
				return -1;
		}
		buf_grow(&rd->data, PLAIN_CHUNK);
		n = read(fd, rd->data.data + rd->data.len, buf_avail(&rd->data));
		if (n < 0) {
			if (errno == EINTR) {
				if (cdc_stop)
					return stop(rd, CDC_EXIT_OK);
				continue;
			}
			error_errno("read error on %s", name);
			return stop(rd, CDC_EXIT_FAILURE);
		}
		if (n > 0) {
			buf_setlen(&rd->data, rd->data.len + (size_t)n);
			off += (uint64_t)n;
			if (emit_lines(rd->em, &rd->data, false) < 0)
				return -1;
			continue;
		}
		if (!follow || !regular)
			break;
		if (rd->em->past_end)
			return 0;
		if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < off) {
			warning("%s: file truncated, reading it from the start", name);
			lseek(fd, 0, SEEK_SET);
			off = 0;
			emit_drop_partial(rd->em, &rd->data);
		}
		if (poll_sleep(rd) < 0)
			return -1;
	}
	return emit_lines(rd->em, &rd->data, true);
}

/* --- a stream of lz4 frames (a file, or standard input) --- */

static int
replay_lz4(struct reader *rd, int fd, const char *name, bool follow, const void *head, size_t n)
{
	struct lz4r r;
	int ret = 0;

	lz4r_init(&r, fd, 0, head, n);
	for (;;) {
		enum pump p = pump(rd, &r, name, false);

		if (p == PUMP_STOP) {
			ret = -1;
			break;
		}
		if (follow && !rd->em->past_end) {
			struct stat st;

			if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < lz4r_offset(&r)) {
				warning("%s: file truncated, reading it from the start", name);
				lz4r_seek(&r, 0);
				emit_drop_partial(rd->em, &rd->data);
			}
			if (poll_sleep(rd) < 0) {
				ret = -1;
				break;
			}
			continue;
		}
		if (p == PUMP_PARTIAL && truncated(rd, &r, name) < 0)
			ret = -1;
		break;
	}
	if (ret == 0)
		ret = emit_lines(rd->em, &rd->data, true);
	lz4r_free(&r);
	return ret;
}

/* Read a file's first bytes and pick the plain or the lz4 reader. */
static int
replay_fd(struct reader *rd, int fd, const char *name, bool follow)
{
	unsigned char head[4];
	size_t got = 0;

	emit_begin_input(rd->em, name, false);
	buf_reset(&rd->data);
	while (got < sizeof(head)) {
		ssize_t n = read(fd, head + got, sizeof(head) - got);

		if (n < 0 && errno == EINTR && !cdc_stop)
			continue;
		if (n < 0 && errno == EINTR)
			return stop(rd, CDC_EXIT_OK);
		if (n < 0) {
			error_errno("read error on %s", name);
			return stop(rd, CDC_EXIT_FAILURE);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	switch (lz4_detect(head, got)) {
	case LZ4_KIND_FRAME:
		return replay_lz4(rd, fd, name, follow, head, got);
	case LZ4_KIND_LEGACY:
		error("%s: the legacy lz4 format (lz4 -l) is not supported", name);
		return stop(rd, CDC_EXIT_DATAERR);
	case LZ4_KIND_NONE:
		break;
	}
	buf_add(&rd->data, head, got);
	return replay_plain(rd, fd, name, follow);
}

/* --- cdc-record directories --- */

struct segment {
	int fd;
	struct lz4r r;
	struct buf path;
	uint64_t seq;
};

static int
segment_open(struct reader *rd, struct segment *s, const char *dir, const struct seg_file *f)
{
	buf_reset(&s->path);
	buf_addf(&s->path, "%s/%s", dir, f->name);
	s->fd = open(s->path.data, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		error_errno("cannot open %s", s->path.data);
		return stop(rd, CDC_EXIT_FAILURE);
	}
	s->seq = f->seq;
	lz4r_init(&s->r, s->fd, 0, NULL, 0);
	emit_begin_input(rd->em, s->path.data, true);
	buf_reset(&rd->data);
	rd->frame_emitted = false;
	return 0;
}

static void
segment_close(struct segment *s)
{
	if (s->fd < 0)
		return;
	lz4r_free(&s->r);
	close(s->fd);
	s->fd = -1;
}

/*
 * Read a segment from the start: with a range, the indexed frames that may
 * match it and then the part the index does not cover; else all of it.
 */
static enum pump
segment_read(struct reader *rd, struct segment *s)
{
	struct seg_entry *v = NULL;
	struct stat st;
	long n = 0;

	if (rd->use_index && fstat(s->fd, &st) == 0) {
		struct buf idx = BUF_INIT;

		buf_addf(&idx, "%s.idx", s->path.data);
		n = seg_index_load(idx.data, (uint64_t)st.st_size, &v);
		buf_release(&idx);
		if (n < 0)
			n = 0;
	}
	for (long i = 0; i < n; i++) {
		enum pump p;

		if (!seg_entry_may_match(&v[i], &rd->em->range)) {
			rd->frames_skipped++;
			continue;
		}
		if (lz4r_offset(&s->r) != v[i].off && lz4r_seek(&s->r, v[i].off) < 0)
			break;
		p = pump(rd, &s->r, s->path.data, true);
		if (p == PUMP_STOP) {
			free(v);
			return PUMP_STOP;
		}
		if (p != PUMP_FRAME)
			break;
	}
	if (n > 0) {
		uint64_t end = v[n - 1].off + v[n - 1].clen;

		if (lz4r_offset(&s->r) < end && lz4r_seek(&s->r, end) < 0) {
			free(v);
			error_errno("cannot seek in %s", s->path.data);
			stop(rd, CDC_EXIT_FAILURE);
			return PUMP_STOP;
		}
	}
	free(v);
	return pump(rd, &s->r, s->path.data, false);
}

/* The segment after seq in dir (any when !after): 1 found, 0 none, -1 error. */
static int
next_segment(struct reader *rd, const char *dir, bool after, uint64_t seq, struct seg_file *out)
{
	struct seg_file *v;
	int n = seg_list(dir, &v), found = 0;

	if (n < 0) {
		error_errno("cannot read directory %s", dir);
		return stop(rd, CDC_EXIT_FAILURE);
	}
	for (int i = 0; i < n; i++) {
		if (!after || v[i].seq > seq) {
			*out = v[i];
			found = 1;
			break;
		}
	}
	free(v);
	return found;
}

static int
replay_dir(struct reader *rd, const char *dir, bool follow)
{
	struct segment s = { .fd = -1, .path = BUF_INIT };
	struct seg_file f;
	bool have = false;
	int ret = 0;

	for (;;) {
		enum pump p = PUMP_EOF;
		int nx;

		if (have) {
			p = pump(rd, &s.r, s.path.data, false);
			if (p == PUMP_STOP) {
				ret = -1;
				break;
			}
		}
		nx = next_segment(rd, dir, have, s.seq, &f);
		if (nx < 0) {
			ret = -1;
			break;
		}
		if (have && nx > 0 && p == PUMP_PARTIAL) {
			/* A newer segment exists, so this one is complete: read what came meanwhile. */
			p = pump(rd, &s.r, s.path.data, false);
			if (p == PUMP_STOP) {
				ret = -1;
				break;
			}
		}
		if (have && (nx > 0 || !follow) && p == PUMP_PARTIAL) {
			if (nx == 0) {
				/* The last segment of a live log: its writer is mid-frame. */
				info(1, "%s: incomplete frame at offset %llu left for later", s.path.data,
				     (unsigned long long)s.r.frame_off);
			} else if (follow) {
				/* A recorder restarted and cut this torn tail. */
				info(1, "%s: torn tail at offset %llu dropped", s.path.data,
				     (unsigned long long)s.r.frame_off);
			} else if (truncated(rd, &s.r, s.path.data) < 0) {
				ret = -1;
				break;
			}
			emit_drop_partial(rd->em, &rd->data);
		}
		if (nx > 0) {
			if (have && emit_lines(rd->em, &rd->data, true) < 0) {
				ret = -1;
				break;
			}
			segment_close(&s);
			if (segment_open(rd, &s, dir, &f) < 0) {
				ret = -1;
				break;
			}
			have = true;
			p = segment_read(rd, &s);
			if (p == PUMP_STOP) {
				ret = -1;
				break;
			}
			continue;
		}
		if (!have && !follow)
			warning("%s: no cdc-record segments in this directory", dir);
		if (!follow || rd->em->past_end)
			break;
		if (poll_sleep(rd) < 0) {
			ret = -1;
			break;
		}
	}
	if (ret == 0 && have)
		ret = emit_lines(rd->em, &rd->data, true);
	segment_close(&s);
	buf_release(&s.path);
	return ret;
}

int
replay_arg(struct reader *rd, const char *arg, bool follow)
{
	struct stat st;
	int fd, ret;

	if (strcmp(arg, "-") == 0)
		return replay_fd(rd, STDIN_FILENO, "standard input", false);
	if (stat(arg, &st) < 0) {
		error_errno("cannot open %s", arg);
		return stop(rd, CDC_EXIT_FAILURE);
	}
	if (S_ISDIR(st.st_mode))
		return replay_dir(rd, arg, follow);
	fd = open(arg, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error_errno("cannot open %s", arg);
		return stop(rd, CDC_EXIT_FAILURE);
	}
	ret = replay_fd(rd, fd, arg, follow);
	close(fd);
	return ret;
}
