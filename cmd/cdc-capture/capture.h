/*
 * capture.h: the state of one cdc-capture run, shared by main.c (options,
 * orchestration), setup.c (connection, server checks, slot and publication
 * management) and stream.c (the replication loop).
 */
#ifndef CDC_CAPTURE_CAPTURE_H
#define CDC_CAPTURE_CAPTURE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "change.h"
#include "checkpoint.h"
#include "event.h"
#include "lsn.h"
#include "metrics.h"
#include "pgoutput.h"
#include "types.h"
#include "writer.h"

struct capture_opts {
	const char *conninfo;		/* from -d, -h, -p, -U; NULL: libpq defaults */
	char *conninfo_alloc;		/* conninfo, when built here */
	const char *slot;
	char **pubs;			/* --publication, split */
	int npubs;
	const char *pubs_arg;		/* as given, for publication_names */
	bool create_slot, drop_slot, create_pub;
	const char *tables;		/* --tables for --create-publication */
	bool numeric_number;
	bool tx_events;
	bool ts_ns;			/* --ts-ns */
	bool values_debezium;		/* --values=debezium */
	bool key_change_update;		/* --key-change=update: one u event (default: a d and a c) */
	const char *ack_file;
	int64_t heartbeat_ms;		/* 0: off */
	int64_t status_ms;
	int64_t receive_timeout_ms;	/* --receive-timeout; 0: off */
	bool has_endpos;
	uint64_t endpos;
	bool no_loop;
	bool stats;
	const char *metrics_file;	/* --metrics-file */
	/* snapshot */
	int snapshot_mode;		/* enum snapshot_mode */
	bool snapshot_mode_given;
	int snapshot_jobs;
	const char *snapshot_state;	/* --snapshot-state, or ack_file + ".snapshot" */
	char *snapshot_state_alloc;	/* ... when built here */
	bool progress;
	/* incremental snapshots */
	const char *signal_file;	/* --signal-file */
	const char *signal_request;	/* --signal: write it and exit */
	int snapshot_chunk;		/* --snapshot-chunk */
};

struct capture {
	struct capture_opts o;
	PGconn *conn;			/* replication connection */
	int server_version;
	char *db;			/* database name (source.db) */
	struct writer w;
	struct buf ev;			/* the event being formatted */
	struct pgoutput *dec;
	struct pgo_msg msg;
	struct typemap *tm;
	struct event_ctx ctx;
	struct change_fmt fmt;

	/* The transaction being received (between Begin and Commit). */
	bool in_tx;
	uint64_t tx_commit_lsn;
	uint64_t tx_first_lsn;		/* the Begin message's LSN */
	uint32_t tx_xid;
	int64_t tx_ts_us;		/* commit time, microseconds since the epoch */
	uint64_t tx_seq;
	uint64_t tx_events;		/* data events so far (--tx-events) */
	int64_t hold_since;		/* mono_ms() since the output waits for a commit, or 0 */
	bool napped;			/* this wait for a commit has had its nap */
	char *tx_origin;		/* replication origin ('O' message), or NULL */
	uint64_t tx_origin_lsn;
	struct change_tally *tally;	/* per table events (--tx-events) */
	int ntally, tally_cap;
	bool have_last_commit;		/* a Commit was seen in this session */
	uint64_t last_commit_end;	/* ... its end LSN (source.sequence) */
	int64_t last_commit_us;		/* ... its commit time */

	/* Positions. */
	struct cdc_pos last_pos;	/* last event emitted: re-deliveries at or below are skipped */
	uint64_t written_lsn;		/* everything before it is in the writer (or filtered) */
	uint64_t flushed_lsn;		/* ... and was flushed to stdout */
	uint64_t ka_walend;		/* W: walEnd of the latest keepalive outside a transaction */
	int64_t ka_ts_us;		/* its send time, microseconds since the epoch */
	uint64_t server_walend;		/* latest walEnd seen (for --stats) */
	uint64_t start_confirmed;	/* the slot's confirmed_flush_lsn when we attached */
	uint64_t sent_flush;		/* flush LSN of the last status update */

	/* --ack-file */
	bool ack_have;			/* a checkpoint was read */
	struct checkpoint ack;
	struct stat ack_st;
	bool ack_st_valid;

	/* Clocks (monotonic ms). */
	int64_t last_emit, last_status, last_ack_check;

