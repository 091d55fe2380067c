/* Unit tests for common/timeutil.c: RFC 3339 times, relative times, durations. */
#include "timeutil.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
t_ok(const char *s, int64_t want)
{
	int64_t v = 0;
	char name[120];

	snprintf(name, sizeof(name), "time_parse '%s'", s);
	ok(time_parse(s, &v) == 0 && v == want, name);
	if (v != want)
		diag("got %lld want %lld", (long long)v, (long long)want);
}

static void
t_bad(const char *s)
{
	int64_t v = 4242;
	char name[120];

	snprintf(name, sizeof(name), "time_parse rejects '%s'", s);
	ok(time_parse(s, &v) == -1 && v == 4242, name);
}

/* Relative times: within the clock readings around the call. */
static void
t_rel(const char *s, int64_t delta)
{
	int64_t v = 0, t0, t1;
	char name[120];

	snprintf(name, sizeof(name), "time_parse '%s' is now %+lld ms", s, (long long)delta);
	t0 = now_ms();
	ok(time_parse(s, &v) == 0 && (t1 = now_ms(), v >= t0 + delta && v <= t1 + delta), name);
}

static void
d_ok(const char *s, int64_t want)
{
	int64_t v = -7;
	char name[120];

	snprintf(name, sizeof(name), "duration_parse '%s' = %lld ms", s, (long long)want);
	ok(duration_parse(s, &v) == 0 && v == want, name);
	if (v != want)
		diag("got %lld", (long long)v);
}

static void
d_bad(const char *s)
{
	int64_t v = -7;
	char name[120];

	snprintf(name, sizeof(name), "duration_parse rejects '%s'", s);
	ok(duration_parse(s, &v) == -1 && v == -7, name);
}

static void
test_parse(void)
{
	const int64_t T = 1795239000000LL;	/* 2026-11-21T05:30:00Z */

	t_ok("2026-11-21T05:30:00Z", T);
	t_ok("2026-11-21T05:30:00.123Z", T + 123);
	t_ok("2026-11-21T05:30:00.1Z", T + 100);
	t_ok("2026-11-21T05:30:00.12Z", T + 120);
	t_ok("2026-11-21T05:30:00.123456789Z", T + 123);
	t_ok("2026-11-21t05:30:00z", T);
	t_ok("2026-11-21 05:30:00Z", T);
	t_ok("2026-11-21T05:30:00", T);
	t_ok("2026-11-21T07:30:00+02:00", T);
	t_ok("2026-11-21T07:30:00.123+02:00", T + 123);
	t_ok("2026-11-21T00:30:00-05:00", T);
	t_ok("2026-11-20T23:00:00-06:30", T);
	t_ok("2026-11-21T11:00:00+0530", T);
	t_ok("2026-11-21T05:30:00+00:00", T);
	t_ok("2026-11-21T05:30:00-00:00", T);
	t_ok("2026-11-21", 1795219200000LL);
	t_ok("1970-01-01T00:00:00Z", 0);
	t_ok("1970-01-01", 0);
	t_ok("1969-12-31T23:59:59Z", -1000);
	t_ok("1969-12-31T23:59:59.500Z", -500);
	t_ok("2000-02-29", 951782400000LL);
	t_ok("2024-01-31T13:45:00Z", 1706708700000LL);
	t_ok("2100-03-01", 4107542400000LL);
	t_ok("1900-01-01", -2208988800000LL);
	t_ok("0001-01-01", -62135596800000LL);
	t_ok("9999-12-31T23:59:59Z", 253402300799000LL);
	t_ok("2016-12-31T23:59:60Z", 1483228800000LL);	/* leap second: the next second */

	t_rel("now", 0);
	t_rel("-2h", -7200000);
	t_rel("-30m", -1800000);
	t_rel("-10s", -10000);
	t_rel("-1d", -86400000);
	t_rel("-1.5h", -5400000);
	t_rel("-500ms", -500);
	t_rel("+1h", 3600000);
	t_rel("-2", -2000);		/* a bare number is seconds */

	t_bad("");
	t_bad("2026");
	t_bad("2026-11");
	t_bad("2026-1-21");
	t_bad("26-11-21");
	t_bad("2026/11/21");
	t_bad("21-11-2026");
	t_bad("2026-13-01");
	t_bad("2026-00-01");
	t_bad("2026-11-00");
	t_bad("2026-11-32");
	t_bad("2026-02-29");		/* 2026 is not a leap year */
	t_bad("2100-02-29");		/* nor is 2100 */
	t_bad("2026-02-30");
	t_bad("2026-04-31");
	t_bad("2026-11-21x");
	t_bad("2026-11-21Z");
	t_bad("2026-11-21T");
	t_bad("2026-11-21T05");
	t_bad("2026-11-21T05:30");
	t_bad("2026-11-21T5:30:00Z");
	t_bad("2026-11-21T24:00:00Z");
	t_bad("2026-11-21T05:60:00Z");
	t_bad("2026-11-21T05:30:61Z");
	t_bad("2026-11-21T05:30:00.Z");
	t_bad("2026-11-21T05:30:00ZZ");
	t_bad("2026-11-21T05:30:00 Z");
	t_bad("2026-11-21T05:30:00+2:00");
	t_bad("2026-11-21T05:30:00+02:0");
	t_bad("2026-11-21T05:30:00+02");
	t_bad("2026-11-21T05:30:00+24:00");
	t_bad("2026-11-21T05:30:00+02:60");
	t_bad("2026-11-21T05:30:00+99:99");
	t_bad("2026-11-21T05:30:00+02:00x");
	t_bad(" 2026-11-21");
	t_bad("now ");
	t_bad("NOW");
	t_bad("yesterday");
	t_bad("-");
	t_bad("-2x");
	t_bad("--2h");
	t_bad("-nan");
	t_bad("-inf");
	t_bad("- 2h");
}

