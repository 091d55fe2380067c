/*
 * Unit tests for common/jqprog.c, with libjq itself as the oracle: our
 * number printer against jv_dump_string(), our parser against jv_parse(),
 * the exactness check against what jq prints back, and SHA-256/HMAC
 * against published test vectors.
 */
#include "jqprog.h"
#include "sha256.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: deterministic pseudo-random bits */
static uint64_t rng = 88172645463325252ull;

static uint64_t
next64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static double
random_double(void)
{
	for (;;) {
		uint64_t bits = next64();
		double d;

		switch (bits % 4) {
		case 0:		/* any finite bit pattern */
			memcpy(&d, &bits, sizeof(d));
			break;
		case 1:		/* integers around 2^53 */
			d = (double)(int64_t)(next64() % (1ull << 60)) - (double)(1ull << 59);
			break;
		case 2:		/* short decimals */
			d = (double)(int64_t)(next64() % 2000000) / 1000.0;
			break;
		default:	/* wide range of magnitudes */
			d = ldexp((double)(next64() >> 11), (int)(next64() % 2000) - 1100);
			break;
		}
		if (isfinite(d))
			return d;
	}
}

/* jq's own text for d */
static char *
jq_text(double d)
{
	jv s = jv_dump_string(jv_number(d), 0);
	char *r = strdup(jv_string_value(s));

	jv_free(s);
	return r;
}

/* Count in *bad a d that does not print as jq 1.6 prints it; show the first few. */
static void
like_jq(double d, int *bad)
{
	char ours[40];
	char *theirs = jq_text(d);

	jqp_format_double(d, ours);
	if (strcmp(ours, theirs) != 0 && (*bad)++ < 5)
		diag("%.17g: ours %s, jq %s", d, ours, theirs);
	free(theirs);
}

static void
test_format(void)
{
	static const double edge[] = { 1, -1, 9, 10, -10, 99, 100, 1e15, 1e16, -1e16,
				       9007199254740991.0, -9007199254740991.0, 9007199254740992.0,
				       1796420536365358.0 };
	int bad = 0;

	for (int i = 0; i < 200000; i++)
		like_jq(random_double(), &bad);
	ok(bad == 0, "200000 doubles print as jq 1.6 prints them");
	/* Integers (printed without snprintf): every size and sign, and the edges. */
	bad = 0;
	for (int i = 0; i < 100000; i++) {
		int64_t v = (int64_t)(next64() >> (11 + i % 53));

		like_jq((double)(i % 2 ? -v : v), &bad);
	}
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		like_jq(edge[i], &bad);
	ok(bad == 0, "100000 integers of every size print as jq 1.6 prints them");
	{
		char b[40];

		jqp_format_double(NAN, b);
		is_str(b, "null", "NaN prints as null");
		jqp_format_double(INFINITY, b);
		is_str(b, "1.7976931348623157e+308", "infinity prints as DBL_MAX");
		jqp_format_double(-0.0, b);
		is_str(b, "-0", "-0");
		jqp_format_double(5e-324, b);
		is_str(b, "5e-324", "the least subnormal");
	}
}

/*
 * A literal is exact when jq prints its double back as a number of the
 * same value: compare the literal's double printed by jq, re-read, with
 * a literal written with jq's digits.  Here: the literals are built from
 * jq's own text (always exact), and from it with one digit appended or a
 * digit changed past the 17th (never exact).
 */
static void
test_exact(void)
{
	int bad = 0;

	for (int i = 0; i < 50000; i++) {
		double d = random_double();
		char *t = jq_text(d);
		char lit[64];

		if (!jqp_number_exact(t, strlen(t), strtod(t, NULL)) && bad++ < 5)
			diag("jq's own text %s judged inexact", t);
		/* 20 significant digits, the last non-zero: never what jq prints */
		snprintf(lit, sizeof(lit), "%.19e", d);
		{
			char *e = strchr(lit, 'e');

			if (e && e[-1] == '0')
				e[-1] = '7';
		}
		if (jqp_number_exact(lit, strlen(lit), strtod(lit, NULL)) && bad++ < 5)
			diag("%s judged exact (jq prints %s)", lit, t);
		free(t);
	}
	ok(bad == 0, "exactness agrees with what jq prints on 100000 literals");
	ok(jqp_number_exact("9007199254740992", 16, 9007199254740992.0), "2^53 is exact");
	ok(!jqp_number_exact("9007199254740993", 16, 9007199254740992.0), "2^53 + 1 is not");
	ok(jqp_number_exact("1.50", 4, 1.5), "1.50 is exact (same value)");
	ok(jqp_number_exact("1e3", 3, 1000), "1e3 is exact");
	ok(jqp_number_exact("-0.0", 4, -0.0), "-0.0 is exact");
	ok(!jqp_number_exact("1e400", 5, INFINITY), "1e400 is not");
	ok(!jqp_number_exact("1e-400", 6, 0.0), "1e-400 is not");
	ok(jqp_number_exact("12345678901234567000", 20, 12345678901234567000.0),
	   "12345678901234567000 is exact (jq prints it so)");
	ok(!jqp_number_exact("12345678901234567890", 20, 12345678901234567890.0),
	   "12345678901234567890 is not");
}

