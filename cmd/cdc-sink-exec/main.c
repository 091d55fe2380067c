/*
 * cdc-sink-exec: run a command on every batch of change events, with the
 * ack loop intact (the function stage: what Lambda does after Kinesis).
 *
 * Events are spread over --parallel workers by the hash of their "key"
 * (the table's name for events with no key), so that every change of a
 * row goes to one worker, in order.  Each worker gathers a batch (up to
 * --batch-size events, or what came in --batch-window) and runs the
 * command after "--" with the batch's lines, byte for byte, on its
 * standard input.  One handler runs per worker at a time: a worker's
 * batches are applied in order.
 *
 * The handler's answer:
 *   - exit 0: applied; a JSON line {"batchItemFailures":[{"itemIdentifier":
 *     "POSITION"},...]} on its standard output (Lambda's
 *     ReportBatchItemFailures) names the events to retry, the others are
 *     applied;
 *   - exit 65: bad data.  With such a report, the named events are bad
 *     (each goes to the bad-input policy) and the others are applied;
 *     without one, the batch is bisected (Lambda's BisectBatchOnFunctionError)
 *     until the bad event stands alone, and that one goes to the bad-input
 *     policy with the tail of the handler's stderr as the reason;
 *   - any other status, a signal, or --timeout: temporary: the same batch
 *     again after a backoff; after --max-retries, exit 75 (restart me).
 *
 * Every event gets a slot in the ack ring (common/ackring) and is released
 * when applied or dead-lettered, so the checkpoint is the contiguous
 * watermark over all workers.  Control events (heartbeats) are released at
 * once: they never reach the handler but move the checkpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ackring.h"
#include "buf.h"
#include "cli.h"
#include "evinput.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "timeutil.h"

static const char usage_text[] =
	"Usage: cdc-sink-exec [OPTIONS] [FILE...] -- COMMAND [ARG...]\n"
	"Run COMMAND on every batch of change events (NDJSON from FILEs or standard\n"
	"input), the batch's lines on its standard input.  Exit 0: applied; a line\n"
	"{\"batchItemFailures\":[{\"itemIdentifier\":\"POSITION\"},...]} on its standard\n"
	"output retries only those events; exit 65: bad data (the batch is bisected\n"
	"down to the bad event, which goes to the bad-input policy); anything else:\n"
	"the batch again after a backoff.\n"
	"\n"
	"Batches:\n"
	"      --batch-size N           events per batch at most (default 100)\n"
	"      --batch-window DURATION  run a partial batch after this long (default 1s)\n"
	"      --parallel N             N handlers at once, events spread by key so that\n"
	"                               each key keeps its order (default 1)\n"
	"      --timeout DURATION       kill a handler running longer (default none)\n"
	"      --max-retries N          temporary failures of one batch before exiting 75\n"
	"                               (default 5)\n"
	"      --backoff DURATION       first wait before a retry, doubled each time up\n"
	"                               to 30s (default 100ms)\n"
	"\n"
	"Checkpoint:\n"
	"  -c, --checkpoint FILE        skip events at or below FILE's position; keep the\n"
	"                               position of events the handlers applied in it\n"
	"      --checkpoint-interval DURATION  write FILE at most this often (default\n"
	"                               100ms; always at the end)\n"
	"\n"
	"The handler's environment: CDC_BATCH_FIRST, CDC_BATCH_LAST (positions),\n"
	"CDC_BATCH_SIZE, CDC_BATCH_ATTEMPT (from 1), CDC_BATCH_TABLES (schema.table,\n"
	"comma-separated), CDC_WORKER (from 0).  Its stderr is passed through, each line\n"
	"prefixed with \"cdc-sink-exec[WORKER]: \".\n"
	"\n"
	METRICS_HELP
	"\n"
	EVIN_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_BATCH_SIZE = 256,
	OPT_BATCH_WINDOW,
	OPT_PARALLEL,
	OPT_TIMEOUT,
	OPT_MAX_RETRIES,
	OPT_BACKOFF,
	OPT_CHECKPOINT_INTERVAL,
};

static const struct option longopts[] = {
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "batch-window", required_argument, NULL, OPT_BATCH_WINDOW },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "checkpoint", required_argument, NULL, 'c' },
	{ "checkpoint-interval", required_argument, NULL, OPT_CHECKPOINT_INTERVAL },
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

#define MAX_BACKOFF_MS 30000
#define REPORT_MAX (1 << 20)	/* the handler's stdout kept, at most */
#define TAIL_MAX 1024		/* the end of its stderr kept for a dead letter */
#define ERRLINES_PER_SEC 100	/* stderr lines passed through, at most */

