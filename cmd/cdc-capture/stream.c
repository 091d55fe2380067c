/*
 * stream.c: the replication loop of cdc-capture.
 *
 * Streaming protocol (PostgreSQL manual, "Streaming Replication Protocol"),
 * inside CopyBoth after START_REPLICATION:
 *
 *   server 'w'  Int64 walStart, Int64 walEnd, Int64 sendTime, then one
 *               pgoutput message (pgoutput.h)
 *   server 'k'  Int64 walEnd, Int64 sendTime, Byte1 replyRequested
 *   client 'r'  Int64 write, Int64 flush, Int64 apply, Int64 clock, Byte1 reply
 *
 * Acknowledgement.  The server restarts a slot from its confirmed flush
 * position and skips every transaction whose commit record starts before
 * it.  With --ack-file the flush position reported is the commit_lsn of the
 * position the far end of the pipe made durable: that transaction comes
 * again whole after a restart, and nothing before it is lost.  Without
 * --ack-file it is the end of the last transaction written and flushed to
 * stdout (pg_recvlogical's behaviour).  Never a position inside a
 * transaction.
 *
 * Idle and filtered streams: a keepalive received between transactions
 * carries the server's send position W; every published change before W
 * has been sent.  Heartbeat events carry (W, 0) down the pipe, the sink
 * checkpoints them and the ack file brings W back, so the slot advances
 * without any write on the source.
 */
#include "capture.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "incremental.h"
#include "json.h"
#include "log.h"
#include "notify.h"
#include "sig.h"
#include "timeutil.h"

#define ACK_CHECK_MS 1000
/* The longest the output of a transaction waits for the rest of it. */
#define TX_HOLD_MS 2
/* The nap that lets the rest of a transaction arrive in one read. */
#define TX_NAP_US 100
/* Microseconds between the Unix and PostgreSQL epochs. */
#define PG_EPOCH_OFFSET_US 946684800000000LL

static uint64_t
get64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u[i];
	return v;
}

