/*
 * cdc-sink-kafka: write change events to Kafka topics (librdkafka), with
 * the ack loop intact.
 *
 * Each data event goes to the topic its --topic template names, keyed by
 * the event's "key" (JSON text, as Debezium keys are), on the partition
 * the Java clients' murmur2 partitioner gives that key (kafka_partition()),
 * so every change of a row is on one partition and Java consumers
 * co-partition with us.  The value is the event line byte for
 * byte.  Events that belong to no row (heartbeats, transaction and
 * snapshot boundaries, truncates of a table, logical messages) go to every
 * partition that readers merge (all of the table's topic for a truncate,
 * all known topics otherwise), and so do marks: when something was
 * written, at most every --mark-interval, every partition of a known topic
 * whose newest message is older than the last position written gets
 * {"op":"mark"} with that position, so that cdc-source-kafka, which merges
 * partitions by position, never waits on a partition that has nothing to
 * say (a busy partition needs no mark).
 *
 * The producer is idempotent with acks=all: a delivery report means the
 * in-sync replicas have the message.  Every event waits in the ack ring
 * (common/ackring) for its reports; the checkpoint is the watermark of
 * events wholly delivered, so cdc-capture --ack-file confirms only what
 * the brokers hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "ackring.h"
#include "buf.h"
#include "cli.h"
#include "evinput.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "opt.h"
#include "sig.h"
#include "timeutil.h"

static const char usage_text[] =
	"Usage: cdc-sink-kafka [OPTIONS] --brokers LIST [FILE...]\n"
	"Write change events (NDJSON from FILEs or standard input) to Kafka topics:\n"
	"value = the event line, key = its \"key\", headers op and position (unless\n"
	"--no-headers).\n"
	"\n"
	"Topics:\n"
	"  -t, --topic TEMPLATE         topic of each event; {name} (the slot), {db},\n"
	"                               {schema}, {table} (default {name}.{schema}.{table},\n"
	"                               Debezium's naming)\n"
	"      --tombstones             after a delete, a message with the same key and\n"
	"                               no value (for compacted topics)\n"
	"      --no-headers             messages without the op and position headers\n"
	"                               (for consumers that do not read them)\n"
	"      --mark-interval DURATION marks to partitions that fell behind, at most\n"
	"                               this often while events come (default 10ms;\n"
	"                               cdc-source-kafka merges by them)\n"
	"\n"
	"Checkpoint:\n"
	"  -c, --checkpoint FILE        skip events at or below FILE's position; keep the\n"
	"                               position of events the brokers acknowledged in it\n"
	"      --checkpoint-interval DURATION  write FILE at most this often (default\n"
	"                               100ms; always at the end)\n"
	"\n"
	KAFKA_HELP
	"\n"
	METRICS_HELP
	"\n"
	EVIN_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_TOMBSTONES = 256,
	OPT_NO_HEADERS,
	OPT_MARK_INTERVAL,
	OPT_CHECKPOINT_INTERVAL,
};

static const struct option longopts[] = {
	{ "topic", required_argument, NULL, 't' },
	{ "tombstones", no_argument, NULL, OPT_TOMBSTONES },
	{ "no-headers", no_argument, NULL, OPT_NO_HEADERS },
	{ "mark-interval", required_argument, NULL, OPT_MARK_INTERVAL },
	{ "checkpoint", required_argument, NULL, 'c' },
	{ "checkpoint-interval", required_argument, NULL, OPT_CHECKPOINT_INTERVAL },
	KAFKA_OPTIONS,
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

/* A delivery report for a mark, not an event. */
#define MARK_OPAQUE ((void *)UINTPTR_MAX)

struct ktopic {
	char *name;
	rd_kafka_topic_t *rkt;		/* librdkafka's handle: no look-up by name per message */
	int32_t partitions;
	struct cdc_pos *sent;		/* per partition: the newest position sent to it */
	bool *have_sent;
	uint32_t rr;			/* the next partition for a row without a key */
};

struct sink {
	const char *topic_tmpl;
	const char *checkpoint;
	int64_t checkpoint_ms, mark_ms;
	bool tombstones;
	bool no_headers;		/* --no-headers */

	rd_kafka_t *rk;
	rd_kafka_queue_t *mainq;	/* delivery reports; signals on wake[1] */
	int wake[2];
	struct evin in;
	struct ackring ack;
	struct metrics m;
	int fatal;			/* the exit status to stop with, 0 while all is well */

