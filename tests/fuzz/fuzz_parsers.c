/*
 * fuzz_parsers.c: the small text parsers behind options, checkpoints and
 * selections: time_parse/duration_parse/rfc3339_format (timeutil.h),
 * lsn_parse/pos_parse and their formats (lsn.h), parse_u64/parse_int/
 * parse_size/parse_double (opt.h).
 *
 * Oracles besides the sanitizers: what parses, formatted and parsed
 * again, is the same value (LSNs, positions, absolute times whose
 * formatted year has four digits); parsed numbers are within the bounds
 * asked for; durations are not negative.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lsn.h"
#include "opt.h"
#include "timeutil.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_parsers");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char buf[RFC3339_BUFSZ + POS_BUFSZ];
	uint64_t u, lsn;
	int64_t ms, ms2;
	struct cdc_pos pos, pos2;
	int i;
	double d;

	CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';

	if (time_parse(s, &ms) == 0 && s[0] != '-' && s[0] != '+' && strcmp(s, "now") != 0) {
		rfc3339_format(ms, buf);
		if (buf[0] >= '0' && buf[0] <= '9' && buf[4] == '-') {
			if (time_parse(buf, &ms2) != 0 || ms2 != ms) {
				fprintf(stderr, "time \"%s\" -> %lld -> \"%s\" -> %lld\n", s, (long long)ms, buf,
					(long long)ms2);
				abort();
			}
		}
	}
	if (duration_parse(s, &ms) == 0)
		CHECK(ms >= 0);

	if (lsn_parse(s, &lsn) == 0) {
		CHECK(lsn_parse(lsn_format(lsn, buf), &u) == 0 && u == lsn);
	}
	if (pos_parse(s, &pos) == 0) {
		CHECK(pos_parse(pos_format(&pos, buf), &pos2) == 0 && pos_cmp(&pos, &pos2) == 0);
	}

	if (parse_u64(s, 5, 1000, &u) == 0)
		CHECK(u >= 5 && u <= 1000);
	if (parse_int(s, -3, 70000, &i) == 0)
		CHECK(i >= -3 && i <= 70000);
	if (parse_size(s, 1024, (uint64_t)64 << 20, &u) == 0)
		CHECK(u >= 1024 && u <= (uint64_t)64 << 20);
	if (parse_double(s, 0.5, 100.0, &d) == 0)
		CHECK(d >= 0.5 && d <= 100.0);
	free(s);
	return 0;
}