/* One event of a batch. */
struct item {
	size_t off, len;		/* its line in the batch's data */
	uint64_t ord;			/* its ack slot */
	uint64_t lineno;
	struct cdc_pos pos;
	size_t toff, tlen;		/* "schema.table" in the batch's tables text, tlen 0: none */
};

struct batch {
	struct buf data;		/* the lines, each with its '\n' */
	struct buf tables;		/* "schema.table" of each item, concatenated */
	struct item *it;
	size_t n, cap;
	unsigned attempt;		/* runs so far */
	int64_t not_before;		/* mono ms: a retry waits till then */
	int64_t first_ms;		/* mono ms: when its first event came */
	struct batch *next;
};

struct worker {
	int id;
	struct batch *acc;		/* gathering events */
	struct batch *q, *qtail;	/* ready to run, in order */
	/* the run in flight */
	struct batch *cur;
	pid_t pid;
	int in_fd, out_fd, err_fd;	/* -1 when closed */
	size_t in_off;
	int64_t deadline;		/* mono ms, 0: none */
	bool timed_out;
	struct buf out, errline;
	char tail[TAIL_MAX];
	size_t tail_len;
};

struct sink {
	char **cmd;
	size_t batch_size;
	int64_t window_ms, timeout_ms, backoff_ms, checkpoint_ms;
	unsigned max_retries;
	const char *checkpoint;
	int nworkers;
	struct worker *w;

	struct evin in;
	struct ackring ack;
	struct metrics m;
	int fatal;			/* the exit status to stop with, 0 while all is well */
	bool eof;

	int chld[2];			/* SIGCHLD wakes the poll */
	int64_t err_sec;		/* stderr rate limit: this second, lines in it */
	unsigned err_lines;
	uint64_t err_dropped;
	uint64_t runs, retries, bisects, applied, failed_items;
};

static int chld_wfd = -1;

static void
on_sigchld(int sig)
{
	int e = errno;

	(void)sig;
	if (write(chld_wfd, "c", 1) < 0) {
		/* the pipe is full: a wake-up is pending anyway */
	}
	errno = e;
}

/* --- batches --- */

static struct batch *
batch_new(void)
{
	struct batch *b = xcalloc(1, sizeof(*b));

	b->data = (struct buf)BUF_INIT;
	b->tables = (struct buf)BUF_INIT;
	return b;
}

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	buf_release(&b->data);
	buf_release(&b->tables);
	free(b->it);
	free(b);
}

static void
batch_add(struct batch *b, const char *line, size_t len, uint64_t ord, uint64_t lineno,
	  const struct cdc_pos *pos, const char *table, size_t tlen)
{
	struct item *it;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->it = xrealloc(b->it, b->cap * sizeof(*b->it));
	}
	it = &b->it[b->n++];
	it->off = b->data.len;
	it->len = len;
	it->ord = ord;
	it->lineno = lineno;
	it->pos = *pos;
	it->toff = b->tables.len;
	it->tlen = tlen;
	buf_add(&b->tables, table, tlen);
	buf_add(&b->data, line, len);
	buf_addc(&b->data, '\n');
}

/* Copy item i of src to the end of dst. */
static void
batch_copy_item(struct batch *dst, const struct batch *src, size_t i)
{
	const struct item *it = &src->it[i];

	batch_add(dst, src->data.data + it->off, it->len, it->ord, it->lineno, &it->pos,
		  src->tables.data + it->toff, it->tlen);
}

static void
queue_push(struct worker *w, struct batch *b, bool front)
{
	if (front) {
		b->next = w->q;
		w->q = b;
		if (w->qtail == NULL)
			w->qtail = b;
		return;
	}
	b->next = NULL;
	if (w->qtail)
		w->qtail->next = b;
	else
		w->q = b;
	w->qtail = b;
}

static struct batch *
queue_pop(struct worker *w)
{
	struct batch *b = w->q;

	w->q = b->next;
	if (w->q == NULL)
		w->qtail = NULL;
	b->next = NULL;
	return b;
}

/* --- running the handler --- */

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die_errno("fcntl");
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The comma-separated set of the batch's tables (in order of first appearance). */
static void
batch_tables(const struct batch *b, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < b->n; i++) {
		const char *t = b->tables.data + b->it[i].toff;
		size_t tl = b->it[i].tlen;
		bool dup = false;

		if (tl == 0)
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = b->it[j].tlen == tl && memcmp(b->tables.data + b->it[j].toff, t, tl) == 0;
		if (dup)
			continue;
		if (out->len)
			buf_addc(out, ',');
		buf_add(out, t, tl);
	}
}

