/*
 * HTTP plumbing: libcurl handles and their options (TLS, credentials,
 * timeouts), node failover, blocking one-off requests, gzip bodies.
 *
 * Credentials reach libcurl through CURLOPT_USERNAME/PASSWORD or an
 * Authorization header built here; no URL we print or pass ever holds them.
 */
#include "sink.h"
#include "bulkresp.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

void
http_setopt_ok(CURLcode rc, const char *name)
{
	if (rc != CURLE_OK)
		die("libcurl refused %s: %s", name, curl_easy_strerror(rc));
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* A response larger than this is not one we asked for. */
	if (b->len + size * n > ((size_t)256 << 20))
		return 0;
	buf_add(b, p, size * n);
	return size * n;
}

/* The headers of a request: its content type, gzip when the body is compressed, the API key. */
static struct curl_slist *
make_headers(const struct config *cfg, const char *ctype, bool gzip)
{
	struct curl_slist *h = NULL;
	struct buf line = BUF_INIT;

	buf_addf(&line, "Content-Type: %s", ctype);
	h = curl_slist_append(h, line.data);
	/* No "Expect: 100-continue" round trip before large bodies. */
	h = curl_slist_append(h, "Expect:");
	if (gzip)
		h = curl_slist_append(h, "Content-Encoding: gzip");
	if (cfg->api_key) {
		buf_reset(&line);
		buf_addf(&line, "Authorization: ApiKey %s", cfg->api_key);
		h = curl_slist_append(h, line.data);
		/* Do not leave the key in freed memory longer than needed. */
		memset(line.data, 0, line.len);
	}
	buf_release(&line);
	if (h == NULL)
		die("cannot set up request headers");
	return h;
}

/* Options every handle gets. */
static void
setup_easy(struct sink *s, CURL *e)
{
	const struct config *cfg = s->cfg;

	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_data);
	SETOPT(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(cfg->timeout_ms < 10000 ? cfg->timeout_ms : 10000));
	SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(e, CURLOPT_USERAGENT, "cdc-sink-es/" CDC_VERSION);
	if (cfg->user) {
		SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(e, CURLOPT_USERNAME, cfg->user);
		SETOPT(e, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
	} else if (cfg->netrc_file) {
		SETOPT(e, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
		SETOPT(e, CURLOPT_NETRC_FILE, cfg->netrc_file);
	}
	if (cfg->cacert)
		SETOPT(e, CURLOPT_CAINFO, cfg->cacert);
	if (cfg->cert)
		SETOPT(e, CURLOPT_SSLCERT, cfg->cert);
	if (cfg->key)
		SETOPT(e, CURLOPT_SSLKEY, cfg->key);
	if (cfg->insecure) {
		SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

void
http_init(struct sink *s)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die("cannot initialise libcurl");
	s->multi = curl_multi_init();
	s->sync = curl_easy_init();
	if (s->multi == NULL || s->sync == NULL)
		die("cannot set up libcurl");
	/* One connection per lane: requests in flight = lanes. */
	if (curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s->cfg->workers) != CURLM_OK)
		die("libcurl refused CURLMOPT_MAX_HOST_CONNECTIONS");
	setup_easy(s, s->sync);
	/* One-off requests send their bodies as they are, never gzipped. */
	s->sync_headers = make_headers(s->cfg, "application/json", false);
	s->sync_headers_ndjson = make_headers(s->cfg, "application/x-ndjson", false);
	for (int i = 0; i < s->cfg->workers; i++) {
		struct lane *ln = &s->lanes[i];

		if (ln->easy == NULL)
			continue;
		setup_easy(s, ln->easy);
		ln->headers = make_headers(s->cfg, "application/x-ndjson", s->cfg->gzip);
		ln->headers_json = make_headers(s->cfg, "application/json", s->cfg->gzip);
	}
}

void
http_prepare(struct sink *s, CURL *easy, struct buf *url, const char *path, struct buf *resp,
	     char *errbuf)
{
	buf_reset(url);
	buf_adds(url, s->cfg->nodes[s->node].url);
	buf_adds(url, path);
	buf_reset(resp);
	errbuf[0] = '\0';
	SETOPT(easy, CURLOPT_URL, url->data);
	SETOPT(easy, CURLOPT_WRITEDATA, resp);
	SETOPT(easy, CURLOPT_ERRORBUFFER, errbuf);
}

bool
http_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_WRITE_ERROR:		/* a response over our size cap */
		return true;
	default:
		return false;
	}
}

