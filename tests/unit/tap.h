/*
 * tap.h: a minimal TAP producer for the C unit tests (run by prove).
 *
 *   int main(void) {
 *       ok(1 + 1 == 2, "adds");
 *       is_str(got, "x", "formats");
 *       return tap_done();      // prints the plan, exit status = failures != 0
 *   }
 */
#ifndef CDC_TAP_H
#define CDC_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *name)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
	if (!cond) {
		tap_failed++;
		printf("#   Failed test '%s'\n#   at %s line %d.\n", name, file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, name) tap_ok(!!(cond), __FILE__, __LINE__, (name))

#define is_int(got, want, name) do { \
	long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
	if (!tap_ok(tap_g_ == tap_w_, __FILE__, __LINE__, (name))) \
		printf("#          got: %lld\n#     expected: %lld\n", tap_g_, tap_w_); \
} while (0)

#define is_u64(got, want, name) do { \
	uint64_t tap_g_ = (uint64_t)(got), tap_w_ = (uint64_t)(want); \
	if (!tap_ok(tap_g_ == tap_w_, __FILE__, __LINE__, (name))) \
		printf("#          got: %" PRIu64 "\n#     expected: %" PRIu64 "\n", tap_g_, tap_w_); \
} while (0)

#define is_str(got, want, name) do { \
	const char *tap_g_ = (got), *tap_w_ = (want); \
	int tap_c_ = tap_g_ && tap_w_ ? strcmp(tap_g_, tap_w_) == 0 : tap_g_ == tap_w_; \
	if (!tap_ok(tap_c_, __FILE__, __LINE__, (name))) \
		printf("#          got: '%s'\n#     expected: '%s'\n", tap_g_ ? tap_g_ : "(null)", \
		       tap_w_ ? tap_w_ : "(null)"); \
} while (0)

/* Compare len bytes of got with the NUL-terminated want. */
#define is_mem(got, len, want, name) do { \
	const char *tap_g_ = (got), *tap_w_ = (want); size_t tap_l_ = (len); \
	int tap_c_ = tap_l_ == strlen(tap_w_) && memcmp(tap_g_, tap_w_, tap_l_) == 0; \
	if (!tap_ok(tap_c_, __FILE__, __LINE__, (name))) \
		printf("#          got: '%.*s'\n#     expected: '%s'\n", (int)tap_l_, tap_g_, tap_w_); \
} while (0)

#define diag(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

#endif