static void
run_start(struct sink *s, struct worker *w)
{
	struct batch *b = queue_pop(w);
	int pin[2], pout[2], perr[2];
	char first[POS_BUFSZ], last[POS_BUFSZ], num[32];
	struct buf tables = BUF_INIT;
	pid_t pid;

	b->attempt++;
	w->cur = b;
	pos_format(&b->it[0].pos, first);
	pos_format(&b->it[b->n - 1].pos, last);
	batch_tables(b, &tables);
	if (pipe(pin) < 0 || pipe(pout) < 0 || pipe(perr) < 0)
		die_errno("pipe");
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = SIG_DFL };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		/* Its own process group: a terminal's ^C does not cut a batch in half, and --timeout kills it whole. */
		setpgid(0, 0);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		for (int fd = 3; fd < 256; fd++)
			close(fd);
		setenv("CDC_BATCH_FIRST", first, 1);
		setenv("CDC_BATCH_LAST", last, 1);
		snprintf(num, sizeof(num), "%zu", b->n);
		setenv("CDC_BATCH_SIZE", num, 1);
		snprintf(num, sizeof(num), "%u", b->attempt);
		setenv("CDC_BATCH_ATTEMPT", num, 1);
		setenv("CDC_BATCH_TABLES", tables.data, 1);
		snprintf(num, sizeof(num), "%d", w->id);
		setenv("CDC_WORKER", num, 1);
		execvp(s->cmd[0], s->cmd);
		fprintf(stderr, "cannot run %s: %s\n", s->cmd[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	buf_release(&tables);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	w->pid = pid;
	w->in_fd = pin[1];
	w->out_fd = pout[0];
	w->err_fd = perr[0];
	set_nonblock(w->in_fd);
	set_nonblock(w->out_fd);
	set_nonblock(w->err_fd);
	fcntl(w->in_fd, F_SETFD, FD_CLOEXEC);
	fcntl(w->out_fd, F_SETFD, FD_CLOEXEC);
	fcntl(w->err_fd, F_SETFD, FD_CLOEXEC);
	w->in_off = 0;
	w->deadline = s->timeout_ms ? mono_ms() + s->timeout_ms : 0;
	w->timed_out = false;
	buf_reset(&w->out);
	buf_reset(&w->errline);
	w->tail_len = 0;
	s->runs++;
	info(2, "worker %d: %zu events %s..%s, attempt %u", w->id, b->n, first, last, b->attempt);
}

static void
tail_add(struct worker *w, const char *p, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(w->tail, p + n - TAIL_MAX, TAIL_MAX);
		w->tail_len = TAIL_MAX;
		return;
	}
	if (w->tail_len + n > TAIL_MAX) {
		size_t drop = w->tail_len + n - TAIL_MAX;

		memmove(w->tail, w->tail + drop, w->tail_len - drop);
		w->tail_len -= drop;
	}
	memcpy(w->tail + w->tail_len, p, n);
	w->tail_len += n;
}

/* One line of the handler's stderr, passed through with a prefix (rate-limited). */
static void
err_line(struct sink *s, struct worker *w, const char *p, size_t n)
{
	int64_t sec = mono_ms() / 1000;

	if (sec != s->err_sec) {
		if (s->err_dropped)
			warning("%" PRIu64 " lines of the handlers' stderr dropped (over %d a second)",
				s->err_dropped, ERRLINES_PER_SEC);
		s->err_sec = sec;
		s->err_lines = 0;
		s->err_dropped = 0;
	}
	if (++s->err_lines > ERRLINES_PER_SEC) {
		s->err_dropped++;
		return;
	}
	fprintf(stderr, "cdc-sink-exec[%d]: %.*s\n", w->id, (int)n, p);
}

static void
err_flush_lines(struct sink *s, struct worker *w, bool all)
{
	char *p = w->errline.data, *end = p + w->errline.len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		err_line(s, w, p, (size_t)(nl - p));
		p = nl + 1;
	}
	if (all && p < end) {
		err_line(s, w, p, (size_t)(end - p));
		p = end;
	}
	if (p != w->errline.data) {
		size_t rest = (size_t)(end - p);

		memmove(w->errline.data, p, rest);
		buf_setlen(&w->errline, rest);
	}
	if (w->errline.len > 65536) {		/* no newline for long: pass it on as is */
		err_line(s, w, w->errline.data, w->errline.len);
		buf_reset(&w->errline);
	}
}

/* Read what the handler wrote to fd (its stdout or stderr) till EAGAIN or EOF. */
static void
run_read(struct sink *s, struct worker *w, int *fd, bool is_err)
{
	char tmp[65536];

	for (;;) {
		ssize_t r = read(*fd, tmp, sizeof(tmp));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0 || errno != EAGAIN)
				close_fd(fd);
			break;
		}
		if (is_err) {
			tail_add(w, tmp, (size_t)r);
			buf_add(&w->errline, tmp, (size_t)r);
			err_flush_lines(s, w, false);
		} else if (w->out.len < REPORT_MAX) {
			buf_add(&w->out, tmp, (size_t)r);
		}
	}
}

