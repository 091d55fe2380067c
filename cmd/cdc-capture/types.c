/*
 * types.c: PostgreSQL text output -> JSON values (the mapping in
 * cdc-events(7)), for the stream and the snapshot alike.
 *
 * Built-in types are recognised by their fixed OIDs (pg_type.dat); other
 * types are looked up once in pg_type and cached.  Every conversion relies
 * on the session settings in capture_session_options: DateStyle=ISO and
 * TimeZone=UTC make timestamps "2024-01-31 13:45:00.5+00", which becomes
 * "2024-01-31T13:45:00.5Z"; extra_float_digits=3 keeps floats exact;
 * bytea_output=hex gives "\x0a0b"; IntervalStyle=iso_8601 gives "P1DT2H";
 * lc_monetary=C gives money as "-$1,234.56", which becomes "-1234.56".
 */
#include "types.h"
#include "text.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "log.h"
#include "timeutil.h"

const char *const capture_session_options =
	"-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 "
	"-c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C";

enum kind {
	K_UNKNOWN = 0,		/* not resolved yet */
	K_STRING,
	K_BOOL,
	K_INT,
	K_FLOAT,
	K_NUMERIC,
	K_JSON,
	K_BYTEA,
	K_DATE,
	K_TIME,
	K_INTERVAL,
	K_BIT,			/* bit(n) */
	K_VARBIT,
	K_POINT,
	K_TIMESTAMP,		/* date and time, no offset */
	K_TIMESTAMPTZ,
	K_MONEY,
	K_HSTORE,		/* the hstore extension's type: a JSON object */
	K_TIMETZ,
	K_ARRAY,
};

struct tinfo {
	enum kind kind;
	uint32_t elem;		/* K_ARRAY: element type */
	char delim;		/* K_ARRAY: element delimiter */
};

struct tslot {
	uint32_t oid;		/* 0: empty */
	struct tinfo ti;
};

struct typemap {
	char *conninfo;
	bool numeric_as_number;
	bool debezium;		/* typemap_set_debezium(): Debezium's renderings */
	PGconn *conn;		/* lazily opened lookup connection */
	int64_t timeout_ms;	/* typemap_set_timeout(); 0: none */
	struct tslot *tab;	/* open addressing, power-of-two size */
	size_t tabsz, tabused;
	struct buf scratch;	/* one value being rewritten */
	struct buf elem;	/* one array element, unescaped */
	int depth;		/* nesting of add_array() calls */
};

struct typemap *
typemap_new(const char *conninfo, bool numeric_as_number)
{
	struct typemap *tm = xcalloc(1, sizeof(*tm));

	tm->conninfo = conninfo ? xstrdup(conninfo) : NULL;
	tm->numeric_as_number = numeric_as_number;
	return tm;
}

void
typemap_free(struct typemap *tm)
{
	if (!tm)
		return;
	if (tm->conn)
		PQfinish(tm->conn);
	free(tm->conninfo);
	free(tm->tab);
	buf_release(&tm->scratch);
	buf_release(&tm->elem);
	free(tm);
}

void
typemap_set_debezium(struct typemap *tm, bool on)
{
	tm->debezium = on;
}

void
typemap_invalidate(struct typemap *tm)
{
	if (tm->tab)
		memset(tm->tab, 0, tm->tabsz * sizeof(*tm->tab));
	tm->tabused = 0;
}

