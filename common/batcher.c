/*
 * batcher.c: batches over per-key lanes, bisection, retries and the
 * watermark for the function sinks (see batcher.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "opt.h"
#include "sig.h"
#include "timeutil.h"

#define MAX_BACKOFF_MS 30000

/* --- batches --- */

static struct bt_batch *
batch_new(void)
{
	struct bt_batch *b = xcalloc(1, sizeof(*b));

	b->data = (struct buf)BUF_INIT;
	b->tables = (struct buf)BUF_INIT;
	b->extra = (struct buf)BUF_INIT;
	return b;
}

static void
batch_free(struct bt_batch *b)
{
	if (b == NULL)
		return;
	buf_release(&b->data);
	buf_release(&b->tables);
	buf_release(&b->extra);
	free(b->it);
	free(b);
}

/* A new item at the end of b, its texts appended by the caller. */
static struct bt_item *
batch_push(struct bt_batch *b)
{
	struct bt_item *it;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->it = xrealloc(b->it, b->cap * sizeof(*b->it));
	}
	it = &b->it[b->n++];
	memset(it, 0, sizeof(*it));
	it->off = b->data.len;
	it->toff = b->tables.len;
	it->xoff = b->extra.len;
	return it;
}

/* Copy item i of src to the end of dst. */
static void
batch_copy_item(struct bt_batch *dst, const struct bt_batch *src, size_t i)
{
	const struct bt_item *s = &src->it[i];
	struct bt_item *it = batch_push(dst);
	size_t off = it->off, toff = it->toff, xoff = it->xoff;

	*it = *s;
	it->off = off;
	it->toff = toff;
	it->xoff = xoff;
	buf_add(&dst->data, src->data.data + s->off, s->len);
	buf_addc(&dst->data, '\n');
	buf_add(&dst->tables, src->tables.data + s->toff, s->tlen);
	buf_add(&dst->extra, src->extra.data + s->xoff, s->xlen);
}

static void
queue_push(struct bt_lane *w, struct bt_batch *b, bool front)
{
	if (front) {
		b->next = w->q;
		w->q = b;
		if (w->qtail == NULL)
			w->qtail = b;
		return;
	}
	b->next = NULL;
	if (w->qtail)
		w->qtail->next = b;
	else
		w->q = b;
	w->qtail = b;
}

static struct bt_batch *
queue_pop(struct bt_lane *w)
{
	struct bt_batch *b = w->q;

	w->q = b->next;
	if (w->q == NULL)
		w->qtail = NULL;
	b->next = NULL;
	return b;
}

void
batcher_tables(const struct bt_batch *b, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < b->n; i++) {
		const char *t = b->tables.data + b->it[i].toff;
		size_t tl = b->it[i].tlen;
		bool dup = false;

		if (tl == 0)
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = b->it[j].tlen == tl && memcmp(b->tables.data + b->it[j].toff, t, tl) == 0;
		if (dup)
			continue;
		if (out->len)
			buf_addc(out, ',');
		buf_add(out, t, tl);
	}
}

/* --- outcomes --- */

static struct bt_batch *
take_cur(struct bt_lane *w)
{
	struct bt_batch *b = w->cur;

	w->cur = NULL;
	return b;
}

static void
item_done(struct batcher *bt, const struct bt_batch *b, size_t i)
{
	ackring_release(&bt->ack, b->it[i].ord);
}

/* Item i is bad data: the bad-input policy decides. */
static void
item_bad(struct batcher *bt, const struct bt_batch *b, size_t i, const char *what,
	 const char *detail)
{
	const struct bt_item *it = &b->it[i];
	char extra[64];

	snprintf(extra, sizeof(extra), "\"attempt\":%u", b->attempt);
	if (dl_bad_line_detail(&bt->in.dl, it->lineno, &it->pos, what, detail ? detail : what,
			       b->data.data + it->off, it->len, 0, extra) < 0) {
		ackring_block(&bt->ack, it->ord);
		if (!bt->fatal)
			bt->fatal = CDC_EXIT_DATAERR;
	} else {
		bt->m.dead_lettered = bt->in.dl.count;
		item_done(bt, b, i);
	}
}

/*
 * Events older than --max-event-age are not tried again: they go to the
 * bad-input policy.  Returns b, or a new batch of the others (b freed),
 * or NULL when none is left.
 */
