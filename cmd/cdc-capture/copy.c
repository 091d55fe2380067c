/*
 * copy.c: COPY text rows -> snapshot events (see copy.h).
 *
 * The row format is PostgreSQL's COPY TO text format (the "File Formats"
 * section of the COPY reference page): fields separated by the delimiter
 * (tab), the row ended by a newline, NULL written as \N, and a backslash
 * introducing \b \f \n \r \t \v, \\, \digits (one to three octal digits)
 * or \xhh (one or two hex digits); a backslash before any other character
 * stands for that character.  A data tab or newline is always escaped, so
 * splitting on raw tabs is exact.
 */
#include "copy.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

void
copy_table_init(struct snap_table *t, uint32_t oid, const char *schema, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->oid = oid;
	t->schema = xstrdup(schema);
	t->name = xstrdup(name);
	t->relkind = 'r';
	t->reltuples = -1;
}

void
copy_table_add_col(struct snap_table *t, const char *name, uint32_t typoid, bool is_key)
{
	struct snap_col *c;
	struct buf k = BUF_INIT;

	t->cols = xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof(*t->cols));
	c = &t->cols[t->ncols++];
	c->name = xstrdup(name);
	json_add_cstr(&k, name);
	buf_addc(&k, ':');
	c->jkey = buf_detach(&k, &c->jkeylen);
	c->typoid = typoid;
	c->is_key = c->is_ri = is_key;
	c->is_pk = false;
	if (is_key)
		t->nkeys++;
}

void
copy_table_choose_key(struct snap_table *t, char replident, int npk)
{
	int present = 0, in_ri = 0;
	bool use_pk;

	for (int i = 0; i < t->ncols; i++) {
		if (t->cols[i].is_pk) {
			present++;
			in_ri += t->cols[i].is_ri;
		}
	}
	use_pk = key_use_pk(replident, npk, present, in_ri);
	t->nkeys = 0;
	for (int i = 0; i < t->ncols; i++) {
		struct snap_col *c = &t->cols[i];

		c->is_key = use_pk ? c->is_pk : c->is_ri;
		t->nkeys += c->is_key;
	}
}

void
copy_table_free(struct snap_table *t)
{
	for (int i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].jkey);
	}
	free(t->cols);
	free(t->schema);
	free(t->name);
	free(t->filter);
	buf_release(&t->head);
	buf_release(&t->mid);
	buf_release(&t->tail);
	buf_release(&t->held);
	memset(t, 0, sizeof(*t));
}

void
rowfmt_init(struct row_formatter *f, struct typemap *tm, const struct event_ctx *ctx,
	    uint64_t lsn, int64_t ts_us)
{
	memset(f, 0, sizeof(*f));
	f->tm = tm;
	f->ctx = ctx;
	f->lsn = lsn;
	f->ts_us = ts_us;
}

void
rowfmt_free(struct row_formatter *f)
{
	buf_release(&f->line);
	buf_release(&f->field);
	free(f->vpos);
	f->vpos = NULL;
	f->vcap = 0;
}

/* Find needle in hay, the first (last == false) or last occurrence. */
static const char *
find(const char *hay, size_t n, const char *needle, bool last)
{
	size_t m = strlen(needle);
	const char *hit = NULL;

	for (size_t i = 0; i + m <= n; i++) {
		if (memcmp(hay + i, needle, m) == 0) {
			hit = hay + i;
			if (!last)
				break;
		}
	}
	return hit;
}

/* The source of a snapshot row. */
static struct event_src
row_src(const struct row_formatter *f, const struct snap_table *t, uint64_t seq, const char *marker)
{
	return (struct event_src){ .schema = t->schema, .table = t->name, .lsn = f->lsn, .commit_lsn = f->lsn,
				   .seq = seq, .ts_us = f->ts_us, .snapshot = marker, .tx_member = true };
}

#define SEQ_PROBE 987654321
#define MARK_PROBE "@@MARK@@"
#define NS_PROBE 1234567890123456789LL

/*
 * event_source() is the one definition of the envelope.  Calling it per
 * row costs more than the row's values (it formats the constant source
 * members every time), so the snapshot asks it once per table and keeps
 * its bytes: head ends with "seq":, mid runs from after the seq digits to
 * the snapshot marker's opening quote, tail from its closing quote to the
 * top-level times, which event_times() writes.  Names are JSON-escaped
 * inside, so the probes below cannot occur within a string; anything
 * unexpected turns the template off.
 */
void
copy_table_template(struct row_formatter *f, struct snap_table *t)
{
	struct buf b = BUF_INIT, check = BUF_INIT, times = BUF_INIT;
	struct event_src src = row_src(f, t, SEQ_PROBE, MARK_PROBE);
	const char *seq, *mark, *ts;

	t->tmpl = false;
	buf_reset(&t->head);
	buf_reset(&t->mid);
	buf_reset(&t->tail);
	event_source(&b, f->ctx, &src, NS_PROBE);
	event_times(&times, f->ctx, NS_PROBE);
	seq = find(b.data, b.len, ",\"seq\":987654321,", false);
	mark = find(b.data, b.len, "\"snapshot\":\"" MARK_PROBE "\"", false);
	ts = b.len > times.len ? b.data + b.len - times.len : NULL;
	if (seq && mark && ts && seq < mark && mark < ts && memcmp(ts, times.data, times.len) == 0) {
		seq += strlen(",\"seq\":");
		mark += strlen("\"snapshot\":\"");
		buf_add(&t->head, b.data, (size_t)(seq - b.data));
		buf_add(&t->mid, seq + 9, (size_t)(mark - (seq + 9)));
		buf_add(&t->tail, mark + strlen(MARK_PROBE), (size_t)(ts - (mark + strlen(MARK_PROBE))));
		/* Same bytes as event_source() for another seq and marker? */
		src = row_src(f, t, 42, "last");
		event_source(&check, f->ctx, &src, 7);
		buf_reset(&b);
		buf_add(&b, t->head.data, t->head.len);
		json_add_u64(&b, 42);
		buf_add(&b, t->mid.data, t->mid.len);
		buf_adds(&b, "last");
		buf_add(&b, t->tail.data, t->tail.len);
		event_times(&b, f->ctx, 7);
		if (check.len == b.len && memcmp(check.data, b.data, b.len) == 0)
			t->tmpl = true;
	}
	buf_release(&b);
	buf_release(&check);
	buf_release(&times);
}

