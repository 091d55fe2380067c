#include "emit.h"
#include "evinput.h"
#include "text.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PROGRESS_AFTER_MS 1000
#define PROGRESS_EVERY_MS 500

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
emit_init(struct emitter *e, int fd)
{
	wr_init(&e->out, fd, 0);
	e->scan = e->range.has_from || e->range.has_to || e->range.has_since ||
		  e->range.has_until || e->has_after || e->sel.active || e->speed > 0;
	e->started_ms = mono_ms();
	e->next_progress_ms = e->started_ms + PROGRESS_AFTER_MS;
}

void
emit_begin_input(struct emitter *e, const char *name, enum emit_trust trust)
{
	e->name = name;
	e->trusted = trust == EMIT_TRUSTED;
	e->pass = e->trusted ||
		  (trust == EMIT_PASS && !e->scan && e->rate <= 0 && e->dl->policy == BAD_STOP);
	e->lineno = 0;
	e->skipping = false;
	dl_set_input(e->dl, name);
}

static int
output_failed(struct emitter *e)
{
	e->status = e->out.err == EPIPE ? CDC_EXIT_PIPE : CDC_EXIT_FAILURE;
	return -1;
}

int
emit_flush(struct emitter *e)
{
	if (e->metrics) {
		e->metrics->skipped = e->dl->policy == BAD_SKIP ? e->dl->count : 0;
		e->metrics->dead_lettered = e->dl->policy == BAD_DEADLETTER ? e->dl->count : 0;
		metrics_tick(e->metrics);
	}
	if (wr_flush(&e->out) < 0)
		return output_failed(e);
	return 0;
}

static void
show_progress(struct emitter *e, bool last)
{
	char pos[POS_BUFSZ];
	double secs = (double)(mono_ms() - e->started_ms) / 1000.0;

	fprintf(stderr, "\r%s: %llu events, %.1f MiB, %.1f s%s%s\033[K%s", cdc_progname,
		(unsigned long long)e->events, (double)e->bytes / (1 << 20), secs,
		e->have_pos ? ", at " : "", e->have_pos ? pos_format(&e->last_pos, pos) : "",
		last ? "\n" : "");
	e->progress_shown = true;
}

static void
maybe_progress(struct emitter *e)
{
	int64_t now = mono_ms();

	if (now < e->next_progress_ms)
		return;
	e->next_progress_ms = now + PROGRESS_EVERY_MS;
	show_progress(e, false);
}

int
emit_finish(struct emitter *e)
{
	int r = wr_flush(&e->out);

	if (e->progress_shown)
		show_progress(e, true);
	if (r < 0 && e->status == 0)
		output_failed(e);
	wr_close(&e->out);
	return e->status;
}

/* A bad line under the policy: 0 to go on, -1 to stop (status 65). */
static int
bad_line(struct emitter *e, const char *reason, const char *line, size_t len, size_t full_len)
{
	if (dl_bad_line(e->dl, e->lineno, NULL, reason, line, len, full_len, NULL) == 0)
		return 0;
	if (emit_flush(e) == 0)
		e->status = CDC_EXIT_DATAERR;
	return -1;
}

/* Sleep until the monotonic time due_ns, output flushed first.  -1 when a signal stops us. */
static int
sleep_until(struct emitter *e, int64_t due_ns)
{
	struct timespec ts = { .tv_sec = due_ns / 1000000000, .tv_nsec = due_ns % 1000000000 };

	if (emit_flush(e) < 0)
		return -1;
	/* A signal that came between two sleeps (while writing) stops us too. */
	while (!cdc_stop) {
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != EINTR)
			return 0;
	}
	e->status = 0;
	return -1;
}

