/*
 * cdc-sink-http: POST every batch of change events to a URL (webhooks),
 * with the ack loop intact.
 *
 * Events are spread over --concurrency lanes by the hash of their "key"
 * (the table's name for events with no key), so that every change of a
 * row goes to one lane, in order.  Each lane gathers a batch (up to
 * --batch-size events, or what came in --batch-window) and POSTs it as
 * NDJSON, a JSON array or a CloudEvents 1.0 batch; one request per lane is
 * in flight, so a lane's batches are applied in order.  All requests go
 * through one libcurl multi handle (no threads); HTTP/2 is used and
 * multiplexed where the server offers it.
 *
 * The receiver's answer:
 *   - 2xx: applied; a body {"batchItemFailures":[{"itemIdentifier":
 *     "POSITION"},...]} (Lambda's ReportBatchItemFailures) names the events
 *     to retry, the others are applied;
 *   - 409: applied (an idempotent receiver saw the batch before);
 *   - 408, 429, 503: temporary, the same batch again after Retry-After
 *     (seconds or an HTTP date) or else the backoff;
 *   - other 5xx, a timeout, a reset connection: temporary, after the
 *     backoff; after --max-retries, exit 75 (or, with --skip-bad or
 *     --dead-letter, the events go to the bad-input policy);
 *   - other 4xx: bad data: the batch is bisected until the bad event stands
 *     alone, which goes to the bad-input policy with the status and the
 *     start of the body as the reason.
 *
 * Every event gets a slot in the ack ring (common/ackring) and is released
 * when applied or dead-lettered, so the checkpoint is the contiguous
 * watermark over all lanes.  Control events move the checkpoint and are
 * never sent.  Credentials come from the environment or private files,
 * never from argv.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackring.h"
#include "buf.h"
#include "cli.h"
#include "evinput.h"
#include "fileio.h"
#include "json.h"
#include "kvfile.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"
#include "sig.h"
#include "timeutil.h"

static const char usage_text[] =
	"Usage: cdc-sink-http --url URL [OPTIONS] [FILE...]\n"
	"POST every batch of change events (NDJSON from FILEs or standard input) to\n"
	"URL.  2xx and 409: applied (a body {\"batchItemFailures\":[{\"itemIdentifier\":\n"
	"\"POSITION\"},...]} retries only those events); 408, 429, 503: again after\n"
	"Retry-After; other 5xx, timeouts, resets: again after a backoff; other 4xx:\n"
	"bad data (the batch is bisected down to the bad event, which goes to the\n"
	"bad-input policy).\n"
	"\n"
	"Requests:\n"
	"      --url URL                where to POST (required)\n"
	"      --format FORMAT          ndjson (default), array (a JSON array) or\n"
	"                               cloudevents (CloudEvents 1.0 batched JSON)\n"
	"      --header 'NAME: VALUE'   add a header to every request (repeatable)\n"
	"      --timeout DURATION       give up on a request after this long (default 30s)\n"
	"      --cacert FILE            CA certificates to verify the server with\n"
	"      --insecure               do not verify the server's certificate\n"
	"\n"
	"Credentials (never on the command line):\n"
	"      --credentials-file FILE  key=value lines (mode 0600): bearer_token=, or\n"
	"                               user= and password=; else the environment's\n"
	"                               CDC_HTTP_BEARER_TOKEN or CDC_HTTP_USER and\n"
	"                               CDC_HTTP_PASSWORD\n"
	"      --hmac-secret-file FILE  sign each body: X-CDC-Signature: sha256=HEX of\n"
	"                               HMAC-SHA256(secret, body) (mode 0600)\n"
	"\n"
	"Batches:\n"
	"      --batch-size N           events per batch at most (default 100)\n"
	"      --batch-window DURATION  send a partial batch after this long (default 1s)\n"
	"      --concurrency N          N requests at once, events spread by key so that\n"
	"                               each key keeps its order (default 1)\n"
	"      --max-retries N          temporary failures of one batch before exiting 75\n"
	"                               (default 5)\n"
	"      --backoff DURATION       first wait before a retry, doubled each time up\n"
	"                               to 30s (default 100ms)\n"
	"\n"
	"Checkpoint:\n"
	"  -c, --checkpoint FILE        skip events at or below FILE's position; keep the\n"
	"                               position of events the receiver applied in it\n"
	"      --checkpoint-interval DURATION  write FILE at most this often (default\n"
	"                               100ms; always at the end)\n"
	"\n"
	"Each request has Idempotency-Key: SLOT:FIRST-LAST (the batch's positions).\n"
	"\n"
	METRICS_HELP
	"\n"
	EVIN_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_URL = 256,
	OPT_FORMAT,
	OPT_HEADER,
	OPT_TIMEOUT,
	OPT_CACERT,
	OPT_INSECURE,
	OPT_CREDENTIALS_FILE,
	OPT_HMAC_SECRET_FILE,
	OPT_BATCH_SIZE,
	OPT_BATCH_WINDOW,
	OPT_CONCURRENCY,
	OPT_MAX_RETRIES,
	OPT_BACKOFF,
	OPT_CHECKPOINT_INTERVAL,
};

static const struct option longopts[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "credentials-file", required_argument, NULL, OPT_CREDENTIALS_FILE },
	{ "hmac-secret-file", required_argument, NULL, OPT_HMAC_SECRET_FILE },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "batch-window", required_argument, NULL, OPT_BATCH_WINDOW },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "checkpoint", required_argument, NULL, 'c' },
	{ "checkpoint-interval", required_argument, NULL, OPT_CHECKPOINT_INTERVAL },
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

#define MAX_BACKOFF_MS 30000
#define RESP_MAX (1 << 20)	/* the response body kept, at most */
#define REASON_MAX 300		/* the start of a body in a dead letter's reason */