/* The built-in types, by OID (src/include/catalog/pg_type.dat). */
static bool
builtin(uint32_t oid, struct tinfo *ti)
{
	ti->elem = 0;
	ti->delim = ',';
	switch (oid) {
	case 16: ti->kind = K_BOOL; return true;			/* bool */
	case 17: ti->kind = K_BYTEA; return true;			/* bytea */
	case 20: case 21: case 23: case 26: ti->kind = K_INT; return true; /* int8 int2 int4 oid */
	case 700: case 701: ti->kind = K_FLOAT; return true;		/* float4 float8 */
	case 1700: ti->kind = K_NUMERIC; return true;			/* numeric */
	case 114: case 3802: ti->kind = K_JSON; return true;		/* json jsonb */
	case 1114: ti->kind = K_TIMESTAMP; return true;			/* timestamp */
	case 1184: ti->kind = K_TIMESTAMPTZ; return true;		/* timestamptz */
	case 1266: ti->kind = K_TIMETZ; return true;			/* timetz */
	case 1082: ti->kind = K_DATE; return true;			/* date */
	case 1083: ti->kind = K_TIME; return true;			/* time */
	case 1186: ti->kind = K_INTERVAL; return true;			/* interval */
	case 1560: ti->kind = K_BIT; return true;			/* bit */
	case 1562: ti->kind = K_VARBIT; return true;			/* varbit */
	case 600: ti->kind = K_POINT; return true;			/* point */
	case 790: ti->kind = K_MONEY; return true;			/* money */
	case 18: case 19: case 25: case 1042: case 1043:
	case 2950: case 869: case 650: case 829: case 774:
	case 142: case 3614: case 4072: case 24: case 28:
		/* char name text bpchar varchar uuid inet cidr macaddr macaddr8
		 * xml tsvector jsonpath regproc xid */
		ti->kind = K_STRING;
		return true;
	}
	/* Arrays of the built-in types above. */
	switch (oid) {
	case 1000: ti->elem = 16; break;
	case 1001: ti->elem = 17; break;
	case 1002: ti->elem = 18; break;
	case 1003: ti->elem = 19; break;
	case 1005: ti->elem = 21; break;
	case 1007: ti->elem = 23; break;
	case 1009: ti->elem = 25; break;
	case 1014: ti->elem = 1042; break;
	case 1015: ti->elem = 1043; break;
	case 1016: ti->elem = 20; break;
	case 1021: ti->elem = 700; break;
	case 1022: ti->elem = 701; break;
	case 1028: ti->elem = 26; break;
	case 1115: ti->elem = 1114; break;
	case 1182: ti->elem = 1082; break;
	case 1183: ti->elem = 1083; break;
	case 1185: ti->elem = 1184; break;
	case 1187: ti->elem = 1186; break;
	case 1231: ti->elem = 1700; break;
	case 1270: ti->elem = 1266; break;
	case 2951: ti->elem = 2950; break;
	case 199: ti->elem = 114; break;
	case 3807: ti->elem = 3802; break;
	case 1041: ti->elem = 869; break;
	case 651: ti->elem = 650; break;
	case 1040: ti->elem = 829; break;
	case 791: ti->elem = 790; break;
	case 1561: ti->elem = 1560; break;
	case 1563: ti->elem = 1562; break;
	case 1017: ti->elem = 600; break;
	default: return false;
	}
	ti->kind = K_ARRAY;
	return true;
}

static struct tslot *
cache_find(struct typemap *tm, uint32_t oid)
{
	size_t mask, i;

	if (!tm->tab)
		return NULL;
	mask = tm->tabsz - 1;
	for (i = (oid * 2654435761u) & mask; tm->tab[i].oid; i = (i + 1) & mask)
		if (tm->tab[i].oid == oid)
			return &tm->tab[i];
	return NULL;
}

static void
cache_put(struct typemap *tm, uint32_t oid, const struct tinfo *ti)
{
	size_t mask, i;

	if (tm->tabused * 2 >= tm->tabsz) {
		struct tslot *old = tm->tab;
		size_t oldsz = tm->tabsz;

		tm->tabsz = oldsz ? oldsz * 2 : 64;
		tm->tab = xcalloc(tm->tabsz, sizeof(*tm->tab));
		tm->tabused = 0;
		for (size_t j = 0; j < oldsz; j++)
			if (old[j].oid)
				cache_put(tm, old[j].oid, &old[j].ti);
		free(old);
	}
	mask = tm->tabsz - 1;
	for (i = (oid * 2654435761u) & mask; tm->tab[i].oid && tm->tab[i].oid != oid; i = (i + 1) & mask)
		;
	if (!tm->tab[i].oid)
		tm->tabused++;
	tm->tab[i].oid = oid;
	tm->tab[i].ti = *ti;
}

static void resolve(struct typemap *tm, uint32_t oid, struct tinfo *ti, int depth);

void
typemap_reset(struct typemap *tm)
{
	if (tm->conn)
		PQfinish(tm->conn);
	tm->conn = NULL;
}

void
typemap_set_timeout(struct typemap *tm, int64_t ms)
{
	tm->timeout_ms = ms;
}

/*
 * One query, waiting at most tm->timeout_ms for the answer.  A server that
 * stays silent (a half-open connection: gone without a FIN or RST) drops
 * the connection: the result is then NULL, with tm->conn NULL.
 */
