#include "recorder.h"
#include "ackring.h"
#include "fileio.h"
#include "log.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4frame.h>

/* dir/name into b (reset first). */
static const char *
path_in(struct buf *b, const char *dir, const char *name)
{
	buf_reset(b);
	buf_addf(b, "%s/%s", dir, name);
	return b->data;
}

/* Remember ev as the last positioned event of some data. */
static void
note_last(struct rec_last *l, const struct event_info *ev)
{
	struct buf name = BUF_INIT;

	l->valid = true;
	l->pos = ev->pos;
	l->snapshot = event_in_snapshot(ev);
	if (ev->name.p == NULL) {
		l->name[0] = '\0';
		return;
	}
	if (json_span_eq(&ev->name, l->name))
		return;
	if (json_span_decode(&ev->name, &name) == 0 && name.len < sizeof(l->name))
		memcpy(l->name, name.data, name.len + 1);
	else
		l->name[0] = '\0';
	buf_release(&name);
}

/* --- checkpoint --- */

static int
checkpoint_to(struct recorder *r, const struct rec_last *l)
{
	if (r->o.checkpoint == NULL || !l->valid)
		return 0;
	if (r->have_cp && pos_cmp(&l->pos, &r->cp.pos) <= 0 && r->cp.epoch == r->epoch)
		return 0;
	if (!r->have_cp || pos_cmp(&l->pos, &r->cp.pos) > 0)
		r->cp.pos = l->pos;
	r->cp.epoch = r->epoch;
	r->cp.snapshot = l->snapshot;
	memcpy(r->cp.name, l->name, sizeof(r->cp.name));
	snprintf(r->cp.writer, sizeof(r->cp.writer), "cdc-record");
	if (checkpoint_write(r->o.checkpoint, &r->cp) < 0)
		return -1;
	r->have_cp = true;
	return 0;
}

/* --- segments --- */