enum format { FMT_NDJSON, FMT_ARRAY, FMT_CLOUDEVENTS };

/* One event of a batch. */
struct item {
	size_t off, len;		/* its line in the batch's data */
	size_t coff, clen;		/* its CloudEvents head ({... "data":) in ce */
	uint64_t ord;			/* its ack slot */
	uint64_t lineno;
	struct cdc_pos pos;
};

struct batch {
	struct buf data;		/* the lines, each with its '\n' */
	struct buf ce;			/* CloudEvents heads */
	struct item *it;
	size_t n, cap;
	unsigned attempt;		/* requests so far */
	int64_t not_before;		/* mono ms: a retry waits till then */
	int64_t first_ms;		/* mono ms: when its first event came */
	struct batch *next;
};

struct lane {
	int id;
	struct batch *acc;		/* gathering events */
	struct batch *q, *qtail;	/* ready to send, in order */
	struct batch *cur;		/* the request in flight */
	CURL *easy;
	struct curl_slist *hdrs;
	struct buf body, resp;
	char errbuf[CURL_ERROR_SIZE];
};

struct sink {
	const char *url;
	enum format format;
	struct curl_slist *extra_headers;
	int64_t timeout_ms;
	const char *cacert;
	bool insecure;
	char *token, *user, *password;
	struct buf hmac;		/* the secret; len 0: no signature */
	size_t batch_size;
	int64_t window_ms, backoff_ms, checkpoint_ms;
	unsigned max_retries;
	const char *checkpoint;
	int nlanes;
	struct lane *l;
	CURLM *multi;
	struct buf slot;		/* source.name (or db) of the events, for ids */

	struct evin in;
	struct ackring ack;
	struct metrics m;
	int fatal;
	bool eof;
	uint64_t requests, retries, bisects, applied, failed_items;
};

static void
setopt_ok(CURLcode rc, const char *name)
{
	if (rc != CURLE_OK)
		die("libcurl refused %s: %s", name, curl_easy_strerror(rc));
}
#define SETOPT(e, opt, val) setopt_ok(curl_easy_setopt((e), (opt), (val)), #opt)

/* --- batches --- */

static struct batch *
batch_new(void)
{
	struct batch *b = xcalloc(1, sizeof(*b));

	b->data = (struct buf)BUF_INIT;
	b->ce = (struct buf)BUF_INIT;
	return b;
}

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	buf_release(&b->data);
	buf_release(&b->ce);
	free(b->it);
	free(b);
}

static void
batch_add(struct batch *b, const char *line, size_t len, uint64_t ord, uint64_t lineno,
	  const struct cdc_pos *pos, const char *ce, size_t clen)
{
	struct item *it;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->it = xrealloc(b->it, b->cap * sizeof(*b->it));
	}
	it = &b->it[b->n++];
	it->off = b->data.len;
	it->len = len;
	it->coff = b->ce.len;
	it->clen = clen;
	it->ord = ord;
	it->lineno = lineno;
	it->pos = *pos;
	buf_add(&b->ce, ce, clen);
	buf_add(&b->data, line, len);
	buf_addc(&b->data, '\n');
}

static void
batch_copy_item(struct batch *dst, const struct batch *src, size_t i)
{
	const struct item *it = &src->it[i];

	batch_add(dst, src->data.data + it->off, it->len, it->ord, it->lineno, &it->pos,
		  src->ce.data + it->coff, it->clen);
}

static void
queue_push(struct lane *w, struct batch *b, bool front)
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

static struct batch *
queue_pop(struct lane *w)
{
	struct batch *b = w->q;

	w->q = b->next;
	if (w->q == NULL)
		w->qtail = NULL;
	b->next = NULL;
	return b;
}

/* --- requests --- */

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len < RESP_MAX)
		buf_add(b, p, size * n);
	return size * n;
}

/* The batch's body in the chosen format. */
static void
make_body(const struct sink *s, const struct batch *b, struct buf *out)
{
	buf_reset(out);
	if (s->format == FMT_NDJSON) {
		buf_add(out, b->data.data, b->data.len);
		return;
	}
	buf_addc(out, '[');
	for (size_t i = 0; i < b->n; i++) {
		const struct item *it = &b->it[i];

		if (i)
			buf_addc(out, ',');
		if (s->format == FMT_CLOUDEVENTS)
			buf_add(out, b->ce.data + it->coff, it->clen);
		buf_add(out, b->data.data + it->off, it->len);
		if (s->format == FMT_CLOUDEVENTS)
			buf_addc(out, '}');
	}
	buf_adds(out, "]\n");
}