static PGresult *
query_once(struct typemap *tm, const char *sql, int nparams, const char *const *params)
{
	PGconn *conn = typemap_conn(tm);
	PGresult *res, *last = NULL;
	int64_t deadline;

	if (tm->timeout_ms <= 0)
		return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	deadline = mono_ms() + tm->timeout_ms;
	for (;;) {
		struct pollfd pfd = { PQsocket(conn), POLLIN, 0 };
		int64_t left;
		int rc;

		if (!PQisBusy(conn)) {
			res = PQgetResult(conn);
			if (!res)
				return last ? last : PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
			PQclear(last);
			last = res;
			continue;
		}
		left = deadline - mono_ms();
		rc = left > 0 ? poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) : 0;
		if (rc < 0 && errno != EINTR)
			die_errno("poll");
		if (rc > 0 && !PQconsumeInput(conn))
			continue;	/* PQgetResult() now returns the error */
		if (rc == 0 && left <= 0) {
			warning("no answer to a catalog query for %lld s: dropping the catalog connection",
				(long long)(tm->timeout_ms / 1000));
			PQclear(last);
			typemap_reset(tm);
			return NULL;
		}
	}
}

PGresult *
typemap_query(struct typemap *tm, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = query_once(tm, sql, nparams, params);

	/* An idle connection learns only now that the server restarted (or
	 * dropped it): connect again and ask once more. */
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQstatus(tm->conn) != CONNECTION_OK) {
		PQclear(res);
		res = query_once(tm, sql, nparams, params);
		if (!res)
			die_status(CDC_EXIT_TEMPFAIL, "the server does not answer catalog queries");
	}
	return res;
}

PGconn *
typemap_conn(struct typemap *tm)
{
	if (!tm->conninfo)
		return NULL;
	if (tm->conn && PQstatus(tm->conn) != CONNECTION_OK)
		PQreset(tm->conn);
	if (!tm->conn) {
		const char *keys[] = { CAPTURE_KEEPALIVE_KEYS, "dbname", "fallback_application_name", NULL };
		const char *vals[] = { CAPTURE_KEEPALIVE_VALS, tm->conninfo, "cdc-capture", NULL };

		tm->conn = PQconnectdbParams(keys, vals, 1);
	}
	if (PQstatus(tm->conn) != CONNECTION_OK) {
		char *msg = PQerrorMessage(tm->conn);
		size_t n = strlen(msg);

		while (n > 0 && msg[n - 1] == '\n')
			n--;
		die_status(CDC_EXIT_TEMPFAIL, "cannot connect for catalog lookups: %.*s", (int)n, msg);
	}
	return tm->conn;
}

/*
 * Ask pg_type what oid is.  Domains resolve to their base type, arrays
 * (typcategory 'A') to their element type; enums, composites, ranges and
 * everything else are strings.  A failed lookup is a temporary failure
 * (the server went away): exit 75 so the capture is restarted.
 */
static void
lookup(struct typemap *tm, uint32_t oid, struct tinfo *ti, int depth)
{
	char oidtxt[16];
	const char *params[1] = { oidtxt };
	PGresult *res;

	ti->kind = K_STRING;
	ti->elem = 0;
	ti->delim = ',';
	if (!tm->conninfo || depth > 8)
		return;
	snprintf(oidtxt, sizeof(oidtxt), "%u", oid);
	res = typemap_query(tm, "SELECT typtype, typbasetype, typelem, typcategory, typdelim, typname"
			    " FROM pg_catalog.pg_type WHERE oid = $1::oid", 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *msg = PQresultErrorMessage(res);
		size_t n = strlen(msg);

		while (n > 0 && msg[n - 1] == '\n')
			n--;
		die_status(CDC_EXIT_TEMPFAIL, "cannot look up type %u: %.*s", oid, (int)n, msg);
	}
	if (PQntuples(res) == 1) {
		char typtype = PQgetvalue(res, 0, 0)[0];
		uint32_t base = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
		uint32_t elem = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
		char cat = PQgetvalue(res, 0, 3)[0];
		char delim = PQgetvalue(res, 0, 4)[0];

		if (typtype == 'd' && base) {
			resolve(tm, base, ti, depth + 1);
		} else if (typtype == 'b' && strcmp(PQgetvalue(res, 0, 5), "hstore") == 0) {
			ti->kind = K_HSTORE;
		} else if (cat == 'A' && elem) {
			ti->kind = K_ARRAY;
			ti->elem = elem;
			ti->delim = delim ? delim : ',';
		}
	} else {
		warning("type %u not found in pg_type; its values are written as strings", oid);
	}
	PQclear(res);
}

static void
resolve(struct typemap *tm, uint32_t oid, struct tinfo *ti, int depth)
{
	struct tslot *s;

	if (builtin(oid, ti))
		return;
	s = cache_find(tm, oid);
	if (s) {
		*ti = s->ti;
		return;
	}
	lookup(tm, oid, ti, depth);
	cache_put(tm, oid, ti);
}

