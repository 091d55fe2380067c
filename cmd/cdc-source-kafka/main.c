/*
 * cdc-source-kafka: read change events from Kafka topics as a member of a
 * consumer group, and print them as one position-ordered stream, with the
 * ack loop intact.
 *
 * Merge.  The partitions assigned to this member are merged by event
 * position (cdc-events(7)): an event goes out only when every assigned
 * partition has a message waiting, and it is the oldest of them.
 * cdc-sink-kafka writes marks to every partition while events flow, so a
 * quiet partition never holds the others back.  Copies of one event
 * (broadcast control events, re-deliveries after a writer's restart) go
 * out once; marks never.
 *
 * Rewinds.  A partition taken over from another member (or read again
 * after a restart) can hold events older than the last one this member
 * printed.  Before the first of them, a "rewind" control event says so:
 * the sinks (common/ackring) then apply what follows even though their
 * checkpoint is past it, and report the rewind's epoch in their
 * checkpoint.
 *
 * Acknowledgement.  Every message taken from a partition is remembered in
 * printing order.  --ack-file names the downstream sink's checkpoint;
 * when it reports a position (in the current epoch), the messages up to
 * it are done and their offsets are committed to the group.  An offset is
 * never committed past an event the far end has not applied, so a kill -9
 * anywhere means re-delivery, never loss.  Without --ack-file, offsets are
 * committed once the events are written to standard output.
 *
 * Debezium.  With --debezium the topics are Debezium's (its JSON envelope,
 * with or without Kafka Connect's schema wrapper): each record becomes an
 * event by adding what a pipe needs: "key" from the message key, and the
 * position source.commit_lsn = the first element of source.sequence (the
 * last commit before the record's transaction, which grows with commit
 * order) and source.seq = source.lsn (which grows inside a transaction);
 * snapshot records, which share one LSN, are told apart by their offset
 * and a 24-bit hash of their topic and partition (seq = offset << 24 |
 * hash: positions must be unique, or a checkpoint could cover a record
 * of another partition that shares its position).
 * Debezium writes no marks, so a partition with nothing waiting does not
 * hold the merge back: order across partitions is then by arrival, and
 * rewinds keep the acknowledgement exact.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "checkpoint.h"
#include "cli.h"
#include "deadletter.h"
#include "evinput.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "opt.h"
#include "sig.h"
#include "timeutil.h"
#include "writer.h"

static const char usage_text[] =
	"Usage: cdc-source-kafka [OPTIONS] --brokers LIST --group ID --topic REGEX\n"
	"Read change events from Kafka topics as a member of consumer group ID and\n"
	"print them on standard output, merged into one position-ordered stream.\n"
	"\n"
	"Topics:\n"
	"  -g, --group ID               the consumer group: members share the partitions\n"
	"  -t, --topic REGEX            topics to read, an anchored regular expression\n"
	"                               (repeatable; e.g. 'shop\\..*')\n"
	"  -e, --exit-at-end            exit 0 once every assigned partition is read to\n"
	"                               its end\n"
	"      --debezium               the topics are Debezium's (PostgreSQL connector,\n"
	"                               JSON): add key and position to each record\n"
	"\n"
	"Acknowledgement:\n"
	"  -a, --ack-file FILE          the downstream sink's checkpoint: commit offsets\n"
	"                               only as far as FILE's position (without it:\n"
	"                               once written to standard output)\n"
	"      --ack-interval DURATION  look at FILE this often (default 50ms)\n"
	"      --drain-timeout DURATION before giving partitions up in a rebalance, wait\n"
	"                               this long for the sink to apply what was printed\n"
	"                               (default 5s)\n"
	"      --max-queued N           messages held per partition for the merge;\n"
	"                               a partition with N waiting is paused until a\n"
	"                               tenth of them are left (default 20000)\n"
	"\n"
	KAFKA_HELP
	"\n"
	METRICS_HELP
	"\n"
	EVIN_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_ACK_INTERVAL = 256,
	OPT_DRAIN_TIMEOUT,
	OPT_DEBEZIUM,
	OPT_MAX_QUEUED,
};

static const struct option longopts[] = {
	{ "group", required_argument, NULL, 'g' },
	{ "topic", required_argument, NULL, 't' },
	{ "exit-at-end", no_argument, NULL, 'e' },
	{ "debezium", no_argument, NULL, OPT_DEBEZIUM },
	{ "ack-file", required_argument, NULL, 'a' },
	{ "ack-interval", required_argument, NULL, OPT_ACK_INTERVAL },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "max-queued", required_argument, NULL, OPT_MAX_QUEUED },
	KAFKA_OPTIONS,
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

/* Messages taken from librdkafka at once. */
#define BATCH 4096

