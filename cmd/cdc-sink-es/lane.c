/*
 * Lanes: per-lane batches, the requests that carry them, and what the
 * responses mean for each action.
 *
 * A lane has at most one request in flight.  Its "work" batch is sent in
 * one or more requests (more when a 413 forces a split or when items come
 * back 429/5xx and are resent alone); only when every item of the work
 * batch is resolved does the lane take its "fill" batch.  That keeps a
 * document's events in order: they are all on this lane, and nothing is
 * sent past an unresolved item of the same document.
 */
#include "sink.h"
#include "bulkresp.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <stdlib.h>
#include <string.h>


static void
batch_clear(struct batch *b)
{
	buf_reset(&b->body);
	buf_reset(&b->lines);
	buf_reset(&b->merged);
	b->n = 0;
	b->todo = 0;
	b->first_ms = 0;
	b->toast = false;
	b->toast_merged = false;
}

void
lanes_init(struct sink *s)
{
	const struct config *cfg = s->cfg;

	buf_adds(&s->bulk_path, "/_bulk?filter_path=errors,items.*.status,items.*.error.type,"
		 "items.*.error.reason");
	if (cfg->pipeline) {
		char *esc = curl_easy_escape(NULL, cfg->pipeline, 0);

		buf_addf(&s->bulk_path, "&pipeline=%s", esc);
		curl_free(esc);
	}
	if (cfg->refresh)
		buf_addf(&s->bulk_path, "&refresh=%s", cfg->refresh);
	s->lanes = xcalloc((size_t)cfg->workers, sizeof(*s->lanes));
	for (int i = 0; i < cfg->workers; i++) {
		struct lane *ln = &s->lanes[i];

		ln->id = i;
		if (!cfg->dry_run) {
			ln->easy = curl_easy_init();
			if (ln->easy == NULL)
				die("cannot set up libcurl");
			SETOPT(ln->easy, CURLOPT_PRIVATE, ln);
		}
	}
}

bool
lanes_empty(struct sink *s)
{
	for (int i = 0; i < s->cfg->workers; i++) {
		struct lane *ln = &s->lanes[i];

		/* A stopped lane sends nothing more, but its last answer is awaited. */
		if (ln->stopped) {
			if (ln->busy)
				return false;
			continue;
		}
		if (ln->busy || ln->work.n > 0 || ln->fill.n > 0)
			return false;
	}
	return true;
}

bool
lanes_in_flight(const struct sink *s)
{
	for (int i = 0; i < s->cfg->workers; i++)
		if (s->lanes[i].busy)
			return true;
	return false;
}

int
lanes_next_wake(struct sink *s, int max_wait)
{
	int64_t now = mono_ms();
	int64_t best = max_wait;
	bool in_flight = lanes_in_flight(s);

	for (int i = 0; i < s->cfg->workers; i++) {
		struct lane *ln = &s->lanes[i];

		if (!ln->busy && ln->work.todo > 0 && ln->wake_ms > 0) {
			int64_t d = ln->wake_ms - now;

			if (d < best)
				best = d < 0 ? 0 : d;
		}
		if (!ln->busy && ln->work.n == 0 && ln->fill.n > 0) {
			int64_t d = ln->fill.first_ms + s->cfg->batch_wait_ms - now;

			/*
			 * An idle input sends the batch once it is --linger old,
			 * but not while a request is in flight (lanes_kick()):
			 * its answer wakes the loop then.
			 */
			if (s->input_idle && !in_flight && ln->fill.first_ms + s->cfg->linger_ms - now < d)
				d = ln->fill.first_ms + s->cfg->linger_ms - now;

			if (d < best)
				best = d < 0 ? 0 : d;
		}
	}
	return (int)best;
}

/* True when the batch already holds an action for the document. */
static bool
batch_has_doc(const struct batch *b, uint64_t h)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].dochash == h)
			return true;
	return false;
}

/* Where an item's body is. */
static const char *
item_body(const struct batch *b, const struct item *it)
{
	return (it->merged ? b->merged.data : b->body.data) + it->body_off;
}

/* --- sending --- */

static void send_bulk(struct sink *s, struct lane *ln);
static void send_mget(struct sink *s, struct lane *ln);

static void
lane_send(struct sink *s, struct lane *ln)
{
	ln->wake_ms = 0;
	if (ln->work.toast && !ln->work.toast_merged && !s->cfg->dry_run)
		send_mget(s, ln);
	else
		send_bulk(s, ln);
}