static void
put64(char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ------------------------------------------------------------ ack file */

void
ack_check(struct capture *c, bool initial)
{
	struct stat st;
	struct checkpoint cp;
	int rc;

	c->last_ack_check = mono_ms();
	if (!c->o.ack_file)
		return;
	if (stat(c->o.ack_file, &st) < 0) {
		if (errno != ENOENT && initial)
			die_errno("cannot read ack file %s", c->o.ack_file);
		c->ack_st_valid = false;
		return;
	}
	if (c->ack_st_valid && st.st_ino == c->ack_st.st_ino && st.st_size == c->ack_st.st_size &&
	    st.st_mtim.tv_sec == c->ack_st.st_mtim.tv_sec && st.st_mtim.tv_nsec == c->ack_st.st_mtim.tv_nsec &&
	    st.st_dev == c->ack_st.st_dev)
		return;
	rc = checkpoint_read(c->o.ack_file, &cp);
	if (rc < 0) {
		if (initial)
			exit(CDC_EXIT_FAILURE);
		/* Writers replace the file atomically: keep the last good one. */
		warning("keeping the last acknowledged position");
		c->ack_st = st;
		c->ack_st_valid = true;
		return;
	}
	if (rc > 0)
		return;
	if (cp.name[0] && strcmp(cp.name, c->o.slot) != 0)
		die("ack file %s is the checkpoint of \"%s\", not of slot \"%s\": wrong file?",
		    c->o.ack_file, cp.name, c->o.slot);
	c->ack_st = st;
	c->ack_st_valid = true;
	if (!c->ack_have || cp.pos.commit_lsn != c->ack.pos.commit_lsn) {
		char b[POS_BUFSZ];

		info(1, "ack file: %s", pos_format(&cp.pos, b));
	}
	c->ack = cp;
	c->ack_have = true;
}

/* ------------------------------------------------------------ status */

/* The flush position to report: never more than the far end made durable. */
static uint64_t
flush_position(struct capture *c)
{
	uint64_t f;

	if (c->o.ack_file)
		f = c->ack_have ? c->ack.pos.commit_lsn : 0;
	else
		f = c->flushed_lsn;
	/* Never move the slot backwards. */
	return max64(f, c->start_confirmed);
}

int
capture_send_status(struct capture *c, bool reply)
{
	char msg[1 + 8 * 4 + 1];
	uint64_t flush;
	int64_t now_us = now_ms() * 1000 - PG_EPOCH_OFFSET_US;

	if (!c->o.ack_file && wr_flush(&c->w) == 0)
		c->flushed_lsn = c->written_lsn;
	flush = flush_position(c);
	msg[0] = 'r';
	put64(msg + 1, max64(c->written_lsn, flush));
	put64(msg + 9, flush);
	put64(msg + 17, flush);
	put64(msg + 25, (uint64_t)now_us);
	msg[33] = reply ? 1 : 0;
	c->last_status = mono_ms();
	if (reply)
		c->reply_pending = true;
	if (PQputCopyData(c->conn, msg, sizeof(msg)) <= 0 || PQflush(c->conn) != 0) {
		error("cannot send status update: %s", pq_message(PQerrorMessage(c->conn)));
		return -1;
	}
	if (flush != c->sent_flush) {
		char b[LSN_BUFSZ];

		info(2, "confirmed %s", lsn_format(flush, b));
		c->sent_flush = flush;
	}
	return 0;
}

/* ------------------------------------------------------------ emitting */

void
capture_emit(struct capture *c, uint64_t commit_lsn, uint64_t seq)
{
	struct cdc_pos pos = { commit_lsn, seq };

	if (pos_cmp(&pos, &c->last_pos) <= 0) {
		/* Re-delivered after a reconnection: already written. */
		c->skipped++;
		return;
	}
	c->last_pos = pos;
	buf_addc(&c->ev, '\n');
	wr_write(&c->w, c->ev.data, c->ev.len);
	wr_die_on_error(&c->w, "standard output");
	c->events++;
	c->last_emit = mono_ms();
	c->m.events_in++;	/* changes read from the slot, each one event */
	c->m.events_out++;
	c->m.bytes_out += c->ev.len;
	c->m.pos = pos;
	c->m.have_pos = true;
	if (c->tx_ts_us) {
		c->m.last_commit_ms = c->tx_ts_us / 1000;
		metrics_lag_since(&c->m, c->m.last_commit_ms);
	}
}

/* Debezium's sequence[0]: the end of the last transaction seen in this session. */
static void
src_last_commit(struct capture *c, struct event_src *p)
{
	p->has_last_commit = c->have_last_commit;
	p->last_commit = c->last_commit_end;
}

static void
heartbeat(struct capture *c)
{
	struct event_src p = { .lsn = c->ka_walend, .commit_lsn = c->ka_walend, .ts_us = c->ka_ts_us,
			       .snapshot = "false" };

	src_last_commit(c, &p);
	buf_reset(&c->ev);
	control_format(&c->fmt, &c->ev, "heartbeat", -1, NULL, 0, 0, &p);
	capture_emit(c, p.commit_lsn, 0);
	/* Emitting it is not a reason to skip the next one. */
}

static bool
heartbeat_due(struct capture *c, int64_t now)
{
	return c->o.heartbeat_ms > 0 && !c->in_tx && now - c->last_emit >= c->o.heartbeat_ms &&
	       c->ka_walend > c->last_pos.commit_lsn;
}

/* The heartbeat interval has passed, but no keepalive says where the server is. */
static bool
heartbeat_waiting(struct capture *c, int64_t now)
{
	return c->o.heartbeat_ms > 0 && !c->in_tx && now - c->last_emit >= c->o.heartbeat_ms &&
	       c->ka_walend <= c->last_pos.commit_lsn;
}

/* WAL the server has that is not yet written out: what a lag in bytes means here. */
static uint64_t
bytes_behind(const struct capture *c)
{
	return c->server_walend > c->written_lsn ? c->server_walend - c->written_lsn : 0;
}

void
capture_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct capture *c = arg;

	buf_addf(out, "# HELP cdc_capture_wal_bytes_behind WAL on the server not yet written out.\n"
		 "# TYPE cdc_capture_wal_bytes_behind gauge\ncdc_capture_wal_bytes_behind{%s} %llu\n",
		 labels, (unsigned long long)bytes_behind(c));
	buf_addf(out, "# HELP cdc_capture_redelivered_total Re-delivered events skipped after a "
		 "reconnection.\n# TYPE cdc_capture_redelivered_total counter\n"
		 "cdc_capture_redelivered_total{%s} %llu\n", labels, (unsigned long long)c->skipped);
	if (c->incr)
		incr_metrics(out, labels, c->incr);
}

