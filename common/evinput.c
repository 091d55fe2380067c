#include "evinput.h"
#include "json.h"
#include "log.h"
#include "opt.h"
#include "sig.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVIN_MAX_LINE_LIMIT ((uint64_t)1 << 30)

bool
evin_option(struct evin_opts *o, int c, const char *arg)
{
	uint64_t limit = o->max_line_limit ? o->max_line_limit : EVIN_MAX_LINE_LIMIT;
	char lim[32];

	switch (c) {
	case EVIN_OPT_DEAD_LETTER:
		if (*arg == '\0')
			die_usage("empty --dead-letter file name");
		o->dead_letter = arg;
		return true;
	case EVIN_OPT_SKIP_BAD:
		o->skip_bad = true;
		return true;
	case EVIN_OPT_MAX_LINE:
		if (parse_size(arg, 4096, limit, &o->max_line) < 0) {
			if (limit % (1 << 30) == 0)
				snprintf(lim, sizeof(lim), "%lluG", (unsigned long long)(limit >> 30));
			else
				snprintf(lim, sizeof(lim), "%lluM", (unsigned long long)(limit >> 20));
			die_usage("invalid --max-line '%s' (a size from 4K to %s)", arg, lim);
		}
		return true;
	default:
		return false;
	}
}

void
evin_check_options(const struct evin_opts *o)
{
	if (o->dead_letter && o->skip_bad)
		die_usage("--dead-letter and --skip-bad exclude each other");
}

/* --- checking --- */

void
evin_too_long_reason(size_t len, uint64_t max_line, char *out, size_t size)
{
	snprintf(out, size, "line too long (%zu bytes, --max-line is %llu)", len,
		 (unsigned long long)max_line);
}

/* evin_check_line() into the caller's places: evin_next() scans into its line. */
static int
check_line(enum evin_mode mode, bool trusted, const char *line, size_t len, struct event_info *ev,
	   bool *has_ev, char *reason, size_t size)
{
	const char *err;

	if (!trusted) {
		size_t where;
		enum line_problem prob = text_check(line, len, &where);

		if (prob != LINE_OK) {
			text_problem_describe(prob, where, reason, size);
			return -1;
		}
	}
	if (mode == EVIN_EVENTS) {
		if (event_scan(line, len, ev, &err) < 0)
			goto bad;
		*has_ev = true;
	} else {
		if (event_scan_any(line, len, ev, &err) < 0)
			goto bad;
		*has_ev = ev->op.p != NULL;
	}
	return 0;
bad:
	snprintf(reason, size, "%s", err);
	return -1;
}

int
evin_check_line(enum evin_mode mode, bool trusted, const char *line, size_t len,
		struct evin_check *c)
{
	return check_line(mode, trusted, line, len, &c->ev, &c->has_ev, c->reason, sizeof(c->reason));
}

bool
evin_is_cut(const char *text, size_t len)
{
	const char *end = text + len, *p = json_ws(text, end), *err;

	if (p == end)
		return true;
	p = json_skip(p, end, &err);
	return p == NULL || json_ws(p, end) != end;
}

void
evin_report_cut(const char *input, uint64_t bytes, const struct cdc_pos *last)
{
	char pos[POS_BUFSZ];

	error("%s cut off: its last %llu byte%s have no newline and are not a whole JSON value "
	      "(the writer stopped in the middle of a line): ignored%s%s",
	      input ? input : "standard input", (unsigned long long)bytes, bytes == 1 ? "" : "s",
	      last ? "; the last whole event was at position " : "",
	      last ? pos_format(last, pos) : "");
}

/* --- reading --- */

void
evin_open(struct evin *in, const struct evin_opts *o, enum evin_mode mode, char **files,
	  int nfiles)
{
	memset(in, 0, sizeof(*in));
	in->mode = mode;
	in->max_line = o->max_line ? o->max_line : LR_DEFAULT_MAX_LINE;
	in->files = nfiles > 0 ? files : NULL;
	in->nfiles = nfiles > 0 ? nfiles : 1;
	in->fd = -1;
	in->watch_fd = -1;
	for (int i = 0; i < nfiles; i++) {
		int fd;

		if (strcmp(files[i], "-") == 0)
			continue;
		fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			error_errno("cannot open %s", files[i]);
			exit(CDC_EXIT_USAGE);
		}
		close(fd);
	}
	dl_init(&in->dl, o->dead_letter, o->skip_bad);
}

void
evin_set_idle(struct evin *in, void (*fn)(void *), void *arg)
{
	in->idle = fn;
	in->idle_arg = arg;
}