/* Hand the body to curl (gzipped if asked) and start the transfer. */
static void
start_transfer(struct sink *s, struct lane *ln, const char *path, const char *body,
	       size_t len, bool ndjson)
{
	CURLMcode mc;

	http_prepare(s, ln->easy, &ln->url, path, &ln->resp, ln->errbuf);
	if (s->cfg->gzip) {
		http_gzip(body, len, &ln->gz);
		body = ln->gz.data;
		len = ln->gz.len;
	}
	SETOPT(ln->easy, CURLOPT_HTTPHEADER, ndjson ? ln->headers : ln->headers_json);
	SETOPT(ln->easy, CURLOPT_POSTFIELDS, body);
	SETOPT(ln->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	mc = curl_multi_add_handle(s->multi, ln->easy);
	if (mc != CURLM_OK)
		die("cannot start a request: %s", curl_multi_strerror(mc));
	ln->busy = true;
	s->started = true;
	ln->req_bytes = len;
	s->st.bytes += len;
}

static void
send_bulk(struct sink *s, struct lane *ln)
{
	struct batch *b = &ln->work;
	size_t first = SIZE_MAX, last = 0, count = 0, bytes = 0;
	bool contiguous = true;
	const char *body;
	size_t len;

	ln->phase = PH_BULK;
	for (size_t i = 0; i < b->n && count < ln->chunk; i++) {
		struct item *it = &b->items[i];

		if (it->done)
			continue;
		if (count > 0 && bytes + it->body_len > s->batch_bytes)
			break;
		if (first == SIZE_MAX)
			first = i;
		else if (i != last + 1 || it->merged || b->items[last].merged)
			contiguous = false;
		if (it->merged)
			contiguous = false;
		last = i;
		it->inreq = true;
		count++;
		bytes += it->body_len;
	}
	if (count == 0)
		return;
	ln->req_items = count;
	if (contiguous) {
		body = b->body.data + b->items[first].body_off;
		len = b->items[last].body_off + b->items[last].body_len - b->items[first].body_off;
	} else {
		buf_reset(&ln->req);
		for (size_t i = first; i <= last; i++)
			if (b->items[i].inreq)
				buf_add(&ln->req, item_body(b, &b->items[i]), b->items[i].body_len);
		body = ln->req.data;
		len = ln->req.len;
	}
	if (s->cfg->dry_run) {
		/* Print the body; every action counts as applied. */
		if (wr_write(&s->out, body, len) < 0)
			wr_die_on_error(&s->out, "standard output");
		s->st.batches++;
		metrics_sizes_add(&s->st.req_actions, count);
		for (size_t i = first; i <= last; i++) {
			struct item *it = &b->items[i];

			if (!it->inreq)
				continue;
			it->inreq = false;
			it->done = true;
			b->todo--;
			s->st.docs++;
			ackring_release(&s->ack, it->ord);
		}
		return;
	}
	start_transfer(s, ln, s->bulk_path.data, body, len, true);
}

/* The action line's {"index":{"_index":..,"_id":..}} members, raw. */
static void
action_target(const char *body, size_t len, const char **idx, size_t *ilen,
	      const char **id, size_t *idlen)
{
	const char *nl = memchr(body, '\n', len);
	size_t alen = nl ? (size_t)(nl - body) : len;
	struct json_iter it;
	struct json_span k;
	const char *v, *err;
	size_t vlen;

	*idx = *id = NULL;
	*ilen = *idlen = 0;
	if (json_iter_begin(&it, body, alen) < 0 || json_iter_next(&it, &k, &v, &vlen, &err) != 1)
		return;
	json_member(v, vlen, "_index", NULL, idx, ilen);
	json_member(v, vlen, "_id", NULL, id, idlen);
}

static void
send_mget(struct sink *s, struct lane *ln)
{
	struct batch *b = &ln->work;
	size_t count = 0;

	ln->phase = PH_MGET;
	buf_reset(&ln->req);
	buf_adds(&ln->req, "{\"docs\":[");
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		const char *idx, *id, *cols, *err;
		size_t ilen, idlen, clen;
		struct event_info ev;

		if (!it->toast || it->done)
			continue;
		action_target(item_body(b, it), it->body_len, &idx, &ilen, &id, &idlen);
		if (event_scan(b->lines.data + it->line_off, it->line_len, &ev, &err) < 0 ||
		    idx == NULL || id == NULL)
			die("internal error: cannot re-read a queued event");
		cols = ev.unchanged_toast;
		clen = ev.unchanged_toast_len;
		if (count++ > 0)
			buf_addc(&ln->req, ',');
		buf_adds(&ln->req, "{\"_index\":");
		buf_add(&ln->req, idx, ilen);
		buf_adds(&ln->req, ",\"_id\":");
		buf_add(&ln->req, id, idlen);
		buf_adds(&ln->req, ",\"_source\":");
		/* The columns to fetch, plus the soft-delete marker. */
		while (clen > 0 && cols[clen - 1] != ']')
			clen--;
		buf_add(&ln->req, cols, clen - 1);
		if (s->cfg->soft_delete)
			buf_adds(&ln->req, ",\"" SOFT_DELETE_FIELD "\"");
		buf_adds(&ln->req, "]}");
		it->inreq = true;
	}
	buf_adds(&ln->req, "]}");
	if (count == 0) {
		b->toast_merged = true;
		send_bulk(s, ln);
		return;
	}
	ln->req_items = count;
	start_transfer(s, ln, "/_mget", ln->req.data, ln->req.len, false);
}