/* Is text a JSON integer ("-12", "0")? */
static bool
is_int(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i == n)
		return false;
	if (s[i] == '0' && n - i > 1)
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Is text a JSON number (RFC 8259 grammar)? */
static bool
is_number(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	d = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == d || (s[d] == '0' && i - d > 1))
		return false;
	if (i < n && s[i] == '.') {
		d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}


/* bytea in hex output form "\x0a0b" -> base64 of the bytes. */
static void
add_bytea(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	struct buf *b = &tm->scratch;

	if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2) {
		json_add_str(out, s, n);
		return;
	}
	buf_reset(b);
	buf_grow(b, n / 2);
	for (size_t i = 2; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);

		if (hi < 0 || lo < 0) {
			json_add_str(out, s, n);
			return;
		}
		b->data[b->len++] = (char)(hi << 4 | lo);
	}
	json_add_base64(out, b->data, b->len);
}

/*
 * json/jsonb text is valid JSON already; only the line structure needs
 * care: json keeps its input's whitespace, and a newline (or CR) outside a
 * string must not split the event line.  Inside strings they are always
 * escaped, so every raw one can become a space.
 */
static void
add_json(struct buf *out, const char *s, size_t n)
{
	size_t start = out->len;

	buf_add(out, s, n);
	if (memchr(s, '\n', n) || memchr(s, '\r', n)) {
		for (size_t i = start; i < out->len; i++)
			if (out->data[i] == '\n' || out->data[i] == '\r')
				out->data[i] = ' ';
	}
}

/*
 * Offset "+00" -> "Z", "+02" -> "+02:00", "+05:30" kept; p points at the
 * sign, the caller has copied everything before it.
 */
static void
add_offset(struct buf *b, const char *p, size_t n)
{
	if (n == 3 && p[1] == '0' && p[2] == '0') {
		buf_addc(b, 'Z');
	} else if (n == 3) {
		buf_add(b, p, 3);
		buf_adds(b, ":00");
	} else {
		buf_add(b, p, n);
	}
}

/*
 * The date part "YYYY-MM-DD" of PostgreSQL's ISO output (the year has four
 * or more digits) into b, with the year astronomical as ISO 8601 counts:
 * 1 BC is year 0, 44 BC is -0043; years past 9999 get a '+' (ISO 8601's
 * expanded form, as java.time writes them).  Returns the length of the
 * date part in s, or 0 when s does not start with one.
 */
static size_t
add_date_part(struct buf *b, const char *s, size_t n, bool bc)
{
	size_t y = 0;
	long year = 0;

	while (y < n && s[y] >= '0' && s[y] <= '9') {
		if (year < 100000000)
			year = year * 10 + (s[y] - '0');
		y++;
	}
	if (y < 4 || y + 6 > n || s[y] != '-' || s[y + 3] != '-')
		return 0;
	if (bc) {
		char tmp[24];

		year = 1 - year;
		if (year < 0)
			snprintf(tmp, sizeof(tmp), "-%04ld", -year);
		else
			snprintf(tmp, sizeof(tmp), "%04ld", year);
		buf_adds(b, tmp);
	} else {
		if (y > 4)
			buf_addc(b, '+');
		buf_add(b, s, y);
	}
	buf_add(b, s + y, 6);
	return y + 6;
}

/* Strip PostgreSQL's " BC" suffix: returns the length without it. */
static size_t
strip_bc(const char *s, size_t n, bool *bc)
{
	*bc = n > 3 && memcmp(s + n - 3, " BC", 3) == 0;
	return *bc ? n - 3 : n;
}

/* date "2024-01-31"; "0044-03-15 BC" -> "-0043-03-15"; infinities as they are. */
static void
add_date(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	struct buf *b = &tm->scratch;
	bool bc;
	size_t m = strip_bc(s, n, &bc);

	buf_reset(b);
	if (add_date_part(b, s, m, bc) != m) {
		json_add_str(out, s, n);	/* infinity, -infinity */
		return;
	}
	if (tm->debezium)
		buf_addc(b, 'Z');
	json_add_str(out, b->data, b->len);
}

/*
 * "2024-01-31 13:45:00.5+00" -> "2024-01-31T13:45:00.500000Z" (timestamptz:
 * always six digits of fraction, as Debezium writes them, so that the
 * strings sort in time order); "2024-01-31 13:45:00.5" ->
 * "2024-01-31T13:45:00.5" (timestamp: no offset, the fraction as the
 * server prints it).  BC years as add_date_part(); infinities as they are.
 */