enum kind {
	K_NEW,			/* not looked at yet (classify() when it reaches the head) */
	K_EVENT,		/* an event to print (or drop as a copy) */
	K_MARK,			/* cdc-sink-kafka's mark: orders, never printed */
	K_SKIP,			/* no value, a control event without a position, a bad line let go */
	K_BAD,			/* a bad message under the stop policy: stop at it */
};

struct msg {
	rd_kafka_message_t *m;
	char *text;			/* the event line: the value, or a converted copy (owned) */
	size_t len;
	bool owned;
	enum kind kind;
	struct cdc_pos pos;
};

struct part {
	char *topic;
	int32_t partition;
	struct msg *q;			/* waiting messages, a ring */
	size_t qhead, qlen, qcap;
	bool paused, eof;
	int64_t next;			/* the offset after the last message taken */
	bool have_high;
	struct cdc_pos high;		/* the newest position taken from this partition */
	int64_t commit;			/* the offset to commit (-1: nothing yet) */
	int64_t committed;
};

/* One message taken, in printing order, until the far end has it. */
struct entry {
	uint32_t part;
	int64_t offset;
	struct cdc_pos pos;
	uint64_t epoch;
	bool has_pos;
};

struct source {
	const char *group;
	const char *ack_file;
	size_t pause_at, resume_at;	/* --max-queued: pause a partition, resume it */
	int64_t ack_ms, drain_ms;
	bool exit_at_end;
	bool debezium;			/* --debezium: convert Debezium's records */

	rd_kafka_t *rk;
	struct part *parts;
	size_t nparts;
	bool assigned;

	struct entry *ents;		/* a ring */
	size_t ehead, elen, ecap;

	bool have_last;			/* something was printed (or the ack file says so) */
	struct cdc_pos last;		/* the newest position printed */
	uint64_t epoch;			/* rewinds so far */
	char name[128];			/* source.name, for rewinds */

	struct stat ack_st;		/* the ack file as last read */
	int64_t ack_checked_ms;
	struct checkpoint ack;
	bool have_ack;

	struct writer out;
	struct deadletter dl;
	uint64_t max_line;
	struct metrics m;
	int fatal;
	uint64_t messages, copies, marks, rewinds, commits, rebalances, pauses;
	struct buf scratch, conv;
	const char *why;		/* why classify() refused a message */
	char reason[200];
};

static struct source *the_source;	/* for librdkafka's rebalance callback */

/* --- the ring of entries --- */

static void
ent_push(struct source *s, const struct entry *e)
{
	if (s->elen == s->ecap) {
		size_t ncap = s->ecap ? s->ecap * 2 : 4096;
		struct entry *n = xmalloc(ncap * sizeof(*n));

		for (size_t i = 0; i < s->elen; i++)
			n[i] = s->ents[(s->ehead + i) % s->ecap];
		free(s->ents);
		s->ents = n;
		s->ecap = ncap;
		s->ehead = 0;
	}
	s->ents[(s->ehead + s->elen++) % s->ecap] = *e;
}

/* --- committing --- */

