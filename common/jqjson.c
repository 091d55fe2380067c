/*
 * JSON text <-> jv for the jq programs (jqprog.h): jqp_parse() builds a jv
 * from an event line event_scan() has checked, reusing key strings between
 * events and noting numbers a double cannot hold; jqp_project() limits it
 * to the members the program can observe (jqpaths.h), parsing the rest
 * not at all; jqp_print() writes a jv as `jq -c` does.
 */
#include "jqprog.h"
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cur {
	const char *p, *end;
};

static void
skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* A quick hash of a short string, eight bytes at a time. */
static uint32_t
short_hash(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n;

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	if (n > 0) {
		uint64_t w = 0;

		memcpy(&w, s, n);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 29;
	}
	return (uint32_t)h;
}

static jv
key_string(struct jqprog *p, const char *s, size_t n)
{
	uint32_t h;
	unsigned idx;

	if (n > 64)
		return jv_string_sized(s, (int)n);
	h = short_hash(s, n);
	idx = h & (JQP_KEYCACHE - 1);
	for (int probe = 0; probe < 8; probe++) {
		struct jqp_key *k = &p->keys[(idx + (unsigned)probe) & (JQP_KEYCACHE - 1)];

		if (k->bytes == NULL) {
			/* Half full at most: keys of an unbounded stream do not grow it. */
			if (p->nkeys >= JQP_KEYCACHE / 2)
				break;
			k->bytes = xmalloc(n + 1);
			memcpy(k->bytes, s, n);
			k->bytes[n] = '\0';
			k->len = n;
			k->hash = h;
			k->str = jv_string_sized(s, (int)n);
			p->nkeys++;
			return jv_copy(k->str);
		}
		if (k->hash == h && k->len == n && memcmp(k->bytes, s, n) == 0)
			return jv_copy(k->str);
	}
	return jv_string_sized(s, (int)n);
}

/*
 * Short string values repeat a lot in events (op, source fields, enum-like
 * columns): a direct-mapped cache hands out shared copies instead of a
 * new string each time.  A miss replaces the slot, so the cache is a fixed
 * size whatever the stream holds.  Shared strings are never changed in
 * place by libjq (it copies a string whose reference count is above one).
 */
static jv
value_string(struct jqprog *p, const char *s, size_t n)
{
	uint32_t h;
	jv *slot;

	if (n > JQP_VALUE_MAX)
		return jv_string_sized(s, (int)n);
	h = short_hash(s, n);
	slot = &p->values[h & (JQP_VALUECACHE - 1)];
	if (p->value_len[h & (JQP_VALUECACHE - 1)] == n + 1 &&
	    memcmp(jv_string_value(*slot), s, n) == 0)
		return jv_copy(*slot);
	if (p->value_len[h & (JQP_VALUECACHE - 1)])
		jv_free(*slot);
	*slot = jv_string_sized(s, (int)n);
	p->value_len[h & (JQP_VALUECACHE - 1)] = (unsigned char)(n + 1);
	return jv_copy(*slot);
}

/* The parsers return false on text that is not JSON; *out is then unset. */
static bool
parse_string(struct jqprog *p, struct cur *c, bool key, jv *out)
{
	const char *s = c->p + 1, *q = s;
	bool escaped = false;
	size_t n;

	for (;;) {
		const char *quote = memchr(q, '"', (size_t)(c->end - q));
		const char *bs;

		if (quote == NULL)
			return false;
		bs = memchr(q, '\\', (size_t)(quote - q));
		if (bs == NULL) {
			q = quote;
			break;
		}
		escaped = true;
		q = bs + 2;	/* past the escaped character; \uXXXX has no quote */
		if (q > c->end)
			return false;
	}
	c->p = q + 1;
	n = (size_t)(q - s);
	if (!escaped) {
		*out = key ? key_string(p, s, n) : value_string(p, s, n);
		return true;
	}
	{
		struct json_span sp = { s, n, true };

		buf_reset(&p->scratch);
		if (json_span_decode(&sp, &p->scratch) < 0)
			return false;
		*out = jv_string_sized(p->scratch.data ? p->scratch.data : "", (int)p->scratch.len);
		return true;
	}
}

static bool
parse_number(struct jqprog *p, struct cur *c, jv *out)
{
	const char *s = c->p, *q = s;
	bool neg = false, simple = true;
	long long v = 0;
	int digits = 0;
	char tmp[64];
	char *big = NULL;
	double d;
	size_t n;

	if (*q == '-') {
		neg = true;
		q++;
	}
	while (q < c->end && *q >= '0' && *q <= '9') {
		v = v * 10 + (*q - '0');
		if (++digits > 15)
			simple = false;
		q++;
		if (!simple)
			break;
	}
	while (q < c->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
			      *q == '+' || *q == '-')) {
		simple = false;
		q++;
	}
	c->p = q;
	if (digits == 0)
		return false;
	if (simple) {
		d = (double)v;
		*out = jv_number(neg ? -d : d);
		return true;
	}
	n = (size_t)(q - s);
	if (n < sizeof(tmp)) {
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		d = strtod(tmp, NULL);
	} else {
		big = xstrndup(s, n);
		d = strtod(big, NULL);
		free(big);
	}
	if (p->check_numbers && !jqp_number_exact(s, n, d)) {
		if (p->inexact++ == 0)
			p->inexact_at = (size_t)(s - p->base);
	}
	*out = jv_number(d);
	return true;
}

