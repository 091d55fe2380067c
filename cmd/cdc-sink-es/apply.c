/*
 * Events into actions: each good event line becomes index or delete
 * actions on its document's lane (a key change: the old document goes
 * too; unchanged TOAST columns: filled in from the stored document), or
 * only a slot in the ring (control events, messages); what cannot be
 * applied goes to the bad-input policy.
 */
#include "sink.h"
#include "bulkresp.h"
#include "docid.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

/* A line that cannot be applied: the bad-input policy decides. */
void
bad_line(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *reason,
	 const char *line, size_t len, size_t truncated)
{
	const struct cdc_pos *pos = ev && ev->has_pos ? &ev->pos : NULL;

	if (dl_bad_line(&s->in.dl, lineno, pos, reason, line, len, truncated, NULL) < 0)
		finish(s, CDC_EXIT_DATAERR);
	/* Dead-lettered or skipped: it counts as handled for the watermark. */
	if (pos)
		ring_push(s, ev, 0);
}

/* Append an action line: {"index":{"_index":..,"_id":..,"version":V,"version_type":..}} */
static void
add_action(struct buf *a, const char *verb, const struct buf *index, const struct buf *id,
	   uint64_t version)
{
	buf_addf(a, "{\"%s\":{\"_index\":", verb);
	json_add_str(a, index->data, index->len);
	buf_adds(a, ",\"_id\":");
	json_add_str(a, id->data, id->len);
	buf_adds(a, ",\"version\":");
	json_add_u64(a, version);
	buf_adds(a, ",\"version_type\":\"external_gte\"}}\n");
}

static bool
is_object(const char *v, size_t len)
{
	return v && len >= 2 && v[0] == '{';
}

static void
queue(struct sink *s, uint64_t ord, uint64_t lineno, const char *line, size_t len,
      const struct buf *id, uint64_t version, bool del, const char *doc, size_t doclen,
      enum toast_kind toast)
{
	const struct config *cfg = s->cfg;
	uint64_t h = doc_hash(s->scratch_index.data, s->scratch_index.len, id->data, id->len);
	struct lane *ln = &s->lanes[h % (uint64_t)cfg->workers];

	buf_reset(&s->scratch_action);
	add_action(&s->scratch_action, del ? "delete" : "index", &s->scratch_index, id, version);
	size_t add = s->scratch_action.len + (del ? 0 : doclen + 1);

	if (lane_must_flush(s, ln, add, toast != TOAST_NONE, h))
		loop_wait_lane(s, ln);
	lane_add(s, ln, ord, lineno, line, len, &s->scratch_action, del ? NULL : doc, doclen, h,
		 version, del, toast);
}

/* The document a soft delete leaves: the key columns and the marker. */
static void
soft_delete_doc(const struct event_info *ev, struct buf *doc)
{
	const char *k = ev->key;
	size_t n = ev->key_len;

	buf_reset(doc);
	while (n > 0 && k[n - 1] != '}')
		n--;
	buf_add(doc, k, n - 1);
	if (json_ws(k + 1, k + n - 1) != k + n - 1)
		buf_addc(doc, ',');
	buf_adds(doc, "\"" SOFT_DELETE_FIELD "\":true}");
}

/* A row whose key changed: its old document goes (or gets the soft-delete marker). */
static void
queue_old(struct sink *s, uint64_t ord, uint64_t lineno, const char *line, size_t len,
	  const struct event_info *ev)
{
	const struct config *cfg = s->cfg;
	if (cfg->soft_delete) {
		/* The old key's marker document holds the old key columns. */
		struct event_info old = *ev;

		old.key = ev->before;
		old.key_len = ev->before_len;
		soft_delete_doc(&old, &s->scratch_doc);
		queue(s, ord, lineno, line, len, &s->scratch_old, ev->pos.commit_lsn, false,
		      s->scratch_doc.data, s->scratch_doc.len, false);
	} else {
		queue(s, ord, lineno, line, len, &s->scratch_old, ev->pos.commit_lsn, true, NULL, 0,
		      false);
	}
}

enum moved_toast { MT_MERGED, MT_STALE, MT_MISSING };

/* Whether a stored document (from _mget) can give values for an event of version v. */
static bool
doc_usable(const struct config *cfg, const struct mget_doc *d, uint64_t v)
{
	const char *m;
	size_t mlen;

	if (d->err_type.p || !d->found || d->source == NULL)
		return false;
	if (cfg->soft_delete && json_member(d->source, d->source_len, SOFT_DELETE_FIELD, NULL, &m, &mlen) == 1 &&
	    mlen == 4 && memcmp(m, "true", 4) == 0)
		return false;
	return !(d->has_version && d->version > v);
}

