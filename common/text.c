#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/*
 * UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
 * ASCII runs are checked eight bytes at a time: event lines are mostly ASCII.
 */
bool
utf8_valid(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c;
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;

		while (i + 8 <= len) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			goto invalid;
		}
		if (i + need >= len)
			goto invalid;
		if (s[i + 1] < lo || s[i + 1] > hi)
			goto invalid;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				goto invalid;
		i += need + 1;
	}
	return true;
invalid:
	if (bad)
		*bad = i;
	return false;
}

/* True when every byte of s is ASCII and not NUL: most event lines. */
static bool
plain_ascii(const char *s, size_t len)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();

	for (; i + 32 <= len; i += 32) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16));
		__m128i z = _mm_or_si128(_mm_cmpeq_epi8(a, zero), _mm_cmpeq_epi8(b, zero));

		if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), z)) != 0)
			return false;
	}
	/* The rest, under 32 bytes: one or two loads of 16, the last ending at the end. */
	if (i < len && len >= 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + len - 16));
		__m128i bad = _mm_or_si128(a, _mm_cmpeq_epi8(a, zero));

		if (i + 16 < len) {
			__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + i));

			bad = _mm_or_si128(bad, _mm_or_si128(b, _mm_cmpeq_epi8(b, zero)));
		}
		return _mm_movemask_epi8(bad) == 0;
	}
#endif
	for (; i < len; i++)
		if ((unsigned char)s[i] - 1u >= 0x7Fu)	/* 0 or 0x80 and above */
			return false;
	return true;
}

enum line_problem
text_check(const char *line, size_t len, size_t *where)
{
	const char *nul;

	if (plain_ascii(line, len))
		return LINE_OK;
	nul = memchr(line, '\0', len);
	size_t bad;

	if (nul) {
		*where = (size_t)(nul - line);
		return LINE_NUL;
	}
	if (!utf8_valid(line, len, &bad)) {
		*where = bad;
		return LINE_BAD_UTF8;
	}
	return LINE_OK;
}

const char *
text_problem_str(enum line_problem p)
{
	switch (p) {
	case LINE_OK:
		return "ok";
	case LINE_NUL:
		return "NUL byte";
	case LINE_BAD_UTF8:
		return "invalid UTF-8";
	}
	return "?";
}

void
text_problem_describe(enum line_problem p, size_t where, char *out, size_t size)
{
	snprintf(out, size, "%s at byte %zu", text_problem_str(p), where + 1);
}