static struct bt_batch *
drop_expired(struct batcher *bt, struct bt_lane *w, struct bt_batch *b)
{
	int64_t now = now_ms();
	struct bt_batch *rest;
	size_t old = 0;
	char what[160];

	if (bt->max_age_ms == 0)
		return b;
	for (size_t i = 0; i < b->n; i++)
		if (b->it[i].ts_ms && now - b->it[i].ts_ms > bt->max_age_ms)
			old++;
	if (old == 0)
		return b;
	warning("%s %d: %zu event%s older than --max-event-age (%lld ms): not retried",
		bt->lane_name, w->id, old, old == 1 ? "" : "s", (long long)bt->max_age_ms);
	rest = batch_new();
	rest->attempt = b->attempt;
	for (size_t i = 0; i < b->n; i++) {
		int64_t age = now - b->it[i].ts_ms;

		if (b->it[i].ts_ms && age > bt->max_age_ms) {
			snprintf(what, sizeof(what),
				 "older than --max-event-age (%lld ms old, at most %lld)",
				 (long long)age, (long long)bt->max_age_ms);
			item_bad(bt, b, i, what, NULL);
			bt->expired++;
		} else {
			batch_copy_item(rest, b, i);
		}
	}
	batch_free(b);
	if (rest->n == 0) {
		batch_free(rest);
		return NULL;
	}
	return rest;
}

static void
retry_batch(struct batcher *bt, struct bt_lane *w, struct bt_batch *b, const char *why,
	    const char *detail, int64_t wait_ms)
{
	int64_t wait = bt->backoff_ms;

	b = drop_expired(bt, w, b);
	if (b == NULL)
		return;
	if (b->attempt > bt->max_retries && bt->in.dl.policy != BAD_STOP) {
		/* --skip-bad or --dead-letter: the user chose to go on without them. */
		char what[400];
		struct buf d = BUF_INIT;

		snprintf(what, sizeof(what), "gave up after %u attempts (--max-retries %u): %s",
			 b->attempt, bt->max_retries, why);
		buf_adds(&d, what);
		if (detail && strcmp(detail, why) != 0) {
			buf_adds(&d, ": ");
			buf_adds(&d, detail);
		}
		for (size_t i = 0; i < b->n; i++)
			item_bad(bt, b, i, what, d.data);
		buf_release(&d);
		batch_free(b);
		return;
	}
	if (b->attempt > bt->max_retries) {
		/* The stop policy: nothing is given up; a restart tries again. */
		error("%s %d: %s; giving up after %u attempts (--max-retries %u)", bt->lane_name,
		      w->id, why, b->attempt, bt->max_retries);
		for (size_t i = 0; i < b->n; i++)
			ackring_block(&bt->ack, b->it[i].ord);
		batch_free(b);
		if (!bt->fatal)
			bt->fatal = CDC_EXIT_TEMPFAIL;
		return;
	}
	for (unsigned a = 1; a < b->attempt && wait < MAX_BACKOFF_MS; a++)
		wait *= 2;
	if (wait > MAX_BACKOFF_MS)
		wait = MAX_BACKOFF_MS;
	if (wait_ms >= 0)
		wait = wait_ms;
	warning("%s %d: %s; retrying %zu event%s in %lld ms (attempt %u)", bt->lane_name, w->id,
		why, b->n, b->n == 1 ? "" : "s", (long long)wait, b->attempt + 1);
	bt->retries++;
	b->not_before = mono_ms() + wait;
	queue_push(w, b, true);
}

void
batcher_retry(struct batcher *bt, struct bt_lane *w, const char *why, const char *detail,
	      int64_t wait_ms)
{
	retry_batch(bt, w, take_cur(w), why, detail, wait_ms);
}

