/*
 * The event scanner: the envelope members programs route on, read without
 * building a tree.  Layout of an event: cdc-events(7).
 */
#include "event.h"

#include <string.h>

bool
op_is_data(const struct json_span *op)
{
	return op->len == 1 && !op->escaped && strchr("cudrtm", op->p[0]) != NULL;
}

/*
 * Member names are compared decoded: "af\u0074er" is "after".  A program
 * that missed it would pass an event's row image on unredacted, or drop an
 * event its --table names.
 */
static bool
key_is(const struct json_span *k, const char *s, size_t n)
{
	if (k->escaped)
		return json_span_eq(k, s);
	return k->len == n && memcmp(k->p, s, n) == 0;
}
#define KEY_IS(k, lit) key_is((k), (lit), sizeof(lit) - 1)

/*
 * A member the scanner reads must come once: with two "after" members (one
 * maybe written "af\u0074er"), readers that keep the first and readers that
 * keep the last (jq) would see different rows, and a redaction of one
 * would leave the other.  bit: the member's bit in *seen.
 */
static int
once(unsigned *seen, unsigned bit, const char **err, const char *msg)
{
	if (*seen & bit) {
		*err = msg;
		return -1;
	}
	*seen |= bit;
	return 0;
}
#define ONCE(n, name) once(&seen, 1u << (n), err, "duplicate member " name)

static int
string_field(const char *v, size_t vlen, struct json_span *out, const char **err, const char *what)
{
	if (vlen == 4 && memcmp(v, "null", 4) == 0)
		return 0;
	if (vlen < 2 || v[0] != '"') {
		*err = what;
		return -1;
	}
	out->p = v + 1;
	out->len = vlen - 2;
	out->escaped = memchr(v + 1, '\\', vlen - 2) != NULL;
	return 0;
}

/* v: the value of "source", end: the end of the line.  Returns the byte after the value. */
static const char *
scan_source(const char *v, const char *end, struct event_info *ev, const char **err)
{
	struct json_iter it;
	struct json_span k;
	const char *mv;
	size_t mlen;
	int r;
	bool has_commit = false, has_seq = false;
	unsigned seen = 0;

	if (json_iter_begin(&it, v, (size_t)(end - v)) < 0 || it.array) {
		*err = "\"source\" is not an object";
		return NULL;
	}
	while ((r = json_iter_next(&it, &k, &mv, &mlen, err)) == 1) {
		if (KEY_IS(&k, "schema")) {
			if (ONCE(0, "\"source.schema\"") < 0)
				return NULL;
			if (string_field(mv, mlen, &ev->schema, err, "source.schema is not a string") < 0)
				return NULL;
		} else if (KEY_IS(&k, "table")) {
			if (ONCE(1, "\"source.table\"") < 0)
				return NULL;
			if (string_field(mv, mlen, &ev->table, err, "source.table is not a string") < 0)
				return NULL;
		} else if (KEY_IS(&k, "db")) {
			if (ONCE(2, "\"source.db\"") < 0)
				return NULL;
			if (string_field(mv, mlen, &ev->db, err, "source.db is not a string") < 0)
				return NULL;
		} else if (KEY_IS(&k, "name")) {
			if (ONCE(3, "\"source.name\"") < 0)
				return NULL;
			if (string_field(mv, mlen, &ev->name, err, "source.name is not a string") < 0)
				return NULL;
		} else if (KEY_IS(&k, "snapshot")) {
			if (ONCE(4, "\"source.snapshot\"") < 0)
				return NULL;
			/* Debezium writes a string; accept a boolean too. */
			if (mlen == 4 && memcmp(mv, "true", 4) == 0) {
				ev->snapshot.p = "true";
				ev->snapshot.len = 4;
			} else if (mlen == 5 && memcmp(mv, "false", 5) == 0) {
				ev->snapshot.p = "false";
				ev->snapshot.len = 5;
			} else if (string_field(mv, mlen, &ev->snapshot, err,
						"source.snapshot is not a string") < 0) {
				return NULL;
			}
		} else if (KEY_IS(&k, "commit_lsn")) {
			if (ONCE(5, "\"source.commit_lsn\"") < 0)
				return NULL;
			if (!json_parse_u64(mv, mlen, &ev->pos.commit_lsn)) {
				*err = "source.commit_lsn is not an unsigned integer";
				return NULL;
			}
			has_commit = true;
		} else if (KEY_IS(&k, "seq")) {
			if (ONCE(6, "\"source.seq\"") < 0)
				return NULL;
			if (!json_parse_u64(mv, mlen, &ev->pos.seq)) {
				*err = "source.seq is not an unsigned integer";
				return NULL;
			}
			has_seq = true;
		} else if (KEY_IS(&k, "lsn")) {
			if (ONCE(7, "\"source.lsn\"") < 0)
				return NULL;
			if (!json_parse_u64(mv, mlen, &ev->lsn)) {
				*err = "source.lsn is not an unsigned integer";
				return NULL;
			}
			ev->has_lsn = true;
		} else if (KEY_IS(&k, "ts_ms")) {
			if (ONCE(8, "\"source.ts_ms\"") < 0)
				return NULL;
			if (!json_parse_i64(mv, mlen, &ev->ts_ms)) {
				*err = "source.ts_ms is not an integer";
				return NULL;
			}
			ev->has_ts = true;
		}
	}
	if (r < 0)
		return NULL;
	ev->has_pos = has_commit && has_seq;
	return it.p;
}