static bool parse_value(struct jqprog *p, struct cur *c, jv *out);

/*
 * The object at c.  node < 0: every member is built; else node is the
 * object's place in the projection (p->need): members the program cannot
 * observe are skipped unparsed, the others built (pruned further below
 * node, whole where the node is full).
 */
static bool parse_member(struct jqprog *p, struct cur *c, int node, jv *out);
static bool skip_string(struct cur *c, bool *escaped);
static bool skip_value(struct jqprog *p, struct cur *c);

/* Read a member name at c under node: *child is its node (-1: not needed), *k the name when needed. */
static bool
member_name(struct jqprog *p, struct cur *c, int node, int *child, jv *k)
{
	const char *s = c->p + 1;
	size_t n;
	bool escaped;

	if (!skip_string(c, &escaped))
		return false;
	n = (size_t)(c->p - 1 - s);
	if (escaped) {
		struct json_span sp = { s, n, true };

		buf_reset(&p->scratch);
		if (json_span_decode(&sp, &p->scratch) < 0)
			return false;
		*child = jqpaths_child(p->need, node, p->scratch.data ? p->scratch.data : "",
				       p->scratch.len);
		if (*child >= 0)
			*k = jv_string_sized(p->scratch.data ? p->scratch.data : "", (int)p->scratch.len);
	} else {
		*child = jqpaths_child(p->need, node, s, n);
		if (*child >= 0)
			*k = key_string(p, s, n);
	}
	return true;
}

static bool
parse_object(struct jqprog *p, struct cur *c, int node, jv *out)
{
	jv o = jv_object();

	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		*out = o;
		return true;
	}
	for (;;) {
		jv k = jv_invalid(), v;
		int child = -1;
		bool ok;

		skip_ws(c);
		if (c->p >= c->end || *c->p != '"')
			break;
		if (node < 0 ? !parse_string(p, c, true, &k) : !member_name(p, c, node, &child, &k))
			break;
		skip_ws(c);
		if (c->p >= c->end || *c->p != ':') {
			jv_free(k);
			break;
		}
		c->p++;
		if (node >= 0 && child < 0) {
			ok = skip_value(p, c);
		} else {
			ok = node < 0 || p->need->node[child].full ? parse_value(p, c, &v)
								   : parse_member(p, c, child, &v);
			if (ok)
				o = jv_object_set(o, k, v);
			else
				jv_free(k);
		}
		if (!ok)
			break;
		skip_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			*out = o;
			return true;
		}
		break;
	}
	jv_free(o);
	return false;
}

static bool
parse_array(struct jqprog *p, struct cur *c, jv *out)
{
	jv a = jv_array();

	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		*out = a;
		return true;
	}
	for (;;) {
		jv v;

		if (!parse_value(p, c, &v))
			break;
		a = jv_array_append(a, v);
		skip_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == ']') {
			c->p++;
			*out = a;
			return true;
		}
		break;
	}
	jv_free(a);
	return false;
}

static bool
literal(struct cur *c, const char *lit, size_t n, jv v, jv *out)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	*out = v;
	return true;
}

static bool
parse_value(struct jqprog *p, struct cur *c, jv *out)
{
	skip_ws(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
		return parse_object(p, c, -1, out);
	case '[':
		return parse_array(p, c, out);
	case '"':
		return parse_string(p, c, false, out);
	case 't':
		return literal(c, "true", 4, jv_true(), out);
	case 'f':
		return literal(c, "false", 5, jv_false(), out);
	case 'n':
		return literal(c, "null", 4, jv_null(), out);
	default:
		return parse_number(p, c, out);
	}
}

/* --- building only what the program can observe (jqp_project()) --- */

/* Past the string whose opening quote is at c->p; *escaped: it has escapes. */
static bool
skip_string(struct cur *c, bool *escaped)
{
	const char *q = c->p + 1;

	*escaped = false;
	for (;;) {
		const char *quote = memchr(q, '"', (size_t)(c->end - q));
		const char *bs;

		if (quote == NULL)
			return false;
		bs = memchr(q, '\\', (size_t)(quote - q));
		if (bs == NULL) {
			c->p = quote + 1;
			return true;
		}
		*escaped = true;
		q = bs + 2;
		if (q > c->end)
			return false;
	}
}

/*
 * Past one value, building nothing; numbers are still checked when
 * p->check_numbers (so that leaving a part out changes no verdict).
 */