void
batcher_applied(struct batcher *bt, struct bt_lane *w, const bool *failed)
{
	struct bt_batch *b = take_cur(w), *again = NULL;
	uint64_t *keys = NULL;		/* the hashes of the failed events so far */
	size_t nkeys = 0, follow = 0;
	char why[160];

	metrics_clock_hold(&bt->m);
	for (size_t i = 0; i < b->n; i++) {
		bool after_failed = false;

		for (size_t k = 0; k < nkeys && !(failed && failed[i]); k++)
			after_failed |= keys[k] == b->it[i].hash;
		if (failed && failed[i]) {
			keys = xrealloc(keys, (nkeys + 1) * sizeof(*keys));
			keys[nkeys++] = b->it[i].hash;
		}
		if ((failed && failed[i]) || after_failed) {
			/* Sent again; a row's later change goes again after it, in order. */
			follow += after_failed;
			if (again == NULL) {
				again = batch_new();
				again->attempt = b->attempt;
			}
			batch_copy_item(again, b, i);
		} else {
			item_done(bt, b, i);
		}
	}
	metrics_clock_release(&bt->m);
	free(keys);
	bt->applied += b->n - (again ? again->n : 0);
	if (again) {
		bt->failed_items += again->n - follow;
		if (follow)
			snprintf(why, sizeof(why), "%zu of %zu events reported failed (%zu later "
				 "change%s of their rows with them)", again->n - follow, b->n, follow,
				 follow == 1 ? "" : "s");
		else
			snprintf(why, sizeof(why), "%zu of %zu events reported failed", again->n, b->n);
		retry_batch(bt, w, again, why, NULL, -1);
	}
	batch_free(b);
}

void
batcher_refused(struct batcher *bt, struct bt_lane *w, const bool *failed, const char *what,
		const char *detail)
{
	struct bt_batch *b = take_cur(w), *l, *r;
	size_t half;

	if (failed || b->n == 1) {
		for (size_t i = 0; i < b->n; i++)
			if (failed == NULL || failed[i])
				item_bad(bt, b, i, what, detail);
			else
				item_done(bt, b, i);
		batch_free(b);
		return;
	}
	/* Bisect: the halves go in order, each from attempt 1. */
	l = batch_new();
	r = batch_new();
	half = b->n / 2;
	for (size_t i = 0; i < b->n; i++)
		batch_copy_item(i < half ? l : r, b, i);
	bt->bisects++;
	info(1, "%s %d: bad data in %zu events: bisecting", bt->lane_name, w->id, b->n);
	queue_push(w, r, true);
	queue_push(w, l, true);
	batch_free(b);
}

/* --- the report --- */

static int
parse_report(const struct bt_batch *b, const char *obj, size_t olen, const char *prefix,
	     bool *failed, char *why, size_t whysz)
{
	const char *v, *ev, *iv, *err;
	size_t vlen, elen, ilen, plen = prefix ? strlen(prefix) : 0;
	struct json_iter it, jt;
	int r;

	json_member(obj, olen, "batchItemFailures", NULL, &v, &vlen);
	if (json_iter_begin(&it, v, vlen) < 0 || !it.array) {
		snprintf(why, whysz, "batchItemFailures is not an array");
		return -1;
	}
	while ((r = json_iter_next(&it, NULL, &ev, &elen, &err)) == 1) {
		struct buf id = BUF_INIT;
		struct json_span k;
		struct cdc_pos pos;
		const char *ids;
		bool found = false;

		if (json_iter_begin(&jt, ev, elen) < 0 || jt.array ||
		    json_member(ev, elen, "itemIdentifier", NULL, &iv, &ilen) != 1 || ilen < 2 ||
		    iv[0] != '"') {
			snprintf(why, whysz, "an item without a string itemIdentifier");
			return -1;
		}
		k = (struct json_span){ .p = iv + 1, .len = ilen - 2,
					.escaped = memchr(iv, '\\', ilen) != NULL };
		if (json_span_decode(&k, &id) < 0) {
			snprintf(why, whysz, "itemIdentifier is not a string");
			buf_release(&id);
			return -1;
		}
		ids = id.data;
		/* A CloudEvents id (SLOT:POSITION) names the event as well. */
		if (plen && strncmp(ids, prefix, plen) == 0 && ids[plen] == ':')
			ids += plen + 1;
		if (pos_parse(ids, &pos) < 0) {
			snprintf(why, whysz, "itemIdentifier %.60s is not a position", id.data);
			buf_release(&id);
			return -1;
		}
		for (size_t i = 0; i < b->n; i++)
			if (pos_cmp(&b->it[i].pos, &pos) == 0) {
				failed[i] = true;
				found = true;
			}
		if (!found) {
			snprintf(why, whysz, "itemIdentifier %.60s is not in the batch", id.data);
			buf_release(&id);
			return -1;
		}
		buf_release(&id);
	}
	if (r < 0) {
		snprintf(why, whysz, "batchItemFailures: %s", err);
		return -1;
	}
	return 1;
}