void
capture_stats(struct buf *out, void *arg)
{
	const struct capture *c = arg;

	buf_addf(out, "; %llu bytes behind the server", (unsigned long long)bytes_behind(c));
}

/*
 * A half-open connection (the server, or a middlebox, gone without a FIN
 * or RST) takes status updates without a word.  The server answers a
 * status update asking for a reply at once, and sends keepalives of its
 * own: after half of --receive-timeout without a message capture asks,
 * and after all of it, with the question unanswered, the connection is
 * lost.  Returns -1 then.
 */
static int
receive_check(struct capture *c, int64_t now)
{
	int64_t t = c->o.receive_timeout_ms, quiet = now - c->last_recv;

	if (t <= 0 || quiet < t / 2)
		return 0;
	if (!c->reply_pending)
		return capture_send_status(c, true);
	if (quiet >= t) {
		struct pollfd pfd = { PQsocket(c->conn), POLLIN, 0 };

		/* Data waiting unread (stdout blocked us) is no silence. */
		if (poll(&pfd, 1, 0) > 0)
			return 0;
		error("no message from the server for %lld s although asked for one (--receive-timeout): "
		      "the connection is lost", (long long)(quiet / 1000));
		return -1;
	}
	return 0;
}

/* Timed work: ack file, heartbeats, status updates, statistics. */
static int
housekeeping(struct capture *c, int64_t now)
{
	bool ack_changed = false;

	if (receive_check(c, now) < 0)
		return -1;

	if (c->o.ack_file && now - c->last_ack_check >= ACK_CHECK_MS) {
		uint64_t before = flush_position(c);

		ack_check(c, false);
		ack_changed = flush_position(c) != before;
	}
	if (heartbeat_due(c, now))
		heartbeat(c);
	if (ack_changed || now - c->last_status >= c->o.status_ms ||
	    (c->o.has_endpos && now - c->last_status >= 1000)) {
		/* --endpos: ask for a keepalive, whose walEnd tells whether the
		 * server has anything left before endpos (an idle server sends
		 * none of its own for wal_sender_timeout / 2). */
		if (capture_send_status(c, c->o.has_endpos) < 0)
			return -1;
	} else if (heartbeat_waiting(c, now) && now - c->last_ka_request >= c->o.heartbeat_ms) {
		/* A heartbeat is due but no keepalive newer than the last event
		 * came: ask for one (at most once per heartbeat interval). */
		c->last_ka_request = now;
		if (capture_send_status(c, true) < 0)
			return -1;
	}
	if (c->sent_flush) {
		c->m.ckpt = (struct cdc_pos){ c->sent_flush, 0 };
		c->m.have_ckpt = true;
	}
	metrics_tick(&c->m);
	return 0;
}