/* Append one {"_index":..,"_id":..,"_source":[cols]} of an _mget body. */
static void
mget_entry(struct sink *s, struct buf *body, const struct buf *id, const char *cols, size_t clen)
{
	const struct config *cfg = s->cfg;
	buf_adds(body, "{\"_index\":");
	json_add_str(body, s->scratch_index.data, s->scratch_index.len);
	buf_adds(body, ",\"_id\":");
	json_add_str(body, id->data, id->len);
	buf_adds(body, ",\"_source\":");
	while (clen > 0 && cols[clen - 1] != ']')
		clen--;
	buf_add(body, cols, clen - 1);
	if (cfg->soft_delete)
		buf_adds(body, ",\"" SOFT_DELETE_FIELD "\"");
	buf_adds(body, "]}");
}

/*
 * A row whose key changed keeps unchanged TOAST columns: their values are
 * in the document under the OLD id; the new id has none yet.  Once every
 * earlier action for either id is applied, read both and append after +
 * the columns to doc, taken from the old document or, when it is gone
 * (a re-delivery after this event was applied), from the new one.
 * MT_STALE: the new document is newer than the event, or the new id was
 * deleted by a later event (a delete at this version is refused), so the
 * event is already overtaken.  MT_MISSING: neither id has a document.
 */
