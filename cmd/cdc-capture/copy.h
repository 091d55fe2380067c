/*
 * copy.h: one COPY text row -> one snapshot event (op "r"), for snapshot.c.
 *
 * COPY ... TO STDOUT in text format delivers a row as fields separated by
 * tabs and ended by a newline; NULL is \N and backslash escapes stand for
 * special bytes.  After unescaping, a field is exactly the type's text
 * output (the same text pgoutput sends), so it goes through
 * typemap_value() like a stream value does, and the event gets its
 * envelope from event_source(): one code path for both.
 *
 * A struct snap_table describes one published table as the snapshot reads
 * it; copy_table_init()/copy_table_free() own its strings.  The row
 * formatter owns its buffers; nothing is allocated per row once they have
 * grown to the largest row.
 */
#ifndef CDC_CAPTURE_COPY_H
#define CDC_CAPTURE_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "types.h"

struct snap_col {
	char *name;
	char *jkey;		/* "name": as JSON, ready to append */
	size_t jkeylen;
	uint32_t typoid;
	bool is_key;		/* part of the event "key" (copy_table_choose_key()) */
	bool is_ri;		/* part of the replica identity (as added) */
	bool is_pk;		/* part of the primary key (set by the caller) */
};

struct snap_table {
	uint32_t oid;
	char *schema, *name;
	char relkind;		/* 'r' table, 'p' partitioned (published via its root) */
	double reltuples;	/* planner estimate; < 0 unknown */
	uint64_t pages;		/* pages at snapshot time */
	char *filter;		/* publication row filter (SQL), NULL for none */
	struct snap_col *cols;
	int ncols, nkeys;
	uint64_t rows;		/* rows emitted */
	/* Envelope template: the bytes event_source() writes, cut around seq,
	 * the snapshot marker and the top-level times (copy_table_template()). */
	struct buf head, mid, tail;
	bool tmpl;
	/* snapshot.c: the table's latest row, held back until the next one
	 * (or the table's end) says which snapshot marker it gets. */
	struct buf held;
	bool has_held;
	bool started;		/* a row of the table was written */
};

/* Set up a table (strings copied); add columns with copy_table_add_col(). */
void copy_table_init(struct snap_table *t, uint32_t oid, const char *schema, const char *name);
void copy_table_add_col(struct snap_table *t, const char *name, uint32_t typoid, bool is_key);
void copy_table_free(struct snap_table *t);
/*
 * Choose the event "key" of t once its columns are added (with is_key =
 * replica identity) and their is_pk flags set: the same rule as the stream
 * (key_use_pk() in event.h).  replident: pg_class.relreplident; npk: the
 * number of primary key columns of the table, published or not.
 */
void copy_table_choose_key(struct snap_table *t, char replident, int npk);

struct row_formatter {
	struct typemap *tm;
	const struct event_ctx *ctx;
	uint64_t lsn;		/* S: source.lsn and source.commit_lsn */
	int64_t ts_us;		/* source.ts_us: snapshot start, microseconds since the epoch */
	struct buf line;	/* the event being built */
	struct buf field;	/* one unescaped field */
	size_t *vpos;		/* per column: value start and end in line */
	int vcap;
	size_t key_at;		/* copy_row_body(): where the "key" value starts in out */
};

void rowfmt_init(struct row_formatter *f, struct typemap *tm, const struct event_ctx *ctx,
		 uint64_t lsn, int64_t ts_us);
void rowfmt_free(struct row_formatter *f);

/*
 * Prepare t's envelope template (once per table, before its first row):
 * the output of event_source() for this table cut into the part before
 * seq, the part between seq and the snapshot marker, and the part between
 * the marker and the top-level times.  If the bytes do not have the
 * expected shape, rows fall back to calling event_source().
 */
void copy_table_template(struct row_formatter *f, struct snap_table *t);

/*
 * Format the first part of one COPY text row's event (its trailing '\n'
 * optional), {"op":"r","before":null,"after":{...},"key":{...}|null, into
 * out (reset first).  Returns 0, or -1 when the row does not have
 * t->ncols fields (out then holds garbage).
 */
int copy_row_body(struct row_formatter *f, const struct snap_table *t, const char *row, size_t len,
		  struct buf *out);
/*
 * Append the rest of the event to a body: the source with source.seq =
 * seq and source.snapshot = marker ("true", "first", "last", ...), and
 * the top-level times for now_ns.
 */
void copy_row_tail(struct row_formatter *f, const struct snap_table *t, uint64_t seq, const char *marker,
		   int64_t now_ns, struct buf *out);
/* Both into f->line, with marker "true" (for the tests). */
int copy_row_event(struct row_formatter *f, const struct snap_table *t, const char *row, size_t len,
		   uint64_t seq, int64_t now_ns);

/* Append the COPY-unescaped form of field s (n bytes, not "\N") to out. */
void copy_unescape(struct buf *out, const char *s, size_t n);

#endif
