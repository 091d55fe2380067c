/*
 * jq 1.6's numbers (jqprog.h): jqp_format_double() prints a double as jq 1.6
 * does (17 significant digits, shortest round trip, jq's exponent form);
 * jqp_number_exact() tells whether a JSON number literal survives the trip
 * through a double, which is what cdc-map and cdc-filter check events and
 * arguments against.
 */
#include "jqprog.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The shortest decimal digits that read back as x (x finite, > 0), as
 * David Gay's dtoa mode 0 gives them to jq 1.6: digits without trailing
 * zeros into dig, the decimal point position into *decpt (value =
 * 0.DIGITS * 10^decpt).  Up to 15 digits a correctly rounded decimal is
 * unique; at 16 a neighbour may read back when the rounded one does not
 * (at powers of two); 17 always read back.
 */
static size_t
shortest(double x, char *dig, int *decpt)
{
	char tmp[48];
	const char *e;
	size_t n = 0;

	if (x < DBL_MIN) {
		/* Subnormal: fewer bits, so fewer digits may do; try them all. */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, x);
			if (strtod(tmp, NULL) == x)
				break;
		}
		goto digits;
	}
	snprintf(tmp, sizeof(tmp), "%.14e", x);
	if (strtod(tmp, NULL) != x) {
		snprintf(tmp, sizeof(tmp), "%.15e", x);
		if (strtod(tmp, NULL) != x) {
			long long m = 0;
			int ex = atoi(strchr(tmp, 'e') + 1);
			bool found = false;

			for (const char *q = tmp; *q != 'e'; q++)
				if (*q >= '0' && *q <= '9')
					m = m * 10 + (*q - '0');
			for (int d = 1; d >= -1 && !found; d -= 2) {
				long long c = m + d;
				char cand[48];

				if (c < 1000000000000000LL || c > 9999999999999999LL)
					continue;
				snprintf(cand, sizeof(cand), "%llde%d", c, ex - 15);
				if (strtod(cand, NULL) == x) {
					snprintf(tmp, sizeof(tmp), "%lld", c);
					n = strlen(tmp);
					memcpy(dig, tmp, n);
					*decpt = ex + 1;
					found = true;
				}
			}
			if (!found)
				snprintf(tmp, sizeof(tmp), "%.16e", x);
			else
				goto strip;
		}
	}
digits:
	/* tmp is "D.DDDDe[+-]XX" */
	for (const char *q = tmp; *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			dig[n++] = *q;
	e = strchr(tmp, 'e');
	*decpt = atoi(e + 1) + 1;
strip:
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
	return n;
}

size_t
jqp_format_double(double d, char *out)
{
	char dig[24];
	char *o = out;
	int decpt;
	size_t n;

	if (isnan(d)) {
		memcpy(out, "null", 5);
		return 4;
	}
	if (d > DBL_MAX)
		d = DBL_MAX;
	if (d < -DBL_MAX)
		d = -DBL_MAX;
	if (d == 0) {
		if (signbit(d)) {
			memcpy(out, "-0", 3);
			return 2;
		}
		memcpy(out, "0", 2);
		return 1;
	}
	if (fabs(d) < 9007199254740992.0 && d == (double)(long long)d) {
		/* An integer, most numbers in events: its digits, without snprintf
		 * (which was most of the cost of printing one). */
		long long v = (long long)d;
		unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
		char rev[24];
		size_t k = 0;

		if (v < 0)
			*o++ = '-';
		do {
			rev[k++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		while (k)
			*o++ = rev[--k];
		*o = '\0';
		return (size_t)(o - out);
	}
	if (d < 0) {
		*o++ = '-';
		d = -d;
	}
	n = shortest(d, dig, &decpt);
	if (decpt <= -4 || decpt > (int)n + 15) {
		int ex = decpt - 1;

		*o++ = dig[0];
		if (n > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, n - 1);
			o += n - 1;
		}
		o += sprintf(o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
	} else if (decpt <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = decpt; i < 0; i++)
			*o++ = '0';
		memcpy(o, dig, n);
		o += n;
	} else {
		for (size_t i = 0; i < n; i++) {
			*o++ = dig[i];
			if ((int)i + 1 == decpt && i + 1 < n)
				*o++ = '.';
		}
		for (int i = (int)n; i < decpt; i++)
			*o++ = '0';
	}
	*o = '\0';
	return (size_t)(o - out);
}

bool
jqp_number_exact(const char *lit, size_t len, double d)
{
	const char *p = lit, *end = lit + len;
	char ldig[24], sdig[24];
	size_t nl = 0, nz = 0, ns;
	long lexp = 0, dotpos = -1, count = 0;
	int sdec;
	bool any = false;

	if (!isfinite(d))
		return false;
	if (p < end && *p == '-')
		p++;
	/* Significant digits of the literal, and its decimal point position. */
	for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.'); p++) {
		if (*p == '.') {
			dotpos = count;
			continue;
		}
		count++;
		if (!any && *p == '0') {
			lexp--;		/* a leading zero: moves the point */
			continue;
		}
		any = true;
		if (*p == '0') {
			nz++;		/* maybe trailing; kept pending */
			continue;
		}
		if (nl + nz >= 17)
			return false;	/* more than 17 significant digits */
		while (nz > 0) {
			ldig[nl++] = '0';
			nz--;
		}
		ldig[nl++] = *p;
	}
	if (!any)
		return true;	/* zero reads back as zero */
	if (dotpos < 0)
		dotpos = count;
	/* value = 0.LDIG * 10^(dotpos + lexp) where lexp counts leading zeros */
	lexp += dotpos;
	if (p < end && (*p == 'e' || *p == 'E')) {
		long e = 0;
		bool neg = false;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			neg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
		lexp += neg ? -e : e;
	}
	if (d == 0)
		return false;	/* underflow */
	/* Up to 15 significant digits in the normal range read back exactly. */
	if (nl <= 15 && lexp > -300 && lexp < 300)
		return true;
	ns = shortest(fabs(d), sdig, &sdec);
	return ns == nl && sdec == lexp && memcmp(sdig, ldig, nl) == 0;
}