	struct ktopic *topics;		/* topics written to or found on the broker */
	size_t ntopics;
	struct span_memo topic_memo;	/* the spans of the last event's topic */
	size_t topic_last;		/* its index in topics */
	regex_t topic_re;		/* the topics the template makes for this source */
	bool have_re;
	char src_db[128];		/* source.db of the events */
	int64_t meta_ms;		/* last look for topics on the broker */

	struct cdc_pos last;		/* the last position sent */
	bool have_last, last_marked;
	int64_t mark_sent_ms;

	struct buf topic, val, line;
	uint64_t messages, marks, mark_msgs, broadcasts, tombstones_sent;
};

/* --- topics --- */

static struct ktopic *
topic_find(struct sink *s, const char *name)
{
	for (size_t i = 0; i < s->ntopics; i++)
		if (strcmp(s->topics[i].name, name) == 0)
			return &s->topics[i];
	return NULL;
}

static void
topic_add(struct sink *s, const char *name, int32_t partitions)
{
	struct ktopic *t = topic_find(s, name);

	if (t == NULL) {
		s->topics = xrealloc(s->topics, (s->ntopics + 1) * sizeof(*s->topics));
		t = &s->topics[s->ntopics++];
		t->name = xstrdup(name);
		t->rkt = rd_kafka_topic_new(s->rk, name, NULL);
		if (t->rkt == NULL)
			die("topic %s: %s", name, rd_kafka_err2str(rd_kafka_last_error()));
		t->sent = NULL;
		t->have_sent = NULL;
		t->partitions = 0;
		t->rr = 0;
		info(1, "topic %s: %d partition%s", name, (int)partitions, partitions == 1 ? "" : "s");
	}
	if (partitions > t->partitions) {
		t->sent = xrealloc(t->sent, (size_t)partitions * sizeof(*t->sent));
		t->have_sent = xrealloc(t->have_sent, (size_t)partitions * sizeof(*t->have_sent));
		for (int32_t p = t->partitions; p < partitions; p++)
			t->have_sent[p] = false;
	}
	t->partitions = partitions;
}

/* Partition p of t has everything up to pos. */
static void
sent_to(struct ktopic *t, int32_t p, const struct cdc_pos *pos)
{
	if (!t->have_sent[p] || pos_cmp(pos, &t->sent[p]) > 0) {
		t->sent[p] = *pos;
		t->have_sent[p] = true;
	}
}

/* The partitions of topic name on the broker (waits for a new topic to appear); 0 if none. */
static int32_t
topic_partitions(struct sink *s, const char *name)
{
	int64_t until = mono_ms() + 10000;

	for (;;) {
		const struct rd_kafka_metadata *md;
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, name, NULL);
		rd_kafka_resp_err_t err = rd_kafka_metadata(s->rk, 0, rkt, &md, 5000);
		int32_t n = 0;

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
				n = md->topics[0].partition_cnt;
			else if (md->topic_cnt == 1)
				err = md->topics[0].err;
			rd_kafka_metadata_destroy(md);
		}
		rd_kafka_topic_destroy(rkt);
		if (n > 0)
			return n;
		if (err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
			error("topic %s: %s", name, rd_kafka_err2str(err));
			s->fatal = CDC_EXIT_FAILURE;
			return 0;
		}
		if (mono_ms() >= until || cdc_stop) {
			error("topic %s: no partitions after 10 s (%s)", name, rd_kafka_err2str(err));
			s->fatal = CDC_EXIT_TEMPFAIL;
			return 0;
		}
		usleep(100 * 1000);
	}
}

/*
 * The expression of this source's topics, once its name (and database)
 * are known: from the checkpoint, or the first event.  Returns whether it
 * is ready.
 */
static bool
topics_pattern(struct sink *s, const struct event_info *ev)
{
	struct buf re = BUF_INIT, db = BUF_INIT;

	if (s->have_re)
		return true;
	if (ev && ev->db.p && s->src_db[0] == '\0') {
		json_span_decode(&ev->db, &db);
		snprintf(s->src_db, sizeof(s->src_db), "%s", db.data ? db.data : "");
	}
	buf_release(&db);
	if (kafka_template_regex(s->topic_tmpl, s->ack.name[0] ? s->ack.name : NULL,
				 s->src_db[0] ? s->src_db : NULL, &re) == 0) {
		if (regcomp(&s->topic_re, re.data, REG_EXTENDED | REG_NOSUB) != 0)
			die("internal error: topic pattern %s", re.data);
		s->have_re = true;
		info(2, "topics of this source: %s", re.data);
	}
	buf_release(&re);
	return s->have_re;
}