static void
add_datetime(struct typemap *tm, struct buf *out, const char *s, size_t n, bool tz)
{
	struct buf *b = &tm->scratch;
	bool bc;
	size_t m = strip_bc(s, n, &bc), i, j;

	buf_reset(b);
	i = add_date_part(b, s, m, bc);
	if (i == 0 || i >= m || s[i] != ' ') {
		json_add_str(out, s, n);	/* infinity, -infinity */
		return;
	}
	buf_addc(b, 'T');
	i++;
	if (!tz) {
		buf_add(b, s + i, m - i);
		if (tm->debezium)
			buf_addc(b, 'Z');
		json_add_str(out, b->data, b->len);
		return;
	}
	j = i;
	while (j < m && s[j] != '+' && s[j] != '-')
		j++;
	{
		const char *dot = memchr(s + i, '.', j - i);
		size_t digits = dot ? (size_t)(s + j - dot - 1) : 0;

		buf_add(b, s + i, j - i);
		if (!dot)
			buf_addc(b, '.');
		for (; digits < 6; digits++)
			buf_addc(b, '0');
	}
	if (j < m)
		add_offset(b, s + j, m - j);
	json_add_str(out, b->data, b->len);
}

/*
 * money with lc_monetary=C: "$1,234.56", "-$0.01" -> "1234.56", "-0.01":
 * a decimal string like numeric's.  Anything else is written as it is.
 */
static void
add_money(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	struct buf *b = &tm->scratch;
	size_t i = 0;

	buf_reset(b);
	if (i < n && s[i] == '-')
		buf_addc(b, s[i++]);
	if (i < n && s[i] == '$')
		i++;
	for (; i < n; i++) {
		if ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')
			buf_addc(b, s[i]);
		else if (s[i] != ',')
			break;
	}
	if (i < n || b->len == 0 || (b->len == 1 && b->data[0] == '-')) {
		json_add_str(out, s, n);
		return;
	}
	json_add_str(out, b->data, b->len);
}

static void
add_timetz(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	struct buf *b = &tm->scratch;
	size_t j = 0;

	while (j < n && s[j] != '+' && s[j] != '-')
		j++;
	buf_reset(b);
	buf_add(b, s, j);
	if (j < n)
		add_offset(b, s + j, n - j);
	json_add_str(out, b->data, b->len);
}

/*
 * One double-quoted hstore key or value at *p (backslash escapes) into b;
 * returns the position after the closing quote, or NULL.
 */
static const char *
hstore_str(struct buf *b, const char *p, const char *end)
{
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		buf_addc(b, *p);
	}
	return p < end ? p + 1 : NULL;
}

/*
 * hstore output ("a"=>"1", "b"=>NULL) -> {"a":"1","b":null}, in the
 * server's order.  Text that does not parse is written as a string.
 */
static void
add_hstore(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	struct buf *b = &tm->scratch;
	const char *p = s, *end = s + n;
	size_t start = out->len;
	bool first = true;

	buf_addc(out, '{');
	while (p < end) {
		while (p < end && (*p == ' ' || *p == ','))
			p++;
		if (p >= end)
			break;
		buf_reset(b);
		p = hstore_str(b, p, end);
		if (!p || end - p < 2 || p[0] != '=' || p[1] != '>')
			goto bad;
		p += 2;
		if (!first)
			buf_addc(out, ',');
		first = false;
		json_add_str(out, b->data ? b->data : "", b->len);
		buf_addc(out, ':');
		if (end - p >= 4 && memcmp(p, "NULL", 4) == 0) {
			buf_adds(out, "null");
			p += 4;
		} else {
			buf_reset(b);
			p = hstore_str(b, p, end);
			if (!p)
				goto bad;
			json_add_str(out, b->data ? b->data : "", b->len);
		}
	}
	buf_addc(out, '}');
	return;
bad:
	buf_setlen(out, start);
	json_add_str(out, s, n);
}

/* ---- --values=debezium: Debezium 3.6.1's renderings (types.h) ---- */

/* The string s followed by suffix, as a JSON string. */
static void
add_suffixed(struct typemap *tm, struct buf *out, const char *s, size_t n, const char *suffix)
{
	struct buf *b = &tm->scratch;

	buf_reset(b);
	buf_add(b, s, n);
	buf_adds(b, suffix);
	json_add_str(out, b->data, b->len);
}

/* Parse an unsigned decimal run at *p; returns the digits' count. */
static size_t
digits(const char *p, const char *end, long *v)
{
	size_t k = 0;

	*v = 0;
	while (p + k < end && p[k] >= '0' && p[k] <= '9') {
		if (*v < 100000000)
			*v = *v * 10 + (p[k] - '0');
		k++;
	}
	return k;
}

/*
 * timetz "13:45:00.5+02" -> "11:45:00.5Z": the time of day in UTC, the
 * fraction as printed, as Debezium's isostring mode writes it.
 */