	/* Counters: this run's, and the shared ones (--stats, --metrics-file). */
	uint64_t events, skipped;
	struct metrics m;
	int64_t last_commit_ms;
	bool done;			/* --endpos reached */
	bool streaming;			/* inside START_REPLICATION's CopyBoth */
	bool reconnecting;		/* setup after a lost connection */
	int64_t last_ka_request;	/* when a keepalive was last asked for (heartbeats) */
	int64_t last_recv;		/* when the server's latest message arrived */
	bool reply_pending;		/* a reply was asked for and nothing came since */
	struct incr *incr;		/* --signal-file: incremental snapshots (incremental.h) */
};

/* setup.c */

/* Connect the replication connection (c->conn); returns 0, or -1 after a
 * message when the server cannot be reached (worth retrying).  Dies on
 * errors a retry cannot fix (authentication, privileges, missing database). */
int capture_connect(struct capture *c);
/*
 * Warn once per process when c->conn runs over TCP to a host that is not
 * a loopback name without a verified server certificate.
 */
void capture_check_tls(struct capture *c);
/* Check server version and wal_level; dies with the fix when unsuitable. */
void capture_check_server(struct capture *c);
/* Check (or create with --create-publication) the publications. */
void capture_publications(struct capture *c);

struct slot_info {
	bool exists;
	char plugin[64];
	char type[16];
	char database[128];
	int active_pid;			/* 0: inactive */
	char wal_status[16];		/* "" before PostgreSQL 13 */
	uint64_t confirmed_flush;
};
/* Look the slot up in pg_replication_slots.  Dies on query errors. */
void capture_slot_info(struct capture *c, const char *slot, struct slot_info *si);
/* Die unless the existing slot is usable (pgoutput, this database, not
 * lost); wait up to 10 s while another process holds it.  Then: when
 * c->reconnecting returns -1 (the holder is likely the walsender of our
 * lost connection, until the server's wal_sender_timeout; worth
 * retrying), else exits 75. */
int capture_check_slot(struct capture *c, struct slot_info *si);
/* DROP_REPLICATION_SLOT; dies on failure. */
void capture_drop_slot(struct capture *c, const char *slot);
/*
 * CREATE_REPLICATION_SLOT slot [TEMPORARY] LOGICAL pgoutput with an
 * exported snapshot (export true) or none.  Returns the consistent point;
 * *snapshot_name (caller frees) gets the exported snapshot's name.
 */
uint64_t capture_create_slot(struct capture *c, const char *slot, bool temporary, bool export,
			     char **snapshot_name);
/* Run a simple query on the replication connection; dies on error. */
PGresult *capture_sql(struct capture *c, const char *sql, ExecStatusType want);
/* libpq's last message as one line (trailing newlines removed; static). */
const char *pq_message(const char *msg);

/* stream.c */

enum stream_end {
	STREAM_STOPPED,			/* signal or --endpos: clean exit */
	STREAM_LOST,			/* connection lost: reconnect or exit 75 */
};

/* START_REPLICATION; dies on errors a retry cannot fix, -1 when lost. */
int capture_start(struct capture *c);
/* The capture's lines in --metrics-file and --stats (metrics.h hooks). */
void capture_metrics(struct buf *out, const char *labels, void *capture);
void capture_stats(struct buf *out, void *capture);
/* The replication loop until stopped or the connection is lost. */
enum stream_end capture_stream(struct capture *c);
/* Write the event in c->ev (no newline yet) at (commit_lsn, seq), unless
 * at or below the last position written (a re-delivery). */
void capture_emit(struct capture *c, uint64_t commit_lsn, uint64_t seq);
/* A standby status update, asking for a keepalive back when reply. */
int capture_send_status(struct capture *c, bool reply);
/* Flush stdout and send the final standby status update. */
void capture_finish(struct capture *c);
/* Read --ack-file if it changed; at start (initial true) errors are fatal. */
void ack_check(struct capture *c, bool initial);
/*
 * A Relation message arrived: look the relation's primary key up in the
 * catalog (over the typemap's normal connection) and choose the columns of
 * the event "key" (pgo_rel_set_key(), cdc-capture(1) "Keys").
 */
void capture_relation_key(struct capture *c, struct pgo_rel *rel);

#endif