/* Find the broker's topics that the template makes (at start, then every 30 s). */
static void
topics_refresh(struct sink *s)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;

	s->meta_ms = mono_ms();
	if (!s->have_re)
		return;			/* the source's name is not known yet */
	err = rd_kafka_metadata(s->rk, 1, NULL, &md, 5000);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		info(1, "listing topics: %s", rd_kafka_err2str(err));
		return;
	}
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];

		if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR && t->partition_cnt > 0 &&
		    regexec(&s->topic_re, t->topic, 0, NULL, 0) == 0)
			topic_add(s, t->topic, t->partition_cnt);
	}
	rd_kafka_metadata_destroy(md);
}

static struct ktopic *
topic_get(struct sink *s, const char *name)
{
	struct ktopic *t = topic_find(s, name);
	int32_t n;

	if (t)
		return t;
	n = topic_partitions(s, name);
	if (n <= 0)
		return NULL;
	topic_add(s, name, n);
	return topic_find(s, name);
}

/*
 * The topic of ev: the last event's while the spans the template reads
 * are the same (most events come in runs of one table), else made from
 * the template and looked up.
 */
static struct ktopic *
event_topic(struct sink *s, const struct event_info *ev)
{
	struct ktopic *t;

	if (span_memo_same(&s->topic_memo,
			   (const struct json_span[]){ ev->name, ev->db, ev->schema, ev->table }, 4))
		return &s->topics[s->topic_last];
	kafka_topic(s->topic_tmpl, ev, &s->topic);
	if ((t = topic_get(s, s->topic.data)) == NULL) {
		span_memo_forget(&s->topic_memo);
		return NULL;
	}
	s->topic_last = (size_t)(t - s->topics);
	return t;
}

/* --- producing --- */

/*
 * Send one message; waits while librdkafka's queue is full.  Returns 0;
 * -2 when the message is over message.max.bytes (bad data: the caller
 * decides); -1 otherwise (s->fatal set).
 */
static int
produce(struct sink *s, const struct ktopic *t, int32_t partition, const char *key, size_t klen,
	const char *val, size_t vlen, const char *op, size_t oplen, const char *pos, void *opaque)
{
	rd_kafka_vu_t vu[8] = {
		{ .vtype = RD_KAFKA_VTYPE_RKT, .u.rkt = t->rkt },
		{ .vtype = RD_KAFKA_VTYPE_PARTITION, .u.i32 = partition },
		{ .vtype = RD_KAFKA_VTYPE_KEY, .u.mem = { (void *)key, klen } },
		{ .vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = { (void *)val, vlen } },
		{ .vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = RD_KAFKA_MSG_F_COPY },
		{ .vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = opaque },
		{ .vtype = RD_KAFKA_VTYPE_HEADER, .u.header = { "op", op, (ssize_t)oplen } },
		{ .vtype = RD_KAFKA_VTYPE_HEADER, .u.header = { "position", pos, -1 } },
	};
	/* Headers cost librdkafka four allocations per message: only when wanted. */
	size_t nvu = s->no_headers ? 6 : 8;

	for (;;) {
		rd_kafka_error_t *e = rd_kafka_produceva(s->rk, vu, nvu);
		rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

		if (e) {
			err = rd_kafka_error_code(e);
			rd_kafka_error_destroy(e);
		}
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			s->messages++;
			return 0;
		}
		if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
			return -2;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			error("topic %s: %s", t->name, rd_kafka_err2str(err));
			s->fatal = kafka_err_temporary(err) ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE;
			return -1;
		}
		rd_kafka_poll(s->rk, 100);
		if (s->fatal)
			return -1;
	}
}