static void
run_write(struct worker *w)
{
	const struct batch *b = w->cur;

	while (w->in_off < b->data.len) {
		ssize_t r = write(w->in_fd, b->data.data + w->in_off, b->data.len - w->in_off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				close_fd(&w->in_fd);	/* EPIPE: the handler did not read it all */
			return;
		}
		w->in_off += (size_t)r;
	}
	close_fd(&w->in_fd);
}

/*
 * Find the handler's report in its stdout: the last line that is an
 * object with "batchItemFailures".  Returns 1 with failed[i] set for the
 * named items, 0 when there is no report, -1 when it names a position
 * that is not in the batch or is malformed (message in why).
 */
static int
parse_report(const struct worker *w, const struct batch *b, bool *failed, char *why, size_t whysz)
{
	const char *p = w->out.data, *end = p + w->out.len;
	const char *line = NULL, *lend = NULL, *v, *ev, *iv;
	size_t vlen, elen, ilen;
	struct json_iter it, jt;
	struct json_span k;
	const char *err;
	int r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
		const char *q = json_ws(p, e);

		if (q < e && *q == '{' && json_member(q, (size_t)(e - q), "batchItemFailures", NULL,
						      &v, &vlen) == 1) {
			line = q;
			lend = e;
		}
		p = nl ? nl + 1 : end;
	}
	if (line == NULL)
		return 0;
	json_member(line, (size_t)(lend - line), "batchItemFailures", NULL, &v, &vlen);
	if (json_iter_begin(&it, v, vlen) < 0 || !it.array) {
		snprintf(why, whysz, "batchItemFailures is not an array");
		return -1;
	}
	while ((r = json_iter_next(&it, NULL, &ev, &elen, &err)) == 1) {
		struct buf id = BUF_INIT;
		struct cdc_pos pos;
		bool found = false;

		if (json_iter_begin(&jt, ev, elen) < 0 || jt.array ||
		    json_member(ev, elen, "itemIdentifier", NULL, &iv, &ilen) != 1 || ilen < 2 ||
		    iv[0] != '"') {
			snprintf(why, whysz, "an item without a string itemIdentifier");
			return -1;
		}
		k = (struct json_span){ .p = iv + 1, .len = ilen - 2,
					.escaped = memchr(iv, '\\', ilen) != NULL };
		if (json_span_decode(&k, &id) < 0 || pos_parse(id.data, &pos) < 0) {
			snprintf(why, whysz, "itemIdentifier %.60s is not a position", id.data);
			buf_release(&id);
			return -1;
		}
		for (size_t i = 0; i < b->n; i++)
			if (pos_cmp(&b->it[i].pos, &pos) == 0) {
				failed[i] = true;
				found = true;
			}
		if (!found) {
			snprintf(why, whysz, "itemIdentifier %.60s is not in the batch", id.data);
			buf_release(&id);
			return -1;
		}
		buf_release(&id);
	}
	if (r < 0) {
		snprintf(why, whysz, "batchItemFailures: %s", err);
		return -1;
	}
	return 1;
}

/* The tail of the handler's stderr, one line, for a dead letter's reason. */
static void
reason_tail(const struct worker *w, struct buf *out)
{
	size_t n = w->tail_len;
	const char *t = w->tail;

	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	if (n > 300) {
		t += n - 300;
		n = 300;
	}
	for (size_t i = 0; i < n; i++)
		buf_addc(out, t[i] == '\n' || t[i] == '\r' ? ' ' : t[i]);
}

/* Item i is applied (or dead-lettered): its slot is done. */
static void
item_done(struct sink *s, const struct batch *b, size_t i)
{
	ackring_release(&s->ack, b->it[i].ord);
}

/* Item i is bad data: the bad-input policy decides. */
static void
item_bad(struct sink *s, struct worker *w, const struct batch *b, size_t i, const char *what)
{
	struct buf detail = BUF_INIT;
	const struct item *it = &b->it[i];
	char extra[64];

	buf_addf(&detail, "%s", what);
	if (w->tail_len) {
		buf_adds(&detail, ": ");
		reason_tail(w, &detail);
	}
	snprintf(extra, sizeof(extra), "\"attempt\":%u", b->attempt);
	if (dl_bad_line_detail(&s->in.dl, it->lineno, &it->pos, what, detail.data,
			       b->data.data + it->off, it->len, 0, extra) < 0) {
		ackring_block(&s->ack, it->ord);
		if (!s->fatal)
			s->fatal = CDC_EXIT_DATAERR;
	} else {
		s->m.dead_lettered = s->in.dl.count;
		item_done(s, b, i);
	}
	buf_release(&detail);
}