/* Milliseconds until the next timed work is due. */
static int
next_timeout(struct capture *c, int64_t now)
{
	int64_t t = c->last_status + c->o.status_ms - now;

	if (c->o.ack_file && c->last_ack_check + ACK_CHECK_MS - now < t)
		t = c->last_ack_check + ACK_CHECK_MS - now;
	if (c->o.heartbeat_ms > 0) {
		/* A heartbeat waiting for a newer keepalive is woken by the
		 * keepalive itself; until then only the next request is timed
		 * (a zero timeout here would spin). */
		int64_t due = heartbeat_waiting(c, now) ? c->last_ka_request + c->o.heartbeat_ms
							: c->last_emit + c->o.heartbeat_ms;

		if (due - now < t)
			t = due - now;
	}
	if (c->o.has_endpos && c->last_status + 1000 - now < t)
		t = c->last_status + 1000 - now;
	if (c->o.receive_timeout_ms > 0) {
		int64_t due = c->last_recv + (c->reply_pending ? c->o.receive_timeout_ms
							       : c->o.receive_timeout_ms / 2);

		if (due - now < t)
			t = due - now;
	}
	if (c->incr && incr_timeout(c) < t)
		t = incr_timeout(c);
	if (t < 0)
		t = 0;
	if (t > 1000)
		t = 1000;
	return (int)t;
}

/* ------------------------------------------------------------ messages */

static void
protocol_error(struct capture *c, uint64_t lsn, const char *what)
{
	char b[LSN_BUFSZ];

	die("protocol error at %s: %s", lsn_format(lsn, b), what);
}

/* The transaction's per-table tally entry of rel (added on first use). */
static struct change_tally *
tally_of(struct capture *c, const struct pgo_rel *rel)
{
	for (int i = 0; i < c->ntally; i++)
		if (strcmp(c->tally[i].schema, rel->nspname) == 0 && strcmp(c->tally[i].table, rel->relname) == 0)
			return &c->tally[i];
	if (c->ntally == c->tally_cap) {
		c->tally_cap = c->tally_cap ? 2 * c->tally_cap : 8;
		c->tally = xrealloc(c->tally, (size_t)c->tally_cap * sizeof(*c->tally));
	}
	c->tally[c->ntally] = (struct change_tally){ xstrdup(rel->nspname), xstrdup(rel->relname), 0 };
	return &c->tally[c->ntally++];
}

static void
tally_reset(struct capture *c)
{
	for (int i = 0; i < c->ntally; i++) {
		free((char *)c->tally[i].schema);
		free((char *)c->tally[i].table);
	}
	c->ntally = 0;
}

/*
 * Position the next data event of the transaction, of relation rel (NULL
 * for a message), at lsn; with --tx-events count it in the transaction
 * block (tx, which must live until the event is formatted).
 */
static void
change_pos_set(struct capture *c, struct event_src *p, struct event_tx *tx, const struct pgo_rel *rel,
	       uint64_t lsn)
{
	*p = (struct event_src){ .lsn = lsn, .commit_lsn = c->tx_commit_lsn, .seq = ++c->tx_seq,
				 .xid = c->tx_xid, .ts_us = c->tx_ts_us, .snapshot = "false",
				 .origin = c->tx_origin, .origin_lsn = c->tx_origin_lsn, .tx_member = true };
	src_last_commit(c, p);
	if (c->o.tx_events) {
		c->tx_events++;
		*tx = (struct event_tx){ c->tx_xid, c->tx_first_lsn, c->tx_events, c->tx_events };
		if (rel)
			tx->collection_order = ++tally_of(c, rel)->events;
		p->tx = tx;
	}
}

static void
need_tx(struct capture *c, uint64_t lsn)
{
	if (!c->in_tx)
		protocol_error(c, lsn, "change outside a transaction");
}

/*
 * An Insert, Update or Delete: one event, or a d and a c for a key change.
 * A key change whose new row lacks an unchanged TOASTed value (REPLICA
 * IDENTITY DEFAULT or USING INDEX) stays one u event: a c cannot carry
 * the value (Debezium writes a placeholder there), while a u names the old
 * key, so a sink that moves the document keeps it (cdc-events(7)).
 */
