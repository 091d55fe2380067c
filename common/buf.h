/*
 * buf.h: the one growable byte buffer, and the allocation wrappers.
 *
 * A struct buf is always NUL-terminated (data[len] == '\0'): BUF_INIT is
 * an empty buffer that owns no memory and whose data is a shared, empty
 * string (as git's strbuf does), so buf.data can always be printed.  A
 * zeroed struct buf (calloc, "= { 0 }") is also empty and owns nothing,
 * but its data is NULL until something is added.
 * The buffer owns its memory: buf_release() frees it, buf_detach() hands it
 * to the caller (who frees it with free()).  buf_reset() empties the buffer
 * but keeps the memory for reuse.  Allocation failure dies in xmalloc() and
 * friends, never at call sites.
 */
#ifndef CDC_BUF_H
#define CDC_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Never written to: the empty string of every buffer that owns no memory. */
extern char buf_empty[];
#define BUF_INIT { buf_empty, 0, 0 }

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Make room for at least extra more bytes (plus the NUL). */
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Set the length (<= cap after buf_grow) and terminate. */
void buf_setlen(struct buf *b, size_t len);
/* Empty the buffer, keep its memory. */
void buf_reset(struct buf *b);
/* Free the memory; the buffer is BUF_INIT again. */
void buf_release(struct buf *b);
/* Return the data (never NULL; caller frees); the buffer is BUF_INIT again. */
char *buf_detach(struct buf *b, size_t *len);

/* Space left before the buffer must grow. */
static inline size_t
buf_avail(const struct buf *b)
{
	return b->cap ? b->cap - b->len - 1 : 0;
}

#endif
