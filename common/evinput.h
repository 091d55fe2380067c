/*
 * evinput.h: the event input of every program that reads events.
 *
 * An evin reads newline-delimited input from files named on the command
 * line ("-" or none: standard input) and returns only good lines.  Each
 * line is checked in one place, with one wording per problem:
 *
 *   - longer than --max-line: "line too long (N bytes, --max-line is M)";
 *   - a NUL byte or invalid UTF-8 (text.h);
 *   - not an event: not one JSON object, no string "op", a wrongly typed
 *     envelope member (event.h).  In EVIN_OBJECTS mode (cdc-record,
 *     cdc-replay) any JSON object passes.
 *
 * A bad line goes to the bad-input policy (deadletter.h): --skip-bad,
 * --dead-letter FILE, or stop (the default: the message names the file,
 * line and reason; evin_next() returns EVIN_BAD and the caller, after
 * flushing what came before, exits CDC_EXIT_DATAERR).
 *
 * The framing rule (cdc-events(7)): the last line of an input that has no
 * '\n' and is not a complete JSON value is what a writer killed in the
 * middle of a line leaves behind.  It is not bad data: the writer sends
 * the whole event again after its restart, because nothing acknowledged
 * it.  evin_next() returns EVIN_CUT for it, having said so on stderr
 * (its size and the last whole event's position); nothing is emitted,
 * dead-lettered or checkpointed for it; the caller flushes and
 * checkpoints what came before and exits CDC_EXIT_TEMPFAIL.  A complete
 * JSON value without its '\n' is an ordinary last line.
 *
 * Options: a program lists EVIN_OPTIONS in its option table and
 * EVIN_HELP in its --help, and passes every option value to
 * evin_option() before its own switch.
 *
 * The evin owns its line reader and dead-letter file; evin_close()
 * releases them.  Lines it returns point into its buffer, valid until the
 * next call.
 *
 * Read-ahead (evin_read_ahead()): a second thread reads and checks the
 * lines, a block of them at a time, while the program works on the
 * previous block; the checks of a line (text_check(), event_scan()) are
 * most of a sink's own work.  Everything else stays on the program's
 * thread, in input order: the bad-input policy, the cut-off report, the
 * metrics.  A block is handed over when it is full or when the input has
 * nothing more at once, so a quiet input is no slower.  The program's
 * idle hook then waits on evin_wait_fd() instead of the input.
 */
#ifndef CDC_EVINPUT_H
#define CDC_EVINPUT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadletter.h"
#include "event.h"
#include "linereader.h"
#include "lsn.h"
#include "metrics.h"

/* Option values (above any program's own). */
enum {
	EVIN_OPT_DEAD_LETTER = 0x4000,
	EVIN_OPT_SKIP_BAD,
	EVIN_OPT_MAX_LINE,
};

#define EVIN_OPTIONS \
	{ "dead-letter", required_argument, NULL, EVIN_OPT_DEAD_LETTER }, \
	{ "skip-bad", no_argument, NULL, EVIN_OPT_SKIP_BAD }, \
	{ "max-line", required_argument, NULL, EVIN_OPT_MAX_LINE }

#define EVIN_HELP \
	"Bad input:\n" \
	"      --dead-letter FILE       append bad lines to FILE and go on\n" \
	"      --skip-bad               skip bad lines and go on\n" \
	"      --max-line SIZE          longest line accepted (default 64M)\n"

enum evin_mode {
	EVIN_EVENTS,		/* change events: an object with a string "op" */
	EVIN_OBJECTS,		/* any JSON object (record, replay) */
};

struct evin_opts {
	const char *dead_letter;
	bool skip_bad;
	uint64_t max_line;	/* 0: LR_DEFAULT_MAX_LINE */
	uint64_t max_line_limit; /* the largest --max-line the program takes (0: 1G) */
};

/*
 * Take option c with argument arg if it is one of EVIN_OPTIONS: returns
 * true (dies with exit 2 on a bad value), false for any other option.
 */
bool evin_option(struct evin_opts *o, int c, const char *arg);
/* Refuse options that exclude each other (exit 2). */
void evin_check_options(const struct evin_opts *o);

/* --- checking one line (also for readers that split lines themselves) --- */

struct evin_check {
	struct event_info ev;	/* valid after a good line */
	bool has_ev;		/* false for an object without "op" (EVIN_OBJECTS) */
	char reason[160];	/* why a line is bad */
};

/*
 * Check a whole line (without its '\n'): its bytes unless trusted (a
 * cdc-record log checked them when it was written), then its shape.
 * Returns 0 when good, -1 with c->reason set when bad.
 */
int evin_check_line(enum evin_mode mode, bool trusted, const char *line, size_t len,
		    struct evin_check *c);
/* The reason for a line over the limit: "line too long (N bytes, --max-line is M)". */
void evin_too_long_reason(size_t len, uint64_t max_line, char *out, size_t size);
/*
 * Is text, the last bytes of an input with no '\n' after them, cut off:
 * not one complete JSON value?  (Whitespace around a value is fine.)
 */
