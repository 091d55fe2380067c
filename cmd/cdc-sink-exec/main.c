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
 * With --keep-running, the command starts once per worker and is fed batch
 * after batch, each ended by an empty line; it answers each with one JSON
 * line ({} or a report; "status":N as exit N).  A worker that dies with a
 * batch in flight is a temporary failure: a new one gets the batch again.
 *
 * The batching, the lanes, bisection, retries and the checkpoint (the
 * contiguous watermark over all workers) are common/batcher's; this file
 * runs the handlers and reads their answers.  Control events (heartbeats)
 * never reach the handler but move the checkpoint.
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
#include "batcher.h"
#include "buf.h"
#include "cli.h"
#include "evinput.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "opt.h"
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
	"      --parallel N             N handlers at once, events spread by key so that\n"
	"                               each key keeps its order (default 1)\n"
	"      --keep-running           one long-lived COMMAND per worker, fed batches\n"
	"                               each ended by an empty line; it answers one\n"
	"                               JSON line per batch: {} or {\"batchItemFailures\":\n"
	"                               [...]} applied, {\"status\":65} bad data,\n"
	"                               {\"status\":N} temporary\n"
	"      --timeout DURATION       kill a handler running longer (default none)\n"
	BATCHER_HELP
	"\n"
	BATCHER_CHECKPOINT_HELP
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
	OPT_PARALLEL = 256,
	OPT_TIMEOUT,
	OPT_KEEP_RUNNING,
};

static const struct option longopts[] = {
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "keep-running", no_argument, NULL, OPT_KEEP_RUNNING },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	BATCHER_OPTIONS,
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

#define REPORT_MAX (1 << 20)	/* the handler's stdout kept, at most */
#define TAIL_MAX 1024		/* the end of its stderr kept for a dead letter */
#define ERRLINES_PER_SEC 100	/* stderr lines passed through, at most */

/* The handler run of one lane (batcher.h's lanes; the same index). */
struct worker {
	int id;
	pid_t pid;			/* 0: none */
	int in_fd, out_fd, err_fd;	/* -1 when closed */
	size_t in_off;			/* of the batch's data and, --keep-running, its empty line */
	int64_t deadline;		/* mono ms, 0: none */
	bool timed_out;
	struct buf out, errline;
	char tail[TAIL_MAX];
	size_t tail_len;
};

struct sink {
	char **cmd;
	int64_t timeout_ms;
	bool keep;			/* --keep-running */
	struct worker *w;

	struct batcher bt;

