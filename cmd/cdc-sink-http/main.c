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
 * The batching, the lanes, bisection, retries and the checkpoint (the
 * contiguous watermark over all lanes) are common/batcher's; this file
 * makes the requests and reads the answers.  Control events move the
 * checkpoint and are never sent.  Credentials come from the environment or private files,
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
#include "batcher.h"
#include "buf.h"
#include "cli.h"
#include "evinput.h"
#include "fileio.h"
#include "json.h"
#include "kvfile.h"
#include "log.h"
#include "metrics.h"
#include "opt.h"
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
	"      --concurrency N          N requests at once, events spread by key so that\n"
	"                               each key keeps its order (default 1)\n"
	BATCHER_HELP
	"\n"
	BATCHER_CHECKPOINT_HELP
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
	OPT_CONCURRENCY,
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
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	BATCHER_OPTIONS,
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

#define RESP_MAX (1 << 20)	/* the response body kept, at most */
#define REASON_MAX 300		/* the start of a body in a dead letter's reason */

enum format { FMT_NDJSON, FMT_ARRAY, FMT_CLOUDEVENTS };

/* The request of one lane (batcher.h's lanes; the same index). */
struct lane {
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
	struct lane *l;
	CURLM *multi;
	struct buf slot;		/* source.name (or db) of the events, for ids */

	struct batcher bt;
};

static void
setopt_ok(CURLcode rc, const char *name)
{
	if (rc != CURLE_OK)
		die("libcurl refused %s: %s", name, curl_easy_strerror(rc));
}
#define SETOPT(e, opt, val) setopt_ok(curl_easy_setopt((e), (opt), (val)), #opt)

/* --- requests --- */

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len < RESP_MAX)
		buf_add(b, p, size * n);
	return size * n;
}

/*
 * The batch's body in the chosen format: NDJSON is the batch's own text (it
 * lives until the request is answered), the others are built in out.
 */
static const struct buf *
make_body(const struct sink *s, const struct bt_batch *b, struct buf *out)
{
	if (s->format == FMT_NDJSON)
		return &b->data;
	buf_reset(out);
	buf_addc(out, '[');
	for (size_t i = 0; i < b->n; i++) {
		const struct bt_item *it = &b->it[i];

		if (i)
			buf_addc(out, ',');
		if (s->format == FMT_CLOUDEVENTS)
			buf_add(out, b->extra.data + it->xoff, it->xlen);
		buf_add(out, b->data.data + it->off, it->len);
		if (s->format == FMT_CLOUDEVENTS)
			buf_addc(out, '}');
	}
	buf_adds(out, "]\n");
	return out;
}

static struct curl_slist *
add_header(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);

	if (n == NULL)
		die("cannot set up request headers");
	return n;
}

/* batcher_ops.start: POST the lane's batch. */
static void
req_start(void *arg, struct bt_lane *lane)
{
	struct sink *s = arg;
	struct lane *w = &s->l[lane->id];
	const struct bt_batch *b = lane->cur;
	char first[POS_BUFSZ], last[POS_BUFSZ];
	struct buf line = BUF_INIT;
	const struct buf *body;
	CURLMcode mc;
	int running;

	pos_format(&b->it[0].pos, first);
	pos_format(&b->it[b->n - 1].pos, last);
	body = make_body(s, b, &w->body);
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

		hmac_sha256(s->hmac.data, s->hmac.len, body->data, body->len, mac);
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
	SETOPT(w->easy, CURLOPT_POSTFIELDS, body->data);
	SETOPT(w->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	if ((mc = curl_multi_add_handle(s->multi, w->easy)) != CURLM_OK)
		die("curl_multi_add_handle: %s", curl_multi_strerror(mc));
	curl_multi_perform(s->multi, &running);
	info(2, "lane %d: %zu events %s..%s, attempt %u", lane->id, b->n, first, last, b->attempt);
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

/* The request of lane ended with rc: act on the answer. */
static void
req_done(struct sink *s, struct bt_lane *lane, CURLcode rc)
{
	struct batcher *bt = &s->bt;
	struct lane *w = &s->l[lane->id];
	const struct bt_batch *b = lane->cur;
	long status = 0;
	curl_off_t retry_after = -1;
	char why[400];

	curl_multi_remove_handle(s->multi, w->easy);
	if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc));
		batcher_retry(bt, lane, why, NULL, -1);
		return;
	}
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if ((status >= 200 && status < 300) || status == 409) {
		bool *failed = xcalloc(b->n, sizeof(*failed));
		int rep = status == 409 ? 0 : batcher_report(b, w->resp.data, w->resp.len,
							     s->slot.len ? s->slot.data : NULL,
							     failed, why, sizeof(why));

		if (rep < 0) {
			warning("lane %d: a bad report in the response (%s): the whole batch failed",
				lane->id, why);
			batcher_retry(bt, lane, "a bad report", NULL, -1);
		} else {
			batcher_applied(bt, lane, rep ? failed : NULL);
		}
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
		batcher_retry(bt, lane, why, NULL, wait);
		return;
	} else {
		/* Any other status: bad data. */
		struct buf detail = BUF_INIT;

		snprintf(why, sizeof(why), "the receiver refused the event (HTTP %ld)", status);
		buf_addf(&detail, "HTTP %ld: ", status);
		body_start(&w->resp, &detail);
		batcher_refused(bt, lane, NULL, why, detail.data);
		buf_release(&detail);
	}
}