/* Move the fill batch to work and send it.  The lane must be free. */
static void
lane_start(struct sink *s, struct lane *ln)
{
	struct batch tmp = ln->work;

	ln->work = ln->fill;
	ln->fill = tmp;
	batch_clear(&ln->fill);
	ln->work.todo = ln->work.n;
	ln->chunk = ln->work.n;
	ln->attempts = 0;
	lane_send(s, ln);
}

void
lanes_kick(struct sink *s)
{
	int64_t now = mono_ms();
	struct lane *oldest = NULL;

	if (s->fatal && s->fatal != CDC_EXIT_DATAERR)
		return;
	for (int i = 0; i < s->cfg->workers; i++) {
		struct lane *ln = &s->lanes[i];
		struct batch *f = &ln->fill;

		if (ln->busy || ln->stopped)
			continue;
		if (ln->work.n > 0 && ln->work.todo == 0)
			batch_clear(&ln->work);
		if (ln->work.n > 0) {
			if (ln->wake_ms <= now)
				lane_send(s, ln);
			continue;
		}
		if (f->n > 0 && (f->n >= s->cfg->batch_docs || f->body.len >= s->batch_bytes ||
				 now - f->first_ms >= s->cfg->batch_wait_ms))
			lane_start(s, ln);
		else if (f->n > 0 && (!oldest || f->first_ms < oldest->fill.first_ms))
			oldest = ln;
	}
	/*
	 * Natural batching: a pause of the input sends a gathered batch only
	 * when no request is in flight, and only one, the oldest; while a
	 * request is in flight every lane keeps gathering, so the batch size
	 * follows the server's pace instead of the input's pauses, with one
	 * request per round trip (full or old batches still go at once).
	 */
	if (oldest && s->input_idle && !lanes_in_flight(s) && now - oldest->fill.first_ms >= s->cfg->linger_ms)
		lane_start(s, oldest);
}

bool
lane_idle(struct lane *ln)
{
	if (!ln->busy && ln->work.n > 0 && ln->work.todo == 0)
		batch_clear(&ln->work);
	return !ln->busy && ln->work.n == 0;
}

void
lane_flush(struct sink *s, struct lane *ln)
{
	if (lane_idle(ln) && ln->fill.n > 0)
		lane_start(s, ln);
}

bool
lane_holds_doc(const struct lane *ln, uint64_t dochash)
{
	if (batch_has_doc(&ln->fill, dochash))
		return true;
	for (size_t i = 0; i < ln->work.n; i++)
		if (ln->work.items[i].dochash == dochash && !ln->work.items[i].done)
			return true;
	return false;
}

bool
lane_must_flush(const struct sink *s, const struct lane *ln, size_t add, bool toast,
		uint64_t dochash)
{
	const struct batch *f = &ln->fill;

	return f->n > 0 && (f->body.len + add > s->batch_bytes || f->n >= s->cfg->batch_docs ||
			    (toast && batch_has_doc(f, dochash)));
}

