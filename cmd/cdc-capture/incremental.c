/*
 * incremental.c: incremental snapshots (see incremental.h).
 */
#include "incremental.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "capture.h"
#include "copy.h"
#include "fileio.h"
#include "hash.h"
#include "json.h"
#include "kvfile.h"
#include "log.h"
#include "opt.h"
#include "snapshot.h"
#include "timeutil.h"

#define SIGNAL_CHECK_MS 1000
#define SIGNAL_MAX_LINE 65536
#define RECENT_XIDS 1024
#define STATE_MS 1000
#define STATE_CHUNKS 32

struct held_row {
	size_t off, len;	/* the event body in store */
	size_t key_off;		/* its "key" value, to the end of the body */
	uint64_t hash;
	bool alive;
};

/*
 * A chunk: read (its query in flight, rows coming), then held until the
 * stream passes its H, then written.  While one chunk is held the next is
 * read, so two are at hand at most.  From the moment its query is sent
 * until it is the held chunk, the stream's changes of the table are kept
 * in log; when it becomes the held chunk, they remove their keys, as the
 * changes that come while it is held do.
 */
struct chunk {
	bool copying;		/* the COPY began: rows come */
	bool final;		/* the empty chunk after the last */
	int sees;		/* its snapshot sees the delivered transactions */
	uint64_t H;		/* the server's WAL position as the chunk's query began */
	int64_t ts_us;
	int64_t t_query, t_read, t_idle;	/* event_now_ns(); t_idle: connection unused before */
	char *key;		/* last key of its rows (hex), NULL: no rows */
	struct buf store;
	struct held_row *rows;
	int nrows, cap;
	int *slots;		/* hash index of rows by key: -1 empty */
	size_t nslots;		/* a power of two, at least twice nrows */
	struct buf lastraw;	/* the last COPY row (its key starts the next chunk) */
	/* The transactions delivered when its query was sent: it must see them. */
	uint32_t xids[RECENT_XIDS];
	int nxids;
	/* Changes of the table since its query was sent: (key length, key)
	 * records; length LOG_TRUNCATE for a truncate. */
	struct buf log;
};

#define LOG_TRUNCATE UINT32_MAX

/* A chunk written out, waiting for its acknowledgement. */
struct done_chunk {
	struct cdc_pos pos;	/* its last event (or the last event before it) */
	char *key;		/* last key after it (hex values), NULL: none yet */
	uint64_t rows;		/* rows of the request written up to it */
	bool final;		/* incremental_end written */
};

struct incr {
	char *signal_file, *state_path;
	int chunk_size;
	PGconn *conn;
	uint64_t sig_off;
	int64_t last_sig_check, last_connect, last_ka_req;

	/* The request being served. */
	bool active;
	char *request;		/* the line, as in the state file */
	char *reqbuf;		/* parsed copy: table and cond point into it */
	const char *table, *cond;
	bool described;
	struct snap_table t;
	int npk;
	int *pk;		/* column indexes of the primary key, in index order */
	char *read_key;		/* last key read (hex values), NULL: from the start: the next chunk starts after it */
	bool begun;		/* incremental_begin written */
	bool read_done;		/* the empty chunk after the last was read */
	uint64_t rows;		/* rows written for this request */
	uint64_t chunks;
	/* The commit LSN of the last event written before the first chunk was
	 * read (0: not yet).  Every event written after it has a higher one. */
	uint64_t since;

	/* Acknowledged progress (the state file, written once a second or
	 * every STATE_CHUNKS chunks: a restart then repeats a few chunks). */
	bool state_dirty;
	int64_t state_written_ms;
	int chunks_unsaved;
	char *acked_key;
	uint64_t acked_rows;
	bool acked_begun;

	/* The chunks: held (waiting for the stream to pass its H) and next
	 * (being read, or read and waiting for held to be written); either
	 * NULL, pointing into ch[]. */
	struct chunk ch[2];
	struct chunk *held, *next;
	char *written_key;	/* last key of the chunks written, NULL: none */
	uint64_t P;		/* the commit position the chunk being written uses */
	int server_version;
	/* The transactions the stream delivered last (ring): a chunk whose
	 * snapshot does not see one of them is read again. */
	uint32_t recent_xids[RECENT_XIDS];
	int nrecent, recent_next;
	uint64_t raced_total;

	struct done_chunk *fifo;
	int nfifo, fcap;

	/* Where a chunk's time goes (event_now_ns() clock): -vv and the metrics. */
	int64_t t_conn_free;	/* when the chunk connection's last query ended */
	uint64_t read_ns_total, held_ns_total, write_ns_total;

	uint64_t rows_total, chunks_total, removed_total;
	struct row_formatter fmt;
	struct buf kbuf, kold, scratch, sql;
};

/* ------------------------------------------------------------ requests */

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

int
incr_request_parse(char *s, const char **table, const char **cond, const char **err)
{
	char *p = s, *t;

	for (char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t') {
			*err = "control characters in the request";
			return -1;
		}
	while (is_space(*p))
		p++;
	if (strncasecmp(p, "snapshot", 8) != 0 || !is_space(p[8])) {
		*err = "a request starts with 'snapshot TABLE'";
		return -1;
	}
	p += 8;
	while (is_space(*p))
		p++;
	t = p;
	while (*p && !is_space(*p)) {
		if (*p == '"') {
			for (p++; *p && !(*p == '"' && p[1] != '"'); p++)
				if (*p == '"')
					p++;	/* a doubled quote */
			if (!*p) {
				*err = "unterminated quoted identifier";
				return -1;
			}
		}
		p++;
	}
	if (p == t) {
		*err = "no table after 'snapshot'";
		return -1;
	}
	if (*p)
		*p++ = '\0';
	*table = t;
	*cond = NULL;
	while (is_space(*p))
		p++;
	if (!*p)
		return 0;
	if (strncasecmp(p, "where", 5) != 0 || !is_space(p[5])) {
		*err = "expected 'where CONDITION' after the table";
		return -1;
	}
	p += 5;
	while (is_space(*p))
		p++;
	{
		char *e = p + strlen(p);

		while (e > p && is_space(e[-1]))
			*--e = '\0';
	}
	if (!*p) {
		*err = "empty condition after 'where'";
		return -1;
	}
	*cond = p;
	return 0;
}

