/*
 * snapshot.c: the consistent initial snapshot (see snapshot.h).
 *
 * Shape of a run:
 *  1. Connect worker 0, BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY,
 *     SET TRANSACTION SNAPSHOT with the slot's exported snapshot.  Read
 *     the published tables, their row filters and column lists, and the
 *     replica-identity columns from the catalogs inside that snapshot.
 *  2. Cut the work into tasks: one per table, and for big plain tables
 *     (PostgreSQL 14+, which scans TID ranges) page ranges
 *     "ctid >= '(a,0)' AND ctid < '(b,0)'", the last one open-ended so
 *     that pages added after the size was read are still covered.  Tasks
 *     run largest first.
 *  3. Connect the other workers the same way (the exporting session is
 *     idle in main.c, so the snapshot stays importable), then run one
 *     COPY ... TO STDOUT per task.  One thread reads every connection with
 *     libpq's asynchronous calls (PQconsumeInput, PQgetCopyData(async))
 *     and poll(), formats each row as it arrives and hands it to the
 *     writer: positions are assigned in emission order, and memory stays
 *     bounded because a connection is only read after its buffered rows
 *     have been written (TCP flow control holds the server back).
 *  4. snapshot_begin before the first row, snapshot_end after the last,
 *     flush, record "done" in the state file.
 */
#include "snapshot.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "copy.h"
#include "json.h"
#include "fileio.h"
#include "kvfile.h"
#include "log.h"
#include "lsn.h"
#include "opt.h"
#include "progress.h"
#include "sig.h"
#include "timeutil.h"

/* Smallest page range worth a task of its own (1 MiB at 8 kB pages). */
#define MIN_CHUNK_PAGES 128
/* A big table is cut into at most this many tasks per job. */
#define CHUNKS_PER_JOB 4

