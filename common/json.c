#include "json.h"
#include "text.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <string.h>

/* The scanner's small steps, inlined into its loops even where the compiler would not. */
#ifdef __GNUC__
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* --- writing --- */

static const char hexdigits[] = "0123456789abcdef";

/*
 * Bytes that need no escaping map to 0; the others to the escape letter or
 * 'u' for \u00XX.  0x80 and above are handled by the UTF-8 check.
 */
static const char esc[256] = {
	['\0'] = 'u', [1] = 'u', [2] = 'u', [3] = 'u', [4] = 'u', [5] = 'u', [6] = 'u',
	[7] = 'u', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [11] = 'u', ['\f'] = 'f',
	['\r'] = 'r', [14] = 'u', [15] = 'u', [16] = 'u', [17] = 'u', [18] = 'u',
	[19] = 'u', [20] = 'u', [21] = 'u', [22] = 'u', [23] = 'u', [24] = 'u',
	[25] = 'u', [26] = 'u', [27] = 'u', [28] = 'u', [29] = 'u', [30] = 'u',
	[31] = 'u', ['"'] = '"', ['\\'] = '\\', [127] = 0,
};

void
json_add_str(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_grow(b, len + 2);
	b->data[b->len++] = '"';
	while (i < len) {
		size_t run = i;
		size_t bad;

		/* Copy the longest run of bytes that need nothing. */
		while (run < len && p[run] < 0x80 && esc[p[run]] == 0)
			run++;
		if (run > i) {
			buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		if (p[i] < 0x80) {
			char e = esc[p[i]];

			if (e == 'u') {
				char u[6] = { '\\', 'u', '0', '0', hexdigits[p[i] >> 4], hexdigits[p[i] & 15] };

				buf_add(b, u, 6);
			} else {
				char two[2] = { '\\', e };

				buf_add(b, two, 2);
			}
			i++;
			continue;
		}
		/* Non-ASCII: copy the valid UTF-8 run, replace an invalid byte. */
		run = i;
		while (run < len && p[run] >= 0x80)
			run++;
		if (utf8_valid(s + i, run - i, &bad)) {
			buf_add(b, s + i, run - i);
			i = run;
		} else {
			buf_add(b, s + i, bad);
			buf_add(b, "\xEF\xBF\xBD", 3);
			i += bad + 1;
		}
	}
	buf_addc(b, '"');
}

void
json_add_cstr(struct buf *b, const char *s)
{
	json_add_str(b, s, strlen(s));
}

void
json_add_u64(struct buf *b, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_grow(b, (size_t)n);
	while (n > 0)
		b->data[b->len++] = tmp[--n];
	b->data[b->len] = '\0';
}

void
json_add_i64(struct buf *b, int64_t v)
{
	if (v < 0) {
		buf_addc(b, '-');
		json_add_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		json_add_u64(b, (uint64_t)v);
	}
}

void
json_add_key(struct buf *b, const char *key)
{
	size_t n = strlen(key);

	buf_grow(b, n + 3);
	b->data[b->len++] = '"';
	memcpy(b->data + b->len, key, n);
	b->len += n;
	b->data[b->len++] = '"';
	b->data[b->len++] = ':';
	b->data[b->len] = '\0';
}

void
json_add_base64(struct buf *b, const void *data, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *o;
	size_t i;

	buf_grow(b, (len + 2) / 3 * 4 + 2);
	o = b->data + b->len;
	*o++ = '"';
	for (i = 0; i + 3 <= len; i += 3) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = tab[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*o++ = tab[p[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = tab[(p[i + 1] & 15) << 2];
		*o++ = '=';
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

/* --- scanning --- */

const char *
json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}


/* Bytes that end the plain run of a string: '"', '\\' and the control bytes. */
static const unsigned char string_stops[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
	[0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
	[0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
	[0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,
	['"'] = 1, ['\\'] = 1,
};

/*
 * The high bit of each of the 8 bytes in x that is a quote, a backslash or
 * a control byte.  A borrow can flag a byte above a true hit, never one
 * below it nor one alone, so the lowest flag is exact.
 */
HOT uint64_t
stops8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x)) & highs;
}

/* The first byte at or after p (before end) that is a quote, a backslash or a control byte. */
HOT const char *
string_stop(const char *p, const char *end)
{
#ifdef __SSE2__
	/* Sixteen at a time where SSE2 is (every x86-64). */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1F);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
					   _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
		unsigned m = (unsigned)_mm_movemask_epi8(hit);

		if (m)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	/* Eight at a time while eight bytes are left, then byte by byte. */
	while (end - p >= 8) {
		uint64_t x, m;

		memcpy(&x, p, 8);
		if ((m = stops8(x)) != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return p + (__builtin_ctzll(m) >> 3);	/* the first byte is the lowest */
#else
			break;
#endif
		}
		p += 8;
	}
	while (p < end && !string_stops[(unsigned char)*p])
		p++;
	return p;
}

/*
 * The rest of skip_string() from q, its first stop that is not the closing
 * quote: escapes, and errors.  start: the first byte of the content.
 */
static const char *
skip_string_escaped(const char *start, const char *q, const char *end, struct json_span *sp,
		    const char **err)
{
	const char *p;
	bool escaped = false;

	for (;;) {
		if (q >= end) {
			*err = "unterminated string";
			return NULL;
		}
		if (*q == '"') {
			if (sp) {
				sp->p = start;
				sp->len = (size_t)(q - start);
				sp->escaped = escaped;
			}
			return q + 1;
		}
		if (*q != '\\') {
			*err = "control character in string";
			return NULL;
		}
		escaped = true;
		if (q + 1 >= end) {
			*err = "unterminated string";
			return NULL;
		}
		switch (q[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p = q + 2;
			break;
		case 'u':
			if (q + 6 > end || hexval(q[2]) < 0 || hexval(q[3]) < 0 ||
			    hexval(q[4]) < 0 || hexval(q[5]) < 0) {
				*err = "bad \\u escape in string";
				return NULL;
			}
			p = q + 6;
			/*
			 * A high surrogate must be followed by a low one, as jq
			 * requires ("Invalid \\uXXXX\\uXXXX surrogate pair
			 * escape"); a lone low surrogate is U+FFFD, as in jq.
			 */
			if (hexval(q[2]) == 0xD && hexval(q[3]) >= 8 && hexval(q[3]) <= 0xB) {
				if (p + 6 > end || p[0] != '\\' || p[1] != 'u' || hexval(p[2]) != 0xD ||
				    hexval(p[3]) < 0xC || hexval(p[4]) < 0 || hexval(p[5]) < 0) {
					*err = "lone high surrogate \\u escape in string";
					return NULL;
				}
				p += 6;
			}
			break;
		default:
			*err = "bad escape in string";
			return NULL;
		}
		q = string_stop(p, end);
	}
}

/* p at the opening quote.  Returns the byte after the closing quote. */
HOT const char *
skip_string(const char *p, const char *end, struct json_span *sp, const char **err)
{
	const char *start = p + 1, *q;

#ifdef __SSE2__
	/*
	 * Most strings are short and plain: when the first 16 bytes hold a
	 * quote with no backslash or control byte before it, that quote is
	 * the end.  The end is taken from the quotes' mask alone and the rest
	 * is only a check, so where the next token is waits on one compare,
	 * not on all of them: the scan of a line is a chain of these.
	 */
	if (end - start >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)start);
		unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')));
		unsigned others = (unsigned)_mm_movemask_epi8(_mm_or_si128(
			_mm_cmpeq_epi8(x, _mm_set1_epi8('\\')),
			_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x)));

		if (quotes != 0 && (others & ((quotes & (0u - quotes)) - 1)) == 0) {
			q = start + __builtin_ctz(quotes);
			if (sp) {
				sp->p = start;
				sp->len = (size_t)(q - start);
				sp->escaped = false;
			}
			return q + 1;
		}
	}
#endif
	q = string_stop(start, end);

	/* Most strings hold no escape: done at the first stop. */
	if (q < end && *q == '"') {
		if (sp) {
			sp->p = start;
			sp->len = (size_t)(q - start);
			sp->escaped = false;
		}
		return q + 1;
	}
	return skip_string_escaped(start, q, end, sp, err);
}

/* The first byte at or after p (before end) that is not a decimal digit. */
HOT const char *
skip_digits(const char *p, const char *end)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/*
	 * Eight at a time: a byte is a digit when its high nibble is 3 both
	 * before and after adding 6.  A carry out of a byte that is not a digit
	 * can only disturb the bytes above it, so the lowest flag is exact.
	 */
	const uint64_t highs = 0xF0F0F0F0F0F0F0F0u, threes = 0x3030303030303030u;

	while (end - p >= 8) {
		uint64_t x, t;

		memcpy(&x, p, 8);
		t = ((x & highs) ^ threes) | (((x + 0x0606060606060606u) & highs) ^ threes);
		if (t != 0)
			return p + (__builtin_ctzll(t) >> 3);
		p += 8;
	}
#endif
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

HOT const char *
skip_number(const char *p, const char *end, const char **err)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		p++;
	} else if (p < end && *p >= '1' && *p <= '9') {
		p = skip_digits(p + 1, end);
	} else {
		goto bad;
	}
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			goto bad;
		p = skip_digits(p + 1, end);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			goto bad;
		p = skip_digits(p + 1, end);
	}
	return p;