static bool
skip_value(struct jqprog *p, struct cur *c)
{
	int depth = 0;

	do {
		bool escaped;

		skip_ws(c);
		if (c->p >= c->end)
			return false;
		switch (*c->p) {
		case '"':
			if (!skip_string(c, &escaped))
				return false;
			break;
		case '{':
		case '[':
			depth++;
			c->p++;
			break;
		case '}':
		case ']':
			if (--depth < 0)
				return false;
			c->p++;
			break;
		case ',':
		case ':':
			if (depth == 0)
				return false;
			c->p++;
			break;
		case 't':
		case 'n':
			c->p += 4;
			break;
		case 'f':
			c->p += 5;
			break;
		default:
			if (p->check_numbers) {
				jv num;

				if (!parse_number(p, c, &num))
					return false;
				jv_free(num);
			} else {
				const char *q = c->p;

				while (q < c->end && ((*q >= '0' && *q <= '9') || *q == '-' ||
						      *q == '.' || *q == 'e' || *q == 'E' || *q == '+'))
					q++;
				if (q == c->p)
					return false;
				c->p = q;
			}
			break;
		}
	} while (depth > 0);
	return c->p <= c->end;
}

/* The value at c->p with only the members of node (not full) it names. */
/* A member's value under projection node: an object is pruned further. */
static bool
parse_member(struct jqprog *p, struct cur *c, int node, jv *out)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == '{')
		return parse_object(p, c, node, out);
	return parse_value(p, c, out);
}

bool
jqp_project(struct jqprog *p, const char *program, bool truthy_only)
{
	if (p->need == NULL)
		p->need = xmalloc(sizeof(*p->need));
	if (jqpaths_analyze(p->need, program, truthy_only))
		return true;
	jqpaths_free(p->need);
	free(p->need);
	p->need = NULL;
	return false;
}

jv
jqp_parse(struct jqprog *p, const char *text, size_t len)
{
	struct cur c = { text, text + len };
	jv v;
	bool ok;

	p->inexact = 0;
	p->inexact_at = 0;
	p->base = text;
	ok = p->need ? parse_member(p, &c, 0, &v) : parse_value(p, &c, &v);
	if (!ok)
		return jv_invalid();
	skip_ws(&c);
	if (c.p != c.end) {
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

/* --- printing --- */

static void
print_string(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	buf_grow(b, n + 2);
	b->data[b->len++] = '"';
	while (i < n) {
		size_t run = i;

		while (run < n && u[run] >= 0x20 && u[run] != '"' && u[run] != '\\' && u[run] != 0x7f)
			run++;
		if (run > i) {
			buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		switch (u[i]) {
		case '"': buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		default: {
			char e[6] = { '\\', 'u', '0', '0', hexd[u[i] >> 4], hexd[u[i] & 15] };

			buf_add(b, e, 6);
		}
		}
		i++;
	}
	buf_addc(b, '"');
}

/* jqp_print() below depth levels of containers; false when too deep. */
static bool
print_value(struct buf *b, jv v, int depth)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		buf_add(b, "null", 4);
		break;
	case JV_KIND_TRUE:
		buf_add(b, "true", 4);
		break;
	case JV_KIND_FALSE:
		buf_add(b, "false", 5);
		break;
	case JV_KIND_NUMBER: {
		char num[40];
		size_t n = jqp_format_double(jv_number_value(v), num);

		buf_add(b, num, n);
		break;
	}
	case JV_KIND_STRING:
		print_string(b, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_ARRAY: {
		int n = jv_array_length(jv_copy(v));

		if (depth >= JQP_PRINT_DEPTH)
			return false;
		buf_addc(b, '[');
		for (int i = 0; i < n; i++) {
			jv e = jv_array_get(jv_copy(v), i);
			bool ok;

			if (i)
				buf_addc(b, ',');
			ok = print_value(b, e, depth + 1);
			jv_free(e);
			if (!ok)
				return false;
		}
		buf_addc(b, ']');
		break;
	}
	case JV_KIND_OBJECT: {
		bool first = true;

		if (depth >= JQP_PRINT_DEPTH)
			return false;
		buf_addc(b, '{');
		for (int i = jv_object_iter(v); jv_object_iter_valid(v, i);
		     i = jv_object_iter_next(v, i)) {
			jv k = jv_object_iter_key(v, i);
			jv e = jv_object_iter_value(v, i);
			bool ok;

			if (!first)
				buf_addc(b, ',');
			first = false;
			print_string(b, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)));
			buf_addc(b, ':');
			ok = print_value(b, e, depth + 1);
			jv_free(k);
			jv_free(e);
			if (!ok)
				return false;
		}
		buf_addc(b, '}');
		break;
	}
	default:
		buf_add(b, "null", 4);	/* an invalid value never reaches output */
		break;
	}
	return true;
}

int
jqp_print(struct buf *b, jv v)
{
	size_t start = b->len;

	if (print_value(b, v, 0))
		return 0;
	buf_setlen(b, start);
	return -1;
}
