/*
 * json.h: writing JSON into a struct buf, and a light scanner for event lines.
 *
 * Writer: json_add_str() quotes and escapes a string and always produces
 * valid UTF-8 (an invalid byte becomes U+FFFD).  Numbers are written from
 * integers so they are exact.  All writers append to a caller-owned buf.
 *
 * Scanner: json_skip() validates one JSON value (RFC 8259 grammar; depth is
 * capped at JSON_MAX_DEPTH) and returns where it ends, without building a
 * tree.  event_scan() uses it to pull the few fields programs route on (op,
 * source.schema/table, positions, raw spans of key/before/after) out of an
 * event line.  Spans point into the caller's line; nothing is allocated.
 */
#ifndef CDC_JSON_H
#define CDC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lsn.h"

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

/* True if the span's decoded content equals s. */
bool json_span_eq(const struct json_span *sp, const char *s);
/* Append the span's decoded content to b.  Returns 0, or -1 if malformed. */
int json_span_decode(const struct json_span *sp, struct buf *b);
/* Parse a raw JSON value as an unsigned integer (no sign, fraction, exponent). */
bool json_parse_u64(const char *v, size_t vlen, uint64_t *out);
bool json_parse_i64(const char *v, size_t vlen, int64_t *out);

/* What event_scan() finds in an event line. Absent spans have p == NULL. */
struct event_info {
	struct json_span op;
	struct json_span db, schema, table, name, snapshot;
	/* Raw value text (p == NULL when absent); "null" is returned as is. */
	const char *key, *before, *after, *unchanged_toast;
	size_t key_len, before_len, after_len, unchanged_toast_len;
	bool has_pos;		/* source.commit_lsn and source.seq both present */
	struct cdc_pos pos;
	bool has_lsn;
	uint64_t lsn;
	bool has_ts;
	int64_t ts_ms;		/* source.ts_ms: commit time */
	bool control;		/* op is not one of c u d r t m */
};

/*
 * Scan an event line: it must be a valid JSON object with a string "op".
 * Wrongly typed envelope fields (a non-numeric commit_lsn, say) are errors.
 * Returns 0, or -1 with *err set to a static message.
 */
int event_scan(const char *line, size_t len, struct event_info *ev, const char **err);

/* True for the ops of data events: c u d r t m. */
bool op_is_data(const struct json_span *op);

#endif
