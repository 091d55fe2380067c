/*
 * metrics.h: what every program counts, and how it tells: --stats (a line
 * on stderr every 10 s and at exit) and --metrics-file FILE (Prometheus
 * text format, replaced atomically every 5 s and at exit).
 *
 * The names are shared by all programs, labelled with the program and the
 * source (the slot the events come from, source.name), so one dashboard
 * reads a whole pipeline (cdc-events(7), METRICS):
 *
 *   cdc_events_in_total, cdc_events_out_total, cdc_events_skipped_total,
 *   cdc_events_dead_lettered_total, cdc_bytes_in_total, cdc_bytes_out_total,
 *   cdc_retries_total, cdc_connection_restarts_total,
 *   cdc_position_commit_lsn / _seq (the last event read),
 *   cdc_checkpoint_commit_lsn / _seq (what the program has made durable or
 *   confirmed), cdc_lag_seconds (now minus the last event's commit time),
 *   cdc_event_lag_seconds (a summary: quantiles over the last 60 seconds,
 *   _sum and _count over the whole run), cdc_start_time_seconds.
 *
 * A program adds its own lines through the extra hook: counters
 * (metrics_counter()) and size histograms (struct metrics_sizes).  The
 * struct owns nothing but its own arrays; metrics_finish() writes the last
 * time.
 */
#ifndef CDC_METRICS_H
#define CDC_METRICS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "lsn.h"

/* Option values (above any program's own). */
enum {
	METRICS_OPT_FILE = 0x4100,
	METRICS_OPT_STATS,
};

#define METRICS_OPTIONS \
	{ "metrics-file", required_argument, NULL, METRICS_OPT_FILE }, \
	{ "stats", no_argument, NULL, METRICS_OPT_STATS }

#define METRICS_HELP \
	"      --stats                  counters and lag on stderr every 10 s and at exit\n" \
	"      --metrics-file FILE      keep Prometheus metrics in FILE (every 5 s and at exit)\n"

/* The lag window: 12 slots of 5 s, each a log-linear histogram. */
#define METRICS_LAG_BUCKETS 320
#define METRICS_LAG_SLOTS 12
#define METRICS_LAG_SLOT_MS 5000

struct metrics {
	const char *program;
	char source[128];		/* source.name of the events, or the slot; "" unknown */
	const char *path;		/* --metrics-file, or NULL */
	bool stats;			/* --stats */
	int64_t start_ms;		/* wall clock, for cdc_start_time_seconds */
	int64_t started_mono, last_write, last_stats;
	/* counters */
	uint64_t events_in, events_out, skipped, dead_lettered;
	uint64_t bytes_in, bytes_out, retries, reconnects;
	uint64_t events_at_stats;
	/* gauges */
	bool have_pos, have_ckpt;
	struct cdc_pos pos, ckpt;
	int64_t last_commit_ms;		/* commit time of the last event that had one; 0 none */
	/* the lag summary */
	uint32_t lag[METRICS_LAG_SLOTS][METRICS_LAG_BUCKETS];
	int64_t lag_slot_start[METRICS_LAG_SLOTS];
	double lag_sum;			/* seconds */
	uint64_t lag_count;
	int64_t held_ms;		/* metrics_clock_hold()'s reading; 0: none */
	/* program-specific lines: metrics file (labels given) and --stats text */
	void (*extra)(struct buf *out, const char *labels, void *arg);
	void (*extra_stats)(struct buf *out, void *arg);
	void *extra_arg;
};

/*
 * Take option c if it is one of METRICS_OPTIONS: returns true, false for
 * any other option.
 */
bool metrics_option(struct metrics *m, int c, const char *arg);
/*
 * Ready m for program; checks at once that the metrics file can be
 * written (dies with a clear line, exit 1, if not), so that a run never
 * learns it only at its end.
 */
void metrics_init(struct metrics *m, const char *program);
/* Name the source (e.g. the slot) when the program knows it before any event. */
void metrics_set_source(struct metrics *m, const char *name, size_t len);
/* An event read: counts it and its bytes, notes its position, source and commit time. */
void metrics_event_in(struct metrics *m, const struct event_info *ev, size_t bytes);
/*
 * An event written or applied: counts it and its bytes and, when ev has a
 * commit time, takes a lag sample (now minus that time).  ev may be NULL.
 */
void metrics_event_out(struct metrics *m, const struct event_info *ev, size_t bytes);
/*
 * A lag sample when an event committed at ts_ms (wall clock) is done: now
 * minus ts_ms.  One clock read, which also places the sample in the window
 * (slots follow the wall clock).
 */
void metrics_lag_since(struct metrics *m, int64_t ts_ms);
/*
 * Between metrics_clock_hold() and metrics_clock_release() lag samples
 * share one clock reading: for a caller that acknowledges many events at
 * one moment (a bulk answer, a batch, a poll's delivery reports), a clock
 * read per event was a few per cent of a sink's time.
 */
void metrics_clock_hold(struct metrics *m);
void metrics_clock_release(struct metrics *m);
/* The lag quantile q over the window, in ms; -1 without samples. */
int64_t metrics_lag_quantile(struct metrics *m, double q);
/* Write the file / print the stats line when their time has come.  Cheap to call often. */
void metrics_tick(struct metrics *m);
/* One counter in the metrics file's format, for a program's extra lines. */
void metrics_counter(struct buf *out, const char *labels, const char *name, const char *help,
		     uint64_t v);
/*
 * Sizes (documents per request, events per batch): a Prometheus histogram
 * with the bounds 1, 2, 5, 10, 20, ... 10000 and +Inf.  Zeroed is empty.
 */
#define METRICS_SIZE_BUCKETS 14
struct metrics_sizes {
	uint64_t bucket[METRICS_SIZE_BUCKETS];	/* not cumulative: bucket i holds (bound i-1, bound i] */
	uint64_t sum, count;
};
void metrics_sizes_add(struct metrics_sizes *h, uint64_t v);
/* h as NAME_bucket{...,le="..."}, NAME_sum and NAME_count lines. */
void metrics_sizes_write(struct buf *out, const char *labels, const char *name, const char *help,
			 const struct metrics_sizes *h);
/* The last write and stats line (at exit). */
void metrics_finish(struct metrics *m);

#endif