static struct curl_slist *
add_header(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);

	if (n == NULL)
		die("cannot set up request headers");
	return n;
}

static void
req_start(struct sink *s, struct lane *w)
{
	struct batch *b = queue_pop(w);
	char first[POS_BUFSZ], last[POS_BUFSZ];
	struct buf line = BUF_INIT;
	CURLMcode mc;

	b->attempt++;
	w->cur = b;
	pos_format(&b->it[0].pos, first);
	pos_format(&b->it[b->n - 1].pos, last);
	make_body(s, b, &w->body);
	buf_reset(&w->resp);
	w->errbuf[0] = '\0';

	curl_slist_free_all(w->hdrs);
	w->hdrs = NULL;
	for (const struct curl_slist *e = s->extra_headers; e; e = e->next)
		w->hdrs = add_header(w->hdrs, e->data);
	w->hdrs = add_header(w->hdrs, s->format == FMT_NDJSON ? "Content-Type: application/x-ndjson" :
				      s->format == FMT_ARRAY ? "Content-Type: application/json" :
				      "Content-Type: application/cloudevents-batch+json");
	w->hdrs = add_header(w->hdrs, "Expect:");
	buf_addf(&line, "Idempotency-Key: %s:%s-%s", s->slot.len ? s->slot.data : "cdc", first, last);
	w->hdrs = add_header(w->hdrs, line.data);
	if (s->hmac.len) {
		unsigned char mac[32];
		static const char hex[] = "0123456789abcdef";

		hmac_sha256(s->hmac.data, s->hmac.len, w->body.data, w->body.len, mac);
		buf_reset(&line);
		buf_adds(&line, "X-CDC-Signature: sha256=");
		for (int i = 0; i < 32; i++) {
			buf_addc(&line, hex[mac[i] >> 4]);
			buf_addc(&line, hex[mac[i] & 15]);
		}
		w->hdrs = add_header(w->hdrs, line.data);
	}
	if (s->token) {
		buf_reset(&line);
		buf_addf(&line, "Authorization: Bearer %s", s->token);
		w->hdrs = add_header(w->hdrs, line.data);
		memset(line.data, 0, line.len);
	}
	buf_release(&line);

	SETOPT(w->easy, CURLOPT_HTTPHEADER, w->hdrs);
	SETOPT(w->easy, CURLOPT_POSTFIELDS, w->body.data);
	SETOPT(w->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->body.len);
	if ((mc = curl_multi_add_handle(s->multi, w->easy)) != CURLM_OK)
		die("curl_multi_add_handle: %s", curl_multi_strerror(mc));
	s->requests++;
	info(2, "lane %d: %zu events %s..%s, attempt %u", w->id, b->n, first, last, b->attempt);
}

/*
 * Find a report in the response body: an object with "batchItemFailures".
 * Returns 1 with failed[i] set for the named items, 0 when there is none,
 * -1 when it is malformed or names a position not in the batch.
 */