/*
 * An op written with escapes ("\u0063") is still its letter: point the span
 * at a static copy of a data op so op_is_data() and sel_match() see it.
 */
static void
normalize_op(struct json_span *op)
{
	static const char ops[] = "cudrtm";

	for (const char *o = ops; *o; o++) {
		char one[2] = { *o, '\0' };

		if (json_span_eq(op, one)) {
			op->p = o;
			op->len = 1;
			op->escaped = false;
			return;
		}
	}
}

int
event_scan_any(const char *line, size_t len, struct event_info *ev, const char **err)
{
	const char *end = line + len;
	struct json_iter it;
	struct json_span k;
	const char *v;
	size_t vlen;
	int r;
	bool have_op = false;
	unsigned seen = 0;

	memset(ev, 0, sizeof(*ev));
	if (json_iter_begin(&it, line, len) < 0 || it.array) {
		const char *p = json_ws(line, end);

		if (p >= end)
			*err = "empty line";
		else if (json_skip(p, end, err) != NULL)
			*err = "not a JSON object";
		return -1;
	}
	while ((r = json_iter_key(&it, &k, &v, err)) == 1) {
		if (KEY_IS(&k, "source")) {
			/* Walked once, not skipped and then walked. */
			if (ONCE(1, "\"source\"") < 0)
				return -1;
			if ((it.p = scan_source(v, end, ev, err)) == NULL)
				return -1;
			continue;
		}
		if (json_iter_skip(&it, &vlen, err) < 0)
			return -1;
		if (KEY_IS(&k, "op")) {
			if (ONCE(0, "\"op\"") < 0)
				return -1;
			if (vlen < 2 || v[0] != '"') {
				*err = "\"op\" is not a string";
				return -1;
			}
			ev->op.p = v + 1;
			ev->op.len = vlen - 2;
			ev->op.escaped = memchr(v + 1, '\\', vlen - 2) != NULL;
			have_op = true;
		} else if (KEY_IS(&k, "key")) {
			if (ONCE(2, "\"key\"") < 0)
				return -1;
			ev->key = v;
			ev->key_len = vlen;
		} else if (KEY_IS(&k, "after")) {
			if (ONCE(3, "\"after\"") < 0)
				return -1;
			ev->after = v;
			ev->after_len = vlen;
		} else if (KEY_IS(&k, "before")) {
			if (ONCE(4, "\"before\"") < 0)
				return -1;
			ev->before = v;
			ev->before_len = vlen;
		} else if (KEY_IS(&k, "unchanged_toast")) {
			if (ONCE(5, "\"unchanged_toast\"") < 0)
				return -1;
			ev->unchanged_toast = v;
			ev->unchanged_toast_len = vlen;
		}
	}
	if (r < 0)
		return -1;
	if (json_ws(it.p, end) != end) {
		*err = "trailing characters after the JSON object";
		return -1;
	}
	if (!have_op)
		return 0;
	if (ev->op.escaped)
		normalize_op(&ev->op);
	ev->control = !op_is_data(&ev->op);
	return 0;
}

int
event_scan(const char *line, size_t len, struct event_info *ev, const char **err)
{
	if (event_scan_any(line, len, ev, err) < 0)
		return -1;
	if (ev->op.p == NULL) {
		*err = "no \"op\" field";
		return -1;
	}
	return 0;
}

bool
event_in_snapshot(const struct event_info *ev)
{
	static const char *const in[] = {
		"true", "first", "first_in_data_collection", "last_in_data_collection", "last",
	};

	/* snapshot_end closes the snapshot: a checkpoint there is past it. */
	if (ev->snapshot.p == NULL || json_span_eq(&ev->op, "snapshot_end"))
		return false;
	/* The common case, without decoding. */
	if (!ev->snapshot.escaped && ev->snapshot.len == 5 && memcmp(ev->snapshot.p, "false", 5) == 0)
		return false;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		if (json_span_eq(&ev->snapshot, in[i]))
			return true;
	return false;
}