bool evin_is_cut(const char *text, size_t len);
/*
 * Report a cut-off end of input on stderr: how many bytes, and the last
 * whole event's position (NULL when none came).
 */
void evin_report_cut(const char *input, uint64_t bytes, const struct cdc_pos *last);

/* --- reading --- */

enum evin_status {
	EVIN_LINE,		/* a good line */
	EVIN_EOF,		/* every input read */
	EVIN_INTR,		/* a signal interrupted the read: look at the flags, call again */
	EVIN_BAD,		/* a bad line under the stop policy (reported): exit 65 */
	EVIN_CUT,		/* the input was cut off (reported): exit 75 */
	EVIN_ERROR,		/* a read error (reported): exit 1 */
	EVIN_OUTPUT_CLOSED,	/* the watched output's reader went away: exit CDC_EXIT_PIPE */
};

struct evin_line {
	const char *text;	/* the line without its '\n' */
	size_t len;
	bool nl;		/* it ended with '\n' (only a last line may not) */
	uint64_t lineno;	/* in its input, from 1 */
	int64_t read_ms;	/* mono_ms() when its last bytes were read (or later) */
	struct event_info ev;	/* what event_scan() found */
	bool has_ev;		/* false for an object without "op" (EVIN_OBJECTS) */
};

struct evin_ahead;

struct evin {
	enum evin_mode mode;
	uint64_t max_line;
	struct deadletter dl;
	struct linereader lr;
	char **files;		/* the inputs; NULL: standard input */
	int nfiles, cur;
	int fd;
	const char *name;	/* the current input for messages: NULL for standard input */
	bool open;
	void (*idle)(void *);
	void *idle_arg;
	int watch_fd;
	bool have_pos;		/* a good event with a position came */
	struct cdc_pos last_pos;
	uint64_t lines;		/* good lines returned */
	struct metrics *metrics;	/* counts what is read (evin_set_metrics) */
	uint64_t dl_counted;	/* dl.count already added to metrics */
	struct evin_ahead *ahead;	/* the read-ahead thread's state (evin_read_ahead) */
};

/*
 * Set up the input: files[0..nfiles) in order ("-" is standard input; no
 * files: standard input alone), the bad-input policy from o (opens the
 * dead-letter file: dies if it cannot).  Every named file is opened once
 * here to fail early (exit 2 when one cannot be read).
 */
void evin_open(struct evin *in, const struct evin_opts *o, enum evin_mode mode, char **files,
	       int nfiles);
/* Call fn(arg) before any read that would block (where programs flush). */
void evin_set_idle(struct evin *in, void (*fn)(void *), void *arg);
/* Said by an idle hook that waited for the input and saw it readable (lr_input_ready()). */
void evin_input_ready(struct evin *in);
/*
 * While waiting for input, watch output fd (standard output, the pipe to
 * the next stage): when the next stage is gone, evin_next() returns
 * EVIN_OUTPUT_CLOSED at once, even when no input comes.
 */
void evin_watch_output(struct evin *in, int fd);
/*
 * Count what is read in m: every good line (metrics_event_in()), the bad
 * ones skipped or dead-lettered; m is ticked (metrics_tick()) as lines
 * come and before the input is waited for.
 */
void evin_set_metrics(struct evin *in, struct metrics *m);
/*
 * Read and check lines on a second thread from now on (see above); call
 * after evin_set_idle(), before the first evin_next().  Not with
 * evin_watch_output() or evin_input_ready(): for sinks.  The thread owns
 * lr, fd, cur and open from then on; evin_close() stops it first.
 */
void evin_read_ahead(struct evin *in);
/* What an idle hook waits on for more input: the input, or the read-ahead's hand-over. */
int evin_wait_fd(const struct evin *in);
/* The next good line; see the statuses above. */
enum evin_status evin_next(struct evin *in, struct evin_line *l);
/* The exit status that ends a program on st (0 for EVIN_EOF; not for EVIN_LINE or EVIN_INTR). */
int evin_exit_status(enum evin_status st);
/* The current input's name for messages and jq's input_filename: NULL for standard input. */
const char *evin_name(const struct evin *in);
/*
 * A good line the program cannot process after all (a jq error, say):
 * the bad-input policy decides.  Returns 0 to go on, -1 to stop (the
 * message is printed; the caller exits CDC_EXIT_DATAERR).
 */
int evin_reject(struct evin *in, const struct evin_line *l, const char *reason);
/*
 * The input loop of a sink: hand every good line to handle(arg, line),
 * call every(arg) (may be NULL) every 64 lines.  Returns the status to
 * finish with: *fatal as soon as it is set (by handle, every or the idle
 * hook), 0 after a signal (cdc_stop), or evin_exit_status() at the end of
 * input or on a bad, cut or unreadable line.
 */
int evin_loop(struct evin *in, void (*handle)(void *, const struct evin_line *),
	      void (*every)(void *), const int *fatal, void *arg);
/* Report the dead-letter/skip count, close the dead-letter file, free the reader. */
void evin_close(struct evin *in);

#endif
