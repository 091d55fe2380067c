/*
 * setup.c: the replication connection, server checks, and slot and
 * publication management of cdc-capture.
 *
 * Every error a user can meet here is reported on one line with the fix,
 * because it is usually met once, at setup time, by somebody reading the
 * message and nothing else.
 */
#include "capture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "sig.h"

const char *
pq_message(const char *msg)
{
	static char line[1024];
	size_t n;

	snprintf(line, sizeof(line), "%s", msg ? msg : "");
	/* Keep the first line: libpq adds DETAIL/HINT lines we restate ourselves. */
	n = strcspn(line, "\n");
	line[n] = '\0';
	return line;
}

/* The "options" connection parameter: the user's, then ours. */
static char *
session_options(const char *conninfo)
{
	PQconninfoOption *opts = NULL, *o;
	struct buf b = BUF_INIT;
	char *err = NULL;

	if (conninfo) {
		opts = PQconninfoParse(conninfo, &err);
		if (!opts)
			die_usage("invalid --dbname: %s", pq_message(err));
		for (o = opts; o->keyword; o++) {
			if (strcmp(o->keyword, "options") == 0 && o->val && *o->val) {
				buf_adds(&b, o->val);
				buf_addc(&b, ' ');
			}
		}
		PQconninfoFree(opts);
	} else {
		const char *env = getenv("PGOPTIONS");

		if (env && *env) {
			buf_adds(&b, env);
			buf_addc(&b, ' ');
		}
	}
	buf_adds(&b, capture_session_options);
	return buf_detach(&b, NULL);
}

/* Is h a name of this machine's loopback interface (localhost, 127/8, ::1)? */
static bool
loopback_host(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(h, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/*
 * Traffic over TCP to another machine can be read or redirected on the way
 * unless the server's certificate is checked (sslmode verify-ca or
 * verify-full).  A Unix socket and the loopback interface never leave the
 * machine.  The host is the name given (PQhost()): with host=NAME
 * hostaddr=ADDR it is NAME, whatever ADDR is.
 */
void
capture_check_tls(struct capture *c)
{
	static bool checked;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *host = PQhost(c->conn);
	char mode[32] = "prefer";
	PQconninfoOption *opts;
	bool ssl = PQsslInUse(c->conn);

	if (checked)
		return;
	checked = true;
	if (getsockname(PQsocket(c->conn), (struct sockaddr *)&ss, &len) < 0 || ss.ss_family == AF_UNIX)
		return;
	if (host && loopback_host(host))
		return;
	opts = PQconninfo(c->conn);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "sslmode") == 0 && o->val && *o->val)
			snprintf(mode, sizeof(mode), "%s", o->val);
	PQconninfoFree(opts);
	if (ssl && (strcmp(mode, "verify-ca") == 0 || strcmp(mode, "verify-full") == 0))
		return;
	warning("the connection to %s is %s (sslmode=%s): use sslmode=verify-full", host ? host : "?",
		ssl ? "encrypted but the server's certificate is not verified" : "neither encrypted nor verified",
		mode);
}

/* Is this a failure to reach the server (worth retrying)? */
static bool
unreachable(const char *msg)
{
	return strstr(msg, "Connection refused") || strstr(msg, "No such file or directory") ||
	       strstr(msg, "could not connect") || strstr(msg, "the database system is starting up") ||
	       strstr(msg, "the database system is shutting down") ||
	       strstr(msg, "the database system is in recovery mode") ||
	       strstr(msg, "timeout expired") || strstr(msg, "server closed the connection") ||
	       strstr(msg, "Connection timed out") || strstr(msg, "No route to host") ||
	       strstr(msg, "too many clients already") ||
	       strstr(msg, "remaining connection slots are reserved");
}