static int
parse_report(const struct sink *s, const struct buf *resp, const struct batch *b, bool *failed,
	     char *why, size_t whysz)
{
	const char *p = resp->data, *end = p + resp->len, *v, *ev, *iv;
	size_t vlen, elen, ilen;
	struct json_iter it, jt;
	const char *err;
	int r;

	if (resp->len == 0)
		return 0;
	p = json_ws(p, end);
	if (p >= end || *p != '{' ||
	    json_member(p, (size_t)(end - p), "batchItemFailures", NULL, &v, &vlen) != 1)
		return 0;
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
		json_span_decode(&k, &id);
		ids = id.data;
		/* A CloudEvents id (SLOT:POSITION) names the event as well. */
		if (s->slot.len && strncmp(ids, s->slot.data, s->slot.len) == 0 &&
		    ids[s->slot.len] == ':')
			ids += s->slot.len + 1;
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

static void
item_done(struct sink *s, const struct batch *b, size_t i)
{
	ackring_release(&s->ack, b->it[i].ord);
}

/* Item i is bad data: the bad-input policy decides. */
static void
item_bad(struct sink *s, const struct batch *b, size_t i, const char *what, const char *detail)
{
	const struct item *it = &b->it[i];
	char extra[64];

	snprintf(extra, sizeof(extra), "\"attempt\":%u", b->attempt);
	if (dl_bad_line_detail(&s->in.dl, it->lineno, &it->pos, what, detail,
			       b->data.data + it->off, it->len, 0, extra) < 0) {
		ackring_block(&s->ack, it->ord);
		if (!s->fatal)
			s->fatal = CDC_EXIT_DATAERR;
	} else {
		s->m.dead_lettered = s->in.dl.count;
		item_done(s, b, i);
	}
}

/* A temporary failure: the batch again after wait_ms (< 0: the backoff). */
static void
retry_later(struct sink *s, struct lane *w, struct batch *b, const char *why, int64_t wait_ms)
{
	int64_t wait = s->backoff_ms;

	if (b->attempt > s->max_retries && s->in.dl.policy != BAD_STOP) {
		char what[400];

		snprintf(what, sizeof(what), "gave up after %u attempts (--max-retries %u): %s",
			 b->attempt, s->max_retries, why);
		for (size_t i = 0; i < b->n; i++)
			item_bad(s, b, i, what, what);
		batch_free(b);
		return;
	}
	if (b->attempt > s->max_retries) {
		error("lane %d: %s; giving up after %u attempts (--max-retries %u)", w->id, why,
		      b->attempt, s->max_retries);
		for (size_t i = 0; i < b->n; i++)
			ackring_block(&s->ack, b->it[i].ord);
		batch_free(b);
		if (!s->fatal)
			s->fatal = CDC_EXIT_TEMPFAIL;
		return;
	}
	for (unsigned a = 1; a < b->attempt && wait < MAX_BACKOFF_MS; a++)
		wait *= 2;
	if (wait > MAX_BACKOFF_MS)
		wait = MAX_BACKOFF_MS;
	if (wait_ms >= 0)
		wait = wait_ms;
	warning("lane %d: %s; retrying %zu event%s in %lld ms (attempt %u)", w->id, why, b->n,
		b->n == 1 ? "" : "s", (long long)wait, b->attempt + 1);
	s->retries++;
	b->not_before = mono_ms() + wait;
	queue_push(w, b, true);
}

/* The start of the response body, one line, for messages. */
static void
body_start(const struct buf *resp, struct buf *out)
{
	size_t n = resp->len < REASON_MAX ? resp->len : REASON_MAX;

	while (n > 0 && (resp->data[n - 1] == '\n' || resp->data[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++)
		buf_addc(out, resp->data[i] == '\n' || resp->data[i] == '\r' ? ' ' : resp->data[i]);
}

/* The request of lane w ended with rc: act on the answer. */
static void
req_done(struct sink *s, struct lane *w, CURLcode rc)
{
	struct batch *b = w->cur;
	long status = 0;
	curl_off_t retry_after = -1;
	char why[400];

	curl_multi_remove_handle(s->multi, w->easy);
	w->cur = NULL;
	if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc));
		retry_later(s, w, b, why, -1);
		return;
	}
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if ((status >= 200 && status < 300) || status == 409) {
		bool *failed = xcalloc(b->n, sizeof(*failed));
		int rep = status == 409 ? 0 : parse_report(s, &w->resp, b, failed, why, sizeof(why));
		struct batch *again;

		if (rep < 0) {
			warning("lane %d: a bad report in the response (%s): the whole batch failed",
				w->id, why);
			free(failed);
			retry_later(s, w, b, "a bad report", -1);
			return;
		}
		again = rep ? batch_new() : NULL;
		for (size_t i = 0; i < b->n; i++)
			if (failed[i])
				batch_copy_item(again, b, i);
			else
				item_done(s, b, i);
		s->applied += b->n - (again ? again->n : 0);
		if (again && again->n) {
			s->failed_items += again->n;
			again->attempt = b->attempt;
			snprintf(why, sizeof(why), "%zu of %zu events reported failed", again->n, b->n);
			retry_later(s, w, again, why, -1);
		} else {
			batch_free(again);
		}
		batch_free(b);
		free(failed);
		return;
	}
	if (status == 408 || status == 429 || status >= 500) {
		int64_t wait = -1;

		if ((status == 408 || status == 429 || status == 503) &&
		    curl_easy_getinfo(w->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
		    retry_after > 0)
			wait = retry_after > 3600 ? 3600 * 1000 : (int64_t)retry_after * 1000;
		snprintf(why, sizeof(why), "HTTP %ld%s", status,
			 wait >= 0 ? " with Retry-After" : "");
		retry_later(s, w, b, why, wait);
		return;
	}
	/* Any other status: bad data. */
	if (b->n == 1) {
		struct buf detail = BUF_INIT;

		snprintf(why, sizeof(why), "the receiver refused the event (HTTP %ld)", status);
		buf_addf(&detail, "HTTP %ld: ", status);
		body_start(&w->resp, &detail);
		item_bad(s, b, 0, why, detail.data);
		buf_release(&detail);
		batch_free(b);
	} else {
		struct batch *l = batch_new(), *r = batch_new();
		size_t half = b->n / 2;

		for (size_t i = 0; i < b->n; i++)
			batch_copy_item(i < half ? l : r, b, i);
		s->bisects++;
		info(1, "lane %d: HTTP %ld on %zu events: bisecting", w->id, status, b->n);
		queue_push(w, r, true);
		queue_push(w, l, true);
		batch_free(b);
	}
}

/* --- the loop --- */

static void
lane_seal(struct sink *s, struct lane *w, bool flush)
{
	struct batch *a = w->acc;

	if (a == NULL || a->n == 0 || w->q != NULL)
		return;
	if (!flush && a->n < s->batch_size && mono_ms() - a->first_ms < s->window_ms)
		return;
	w->acc = NULL;
	queue_push(w, a, false);
}

/* Drive the transfers, act on finished ones, start what is due; no waiting. */
static void
service(struct sink *s)
{
	int running, left;
	CURLMsg *msg;
	int64_t now;

	curl_multi_perform(s->multi, &running);
	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		for (int i = 0; i < s->nlanes; i++)
			if (s->l[i].easy == msg->easy_handle && s->l[i].cur) {
				req_done(s, &s->l[i], msg->data.result);
				break;
			}
	}
	now = mono_ms();
	for (int i = 0; i < s->nlanes && !s->fatal; i++) {
		struct lane *w = &s->l[i];

		lane_seal(s, w, s->eof || cdc_stop);
		if (w->cur == NULL && w->q && w->q->not_before <= now && !cdc_stop)
			req_start(s, w);
	}
	curl_multi_perform(s->multi, &running);
	if (ackring_checkpoint(&s->ack, false) < 0 && !s->fatal)
		s->fatal = CDC_EXIT_FAILURE;
	metrics_tick(&s->m);
}

