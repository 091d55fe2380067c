#include "evinput.h"
#include "json.h"
#include "log.h"
#include "opt.h"
#include "sig.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
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
	if (in->open)
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

/* Open the input in->cur.  Returns 0, or -1 (reported). */
static int
open_input(struct evin *in)
{
	const char *f = in->files ? in->files[in->cur] : "-";

	if (strcmp(f, "-") == 0) {
		in->fd = STDIN_FILENO;
		in->name = NULL;
	} else {
		in->fd = open(f, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0)
			return error_errno("cannot open %s", f);
		in->name = f;
	}
	lr_init(&in->lr, in->fd, (size_t)in->max_line);
	lr_set_idle(&in->lr, on_idle, in);
	lr_set_watch(&in->lr, in->watch_fd);
	dl_set_input(&in->dl, in->name);
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

/* A bad line (or its first bytes, when truncated is its full length) under the policy. */
static enum evin_status
bad(struct evin *in, const struct cdc_pos *pos, const char *reason, const char *line, size_t len,
    size_t truncated)
{
	if (dl_bad_line(&in->dl, in->lr.lineno, pos, reason, line, len, truncated, NULL) < 0)
		return EVIN_BAD;
	return EVIN_LINE;	/* handled: read on */
}

enum evin_status
evin_next(struct evin *in, struct evin_line *l)
{
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st;
		bool nl;
		char reason[sizeof(((struct evin_check *)0)->reason)];

		if (!in->open) {
			if (in->cur >= in->nfiles)
				return EVIN_EOF;
			if (open_input(in) < 0)
				return EVIN_ERROR;
		}
		st = lr_next(&in->lr, &line, &len);
		switch (st) {
		case LR_EOF:
			close_input(in);
			in->cur++;
			continue;
		case LR_INTR:
			return EVIN_INTR;
		case LR_ERROR:
			error_errno("read error on %s", in->name ? in->name : "standard input");
			return EVIN_ERROR;
		case LR_OUTPUT_CLOSED:
			return EVIN_OUTPUT_CLOSED;
		case LR_OK:
		case LR_TOO_LONG:
			break;
		}
		nl = in->lr.consumed - in->lr.offset > len;
		if (!nl && (st == LR_TOO_LONG || evin_is_cut(line, len))) {
			evin_report_cut(in->name, len, in->have_pos ? &in->last_pos : NULL);
			return EVIN_CUT;
		}
		if (st == LR_TOO_LONG) {
			evin_too_long_reason(len, in->max_line, reason, sizeof(reason));
			if (bad(in, NULL, reason, line, len < LR_PREFIX ? len : LR_PREFIX, len) == EVIN_BAD)
				return EVIN_BAD;
			continue;
		}
		if (check_line(in->mode, false, line, len, &l->ev, &l->has_ev, reason, sizeof(reason)) < 0) {
			if (bad(in, NULL, reason, line, len, 0) == EVIN_BAD)
				return EVIN_BAD;
			continue;
		}
		l->text = line;
		l->len = len;
		l->nl = nl;
		l->lineno = in->lr.lineno;
		l->read_ms = in->lr.read_ms;
		if (l->has_ev && l->ev.has_pos) {
			in->last_pos = l->ev.pos;
			in->have_pos = true;
		}
		in->lines++;
		if (in->metrics) {
			metrics_event_in(in->metrics, l->has_ev ? &l->ev : NULL, len + nl);
			if ((in->lines & 4095) == 0)
				tick(in);
		}
		return EVIN_LINE;
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
