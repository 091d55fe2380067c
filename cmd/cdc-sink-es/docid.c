#include "docid.h"
#include "hash.h"
#include "sha256.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/*
 * Append one key value as id text; escape: protect '%' and ',' for a
 * multi-column join.  Returns 0, or -1 for a null value.
 */
static int
add_value(struct buf *out, const char *v, size_t vlen, int escape)
{
	size_t start = out->len;

	if (vlen == 4 && memcmp(v, "null", 4) == 0)
		return -1;
	if (v[0] == '"') {
		struct json_span sp = { v + 1, vlen - 2, memchr(v + 1, '\\', vlen - 2) != NULL };

		if (json_span_decode(&sp, out) < 0)
			return -1;
	} else {
		buf_add(out, v, vlen);
	}
	if (escape && memchr(out->data + start, '%', out->len - start) == NULL &&
	    memchr(out->data + start, ',', out->len - start) == NULL)
		return 0;
	if (escape) {
		/* Rewrite the appended text with the two escapes. */
		size_t n = out->len - start;
		char *copy = xstrndup(out->data + start, n);

		buf_setlen(out, start);
		for (size_t i = 0; i < n; i++) {
			if (copy[i] == '%')
				buf_adds(out, "%25");
			else if (copy[i] == ',')
				buf_adds(out, "%2C");
			else
				buf_addc(out, copy[i]);
		}
		free(copy);
	}
	return 0;
}

/* Replace an over-long id (from start to the end of out) by its hash. */
static void
limit_id(struct buf *out, size_t start)
{
	char hex[SHA256_HEX_BUFSZ];

	if (out->len - start <= DOCID_MAX)
		return;
	sha256_hex(out->data + start, out->len - start, hex);
	buf_setlen(out, start);
	buf_adds(out, "sha256:");
	buf_adds(out, hex);
}

/* Is k the name of one of the first n members of the key object? */
static bool
named_before(const char *key, size_t klen, const struct json_span *k, int n)
{
	struct json_iter it;
	struct json_span name;
	const char *v, *err;
	size_t vlen;

	json_iter_begin(&it, key, klen);
	for (int i = 0; i < n && json_iter_next(&it, &name, &v, &vlen, &err) == 1; i++)
		if (json_spans_eq(&name, k))
			return true;
	return false;
}

/*
 * The number of columns in the key object, or -1 (*err set) when it is
 * not an object or names a column twice: which of the two values would be
 * the row's?  (The old image's id, looked up by name, would take the first
 * and call the row moved.)
 */
static int
count_members(const char *key, size_t klen, const char **err)
{
	struct json_iter it;
	struct json_span k;
	const char *v;
	size_t vlen;
	int n = 0, r;

	if (json_iter_begin(&it, key, klen) < 0 || it.array) {
		*err = "key is not an object";
		return -1;
	}
	while ((r = json_iter_next(&it, &k, &v, &vlen, err)) == 1) {
		if (n > 0 && named_before(key, klen, &k, n)) {
			*err = "key names a column twice";
			return -1;
		}
		n++;
	}
	return r < 0 ? -1 : n;
}

int
docid_from_key(const char *key, size_t klen, struct buf *out, const char **err)
{
	size_t start = out->len;
	struct json_iter it;
	const char *v;
	size_t vlen;
	int n, r, i = 0;

	if (key == NULL || (klen == 4 && memcmp(key, "null", 4) == 0)) {
		*err = "no key";
		return -1;
	}
	n = count_members(key, klen, err);
	if (n < 0)
		return -1;
	if (n == 0) {
		*err = "no key (empty key object)";
		return -1;
	}
	json_iter_begin(&it, key, klen);
	while ((r = json_iter_next(&it, NULL, &v, &vlen, err)) == 1) {
		if (i++ > 0)
			buf_addc(out, ',');
		if (add_value(out, v, vlen, n > 1) < 0) {
			buf_setlen(out, start);
			*err = "key column is null";
			return -1;
		}
	}
	if (r < 0) {
		buf_setlen(out, start);
		return -1;
	}
	/* Elasticsearch refuses an empty _id: a single '' key has none. */
	if (out->len == start) {
		*err = "key value is an empty string (a document id cannot be empty)";
		return -1;
	}
	limit_id(out, start);
	return 0;
}