int
capture_connect(struct capture *c)
{
	char *options = session_options(c->o.conninfo);
	const char *keys[] = { CAPTURE_KEEPALIVE_KEYS, "dbname", "replication", "options",
			       "fallback_application_name", NULL };
	const char *vals[] = { CAPTURE_KEEPALIVE_VALS, c->o.conninfo ? c->o.conninfo : "", "database", options,
			       "cdc-capture", NULL };
	const char *msg;

	c->conn = PQconnectdbParams(keys, vals, 1);
	free(options);
	if (PQstatus(c->conn) == CONNECTION_OK) {
		c->server_version = PQserverVersion(c->conn);
		free(c->db);
		c->db = xstrdup(PQdb(c->conn));
		capture_check_tls(c);
		return 0;
	}
	msg = PQerrorMessage(c->conn);
	if (strstr(msg, "must be superuser or replication role") ||
	    strstr(msg, "permission denied to start WAL sender"))
		die("role \"%s\" may not start replication: it needs the REPLICATION attribute "
		    "(ALTER ROLE \"%s\" REPLICATION)", PQuser(c->conn), PQuser(c->conn));
	if (strstr(msg, "no pg_hba.conf entry for replication connection"))
		die("pg_hba.conf does not allow this replication connection: add a line for database \"%s\" "
		    "(logical replication connections match the database name, not \"replication\"): %s",
		    PQdb(c->conn), pq_message(msg));
	if (unreachable(msg)) {
		error("cannot connect to the server: %s", pq_message(msg));
		PQfinish(c->conn);
		c->conn = NULL;
		return -1;
	}
	die("cannot connect: %s", pq_message(msg));
}

PGresult *
capture_sql(struct capture *c, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(c->conn, sql);

	if (PQresultStatus(res) != want) {
		const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->conn);

		if (PQstatus(c->conn) != CONNECTION_OK)
			die_status(CDC_EXIT_TEMPFAIL, "lost the connection: %s", pq_message(msg));
		die("query failed: %s", pq_message(msg));
	}
	return res;
}

void
capture_check_server(struct capture *c)
{
	PGresult *res;
	const char *level;

	if (c->server_version < 100000)
		die("server version %d.%d is too old: cdc-capture needs PostgreSQL 10 or later (pgoutput)",
		    c->server_version / 10000, c->server_version / 100 % 100);
	res = capture_sql(c, "SHOW wal_level", PGRES_TUPLES_OK);
	level = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?";
	if (strcmp(level, "logical") != 0)
		die("the server runs with wal_level=%s; logical decoding needs wal_level=logical "
		    "(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)", level);
	PQclear(res);
}

/* Append "'a','b'" (quoted literals) for the publication names. */
static void
add_literals(struct capture *c, struct buf *b)
{
	for (int i = 0; i < c->o.npubs; i++) {
		char *lit = PQescapeLiteral(c->conn, c->o.pubs[i], strlen(c->o.pubs[i]));

		if (!lit)
			die("cannot quote publication name: %s", pq_message(PQerrorMessage(c->conn)));
		if (i)
			buf_addc(b, ',');
		buf_adds(b, lit);
		PQfreemem(lit);
	}
}

static void
add_ident(struct capture *c, struct buf *b, const char *s, size_t n)
{
	char *id = PQescapeIdentifier(c->conn, s, n);

	if (!id)
		die("cannot quote identifier: %s", pq_message(PQerrorMessage(c->conn)));
	buf_adds(b, id);
	PQfreemem(id);
}

static void
create_publication(struct capture *c, const char *name)
{
	struct buf q = BUF_INIT;
	PGresult *res;

	buf_adds(&q, "CREATE PUBLICATION ");
	add_ident(c, &q, name, strlen(name));
	if (c->o.tables) {
		const char *p = c->o.tables;

		buf_adds(&q, " FOR TABLE ");
		while (*p) {
			size_t n = strcspn(p, ",");
			const char *dot = memchr(p, '.', n);

			if (p != c->o.tables)
				buf_adds(&q, ", ");
			if (dot) {
				add_ident(c, &q, p, (size_t)(dot - p));
				buf_addc(&q, '.');
				add_ident(c, &q, dot + 1, n - (size_t)(dot - p) - 1);
			} else {
				add_ident(c, &q, p, n);
			}
			p += n;
			if (*p == ',')
				p++;
		}
	} else {
		buf_adds(&q, " FOR ALL TABLES");
	}
	res = PQexec(c->conn, q.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("cannot create publication \"%s\": %s", name, pq_message(PQresultErrorMessage(res)));
	info(0, "created publication \"%s\" (%s)", name, c->o.tables ? c->o.tables : "all tables");
	PQclear(res);
	buf_release(&q);
}

void
capture_publications(struct capture *c)
{
	struct buf q = BUF_INIT;
	PGresult *res;

	buf_adds(&q, "SELECT pubname FROM pg_catalog.pg_publication WHERE pubname IN (");
	add_literals(c, &q);
	buf_addc(&q, ')');
	res = capture_sql(c, q.data, PGRES_TUPLES_OK);
	for (int i = 0; i < c->o.npubs; i++) {
		bool found = false;

		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), c->o.pubs[i]) == 0)
				found = true;
		if (found)
			continue;
		if (c->o.create_pub) {
			create_publication(c, c->o.pubs[i]);
			continue;
		}
		die("publication \"%s\" does not exist in database \"%s\": create it "
		    "(CREATE PUBLICATION \"%s\" FOR ALL TABLES, or run with --create-publication [--tables LIST])",
		    c->o.pubs[i], c->db, c->o.pubs[i]);
	}
	PQclear(res);
	buf_release(&q);
}

