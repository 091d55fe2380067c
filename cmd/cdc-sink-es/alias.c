/*
 * --alias: at a clean end of input, the alias points at the index (or
 * indexes) this run wrote, and at nothing else, in one _aliases request
 * (atomic on the server): the last step of a rebuild into a new index.
 * Each index is refreshed first, so the alias never shows a half-visible
 * index.
 */
#include "sink.h"
#include "bulkresp.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* Is name among the indexes this run wrote for alias? */
static bool
written_for(const struct sink *s, const char *alias, const char *name, size_t len)
{
	for (size_t i = 0; i < s->nindexes; i++)
		if (strcmp(s->aliases[i], alias) == 0 && strlen(s->indexes[i]) == len &&
		    memcmp(s->indexes[i], name, len) == 0)
			return true;
	return false;
}

/* One "remove"/"add" action of an _aliases body. */
static void
action(struct buf *b, const char *verb, const char *index, size_t ilen, const char *alias)
{
	if (b->data[b->len - 1] != '[')
		buf_addc(b, ',');
	buf_addf(b, "{\"%s\":{\"index\":", verb);
	json_add_str(b, index, ilen);
	buf_adds(b, ",\"alias\":");
	json_add_cstr(b, alias);
	buf_adds(b, "}}");
}

static int
fail(const struct sink *s, const char *what, const char *alias, long st)
{
	struct json_span type, reason;
	struct buf why = BUF_INIT;

	if (st == -1)
		return CDC_EXIT_TEMPFAIL;
	if (st < 0)
		return CDC_EXIT_FAILURE;
	errresp_parse(s->sync_resp.data, s->sync_resp.len, &type, &reason);
	http_reason(&why, &type, &reason);
	error("alias %s: %s: HTTP %ld: %s", alias, what, st, why.data);
	buf_release(&why);
	return CDC_EXIT_FAILURE;
}

/* Point one alias at the indexes written for it; returns an exit status. */
static int
switch_one(struct sink *s, const char *alias)
{
	struct buf path = BUF_INIT, body = BUF_INIT;
	char *ea = curl_easy_escape(NULL, alias, 0);
	int status = CDC_EXIT_OK, n = 0;
	long st;

	for (size_t i = 0; i < s->nindexes && status == CDC_EXIT_OK; i++) {
		if (strcmp(s->aliases[i], alias) != 0)
			continue;
		buf_reset(&path);
		buf_addf(&path, "/%s/_refresh", s->indexes[i]);
		st = http_sync(s, "POST", path.data, NULL);
		if (st != 200)
			status = fail(s, "refresh of the new index", alias, st);
	}
	buf_adds(&body, "{\"actions\":[");
	if (status == CDC_EXIT_OK) {
		/* Where the alias points now: {"index":{"aliases":{...}},...}, or 404. */
		buf_reset(&path);
		buf_addf(&path, "/_alias/%s", ea);
		st = http_sync(s, "GET", path.data, NULL);
		if (st == 200) {
			struct json_iter it;
			struct json_span key;
			const char *v, *err;
			size_t vlen;
			struct buf name = BUF_INIT;

			json_iter_begin(&it, s->sync_resp.data, s->sync_resp.len);
			while (json_iter_next(&it, &key, &v, &vlen, &err) == 1) {
				buf_reset(&name);
				json_span_decode(&key, &name);
				if (!written_for(s, alias, name.data, name.len))
					action(&body, "remove", name.data, name.len, alias);
			}
			buf_release(&name);
		} else if (st != 404) {
			status = fail(s, "cannot read where it points", alias, st);
		}
	}
	for (size_t i = 0; i < s->nindexes && status == CDC_EXIT_OK; i++) {
		if (strcmp(s->aliases[i], alias) != 0)
			continue;
		action(&body, "add", s->indexes[i], strlen(s->indexes[i]), alias);
		n++;
	}
	buf_adds(&body, "]}");
	if (status == CDC_EXIT_OK) {
		st = http_sync(s, "POST", "/_aliases", body.data);
		if (st != 200)
			status = fail(s, "switch", alias, st);
		else
			info(1, "alias %s now points at the %d index%s written", alias, n,
			     n == 1 ? "" : "es");
	}
	curl_free(ea);
	buf_release(&path);
	buf_release(&body);
	return status;
}

int
switch_aliases(struct sink *s)
{
	int status = CDC_EXIT_OK;

	if (s->nindexes == 0)
		warning("--alias: no event was applied, so no index was written; aliases unchanged");
	for (size_t i = 0; i < s->nindexes && status == CDC_EXIT_OK; i++) {
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= strcmp(s->aliases[j], s->aliases[i]) == 0;
		if (!seen)
			status = switch_one(s, s->aliases[i]);
	}
	return status;
}