_Noreturn void
incr_signal_write(const char *file, const char *request)
{
	char *copy = xstrdup(request);
	const char *table, *cond, *err;
	struct buf line = BUF_INIT;
	ssize_t n;
	int fd;

	if (incr_request_parse(copy, &table, &cond, &err) < 0)
		die_usage("invalid --signal request '%s': %s (snapshot TABLE [where CONDITION])", request, err);
	free(copy);
	buf_adds(&line, request);
	buf_addc(&line, '\n');
	fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		die_errno("cannot open signal file %s", file);
	/* One write with O_APPEND: a whole line, never interleaved with another writer's. */
	n = write(fd, line.data, line.len);
	if (n < 0 || (size_t)n != line.len)
		die_errno("cannot append to signal file %s", file);
	if (fsync(fd) < 0 || close(fd) < 0)
		die_errno("cannot write signal file %s", file);
	buf_release(&line);
	exit(CDC_EXIT_OK);
}

char *
incr_state_path(const char *snapshot_state, const char *signal_file)
{
	struct buf b = BUF_INIT;

	if (snapshot_state)
		buf_addf(&b, "%s.incremental", snapshot_state);
	else
		buf_addf(&b, "%s.state", signal_file);
	return buf_detach(&b, NULL);
}

/* ------------------------------------------------------------ state file */

static void
state_write(struct incr *in)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "# cdc-capture incremental snapshot state (see cdc-capture(1))\nversion=1\n");
	buf_addf(&b, "signal_offset=%llu\n", (unsigned long long)in->sig_off);
	if (in->active) {
		buf_addf(&b, "request=%s\n", in->request);
		buf_addf(&b, "begun=%d\nrows=%llu\n", in->acked_begun ? 1 : 0, (unsigned long long)in->acked_rows);
		if (in->acked_key)
			buf_addf(&b, "last_key=%s\n", in->acked_key);
		if (in->since)
			buf_addf(&b, "since_lsn=%llu\n", (unsigned long long)in->since);
	}
	if (atomic_write_file(in->state_path, b.data, b.len, 0600) < 0)
		die_errno("cannot write incremental snapshot state file %s", in->state_path);
	buf_release(&b);
	in->state_dirty = false;
	in->state_written_ms = mono_ms();
	in->chunks_unsaved = 0;
}

/*
 * Progress made (chunks acknowledged): write it now when forced (the
 * request finished), else once a second or every STATE_CHUNKS chunks
 * (each write is a few fsyncs, once per chunk they cost more than the
 * chunk; a restart from a slightly older key only repeats chunks, which
 * fold the same).
 */
static void
state_save(struct incr *in, int chunks, bool force)
{
	in->state_dirty = true;
	in->chunks_unsaved += chunks;
	if (force || in->chunks_unsaved >= STATE_CHUNKS || mono_ms() - in->state_written_ms >= STATE_MS)
		state_write(in);
}

static bool
set_request(struct incr *in, const char *line)
{
	const char *err;

	free(in->request);
	free(in->reqbuf);
	in->request = xstrdup(line);
	in->reqbuf = xstrdup(line);
	if (incr_request_parse(in->reqbuf, &in->table, &in->cond, &err) < 0) {
		warning("signal file %s: dropping request '%s': %s", in->signal_file, line, err);
		return false;
	}
	return true;
}

