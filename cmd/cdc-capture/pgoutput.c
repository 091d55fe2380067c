/*
 * pgoutput.c: decoding pgoutput protocol version 1 messages.
 *
 * Layouts implemented (PostgreSQL manual, "Logical Replication Message
 * Formats"; all integers big-endian; String = NUL-terminated):
 *
 *   B  Int64 final_lsn, Int64 commit_ts, Int32 xid
 *   C  Int8 flags, Int64 commit_lsn, Int64 end_lsn, Int64 commit_ts
 *   O  Int64 origin commit lsn, String origin name
 *   R  Int32 relid, String namespace, String relname, Int8 replica identity,
 *      Int16 ncols, then per column: Int8 flags (1 = key), String name,
 *      Int32 type oid, Int32 typmod
 *   Y  Int32 type oid, String namespace, String name
 *   I  Int32 relid, 'N', TupleData
 *   U  Int32 relid, optional ('K' | 'O', TupleData), 'N', TupleData
 *   D  Int32 relid, 'K' | 'O', TupleData
 *   T  Int32 nrels, Int8 options (1 cascade, 2 restart identity), Int32 relid[nrels]
 *   M  Int8 flags (1 transactional), Int64 lsn, String prefix, Int32 len, bytes
 *   TupleData: Int16 ncols, per column 'n' | 'u' | ('t' | 'b', Int32 len, bytes)
 *
 * The namespace of a relation in pg_catalog is sent as an empty string.
 */
#include "pgoutput.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "json.h"

