/*
 * lsn.h: WAL positions (LSNs) and event positions.
 *
 * An LSN is written as PostgreSQL does ("16/B374D848", upper-case hex) or as
 * a decimal number; both parse.  An event's position is (commit LSN, seq):
 * the stream's total order.  Text form "X/X:seq".
 */
#ifndef CDC_LSN_H
#define CDC_LSN_H

#include <stdbool.h>
#include <stdint.h>

#define LSN_BUFSZ 24		/* "FFFFFFFF/FFFFFFFF" + NUL */
#define POS_BUFSZ 48		/* LSN + ":" + 20 digits + NUL */

struct cdc_pos {
	uint64_t commit_lsn;
	uint64_t seq;
};

/* Parse "X/X" (hex) or a decimal number.  Returns 0, or -1 if malformed. */
int lsn_parse(const char *s, uint64_t *out);
/* Format as "X/X" into out (LSN_BUFSZ bytes); returns out. */
char *lsn_format(uint64_t lsn, char *out);

/* Compare positions: <0, 0, >0. */
int pos_cmp(const struct cdc_pos *a, const struct cdc_pos *b);
/* Parse "X/X:seq", "decimal:seq", or a bare LSN (seq 0).  Returns 0 or -1. */
int pos_parse(const char *s, struct cdc_pos *out);
/* Format as "X/X:seq" into out (POS_BUFSZ bytes); returns out. */
char *pos_format(const struct cdc_pos *p, char *out);

#endif