/* Send line to every partition of t; returns how many were sent (-1: s->fatal set). */
static int
broadcast(struct sink *s, struct ktopic *t, const struct cdc_pos *at, const char *line, size_t len,
	  const char *op, size_t oplen, const char *pos, void *opaque)
{
	for (int32_t p = 0; p < t->partitions; p++) {
		int r = produce(s, t, p, NULL, 0, line, len, op, oplen, pos, opaque);

		if (r < 0)
			return r;
		sent_to(t, p, at);
	}
	s->broadcasts++;
	return t->partitions;
}

/* Marks to every partition of every known topic: all is written up to s->last. */
static void
send_marks(struct sink *s)
{
	char pos[POS_BUFSZ];

	if (!s->have_last || s->last_marked || s->ntopics == 0)
		return;
	pos_format(&s->last, pos);
	buf_reset(&s->val);
	buf_adds(&s->val, "{\"op\":\"mark\",\"source\":{\"name\":");
	json_add_cstr(&s->val, s->ack.name);
	buf_addf(&s->val, ",\"lsn\":%" PRIu64 ",\"commit_lsn\":%" PRIu64 ",\"seq\":%" PRIu64 "},"
		 "\"ts_ms\":%lld}", s->last.commit_lsn, s->last.commit_lsn, s->last.seq,
		 (long long)now_ms());
	/* Only where something older is the last word: a busy partition needs none. */
	for (size_t i = 0; i < s->ntopics; i++) {
		struct ktopic *t = &s->topics[i];

		for (int32_t p = 0; p < t->partitions; p++) {
			if (t->have_sent[p] && pos_cmp(&t->sent[p], &s->last) >= 0)
				continue;
			if (produce(s, t, p, NULL, 0, s->val.data, s->val.len, "mark", 4, pos,
				    MARK_OPAQUE) < 0)
				return;
			sent_to(t, p, &s->last);
			s->mark_msgs++;
		}
	}
	s->marks++;
	s->last_marked = true;
	s->mark_sent_ms = mono_ms();
}

static bool
is_op(const struct event_info *ev, char c)
{
	return ev->op.len == 1 && ev->op.p[0] == c;
}

/*
 * An event over message.max.bytes: the bad-input policy decides.  Its
 * messages sent so far (a broadcast cut short) still count for its slot.
 */
static void
too_large(struct sink *s, const struct evin_line *l, uint64_t ord, uint32_t unsent)
{
	struct ackslot *sl = ackring_slot(&s->ack, ord);

	sl->pending -= unsent;
	if (evin_reject(&s->in, l, "over the producer's message.max.bytes") < 0) {
		ackring_block(&s->ack, ord);
		s->fatal = CDC_EXIT_DATAERR;
	}
}