static void
add_timetz_utc(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *frac, *fend;
	long h, m, sec, oh = 0, om = 0, os = 0, t;
	int sign;
	char tmp[16];
	struct buf *b = &tm->scratch;

	if (digits(p, end, &h) != 2 || p[2] != ':' || digits(p + 3, end, &m) != 2 || p[5] != ':' ||
	    digits(p + 6, end, &sec) != 2)
		goto bad;
	frac = fend = p + 8;
	if (fend < end && *fend == '.')
		for (fend++; fend < end && *fend >= '0' && *fend <= '9'; fend++)
			;
	p = fend;
	if (p >= end || (*p != '+' && *p != '-'))
		goto bad;
	sign = *p++ == '+' ? 1 : -1;
	if (digits(p, end, &oh) != 2)
		goto bad;
	p += 2;
	if (p < end && *p == ':') {
		if (digits(p + 1, end, &om) != 2)
			goto bad;
		p += 3;
		if (p < end && *p == ':') {
			if (digits(p + 1, end, &os) != 2)
				goto bad;
			p += 3;
		}
	}
	if (p != end)
		goto bad;
	t = h * 3600 + m * 60 + sec - sign * (oh * 3600 + om * 60 + os);
	t = ((t % 86400) + 86400) % 86400;
	snprintf(tmp, sizeof(tmp), "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	buf_reset(b);
	buf_adds(b, tmp);
	buf_add(b, frac, (size_t)(fend - frac));
	buf_addc(b, 'Z');
	json_add_str(out, b->data, b->len);
	return;
bad:
	json_add_str(out, s, n);
}

/*
 * interval in PostgreSQL's iso_8601 style ("P1Y2M3DT4H5M6.5S", "P-1DT2H",
 * "PT0S") -> every component, as Debezium writes it: "P1Y2M3DT4H5M6.5S",
 * "P0Y0M-1DT2H0M0S", "P0Y0M0DT0H0M0S".  The server already splits months
 * into years and months as Debezium does.
 */
static void
add_interval_dbz(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	/* Y M D before the T, H M S after it. */
	const char *val[6] = { 0 };
	size_t len[6] = { 0 };
	const char *p = s, *end = s + n;
	bool time = false;
	struct buf *b = &tm->scratch;
	static const char units[] = "YMDHMS";

	if (p >= end || *p++ != 'P')
		goto bad;
	while (p < end) {
		const char *v = p;
		int slot;

		if (*p == 'T') {
			if (time)
				goto bad;
			time = true;
			p++;
			continue;
		}
		if (p < end && *p == '-')
			p++;
		while (p < end && ((*p >= '0' && *p <= '9') || *p == '.'))
			p++;
		if (p == v || p >= end)
			goto bad;
		switch (*p) {
		case 'Y': slot = time ? -1 : 0; break;
		case 'M': slot = time ? 4 : 1; break;
		case 'D': slot = time ? -1 : 2; break;
		case 'H': slot = time ? 3 : -1; break;
		case 'S': slot = time ? 5 : -1; break;
		default: slot = -1; break;
		}
		if (slot < 0 || val[slot])
			goto bad;
		val[slot] = v;
		len[slot] = (size_t)(p - v);
		p++;
	}
	buf_reset(b);
	buf_addc(b, 'P');
	for (int i = 0; i < 6; i++) {
		if (i == 3)
			buf_addc(b, 'T');
		if (val[i])
			buf_add(b, val[i], len[i]);
		else
			buf_addc(b, '0');
		buf_addc(b, units[i]);
	}
	json_add_str(out, b->data, b->len);
	return;
bad:
	json_add_str(out, s, n);
}

/*
 * bit(n) and varbit "1101" -> the bytes of the number, least significant
 * first, without high zero bytes, base64: Debezium's Bits; bit(1) (a
 * bit value of one digit) -> a boolean.
 */
static void
add_bits_dbz(struct typemap *tm, struct buf *out, const char *s, size_t n, bool bit)
{
	struct buf *b = &tm->scratch;
	size_t nbytes = (n + 7) / 8;

	for (size_t i = 0; i < n; i++)
		if (s[i] != '0' && s[i] != '1') {
			json_add_str(out, s, n);
			return;
		}
	if (bit && n == 1) {
		buf_adds(out, s[0] == '1' ? "true" : "false");
		return;
	}
	buf_reset(b);
	buf_grow(b, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		unsigned v = 0;

		/* byte i: the bits n-8(i+1) .. n-8i-1 */
		for (size_t k = 0; k < 8 && 8 * i + k < n; k++)
			if (s[n - 1 - (8 * i + k)] == '1')
				v |= 1u << k;
		b->data[i] = (char)v;
	}
	b->len = nbytes;
	while (b->len > 0 && b->data[b->len - 1] == 0)
		b->len--;
	json_add_base64(out, b->data ? b->data : "", b->len);
}

static void
put_le64(unsigned char *p, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(u >> (8 * i));
}

/* point "(1,2.5)" -> {"x":1,"y":2.5,"wkb":"<WKB point, little-endian>","srid":null}. */
static void
add_point_dbz(struct typemap *tm, struct buf *out, const char *s, size_t n)
{
	const char *comma, *end = s + n;
	unsigned char wkb[21] = { 1, 1, 0, 0, 0 };
	char *ep;
	double x, y;
	struct buf *b = &tm->scratch;

	if (n < 5 || s[0] != '(' || end[-1] != ')' || !(comma = memchr(s, ',', n)))
		goto bad;
	buf_reset(b);
	buf_add(b, s + 1, (size_t)(end - 1 - (s + 1)));
	x = strtod(b->data, &ep);
	if (ep != b->data + (comma - s - 1))
		goto bad;
	y = strtod(ep + 1, &ep);
	if (*ep)
		goto bad;
	if (!is_number(s + 1, (size_t)(comma - s - 1)) || !is_number(comma + 1, (size_t)(end - 1 - (comma + 1))))
		goto bad;
	put_le64(wkb + 5, x);
	put_le64(wkb + 13, y);
	buf_adds(out, "{\"x\":");
	buf_add(out, s + 1, (size_t)(comma - s - 1));
	buf_adds(out, ",\"y\":");
	buf_add(out, comma + 1, (size_t)(end - 1 - (comma + 1)));
	buf_adds(out, ",\"wkb\":");
	json_add_base64(out, (const char *)wkb, sizeof(wkb));
	buf_adds(out, ",\"srid\":null}");
	return;
bad:
	json_add_str(out, s, n);
}

static void add_array(struct typemap *tm, struct buf *out, const struct tinfo *ti, const char *s, size_t n);

static void
add_value(struct typemap *tm, struct buf *out, uint32_t typoid, const char *s, size_t n)
{
	struct tinfo ti;

	resolve(tm, typoid, &ti, 0);
	switch (ti.kind) {
	case K_BOOL:
		if (n == 1 && s[0] == 't')
			buf_adds(out, "true");
		else if (n == 1 && s[0] == 'f')
			buf_adds(out, "false");
		else
			json_add_str(out, s, n);
		return;
	case K_INT:
		if (is_int(s, n))
			buf_add(out, s, n);
		else
			json_add_str(out, s, n);
		return;
	case K_FLOAT:
		if (is_number(s, n))
			buf_add(out, s, n);
		else
			json_add_str(out, s, n);	/* NaN, Infinity, -Infinity */
		return;
	case K_NUMERIC:
		if (tm->numeric_as_number && is_number(s, n))
			buf_add(out, s, n);
		else if (tm->debezium && n == 3 && memcmp(s, "NaN", 3) == 0)
			buf_adds(out, "\"NAN\"");
		else if (tm->debezium && n == 8 && memcmp(s, "Infinity", 8) == 0)
			buf_adds(out, "\"POSITIVE_INFINITY\"");
		else if (tm->debezium && n == 9 && memcmp(s, "-Infinity", 9) == 0)
			buf_adds(out, "\"NEGATIVE_INFINITY\"");
		else
			json_add_str(out, s, n);
		return;
	case K_JSON:
		if (tm->debezium)
			json_add_str(out, s, n);
		else
			add_json(out, s, n);
		return;
	case K_BYTEA:
		add_bytea(tm, out, s, n);
		return;
	case K_DATE:
		add_date(tm, out, s, n);
		return;
	case K_MONEY:
		add_money(tm, out, s, n);
		return;
	case K_HSTORE:
		if (tm->debezium) {
			/* Debezium's hstore.handling.mode=json: the object as text. */
			struct buf obj = BUF_INIT;

			add_hstore(tm, &obj, s, n);
			json_add_str(out, obj.data, obj.len);
			buf_release(&obj);
			return;
		}
		add_hstore(tm, out, s, n);
		return;
	case K_TIME:
		if (!tm->debezium)
			break;
		if (n == 8 && memcmp(s, "24:00:00", 8) == 0)
			buf_adds(out, "\"00:00:00Z\"");
		else
			add_suffixed(tm, out, s, n, "Z");
		return;
	case K_INTERVAL:
		if (tm->debezium) {
			add_interval_dbz(tm, out, s, n);
			return;
		}
		break;
	case K_BIT:
	case K_VARBIT:
		if (tm->debezium) {
			add_bits_dbz(tm, out, s, n, ti.kind == K_BIT);
			return;
		}
		break;
	case K_POINT:
		if (tm->debezium) {
			add_point_dbz(tm, out, s, n);
			return;
		}
		break;
	case K_TIMESTAMP:
		add_datetime(tm, out, s, n, false);
		return;
	case K_TIMESTAMPTZ:
		add_datetime(tm, out, s, n, true);
		return;
	case K_TIMETZ:
		if (tm->debezium)
			add_timetz_utc(tm, out, s, n);
		else
			add_timetz(tm, out, s, n);
		return;
	case K_ARRAY:
		add_array(tm, out, &ti, s, n);
		return;
	case K_UNKNOWN:
	case K_STRING:
		break;
	}
	json_add_str(out, s, n);
}

/*
 * Array output (array_out): optional dimensions "[1:2]=" then nested
 * braces; elements separated by the type's delimiter; an element is
 * double-quoted (with backslash escapes) when it needs it, and an
 * unquoted NULL is the null element.  Each element goes through the
 * element type's mapping.
 */
struct arrparse {
	const char *p, *end;
	char delim;
};

static void
skip_ws(struct arrparse *ap)
{
	while (ap->p < ap->end && (*ap->p == ' ' || *ap->p == '\t' || *ap->p == '\n' || *ap->p == '\r'))
		ap->p++;
}

static int
add_elements(struct typemap *tm, struct buf *out, struct arrparse *ap, uint32_t elem, struct buf *eb)
{
	bool first = true;

	/* at '{' */
	ap->p++;
	buf_addc(out, '[');
	skip_ws(ap);
	if (ap->p < ap->end && *ap->p == '}') {
		ap->p++;
		buf_addc(out, ']');
		return 0;
	}
	for (;;) {
		skip_ws(ap);
		if (ap->p >= ap->end)
			return -1;
		if (!first)
			buf_addc(out, ',');
		first = false;
		if (*ap->p == '{') {
			if (add_elements(tm, out, ap, elem, eb) < 0)
				return -1;
		} else if (*ap->p == '"') {
			ap->p++;
			buf_reset(eb);
			while (ap->p < ap->end && *ap->p != '"') {
				if (*ap->p == '\\' && ap->p + 1 < ap->end)
					ap->p++;
				buf_addc(eb, *ap->p++);
			}
			if (ap->p >= ap->end)
				return -1;
			ap->p++;
			add_value(tm, out, elem, eb->data ? eb->data : "", eb->len);
		} else {
			buf_reset(eb);
			while (ap->p < ap->end && *ap->p != ap->delim && *ap->p != '}') {
				if (*ap->p == '\\' && ap->p + 1 < ap->end)
					ap->p++;
				buf_addc(eb, *ap->p++);
			}
			while (eb->len > 0 && (eb->data[eb->len - 1] == ' ' || eb->data[eb->len - 1] == '\t'))
				eb->len--;
			if (eb->len == 4 && strncasecmp(eb->data, "NULL", 4) == 0)
				buf_adds(out, "null");
			else
				add_value(tm, out, elem, eb->data ? eb->data : "", eb->len);
		}
		skip_ws(ap);
		if (ap->p >= ap->end)
			return -1;
		if (*ap->p == '}') {
			ap->p++;
			buf_addc(out, ']');
			return 0;
		}
		if (*ap->p != ap->delim)
			return -1;
		ap->p++;
	}
}

static void
add_array(struct typemap *tm, struct buf *out, const struct tinfo *ti, const char *s, size_t n)
{
	struct arrparse ap = { s, s + n, ti->delim };
	size_t start = out->len;
	struct buf local = BUF_INIT;
	/* Elements of an array nested inside an element (rare: a domain over
	 * an array inside an array) need their own scratch. */
	struct buf *eb = tm->depth > 0 ? &local : &tm->elem;

	tm->depth++;

	if (n > 0 && s[0] == '[') {
		const char *eq = memchr(s, '=', n);

		if (eq)
			ap.p = eq + 1;
	}
	skip_ws(&ap);
	if (ap.p >= ap.end || *ap.p != '{' || add_elements(tm, out, &ap, ti->elem, eb) < 0) {
		buf_setlen(out, start);
		json_add_str(out, s, n);
	}
	buf_release(&local);
	tm->depth--;
}

void
typemap_value(struct typemap *tm, struct buf *out, uint32_t typoid, const char *text, size_t len)
{
	add_value(tm, out, typoid, text, len);
}
