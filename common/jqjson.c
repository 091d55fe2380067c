/*
 * JSON text <-> jv for the jq programs (jqprog.h): jqp_parse() builds a jv
 * from an event line event_scan() has checked, reusing key strings between
 * events and noting numbers a double cannot hold; jqp_project() limits it
 * to the members the program can observe (jqpaths.h), parsing the rest
 * not at all, and hands the program a stand-in for a member it only copies
 * into its outputs; jqp_print() writes a jv as `jq -c` does, and such a
 * member as its own text.
 */
#include "jqprog.h"
#include "json.h"
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct cur {
	const char *p, *end;
};

static void
skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* The first byte at or after q that is not printable ASCII, or a quote or backslash. */
static const unsigned char *
raw_stop(const unsigned char *q, const unsigned char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f);

	while (end - q >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
		/* signed: below ' ' is a control byte or 0x80 and above */
		__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
					   _mm_or_si128(_mm_cmplt_epi8(x, space), _mm_cmpeq_epi8(x, del)));
		unsigned m = (unsigned)_mm_movemask_epi8(hit);

		if (m)
			return q + __builtin_ctz(m);
		q += 16;
	}
#endif
	while (q < end && *q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\')
		q++;
	return q;
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

static bool parse_value(struct jqprog *p, struct cur *c, jv *out);
static bool skip_string(struct cur *c, bool *escaped);

/* The parsers return false on text that is not JSON; *out is then unset. */
static bool
parse_string(struct jqprog *p, struct cur *c, bool key, jv *out)
{
	const char *s = c->p + 1;
	bool escaped;
	size_t n;

	if (!skip_string(c, &escaped))
		return false;
	n = (size_t)(c->p - 1 - s);
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

/*
 * The object at c.  node < 0: every member is built; else node is the
 * object's place in the projection (p->need): members the program cannot
 * observe are skipped unparsed, the others built (pruned further below
 * node, whole where the node is full).
 */
static bool parse_member(struct jqprog *p, struct cur *c, int node, jv *out);
static bool skip_value(struct jqprog *p, struct cur *c);
static bool raw_member(struct jqprog *p, struct cur *c, int node, jv *out);

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
		} else if (node >= 0 && p->need->node[child].raw && raw_member(p, c, child, &v)) {
			o = jv_object_set(o, k, v);
			ok = true;
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
	const unsigned char *q = (const unsigned char *)c->p + 1;
	const unsigned char *end = (const unsigned char *)c->end;

	*escaped = false;
	while ((q = raw_stop(q, end)) < end) {
		if (*q == '"') {
			c->p = (const char *)q + 1;
			return true;
		}
		if (*q == '\\') {
			*escaped = true;
			q += 2;	/* past the escaped character; \uXXXX has no quote */
		} else {
			q++;
		}
	}
	return false;
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

/*
 * --- members the program only copies into its outputs (jqpaths.h "raw") ---
 *
 * Such a member's text is handed on as it stands when jq -c would print
 * exactly that text for the value it holds: no whitespace, strings valid
 * UTF-8 with escapes only where jq writes them and as it writes them,
 * numbers as jq formats their double, and no name twice in an object (jq
 * keeps the last value in the first one's place).  Anything else is built
 * as usual: the check only decides how, never what comes out.
 */

/* \uXXXX at h (the four hex digits) is one jq writes: a control byte without a short escape, or DEL. */
static bool
raw_u_escape(const char *h)
{
	static const char hexd[] = "0123456789abcdef";
	const char *d1, *d2;
	unsigned v;

	if (h[0] != '0' || h[1] != '0' || (d1 = memchr(hexd, h[2], 16)) == NULL ||
	    (d2 = memchr(hexd, h[3], 16)) == NULL)
		return false;
	v = (unsigned)((d1 - hexd) * 16 + (d2 - hexd));
	if (v == 0x7f)
		return true;
	return v < 0x20 && v != '\b' && v != '\t' && v != '\n' && v != '\f' && v != '\r';
}

/* Past the string at c when jq prints it as written; false otherwise. */
static bool
raw_string(struct cur *c)
{
	const unsigned char *q = (const unsigned char *)c->p + 1;
	const unsigned char *end = (const unsigned char *)c->end;

	while ((q = raw_stop(q, end)) < end) {
		const unsigned char *r;

		switch (*q) {
		case '"':
			c->p = (const char *)q + 1;
			return true;
		case '\\':
			if (end - q < 2)
				return false;
			if (q[1] == 'u') {
				if (end - q < 6 || !raw_u_escape((const char *)q + 2))
					return false;
				q += 6;
			} else if (q[1] == '"' || q[1] == '\\' || q[1] == 'b' || q[1] == 'f' ||
				   q[1] == 'n' || q[1] == 'r' || q[1] == 't') {
				q += 2;
			} else {
				return false;	/* \/ */
			}
			continue;
		default:
			if (*q < 0x80)
				return false;	/* DEL, or a control byte */
			for (r = q; r < end && *r >= 0x80; r++)
				;
			if (!utf8_valid((const char *)q, (size_t)(r - q), NULL))
				return false;
			q = r;
		}
	}
	return false;
}

/*
 * Past the number at c when jq prints it as written: an integer of at most
 * 15 digits, or a decimal of at most 15 significant digits without a
 * trailing zero, in jq's fixed notation (under 1e-4 jq writes an
 * exponent); no exponent, no -0.  Up to 15 digits a decimal is the
 * shortest that reads back as its double, which is what jq prints.
 */
static bool
raw_number(struct cur *c)
{
	const char *q = c->p, *end = c->end, *f;
	bool neg = false, zero;
	long sig = 0;

	if (q < end && *q == '-') {
		neg = true;
		q++;
	}
	if (q >= end || *q < '0' || *q > '9')
		return false;
	zero = *q == '0';
	if (zero)
		q++;
	else
		for (; q < end && *q >= '0' && *q <= '9'; q++)
			sig++;
	if (q < end && *q == '.') {
		for (f = ++q; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q == f || q[-1] == '0')
			return false;
		if (zero) {
			const char *nz = f;

			while (*nz == '0')
				nz++;
			if (nz - f > 3)
				return false;
			sig = q - nz;
		} else {
			sig += q - f;
		}
	} else if (zero && (neg || (q < end && *q >= '0' && *q <= '9'))) {
		return false;		/* -0, 01 */
	}
	if (sig > 15 || (q < end && (*q == 'e' || *q == 'E')))
		return false;
	c->p = q;
	return true;
}

/* Whether names [from, p->nrawkeys) of one object are all different. */
static bool
raw_names_differ(struct jqprog *p, size_t from)
{
	struct jqp_rawkey *k = p->rawkeys + from;
	size_t n = p->nrawkeys - from, size = 16, mask;

	if (n <= 8) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (k[i].len == k[j].len && memcmp(k[i].s, k[j].s, k[i].len) == 0)
					return false;
		return true;
	}
	while (size < 2 * n)
		size *= 2;
	if (p->rawtab_cap < size) {
		p->rawtab = xrealloc(p->rawtab, size * sizeof(*p->rawtab));
		p->rawtab_cap = size;
	}
	memset(p->rawtab, 0, size * sizeof(*p->rawtab));
	mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		size_t h = short_hash(k[i].s, k[i].len) & mask;

		for (; p->rawtab[h]; h = (h + 1) & mask) {
			const struct jqp_rawkey *o = &k[p->rawtab[h] - 1];

			if (o->len == k[i].len && memcmp(o->s, k[i].s, o->len) == 0)
				return false;
		}
		p->rawtab[h] = (uint32_t)i + 1;
	}
	return true;
}