/* One good event line. */
static void
handle(struct sink *s, const struct evin_line *l)
{
	const struct event_info *ev = &l->ev;
	char pos[POS_BUFSZ];
	struct ktopic *t;
	uint64_t ord;
	int n;

	if (!ev->has_pos) {
		if (ev->control)
			return;		/* nothing to acknowledge, nothing to order by */
		if (evin_reject(&s->in, l, "no source.commit_lsn and source.seq") < 0)
			s->fatal = CDC_EXIT_DATAERR;
		return;
	}
	if (ackring_name(&s->ack, &ev->name, l->lineno) < 0) {
		s->fatal = CDC_EXIT_FAILURE;
		return;
	}
	while (ackring_full(&s->ack) && !s->fatal)
		rd_kafka_poll(s->rk, 100);
	if (s->fatal)
		return;
	if (ackring_is_rewind(ev)) {
		/* About this hop's checkpoint (cdc-source-kafka upstream): not for Kafka. */
		if (ackring_push_rewind(&s->ack, ev, l->text, l->len) < 0 &&
		    evin_reject(&s->in, l, "a rewind without rewind.epoch") < 0)
			s->fatal = CDC_EXIT_DATAERR;
		return;
	}
	if (ackring_seen(&s->ack, ev)) {
		s->m.skipped++;
		return;
	}
	if (!s->have_re && topics_pattern(s, ev))
		topics_refresh(s);
	pos_format(&ev->pos, pos);
	/* Pending answers are counted as messages go; the slot is released once more at the end. */
	ord = ackring_push(&s->ack, ev, 1);
	if (!ev->control && ev->table.p && (is_op(ev, 'c') || is_op(ev, 'u') || is_op(ev, 'd') ||
					    is_op(ev, 'r') || is_op(ev, 't'))) {
		t = event_topic(s, ev);
		if (t == NULL)
			return;
		if (is_op(ev, 't')) {
			/* A truncate concerns every key: every partition gets it, in order. */
			ackring_slot(&s->ack, ord)->pending += (uint32_t)t->partitions;
			n = broadcast(s, t, &ev->pos, l->text, l->len, "t", 1, pos, (void *)(uintptr_t)ord);
			if (n == -2)
				too_large(s, l, ord, (uint32_t)t->partitions);
			if (n < 0)
				goto out;
		} else {
			bool keyed = ev->key && !(ev->key_len == 4 && memcmp(ev->key, "null", 4) == 0);
			bool tomb = s->tombstones && is_op(ev, 'd') && keyed;

			/* The Java clients' partition for the key; rows without one take turns. */
			int32_t part = keyed ? kafka_partition(ev->key, ev->key_len, t->partitions)
					     : (int32_t)(t->rr++ % (uint32_t)t->partitions);

			ackring_slot(&s->ack, ord)->pending += 1 + tomb;
			n = produce(s, t, part, keyed ? ev->key : NULL, keyed ? ev->key_len : 0,
				    l->text, l->len, ev->op.p, ev->op.len, pos, (void *)(uintptr_t)ord);
			if (n == -2)
				too_large(s, l, ord, 1 + tomb);
			if (n < 0)
				goto out;
			sent_to(t, part, &ev->pos);
			if (tomb) {
				if (produce(s, t, part, ev->key, ev->key_len, NULL,
					    0, "d", 1, pos, (void *)(uintptr_t)ord) < 0)
					return;
				s->tombstones_sent++;
			}
		}
	} else {
		/* Heartbeats, boundaries, messages: every reader must see them. */
		for (size_t i = 0; i < s->ntopics; i++) {
			ackring_slot(&s->ack, ord)->pending += (uint32_t)s->topics[i].partitions;
			n = broadcast(s, &s->topics[i], &ev->pos, l->text, l->len, ev->op.p, ev->op.len,
				      pos, (void *)(uintptr_t)ord);
			if (n == -2) {
				uint32_t unsent = 0;

				for (size_t j = i; j < s->ntopics; j++)
					unsent += (uint32_t)s->topics[j].partitions;
				too_large(s, l, ord, unsent);
			}
			if (n < 0)
				goto out;
		}
	}
	if (!s->have_last || pos_cmp(&ev->pos, &s->last) > 0) {
		s->last = ev->pos;
		s->have_last = true;
		s->last_marked = false;
	}
out:
	ackring_release(&s->ack, ord);
}

/* librdkafka's delivery report (called from rd_kafka_poll()). */
static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *arg)
{
	struct sink *s = arg;
	uint64_t ord = (uint64_t)(uintptr_t)msg->_private;
	const char *topic = rd_kafka_topic_name(msg->rkt);

	(void)rk;
	if (msg->_private == MARK_OPAQUE) {
		if (msg->err && !s->fatal) {
			error("topic %s [%d]: a mark was not delivered: %s", topic, (int)msg->partition,
			      rd_kafka_err2str(msg->err));
			s->fatal = CDC_EXIT_TEMPFAIL;
		}
		return;
	}
	switch (msg->err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		ackring_release(&s->ack, ord);
		return;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_MSG: {
		/* The event can never be written: the bad-input policy decides. */
		char reason[256], where[300];
		const struct ackslot *sl = ackring_slot(&s->ack, ord);
		const char *input = s->in.dl.input;
		int r;

		snprintf(reason, sizeof(reason), "the broker refused the event: %s",
			 rd_kafka_err2str(msg->err));
		snprintf(where, sizeof(where), "topic %s [%d]", topic, (int)msg->partition);
		dl_set_input(&s->in.dl, where);
		r = msg->payload == NULL ? -1 :
			dl_bad_line(&s->in.dl, 0, &sl->pos, reason, msg->payload, msg->len, 0, NULL);
		dl_set_input(&s->in.dl, input);
		if (r < 0) {
			ackring_block(&s->ack, ord);
			if (!s->fatal)
				s->fatal = CDC_EXIT_DATAERR;
			return;
		}
		s->m.dead_lettered = s->in.dl.count;
		ackring_release(&s->ack, ord);
		return;
	}
	default:
		ackring_block(&s->ack, ord);
		if (!s->fatal) {
			error("topic %s [%d]: not delivered: %s", topic, (int)msg->partition,
			      rd_kafka_err2str(msg->err));
			s->fatal = kafka_err_temporary(msg->err) || msg->err == RD_KAFKA_RESP_ERR__FATAL
					   ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE;
		}
	}
}