void
lane_add(struct sink *s, struct lane *ln, uint64_t ord, uint64_t lineno, const char *line,
	 size_t len, const struct buf *action, const char *doc, size_t doclen,
	 uint64_t dochash, uint64_t version, bool is_delete, enum toast_kind toast)
{
	struct batch *f = &ln->fill;
	struct item *it;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->items = xrealloc(f->items, f->cap * sizeof(*f->items));
	}
	if (f->n == 0)
		f->first_ms = mono_ms();
	it = &f->items[f->n++];
	memset(it, 0, sizeof(*it));
	it->ord = ord;
	it->lineno = lineno;
	it->dochash = dochash;
	it->version = version;
	it->is_delete = is_delete;
	it->toast = toast != TOAST_NONE;
	it->body_off = f->body.len;
	buf_add(&f->body, action->data, action->len);
	if (doc) {
		buf_add(&f->body, doc, doclen);
		buf_addc(&f->body, '\n');
	}
	it->body_len = f->body.len - it->body_off;
	it->line_off = f->lines.len;
	it->line_len = len;
	buf_add(&f->lines, line, len);
	if (toast)
		f->toast = true;
	if (f->n >= s->cfg->batch_docs && !ln->busy && ln->work.n == 0)
		lane_start(s, ln);
}

/* --- responses --- */

/* Why the request failed; resend it after a backoff (or give up). */
static void
lane_retry(struct sink *s, struct lane *ln, const char *why)
{
	struct batch *b = &ln->work;

	for (size_t i = 0; i < b->n; i++)
		b->items[i].inreq = false;
	ln->attempts++;
	s->st.retries++;
	if (s->cfg->max_retries >= 0 && ln->attempts > s->cfg->max_retries) {
		error("%s; giving up after %d retr%s", why, s->cfg->max_retries,
		      s->cfg->max_retries == 1 ? "y" : "ies");
		if (!s->fatal || s->fatal == CDC_EXIT_DATAERR)
			s->fatal = CDC_EXIT_TEMPFAIL;
		return;
	}
	ln->wake_ms = mono_ms() + backoff_delay(s->cfg, ln->attempts);
	if (ln->attempts == 1)
		warning("%s; retrying", why);
	else
		info(1, "%s; retry %d", why, ln->attempts);
}

static void
resolve(struct sink *s, struct batch *b, struct item *it)
{
	it->done = true;
	it->inreq = false;
	b->todo--;
	ackring_release(&s->ack, it->ord);
}

/*
 * An action that can never be applied: stop (message, the lane and the
 * checkpoint stay before it) or dead-letter it and go on.
 */
static void
item_failed(struct sink *s, struct lane *ln, struct item *it, int status,
	    const struct json_span *type, const struct json_span *reason)
{
	struct batch *b = &ln->work;
	const struct ackslot *sl = ackring_slot(&s->ack, it->ord);
	const char *idx, *id;
	size_t ilen, idlen;
	struct buf msg = BUF_INIT, extra = BUF_INIT, name = BUF_INIT, ident = BUF_INIT;
	struct json_span sp;
	char pos[POS_BUFSZ];

	action_target(item_body(b, it), it->body_len, &idx, &ilen, &id, &idlen);
	if (idx && ilen >= 2) {
		sp = (struct json_span){ idx + 1, ilen - 2, memchr(idx, '\\', ilen) != NULL };
		json_span_decode(&sp, &name);
	}
	if (id && idlen >= 2) {
		sp = (struct json_span){ id + 1, idlen - 2, memchr(id, '\\', idlen) != NULL };
		json_span_decode(&sp, &ident);
	}
	buf_addf(&msg, "HTTP %d ", status);
	http_reason(&msg, type, reason);
	if (s->in.dl.policy == BAD_STOP) {
		error("line %llu (position %s): index %s, id %s: %s", (unsigned long long)it->lineno,
		      pos_format(&sl->pos, pos), name.len ? name.data : "?",
		      ident.len ? ident.data : "?", msg.data);
		it->inreq = false;
		it->done = true;
		b->todo--;
		ackring_block(&s->ack, it->ord);
		ln->stopped = true;
		if (!s->fatal)
			s->fatal = CDC_EXIT_DATAERR;
	} else {
		/* The dead letter keeps the full reason: the row is in it anyway. */
		struct buf full = BUF_INIT;

		buf_addf(&full, "HTTP %d ", status);
		if (type->p)
			json_span_decode(type, &full);
		if (reason->p) {
			buf_adds(&full, ": ");
			json_span_decode(reason, &full);
		}
		buf_addf(&extra, "\"status\":%d,\"index\":", status);
		json_add_str(&extra, name.data, name.len);
		buf_adds(&extra, ",\"id\":");
		json_add_str(&extra, ident.data, ident.len);
		buf_addf(&msg, " (index %s, id %s)", name.len ? name.data : "?", ident.len ? ident.data : "?");
		dl_bad_line_detail(&s->in.dl, it->lineno, &sl->pos, msg.data, full.data,
				   b->lines.data + it->line_off, it->line_len, 0, extra.data);
		buf_release(&full);
		resolve(s, b, it);
	}
	buf_release(&msg);
	buf_release(&extra);
	buf_release(&name);
	buf_release(&ident);
}

