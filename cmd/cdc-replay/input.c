#include "input.h"
#include "deadletter.h"
#include "fileio.h"
#include "linereader.h"
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

/*
 * A frame's decoded bytes are held until its checksum is verified: in
 * memory up to HOLD_MAX.  Beyond that, a frame of an lz4 file whose
 * content checksum is its only check is written as it is decoded (as
 * lz4 -dc does); with --verify-first, and always in a cdc-record segment,
 * it is held in an unlinked temporary file read back in SPILL_CHUNK
 * pieces once the frame is verified (see must_hold()).
 */
#define HOLD_MAX ((size_t)8 << 20)
#define SPILL_CHUNK ((size_t)1 << 20)
#define PLAIN_CHUNK (256 * 1024)

enum pump {
	PUMP_FRAME,		/* one frame done (one_frame mode) */
	PUMP_EOF,		/* input ended at a frame boundary */
	PUMP_PARTIAL,		/* input ended inside a frame */
	PUMP_STOP,		/* stop replay (em->status) */
	PUMP_MISMATCH,		/* (rd->expect) not the frame the index describes: nothing emitted */
};

void
reader_init(struct reader *rd)
{
	rd->spill_fd = -1;
}

void
reader_free(struct reader *rd)
{
	buf_release(&rd->data);
	buf_release(&rd->tail);
	buf_release(&rd->partial);
	if (rd->spill_fd >= 0)
		close(rd->spill_fd);
	rd->spill_fd = -1;
	free(rd->done);
	rd->done = NULL;
}

static int
stop(struct reader *rd, int status)
{
	rd->em->status = status;
	return -1;
}

/* The writer flushes when the input is idle (the lz4 reader's hook). */
static void
idle_flush(void *arg)
{
	struct reader *rd = arg;

	/* A failed write is sticky: the next emit reports it. */
	emit_flush(rd->em);
}

/* Sleep for --poll-interval; -1 when a signal asks us to stop. */
static int
poll_sleep(struct reader *rd)
{
	struct timespec ts = { .tv_sec = rd->poll_ms / 1000, .tv_nsec = rd->poll_ms % 1000 * 1000000 };

	if (emit_flush(rd->em) < 0)
		return -1;
	/* The next stage is gone: following on would only feed a closed pipe. */
	if (fd_reader_gone(STDOUT_FILENO))
		return stop(rd, CDC_EXIT_PIPE);
	nanosleep(&ts, NULL);
	if (cdc_stop)
		return stop(rd, CDC_EXIT_OK);
	return 0;
}

/* --- holding a frame until it is verified --- */

static void
spill_drop(struct reader *rd)
{
	if (rd->spill_len > 0 && ftruncate(rd->spill_fd, 0) == 0)
		rd->spill_len = 0;
	rd->spill_len = 0;
}

/* Forget the current frame and any unfinished line (a seek, a damaged frame, a truncated file). */
static void
forget(struct reader *rd)
{
	emit_drop_partial(rd->em, &rd->data);
	spill_drop(rd);
	rd->hold_from = 0;
	rd->frame_emitted = false;
	buf_reset(&rd->partial);
}

static const char *
tmp_dir(void)
{
	const char *d = getenv("TMPDIR");

	return d && *d ? d : "/tmp";
}

/* Move what data holds to the temporary file (made on first use). */
static int
spill(struct reader *rd)
{
	if (rd->spill_fd < 0) {
		struct buf path = BUF_INIT;

		buf_addf(&path, "%s/cdc-replay.XXXXXX", tmp_dir());
		rd->spill_fd = mkstemp(path.data);
		if (rd->spill_fd < 0) {
			error_errno("cannot create a temporary file in %s to hold a large lz4 frame "
				    "until its checksum is verified", tmp_dir());
			buf_release(&path);
			return stop(rd, CDC_EXIT_FAILURE);
		}
		unlink(path.data);
		buf_release(&path);
		fcntl(rd->spill_fd, F_SETFD, FD_CLOEXEC);
	}
	if (rd->spill_len == 0 && lseek(rd->spill_fd, 0, SEEK_SET) < 0)
		goto fail;
	if (write_all(rd->spill_fd, rd->data.data, rd->data.len) < 0)
		goto fail;
	rd->spill_len += rd->data.len;
	buf_reset(&rd->data);
	rd->hold_from = 0;
	return 0;
fail:
	error_errno("cannot write the temporary file in %s holding a large lz4 frame", tmp_dir());
	return stop(rd, CDC_EXIT_FAILURE);
}