static bool
is_report(const char *p, const char *end)
{
	const char *v;
	size_t vlen;

	p = json_ws(p, end);
	return p < end && *p == '{' &&
	       json_member(p, (size_t)(end - p), "batchItemFailures", NULL, &v, &vlen) == 1;
}

int
batcher_report(const struct bt_batch *b, const char *text, size_t len, const char *prefix,
	       bool *failed, char *why, size_t whysz)
{
	const char *p = text, *end = text + len, *line = NULL, *lend = NULL;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;

		if (is_report(p, e)) {
			line = json_ws(p, e);
			lend = e;
		}
		p = nl ? nl + 1 : end;
	}
	if (line == NULL && len && is_report(text, end)) {
		line = json_ws(text, end);
		lend = end;
	}
	if (line == NULL)
		return 0;
	return parse_report(b, line, (size_t)(lend - line), prefix, failed, why, whysz);
}

/* --- the loop --- */

void
batcher_defaults(struct batcher *bt)
{
	*bt = (struct batcher){ .batch_size = 100, .window_ms = 1000, .backoff_ms = 100,
				.max_retries = 5, .nlanes = 1, .checkpoint_ms = 100 };
}

bool
batcher_option(struct batcher *bt, int c, const char *arg)
{
	switch (c) {
	case BATCHER_OPT_BATCH_SIZE:
		bt->batch_size = opt_count("--batch-size", arg, 1, 1000000);
		return true;
	case BATCHER_OPT_BATCH_WINDOW:
		bt->window_ms = opt_duration("--batch-window", arg, 0, 3600 * 1000);
		return true;
	case BATCHER_OPT_MAX_RETRIES:
		bt->max_retries = (unsigned)opt_count("--max-retries", arg, 0, 1000000);
		return true;
	case BATCHER_OPT_BACKOFF:
		bt->backoff_ms = opt_duration("--backoff", arg, 1, 3600 * 1000);
		return true;
	case BATCHER_OPT_MAX_EVENT_AGE:
		bt->max_age_ms = opt_duration("--max-event-age", arg, 1, 365 * 24 * 3600 * 1000LL);
		return true;
	case 'c':
		bt->checkpoint = arg;
		return true;
	case BATCHER_OPT_CHECKPOINT_INTERVAL:
		bt->checkpoint_ms = opt_duration("--checkpoint-interval", arg, 0, 3600 * 1000);
		return true;
	}
	return false;
}

static void
stats_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct batcher *bt = arg;
	char prefix[64], name[128], help[160];

	/* cdc-sink-exec: cdc_sink_exec_... */
	snprintf(prefix, sizeof(prefix), "%s", bt->m.program);
	for (char *p = prefix; *p; p++)
		if (*p == '-')
			*p = '_';
	snprintf(name, sizeof(name), "%s_%s_total", prefix, bt->unit);
	metrics_counter(out, labels, name, bt->unit_help, bt->deliveries);
	snprintf(name, sizeof(name), "%s_batch_events", prefix);
	metrics_sizes_write(out, labels, name, "Events per batch delivered (each attempt).", &bt->delivered);
	snprintf(name, sizeof(name), "%s_retries_total", prefix);
	metrics_counter(out, labels, name,
			"Batches delivered again after a temporary failure or a reported item failure.",
			bt->retries);
	snprintf(name, sizeof(name), "%s_bisections_total", prefix);
	snprintf(help, sizeof(help), "Batches split in two after %s.", bt->refusal);
	metrics_counter(out, labels, name, help, bt->bisects);
	snprintf(name, sizeof(name), "%s_checkpoint_writes_total", prefix);
	metrics_counter(out, labels, name,
			"Durable checkpoint writes (at most one per --checkpoint-interval).",
			bt->ack.writes);
}

static void
stats_line(struct buf *out, void *arg)
{
	const struct batcher *bt = arg;

	buf_addf(out, "; %" PRIu64 " %s, %" PRIu64 " in flight", bt->deliveries, bt->unit,
		 (uint64_t)ackring_count(&bt->ack));
}

