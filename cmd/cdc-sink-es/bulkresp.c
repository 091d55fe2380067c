/*
 * Response walkers.  Every value is checked for its type before use and
 * every length is bounded by the body: a response that is cut short or
 * malformed gives -1, never a read past the end.
 */
#include "bulkresp.h"

#include <string.h>

static bool
is_lit(const char *v, size_t vlen, const char *lit)
{
	size_t n = strlen(lit);

	return vlen == n && memcmp(v, lit, n) == 0;
}

/* A raw JSON string value as a span (without quotes); false if not a string. */
static bool
as_string(const char *v, size_t vlen, struct json_span *sp)
{
	if (vlen < 2 || v[0] != '"' || v[vlen - 1] != '"')
		return false;
	sp->p = v + 1;
	sp->len = vlen - 2;
	sp->escaped = memchr(v + 1, '\\', vlen - 2) != NULL;
	return true;
}

/* error object: type and reason. */
static int
parse_error(const char *v, size_t vlen, struct json_span *type, struct json_span *reason,
	    const char **err)
{
	struct json_iter it;
	struct json_span k;
	const char *mv;
	size_t mlen;
	int r;

	if (as_string(v, vlen, reason))
		return 0;	/* {"error":"text"} */
	if (json_iter_begin(&it, v, vlen) < 0 || it.array)
		return 0;	/* some other shape: ignore */
	while ((r = json_iter_next(&it, &k, &mv, &mlen, err)) == 1) {
		if (json_span_is(&k, "type"))
			as_string(mv, mlen, type);
		else if (json_span_is(&k, "reason"))
			as_string(mv, mlen, reason);
	}
	return r;
}

