/*
 * kvfile.h: the key=value text of checkpoint and state files.
 *
 * One key=value per line; blank lines and lines starting with '#' are
 * skipped; a trailing '\r' is dropped; unknown keys are the reader's to
 * ignore.  The iterator points into the caller's text and allocates
 * nothing.
 */
#ifndef CDC_KVFILE_H
#define CDC_KVFILE_H

#include <stdbool.h>
#include <stddef.h>

struct kv_iter {
	const char *p, *end;
	unsigned lineno;	/* the line last returned (1-based) */
};

void kv_begin(struct kv_iter *it, const char *text, size_t len);
/*
 * The next key=value line: 1 with the key and value spans, 0 at the end,
 * -1 for a line without '=' (it->lineno names it).
 */
int kv_next(struct kv_iter *it, const char **key, size_t *klen, const char **val, size_t *vlen);
/* True if the key span is lit. */
bool kv_key_is(const char *key, size_t klen, const char *lit);

#endif