void
batcher_open(struct batcher *bt, const char *prog, const struct evin_opts *io, char **files,
	     int nfiles)
{
	if (ackring_open(&bt->ack, bt->checkpoint, prog, bt->checkpoint_ms, 1 << 22, false,
			 &bt->m) < 0)
		exit(CDC_EXIT_FAILURE);
	metrics_init(&bt->m, prog);
	bt->m.extra = stats_metrics;
	bt->m.extra_stats = stats_line;
	bt->m.extra_arg = bt;
	evin_open(&bt->in, io, EVIN_EVENTS, files, nfiles);
	evin_set_metrics(&bt->in, &bt->m);
	bt->ack.dl = &bt->in.dl;
	bt->lane = xcalloc((size_t)bt->nlanes, sizeof(*bt->lane));
	for (int i = 0; i < bt->nlanes; i++)
		bt->lane[i].id = i;
	bt->table = (struct buf)BUF_INIT;
	bt->table_memo = (struct span_memo)SPAN_MEMO_INIT;
}

/* Move a lane's gathered events to its queue when due (full, the window passed, or flush). */
static void
lane_seal(struct batcher *bt, struct bt_lane *w, bool flush, int64_t now)
{
	struct bt_batch *a = w->acc;

	if (a == NULL || a->n == 0 || w->q != NULL)
		return;
	if (!flush && a->n < bt->batch_size && now - a->first_ms < bt->window_ms)
		return;
	w->acc = NULL;
	bt->data_hint = a->data.len < 64u << 20 ? a->data.len : 64u << 20;
	queue_push(w, a, false);
}

static void
lane_start(struct batcher *bt, struct bt_lane *w)
{
	w->cur = queue_pop(w);
	w->cur->attempt++;
	bt->deliveries++;
	metrics_sizes_add(&bt->delivered, w->cur->n);
	bt->ops->start(bt->arg, w);
}

void
batcher_service(struct batcher *bt)
{
	int64_t now;

	bt->ops->poll(bt->arg);
	now = bt->clock_ms = mono_ms();
	for (int i = 0; i < bt->nlanes && !bt->fatal; i++) {
		struct bt_lane *w = &bt->lane[i];

		lane_seal(bt, w, bt->eof || bt->flush || cdc_stop, now);
		if (w->cur == NULL && w->q && w->q->not_before <= now && !cdc_stop)
			lane_start(bt, w);
	}
	if (ackring_checkpoint(&bt->ack, false) < 0 && !bt->fatal)
		bt->fatal = CDC_EXIT_FAILURE;
	metrics_tick(&bt->m);
}

bool
batcher_wait(struct batcher *bt, int in_fd)
{
	int64_t now = mono_ms();
	int t = 1000;

	for (int i = 0; i < bt->nlanes; i++) {
		const struct bt_lane *w = &bt->lane[i];
		int64_t due;

		if (w->cur)
			continue;
		if (w->q)
			due = w->q->not_before - now;
		else if (w->acc && w->acc->n)
			due = w->acc->first_ms + bt->window_ms - now;
		else
			continue;
		if (due < 0)
			due = 0;
		if (due < t)
			t = (int)due;
	}
	t = ackring_wait(&bt->ack, t);
	return bt->ops->wait(bt->arg, t, in_fd);
}

/* The input's idle hook: deliver until input comes (or we must stop). */
static void
batcher_idle(void *arg)
{
	struct batcher *bt = arg;

	while (!cdc_stop && !bt->fatal) {
		batcher_service(bt);
		if (batcher_wait(bt, bt->in.fd)) {
			evin_input_ready(&bt->in);
			break;
		}
	}
}

/* The ack bookkeeping of a line; true when the event goes to a lane. */
static bool
admit(struct batcher *bt, const struct evin_line *l)
{
	const struct event_info *ev = &l->ev;

	if (!ev->has_pos) {
		if (ev->control)
			return false;	/* nothing to acknowledge, nothing to order by */
		if (evin_reject(&bt->in, l, "no source.commit_lsn and source.seq") < 0)
			bt->fatal = CDC_EXIT_DATAERR;
		return false;
	}
	if (ackring_name(&bt->ack, &ev->name, l->lineno) < 0) {
		bt->fatal = CDC_EXIT_FAILURE;
		return false;
	}
	while (ackring_full(&bt->ack) && !bt->fatal && !cdc_stop) {
		batcher_service(bt);
		batcher_wait(bt, -1);
	}
	if (bt->fatal || cdc_stop)
		return false;
	if (ackring_is_rewind(ev)) {
		if (ackring_push_rewind(&bt->ack, ev, l->text, l->len) < 0 &&
		    evin_reject(&bt->in, l, "a rewind without rewind.epoch") < 0)
			bt->fatal = CDC_EXIT_DATAERR;
		return false;
	}
	if (ackring_seen(&bt->ack, ev)) {
		bt->m.skipped++;
		return false;
	}
	if (ev->control) {
		ackring_push(&bt->ack, ev, 0);	/* a heartbeat: done, it moves the checkpoint */
		return false;
	}
	return true;
}

