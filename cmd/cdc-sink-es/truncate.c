/*
 * Applying a TRUNCATE to its table's index (do_truncate(): the --truncate
 * policy; truncate_index(): the deletes).
 *
 * The truncate's position is its transaction's commit LSN, the version
 * every other action of that transaction carries.  Every document of the
 * index is deleted by id with that version and version_type=external_gte,
 * so that:
 *
 *  - a document written after the truncate (a higher version, by this sink
 *    before a re-delivery, or by a second sink) is refused (409) and stays;
 *  - a document written before it leaves a delete tombstone at the
 *    truncate's version, so an older event replayed later is refused as
 *    stale and does not bring the row back (for index.gc_deletes, as any
 *    delete; with --soft-delete a marker document is indexed instead, which
 *    the server keeps for ever).
 *
 * _delete_by_query cannot do this: it deletes with internal versioning,
 * which leaves each document's version one above what it was, so a
 * re-delivered insert at its original position is refused as stale and the
 * row is lost; and Elasticsearch 8 and 9 without the reindex module have no
 * _delete_by_query at all.
 *
 * The ids come from a scroll over the index (sorted by _doc, no _source)
 * after a refresh; everything before the truncate is applied by then (the
 * caller drains the lanes first).  A scroll that expires while the deletes
 * are retried is started again: deletes are idempotent, and the documents
 * already deleted are no longer found.
 */
#include "sink.h"
#include "bulkresp.h"
#include "docid.h"
#include "log.h"
#include "sig.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCROLL_KEEP "5m"
#define PAGE_MAX 10000		/* the servers' largest page (index.max_result_window) */

struct trunc {
	struct sink *s;
	const char *what;	/* "truncate" or "re-sync", for messages */
	const char *index;
	uint64_t version;	/* of the deletes */
	uint64_t keep_from;	/* documents at this version or above stay */
	uint64_t lineno;
	struct buf bulk;		/* the delete actions of one page */
	size_t nbulk;
	struct buf bulk_path;
	uint64_t deleted, newer, gone;
};

/* A request that failed for good: say why (with the server's reason) and stop. */
static _Noreturn void
trunc_fail(struct trunc *t, const char *what, long st)
{
	struct sink *s = t->s;
	struct json_span type, reason;
	struct buf why = BUF_INIT;

	if (st == -1)
		finish(s, CDC_EXIT_TEMPFAIL);
	if (st == -2)
		finish(s, CDC_EXIT_FAILURE);
	if (errresp_parse(s->sync_resp.data, s->sync_resp.len, &type, &reason) == 0)
		http_reason(&why, &type, &reason);
	error("line %llu: %s of index %s: %s: HTTP %ld%s%s", (unsigned long long)t->lineno,
	      t->what, t->index, what, st, why.len ? ": " : "", why.len ? why.data : "");
	buf_release(&why);
	finish(s, CDC_EXIT_FAILURE);
}

static bool
retryable_item(const struct bulk_item_result *r)
{
	return r->status == 429 || r->status >= 500 ||
	       (r->status == 403 && json_span_is(&r->type, "cluster_block_exception"));
}

