/*
 * text.h: checking text before it is parsed (valid UTF-8, no NUL byte),
 * and hexadecimal digits.
 *
 * Event lines must be UTF-8 without NUL bytes (cdc-events(7)); every
 * program checks a line with text_check() before it looks inside, and
 * reports a problem with text_problem_describe(), so that the wording is
 * the same everywhere.  Nothing here allocates.
 */
#ifndef CDC_TEXT_H
#define CDC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Validate UTF-8 (RFC 3629; NUL allowed).  Returns true if valid; else *bad = offset (if bad). */
bool utf8_valid(const char *s, size_t len, size_t *bad);

/* Problems text_check() reports. */
enum line_problem {
	LINE_OK = 0,
	LINE_NUL,		/* a NUL byte */
	LINE_BAD_UTF8,		/* invalid UTF-8 */
};

/*
 * Check text for NUL bytes and invalid UTF-8.  Returns LINE_OK or the
 * problem, with its byte offset (from 0) in *where.
 */
enum line_problem text_check(const char *s, size_t len, size_t *where);
/* The problem's name: "NUL byte", "invalid UTF-8". */
const char *text_problem_str(enum line_problem p);
/*
 * The reason every program reports for a problem text_check() found:
 * "invalid UTF-8 at byte 42", counting bytes from 1 as editors do.
 */
void text_problem_describe(enum line_problem p, size_t where, char *out, size_t size);

/* The value of hexadecimal digit c, or -1. */
static inline int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