/*
 * Past the value at c when jq -c prints it exactly as written; *depth is
 * how deep its containers nest.  False when it does not (or is not JSON),
 * with c somewhere inside it.
 */
static bool
raw_value(struct jqprog *p, struct cur *c, int *depth)
{
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '"':
		*depth = 0;
		return raw_string(c);
	case '{': {
		size_t from = p->nrawkeys;
		int inner = 0, d;
		bool ok = false;

		c->p++;
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			*depth = 1;
			return true;
		}
		for (;;) {
			const char *name = c->p + 1;

			if (c->p >= c->end || *c->p != '"' || !raw_string(c))
				break;
			if (p->nrawkeys == p->rawkeys_cap) {
				p->rawkeys_cap = p->rawkeys_cap ? 2 * p->rawkeys_cap : 64;
				p->rawkeys = xrealloc(p->rawkeys, p->rawkeys_cap * sizeof(*p->rawkeys));
			}
			p->rawkeys[p->nrawkeys++] = (struct jqp_rawkey){ name, (size_t)(c->p - 1 - name) };
			if (c->p >= c->end || *c->p++ != ':' || !raw_value(p, c, &d))
				break;
			if (d > inner)
				inner = d;
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				continue;
			}
			if (c->p < c->end && *c->p == '}') {
				c->p++;
				ok = raw_names_differ(p, from);
			}
			break;
		}
		p->nrawkeys = from;
		*depth = inner + 1;
		return ok;
	}
	case '[': {
		int inner = 0, d;

		c->p++;
		if (c->p < c->end && *c->p == ']') {
			c->p++;
			*depth = 1;
			return true;
		}
		for (;;) {
			if (!raw_value(p, c, &d))
				return false;
			if (d > inner)
				inner = d;
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				continue;
			}
			if (c->p < c->end && *c->p == ']') {
				c->p++;
				*depth = inner + 1;
				return true;
			}
			return false;
		}
	}
	case 't':
	case 'n':
		*depth = 0;
		if (c->end - c->p < 4 || memcmp(c->p, *c->p == 't' ? "true" : "null", 4) != 0)
			return false;
		c->p += 4;
		return true;
	case 'f':
		*depth = 0;
		if (c->end - c->p < 5 || memcmp(c->p, "false", 5) != 0)
			return false;
		c->p += 5;
		return true;
	default:
		*depth = 0;
		return raw_number(c);
	}
}

