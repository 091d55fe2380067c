/*
 * The sink's lines in --stats and --metrics-file: what it did with the
 * events (documents indexed and deleted, stale actions, bulk requests),
 * beside the shared counters of common/metrics.c.
 */
#include "sink.h"

void
stats_sync(struct sink *s)
{
	s->m.retries = s->st.retries;
	s->m.bytes_out = s->st.bytes;
}

void
stats_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct sink *s = arg;

	metrics_counter(out, labels, "cdc_sink_es_docs_indexed_total", "Documents indexed.", s->st.docs);
	metrics_counter(out, labels, "cdc_sink_es_docs_deleted_total", "Documents deleted.", s->st.deletes);
	metrics_counter(out, labels, "cdc_sink_es_stale_total",
		"Actions refused as older than the stored document (409).", s->st.stale);
	metrics_counter(out, labels, "cdc_sink_es_requests_total", "Bulk requests answered.", s->st.batches);
	metrics_sizes_write(out, labels, "cdc_sink_es_request_actions",
			    "Actions (documents indexed or deleted) per bulk request answered.",
			    &s->st.req_actions);
	metrics_counter(out, labels, "cdc_sink_es_checkpoint_writes_total",
		"Durable checkpoint writes (at most one per --checkpoint-interval).", s->ack.writes);
}

void
stats_line(struct buf *out, void *arg)
{
	const struct sink *s = arg;

	buf_addf(out, "; %llu docs indexed, %llu deleted, %llu stale (409) in %llu requests",
		 (unsigned long long)s->st.docs, (unsigned long long)s->st.deletes,
		 (unsigned long long)s->st.stale, (unsigned long long)s->st.batches);
}