/* The held frame is verified: emit it, its part in the temporary file first. */
static int
release(struct reader *rd)
{
	if (rd->spill_len > 0) {
		uint64_t left = rd->spill_len;

		buf_reset(&rd->tail);
		buf_add(&rd->tail, rd->data.data, rd->data.len);
		buf_reset(&rd->data);
		if (lseek(rd->spill_fd, 0, SEEK_SET) < 0) {
			error_errno("cannot read back the temporary file in %s", tmp_dir());
			return stop(rd, CDC_EXIT_FAILURE);
		}
		while (left > 0) {
			size_t want = left < SPILL_CHUNK ? (size_t)left : SPILL_CHUNK;
			ssize_t n;

			buf_grow(&rd->data, want);
			n = read(rd->spill_fd, rd->data.data + rd->data.len, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0)
					errno = EIO;
				error_errno("cannot read back the temporary file in %s", tmp_dir());
				return stop(rd, CDC_EXIT_FAILURE);
			}
			buf_setlen(&rd->data, rd->data.len + (size_t)n);
			left -= (uint64_t)n;
			if (emit_lines(rd->em, &rd->data, false) < 0)
				return -1;
		}
		spill_drop(rd);
		buf_add(&rd->data, rd->tail.data, rd->tail.len);
	}
	if (emit_lines(rd->em, &rd->data, false) < 0)
		return -1;
	rd->hold_from = rd->data.len;
	rd->frame_emitted = false;
	return 0;
}

/* Drop the held frame unseen (it is not the one the index promised, or it went out before). */
static void
drop_held(struct reader *rd)
{
	if (rd->spill_len > 0) {
		spill_drop(rd);
		buf_reset(&rd->data);
	} else {
		buf_setlen(&rd->data, rd->hold_from);
	}
	rd->hold_from = rd->data.len;
	rd->frame_emitted = false;
	buf_reset(&rd->partial);
}

/*
 * Must the frame being decoded be held until its end?  In a cdc-record
 * segment (whose lines go out unchecked on the strength of the checksum)
 * and with --verify-first, when its content checksum is the only check;
 * with block checksums each block is verified before it is decoded, and
 * without any checksum there is nothing to wait for.
 */
static bool
must_hold(struct reader *rd, struct lz4r *r)
{
	bool content, block;

	if (!rd->verify_first && !rd->em->trusted)
		return false;
	if (lz4r_frame_checks(r, &content, &block) < 0)
		return true;
	return content && !block;
}

/* --- checking a frame read through the index against its entry --- */

/*
 * Account one line of the frame.  Only the frame's first and last lines
 * are scanned for their position and time: the frame's checksum has
 * proved its bytes are the ones cdc-record wrote, so sizes, the line count
 * and the ends of the frame are enough to tell that the entry is this
 * frame's, without scanning every line again.
 */
static void
see_line(struct reader *rd, const char *line, size_t len, bool last)
{
	struct event_info ev;
	const char *err;
	bool scanned = (rd->seen.lines == 0 || last) && event_scan(line, len, &ev, &err) == 0;

	seg_entry_add(&rd->seen, len + 1, scanned ? &ev : NULL);
}

/* Account the lines of the held part [p, p + n) of the frame; final: the frame ends there. */
static void
see_lines(struct reader *rd, const char *p, size_t n, bool final)
{
	const char *end = p + n, *nl;

	if (rd->partial.len > 0) {
		size_t k;

		nl = memchr(p, '\n', n);
		k = nl ? (size_t)(nl - p) : n;
		if (rd->partial.len + k <= rd->expect->ulen)
			buf_add(&rd->partial, p, k);
		else
			rd->seen_bad = true;
		p += k;
		if (nl == NULL && !final)
			return;
		see_line(rd, rd->partial.data, rd->partial.len, final && (nl == NULL || nl + 1 == end));
		buf_reset(&rd->partial);
		if (nl)
			p++;
	}
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			if (final)
				see_line(rd, p, (size_t)(end - p), true);
			else if ((size_t)(end - p) <= rd->expect->ulen)
				buf_add(&rd->partial, p, (size_t)(end - p));
			else
				rd->seen_bad = true;	/* a line longer than the whole frame */
			break;
		}
		see_line(rd, p, (size_t)(nl - p), final && nl + 1 == end);
		p = nl + 1;
	}
}

