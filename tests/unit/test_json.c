/*
 * Unit tests for common/json.c: string escaping, numbers, base64, the
 * validating scanner, iteration, span decoding and event_scan().
 */
#include "event.h"
#include "json.h"
#include "text.h"
#include "linereader.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* json_add_str(s) must give exactly want. */
static void
str_is(const char *s, size_t len, const char *want, const char *name)
{
	struct buf b = BUF_INIT;

	json_add_str(&b, s, len);
	is_mem(b.data, b.len, want, name);
	buf_release(&b);
}
#define STR_IS(lit, want, name) str_is(lit, sizeof(lit) - 1, want, name)

/* Output of json_add_str is valid JSON and valid UTF-8. */
static bool
str_output_valid(const char *s, size_t len)
{
	struct buf b = BUF_INIT;
	const char *err = NULL, *e;
	bool good;

	json_add_str(&b, s, len);
	e = json_skip(b.data, b.data + b.len, &err);
	good = e == b.data + b.len && utf8_valid(b.data, b.len, NULL) &&
	       memchr(b.data, '\0', b.len) == NULL;
	buf_release(&b);
	return good;
}

static void
test_add_str(void)
{
	STR_IS("", "\"\"", "empty string");
	STR_IS("plain text / slash", "\"plain text / slash\"", "plain text, '/' not escaped");
	STR_IS("a\"b\\c", "\"a\\\"b\\\\c\"", "quote and backslash escaped");
	STR_IS("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"", "short escapes");
	STR_IS("\x01\x1f\x0b", "\"\\u0001\\u001f\\u000b\"", "other control bytes as \\u00XX");
	STR_IS("a\0b", "\"a\\u0000b\"", "NUL as \\u0000");
	STR_IS("\x7f", "\"\x7f\"", "DEL passes (JSON allows it)");
	STR_IS("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"",
	       "valid multi-byte UTF-8 kept as is");
	STR_IS("\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\"", "U+10FFFF kept");
	STR_IS("a\xFF" "b", "\"a\xEF\xBF\xBD" "b\"", "invalid byte becomes U+FFFD");
	STR_IS("\xC3", "\"\xEF\xBF\xBD\"", "truncated sequence at the end becomes U+FFFD");
	STR_IS("\xC3(", "\"\xEF\xBF\xBD(\"", "truncated sequence before ASCII");
	STR_IS("\xC0\xAF", "\"\xEF\xBF\xBD\xEF\xBF\xBD\"", "overlong: each byte replaced");
	STR_IS("\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"", "surrogate replaced");
	STR_IS("\xC3\xA9\xFF\xE2\x82\xAC", "\"\xC3\xA9\xEF\xBF\xBD\xE2\x82\xAC\"",
	       "valid sequences around an invalid byte kept");
	STR_IS("\xF4\x90\x80\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"",
	       "above U+10FFFF replaced");
	{
		struct buf b = BUF_INIT;

		buf_adds(&b, "x");
		json_add_cstr(&b, "y\"");
		is_str(b.data, "x\"y\\\"\"", "json_add_cstr appends");
		buf_release(&b);
	}
	{
		int bad = 0;
		char c[1];

		for (int i = 0; i < 256; i++) {
			c[0] = (char)i;
			if (!str_output_valid(c, 1))
				bad++;
		}
		is_int(bad, 0, "every single byte gives a valid JSON string");
	}
	{
		/* Random byte strings: output always valid; valid input round-trips. */
		uint32_t seed = 7;
		int bad = 0, trips = 0, badtrip = 0;

		for (int n = 0; n < 3000; n++) {
			char s[40];
			size_t len = (size_t)(n % 40);

			for (size_t i = 0; i < len; i++) {
				seed = seed * 1664525 + 1013904223;
				/* Mostly text, some high bytes, some control bytes. */
				switch (seed >> 29) {
				case 0: s[i] = (char)(0x80 + (seed >> 8) % 0x80); break;
				case 1: s[i] = (char)((seed >> 8) % 0x20); break;
				default: s[i] = (char)(0x20 + (seed >> 8) % 0x60); break;
				}
			}
			if (!str_output_valid(s, len))
				bad++;
			if (utf8_valid(s, len, NULL)) {
				struct buf b = BUF_INIT, d = BUF_INIT;
				struct json_span sp;

				json_add_str(&b, s, len);
				sp.p = b.data + 1;
				sp.len = b.len - 2;
				sp.escaped = memchr(sp.p, '\\', sp.len) != NULL;
				trips++;
				if (json_span_decode(&sp, &d) < 0 || d.len != len ||
				    memcmp(d.data, s, len) != 0)
					badtrip++;
				buf_release(&b);
				buf_release(&d);
			}
		}
		is_int(bad, 0, "3000 random byte strings give valid JSON strings");
		ok(trips > 500 && badtrip == 0, "valid UTF-8 strings round-trip through decode");
	}
}

static void
test_numbers(void)
{
	struct buf b = BUF_INIT;

	json_add_u64(&b, 0);
	buf_addc(&b, ',');
	json_add_u64(&b, 1234567890);
	buf_addc(&b, ',');
	json_add_u64(&b, UINT64_MAX);
	is_str(b.data, "0,1234567890,18446744073709551615", "json_add_u64");
	buf_reset(&b);
	json_add_i64(&b, -1);
	buf_addc(&b, ',');
	json_add_i64(&b, INT64_MIN);
	buf_addc(&b, ',');
	json_add_i64(&b, INT64_MAX);
	buf_addc(&b, ',');
	json_add_i64(&b, 0);
	is_str(b.data, "-1,-9223372036854775808,9223372036854775807,0", "json_add_i64");
	buf_reset(&b);
	json_add_key(&b, "op");
	json_add_cstr(&b, "c");
	is_str(b.data, "\"op\":\"c\"", "json_add_key");
	buf_release(&b);
}

static void
b64_is(const char *in, size_t len, const char *want, const char *name)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "<");
	json_add_base64(&b, in, len);
	buf_adds(&b, ">");
	is_str(b.data, want, name);
	is_int(b.len, strlen(want), "base64 length bookkeeping");
	buf_release(&b);
}

