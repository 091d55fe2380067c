/*
 * json.h: writing JSON into a struct buf, and a light scanner for event lines.
 *
 * Writer: json_add_str() quotes and escapes a string and always produces
 * valid UTF-8 (an invalid byte becomes U+FFFD).  Numbers are written from
 * integers so they are exact.  All writers append to a caller-owned buf.
 *
 * Scanner: json_skip() validates one JSON value (RFC 8259 grammar; depth is
 * capped at JSON_MAX_DEPTH) and returns where it ends, without building a
 * tree; json_iter walks an object's members or an array's elements,
 * json_members() lists an object's members in one pass, and json_member()
 * finds one member.  Spans point into the caller's text;
 * nothing is allocated.  Member names are compared decoded ("\u0061" is
 * "a").  The event envelope is event.h's.
 */
#ifndef CDC_JSON_H
#define CDC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSON_MAX_DEPTH 512

/* A string's content between its quotes, escapes not yet decoded. */
struct json_span {
	const char *p;
	size_t len;
	bool escaped;		/* contains a backslash escape */
};

/* --- writing --- */

/* Append s (len bytes) as a quoted JSON string. */
void json_add_str(struct buf *b, const char *s, size_t len);
void json_add_cstr(struct buf *b, const char *s);
void json_add_u64(struct buf *b, uint64_t v);
void json_add_i64(struct buf *b, int64_t v);
/* Append "key": (the key is trusted to need no escaping). */
void json_add_key(struct buf *b, const char *key);
/* Append the standard base64 encoding of data, quoted. */
void json_add_base64(struct buf *b, const void *data, size_t len);

/* --- scanning --- */

/*
 * Validate one JSON value starting at p (leading whitespace allowed).
 * Returns the first byte after it, or NULL with *err set to a static
 * message when the text is not valid JSON.
 */
const char *json_skip(const char *p, const char *end, const char **err);
/* Skip JSON whitespace. */
const char *json_ws(const char *p, const char *end);

/* Iterate over an object's members or an array's elements. */
struct json_iter {
	const char *p;
	const char *end;
	bool first;
	bool array;
};
/* v/vlen: the raw object or array text.  Returns 0, or -1 if it is neither. */
int json_iter_begin(struct json_iter *it, const char *v, size_t vlen);
/*
 * Next member: *key (objects only) and the raw value text.  Returns 1 for a
 * member, 0 at the end, -1 on a syntax error (*err set).
 */
int json_iter_next(struct json_iter *it, struct json_span *key,
		   const char **val, size_t *vlen, const char **err);
/*
 * Walk the object at v (its '{') in one pass and return the byte after it,
 * or NULL with *err set if the text is not valid JSON there.  Its members
 * go into m[] (the first max of them; n counts them all).  When open is
 * set, the value of the member of that name (decoded), if it is an object,
 * is walked in the same pass and its members go into sub[] (the first
 * submax; nsub counts them): events are read this way, their "source"
 * with them, in one pass over the line.
 */
struct json_member {
	struct json_span key;
	const char *v;		/* the raw value text */
	size_t vlen;
	bool vesc;		/* it is a string with an escape in it */
};
struct json_members {
	struct json_member *m;
	int max, n;
	const char *open;
	struct json_member *sub;
	int submax, nsub;
	size_t open_len;	/* strlen(open), or 0: json_members() counts it */
};
const char *json_members(const char *v, const char *end, struct json_members *jm,
			 const char **err);

/* True if the span's decoded content equals s. */
bool json_span_eq(const struct json_span *sp, const char *s);
/* As json_span_eq(), false for an absent span (p == NULL). */
bool json_span_is(const struct json_span *sp, const char *s);
/* True if two spans decode to the same text. */
bool json_spans_eq(const struct json_span *a, const struct json_span *b);

/*
 * What a program worked out from a few spans of the last event (a table's
 * name decoded, a topic), kept while the next events have the same spans,
 * byte for byte: events come in runs of one table.  span_memo_same() says
 * whether spans[0..n) are the ones it saw last, and remembers them when
 * they are not; span_memo_forget() makes the next call say false.
 */
struct span_memo {
	struct buf raw;		/* per span: a flag byte (present, escaped), its length, its bytes */
};
#define SPAN_MEMO_INIT { BUF_INIT }
bool span_memo_same(struct span_memo *m, const struct json_span *spans, int n);
void span_memo_forget(struct span_memo *m);
void span_memo_release(struct span_memo *m);
/*
 * Find the member name (or, if name is NULL, the member whose name decodes
 * as span does) in the JSON object obj (olen bytes): 1 with its raw value in
 * v and vlen, 0 when absent, -1 when obj is not an object or is malformed.
 * The first match wins.
 */
int json_member(const char *obj, size_t olen, const char *name, const struct json_span *span,
		const char **v, size_t *vlen);
/* Append the span's decoded content to b.  Returns 0, or -1 if malformed. */
int json_span_decode(const struct json_span *sp, struct buf *b);
/* Parse a raw JSON value as an unsigned integer (no sign, fraction, exponent). */
bool json_parse_u64(const char *v, size_t vlen, uint64_t *out);
bool json_parse_i64(const char *v, size_t vlen, int64_t *out);

#endif