/*
 * The value of raw node `node` at c: a stand-in when it is a string,
 * array or object jq would print as written (the text is noted for
 * jqp_print()); false, with c unmoved, when it must be built.
 */
static bool
raw_member(struct jqprog *p, struct cur *c, int node, jv *out)
{
	struct jqp_raw *r = &p->raw[p->raw_slot[node]];
	const char *start;
	int depth;

	skip_ws(c);
	start = c->p;
	if (start >= c->end || (*start != '{' && *start != '[' && *start != '"'))
		return false;
	if (!raw_value(p, c, &depth)) {
		c->p = start;
		return false;
	}
	r->text = start;
	r->len = (size_t)(c->p - start);
	r->depth = depth;
	*out = jv_copy(r->ph);
	return true;
}

bool
jqp_project(struct jqprog *p, const char *program, bool truthy_only)
{
	if (p->need == NULL)
		p->need = xmalloc(sizeof(*p->need));
	for (int i = 0; i < p->nraw; i++)
		jv_free(p->raw[i].ph);
	p->nraw = 0;
	if (jqpaths_analyze(p->need, program, truthy_only)) {
		for (int i = 0; i < p->need->n; i++) {
			if (!p->need->node[i].raw)
				continue;
			p->raw = xrealloc(p->raw, (size_t)(p->nraw + 1) * sizeof(*p->raw));
			p->raw[p->nraw] = (struct jqp_raw){ jv_string_fmt("cdc: member %d as written", i),
							     NULL, 0, 0 };
			p->raw_slot[i] = (short)p->nraw++;
		}
		return true;
	}
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
	for (int i = 0; i < p->nraw; i++)
		p->raw[i].text = NULL;
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

/* --- programs that run on the text (jqp_fast()) --- */

/* What jqp_fast() found of a node: its value's text (p NULL: absent, null). */
struct fspan {
	const char *p;
	size_t len;
	int depth;		/* raw_value()'s */
	bool seen;
};

/*
 * The object at c under node of the fast program's tree: the values of its
 * nodes into sp[], members of no node skipped (numbers still checked).
 * False when the event needs libjq (jqp_fast()).
 */
static bool
fast_object(struct jqprog *p, struct cur *c, int node, struct fspan *sp)
{
	const struct jqfast *f = p->fast;

	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return true;
	}
	for (;;) {
		const char *name = c->p + 1, *v;
		bool esc;
		int child;

		if (c->p >= c->end || *c->p != '"' || !skip_string(c, &esc) || esc)
			return false;
		child = jqpaths_child(&f->t, node, name, (size_t)(c->p - 1 - name));
		skip_ws(c);
		if (c->p >= c->end || *c->p != ':')
			return false;
		c->p++;
		skip_ws(c);
		v = c->p;
		if (child < 0) {
			if (!skip_value(p, c))
				return false;
		} else if (sp[child].seen) {
			return false;	/* twice: jq keeps the last */
		} else if (f->t.node[child].child >= 0) {
			/* read further: an object, or null (whose members are null) */
			if (c->p < c->end && *c->p == '{') {
				if (!fast_object(p, c, child, sp))
					return false;
			} else if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
				c->p += 4;
			} else {
				return false;	/* jq: cannot index it */
			}
			if (f->want[child]) {
				struct cur w = { v, c->p };

				if (!raw_value(p, &w, &sp[child].depth) || w.p != c->p)
					return false;
			}
		} else if (!raw_value(p, c, &sp[child].depth)) {
			return false;
		}
		if (child >= 0) {
			sp[child].p = v;
			sp[child].len = (size_t)(c->p - v);
			sp[child].seen = true;
		}
		skip_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			skip_ws(c);
			continue;
		}
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			return true;
		}
		return false;
	}
}