/* Send the page's deletes; resend them all while some are refused for load. */
static void
send_deletes(struct trunc *t)
{
	struct sink *s = t->s;
	struct bulk_item_result *res;
	int attempt = 0;

	if (t->nbulk == 0)
		return;
	res = xcalloc(t->nbulk, sizeof(*res));
	for (;;) {
		const char *err;
		bool errors, again = false;
		long st, n;
		uint64_t deleted = 0, newer = 0, gone = 0;

		st = http_sync_ct(s, "POST", t->bulk_path.data, t->bulk.data, true);
		if (st != 200)
			trunc_fail(t, "_bulk delete", st);
		n = bulkresp_parse(s->sync_resp.data, s->sync_resp.len, res, t->nbulk, &errors, &err);
		if (n < 0 || (size_t)n != t->nbulk) {
			error("line %llu: %s of index %s: %s", (unsigned long long)t->lineno,
			      t->what, t->index, n < 0 ? err : "wrong number of items in the _bulk response");
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		for (size_t i = 0; i < t->nbulk; i++) {
			const struct bulk_item_result *r = &res[i];

			if (r->status >= 200 && r->status < 300) {
				deleted++;
			} else if (r->status == 404) {
				gone++;
			} else if (r->status == 409) {
				newer++;
			} else if (retryable_item(r)) {
				again = true;
			} else {
				struct buf why = BUF_INIT;

				http_reason(&why, &r->type, &r->reason);
				error("line %llu: %s of index %s: a delete was refused: HTTP %d: %s",
				      (unsigned long long)t->lineno, t->what, t->index, r->status,
				      why.data ? why.data : "");
				buf_release(&why);
				finish(s, CDC_EXIT_FAILURE);
			}
		}
		if (!again) {
			t->deleted += deleted;
			t->newer += newer;
			t->gone += gone;
			break;
		}
		attempt++;
		s->st.retries++;
		if (s->cfg->max_retries >= 0 && attempt > s->cfg->max_retries) {
			error("line %llu: %s of index %s: deletes refused for load; giving up "
			      "after %d retries", (unsigned long long)t->lineno, t->what, t->index, attempt - 1);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		usleep((useconds_t)(backoff_delay(s->cfg, attempt) * 1000));
	}
	free(res);
	buf_reset(&t->bulk);
	t->nbulk = 0;
}

/* Queue the delete (or soft-delete marker) of one hit at the truncate's version. */
static void
add_delete(struct trunc *t, const struct search_hit *h)
{
	struct buf *b = &t->bulk;

	if (h->has_version && h->version >= t->keep_from) {
		t->newer++;
		return;
	}
	buf_adds(b, t->s->cfg->soft_delete ? "{\"index\":{\"_index\":" : "{\"delete\":{\"_index\":");
	buf_add(b, h->index, h->index_len);
	buf_adds(b, ",\"_id\":");
	buf_add(b, h->id, h->id_len);
	buf_adds(b, ",\"version\":");
	json_add_u64(b, t->version);
	buf_adds(b, ",\"version_type\":\"external_gte\"}}\n");
	if (t->s->cfg->soft_delete)
		buf_adds(b, "{\"" SOFT_DELETE_FIELD "\":true}\n");
	t->nbulk++;
}

/*
 * One pass of scroll pages over the index, deleting what each page lists.
 * Returns 0 when the scroll ran to its end, 1 when it expired (start again).
 */
static int
scroll_pass(struct trunc *t, size_t page)
{
	struct sink *s = t->s;
	struct search_hit *hits = xcalloc(page, sizeof(*hits));
	struct buf path = BUF_INIT, body = BUF_INIT, sid = BUF_INIT;
	struct json_span scroll_id;
	const char *err;
	long st, n;
	int r = 0;

	buf_addf(&path, "/%s/_refresh", t->index);
	st = http_sync(s, "POST", path.data, NULL);
	if (st == 404)
		goto out;	/* no index: nothing to delete */
	if (st != 200)
		trunc_fail(t, "_refresh", st);
	buf_reset(&path);
	buf_addf(&path, "/%s/_search?scroll=" SCROLL_KEEP "&filter_path=_scroll_id,"
		 "hits.hits._index,hits.hits._id,hits.hits._version", t->index);
	buf_addf(&body, "{\"size\":%zu,\"sort\":[\"_doc\"],\"_source\":false,\"version\":true,"
		 "\"query\":", page);
	/* Soft-deleted rows are gone already; their markers keep their versions. */
	if (s->cfg->soft_delete)
		buf_adds(&body, "{\"bool\":{\"must_not\":{\"term\":{\"" SOFT_DELETE_FIELD "\":true}}}}}");
	else
		buf_adds(&body, "{\"match_all\":{}}}");
	st = http_sync(s, "POST", path.data, body.data);
	for (;;) {
		if (st == 404 && sid.len > 0) {
			/* The scroll expired while deletes were retried. */
			info(1, "line %llu: %s of index %s: the scroll expired; starting again",
			     (unsigned long long)t->lineno, t->what, t->index);
			r = 1;
			break;
		}
		if (st == 404)
			break;	/* the index went away meanwhile */
		if (st != 200)
			trunc_fail(t, "_search", st);
		n = searchresp_parse(s->sync_resp.data, s->sync_resp.len, hits, page, &scroll_id, &err);
		if (n < 0) {
			error("line %llu: %s of index %s: %s", (unsigned long long)t->lineno,
			      t->what, t->index, err);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		buf_reset(&sid);
		if (scroll_id.p)
			json_span_decode(&scroll_id, &sid);
		if (n == 0 || sid.len == 0)
			break;
		for (long i = 0; i < n && (size_t)i < page; i++) {
			add_delete(t, &hits[i]);
			if (t->bulk.len >= s->batch_bytes)
				send_deletes(t);
		}
		send_deletes(t);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		buf_reset(&body);
		buf_adds(&body, "{\"scroll\":\"" SCROLL_KEEP "\",\"scroll_id\":");
		json_add_str(&body, sid.data, sid.len);
		buf_addc(&body, '}');
		st = http_sync(s, "POST", "/_search/scroll", body.data);
	}
	if (sid.len > 0) {
		/* Free the server's search context now rather than when it expires. */
		buf_reset(&body);
		buf_adds(&body, "{\"scroll_id\":[");
		json_add_str(&body, sid.data, sid.len);
		buf_adds(&body, "]}");
		http_sync(s, "DELETE", "/_search/scroll", body.data);
	}
out:
	free(hits);
	buf_release(&path);
	buf_release(&body);
	buf_release(&sid);
	return r;
}

/* Delete the documents of index below keep_from at version (see truncate_index()). */
static void
delete_below(struct sink *s, const char *what, const char *index, uint64_t version, uint64_t keep_from,
	     uint64_t lineno)
{
	struct trunc t = { .s = s, .what = what, .index = index, .version = version, .keep_from = keep_from,
			   .lineno = lineno, .bulk = BUF_INIT, .bulk_path = BUF_INIT };
	size_t page = s->cfg->batch_docs < PAGE_MAX ? (size_t)s->cfg->batch_docs : PAGE_MAX;
	int passes = 0;

	if (page == 0)
		page = 1;
	buf_adds(&t.bulk_path, "/_bulk?filter_path=items.*.status,items.*.error.type,"
		 "items.*.error.reason");
	if (s->cfg->pipeline && s->cfg->soft_delete) {
		char *esc = curl_easy_escape(NULL, s->cfg->pipeline, 0);

		buf_addf(&t.bulk_path, "&pipeline=%s", esc);
		curl_free(esc);
	}
	if (s->cfg->refresh)
		buf_addf(&t.bulk_path, "&refresh=%s", s->cfg->refresh);
	while (scroll_pass(&t, page) == 1) {
		if (s->cfg->max_retries >= 0 && ++passes > s->cfg->max_retries) {
			error("line %llu: %s of index %s: the scroll expired %d times; giving up",
			      (unsigned long long)lineno, t.what, index, passes);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
	}
	info(1, "line %llu: %s: %s %llu documents of index %s at version %llu "
	     "(%llu newer kept, %llu already gone)", (unsigned long long)lineno, what,
	     s->cfg->soft_delete ? "marked deleted" : "deleted", (unsigned long long)t.deleted,
	     index, (unsigned long long)version, (unsigned long long)t.newer,
	     (unsigned long long)t.gone);
	buf_release(&t.bulk);
	buf_release(&t.bulk_path);
}

void
truncate_index(struct sink *s, const char *index, uint64_t version, uint64_t lineno)
{
	delete_below(s, "truncate", index, version, version + 1, lineno);
}

/*
 * A truncate event under --truncate: delete the table's documents
 * (delete), only move the checkpoint (skip), or refuse it (stop).
 */
void
do_truncate(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *line,
	    size_t len)
{
	const struct config *cfg = s->cfg;
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
	if (ev->pos.commit_lsn > (uint64_t)INT64_MAX) {
		bad_line(s, lineno, ev, "source.commit_lsn is too large for a document version",
			 line, len, 0);
		return;
	}
	/* A barrier: everything before it is applied, nothing after it is sent yet. */
	drain(s);
	if (s->fatal)
		finish(s, s->fatal);
	ord = ring_push(s, ev, 1);
	buf_reset(&s->scratch_index);
	index_name(cfg->index_tmpl, ev, &s->scratch_index);
	if (!cfg->dry_run)
		truncate_index(s, s->scratch_index.data, ev->pos.commit_lsn, lineno);
	ackring_release(&s->ack, ord);
}


/*
 * The "snapshot" object of an incremental_end event: its since_lsn (0 when
 * null or absent) and whether it had a condition.  -1 when malformed.
 */
static bool
is_null(const char *v, size_t n)
{
	return n == 4 && memcmp(v, "null", 4) == 0;
}

static int
resync_info(const char *line, size_t len, uint64_t *since, bool *conditional)
{
	const char *snap, *v;
	size_t snaplen, vlen;

	*since = 0;
	*conditional = false;
	if (json_member(line, len, "snapshot", NULL, &snap, &snaplen) != 1 || snaplen == 0 || snap[0] != '{')
		return -1;
	if (json_member(snap, snaplen, "condition", NULL, &v, &vlen) == 1 && !is_null(v, vlen))
		*conditional = true;
	if (json_member(snap, snaplen, "since_lsn", NULL, &v, &vlen) == 1 && !is_null(v, vlen) &&
	    !json_parse_u64(v, vlen, since))
		return -1;
	return 0;
}

void
do_incremental_end(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *line, size_t len)
{
	const struct config *cfg = s->cfg;
	uint64_t since, ord;
	bool conditional;

	if (resync_info(line, len, &since, &conditional) < 0) {
		bad_line(s, lineno, ev, "incremental_end: \"snapshot\" is not an object with a numeric since_lsn",
			 line, len, 0);
		return;
	}
	if (conditional || since == 0 || ev->table.p == NULL || ev->pos.commit_lsn > (uint64_t)INT64_MAX) {
		info(1, "line %llu: incremental snapshot ended; %s", (unsigned long long)lineno,
		     conditional ? "it had a condition: no document deleted" :
		     "it names no table or no since_lsn: no document deleted");
		ring_push(s, ev, 0);
		return;
	}
	/* A barrier, as for a truncate: the snapshot and the stream before it are applied. */
	drain(s);
	if (s->fatal)
		finish(s, s->fatal);
	ord = ring_push(s, ev, 1);
	buf_reset(&s->scratch_index);
	index_name(cfg->index_tmpl, ev, &s->scratch_index);
	if (!cfg->dry_run)
		delete_below(s, "re-sync", s->scratch_index.data, ev->pos.commit_lsn, since, lineno);
	ackring_release(&s->ack, ord);
}
