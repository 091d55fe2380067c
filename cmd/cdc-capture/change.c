/*
 * change.c: decoded pgoutput changes -> event lines (cdc-events(7)).
 *
 * Unchanged TOAST: pgoutput sends a column whose out-of-line value did not
 * change as 'u' instead of its value.  When the server also sent the old
 * tuple (REPLICA IDENTITY FULL) the value is taken from there; otherwise
 * the column is left out of "after" and named in "unchanged_toast".  It is
 * never written as null: that would erase the value downstream.
 */
#include "change.h"

#include <string.h>

#include "json.h"

void
change_fmt_init(struct change_fmt *f, struct typemap *tm, const struct event_ctx *ctx)
{
	f->tm = tm;
	f->ctx = ctx;
	f->toast = (struct buf)BUF_INIT;
}

void
change_fmt_release(struct change_fmt *f)
{
	buf_release(&f->toast);
}

static void
add_val(struct change_fmt *f, struct buf *out, const struct pgo_col *c, const struct pgo_val *v)
{
	if (v->kind == 't')
		typemap_value(f->tm, out, c->typoid, v->data, v->len);
	else if (v->kind == 'b')
		json_add_base64(out, v->data, v->len);	/* never requested */
	else
		buf_adds(out, "null");
}

/*
 * The value of column i: from tup, or for an unchanged TOAST marker from
 * old when it has the value.  NULL when there is no value to write.
 */
static const struct pgo_val *
col_val(const struct pgo_tuple *tup, const struct pgo_tuple *old, int i)
{
	const struct pgo_val *v;

	if (i >= tup->ncols)
		return NULL;
	v = &tup->vals[i];
	if (v->kind != 'u')
		return v;
	if (old && i < old->ncols && old->vals[i].kind != 'u')
		return &old->vals[i];
	return NULL;
}

/* Which columns of a tuple add_tuple() writes. */
enum cols {
	ALL_COLS,		/* a row image */
	KEY_COLS,		/* the event "key" (pgo_rel_set_key()) */
	RI_COLS,		/* an old key 'K' tuple: the replica identity columns the server sent */
};

/*
 * Append a row image as a JSON object, with the columns which says.
 * toast: where to list columns left out as unchanged TOAST (NULL: just
 * leave them out).
 */
static void
add_tuple(struct change_fmt *f, struct buf *out, const struct pgo_rel *rel, const struct pgo_tuple *tup,
	  const struct pgo_tuple *old, enum cols which, struct buf *toast)
{
	bool first = true;

	buf_addc(out, '{');
	for (int i = 0; i < rel->ncols && i < tup->ncols; i++) {
		const struct pgo_col *c = &rel->cols[i];
		const struct pgo_val *v;

		if ((which == KEY_COLS && !c->key) || (which == RI_COLS && !c->ri))
			continue;
		v = col_val(tup, old, i);
		if (!v) {
			if (toast) {
				if (toast->len)
					buf_addc(toast, ',');
				json_add_cstr(toast, c->name);
			}
			continue;
		}
		if (!first)
			buf_addc(out, ',');
		first = false;
		buf_add(out, c->jkey, c->jkeylen);
		add_val(f, out, c, v);
	}
	buf_addc(out, '}');
}

static void
add_source(struct change_fmt *f, struct buf *out, const struct pgo_rel *rel, struct event_src *p)
{
	p->schema = rel ? rel->nspname : NULL;
	p->table = rel ? rel->relname : NULL;
	event_source(out, f->ctx, p, event_now_ns());
}

