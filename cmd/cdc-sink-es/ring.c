/*
 * The ring of events to acknowledge, in input order, and the checkpoint:
 * the position of the last event of the contiguous run of done slots (the
 * watermark), written when it moves (sink.h).
 */
#include "sink.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct slot *
slot_at(struct sink *s, uint64_t ord)
{
	return &s->ring.s[ord & (s->ring.cap - 1)];
}

static void
ring_grow(struct sink *s)
{
	size_t ncap = s->ring.cap * 2;
	struct slot *ns = xmalloc(ncap * sizeof(*ns));

	for (uint64_t o = s->ring.tail; o < s->ring.head; o++)
		ns[o & (ncap - 1)] = *slot_at(s, o);
	free(s->ring.s);
	s->ring.s = ns;
	s->ring.cap = ncap;
}

/* Take a slot for an event; waits (pumping) while the ring is at its limit. */
uint64_t
ring_push(struct sink *s, const struct event_info *ev, uint32_t pending)
{
	struct slot *sl;

	while (s->ring.head - s->ring.tail == s->ring.cap) {
		if (s->ring.cap < s->ring_max) {
			ring_grow(s);
			break;
		}
		s->input_idle = true;
		pump(s, 100, false, NULL);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
	}
	sl = slot_at(s, s->ring.head);
	sl->pos = ev->pos;
	sl->ts_ms = ev->has_ts ? ev->ts_ms : 0;
	sl->snapshot = event_in_snapshot(ev);
	sl->pending = pending;
	sl->blocked = false;
	sl->data = !ev->control && !(ev->op.len == 1 && ev->op.p[0] == 'm');
	return s->ring.head++;
}

void
slot_release(struct sink *s, uint64_t ord)
{
	struct slot *sl = slot_at(s, ord);

	if (sl->pending > 0 && --sl->pending == 0 && sl->data) {
		s->m.events_out++;
		if (sl->ts_ms > 0)
			metrics_lag(&s->m, now_ms() - sl->ts_ms);
	}
}

void
slot_block(struct sink *s, uint64_t ord)
{
	slot_at(s, ord)->blocked = true;
}

void
ring_advance(struct sink *s)
{
	const struct config *cfg = s->cfg;
	while (s->ring.tail < s->ring.head) {
		struct slot *sl = slot_at(s, s->ring.tail);

		if (sl->pending > 0 || sl->blocked)
			break;
		/* The watermark only moves forward (a replayed older event does not pull it back). */
		if (!s->wm_valid || pos_cmp(&sl->pos, &s->wm) > 0) {
			s->wm = sl->pos;
			s->wm_snapshot = sl->snapshot;
			s->wm_valid = true;
			if (!s->have_written || pos_cmp(&s->wm, &s->written) > 0)
				s->wm_dirty = true;
			if (cfg->checkpoint_path == NULL) {
				/* No file: what the index holds is what is confirmed. */
				s->m.ckpt = s->wm;
				s->m.have_ckpt = true;
			}
		}
		s->ring.tail++;
	}
}

void
checkpoint_maybe(struct sink *s)
{
	const struct config *cfg = s->cfg;
	struct checkpoint cp;

	if (!s->wm_dirty || cfg->checkpoint_path == NULL || cfg->dry_run)
		return;
	/* Coalesced: one durable write per interval; the last one is never held back. */
	if (!s->finishing && s->have_written &&
	    mono_ms() - s->written_ms < cfg->checkpoint_interval_ms)
		return;
	/* Dead letters must be on disk before the checkpoint moves past them. */
	if (s->in.dl.count != s->dl_synced) {
		if (dl_sync(&s->in.dl) < 0) {
			s->fatal = CDC_EXIT_FAILURE;
			return;
		}
		s->dl_synced = s->in.dl.count;
	}
	memset(&cp, 0, sizeof(cp));
	cp.pos = s->wm;
	cp.snapshot = s->wm_snapshot;
	memcpy(cp.name, s->name, sizeof(cp.name) - 1);
	snprintf(cp.writer, sizeof(cp.writer), "%s", "cdc-sink-es");
	if (checkpoint_write(cfg->checkpoint_path, &cp) < 0) {
		s->fatal = CDC_EXIT_FAILURE;
		return;
	}
	s->written = s->wm;
	s->have_written = true;
	s->written_ms = mono_ms();
	s->st.checkpoints++;
	s->wm_dirty = false;
	s->m.ckpt = s->wm;
	s->m.have_ckpt = true;
}

int
checkpoint_wait(const struct sink *s, int max_wait)
{
	int64_t due;

	if (!s->wm_dirty || !s->have_written || s->cfg->checkpoint_path == NULL)
		return max_wait;
	due = s->written_ms + s->cfg->checkpoint_interval_ms - mono_ms();
	if (due < 0)
		due = 0;
	return due < max_wait ? (int)due : max_wait;
}