/* One item: {"index":{"status":201,...}}. */
static int
parse_item(const char *v, size_t vlen, struct bulk_item_result *res, const char **err)
{
	struct json_iter it, in;
	struct json_span k;
	const char *av, *mv;
	size_t alen, mlen;
	int r, members = 0;
	bool have_status = false;

	memset(res, 0, sizeof(*res));
	if (json_iter_begin(&it, v, vlen) < 0 || it.array) {
		*err = "bulk item is not an object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &av, &alen, err)) == 1) {
		if (++members > 1) {
			*err = "bulk item has more than one action";
			return -1;
		}
		if (json_iter_begin(&in, av, alen) < 0 || in.array) {
			*err = "bulk item action is not an object";
			return -1;
		}
		while ((r = json_iter_next(&in, &k, &mv, &mlen, err)) == 1) {
			if (json_span_is(&k, "status")) {
				int64_t st;

				if (!json_parse_i64(mv, mlen, &st) || st < 100 || st > 599) {
					*err = "bulk item status is not an HTTP status";
					return -1;
				}
				res->status = (int)st;
				have_status = true;
			} else if (json_span_is(&k, "error")) {
				if (parse_error(mv, mlen, &res->type, &res->reason, err) < 0)
					return -1;
			}
		}
		if (r < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (!have_status) {
		*err = "bulk item has no status";
		return -1;
	}
	return 0;
}

long
bulkresp_parse(const char *body, size_t len, struct bulk_item_result *out, size_t n,
	       bool *errors, const char **err)
{
	struct json_iter it, items;
	struct json_span k;
	const char *v, *iv;
	size_t vlen, ivlen;
	long count = 0;
	int r;
	bool have_items = false;

	*errors = false;
	if (body == NULL || json_iter_begin(&it, body, len) < 0 || it.array) {
		*err = "bulk response is not a JSON object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &v, &vlen, err)) == 1) {
		if (json_span_is(&k, "errors")) {
			*errors = is_lit(v, vlen, "true");
		} else if (json_span_is(&k, "items")) {
			if (json_iter_begin(&items, v, vlen) < 0 || !items.array) {
				*err = "bulk response \"items\" is not an array";
				return -1;
			}
			if (have_items) {
				*err = "bulk response has two \"items\"";
				return -1;
			}
			have_items = true;
			while ((r = json_iter_next(&items, NULL, &iv, &ivlen, err)) == 1) {
				struct bulk_item_result tmp;

				if (parse_item(iv, ivlen, (size_t)count < n ? &out[count] : &tmp, err) < 0)
					return -1;
				count++;
			}
			if (r < 0)
				return -1;
		}
	}
	if (r < 0)
		return -1;
	/* Nothing may follow the object but white space. */
	if (json_ws(it.p, body + len) != body + len) {
		*err = "text after the bulk response";
		return -1;
	}
	if (!have_items) {
		*err = "bulk response has no \"items\"";
		return -1;
	}
	return count;
}

int
errresp_parse(const char *body, size_t len, struct json_span *type, struct json_span *reason)
{
	struct json_iter it;
	struct json_span k;
	const char *v, *err;
	size_t vlen;
	int r;

	memset(type, 0, sizeof(*type));
	memset(reason, 0, sizeof(*reason));
	if (body == NULL || json_iter_begin(&it, body, len) < 0 || it.array)
		return -1;
	while ((r = json_iter_next(&it, &k, &v, &vlen, &err)) == 1) {
		if (json_span_is(&k, "error"))
			return parse_error(v, vlen, type, reason, &err) < 0 ? -1 : 0;
	}
	return -1;
}

static int
parse_doc(const char *v, size_t vlen, struct mget_doc *d, const char **err)
{
	struct json_iter it;
	struct json_span k, reason;
	const char *mv;
	size_t mlen;
	int r;

	memset(d, 0, sizeof(*d));
	if (json_iter_begin(&it, v, vlen) < 0 || it.array) {
		*err = "mget doc is not an object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &mv, &mlen, err)) == 1) {
		if (json_span_is(&k, "found")) {
			if (is_lit(mv, mlen, "true"))
				d->found = true;
			else if (!is_lit(mv, mlen, "false")) {
				*err = "mget \"found\" is not a boolean";
				return -1;
			}
		} else if (json_span_is(&k, "_version")) {
			if (!json_parse_u64(mv, mlen, &d->version)) {
				*err = "mget \"_version\" is not an unsigned integer";
				return -1;
			}
			d->has_version = true;
		} else if (json_span_is(&k, "_source")) {
			if (mlen == 0 || mv[0] != '{') {
				*err = "mget \"_source\" is not an object";
				return -1;
			}
			d->source = mv;
			d->source_len = mlen;
		} else if (json_span_is(&k, "error")) {
			memset(&reason, 0, sizeof(reason));
			if (parse_error(mv, mlen, &d->err_type, &reason, err) < 0)
				return -1;
			if (d->err_type.p == NULL)
				d->err_type = reason;
			if (d->err_type.p == NULL) {
				d->err_type.p = "error";
				d->err_type.len = 5;
			}
		}
	}
	if (r < 0)
		return -1;
	if (d->found && d->source == NULL) {
		*err = "mget doc found without \"_source\"";
		return -1;
	}
	return 0;
}

long
mgetresp_parse(const char *body, size_t len, struct mget_doc *out, size_t n, const char **err)
{
	struct json_iter it, docs;
	struct json_span k;
	const char *v, *dv;
	size_t vlen, dlen;
	long count = 0;
	int r;
	bool have_docs = false;

	if (body == NULL || json_iter_begin(&it, body, len) < 0 || it.array) {
		*err = "mget response is not a JSON object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &v, &vlen, err)) == 1) {
		if (!json_span_is(&k, "docs"))
			continue;
		if (have_docs || json_iter_begin(&docs, v, vlen) < 0 || !docs.array) {
			*err = "mget response \"docs\" is not an array";
			return -1;
		}
		have_docs = true;
		while ((r = json_iter_next(&docs, NULL, &dv, &dlen, err)) == 1) {
			struct mget_doc tmp;

			if (parse_doc(dv, dlen, (size_t)count < n ? &out[count] : &tmp, err) < 0)
				return -1;
			count++;
		}
		if (r < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (json_ws(it.p, body + len) != body + len) {
		*err = "text after the mget response";
		return -1;
	}
	if (!have_docs) {
		*err = "mget response has no \"docs\"";
		return -1;
	}
	return count;
}

static int
find_in(const char *v, size_t vlen, const char *name,
	void (*fn)(const struct json_span *, void *), void *arg, int depth, const char **err)
{
	struct json_iter it;
	struct json_span k, val;
	const char *mv;
	size_t mlen;
	int r, found = 0;

	if (depth > JSON_MAX_DEPTH)
		return -1;
	if (json_iter_begin(&it, v, vlen) < 0)
		return 0;	/* a scalar */
	while ((r = json_iter_next(&it, &k, &mv, &mlen, err)) == 1) {
		if (!it.array && json_span_is(&k, name) && as_string(mv, mlen, &val)) {
			fn(&val, arg);
			found++;
		} else if (mlen > 0 && (mv[0] == '{' || mv[0] == '[')) {
			int f = find_in(mv, mlen, name, fn, arg, depth + 1, err);

			if (f < 0)
				return -1;
			found += f;
		}
	}
	return r < 0 ? -1 : found;
}

int
json_find_strings(const char *body, size_t len, const char *name,
		  void (*fn)(const struct json_span *val, void *arg), void *arg)
{
	const char *err;

	if (body == NULL || json_skip(body, body + len, &err) == NULL)
		return -1;
	return find_in(body, len, name, fn, arg, 0, &err);
}

/* One hit: {"_index":"i","_id":"1","_version":3,...}. */
static int
parse_hit(const char *v, size_t vlen, struct search_hit *h, const char **err)
{
	struct json_iter it;
	struct json_span k, sp;
	const char *mv;
	size_t mlen;
	int r;

	memset(h, 0, sizeof(*h));
	if (json_iter_begin(&it, v, vlen) < 0 || it.array) {
		*err = "search hit is not an object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &mv, &mlen, err)) == 1) {
		if (json_span_is(&k, "_index") && as_string(mv, mlen, &sp)) {
			h->index = mv;
			h->index_len = mlen;
		} else if (json_span_is(&k, "_id") && as_string(mv, mlen, &sp)) {
			h->id = mv;
			h->id_len = mlen;
		} else if (json_span_is(&k, "_version")) {
			if (!json_parse_u64(mv, mlen, &h->version)) {
				*err = "search hit \"_version\" is not an unsigned integer";
				return -1;
			}
			h->has_version = true;
		}
	}
	if (r < 0)
		return -1;
	if (h->index == NULL || h->id == NULL || h->id_len <= 2) {
		*err = "search hit without \"_index\" and \"_id\" strings";
		return -1;
	}
	return 0;
}

/* The "hits" object: {"total":..,"hits":[...]}. */
static long
parse_hits(const char *v, size_t vlen, struct search_hit *out, size_t n, const char **err)
{
	struct json_iter it, arr;
	struct json_span k;
	const char *mv, *hv;
	size_t mlen, hlen;
	long count = 0;
	int r;

	if (json_iter_begin(&it, v, vlen) < 0 || it.array) {
		*err = "search response \"hits\" is not an object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &mv, &mlen, err)) == 1) {
		if (!json_span_is(&k, "hits"))
			continue;
		if (json_iter_begin(&arr, mv, mlen) < 0 || !arr.array) {
			*err = "search response \"hits.hits\" is not an array";
			return -1;
		}
		while ((r = json_iter_next(&arr, NULL, &hv, &hlen, err)) == 1) {
			struct search_hit tmp;

			if (parse_hit(hv, hlen, (size_t)count < n ? &out[count] : &tmp, err) < 0)
				return -1;
			count++;
		}
		if (r < 0)
			return -1;
	}
	return r < 0 ? -1 : count;
}

long
searchresp_parse(const char *body, size_t len, struct search_hit *out, size_t n,
		 struct json_span *scroll_id, const char **err)
{
	struct json_iter it;
	struct json_span k;
	const char *v;
	size_t vlen;
	long count = 0;
	int r;

	memset(scroll_id, 0, sizeof(*scroll_id));
	if (body == NULL || json_iter_begin(&it, body, len) < 0 || it.array) {
		*err = "search response is not a JSON object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &v, &vlen, err)) == 1) {
		if (json_span_is(&k, "_scroll_id")) {
			if (!as_string(v, vlen, scroll_id)) {
				*err = "search response \"_scroll_id\" is not a string";
				return -1;
			}
		} else if (json_span_is(&k, "hits")) {
			count = parse_hits(v, vlen, out, n, err);
			if (count < 0)
				return -1;
		}
	}
	if (r < 0)
		return -1;
	if (json_ws(it.p, body + len) != body + len) {
		*err = "text after the search response";
		return -1;
	}
	return count;
}

/* The decimal number after "name=" in text[0..len), or -1 when absent. */
static int64_t
number_after(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);
	int64_t v = -1;

	for (size_t i = 0; i + n <= len; i++) {
		/* Whole names only: "max_primary_bytes=" is not "primary_bytes=". */
		if (memcmp(text + i, name, n) != 0 ||
		    (i > 0 && (text[i - 1] == '_' || (text[i - 1] >= 'a' && text[i - 1] <= 'z'))))
			continue;
		i += n;
		if (i >= len || text[i] < '0' || text[i] > '9')
			return -1;
		v = 0;
		for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
			if (v > (INT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (text[i] - '0');
		}
		return v;
	}
	return v;
}

bool
rejected_too_large(const struct json_span *reason)
{
	static const char *const pairs[][2] = {
		{ "primary_operation_bytes=", "max_primary_bytes=" },
		{ "coordinating_operation_bytes=", "max_coordinating_and_primary_bytes=" },
		{ "replica_operation_bytes=", "max_replica_bytes=" },
	};

	if (reason == NULL || reason->p == NULL)
		return false;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		int64_t op = number_after(reason->p, reason->len, pairs[i][0]);
		int64_t max = number_after(reason->p, reason->len, pairs[i][1]);

		if (op >= 0 && max >= 0 && op > max)
			return true;
	}
	return false;
}