static bool
pos_within(const struct cdc_pos *p, const struct seg_entry *e)
{
	return pos_cmp(p, &e->min_pos) >= 0 && pos_cmp(p, &e->max_pos) <= 0;
}

/* Is the frame just decoded (at r->frame_off, ending at the reader's offset) the indexed one? */
static bool
frame_as_indexed(struct reader *rd, struct lz4r *r)
{
	const struct seg_entry *x = rd->expect, *s = &rd->seen;

	if (rd->seen_bad || r->frame_off != x->off || lz4r_offset(r) - x->off != x->clen)
		return false;
	if (s->ulen != x->ulen || s->lines != x->lines)
		return false;
	if (s->has_pos && (!x->has_pos || !pos_within(&s->min_pos, x) || !pos_within(&s->max_pos, x)))
		return false;
	if (s->has_ts && (!x->has_ts || s->min_ts < x->min_ts || s->max_ts > x->max_ts))
		return false;
	return true;
}

/* --- frames already emitted from this segment --- */

static void
done_add(struct reader *rd, uint64_t off)
{
	if (rd->ndone == rd->done_cap) {
		rd->done_cap = rd->done_cap ? rd->done_cap * 2 : 64;
		rd->done = xrealloc(rd->done, rd->done_cap * sizeof(*rd->done));
	}
	rd->done[rd->ndone++] = off;
}

static bool
is_done(const struct reader *rd, uint64_t off)
{
	size_t lo = 0, hi = rd->ndone;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rd->done[mid] == off)
			return true;
		if (rd->done[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* A damaged or truncated frame: stop (exit 65), or with --skip-corrupt report it and drop it. */
static int
damaged(struct reader *rd, const char *name, uint64_t off, const char *what)
{
	if (!rd->skip_corrupt) {
		error("%s: offset %llu: %s%s", name, (unsigned long long)off, what,
		      rd->frame_emitted ? " (its first part was already output)" : "");
		if (emit_flush(rd->em) < 0)
			return -1;
		return stop(rd, CDC_EXIT_DATAERR);
	}
	warning("%s: offset %llu: %s: frame skipped%s", name, (unsigned long long)off, what,
		rd->frame_emitted ? " (its first part was already output)" : "");
	rd->damaged++;
	forget(rd);
	return 0;
}

/* A frame ended, verified: check it against the index, or skip it, or emit it. */
static enum pump
frame_done(struct reader *rd, struct lz4r *r)
{
	enum pump p;

	if (rd->expect) {
		see_lines(rd, rd->data.data + rd->hold_from, rd->data.len - rd->hold_from, true);
		if (!frame_as_indexed(rd, r)) {
			drop_held(rd);
			return PUMP_MISMATCH;
		}
	}
	if (rd->skip_done && is_done(rd, r->frame_off)) {
		drop_held(rd);
		return PUMP_FRAME;
	}
	/*
	 * A verified frame wholly outside the range (the last entry of a
	 * segment is read even then) is dropped unscanned; one wholly inside
	 * the selection goes out without a scan of its lines.
	 */
	if (rd->expect && emit_passes_over(rd->em, rd->expect)) {
		drop_held(rd);
		return PUMP_FRAME;
	}
	rd->em->whole = rd->expect && emit_takes_whole(rd->em, rd->expect);
	p = release(rd) < 0 ? PUMP_STOP : PUMP_FRAME;
	rd->em->whole = false;
	return p;
}

/* Part of a big frame is decoded: hold it (temporary file) or emit it (see HOLD_MAX). */
static int
frame_more(struct reader *rd, struct lz4r *r)
{
	if (rd->expect) {
		see_lines(rd, rd->data.data + rd->hold_from, rd->data.len - rd->hold_from, false);
		rd->hold_from = rd->data.len;
	}
	if (rd->expect || rd->skip_done || must_hold(rd, r))
		return spill(rd);
	rd->frame_emitted = true;
	if (emit_lines(rd->em, &rd->data, false) < 0)
		return -1;
	rd->hold_from = rd->data.len;
	return 0;
}

/*
 * Decode frames from r and emit their lines: one frame, or up to the end
 * of the input.  With rd->expect (one_frame), a frame that is damaged or
 * not as indexed is PUMP_MISMATCH, reported by nobody: the caller reads
 * the segment from the start instead.
 */
static enum pump
pump(struct reader *rd, struct lz4r *r, const char *name, bool one_frame)
{
	for (;;) {
		enum lz4r_status st = lz4r_read(r, &rd->data, HOLD_MAX);
		enum pump p;

		switch (st) {
		case LZ4R_FRAME:
			p = frame_done(rd, r);
			if (p != PUMP_FRAME || one_frame)
				return p;
			break;
		case LZ4R_MORE:
			if (frame_more(rd, r) < 0)
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
			if (rd->expect) {
				drop_held(rd);
				return PUMP_MISMATCH;
			}
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

/*
 * Wait until the pipe fd has input, or the next stage is gone (stop with
 * CDC_EXIT_PIPE: a pipeline stage ends with its neighbour, also when
 * idle), or a signal asks to stop.  Returns 0 or -1.
 */
static int
wait_input(struct reader *rd, int fd)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
				 { .fd = STDOUT_FILENO, .events = 0 } };

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR && cdc_stop)
				return stop(rd, CDC_EXIT_OK);
			continue;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			return 0;
		if (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL))
			return stop(rd, CDC_EXIT_PIPE);
	}
}

