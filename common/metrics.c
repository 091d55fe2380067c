#include "metrics.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define STATS_EVERY_MS 10000
#define WRITE_EVERY_MS 5000

bool
metrics_option(struct metrics *m, int c, const char *arg)
{
	switch (c) {
	case METRICS_OPT_FILE:
		if (*arg == '\0')
			die_usage("empty --metrics-file name");
		m->path = arg;
		return true;
	case METRICS_OPT_STATS:
		m->stats = true;
		return true;
	default:
		return false;
	}
}

void
metrics_init(struct metrics *m, const char *program)
{
	m->program = program;
	m->start_ms = now_ms();
	m->started_mono = m->last_write = m->last_stats = mono_ms();
	if (m->path && check_writable(m->path) < 0)
		die_errno("cannot write metrics file %s", m->path);
}

void
metrics_set_source(struct metrics *m, const char *name, size_t len)
{
	if (len >= sizeof(m->source))
		len = sizeof(m->source) - 1;
	memcpy(m->source, name, len);
	m->source[len] = '\0';
}

/* Whether name is m->source (the plain case without strlen or decoding: once per event). */
static bool
source_is(const struct metrics *m, const struct json_span *name)
{
	if (!name->escaped)
		return name->len < sizeof(m->source) && m->source[name->len] == '\0' &&
		       memcmp(name->p, m->source, name->len) == 0;
	return json_span_eq(name, m->source);
}

void
metrics_event_in(struct metrics *m, const struct event_info *ev, size_t bytes)
{
	m->events_in++;
	m->bytes_in += bytes;
	if (ev == NULL)
		return;
	if (ev->has_pos) {
		m->pos = ev->pos;
		m->have_pos = true;
	}
	if (ev->has_ts && ev->ts_ms > 0)
		m->last_commit_ms = ev->ts_ms;
	if (ev->name.p && !source_is(m, &ev->name)) {
		struct buf b = BUF_INIT;

		if (json_span_decode(&ev->name, &b) == 0)
			metrics_set_source(m, b.data, b.len);
		buf_release(&b);
	}
}

void
metrics_event_out(struct metrics *m, const struct event_info *ev, size_t bytes)
{
	m->events_out++;
	m->bytes_out += bytes;
	if (ev && ev->has_ts && ev->ts_ms > 0 && !ev->control)
		metrics_lag_since(m, ev->ts_ms);
}

/* --- the lag window: log-linear buckets, exact below 16 ms, then 8 per power of two --- */

static int
bucket_of(uint64_t v)
{
	int e = 63 - __builtin_clzll(v | 1);
	int b;

	if (v < 16)
		return (int)v;
	b = 16 + (e - 4) * 8 + (int)((v >> (e - 3)) & 7);
	return b < METRICS_LAG_BUCKETS ? b : METRICS_LAG_BUCKETS - 1;
}

/* The smallest value in bucket b. */
static uint64_t
bucket_low(int b)
{
	int e;

	if (b < 16)
		return (uint64_t)b;
	e = (b - 16) / 8 + 4;
	return ((uint64_t)8 + (uint64_t)((b - 16) % 8)) << (e - 3);
}

/* The slot for time now, emptied if it last held an older period. */
static int
lag_slot(struct metrics *m, int64_t now)
{
	int64_t period = now / METRICS_LAG_SLOT_MS;
	int s = (int)(period % METRICS_LAG_SLOTS);

	if (m->lag_slot_start[s] != period) {
		memset(m->lag[s], 0, sizeof(m->lag[s]));
		m->lag_slot_start[s] = period;
	}
	return s;
}

void
metrics_lag_since(struct metrics *m, int64_t ts_ms)
{
	int64_t now = m->held_ms ? m->held_ms : now_ms(), lag_ms = now - ts_ms;
	int s = lag_slot(m, now);

	if (lag_ms < 0)
		lag_ms = 0;
	m->lag[s][bucket_of((uint64_t)lag_ms)]++;
	m->lag_sum += (double)lag_ms / 1000.0;
	m->lag_count++;
}

void
metrics_clock_hold(struct metrics *m)
{
	m->held_ms = now_ms();
}

void
metrics_clock_release(struct metrics *m)
{
	m->held_ms = 0;
}