	int chld[2];			/* SIGCHLD wakes the poll */
	int64_t err_sec;		/* stderr rate limit: this second, lines in it */
	unsigned err_lines;
	uint64_t err_dropped;
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

/* Start the command for worker w; b names the batch in its environment (NULL: --keep-running). */
static void
spawn(struct sink *s, struct worker *w, const struct bt_batch *b)
{
	int pin[2], pout[2], perr[2];
	char first[POS_BUFSZ], last[POS_BUFSZ], num[32];
	struct buf tables = BUF_INIT;
	pid_t pid;

	if (b) {
		pos_format(&b->it[0].pos, first);
		pos_format(&b->it[b->n - 1].pos, last);
		batcher_tables(b, &tables);
	}
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
		if (b) {
			setenv("CDC_BATCH_FIRST", first, 1);
			setenv("CDC_BATCH_LAST", last, 1);
			snprintf(num, sizeof(num), "%zu", b->n);
			setenv("CDC_BATCH_SIZE", num, 1);
			snprintf(num, sizeof(num), "%u", b->attempt);
			setenv("CDC_BATCH_ATTEMPT", num, 1);
			setenv("CDC_BATCH_TABLES", tables.data, 1);
		} else {
			setenv("CDC_KEEP_RUNNING", "1", 1);
		}
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
	buf_reset(&w->out);
	buf_reset(&w->errline);
	if (s->keep)
		info(1, "worker %d: started %s (pid %ld)", w->id, s->cmd[0], (long)pid);
}

/* batcher_ops.start: run the command on the lane's batch (or feed it to the worker). */
static void
run_start(void *arg, struct bt_lane *lane)
{
	struct sink *s = arg;
	struct worker *w = &s->w[lane->id];
	const struct bt_batch *b = lane->cur;

	if (!s->keep || w->pid == 0)
		spawn(s, w, s->keep ? NULL : b);
	w->in_off = 0;
	w->deadline = s->timeout_ms ? mono_ms() + s->timeout_ms : 0;
	w->timed_out = false;
	w->tail_len = 0;
	info(2, "worker %d: %zu events, attempt %u", w->id, b->n, b->attempt);
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
run_write(struct worker *w, const struct bt_batch *b, bool keep)
{
	size_t total = b->data.len + (keep ? 1 : 0);

	while (w->in_off < total) {
		const char *p = w->in_off < b->data.len ? b->data.data + w->in_off : "\n";
		size_t n = w->in_off < b->data.len ? b->data.len - w->in_off : 1;
		ssize_t r = write(w->in_fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				close_fd(&w->in_fd);	/* EPIPE: the handler did not read it all */
			return;
		}
		w->in_off += (size_t)r;
	}
	if (!keep)
		close_fd(&w->in_fd);
}

/* what, then the tail of the handler's stderr on one line, for a dead letter's reason. */
static void
reason_tail(const struct worker *w, const char *what, struct buf *out)
{
	size_t n = w->tail_len;
	const char *t = w->tail;

	buf_adds(out, what);
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	if (n == 0)
		return;
	if (n > 300) {
		t += n - 300;
		n = 300;
	}
	buf_adds(out, ": ");
	for (size_t i = 0; i < n; i++)
		buf_addc(out, t[i] == '\n' || t[i] == '\r' ? ' ' : t[i]);
}

/*
 * The handler's answer for lane's batch: its exit code (-1: killed by
 * signal sig), its report (its stdout, or --keep-running's answer line),
 * the end of its stderr in w->tail.
 */
static void
answer(struct sink *s, struct worker *w, struct bt_lane *lane, int code, int sig,
       const char *rtext, size_t rlen)
{
	struct batcher *bt = &s->bt;
	const struct bt_batch *b = lane->cur;
	struct buf detail = BUF_INIT;
	bool *failed = xcalloc(b->n, sizeof(*failed));
	bool ok = code == 0, bad = code == CDC_EXIT_DATAERR;
	char why[200];
	int rep = 0;

	if (ok || bad)
		rep = batcher_report(b, rtext, rlen, NULL, failed, why, sizeof(why));
	if (rep < 0) {
		warning("worker %d: a bad report on stdout (%s): the whole batch failed", w->id, why);
		reason_tail(w, "a bad report", &detail);
		batcher_retry(bt, lane, "a bad report", detail.data, -1);
	} else if (ok) {
		batcher_applied(bt, lane, rep ? failed : NULL);
	} else if (bad) {
		const char *what = rep ? "the handler reported the event bad (exit 65)" :
				   "the handler refused the event (exit 65)";

		reason_tail(w, what, &detail);
		batcher_refused(bt, lane, rep ? failed : NULL, what, detail.data);
	} else {
		if (w->timed_out)
			snprintf(why, sizeof(why), "the handler ran over --timeout");
		else if (code < 0)
			snprintf(why, sizeof(why), "the handler was killed by signal %d", sig);
		else if (s->keep && sig == 0 && w->pid)
			snprintf(why, sizeof(why), "the worker answered status %d", code);
		else
			snprintf(why, sizeof(why), "the handler exited %d", code);
		reason_tail(w, why, &detail);
		batcher_retry(bt, lane, why, detail.data, -1);
	}
	buf_release(&detail);
	free(failed);
}

/*
 * --keep-running: one answer line of the worker.  {} or a report: exit 0;
 * "status":N: as exit N.  Anything else is a bad answer: the batch again.
 */
static void
answer_line(struct sink *s, struct worker *w, const char *line, size_t len)
{
	struct bt_lane *lane = &s->bt.lane[w->id];
	const char *p = json_ws(line, line + len), *v, *err;
	size_t vlen;
	int64_t code = 0;

	if (lane->cur == NULL) {
		warning("worker %d: an answer with no batch in flight: %.*s", w->id,
			(int)(len > 100 ? 100 : len), line);
		return;
	}
	w->deadline = 0;
	if (p >= line + len || *p != '{' || json_skip(p, line + len, &err) == NULL) {
		warning("worker %d: not a JSON object answer: %.*s", w->id, (int)(len > 100 ? 100 : len),
			line);
		batcher_retry(&s->bt, lane, "a bad answer", NULL, -1);
		return;
	}
	if (json_member(p, (size_t)(line + len - p), "status", NULL, &v, &vlen) == 1 &&
	    (!json_parse_i64(v, vlen, &code) || code < 0 || code > 255)) {
		batcher_retry(&s->bt, lane, "a bad \"status\" in the answer", NULL, -1);
		return;
	}
	answer(s, w, lane, (int)code, 0, p, (size_t)(line + len - p));
}

/* --keep-running: act on every whole answer line in the worker's stdout. */
static void
answer_lines(struct sink *s, struct worker *w)
{
	char *nl;

	while ((nl = memchr(w->out.data, '\n', w->out.len)) != NULL) {
		size_t n = (size_t)(nl - w->out.data), rest = w->out.len - n - 1;
		char *line = xstrndup(w->out.data, n);

		memmove(w->out.data, nl + 1, rest);
		buf_setlen(&w->out, rest);
		answer_line(s, w, line, n);
		free(line);
	}
}

/* The handler (or --keep-running's worker) exited with status st. */
static void
run_done(struct sink *s, struct worker *w, int st)
{
	struct bt_lane *lane = &s->bt.lane[w->id];
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1, sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;

	/* What it wrote before exiting is in the pipes still. */
	if (w->out_fd >= 0)
		run_read(s, w, &w->out_fd, false);
	if (w->err_fd >= 0)
		run_read(s, w, &w->err_fd, true);
	err_flush_lines(s, w, true);
	close_fd(&w->in_fd);
	close_fd(&w->out_fd);
	close_fd(&w->err_fd);
	if (s->keep) {
		answer_lines(s, w);
		w->pid = 0;
		if (lane->cur == NULL) {
			if (!cdc_stop && !s->bt.eof)
				warning("worker %d: exited while idle (status %d); restarted with the next batch",
					w->id, code);
			return;
		}
		/* It died with a batch in flight: a new worker gets it again. */
		if (code == 0)
			code = 1;
		answer(s, w, lane, code, sig, "", 0);
		return;
	}
	w->pid = 0;
	answer(s, w, lane, code, sig, w->out.data, w->out.len);
}

/* batcher_ops.poll: reap handlers, feed and read them; no waiting. */
static void
poll_workers(void *arg)
{
	struct sink *s = arg;
	char drain[64];

	while (read(s->chld[0], drain, sizeof(drain)) > 0)
		;
	for (int i = 0; i < s->bt.nlanes; i++) {
		struct worker *w = &s->w[i];
		int st;

		if (w->pid == 0)
			continue;
		if (w->in_fd >= 0 && s->bt.lane[i].cur)
			run_write(w, s->bt.lane[i].cur, s->keep);
		/*
		 * stdout, then stderr, then the answers: what a worker wrote to
		 * stderr before answering is then in its tail (a dead letter's
		 * reason), though the two pipes are read apart.
		 */
		if (w->out_fd >= 0)
			run_read(s, w, &w->out_fd, false);
		if (w->err_fd >= 0)
			run_read(s, w, &w->err_fd, true);
		if (s->keep)
			answer_lines(s, w);
		if (w->deadline && !w->timed_out && mono_ms() >= w->deadline) {
			warning("worker %d: the handler ran over --timeout: killing it", w->id);
			kill(-w->pid, SIGKILL);
			w->timed_out = true;
		}
		if (waitpid(w->pid, &st, WNOHANG) == w->pid)
			run_done(s, w, st);
	}
}

/* batcher_ops.wait: up to t ms for a handler's pipes, a child's exit or (in_fd >= 0) input. */
static bool
wait_workers(void *arg, int t, int in_fd)
{
	struct sink *s = arg;
	struct pollfd p[1 + 1 + 3 * 64];
	int n = 0, in_at = -1;
	int64_t now = mono_ms();

	p[n++] = (struct pollfd){ .fd = s->chld[0], .events = POLLIN };
	if (in_fd >= 0) {
		in_at = n;
		p[n++] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
	}
	for (int i = 0; i < s->bt.nlanes; i++) {
		const struct worker *w = &s->w[i];
		int64_t due = -1;

		if (w->pid == 0)
			continue;
		if (w->in_fd >= 0 && s->bt.lane[i].cur &&
		    w->in_off < s->bt.lane[i].cur->data.len + (s->keep ? 1 : 0))
			p[n++] = (struct pollfd){ .fd = w->in_fd, .events = POLLOUT };
		if (w->out_fd >= 0)
			p[n++] = (struct pollfd){ .fd = w->out_fd, .events = POLLIN };
		if (w->err_fd >= 0)
			p[n++] = (struct pollfd){ .fd = w->err_fd, .events = POLLIN };
		if (w->deadline && !w->timed_out)
			due = w->deadline - now;
		if (w->out_fd < 0 && w->err_fd < 0)
			due = 10;	/* pipes closed: look for its exit now and then */
		if (due >= 0 && due < t)
			t = (int)due;
	}
	if (poll(p, (nfds_t)n, t) < 0 && errno != EINTR)
		die_errno("poll");
	return in_at >= 0 && p[in_at].revents != 0;
}

static const struct batcher_ops exec_ops = {
	.start = run_start,
	.poll = poll_workers,
	.wait = wait_workers,
};

/* --keep-running: the end of input on every worker's stdin (after a signal, SIGTERM too), then wait for them. */
static void
stop_workers(struct sink *s)
{
	for (int i = 0; i < s->bt.nlanes; i++) {
		struct worker *w = &s->w[i];
		int st;

		if (w->pid == 0)
			continue;
		close_fd(&w->in_fd);
		close_fd(&w->out_fd);
		close_fd(&w->err_fd);
		if (cdc_stop)
			kill(-w->pid, SIGTERM);	/* stopping: it has nothing in flight to finish */
		while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
			;
		w->pid = 0;
	}
}

int
main(int argc, char **argv)
{
	struct sink sink = { 0 };
	struct sink *s = &sink;
	struct batcher *bt = &s->bt;
	struct evin_opts io = { 0 };
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	int opt, dd = -1, nfiles, status;

	log_init(argv[0]);
	batcher_defaults(bt);
	bt->ops = &exec_ops;
	bt->arg = s;
	bt->lane_name = "worker";
	bt->unit = "runs";
	bt->unit_help = "Handler runs.";
	bt->refusal = "exit 65";
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	opterr = 0;
	while ((opt = getopt_long(dd >= 0 ? dd : argc, argv, ":c:" CLI_SHORTOPTS, longopts,
				  NULL)) != -1) {
		if (batcher_option(bt, opt, optarg) || evin_option(&io, opt, optarg) ||
		    metrics_option(&bt->m, opt, optarg))
			continue;
		switch (opt) {
		case OPT_PARALLEL:
			bt->nlanes = (int)opt_count("--parallel", optarg, 1, 64);
			break;
		case OPT_KEEP_RUNNING:
			s->keep = true;
			break;
		case OPT_TIMEOUT:
			s->timeout_ms = opt_duration("--timeout", optarg, 1, 24 * 3600 * 1000LL);
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

	batcher_open(bt, "cdc-sink-exec", &io, argv + optind, nfiles);

	s->w = xcalloc((size_t)bt->nlanes, sizeof(*s->w));
	for (int i = 0; i < bt->nlanes; i++) {
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
	info(1, "running %s: batches of %zu, %d worker%s%s%s", s->cmd[0], bt->batch_size,
	     bt->nlanes, bt->nlanes == 1 ? "" : "s",
	     bt->ack.have_start ? ", resuming after checkpoint " : "",
	     bt->ack.have_start ? bt->checkpoint : "");
	status = batcher_run(bt);
	stop_workers(s);
	exit(status);
}