static void
row_change(struct capture *c, const struct pgo_msg *m, uint64_t lsn)
{
	struct event_src p;
	struct event_tx tx;

	incr_change(c, m);
	if (!c->o.key_change_update && change_key_changed(m) && change_new_row_complete(m)) {
		change_pos_set(c, &p, &tx, m->rel, lsn);
		buf_reset(&c->ev);
		change_format(&c->fmt, &c->ev, m, CHANGE_OLD_KEY, &p);
		capture_emit(c, p.commit_lsn, p.seq);
		change_pos_set(c, &p, &tx, m->rel, lsn);
		buf_reset(&c->ev);
		change_format(&c->fmt, &c->ev, m, CHANGE_NEW_KEY, &p);
		capture_emit(c, p.commit_lsn, p.seq);
		return;
	}
	change_pos_set(c, &p, &tx, m->rel, lsn);
	buf_reset(&c->ev);
	change_format(&c->fmt, &c->ev, m, CHANGE_WHOLE, &p);
	capture_emit(c, p.commit_lsn, p.seq);
}

/* One pgoutput message at WAL position lsn. */
static void
xlogdata(struct capture *c, uint64_t lsn, const char *data, size_t len)
{
	struct pgo_msg *m = &c->msg;
	struct event_src p;
	struct event_tx tx;
	const char *err;

	if (pgo_decode(c->dec, data, len, m, &err) < 0)
		protocol_error(c, lsn, err);
	switch (m->type) {
	case 'B':
		if (c->o.has_endpos && m->final_lsn > c->o.endpos) {
			c->done = true;
			return;
		}
		/* A held incremental chunk goes before a transaction committing after its window. */
		incr_begin_tx(c, m->final_lsn, m->xid);
		c->in_tx = true;
		c->tx_commit_lsn = m->final_lsn;
		c->tx_first_lsn = lsn;
		c->tx_xid = m->xid;
		c->tx_ts_us = pgo_ts_to_us(m->ts);
		c->tx_seq = 0;
		c->tx_events = 0;
		free(c->tx_origin);
		c->tx_origin = NULL;
		tally_reset(c);
		if (c->o.tx_events) {
			p = (struct event_src){ .lsn = lsn, .commit_lsn = c->tx_commit_lsn, .xid = c->tx_xid,
						.ts_us = c->tx_ts_us, .snapshot = "false" };
			src_last_commit(c, &p);
			buf_reset(&c->ev);
			control_format(&c->fmt, &c->ev, "begin", -1, NULL, 0, c->tx_first_lsn, &p);
			capture_emit(c, p.commit_lsn, 0);
		}
		return;
	case 'O':
		/* The transaction was replicated here from elsewhere (a
		 * replication origin): it comes right after Begin. */
		if (c->in_tx) {
			free(c->tx_origin);
			c->tx_origin = xstrdup(m->prefix ? m->prefix : "");
			c->tx_origin_lsn = m->lsn;
		}
		return;
	case 'C':
		need_tx(c, lsn);
		if (m->commit_lsn != c->tx_commit_lsn)
			protocol_error(c, lsn, "Commit does not match Begin");
		if (c->o.tx_events) {
			p = (struct event_src){ .lsn = lsn, .commit_lsn = c->tx_commit_lsn, .seq = c->tx_seq + 1,
						.xid = c->tx_xid, .ts_us = c->tx_ts_us, .snapshot = "false",
						.origin = c->tx_origin, .origin_lsn = c->tx_origin_lsn };
			src_last_commit(c, &p);
			buf_reset(&c->ev);
			control_format(&c->fmt, &c->ev, "commit", (long long)c->tx_seq, c->tally, c->ntally,
				       c->tx_first_lsn, &p);
			capture_emit(c, p.commit_lsn, p.seq);
		}
		c->in_tx = false;
		c->written_lsn = max64(c->written_lsn, m->end_lsn);
		c->last_commit_ms = c->tx_ts_us / 1000;
		c->last_commit_end = m->end_lsn;
		c->last_commit_us = c->tx_ts_us;
		c->have_last_commit = true;
		if (c->o.has_endpos && m->end_lsn >= c->o.endpos)
			c->done = true;
		return;
	case 'I':
	case 'U':
	case 'D':
		need_tx(c, lsn);
		row_change(c, m, lsn);
		return;
	case 'T':
		need_tx(c, lsn);
		for (int i = 0; i < m->nrels; i++) {
			const struct pgo_rel *rel = pgo_relation(c->dec, m->relids[i]);

			if (!rel)
				protocol_error(c, lsn, "Truncate of a relation no Relation message described");
			incr_truncate(c, rel);
			change_pos_set(c, &p, &tx, rel, lsn);
			buf_reset(&c->ev);
			truncate_format(&c->fmt, &c->ev, rel, m->flags, &p);
			capture_emit(c, p.commit_lsn, p.seq);
		}
		return;
	case 'M':
		if (m->flags & 1) {
			need_tx(c, lsn);
			change_pos_set(c, &p, &tx, NULL, lsn);
		} else {
			if (c->o.has_endpos && m->lsn > c->o.endpos) {
				c->done = true;
				return;
			}
			/* As Debezium: the time of the last commit, and the
			 * message stands for a commit at its own LSN. */
			if (!c->have_last_commit)
				c->last_commit_us = event_now_ns() / 1000;
			c->last_commit_end = m->lsn;
			c->have_last_commit = true;
			p = (struct event_src){ .lsn = m->lsn, .commit_lsn = m->lsn, .ts_us = c->last_commit_us,
						.snapshot = "false", .tx_member = true };
			src_last_commit(c, &p);
		}
		buf_reset(&c->ev);
		message_format(&c->fmt, &c->ev, m, &p);
		capture_emit(c, p.commit_lsn, p.seq);
		return;
	case 'R':
		capture_relation_key(c, m->rel);
		info(2, "relation %s.%s (%d columns)", m->rel->nspname, m->rel->relname, m->rel->ncols);
		return;
	default:	/* 'Y' type: nothing to emit */
		return;
	}
}