bad:
	*err = "malformed number";
	return NULL;
}

HOT const char *
skip_literal(const char *p, const char *end, const char *lit, size_t n, const char **err)
{
	if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) {
		*err = "unexpected character";
		return NULL;
	}
	return p + n;
}

/* A value that is not a container, at p (not whitespace, p < end). */
HOT const char *
skip_scalar(const char *p, const char *end, const char **err)
{
	switch (*p) {
	case '"':
		return skip_string(p, end, NULL, err);
	case 't':
		return skip_literal(p, end, "true", 4, err);
	case 'f':
		return skip_literal(p, end, "false", 5, err);
	case 'n':
		return skip_literal(p, end, "null", 4, err);
	default:
		if (*p != '-' && (*p < '0' || *p > '9')) {
			*err = "unexpected character";
			return NULL;
		}
		return skip_number(p, end, err);
	}
}

/* json_ws() for the scanner's loop: events rarely hold whitespace between tokens. */
HOT const char *
ws(const char *p, const char *end)
{
	if (p < end && (unsigned char)*p > ' ')
		return p;
	return json_ws(p, end);
}

/*
 * One value, containers walked in a loop with their closing bytes on a
 * stack rather than by recursion: this is every program's per-event
 * validation, and a call per token was most of its cost.  depth: the
 * nesting of p's value in the text it came from (for JSON_MAX_DEPTH).
 */