static void
commit(struct source *s, bool sync)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts);
	rd_kafka_resp_err_t err;

	for (size_t i = 0; i < s->nparts; i++) {
		struct part *p = &s->parts[i];

		if (p->commit > p->committed)
			rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->commit;
	}
	if (l->cnt > 0) {
		err = rd_kafka_commit(s->rk, l, sync ? 0 : 1);
		if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
			warning("committing offsets: %s", rd_kafka_err2str(err));
		else {
			for (size_t i = 0; i < s->nparts; i++)
				if (s->parts[i].commit > s->parts[i].committed)
					s->parts[i].committed = s->parts[i].commit;
			s->commits++;
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * Does the far end have entry e?  A message that orders nothing, when its
 * turn comes; one from before the checkpoint's epoch (the sink applied
 * the rewind that came after it); one at or before the checkpoint's
 * position in the same epoch.
 */
static bool
acked(const struct source *s, const struct entry *e)
{
	if (!e->has_pos)
		return true;
	if (!s->have_ack)
		return false;
	if (e->epoch != s->ack.epoch)
		return e->epoch < s->ack.epoch;
	return pos_cmp(&e->pos, &s->ack.pos) <= 0;
}

/* Let go of the entries the far end has (all: every one) and commit their offsets. */
static void
ack_entries(struct source *s, bool all)
{
	bool moved = false;

	while (s->elen > 0) {
		struct entry *e = &s->ents[s->ehead];

		if (!all && !acked(s, e))
			break;
		if (e->part < s->nparts && e->offset + 1 > s->parts[e->part].commit)
			s->parts[e->part].commit = e->offset + 1;
		s->ehead = (s->ehead + 1) % s->ecap;
		s->elen--;
		moved = true;
	}
	if (moved)
		commit(s, false);
}

/* Read the ack file if it changed; commit what it covers. */
static void
ack_check(struct source *s, bool force)
{
	struct stat st;
	struct checkpoint cp;

	if (s->ack_file == NULL)
		return;
	if (!force && mono_ms() - s->ack_checked_ms < s->ack_ms)
		return;
	s->ack_checked_ms = mono_ms();
	if (stat(s->ack_file, &st) < 0)
		return;
	if (s->have_ack && st.st_ino == s->ack_st.st_ino && st.st_size == s->ack_st.st_size &&
	    st.st_mtim.tv_sec == s->ack_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->ack_st.st_mtim.tv_nsec)
		return;
	if (checkpoint_read(s->ack_file, &cp) != 0)
		return;
	s->ack_st = st;
	s->ack = cp;
	s->have_ack = true;
	s->m.ckpt = cp.pos;
	s->m.have_ckpt = true;
	ack_entries(s, false);
}

/* --- partitions --- */

static struct part *
part_of(struct source *s, const rd_kafka_message_t *m, uint32_t *idx)
{
	const char *t = rd_kafka_topic_name(m->rkt);

	for (size_t i = 0; i < s->nparts; i++)
		if (s->parts[i].partition == m->partition && strcmp(s->parts[i].topic, t) == 0) {
			*idx = (uint32_t)i;
			return &s->parts[i];
		}
	return NULL;
}

static void
pause_part(struct source *s, struct part *p, bool pause)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
	if (pause) {
		rd_kafka_pause_partitions(s->rk, l);
		s->pauses++;
	} else {
		/*
		 * librdkafka 2.0's fetcher sleeps up to a second once nothing
		 * is fetchable, and a resume does not wake it; a seek does (to
		 * where it would go on anyway: the offset after the last
		 * message taken).  Without it 1M messages took 6.3 s, not 1.
		 */
		rd_kafka_resume_partitions(s->rk, l);
		l->elems[0].offset = p->next;
		rd_kafka_seek_partitions(s->rk, l, 0);
	}
	rd_kafka_topic_partition_list_destroy(l);
	p->paused = pause;
}

static void
parts_free(struct source *s)
{
	for (size_t i = 0; i < s->nparts; i++) {
		struct part *p = &s->parts[i];

		for (size_t j = 0; j < p->qlen; j++) {
			struct msg *mm = &p->q[(p->qhead + j) % p->qcap];

			if (mm->owned)
				free(mm->text);
			rd_kafka_message_destroy(mm->m);
		}
		free(p->q);
		free(p->topic);
	}
	free(s->parts);
	s->parts = NULL;
	s->nparts = 0;
	s->elen = s->ehead = 0;
}

/* Wait (up to --drain-timeout) until the far end has everything printed, then commit it. */
static void
drain(struct source *s)
{
	int64_t until = mono_ms() + s->drain_ms;

	if (wr_flush(&s->out) < 0)
		return;
	if (s->ack_file == NULL) {
		ack_entries(s, true);
	} else {
		for (;;) {
			ack_check(s, true);
			if (s->elen == 0 || cdc_stop || mono_ms() >= until)
				break;
			usleep(20 * 1000);
		}
		if (s->elen > 0)
			info(1, "rebalance: %zu messages printed but not yet acknowledged; their "
			     "partitions' next owner reads them again", s->elen);
	}
	commit(s, true);
}

static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
	     void *opaque)
{
	struct source *s = the_source;

	(void)opaque;
	s->rebalances++;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		parts_free(s);
		s->parts = xcalloc((size_t)l->cnt + 1, sizeof(*s->parts));
		for (int i = 0; i < l->cnt; i++) {
			struct part *p = &s->parts[s->nparts++];

			p->topic = xstrdup(l->elems[i].topic);
			p->partition = l->elems[i].partition;
			p->commit = p->committed = -1;
		}
		info(1, "assigned %d partition%s", l->cnt, l->cnt == 1 ? "" : "s");
		rd_kafka_assign(rk, l);
		s->assigned = true;
	} else {
		if (s->nparts > 0)
			drain(s);
		info(1, "giving up %d partition%s", l->cnt, l->cnt == 1 ? "" : "s");
		parts_free(s);
		rd_kafka_assign(rk, NULL);
		s->assigned = false;
	}
}