static void
state_read(struct incr *in)
{
	struct buf text = BUF_INIT;
	struct kv_iter it;
	const char *k, *v;
	size_t klen, vlen;
	int r = read_file(in->state_path, 1 << 20, false, &text);

	if (r == 1)
		return;
	if (r < 0)
		die_errno("cannot read incremental snapshot state file %s", in->state_path);
	kv_begin(&it, text.data, text.len);
	while ((r = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
		char *val = xmalloc(vlen + 1);

		memcpy(val, v, vlen);
		val[vlen] = '\0';
		if (kv_key_is(k, klen, "version") && strcmp(val, "1") != 0) {
			die("%s: line %u: unsupported version", in->state_path, it.lineno);
		} else if (kv_key_is(k, klen, "signal_offset")) {
			if (parse_u64(val, 0, UINT64_MAX, &in->sig_off) < 0)
				die("%s: line %u: signal_offset is not a number", in->state_path, it.lineno);
		} else if (kv_key_is(k, klen, "request")) {
			in->active = set_request(in, val);
		} else if (kv_key_is(k, klen, "begun")) {
			in->acked_begun = strcmp(val, "1") == 0;
		} else if (kv_key_is(k, klen, "rows")) {
			if (parse_u64(val, 0, UINT64_MAX, &in->acked_rows) < 0)
				die("%s: line %u: rows is not a number", in->state_path, it.lineno);
		} else if (kv_key_is(k, klen, "since_lsn")) {
			if (parse_u64(val, 0, UINT64_MAX, &in->since) < 0)
				die("%s: line %u: since_lsn is not a number", in->state_path, it.lineno);
		} else if (kv_key_is(k, klen, "last_key")) {
			free(in->acked_key);
			in->acked_key = xstrdup(val);
		}
		free(val);
	}
	if (r < 0)
		die("%s: line %u: not a cdc-capture incremental snapshot state file", in->state_path, it.lineno);
	buf_release(&text);
	if (in->active) {
		in->read_key = in->acked_key ? xstrdup(in->acked_key) : NULL;
		in->written_key = in->acked_key ? xstrdup(in->acked_key) : NULL;
		in->rows = in->acked_rows;
		in->begun = in->acked_begun;
		info(0, "incremental snapshot: resuming '%s' after %llu rows", in->request,
		     (unsigned long long)in->rows);
	}
}

/* ------------------------------------------------------------ setup */

struct incr *
incr_new(struct capture *c)
{
	struct incr *in = xcalloc(1, sizeof(*in));

	in->signal_file = xstrdup(c->o.signal_file);
	in->state_path = incr_state_path(c->o.snapshot_state, c->o.signal_file);
	in->chunk_size = c->o.snapshot_chunk;
	in->kbuf = in->kold = in->scratch = in->sql = (struct buf)BUF_INIT;
	for (int i = 0; i < 2; i++)
		in->ch[i].store = in->ch[i].lastraw = in->ch[i].log = (struct buf)BUF_INIT;
	rowfmt_init(&in->fmt, c->tm, &c->ctx, 0, 0);
	state_read(in);
	info(1, "incremental snapshots: signal file %s, state %s", in->signal_file, in->state_path);
	return in;
}

/* Let go of a chunk (its buffers stay for the next). */
static void
chunk_drop(struct incr *in, struct chunk *ch)
{
	free(ch->key);
	ch->key = NULL;
	ch->copying = ch->final = false;
	ch->nrows = 0;
	buf_reset(&ch->log);
	if (in->held == ch)
		in->held = NULL;
	if (in->next == ch)
		in->next = NULL;
}

/* A chunk whose query is in flight: end it with the connection. */
static bool
reading(const struct incr *in)
{
	return in->next && in->next->t_read == 0;
}

static void
request_clear(struct incr *in)
{
	if (reading(in) && in->conn) {
		PQfinish(in->conn);
		in->conn = NULL;
	}
	if (in->described)
		copy_table_free(&in->t);
	in->described = false;
	free(in->pk);
	in->pk = NULL;
	free(in->read_key);
	free(in->acked_key);
	free(in->written_key);
	in->read_key = in->acked_key = in->written_key = NULL;
	for (int i = 0; i < 2; i++)
		chunk_drop(in, &in->ch[i]);
	in->active = in->begun = in->read_done = in->acked_begun = false;
	in->rows = in->acked_rows = in->chunks = in->since = 0;
	for (int i = 0; i < in->nfifo; i++)
		free(in->fifo[i].key);
	in->nfifo = 0;
}

void
incr_free(struct incr *in)
{
	if (!in)
		return;
	if (in->state_dirty)
		state_write(in);
	request_clear(in);
	if (in->conn)
		PQfinish(in->conn);
	free(in->request);
	free(in->reqbuf);
	for (int i = 0; i < 2; i++) {
		free(in->ch[i].rows);
		free(in->ch[i].slots);
		buf_release(&in->ch[i].store);
		buf_release(&in->ch[i].lastraw);
		buf_release(&in->ch[i].log);
	}
	free(in->fifo);
	buf_release(&in->kbuf);
	buf_release(&in->kold);
	buf_release(&in->scratch);
	buf_release(&in->sql);
	rowfmt_free(&in->fmt);
	free(in->signal_file);
	free(in->state_path);
	free(in);
}

static const char *
conn_msg(PGconn *conn, const PGresult *res)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return pq_message(m ? m : PQerrorMessage(conn));
}

/* The chunk connection: a normal one, read only.  NULL when not (yet) there. */
static PGconn *
chunk_conn(struct capture *c, struct incr *in)
{
	const char *keys[] = { CAPTURE_KEEPALIVE_KEYS, "dbname", "options", "fallback_application_name", NULL };
	const char *vals[] = { CAPTURE_KEEPALIVE_VALS, c->o.conninfo ? c->o.conninfo : "",
			       capture_session_options, "cdc-capture incremental", NULL };
	PGresult *res;

	if (in->conn && PQstatus(in->conn) == CONNECTION_OK)
		return in->conn;
	if (in->conn) {
		PQfinish(in->conn);
		in->conn = NULL;
	}
	if (mono_ms() - in->last_connect < 1000)
		return NULL;
	in->last_connect = mono_ms();
	in->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(in->conn) != CONNECTION_OK) {
		warning("incremental snapshot: cannot connect: %s", conn_msg(in->conn, NULL));
		PQfinish(in->conn);
		in->conn = NULL;
		return NULL;
	}
	/* The condition is SQL: whatever it calls, it only reads. */
	res = PQexec(in->conn, "SET default_transaction_read_only = on");
	PQclear(res);
	return in->conn;
}

/* ------------------------------------------------------------ hex keys */

static void
hex_add(struct buf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		buf_addc(b, hx[(unsigned char)s[i] >> 4]);
		buf_addc(b, hx[(unsigned char)s[i] & 15]);
	}
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* The i-th value of a hex key into out; -1 when malformed. */
static int
hex_value(const char *key, int i, struct buf *out)
{
	const char *p = key;

	buf_reset(out);
	for (; i > 0; i--) {
		p = strchr(p, ',');
		if (!p)
			return -1;
		p++;
	}
	for (; *p && *p != ','; p += 2) {
		int hi = hexval(p[0]), lo = hi >= 0 ? hexval(p[1]) : -1;

		if (lo < 0)
			return -1;
		buf_addc(out, (char)(hi << 4 | lo));
	}
	return 0;
}

/* ------------------------------------------------------------ describe */

static void
drop_request(struct incr *in, const char *why)
{
	warning("incremental snapshot '%s' refused: %s", in->request, why);
	request_clear(in);
	state_write(in);
}