static void
retry_later(struct sink *s, struct worker *w, struct batch *b, const char *why)
{
	int64_t wait = s->backoff_ms;

	if (b->attempt > s->max_retries && s->in.dl.policy != BAD_STOP) {
		/* --skip-bad or --dead-letter: the user chose to go on without them. */
		char what[300];

		snprintf(what, sizeof(what), "gave up after %u attempts (--max-retries %u): %s",
			 b->attempt, s->max_retries, why);
		for (size_t i = 0; i < b->n; i++)
			item_bad(s, w, b, i, what);
		batch_free(b);
		return;
	}
	if (b->attempt > s->max_retries) {
		/* The stop policy: nothing is given up; a restart tries again. */
		error("worker %d: %s; giving up after %u attempts (--max-retries %u)", w->id, why,
		      b->attempt, s->max_retries);
		for (size_t i = 0; i < b->n; i++)
			ackring_block(&s->ack, b->it[i].ord);
		batch_free(b);
		if (!s->fatal)
			s->fatal = CDC_EXIT_TEMPFAIL;
		return;
	}
	for (unsigned a = 1; a < b->attempt && wait < MAX_BACKOFF_MS; a++)
		wait *= 2;
	if (wait > MAX_BACKOFF_MS)
		wait = MAX_BACKOFF_MS;
	warning("worker %d: %s; retrying %zu event%s in %lld ms (attempt %u)", w->id, why, b->n,
		b->n == 1 ? "" : "s", (long long)wait, b->attempt + 1);
	s->retries++;
	b->not_before = mono_ms() + wait;
	queue_push(w, b, true);
}

/* The handler exited with status st: act on its answer. */
static void
run_done(struct sink *s, struct worker *w, int st)
{
	struct batch *b = w->cur;
	char why[200];
	bool *failed;
	int rep = 0;

	/* What it wrote before exiting is in the pipes still. */
	if (w->out_fd >= 0)
		run_read(s, w, &w->out_fd, false);
	if (w->err_fd >= 0)
		run_read(s, w, &w->err_fd, true);
	err_flush_lines(s, w, true);
	close_fd(&w->in_fd);
	close_fd(&w->out_fd);
	close_fd(&w->err_fd);
	w->cur = NULL;
	w->pid = 0;

	failed = xcalloc(b->n, sizeof(*failed));
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == CDC_EXIT_DATAERR))
		rep = parse_report(w, b, failed, why, sizeof(why));
	if (rep < 0) {
		warning("worker %d: a bad report on stdout (%s): the whole batch failed", w->id, why);
		snprintf(why, sizeof(why), "a bad report");
		retry_later(s, w, b, why);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		struct batch *again = rep ? batch_new() : NULL;

		for (size_t i = 0; i < b->n; i++)
			if (failed[i])
				batch_copy_item(again, b, i);
			else
				item_done(s, b, i);
		s->applied += b->n - (again ? again->n : 0);
		if (again && again->n) {
			s->failed_items += again->n;
			again->attempt = b->attempt;
			snprintf(why, sizeof(why), "%zu of %zu events reported failed", again->n, b->n);
			retry_later(s, w, again, why);
		} else {
			batch_free(again);
		}
		batch_free(b);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == CDC_EXIT_DATAERR && rep) {
		for (size_t i = 0; i < b->n; i++)
			if (failed[i])
				item_bad(s, w, b, i, "the handler reported the event bad (exit 65)");
			else
				item_done(s, b, i);
		batch_free(b);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == CDC_EXIT_DATAERR) {
		if (b->n == 1) {
			item_bad(s, w, b, 0, "the handler refused the event (exit 65)");
			batch_free(b);
		} else {
			/* Bisect: the halves run in order, each from attempt 1. */
			struct batch *l = batch_new(), *r = batch_new();
			size_t half = b->n / 2;

			for (size_t i = 0; i < b->n; i++)
				batch_copy_item(i < half ? l : r, b, i);
			s->bisects++;
			info(1, "worker %d: exit 65 on %zu events: bisecting", w->id, b->n);
			queue_push(w, r, true);
			queue_push(w, l, true);
			batch_free(b);
		}
	} else {
		if (w->timed_out)
			snprintf(why, sizeof(why), "the handler ran over --timeout");
		else if (WIFSIGNALED(st))
			snprintf(why, sizeof(why), "the handler was killed by signal %d", WTERMSIG(st));
		else
			snprintf(why, sizeof(why), "the handler exited %d", WEXITSTATUS(st));
		retry_later(s, w, b, why);
	}
	free(failed);
}

