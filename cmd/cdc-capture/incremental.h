/*
 * incremental.h: incremental snapshots of cdc-capture (the DBLog watermark
 * method), asked for while the stream runs.
 *
 * A request is one line appended to the signal file (--signal-file FILE):
 *
 *     snapshot TABLE [where CONDITION]
 *
 * TABLE as ::regclass reads it (schema.table, quoted identifiers, the
 * search path for a bare name); CONDITION an SQL boolean expression on the
 * table's columns.  `cdc-capture --signal-file FILE --signal REQUEST`
 * checks the syntax and appends the line with one write() (O_APPEND).
 *
 * The running capture looks at the file about once a second and takes one
 * new line at a time.  For the table it then reads, on a normal connection
 * of its own and with no lock, chunk after chunk in primary key order:
 *
 *     COPY (SELECT (SELECT pg_current_wal_lsn()) AS H, cols FROM t
 *           WHERE (pk) > (last key) AND (publication row filter)
 *           AND (CONDITION) ORDER BY pk LIMIT N) TO STDOUT
 *
 * (one round trip: H, the server's WAL position as the query began, comes
 * in every row; an empty chunk asks for it apart).  The query is sent
 * between two transactions of the stream and its rows are taken as they
 * come, from the capture loop, so the stream goes on meanwhile; the next
 * chunk's query is sent as soon as a chunk is read, while that one is held.
 * The chunk's snapshot must see every transaction delivered before its
 * query was sent (else it is read again).  Every change of the table the
 * stream delivers from then on until the chunk is written removes its
 * keys, old and new, from the chunk's rows (kept in a log until the chunk
 * is read and nothing before it is held): such a change is written before
 * the chunk, and its image is at least as new as the chunk's.  Once the
 * stream has passed H (a transaction committing after H begins, or a
 * keepalive outside a transaction reports the server's WAL end >= H), the
 * rows left are written as op "r" events with source.snapshot
 * "incremental" at positions (P, 2^40 + i), P = H or, when nothing at H
 * was written yet, H - 1 (a transaction committing right at H then still
 * comes after), or, when the stream went past H while the chunk was being
 * read, the commit position of the last event written:
 * positions no transaction's events use, after every event written so far
 * and before any event of a transaction written later.  A transaction
 * the chunk saw that commits after H comes after the chunk with an image
 * at most as new as the chunk's, and the stream's later changes of the
 * same rows follow it.  Folded by key in position order, the stream and
 * the chunks give the table.
 *
 * Control events: incremental_begin before the first chunk's rows (with
 * "snapshot":{"condition":...,"since_lsn":S,...}) and incremental_end after
 * the last (with "snapshot":{"condition":...,"since_lsn":S,"rows":N}), at
 * positions of the same kind.  S is the commit LSN of the last event
 * written before the first chunk was read: every later event has one at
 * least as high (higher, but for a heartbeat at S), so a sink's document of the table still below S at the end of a
 * snapshot of the whole table is a row the table no longer has.
 *
 * Progress: the state file (incr_state_path()) holds the signal file
 * offset, the request being served, since_lsn, and the last key of a
 * chunk done: one whose last event is acknowledged (--ack-file: the ack
 * file's position is at or past it; without --ack-file: written and
 * flushed).  It is written when a request is taken or finished, and in
 * between once a second or every 32 chunks done (a write per chunk, with
 * its fsyncs, took longer than the chunk).  A restart resumes after that
 * key, repeating the chunks done since, which fold the same.
 */
#ifndef CDC_CAPTURE_INCREMENTAL_H
#define CDC_CAPTURE_INCREMENTAL_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "pgoutput.h"

struct capture;
struct incr;

/* Seq of the first event of a chunk: above any transaction's events. */
#define INCR_SEQ_BASE ((uint64_t)1 << 40)

/*
 * Parse a request line.  Returns 0 with *table and *cond (NULL for none)
 * pointing into buf (a copy of line the caller provides, modified), or -1
 * with *err set.
 */
int incr_request_parse(char *buf, const char **table, const char **cond, const char **err);

/* cdc-capture --signal: check request and append it to file.  Exits. */
_Noreturn void incr_signal_write(const char *file, const char *request);

/* The state file: --snapshot-state FILE + ".incremental", else the signal file + ".state". */
char *incr_state_path(const char *snapshot_state, const char *signal_file);

/* Set up from c->o (signal file, chunk size); reads the state file (exits 1 if unreadable). */
struct incr *incr_new(struct capture *c);
void incr_free(struct incr *in);

/* Timed and idle work: the signal file, acknowledgements, the next chunk. */
void incr_poll(struct capture *c);
/* A transaction (xid) committing at commit_lsn begins: write a held chunk it passes. */
void incr_begin_tx(struct capture *c, uint64_t commit_lsn, uint32_t xid);
/* A keepalive outside a transaction: the server has sent everything before walend. */
void incr_walend(struct capture *c, uint64_t walend);
/* An Insert, Update or Delete of the stream, before its events are written. */
void incr_change(struct capture *c, const struct pgo_msg *m);
/* A Truncate of rel. */
void incr_truncate(struct capture *c, const struct pgo_rel *rel);
/* Its lines in --metrics-file. */
void incr_metrics(struct buf *out, const char *labels, const struct incr *in);
/* Milliseconds until incr_poll() wants to run (<= 1000). */
int incr_timeout(const struct capture *c);
/* The socket of a chunk being read (incr_poll() wants to run when it is readable), or -1. */
int incr_socket(const struct capture *c);

#endif