/* Wait up to the next deadline for the transfers or (in_fd >= 0) input. */
static bool
wait_some(struct sink *s, int in_fd)
{
	struct curl_waitfd wfd = { .fd = in_fd, .events = CURL_WAIT_POLLIN };
	int t = 1000, nfds;
	long ct = -1;
	int64_t now = mono_ms();

	for (int i = 0; i < s->nlanes; i++) {
		const struct lane *w = &s->l[i];
		int64_t due = -1;

		if (w->cur)
			continue;
		if (w->q)
			due = w->q->not_before - now;
		else if (w->acc && w->acc->n)
			due = w->acc->first_ms + s->window_ms - now;
		else
			continue;
		if (due < 0)
			due = 0;
		if (due < t)
			t = (int)due;
	}
	curl_multi_timeout(s->multi, &ct);
	if (ct >= 0 && ct < t)
		t = (int)ct;
	t = ackring_wait(&s->ack, t);
	wfd.revents = 0;
	if (curl_multi_poll(s->multi, in_fd >= 0 ? &wfd : NULL, in_fd >= 0 ? 1 : 0, t, &nfds) !=
	    CURLM_OK)
		die("curl_multi_poll failed");
	return in_fd >= 0 && wfd.revents != 0;
}

static noreturn void finish(struct sink *s, int status);

/*
 * The input's idle hook: drive the requests until input comes.  A signal
 * ends the run from here: the reader would block in read() again after
 * this returns (a pipe whose writer is still there).
 */
static void
on_idle(void *arg)
{
	struct sink *s = arg;

	while (!cdc_stop && !s->fatal) {
		service(s);
		if (wait_some(s, s->in.fd))
			break;
	}
	if (cdc_stop)
		finish(s, s->fatal ? s->fatal : CDC_EXIT_OK);
}

static uint64_t
hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The CloudEvents head of an event: every attribute, then "data": (its body follows). */
static void
ce_head(struct sink *s, const struct event_info *ev, const char *table, size_t tlen,
	struct buf *out)
{
	char pos[POS_BUFSZ], ts[RFC3339_BUFSZ];
	struct buf tmp = BUF_INIT;

	pos_format(&ev->pos, pos);
	buf_adds(out, "{\"specversion\":\"1.0\",\"id\":");
	buf_addf(&tmp, "%s:%s", s->slot.len ? s->slot.data : "cdc", pos);
	json_add_str(out, tmp.data, tmp.len);
	buf_reset(&tmp);
	buf_addf(&tmp, "cdc/%s", s->slot.len ? s->slot.data : "cdc");
	buf_adds(out, ",\"source\":");
	json_add_str(out, tmp.data, tmp.len);
	buf_reset(&tmp);
	buf_adds(&tmp, "io.cdc.change.");
	json_span_decode(&ev->op, &tmp);
	buf_adds(out, ",\"type\":");
	json_add_str(out, tmp.data, tmp.len);
	if (tlen) {
		buf_adds(out, ",\"subject\":");
		json_add_str(out, table, tlen);
	}
	if (ev->has_ts) {
		buf_adds(out, ",\"time\":");
		json_add_cstr(out, rfc3339_format(ev->ts_ms, ts));
	}
	buf_adds(out, ",\"datacontenttype\":\"application/json\",\"data\":");
	buf_release(&tmp);
}