enum outcome { OUT_OK, OUT_STALE, OUT_RETRY, OUT_TOO_LARGE, OUT_FAIL };

static enum outcome
classify(const struct item *it, const struct bulk_item_result *r)
{
	if (r->status >= 200 && r->status < 300)
		return OUT_OK;
	if (r->status == 409)
		return OUT_STALE;
	if (r->status == 404 && it->is_delete)
		return OUT_OK;
	/* Over an indexing-pressure limit by itself: a split, or a data error when alone. */
	if (r->status == 429 && rejected_too_large(&r->reason))
		return OUT_TOO_LARGE;
	if (r->status == 429 || r->status >= 500)
		return OUT_RETRY;
	if (r->status == 403 && json_span_is(&r->type, "cluster_block_exception"))
		return OUT_RETRY;
	return OUT_FAIL;
}

static void
grow_results(struct sink *s, size_t n)
{
	if (n > s->nresults) {
		s->nresults = n;
		s->results = xrealloc(s->results, n * sizeof(*s->results));
	}
}

static void
bulk_done(struct sink *s, struct lane *ln)
{
	struct batch *b = &ln->work;
	const char *err;
	bool errors;
	long count;
	size_t j = 0, nretry = 0, cap_retry = 0;
	uint64_t *retry_docs = NULL;
	int retry_status = 0;
	bool too_large = false;
	struct buf why = BUF_INIT;

	grow_results(s, ln->req_items);
	count = bulkresp_parse(ln->resp.data, ln->resp.len, s->results, ln->req_items, &errors, &err);
	if (count < 0 || (size_t)count != ln->req_items) {
		buf_addf(&why, "%s: ", s->cfg->nodes[s->node].url);
		if (count < 0)
			buf_addf(&why, "malformed bulk response: %s", err);
		else
			buf_addf(&why, "bulk response has %ld items for %zu actions", count,
				 ln->req_items);
		lane_retry(s, ln, why.data);
		buf_release(&why);
		return;
	}
	s->st.batches++;
	metrics_sizes_add(&s->st.req_actions, ln->req_items);
	/* Every action of the answer is done now: one clock reading for their lag. */
	metrics_clock_hold(&s->m);
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		const struct bulk_item_result *r;
		enum outcome o;
		bool follows = false;

		if (!it->inreq)
			continue;
		r = &s->results[j++];
		o = classify(it, r);
		/*
		 * Alone in its request and still over the limit: it can never be
		 * applied, like a single action over http.max_content_length.
		 * With others, the limit may be the request's (a shard's share
		 * of it): resend in smaller requests, without a backoff.
		 */
		if (o == OUT_TOO_LARGE && ln->req_items == 1)
			o = OUT_FAIL;
		if (o == OUT_TOO_LARGE) {
			too_large = true;
			o = OUT_RETRY;
		}
		/*
		 * A later action for a document whose earlier action must be
		 * resent is resent too, after it: otherwise the retry would
		 * apply the older event last (same version: external_gte lets it).
		 */
		for (size_t k = 0; k < nretry && !follows; k++)
			follows = retry_docs[k] == it->dochash;
		if (o == OUT_RETRY || (follows && o != OUT_FAIL)) {
			if (o == OUT_RETRY && !retry_status)
				retry_status = r->status;
			if (nretry == cap_retry) {
				cap_retry = cap_retry ? cap_retry * 2 : 16;
				retry_docs = xrealloc(retry_docs, cap_retry * sizeof(*retry_docs));
			}
			retry_docs[nretry++] = it->dochash;
			it->inreq = false;
			continue;
		}
		if (o == OUT_FAIL) {
			item_failed(s, ln, it, r->status, &r->type, &r->reason);
			continue;
		}
		if (o == OUT_STALE)
			s->st.stale++;
		else if (it->is_delete)
			s->st.deletes++;
		else
			s->st.docs++;
		resolve(s, b, it);
	}
	metrics_clock_release(&s->m);
	free(retry_docs);
	if (too_large) {
		ln->chunk = ln->req_items / 2;
		info(1, "%s: an action is over the server's indexing-pressure limit in a request of "
		     "%zu: resending in smaller requests", s->cfg->nodes[s->node].url, ln->req_items);
		for (size_t i = 0; i < b->n; i++)
			b->items[i].inreq = false;
		ln->wake_ms = 0;
	} else if (nretry > 0) {
		buf_addf(&why, "%s: %zu of %zu actions failed with HTTP %d",
			 s->cfg->nodes[s->node].url, nretry, ln->req_items, retry_status);
		lane_retry(s, ln, why.data);
		buf_release(&why);
	} else {
		ln->attempts = 0;
	}
}