static bool
all_idle(const struct batcher *bt)
{
	for (int i = 0; i < bt->nlanes; i++) {
		const struct bt_lane *w = &bt->lane[i];

		if (w->cur || w->q || (w->acc && w->acc->n))
			return false;
	}
	return true;
}

static bool
is_null(const char *v, size_t len)
{
	return v == NULL || (len == 4 && memcmp(v, "null", 4) == 0);
}

/*
 * True when an update moves its row to another key: a column of "key" has
 * another value in "before" (the old key, or under REPLICA IDENTITY FULL
 * the old row: cdc-capture --key-change=update, or a key change that keeps
 * an unchanged TOAST value, cdc-events(7)).  An old image without the
 * column cannot tell: moved.
 */
static bool
key_moved(const struct event_info *ev)
{
	struct json_iter it;
	struct json_span k;
	const char *v, *bv, *err;
	size_t vlen, bvlen;

	if (ev->op.len != 1 || ev->op.p[0] != 'u' || is_null(ev->key, ev->key_len) ||
	    is_null(ev->before, ev->before_len) || json_iter_begin(&it, ev->key, ev->key_len) < 0)
		return false;
	while (json_iter_next(&it, &k, &v, &vlen, &err) == 1) {
		if (json_member(ev->before, ev->before_len, NULL, &k, &bv, &bvlen) != 1 ||
		    bvlen != vlen || memcmp(bv, v, vlen) != 0)
			return true;
	}
	return false;
}

/* Deliver every event taken so far, partial batches too, and wait until all are done. */
static void
drain_lanes(struct batcher *bt)
{
	bt->flush = true;
	while (!all_idle(bt) && !bt->fatal && !cdc_stop) {
		batcher_service(bt);
		if (!all_idle(bt))
			batcher_wait(bt, -1);
	}
	bt->flush = false;
}

/*
 * The event's "schema.table" into bt->table, and its hash: decoded again
 * only when the event's spans differ from the last event's.
 */
static void
table_of(struct batcher *bt, const struct event_info *ev)
{
	if (span_memo_same(&bt->table_memo, (const struct json_span[]){ ev->schema, ev->table }, 2))
		return;
	buf_reset(&bt->table);
	if (ev->table.p) {
		if (ev->schema.p) {
			json_span_decode(&ev->schema, &bt->table);
			buf_addc(&bt->table, '.');
		}
		json_span_decode(&ev->table, &bt->table);
	}
	bt->table_hash = fnv1a(FNV1A_INIT, bt->table.data, bt->table.len);
}