static void
test_format(void)
{
	char out[RFC3339_BUFSZ];
	static const int64_t vals[] = { 0, 1, 999, 1000, -1, -999, -1000, -1001, 1795239000123LL,
					951782400000LL, -2208988800000LL, 253402300799999LL,
					-62135596800000LL };
	int trip = 0;

	is_str(rfc3339_format(0, out), "1970-01-01T00:00:00.000Z", "format epoch");
	is_str(rfc3339_format(1795239000123LL, out), "2026-11-21T05:30:00.123Z", "format a 2026 time");
	is_str(rfc3339_format(-1, out), "1969-12-31T23:59:59.999Z", "format -1 ms");
	is_str(rfc3339_format(-1000, out), "1969-12-31T23:59:59.000Z", "format -1000 ms");
	is_str(rfc3339_format(-1001, out), "1969-12-31T23:59:58.999Z", "format -1001 ms");
	is_str(rfc3339_format(253402300799999LL, out), "9999-12-31T23:59:59.999Z", "format year 9999");
	is_str(rfc3339_format(951782400007LL, out), "2000-02-29T00:00:00.007Z", "format leap day, ms padded");
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		int64_t v;

		if (time_parse(rfc3339_format(vals[i], out), &v) == 0 && v == vals[i])
			trip++;
		else
			diag("round trip failed for %lld (%s)", (long long)vals[i], out);
	}
	is_int(trip, (int)(sizeof(vals) / sizeof(vals[0])), "format -> parse round trip");
	/* Every day of a leap year and a common year round-trips at noon. */
	{
		int bad = 0;

		for (int64_t d = 0; d < 731; d++) {
			int64_t ms = 1704110400000LL + d * 86400000LL;	/* 2024-01-01T12:00:00Z */
			int64_t v;

			if (time_parse(rfc3339_format(ms, out), &v) != 0 || v != ms)
				bad++;
		}
		is_int(bad, 0, "731 days of 2024-2025 round-trip");
	}
}

static void
test_duration(void)
{
	d_ok("500ms", 500);
	d_ok("10s", 10000);
	d_ok("10", 10000);
	d_ok("0", 0);
	d_ok("5m", 300000);
	d_ok("5min", 300000);
	d_ok("2h", 7200000);
	d_ok("1d", 86400000);
	d_ok("1.5s", 1500);
	d_ok("0.25h", 900000);
	d_ok("90000d", 7776000000000LL);
	d_bad("");
	d_bad("s");
	d_bad("ms");
	d_bad("-1s");
	d_bad("+1s");
	d_bad("10x");
	d_bad("10 s");
	d_bad(" 10s");
	d_bad("10s ");
	d_bad("10ss");
	d_bad("10m5s");
	d_bad("nan");
	d_bad("nans");
	d_bad("inf");
	d_bad("infinity");
	d_bad("1e3");
	d_bad("0x10");
	d_bad("1..5s");
	d_bad("1e30h");
	d_bad("999999999999999999999999d");
}

static void
test_clocks(void)
{
	int64_t a = mono_ms(), b = mono_ms();
	int64_t n = now_ms();
	time_t t = time(NULL);

	ok(b >= a, "mono_ms does not go backwards");
	ok(n / 1000 >= (int64_t)t - 1 && n / 1000 <= (int64_t)t + 1, "now_ms agrees with time()");
}

int
main(void)
{
	test_parse();
	test_format();
	test_duration();
	test_clocks();
	return tap_done();
}