/* batcher_ops.poll: drive the transfers, act on finished ones; no waiting. */
static void
poll_requests(void *arg)
{
	struct sink *s = arg;
	int running, left;
	CURLMsg *msg;

	curl_multi_perform(s->multi, &running);
	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		for (int i = 0; i < s->bt.nlanes; i++)
			if (s->l[i].easy == msg->easy_handle && s->bt.lane[i].cur) {
				req_done(s, &s->bt.lane[i], msg->data.result);
				break;
			}
	}
}

/* batcher_ops.wait: up to t ms for the transfers or (in_fd >= 0) input. */
static bool
wait_requests(void *arg, int t, int in_fd)
{
	struct sink *s = arg;
	struct curl_waitfd wfd = { .fd = in_fd, .events = CURL_WAIT_POLLIN };
	long ct = -1;
	int nfds, running, busy = 0;

	/*
	 * A transfer may have finished inside the last curl_multi_perform()
	 * (req_start() drives a new request at once, and a local receiver
	 * answers that fast): its message waits in the queue and no socket
	 * will wake the poll, so do not wait then.
	 */
	curl_multi_perform(s->multi, &running);
	for (int i = 0; i < s->bt.nlanes; i++)
		if (s->bt.lane[i].cur)
			busy++;
	if (running < busy)
		t = 0;
	curl_multi_timeout(s->multi, &ct);
	if (ct >= 0 && ct < t)
		t = (int)ct;
	wfd.revents = 0;
	if (curl_multi_poll(s->multi, in_fd >= 0 ? &wfd : NULL, in_fd >= 0 ? 1 : 0, t, &nfds) !=
	    CURLM_OK)
		die("curl_multi_poll failed");
	return in_fd >= 0 && wfd.revents != 0;
}

/*
 * batcher_ops.extra: the events' slot (for ids), and with --format
 * cloudevents the event's CloudEvents head: every attribute, then "data":
 * (its body follows).
 */
static void
ce_head(void *arg, const struct event_info *ev, const char *table, size_t tlen, struct buf *out)
{
	struct sink *s = arg;
	char pos[POS_BUFSZ], ts[RFC3339_BUFSZ];
	struct buf tmp = BUF_INIT;

	if (s->slot.len == 0) {
		if (ev->name.p)
			json_span_decode(&ev->name, &s->slot);
		else if (ev->db.p)
			json_span_decode(&ev->db, &s->slot);
	}
	if (s->format != FMT_CLOUDEVENTS)
		return;
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

static const struct batcher_ops http_ops = {
	.start = req_start,
	.poll = poll_requests,
	.wait = wait_requests,
	.extra = ce_head,
};

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
	for (int i = 0; i < s->bt.nlanes; i++) {
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
	struct sink sink = { .timeout_ms = 30000 };
	struct sink *s = &sink;
	struct batcher *bt = &s->bt;
	struct evin_opts io = { 0 };
	const char *cred_file = NULL, *hmac_file = NULL;
	int opt;

	log_init(argv[0]);
	batcher_defaults(bt);
	bt->ops = &http_ops;
	bt->arg = s;
	bt->lane_name = "lane";
	bt->unit = "requests";
	bt->unit_help = "Requests sent.";
	bt->refusal = "a 4xx answer";
	s->hmac = (struct buf)BUF_INIT;
	s->slot = (struct buf)BUF_INIT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:" CLI_SHORTOPTS, longopts, NULL)) != -1) {
		if (batcher_option(bt, opt, optarg) || evin_option(&io, opt, optarg) ||
		    metrics_option(&bt->m, opt, optarg))
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
			s->timeout_ms = opt_duration("--timeout", optarg, 1, 24 * 3600 * 1000LL);
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
		case OPT_CONCURRENCY:
			bt->nlanes = (int)opt_count("--concurrency", optarg, 1, 256);
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

	batcher_open(bt, "cdc-sink-http", &io, argv + optind, argc - optind);

	s->l = xcalloc((size_t)bt->nlanes, sizeof(*s->l));
	for (int i = 0; i < bt->nlanes; i++)
		s->l[i].body = s->l[i].resp = (struct buf)BUF_INIT;
	setup_curl(s);
	sig_setup();
	info(1, "posting to %s: batches of %zu, %d lane%s%s%s", s->url, bt->batch_size, bt->nlanes,
	     bt->nlanes == 1 ? "" : "s", bt->ack.have_start ? ", resuming after checkpoint " : "",
	     bt->ack.have_start ? bt->checkpoint : "");
	exit(batcher_run(bt));
}