int
docid_from_image(const char *key, size_t klen, const char *image, size_t ilen,
		 struct buf *out, const char **err)
{
	size_t start = out->len;
	struct json_iter it;
	struct json_span k;
	const char *v, *iv;
	size_t vlen, ivlen;
	int n, r, i = 0;

	if (key == NULL || image == NULL || (ilen == 4 && memcmp(image, "null", 4) == 0))
		return 0;
	n = count_members(key, klen, err);
	if (n <= 0)
		return n;
	json_iter_begin(&it, key, klen);
	while ((r = json_iter_next(&it, &k, &v, &vlen, err)) == 1) {
		int f = json_member(image, ilen, NULL, &k, &iv, &ivlen);

		if (f < 0)
			*err = "row image is not an object";
		if (f <= 0) {
			buf_setlen(out, start);
			return f;
		}
		if (i++ > 0)
			buf_addc(out, ',');
		if (add_value(out, iv, ivlen, n > 1) < 0) {
			buf_setlen(out, start);
			return 0;
		}
	}
	if (r < 0) {
		buf_setlen(out, start);
		return -1;
	}
	limit_id(out, start);
	return 1;
}

static void
add_lower(struct buf *out, const struct json_span *sp)
{
	size_t start = out->len;

	if (sp->p == NULL)
		return;
	json_span_decode(sp, out);
	for (size_t i = start; i < out->len; i++)
		out->data[i] = (char)tolower((unsigned char)out->data[i]);
}

void
index_name(const char *tmpl, const struct event_info *ev, struct buf *out)
{
	const char *p = tmpl;

	while (*p) {
		const char *brace = strchr(p, '{');

		if (brace == NULL) {
			buf_adds(out, p);
			return;
		}
		buf_add(out, p, (size_t)(brace - p));
		if (strncmp(brace, "{db}", 4) == 0) {
			add_lower(out, &ev->db);
			p = brace + 4;
		} else if (strncmp(brace, "{schema}", 8) == 0) {
			add_lower(out, &ev->schema);
			p = brace + 8;
		} else if (strncmp(brace, "{table}", 7) == 0) {
			add_lower(out, &ev->table);
			p = brace + 7;
		} else {
			buf_addc(out, '{');
			p = brace + 1;
		}
	}
}

int
index_template_check(const char *tmpl, char *why, size_t size)
{
	size_t fixed = 0;

	if (*tmpl == '\0') {
		snprintf(why, size, "an empty name");
		return -1;
	}
	if (strchr("-_+", *tmpl)) {
		snprintf(why, size, "a name may not start with '%c'", *tmpl);
		return -1;
	}
	if (strcmp(tmpl, ".") == 0 || strcmp(tmpl, "..") == 0) {
		snprintf(why, size, "\"%s\" is not a name", tmpl);
		return -1;
	}
	for (const char *p = tmpl; *p; p++) {
		if (*p == '{') {
			size_t n = strcspn(p, "}");

			if (strncmp(p, "{db}", 4) && strncmp(p, "{schema}", 8) && strncmp(p, "{table}", 7)) {
				snprintf(why, size, "unknown placeholder %.*s (there are {db}, {schema} and {table})",
					 (int)(n > 30 ? 30 : n + (p[n] == '}')), p);
				return -1;
			}
			p += n;
			continue;
		}
		if (*p >= 'A' && *p <= 'Z') {
			snprintf(why, size, "upper-case letters are refused by the server ('%c')", *p);
			return -1;
		}
		if (strchr("\\/*?\"<>| ,#:}", *p)) {
			snprintf(why, size, "the server refuses '%c' in a name", *p);
			return -1;
		}
		fixed++;
	}
	if (fixed > 255) {
		snprintf(why, size, "longer than the server's 255 bytes");
		return -1;
	}
	return 0;
}

int
index_has_table(const char *tmpl)
{
	return strstr(tmpl, "{table}") != NULL;
}

uint64_t
doc_hash(const char *index, size_t ilen, const char *id, size_t idlen)
{
	uint64_t h = fnv1a(fnv1a(fnv1a(FNV1A_INIT, index, ilen), "\xff", 1), id, idlen);

	/* Final mix so that "% N" uses every bit. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}