static void
keepalive(struct capture *c, uint64_t walend, int64_t sendtime_us, bool reply)
{
	c->server_walend = max64(c->server_walend, walend);
	if (!c->in_tx && walend > c->ka_walend) {
		c->ka_walend = walend;
		c->ka_ts_us = pgo_ts_to_us(sendtime_us);
		c->written_lsn = max64(c->written_lsn, walend);
		if (c->o.has_endpos && walend >= c->o.endpos)
			c->done = true;
	}
	/* Also when walEnd did not move: an idle server, a chunk at the same H. */
	if (!c->in_tx)
		incr_walend(c, max64(walend, c->ka_walend));
	if (heartbeat_due(c, mono_ms()))
		heartbeat(c);
	if (reply)
		capture_send_status(c, false);
}

/* One CopyData message from the server. */
static int
copydata(struct capture *c, const char *buf, int len)
{
	if (len < 1)
		return 0;
	if (buf[0] == 'w') {
		uint64_t start, end;

		if (len < 25)
			protocol_error(c, c->written_lsn, "short XLogData message");
		start = get64(buf + 1);
		end = get64(buf + 9);
		c->server_walend = max64(c->server_walend, end);
		xlogdata(c, start, buf + 25, (size_t)len - 25);
	} else if (buf[0] == 'k') {
		if (len < 18)
			protocol_error(c, c->written_lsn, "short keepalive message");
		keepalive(c, get64(buf + 1), (int64_t)get64(buf + 9), buf[17] != 0);
	} else {
		protocol_error(c, c->written_lsn, "unknown streaming message");
	}
	return 0;
}

/* ------------------------------------------------------------ loop */