/* --- the loop --- */

static bool
worker_idle(const struct worker *w)
{
	return w->cur == NULL && w->q == NULL;
}

/* Move a worker's gathered events to its queue when due (full, the window passed, or flush). */
static void
worker_seal(struct sink *s, struct worker *w, bool flush)
{
	struct batch *a = w->acc;

	if (a == NULL || a->n == 0 || w->q != NULL)
		return;
	if (!flush && a->n < s->batch_size && mono_ms() - a->first_ms < s->window_ms)
		return;
	w->acc = NULL;
	queue_push(w, a, false);
}

/* Reap handlers, start runs that are due, feed and read them; no waiting. */
static void
service(struct sink *s)
{
	char drain[64];
	int64_t now;

	while (read(s->chld[0], drain, sizeof(drain)) > 0)
		;
	for (int i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->w[i];
		int st;

		if (w->cur == NULL)
			continue;
		if (w->in_fd >= 0)
			run_write(w);
		if (w->out_fd >= 0)
			run_read(s, w, &w->out_fd, false);
		if (w->err_fd >= 0)
			run_read(s, w, &w->err_fd, true);
		if (w->deadline && !w->timed_out && mono_ms() >= w->deadline) {
			warning("worker %d: the handler ran over --timeout: killing it", w->id);
			kill(-w->pid, SIGKILL);
			w->timed_out = true;
		}
		if (waitpid(w->pid, &st, WNOHANG) == w->pid)
			run_done(s, w, st);
	}
	now = mono_ms();
	for (int i = 0; i < s->nworkers && !s->fatal; i++) {
		struct worker *w = &s->w[i];

		worker_seal(s, w, s->eof || cdc_stop);
		if (w->cur == NULL && w->q && w->q->not_before <= now && !cdc_stop)
			run_start(s, w);
	}
	if (ackring_checkpoint(&s->ack, false) < 0 && !s->fatal)
		s->fatal = CDC_EXIT_FAILURE;
	metrics_tick(&s->m);
}

/* Wait up to the next deadline for a handler, a child's exit or (in_fd >= 0) input. */
static bool
wait_some(struct sink *s, int in_fd)
{
	struct pollfd p[1 + 1 + 3 * 64];
	int n = 0, t = 1000, in_at = -1;
	int64_t now = mono_ms();

	p[n++] = (struct pollfd){ .fd = s->chld[0], .events = POLLIN };
	if (in_fd >= 0) {
		in_at = n;
		p[n++] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
	}
	for (int i = 0; i < s->nworkers; i++) {
		const struct worker *w = &s->w[i];
		int64_t due = -1;

		if (w->cur) {
			if (w->in_fd >= 0)
				p[n++] = (struct pollfd){ .fd = w->in_fd, .events = POLLOUT };
			if (w->out_fd >= 0)
				p[n++] = (struct pollfd){ .fd = w->out_fd, .events = POLLIN };
			if (w->err_fd >= 0)
				p[n++] = (struct pollfd){ .fd = w->err_fd, .events = POLLIN };
			if (w->deadline && !w->timed_out)
				due = w->deadline - now;
			if (w->out_fd < 0 && w->err_fd < 0)
				due = 10;	/* pipes closed: look for its exit now and then */
		} else if (w->q) {
			due = w->q->not_before - now;
		} else if (w->acc && w->acc->n) {
			due = w->acc->first_ms + s->window_ms - now;
		}
		if (due >= 0 && due < t)
			t = (int)due;
		else if (due < 0 && (w->q || (w->acc && w->acc->n)) && !w->cur)
			t = 0;
	}
	t = ackring_wait(&s->ack, t);
	if (poll(p, (nfds_t)n, t) < 0 && errno != EINTR)
		die_errno("poll");
	return in_at >= 0 && p[in_at].revents != 0;
}

/* The input's idle hook: run the handlers until input comes (or we must stop). */
static void
on_idle(void *arg)
{
	struct sink *s = arg;

	while (!cdc_stop && !s->fatal) {
		service(s);
		if (wait_some(s, s->in.fd))
			break;
	}
}