/* Returns 1 described, 0 not yet (no connection), -1 refused (dropped). */
static int
describe(struct capture *c, struct incr *in)
{
	PGconn *conn = chunk_conn(c, in);
	const char *params[1];
	char oid[16];
	PGresult *res;
	int r, npub = 0;

	if (!conn)
		return 0;
	r = snapshot_describe_table(conn, c->server_version, (const char *const *)c->o.pubs, c->o.npubs,
				    in->table, &in->t);
	if (r < 0) {
		if (PQstatus(conn) != CONNECTION_OK)
			return 0;
		drop_request(in, "cannot read the table (does it exist?)");
		return -1;
	}
	if (r == 0) {
		drop_request(in, "the table is not in the publication (add it first: its changes must stream)");
		return -1;
	}
	in->described = true;
	snprintf(oid, sizeof(oid), "%u", in->t.oid);
	params[0] = oid;
	res = PQexecParams(conn,
			   "SELECT a.attname FROM pg_catalog.pg_index i "
			   "CROSS JOIN LATERAL pg_catalog.generate_series(0, i.indnkeyatts - 1) k "
			   "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k] "
			   "WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k",
			   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		warning("incremental snapshot: cannot read the primary key of %s: %s", in->table, conn_msg(conn, res));
		PQclear(res);
		drop_request(in, "cannot read its primary key");
		return -1;
	}
	in->npk = PQntuples(res);
	in->pk = xcalloc((size_t)in->npk + 1, sizeof(int));
	for (int k = 0; k < in->npk; k++) {
		int j;

		for (j = 0; j < in->t.ncols && strcmp(in->t.cols[j].name, PQgetvalue(res, k, 0)) != 0; j++)
			;
		in->pk[k] = j < in->t.ncols ? j : -1;
		if (j < in->t.ncols)
			npub++;
	}
	PQclear(res);
	if (in->npk == 0) {
		drop_request(in, "the table has no primary key (chunks are read in primary key order)");
		return -1;
	}
	for (int j = 0; j < in->t.ncols; j++)
		if (in->t.cols[j].is_key != in->t.cols[j].is_pk)
			npub = -1;
	if (npub != in->npk) {
		drop_request(in, "its primary key is not the events' key (not all of it published, or the "
			     "replica identity does not send it)");
		return -1;
	}
	info(1, "incremental snapshot of %s.%s%s%s: %d columns, chunks of %d rows", in->t.schema, in->t.name,
	     in->cond ? " where " : "", in->cond ? in->cond : "", in->t.ncols, in->chunk_size);
	return 1;
}

/* ------------------------------------------------------------ chunks */

static void
add_pk_list(struct incr *in, struct buf *q)
{
	for (int k = 0; k < in->npk; k++) {
		if (k)
			buf_adds(q, ", ");
		sql_add_ident(q, in->t.cols[in->pk[k]].name);
	}
}

/* The chunk's COPY statement. */
static int
chunk_sql(struct incr *in, PGconn *conn, struct buf *q)
{
	const struct snap_table *t = &in->t;
	struct buf v = BUF_INIT;

	buf_reset(q);
	/* H comes first in every row: a scalar subquery, run once, as the
	 * query starts (so one round trip reads the chunk and H).  As text:
	 * else the server formats the WAL position and the snapshot again for
	 * every row (measured: a tenth of the chunk queries' time). */
	buf_adds(q, "COPY (SELECT (SELECT pg_catalog.pg_current_wal_lsn()::text), (SELECT pg_catalog.");
	buf_adds(q, in->server_version >= 130000 ? "pg_current_snapshot()::text)" : "txid_current_snapshot()::text)");
	for (int i = 0; i < t->ncols; i++) {
		buf_adds(q, ", ");
		sql_add_ident(q, t->cols[i].name);
	}
	buf_adds(q, t->relkind == 'p' ? " FROM " : " FROM ONLY ");
	sql_add_ident(q, t->schema);
	buf_addc(q, '.');
	sql_add_ident(q, t->name);
	buf_adds(q, " WHERE true");
	if (in->read_key) {
		buf_adds(q, " AND (");
		add_pk_list(in, q);
		buf_adds(q, ") > (");
		for (int k = 0; k < in->npk; k++) {
			char *lit;

			if (hex_value(in->read_key, k, &v) < 0) {
				buf_release(&v);
				return error("incremental snapshot: malformed last key in the state");
			}
			lit = PQescapeLiteral(conn, v.data ? v.data : "", v.len);
			if (!lit)
				die("out of memory");
			if (k)
				buf_adds(q, ", ");
			buf_adds(q, lit);
			PQfreemem(lit);
		}
		buf_addc(q, ')');
	}
	if (t->filter)
		buf_addf(q, " AND (%s)", t->filter);
	if (in->cond)
		buf_addf(q, " AND (%s)", in->cond);
	buf_adds(q, " ORDER BY ");
	add_pk_list(in, q);
	buf_addf(q, " LIMIT %d) TO STDOUT", in->chunk_size);
	buf_release(&v);
	return 0;
}