int
capture_start(struct capture *c)
{
	struct buf q = BUF_INIT;
	PGresult *res;
	char *slot = PQescapeIdentifier(c->conn, c->o.slot, strlen(c->o.slot));
	struct buf names = BUF_INIT;
	char *lit;

	if (!slot)
		die("cannot quote slot name: %s", pq_message(PQerrorMessage(c->conn)));
	for (int i = 0; i < c->o.npubs; i++) {
		char *id = PQescapeIdentifier(c->conn, c->o.pubs[i], strlen(c->o.pubs[i]));

		if (!id)
			die("cannot quote publication name: %s", pq_message(PQerrorMessage(c->conn)));
		if (i)
			buf_addc(&names, ',');
		buf_adds(&names, id);
		PQfreemem(id);
	}
	lit = PQescapeLiteral(c->conn, names.data, names.len);
	if (!lit)
		die("cannot quote publication names: %s", pq_message(PQerrorMessage(c->conn)));
	buf_addf(&q, "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', publication_names %s%s)", slot,
		 lit, c->server_version >= 140000 ? ", messages 'true'" : "");
	PQfreemem(slot);
	PQfreemem(lit);
	buf_release(&names);
	res = PQexec(c->conn, q.data);
	buf_release(&q);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		const char *msg = PQresultErrorMessage(res);

		if (PQstatus(c->conn) != CONNECTION_OK) {
			error("lost the connection: %s", pq_message(msg));
			PQclear(res);
			return -1;
		}
		if (strstr(msg, "is active for PID") && c->reconnecting) {
			error("replication slot \"%s\" is still in use: %s", c->o.slot, pq_message(msg));
			PQclear(res);
			return -1;
		}
		if (strstr(msg, "is active for PID"))
			die_status(CDC_EXIT_TEMPFAIL, "replication slot \"%s\" is in use by another process "
				   "(another cdc-capture or consumer?): %s", c->o.slot, pq_message(msg));
		if (strstr(msg, "does not exist"))
			die("replication slot \"%s\" does not exist: create it with --create-slot", c->o.slot);
		die("cannot start replication: %s", pq_message(msg));
	}
	PQclear(res);
	/* State of this connection: transactions restart from the slot. */
	c->in_tx = false;
	pgo_reset(c->dec);
	c->last_status = 0;
	c->last_emit = c->last_ka_request = c->last_recv = mono_ms();
	c->reply_pending = false;
	c->streaming = true;
	/* Tell the server where we are right away; with --endpos ask for a
	 * keepalive back (its walEnd may already be at endpos). */
	if (capture_send_status(c, c->o.has_endpos) < 0) {
		c->streaming = false;
		return -1;
	}
	{
		char from[LSN_BUFSZ];

		info(1, "streaming slot %s of database %s from %s%s%s", c->o.slot, c->db ? c->db : "?",
		     c->start_confirmed ? lsn_format(c->start_confirmed, from) : "its start",
		     c->o.ack_file ? ", acknowledging from " : ", acknowledging what is written",
		     c->o.ack_file ? c->o.ack_file : "");
	}
	/* A service manager starts what depends on us once we stream (Type=notify). */
	notifyf("READY=1\nSTATUS=streaming slot %s", c->o.slot);
	return 0;
}

/* Why the server ended the COPY, or the connection broke. */
static enum stream_end
stream_ended(struct capture *c)
{
	PGresult *res = PQgetResult(c->conn);
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->conn);

	if (!*msg)
		msg = PQerrorMessage(c->conn);
	if (strstr(msg, "publication") && strstr(msg, "does not exist"))
		die("%s: create it (or run with --create-publication)", pq_message(msg));
	if (strstr(msg, "can no longer get changes from replication slot") ||
	    strstr(msg, "This slot has been invalidated"))
		die("replication slot \"%s\" was invalidated (its WAL was removed): changes were lost; "
		    "drop it (--drop-slot) and start again with a new slot and a new snapshot", c->o.slot);
	error("replication stream ended: %s", *msg ? pq_message(msg) : "connection closed");
	PQclear(res);
	return STREAM_LOST;
}