/* The whole request failed with an HTTP status. */
static void
request_failed(struct sink *s, struct lane *ln, long status)
{
	struct json_span type, reason;
	struct buf why = BUF_INIT;
	const char *url = s->cfg->nodes[s->node].url;

	errresp_parse(ln->resp.data, ln->resp.len, &type, &reason);
	buf_addf(&why, "%s: HTTP %ld", url, status);
	if (type.p || reason.p) {
		buf_adds(&why, " ");
		http_reason(&why, &type, &reason);
	}
	if (status == 429 && ln->phase == PH_BULK && rejected_too_large(&reason)) {
		/* The request alone is over an indexing-pressure limit: as a 413. */
		struct batch *b = &ln->work;

		if (ln->req_items <= 1) {
			for (size_t i = 0; i < b->n; i++)
				if (b->items[i].inreq)
					item_failed(s, ln, &b->items[i], 429, &type, &reason);
		} else {
			ln->chunk = ln->req_items / 2;
			for (size_t i = 0; i < b->n; i++)
				b->items[i].inreq = false;
			ln->wake_ms = 0;
		}
	} else if (status == 413 && ln->phase == PH_BULK) {
		struct batch *b = &ln->work;

		if (ln->req_items <= 1) {
			struct json_span t = { "request_entity_too_large", 24, false };
			struct json_span r = { "the action is larger than the server's "
					       "http.max_content_length", 62, false };

			for (size_t i = 0; i < b->n; i++)
				if (b->items[i].inreq)
					item_failed(s, ln, &b->items[i], 413, &t, &r);
		} else {
			ln->chunk = ln->req_items / 2;
			if (ln->req_bytes / 2 < s->batch_bytes) {
				s->batch_bytes = ln->req_bytes / 2 > 4096 ? ln->req_bytes / 2 : 4096;
				if (!s->split_warned)
					warning("%s: HTTP 413 for %zu bytes: splitting; requests now at "
						"most %llu bytes", url, ln->req_bytes,
						(unsigned long long)s->batch_bytes);
				s->split_warned = true;
			}
			for (size_t i = 0; i < b->n; i++)
				b->items[i].inreq = false;
			ln->wake_ms = 0;
		}
	} else if (status == 429 || status >= 500 ||
		   (status == 403 && json_span_is(&type, "cluster_block_exception"))) {
		lane_retry(s, ln, why.data);
	} else if (status == 401) {
		error("%s: authentication failed (HTTP 401): check CDC_ES_USER/CDC_ES_PASSWORD, "
		      "CDC_ES_API_KEY or the netrc file", url);
		s->fatal = CDC_EXIT_FAILURE;
	} else if (status == 403) {
		error("%s: permission denied (HTTP 403)%s%s", url, why.len ? ": " : "",
		      why.data + strlen(url) + 2);
		s->fatal = CDC_EXIT_FAILURE;
	} else {
		error("%s: request refused: %s", url, why.data + strlen(url) + 2);
		s->fatal = CDC_EXIT_FAILURE;
	}
	buf_release(&why);
}