struct pgoutput {
	struct pgo_rel **tab;	/* open addressing by relid, power-of-two size */
	size_t tabsz, tabused;
};

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static uint8_t
rd_u8(struct rd *r)
{
	if (r->end - r->p < 1) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

static uint16_t
rd_u16(struct rd *r)
{
	uint16_t v;

	if (r->end - r->p < 2) {
		r->bad = true;
		return 0;
	}
	v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static uint32_t
rd_u32(struct rd *r)
{
	uint32_t v;

	if (r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static uint64_t
rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);

	return hi << 32 | rd_u32(r);
}

/* A NUL-terminated string inside the message (points into it). */
static const char *
rd_str(struct rd *r)
{
	const unsigned char *nul;

	if (r->bad)
		return "";
	nul = memchr(r->p, '\0', (size_t)(r->end - r->p));
	if (!nul) {
		r->bad = true;
		return "";
	}
	const char *s = (const char *)r->p;

	r->p = nul + 1;
	return s;
}

int64_t
pgo_ts_to_ms(int64_t pgts)
{
	/* 946684800 s between 1970-01-01 and 2000-01-01; floor division. */
	int64_t ms = pgts / 1000;

	if (pgts % 1000 < 0)
		ms--;
	return ms + 946684800000LL;
}

int64_t
pgo_ts_to_us(int64_t pgts)
{
	/* A timestamp from the wire may be anything: saturate instead of overflowing. */
	if (pgts > INT64_MAX - 946684800000000LL)
		return INT64_MAX;
	return pgts + 946684800000000LL;
}

struct pgoutput *
pgo_new(void)
{
	return xcalloc(1, sizeof(struct pgoutput));
}

static void
rel_free(struct pgo_rel *rel)
{
	if (!rel)
		return;
	for (int i = 0; i < rel->ncols; i++) {
		free(rel->cols[i].name);
		free(rel->cols[i].jkey);
	}
	free(rel->cols);
	free(rel->nspname);
	free(rel->relname);
	free(rel);
}

void
pgo_reset(struct pgoutput *d)
{
	for (size_t i = 0; i < d->tabsz; i++) {
		rel_free(d->tab[i]);
		d->tab[i] = NULL;
	}
	d->tabused = 0;
}

void
pgo_free(struct pgoutput *d)
{
	if (!d)
		return;
	pgo_reset(d);
	free(d->tab);
	free(d);
}

static size_t
slot_of(const struct pgoutput *d, uint32_t relid)
{
	size_t mask = d->tabsz - 1;
	size_t i = (relid * 2654435761u) & mask;

	while (d->tab[i] && d->tab[i]->relid != relid)
		i = (i + 1) & mask;
	return i;
}

struct pgo_rel *
pgo_relation(struct pgoutput *d, uint32_t relid)
{
	if (!d->tab)
		return NULL;
	return d->tab[slot_of(d, relid)];
}

/* Put rel in the cache, replacing (and freeing) an older description. */
static void
rel_put(struct pgoutput *d, struct pgo_rel *rel)
{
	size_t i;

	if ((d->tabused + 1) * 2 > d->tabsz) {
		struct pgo_rel **old = d->tab;
		size_t oldsz = d->tabsz;

		d->tabsz = oldsz ? oldsz * 2 : 64;
		d->tab = xcalloc(d->tabsz, sizeof(*d->tab));
		for (size_t j = 0; j < oldsz; j++)
			if (old[j])
				d->tab[slot_of(d, old[j]->relid)] = old[j];
		free(old);
	}
	i = slot_of(d, rel->relid);
	if (d->tab[i])
		rel_free(d->tab[i]);
	else
		d->tabused++;
	d->tab[i] = rel;
}

void
pgo_msg_init(struct pgo_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void
pgo_msg_release(struct pgo_msg *m)
{
	free(m->oldtup.vals);
	free(m->newtup.vals);
	free(m->relids);
	pgo_msg_init(m);
}

static int
rd_tuple(struct rd *r, struct pgo_tuple *t)
{
	int n = rd_u16(r);

	if (r->bad)
		return -1;
	if (n > t->cap) {
		t->cap = n < 16 ? 16 : n;
		t->vals = xrealloc(t->vals, (size_t)t->cap * sizeof(*t->vals));
	}
	t->ncols = n;
	for (int i = 0; i < n; i++) {
		struct pgo_val *v = &t->vals[i];

		v->kind = (char)rd_u8(r);
		v->len = 0;
		v->data = NULL;
		switch (v->kind) {
		case 'n':
		case 'u':
			break;
		case 't':
		case 'b':
			v->len = rd_u32(r);
			if (r->bad || v->len > (size_t)(r->end - r->p))
				return -1;
			v->data = (const char *)r->p;
			r->p += v->len;
			break;
		default:
			return -1;
		}
		if (r->bad)
			return -1;
	}
	return 0;
}

static int
decode_relation(struct pgoutput *d, struct rd *r, struct pgo_msg *m)
{
	struct pgo_rel *rel = xcalloc(1, sizeof(*rel));
	const char *s;

	rel->relid = rd_u32(r);
	rel->nspname = xstrdup(rd_str(r));
	rel->relname = xstrdup(rd_str(r));
	rel->replident = (char)rd_u8(r);
	rel->ncols = rd_u16(r);
	/* A column takes at least 10 bytes (flags, name, type OID, typmod). */
	if (r->bad || (size_t)rel->ncols * 10 > (size_t)(r->end - r->p)) {
		rel->ncols = 0;
		rel_free(rel);
		return -1;
	}
	rel->cols = xcalloc(rel->ncols ? (size_t)rel->ncols : 1, sizeof(*rel->cols));
	for (int i = 0; i < rel->ncols && !r->bad; i++) {
		struct pgo_col *c = &rel->cols[i];
		struct buf k = BUF_INIT;

		c->ri = c->key = rd_u8(r) & 1;
		s = rd_str(r);
		c->name = xstrdup(s);
		json_add_cstr(&k, s);
		buf_addc(&k, ':');
		c->jkey = buf_detach(&k, &c->jkeylen);
		c->typoid = rd_u32(r);
		c->typmod = (int32_t)rd_u32(r);
		if (c->key)
			rel->has_key = true;
	}
	if (r->bad || r->p != r->end) {
		rel_free(rel);
		return -1;
	}
	rel_put(d, rel);
	m->rel = rel;
	return 0;
}

void
pgo_rel_set_key(struct pgo_rel *rel, const char *const *pk, int npk)
{
	int present = 0, in_ri = 0;

	for (int k = 0; k < npk; k++) {
		for (int i = 0; i < rel->ncols; i++) {
			if (strcmp(rel->cols[i].name, pk[k]) == 0) {
				present++;
				in_ri += rel->cols[i].ri;
				break;
			}
		}
	}
	bool use_pk = key_use_pk(rel->replident, npk, present, in_ri);

	rel->has_key = false;
	rel->key_is_row = !use_pk && rel->replident == 'f';
	for (int i = 0; i < rel->ncols; i++) {
		struct pgo_col *c = &rel->cols[i];

		c->key = c->ri;
		if (use_pk) {
			c->key = false;
			for (int k = 0; k < npk && !c->key; k++)
				c->key = strcmp(c->name, pk[k]) == 0;
		}
		if (c->key)
			rel->has_key = true;
	}
}

/* The relation of a change message, checked against the tuple's width. */
static int
change_rel(struct pgoutput *d, struct rd *r, struct pgo_msg *m, const char **err)
{
	m->rel = pgo_relation(d, rd_u32(r));
	if (r->bad) {
		*err = "truncated message";
		return -1;
	}
	if (!m->rel) {
		*err = "change for a relation no Relation message described";
		return -1;
	}
	return 0;
}

int
pgo_decode(struct pgoutput *d, const char *data, size_t len, struct pgo_msg *m, const char **err)
{
	struct rd r = { (const unsigned char *)data, (const unsigned char *)data + len, false };
	uint8_t tag;

	*err = "truncated message";
	m->type = (char)rd_u8(&r);
	m->rel = NULL;
	m->oldkind = 0;
	m->oldtup.ncols = 0;
	m->newtup.ncols = 0;
	switch (m->type) {
	case 'B':
		m->final_lsn = rd_u64(&r);
		m->ts = (int64_t)rd_u64(&r);
		m->xid = rd_u32(&r);
		break;
	case 'C':
		m->flags = rd_u8(&r);
		m->commit_lsn = rd_u64(&r);
		m->end_lsn = rd_u64(&r);
		m->ts = (int64_t)rd_u64(&r);
		break;
	case 'O':
		m->lsn = rd_u64(&r);
		m->prefix = rd_str(&r);
		break;
	case 'Y':
		m->typoid = rd_u32(&r);
		rd_str(&r);
		m->prefix = rd_str(&r);
		break;
	case 'R':
		if (decode_relation(d, &r, m) < 0) {
			*err = "malformed Relation message";
			return -1;
		}
		return 0;
	case 'I':
		if (change_rel(d, &r, m, err) < 0)
			return -1;
		if (rd_u8(&r) != 'N' || rd_tuple(&r, &m->newtup) < 0) {
			*err = "malformed Insert message";
			return -1;
		}
		break;
	case 'U':
		if (change_rel(d, &r, m, err) < 0)
			return -1;
		tag = rd_u8(&r);
		if (tag == 'K' || tag == 'O') {
			m->oldkind = (char)tag;
			if (rd_tuple(&r, &m->oldtup) < 0)
				tag = 0;
			else
				tag = rd_u8(&r);
		}
		if (tag != 'N' || rd_tuple(&r, &m->newtup) < 0) {
			*err = "malformed Update message";
			return -1;
		}
		break;
	case 'D':
		if (change_rel(d, &r, m, err) < 0)
			return -1;
		tag = rd_u8(&r);
		m->oldkind = (char)tag;
		if ((tag != 'K' && tag != 'O') || rd_tuple(&r, &m->oldtup) < 0) {
			*err = "malformed Delete message";
			return -1;
		}
		break;
	case 'T': {
		uint32_t n = rd_u32(&r);

		m->flags = rd_u8(&r);
		if (r.bad || n > (size_t)(r.end - r.p) / 4) {
			*err = "malformed Truncate message";
			return -1;
		}
		if ((int)n > m->relids_cap) {
			m->relids_cap = (int)n;
			m->relids = xrealloc(m->relids, n * sizeof(*m->relids));
		}
		m->nrels = (int)n;
		for (uint32_t i = 0; i < n; i++)
			m->relids[i] = rd_u32(&r);
		break;
	}
	case 'M':
		m->flags = rd_u8(&r);
		m->lsn = rd_u64(&r);
		m->prefix = rd_str(&r);
		m->content_len = rd_u32(&r);
		if (r.bad || m->content_len > (size_t)(r.end - r.p)) {
			*err = "malformed Message message";
			return -1;
		}
		m->content = (const char *)r.p;
		r.p += m->content_len;
		break;
	case 'S': case 'E': case 'c': case 'A': case 'b': case 'P': case 'K': case 'r': case 'p':
		*err = "streamed or two-phase transaction message (not requested)";
		return -1;
	default:
		*err = "unknown message type";
		return -1;
	}
	if (r.bad)
		return -1;
	if (r.p != r.end) {
		*err = "trailing bytes after message";
		return -1;
	}
	if ((m->type == 'I' || m->type == 'U' || m->type == 'D') &&
	    (m->newtup.ncols > m->rel->ncols || m->oldtup.ncols > m->rel->ncols ||
	     (m->type != 'D' && m->newtup.ncols != m->rel->ncols))) {
		*err = "tuple width does not match the Relation message";
		return -1;
	}
	return 0;
}