void
evin_set_metrics(struct evin *in, struct metrics *m)
{
	in->metrics = m;
}

/*
 * Add the lines skipped or dead-lettered since the last call to the
 * metrics (the program may count skips of its own there too).
 */
static void
count_bad(struct evin *in)
{
	uint64_t n = in->dl.count - in->dl_counted;

	if (in->dl.policy == BAD_SKIP)
		in->metrics->skipped += n;
	else if (in->dl.policy == BAD_DEADLETTER)
		in->metrics->dead_lettered += n;
	in->dl_counted = in->dl.count;
}

/* Bring the metrics' bad-line counts up to date and let them write. */
static void
tick(struct evin *in)
{
	count_bad(in);
	metrics_tick(in->metrics);
}

/* Before the reader waits: the program's own idle hook, then the metrics. */
static void
on_idle(void *arg)
{
	struct evin *in = arg;

	if (in->idle)
		in->idle(in->idle_arg);
	if (in->metrics)
		tick(in);
}

void
evin_input_ready(struct evin *in)
{
	if (!in->ahead && in->open)
		lr_input_ready(&in->lr);
}

void
evin_watch_output(struct evin *in, int fd)
{
	in->watch_fd = fd;
	if (in->open)
		lr_set_watch(&in->lr, fd);
}

const char *
evin_name(const struct evin *in)
{
	return in->name;
}

/* The name of input i for messages: NULL for standard input. */
static const char *
input_name(const struct evin *in, int i)
{
	const char *f = in->files ? in->files[i] : "-";

	return strcmp(f, "-") == 0 ? NULL : f;
}

/* Messages are about input i from now on. */
static void
set_input(struct evin *in, int i)
{
	in->name = input_name(in, i);
	dl_set_input(&in->dl, in->name);
}

static void ahead_idle(void *arg);

/* Open the input in->cur.  Returns 0, or -1 (reported). */
static int
open_input(struct evin *in)
{
	const char *f = input_name(in, in->cur);

	if (f == NULL) {
		in->fd = STDIN_FILENO;
	} else {
		in->fd = open(f, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0)
			return error_errno("cannot open %s", f);
	}
	lr_init(&in->lr, in->fd, (size_t)in->max_line);
	lr_set_idle(&in->lr, in->ahead ? ahead_idle : on_idle, in);
	lr_set_watch(&in->lr, in->watch_fd);
	if (!in->ahead)
		set_input(in, in->cur);
	in->open = true;
	return 0;
}

static void
close_input(struct evin *in)
{
	lr_free(&in->lr);
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	in->fd = -1;
	in->open = false;
}

/* Bad line lineno (or its first bytes, when truncated is its full length) under the policy. */
static enum evin_status
bad(struct evin *in, uint64_t lineno, const char *reason, const char *line, size_t len,
    size_t truncated)
{
	if (dl_bad_line(&in->dl, lineno, NULL, reason, line, len, truncated, NULL) < 0)
		return EVIN_BAD;
	return EVIN_LINE;	/* handled: read on */
}

/* Count good line l, about to be returned: its position, the metrics. */
static void
took_line(struct evin *in, struct evin_line *l)
{
	if (l->has_ev && l->ev.has_pos) {
		in->last_pos = l->ev.pos;
		in->have_pos = true;
	}
	in->lines++;
	if (in->metrics) {
		metrics_event_in(in->metrics, l->has_ev ? &l->ev : NULL, l->len + l->nl);
		if ((in->lines & 4095) == 0)
			tick(in);
	}
}

static enum evin_status ahead_next(struct evin *in, struct evin_line *l);

/*
 * The next line of the inputs, opened in turn: EVIN_LINE with the line
 * (*st LR_OK, or LR_TOO_LONG with its first bytes) and whether a '\n'
 * ended it; EVIN_CUT for a cut-off end (*len its length, not reported);
 * EVIN_EOF, EVIN_INTR, EVIN_OUTPUT_CLOSED, or EVIN_ERROR (reported).
 */
static enum evin_status
raw_next(struct evin *in, const char **line, size_t *len, enum lr_status *st, bool *nl)
{
	for (;;) {
		if (!in->open) {
			if (in->cur >= in->nfiles)
				return EVIN_EOF;
			if (open_input(in) < 0)
				return EVIN_ERROR;
		}
		*st = lr_next(&in->lr, line, len);
		switch (*st) {
		case LR_EOF:
			close_input(in);
			in->cur++;
			continue;
		case LR_INTR:
			return EVIN_INTR;
		case LR_ERROR: {
			const char *f = input_name(in, in->cur);

			error_errno("read error on %s", f ? f : "standard input");
			return EVIN_ERROR;
		}
		case LR_OUTPUT_CLOSED:
			return EVIN_OUTPUT_CLOSED;
		case LR_OK:
		case LR_TOO_LONG:
			break;
		}
		*nl = in->lr.consumed - in->lr.offset > *len;
		if (!*nl && (*st == LR_TOO_LONG || evin_is_cut(*line, *len)))
			return EVIN_CUT;
		return EVIN_LINE;
	}
}