static const char *
skip_value(const char *p, const char *end, int depth, const char **err)
{
	char stack[JSON_MAX_DEPTH];	/* the closing byte of each open container */
	int top = 0;
	bool opened = false;		/* p is just inside a container */

value:
	p = ws(p, end);
	if (p >= end) {
		*err = "unexpected end of input";
		return NULL;
	}
	if (*p == '{' || *p == '[') {
		if (depth + top >= JSON_MAX_DEPTH) {
			*err = "nesting too deep";
			return NULL;
		}
		stack[top++] = *p == '{' ? '}' : ']';
		p++;
		opened = true;
		goto inside;
	}
	if ((p = skip_scalar(p, end, err)) == NULL)
		return NULL;
next:
	/* After a value: the end, or its container goes on or closes. */
	if (top == 0)
		return p;
inside:
	/*
	 * In a container: it closes, or (after a comma unless just opened) a
	 * member comes.  Events are compact: the byte expected is looked at
	 * before any whitespace is skipped.
	 */
	if (opened || p >= end || (*p != ',' && *p != stack[top - 1])) {
		p = ws(p, end);
		if (p >= end) {
			*err = "unexpected end of input";
			return NULL;
		}
	}
	if (*p == stack[top - 1]) {
		p++;
		top--;
		opened = false;
		goto next;
	}
	if (opened) {
		opened = false;
	} else if (*p != ',') {
		*err = stack[top - 1] == '}' ? "expected ',' or '}'" : "expected ',' or ']'";
		return NULL;
	} else {
		p++;
	}
	if (stack[top - 1] == ']')
		goto value;
	if (p >= end || *p != '"') {
		p = ws(p, end);
		if (p >= end || *p != '"') {
			*err = "expected a string key";
			return NULL;
		}
	}
	p = skip_string(p, end, NULL, err);
	if (p == NULL)
		return NULL;
	if (p >= end || *p != ':') {
		p = ws(p, end);
		if (p >= end || *p != ':') {
			*err = "expected ':'";
			return NULL;
		}
	}
	p++;
	goto value;
}