static int
wal_lsn(PGconn *conn, uint64_t *out)
{
	PGresult *res = PQexec(conn, "SELECT pg_catalog.pg_current_wal_lsn()");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || lsn_parse(PQgetvalue(res, 0, 0), out) < 0)
	{
		warning("incremental snapshot: cannot read the WAL position: %s", conn_msg(conn, res));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* The primary key values of a COPY row, as hex. */
static char *
row_key(struct incr *in, const char *row, size_t n)
{
	struct buf out = BUF_INIT, f = BUF_INIT;

	if (n > 0 && row[n - 1] == '\n')
		n--;
	for (int k = 0; k < in->npk; k++) {
		const char *p = row, *end = row + n;

		for (int i = 0; i < in->pk[k] && p; i++) {
			p = memchr(p, '\t', (size_t)(end - p));
			if (p)
				p++;
		}
		if (!p)
			p = end;
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		size_t len = tab ? (size_t)(tab - p) : (size_t)(end - p);

		buf_reset(&f);
		copy_unescape(&f, p, len);
		if (k)
			buf_addc(&out, ',');
		hex_add(&out, f.data ? f.data : "", f.len);
	}
	buf_release(&f);
	if (!out.data)
		buf_adds(&out, "");
	return buf_detach(&out, NULL);
}

/*
 * The chunk's snapshot ("xmin:xmax:xip,..."): does it see every
 * transaction the stream delivered so far?  A transaction's commit record
 * can be in the WAL, decoded and delivered before the transaction is
 * visible to new snapshots; a chunk read then would hold rows older than
 * events already written, and nothing would remove them.  Returns 1 when
 * it sees them all, 0 when not, -1 when the text is malformed.
 */
static int
sees_delivered(const struct chunk *ch, const char *snap)
{
	char *end;
	unsigned long long xmax;

	errno = 0;
	(void)strtoull(snap, &end, 10);
	if (errno || *end != ':')
		return -1;
	xmax = strtoull(end + 1, &end, 10);
	if (errno || *end != ':')
		return -1;
	for (int i = 0; i < ch->nxids; i++)
		if ((int32_t)(ch->xids[i] - (uint32_t)xmax) >= 0)
			return 0;
	for (const char *p = end + 1; *p; p = *end == ',' ? end + 1 : end) {
		unsigned long long x = strtoull(p, &end, 10);

		if (errno || end == p || (*end && *end != ','))
			return -1;
		for (int i = 0; i < ch->nxids; i++)
			if (ch->xids[i] == (uint32_t)x)
				return 0;
	}
	return 1;
}

/* Index the held rows by key hash (remove_key() looks them up there). */
static void
index_rows(struct chunk *ch)
{
	size_t want = 16;

	while (want < 2 * (size_t)ch->nrows)
		want *= 2;
	if (want != ch->nslots) {
		free(ch->slots);
		ch->slots = xmalloc(want * sizeof(*ch->slots));
		ch->nslots = want;
	}
	for (size_t i = 0; i < ch->nslots; i++)
		ch->slots[i] = -1;
	for (int i = 0; i < ch->nrows; i++) {
		size_t j = ch->rows[i].hash & (ch->nslots - 1);

		while (ch->slots[j] >= 0)
			j = (j + 1) & (ch->nslots - 1);
		ch->slots[j] = i;
	}
}

/*
 * Send the next chunk's query (it runs while the stream goes on, and
 * while the held chunk waits).  Only between transactions: every
 * transaction delivered so far is then whole, and the chunk's snapshot
 * must see them all (sees_delivered()); the changes delivered from now on
 * go to its log.  Returns 0, or -1 (try again later).
 */
static int
chunk_send(struct capture *c, struct incr *in)
{
	PGconn *conn = chunk_conn(c, in);
	struct chunk *ch = in->held == &in->ch[0] ? &in->ch[1] : &in->ch[0];

	if (!conn)
		return -1;
	in->server_version = c->server_version;
	if (chunk_sql(in, conn, &in->sql) < 0) {
		drop_request(in, "its saved progress is unreadable");
		return -1;
	}
	/* A snapshot from the start: what the stream wrote so far is older. */
	if (!in->begun && !in->read_key)
		in->since = c->last_pos.commit_lsn;
	chunk_drop(in, ch);
	buf_reset(&ch->store);
	ch->sees = 1;
	ch->t_query = event_now_ns();
	ch->t_read = 0;
	ch->t_idle = in->t_conn_free ? ch->t_query - in->t_conn_free : 0;
	ch->ts_us = ch->t_query / 1000;
	memcpy(ch->xids, in->recent_xids, (size_t)in->nrecent * sizeof(*ch->xids));
	ch->nxids = in->nrecent;
	/* Extended protocol: one statement, whatever the condition holds. */
	if (!PQsendQueryParams(conn, in->sql.data, 0, NULL, NULL, NULL, NULL, 0)) {
		warning("incremental snapshot of %s.%s: %s", in->t.schema, in->t.name, conn_msg(conn, NULL));
		return -1;
	}
	in->next = ch;
	return 0;
}

/* One COPY row of the chunk: its H and snapshot (first row), its event body. */
static void
chunk_row(struct incr *in, struct chunk *ch, char *row, size_t n)
{
	struct held_row *h;
	char *tab = memchr(row, '\t', n);
	const char *fields;
	size_t flen;

	if (!tab)
		die_status(CDC_EXIT_DATAERR, "incremental snapshot of %s.%s: a COPY row without fields",
			   in->t.schema, in->t.name);
	if (ch->nrows == 0) {
		*tab = '\0';
		if (lsn_parse(row, &ch->H) < 0)
			die_status(CDC_EXIT_DATAERR, "incremental snapshot of %s.%s: not a WAL position: %s",
				   in->t.schema, in->t.name, row);
	}
	fields = tab + 1;
	tab = memchr(fields, '\t', n - (size_t)(fields - row));
	if (!tab)
		die_status(CDC_EXIT_DATAERR, "incremental snapshot of %s.%s: a COPY row without fields",
			   in->t.schema, in->t.name);
	if (ch->nrows == 0) {
		*tab = '\0';
		ch->sees = sees_delivered(ch, fields);
		if (ch->sees < 0)
			die_status(CDC_EXIT_DATAERR, "incremental snapshot of %s.%s: not a snapshot: %s",
				   in->t.schema, in->t.name, fields);
	}
	fields = tab + 1;
	flen = n - (size_t)(fields - row);
	if (copy_row_body(&in->fmt, &in->t, fields, flen, &in->scratch) < 0)
		die_status(CDC_EXIT_DATAERR, "incremental snapshot of %s.%s: a COPY row does not have %d fields",
			   in->t.schema, in->t.name, in->t.ncols);
	if (ch->nrows == ch->cap) {
		ch->cap = ch->cap ? 2 * ch->cap : 1024;
		ch->rows = xrealloc(ch->rows, (size_t)ch->cap * sizeof(*ch->rows));
	}
	h = &ch->rows[ch->nrows++];
	h->off = ch->store.len;
	h->len = in->scratch.len;
	h->key_off = ch->store.len + in->fmt.key_at;
	h->hash = fnv1a(FNV1A_INIT, in->scratch.data + in->fmt.key_at, in->scratch.len - in->fmt.key_at);
	h->alive = true;
	buf_add(&ch->store, in->scratch.data, in->scratch.len);
	/* The last row's key is where the next chunk starts. */
	buf_reset(&ch->lastraw);
	buf_add(&ch->lastraw, fields, flen);
}

static void promote(struct incr *in);

/* The query of the next chunk ended: keep the chunk, or read it again. */
static int
chunk_read(struct capture *c, struct incr *in, struct chunk *ch)
{
	PGconn *conn = in->conn;

	in->t_conn_free = event_now_ns();
	if (!ch->sees) {
		info(1, "incremental snapshot of %s.%s: a transaction the stream delivered was not visible "
		     "to the chunk yet: reading it again", in->t.schema, in->t.name);
		in->raced_total++;
		chunk_drop(in, ch);
		return -1;
	}
	/* The empty chunk after the last has no row to carry H. */
	if (ch->nrows == 0 && wal_lsn(conn, &ch->H) < 0) {
		chunk_drop(in, ch);
		return -1;
	}
	if (ch->nrows > 0) {
		ch->key = row_key(in, ch->lastraw.data, ch->lastraw.len);
		free(in->read_key);
		in->read_key = xstrdup(ch->key);
	} else {
		ch->final = true;
		in->read_done = true;
	}
	index_rows(ch);
	ch->t_read = event_now_ns();
	in->read_ns_total += (uint64_t)(ch->t_read - ch->t_query);
	info(2, "incremental snapshot of %s.%s: chunk of %d rows read at %llX", in->t.schema,
	     in->t.name, ch->nrows, (unsigned long long)ch->H);
	(void)c;
	promote(in);
	return 0;
}

/*
 * Take what the next chunk's query has sent so far, without waiting.
 * Returns 1 when the chunk was read whole, 0 when more is to come, -1 when
 * it failed (it is read again later, or the request was dropped).
 */
static int
chunk_receive(struct capture *c, struct incr *in)
{
	struct chunk *ch = in->next;
	PGconn *conn = in->conn;
	PGresult *res;
	char *row = NULL;
	int n;

	if (!PQconsumeInput(conn)) {
		warning("incremental snapshot of %s.%s: the chunk failed: %s", in->t.schema, in->t.name,
			conn_msg(conn, NULL));
		chunk_drop(in, ch);
		return -1;
	}
	if (!ch->copying) {
		if (PQisBusy(conn))
			return 0;
		res = PQgetResult(conn);
		if (PQresultStatus(res) != PGRES_COPY_OUT) {
			warning("incremental snapshot of %s.%s: %s", in->t.schema, in->t.name, conn_msg(conn, res));
			PQclear(res);
			while ((res = PQgetResult(conn)))
				PQclear(res);
			chunk_drop(in, ch);
			if (PQstatus(conn) == CONNECTION_OK)
				drop_request(in, "the chunk query failed (is the condition valid SQL?)");
			return -1;
		}
		PQclear(res);
		ch->copying = true;
	}
	while ((n = PQgetCopyData(conn, &row, 1)) > 0) {
		chunk_row(in, ch, row, (size_t)n);
		PQfreemem(row);
	}
	if (n == 0)
		return 0;
	res = PQgetResult(conn);
	if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
		warning("incremental snapshot of %s.%s: the chunk failed: %s", in->t.schema, in->t.name,
			conn_msg(conn, res));
		PQclear(res);
		while ((res = PQgetResult(conn)))
			PQclear(res);
		chunk_drop(in, ch);
		return -1;
	}
	PQclear(res);
	while ((res = PQgetResult(conn)))
		PQclear(res);
	return chunk_read(c, in, ch) < 0 ? -1 : 1;
}