/* --rate: event n is due n/rate seconds after the first; --speed: at its commit time, sped up. */
static int
pace(struct emitter *e, const struct event_info *ev)
{
	int64_t now = mono_ns(), due;

	if (e->rate > 0) {
		if (!e->pace_started) {
			e->pace_start_ns = now;
			e->pace_started = true;
		}
		due = e->pace_start_ns + (int64_t)((double)e->events * 1e9 / e->rate);
	} else {
		if (ev == NULL || !ev->has_ts)
			return 0;
		if (!e->pace_started) {
			e->pace_start_ns = now;
			e->pace_t0 = ev->ts_ms;
			e->pace_started = true;
		}
		due = e->pace_start_ns + (int64_t)((double)(ev->ts_ms - e->pace_t0) * 1e6 / e->speed);
	}
	if (due <= now)
		return 0;
	return sleep_until(e, due);
}

/* Is ev selected?  Sets past_end when it lies after the range's end. */
static bool
selected(struct emitter *e, const struct event_info *ev)
{
	const struct seg_range *r = &e->range;

	if (r->has_from || r->has_to || e->has_after) {
		if (ev == NULL || !ev->has_pos)
			return false;
		if (r->has_to && pos_cmp(&ev->pos, &r->to) > 0) {
			e->past_end = true;
			return false;
		}
		if (r->has_from && pos_cmp(&ev->pos, &r->from) < 0)
			return false;
		if (e->has_after && pos_cmp(&ev->pos, &e->after) <= 0)
			return false;
	}
	if (r->has_since || r->has_until) {
		if (ev == NULL || !ev->has_ts)
			return false;
		if (r->has_until && ev->ts_ms > r->until) {
			e->past_end = true;
			return false;
		}
		if (r->has_since && ev->ts_ms < r->since)
			return false;
	}
	if (e->sel.active) {
		if (ev == NULL)
			return false;
		if (!ev->control && !sel_match(&e->sel, ev))
			return false;
	}
	return true;
}

bool
emit_passes_over(struct emitter *e, const struct seg_entry *x)
{
	const struct seg_range *r = &e->range;

	if (e->skipping || seg_entry_may_match(x, r))
		return false;
	if ((r->has_to && x->has_pos && pos_cmp(&x->min_pos, &r->to) > 0) ||
	    (r->has_until && x->has_ts && x->min_ts > r->until))
		e->past_end = true;
	return true;
}

bool
emit_takes_whole(const struct emitter *e, const struct seg_entry *x)
{
	const struct seg_range *r = &e->range;

	if (!e->trusted || e->sel.active || e->rate > 0 || e->speed > 0 || e->skipping)
		return false;
	if (r->has_from || r->has_to || e->has_after) {
		if (!x->has_pos)
			return false;
		if (r->has_from && pos_cmp(&x->min_pos, &r->from) < 0)
			return false;
		if (r->has_to && pos_cmp(&x->max_pos, &r->to) > 0)
			return false;
		if (e->has_after && pos_cmp(&x->min_pos, &e->after) <= 0)
			return false;
	}
	if (r->has_since || r->has_until) {
		if (!x->has_ts)
			return false;
		if (r->has_since && x->min_ts < r->since)
			return false;
		if (r->has_until && x->max_ts > r->until)
			return false;
	}
	return true;
}

/* One whole line (len bytes, without its '\n'). */
static int
one_line(struct emitter *e, const char *line, size_t len)
{
	struct evin_check c;
	const struct event_info *evp = NULL;

	e->lineno++;
	if (len > e->max_line) {
		char reason[sizeof(c.reason)];

		evin_too_long_reason(len, e->max_line, reason, sizeof(reason));
		return bad_line(e, reason, line, len, len);
	}
	if (e->scan || !e->pass) {
		if (evin_check_line(EVIN_OBJECTS, e->trusted, line, len, &c) < 0)
			return bad_line(e, c.reason, line, len, 0);
		if (c.has_ev)
			evp = &c.ev;
		if (!selected(e, evp))
			return 0;
		if (evp && evp->has_pos) {
			e->last_pos = evp->pos;
			e->have_pos = true;
		}
	}
	if ((e->rate > 0 || e->speed > 0) && pace(e, evp) < 0)
		return -1;
	if (wr_line(&e->out, line, len) < 0)
		return output_failed(e);
	e->events++;
	e->bytes += len + 1;
	if (e->metrics) {
		metrics_event_in(e->metrics, evp, len + 1);
		metrics_event_out(e->metrics, evp, len + 1);
	}
	if (e->progress && (e->events & 1023) == 0)
		maybe_progress(e);
	return 0;
}