const char *
json_skip(const char *p, const char *end, const char **err)
{
	return skip_value(p, end, 0, err);
}

static bool
is_open(const struct json_members *jm, const struct json_member *m)
{
	if (m->key.escaped)
		return json_span_eq(&m->key, jm->open);
	return m->key.len == jm->open_len && memcmp(m->key.p, jm->open, m->key.len) == 0;
}

/*
 * json_members() for the object at v, at depth (0: the top); sub: it is
 * the open member's object (walked into jm->sub, not further).  One tight
 * loop: this is every program's per-event validation.
 */
static const char *
members(const char *v, const char *end, int depth, struct json_members *jm, bool sub,
	const char **err)
{
	struct json_member *keep = sub ? jm->sub : jm->m, one;
	int max = sub ? jm->submax : jm->max, n = 0;
	const char *p = ws(v + 1, end);

	if (p >= end) {
		*err = "unexpected end of input";
		return NULL;
	}
	if (*p == '}')
		goto done;
	for (;;) {
		struct json_member *m = n < max ? &keep[n] : &one;
		struct json_span vs = { NULL, 0, false };

		if (p >= end || *p != '"') {
			*err = "expected a string key";
			return NULL;
		}
		if ((p = skip_string(p, end, &m->key, err)) == NULL)
			return NULL;
		if (p >= end || *p != ':') {
			p = ws(p, end);
			if (p >= end || *p != ':') {
				*err = "expected ':'";
				return NULL;
			}
		}
		p = ws(p + 1, end);
		if (p >= end) {
			*err = "unexpected end of input";
			return NULL;
		}
		m->v = p;
		if (*p == '{' && !sub && jm->open != NULL && is_open(jm, m))
			p = members(p, end, depth + 1, jm, true, err);	/* walked, not skipped */
		else if (*p == '{' || *p == '[')
			p = skip_value(p, end, depth + 1, err);
		else if (*p == '"')
			p = skip_string(p, end, &vs, err);
		else
			p = skip_scalar(p, end, err);
		if (p == NULL)
			return NULL;
		m->vlen = (size_t)(p - m->v);
		m->vesc = *m->v == '"' && vs.escaped;
		n++;
		if (p >= end || *p != ',')
			p = ws(p, end);
		if (p < end && *p == ',') {
			p = ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			break;
		*err = p >= end ? "unexpected end of input" : "expected ',' or '}'";
		return NULL;
	}
done:
	if (sub)
		jm->nsub = n;
	else
		jm->n = n;
	return p + 1;
}

const char *
json_members(const char *v, const char *end, struct json_members *jm, const char **err)
{
	jm->n = jm->nsub = 0;
	if (jm->open_len == 0 && jm->open)
		jm->open_len = strlen(jm->open);
	return members(v, end, 0, jm, false, err);
}

int
json_iter_begin(struct json_iter *it, const char *v, size_t vlen)
{
	const char *end = v + vlen;

	v = json_ws(v, end);
	if (v >= end || (*v != '{' && *v != '['))
		return -1;
	it->array = *v == '[';
	it->p = v + 1;
	it->end = end;
	it->first = true;
	return 0;
}

static int
iter_key(struct json_iter *it, struct json_span *key, const char **val, const char **err)
{
	const char *p = ws(it->p, it->end);
	char close = it->array ? ']' : '}';

	if (p >= it->end) {
		*err = "unexpected end of input";
		return -1;
	}
	if (*p == close) {
		it->p = p + 1;
		return 0;
	}
	if (!it->first) {
		if (*p != ',') {
			*err = it->array ? "expected ',' or ']'" : "expected ',' or '}'";
			return -1;
		}
		p = ws(p + 1, it->end);
	}
	it->first = false;
	if (!it->array) {
		struct json_span k;

		if (p >= it->end || *p != '"') {
			*err = "expected a string key";
			return -1;
		}
		p = skip_string(p, it->end, &k, err);
		if (p == NULL)
			return -1;
		if (key)
			*key = k;
		p = ws(p, it->end);
		if (p >= it->end || *p != ':') {
			*err = "expected ':'";
			return -1;
		}
		p++;
	}
	it->p = ws(p, it->end);
	*val = it->p;
	return 1;
}

static int
iter_skip(struct json_iter *it, size_t *vlen, const char **err)
{
	const char *v = skip_value(it->p, it->end, 1, err);

	if (v == NULL)
		return -1;
	*vlen = (size_t)(v - it->p);
	it->p = v;
	return 0;
}

int
json_iter_next(struct json_iter *it, struct json_span *key, const char **val,
	       size_t *vlen, const char **err)
{
	int r = iter_key(it, key, val, err);

	if (r == 1 && iter_skip(it, vlen, err) < 0)
		return -1;
	return r;
}

static void
add_utf8(struct buf *b, uint32_t cp)
{
	char o[4];
	size_t n;

	if (cp < 0x80) {
		o[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 63));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 63));
		o[2] = (char)(0x80 | (cp & 63));
		n = 3;
	} else {
		o[0] = (char)(0xF0 | cp >> 18);
		o[1] = (char)(0x80 | (cp >> 12 & 63));
		o[2] = (char)(0x80 | (cp >> 6 & 63));
		o[3] = (char)(0x80 | (cp & 63));
		n = 4;
	}
	buf_add(b, o, n);
}

