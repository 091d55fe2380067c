/* Unit tests for common/opt.c: checked option-value parsing. */
#include "opt.h"
#include "tap.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void
u64_case(const char *s, uint64_t min, uint64_t max, int want_ok, uint64_t want)
{
	uint64_t v = 777;
	int r = parse_u64(s, min, max, &v);
	char name[120];

	snprintf(name, sizeof(name), "parse_u64 '%s' in [%llu, %llu] %s", s, (unsigned long long)min,
		 (unsigned long long)max, want_ok ? "accepted" : "rejected");
	if (want_ok)
		ok(r == 0 && v == want, name);
	else
		ok(r == -1 && v == 777, name);
}

static void
int_case(const char *s, int min, int max, int want_ok, int want)
{
	int v = 777;
	int r = parse_int(s, min, max, &v);
	char name[120];

	snprintf(name, sizeof(name), "parse_int '%s' in [%d, %d] %s", s, min, max,
		 want_ok ? "accepted" : "rejected");
	if (want_ok)
		ok(r == 0 && v == want, name);
	else
		ok(r == -1 && v == 777, name);
}

static void
size_case(const char *s, int want_ok, uint64_t want)
{
	uint64_t v = 777;
	int r = parse_size(s, 1, UINT64_MAX, &v);
	char name[120];

	snprintf(name, sizeof(name), "parse_size '%s' %s", s, want_ok ? "accepted" : "rejected");
	if (want_ok) {
		ok(r == 0 && v == want, name);
		if (r != 0 || v != want)
			diag("r=%d v=%llu", r, (unsigned long long)v);
	} else {
		ok(r == -1 && v == 777, name);
	}
}

static void
double_case(const char *s, double min, double max, int want_ok, double want)
{
	double v = 777;
	int r = parse_double(s, min, max, &v);
	char name[120];

	snprintf(name, sizeof(name), "parse_double '%s' %s", s, want_ok ? "accepted" : "rejected");
	if (want_ok)
		ok(r == 0 && v == want, name);
	else
		ok(r == -1 && v == 777, name);
}

int
main(void)
{
	u64_case("0", 0, 10, 1, 0);
	u64_case("10", 0, 10, 1, 10);
	u64_case("11", 0, 10, 0, 0);
	u64_case("0", 1, 10, 0, 0);
	u64_case("007", 0, 10, 1, 7);
	u64_case("18446744073709551615", 0, UINT64_MAX, 1, UINT64_MAX);
	u64_case("18446744073709551616", 0, UINT64_MAX, 0, 0);
	u64_case("-1", 0, UINT64_MAX, 0, 0);
	u64_case("+1", 0, UINT64_MAX, 0, 0);
	u64_case(" 1", 0, UINT64_MAX, 0, 0);
	u64_case("1 ", 0, UINT64_MAX, 0, 0);
	u64_case("1x", 0, UINT64_MAX, 0, 0);
	u64_case("1.0", 0, UINT64_MAX, 0, 0);
	u64_case("0x10", 0, UINT64_MAX, 0, 0);
	u64_case("", 0, UINT64_MAX, 0, 0);
	u64_case("abc", 0, UINT64_MAX, 0, 0);

	int_case("0", 0, 10, 1, 0);
	int_case("-5", -10, 10, 1, -5);
	int_case("-11", -10, 10, 0, 0);
	int_case("11", -10, 10, 0, 0);
	int_case("2147483647", INT_MIN, INT_MAX, 1, INT_MAX);
	int_case("-2147483648", INT_MIN, INT_MAX, 1, INT_MIN);
	int_case("2147483648", INT_MIN, INT_MAX, 0, 0);
	int_case("-2147483649", INT_MIN, INT_MAX, 0, 0);
	int_case("99999999999999999999", INT_MIN, INT_MAX, 0, 0);
	int_case("-", INT_MIN, INT_MAX, 0, 0);
	int_case("--1", INT_MIN, INT_MAX, 0, 0);
	int_case("+1", INT_MIN, INT_MAX, 0, 0);
	int_case(" 1", INT_MIN, INT_MAX, 0, 0);
	int_case("1s", INT_MIN, INT_MAX, 0, 0);
	int_case("", INT_MIN, INT_MAX, 0, 0);

	size_case("1", 1, 1);
	size_case("4096", 1, 4096);
	size_case("64K", 1, 64 << 10);
	size_case("64k", 1, 64 << 10);
	size_case("64KB", 1, 64 << 10);
	size_case("64KiB", 1, 64 << 10);
	size_case("64Kb", 1, 64 << 10);
	size_case("16M", 1, 16 << 20);
	size_case("16MiB", 1, 16 << 20);
	size_case("2G", 1, 2ULL << 30);
	size_case("2g", 1, 2ULL << 30);
	size_case("17179869183G", 1, 17179869183ULL << 30);
	size_case("17179869184G", 0, 0);	/* 2^64: overflows */
	size_case("18446744073709551616", 0, 0);
	size_case("0", 0, 0);			/* below min 1 */
	size_case("64T", 0, 0);
	size_case("64B", 0, 0);
	size_case("64 K", 0, 0);
	size_case("64Ki", 0, 0);
	size_case("64KBx", 0, 0);
	size_case("64KK", 0, 0);
	size_case("K", 0, 0);
	size_case("-1", 0, 0);
	size_case("1.5M", 0, 0);
	size_case("", 0, 0);
	{
		uint64_t v = 0;

		ok(parse_size("1M", 0, 1 << 19, &v) == -1, "parse_size: suffix applied before the range check");
		ok(parse_size("512K", 0, 1 << 19, &v) == 0 && v == 1 << 19, "parse_size: max inclusive");
	}

	double_case("2.5", 0, 100, 1, 2.5);
	double_case("0", 0, 100, 1, 0);
	double_case("100", 0, 100, 1, 100);
	double_case("100.01", 0, 100, 0, 0);
	double_case("-1", 0, 100, 0, 0);
	double_case("1e2", 0, 1000, 1, 100);
	double_case("nan", 0, 1000, 0, 0);
	double_case("NaN", -INFINITY, INFINITY, 0, 0);
	double_case("inf", 0, 1000, 0, 0);
	double_case("1e999", 0, INFINITY, 0, 0);	/* ERANGE */
	double_case("", 0, 100, 0, 0);
	double_case(" 1", 0, 100, 0, 0);
	double_case("1 ", 0, 100, 0, 0);
	double_case("1x", 0, 100, 0, 0);
	double_case("x", 0, 100, 0, 0);
	return tap_done();
}
