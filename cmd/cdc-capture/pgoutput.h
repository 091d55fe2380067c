/*
 * pgoutput.h: decoder for the messages of PostgreSQL's pgoutput plugin
 * ("Logical Replication Message Formats" in the PostgreSQL manual), protocol
 * version 1 (no streamed or two-phase transactions).
 *
 * pgo_decode() parses one message (the payload of one XLogData) into a
 * struct pgo_msg.  Tuple values point into the caller's message bytes and
 * are valid until the message is freed; arrays inside the decoder are
 * reused from message to message, so the hot path does not allocate.
 *
 * The decoder keeps the relation cache: a Relation message ('R') replaces
 * the cached description of its relation (schema changes mid-stream), and
 * change messages are checked against it.  The decoder owns every string it
 * returns; pgo_free() releases everything.
 */
#ifndef CDC_CAPTURE_PGOUTPUT_H
#define CDC_CAPTURE_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pgo_col {
	char *name;
	char *jkey;		/* the name as a JSON object key: "\"name\":" */
	size_t jkeylen;
	uint32_t typoid;
	int32_t typmod;
	bool ri;		/* flagged as replica identity by the server (in a 'K' old key) */
	bool key;		/* part of the event "key" (pgo_rel_set_key(); initially ri) */
};

struct pgo_rel {
	uint32_t relid;
	char *nspname;
	char *relname;
	char replident;		/* 'd' default, 'n' nothing, 'f' full, 'i' index */
	int ncols;
	struct pgo_col *cols;
	bool has_key;		/* any column flagged as key */
	bool key_is_row;	/* REPLICA IDENTITY FULL without a usable primary key: every column */
};

/*
 * Choose the columns of the event "key" of rel (cdc-capture(1) "Keys"):
 * the primary key when the table has one (pk: its column names, npk of
 * them) and the server can always send it (every primary key column is
 * published, and with REPLICA IDENTITY USING INDEX the index covers it);
 * else the replica identity columns the server flagged (USING INDEX: the
 * index columns; FULL: every column; DEFAULT without a primary key or
 * NOTHING: none, key null).  Sets cols[].key and has_key.
 */
void pgo_rel_set_key(struct pgo_rel *rel, const char *const *pk, int npk);

/* One column of a TupleData. */
struct pgo_val {
	char kind;		/* 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary */
	uint32_t len;
	const char *data;	/* into the message; not NUL-terminated */
};

struct pgo_tuple {
	int ncols;
	struct pgo_val *vals;
	int cap;
};

struct pgo_msg {
	char type;		/* 'B','C','R','Y','I','U','D','T','O','M' */
	/* B: final_lsn, ts, xid.  C: commit_lsn, end_lsn, ts, flags. */
	uint64_t final_lsn, commit_lsn, end_lsn;
	int64_t ts;		/* PostgreSQL timestamp: microseconds since 2000-01-01 UTC */
	uint32_t xid;
	uint8_t flags;		/* C: flags; T: options (1 cascade, 2 restart identity); M: 1 transactional */
	/* R, I, U, D: the relation (for R: the new description, already cached). */
	struct pgo_rel *rel;
	/* U, D: 'K' old key, 'O' old tuple, 0 none.  I, U: newtup. */
	char oldkind;
	struct pgo_tuple oldtup, newtup;
	/* T: the relations. */
	int nrels;
	uint32_t *relids;
	int relids_cap;
	/* M: lsn, prefix, content.  O: lsn, prefix = origin name.  Y: typoid, prefix = type name. */
	uint64_t lsn;
	const char *prefix;
	const char *content;
	uint32_t content_len;
	uint32_t typoid;
};

struct pgoutput;

struct pgoutput *pgo_new(void);
void pgo_free(struct pgoutput *d);
/* Forget every cached relation (after a reconnection the server sends them again). */
void pgo_reset(struct pgoutput *d);
/* The cached relation relid, or NULL. */
struct pgo_rel *pgo_relation(struct pgoutput *d, uint32_t relid);

/* Initialise / release a message (its reused arrays). */
void pgo_msg_init(struct pgo_msg *m);
void pgo_msg_release(struct pgo_msg *m);

/*
 * Decode one pgoutput message of len bytes into *m (reusing its arrays).
 * Returns 0, or -1 with *err set to a static description when the message
 * is malformed, of an unknown or unexpected kind, or names a relation that
 * no Relation message described.
 */
int pgo_decode(struct pgoutput *d, const char *data, size_t len, struct pgo_msg *m, const char **err);

/* PostgreSQL timestamp (µs since 2000-01-01) -> ms since the Unix epoch. */
int64_t pgo_ts_to_ms(int64_t pgts);
/* ... in microseconds since the Unix epoch. */
int64_t pgo_ts_to_us(int64_t pgts);

#endif