void
batcher_add(struct batcher *bt, const struct evin_line *l)
{
	const struct event_info *ev = &l->ev;
	struct buf *table = &bt->table;
	struct bt_lane *w;
	struct bt_item *it;
	int64_t now;
	uint64_t h;
	bool barrier;

	if (!admit(bt, l))
		return;
	/*
	 * A truncate stands for every key of its table, an update that moves
	 * its row to another key for two keys (in two lanes, maybe): it goes
	 * after the events before it in every lane, and the events after it
	 * wait until it is done, so that no lane applies a row's change on the
	 * wrong side of it.  (One lane keeps that order by itself.)
	 */
	barrier = bt->nlanes > 1 && ((ev->op.len == 1 && ev->op.p[0] == 't') || key_moved(ev));
	if (barrier) {
		drain_lanes(bt);
		if (bt->fatal || cdc_stop)
			return;
	}
	table_of(bt, ev);
	if (ev->key && !(ev->key_len == 4 && memcmp(ev->key, "null", 4) == 0))
		h = fnv1a(FNV1A_INIT, ev->key, ev->key_len) ^ bt->table_hash;
	else
		h = bt->table_hash;
	w = &bt->lane[h % (uint64_t)bt->nlanes];
	/*
	 * The time: when the line was read, or the batcher's last look at the
	 * clock if that is later (a wait came between).  A clock read per
	 * event was 3% of a busy sink's time.
	 */
	now = barrier ? mono_ms() : l->read_ms > bt->clock_ms ? l->read_ms : bt->clock_ms;
	/* A full batch waits for the lane's previous ones. */
	for (;;) {
		lane_seal(bt, w, false, now);
		if (w->acc == NULL || w->acc->n < bt->batch_size || bt->fatal || cdc_stop)
			break;
		batcher_service(bt);
		if (w->acc == NULL || w->acc->n < bt->batch_size)
			break;
		batcher_wait(bt, -1);
		now = bt->clock_ms = mono_ms();
	}
	if (bt->fatal || cdc_stop)
		return;
	if (w->acc == NULL) {
		w->acc = batch_new();
		w->acc->first_ms = now;
		/* Room for as much as the last batch held: no copying as it grows. */
		buf_grow(&w->acc->data, bt->data_hint);
	}
	it = batch_push(w->acc);
	it->len = l->len;
	it->lineno = l->lineno;
	it->pos = ev->pos;
	it->ts_ms = ev->has_ts ? ev->ts_ms : 0;
	it->hash = h;
	it->tlen = table->len;
	it->ord = ackring_push(&bt->ack, ev, 1);
	buf_add(&w->acc->data, l->text, l->len);
	buf_addc(&w->acc->data, '\n');
	buf_add(&w->acc->tables, table->data, table->len);
	if (bt->ops->extra) {
		bt->ops->extra(bt->arg, ev, table->data, table->len, &w->acc->extra);
		it->xlen = w->acc->extra.len - it->xoff;
	}
	lane_seal(bt, w, false, now);
	if (w->cur == NULL && w->q && w->q->not_before <= now)
		lane_start(bt, w);
	if (barrier)
		drain_lanes(bt);
}

static bool
any_running(const struct batcher *bt)
{
	for (int i = 0; i < bt->nlanes; i++)
		if (bt->lane[i].cur)
			return true;
	return false;
}

int
batcher_finish(struct batcher *bt, int status)
{
	/*
	 * At the end of input (or a bad or cut line there), deliver every
	 * batch of what came before; when stopping (a signal, a fatal
	 * failure), let the deliveries in flight finish, start nothing new.
	 */
	if ((status == CDC_EXIT_OK || status == CDC_EXIT_DATAERR || status == CDC_EXIT_TEMPFAIL) &&
	    !cdc_stop && !bt->fatal) {
		bt->eof = true;
		while (!all_idle(bt) && !bt->fatal && !cdc_stop) {
			batcher_service(bt);
			if (!all_idle(bt))
				batcher_wait(bt, -1);
		}
	}
	while (any_running(bt)) {
		batcher_service(bt);
		if (any_running(bt))
			batcher_wait(bt, -1);
	}
	if (bt->fatal && status != bt->fatal && status != CDC_EXIT_DATAERR)
		status = bt->fatal;
	if (ackring_checkpoint(&bt->ack, true) < 0 && status == CDC_EXIT_OK)
		status = CDC_EXIT_FAILURE;
	return status;
}

static void
on_line(void *arg, const struct evin_line *l)
{
	batcher_add(arg, l);
}

static void
on_tick(void *arg)
{
	batcher_service(arg);
}

int
batcher_run(struct batcher *bt)
{
	int status;

	evin_set_idle(&bt->in, batcher_idle, bt);
	status = batcher_finish(bt, evin_loop(&bt->in, on_line, on_tick, &bt->fatal, bt));
	info(1, "%" PRIu64 " %s, %" PRIu64 " events applied, %" PRIu64 " retries, %" PRIu64
	     " bisections, %" PRIu64 " expired, %" PRIu64 " checkpoint writes", bt->deliveries,
	     bt->unit, bt->applied, bt->retries, bt->bisects, bt->expired, bt->ack.writes);
	evin_close(&bt->in);
	buf_release(&bt->table);
	span_memo_release(&bt->table_memo);
	metrics_finish(&bt->m);
	return status;
}