/* --- taking messages in --- */

static void
bad_message(struct source *s, struct msg *mm, const char *reason)
{
	char where[300];
	const rd_kafka_message_t *m = mm->m;

	snprintf(where, sizeof(where), "%s [%d] at offset %lld", rd_kafka_topic_name(m->rkt),
		 (int)m->partition, (long long)m->offset);
	dl_set_input(&s->dl, where);
	if (dl_bad_line(&s->dl, 0, NULL, reason, m->payload, m->len, 0, NULL) < 0) {
		/* Stop when its turn comes: what came before it goes out first. */
		mm->kind = K_BAD;
	} else {
		s->m.dead_lettered = s->dl.count;
		mm->kind = K_SKIP;
	}
	dl_set_input(&s->dl, NULL);
}

/* A number in a JSON value, or in a JSON string holding one ("123"). */
static bool
json_number(const char *v, size_t len, uint64_t *out)
{
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"')
		v++, len -= 2;
	return json_parse_u64(v, len, out);
}

/* 24 bits of FNV-1a over a message's topic and partition. */
static uint64_t
part_hash(const rd_kafka_message_t *m)
{
	const char *t = rd_kafka_topic_name(m->rkt);
	uint32_t h = 2166136261u;

	for (; *t; t++)
		h = (h ^ (unsigned char)*t) * 16777619u;
	for (int i = 0; i < 4; i++)
		h = (h ^ (uint32_t)((m->partition >> (8 * i)) & 0xff)) * 16777619u;
	return (h ^ (h >> 24)) & 0xffffff;
}

/*
 * Debezium's record (the message's value) as an event line in out (out->len
 * 0 for a tombstone); -1 with *why for a record that is not Debezium's.
 */
static int
from_debezium(const rd_kafka_message_t *m, struct buf *out, const char **why)
{
	const char *obj = m->payload, *src, *v, *key = m->key;
	size_t olen = m->len, slen, vlen, klen = m->key_len;
	uint64_t lsn, commit, seqno;
	struct json_span sp;
	struct buf seq = BUF_INIT;

	buf_reset(out);
	if (olen == 4 && memcmp(obj, "null", 4) == 0)
		return 0;
	/* Kafka Connect's schema wrapper, around the value and the key. */
	if (json_member(obj, olen, "schema", NULL, &v, &vlen) == 1 &&
	    json_member(obj, olen, "payload", NULL, &v, &vlen) == 1) {
		obj = v;
		olen = vlen;
	}
	if (key && json_member(key, klen, "schema", NULL, &v, &vlen) == 1 &&
	    json_member(key, klen, "payload", NULL, &v, &vlen) == 1) {
		key = v;
		klen = vlen;
	}
	if (olen == 4 && memcmp(obj, "null", 4) == 0)
		return 0;
	if (json_member(obj, olen, "source", NULL, &src, &slen) != 1 || src[0] != '{' ||
	    json_member(src, slen, "lsn", NULL, &v, &vlen) != 1 || !json_number(v, vlen, &lsn)) {
		*why = "not a Debezium record of PostgreSQL: no source.lsn";
		return -1;
	}
	if (json_member(src, slen, "commit_lsn", NULL, &v, &vlen) == 1) {
		*why = "already has source.commit_lsn: not a Debezium record (leave out --debezium)";
		return -1;
	}
	commit = seqno = lsn;
	if (json_member(src, slen, "sequence", NULL, &v, &vlen) == 1 && vlen > 2 && v[0] == '"') {
		/* "[\"24023928\",\"24023992\"]": the last commit, then this record's LSN */
		const char *p, *e;

		sp = (struct json_span){ v + 1, vlen - 2, memchr(v, '\\', vlen) != NULL };
		json_span_decode(&sp, &seq);
		p = seq.data ? strchr(seq.data, '[') : NULL;
		if (p && (e = strchr(p, ',')) != NULL && !json_number(p + 1, (size_t)(e - p - 1), &commit))
			commit = lsn;
	}
	buf_release(&seq);
	if (key == NULL || klen == 0 || (key[0] != '{' && !(klen == 4 && memcmp(key, "null", 4) == 0))) {
		key = "null";
		klen = 4;
	}
	buf_adds(out, "{\"key\":");
	buf_add(out, key, klen);
	buf_addc(out, ',');
	buf_add(out, obj + 1, (size_t)(src + 1 - (obj + 1)));
	/* Snapshot records share one LSN: their offset keeps them apart and in order. */
	if (json_member(src, slen, "snapshot", NULL, &v, &vlen) == 1 &&
	    !(vlen == 7 && memcmp(v, "\"false\"", 7) == 0))
		seqno = (uint64_t)m->offset << 24 | part_hash(m);
	buf_addf(out, "\"commit_lsn\":%" PRIu64 ",\"seq\":%" PRIu64 "%s", commit, seqno,
		 src[1] == '}' ? "" : ",");
	buf_add(out, src + 1, (size_t)(obj + olen - (src + 1)));
	buf_addc(out, '\0');
	out->len--;
	return 0;
}