/* Do two column values hold the same bytes? */
static bool
val_eq(const struct pgo_val *a, const struct pgo_val *b)
{
	return a->kind == b->kind && a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

bool
change_key_changed(const struct pgo_msg *m)
{
	const struct pgo_rel *rel = m->rel;

	/* A key that is the whole row (FULL, no primary key) identifies no
	 * row across an update: Debezium has no key there either. */
	if (m->type != 'U' || !m->oldkind || !rel->has_key || rel->key_is_row)
		return false;
	for (int i = 0; i < rel->ncols; i++) {
		const struct pgo_col *c = &rel->cols[i];
		const struct pgo_val *o, *n;

		if (!c->key || i >= m->newtup.ncols || i >= m->oldtup.ncols)
			continue;
		/* An old key 'K' holds only the replica identity columns. */
		if (m->oldkind == 'K' && !c->ri)
			continue;
		o = &m->oldtup.vals[i];
		n = &m->newtup.vals[i];
		if (n->kind == 'u' || o->kind == 'u')
			continue;	/* unchanged TOAST: the same value */
		if (!val_eq(o, n))
			return true;
	}
	return false;
}

bool
change_new_row_complete(const struct pgo_msg *m)
{
	const struct pgo_tuple *full_old = m->oldkind == 'O' ? &m->oldtup : NULL;

	for (int i = 0; i < m->rel->ncols && i < m->newtup.ncols; i++)
		if (!col_val(&m->newtup, full_old, i))
			return false;
	return true;
}

static void
add_toast(struct change_fmt *f, struct buf *out)
{
	if (f->toast.len) {
		buf_adds(out, ",\"unchanged_toast\":[");
		buf_add(out, f->toast.data, f->toast.len);
		buf_addc(out, ']');
	}
}

/* The d event of a delete, or of the old key of an update that changed it. */
static void
format_delete(struct change_fmt *f, struct buf *out, const struct pgo_rel *rel, const struct pgo_msg *m)
{
	buf_adds(out, "{\"op\":\"d\",\"before\":");
	add_tuple(f, out, rel, &m->oldtup, NULL, m->oldkind == 'K' ? RI_COLS : ALL_COLS, NULL);
	buf_adds(out, ",\"after\":null,\"key\":");
	if (rel->has_key)
		add_tuple(f, out, rel, &m->oldtup, NULL, KEY_COLS, NULL);
	else
		buf_adds(out, "null");
}

void
change_format(struct change_fmt *f, struct buf *out, const struct pgo_msg *m, enum change_part part,
	      struct event_src *p)
{
	const struct pgo_rel *rel = m->rel;
	const struct pgo_tuple *old = m->oldkind ? &m->oldtup : NULL;
	/* The old tuple 'O' has every column; 'K' only the key ones. */
	const struct pgo_tuple *full_old = m->oldkind == 'O' ? &m->oldtup : NULL;

	buf_reset(&f->toast);
	if (part == CHANGE_OLD_KEY) {
		format_delete(f, out, rel, m);
	} else if (m->type == 'I' || part == CHANGE_NEW_KEY) {
		/* An insert; or the new row of an update that changed the key,
		 * TOASTed values it did not change taken from the old row. */
		buf_adds(out, "{\"op\":\"c\",\"before\":null,\"after\":");
		add_tuple(f, out, rel, &m->newtup, full_old, ALL_COLS, &f->toast);
		buf_adds(out, ",\"key\":");
		if (rel->has_key)
			add_tuple(f, out, rel, &m->newtup, old, KEY_COLS, NULL);
		else
			buf_adds(out, "null");
	} else if (m->type == 'U') {
		/* before: the old row (FULL), or the old replica identity when it
		 * changed ('K'), so a consumer can remove the row's old key. */
		buf_adds(out, "{\"op\":\"u\",\"before\":");
		if (old)
			add_tuple(f, out, rel, old, NULL, m->oldkind == 'K' ? RI_COLS : ALL_COLS, NULL);
		else
			buf_adds(out, "null");
		buf_adds(out, ",\"after\":");
		add_tuple(f, out, rel, &m->newtup, full_old, ALL_COLS, &f->toast);
		/* key: the row's key after the update (an unchanged TOASTed key
		 * value from the old tuple). */
		buf_adds(out, ",\"key\":");
		if (rel->has_key)
			add_tuple(f, out, rel, &m->newtup, old, KEY_COLS, NULL);
		else
			buf_adds(out, "null");
	} else { /* 'D' */
		format_delete(f, out, rel, m);
	}
	add_toast(f, out);
	add_source(f, out, rel, p);
}

void
change_keys(struct change_fmt *f, const struct pgo_msg *m, struct buf *key, struct buf *old)
{
	const struct pgo_rel *rel = m->rel;
	const struct pgo_tuple *o = m->oldkind ? &m->oldtup : NULL;

	buf_reset(key);
	buf_reset(old);
	if (!rel->has_key)
		return;
	if (m->type == 'I' || m->type == 'U')
		add_tuple(f, key, rel, &m->newtup, o, KEY_COLS, NULL);
	if (o && (m->type == 'D' || m->type == 'U'))
		add_tuple(f, old, rel, o, NULL, KEY_COLS, NULL);
}

void
truncate_format(struct change_fmt *f, struct buf *out, const struct pgo_rel *rel, uint8_t options,
		struct event_src *p)
{
	buf_adds(out, "{\"op\":\"t\",\"before\":null,\"after\":null,\"key\":null,\"truncate\":{\"cascade\":");
	buf_adds(out, options & 1 ? "true" : "false");
	buf_adds(out, ",\"restart_identity\":");
	buf_adds(out, options & 2 ? "true" : "false");
	buf_addc(out, '}');
	add_source(f, out, rel, p);
}

void
message_format(struct change_fmt *f, struct buf *out, const struct pgo_msg *m, struct event_src *p)
{
	buf_adds(out, "{\"op\":\"m\",\"message\":{\"prefix\":");
	json_add_cstr(out, m->prefix);
	buf_adds(out, ",\"content\":");
	json_add_base64(out, m->content, m->content_len);
	buf_adds(out, ",\"transactional\":");
	buf_adds(out, m->flags & 1 ? "true" : "false");
	buf_addc(out, '}');
	add_source(f, out, NULL, p);
}

void
control_format(struct change_fmt *f, struct buf *out, const char *op, long long events,
	       const struct change_tally *tally, int ntally, uint64_t first_lsn, struct event_src *p)
{
	bool begin = strcmp(op, "begin") == 0, commit = strcmp(op, "commit") == 0;

	buf_adds(out, "{\"op\":\"");
	buf_adds(out, op);
	buf_addc(out, '"');
	if (p->xid) {
		buf_adds(out, ",\"tx\":{\"id\":");
		json_add_u64(out, p->xid);
		if (events >= 0) {
			buf_adds(out, ",\"events\":");
			json_add_i64(out, events);
		}
		buf_addc(out, '}');
	}
	if (begin || commit) {
		/* Debezium's transaction record (provide.transaction.metadata). */
		buf_adds(out, begin ? ",\"status\":\"BEGIN\",\"id\":\"" : ",\"status\":\"END\",\"id\":\"");
		json_add_u64(out, p->xid);
		buf_addc(out, ':');
		json_add_u64(out, first_lsn);
		buf_adds(out, "\",\"event_count\":");
		if (commit) {
			json_add_i64(out, events);
			buf_adds(out, ",\"data_collections\":[");
			for (int i = 0; i < ntally; i++) {
				struct buf name = BUF_INIT;

				buf_adds(&name, tally[i].schema);
				buf_addc(&name, '.');
				buf_adds(&name, tally[i].table);
				buf_adds(out, i ? ",{\"data_collection\":" : "{\"data_collection\":");
				json_add_str(out, name.data, name.len);
				buf_adds(out, ",\"event_count\":");
				json_add_u64(out, tally[i].events);
				buf_addc(out, '}');
				buf_release(&name);
			}
			buf_addc(out, ']');
		} else {
			buf_adds(out, "null,\"data_collections\":null");
		}
	}
	{
		struct event_src q = *p;

		q.tx_member = false;
		add_source(f, out, NULL, &q);
	}
}