void
capture_slot_info(struct capture *c, const char *slot, struct slot_info *si)
{
	struct buf q = BUF_INIT;
	char *lit = PQescapeLiteral(c->conn, slot, strlen(slot));
	PGresult *res;

	memset(si, 0, sizeof(*si));
	if (!lit)
		die("cannot quote slot name: %s", pq_message(PQerrorMessage(c->conn)));
	buf_addf(&q, "SELECT coalesce(plugin, ''), slot_type, coalesce(database, ''),"
		 " coalesce(active_pid, 0), %s, coalesce(confirmed_flush_lsn, '0/0')"
		 " FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
		 c->server_version >= 130000 ? "coalesce(wal_status, '')" : "''", lit);
	PQfreemem(lit);
	res = capture_sql(c, q.data, PGRES_TUPLES_OK);
	if (PQntuples(res) == 1) {
		si->exists = true;
		snprintf(si->plugin, sizeof(si->plugin), "%s", PQgetvalue(res, 0, 0));
		snprintf(si->type, sizeof(si->type), "%s", PQgetvalue(res, 0, 1));
		snprintf(si->database, sizeof(si->database), "%s", PQgetvalue(res, 0, 2));
		si->active_pid = (int)strtol(PQgetvalue(res, 0, 3), NULL, 10);
		snprintf(si->wal_status, sizeof(si->wal_status), "%s", PQgetvalue(res, 0, 4));
		if (lsn_parse(PQgetvalue(res, 0, 5), &si->confirmed_flush) < 0)
			si->confirmed_flush = 0;
	}
	PQclear(res);
	buf_release(&q);
}