/* Four hex digits into *out.  Returns 0, or -1 if one is not a hex digit. */
static int
hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int d = hexval(p[i]);

		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int
json_span_decode(const struct json_span *sp, struct buf *b)
{
	const char *p = sp->p, *end = sp->p + sp->len;

	if (!sp->escaped) {
		buf_add(b, p, sp->len);
		return 0;
	}
	while (p < end) {
		const char *bs = memchr(p, '\\', (size_t)(end - p));
		uint32_t cp;

		if (bs == NULL) {
			buf_add(b, p, (size_t)(end - p));
			break;
		}
		buf_add(b, p, (size_t)(bs - p));
		if (bs + 1 >= end)
			return -1;
		switch (bs[1]) {
		case 'b': buf_addc(b, '\b'); p = bs + 2; continue;
		case 'f': buf_addc(b, '\f'); p = bs + 2; continue;
		case 'n': buf_addc(b, '\n'); p = bs + 2; continue;
		case 'r': buf_addc(b, '\r'); p = bs + 2; continue;
		case 't': buf_addc(b, '\t'); p = bs + 2; continue;
		case '"': case '\\': case '/': buf_addc(b, bs[1]); p = bs + 2; continue;
		case 'u': break;
		default: return -1;	/* not a JSON escape */
		}
		if (bs + 6 > end || hex4(bs + 2, &cp) < 0)
			return -1;
		p = bs + 6;
		if (cp >= 0xD800 && cp <= 0xDBFF && p + 6 <= end && p[0] == '\\' && p[1] == 'u') {
			uint32_t lo;

			if (hex4(p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
		}
		if (cp >= 0xD800 && cp <= 0xDFFF)
			cp = 0xFFFD;	/* a lone surrogate */
		add_utf8(b, cp);
	}
	return 0;
}

bool
json_span_eq(const struct json_span *sp, const char *s)
{
	size_t n = strlen(s);
	struct buf tmp = BUF_INIT;
	bool eq;

	if (!sp->escaped)
		return sp->len == n && memcmp(sp->p, s, n) == 0;
	if (json_span_decode(sp, &tmp) < 0) {
		buf_release(&tmp);
		return false;
	}
	eq = tmp.len == n && memcmp(tmp.data, s, n) == 0;
	buf_release(&tmp);
	return eq;
}

/* The value of 8 ASCII digits at v (checked), as a number; false if one is not a digit. */
HOT bool
digits8(const char *v, uint64_t *out)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t highs = 0xF0F0F0F0F0F0F0F0u, threes = 0x3030303030303030u;
	uint64_t x;

	memcpy(&x, v, 8);
	if ((((x & highs) ^ threes) | (((x + 0x0606060606060606u) & highs) ^ threes)) != 0)
		return false;
	/* Pairs, then fours, then the eight: the first digit is the lowest byte. */
	x -= threes;
	x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFu;
	x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFu;
	*out = (x * 10000 + (x >> 32)) & 0xFFFFFFFFu;
	return true;
#else
	uint64_t x = 0;

	for (int i = 0; i < 8; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (d > 9)
			return false;
		x = x * 10 + d;
	}
	*out = x;
	return true;
#endif
}

bool
json_parse_u64(const char *v, size_t vlen, uint64_t *out)
{
	uint64_t x = 0, e;
	size_t i = 0;

	if (vlen == 0 || vlen > 20 || (vlen > 1 && v[0] == '0'))
		return false;
	if (vlen < 20) {
		/* 19 digits cannot overflow. */
		for (; i + 8 <= vlen; i += 8) {
			if (!digits8(v + i, &e))
				return false;
			x = x * 100000000u + e;
		}
		for (; i < vlen; i++) {
			unsigned d = (unsigned)(v[i] - '0');

			if (d > 9)
				return false;
			x = x * 10 + d;
		}
		*out = x;
		return true;
	}
	for (; i < vlen; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*out = x;
	return true;
}

bool
json_parse_i64(const char *v, size_t vlen, int64_t *out)
{
	uint64_t u;

	if (vlen > 0 && v[0] == '-') {
		if (!json_parse_u64(v + 1, vlen - 1, &u) || u > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - u);
		return true;
	}
	if (!json_parse_u64(v, vlen, &u) || u > (uint64_t)INT64_MAX)
		return false;
	*out = (int64_t)u;
	return true;
}

bool
json_span_is(const struct json_span *sp, const char *s)
{
	return sp->p != NULL && json_span_eq(sp, s);
}

bool
json_spans_eq(const struct json_span *a, const struct json_span *b)
{
	struct buf da = BUF_INIT, db = BUF_INIT;
	bool eq;

	if (!a->escaped && !b->escaped)
		return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
	eq = json_span_decode(a, &da) == 0 && json_span_decode(b, &db) == 0 && da.len == db.len &&
	     memcmp(da.data, db.data, da.len) == 0;
	buf_release(&da);
	buf_release(&db);
	return eq;
}

int
json_member(const char *obj, size_t olen, const char *name, const struct json_span *span,
	    const char **v, size_t *vlen)
{
	struct json_iter it;
	struct json_span k;
	const char *err;
	int r;

	if (json_iter_begin(&it, obj, olen) < 0 || it.array)
		return -1;
	while ((r = json_iter_next(&it, &k, v, vlen, &err)) == 1)
		if (name ? json_span_eq(&k, name) : json_spans_eq(&k, span))
			return 1;
	return r < 0 ? -1 : 0;
}

bool
span_memo_same(struct span_memo *m, const struct json_span *spans, int n)
{
	const char *r = m->raw.data, *end = r + m->raw.len;

	for (int i = 0; i < n; i++) {
		size_t len = spans[i].p ? spans[i].len : 0;
		char flag = (char)((spans[i].p != NULL) | spans[i].escaped << 1);

		if ((size_t)(end - r) < 1 + sizeof(len) + len || r[0] != flag ||
		    memcmp(r + 1, &len, sizeof(len)) != 0 ||
		    (len > 0 && memcmp(r + 1 + sizeof(len), spans[i].p, len) != 0))
			goto differ;
		r += 1 + sizeof(len) + len;
	}
	if (r == end && m->raw.len > 0)
		return true;
differ:
	buf_reset(&m->raw);
	for (int i = 0; i < n; i++) {
		size_t len = spans[i].p ? spans[i].len : 0;

		buf_addc(&m->raw, (char)((spans[i].p != NULL) | spans[i].escaped << 1));
		buf_add(&m->raw, &len, sizeof(len));
		if (len > 0)
			buf_add(&m->raw, spans[i].p, len);
	}
	return false;
}

void
span_memo_forget(struct span_memo *m)
{
	buf_reset(&m->raw);
}

void
span_memo_release(struct span_memo *m)
{
	buf_release(&m->raw);
}
