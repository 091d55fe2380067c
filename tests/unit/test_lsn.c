/* Unit tests for common/lsn.c: LSN and position parsing, formatting, order. */
#include "lsn.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void
lsn_ok(const char *s, uint64_t want)
{
	uint64_t v = 0;
	char name[100];

	snprintf(name, sizeof(name), "lsn_parse accepts '%s'", s);
	ok(lsn_parse(s, &v) == 0 && v == want, name);
	if (v != want)
		diag("got %llu want %llu", (unsigned long long)v, (unsigned long long)want);
}

static void
lsn_bad(const char *s)
{
	uint64_t v = 12345;
	char name[100];

	snprintf(name, sizeof(name), "lsn_parse rejects '%s'", s);
	ok(lsn_parse(s, &v) == -1 && v == 12345, name);
}

static void
test_lsn_parse(void)
{
	lsn_ok("0/0", 0);
	lsn_ok("0/16B3748", 0x16B3748);
	lsn_ok("16/B374D848", 0x16B374D848ULL);
	lsn_ok("16/b374d848", 0x16B374D848ULL);
	lsn_ok("FFFFFFFF/FFFFFFFF", UINT64_MAX);
	lsn_ok("00000001/00000000", 1ULL << 32);
	lsn_ok("0", 0);
	lsn_ok("23880120", 23880120);
	lsn_ok("18446744073709551615", UINT64_MAX);
	lsn_bad("");
	lsn_bad("/");
	lsn_bad("0/");
	lsn_bad("/0");
	lsn_bad("1/2/3");
	lsn_bad("100000000/0");		/* 9 hex digits in the high half */
	lsn_bad("0/100000000");
	lsn_bad("G/0");
	lsn_bad("0x16/0");
	lsn_bad(" 0/1");
	lsn_bad("0/1 ");
	lsn_bad("-1");
	lsn_bad("+1");
	lsn_bad("1.5");
	lsn_bad("18446744073709551616");
	lsn_bad("99999999999999999999");
	lsn_bad("abc");
	lsn_bad("12abc");
}

static void
test_lsn_format(void)
{
	char out[LSN_BUFSZ];
	static const uint64_t vals[] = { 0, 1, 0x16B3748, 0x16B374D848ULL, 1ULL << 32, UINT64_MAX,
					 0xFFFFFFFFULL, 0xA00000000ULL };
	int trip = 0;

	is_str(lsn_format(0, out), "0/0", "format 0");
	is_str(lsn_format(0x16B3748, out), "0/16B3748", "format 0/16B3748 (upper case, no padding)");
	is_str(lsn_format(0x16B374D848ULL, out), "16/B374D848", "format 16/B374D848");
	is_str(lsn_format(UINT64_MAX, out), "FFFFFFFF/FFFFFFFF", "format max fits LSN_BUFSZ");
	is_str(lsn_format(1ULL << 32, out), "1/0", "format 1/0");
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t v;

		if (lsn_parse(lsn_format(vals[i], out), &v) == 0 && v == vals[i])
			trip++;
	}
	is_int(trip, (int)(sizeof(vals) / sizeof(vals[0])), "format -> parse round trip");
}

static void
test_pos(void)
{
	struct cdc_pos a = { 5, 1 }, b = { 5, 2 }, c = { 6, 0 }, d = { 5, 1 };
	struct cdc_pos big = { UINT64_MAX, UINT64_MAX }, zero = { 0, 0 };
	struct cdc_pos hi_seq = { 1, UINT64_MAX }, lo_lsn = { 2, 0 };
	struct cdc_pos p;
	char out[POS_BUFSZ];

	ok(pos_cmp(&a, &b) < 0 && pos_cmp(&b, &a) > 0, "pos_cmp: same commit, seq decides");
	ok(pos_cmp(&b, &c) < 0 && pos_cmp(&c, &b) > 0, "pos_cmp: commit_lsn decides first");
	is_int(pos_cmp(&a, &d), 0, "pos_cmp: equal");
	ok(pos_cmp(&zero, &big) < 0 && pos_cmp(&big, &zero) > 0, "pos_cmp: extremes (unsigned)");
	ok(pos_cmp(&hi_seq, &lo_lsn) < 0, "pos_cmp: a larger seq never beats a larger commit_lsn");

	ok(pos_parse("0/16B3748:3", &p) == 0 && p.commit_lsn == 0x16B3748 && p.seq == 3,
	   "pos_parse X/X:seq");
	ok(pos_parse("23880120:7", &p) == 0 && p.commit_lsn == 23880120 && p.seq == 7,
	   "pos_parse decimal:seq");
	ok(pos_parse("16/B374D848", &p) == 0 && p.commit_lsn == 0x16B374D848ULL && p.seq == 0,
	   "pos_parse bare LSN: seq 0");
	ok(pos_parse("0/1:18446744073709551615", &p) == 0 && p.seq == UINT64_MAX, "pos_parse max seq");
	{
		static const char *bad[] = { "", ":", "0/1:", ":3", "0/1:x", "0/1:-1", "0/1:3:4",
					     "0/1: 3", "0/1:18446744073709551616", "x/1:3", "0/1;3",
					     "0/1:3 " };
		int rejected = 0;

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct cdc_pos q = { 42, 42 };

			if (pos_parse(bad[i], &q) == -1 && q.commit_lsn == 42 && q.seq == 42)
				rejected++;
			else
				diag("pos_parse accepted '%s'", bad[i]);
		}
		is_int(rejected, (int)(sizeof(bad) / sizeof(bad[0])),
		       "pos_parse rejects malformed positions, output untouched");
	}
	is_str(pos_format(&a, out), "0/5:1", "pos_format");
	is_str(pos_format(&big, out), "FFFFFFFF/FFFFFFFF:18446744073709551615", "pos_format max fits POS_BUFSZ");
	{
		struct cdc_pos r = { 0x16B3748, 3 };

		is_str(pos_format(&r, out), "0/16B3748:3", "pos_format contract example");
		ok(pos_parse(out, &p) == 0 && pos_cmp(&p, &r) == 0, "pos format -> parse round trip");
	}
}

int
main(void)
{
	test_lsn_parse();
	test_lsn_format();
	test_pos();
	return tap_done();
}
