/*
 * The server and its indexes: the limits read at start
 * (http.max_content_length), and the first event for each index, which
 * creates it (--create-index) and checks how long it remembers deletes
 * (index.gc_deletes).
 */
#include "sink.h"
#include "bulkresp.h"
#include "docid.h"
#include "json.h"
#include "log.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
on_gc_deletes(const struct json_span *v, void *arg)
{
	int64_t *min = arg, ms;
	char tmp[32];

	if (v->len == 0 || v->len >= sizeof(tmp))
		return;
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	if (duration_parse(tmp, &ms) == 0 && (*min < 0 || ms < *min))
		*min = ms;
}

/* index.gc_deletes shorter than this gets a warning (man page: ten minutes). */
#define GC_DELETES_MIN_MS (10 * 60 * 1000)

/*
 * Warn (once per index) when the index forgets a delete's version soon.
 * An index that does not exist yet is created by the first request with
 * what its index templates give, or the server's default of 60s.
 */
static void
check_gc_deletes(struct sink *s, const char *name)
{
	int64_t gc = -1;
	long st;
	struct buf path = BUF_INIT;

	buf_addf(&path, "/%s/_settings/index.gc_deletes?include_defaults=true", name);
	st = http_sync(s, "GET", path.data, NULL);
	if (st == 404) {
		buf_reset(&path);
		buf_addf(&path, "/_index_template/_simulate_index/%s", name);
		st = http_sync(s, "POST", path.data, NULL);
		if (st >= 0 && st != 200) {
			info(1, "index %s: cannot see the settings it will be created with (HTTP %ld)",
			     name, st);
			st = 200;
			buf_reset(&s->sync_resp);
		}
	}
	if (st == -1)
		finish(s, CDC_EXIT_TEMPFAIL);
	if (st == -2)
		finish(s, CDC_EXIT_FAILURE);
	if (st == 200) {
		if (s->sync_resp.len > 0)
			json_find_strings(s->sync_resp.data, s->sync_resp.len, "gc_deletes",
					  on_gc_deletes, &gc);
		if (gc < 0)
			gc = 60000;	/* the server's default */
		if (gc < GC_DELETES_MIN_MS)
			warning("index %s: index.gc_deletes is %llds: a delete's version is forgotten "
				"after that, and an older event replayed later brings the document "
				"back; use --soft-delete or raise index.gc_deletes", name,
				(long long)(gc / 1000));
		else
			info(2, "index %s: index.gc_deletes is %llds", name, (long long)(gc / 1000));
	} else {
		info(1, "index %s: cannot read index.gc_deletes (HTTP %ld)", name, st);
	}
	buf_release(&path);
}

static void create_index(struct sink *s, const char *name);

/*
 * The first event for an index: create it (--create-index) and check how
 * long it remembers deletes.
 */
void
ensure_index(struct sink *s, const char *name, const struct event_info *ev)
{
	const struct config *cfg = s->cfg;
	for (size_t i = 0; i < s->nindexes; i++)
		if (strcmp(s->indexes[i], name) == 0)
			return;
	if (s->nindexes == s->capindexes) {
		s->capindexes = s->capindexes ? s->capindexes * 2 : 16;
		s->indexes = xrealloc(s->indexes, s->capindexes * sizeof(*s->indexes));
		s->aliases = xrealloc(s->aliases, s->capindexes * sizeof(*s->aliases));
	}
	s->aliases[s->nindexes] = NULL;
	if (cfg->alias_tmpl) {
		struct buf a = BUF_INIT;

		index_name(cfg->alias_tmpl, ev, &a);
		s->aliases[s->nindexes] = buf_detach(&a, NULL);
	}
	s->indexes[s->nindexes++] = xstrdup(name);
	if (cfg->create_body)
		create_index(s, name);
	if (!cfg->soft_delete)
		check_gc_deletes(s, name);
}

/* PUT the index with the --create-index body; an existing one is fine. */
static void
create_index(struct sink *s, const char *name)
{
	const struct config *cfg = s->cfg;
	long st;
	struct buf path = BUF_INIT;

	buf_addf(&path, "/%s", name);
	st = http_sync(s, "PUT", path.data, cfg->create_body);
	if (st == 200) {
		info(1, "created index %s", name);
	} else if (st == 400 && strstr(s->sync_resp.data ? s->sync_resp.data : "",
				       "resource_already_exists_exception")) {
		info(2, "index %s exists", name);
	} else if (st < 0) {
		finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
	} else {
		struct json_span type, reason;
		struct buf why = BUF_INIT;

		errresp_parse(s->sync_resp.data, s->sync_resp.len, &type, &reason);
		http_reason(&why, &type, &reason);
		error("cannot create index %s: HTTP %ld: %s", name, st, why.data);
		finish(s, CDC_EXIT_FAILURE);
	}
	buf_release(&path);
}

/* An Elasticsearch byte size: "100mb", "10485760b", "1gb". */
static int
parse_es_size(const struct json_span *v, uint64_t *out)
{
	char tmp[32], *end;
	unsigned long long n;
	uint64_t mult = 1;

	if (v->len == 0 || v->len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	errno = 0;
	n = strtoull(tmp, &end, 10);
	if (errno || end == tmp)
		return -1;
	if (strcmp(end, "kb") == 0)
		mult = 1024;
	else if (strcmp(end, "mb") == 0)
		mult = 1024 * 1024;
	else if (strcmp(end, "gb") == 0)
		mult = (uint64_t)1 << 30;
	else if (strcmp(end, "") != 0 && strcmp(end, "b") != 0)
		return -1;
	*out = n * mult;
	return 0;
}

static void
on_max_content(const struct json_span *v, void *arg)
{
	uint64_t *min = arg, n;

	if (parse_es_size(v, &n) == 0 && n > 0 && (*min == 0 || n < *min))
		*min = n;
}

void
startup_checks(struct sink *s)
{
	const struct config *cfg = s->cfg;
	long st;
	uint64_t max_content = 0;

	st = http_sync(s, "GET", "/_cluster/settings?include_defaults=true"
		       "&filter_path=**.http.max_content_length", NULL);
	if (st == -1)
		finish(s, CDC_EXIT_TEMPFAIL);
	if (st == -2)
		finish(s, CDC_EXIT_FAILURE);
	if (st == 401)
		die("%s: authentication failed (HTTP 401): check CDC_ES_USER/CDC_ES_PASSWORD, "
		    "CDC_ES_API_KEY or the netrc file", cfg->nodes[s->node].url);
	if (st == 200)
		json_find_strings(s->sync_resp.data, s->sync_resp.len, "max_content_length",
				  on_max_content, &max_content);
	else
		info(1, "cannot read http.max_content_length (HTTP %ld); assuming 100mb", st);
	if (max_content == 0)
		max_content = 100 << 20;
	if (s->batch_bytes > max_content) {
		warning("--batch-bytes lowered to the server's http.max_content_length (%llu bytes)",
			(unsigned long long)max_content);
		s->batch_bytes = max_content;
	}
}