static int
open_segment(struct recorder *r, uint64_t first_lsn)
{
	struct buf path = BUF_INIT;

	seg_name_format(r->next_seq, first_lsn, r->segname);
	r->fd = open(path_in(&path, r->o.dir, r->segname),
		     O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (r->fd < 0) {
		error_errno("cannot create %s", path.data);
		buf_release(&path);
		return -1;
	}
	buf_adds(&path, ".idx");
	r->idxfd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (r->idxfd < 0 || write_all(r->idxfd, SEG_INDEX_HEADER, strlen(SEG_INDEX_HEADER)) < 0) {
		error_errno("cannot create %s", path.data);
		buf_release(&path);
		return -1;
	}
	/* Make the new names durable before anything counts on them. */
	if (fsync_dir(r->o.dir) < 0) {
		error_errno("cannot fsync directory %s", r->o.dir);
		buf_release(&path);
		return -1;
	}
	buf_release(&path);
	r->next_seq++;
	r->seg_size = 0;
	r->seg_opened = mono_ms();
	r->segments++;
	info(2, "new segment %s", r->segname);
	return 0;
}

static int retention(struct recorder *r);

static int
close_segment(struct recorder *r)
{
	int ret = 0;

	if (r->fd < 0)
		return 0;
	if (rec_commit(r) < 0)
		ret = -1;
	/* The index is rebuilt only for the last segment after a crash: sync this one now. */
	if (fsync(r->idxfd) < 0 && ret == 0)
		ret = error_errno("cannot fsync the index of %s/%s", r->o.dir, r->segname);
	close(r->idxfd);
	close(r->fd);
	r->fd = r->idxfd = -1;
	if (ret == 0)
		ret = retention(r);
	return ret;
}

/* --- frames --- */

static int
write_frame(struct recorder *r)
{
	LZ4F_preferences_t prefs;
	size_t bound, n;

	if (r->frame.len == 0)
		return 0;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = r->frame.len;
	prefs.compressionLevel = r->o.level;
	bound = LZ4F_compressFrameBound(r->frame.len, &prefs);
	buf_reset(&r->cbuf);
	buf_grow(&r->cbuf, bound);
	n = LZ4F_compressBegin(r->cctx, r->cbuf.data, bound, &prefs);
	if (!LZ4F_isError(n)) {
		size_t m = LZ4F_compressUpdate(r->cctx, r->cbuf.data + n, bound - n, r->frame.data,
					       r->frame.len, NULL);

		n = LZ4F_isError(m) ? m : n + m;
	}
	if (!LZ4F_isError(n)) {
		size_t m = LZ4F_compressEnd(r->cctx, r->cbuf.data + n, bound - n, NULL);

		n = LZ4F_isError(m) ? m : n + m;
	}
	if (LZ4F_isError(n))
		return error("lz4 compression failed: %s", LZ4F_getErrorName(n));
	if (write_all(r->fd, r->cbuf.data, n) < 0)
		return error_errno("write error on %s/%s", r->o.dir, r->segname);
	r->ent.off = r->seg_size;
	r->ent.clen = n;
	buf_reset(&r->ibuf);
	seg_entry_format(&r->ent, &r->ibuf);
	if (write_all(r->idxfd, r->ibuf.data, r->ibuf.len) < 0)
		return error_errno("write error on %s/%s.idx", r->o.dir, r->segname);
	r->seg_size += n;
	r->unsynced = true;
	r->frames++;
	if (r->frame_last.valid)
		r->written = r->frame_last;
	r->frame_last.valid = false;
	buf_reset(&r->frame);
	seg_entry_clear(&r->ent);
	return 0;
}

int
rec_commit(struct recorder *r)
{
	if (r->fd < 0)
		return 0;
	if (write_frame(r) < 0)
		return -1;
	if (r->unsynced) {
		/* No retry after a failed fsync: the kernel may have dropped the pages. */
		if (fdatasync(r->fd) < 0)
			die_errno("cannot fsync %s/%s", r->o.dir, r->segname);
		r->unsynced = false;
	}
	r->last_sync = mono_ms();
	return checkpoint_to(r, &r->written);
}

/* After a frame was written: sync when due, rotate when the segment is full or old. */
static int
after_frame(struct recorder *r, int64_t now)
{
	if (r->seg_size >= r->o.segment_bytes ||
	    (r->o.segment_age_ms > 0 && now - r->seg_opened >= r->o.segment_age_ms))
		return close_segment(r);
	if (now - r->last_sync >= r->o.sync_ms)
		return rec_commit(r);
	return 0;
}

int
rec_append(struct recorder *r, const char *line, size_t len, const struct event_info *ev)
{
	const struct event_info *pev = ev && ev->has_pos ? ev : NULL;
	int64_t now;

	if (pev && ackring_is_rewind(pev)) {
		/*
		 * cdc-source-kafka's rewind (events older than the last it
		 * printed follow): about this hop's checkpoint, not for the log.
		 * What follows at or before the log's greatest position is left
		 * out as re-delivered, so the checkpoint stays where it is and
		 * reports the rewind's epoch once what came before is synced.
		 */
		uint64_t epoch;

		if (ackring_rewind_epoch(line, len, &epoch) == 0 && epoch > r->epoch)
			r->epoch = epoch;
		return 0;
	}
	if (pev) {
		/*
		 * A restarted or reconnected source re-delivers from its
		 * checkpoint: what is at or before the greatest position
		 * logged is already here.
		 */
		if (r->o.dedupe && r->have_max && pos_cmp(&pev->pos, &r->log_max) <= 0) {
			r->dups++;
			return 0;
		}
		if (!r->have_max || pos_cmp(&pev->pos, &r->log_max) > 0)
			r->log_max = pev->pos;
		r->have_max = true;
		r->last_lsn = pev->pos.commit_lsn;
	}
	now = mono_ms();
	/* A segment that got old while the input was quiet rotates before new data. */
	if (r->fd >= 0 && r->o.segment_age_ms > 0 && now - r->seg_opened >= r->o.segment_age_ms &&
	    close_segment(r) < 0)
		return -1;
	if (r->fd < 0 && open_segment(r, r->last_lsn) < 0)
		return -1;
	if (r->frame.len == 0)
		r->frame_started = now;
	buf_add(&r->frame, line, len);
	buf_addc(&r->frame, '\n');
	seg_entry_add(&r->ent, len + 1, ev);
	if (pev)
		note_last(&r->frame_last, pev);
	r->lines++;
	if (r->frame.len >= r->o.frame_bytes) {
		if (write_frame(r) < 0)
			return -1;
		return after_frame(r, now);
	}
	if (r->o.sync_ms > 0 && now - r->frame_started >= r->o.sync_ms) {
		if (rec_commit(r) < 0)
			return -1;
		return after_frame(r, now);
	}
	return 0;
}

int
rec_idle(struct recorder *r, int in_fd)
{
	int64_t wait;

	if (r->fd < 0 || (r->frame.len == 0 && !r->unsynced))
		return 0;
	/* Group commit: at most one sync per sync_ms, but never leave data unsynced for longer. */
	wait = r->last_sync + r->o.sync_ms - mono_ms();
	if (wait > 0) {
		struct pollfd pfd = { .fd = in_fd, .events = POLLIN };
		int n = poll(&pfd, 1, wait > 60000 ? 60000 : (int)wait);

		if (n != 0)
			return 0;	/* input (or a signal) came first */
	}
	if (rec_commit(r) < 0)
		return -1;
	return after_frame(r, mono_ms());
}

/* --- recovery --- */

struct scan_state {
	struct seg_entry *v;
	size_t n, cap;
	struct rec_last last;
	bool have_max;
	struct cdc_pos max;
};

/* seg_scan_frames() callback: rebuild an index entry per frame. */
static void
scan_frame(void *arg, uint64_t off, uint64_t clen, const char *data, size_t ulen)
{
	struct scan_state *s = arg;
	struct seg_entry e;
	const char *p = data, *end = data + ulen;

	memset(&e, 0, sizeof(e));
	e.off = off;
	e.clen = clen;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct event_info ev;
		const char *err;
		bool scanned = event_scan(p, len, &ev, &err) == 0;

		seg_entry_add(&e, len + 1, scanned ? &ev : NULL);
		if (scanned && ev.has_pos) {
			note_last(&s->last, &ev);
			if (!s->have_max || pos_cmp(&ev.pos, &s->max) > 0)
				s->max = ev.pos;
			s->have_max = true;
		}
		p += len + 1;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = e;
}

/*
 * Check the last segment: cut a torn or damaged tail, rebuild its index,
 * learn the last event it holds.  Returns 0, 1 when nothing in it was
 * complete and it was removed, or -1.
 */
static int
recover_last(struct recorder *r, const char *name, struct scan_state *s)
{
	struct buf path = BUF_INIT, idx = BUF_INIT, text = BUF_INIT;
	const char *why;
	struct stat st;
	int64_t good;
	int fd, ret = -1;

	fd = open(path_in(&path, r->o.dir, name), O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		error_errno("cannot open %s", path.data);
		goto out;
	}
	good = seg_scan_frames(fd, scan_frame, s, &why);
	if (good < 0) {
		error_errno("read error on %s", path.data);
		goto out;
	}
	if (good < st.st_size) {
		warning("%s: %s at offset %lld: cutting the last %lld bytes",
			path.data, why ? why : "damaged frame", (long long)good,
			(long long)(st.st_size - good));
		if (ftruncate(fd, good) < 0 || fsync(fd) < 0) {
			error_errno("cannot truncate %s", path.data);
			goto out;
		}
	}
	buf_addf(&idx, "%s.idx", path.data);
	if (good == 0) {
		/* Nothing complete in it: it goes, as if never created. */
		if (unlink(path.data) < 0 || (unlink(idx.data) < 0 && errno != ENOENT)) {
			error_errno("cannot remove empty segment %s", path.data);
			goto out;
		}
		info(1, "removed empty segment %s", path.data);
		ret = fsync_dir(r->o.dir) < 0 ? error_errno("cannot fsync %s", r->o.dir) : 1;
		goto out;
	}
	if (fsync(fd) < 0) {
		error_errno("cannot fsync %s", path.data);
		goto out;
	}
	buf_adds(&text, SEG_INDEX_HEADER);
	for (size_t i = 0; i < s->n; i++)
		seg_entry_format(&s->v[i], &text);
	if (atomic_write_file(idx.data, text.data, text.len, 0600) < 0) {
		error_errno("cannot write %s", idx.data);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&path);
	buf_release(&idx);
	buf_release(&text);
	return ret;
}

/* The greatest position in the newest segment that has one, from the indexes. */
static bool
log_max_from_indexes(struct recorder *r, struct seg_file *segs, int n, struct cdc_pos *max)
{
	struct buf path = BUF_INIT;
	bool found = false;

	for (int i = n - 1; i >= 0 && !found; i--) {
		struct seg_entry *v;
		struct stat st;
		long m;

		if (stat(path_in(&path, r->o.dir, segs[i].name), &st) < 0)
			continue;
		buf_adds(&path, ".idx");
		m = seg_index_load(path.data, (uint64_t)st.st_size, &v);
		for (long k = 0; k < m; k++) {
			if (v[k].has_pos && (!found || pos_cmp(&v[k].max_pos, max) > 0)) {
				*max = v[k].max_pos;
				found = true;
			}
		}
		free(v);
	}
	buf_release(&path);
	return found;
}

int
rec_open(struct recorder *r, const struct rec_opts *o)
{
	struct scan_state s;
	struct seg_file *segs = NULL;
	struct buf path = BUF_INIT;
	LZ4F_cctx *cctx;
	bool have_max = false;
	int n, ret = -1;

	memset(r, 0, sizeof(*r));
	memset(&s, 0, sizeof(s));
	r->o = *o;
	r->fd = r->idxfd = r->lockfd = -1;
	r->next_seq = 1;
	r->last_sync = mono_ms();
	if (LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)))
		die("cannot create an lz4 compression context");
	r->cctx = cctx;

	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST)
		return error_errno("cannot create directory %s", o->dir);
	r->lockfd = open(path_in(&path, o->dir, ".lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lockfd < 0) {
		error_errno("cannot open %s", path.data);
		goto out;
	}
	if (flock(r->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			error("%s: another cdc-record is writing this directory", o->dir);
		else
			error_errno("cannot lock %s", path.data);
		goto out;
	}
	if (o->checkpoint) {
		int c = checkpoint_read(o->checkpoint, &r->cp);

		if (c < 0)
			goto out;
		r->have_cp = c == 0;
		if (r->have_cp)
			r->epoch = r->cp.epoch;
	}
	n = seg_list(o->dir, &segs);
	if (n < 0) {
		error_errno("cannot read directory %s", o->dir);
		goto out;
	}
	if (n > 0)
		r->next_seq = segs[n - 1].seq + 1;
	while (n > 0) {
		int rc = recover_last(r, segs[n - 1].name, &s);

		if (rc < 0)
			goto out;
		if (rc == 1) {
			n--;	/* removed: the one before is the last now */
			continue;
		}
		if (s.have_max) {
			r->log_max = s.max;
			have_max = true;
		} else {
			have_max = log_max_from_indexes(r, segs, n - 1, &r->log_max);
		}
		break;
	}
	if (have_max) {
		char a[POS_BUFSZ], b[POS_BUFSZ];

		r->last_lsn = r->log_max.commit_lsn;
		r->have_max = true;
		info(1, "the log ends at position %s", pos_format(&r->log_max, a));
		if (r->have_cp && pos_cmp(&r->cp.pos, &r->log_max) > 0)
			warning("checkpoint %s is at %s, past the end of the log in %s (%s)",
				o->checkpoint, pos_format(&r->cp.pos, a), o->dir,
				pos_format(&r->log_max, b));
	}
	/* What recovery found on disk is synced now: the checkpoint may say so. */
	if (checkpoint_to(r, &s.last) < 0)
		goto out;
	ret = retention(r);
out:
	free(segs);
	free(s.v);
	buf_release(&path);
	return ret;
}

/* --- retention --- */

static int
retention(struct recorder *r)
{
	struct seg_file *segs;
	struct buf path = BUF_INIT;
	uint64_t *size, total = 0;
	int64_t *mtime, now = now_ms();
	int n, ret = 0;

	if (r->o.retain_bytes == 0 && r->o.retain_age_ms == 0)
		return 0;
	n = seg_list(r->o.dir, &segs);
	if (n < 0)
		return error_errno("cannot read directory %s", r->o.dir);
	size = xcalloc((size_t)n + 1, sizeof(*size));
	mtime = xcalloc((size_t)n + 1, sizeof(*mtime));
	for (int i = 0; i < n; i++) {
		struct stat st;

		if (stat(path_in(&path, r->o.dir, segs[i].name), &st) == 0) {
			size[i] = (uint64_t)st.st_size;
			mtime[i] = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		}
		buf_adds(&path, ".idx");
		if (stat(path.data, &st) == 0)
			size[i] += (uint64_t)st.st_size;
		total += size[i];
	}
	/* Oldest first; the newest segment (or the open one) always stays. */
	for (int i = 0; i + 1 < n; i++) {
		bool too_big = r->o.retain_bytes && total > r->o.retain_bytes;
		bool too_old = r->o.retain_age_ms && mtime[i] < now - r->o.retain_age_ms;

		if (!too_big && !too_old)
			break;
		if (r->fd >= 0 && strcmp(segs[i].name, r->segname) == 0)
			break;
		if (unlink(path_in(&path, r->o.dir, segs[i].name)) < 0 && errno != ENOENT) {
			ret = error_errno("cannot remove %s", path.data);
			break;
		}
		buf_adds(&path, ".idx");
		unlink(path.data);
		total -= size[i];
		info(1, "retention: removed %s/%s", r->o.dir, segs[i].name);
	}
	free(size);
	free(mtime);
	free(segs);
	buf_release(&path);
	return ret;
}

int
rec_close(struct recorder *r)
{
	int ret = close_segment(r);

	if (r->cctx)
		LZ4F_freeCompressionContext(r->cctx);
	r->cctx = NULL;
	if (r->lockfd >= 0)
		close(r->lockfd);
	r->lockfd = -1;
	buf_release(&r->frame);
	buf_release(&r->cbuf);
	buf_release(&r->ibuf);
	return ret;
}