/* Whether value s (a path's, as written; p NULL: null) equals literal e: 1, 0, -1 (needs libjq). */
static int
fast_equal(const struct fspan *s, const struct jqfast_expr *e)
{
	const char *v = s->p ? s->p : "null";
	size_t n = s->p ? s->len : 4;

	switch (e->kind) {
	case 's':
		/*
		 * Byte for byte: v is as jq prints it, so an escape in it stands
		 * for a quote, a backslash or a control byte, none of which a
		 * literal here holds (jqfast_compile()).
		 */
		return n >= 2 && v[0] == '"' && n - 2 == e->len && memcmp(v + 1, e->lit, e->len) == 0;
	case 'n': {
		char tmp[64];

		if (v[0] != '-' && (v[0] < '0' || v[0] > '9'))
			return 0;
		if (n >= sizeof(tmp))
			return -1;
		memcpy(tmp, v, n);
		tmp[n] = '\0';
		return strtod(tmp, NULL) == e->num;
	}
	case 't':
		return n == 4 && memcmp(v, "true", 4) == 0;
	case 'f':
		return n == 5 && memcmp(v, "false", 5) == 0;
	default:
		return n == 4 && memcmp(v, "null", 4) == 0;
	}
}

/* jq's truth of expression i: 1, 0, or -1 (needs libjq). */
static int
fast_truth(const struct jqfast *f, const struct fspan *sp, int i)
{
	const struct jqfast_expr *e = &f->e[i];
	int a, r;

	switch (e->op) {
	case 'p':
		a = e->node;
		return sp[a].p != NULL && !(sp[a].len == 4 && memcmp(sp[a].p, "null", 4) == 0) &&
		       !(sp[a].len == 5 && memcmp(sp[a].p, "false", 5) == 0);
	case 'l':
		return e->kind != 'f' && e->kind != 'z';
	case '&':
	case '|':
		if ((a = fast_truth(f, sp, e->a)) < 0)
			return -1;
		if (a == (e->op == '|'))
			return a;	/* false and ..., true or ... */
		return fast_truth(f, sp, e->b);
	default:
		/* == or !=: a path and a literal */
		if (f->e[e->a].op == 'p')
			r = fast_equal(&sp[f->e[e->a].node], &f->e[e->b]);
		else
			r = fast_equal(&sp[f->e[e->b].node], &f->e[e->a]);
		return r < 0 ? -1 : e->op == '=' ? r : !r;
	}
}

