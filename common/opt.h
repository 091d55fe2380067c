/*
 * opt.h: checked parsing of option values, shared by every program.
 *
 * All return 0 on success, -1 when the text is malformed or out of range
 * (nothing is stored then).  Programs turn -1 into die_usage().
 */
#ifndef CDC_OPT_H
#define CDC_OPT_H

#include <stddef.h>
#include <stdint.h>

/* Decimal unsigned integer in [min, max]; no sign, no trailing text. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* As parse_u64 for int. */
int parse_int(const char *s, int min, int max, int *out);
/* A size: a number with an optional K, M, G suffix (powers of 1024, "KiB" and "KB" alike). */
int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A non-negative decimal number (e.g. --speed 2.5). */
int parse_double(const char *s, double min, double max, double *out);

/*
 * The same for an option's value, dying with exit 2 and "bad OPT: VALUE"
 * when it is malformed or out of range: a duration (timeutil.h's
 * duration_parse()) in [min_ms, max_ms], a count in [min, max].
 */
int64_t opt_duration(const char *opt, const char *arg, int64_t min_ms, int64_t max_ms);
uint64_t opt_count(const char *opt, const char *arg, uint64_t min, uint64_t max);

#endif