/*
 * What a message with a value is: an event (converted from Debezium's
 * record with --debezium), a mark, or nothing to print.  Returns -1 with
 * s->why for a bad one.
 */
static int
classify(struct source *s, struct msg *mm)
{
	const rd_kafka_message_t *m = mm->m;
	struct evin_check c;

	if (m->len > s->max_line) {
		evin_too_long_reason(m->len, s->max_line, s->reason, sizeof(s->reason));
		s->why = s->reason;
		return -1;
	}
	if (memchr(m->payload, '\n', m->len) != NULL) {
		s->why = "a newline inside the event";
		return -1;
	}
	if (s->debezium) {
		if (from_debezium(m, &s->conv, &s->why) < 0)
			return -1;
		if (s->conv.len == 0)
			return 0;		/* a tombstone: nothing to print */
		mm->text = xmalloc(s->conv.len + 1);
		memcpy(mm->text, s->conv.data, s->conv.len + 1);
		mm->len = s->conv.len;
		mm->owned = true;
	}
	if (evin_check_line(EVIN_EVENTS, false, mm->text, mm->len, &c) < 0) {
		snprintf(s->reason, sizeof(s->reason), "%s", c.reason);
		s->why = s->reason;
		return -1;
	}
	if (json_span_eq(&c.ev.op, "mark") && c.ev.has_pos) {
		mm->kind = K_MARK;
		mm->pos = c.ev.pos;
	} else if (c.ev.has_pos) {
		mm->kind = K_EVENT;
		mm->pos = c.ev.pos;
		if (s->name[0] == '\0' && c.ev.name.p) {
			buf_reset(&s->scratch);
			json_span_decode(&c.ev.name, &s->scratch);
			snprintf(s->name, sizeof(s->name), "%s", s->scratch.data ? s->scratch.data : "");
		}
	} else if (!c.ev.control) {
		s->why = "no source.commit_lsn and source.seq: cannot be ordered";
		return -1;
	}
	return 0;
}

static void
receive(struct source *s, rd_kafka_message_t *m)
{
	struct msg mm = { .m = m, .text = m->payload, .len = m->len,
			  .kind = m->payload != NULL ? K_NEW : K_SKIP };
	struct part *p;
	uint32_t idx;

	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if ((p = part_of(s, m, &idx)) != NULL)
				p->eof = true;
		} else if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			   m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
			   m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
			error("%s", rd_kafka_message_errstr(m));
			s->fatal = m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? CDC_EXIT_TEMPFAIL
										 : CDC_EXIT_FAILURE;
		} else {
			info(1, "kafka: %s", rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
		return;
	}
	if ((p = part_of(s, m, &idx)) == NULL) {
		rd_kafka_message_destroy(m);	/* a partition given up meanwhile */
		return;
	}
	p->eof = false;
	s->messages++;
	s->m.bytes_in += m->len;
	if (p->qlen == p->qcap) {
		size_t ncap = p->qcap ? p->qcap * 2 : 64;
		struct msg *n = xmalloc(ncap * sizeof(*n));

		for (size_t i = 0; i < p->qlen; i++)
			n[i] = p->q[(p->qhead + i) % p->qcap];
		free(p->q);
		p->q = n;
		p->qcap = ncap;
		p->qhead = 0;
	}
	p->q[(p->qhead + p->qlen++) % p->qcap] = mm;
	p->next = m->offset + 1;
	if (p->qlen >= s->pause_at && !p->paused)
		pause_part(s, p, true);
}

/*
 * Look at a message that reached the head of its partition.  Only heads
 * are looked at: taking messages from librdkafka then costs next to
 * nothing, so its queue never reaches queued.min.messages, where
 * librdkafka 2.0 stops fetching for a second; --max-queued bounds ours.
 */