void
toast_merge(struct buf *out, const char *after, size_t alen, const char *cols, size_t clen,
	    const char *src, size_t srclen)
{
	struct json_iter it;
	struct json_span col;
	const char *cv, *err;
	size_t cvlen;
	bool empty;

	while (alen > 0 && after[alen - 1] != '}')
		alen--;
	empty = json_ws(after + 1, after + alen - 1) == after + alen - 1;
	buf_add(out, after, alen - 1);
	if (cols && json_iter_begin(&it, cols, clen) == 0) {
		struct buf cname = BUF_INIT;
		const char *v;
		size_t vlen;

		while (json_iter_next(&it, NULL, &cv, &cvlen, &err) == 1) {
			if (cvlen < 2 || cv[0] != '"')
				continue;
			buf_reset(&cname);
			col = (struct json_span){ cv + 1, cvlen - 2, memchr(cv, '\\', cvlen) != NULL };
			json_span_decode(&col, &cname);
			if (json_member(src, srclen, cname.data, NULL, &v, &vlen) == 1) {
				if (!empty)
					buf_addc(out, ',');
				empty = false;
				buf_add(out, cv, cvlen);
				buf_addc(out, ':');
				buf_add(out, v, vlen);
			}
		}
		buf_release(&cname);
	}
	buf_addc(out, '}');
}

/* Write the merged document of a TOAST item: after + the stored columns. */
static void
merge_item(struct batch *b, struct item *it, const struct mget_doc *d)
{
	const char *line = b->lines.data + it->line_off, *err, *body = item_body(b, it);
	const char *nl = memchr(body, '\n', it->body_len);
	struct event_info ev;
	size_t off = b->merged.len;

	if (event_scan(line, it->line_len, &ev, &err) < 0 || nl == NULL)
		die("internal error: cannot re-read a queued event");
	buf_add(&b->merged, body, (size_t)(nl - body) + 1);
	toast_merge(&b->merged, ev.after, ev.after_len, ev.unchanged_toast, ev.unchanged_toast_len,
		    d->source, d->source_len);
	buf_addc(&b->merged, '\n');
	it->merged = true;
	it->body_off = off;
	it->body_len = b->merged.len - off;
}

/*
 * Items whose stored document is not found (mdocs[k].err_type or !found,
 * flagged in newer[k] on entry): a later delete or truncate may have
 * removed it, as when a stream is re-delivered, and then the event is stale
 * rather than bad.  _mget cannot see a delete's version; a delete at the
 * event's version less one (external_gte) can: 409 means the server holds
 * the event's version or a newer one.  The event's own version counts: a
 * delete at it is a later event of the same transaction (a row cannot come
 * back after a delete or truncate in its transaction without an insert,
 * which has no unchanged TOAST columns).  Otherwise the probe records a
 * version below the event's, which the event's successors pass.  On return
 * newer[k] says which are stale.  Returns 0, or -1 when the probe failed
 * (retry the lane).
 */
static int
probe_missing(struct sink *s, struct lane *ln, bool *newer, size_t ndocs)
{
	struct batch *b = &ln->work;
	struct buf body = BUF_INIT;
	size_t j = 0, nprobe = 0, p = 0;
	const char *err;
	bool errors;
	long st, n;
	int r = 0;

	for (size_t i = 0; i < b->n && j < ndocs; i++) {
		struct item *it = &b->items[i];
		const char *idx, *id;
		size_t ilen, idlen;

		if (!it->inreq)
			continue;
		if (!newer[j++])
			continue;
		action_target(item_body(b, it), it->body_len, &idx, &ilen, &id, &idlen);
		if (idx == NULL || id == NULL)
			die("internal error: cannot re-read a queued action");
		buf_adds(&body, "{\"delete\":{\"_index\":");
		buf_add(&body, idx, ilen);
		buf_adds(&body, ",\"_id\":");
		buf_add(&body, id, idlen);
		buf_adds(&body, ",\"version\":");
		json_add_u64(&body, it->version > 0 ? it->version - 1 : 0);
		buf_adds(&body, ",\"version_type\":\"external_gte\"}}\n");
		nprobe++;
	}
	if (nprobe == 0)
		goto out;
	st = http_sync_ct(s, "POST", "/_bulk?filter_path=items.*.status", body.data, true);
	grow_results(s, nprobe);
	if (st != 200 ||
	    (n = bulkresp_parse(s->sync_resp.data, s->sync_resp.len, s->results, nprobe, &errors, &err)) < 0 ||
	    (size_t)n != nprobe) {
		r = -1;
		goto out;
	}
	for (size_t k = 0; k < ndocs; k++) {
		if (!newer[k])
			continue;
		if (s->results[p].status != 409 && s->results[p].status != 404 &&
		    (s->results[p].status < 200 || s->results[p].status >= 300)) {
			r = -1;		/* not an answer about versions: ask again later */
			goto out;
		}
		newer[k] = s->results[p++].status == 409;
	}
out:
	buf_release(&body);
	return r;
}

