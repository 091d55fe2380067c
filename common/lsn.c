#include "lsn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse_hex32(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 8)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return -1;
		v = v * 16 + (uint64_t)d;
	}
	*out = v;
	return 0;
}

static int
parse_dec(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
lsn_parse_n(const char *s, size_t n, uint64_t *out)
{
	const char *slash = memchr(s, '/', n);
	uint64_t hi, lo;

	if (slash == NULL)
		return parse_dec(s, n, out);
	if (parse_hex32(s, (size_t)(slash - s), &hi) < 0 ||
	    parse_hex32(slash + 1, n - (size_t)(slash - s) - 1, &lo) < 0)
		return -1;
	*out = hi << 32 | lo;
	return 0;
}

int
lsn_parse(const char *s, uint64_t *out)
{
	return lsn_parse_n(s, strlen(s), out);
}

/* Append x in upper-case hex, without leading zeros; returns the end. */
static char *
put_hex(char *o, uint32_t x)
{
	char t[8];
	int n = 0;

	do {
		t[n++] = "0123456789ABCDEF"[x & 15];
		x >>= 4;
	} while (x);
	while (n)
		*o++ = t[--n];
	return o;
}

/* Append x in decimal; returns the end. */
static char *
put_dec(char *o, uint64_t x)
{
	char t[20];
	int n = 0;

	do {
		t[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	while (n)
		*o++ = t[--n];
	return o;
}

/* (Written out rather than with snprintf: every event's position is formatted in some programs.) */
static char *
put_lsn(char *o, uint64_t lsn)
{
	o = put_hex(o, (uint32_t)(lsn >> 32));
	*o++ = '/';
	return put_hex(o, (uint32_t)lsn);
}

char *
lsn_format(uint64_t lsn, char *out)
{
	*put_lsn(out, lsn) = '\0';
	return out;
}

int
pos_cmp(const struct cdc_pos *a, const struct cdc_pos *b)
{
	if (a->commit_lsn != b->commit_lsn)
		return a->commit_lsn < b->commit_lsn ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

int
pos_parse(const char *s, struct cdc_pos *out)
{
	const char *colon = strchr(s, ':');
	struct cdc_pos p = { 0, 0 };

	if (colon == NULL) {
		if (lsn_parse(s, &p.commit_lsn) < 0)
			return -1;
	} else if (lsn_parse_n(s, (size_t)(colon - s), &p.commit_lsn) < 0 ||
		   parse_dec(colon + 1, strlen(colon + 1), &p.seq) < 0) {
		return -1;
	}
	*out = p;
	return 0;
}

char *
pos_format(const struct cdc_pos *p, char *out)
{
	char *o = put_lsn(out, p->commit_lsn);

	*o++ = ':';
	*put_dec(o, p->seq) = '\0';
	return out;
}