static void
test_parse(void)
{
	static const char *const texts[] = {
		"{\"op\":\"c\",\"after\":{\"id\":1,\"s\":\"x\\u00e9\\n\\\"\",\"a\":[1,2.5,-3e2,true,false,null,{}],\"o\":{}}}",
		"{ \"b\" : 1 , \"a\" : [ ] , \"b\" : 2 }",
		"[\"\\ud83d\\ude00\", \"\\u0000\", 0, -0, 1E+2]",
		"\"plain\"",
	};
	struct jqprog p;

	jqp_init(&p);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		jv ours = jqp_parse(&p, texts[i], strlen(texts[i]));
		jv theirs = jv_parse(texts[i]);
		struct buf a = BUF_INIT, b = BUF_INIT;

		jqp_print(&p, &a, ours);
		jqp_print(NULL, &b, theirs);
		is_str(a.data, b.data, "jqp_parse builds what jv_parse builds");
		ok(jv_equal(ours, theirs), "... and jv_equal agrees");
		buf_release(&a);
		buf_release(&b);
	}
	{
		jv v = jqp_parse(&p, "{\"a\":1", 6);

		ok(!jv_is_valid(v), "truncated text gives an invalid jv");
		jv_free(v);
	}
	{
		/* shared strings from the caches survive many events */
		for (int i = 0; i < 3000; i++) {
			char t[64];
			jv v;

			snprintf(t, sizeof(t), "{\"k%d\":\"v%d\",\"op\":\"u\"}", i, i % 7);
			v = jqp_parse(&p, t, strlen(t));
			jv_free(v);
		}
		ok(p.nkeys <= JQP_KEYCACHE / 2, "the key cache stays bounded");
	}
	p.check_numbers = true;
	{
		const char *t = "{\"a\":1.5,\"b\":9007199254740993,\"c\":1e999}";
		jv v = jqp_parse(&p, t, strlen(t));

		is_int(p.inexact, 2, "two inexact numbers counted");
		is_int(p.inexact_at, 13, "the first one's offset (0-based)");
		jv_free(v);
	}
	jqp_free(&p);
}

static void
test_print(void)
{
	struct buf b = BUF_INIT;
	jv v = jv_parse("{\"z\":\"\\u0001\\u007f\\t/\\\"\\\\é\",\"a\":[1,{\"b\":null}]}");

	jqp_print(NULL, &b, v);
	is_str(b.data, "{\"z\":\"\\u0001\\u007f\\t/\\\"\\\\é\",\"a\":[1,{\"b\":null}]}",
	       "escapes and key order as jq -c");
	jv_free(v);
	buf_release(&b);
	{
		jv deep = jv_number(1);
		int r;

		for (int i = 0; i < JQP_PRINT_DEPTH; i++)
			deep = jv_array_append(jv_array(), deep);
		buf_reset(&b);
		buf_adds(&b, "x");
		r = jqp_print(NULL, &b, deep);
		ok(r == 0 && b.len == 1 + 2 * JQP_PRINT_DEPTH + 1, "JQP_PRINT_DEPTH levels print");
		deep = jv_array_append(jv_array(), deep);
		buf_reset(&b);
		buf_adds(&b, "x");
		r = jqp_print(NULL, &b, deep);
		ok(r == -1 && b.len == 1 && strcmp(b.data, "x") == 0,
		   "one level more: -1 and the buffer unchanged");
		jv_free(deep);
		buf_release(&b);
	}
}

static void
hexs(const unsigned char *d, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void
test_sha(void)
{
	unsigned char md[32];
	char h[65];

	sha256("abc", 3, md);
	hexs(md, h);
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256 abc");
	sha256("", 0, md);
	hexs(md, h);
	is_str(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256 empty");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, md);
	hexs(md, h);
	is_str(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "SHA-256 two blocks");
	{
		/* RFC 4231 test case 2 */
		hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, md);
		hexs(md, h);
		is_str(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		       "HMAC-SHA-256 RFC 4231 case 2");
	}
	{
		/* RFC 4231 test case 6: a key longer than the block */
		unsigned char key[131];

		memset(key, 0xaa, sizeof(key));
		hmac_sha256(key, sizeof(key), "Test Using Larger Than Block-Size Key - Hash Key First",
				54, md);
		hexs(md, h);
		is_str(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
		       "HMAC-SHA-256 RFC 4231 case 6");
	}
}

int
main(void)
{
	test_format();
	test_exact();
	test_parse();
	test_print();
	test_sha();
	return tap_done();
}
