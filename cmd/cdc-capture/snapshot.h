/*
 * snapshot.h: the consistent initial snapshot of cdc-capture.
 *
 * A new slot starts streaming at its consistent point C, so the rows that
 * are already in the published tables must be emitted first.  main.c
 * creates the slot with CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')
 * and, while the replication connection stays idle (which keeps the
 * exported snapshot valid), calls snapshot_run().  That opens jobs normal
 * connections, each in a REPEATABLE READ transaction on the exported
 * snapshot, copies every published table (honouring row filters and
 * column lists; big tables split into ctid page ranges) with COPY ... TO
 * STDOUT, and writes the rows as op "r" events through the same type
 * mapping (types.h) and envelope (event.h) as the stream:
 *
 *     snapshot_begin  at (S, 0)       source.snapshot "true"
 *     rows (op r)     at (S, 1..N)    source.snapshot "true", in emission order
 *     snapshot_end    at (S, N+1)     source.snapshot "last", "snapshot":{"rows":N}
 *
 * where S = C - 1 (snapshot_lsn()): the commit record of the first streamed
 * transaction can start exactly at C, so the snapshot must sort before
 * (C, 1), not share commit LSN C with that transaction.
 *
 * Every row is read inside the snapshot, so a write committed before C is
 * in the snapshot and one committed after C is in the stream: never both,
 * never neither.  Memory is bounded: rows are formatted as COPY delivers
 * them; a connection is read only when the writer has taken the last row.
 *
 * Interrupted snapshots.  The state file (--snapshot-state FILE) is the
 * durable marker: main.c calls snapshot_state_begin() before it creates
 * the slot, snapshot_run() records "running" with C and "done" once
 * snapshot_end has been written and flushed.  At start, before streaming
 * from an existing slot, main.c calls snapshot_state_check(): if the state
 * file says the snapshot of this slot did not finish (or, with --ack-file,
 * the checkpoint shows the far end never got past it), capture says so,
 * drops the slot it created and starts over.  See snapshot_state_check().
 */
#ifndef CDC_CAPTURE_SNAPSHOT_H
#define CDC_CAPTURE_SNAPSHOT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* The commit LSN of every snapshot event: just before the consistent point. */
static inline uint64_t
snapshot_lsn(uint64_t consistent_lsn)
{
	return consistent_lsn - 1;
}

#include "checkpoint.h"
#include "event.h"
#include "types.h"
#include "writer.h"

enum snapshot_mode {
	SNAPSHOT_INITIAL,	/* snapshot, then stream (default when this run creates the slot) */
	SNAPSHOT_NEVER,		/* stream only */
	SNAPSHOT_ONLY,		/* snapshot and exit */
};

/* Parse "initial", "never", "only".  Returns 0, or -1 if unknown. */
int snapshot_mode_parse(const char *s, enum snapshot_mode *out);

enum snapshot_progress {
	PROGRESS_AUTO,		/* on stderr when stderr is a terminal (the default) */
	PROGRESS_ON,		/* --progress */
	PROGRESS_OFF,		/* --quiet */
};

struct snapshot_args {
	const char *conninfo;		/* normal (non-replication) connection string; capture_session_options are added */
	const char *snapshot_name;	/* the name CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export') returned */
	uint64_t consistent_lsn;	/* C: the slot's consistent point */
	const char *const *publications; /* publication names */
	int npublications;
	int jobs;			/* connections sharing the snapshot (--snapshot-jobs, >= 1) */
	enum snapshot_progress progress;
	struct writer *out;		/* stdout; snapshot_run() flushes it before returning 0 */
	struct typemap *tm;		/* the stream's type mapping */
	const struct event_ctx *ctx;	/* source.name / source.db */
	const char *state_path;		/* --snapshot-state FILE, or NULL */
};

/*
 * Take the snapshot and write its events to a->out.  Returns 0 when the
 * snapshot is complete (everything written and flushed; the state file, if
 * any, says "done"); -1 when stopped by SIGINT/SIGTERM (cdc_stop): a
 * message says the snapshot is incomplete, the caller must not stream and
 * exits 0 (the next run starts over); otherwise a cdc_exit status > 0
 * (1 failure, 75 connection lost) after printing a message.  A failed write
 * on a->out ends through wr_die_on_error() (EPIPE: exit 141).
 */
int snapshot_run(const struct snapshot_args *a);

/*
 * Describe one published table for the incremental snapshot: the same
 * catalog reading as the initial snapshot (columns in attnum order, column
 * lists, row filters, the key rule), for the table regclass names (text
 * given to ::regclass) among pubs.  conn: a normal connection.  Returns 1
 * (t filled in; copy_table_free() it), 0 when the table is not in the
 * publications, -1 on error (message printed).
 */
struct snap_table;
int snapshot_describe_table(PGconn *conn, int server_version, const char *const *pubs, int npubs,
			    const char *regclass, struct snap_table *t);

/* ---- the durable marker of an unfinished snapshot ---- */

enum snapshot_phase {
	SNAPSTATE_CREATING,	/* about to create the slot */
	SNAPSTATE_RUNNING,	/* slot created at C, snapshot being written */
	SNAPSTATE_DONE,		/* snapshot_end written and flushed */
};

struct snapshot_state {
	enum snapshot_phase phase;
	char slot[128];
	uint64_t consistent_lsn;	/* 0 while CREATING */
	uint64_t rows;			/* DONE: rows in the snapshot */
};

/*
 * Read / write the state file (key=value text, written atomically, mode
 * 0600).  snapshot_state_read() returns 0 when read, 1 when the file does
 * not exist, -1 when it is malformed or unreadable (message printed).
 * snapshot_state_write() returns 0 or -1 (message printed).
 */
int snapshot_state_read(const char *path, struct snapshot_state *st);
int snapshot_state_write(const char *path, const struct snapshot_state *st);

/*
 * Record that this run is about to create slot (phase CREATING).  Call it
 * before CREATE_REPLICATION_SLOT, so that a crash between creating the slot
 * and finishing the snapshot is always detected.  Returns 0 or -1.
 */
int snapshot_state_begin(const char *path, const char *slot);

enum snapshot_verdict {
	SNAPSHOT_OK,		/* nothing unfinished: stream from the slot (or create it, if missing) */
	SNAPSHOT_REDO,		/* unfinished snapshot of a slot capture created: drop the slot (if it
				   exists), create it again and take the snapshot again */
	SNAPSHOT_REFUSE,	/* the state cannot be trusted (other slot, unreadable): message printed, exit 1 */
};

/*
 * Decide at start whether an earlier snapshot of slot was interrupted.
 * path: --snapshot-state (NULL: no state file, returns SNAPSHOT_OK).
 * ack: the --ack-file checkpoint when one was read, else NULL.
 *
 * SNAPSHOT_REDO when the state file names this slot and says CREATING or
 * RUNNING; or says DONE at C while the ack checkpoint is missing (ack_given
 * true, ack NULL), is inside the snapshot (snapshot=true) or before
 * (C, rows+1).  A message saying so has been printed.  SNAPSHOT_REFUSE when
 * the file names another slot or cannot be read.
 */
enum snapshot_verdict snapshot_state_check(const char *path, const char *slot, bool ack_given,
					   const struct checkpoint *ack);

/* Append s as a quoted SQL identifier ("a""b"). */
void sql_add_ident(struct buf *b, const char *s);

#endif