int
capture_check_slot(struct capture *c, struct slot_info *si)
{
	const char *slot = c->o.slot;

	if (strcmp(si->type, "logical") != 0 || strcmp(si->plugin, "pgoutput") != 0)
		die("replication slot \"%s\" is a %s slot%s%s; cdc-capture needs a logical pgoutput slot "
		    "(use another --slot name, or drop this one if nothing else uses it)",
		    slot, si->type, *si->plugin ? " for plugin " : "", si->plugin);
	if (strcmp(si->database, c->db) != 0)
		die("replication slot \"%s\" belongs to database \"%s\", not \"%s\": connect to that database "
		    "(--dbname) or use another slot", slot, si->database, c->db);
	if (strcmp(si->wal_status, "lost") == 0)
		die("replication slot \"%s\" was invalidated (wal_status lost: the server removed WAL it "
		    "still needed, see max_slot_wal_keep_size): changes were lost; drop it (--drop-slot) and "
		    "start again with a new slot and a new snapshot", slot);
	/* A capture killed a moment ago leaves a walsender that needs a
	 * moment to notice; wait for it before calling the slot busy. */
	for (int i = 0; si->active_pid && i < 40 && !cdc_stop; i++) {
		struct timespec ts = { 0, 250 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		capture_slot_info(c, slot, si);
		if (!si->exists)
			die("replication slot \"%s\" was dropped while waiting for it", slot);
	}
	if (si->active_pid && c->reconnecting) {
		error("replication slot \"%s\" is still held by server process %d (the walsender of the lost "
		      "connection, until the server's wal_sender_timeout?)", slot, si->active_pid);
		return -1;
	}
	if (si->active_pid)
		die_status(CDC_EXIT_TEMPFAIL, "replication slot \"%s\" is in use by server process %d "
			   "(another cdc-capture or consumer?): stop it, or use another --slot", slot,
			   si->active_pid);
	return 0;
}

static void
add_slot_ident(struct capture *c, struct buf *b, const char *slot)
{
	add_ident(c, b, slot, strlen(slot));
}

void
capture_drop_slot(struct capture *c, const char *slot)
{
	struct buf q = BUF_INIT;
	PGresult *res;

	buf_adds(&q, "DROP_REPLICATION_SLOT ");
	add_slot_ident(c, &q, slot);
	res = PQexec(c->conn, q.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("cannot drop replication slot \"%s\": %s", slot, pq_message(PQresultErrorMessage(res)));
	PQclear(res);
	buf_release(&q);
}

uint64_t
capture_create_slot(struct capture *c, const char *slot, bool temporary, bool export, char **snapshot_name)
{
	struct buf q = BUF_INIT;
	PGresult *res;
	uint64_t lsn = 0;

	buf_adds(&q, "CREATE_REPLICATION_SLOT ");
	add_slot_ident(c, &q, slot);
	if (temporary)
		buf_adds(&q, " TEMPORARY");
	buf_adds(&q, " LOGICAL pgoutput");
	/* PostgreSQL 15 has the parenthesised option list; older servers the keywords. */
	if (c->server_version >= 150000)
		buf_adds(&q, export ? " (SNAPSHOT 'export')" : " (SNAPSHOT 'nothing')");
	else
		buf_adds(&q, export ? " EXPORT_SNAPSHOT" : " NOEXPORT_SNAPSHOT");
	res = PQexec(c->conn, q.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *msg = PQresultErrorMessage(res);

		if (strstr(msg, "already exists"))
			die("replication slot \"%s\" already exists", slot);
		if (strstr(msg, "max_replication_slots") || strstr(msg, "all replication slots are in use"))
			die("cannot create replication slot \"%s\": all slots are in use "
			    "(raise max_replication_slots, or drop unused slots)", slot);
		die("cannot create replication slot \"%s\": %s", slot, pq_message(msg));
	}
	/* Columns: slot_name, consistent_point, snapshot_name, output_plugin. */
	if (PQntuples(res) != 1 || PQnfields(res) < 3 || lsn_parse(PQgetvalue(res, 0, 1), &lsn) < 0)
		die("unexpected answer to CREATE_REPLICATION_SLOT");
	if (snapshot_name)
		*snapshot_name = PQgetisnull(res, 0, 2) ? NULL : xstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	buf_release(&q);
	return lsn;
}

/*
 * The primary key of a relation, from the catalog as it is now (the stream
 * may be behind it: a key changed since is seen from the next Relation
 * message on, which the server sends after every change of the table's
 * definition).  Key columns only: not INCLUDE columns.  A relation that is
 * gone has none; its events fall back to the replica identity.
 */
void
capture_relation_key(struct capture *c, struct pgo_rel *rel)
{
	PGconn *conn = typemap_conn(c->tm);
	bool v11;
	char oid[16];
	const char *params[1] = { oid };
	const char **names;
	PGresult *res;
	int n;

	if (!conn)
		return;
	snprintf(oid, sizeof(oid), "%u", rel->relid);
	v11 = PQserverVersion(conn) == 0 || PQserverVersion(conn) >= 110000;
	res = typemap_query(c->tm, v11
			   ? "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
			     "ON a.attrelid = i.indrelid WHERE i.indrelid = $1::oid AND i.indisprimary "
			     "AND EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) k "
			     "WHERE i.indkey[k] = a.attnum) ORDER BY a.attnum"
			   : "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
			     "ON a.attrelid = i.indrelid WHERE i.indrelid = $1::oid AND i.indisprimary "
			     "AND a.attnum = ANY (i.indkey) ORDER BY a.attnum",
			   1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die_status(CDC_EXIT_TEMPFAIL, "cannot look up the primary key of %s.%s: %s", rel->nspname,
			   rel->relname, pq_message(PQresultErrorMessage(res)));
	n = PQntuples(res);
	names = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*names));
	for (int i = 0; i < n; i++)
		names[i] = PQgetvalue(res, i, 0);
	pgo_rel_set_key(rel, names, n);
	if (cdc_verbosity >= 2) {
		struct buf k = BUF_INIT;

		for (int i = 0; i < rel->ncols; i++) {
			if (!rel->cols[i].key)
				continue;
			if (k.len)
				buf_addc(&k, ',');
			buf_adds(&k, rel->cols[i].name);
		}
		info(2, "relation %s.%s: key (%s)", rel->nspname, rel->relname, k.len ? k.data : "none");
		buf_release(&k);
	}
	free(names);
	PQclear(res);
}
