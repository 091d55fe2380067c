/*
 * types.h: PostgreSQL value -> JSON, one code path for stream and snapshot.
 *
 * Values arrive in PostgreSQL's text output form (pgoutput 't' columns,
 * COPY text fields after unescaping).  The mapping follows cdc-events(7):
 * bool as true/false, integers digit for digit, floats as numbers with
 * NaN/Infinity as strings, numeric as a string (or a number on request),
 * json/jsonb embedded, bytea as base64, dates and times as RFC 3339 with T,
 * arrays as JSON arrays, domains as their base type, everything else as a
 * string.
 *
 * Built-in types are known by OID.  Other types (enums, domains, arrays of
 * them, composites, extension types) are looked up lazily in pg_type over a
 * second, normal connection and cached by OID; when the lookup fails the
 * value is printed as a JSON string (and a warning is printed once).
 *
 * The typemap owns its connection and cache; typemap_free() releases both.
 * Not thread-safe.
 */
#ifndef CDC_CAPTURE_TYPES_H
#define CDC_CAPTURE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "buf.h"

struct typemap;

/*
 * conninfo: a normal (non-replication) connection string used lazily to
 * look up non-built-in types; NULL means never look up (unknown types are
 * strings).  The string is copied.
 */
struct typemap *typemap_new(const char *conninfo, bool numeric_as_number);
void typemap_free(struct typemap *tm);

/*
 * cdc-capture --values=debezium: write the values whose rendering differs
 * from Debezium 3.6.1's (decimal.handling.mode=string,
 * binary.handling.mode=base64, time.precision.mode=isostring,
 * interval.handling.mode=string) as Debezium does: json, jsonb and hstore
 * as strings; date, time and timestamp with a 'Z'; timetz in UTC; numeric
 * NaN and infinities as NAN, POSITIVE_INFINITY, NEGATIVE_INFINITY;
 * intervals with every component; bit strings as the bytes of the number
 * (bit(1) as a boolean); point as {x, y, wkb, srid}.  See cdc-events(7).
 */
void typemap_set_debezium(struct typemap *tm, bool on);

/*
 * Append the JSON for one non-NULL value given in PostgreSQL's text output
 * form (as pgoutput 't' columns and COPY text fields deliver it, already
 * unescaped).  Never fails: text that does not parse as its type is
 * written as a JSON string.
 */
void typemap_value(struct typemap *tm, struct buf *out, uint32_t typoid, const char *text, size_t len);

/*
 * The lookup connection (opened on first use, reset when broken), for
 * other catalog lookups of the stream (primary keys).  NULL when the
 * typemap has no conninfo; exits 75 when the server cannot be reached.
 */
PGconn *typemap_conn(struct typemap *tm);
/*
 * Run a catalog query with text parameters on that connection; when it
 * fails because the connection broke (server restart), reconnect and run
 * it once more.  Returns the result (caller clears; check its status).
 */
PGresult *typemap_query(struct typemap *tm, const char *sql, int nparams, const char *const *params);

/*
 * Drop the lookup connection (the next lookup opens a new one): after the
 * replication connection was lost, the catalog connection went the same
 * way, or is half-open and would never answer.
 */
void typemap_reset(struct typemap *tm);
/*
 * Give up on a catalog query the server does not answer within ms
 * milliseconds (0: wait for ever): the connection is dropped and the
 * query tried once more on a new one.  Default 0.
 */
void typemap_set_timeout(struct typemap *tm, int64_t ms);

/* Forget cached lookups of non-built-in types (after a schema change). */
void typemap_invalidate(struct typemap *tm);

/*
 * Session settings every capture connection uses so the server's text is
 * predictable: the conninfo "options" value.
 */
extern const char *const capture_session_options;

/*
 * libpq TCP keepalive defaults for every capture connection: the first
 * keywords of a PQconnectdbParams() array, before "dbname", so that a
 * connection string setting them wins (keywords after the expanded
 * dbname override it, keywords before are overridden).
 */
#define CAPTURE_KEEPALIVE_KEYS "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"
#define CAPTURE_KEEPALIVE_VALS "1", "30", "10", "3"

#endif