enum evin_status
evin_next(struct evin *in, struct evin_line *l)
{
	if (in->ahead)
		return ahead_next(in, l);
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status lst;
		bool nl;
		char reason[sizeof(((struct evin_check *)0)->reason)];
		enum evin_status st = raw_next(in, &line, &len, &lst, &nl);

		if (st == EVIN_CUT)
			evin_report_cut(in->name, len, in->have_pos ? &in->last_pos : NULL);
		if (st != EVIN_LINE)
			return st;
		if (lst == LR_TOO_LONG) {
			evin_too_long_reason(len, in->max_line, reason, sizeof(reason));
			if (bad(in, in->lr.lineno, reason, line, len < LR_PREFIX ? len : LR_PREFIX, len) ==
			    EVIN_BAD)
				return EVIN_BAD;
			continue;
		}
		if (check_line(in->mode, false, line, len, &l->ev, &l->has_ev, reason, sizeof(reason)) < 0) {
			if (bad(in, in->lr.lineno, reason, line, len, 0) == EVIN_BAD)
				return EVIN_BAD;
			continue;
		}
		l->text = line;
		l->len = len;
		l->nl = nl;
		l->lineno = in->lr.lineno;
		l->read_ms = in->lr.read_ms;
		took_line(in, l);
		return EVIN_LINE;
	}
}

/* --- read-ahead --- */

/*
 * The reader thread fills blocks with records, in input order, and hands
 * each over through a pipe of block numbers; the program hands a block
 * back through another once it has taken every record.  The pipes are
 * the only shared state: a block belongs to one thread at a time.
 */
#define AHEAD_BLOCKS 4
#define AHEAD_LINES 2048		/* records in a block */
#define AHEAD_BYTES ((size_t)1 << 20)	/* bytes in a block, unless one line needs more */

enum rec_kind {
	REC_LINE,		/* a good line */
	REC_BAD,		/* a bad one: its bytes, then its reason */
	REC_TOO_LONG,		/* over --max-line: its first bytes */
	REC_END,		/* the end: raw_next()'s status in end; nothing follows */
};

struct rec {
	enum rec_kind kind;
	enum evin_status end;	/* REC_END */
	bool nl, has_ev;
	int input;		/* the input it came from (in->files' index) */
	size_t off, len;	/* the line's bytes in the block */
	size_t full;		/* REC_TOO_LONG, a cut-off REC_END: the line's whole length */
	uint64_t lineno;
	int64_t read_ms;
	struct event_info ev;	/* REC_LINE: its spans point into the block */
};

struct block {
	struct rec *recs;
	int n;
	char *buf;
	size_t used, cap;
};

struct evin_ahead {
	pthread_t thread;
	int ready[2];		/* block numbers, reader to program */
	int back[2];		/* block numbers, program to reader */
	struct block blocks[AHEAD_BLOCKS];
	struct block *fill;	/* the reader's */
	struct block *cur;	/* the program's */
	int next;		/* the program's next record in cur */
	int input;		/* the program's current input (in->name) */
	bool ended;		/* the program has seen REC_END */
};

static void
pipe_put(int fd, struct block *blocks, struct block *b)
{
	unsigned char i = (unsigned char)(b - blocks);

	atomic_thread_fence(memory_order_release);
	while (write(fd, &i, 1) != 1)
		if (errno != EINTR)
			die_errno("read-ahead: write");
}

/* The next block number from fd; NULL when fd is non-blocking and has none. */
static struct block *
pipe_get(int fd, struct block *blocks)
{
	unsigned char i;
	ssize_t n;

	while ((n = read(fd, &i, 1)) != 1) {
		if (n < 0 && errno == EAGAIN)
			return NULL;
		if (n == 0 || errno != EINTR)
			die_errno("read-ahead: read");
	}
	atomic_thread_fence(memory_order_acquire);
	return &blocks[i];
}