/* Poll for delivery reports, write the checkpoint when due, send marks, look for topics. */
static void
service(struct sink *s)
{
	char why[256];

	/* The delivery reports waiting now: one clock reading for their lag. */
	metrics_clock_hold(&s->m);
	rd_kafka_poll(s->rk, 0);
	metrics_clock_release(&s->m);
	if (rd_kafka_fatal_error(s->rk, why, sizeof(why)) && !s->fatal) {
		error("the producer failed: %s", why);
		s->fatal = CDC_EXIT_TEMPFAIL;
	}
	if (ackring_checkpoint(&s->ack, false) < 0)
		s->fatal = CDC_EXIT_FAILURE;
	if (!s->last_marked && mono_ms() - s->mark_sent_ms >= s->mark_ms)
		send_marks(s);
	if (mono_ms() - s->meta_ms >= 30000)
		topics_refresh(s);
	metrics_tick(&s->m);
}

static int
next_wake(const struct sink *s)
{
	int t = 1000;

	if (s->have_last && !s->last_marked) {
		int64_t due = s->mark_sent_ms + s->mark_ms - mono_ms();

		t = due < 0 ? 0 : due < t ? (int)due : t;
	}
	return ackring_wait(&s->ack, t);
}

/* The input's idle hook: serve the producer until input comes (or we must stop). */
static void
on_idle(void *arg)
{
	struct sink *s = arg;

	while (!cdc_stop && !s->fatal) {
		struct pollfd p[2] = {
			{ .fd = evin_wait_fd(&s->in), .events = POLLIN },
			{ .fd = s->wake[0], .events = POLLIN },
		};
		char drain[64];

		service(s);
		if (poll(p, 2, next_wake(s)) < 0 && errno != EINTR)
			die_errno("poll");
		if (p[1].revents & POLLIN)
			while (read(s->wake[0], drain, sizeof(drain)) > 0)
				;
		if (p[0].revents)
			break;
	}
}

static void
on_line(void *arg, const struct evin_line *l)
{
	handle(arg, l);
}

static void
on_tick(void *arg)
{
	service(arg);
}

static noreturn void
finish(struct sink *s, int status)
{
	/* Wait for what was sent (not on a configuration error): every report moves the checkpoint. */
	if (s->rk && (status == CDC_EXIT_OK || status == CDC_EXIT_DATAERR ||
		      status == CDC_EXIT_TEMPFAIL)) {
		send_marks(s);
		while (rd_kafka_outq_len(s->rk) > 0 && !s->fatal)
			rd_kafka_poll(s->rk, 100);
	}
	if (s->rk)
		rd_kafka_poll(s->rk, 0);
	if (s->fatal && status != s->fatal && status != CDC_EXIT_DATAERR)
		status = s->fatal;
	if (ackring_checkpoint(&s->ack, true) < 0 && status == CDC_EXIT_OK)
		status = CDC_EXIT_FAILURE;
	info(1, "%llu messages (%llu marks, %llu broadcasts, %llu tombstones), %llu checkpoint writes",
	     (unsigned long long)s->messages, (unsigned long long)s->mark_msgs,
	     (unsigned long long)s->broadcasts, (unsigned long long)s->tombstones_sent,
	     (unsigned long long)s->ack.writes);
	if (s->rk) {
		for (size_t i = 0; i < s->ntopics; i++)
			rd_kafka_topic_destroy(s->topics[i].rkt);
		rd_kafka_queue_destroy(s->mainq);
		rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_destroy(s->rk);
	}
	span_memo_release(&s->topic_memo);
	evin_close(&s->in);
	metrics_finish(&s->m);
	exit(status);
}

static void
stats_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct sink *s = arg;

	metrics_counter(out, labels, "cdc_sink_kafka_messages_total",
			"Messages handed to the producer (events, broadcasts, marks, tombstones).",
			s->messages);
	metrics_counter(out, labels, "cdc_sink_kafka_marks_total", "Marks sent.", s->mark_msgs);
	metrics_counter(out, labels, "cdc_sink_kafka_checkpoint_writes_total",
			"Durable checkpoint writes (at most one per --checkpoint-interval).",
			s->ack.writes);
}