static void
handle(struct sink *s, const struct evin_line *l)
{
	const struct event_info *ev = &l->ev;
	struct lane *w;
	struct buf table = BUF_INIT, ce = BUF_INIT;
	uint64_t ord, h;

	if (!ev->has_pos) {
		if (ev->control)
			return;
		if (evin_reject(&s->in, l, "no source.commit_lsn and source.seq") < 0)
			s->fatal = CDC_EXIT_DATAERR;
		return;
	}
	if (ackring_name(&s->ack, &ev->name, l->lineno) < 0) {
		s->fatal = CDC_EXIT_FAILURE;
		return;
	}
	if (s->slot.len == 0) {
		if (ev->name.p)
			json_span_decode(&ev->name, &s->slot);
		else if (ev->db.p)
			json_span_decode(&ev->db, &s->slot);
	}
	while (ackring_full(&s->ack) && !s->fatal && !cdc_stop) {
		service(s);
		wait_some(s, -1);
	}
	if (s->fatal || cdc_stop)
		return;
	if (ackring_is_rewind(ev)) {
		if (ackring_push_rewind(&s->ack, ev, l->text, l->len) < 0 &&
		    evin_reject(&s->in, l, "a rewind without rewind.epoch") < 0)
			s->fatal = CDC_EXIT_DATAERR;
		return;
	}
	if (ackring_seen(&s->ack, ev)) {
		s->m.skipped++;
		return;
	}
	if (ev->control) {
		ackring_push(&s->ack, ev, 0);	/* a heartbeat: done, it moves the checkpoint */
		return;
	}
	if (ev->table.p) {
		if (ev->schema.p) {
			json_span_decode(&ev->schema, &table);
			buf_addc(&table, '.');
		}
		json_span_decode(&ev->table, &table);
	}
	if (ev->key && !(ev->key_len == 4 && memcmp(ev->key, "null", 4) == 0))
		h = hash_bytes(ev->key, ev->key_len) ^ hash_bytes(table.data, table.len);
	else
		h = hash_bytes(table.data, table.len);
	w = &s->l[h % (uint64_t)s->nlanes];
	for (;;) {
		lane_seal(s, w, false);
		if (w->acc == NULL || w->acc->n < s->batch_size || s->fatal || cdc_stop)
			break;
		service(s);
		if (w->acc == NULL || w->acc->n < s->batch_size)
			break;
		wait_some(s, -1);
	}
	if (s->fatal || cdc_stop) {
		buf_release(&table);
		return;
	}
	if (w->acc == NULL) {
		w->acc = batch_new();
		w->acc->first_ms = mono_ms();
	}
	if (s->format == FMT_CLOUDEVENTS)
		ce_head(s, ev, table.data, table.len, &ce);
	ord = ackring_push(&s->ack, ev, 1);
	batch_add(w->acc, l->text, l->len, ord, l->lineno, &ev->pos, ce.data, ce.len);
	buf_release(&table);
	buf_release(&ce);
	lane_seal(s, w, false);
	if (w->cur == NULL && w->q && w->q->not_before <= mono_ms())
		req_start(s, w);
}

static bool
all_idle(const struct sink *s)
{
	for (int i = 0; i < s->nlanes; i++) {
		const struct lane *w = &s->l[i];

		if (w->cur || w->q || (w->acc && w->acc->n))
			return false;
	}
	return true;
}

static bool
any_running(const struct sink *s)
{
	for (int i = 0; i < s->nlanes; i++)
		if (s->l[i].cur)
			return true;
	return false;
}

static noreturn void
finish(struct sink *s, int status)
{
	/* At the end of input, send what is left; when stopping, finish the requests in flight only. */
	if ((status == CDC_EXIT_OK || status == CDC_EXIT_DATAERR || status == CDC_EXIT_TEMPFAIL) &&
	    !cdc_stop && !s->fatal) {
		s->eof = true;
		while (!all_idle(s) && !s->fatal && !cdc_stop) {
			service(s);
			if (!all_idle(s))
				wait_some(s, -1);
		}
	}
	while (any_running(s)) {
		service(s);
		if (any_running(s))
			wait_some(s, -1);
	}
	if (s->fatal && status != s->fatal && status != CDC_EXIT_DATAERR)
		status = s->fatal;
	if (ackring_checkpoint(&s->ack, true) < 0 && status == CDC_EXIT_OK)
		status = CDC_EXIT_FAILURE;
	info(1, "%" PRIu64 " requests, %" PRIu64 " events applied, %" PRIu64 " retries, %" PRIu64
	     " bisections, %" PRIu64 " checkpoint writes", s->requests, s->applied, s->retries,
	     s->bisects, s->ack.writes);
	evin_close(&s->in);
	metrics_finish(&s->m);
	exit(status);
}

static void
stats_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct sink *s = arg;

	metrics_counter(out, labels, "cdc_sink_http_requests_total", "Requests sent.", s->requests);
	metrics_counter(out, labels, "cdc_sink_http_retries_total",
			"Batches sent again after a temporary failure or a reported item failure.",
			s->retries);
	metrics_counter(out, labels, "cdc_sink_http_bisections_total",
			"Batches split in two after a 4xx answer.", s->bisects);
	metrics_counter(out, labels, "cdc_sink_http_checkpoint_writes_total",
			"Durable checkpoint writes (at most one per --checkpoint-interval).",
			s->ack.writes);
}