int64_t
metrics_lag_quantile(struct metrics *m, double q)
{
	int64_t period = now_ms() / METRICS_LAG_SLOT_MS;
	uint64_t sum[METRICS_LAG_BUCKETS] = { 0 }, n = 0, want, seen = 0;

	for (int s = 0; s < METRICS_LAG_SLOTS; s++) {
		if (period - m->lag_slot_start[s] >= METRICS_LAG_SLOTS)
			continue;	/* older than the window */
		for (int b = 0; b < METRICS_LAG_BUCKETS; b++) {
			sum[b] += m->lag[s][b];
			n += m->lag[s][b];
		}
	}
	if (n == 0)
		return -1;
	want = (uint64_t)(q * (double)n);
	if (want >= n)
		want = n - 1;
	for (int b = 0; b < METRICS_LAG_BUCKETS; b++) {
		seen += sum[b];
		if (seen > want)
			return (int64_t)((bucket_low(b) +
					  bucket_low(b + 1 < METRICS_LAG_BUCKETS ? b + 1 : b)) / 2);
	}
	return -1;
}

/* --- output --- */

static void
head(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
counter(struct buf *b, const char *labels, const char *name, const char *help, uint64_t v)
{
	head(b, name, "counter", help);
	buf_addf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
}

static void
gauge(struct buf *b, const char *labels, const char *name, const char *help, double v)
{
	head(b, name, "gauge", help);
	buf_addf(b, "%s{%s} %.17g\n", name, labels, v);
}

/* The current lag gauge: now minus the last event's commit time, seconds; -1 unknown. */
static double
lag_now(const struct metrics *m)
{
	return m->last_commit_ms ? (double)(now_ms() - m->last_commit_ms) / 1000.0 : -1;
}

static void
render(struct metrics *m, struct buf *b)
{
	struct buf labels = BUF_INIT;
	static const double qs[] = { 0.5, 0.9, 0.99 };

	buf_adds(&labels, "program=");
	json_add_cstr(&labels, m->program);
	buf_adds(&labels, ",source=");
	json_add_cstr(&labels, m->source);
	counter(b, labels.data, "cdc_events_in_total", "Events read.", m->events_in);
	counter(b, labels.data, "cdc_events_out_total", "Events written or applied.", m->events_out);
	counter(b, labels.data, "cdc_events_skipped_total",
		"Events skipped: bad input under --skip-bad, or at or below the checkpoint.", m->skipped);
	counter(b, labels.data, "cdc_events_dead_lettered_total", "Events written to the dead-letter file.",
		m->dead_lettered);
	counter(b, labels.data, "cdc_bytes_in_total", "Bytes read.", m->bytes_in);
	counter(b, labels.data, "cdc_bytes_out_total", "Bytes written or sent.", m->bytes_out);
	counter(b, labels.data, "cdc_retries_total", "Requests or writes tried again after a failure.",
		m->retries);
	counter(b, labels.data, "cdc_connection_restarts_total", "Connections opened again after a loss.",
		m->reconnects);
	gauge(b, labels.data, "cdc_position_commit_lsn", "Commit LSN of the last event read.",
	      m->have_pos ? (double)m->pos.commit_lsn : 0);
	gauge(b, labels.data, "cdc_position_seq", "Sequence in its transaction of the last event read.",
	      m->have_pos ? (double)m->pos.seq : 0);
	gauge(b, labels.data, "cdc_checkpoint_commit_lsn",
	      "Commit LSN of the position made durable or confirmed.", m->have_ckpt ? (double)m->ckpt.commit_lsn : 0);
	gauge(b, labels.data, "cdc_checkpoint_seq", "Sequence of the position made durable or confirmed.",
	      m->have_ckpt ? (double)m->ckpt.seq : 0);
	gauge(b, labels.data, "cdc_lag_seconds",
	      "Now minus the commit time of the last event read (-1: none yet).", lag_now(m));
	head(b, "cdc_event_lag_seconds", "summary",
	     "Commit-to-done lag of events: quantiles over the last 60 s; sum and count over the run.");
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		int64_t q = metrics_lag_quantile(m, qs[i]);

		if (q >= 0)
			buf_addf(b, "cdc_event_lag_seconds{%s,quantile=\"%g\"} %.3f\n", labels.data, qs[i],
				 (double)q / 1000.0);
	}
	buf_addf(b, "cdc_event_lag_seconds_sum{%s} %.3f\n", labels.data, m->lag_sum);
	buf_addf(b, "cdc_event_lag_seconds_count{%s} %llu\n", labels.data, (unsigned long long)m->lag_count);
	gauge(b, labels.data, "cdc_start_time_seconds", "When the program started (Unix time).",
	      (double)m->start_ms / 1000.0);
	if (m->extra)
		m->extra(b, labels.data, m->extra_arg);
	buf_release(&labels);
}

