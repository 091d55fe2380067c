/*
 * A truncate event: delete the table's documents (--truncate=delete), or
 * only move the checkpoint (skip), or refuse it (stop).
 */
#include "sink.h"
#include "docid.h"
#include "log.h"

#include <stdio.h>

void
do_truncate(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *line,
	    size_t len)
{
	const struct config *cfg = s->cfg;
	struct buf path = BUF_INIT;
	long st;
	uint64_t ord;

	if (cfg->truncate == TRUNC_SKIP) {
		info(1, "line %llu: truncate skipped (--truncate=skip)", (unsigned long long)lineno);
		ring_push(s, ev, 0);
		return;
	}
	if (cfg->truncate == TRUNC_STOP) {
		bad_line(s, lineno, ev, "truncate refused (--truncate=stop)", line, len, 0);
		return;
	}
	if (!index_has_table(cfg->index_tmpl)) {
		bad_line(s, lineno, ev, "truncate: the index template has no {table}, so deleting "
			 "the index's documents would delete other tables' too", line, len, 0);
		return;
	}
	/* A barrier: everything before it is applied, nothing after it is sent yet. */
	drain(s);
	if (s->fatal)
		finish(s, s->fatal);
	ord = ring_push(s, ev, 1);
	buf_reset(&s->scratch_index);
	index_name(cfg->index_tmpl, ev, &s->scratch_index);
	if (!cfg->dry_run) {
		buf_addf(&path, "/%s/_refresh", s->scratch_index.data);
		st = http_sync(s, "POST", path.data, NULL);
		if (st == 200) {
			buf_reset(&path);
			buf_addf(&path, "/%s/_delete_by_query?conflicts=proceed&refresh=true",
				 s->scratch_index.data);
			st = http_sync(s, "POST", path.data, "{\"query\":{\"match_all\":{}}}");
		}
		if (st < 0)
			finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
		if (st != 200 && st != 404) {
			error("line %llu: truncate of index %s failed: HTTP %ld",
			      (unsigned long long)lineno, s->scratch_index.data, st);
			finish(s, CDC_EXIT_FAILURE);
		}
		info(1, "line %llu: truncate: deleted the documents of index %s",
		     (unsigned long long)lineno, s->scratch_index.data);
	}
	slot_release(s, ord);
	buf_release(&path);
}