static void
mget_done(struct sink *s, struct lane *ln)
{
	struct batch *b = &ln->work;
	const char *err;
	long count;
	size_t j = 0;
	struct buf why = BUF_INIT;
	bool retry = false;

	if (s->nmdocs < ln->req_items) {
		s->nmdocs = ln->req_items;
		s->mdocs = xrealloc(s->mdocs, s->nmdocs * sizeof(*s->mdocs));
	}
	count = mgetresp_parse(ln->resp.data, ln->resp.len, s->mdocs, ln->req_items, &err);
	if (count < 0 || (size_t)count != ln->req_items) {
		buf_addf(&why, "%s: malformed mget response: %s", s->cfg->nodes[s->node].url,
			 count < 0 ? err : "wrong number of docs");
		lane_retry(s, ln, why.data);
		buf_release(&why);
		return;
	}
	/* A document the server could not read (other than a missing index): ask again. */
	for (size_t k = 0; k < (size_t)count; k++)
		retry |= s->mdocs[k].err_type.p && !json_span_is(&s->mdocs[k].err_type, "index_not_found_exception");
	if (retry) {
		buf_addf(&why, "%s: mget failed for some documents", s->cfg->nodes[s->node].url);
		lane_retry(s, ln, why.data);
		buf_release(&why);
		return;
	}
	if (s->nmnewer < (size_t)count) {
		s->nmnewer = (size_t)count;
		s->mnewer = xrealloc(s->mnewer, s->nmnewer * sizeof(*s->mnewer));
	}
	for (size_t k = 0; k < (size_t)count; k++)
		s->mnewer[k] = s->mdocs[k].err_type.p || !s->mdocs[k].found;
	if (probe_missing(s, ln, s->mnewer, (size_t)count) < 0) {
		buf_addf(&why, "%s: cannot tell a deleted document from a missing one",
			 s->cfg->nodes[s->node].url);
		lane_retry(s, ln, why.data);
		buf_release(&why);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		const struct mget_doc *d;
		bool gone;

		if (!it->inreq)
			continue;
		d = &s->mdocs[j];
		it->inreq = false;
		gone = d->err_type.p || !d->found;
		j++;
		if ((gone && s->mnewer[j - 1]) || (!gone && d->has_version && d->version > it->version)) {
			s->st.stale++;
			resolve(s, b, it);
			continue;
		}
		if (!gone && s->cfg->soft_delete) {
			const char *v;
			size_t vlen;

			gone = json_member(d->source, d->source_len, SOFT_DELETE_FIELD, NULL, &v, &vlen) == 1 &&
			       vlen == 4 && memcmp(v, "true", 4) == 0;
		}
		if (gone) {
			struct json_span t = { "document_missing", 16, false };
			struct json_span r = { "unchanged TOAST columns and no stored document to "
					       "take their values from", 72, false };

			item_failed(s, ln, it, 404, &t, &r);
			continue;
		}
		merge_item(b, it, d);
	}
	b->toast_merged = true;
	ln->attempts = 0;
	/* Even on a stopped lane: the merged items may come before the failed one. */
	if (b->todo > 0)
		send_bulk(s, ln);
}

void
lane_done(struct sink *s, struct lane *ln, CURLcode rc)
{
	long status = 0;

	curl_multi_remove_handle(s->multi, ln->easy);
	ln->busy = false;
	if (rc != CURLE_OK) {
		struct buf why = BUF_INIT;

		buf_addf(&why, "%s: %s", s->cfg->nodes[s->node].url,
			 ln->errbuf[0] ? ln->errbuf : curl_easy_strerror(rc));
		if (http_retryable(rc)) {
			http_failover(s, why.data);
			lane_retry(s, ln, why.data);
		} else {
			error("%s", why.data);
			s->fatal = CDC_EXIT_FAILURE;
		}
		buf_release(&why);
		return;
	}
	curl_easy_getinfo(ln->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		request_failed(s, ln, status);
		return;
	}
	if (ln->phase == PH_MGET)
		mget_done(s, ln);
	else
		bulk_done(s, ln);
}