/* ------------------------------------------------------------ writing */

static void
control(struct capture *c, struct incr *in, const char *op, uint64_t seq)
{
	struct event_src src = { .schema = in->t.schema, .table = in->t.name, .lsn = in->P, .commit_lsn = in->P,
				 .seq = seq, .ts_us = in->held->ts_us, .snapshot = "incremental" };

	buf_reset(&c->ev);
	buf_adds(&c->ev, "{\"op\":\"");
	buf_adds(&c->ev, op);
	buf_adds(&c->ev, "\",\"snapshot\":{\"condition\":");
	if (in->cond)
		json_add_str(&c->ev, in->cond, strlen(in->cond));
	else
		buf_adds(&c->ev, "null");
	buf_adds(&c->ev, ",\"since_lsn\":");
	if (in->since)
		json_add_u64(&c->ev, in->since);
	else
		buf_adds(&c->ev, "null");
	if (strcmp(op, "incremental_begin") == 0) {
		buf_addf(&c->ev, ",\"chunk_size\":%d", in->chunk_size);
		if (in->written_key)
			buf_adds(&c->ev, ",\"resumed\":true");
	} else {
		buf_adds(&c->ev, ",\"rows\":");
		json_add_u64(&c->ev, in->rows);
	}
	buf_addc(&c->ev, '}');
	event_source(&c->ev, &c->ctx, &src, event_now_ns());
	capture_emit(c, in->P, seq);
}

static void fifo_check(struct capture *c, struct incr *in);

/* The stream has passed H: write what is left of the held chunk. */
static void
flush_chunk(struct capture *c, struct incr *in)
{
	struct chunk *ch = in->held;
	uint64_t seq = INCR_SEQ_BASE, written = 0;
	struct done_chunk *d;
	int64_t t_flush = event_now_ns(), t_done;

	/* At H, unless nothing was written at H yet: then just below it, so
	 * that a transaction whose commit record starts right at H (possible
	 * when a keepalive at H let the chunk go) still comes after.  When
	 * the stream went past H while the chunk was still being read: after
	 * the last event written (the changes in between removed their keys).
	 * After a chunk at the same position (an idle server), or after a
	 * restart whose acknowledged position is one: go on from there. */
	in->P = c->last_pos.commit_lsn > ch->H - 1 ? c->last_pos.commit_lsn : ch->H - 1;
	if (c->last_pos.commit_lsn == in->P && c->last_pos.seq >= INCR_SEQ_BASE)
		seq = c->last_pos.seq + 1;
	in->fmt.lsn = in->P;
	in->fmt.ts_us = ch->ts_us;
	copy_table_template(&in->fmt, &in->t);
	if (!in->begun) {
		control(c, in, "incremental_begin", seq++);
		in->begun = true;
	}
	for (int i = 0; i < ch->nrows; i++) {
		const struct held_row *h = &ch->rows[i];

		if (!h->alive)
			continue;
		buf_reset(&c->ev);
		buf_add(&c->ev, ch->store.data + h->off, h->len);
		copy_row_tail(&in->fmt, &in->t, seq, "incremental", event_now_ns(), &c->ev);
		capture_emit(c, in->P, seq++);
		written++;
	}
	t_done = event_now_ns();
	in->held_ns_total += (uint64_t)(t_flush - ch->t_read);
	in->write_ns_total += (uint64_t)(t_done - t_flush);
	info(2, "incremental snapshot of %s.%s: chunk %llu: after %.1f ms, read %.1f ms, held %.1f ms, "
	     "written %.1f ms", in->t.schema, in->t.name, (unsigned long long)in->chunks + 1,
	     (double)ch->t_idle / 1e6, (double)(ch->t_read - ch->t_query) / 1e6,
	     (double)(t_flush - ch->t_read) / 1e6, (double)(t_done - t_flush) / 1e6);
	in->rows += written;
	in->rows_total += written;
	in->chunks++;
	in->chunks_total++;
	if (ch->final) {
		control(c, in, "incremental_end", seq++);
		info(0, "incremental snapshot of %s.%s done: %llu rows in %llu chunks", in->t.schema, in->t.name,
		     (unsigned long long)in->rows, (unsigned long long)in->chunks);
	} else {
		free(in->written_key);
		in->written_key = xstrdup(ch->key);
		info(1, "incremental snapshot of %s.%s: %llu rows, %llu chunks (chunk %d read, %llu written)",
		     in->t.schema, in->t.name, (unsigned long long)in->rows, (unsigned long long)in->chunks,
		     ch->nrows, (unsigned long long)written);
	}
	if (in->nfifo == in->fcap) {
		in->fcap = in->fcap ? 2 * in->fcap : 16;
		in->fifo = xrealloc(in->fifo, (size_t)in->fcap * sizeof(*in->fifo));
	}
	d = &in->fifo[in->nfifo++];
	d->pos = c->last_pos;
	d->key = in->written_key ? xstrdup(in->written_key) : NULL;
	d->rows = in->rows;
	d->final = ch->final;
	chunk_drop(in, ch);
	promote(in);
	if (!c->o.ack_file) {
		/* Done once written: flush it out now. */
		if (wr_flush(&c->w) < 0)
			wr_die_on_error(&c->w, "standard output");
		fifo_check(c, in);
	}
}