static void
write_file(struct metrics *m)
{
	struct buf b = BUF_INIT;

	render(m, &b);
	if (atomic_write_file(m->path, b.data, b.len, 0644) < 0)
		error_errno("cannot write metrics file %s", m->path);
	buf_release(&b);
	m->last_write = mono_ms();
}

static void
stats_line(struct metrics *m, bool last)
{
	int64_t now = mono_ms();
	double secs = (double)(now - (last ? m->started_mono : m->last_stats)) / 1000.0;
	uint64_t n = last ? m->events_in : m->events_in - m->events_at_stats;
	int64_t p50 = metrics_lag_quantile(m, 0.5), p99 = metrics_lag_quantile(m, 0.99);
	char pos[POS_BUFSZ], ck[POS_BUFSZ];
	struct buf b = BUF_INIT;

	if (secs <= 0)
		secs = 0.001;
	buf_addf(&b, "%s: %s %llu events in (%.0f/s), %llu out, %llu skipped, %llu dead-lettered",
		 m->program, last ? "total:" : "stats:", (unsigned long long)m->events_in, (double)n / secs,
		 (unsigned long long)m->events_out, (unsigned long long)m->skipped,
		 (unsigned long long)m->dead_lettered);
	if (m->retries)
		buf_addf(&b, ", %llu retries", (unsigned long long)m->retries);
	if (m->reconnects)
		buf_addf(&b, ", %llu reconnections", (unsigned long long)m->reconnects);
	if (m->last_commit_ms)
		buf_addf(&b, "; lag now %.1f s", lag_now(m));
	if (p50 >= 0)
		buf_addf(&b, ", p50 %lld ms, p99 %lld ms over 60 s", (long long)p50, (long long)p99);
	if (m->extra_stats)
		m->extra_stats(&b, m->extra_arg);
	buf_addf(&b, "; position %s", m->have_pos ? pos_format(&m->pos, pos) : "none");
	if (m->have_ckpt)
		buf_addf(&b, ", checkpoint %s", pos_format(&m->ckpt, ck));
	fprintf(stderr, "%s\n", b.data);
	buf_release(&b);
	m->events_at_stats = m->events_in;
	m->last_stats = now;
}

void
metrics_tick(struct metrics *m)
{
	int64_t now;

	if (!m->path && !m->stats)
		return;
	now = mono_ms();
	if (m->path && now - m->last_write >= WRITE_EVERY_MS)
		write_file(m);
	if (m->stats && now - m->last_stats >= STATS_EVERY_MS)
		stats_line(m, false);
}

void
metrics_finish(struct metrics *m)
{
	if (m->path)
		write_file(m);
	if (m->stats)
		stats_line(m, true);
}

/* The upper bounds of metrics_sizes' buckets but the last (+Inf). */
static const uint64_t size_bounds[METRICS_SIZE_BUCKETS - 1] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000,
};

void
metrics_sizes_add(struct metrics_sizes *h, uint64_t v)
{
	int i = 0;

	while (i < METRICS_SIZE_BUCKETS - 1 && v > size_bounds[i])
		i++;
	h->bucket[i]++;
	h->sum += v;
	h->count++;
}

void
metrics_sizes_write(struct buf *out, const char *labels, const char *name, const char *help,
		    const struct metrics_sizes *h)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;

	buf_addf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < METRICS_SIZE_BUCKETS; i++) {
		cum += h->bucket[i];
		if (i < METRICS_SIZE_BUCKETS - 1)
			buf_addf(out, "%s_bucket{%s%sle=\"%llu\"} %llu\n", name, labels, sep,
				 (unsigned long long)size_bounds[i], (unsigned long long)cum);
		else
			buf_addf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
				 (unsigned long long)cum);
	}
	buf_addf(out, "%s_sum{%s} %llu\n%s_count{%s} %llu\n", name, labels, (unsigned long long)h->sum,
		 name, labels, (unsigned long long)h->count);
}

void
metrics_counter(struct buf *out, const char *labels, const char *name, const char *help, uint64_t v)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %llu\n", name, help, name, name,
		 labels, (unsigned long long)v);
}