static void
stats_line(struct buf *out, void *arg)
{
	const struct sink *s = arg;

	buf_addf(out, "; %" PRIu64 " requests, %" PRIu64 " in flight", s->requests,
		 (uint64_t)ackring_count(&s->ack));
}

static int64_t
duration_arg(const char *opt, const char *arg, int64_t min, int64_t max)
{
	int64_t ms;

	if (duration_parse(arg, &ms) < 0 || ms < min || ms > max)
		die_usage("bad %s: %s", opt, arg);
	return ms;
}

static uint64_t
count_arg(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		die_usage("bad %s: %s (%" PRIu64 " to %" PRIu64 ")", opt, arg, min, max);
	return v;
}

/* A secret file (mode 0600 or stricter) into b. */
static void
read_secret(const char *opt, const char *path, struct buf *b)
{
	int r = read_file(path, 1 << 16, true, b);

	if (r == 1)
		die("%s %s: no such file", opt, path);
	if (r < 0)
		die("%s %s: %s%s", opt, path, strerror(errno),
		    errno == EACCES ? " (a secret must not be readable by others: chmod 600)" : "");
}

static void
read_credentials(struct sink *s, const char *path)
{
	struct buf b = BUF_INIT;
	struct kv_iter it;
	const char *k, *v;
	size_t kl, vl;
	int r;

	read_secret("--credentials-file", path, &b);
	kv_begin(&it, b.data, b.len);
	while ((r = kv_next(&it, &k, &kl, &v, &vl)) != 0) {
		if (r < 0)
			die("--credentials-file %s:%u: not key=value", path, it.lineno);
		if (kv_key_is(k, kl, "bearer_token"))
			s->token = xstrndup(v, vl);
		else if (kv_key_is(k, kl, "user"))
			s->user = xstrndup(v, vl);
		else if (kv_key_is(k, kl, "password"))
			s->password = xstrndup(v, vl);
		else
			die("--credentials-file %s:%u: unknown key %.*s (bearer_token, user, password)",
			    path, it.lineno, (int)kl, k);
	}
	memset(b.data, 0, b.len);
	buf_release(&b);
}

/* True when the URL's authority holds user:password@. */
static bool
url_has_userinfo(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL)
		return false;
	p += 3;
	return memchr(p, '@', strcspn(p, "/?#")) != NULL;
}