/* Acknowledged chunks: record the progress. */
static void
fifo_check(struct capture *c, struct incr *in)
{
	int done = 0;
	bool final = false;

	while (done < in->nfifo &&
	       (!c->o.ack_file || (c->ack_have && !c->ack.snapshot && pos_cmp(&c->ack.pos, &in->fifo[done].pos) >= 0)))
		done++;
	if (done == 0)
		return;
	{
		struct done_chunk *d = &in->fifo[done - 1];

		free(in->acked_key);
		in->acked_key = d->key;
		d->key = NULL;
		in->acked_rows = d->rows;
		in->acked_begun = true;
		final = d->final;
	}
	for (int i = 0; i < done; i++)
		free(in->fifo[i].key);
	memmove(in->fifo, in->fifo + done, (size_t)(in->nfifo - done) * sizeof(*in->fifo));
	in->nfifo -= done;
	if (final) {
		info(1, "incremental snapshot '%s' acknowledged", in->request);
		request_clear(in);
	}
	state_save(in, done, final);
}

/* ------------------------------------------------------------ the stream */

static bool
is_table(const struct incr *in, const struct pgo_rel *rel)
{
	return in && (in->held || in->next) && rel && strcmp(rel->relname, in->t.name) == 0 &&
	       strcmp(rel->nspname, in->t.schema) == 0;
}

static void
remove_key(struct incr *in, struct chunk *ch, const char *k, size_t len)
{
	uint64_t h;

	if (!len)
		return;
	h = fnv1a(FNV1A_INIT, k, len);
	for (size_t j = h & (ch->nslots - 1); ch->slots[j] >= 0; j = (j + 1) & (ch->nslots - 1)) {
		struct held_row *r = &ch->rows[ch->slots[j]];

		if (r->alive && r->hash == h && r->off + r->len - r->key_off == len &&
		    memcmp(ch->store.data + r->key_off, k, len) == 0) {
			r->alive = false;
			in->removed_total++;
			return;
		}
	}
}

static void
remove_all(struct chunk *ch)
{
	for (int i = 0; i < ch->nrows; i++)
		ch->rows[i].alive = false;
}

static void
log_add(struct chunk *ch, const char *k, uint32_t len)
{
	if (len == 0)
		return;
	buf_add(&ch->log, (const char *)&len, sizeof(len));
	if (len != LOG_TRUNCATE)
		buf_add(&ch->log, k, len);
}

/*
 * The next chunk, read, becomes the held one once nothing else is held.
 * Every change the stream delivered since its query was sent is written
 * before the chunk, so it removes its keys: a change its snapshot saw
 * leaves the stream's image, as new as the chunk's, to fold; one it did
 * not see, a newer one.  (The changes delivered before the query was sent
 * the chunk sees: sees_delivered() made sure.)
 */
static void
promote(struct incr *in)
{
	struct chunk *ch = in->next;
	size_t off = 0;

	if (in->held || !ch || ch->t_read == 0)
		return;
	while (off < ch->log.len) {
		uint32_t len;

		memcpy(&len, ch->log.data + off, sizeof(len));
		off += sizeof(len);
		if (len == LOG_TRUNCATE) {
			remove_all(ch);
			continue;
		}
		remove_key(in, ch, ch->log.data + off, len);
		off += len;
	}
	buf_reset(&ch->log);
	in->held = ch;
	in->next = NULL;
	in->last_ka_req = 0;
}

/* Write the held chunks the stream has passed (pos > H; or >= when at_H). */
static void
pass(struct capture *c, struct incr *in, uint64_t pos, bool at_h)
{
	while (in->held && (pos > in->held->H || (at_h && pos == in->held->H)))
		flush_chunk(c, in);
}

void
incr_change(struct capture *c, const struct pgo_msg *m)
{
	struct incr *in = c->incr;

	if (!is_table(in, m->rel))
		return;
	change_keys(&c->fmt, m, &in->kbuf, &in->kold);
	/* Every change the stream delivers while a chunk is held is written
	 * before it (the chunk is written when a transaction committing after
	 * its H begins, before that transaction's changes), and is at least
	 * as new as the chunk's copy of the row. */
	if (in->held) {
		remove_key(in, in->held, in->kbuf.data, in->kbuf.len);
		remove_key(in, in->held, in->kold.data, in->kold.len);
	}
	if (in->next) {
		log_add(in->next, in->kbuf.data, (uint32_t)in->kbuf.len);
		log_add(in->next, in->kold.data, (uint32_t)in->kold.len);
	}
}