static int
replay_plain(struct reader *rd, int fd, const char *name, bool follow)
{
	struct stat st;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	uint64_t off = rd->data.len;

	for (;;) {
		ssize_t n;

		if (!regular) {
			/*
			 * About to wait on a pipe: pass on what we have first, and
			 * wait for input or for the next stage to go away.
			 */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (poll(&pfd, 1, 0) == 0 && emit_flush(rd->em) < 0)
				return -1;
			if (wait_input(rd, fd) < 0)
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
			forget(rd);
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
	lz4r_set_idle(&r, idle_flush, rd);
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
				forget(rd);
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
	struct stat st;

	rd->em->stream = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode);
	buf_reset(&rd->data);
	while (got < sizeof(head)) {
		ssize_t n;

		if (rd->em->stream && wait_input(rd, fd) < 0)
			return -1;
		n = read(fd, head + got, sizeof(head) - got);

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
		emit_begin_input(rd->em, name, EMIT_PASS);
		return replay_lz4(rd, fd, name, follow, head, got);
	case LZ4_KIND_LEGACY:
		error("%s: the legacy lz4 format (lz4 -l) is not supported", name);
		return stop(rd, CDC_EXIT_DATAERR);
	case LZ4_KIND_NONE:
		break;
	}
	emit_begin_input(rd->em, name, EMIT_CHECK);
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
	emit_begin_input(rd->em, s->path.data, EMIT_TRUSTED);
	rd->em->stream = false;
	forget(rd);
	buf_reset(&rd->data);
	rd->ndone = 0;
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
 * The index is only an accelerator: every frame read through it must be
 * the frame its entry describes (offsets, sizes, line count, positions
 * and times within its bounds), and its last entry is always read so that
 * the rest is read from a true frame boundary.  When a frame is not as
 * indexed, the segment is read again from the start, without the frames
 * already emitted.
 */
static enum pump
segment_read(struct reader *rd, struct segment *s)
{
	struct seg_entry *v = NULL;
	struct stat st;
	long n = 0, i;
	enum pump p;

	if (rd->use_index && fstat(s->fd, &st) == 0) {
		struct buf idx = BUF_INIT;

		buf_addf(&idx, "%s.idx", s->path.data);
		n = seg_index_load(idx.data, (uint64_t)st.st_size, &v);
		buf_release(&idx);
		if (n < 0)
			n = 0;
	}
	for (i = 0; i < n; i++) {
		if (i < n - 1 && !seg_entry_may_match(&v[i], &rd->em->range)) {
			rd->frames_skipped++;
			continue;
		}
		if (lz4r_offset(&s->r) != v[i].off) {
			if (lz4r_seek(&s->r, v[i].off) < 0)
				break;
			forget(rd);
		}
		rd->expect = &v[i];
		seg_entry_clear(&rd->seen);
		rd->seen_bad = false;
		buf_reset(&rd->partial);
		p = pump(rd, &s->r, s->path.data, true);
		rd->expect = NULL;
		if (p == PUMP_STOP) {
			free(v);
			return PUMP_STOP;
		}
		if (p != PUMP_FRAME)
			break;
		done_add(rd, v[i].off);
	}
	if (i < n) {
		info(1, "%s: the index does not match the segment at offset %llu: "
		     "reading the segment from the start", s->path.data, (unsigned long long)v[i].off);
		free(v);
		rd->index_fallbacks++;
		if (lz4r_seek(&s->r, 0) < 0) {
			error_errno("cannot seek in %s", s->path.data);
			stop(rd, CDC_EXIT_FAILURE);
			return PUMP_STOP;
		}
		forget(rd);
		rd->skip_done = true;
		p = pump(rd, &s->r, s->path.data, false);
		rd->skip_done = false;
		return p;
	}
	free(v);
	return pump(rd, &s->r, s->path.data, false);
}

/*
 * Can segment f hold nothing at or after --from (and --after-checkpoint's
 * position, folded into it), judged by the name of the segment after it?
 * A segment's name holds the commit LSN its first event has (or the last
 * event before it had): in a log in position order every event of f is at
 * or before it, so a successor named below --from's commit LSN leaves f
 * nothing to give.
 */
static bool
ends_before_from(const struct reader *rd, const struct seg_file *next)
{
	const struct seg_range *r = &rd->em->range;

	return r->has_from && next->first_lsn < r->from.commit_lsn;
}

/*
 * The segment after seq in dir (any when !after): 1 found, 0 none, -1
 * error.  Segments that ends_before_from() rules out by their successor's
 * name are passed over unopened (never the last one).
 */
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
		if (after && v[i].seq <= seq)
			continue;
		if (i + 1 < n && ends_before_from(rd, &v[i + 1])) {
			rd->segments_skipped++;
			continue;
		}
		*out = v[i];
		found = 1;
		break;
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
			forget(rd);
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

/* --- dead letters --- */

/*
 * A dead-letter file (deadletter.h): every record's original line goes out
 * as it was first read, so that it can be fixed and applied again.
 */
static int
replay_deadletters(struct reader *rd, const char *arg)
{
	bool stdin_ = strcmp(arg, "-") == 0;
	const char *name = stdin_ ? "standard input" : arg;
	int fd = stdin_ ? STDIN_FILENO : open(arg, O_RDONLY | O_CLOEXEC);
	struct linereader lr;
	struct buf out = BUF_INIT;
	const char *line, *err;
	size_t len;
	enum lr_status st;
	int ret = 0;

	if (fd < 0) {
		error_errno("cannot open %s", arg);
		return stop(rd, CDC_EXIT_FAILURE);
	}
	/* The lines were checked, or failed a check, when they were first read: pass their bytes on. */
	emit_begin_input(rd->em, name, EMIT_TRUSTED);
	lr_init(&lr, fd, 0);
	while ((st = lr_next(&lr, &line, &len)) != LR_EOF) {
		int r;

		if (st == LR_INTR) {
			if (cdc_stop) {
				ret = stop(rd, CDC_EXIT_OK);
				break;
			}
			continue;
		}
		if (st != LR_OK) {
			ret = error_errno("%s: line %llu: cannot read it", name, (unsigned long long)lr.lineno);
			stop(rd, st == LR_TOO_LONG ? CDC_EXIT_DATAERR : CDC_EXIT_FAILURE);
			break;
		}
		r = dl_record_input(line, len, &out, &err);
		if (r < 0) {
			ret = error("%s: line %llu: %s", name, (unsigned long long)lr.lineno, err);
			stop(rd, CDC_EXIT_DATAERR);
			break;
		}
		if (r == 1) {
			warning("%s: line %llu: the dead letter holds only the first bytes of an over-long "
				"line: it cannot be re-driven", name, (unsigned long long)lr.lineno);
			continue;
		}
		buf_addc(&out, '\n');
		if (out.len >= PLAIN_CHUNK && emit_lines(rd->em, &out, false) < 0) {
			ret = -1;
			break;
		}
	}
	if (ret == 0)
		ret = emit_lines(rd->em, &out, true);
	lr_free(&lr);
	buf_release(&out);
	if (!stdin_)
		close(fd);
	return ret;
}

int
replay_arg(struct reader *rd, const char *arg, bool follow)
{
	struct stat st;
	bool waited = false;
	int fd, ret;

	if (rd->dead_letters)
		return replay_deadletters(rd, arg);
	if (strcmp(arg, "-") == 0)
		return replay_fd(rd, STDIN_FILENO, "standard input", false);
	while (stat(arg, &st) < 0) {
		if (!follow || errno != ENOENT) {
			error_errno("cannot open %s", arg);
			return stop(rd, CDC_EXIT_FAILURE);
		}
		/* Like tail -F: a log that is not there yet is waited for. */
		if (!waited)
			info(1, "%s does not exist yet: waiting for it", arg);
		waited = true;
		if (poll_sleep(rd) < 0)
			return -1;
	}
	if (waited)
		info(1, "%s appeared", arg);
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