enum stream_end
capture_stream(struct capture *c)
{
	int sock = PQsocket(c->conn);

	for (;;) {
		char *buf = NULL;
		int n;
		int64_t now;
		bool hold;

		if (cdc_stop || c->done)
			return STREAM_STOPPED;
		n = PQgetCopyData(c->conn, &buf, 1);
		if (n > 0) {
			/* Any message answers a request for a reply. */
			c->reply_pending = false;
			copydata(c, buf, n);
			PQfreemem(buf);
			now = c->last_recv = mono_ms();
			if (c->incr && !c->in_tx)
				incr_poll(c);
			if (now - c->last_status >= c->o.status_ms || now - c->last_ack_check >= ACK_CHECK_MS) {
				if (housekeeping(c, now) < 0)
					return STREAM_LOST;
			}
			continue;
		}
		if (n == -1) {
			c->streaming = false;
			return stream_ended(c);
		}
		if (n == -2) {
			c->streaming = false;
			error("replication connection failed: %s", pq_message(PQerrorMessage(c->conn)));
			return STREAM_LOST;
		}
		/*
		 * Nothing buffered: flush what we wrote before waiting.  Inside
		 * a transaction the rest of it is on its way (the server sends
		 * a decoded transaction message by message, each in its own
		 * packet): hold the output until its commit, for up to
		 * TX_HOLD_MS, so that the next stage wakes once per
		 * transaction instead of once per packet.
		 */
		now = mono_ms();
		if (c->in_tx && c->hold_since == 0)
			c->hold_since = now;
		hold = c->in_tx && now - c->hold_since < TX_HOLD_MS;
		if (!hold) {
			if (wr_flush(&c->w) < 0)
				wr_die_on_error(&c->w, "standard output");
			c->flushed_lsn = c->written_lsn;
			c->hold_since = 0;
			c->napped = false;
		}
		/*
		 * Once per wait for a commit, let the rest of the transaction
		 * come in before reading again: a short nap instead of a wake
		 * per packet (at 5,000 changes/s in 1-10-row transactions, 0.76
		 * system calls per change instead of 1.27).
		 */
		if (hold && !c->napped) {
			struct timespec ts = { 0, TX_NAP_US * 1000 };

			c->napped = true;
			nanosleep(&ts, NULL);
			if (PQconsumeInput(c->conn) == 0) {
				error("replication connection failed: %s", pq_message(PQerrorMessage(c->conn)));
				return STREAM_LOST;
			}
			continue;
		}
		if (housekeeping(c, now) < 0)
			return STREAM_LOST;
		incr_poll(c);
		if (!hold && wr_flush(&c->w) < 0)
			wr_die_on_error(&c->w, "standard output");
		if (cdc_stop || c->done)
			return STREAM_STOPPED;
		/*
		 * Wait for the server, and watch standard output: when the next
		 * stage is gone, end now (releasing the slot) rather than at the
		 * next change, which may be hours away.
		 */
		struct pollfd pfd[3] = { { sock, POLLIN, 0 }, { STDOUT_FILENO, 0, 0 }, { incr_socket(c), POLLIN, 0 } };
		int timeout = next_timeout(c, mono_ms());

		if (hold && c->hold_since + TX_HOLD_MS - now < timeout)
			timeout = (int)(c->hold_since + TX_HOLD_MS - now);
		int rc = poll(pfd, 3, timeout);

		if (rc < 0 && errno != EINTR)
			die_errno("poll");
		if (rc > 0 && (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL))) {
			info(1, "standard output closed by the next stage: stopping");
			c->w.err = EPIPE;
			return STREAM_STOPPED;
		}
		if (rc > 0 && (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) && PQconsumeInput(c->conn) == 0) {
			error("replication connection failed: %s", pq_message(PQerrorMessage(c->conn)));
			return STREAM_LOST;
		}
	}
}

void
capture_finish(struct capture *c)
{
	notify("STOPPING=1");
	if (c->w.err == EPIPE) {
		/* The next stage is gone: tell the server where we are, release the slot. */
		if (c->conn && c->streaming && PQstatus(c->conn) == CONNECTION_OK) {
			capture_send_status(c, false);
			PQputCopyEnd(c->conn, NULL);
			PQflush(c->conn);
			PQfinish(c->conn);
			c->conn = NULL;
		}
		exit(CDC_EXIT_PIPE);
	}
	if (wr_flush(&c->w) < 0)
		wr_die_on_error(&c->w, "standard output");
	c->flushed_lsn = c->written_lsn;
	/* Only inside START_REPLICATION (not after --snapshot only or --drop-slot). */
	if (c->conn && c->streaming && PQstatus(c->conn) == CONNECTION_OK) {
		capture_send_status(c, false);
		PQputCopyEnd(c->conn, NULL);
		PQflush(c->conn);
	}
}