static void
stats_line(struct buf *out, void *arg)
{
	const struct sink *s = arg;

	buf_addf(out, "; %llu messages, %llu in flight", (unsigned long long)s->messages,
		 (unsigned long long)ackring_count(&s->ack));
}

static int64_t
duration_arg(const char *opt, const char *arg, int64_t max)
{
	int64_t ms;

	if (duration_parse(arg, &ms) < 0 || ms < 0 || ms > max)
		die_usage("bad %s: %s", opt, arg);
	return ms;
}

int
main(int argc, char **argv)
{
	struct sink sink = { .topic_tmpl = "{name}.{schema}.{table}", .checkpoint_ms = 100,
			     .mark_ms = 10 };
	struct sink *s = &sink;
	struct kafka_opts ko = { 0 };
	struct evin_opts io = { 0 };
	rd_kafka_conf_t *conf;
	char errstr[512];
	const char *err;
	int opt;

	log_init(argv[0]);
	s->topic = s->val = s->line = (struct buf)BUF_INIT;
	s->topic_memo = (struct span_memo)SPAN_MEMO_INIT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:c:" KAFKA_SHORTOPTS CLI_SHORTOPTS, longopts,
				  NULL)) != -1) {
		if (evin_option(&io, opt, optarg) || metrics_option(&s->m, opt, optarg) ||
		    kafka_option(&ko, opt, optarg))
			continue;
		switch (opt) {
		case 't':
			if (kafka_template_check(optarg, &err) < 0)
				die_usage("bad --topic %s: %s", optarg, err);
			s->topic_tmpl = optarg;
			break;
		case OPT_TOMBSTONES:
			s->tombstones = true;
			break;
		case OPT_NO_HEADERS:
			s->no_headers = true;
			break;
		case OPT_MARK_INTERVAL:
			s->mark_ms = duration_arg("--mark-interval", optarg, 60000);
			break;
		case 'c':
			s->checkpoint = optarg;
			break;
		case OPT_CHECKPOINT_INTERVAL:
			s->checkpoint_ms = duration_arg("--checkpoint-interval", optarg, 3600 * 1000);
			break;
		default:
			cli_option(opt, argv, longopts, usage_text);
		}
	}
	evin_check_options(&io);
	conf = kafka_conf(&ko);
	kafka_default(conf, &ko, "enable.idempotence", "true");
	kafka_default(conf, &ko, "acks", "all");
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, s);

	if (ackring_open(&s->ack, s->checkpoint, "cdc-sink-kafka", s->checkpoint_ms, 1 << 20, false,
			 &s->m) < 0)
		exit(CDC_EXIT_FAILURE);
	metrics_init(&s->m, "cdc-sink-kafka");
	s->m.extra = stats_metrics;
	s->m.extra_stats = stats_line;
	s->m.extra_arg = s;
	evin_open(&s->in, &io, EVIN_EVENTS, argv + optind, argc - optind);
	evin_set_metrics(&s->in, &s->m);
	s->ack.dl = &s->in.dl;

	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (s->rk == NULL)
		die_usage("Kafka producer: %s", errstr);
	if (pipe(s->wake) < 0)
		die_errno("pipe");
	fcntl(s->wake[0], F_SETFL, O_NONBLOCK);
	fcntl(s->wake[1], F_SETFL, O_NONBLOCK);
	s->mainq = rd_kafka_queue_get_main(s->rk);
	rd_kafka_queue_io_event_enable(s->mainq, s->wake[1], "1", 1);
	if (topics_pattern(s, NULL))
		topics_refresh(s);
	info(1, "writing to %s as %s%s%s", ko.brokers ? ko.brokers : "(--kafka-config brokers)",
	     s->topic_tmpl, s->ack.have_start ? ", resuming after checkpoint " : "",
	     s->ack.have_start ? s->checkpoint : "");
	evin_set_idle(&s->in, on_idle, s);
	sig_setup();
	/* The checks of the lines on a second core, beside librdkafka's calls. */
	evin_read_ahead(&s->in);

	finish(s, evin_loop(&s->in, on_line, on_tick, &s->fatal, s));
}
