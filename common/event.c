/*
 * The event scanner: the envelope members programs route on, read without
 * building a tree.  Layout of an event: cdc-events(7).
 */
#include "event.h"

#include <stdlib.h>
#include <string.h>

bool
op_is_data(const struct json_span *op)
{
	if (op->len != 1 || op->escaped)
		return false;
	switch (op->p[0]) {
	case 'c': case 'u': case 'd': case 'r': case 't': case 'm':
		return true;
	}
	return false;
}

/*
 * The members the scanner reads, by index; it is also their bit in the
 * once() set.  Member names are compared decoded: "af\u0074er" is "after".
 * A program that missed it would pass an event's row image on unredacted,
 * or drop an event its --table names.
 */
enum { T_OP, T_SOURCE, T_KEY, T_AFTER, T_BEFORE, T_TOAST, T_N };
static const char *const top_names[T_N] = { "op", "source", "key", "after", "before", "unchanged_toast" };
enum { S_SCHEMA, S_TABLE, S_DB, S_NAME, S_SNAPSHOT, S_COMMIT_LSN, S_SEQ, S_LSN, S_TS_MS, S_N };
static const char *const src_names[S_N] = {
	"schema", "table", "db", "name", "snapshot", "commit_lsn", "seq", "lsn", "ts_ms",
};

/* A name written with escapes: which of names[] it decodes to, or -1. */
static int
escaped_index(const struct json_span *k, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (json_span_eq(k, names[i]))
			return i;
	return -1;
}

#define IS(k, lit) (memcmp((k)->p, lit, sizeof(lit) - 1) == 0)

static int
top_index(const struct json_span *k)
{
	if (k->escaped)
		return escaped_index(k, top_names, T_N);
	switch (k->len) {
	case 2: return IS(k, "op") ? T_OP : -1;
	case 3: return IS(k, "key") ? T_KEY : -1;
	case 5: return IS(k, "after") ? T_AFTER : -1;
	case 6: return IS(k, "source") ? T_SOURCE : IS(k, "before") ? T_BEFORE : -1;
	case 15: return IS(k, "unchanged_toast") ? T_TOAST : -1;
	}
	return -1;
}

static int
source_index(const struct json_span *k)
{
	if (k->escaped)
		return escaped_index(k, src_names, S_N);
	switch (k->len) {
	case 2: return IS(k, "db") ? S_DB : -1;
	case 3: return IS(k, "seq") ? S_SEQ : IS(k, "lsn") ? S_LSN : -1;
	case 4: return IS(k, "name") ? S_NAME : -1;
	case 5: return IS(k, "table") ? S_TABLE : IS(k, "ts_ms") ? S_TS_MS : -1;
	case 6: return IS(k, "schema") ? S_SCHEMA : -1;
	case 8: return IS(k, "snapshot") ? S_SNAPSHOT : -1;
	case 10: return IS(k, "commit_lsn") ? S_COMMIT_LSN : -1;
	}
	return -1;
}

/*
 * A member the scanner reads must come once: with two "after" members (one
 * maybe written "af\u0074er"), readers that keep the first and readers that
 * keep the last (jq) would see different rows, and a redaction of one
 * would leave the other.  msg: i's "duplicate member" message.
 */
static int
once(unsigned *seen, int i, const char *const *msg, const char **err)
{
	if (*seen & 1u << i) {
		*err = msg[i];
		return -1;
	}
	*seen |= 1u << i;
	return 0;
}
static const char *const top_dup[T_N] = {
	"duplicate member \"op\"", "duplicate member \"source\"", "duplicate member \"key\"",
	"duplicate member \"after\"", "duplicate member \"before\"",
	"duplicate member \"unchanged_toast\"",
};
static const char *const src_dup[S_N] = {
	"duplicate member \"source.schema\"", "duplicate member \"source.table\"",
	"duplicate member \"source.db\"", "duplicate member \"source.name\"",
	"duplicate member \"source.snapshot\"", "duplicate member \"source.commit_lsn\"",
	"duplicate member \"source.seq\"", "duplicate member \"source.lsn\"",
	"duplicate member \"source.ts_ms\"",
};

static int
string_field(const struct json_member *m, struct json_span *out, const char **err, const char *what)
{
	const char *v = m->v;
	size_t vlen = m->vlen;

	if (vlen == 4 && memcmp(v, "null", 4) == 0)
		return 0;
	if (vlen < 2 || v[0] != '"') {
		*err = what;
		return -1;
	}
	out->p = v + 1;
	out->len = vlen - 2;
	out->escaped = m->vesc;
	return 0;
}