int
snapshot_mode_parse(const char *s, enum snapshot_mode *out)
{
	if (strcmp(s, "initial") == 0)
		*out = SNAPSHOT_INITIAL;
	else if (strcmp(s, "never") == 0)
		*out = SNAPSHOT_NEVER;
	else if (strcmp(s, "only") == 0)
		*out = SNAPSHOT_ONLY;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------ state file */

static const char *const phase_names[] = { "creating", "running", "done" };

int
snapshot_state_write(const char *path, const struct snapshot_state *st)
{
	struct buf b = BUF_INIT;
	char lsn[LSN_BUFSZ], when[RFC3339_BUFSZ];
	int rc = 0;

	buf_adds(&b, "# cdc-capture snapshot state: marks an unfinished snapshot (see cdc-capture(1))\n");
	buf_addf(&b, "version=1\nslot=%s\nphase=%s\nconsistent_lsn=%s\nrows=%llu\nupdated=%s\n",
		 st->slot, phase_names[st->phase], lsn_format(st->consistent_lsn, lsn),
		 (unsigned long long)st->rows, rfc3339_format(now_ms(), when));
	if (atomic_write_file(path, b.data, b.len, 0600) < 0)
		rc = error_errno("cannot write snapshot state file %s", path);
	buf_release(&b);
	return rc;
}

/* A value as a C string in out (size bytes); false when it does not fit. */
static bool
kv_value(const char *v, size_t vlen, char *out, size_t size)
{
	if (vlen >= size)
		return false;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return true;
}

static int
state_parse(const char *path, const char *text, size_t len, struct snapshot_state *st)
{
	bool have_version = false, have_slot = false, have_phase = false;
	struct kv_iter it;
	const char *k, *v;
	size_t klen, vlen;
	int r;

	memset(st, 0, sizeof(*st));
	kv_begin(&it, text, len);
	while ((r = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
		char val[128];

		if (!kv_value(v, vlen, val, sizeof(val)))
			return error("%s: line %u: value too long", path, it.lineno);
		if (kv_key_is(k, klen, "version")) {
			if (strcmp(val, "1") != 0)
				return error("%s: line %u: unsupported version", path, it.lineno);
			have_version = true;
		} else if (kv_key_is(k, klen, "slot")) {
			if (!kv_value(v, vlen, st->slot, sizeof(st->slot)))
				return error("%s: line %u: slot name too long", path, it.lineno);
			have_slot = true;
		} else if (kv_key_is(k, klen, "phase")) {
			int i;

			for (i = 0; i < 3 && strcmp(val, phase_names[i]) != 0; i++)
				;
			if (i == 3)
				return error("%s: line %u: unknown phase", path, it.lineno);
			st->phase = (enum snapshot_phase)i;
			have_phase = true;
		} else if (kv_key_is(k, klen, "consistent_lsn")) {
			if (lsn_parse(val, &st->consistent_lsn) < 0)
				return error("%s: line %u: consistent_lsn is not an LSN", path, it.lineno);
		} else if (kv_key_is(k, klen, "rows")) {
			if (parse_u64(val, 0, UINT64_MAX, &st->rows) < 0)
				return error("%s: line %u: rows is not a number", path, it.lineno);
		}
	}
	if (r < 0)
		return error("%s: line %u: expected key=value: not a cdc-capture snapshot state file",
			     path, it.lineno);
	if (!have_version || !have_slot || !have_phase)
		return error("%s: not a cdc-capture snapshot state file (needs version, slot, phase)", path);
	return 0;
}

int
snapshot_state_read(const char *path, struct snapshot_state *st)
{
	struct buf text = BUF_INIT;
	int r = read_file(path, 4096, false, &text);

	if (r == 1)
		return 1;
	if (r < 0) {
		if (errno == EFBIG)
			r = error("%s: not a cdc-capture snapshot state file (too large)", path);
		else
			r = error_errno("cannot read snapshot state file %s", path);
	} else if (memchr(text.data, '\0', text.len)) {
		r = error("%s: not a cdc-capture snapshot state file", path);
	} else {
		r = state_parse(path, text.data, text.len, st);
	}
	buf_release(&text);
	return r;
}

int
snapshot_state_begin(const char *path, const char *slot)
{
	struct snapshot_state st;

	memset(&st, 0, sizeof(st));
	if (strlen(slot) >= sizeof(st.slot))
		return error("slot name too long for the snapshot state file");
	strcpy(st.slot, slot);
	st.phase = SNAPSTATE_CREATING;
	return snapshot_state_write(path, &st);
}

enum snapshot_verdict
snapshot_state_check(const char *path, const char *slot, bool ack_given, const struct checkpoint *ack)
{
	struct snapshot_state st;
	char lsn[LSN_BUFSZ], endpos[POS_BUFSZ], ackpos[POS_BUFSZ];
	int r;

	if (!path)
		return SNAPSHOT_OK;
	r = snapshot_state_read(path, &st);
	if (r == 1)
		return SNAPSHOT_OK;
	if (r < 0)
		return SNAPSHOT_REFUSE;
	if (strcmp(st.slot, slot) != 0) {
		error("snapshot state file %s belongs to slot \"%s\", not \"%s\"", path, st.slot, slot);
		return SNAPSHOT_REFUSE;
	}
	if (st.phase == SNAPSTATE_CREATING) {
		error("the snapshot of slot \"%s\" did not start (interrupted while creating the slot): "
			"dropping the slot if it exists and starting over", slot);
		return SNAPSHOT_REDO;
	}
	lsn_format(st.consistent_lsn, lsn);
	if (st.phase == SNAPSTATE_RUNNING) {
		error("the snapshot of slot \"%s\" at %s was interrupted: dropping the slot and starting over",
			slot, lsn);
		return SNAPSHOT_REDO;
	}
	if (!ack_given)
		return SNAPSHOT_OK;
	if (!ack) {
		error("the snapshot of slot \"%s\" at %s was written but the ack file has no checkpoint: "
			"dropping the slot and starting over", slot, lsn);
		return SNAPSHOT_REDO;
	}
	struct cdc_pos end = { snapshot_lsn(st.consistent_lsn), st.rows + 1 };

	if (ack->snapshot || pos_cmp(&ack->pos, &end) < 0) {
		error("the snapshot of slot \"%s\" at %s ended at %s but the ack file's checkpoint is at %s%s: "
			"dropping the slot and starting over", slot, lsn, pos_format(&end, endpos),
			pos_format(&ack->pos, ackpos), ack->snapshot ? " (inside the snapshot)" : "");
		return SNAPSHOT_REDO;
	}
	return SNAPSHOT_OK;
}

/* ------------------------------------------------------------ the run */

struct task {
	int table;		/* index into snap.tables */
	int64_t from, to;	/* page range [from, to); -1: unbounded */
	uint64_t weight;	/* pages, for largest-first order */
};

enum wstate {
	W_IDLE,			/* no COPY running */
	W_START,		/* COPY sent, waiting for CopyOutResponse */
	W_COPY,			/* reading rows */
	W_END,			/* rows done, collecting the command's results */
};

struct worker {
	PGconn *conn;
	enum wstate state;
	int task;		/* index into snap.tasks while busy */
	bool want_input;	/* blocked until the socket is readable */
};

struct snap {
	const struct snapshot_args *a;
	struct snap_table *tables;
	int ntables;
	int *table_tasks;	/* per table: tasks not finished yet */
	int tables_done;
	struct task *tasks;
	int ntasks, next_task;
	struct worker *w;
	int nw;
	int server_version;
	struct row_formatter fmt;
	struct buf sql;
	uint64_t rows;		/* rows written so far = last seq */
	int pending;		/* a finished table whose last row is held back, or -1 */
	struct progress pg;
};

/* Exit status for a failed libpq call on conn: lost connections are temporary. */
static int
pq_status(PGconn *conn)
{
	return PQstatus(conn) == CONNECTION_BAD ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE;
}

/* The server's message without its "ERROR:" prefix and trailing newline. */
static const char *
pq_msg(PGconn *conn, const PGresult *res, char *out, size_t size)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	size_t n;

	if (!m)
		m = PQerrorMessage(conn);
	snprintf(out, size, "%s", m);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	return out;
}

/* Connect one worker and import the snapshot.  Returns 0 or an exit status. */
static int
worker_connect(struct snap *s, struct worker *w)
{
	const char *keys[] = { CAPTURE_KEEPALIVE_KEYS, "dbname", "options", "fallback_application_name", NULL };
	const char *vals[] = { CAPTURE_KEEPALIVE_VALS, s->a->conninfo, capture_session_options,
			       "cdc-capture snapshot", NULL };
	char msg[512];
	char *lit;
	PGresult *res;
	int rc = 0;

	w->conn = PQconnectdbParams(keys, vals, 1);
	w->state = W_IDLE;
	w->task = -1;
	if (PQstatus(w->conn) != CONNECTION_OK) {
		error("snapshot: cannot connect: %s", pq_msg(w->conn, NULL, msg, sizeof(msg)));
		return CDC_EXIT_TEMPFAIL;
	}
	lit = PQescapeLiteral(w->conn, s->a->snapshot_name, strlen(s->a->snapshot_name));
	if (!lit)
		die("out of memory");
	buf_reset(&s->sql);
	buf_addf(&s->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT %s", lit);
	PQfreemem(lit);
	res = PQexec(w->conn, s->sql.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		error("snapshot: cannot use the slot's exported snapshot: %s", pq_msg(w->conn, res, msg, sizeof(msg)));
		rc = pq_status(w->conn);
	}
	PQclear(res);
	return rc;
}

void
sql_add_ident(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_addc(b, '"');
		buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

/* The publications as a text[] literal: {"a","b"}. */
static void
add_pub_array(struct buf *b, const char *const *pubs, int npubs)
{
	buf_addc(b, '{');
	for (int i = 0; i < npubs; i++) {
		if (i)
			buf_addc(b, ',');
		buf_addc(b, '"');
		for (const char *p = pubs[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_addc(b, '\\');
			buf_addc(b, *p);
		}
		buf_addc(b, '"');
	}
	buf_addc(b, '}');
}

/*
 * The published tables, per publication pg_publication_tables (which
 * resolves FOR ALL TABLES, TABLES IN SCHEMA and publish_via_partition_root)
 * with, from PostgreSQL 15, the column list (attnames) and row filter.  A
 * table in several publications is read as the server streams it: its
 * filters are ORed (no filter in any one means no filter) and its column
 * lists united.
 */
static void
pub_cte(int server_version, bool one, struct buf *q)
{
	bool v15 = server_version >= 150000;

	buf_addf(q, "WITH pt AS (SELECT c.oid AS relid, %s AS attnames, %s AS rowfilter "
		 "FROM pg_catalog.pg_publication_tables p "
		 "JOIN pg_catalog.pg_namespace n ON n.nspname = p.schemaname "
		 "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename "
		 "WHERE p.pubname = ANY ($1::text[])%s) ",
		 v15 ? "p.attnames" : "NULL::name[]", v15 ? "p.rowfilter" : "NULL::text",
		 one ? " AND c.oid = $2::pg_catalog.regclass" : "");
}

static int
catalog_read(PGconn *conn, int server_version, const char *const *publications, int npublications,
	     const char *regclass, struct snap_table **tablesp, int *ntablesp)
{
	struct buf q = BUF_INIT, pubs = BUF_INIT;
	const char *params[2];
	int nparams = regclass ? 2 : 1;
	char msg[512];
	PGresult *res;
	int rc = 0, cur = 0, ntables;
	struct snap_table *tables;

	add_pub_array(&pubs, publications, npublications);
	params[0] = pubs.data;
	params[1] = regclass;
	*tablesp = NULL;
	*ntablesp = 0;

	/* Tables. */
	pub_cte(server_version, regclass != NULL, &q);
	buf_addf(&q, "SELECT c.oid, n.nspname, c.relname, c.relkind, "
		 "%s, "
		 "pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int8, "
		 "CASE WHEN bool_or(pt.rowfilter IS NULL) THEN NULL "
		 "ELSE string_agg('(' || pt.rowfilter || ')', ' OR ') END "
		 "FROM pt JOIN pg_catalog.pg_class c ON c.oid = pt.relid "
		 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		 "GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.reltuples "
		 "ORDER BY c.oid",
		 server_version >= 120000
		 ? "CASE WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(GREATEST(pc.reltuples, 0)), 0)::float8 "
		   "FROM pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class pc ON pc.oid = t.relid "
		   "WHERE t.isleaf) ELSE c.reltuples::float8 END"
		 : "c.reltuples::float8");
	res = PQexecParams(conn, q.data, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		error("snapshot: cannot read the publications' tables: %s", pq_msg(conn, res, msg, sizeof(msg)));
		rc = pq_status(conn);
		goto out;
	}
	ntables = PQntuples(res);
	tables = xcalloc((size_t)ntables + 1, sizeof(*tables));
	*tablesp = tables;
	*ntablesp = ntables;
	for (int i = 0; i < ntables; i++) {
		struct snap_table *t = &tables[i];

		copy_table_init(t, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10),
				PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
		t->relkind = PQgetvalue(res, i, 3)[0];
		t->reltuples = strtod(PQgetvalue(res, i, 4), NULL);
		t->pages = strtoull(PQgetvalue(res, i, 5), NULL, 10);
		if (!PQgetisnull(res, i, 6))
			t->filter = xstrdup(PQgetvalue(res, i, 6));
	}
	PQclear(res);

	/* Columns, in attnum order, with their replica-identity flag as
	 * pgoutput computes it (FULL: every column; DEFAULT: the primary key;
	 * INDEX: the index's key columns; NOTHING: none), their primary key
	 * flag, and per table its replica identity and primary key width, for
	 * the key rule shared with the stream (copy_table_choose_key()). */
	buf_reset(&q);
	pub_cte(server_version, regclass != NULL, &q);
	{
		/* The key columns of an index (not its INCLUDE columns). */
		const char *nkey = server_version >= 110000 ? "i.indnkeyatts" : "i.indnatts";

		buf_addf(&q, "SELECT a.attrelid, a.attname, a.atttypid, "
			 "CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false "
			 "WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
			 "AND i.indisprimary AND EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, %s - 1) k "
			 "WHERE i.indkey[k] = a.attnum)) "
			 "ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
			 "AND i.indisreplident AND EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, %s - 1) k "
			 "WHERE i.indkey[k] = a.attnum)) END, "
			 "EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
			 "AND i.indisprimary AND EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, %s - 1) k "
			 "WHERE i.indkey[k] = a.attnum)), "
			 "c.relreplident, "
			 "COALESCE((SELECT %s FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
			 "AND i.indisprimary), 0) "
			 "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
			 "WHERE a.attrelid IN (SELECT relid FROM pt) AND a.attnum > 0 AND NOT a.attisdropped %s"
			 "AND EXISTS (SELECT 1 FROM pt WHERE pt.relid = a.attrelid "
			 "AND (pt.attnames IS NULL OR a.attname = ANY (pt.attnames))) "
			 "ORDER BY a.attrelid, a.attnum",
			 nkey, nkey, nkey, nkey, server_version >= 120000 ? "AND a.attgenerated = '' " : "");
	}
	res = PQexecParams(conn, q.data, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		error("snapshot: cannot read the tables' columns: %s", pq_msg(conn, res, msg, sizeof(msg)));
		rc = pq_status(conn);
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		uint32_t relid = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10);

		/* Both results are ordered by table OID. */
		while (cur < ntables && tables[cur].oid < relid)
			cur++;
		if (cur == ntables || tables[cur].oid != relid)
			continue;
		struct snap_table *t = &tables[cur];

		copy_table_add_col(t, PQgetvalue(res, i, 1), (uint32_t)strtoul(PQgetvalue(res, i, 2), NULL, 10),
				   PQgetvalue(res, i, 3)[0] == 't');
		t->cols[t->ncols - 1].is_pk = PQgetvalue(res, i, 4)[0] == 't';
		/* Every row of a table has the same replident and key width:
		 * (re)choose after each column, the last call counts. */
		copy_table_choose_key(t, PQgetvalue(res, i, 5)[0], (int)strtol(PQgetvalue(res, i, 6), NULL, 10));
	}
out:
	PQclear(res);
	buf_release(&q);
	buf_release(&pubs);
	return rc;
}

static int
read_catalog(struct snap *s)
{
	return catalog_read(s->w[0].conn, s->server_version, s->a->publications, s->a->npublications, NULL,
			    &s->tables, &s->ntables);
}

int
snapshot_describe_table(PGconn *conn, int server_version, const char *const *pubs, int npubs,
			const char *regclass, struct snap_table *t)
{
	struct snap_table *tables;
	int n, rc = catalog_read(conn, server_version, pubs, npubs, regclass, &tables, &n);

	if (rc != 0) {
		for (int i = 0; i < n; i++)
			copy_table_free(&tables[i]);
		free(tables);
		return -1;
	}
	if (n == 0) {
		free(tables);
		return 0;
	}
	*t = tables[0];
	free(tables);
	return 1;
}

static int
task_cmp(const void *x, const void *y)
{
	const struct task *a = x, *b = y;

	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	return a->from < b->from ? -1 : a->from > b->from;
}

/* One task per table, or page ranges of a big plain table when there is
 * more than one job and the server scans TID ranges (PostgreSQL 14+). */
static void
plan_tasks(struct snap *s)
{
	int cap = 0;

	s->table_tasks = xcalloc((size_t)s->ntables + 1, sizeof(int));
	for (int i = 0; i < s->ntables; i++) {
		const struct snap_table *t = &s->tables[i];
		uint64_t chunks = 1, step;

		if (s->a->jobs > 1 && s->server_version >= 140000 && t->relkind == 'r' &&
		    t->pages >= 2 * MIN_CHUNK_PAGES) {
			chunks = t->pages / MIN_CHUNK_PAGES;
			if (chunks > (uint64_t)s->a->jobs * CHUNKS_PER_JOB)
				chunks = (uint64_t)s->a->jobs * CHUNKS_PER_JOB;
		}
		step = chunks > 1 ? (t->pages + chunks - 1) / chunks : 0;
		for (uint64_t c = 0; c < chunks; c++) {
			struct task *k;

			if (s->ntasks == cap) {
				cap = cap ? 2 * cap : 16;
				s->tasks = xrealloc(s->tasks, (size_t)cap * sizeof(*s->tasks));
			}
			k = &s->tasks[s->ntasks++];
			k->table = i;
			k->from = chunks > 1 ? (int64_t)(c * step) : -1;
			k->to = chunks > 1 && c + 1 < chunks ? (int64_t)((c + 1) * step) : -1;
			k->weight = chunks > 1 ? step : t->pages;
			s->table_tasks[i]++;
		}
	}
	if (s->ntasks > 1)
		qsort(s->tasks, (size_t)s->ntasks, sizeof(*s->tasks), task_cmp);
}

/* The COPY statement of a task. */
static void
task_sql(struct snap *s, const struct task *k, struct buf *q)
{
	const struct snap_table *t = &s->tables[k->table];
	bool plain = t->relkind == 'r' && !t->filter && k->from < 0 && t->ncols > 0;

	buf_reset(q);
	buf_adds(q, plain ? "COPY " : "COPY (SELECT ");
	if (plain) {
		sql_add_ident(q, t->schema);
		buf_addc(q, '.');
		sql_add_ident(q, t->name);
		buf_adds(q, " (");
	}
	for (int i = 0; i < t->ncols; i++) {
		if (i)
			buf_adds(q, ", ");
		sql_add_ident(q, t->cols[i].name);
	}
	if (plain) {
		buf_adds(q, ") TO STDOUT");
		return;
	}
	/* Partitioned tables (published via their root) are read whole; a
	 * plain table without its inheritance children, as COPY t does. */
	buf_adds(q, t->relkind == 'p' ? " FROM " : " FROM ONLY ");
	sql_add_ident(q, t->schema);
	buf_addc(q, '.');
	sql_add_ident(q, t->name);
	if (k->from >= 0 || t->filter) {
		buf_adds(q, " WHERE ");
		if (k->from > 0)
			buf_addf(q, "ctid >= '(%lld,0)'::tid", (long long)k->from);
		if (k->from > 0 && k->to >= 0)
			buf_adds(q, " AND ");
		if (k->to >= 0)
			buf_addf(q, "ctid < '(%lld,0)'::tid", (long long)k->to);
		if (k->from <= 0 && k->to < 0)
			buf_adds(q, "true");
		if (t->filter) {
			buf_adds(q, " AND (");
			buf_adds(q, t->filter);
			buf_addc(q, ')');
		}
	}
	buf_adds(q, ") TO STDOUT");
}

static void
emit_control(struct snap *s, const char *op, uint64_t seq, const char *snapshot)
{
	struct buf *b = &s->fmt.line;
	const struct snapshot_args *a = s->a;
	struct event_src src = { .lsn = snapshot_lsn(a->consistent_lsn), .commit_lsn = snapshot_lsn(a->consistent_lsn),
				 .seq = seq, .ts_us = s->fmt.ts_us, .snapshot = snapshot };

	buf_reset(b);
	buf_adds(b, "{\"op\":\"");
	buf_adds(b, op);
	buf_addc(b, '"');
	if (strcmp(op, "snapshot_end") == 0) {
		buf_adds(b, ",\"snapshot\":{\"rows\":");
		json_add_u64(b, s->rows);
		buf_addc(b, '}');
	}
	event_source(b, a->ctx, &src, event_now_ns());
	if (wr_line(a->out, b->data, b->len) < 0)
		wr_die_on_error(a->out, "standard output");
}

/*
 * Snapshot markers, as Debezium writes them: "first" on the snapshot's
 * first row, "last" on its last, "first_in_data_collection" and
 * "last_in_data_collection" on the first and last row of every other
 * table, "true" on the rest.  Whether a row is a table's last (or the
 * snapshot's) is known only once the next row of the table comes or the
 * table ends, so each table holds its latest row back (t->held), and the
 * last row of a finished table waits (s->pending) until another row is
 * written or the snapshot ends.  Positions are given as rows are written.
 */
static void
write_held(struct snap *s, struct snap_table *t, const char *marker)
{
	struct buf *b = &t->held;

	s->rows++;
	copy_row_tail(&s->fmt, t, s->rows, marker, event_now_ns(), b);
	if (wr_line(s->a->out, b->data, b->len) < 0)
		wr_die_on_error(s->a->out, "standard output");
	t->has_held = false;
	t->started = true;
}

/* The marker of a held row that is not the snapshot's last. */
static const char *
held_marker(const struct snap *s, const struct snap_table *t, bool table_last)
{
	if (s->rows == 0)
		return "first";
	if (table_last)
		return "last_in_data_collection";
	if (!t->started)
		return "first_in_data_collection";
	return "true";
}

static void
write_pending(struct snap *s, bool snapshot_last)
{
	struct snap_table *t;

	if (s->pending < 0)
		return;
	t = &s->tables[s->pending];
	write_held(s, t, snapshot_last ? "last" : held_marker(s, t, true));
	s->pending = -1;
}

/* A row of t came from COPY.  Returns 0, or -1 when it does not parse. */
static int
snap_row(struct snap *s, struct snap_table *t, const char *row, size_t n)
{
	write_pending(s, false);
	if (t->has_held)
		write_held(s, t, held_marker(s, t, false));
	if (copy_row_body(&s->fmt, t, row, n, &t->held) < 0)
		return -1;
	t->has_held = true;
	t->rows++;
	return 0;
}

/* Every task of table ti finished: its held row is its last. */
static void
snap_table_done(struct snap *s, int ti)
{
	if (!s->tables[ti].has_held)
		return;
	write_pending(s, false);
	s->pending = ti;
}

/* Start the next task on an idle worker. Returns 0 or an exit status. */
static int
worker_start(struct snap *s, struct worker *w)
{
	const struct task *k = &s->tasks[s->next_task];
	char msg[512];

	task_sql(s, k, &s->sql);
	if (!PQsendQuery(w->conn, s->sql.data)) {
		error("snapshot: cannot copy table %s.%s: %s", s->tables[k->table].schema,
		      s->tables[k->table].name, pq_msg(w->conn, NULL, msg, sizeof(msg)));
		return pq_status(w->conn);
	}
	w->task = s->next_task++;
	w->state = W_START;
	w->want_input = false;
	info(2, "snapshot: %s", s->sql.data);
	return 0;
}

/*
 * Move a busy worker as far as it goes without blocking: collect the
 * CopyOutResponse, then rows until libpq has no complete one buffered,
 * then the command's end.  Returns 0 or an exit status.
 */
static int
worker_step(struct snap *s, struct worker *w)
{
	struct task *k = &s->tasks[w->task];
	struct snap_table *t = &s->tables[k->table];
	char msg[512];
	PGresult *res;

	w->want_input = false;
	for (;;) {
		switch (w->state) {
		case W_IDLE:
			return 0;
		case W_START:
			if (PQisBusy(w->conn)) {
				w->want_input = true;
				return 0;
			}
			res = PQgetResult(w->conn);
			if (PQresultStatus(res) != PGRES_COPY_OUT) {
				error("snapshot: cannot copy table %s.%s: %s", t->schema, t->name,
				      pq_msg(w->conn, res, msg, sizeof(msg)));
				PQclear(res);
				return pq_status(w->conn);
			}
			PQclear(res);
			if (!t->head.len && !t->tmpl)
				copy_table_template(&s->fmt, t);
			w->state = W_COPY;
			break;
		case W_COPY: {
			char *row = NULL;
			int n = PQgetCopyData(w->conn, &row, 1);

			if (n > 0) {
				int rc = snap_row(s, t, row, (size_t)n);

				PQfreemem(row);
				if (rc < 0) {
					error("snapshot: table %s.%s: a COPY row does not have %d fields", t->schema,
					      t->name, t->ncols);
					return CDC_EXIT_FAILURE;
				}
				if (cdc_stop)
					return 0;
				break;
			}
			if (n == 0) {
				w->want_input = true;
				return 0;
			}
			if (n == -2) {
				error("snapshot: copying table %s.%s failed: %s", t->schema, t->name,
				      pq_msg(w->conn, NULL, msg, sizeof(msg)));
				return pq_status(w->conn);
			}
			w->state = W_END;
			break;
		}
		case W_END:
			if (PQisBusy(w->conn)) {
				w->want_input = true;
				return 0;
			}
			res = PQgetResult(w->conn);
			if (res == NULL) {
				w->state = W_IDLE;
				if (--s->table_tasks[k->table] == 0) {
					snap_table_done(s, k->table);
					s->tables_done++;
					info(1, "snapshot: table %s.%s: %llu rows", t->schema, t->name,
					     (unsigned long long)t->rows);
				}
				w->task = -1;
				return 0;
			}
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				error("snapshot: copying table %s.%s failed: %s", t->schema, t->name,
				      pq_msg(w->conn, res, msg, sizeof(msg)));
				PQclear(res);
				return pq_status(w->conn);
			}
			PQclear(res);
			break;
		}
	}
}

/* Run every task over the workers.  Returns 0, -1 when stopped, or an exit status. */
static int
copy_all(struct snap *s)
{
	struct pollfd *pfd = xcalloc((size_t)s->nw, sizeof(*pfd));
	int *idx = xcalloc((size_t)s->nw, sizeof(int));
	int rc = 0;

	for (;;) {
		int busy = 0, np = 0;

		for (int i = 0; i < s->nw && rc == 0; i++) {
			struct worker *w = &s->w[i];

			if (w->state == W_IDLE && s->next_task < s->ntasks)
				rc = worker_start(s, w);
			if (rc == 0 && w->state != W_IDLE && !w->want_input)
				rc = worker_step(s, w);
			if (rc == 0 && w->state == W_IDLE && s->next_task < s->ntasks)
				rc = worker_start(s, w);
			if (w->state != W_IDLE)
				busy++;
		}
		if (rc != 0)
			break;
		if (cdc_stop) {
			rc = -1;
			break;
		}
		progress_update(&s->pg, s->rows, s->tables_done, s->ntables);
		if (busy == 0)
			break;
		for (int i = 0; i < s->nw; i++) {
			if (s->w[i].state != W_IDLE && s->w[i].want_input) {
				pfd[np].fd = PQsocket(s->w[i].conn);
				pfd[np].events = POLLIN;
				pfd[np].revents = 0;
				idx[np++] = i;
			}
		}
		if (np == 0)
			continue;
		/* Nothing buffered anywhere: this is the moment to hand the
		 * reader what we have (low latency without a flush per row). */
		if (wr_flush(s->a->out) < 0)
			wr_die_on_error(s->a->out, "standard output");
		if (poll(pfd, (nfds_t)np, s->pg.on ? 250 : -1) < 0) {
			if (errno == EINTR)
				continue;
			error_errno("snapshot: poll");
			rc = CDC_EXIT_FAILURE;
			break;
		}
		for (int j = 0; j < np; j++) {
			struct worker *w = &s->w[idx[j]];
			char msg[512];

			if (pfd[j].revents == 0)
				continue;
			if (!PQconsumeInput(w->conn)) {
				const struct snap_table *t = &s->tables[s->tasks[w->task].table];

				error("snapshot: copying table %s.%s failed: %s", t->schema, t->name,
				      pq_msg(w->conn, NULL, msg, sizeof(msg)));
				rc = pq_status(w->conn);
				break;
			}
			w->want_input = false;
		}
		if (rc != 0)
			break;
	}
	free(pfd);
	free(idx);
	return rc;
}

int
snapshot_run(const struct snapshot_args *a)
{
	struct snap s;
	struct snapshot_state st;
	uint64_t estimate = 0;
	bool known = true;
	int nw, rc;
	int64_t t0 = mono_ms();

	memset(&s, 0, sizeof(s));
	s.a = a;
	s.pending = -1;
	rowfmt_init(&s.fmt, a->tm, a->ctx, snapshot_lsn(a->consistent_lsn), event_now_ns() / 1000);

	if (a->state_path) {
		memset(&st, 0, sizeof(st));
		snprintf(st.slot, sizeof(st.slot), "%s", a->ctx->slot ? a->ctx->slot : "");
		st.phase = SNAPSTATE_RUNNING;
		st.consistent_lsn = a->consistent_lsn;
		if (snapshot_state_write(a->state_path, &st) < 0)
			return CDC_EXIT_FAILURE;
	}

	s.w = xcalloc((size_t)(a->jobs > 0 ? a->jobs : 1), sizeof(*s.w));
	s.nw = 1;
	rc = worker_connect(&s, &s.w[0]);
	if (rc)
		goto out;
	s.server_version = PQserverVersion(s.w[0].conn);
	rc = read_catalog(&s);
	if (rc)
		goto out;
	plan_tasks(&s);

	nw = a->jobs > 0 ? a->jobs : 1;
	if (nw > s.ntasks)
		nw = s.ntasks > 0 ? s.ntasks : 1;
	for (int i = 1; i < nw; i++) {
		s.nw = i + 1;
		rc = worker_connect(&s, &s.w[i]);
		if (rc)
			goto out;
	}
	for (int i = 0; i < s.ntables; i++) {
		if (s.tables[i].reltuples >= 0)
			estimate += (uint64_t)s.tables[i].reltuples;
		else if (s.tables[i].pages > 0)
			known = false;
	}
	info(1, "snapshot: %d tables, about %llu rows%s, %d connections", s.ntables,
	     (unsigned long long)estimate, known ? "" : " (some tables never analyzed)", s.nw);
	progress_init(&s.pg, a->progress == PROGRESS_ON ||
			     (a->progress == PROGRESS_AUTO && cdc_verbosity >= 0 && isatty(STDERR_FILENO)),
		      known ? estimate : 0);

	emit_control(&s, "snapshot_begin", 0, "true");
	rc = copy_all(&s);
	if (rc == 0) {
		write_pending(&s, true);
		emit_control(&s, "snapshot_end", s.rows + 1, "last");
		if (wr_flush(a->out) < 0)
			wr_die_on_error(a->out, "standard output");
		progress_finish(&s.pg, s.rows, s.tables_done, s.ntables);
		info(1, "snapshot: %llu rows from %d tables in %.1f s", (unsigned long long)s.rows, s.ntables,
		     (double)(mono_ms() - t0) / 1000.0);
		if (a->state_path) {
			st.phase = SNAPSTATE_DONE;
			st.rows = s.rows;
			if (snapshot_state_write(a->state_path, &st) < 0)
				rc = CDC_EXIT_FAILURE;
		}
	} else {
		if (s.pg.drawn)
			fputc('\n', stderr);
		if (wr_flush(a->out) < 0)
			wr_die_on_error(a->out, "standard output");
		error("snapshot %s after %llu rows: it is incomplete%s", rc < 0 ? "interrupted" : "failed",
		      (unsigned long long)s.rows,
		      a->state_path ? "; the next run starts it over" : "");
	}
out:
	for (int i = 0; i < s.nw; i++)
		if (s.w[i].conn)
			PQfinish(s.w[i].conn);
	free(s.w);
	for (int i = 0; i < s.ntables; i++)
		copy_table_free(&s.tables[i]);
	free(s.tables);
	free(s.tasks);
	free(s.table_tasks);
	buf_release(&s.sql);
	rowfmt_free(&s.fmt);
	return rc;
}