static void
look(struct source *s, struct msg *mm)
{
	mm->kind = K_SKIP;
	if (classify(s, mm) < 0) {
		if (mm->owned)
			free(mm->text);
		mm->text = mm->m->payload;
		mm->len = mm->m->len;
		mm->owned = false;
		bad_message(s, mm, s->why);
	}
}

/* --- printing --- */

static void
emit_rewind(struct source *s, const struct cdc_pos *next)
{
	struct cdc_pos r = *next;
	struct buf *b = &s->scratch;

	/* Just before next: the sinks apply next and what follows. */
	if (r.seq > 0) {
		r.seq--;
	} else {
		r.commit_lsn--;
		r.seq = UINT64_MAX;
	}
	s->epoch++;
	s->rewinds++;
	buf_reset(b);
	buf_adds(b, "{\"op\":\"rewind\",\"source\":{\"name\":");
	json_add_cstr(b, s->name);
	buf_addf(b, ",\"lsn\":%" PRIu64 ",\"commit_lsn\":%" PRIu64 ",\"seq\":%" PRIu64 "},"
		 "\"rewind\":{\"epoch\":%" PRIu64 "},\"ts_ms\":%lld}", r.commit_lsn, r.commit_lsn, r.seq,
		 s->epoch, (long long)now_ms());
	wr_line(&s->out, b->data, b->len);
	info(1, "rewind %llu: the next events are older than the last one printed",
	     (unsigned long long)s->epoch);
}

/* Take the head of partition i: print it, or let it go as a copy or a mark. */
static void
take(struct source *s, uint32_t i)
{
	struct part *p = &s->parts[i];
	struct msg mm = p->q[p->qhead];
	struct entry e = { .part = i, .offset = mm.m->offset, .pos = mm.pos, .epoch = s->epoch,
			   .has_pos = mm.kind != K_SKIP };

	p->qhead = (p->qhead + 1) % p->qcap;
	p->qlen--;
	if (p->paused && p->qlen <= s->resume_at)
		pause_part(s, p, false);
	if (mm.kind == K_EVENT) {
		bool copy = (p->have_high && pos_cmp(&mm.pos, &p->high) <= 0) ||
			    (s->have_last && pos_cmp(&mm.pos, &s->last) == 0);

		if (copy) {
			s->copies++;
			s->m.skipped++;
		} else {
			if (s->have_last && pos_cmp(&mm.pos, &s->last) < 0) {
				emit_rewind(s, &mm.pos);
				e.epoch = s->epoch;
			}
			if (wr_line(&s->out, mm.text, mm.len) < 0)
				s->fatal = CDC_EXIT_FAILURE;
			s->last = mm.pos;
			s->have_last = true;
			s->m.events_out++;
			s->m.bytes_out += mm.len + 1;
		}
	} else if (mm.kind == K_MARK) {
		s->marks++;
	}
	if (mm.kind != K_SKIP && (!p->have_high || pos_cmp(&mm.pos, &p->high) > 0)) {
		p->high = mm.pos;
		p->have_high = true;
	}
	ent_push(s, &e);
	if (mm.owned)
		free(mm.text);
	rd_kafka_message_destroy(mm.m);
}

/* Print what the merge allows, up to max messages; returns how many it took. */
static size_t
merge(struct source *s, size_t max)
{
	size_t n = 0;

	while (!s->fatal && n < max) {
		int best = -1;
		bool all_ready = true;

		for (size_t i = 0; i < s->nparts; i++) {
			struct part *p = &s->parts[i];
			const struct msg *h;

			if (p->qlen == 0) {
				/* Nothing marks Debezium's partitions: an empty one cannot hold the rest. */
				if (!(s->exit_at_end && p->eof) && !s->debezium)
					all_ready = false;
				continue;
			}
			h = &p->q[p->qhead];
			if (h->kind == K_NEW)
				look(s, &p->q[p->qhead]);
			if (h->kind == K_BAD) {
				/* Everything before it in its partition went out: stop here. */
				s->fatal = CDC_EXIT_DATAERR;
				return n;
			}
			if (h->kind == K_SKIP) {	/* orders nothing: take it now */
				best = (int)i;
				all_ready = true;
				break;
			}
			if (best < 0 || pos_cmp(&h->pos, &s->parts[best].q[s->parts[best].qhead].pos) < 0)
				best = (int)i;
		}
		if (best < 0 || !all_ready)
			break;
		take(s, (uint32_t)best);
		n++;
	}
	return n;
}