void
incr_truncate(struct capture *c, const struct pgo_rel *rel)
{
	struct incr *in = c->incr;

	if (!is_table(in, rel))
		return;
	if (in->held)
		remove_all(in->held);
	if (in->next)
		log_add(in->next, NULL, LOG_TRUNCATE);
}

void
incr_begin_tx(struct capture *c, uint64_t commit_lsn, uint32_t xid)
{
	struct incr *in = c->incr;

	if (!in)
		return;
	pass(c, in, commit_lsn, false);
	in->recent_xids[in->recent_next] = xid;
	in->recent_next = (in->recent_next + 1) % RECENT_XIDS;
	if (in->nrecent < RECENT_XIDS)
		in->nrecent++;
}

void
incr_walend(struct capture *c, uint64_t walend)
{
	struct incr *in = c->incr;

	if (in)
		pass(c, in, walend, true);
}

/* ------------------------------------------------------------ polling */

/* Take the next request line of the signal file, if any. */
static void
signal_check(struct incr *in)
{
	char *data;
	struct stat st;
	int fd = open(in->signal_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			warning("cannot open signal file %s: %s", in->signal_file, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	if ((uint64_t)st.st_size < in->sig_off) {
		warning("signal file %s is shorter than what was read of it: reading it from the start",
			in->signal_file);
		in->sig_off = 0;
	}
	data = xmalloc(SIGNAL_MAX_LINE + 1);
	while ((uint64_t)st.st_size > in->sig_off) {
		ssize_t n = pread(fd, data, SIGNAL_MAX_LINE, (off_t)in->sig_off);
		char *nl, *line = data;

		if (n <= 0)
			break;
		data[n] = '\0';
		nl = memchr(data, '\n', (size_t)n);
		if (!nl) {
			if (n == SIGNAL_MAX_LINE) {
				warning("signal file %s: line too long, skipped", in->signal_file);
				in->sig_off += (uint64_t)n;
				continue;
			}
			break;	/* a line being written: next time */
		}
		*nl = '\0';
		in->sig_off += (uint64_t)(nl - data) + 1;
		if (nl > data && nl[-1] == '\r')
			nl[-1] = '\0';
		while (is_space(*line))
			line++;
		if (!*line || *line == '#') {
			state_write(in);
			continue;
		}
		info(0, "incremental snapshot requested: %s", line);
		in->active = set_request(in, line);
		if (in->active) {
			in->acked_key = NULL;
			in->acked_rows = 0;
			in->acked_begun = false;
		}
		state_write(in);
		break;
	}
	free(data);
	close(fd);
}

void
incr_poll(struct capture *c)
{
	struct incr *in = c->incr;
	int64_t now;

	if (!in)
		return;
	now = mono_ms();
	if (in->nfifo)
		fifo_check(c, in);
	if (in->state_dirty && now - in->state_written_ms >= STATE_MS)
		state_write(in);
	if (!in->active && now - in->last_sig_check >= SIGNAL_CHECK_MS) {
		in->last_sig_check = now;
		signal_check(in);
	}
	if (!in->active || !c->streaming)
		return;
	if (!in->described && describe(c, in) <= 0)
		return;
	if (reading(in) && in->conn)
		chunk_receive(c, in);
	if (!in->active)
		return;
	if (in->held && now - in->last_ka_req >= 1000) {
		/* An idle server sends no keepalive of its own for a while: ask. */
		in->last_ka_req = now;
		capture_send_status(c, true);
	}
	if (!in->next && !in->read_done && !c->in_tx)
		chunk_send(c, in);
}

int
incr_timeout(const struct capture *c)
{
	const struct incr *in = c->incr;

	if (!in)
		return 1000;
	if (in->active && in->described && !in->next && !in->read_done && !c->in_tx)
		return 0;
	return in->active ? 200 : SIGNAL_CHECK_MS;
}

int
incr_socket(const struct capture *c)
{
	const struct incr *in = c->incr;

	return in && reading(in) && in->conn ? PQsocket(in->conn) : -1;
}

void
incr_metrics(struct buf *out, const char *labels, const struct incr *in)
{
	buf_addf(out, "# HELP cdc_capture_incremental_rows_total Rows written by incremental snapshots.\n"
		 "# TYPE cdc_capture_incremental_rows_total counter\ncdc_capture_incremental_rows_total{%s} %llu\n",
		 labels, (unsigned long long)in->rows_total);
	buf_addf(out, "# HELP cdc_capture_incremental_chunks_total Chunks of incremental snapshots written.\n"
		 "# TYPE cdc_capture_incremental_chunks_total counter\n"
		 "cdc_capture_incremental_chunks_total{%s} %llu\n", labels, (unsigned long long)in->chunks_total);
	buf_addf(out, "# HELP cdc_capture_incremental_superseded_total Chunk rows left out because the stream "
		 "changed them in the chunk's window.\n# TYPE cdc_capture_incremental_superseded_total counter\n"
		 "cdc_capture_incremental_superseded_total{%s} %llu\n", labels,
		 (unsigned long long)in->removed_total);
	buf_addf(out, "# HELP cdc_capture_incremental_reread_total Chunks read again because their snapshot did "
		 "not see a transaction the stream had delivered.\n"
		 "# TYPE cdc_capture_incremental_reread_total counter\ncdc_capture_incremental_reread_total{%s} %llu\n",
		 labels, (unsigned long long)in->raced_total);
	buf_addf(out, "# HELP cdc_capture_incremental_seconds_total Time of incremental snapshot chunks: reading "
		 "them, holding them for the stream, writing them.\n"
		 "# TYPE cdc_capture_incremental_seconds_total counter\n"
		 "cdc_capture_incremental_seconds_total{%s,phase=\"read\"} %.3f\n"
		 "cdc_capture_incremental_seconds_total{%s,phase=\"held\"} %.3f\n"
		 "cdc_capture_incremental_seconds_total{%s,phase=\"write\"} %.3f\n",
		 labels, (double)in->read_ns_total / 1e9, labels, (double)in->held_ns_total / 1e9,
		 labels, (double)in->write_ns_total / 1e9);
}