bool
jqp_fast_compile(struct jqprog *p, const char *program)
{
	if (p->fast == NULL)
		p->fast = xmalloc(sizeof(*p->fast));
	if (jqfast_compile(p->fast, program))
		return true;
	free(p->fast);
	p->fast = NULL;
	return false;
}

int
jqp_fast(struct jqprog *p, const char *text, size_t len, struct buf *out)
{
	const struct jqfast *f = p->fast;
	struct fspan sp[JQPATHS_MAX];
	struct cur c = { text, text + len };
	size_t at = 0;

	if (f == NULL)
		return -1;
	memset(sp, 0, (size_t)f->t.n * sizeof(sp[0]));
	p->inexact = 0;
	p->inexact_at = 0;
	p->base = text;
	skip_ws(&c);
	if (c.p >= c.end || *c.p != '{' || !fast_object(p, &c, 0, sp))
		return -1;
	skip_ws(&c);
	if (c.p != c.end || (p->check_numbers && p->inexact))
		return -1;
	for (int i = 0; i < f->ncond; i++) {
		int t = fast_truth(f, sp, f->cond[i]);

		if (t <= 0)
			return t;
	}
	for (int i = 0; i < f->nholes; i++)
		if (f->depth + sp[f->hole[i].node].depth > JQP_PRINT_DEPTH)
			return -1;	/* jqp_print() refuses it */
	for (int i = 0; i < f->nholes; i++) {
		const struct fspan *s = &sp[f->hole[i].node];

		if (f->hole[i].at > at)
			buf_add(out, f->out.data + at, f->hole[i].at - at);
		if (s->p)
			buf_add(out, s->p, s->len);
		else
			buf_add(out, "null", 4);
		at = f->hole[i].at;
	}
	if (f->out.len > at)
		buf_add(out, f->out.data + at, f->out.len - at);
	return 1;
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

/* The raw member v stands for, or NULL (jv.h's struct: a string is its pointer). */
static const struct jqp_raw *
raw_of(const struct jqprog *p, jv v)
{
	for (int i = 0; i < p->nraw; i++)
		if (p->raw[i].ph.u.ptr == v.u.ptr)
			return p->raw[i].text ? &p->raw[i] : NULL;
	return NULL;
}

/* jqp_print() below depth levels of containers; false when too deep. */
static bool
print_value(const struct jqprog *p, struct buf *b, jv v, int depth)
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
	case JV_KIND_STRING: {
		const struct jqp_raw *r = p && p->nraw ? raw_of(p, v) : NULL;

		if (r) {
			if (depth + r->depth > JQP_PRINT_DEPTH)
				return false;
			buf_add(b, r->text, r->len);
			break;
		}
		print_string(b, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	}
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
			ok = print_value(p, b, e, depth + 1);
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
			ok = print_value(p, b, e, depth + 1);
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
jqp_print(const struct jqprog *p, struct buf *b, jv v)
{
	size_t start = b->len;

	if (print_value(p, b, v, 0))
		return 0;
	buf_setlen(b, start);
	return -1;
}
