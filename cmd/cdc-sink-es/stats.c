/*
 * Counters, the lag histogram, --stats and --metrics-file.
 *
 * Lag is "now minus commit time" when an event is acknowledged, kept in a
 * log-linear histogram: exact below 16 ms, then 8 buckets per power of two
 * (about 9% wide), so quantiles cost no per-event memory.
 */
#include "sink.h"
#include "fileio.h"
#include "log.h"
#include "timeutil.h"

#include <stdio.h>

static int
bucket_of(uint64_t v)
{
	int e = 63 - __builtin_clzll(v | 1);
	int b;

	if (v < 16)
		return (int)v;
	b = 16 + (e - 4) * 8 + (int)((v >> (e - 3)) & 7);
	return b < LAG_BUCKETS ? b : LAG_BUCKETS - 1;
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

void
stats_lag(struct stats *st, int64_t lag_ms)
{
	st->lag[bucket_of(lag_ms < 0 ? 0 : (uint64_t)lag_ms)]++;
	st->lag_n++;
}

int64_t
stats_lag_quantile(const struct stats *st, double q)
{
	uint64_t want, seen = 0;

	if (st->lag_n == 0)
		return -1;
	want = (uint64_t)(q * (double)st->lag_n);
	if (want >= st->lag_n)
		want = st->lag_n - 1;
	for (int b = 0; b < LAG_BUCKETS; b++) {
		seen += st->lag[b];
		if (seen > want)
			return (int64_t)((bucket_low(b) + bucket_low(b + 1 < LAG_BUCKETS ? b + 1 : b)) / 2);
	}
	return -1;
}

void
stats_print(struct sink *s)
{
	const struct stats *st = &s->st;
	double secs = (double)(mono_ms() - st->start_ms) / 1000.0;
	char pos[POS_BUFSZ];
	int64_t p50 = stats_lag_quantile(st, 0.50), p99 = stats_lag_quantile(st, 0.99);

	char lag[64] = "lag n/a";

	if (secs <= 0)
		secs = 0.001;
	if (p50 >= 0)
		snprintf(lag, sizeof(lag), "lag p50 %lld ms, p99 %lld ms", (long long)p50, (long long)p99);
	fprintf(stderr,
		"%s: stats: %llu events (%llu skipped) in %.1f s; %llu docs indexed, %llu deleted "
		"(%.0f docs/s) in %llu batches; %llu retries; %llu stale (409); %llu dead letters; "
		"%s; checkpoint %s\n",
		cdc_progname, (unsigned long long)st->events, (unsigned long long)st->skipped, secs,
		(unsigned long long)st->docs, (unsigned long long)st->deletes,
		(double)(st->docs + st->deletes) / secs, (unsigned long long)st->batches,
		(unsigned long long)st->retries, (unsigned long long)st->stale,
		(unsigned long long)st->dead, lag,
		s->wm_valid ? pos_format(&s->wm, pos) : "none");
}

static void
counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	buf_addf(b, "# HELP cdc_sink_es_%s %s\n# TYPE cdc_sink_es_%s counter\ncdc_sink_es_%s %llu\n",
		 name, help, name, name, (unsigned long long)v);
}

void
metrics_write(struct sink *s)
{
	const struct stats *st = &s->st;
	struct buf b = BUF_INIT;
	int64_t p50 = stats_lag_quantile(st, 0.50), p99 = stats_lag_quantile(st, 0.99);

	if (s->cfg->metrics_path == NULL)
		return;
	counter(&b, "events_total", "Events read.", st->events);
	counter(&b, "skipped_total", "Events at or below the start checkpoint, skipped.", st->skipped);
	counter(&b, "docs_indexed_total", "Documents indexed.", st->docs);
	counter(&b, "docs_deleted_total", "Documents deleted.", st->deletes);
	counter(&b, "stale_total", "Actions refused as older than the stored document (409).", st->stale);
	counter(&b, "batches_total", "Bulk requests answered.", st->batches);
	counter(&b, "retries_total", "Requests resent after a failure.", st->retries);
	counter(&b, "dead_letters_total", "Events written to the dead-letter file.", st->dead);
	counter(&b, "request_bytes_total", "Request body bytes sent.", st->bytes);
	buf_adds(&b, "# HELP cdc_sink_es_lag_seconds Commit-to-acknowledged lag.\n"
		 "# TYPE cdc_sink_es_lag_seconds summary\n");
	if (p50 >= 0) {
		buf_addf(&b, "cdc_sink_es_lag_seconds{quantile=\"0.5\"} %.3f\n", (double)p50 / 1000);
		buf_addf(&b, "cdc_sink_es_lag_seconds{quantile=\"0.99\"} %.3f\n", (double)p99 / 1000);
	}
	buf_addf(&b, "cdc_sink_es_lag_seconds_count %llu\n", (unsigned long long)st->lag_n);
	buf_adds(&b, "# HELP cdc_sink_es_checkpoint_lsn Commit LSN of the checkpoint (watermark).\n"
		 "# TYPE cdc_sink_es_checkpoint_lsn gauge\n");
	buf_addf(&b, "cdc_sink_es_checkpoint_lsn %llu\n",
		 (unsigned long long)(s->wm_valid ? s->wm.commit_lsn : 0));
	buf_adds(&b, "# HELP cdc_sink_es_checkpoint_seq Sequence number of the checkpoint.\n"
		 "# TYPE cdc_sink_es_checkpoint_seq gauge\n");
	buf_addf(&b, "cdc_sink_es_checkpoint_seq %llu\n",
		 (unsigned long long)(s->wm_valid ? s->wm.seq : 0));
	if (atomic_write_file(s->cfg->metrics_path, b.data, b.len, 0644) < 0)
		error_errno("cannot write metrics file %s", s->cfg->metrics_path);
	buf_release(&b);
	s->st.last_metrics_ms = mono_ms();
}