static uint64_t
hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* One good event line. */
static void
handle(struct sink *s, const struct evin_line *l)
{
	const struct event_info *ev = &l->ev;
	struct worker *w;
	struct buf table = BUF_INIT;
	uint64_t ord, h;

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
	while (ackring_full(&s->ack) && !s->fatal && !cdc_stop) {
		service(s);
		wait_some(s, -1);
	}
	if (s->fatal || cdc_stop)
		return;
	if (ackring_is_rewind(ev)) {
		if (ackring_push_rewind(&s->ack, ev, l->text, l->len) < 0 &&
		    evin_reject(&s->in, l, "a rewind without rewind.epoch") < 0)
			s->fatal = CDC_EXIT_DATAERR;
		return;
	}
	if (ackring_seen(&s->ack, ev)) {
		s->m.skipped++;
		return;
	}
	if (ev->control) {
		ackring_push(&s->ack, ev, 0);	/* a heartbeat: done, it moves the checkpoint */
		return;
	}
	if (ev->table.p) {
		if (ev->schema.p) {
			json_span_decode(&ev->schema, &table);
			buf_addc(&table, '.');
		}
		json_span_decode(&ev->table, &table);
	}
	if (ev->key && !(ev->key_len == 4 && memcmp(ev->key, "null", 4) == 0))
		h = hash_bytes(ev->key, ev->key_len) ^ hash_bytes(table.data, table.len);
	else
		h = hash_bytes(table.data, table.len);
	w = &s->w[h % (uint64_t)s->nworkers];
	/* A full batch waits for the worker's previous ones. */
	for (;;) {
		worker_seal(s, w, false);
		if (w->acc == NULL || w->acc->n < s->batch_size || s->fatal || cdc_stop)
			break;
		service(s);
		if (w->acc == NULL || w->acc->n < s->batch_size)
			break;
		wait_some(s, -1);
	}
	if (s->fatal || cdc_stop) {
		buf_release(&table);
		return;
	}
	if (w->acc == NULL) {
		w->acc = batch_new();
		w->acc->first_ms = mono_ms();
	}
	ord = ackring_push(&s->ack, ev, 1);
	batch_add(w->acc, l->text, l->len, ord, l->lineno, &ev->pos, table.data, table.len);
	buf_release(&table);
	worker_seal(s, w, false);
	if (w->cur == NULL && w->q && w->q->not_before <= mono_ms())
		run_start(s, w);
}

static bool
all_idle(const struct sink *s)
{
	for (int i = 0; i < s->nworkers; i++)
		if (!worker_idle(&s->w[i]) || (s->w[i].acc && s->w[i].acc->n))
			return false;
	return true;
}

static bool
any_running(const struct sink *s)
{
	for (int i = 0; i < s->nworkers; i++)
		if (s->w[i].cur)
			return true;
	return false;
}

static noreturn void
finish(struct sink *s, int status)
{
	/*
	 * At the end of input (or a bad or cut line there), run every batch
	 * of what came before; when stopping (a signal, a handler's failure), let the handlers in flight finish, start nothing new.
	 */
	if ((status == CDC_EXIT_OK || status == CDC_EXIT_DATAERR || status == CDC_EXIT_TEMPFAIL) &&
	    !cdc_stop && !s->fatal) {
		s->eof = true;
		while (!all_idle(s) && !s->fatal && !cdc_stop) {
			service(s);
			if (!all_idle(s))
				wait_some(s, -1);
		}
	}
	while (any_running(s)) {
		service(s);
		if (any_running(s))
			wait_some(s, -1);
	}
	if (s->fatal && status != s->fatal && status != CDC_EXIT_DATAERR)
		status = s->fatal;
	if (ackring_checkpoint(&s->ack, true) < 0 && status == CDC_EXIT_OK)
		status = CDC_EXIT_FAILURE;
	info(1, "%" PRIu64 " handler runs, %" PRIu64 " events applied, %" PRIu64 " retries, %" PRIu64
	     " bisections, %" PRIu64 " checkpoint writes", s->runs, s->applied, s->retries,
	     s->bisects, s->ack.writes);
	evin_close(&s->in);
	metrics_finish(&s->m);
	exit(status);
}

static void
stats_metrics(struct buf *out, const char *labels, void *arg)
{
	const struct sink *s = arg;

	metrics_counter(out, labels, "cdc_sink_exec_runs_total", "Handler runs.", s->runs);
	metrics_counter(out, labels, "cdc_sink_exec_retries_total",
			"Batches run again after a temporary failure or a reported item failure.",
			s->retries);
	metrics_counter(out, labels, "cdc_sink_exec_bisections_total",
			"Batches split in two after exit 65.", s->bisects);
	metrics_counter(out, labels, "cdc_sink_exec_checkpoint_writes_total",
			"Durable checkpoint writes (at most one per --checkpoint-interval).",
			s->ack.writes);
}

static void
stats_line(struct buf *out, void *arg)
{
	const struct sink *s = arg;

	buf_addf(out, "; %" PRIu64 " runs, %" PRIu64 " in flight", s->runs,
		 (uint64_t)ackring_count(&s->ack));
}

