/*
 * The ring of events to acknowledge and the coalesced checkpoint
 * (ackring.h).
 */
#include "ackring.h"
#include "buf.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ackring_open(struct ackring *r, const char *path, const char *writer,
	     int64_t interval_ms, size_t max, bool no_write, struct metrics *m)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->writer = writer;
	r->interval_ms = interval_ms;
	r->no_write = no_write;
	r->m = m;
	r->cap = 1024;
	r->max = max < r->cap ? r->cap : max;
	r->s = xcalloc(r->cap, sizeof(*r->s));
	if (path == NULL)
		return 0;
	switch (checkpoint_read(path, &r->start)) {
	case 0:
		r->have_start = true;
		memcpy(r->name, r->start.name, sizeof(r->name) - 1);
		r->wm = r->written = r->start.pos;
		r->wm_snapshot = r->start.snapshot;
		r->wm_valid = r->have_written = true;
		r->floor = r->start.pos;
		r->have_floor = true;
		r->epoch = r->start.epoch;
		m->ckpt = r->start.pos;
		m->have_ckpt = true;
		break;
	case 1:
		break;
	default:
		return -1;
	}
	if (!no_write && check_writable(path) < 0)
		return -1;
	return 0;
}

void
ackring_close(struct ackring *r)
{
	free(r->s);
	r->s = NULL;
}

bool
ackring_seen(const struct ackring *r, const struct event_info *ev)
{
	return r->have_floor && pos_cmp(&ev->pos, &r->floor) <= 0;
}

int
ackring_name(struct ackring *r, const struct json_span *name, uint64_t lineno)
{
	struct buf nm = BUF_INIT;

	if (name->p == NULL || name->len >= sizeof(r->name) ||
	    (name->len == strlen(r->name) && memcmp(name->p, r->name, name->len) == 0))
		return 0;
	json_span_decode(name, &nm);
	if (r->have_start && r->start.name[0] && nm.data && strcmp(nm.data, r->start.name) != 0) {
		error("line %llu: events come from source %s but checkpoint %s is for %s",
		      (unsigned long long)lineno, nm.data, r->path, r->start.name);
		buf_release(&nm);
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", nm.data ? nm.data : "");
	buf_release(&nm);
	return 0;
}

struct ackslot *
ackring_slot(const struct ackring *r, uint64_t ord)
{
	return &r->s[ord & (r->cap - 1)];
}

bool
ackring_full(struct ackring *r)
{
	size_t ncap;
	struct ackslot *ns;

	if (r->head - r->tail < r->cap)
		return false;
	if (r->cap >= r->max)
		return true;
	ncap = r->cap * 2;
	ns = xmalloc(ncap * sizeof(*ns));
	for (uint64_t o = r->tail; o < r->head; o++)
		ns[o & (ncap - 1)] = *ackring_slot(r, o);
	free(r->s);
	r->s = ns;
	r->cap = ncap;
	return false;
}

uint64_t
ackring_push(struct ackring *r, const struct event_info *ev, uint32_t pending)
{
	struct ackslot *sl;

	if (ackring_full(r))
		die("internal error: ackring_push on a full ring");
	sl = ackring_slot(r, r->head);
	sl->pos = ev->pos;
	sl->ts_ms = ev->has_ts ? ev->ts_ms : 0;
	sl->snapshot = event_in_snapshot(ev);
	sl->pending = pending;
	sl->blocked = false;
	sl->data = !ev->control && !(ev->op.len == 1 && ev->op.p[0] == 'm');
	sl->rewind = false;
	return r->head++;
}

bool
ackring_is_rewind(const struct event_info *ev)
{
	return ev->has_pos && ev->control && json_span_eq(&ev->op, "rewind");
}

int
ackring_rewind_epoch(const char *line, size_t len, uint64_t *epoch)
{
	const char *rw, *ep;
	size_t rwlen, eplen;

	if (json_member(line, len, "rewind", NULL, &rw, &rwlen) != 1 ||
	    json_member(rw, rwlen, "epoch", NULL, &ep, &eplen) != 1 ||
	    !json_parse_u64(ep, eplen, epoch))
		return -1;
	return 0;
}

int
ackring_push_rewind(struct ackring *r, const struct event_info *ev, const char *line, size_t len)
{
	uint64_t epoch;
	struct ackslot *sl;

	if (ackring_rewind_epoch(line, len, &epoch) < 0)
		return -1;
	sl = ackring_slot(r, ackring_push(r, ev, 0));
	sl->rewind = true;
	sl->epoch = epoch;
	r->floor = ev->pos;
	r->have_floor = true;
	return 0;
}

void
ackring_release(struct ackring *r, uint64_t ord)
{
	struct ackslot *sl = ackring_slot(r, ord);

	if (sl->pending > 0 && --sl->pending == 0 && sl->data) {
		r->m->events_out++;
		if (sl->ts_ms > 0)
			metrics_lag_since(r->m, sl->ts_ms);
	}
}

void
ackring_block(struct ackring *r, uint64_t ord)
{
	ackring_slot(r, ord)->blocked = true;
}

static void
advance(struct ackring *r)
{
	while (r->tail < r->head) {
		struct ackslot *sl = ackring_slot(r, r->tail);

		if (sl->pending > 0 || sl->blocked)
			break;
		if (sl->rewind) {
			/* Everything before is done; what follows starts after sl->pos. */
			r->wm = sl->pos;
			r->wm_snapshot = false;
			r->wm_valid = r->wm_dirty = true;
			r->epoch = sl->epoch;
		} else if (!r->wm_valid || pos_cmp(&sl->pos, &r->wm) > 0) {
			/* The watermark only moves forward (a replayed older event does not pull it back). */
			r->wm = sl->pos;
			r->wm_snapshot = sl->snapshot;
			r->wm_valid = true;
			if (!r->have_written || pos_cmp(&r->wm, &r->written) > 0)
				r->wm_dirty = true;
			if (r->path == NULL) {
				/* No file: what the far end holds is what is confirmed. */
				r->m->ckpt = r->wm;
				r->m->have_ckpt = true;
			}
		}
		r->tail++;
	}
}

int
ackring_checkpoint(struct ackring *r, bool force)
{
	struct checkpoint cp;

	advance(r);
	if (!r->wm_dirty || r->path == NULL || r->no_write)
		return 0;
	if (!force && r->have_written && mono_ms() - r->written_ms < r->interval_ms)
		return 0;
	/* Dead letters must be on disk before the checkpoint moves past them. */
	if (r->dl && r->dl->count != r->dl_synced) {
		if (dl_sync(r->dl) < 0)
			return -1;
		r->dl_synced = r->dl->count;
	}
	memset(&cp, 0, sizeof(cp));
	cp.pos = r->wm;
	cp.snapshot = r->wm_snapshot;
	cp.epoch = r->epoch;
	memcpy(cp.name, r->name, sizeof(cp.name) - 1);
	snprintf(cp.writer, sizeof(cp.writer), "%s", r->writer);
	if (checkpoint_write(r->path, &cp) < 0)
		return -1;
	r->written = r->wm;
	r->have_written = true;
	r->written_ms = mono_ms();
	r->writes++;
	r->wm_dirty = false;
	r->m->ckpt = r->wm;
	r->m->have_ckpt = true;
	return 0;
}

int
ackring_wait(const struct ackring *r, int max_ms)
{
	int64_t due;

	if (!r->wm_dirty || !r->have_written || r->path == NULL || r->no_write)
		return max_ms;
	due = r->written_ms + r->interval_ms - mono_ms();
	if (due < 0)
		due = 0;
	return due < max_ms ? (int)due : max_ms;
}