/* Reader: hand the block being filled over (if it holds anything), then wait for an empty one. */
static void
send_block(struct evin *in)
{
	struct evin_ahead *a = in->ahead;
	struct block *b;

	if (a->fill->n == 0)
		return;
	pipe_put(a->ready[1], a->blocks, a->fill);
	b = pipe_get(a->back[0], a->blocks);
	if (b->cap > 4 * AHEAD_BYTES) {
		/* A block that grew for a huge line goes back to its usual size. */
		b->cap = AHEAD_BYTES;
		b->buf = xrealloc(b->buf, b->cap);
	}
	b->n = 0;
	b->used = 0;
	a->fill = b;
}

/* Reader: the input would block: what is read so far goes over now. */
static void
ahead_idle(void *arg)
{
	send_block(arg);
}

/* Reader: a new record holding bytes[0..len) and extra more bytes of room after them. */
static struct rec *
add_rec(struct evin *in, enum rec_kind kind, const char *bytes, size_t len, size_t extra)
{
	struct block *b = in->ahead->fill;
	struct rec *r;

	if (b->n == AHEAD_LINES || (b->n > 0 && len + extra > b->cap - b->used)) {
		send_block(in);
		b = in->ahead->fill;
	}
	if (len + extra > b->cap - b->used) {
		/* Alone in its block: nothing points into the buffer yet. */
		b->cap = b->used + len + extra;
		b->buf = xrealloc(b->buf, b->cap);
	}
	r = &b->recs[b->n++];
	r->kind = kind;
	r->input = in->cur;
	r->off = b->used;
	r->len = len;
	r->nl = false;
	r->lineno = in->lr.lineno;
	if (len)
		memcpy(b->buf + b->used, bytes, len);
	b->used += len;
	return r;
}

/* Reader: the lines of every input, checked as evin_next() does, into blocks. */
static void *
ahead_main(void *arg)
{
	struct evin *in = arg;
	struct evin_ahead *a = in->ahead;
	enum evin_status st;
	struct rec *r;
	size_t len;

	for (;;) {
		const char *line;
		enum lr_status lst;
		bool nl;
		char reason[sizeof(((struct evin_check *)0)->reason)];
		struct block *b;

		st = raw_next(in, &line, &len, &lst, &nl);
		if (st == EVIN_INTR && !cdc_stop)
			continue;
		if (st != EVIN_LINE)
			break;
		if (lst == LR_TOO_LONG) {
			r = add_rec(in, REC_TOO_LONG, line, len < LR_PREFIX ? len : LR_PREFIX, 0);
			r->full = len;
			continue;
		}
		r = add_rec(in, REC_LINE, line, len, 0);
		b = a->fill;
		r->nl = nl;
		r->read_ms = in->lr.read_ms;
		if (check_line(in->mode, false, b->buf + r->off, len, &r->ev, &r->has_ev, reason,
			       sizeof(reason)) < 0) {
			size_t n = strlen(reason) + 1;

			r->kind = REC_BAD;
			if (n > b->cap - b->used) {
				/* Its reason does not fit: the line again, with room for it. */
				b->n--;
				b->used = r->off;
				r = add_rec(in, REC_BAD, line, len, n);
				b = a->fill;
			}
			memcpy(b->buf + b->used, reason, n);
			b->used += n;
		}
	}
	r = add_rec(in, REC_END, NULL, 0, 0);
	r->end = st;
	r->full = st == EVIN_CUT ? len : 0;
	pipe_put(a->ready[1], a->blocks, a->fill);
	return NULL;
}