static inline void
add_u64(struct buf *b, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_grow(b, 24);
	while (n > 0)
		b->data[b->len++] = tmp[--n];
	b->data[b->len] = '\0';
}


void
copy_unescape(struct buf *out, const char *s, size_t n)
{
	size_t i = 0;

	buf_grow(out, n);
	while (i < n) {
		const char *bs = memchr(s + i, '\\', n - i);
		size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
		char c;

		memcpy(out->data + out->len, s + i, run);
		out->len += run;
		i += run;
		if (i >= n)
			break;
		i++;		/* the backslash */
		if (i >= n) {
			out->data[out->len++] = '\\';	/* a lone trailing backslash: keep it */
			break;
		}
		c = s[i++];
		switch (c) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'v': c = '\v'; break;
		case 'x':
			if (i < n && hexval(s[i]) >= 0) {
				int v = hexval(s[i++]);

				if (i < n && hexval(s[i]) >= 0)
					v = v * 16 + hexval(s[i++]);
				c = (char)v;
			}
			break;
		default:
			if (c >= '0' && c <= '7') {
				int v = c - '0';

				if (i < n && s[i] >= '0' && s[i] <= '7') {
					v = v * 8 + (s[i++] - '0');
					if (i < n && s[i] >= '0' && s[i] <= '7')
						v = v * 8 + (s[i++] - '0');
				}
				c = (char)v;
			}
			break;
		}
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
}

int
copy_row_body(struct row_formatter *f, const struct snap_table *t, const char *row, size_t len,
	      struct buf *b)
{
	const char *p = row, *end = row + len;
	static const char open[] = "{\"op\":\"r\",\"before\":null,\"after\":{";

	if (len > 0 && end[-1] == '\n')
		end--;
	if (f->vcap < t->ncols) {
		f->vcap = t->ncols;
		f->vpos = xrealloc(f->vpos, (size_t)f->vcap * 2 * sizeof(*f->vpos));
	}
	buf_reset(b);
	buf_add(b, open, sizeof(open) - 1);
	for (int i = 0; i < t->ncols; i++) {
		const struct snap_col *c = &t->cols[i];
		const char *tab;
		size_t n;

		if (p > end || (i > 0 && p == end && p[-1] != '\t'))
			return -1;
		tab = memchr(p, '\t', (size_t)(end - p));
		n = tab ? (size_t)(tab - p) : (size_t)(end - p);
		if (i > 0)
			buf_addc(b, ',');
		buf_add(b, c->jkey, c->jkeylen);
		f->vpos[2 * i] = b->len;
		if (n == 2 && p[0] == '\\' && p[1] == 'N') {
			buf_add(b, "null", 4);
		} else if (memchr(p, '\\', n) == NULL) {
			typemap_value(f->tm, b, c->typoid, p, n);
		} else {
			buf_reset(&f->field);
			copy_unescape(&f->field, p, n);
			typemap_value(f->tm, b, c->typoid, f->field.data, f->field.len);
		}
		f->vpos[2 * i + 1] = b->len;
		p += n;
		if (tab)
			p++;	/* past the tab */
		else
			p = end + 1;	/* no more fields */
	}
	if (t->ncols > 0 ? p <= end : p != end)
		return -1;	/* more fields than columns */
	f->key_at = b->len + 8;	/* past },"key": */
	if (t->nkeys == 0) {
		buf_add(b, "},\"key\":null", 12);
	} else {
		bool first = true;

		buf_add(b, "},\"key\":{", 9);
		for (int i = 0; i < t->ncols; i++) {
			const struct snap_col *c = &t->cols[i];
			size_t vs = f->vpos[2 * i], vn = f->vpos[2 * i + 1] - vs;

			if (!c->is_key)
				continue;
			if (!first)
				buf_addc(b, ',');
			first = false;
			buf_add(b, c->jkey, c->jkeylen);
			/* Copy the value already formatted in after (grow first:
			 * the source lives in the same buffer). */
			buf_grow(b, vn);
			memcpy(b->data + b->len, b->data + vs, vn);
			b->len += vn;
			b->data[b->len] = '\0';
		}
		buf_addc(b, '}');
	}
	return 0;
}

void
copy_row_tail(struct row_formatter *f, const struct snap_table *t, uint64_t seq, const char *marker,
	      int64_t now_ns, struct buf *b)
{
	if (t->tmpl) {
		buf_add(b, t->head.data, t->head.len);
		add_u64(b, seq);
		buf_add(b, t->mid.data, t->mid.len);
		buf_adds(b, marker);
		buf_add(b, t->tail.data, t->tail.len);
		event_times(b, f->ctx, now_ns);
	} else {
		struct event_src src = row_src(f, t, seq, marker);

		event_source(b, f->ctx, &src, now_ns);
	}
}

int
copy_row_event(struct row_formatter *f, const struct snap_table *t, const char *row, size_t len,
	       uint64_t seq, int64_t now_ns)
{
	if (copy_row_body(f, t, row, len, &f->line) < 0)
		return -1;
	copy_row_tail(f, t, seq, "true", now_ns, &f->line);
	return 0;
}