void
http_failover(struct sink *s, const char *why)
{
	if (s->cfg->nnodes < 2)
		return;
	s->node = (s->node + 1) % s->cfg->nnodes;
	info(1, "%s: failing over to %s", why, s->cfg->nodes[s->node].url);
}

int64_t
backoff_delay(const struct config *cfg, int attempt)
{
	int64_t d = cfg->backoff_ms;

	for (int i = 1; i < attempt && d < cfg->backoff_max_ms; i++)
		d *= 2;
	if (d > cfg->backoff_max_ms)
		d = cfg->backoff_max_ms;
	/* Full jitter over the upper half: spread retries of many sinks. */
	return d / 2 + (int64_t)(random() % (d / 2 + 1));
}

long
http_sync(struct sink *s, const char *method, const char *path, const char *body)
{
	return http_sync_ct(s, method, path, body, false);
}

long
http_sync_ct(struct sink *s, const char *method, const char *path, const char *body, bool ndjson)
{
	int attempt = 0;

	for (;;) {
		CURLcode rc;
		long status = 0;

		http_prepare(s, s->sync, &s->sync_url, path, &s->sync_resp, s->sync_err);
		SETOPT(s->sync, CURLOPT_HTTPHEADER, ndjson ? s->sync_headers_ndjson : s->sync_headers);
		SETOPT(s->sync, CURLOPT_CUSTOMREQUEST, method);
		if (body) {
			SETOPT(s->sync, CURLOPT_POSTFIELDS, body);
			SETOPT(s->sync, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		} else {
			SETOPT(s->sync, CURLOPT_HTTPGET, 1L);
			SETOPT(s->sync, CURLOPT_CUSTOMREQUEST, method);
		}
		rc = curl_easy_perform(s->sync);
		if (rc == CURLE_OK) {
			curl_easy_getinfo(s->sync, CURLINFO_RESPONSE_CODE, &status);
			if (status != 429 && status < 500)
				return status;
		} else if (!http_retryable(rc)) {
			error("%s: %s", s->cfg->nodes[s->node].url,
			      s->sync_err[0] ? s->sync_err : curl_easy_strerror(rc));
			return -2;
		}
		attempt++;
		if (s->cfg->max_retries >= 0 && attempt > s->cfg->max_retries) {
			if (rc == CURLE_OK)
				error("%s: %s %s: HTTP %ld; giving up after %d retries",
				      s->cfg->nodes[s->node].url, method, path, status, attempt - 1);
			else
				error("%s: %s; giving up after %d retries", s->cfg->nodes[s->node].url,
				      s->sync_err[0] ? s->sync_err : curl_easy_strerror(rc), attempt - 1);
			return -1;
		}
		if (attempt == 1) {
			if (rc == CURLE_OK)
				warning("%s: %s %s: HTTP %ld; retrying", s->cfg->nodes[s->node].url,
					method, path, status);
			else
				warning("%s: %s; retrying", s->cfg->nodes[s->node].url,
					s->sync_err[0] ? s->sync_err : curl_easy_strerror(rc));
		}
		if (rc != CURLE_OK)
			http_failover(s, s->sync_err);
		if (cdc_stop)
			return -1;
		usleep((useconds_t)(backoff_delay(s->cfg, attempt) * 1000));
	}
}

void
http_gzip(const char *src, size_t len, struct buf *dst)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	/* windowBits 16 + 15: a gzip wrapper; level 1: speed over size. */
	if (deflateInit2(&z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("cannot set up gzip");
	buf_reset(dst);
	buf_grow(dst, deflateBound(&z, (uLong)len) + 1);
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)dst->data;
	z.avail_out = (uInt)(dst->cap - 1);
	rc = deflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END)
		die("gzip failed");
	buf_setlen(dst, z.total_out);
	deflateEnd(&z);
}

void
http_reason(struct buf *out, const struct json_span *type, const struct json_span *reason)
{
	size_t start;
	char *cut;

	if (type->p) {
		json_span_decode(type, out);
		if (reason->p)
			buf_adds(out, ": ");
	}
	if (reason->p == NULL)
		return;
	start = out->len;
	json_span_decode(reason, out);
	/* Mapping errors quote the rejected value: keep row values out of messages. */
	cut = strstr(out->data + start, ". Preview of field's value");
	if (cut == NULL)
		cut = strstr(out->data + start, "Preview of field's value");
	if (cut)
		buf_setlen(out, (size_t)(cut - out->data));
	if (out->len - start > 300) {
		buf_setlen(out, start + 300);
		buf_adds(out, "...");
	}
}