static int64_t
duration_arg(const char *opt, const char *arg, int64_t min, int64_t max)
{
	int64_t ms;

	if (duration_parse(arg, &ms) < 0 || ms < min || ms > max)
		die_usage("bad %s: %s", opt, arg);
	return ms;
}

static uint64_t
count_arg(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		die_usage("bad %s: %s (%" PRIu64 " to %" PRIu64 ")", opt, arg, min, max);
	return v;
}

int
main(int argc, char **argv)
{
	struct sink sink = { .batch_size = 100, .window_ms = 1000, .backoff_ms = 100,
			     .checkpoint_ms = 100, .max_retries = 5, .nworkers = 1 };
	struct sink *s = &sink;
	struct evin_opts io = { 0 };
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	int opt, dd = -1, nfiles;

	log_init(argv[0]);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	opterr = 0;
	while ((opt = getopt_long(dd >= 0 ? dd : argc, argv, ":c:" CLI_SHORTOPTS, longopts,
				  NULL)) != -1) {
		if (evin_option(&io, opt, optarg) || metrics_option(&s->m, opt, optarg))
			continue;
		switch (opt) {
		case OPT_BATCH_SIZE:
			s->batch_size = count_arg("--batch-size", optarg, 1, 1000000);
			break;
		case OPT_BATCH_WINDOW:
			s->window_ms = duration_arg("--batch-window", optarg, 0, 3600 * 1000);
			break;
		case OPT_PARALLEL:
			s->nworkers = (int)count_arg("--parallel", optarg, 1, 64);
			break;
		case OPT_TIMEOUT:
			s->timeout_ms = duration_arg("--timeout", optarg, 1, 24 * 3600 * 1000LL);
			break;
		case OPT_MAX_RETRIES:
			s->max_retries = (unsigned)count_arg("--max-retries", optarg, 0, 1000000);
			break;
		case OPT_BACKOFF:
			s->backoff_ms = duration_arg("--backoff", optarg, 1, 3600 * 1000);
			break;
		case 'c':
			s->checkpoint = optarg;
			break;
		case OPT_CHECKPOINT_INTERVAL:
			s->checkpoint_ms = duration_arg("--checkpoint-interval", optarg, 0, 3600 * 1000);
			break;
		default:
			cli_option(opt, argv, longopts, usage_text);
		}
	}
	if (dd < 0 || dd + 1 >= argc)
		die_usage("no command: cdc-sink-exec [OPTIONS] [FILE...] -- COMMAND [ARG...]");
	s->cmd = argv + dd + 1;
	nfiles = dd - optind;
	evin_check_options(&io);

	if (ackring_open(&s->ack, s->checkpoint, "cdc-sink-exec", s->checkpoint_ms, 1 << 22, false,
			 &s->m) < 0)
		exit(CDC_EXIT_FAILURE);
	metrics_init(&s->m, "cdc-sink-exec");
	s->m.extra = stats_metrics;
	s->m.extra_stats = stats_line;
	s->m.extra_arg = s;
	evin_open(&s->in, &io, EVIN_EVENTS, argv + optind, nfiles);
	evin_set_metrics(&s->in, &s->m);
	s->ack.dl = &s->in.dl;

	s->w = xcalloc((size_t)s->nworkers, sizeof(*s->w));
	for (int i = 0; i < s->nworkers; i++) {
		s->w[i].id = i;
		s->w[i].in_fd = s->w[i].out_fd = s->w[i].err_fd = -1;
		s->w[i].out = s->w[i].errline = (struct buf)BUF_INIT;
	}
	if (pipe(s->chld) < 0)
		die_errno("pipe");
	set_nonblock(s->chld[0]);
	set_nonblock(s->chld[1]);
	fcntl(s->chld[0], F_SETFD, FD_CLOEXEC);
	fcntl(s->chld[1], F_SETFD, FD_CLOEXEC);
	chld_wfd = s->chld[1];
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sig_setup();
	info(1, "running %s: batches of %zu, %d worker%s%s%s", s->cmd[0], s->batch_size,
	     s->nworkers, s->nworkers == 1 ? "" : "s",
	     s->ack.have_start ? ", resuming after checkpoint " : "",
	     s->ack.have_start ? s->checkpoint : "");
	evin_set_idle(&s->in, on_idle, s);

	for (unsigned since = 0;;) {
		struct evin_line l;
		enum evin_status st = evin_next(&s->in, &l);

		if (s->fatal)
			finish(s, s->fatal);
		if (st == EVIN_INTR) {
			if (cdc_stop)
				finish(s, CDC_EXIT_OK);
			continue;
		}
		if (st != EVIN_LINE)
			finish(s, evin_exit_status(st));
		handle(s, &l);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		if (++since >= 64) {
			since = 0;
			service(s);
		}
	}
}