static bool
at_end(const struct source *s)
{
	if (!s->assigned || s->nparts == 0)
		return false;
	for (size_t i = 0; i < s->nparts; i++)
		if (!s->parts[i].eof || s->parts[i].qlen > 0)
			return false;
	return true;
}

static noreturn void
finish(struct source *s, int status)
{
	if (wr_flush(&s->out) < 0 && status == CDC_EXIT_OK)
		status = s->out.err == EPIPE ? CDC_EXIT_PIPE : CDC_EXIT_FAILURE;
	if (s->rk) {
		if (s->ack_file)
			ack_check(s, true);
		else if (s->out.err == 0)
			ack_entries(s, true);
		commit(s, true);
		rd_kafka_consumer_close(s->rk);
		parts_free(s);
		rd_kafka_destroy(s->rk);
	}
	info(1, "%llu messages: %llu events printed, %llu copies and %llu marks let go, "
	     "%llu rewinds, %llu commits, %llu rebalances, %llu pauses", (unsigned long long)s->messages,
	     (unsigned long long)s->m.events_out, (unsigned long long)s->copies,
	     (unsigned long long)s->marks, (unsigned long long)s->rewinds,
	     (unsigned long long)s->commits, (unsigned long long)s->rebalances,
	     (unsigned long long)s->pauses);
	if (s->dl.count)
		info(0, "%llu bad messages %s", (unsigned long long)s->dl.count,
		     s->dl.policy == BAD_SKIP ? "skipped" : "dead-lettered");
	metrics_finish(&s->m);
	if (s->out.err == EPIPE)
		exit(CDC_EXIT_PIPE);
	wr_die_on_error(&s->out, "standard output");
	exit(status);
}

static void
stats_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct source *s = arg;

	metrics_counter(out, labels, "cdc_source_kafka_messages_total", "Messages consumed.",
			s->messages);
	metrics_counter(out, labels, "cdc_source_kafka_copies_total",
			"Copies of events already printed, let go.", s->copies);
	metrics_counter(out, labels, "cdc_source_kafka_rewinds_total", "Rewind events printed.",
			s->rewinds);
	metrics_counter(out, labels, "cdc_source_kafka_commits_total", "Offset commits.", s->commits);
	metrics_counter(out, labels, "cdc_source_kafka_rebalances_total", "Rebalances.",
			s->rebalances);
}

static int64_t
duration_arg(const char *opt, const char *arg, int64_t min, int64_t max)
{
	int64_t ms;

	if (duration_parse(arg, &ms) < 0 || ms < min || ms > max)
		die_usage("bad %s: %s", opt, arg);
	return ms;
}