static void
test_base64(void)
{
	/* RFC 4648 section 10 test vectors. */
	b64_is("", 0, "<\"\">", "BASE64(\"\")");
	b64_is("f", 1, "<\"Zg==\">", "BASE64(\"f\")");
	b64_is("fo", 2, "<\"Zm8=\">", "BASE64(\"fo\")");
	b64_is("foo", 3, "<\"Zm9v\">", "BASE64(\"foo\")");
	b64_is("foob", 4, "<\"Zm9vYg==\">", "BASE64(\"foob\")");
	b64_is("fooba", 5, "<\"Zm9vYmE=\">", "BASE64(\"fooba\")");
	b64_is("foobar", 6, "<\"Zm9vYmFy\">", "BASE64(\"foobar\")");
	b64_is("\xFB\xFF", 2, "<\"+/8=\">", "'+' and '/' of the standard alphabet");
	b64_is("\0\0\0", 3, "<\"AAAA\">", "zero bytes");
	b64_is("\xFF\xFF\xFF", 3, "<\"////\">", "0xFF bytes");
}

struct skip_case {
	const char *text;
	int valid;		/* 1: json_skip consumes it all; 0: NULL */
	const char *err;	/* expected message for invalid, or NULL for any */
};

static const struct skip_case skips[] = {
	{ "0", 1, NULL },
	{ "-0", 1, NULL },
	{ "123", 1, NULL },
	{ "-1.5e10", 1, NULL },
	{ "1E+2", 1, NULL },
	{ "0.0e-0", 1, NULL },
	{ "\"\"", 1, NULL },
	{ "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"", 1, NULL },
	{ "\"caf\xC3\xA9\"", 1, NULL },
	{ "true", 1, NULL },
	{ "false", 1, NULL },
	{ "null", 1, NULL },
	{ "[]", 1, NULL },
	{ "{}", 1, NULL },
	{ " \t\r\n[ 1 , [ 2 , { \"a\" : [ ] } ] ]", 1, NULL },
	{ "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", 1, NULL },
	{ "", 0, "unexpected end of input" },
	{ "   ", 0, "unexpected end of input" },
	{ "{", 0, "unexpected end of input" },
	{ "[1", 0, "unexpected end of input" },
	{ "[1,]", 0, "unexpected character" },
	{ "[1 2]", 0, "expected ',' or ']'" },
	{ "{\"a\":1 \"b\":2}", 0, "expected ',' or '}'" },
	{ "{\"a\"}", 0, "expected ':'" },
	{ "{\"a\":}", 0, NULL },
	{ "{a:1}", 0, "expected a string key" },
	{ "{\"a\":1,}", 0, "expected a string key" },
	{ "{,}", 0, "expected a string key" },
	{ "[01]", 0, "expected ',' or ']'" },
	{ "[-]", 0, "malformed number" },
	{ "[1.]", 0, "malformed number" },
	{ "[.5]", 0, "unexpected character" },
	{ "[1e]", 0, "malformed number" },
	{ "[1e+]", 0, "malformed number" },
	{ "[+1]", 0, "unexpected character" },
	{ "[0x10]", 0, "expected ',' or ']'" },
	{ "[NaN]", 0, NULL },
	{ "[Infinity]", 0, NULL },
	{ "[tru]", 0, "unexpected character" },
	{ "[nul]", 0, "unexpected character" },
	{ "[True]", 0, NULL },
	{ "\"abc", 0, "unterminated string" },
	{ "\"abc\\\"", 0, "unterminated string" },
	{ "\"abc\\", 0, "unterminated string" },
	{ "\"a\x01" "b\"", 0, "control character in string" },
	{ "\"a\tb\"", 0, "control character in string" },
	{ "\"\\q\"", 0, "bad escape in string" },
	{ "\"\\x41\"", 0, "bad escape in string" },
	{ "\"\\u12G4\"", 0, "bad \\u escape in string" },
	{ "\"\\u12\"", 0, "bad \\u escape in string" },
	{ "'single'", 0, NULL },
};

static void
test_skip(void)
{
	for (size_t i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
		const struct skip_case *c = &skips[i];
		const char *end = c->text + strlen(c->text);
		const char *err = NULL;
		const char *r = json_skip(c->text, end, &err);
		char name[200];

		snprintf(name, sizeof(name), "json_skip %s: %s", c->valid ? "accepts" : "rejects",
			 c->text);
		for (char *q = name; *q; q++)	/* keep the TAP line on one line */
			if ((unsigned char)*q < 0x20)
				*q = '?';
		if (c->valid) {
			ok(r == end, name);
		} else {
			ok(r == NULL && err != NULL && (c->err == NULL || strcmp(err, c->err) == 0), name);
			if (r != NULL || (c->err && err && strcmp(err, c->err) != 0))
				diag("returned %s, err '%s'", r ? "non-NULL" : "NULL", err ? err : "(none)");
		}
	}
	/* Trailing text: json_skip stops after the value; callers see the rest. */
	{
		static const char t[] = "{\"a\":1} x";
		const char *err = NULL;
		const char *r = json_skip(t, t + sizeof(t) - 1, &err);

		ok(r == t + 7, "json_skip stops right after the value (trailing garbage left)");
		ok(json_ws(r, t + sizeof(t) - 1) == t + 8, "json_ws skips to the garbage");
	}
	{
		static const char t[] = "01";
		const char *err = NULL;

		ok(json_skip(t, t + 2, &err) == t + 1, "top-level 01: the value is 0, '1' is left over");
	}
	/* The end pointer bounds the scan even without a NUL terminator. */
	{
		char t[4] = { '[', '1', ',', '2' };
		const char *err = NULL;

		ok(json_skip(t, t + 4, &err) == NULL && strcmp(err, "unexpected end of input") == 0,
		   "scan stops at end, not at a NUL");
		ok(json_skip("truex", (const char *)"truex" + 3, &err) == NULL,
		   "literal cut by end is rejected");
	}
}

static void
nest(struct buf *b, int depth, int objects)
{
	buf_reset(b);
	for (int i = 0; i < depth; i++)
		buf_adds(b, objects ? "{\"k\":" : "[");
	buf_adds(b, "1");
	for (int i = 0; i < depth; i++)
		buf_adds(b, objects ? "}" : "]");
}

static void
test_depth(void)
{
	struct buf b = BUF_INIT;
	const char *err = NULL;

	nest(&b, JSON_MAX_DEPTH, 0);
	ok(json_skip(b.data, b.data + b.len, &err) == b.data + b.len,
	   "arrays nested JSON_MAX_DEPTH deep are accepted");
	nest(&b, JSON_MAX_DEPTH + 1, 0);
	err = NULL;
	ok(json_skip(b.data, b.data + b.len, &err) == NULL, "one level deeper is rejected");
	is_str(err, "nesting too deep", "depth error message");
	nest(&b, JSON_MAX_DEPTH, 1);
	ok(json_skip(b.data, b.data + b.len, &err) == b.data + b.len,
	   "objects nested JSON_MAX_DEPTH deep are accepted");
	nest(&b, JSON_MAX_DEPTH + 1, 1);
	ok(json_skip(b.data, b.data + b.len, &err) == NULL, "objects one level deeper rejected");
	/* 100000 open brackets: must fail cleanly, not overflow the stack. */
	buf_reset(&b);
	for (int i = 0; i < 100000; i++)
		buf_addc(&b, '[');
	err = NULL;
	ok(json_skip(b.data, b.data + b.len, &err) == NULL && strcmp(err, "nesting too deep") == 0,
	   "100000 open brackets rejected as too deep");
	/* In an event: the envelope level counts too. */
	{
		struct event_info ev;

		buf_reset(&b);
		buf_adds(&b, "{\"op\":\"c\",\"after\":");
		for (int i = 0; i < JSON_MAX_DEPTH; i++)
			buf_addc(&b, '[');
		for (int i = 0; i < JSON_MAX_DEPTH; i++)
			buf_addc(&b, ']');
		buf_addc(&b, '}');
		err = NULL;
		ok(event_scan(b.data, b.len, &ev, &err) == -1 && strcmp(err, "nesting too deep") == 0,
		   "event_scan rejects an event nested too deep");
	}
	buf_release(&b);
}

static void
test_iter(void)
{
	static const char obj[] = " {\"a\" : 1, \"b\":[1,2] ,\"c\":{\"d\":null},\"e\\u0021\":\"x\"} ";
	static const char *keys[] = { "a", "b", "c", "e!" };
	static const char *vals[] = { "1", "[1,2]", "{\"d\":null}", "\"x\"" };
	struct json_iter it;
	struct json_span k;
	const char *v, *err = NULL;
	size_t vlen;
	int n = 0, good = 0, r;

	ok(json_iter_begin(&it, obj, sizeof(obj) - 1) == 0 && !it.array, "iter: object begins");
	while ((r = json_iter_next(&it, &k, &v, &vlen, &err)) == 1) {
		if (n < 4 && json_span_eq(&k, keys[n]) && vlen == strlen(vals[n]) &&
		    memcmp(v, vals[n], vlen) == 0)
			good++;
		n++;
	}
	is_int(r, 0, "iter: object ends cleanly");
	is_int(n, 4, "iter: four members");
	is_int(good, 4, "iter: keys (one escaped) and raw values right");
	ok(json_ws(it.p, obj + sizeof(obj) - 1) == obj + sizeof(obj) - 1,
	   "iter: p is after the closing brace");

	{
		static const char arr[] = "[1, \"two\" ,{\"x\":3},[] ]";
		static const char *want[] = { "1", "\"two\"", "{\"x\":3}", "[]" };

		n = good = 0;
		ok(json_iter_begin(&it, arr, sizeof(arr) - 1) == 0 && it.array, "iter: array begins");
		while ((r = json_iter_next(&it, NULL, &v, &vlen, &err)) == 1) {
			if (n < 4 && vlen == strlen(want[n]) && memcmp(v, want[n], vlen) == 0)
				good++;
			n++;
		}
		ok(r == 0 && n == 4 && good == 4, "iter: array elements");
	}
	ok(json_iter_begin(&it, "{}", 2) == 0 && json_iter_next(&it, &k, &v, &vlen, &err) == 0,
	   "iter: empty object");
	ok(json_iter_begin(&it, "[ ]", 3) == 0 && json_iter_next(&it, &k, &v, &vlen, &err) == 0,
	   "iter: empty array");
	ok(json_iter_begin(&it, "\"x\"", 3) == -1, "iter: a string is not iterable");
	ok(json_iter_begin(&it, "12", 2) == -1, "iter: a number is not iterable");
	ok(json_iter_begin(&it, "  ", 2) == -1, "iter: blank is not iterable");

	{
		static const struct {
			const char *text;
			const char *err;
		} bad[] = {
			{ "{\"a\":1 \"b\":2}", "expected ',' or '}'" },
			{ "{\"a\" 1}", "expected ':'" },
			{ "{1:2}", "expected a string key" },
			{ "[1,]", "unexpected character" },
			{ "{\"a\":1", "unexpected end of input" },
			{ "{\"a\":[1,}", "unexpected character" },
			{ "{\"a\":\"x", "unterminated string" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char name[100];

			json_iter_begin(&it, bad[i].text, strlen(bad[i].text));
			err = NULL;
			while ((r = json_iter_next(&it, &k, &v, &vlen, &err)) == 1)
				;
			snprintf(name, sizeof(name), "iter: %s -> %s", bad[i].text, bad[i].err);
			ok(r == -1 && err && strcmp(err, bad[i].err) == 0, name);
		}
	}
}

static void
decode_is(const char *raw, const char *want, size_t wantlen, const char *name)
{
	struct json_span sp = { raw, strlen(raw), strchr(raw, '\\') != NULL };
	struct buf b = BUF_INIT;
	int r = json_span_decode(&sp, &b);

	ok(r == 0 && b.len == wantlen && memcmp(b.data, want, wantlen) == 0, name);
	if (r != 0 || b.len != wantlen || memcmp(b.data, want, wantlen) != 0)
		diag("r=%d got '%.*s'", r, (int)b.len, b.data ? b.data : "");
	buf_release(&b);
}
#define DECODE_IS(raw, want, name) decode_is(raw, want, sizeof(want) - 1, name)

static void
decode_fails(const char *raw, const char *name)
{
	struct json_span sp = { raw, strlen(raw), true };
	struct buf b = BUF_INIT;

	is_int(json_span_decode(&sp, &b), -1, name);
	buf_release(&b);
}

static void
test_decode(void)
{
	DECODE_IS("plain", "plain", "decode: no escapes");
	DECODE_IS("a\\\"b\\\\c\\/d", "a\"b\\c/d", "decode: quote, backslash, slash");
	DECODE_IS("\\b\\f\\n\\r\\t", "\b\f\n\r\t", "decode: control escapes");
	DECODE_IS("\\u0041\\u00e9\\u00E9", "A\xC3\xA9\xC3\xA9", "decode: \\u to 1 and 2 bytes, either case");
	DECODE_IS("\\u20AC", "\xE2\x82\xAC", "decode: \\u20AC to 3 bytes");
	DECODE_IS("\\uD83D\\uDE00", "\xF0\x9F\x98\x80", "decode: surrogate pair to 4 bytes");
	DECODE_IS("\\uDBFF\\uDFFF", "\xF4\x8F\xBF\xBF", "decode: highest surrogate pair is U+10FFFF");
	DECODE_IS("x\\uD83Dy", "x\xEF\xBF\xBDy", "decode: lone high surrogate becomes U+FFFD");
	DECODE_IS("\\uDE00", "\xEF\xBF\xBD", "decode: lone low surrogate becomes U+FFFD");
	DECODE_IS("\\uD83D\\u0041", "\xEF\xBF\xBD" "A", "decode: high surrogate then non-surrogate");
	DECODE_IS("\\uD83D\\uD83D\\uDE00", "\xEF\xBF\xBD\xF0\x9F\x98\x80",
		  "decode: two highs then a low");
	DECODE_IS("a\\u0000b", "a\0b", "decode: \\u0000 gives a NUL byte");
	DECODE_IS("caf\xC3\xA9\\n", "caf\xC3\xA9\n", "decode: raw UTF-8 kept beside escapes");
	decode_fails("abc\\", "decode: backslash at the end is malformed");
	decode_fails("\\u12", "decode: short \\u escape is malformed");
	decode_fails("\\u12G4", "decode: non-hex \\u escape is malformed");
	decode_fails("\\uD83D\\uZZZZ", "decode: bad \\u after a high surrogate is malformed");
	decode_fails("\\q", "decode: unknown escape is malformed");

	{
		struct json_span a = { "orders", 6, false };
		struct json_span e = { "ord\\u0065rs", 11, true };
		struct json_span bad = { "x\\", 2, true };

		ok(json_span_eq(&a, "orders"), "span_eq plain");
		ok(!json_span_eq(&a, "order"), "span_eq plain, different length");
		ok(!json_span_eq(&a, "orderz"), "span_eq plain, different byte");
		ok(json_span_eq(&e, "orders"), "span_eq decodes escapes");
		ok(!json_span_eq(&e, "ord\\u0065rs"), "span_eq compares decoded text");
		ok(!json_span_eq(&bad, "x\\"), "span_eq of a malformed span is false");
	}
}

static void
test_parse_int(void)
{
	uint64_t u = 7;
	int64_t i = 7;

	ok(json_parse_u64("0", 1, &u) && u == 0, "u64: 0");
	ok(json_parse_u64("123", 3, &u) && u == 123, "u64: 123");
	ok(json_parse_u64("18446744073709551615", 20, &u) && u == UINT64_MAX, "u64: max");
	u = 7;
	ok(!json_parse_u64("18446744073709551616", 20, &u) && u == 7, "u64: max + 1 rejected, out untouched");
	ok(!json_parse_u64("99999999999999999999", 20, &u), "u64: 20 nines rejected");
	ok(!json_parse_u64("184467440737095516150", 21, &u), "u64: 21 digits rejected");
	ok(!json_parse_u64("", 0, &u), "u64: empty rejected");
	ok(!json_parse_u64("01", 2, &u), "u64: leading zero rejected");
	ok(!json_parse_u64("-1", 2, &u), "u64: negative rejected");
	ok(!json_parse_u64("1.0", 3, &u), "u64: fraction rejected");
	ok(!json_parse_u64("1e3", 3, &u), "u64: exponent rejected");
	ok(!json_parse_u64("\"1\"", 3, &u), "u64: string rejected");
	ok(!json_parse_u64("null", 4, &u), "u64: null rejected");
	ok(json_parse_u64("12345", 3, &u) && u == 123, "u64: length bounds the parse");
	/* Eight digits at a time: every length and a bad digit at every place. */
	{
		const char *nines = "1234567890123456789";
		bool all = true, bad = true;

		for (size_t n = 1; n <= 19; n++) {
			char t[24];

			memcpy(t, nines, n);
			t[n] = '\0';
			all = all && json_parse_u64(t, n, &u) && u == strtoull(t, NULL, 10);
			for (size_t k = 1; k < n; k++) {
				for (const char *c = "/:a -.\x80"; *c; c++) {
					memcpy(t, nines, n);
					t[k] = *c;
					bad = bad && !json_parse_u64(t, n, &u);
				}
			}
		}
		ok(all, "u64: 1 to 19 digits");
		ok(bad, "u64: a non-digit anywhere rejected");
		ok(json_parse_u64("9999999999999999999", 19, &u) && u == 9999999999999999999u, "u64: 19 nines");
	}
	ok(json_parse_i64("-9223372036854775808", 20, &i) && i == INT64_MIN, "i64: min");
	ok(json_parse_i64("9223372036854775807", 19, &i) && i == INT64_MAX, "i64: max");
	ok(!json_parse_i64("-9223372036854775809", 20, &i), "i64: min - 1 rejected");
	ok(!json_parse_i64("9223372036854775808", 19, &i), "i64: max + 1 rejected");
	ok(json_parse_i64("-5", 2, &i) && i == -5, "i64: -5");
	ok(!json_parse_i64("-", 1, &i), "i64: lone minus rejected");
	ok(!json_parse_i64("--5", 3, &i), "i64: double minus rejected");
	ok(!json_parse_i64("+5", 2, &i), "i64: plus sign rejected");
}

#define SRC_U "\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"shop_slot\"," \
	"\"db\":\"shop\",\"schema\":\"public\",\"table\":\"orders\",\"txId\":758,\"lsn\":23879872," \
	"\"commit_lsn\":23880120,\"seq\":3,\"ts_ms\":1763700000000,\"snapshot\":\"false\"}"

static const char ev_update[] =
	"{\"op\":\"u\",\"before\":{\"id\":7,\"status\":\"new\"},"
	"\"after\":{\"id\":7,\"status\":\"paid\",\"note\":\"x\"},\"key\":{\"id\":7},"
	"\"unchanged_toast\":[\"big_col\"]," SRC_U ",\"ts_ms\":1763700000123}";

static int
scan(const char *line, struct event_info *ev, const char **err)
{
	*err = NULL;
	return event_scan(line, strlen(line), ev, err);
}

static bool
raw_is(const char *p, size_t len, const char *want)
{
	return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

static void
test_event_scan(void)
{
	struct event_info ev;
	const char *err;

	is_int(scan(ev_update, &ev, &err), 0, "event: contract update event scans");
	ok(json_span_eq(&ev.op, "u") && !ev.control, "event: op u, data");
	ok(json_span_eq(&ev.db, "shop") && json_span_eq(&ev.schema, "public") &&
	   json_span_eq(&ev.table, "orders") && json_span_eq(&ev.name, "shop_slot"),
	   "event: db, schema, table, name");
	ok(json_span_eq(&ev.snapshot, "false"), "event: snapshot \"false\"");
	ok(ev.has_pos && ev.pos.commit_lsn == 23880120 && ev.pos.seq == 3, "event: position");
	ok(ev.has_lsn && ev.lsn == 23879872, "event: lsn");
	ok(ev.has_ts && ev.ts_ms == 1763700000000, "event: source.ts_ms (not the top-level one)");
	ok(raw_is(ev.key, ev.key_len, "{\"id\":7}"), "event: key span");
	ok(raw_is(ev.before, ev.before_len, "{\"id\":7,\"status\":\"new\"}"), "event: before span");
	ok(raw_is(ev.after, ev.after_len, "{\"id\":7,\"status\":\"paid\",\"note\":\"x\"}"),
	   "event: after span");
	ok(raw_is(ev.unchanged_toast, ev.unchanged_toast_len, "[\"big_col\"]"),
	   "event: unchanged_toast span");

	is_int(scan("{\"op\":\"c\",\"before\":null,\"after\":{\"id\":1},\"key\":null,"
		    "\"source\":{\"schema\":\"public\",\"table\":\"t\",\"commit_lsn\":5,\"seq\":1}}",
		    &ev, &err), 0, "event: insert scans");
	ok(raw_is(ev.before, ev.before_len, "null") && raw_is(ev.key, ev.key_len, "null"),
	   "event: null before/key returned as \"null\"");
	ok(ev.unchanged_toast == NULL && ev.name.p == NULL && ev.db.p == NULL && !ev.has_lsn &&
	   !ev.has_ts && ev.snapshot.p == NULL, "event: absent fields are absent");

	is_int(scan("{\"op\":\"r\",\"before\":null,\"after\":{\"id\":1},\"source\":{\"schema\":"
		    "\"s\",\"table\":\"t\",\"commit_lsn\":100,\"seq\":9,\"lsn\":100,\"snapshot\":\"true\"}}",
		    &ev, &err), 0, "event: snapshot row scans");
	ok(!ev.control && json_span_eq(&ev.snapshot, "true") && ev.pos.seq == 9,
	   "event: snapshot row fields");
	is_int(scan("{\"op\":\"r\",\"source\":{\"snapshot\":true,\"commit_lsn\":1,\"seq\":1}}", &ev, &err),
	       0, "event: boolean snapshot accepted");
	ok(json_span_eq(&ev.snapshot, "true"), "event: boolean true seen as \"true\"");
	is_int(scan("{\"op\":\"d\",\"source\":{\"snapshot\":false}}", &ev, &err), 0,
	       "event: boolean false accepted");
	ok(json_span_eq(&ev.snapshot, "false") && !ev.has_pos, "event: false, and no position without commit_lsn/seq");

	is_int(scan("{\"op\":\"t\",\"before\":null,\"after\":null,\"key\":null,\"truncate\":"
		    "{\"cascade\":false,\"restart_identity\":true},\"source\":{\"schema\":\"public\","
		    "\"table\":\"orders\",\"commit_lsn\":23880120,\"seq\":1}}", &ev, &err), 0,
	       "event: truncate scans");
	ok(!ev.control && json_span_eq(&ev.op, "t"), "event: truncate is data");

	is_int(scan("{\"op\":\"m\",\"message\":{\"prefix\":\"p\",\"content\":\"aGk=\",\"transactional\":false},"
		    "\"source\":{\"name\":\"s\",\"db\":\"shop\",\"lsn\":77,\"commit_lsn\":77,\"seq\":0}}",
		    &ev, &err), 0, "event: message scans");
	ok(!ev.control && ev.schema.p == NULL && ev.table.p == NULL && ev.pos.commit_lsn == 77 &&
	   ev.pos.seq == 0, "event: message has no schema/table, position (lsn, 0)");

	/* Control events. */
	is_int(scan("{\"op\":\"heartbeat\",\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\","
		    "\"name\":\"shop\",\"db\":\"shop\",\"lsn\":23880200,\"commit_lsn\":23880200,\"seq\":0,"
		    "\"ts_ms\":1763700000000,\"snapshot\":\"false\"},\"ts_ms\":1763700000100}", &ev, &err),
	       0, "event: heartbeat scans");
	ok(ev.control && json_span_eq(&ev.op, "heartbeat"), "event: heartbeat is control");
	ok(ev.has_pos && ev.pos.commit_lsn == 23880200 && ev.pos.seq == 0 && ev.lsn == 23880200,
	   "event: heartbeat position (W, 0)");
	ok(ev.key == NULL && ev.before == NULL && ev.after == NULL, "event: heartbeat has no row");
	is_int(scan("{\"op\":\"commit\",\"tx\":{\"id\":758,\"events\":3},\"source\":{\"commit_lsn\":5,"
		    "\"seq\":4,\"lsn\":5}}", &ev, &err), 0, "event: commit scans");
	ok(ev.control && ev.pos.seq == 4, "event: commit is control at (commit_lsn, N+1)");
	is_int(scan("{\"op\":\"snapshot_end\",\"snapshot\":{\"rows\":2},\"source\":{\"snapshot\":\"last\","
		    "\"commit_lsn\":9,\"seq\":3}}", &ev, &err), 0, "event: snapshot_end scans");
	ok(ev.control && json_span_eq(&ev.snapshot, "last"), "event: snapshot_end, snapshot \"last\"");
	is_int(scan("{\"op\":\"\"}", &ev, &err), 0, "event: empty op string scans");
	ok(ev.control, "event: empty op is not a data op");
	is_int(scan("{\"op\":\"cu\"}", &ev, &err), 0, "event: op \"cu\" scans");
	ok(ev.control, "event: op \"cu\" is not a data op");
	is_int(scan("{\"op\":\"\\u0063\"}", &ev, &err), 0, "event: escaped op scans");
	ok(!ev.control && json_span_eq(&ev.op, "c"), "event: op \"\\u0063\" is the data op c");

	/* Robustness of the envelope scan. */
	is_int(scan("  {\"after\":{\"op\":\"x\",\"source\":1},\"op\":\"c\"}\t ", &ev, &err), 0,
	       "event: whitespace around, nested op/source keys ignored");
	ok(json_span_eq(&ev.op, "c") && !ev.has_pos, "event: the top-level op wins");
	is_int(scan("{\"op\":\"c\",\"x\":[1,{\"y\":null}],\"source\":{\"extra\":{\"a\":[]},\"seq\":1,"
		    "\"commit_lsn\":18446744073709551615,\"schema\":null}}", &ev, &err), 0,
	       "event: unknown fields ignored, null schema allowed");
	ok(ev.pos.commit_lsn == UINT64_MAX && ev.schema.p == NULL, "event: max commit_lsn; null schema absent");
	is_int(scan("{\"op\":\"c\",\"source\":{\"table\":\"a\\\"b\"}}", &ev, &err), 0,
	       "event: escaped table name scans");
	ok(ev.table.escaped && json_span_eq(&ev.table, "a\"b"), "event: escaped table name decodes");

	/* Errors. */
	{
		static const struct {
			const char *line;
			const char *err;
		} bad[] = {
			{ "", "empty line" },
			{ "   \t", "empty line" },
			{ "[1,2]", "not a JSON object" },
			{ "\"str\"", "not a JSON object" },
			{ "42", "not a JSON object" },
			{ "null", "not a JSON object" },
			{ "[1,", "unexpected end of input" },
			{ "not json", "unexpected character" },
			{ "{\"op\":", "unexpected end of input" },
			{ "{\"op\":\"c\"", "unexpected end of input" },
			{ "{\"op\":\"c\"} x", "trailing characters after the JSON object" },
			{ "{\"op\":\"c\"}{\"op\":\"c\"}", "trailing characters after the JSON object" },
			{ "{\"op\":\"c\",}", "expected a string key" },
			{ "{\"source\":{}}", "no \"op\" field" },
			{ "{}", "no \"op\" field" },
			{ "{\"op\":1}", "\"op\" is not a string" },
			{ "{\"op\":null}", "\"op\" is not a string" },
			{ "{\"op\":[\"c\"]}", "\"op\" is not a string" },
			{ "{\"op\":\"c\",\"source\":null}", "\"source\" is not an object" },
			{ "{\"op\":\"c\",\"source\":[]}", "\"source\" is not an object" },
			{ "{\"op\":\"c\",\"source\":\"x\"}", "\"source\" is not an object" },
			{ "{\"op\":\"c\",\"source\":{\"commit_lsn\":\"23880120\"}}",
			  "source.commit_lsn is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"commit_lsn\":\"0/16B3748\"}}",
			  "source.commit_lsn is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"commit_lsn\":-1}}",
			  "source.commit_lsn is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"commit_lsn\":18446744073709551616}}",
			  "source.commit_lsn is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"seq\":1.5}}", "source.seq is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"seq\":null}}", "source.seq is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"lsn\":\"1\"}}", "source.lsn is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"lsn\":1e3}}", "source.lsn is not an unsigned integer" },
			{ "{\"op\":\"c\",\"source\":{\"ts_ms\":\"x\"}}", "source.ts_ms is not an integer" },
			{ "{\"op\":\"c\",\"source\":{\"schema\":5}}", "source.schema is not a string" },
			{ "{\"op\":\"c\",\"source\":{\"table\":true}}", "source.table is not a string" },
			{ "{\"op\":\"c\",\"source\":{\"db\":{}}}", "source.db is not a string" },
			{ "{\"op\":\"c\",\"source\":{\"name\":[]}}", "source.name is not a string" },
			{ "{\"op\":\"c\",\"source\":{\"snapshot\":1}}", "source.snapshot is not a string" },
			{ "{\"op\":\"c\",\"source\":{\"seq\":1,}}", "expected a string key" },
			{ "{\"op\":\"c\",\"after\":{\"a\":01}}", "expected ',' or '}'" },
			{ "{\"op\":\"c\",\"after\":\"\x01\"}", "control character in string" },
			{ "{\"op\":\"c\",\"after\":\"\\x\"}", "bad escape in string" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char name[300];
			int r = scan(bad[i].line, &ev, &err);

			snprintf(name, sizeof(name), "event rejects %s: %s", bad[i].line, bad[i].err);
			for (char *q = name; *q; q++)
				if ((unsigned char)*q < 0x20)
					*q = '?';
			ok(r == -1 && err && strcmp(err, bad[i].err) == 0, name);
			if (r != -1 || !err || strcmp(err, bad[i].err) != 0)
				diag("r=%d err='%s'", r, err ? err : "(null)");
		}
	}
	/* Length bounds the scan: a valid event followed by bytes outside len. */
	{
		static const char t[] = "{\"op\":\"c\"}garbage";

		err = NULL;
		ok(event_scan(t, 10, &ev, &err) == 0, "event: len bounds the scan");
	}
}

static void
test_op_is_data(void)
{
	static const char *data[] = { "c", "u", "d", "r", "t", "m" };
	static const char *ctl[] = { "heartbeat", "begin", "commit", "snapshot_begin", "snapshot_end",
				     "x", "C", "cu", "" };
	int good = 0;

	for (size_t i = 0; i < 6; i++) {
		struct json_span sp = { data[i], 1, false };

		good += op_is_data(&sp);
	}
	is_int(good, 6, "op_is_data: c u d r t m are data");
	good = 0;
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
		struct json_span sp = { ctl[i], strlen(ctl[i]), false };

		good += !op_is_data(&sp);
	}
	is_int(good, (int)(sizeof(ctl) / sizeof(ctl[0])), "op_is_data: everything else is control");
}

/*
 * Strings of 0 to 40 bytes, plain or with an escape or a control byte at
 * each place, as the value of "op" with more of the event after them:
 * what event_scan() makes of them (it reads a short plain string from the
 * masks of its first 16 bytes) is what the string says.
 */
static void
test_string_stops(void)
{
	int wrong = 0, cases = 0;

	for (int len = 0; len <= 40; len++) {
		for (int i = -1; i < len; i++) {
			for (int kind = 1; kind <= 2; kind++) {
				char t[48], ev[160];
				const char *err = "";
				struct event_info info;
				bool good = i < 0 || kind == 1;
				int r;

				if ((i < 0 && kind == 2) || (kind == 1 && i == len - 1))
					continue;	/* plain once; an escape needs its letter */
				memset(t, 'x', (size_t)len);
				t[len] = '\0';
				if (i >= 0 && kind == 1)
					t[i] = '\\', t[i + 1] = 'n';
				else if (i >= 0)
					t[i] = '\t';
				snprintf(ev, sizeof(ev), "{\"op\":\"%s\",\"key\":{\"id\":1},\"after\":\"%s\"}", t, t);
				r = event_scan(ev, strlen(ev), &info, &err);
				cases++;
				if ((r == 0) != good ||
				    (good && (info.op.len != (size_t)len || info.op.escaped != (i >= 0) ||
					      info.after_len != (size_t)len + 2 || info.key_len != 8)) ||
				    (!good && strcmp(err, "control character in string") != 0))
					wrong++;
			}
		}
	}
	ok(cases > 1600, "string cases: more than 1600");
	is_int(wrong, 0, "strings of 0-40 bytes, plain or with an escape or a control byte at each place");
}

/* span_memo: the same spans, byte for byte, and nothing else. */
static void
test_span_memo(void)
{
	struct span_memo m = SPAN_MEMO_INIT;
	struct json_span a = { "a", 1, false }, bc = { "bc", 2, false }, ab = { "ab", 2, false };
	struct json_span c = { "c", 1, false }, none = { NULL, 0, false }, empty = { "", 0, false };
	struct json_span bc_esc = { "bc", 2, true };

	ok(!span_memo_same(&m, (struct json_span[]){ a, bc }, 2), "span_memo: the first spans are new");
	ok(span_memo_same(&m, (struct json_span[]){ a, bc }, 2), "... the same again: same");
	ok(!span_memo_same(&m, (struct json_span[]){ ab, c }, 2), "... \"ab\" \"c\" is not \"a\" \"bc\"");
	ok(!span_memo_same(&m, (struct json_span[]){ ab, c, a }, 3), "... nor is a third span");
	ok(!span_memo_same(&m, (struct json_span[]){ ab, none }, 2), "... an absent span differs");
	ok(!span_memo_same(&m, (struct json_span[]){ ab, empty }, 2), "... from an empty one");
	ok(span_memo_same(&m, (struct json_span[]){ ab, empty }, 2), "... which is then the same");
	ok(!span_memo_same(&m, (struct json_span[]){ a, bc_esc }, 2), "... escaped or not differs");
	span_memo_forget(&m);
	ok(!span_memo_same(&m, (struct json_span[]){ a, bc_esc }, 2), "... after span_memo_forget: new");
	ok(!span_memo_same(&m, (struct json_span[]){ none }, 1), "... one absent span: new");
	ok(span_memo_same(&m, (struct json_span[]){ none }, 1), "... then the same");
	span_memo_release(&m);
}

int
main(void)
{
	test_add_str();
	test_numbers();
	test_base64();
	test_skip();
	test_string_stops();
	test_span_memo();
	test_depth();
	test_iter();
	test_decode();
	test_parse_int();
	test_event_scan();
	test_op_is_data();
	return tap_done();
}