void
evin_read_ahead(struct evin *in)
{
	struct evin_ahead *a = xcalloc(1, sizeof(*a));
	sigset_t all, old;
	int e;

	if (pipe(a->ready) < 0 || pipe(a->back) < 0)
		die_errno("pipe");
	fcntl(a->ready[0], F_SETFL, O_NONBLOCK);
	fcntl(a->ready[0], F_SETFD, FD_CLOEXEC);
	fcntl(a->ready[1], F_SETFD, FD_CLOEXEC);
	fcntl(a->back[0], F_SETFD, FD_CLOEXEC);
	fcntl(a->back[1], F_SETFD, FD_CLOEXEC);
	for (int i = 0; i < AHEAD_BLOCKS; i++) {
		a->blocks[i].recs = xmalloc(AHEAD_LINES * sizeof(*a->blocks[i].recs));
		a->blocks[i].cap = AHEAD_BYTES;
		a->blocks[i].buf = xmalloc(AHEAD_BYTES);
		if (i > 0)
			pipe_put(a->back[1], a->blocks, &a->blocks[i]);
	}
	a->fill = &a->blocks[0];
	a->input = -1;
	in->ahead = a;
	/* Signals are the program thread's: the reader blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&a->thread, NULL, ahead_main, in);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		errno = e;
		die_errno("read-ahead thread");
	}
}

int
evin_wait_fd(const struct evin *in)
{
	return in->ahead ? in->ahead->ready[0] : in->fd;
}

/* evin_next() with a reader thread: the program's half. */
static enum evin_status
ahead_next(struct evin *in, struct evin_line *l)
{
	struct evin_ahead *a = in->ahead;
	char reason[sizeof(((struct evin_check *)0)->reason)];

	for (;;) {
		const struct rec *r;
		const char *text;

		if (a->cur == NULL) {
			if ((a->cur = pipe_get(a->ready[0], a->blocks)) != NULL) {
				a->next = 0;
				continue;
			}
			/* Nothing read yet: the input is quiet, or the reader is busy. */
			on_idle(in);
			if (sig_wait_readable(a->ready[0]) < 0)
				return EVIN_INTR;
			continue;
		}
		if (a->next == a->cur->n) {
			pipe_put(a->back[1], a->blocks, a->cur);
			a->cur = NULL;
			continue;
		}
		r = &a->cur->recs[a->next++];
		text = a->cur->buf + r->off;
		if (r->input != a->input && r->input < in->nfiles) {	/* not the end past the last */
			a->input = r->input;
			set_input(in, r->input);
		}
		switch (r->kind) {
		case REC_LINE:
			l->text = text;
			l->len = r->len;
			l->nl = r->nl;
			l->lineno = r->lineno;
			l->read_ms = r->read_ms;
			l->ev = r->ev;
			l->has_ev = r->has_ev;
			took_line(in, l);
			return EVIN_LINE;
		case REC_BAD:
			if (bad(in, r->lineno, text + r->len, text, r->len, 0) == EVIN_BAD)
				return EVIN_BAD;
			continue;
		case REC_TOO_LONG:
			evin_too_long_reason(r->full, in->max_line, reason, sizeof(reason));
			if (bad(in, r->lineno, reason, text, r->len, r->full) == EVIN_BAD)
				return EVIN_BAD;
			continue;
		case REC_END:
			a->next--;	/* every later call ends the same way, said once */
			if (r->end == EVIN_CUT && !a->ended)
				evin_report_cut(in->name, r->full, in->have_pos ? &in->last_pos : NULL);
			a->ended = true;
			return r->end;
		}
	}
}

int
evin_reject(struct evin *in, const struct evin_line *l, const char *reason)
{
	const struct cdc_pos *pos = l->has_ev && l->ev.has_pos ? &l->ev.pos : NULL;

	return dl_bad_line(&in->dl, l->lineno, pos, reason, l->text, l->len, 0, NULL);
}

void
evin_close(struct evin *in)
{
	struct evin_ahead *a = in->ahead;

	if (a) {
		/* The reader may wait for input or for a block: it stops at either. */
		pthread_cancel(a->thread);
		pthread_join(a->thread, NULL);
		for (int i = 0; i < AHEAD_BLOCKS; i++) {
			free(a->blocks[i].recs);
			free(a->blocks[i].buf);
		}
		close(a->ready[0]);
		close(a->ready[1]);
		close(a->back[0]);
		close(a->back[1]);
		free(a);
		in->ahead = NULL;
	}
	if (in->open)
		close_input(in);
	if (in->metrics)
		count_bad(in);
	dl_finish(&in->dl);
}

int
evin_exit_status(enum evin_status st)
{
	switch (st) {
	case EVIN_BAD:
		return CDC_EXIT_DATAERR;
	case EVIN_CUT:
		return CDC_EXIT_TEMPFAIL;
	case EVIN_ERROR:
		return CDC_EXIT_FAILURE;
	case EVIN_OUTPUT_CLOSED:
		return CDC_EXIT_PIPE;
	default:
		return CDC_EXIT_OK;
	}
}

int
evin_loop(struct evin *in, void (*handle)(void *, const struct evin_line *),
	  void (*every)(void *), const int *fatal, void *arg)
{
	for (unsigned since = 0;;) {
		struct evin_line l;
		enum evin_status st = evin_next(in, &l);

		if (*fatal)
			return *fatal;
		if (st == EVIN_INTR) {
			if (cdc_stop)
				return CDC_EXIT_OK;
			continue;
		}
		if (st != EVIN_LINE)
			return evin_exit_status(st);
		handle(arg, &l);
		if (*fatal)
			return *fatal;
		if (cdc_stop)
			return CDC_EXIT_OK;
		if (++since >= 64 && every) {
			since = 0;
			every(arg);
		}
	}
}