static enum moved_toast
toast_moved(struct sink *s, const struct event_info *ev, const struct buf *old_id,
	    const struct buf *new_id, struct buf *doc)
{
	const struct config *cfg = s->cfg;
	uint64_t v = ev->pos.commit_lsn;
	uint64_t ho = doc_hash(s->scratch_index.data, s->scratch_index.len, old_id->data, old_id->len);
	uint64_t hn = doc_hash(s->scratch_index.data, s->scratch_index.len, new_id->data, new_id->len);
	struct buf body = BUF_INIT;
	struct mget_doc d[2];
	const struct mget_doc *from = NULL;
	enum moved_toast r = MT_MISSING;
	const char *err;
	long st;

	loop_wait_doc(s, &s->lanes[ho % (uint64_t)cfg->workers], ho);
	loop_wait_doc(s, &s->lanes[hn % (uint64_t)cfg->workers], hn);
	buf_adds(&body, "{\"docs\":[");
	mget_entry(s, &body, old_id, ev->unchanged_toast, ev->unchanged_toast_len);
	buf_addc(&body, ',');
	mget_entry(s, &body, new_id, ev->unchanged_toast, ev->unchanged_toast_len);
	buf_adds(&body, "]}");
	for (int attempt = 1;; attempt++) {
		bool again = false;

		st = http_sync(s, "POST", "/_mget", body.data);
		if (st < 0)
			finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
		if (st != 200) {
			error("%s: _mget for a row whose key changed: HTTP %ld", cfg->nodes[s->node].url, st);
			finish(s, CDC_EXIT_FAILURE);
		}
		if (mgetresp_parse(s->sync_resp.data, s->sync_resp.len, d, 2, &err) != 2) {
			error("%s: malformed _mget response", cfg->nodes[s->node].url);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		/* A document the server could not read (other than a missing index): ask again. */
		for (int i = 0; i < 2; i++)
			again |= d[i].err_type.p && !json_span_eq(&d[i].err_type, "index_not_found_exception");
		if (!again)
			break;
		if (cfg->max_retries >= 0 && attempt > cfg->max_retries) {
			error("%s: _mget for a row whose key changed failed; giving up after %d retries",
			      cfg->nodes[s->node].url, attempt - 1);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		usleep((useconds_t)(backoff_delay(cfg, attempt) * 1000));
	}
	if (doc_usable(cfg, &d[0], v))
		from = &d[0];
	else if (doc_usable(cfg, &d[1], v))
		from = &d[1];
	else if (!d[1].err_type.p && d[1].found && d[1].has_version && d[1].version > v)
		r = MT_STALE;
	if (from) {
		buf_reset(doc);
		toast_merge(doc, ev->after, ev->after_len, ev->unchanged_toast,
			    ev->unchanged_toast_len, from->source, from->source_len);
		r = MT_MERGED;
	} else if (r == MT_MISSING && !cfg->soft_delete) {
		/*
		 * The new id's delete tombstone tells a re-delivery whose row was
		 * deleted or moved on later (409) from a row never indexed; a
		 * tombstone at v itself is a later event of this transaction, so
		 * the probe asks at v - 1 (see probe_missing() in lane.c).
		 */
		char *eid = curl_easy_escape(NULL, new_id->data, (int)new_id->len);
		struct buf path = BUF_INIT;

		buf_addf(&path, "/%s/_doc/%s?version=%llu&version_type=external_gte", s->scratch_index.data,
			 eid, (unsigned long long)(v > 0 ? v - 1 : 0));
		curl_free(eid);
		st = http_sync(s, "DELETE", path.data, NULL);
		if (st < 0)
			finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
		if (st == 409)
			r = MT_STALE;
		buf_release(&path);
	}
	buf_release(&body);
	return r;
}

/* One good event line (evinput checked its bytes and its shape). */
void
apply_line(struct sink *s, const struct evin_line *l)
{
	const struct config *cfg = s->cfg;
	const struct event_info ev = l->ev;
	const char *line = l->text, *err;
	size_t len = l->len;
	uint64_t lineno = l->lineno;
	char op;
	bool toast = false, moved = false;
	uint64_t ord;

	if (!ev.has_pos) {
		if (ev.control)
			return;		/* nothing to acknowledge */
		bad_line(s, lineno, &ev, "no source.commit_lsn and source.seq", line, len, 0);
		return;
	}
	if (ackring_name(&s->ack, &ev.name, lineno) < 0)
		exit(CDC_EXIT_FAILURE);
	if (ackring_is_rewind(&ev)) {
		ring_room(s);
		if (ackring_push_rewind(&s->ack, &ev, line, len) < 0)
			bad_line(s, lineno, &ev, "a rewind without rewind.epoch", line, len, 0);
		return;
	}
	if (ackring_seen(&s->ack, &ev)) {
		s->m.skipped++;
		return;
	}
	if (ev.control && cfg->delete_unseen && json_span_eq(&ev.op, "incremental_end")) {
		do_incremental_end(s, lineno, &ev, line, len);
		return;
	}
	if (ev.control || ev.op.p[0] == 'm') {
		ring_push(s, &ev, 0);
		return;
	}
	op = ev.op.p[0];
	if (op == 't') {
		do_truncate(s, lineno, &ev, line, len);
		return;
	}
	if (ev.pos.commit_lsn > (uint64_t)INT64_MAX) {
		bad_line(s, lineno, &ev, "source.commit_lsn is too large for a document version",
			 line, len, 0);
		return;
	}
	if (ev.table.p == NULL) {
		bad_line(s, lineno, &ev, "no source.table", line, len, 0);
		return;
	}
	buf_reset(&s->scratch_id);
	if (docid_from_key(ev.key, ev.key_len, &s->scratch_id, &err) < 0) {
		bad_line(s, lineno, &ev, err, line, len, 0);
		return;
	}
	if (op != 'd' && !is_object(ev.after, ev.after_len)) {
		bad_line(s, lineno, &ev, "\"after\" is not an object", line, len, 0);
		return;
	}
	buf_reset(&s->scratch_index);
	index_name(cfg->index_tmpl, &ev, &s->scratch_index);
	if (op == 'u') {
		const char *u = ev.unchanged_toast;
		size_t ulen = ev.unchanged_toast_len;

		toast = u && ulen > 2 && u[0] == '[' && json_ws(u + 1, u + ulen) < u + ulen - 1;
		/* A changed key: the row's old document goes, with the same version. */
		buf_reset(&s->scratch_old);
		if (is_object(ev.before, ev.before_len) &&
		    docid_from_image(ev.key, ev.key_len, ev.before, ev.before_len, &s->scratch_old,
				     &err) == 1 &&
		    (s->scratch_old.len != s->scratch_id.len ||
		     memcmp(s->scratch_old.data, s->scratch_id.data, s->scratch_id.len) != 0))
			moved = true;
	}
	if (!cfg->dry_run && (cfg->create_body || !cfg->soft_delete || cfg->alias_tmpl))
		ensure_index(s, s->scratch_index.data, &ev);
	if (moved && toast && !cfg->dry_run) {
		uint64_t h = doc_hash(s->scratch_index.data, s->scratch_index.len, s->scratch_id.data,
				      s->scratch_id.len);

		switch (toast_moved(s, &ev, &s->scratch_old, &s->scratch_id, &s->scratch_toast)) {
		case MT_STALE:
			s->st.stale++;
			ring_push(s, &ev, 0);
			return;
		case MT_MISSING:
			bad_line(s, lineno, &ev, "the key changed and neither the old nor the new id has "
				 "a stored document to take the unchanged TOAST columns from", line, len, 0);
			return;
		case MT_MERGED:
			break;
		}
		/*
		 * The new id's document is written first; the old one goes only
		 * once it is applied, so a stop in between leaves the old
		 * document for the re-delivered event to read again.
		 */
		ord = ring_push(s, &ev, 2);
		queue(s, ord, lineno, line, len, &s->scratch_id, ev.pos.commit_lsn, false,
		      s->scratch_toast.data, s->scratch_toast.len, TOAST_NONE);
		loop_wait_doc(s, &s->lanes[h % (uint64_t)cfg->workers], h);
		if (s->fatal)
			finish(s, s->fatal);
		queue_old(s, ord, lineno, line, len, &ev);
		return;
	}
	ord = ring_push(s, &ev, moved ? 2 : 1);
	if (moved)
		queue_old(s, ord, lineno, line, len, &ev);
	if (op == 'd') {
		if (cfg->soft_delete) {
			soft_delete_doc(&ev, &s->scratch_doc);
			queue(s, ord, lineno, line, len, &s->scratch_id, ev.pos.commit_lsn, false,
			      s->scratch_doc.data, s->scratch_doc.len, false);
		} else {
			queue(s, ord, lineno, line, len, &s->scratch_id, ev.pos.commit_lsn, true, NULL, 0,
			      false);
		}
	} else {
		queue(s, ord, lineno, line, len, &s->scratch_id, ev.pos.commit_lsn, false, ev.after,
		      ev.after_len, toast ? TOAST_SAME : TOAST_NONE);
	}
}