int
main(int argc, char **argv)
{
	struct source src = { .ack_ms = 50, .drain_ms = 5000, .pause_at = 20000 };
	struct source *s = &src;
	struct kafka_opts ko = { 0 };
	struct evin_opts io = { 0 };
	rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t err;
	rd_kafka_queue_t *cq;
	static rd_kafka_message_t *batch[BATCH];
	char errstr[512];
	int opt;

	log_init(argv[0]);
	the_source = s;
	s->scratch = s->conv = (struct buf)BUF_INIT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":g:t:ea:" KAFKA_SHORTOPTS CLI_SHORTOPTS, longopts,
				  NULL)) != -1) {
		if (evin_option(&io, opt, optarg) || metrics_option(&s->m, opt, optarg) ||
		    kafka_option(&ko, opt, optarg))
			continue;
		switch (opt) {
		case 'g':
			if (optarg[0] == '\0')
				die_usage("--group needs an ID");
			s->group = optarg;
			break;
		case 't': {
			struct buf re = BUF_INIT;
			regex_t rx;

			/* librdkafka subscribes by regular expression when the name starts with '^'. */
			buf_addf(&re, "^(%s)$", optarg);
			if (regcomp(&rx, re.data, REG_EXTENDED | REG_NOSUB) != 0)
				die_usage("bad --topic: %s is not a regular expression", optarg);
			regfree(&rx);
			rd_kafka_topic_partition_list_add(subs, re.data, RD_KAFKA_PARTITION_UA);
			buf_release(&re);
			break;
		}
		case 'e':
			s->exit_at_end = true;
			break;
		case 'a':
			s->ack_file = optarg;
			break;
		case OPT_ACK_INTERVAL:
			s->ack_ms = duration_arg("--ack-interval", optarg, 1, 60000);
			break;
		case OPT_DEBEZIUM:
			s->debezium = true;
			break;
		case OPT_DRAIN_TIMEOUT:
			s->drain_ms = duration_arg("--drain-timeout", optarg, 0, 600000);
			break;
		case OPT_MAX_QUEUED: {
			uint64_t v;

			if (parse_u64(optarg, 10, 10000000, &v) < 0)
				die_usage("bad --max-queued: %s (10 to 10000000)", optarg);
			s->pause_at = (size_t)v;
			break;
		}
		default:
			cli_option(opt, argv, longopts, usage_text);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (s->group == NULL)
		die_usage("missing --group ID");
	s->resume_at = s->pause_at / 10;
	if (subs->cnt == 0)
		die_usage("missing --topic REGEX");
	evin_check_options(&io);
	s->max_line = io.max_line ? io.max_line : LR_DEFAULT_MAX_LINE;
	dl_init(&s->dl, io.dead_letter, io.skip_bad);

	conf = kafka_conf(&ko);
	kafka_set(conf, "group.id", s->group);
	kafka_set(conf, "enable.auto.commit", "false");
	kafka_set(conf, "enable.auto.offset.store", "false");
	kafka_set(conf, "enable.partition.eof", "true");
	kafka_default(conf, &ko, "auto.offset.reset", "earliest");
	/* A member killed with SIGKILL holds its partitions until its session ends: not 45 s. */
	kafka_default(conf, &ko, "session.timeout.ms", "10000");
	kafka_default(conf, &ko, "heartbeat.interval.ms", "1000");
	/*
	 * A fetch waits on the broker while its partitions have nothing new; a
	 * partition resumed meanwhile (or at its end, for -e) waits for it: 100 ms,
	 * not 500.
	 */
	kafka_default(conf, &ko, "fetch.wait.max.ms", "100");
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);

	if (s->ack_file) {
		int r = checkpoint_read(s->ack_file, &s->ack);

		if (r < 0)
			exit(CDC_EXIT_FAILURE);
		if (r == 0) {
			/* What the far end has is what this member printed last. */
			s->have_ack = true;
			stat(s->ack_file, &s->ack_st);
			s->last = s->ack.pos;
			s->have_last = true;
			s->epoch = s->ack.epoch;
			memcpy(s->name, s->ack.name, sizeof(s->name) - 1);
			s->m.ckpt = s->ack.pos;
			s->m.have_ckpt = true;
		}
	}
	metrics_init(&s->m, "cdc-source-kafka");
	s->m.extra = stats_metrics;
	s->m.extra_arg = s;
	wr_init(&s->out, STDOUT_FILENO, 0);

	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (s->rk == NULL)
		die_usage("Kafka consumer: %s", errstr);
	rd_kafka_poll_set_consumer(s->rk);
	err = rd_kafka_subscribe(s->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err)
		die_usage("subscribing: %s", rd_kafka_err2str(err));
	info(1, "reading as a member of group %s%s%s", s->group,
	     s->ack_file ? ", committing as far as " : ", committing what is printed",
	     s->ack_file ? s->ack_file : "");
	sig_setup();

	cq = rd_kafka_queue_get_consumer(s->rk);
	while (!cdc_stop && !s->fatal) {
		/*
		 * Everything that has arrived (rebalances are served on the
		 * way), then a batch of the merge: librdkafka's queue is kept
		 * short, ours are bounded by pausing (--max-queued).
		 */
		ssize_t got, took = 0;
		size_t printed;

		do {
			got = rd_kafka_consume_batch_queue(cq, 0, batch, BATCH);
			for (ssize_t i = 0; i < got; i++)
				receive(s, batch[i]);
			took += got > 0 ? got : 0;
		} while (got == BATCH && (size_t)took < s->pause_at);
		printed = merge(s, BATCH);
		if (s->exit_at_end && at_end(s))
			break;
		if (took == 0 && printed < BATCH) {
			/* Nothing more at hand: pass on what we have, then wait. */
			if (wr_flush(&s->out) < 0)
				finish(s, CDC_EXIT_OK);
			if (s->ack_file == NULL)
				ack_entries(s, true);
			ack_check(s, false);
			metrics_tick(&s->m);
			got = rd_kafka_consume_batch_queue(cq, (int)s->ack_ms, batch, BATCH);
			for (ssize_t i = 0; i < got; i++)
				receive(s, batch[i]);
		} else {
			ack_check(s, false);
			metrics_tick(&s->m);
		}
	}
	rd_kafka_queue_destroy(cq);
	if (s->fatal)
		finish(s, s->fatal);
	finish(s, CDC_EXIT_OK);
}