/* Skipping an over-long line: look for its end in [p, end).  Returns bytes used, -1 to stop. */
static long
skip_on(struct emitter *e, const char *p, const char *end, bool final)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
	char reason[160];

	e->skip_len += n;
	if (nl == NULL && !final)
		return (long)n;
	e->skipping = false;
	e->lineno++;
	evin_too_long_reason(e->skip_len, e->max_line, reason, sizeof(reason));
	if (bad_line(e, reason, e->skip_prefix, e->skip_prefix_len, e->skip_len) < 0)
		return -1;
	return (long)(nl ? n + 1 : n);
}

static uint64_t
count_newlines(const char *p, size_t n)
{
	const char *end = p + n;
	uint64_t c = 0;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

static const char *
last_newline(const char *p, const char *end)
{
	while (end > p) {
		if (*--end == '\n')
			return end;
	}
	return NULL;
}

int
emit_lines(struct emitter *e, struct buf *data, bool final)
{
	const char *p = data->data, *end = data->data + data->len;

	if (data->len == 0)
		return 0;
	if (e->skipping) {
		long n = skip_on(e, p, end, final);

		if (n < 0)
			return -1;
		p += n;
	}
	if (e->pass && (!e->scan || e->whole) && e->rate <= 0) {
		/*
		 * Nothing to check (a checked log) or nothing that asks for a
		 * check, nothing to select: whole lines go out as they are,
		 * unless one of them may be longer than --max-line (then they
		 * go one by one).  Line numbers are kept for messages about
		 * unchecked input.
		 */
		const char *last = last_newline(p, end);

		if (last && (size_t)(last - p) <= e->max_line) {
			size_t n = (size_t)(last + 1 - p);

			if (wr_write(&e->out, p, n) < 0)
				return output_failed(e);
			e->bytes += n;
			if (e->count_lines || !e->trusted) {
				uint64_t k = count_newlines(p, n);

				e->lineno += k;
				if (e->count_lines)
					e->events += k;
				if (e->count_lines && e->metrics) {
					e->metrics->events_in += k;
					e->metrics->events_out += k;
					e->metrics->bytes_in += n;
					e->metrics->bytes_out += n;
				}
			}
			p = last + 1;
			if (e->progress)
				maybe_progress(e);
		}
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			break;
		if (one_line(e, p, (size_t)(nl - p)) < 0)
			return -1;
		p = nl + 1;
	}
	if (p < end && final) {
		/*
		 * A last line without its newline that is not a whole JSON value:
		 * its writer stopped in the middle of it (cdc-events(7)).  From a
		 * pipe that means "restart": the writer sends it again; in a file
		 * the replay ends cleanly before it.
		 */
		if (!e->skipping && evin_is_cut(p, (size_t)(end - p))) {
			evin_report_cut(e->name, (uint64_t)(end - p), e->have_pos ? &e->last_pos : NULL);
			if (e->stream) {
				if (emit_flush(e) == 0)
					e->status = CDC_EXIT_TEMPFAIL;
				return -1;
			}
		} else if (one_line(e, p, (size_t)(end - p)) < 0) {
			return -1;
		}
		p = end;
	}
	if (p < end && (size_t)(end - p) > e->max_line) {
		/* Too long already: keep its head for the report, drop the rest as it comes. */
		e->skipping = true;
		e->skip_len = (size_t)(end - p);
		e->skip_prefix_len = e->skip_len < LR_PREFIX ? e->skip_len : LR_PREFIX;
		memcpy(e->skip_prefix, p, e->skip_prefix_len);
		p = end;
	}
	/* Keep the unfinished line at the front. */
	if (p > data->data) {
		size_t rest = (size_t)(end - p);

		memmove(data->data, p, rest);
		buf_setlen(data, rest);
	}
	return 0;
}

void
emit_drop_partial(struct emitter *e, struct buf *data)
{
	buf_reset(data);
	e->skipping = false;
}