/* One member of "source". */
static int
source_member(const struct json_member *m, struct event_info *ev, unsigned *seen, const char **err)
{
	const char *v = m->v;
	size_t vlen = m->vlen;
	int i = source_index(&m->key);

	if (i < 0)
		return 0;
	if (once(seen, i, src_dup, err) < 0)
		return -1;
	switch (i) {
	case S_SCHEMA:
		return string_field(m, &ev->schema, err, "source.schema is not a string");
	case S_TABLE:
		return string_field(m, &ev->table, err, "source.table is not a string");
	case S_DB:
		return string_field(m, &ev->db, err, "source.db is not a string");
	case S_NAME:
		return string_field(m, &ev->name, err, "source.name is not a string");
	case S_SNAPSHOT:
		/* Debezium writes a string; accept a boolean too. */
		if (vlen == 4 && memcmp(v, "true", 4) == 0) {
			ev->snapshot.p = "true";
			ev->snapshot.len = 4;
			return 0;
		}
		if (vlen == 5 && memcmp(v, "false", 5) == 0) {
			ev->snapshot.p = "false";
			ev->snapshot.len = 5;
			return 0;
		}
		return string_field(m, &ev->snapshot, err, "source.snapshot is not a string");
	case S_COMMIT_LSN:
		if (json_parse_u64(v, vlen, &ev->pos.commit_lsn))
			return 0;
		*err = "source.commit_lsn is not an unsigned integer";
		return -1;
	case S_SEQ:
		if (json_parse_u64(v, vlen, &ev->pos.seq))
			return 0;
		*err = "source.seq is not an unsigned integer";
		return -1;
	case S_LSN:
		if ((ev->has_lsn = json_parse_u64(v, vlen, &ev->lsn)))
			return 0;
		*err = "source.lsn is not an unsigned integer";
		return -1;
	case S_TS_MS:
		if ((ev->has_ts = json_parse_i64(v, vlen, &ev->ts_ms)))
			return 0;
		*err = "source.ts_ms is not an integer";
		return -1;
	}
	return 0;
}

/* One member of the event object. */
static int
top_member(const struct json_member *m, struct event_info *ev, unsigned *seen, const char **err)
{
	const char *v = m->v;
	size_t vlen = m->vlen;
	int i = top_index(&m->key);

	if (i < 0)
		return 0;
	if (once(seen, i, top_dup, err) < 0)
		return -1;
	switch (i) {
	case T_OP:
		if (vlen < 2 || v[0] != '"') {
			*err = "\"op\" is not a string";
			return -1;
		}
		ev->op.p = v + 1;
		ev->op.len = vlen - 2;
		ev->op.escaped = m->vesc;
		break;
	case T_SOURCE:
		if (v[0] != '{') {
			*err = "\"source\" is not an object";
			return -1;
		}
		break;
	case T_KEY:
		ev->key = v;
		ev->key_len = vlen;
		break;
	case T_AFTER:
		ev->after = v;
		ev->after_len = vlen;
		break;
	case T_BEFORE:
		ev->before = v;
		ev->before_len = vlen;
		break;
	case T_TOAST:
		ev->unchanged_toast = v;
		ev->unchanged_toast_len = vlen;
		break;
	}
	return 0;
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

/* The members of the event and of its source, walked in one pass. */
static int
scan_members(const char *p, const char *end, struct json_members *jm, struct event_info *ev,
	     const char **err)
{
	unsigned seen = 0, sseen = 0;

	if ((p = json_members(p, end, jm, err)) == NULL)
		return -1;
	if (json_ws(p, end) != end) {
		*err = "trailing characters after the JSON object";
		return -1;
	}
	if (jm->n > jm->max || jm->nsub > jm->submax)
		return 1;	/* more than the caller kept: again with room for all */
	for (int i = 0; i < jm->n; i++)
		if (top_member(&jm->m[i], ev, &seen, err) < 0)
			return -1;
	if (seen & 1u << T_SOURCE) {
		for (int i = 0; i < jm->nsub; i++)
			if (source_member(&jm->sub[i], ev, &sseen, err) < 0)
				return -1;
		ev->has_pos = (sseen & 1u << S_COMMIT_LSN) && (sseen & 1u << S_SEQ);
	}
	return 0;
}

int
event_scan_any(const char *line, size_t len, struct event_info *ev, const char **err)
{
	const char *end = line + len, *p = json_ws(line, end);
	struct json_member top[32], src[64];
	struct json_members jm = { .m = top, .max = 32, .open = "source", .open_len = 6, .sub = src,
				   .submax = 64 };
	int r;

	memset(ev, 0, sizeof(*ev));
	if (p >= end || *p != '{') {
		if (p >= end)
			*err = "empty line";
		else if (json_skip(p, end, err) != NULL)
			*err = "not a JSON object";
		return -1;
	}
	if ((r = scan_members(p, end, &jm, ev, err)) == 1) {
		/* Rare: more members than fit above. */
		struct json_members big = {
			.m = xcalloc((size_t)jm.n, sizeof(*big.m)), .max = jm.n, .open = "source", .open_len = 6,
			.sub = xcalloc((size_t)jm.nsub + 1, sizeof(*big.sub)), .submax = jm.nsub,
		};

		r = scan_members(p, end, &big, ev, err);
		free(big.m);
		free(big.sub);
	}
	if (r < 0)
		return -1;
	if (ev->op.p == NULL)
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
	if (ev->snapshot.p == NULL || (ev->control && json_span_eq(&ev->op, "snapshot_end")))
		return false;
	/* The common case, without decoding. */
	if (!ev->snapshot.escaped && ev->snapshot.len == 5 && memcmp(ev->snapshot.p, "false", 5) == 0)
		return false;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		if (json_span_eq(&ev->snapshot, in[i]))
			return true;
	return false;
}