static void
setup_curl(struct sink *s)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die("cannot initialise libcurl");
	s->multi = curl_multi_init();
	if (s->multi == NULL)
		die("cannot set up libcurl");
	curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	for (int i = 0; i < s->nlanes; i++) {
		struct lane *w = &s->l[i];
		CURL *e = curl_easy_init();

		if (e == NULL)
			die("cannot set up libcurl");
		w->easy = e;
		SETOPT(e, CURLOPT_URL, s->url);
		SETOPT(e, CURLOPT_NOSIGNAL, 1L);
		SETOPT(e, CURLOPT_POST, 1L);
		SETOPT(e, CURLOPT_WRITEFUNCTION, on_data);
		SETOPT(e, CURLOPT_WRITEDATA, &w->resp);
		SETOPT(e, CURLOPT_ERRORBUFFER, w->errbuf);
		SETOPT(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
		SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS,
		       (long)(s->timeout_ms < 10000 ? s->timeout_ms : 10000));
		SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
		SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
		SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
		SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		SETOPT(e, CURLOPT_PIPEWAIT, 1L);
		SETOPT(e, CURLOPT_USERAGENT, "cdc-sink-http/" CDC_VERSION);
		if (s->user) {
			SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			SETOPT(e, CURLOPT_USERNAME, s->user);
			SETOPT(e, CURLOPT_PASSWORD, s->password ? s->password : "");
		}
		if (s->cacert)
			SETOPT(e, CURLOPT_CAINFO, s->cacert);
		if (s->insecure) {
			SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
			SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
}

int
main(int argc, char **argv)
{
	struct sink sink = { .batch_size = 100, .window_ms = 1000, .backoff_ms = 100,
			     .checkpoint_ms = 100, .max_retries = 5, .nlanes = 1,
			     .timeout_ms = 30000 };
	struct sink *s = &sink;
	struct evin_opts io = { 0 };
	const char *cred_file = NULL, *hmac_file = NULL;
	int opt;

	log_init(argv[0]);
	s->hmac = (struct buf)BUF_INIT;
	s->slot = (struct buf)BUF_INIT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:" CLI_SHORTOPTS, longopts, NULL)) != -1) {
		if (evin_option(&io, opt, optarg) || metrics_option(&s->m, opt, optarg))
			continue;
		switch (opt) {
		case OPT_URL:
			if (url_has_userinfo(optarg))
				die_usage("credentials in --url are visible to other users; use "
					  "--credentials-file or CDC_HTTP_USER/CDC_HTTP_PASSWORD");
			s->url = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "ndjson") == 0)
				s->format = FMT_NDJSON;
			else if (strcmp(optarg, "array") == 0)
				s->format = FMT_ARRAY;
			else if (strcmp(optarg, "cloudevents") == 0)
				s->format = FMT_CLOUDEVENTS;
			else
				die_usage("bad --format: %s (ndjson, array or cloudevents)", optarg);
			break;
		case OPT_HEADER:
			if (strchr(optarg, ':') == NULL || optarg[0] == ':')
				die_usage("bad --header: %s (NAME: VALUE)", optarg);
			s->extra_headers = curl_slist_append(s->extra_headers, optarg);
			break;
		case OPT_TIMEOUT:
			s->timeout_ms = duration_arg("--timeout", optarg, 1, 24 * 3600 * 1000LL);
			break;
		case OPT_CACERT:
			s->cacert = optarg;
			break;
		case OPT_INSECURE:
			s->insecure = true;
			break;
		case OPT_CREDENTIALS_FILE:
			cred_file = optarg;
			break;
		case OPT_HMAC_SECRET_FILE:
			hmac_file = optarg;
			break;
		case OPT_BATCH_SIZE:
			s->batch_size = count_arg("--batch-size", optarg, 1, 1000000);
			break;
		case OPT_BATCH_WINDOW:
			s->window_ms = duration_arg("--batch-window", optarg, 0, 3600 * 1000);
			break;
		case OPT_CONCURRENCY:
			s->nlanes = (int)count_arg("--concurrency", optarg, 1, 256);
			break;
		case OPT_MAX_RETRIES:
			s->max_retries = (unsigned)count_arg("--max-retries", optarg, 0, 1000000);
			break;
		case OPT_BACKOFF:
			s->backoff_ms = duration_arg("--backoff", optarg, 1, 3600 * 1000);
			break;
		case 'c':
			s->checkpoint = optarg;
			break;
		case OPT_CHECKPOINT_INTERVAL:
			s->checkpoint_ms = duration_arg("--checkpoint-interval", optarg, 0, 3600 * 1000);
			break;
		default:
			cli_option(opt, argv, longopts, usage_text);
		}
	}
	if (s->url == NULL)
		die_usage("no --url: cdc-sink-http --url URL [OPTIONS] [FILE...]");
	if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)
		die_usage("bad --url: %s (http:// or https://)", s->url);
	evin_check_options(&io);
	if (cred_file) {
		read_credentials(s, cred_file);
	} else if (getenv("CDC_HTTP_BEARER_TOKEN") && *getenv("CDC_HTTP_BEARER_TOKEN")) {
		s->token = xstrdup(getenv("CDC_HTTP_BEARER_TOKEN"));
	} else if (getenv("CDC_HTTP_USER")) {
		s->user = xstrdup(getenv("CDC_HTTP_USER"));
		if (getenv("CDC_HTTP_PASSWORD"))
			s->password = xstrdup(getenv("CDC_HTTP_PASSWORD"));
	}
	if (hmac_file) {
		read_secret("--hmac-secret-file", hmac_file, &s->hmac);
		while (s->hmac.len && (s->hmac.data[s->hmac.len - 1] == '\n' ||
				       s->hmac.data[s->hmac.len - 1] == '\r'))
			buf_setlen(&s->hmac, s->hmac.len - 1);
		if (s->hmac.len == 0)
			die("--hmac-secret-file %s: empty", hmac_file);
	}
	if (s->insecure)
		warning("--insecure: the server's TLS certificate is not verified");

	if (ackring_open(&s->ack, s->checkpoint, "cdc-sink-http", s->checkpoint_ms, 1 << 22, false,
			 &s->m) < 0)
		exit(CDC_EXIT_FAILURE);
	metrics_init(&s->m, "cdc-sink-http");
	s->m.extra = stats_metrics;
	s->m.extra_stats = stats_line;
	s->m.extra_arg = s;
	evin_open(&s->in, &io, EVIN_EVENTS, argv + optind, argc - optind);
	evin_set_metrics(&s->in, &s->m);
	s->ack.dl = &s->in.dl;

	s->l = xcalloc((size_t)s->nlanes, sizeof(*s->l));
	for (int i = 0; i < s->nlanes; i++) {
		s->l[i].id = i;
		s->l[i].body = s->l[i].resp = (struct buf)BUF_INIT;
	}
	setup_curl(s);
	sig_setup();
	info(1, "posting to %s: batches of %zu, %d lane%s%s%s", s->url, s->batch_size, s->nlanes,
	     s->nlanes == 1 ? "" : "s", s->ack.have_start ? ", resuming after checkpoint " : "",
	     s->ack.have_start ? s->checkpoint : "");
	evin_set_idle(&s->in, on_idle, s);

	for (unsigned since = 0;;) {
		struct evin_line l;
		enum evin_status st = evin_next(&s->in, &l);

		if (s->fatal)
			finish(s, s->fatal);
		if (st == EVIN_INTR) {
			if (cdc_stop)
				finish(s, CDC_EXIT_OK);
			continue;
		}
		if (st != EVIN_LINE)
			finish(s, evin_exit_status(st));
		handle(s, &l);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		if (++since >= 64) {
			since = 0;
			service(s);
		}
	}
}
