/*
 * cdc-map: rewrite change events with a jq program.  Each event in gives
 * zero or more JSON values out, one per line, as `jq -c` would print them;
 * with --doc the program rewrites only the row images (after, before) and
 * the rest of the event line is kept byte for byte, so keys and positions
 * (the sink's checkpoints) never change.
 *
 * libjq 1.6 holds numbers as doubles.  An event with a number a double
 * cannot give back unchanged goes to the bad-input policy, unless
 * --lossy-numbers.  Control events pass untouched unless --drop-control.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "evinput.h"
#include "jqprog.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "writer.h"

static const char usage_text[] =
	"Usage: cdc-map [OPTION]... PROGRAM [FILE]...\n"
	"       cdc-map [OPTION]... -f PROGFILE [FILE]...\n"
	"Run the jq PROGRAM on each change event (NDJSON, from the FILEs in turn or\n"
	"standard input) and write its outputs, one JSON value per line.\n"
	"\n"
	"Mapping:\n"
	"  -f, --from-file PROGFILE     read PROGRAM from PROGFILE\n"
	"      --doc                    run PROGRAM on the row images (after, and before\n"
	"                               when not null) and keep the rest of the event\n"
	"      --lossy-numbers          accept numbers libjq rounds (integers beyond 2^53,\n"
	"                               more than 17 digits) instead of rejecting the event\n"
	"      --drop-control           drop control events instead of passing them\n"
	"\n"
	"jq:\n"
	"      --arg NAME VALUE         bind $NAME to the string VALUE\n"
	"      --argjson NAME JSON      bind $NAME to the JSON value\n"
	"      --slurpfile NAME FILE    bind $NAME to an array of the JSON values in FILE\n"
	"      --rawfile NAME FILE      bind $NAME to the text of FILE\n"
	"  -L, --library-path DIR       search DIR for jq modules first\n"
	"      --allow-env              let PROGRAM read the environment ($ENV, env)\n"
	"\n"
	EVIN_HELP
	"\n"
	"Output:\n"
	METRICS_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_DOC = 256, OPT_LOSSY, OPT_DROP_CONTROL,
};

#define SHORTOPTS ":" JQP_SHORTOPTS CLI_SHORTOPTS

static const struct option options[] = {
	/* mapping */
	{ "doc", no_argument, NULL, OPT_DOC },
	{ "lossy-numbers", no_argument, NULL, OPT_LOSSY },
	{ "drop-control", no_argument, NULL, OPT_DROP_CONTROL },
	/* jq: -f, --arg and friends, -L, --allow-env */
	JQP_OPTIONS,
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

/*
 * An event's outputs wait in memory until the event is done; beyond this
 * they wait in a temporary file (a failed event writes nothing).
 */
#define EVENT_OUTPUT_CAP ((size_t)64 << 20)

struct map {
	struct jqprog jq;
	bool doc;
	bool drop_control;
	struct evin in;
	struct writer w;
	struct metrics metrics;
	struct buf out;		/* this event's output */
	FILE *spool;		/* its output beyond EVENT_OUTPUT_CAP, or NULL */
	bool spooled;		/* the spool holds some of this event's output */
	char reason[200];	/* why the event failed */
	bool halted;		/* the program called halt or halt_error */
	int halt_status;
	uint64_t events, values;
};

static void
flush_output(void *arg)
{
	wr_flush(arg);
}

/* Queue output; a failed write is sticky in m->w.err (checked by the loop). */
static void
emit(struct map *m, const void *data, size_t len)
{
	if (len > 0)
		wr_write(&m->w, data, len);
}

/*
 * The program called halt or halt_error: print its message, keep its exit
 * status; the loop stops after this event.  The outputs the event gave
 * before the halt go out (as with jq), except under --doc, where the
 * half-built event line is dropped.
 */
static int
halt(struct map *m)
{
	m->halted = true;
	m->halt_status = jqp_halt_status(&m->jq);
	return 1;
}

/*
 * Build the jv of text (a validated JSON value) for the program.  Returns
 * 0, or -1 with m->reason set when it holds a number libjq would change.
 */
static int
build(struct map *m, const char *text, size_t len, size_t base, jv *out)
{
	*out = jqp_parse(&m->jq, text, len);
	if (!jv_is_valid(*out)) {
		jv_free(*out);
		snprintf(m->reason, sizeof(m->reason), "cannot convert the event for jq");
		return -1;
	}
	if (m->jq.inexact) {
		jv_free(*out);
		snprintf(m->reason, sizeof(m->reason),
			 "number at byte %zu cannot be held exactly by libjq (a double); "
			 "--lossy-numbers accepts it rounded",
			 base + m->jq.inexact_at + 1);
		return -1;
	}
	return 0;
}

/* jq's error as the reason for the bad-input policy. */
static int
jq_failed(struct map *m)
{
	snprintf(m->reason, sizeof(m->reason), "jq: %.180s", jqp_error(&m->jq));
	return -1;
}

/* Move m->out to the spool file. */
static void
spool_output(struct map *m)
{
	if (m->spool == NULL && (m->spool = tmpfile()) == NULL)
		die_status(CDC_EXIT_TEMPFAIL, "cannot create a temporary file for an event's outputs: %s",
			   strerror(errno));
	if (fwrite(m->out.data, 1, m->out.len, m->spool) != m->out.len)
		die_status(CDC_EXIT_TEMPFAIL, "cannot write an event's outputs to a temporary file: %s",
			   strerror(errno));
	m->spooled = true;
	buf_reset(&m->out);
}

/* The event is done: its spooled output goes out (keep) or away. */
static void
end_spool(struct map *m, bool keep)
{
	char chunk[65536];
	size_t n;

	if (!m->spooled)
		return;
	m->spooled = false;
	if (keep) {
		if (fflush(m->spool) != 0 || fseek(m->spool, 0, SEEK_SET) != 0)
			die_status(CDC_EXIT_TEMPFAIL, "cannot read back an event's outputs: %s",
				   strerror(errno));
		while ((n = fread(chunk, 1, sizeof(chunk), m->spool)) > 0)
			emit(m, chunk, n);
		if (ferror(m->spool))
			die_status(CDC_EXIT_TEMPFAIL, "cannot read back an event's outputs: %s",
				   strerror(errno));
	}
	rewind(m->spool);
	if (ftruncate(fileno(m->spool), 0) != 0)
		die_status(CDC_EXIT_TEMPFAIL, "cannot empty the temporary file: %s", strerror(errno));
}

/* An output too deep to print (jqp_print()) fails the event. */
static int
too_deep(struct map *m)
{
	snprintf(m->reason, sizeof(m->reason),
		 "an output nests arrays or objects deeper than %d levels", JQP_PRINT_DEPTH);
	return -1;
}

/*
 * Whole-event mode: every output of the program, one per line, into m->out.
 * Returns 0, 1 after a halt, or -1 with m->reason set.
 */
static int
map_event(struct map *m, const char *line, size_t len)
{
	jv in, v;
	int r = jqp_fast(&m->jq, line, len, &m->out);

	if (r >= 0) {
		/* run on the text itself, as libjq would have */
		if (r > 0) {
			buf_addc(&m->out, '\n');
			m->values++;
		}
		return 0;
	}
	if (build(m, line, len, 0, &in) < 0)
		return -1;
	jqp_start(&m->jq, in);
	for (;;) {
		switch (jqp_next(&m->jq, &v)) {
		case JQP_VALUE:
			if (jqp_print(&m->jq, &m->out, v) < 0) {
				jv_free(v);
				return too_deep(m);
			}
			buf_addc(&m->out, '\n');
			jv_free(v);
			m->values++;
			if (m->out.len > EVENT_OUTPUT_CAP)
				spool_output(m);
			break;
		case JQP_DONE:
			return 0;
		case JQP_HALT:
			return halt(m);
		case JQP_ERROR:
		default:
			return jq_failed(m);
		}
	}
}

/*
 * Run the program on one row image (raw JSON text at offset base of the
 * line) and append its single result to m->out.  Returns 1 when it gave
 * one value, 0 when none, 2 after a halt, -1 with m->reason set on an
 * error or when it gave more than one.
 */
static int
map_image(struct map *m, const char *what, const char *text, size_t len, size_t base)
{
	jv in, v, extra;
	enum jqp_status st;
	int r = jqp_fast(&m->jq, text, len, &m->out);

	if (r >= 0)
		return r;	/* run on the text itself: one value or none */
	if (build(m, text, len, base, &in) < 0)
		return -1;
	jqp_start(&m->jq, in);
	st = jqp_next(&m->jq, &v);
	if (st == JQP_HALT)
		return halt(m) + 1;
	if (st == JQP_ERROR)
		return jq_failed(m);
	if (st == JQP_DONE)
		return 0;
	switch (jqp_next(&m->jq, &extra)) {
	case JQP_VALUE:
		jv_free(extra);
		jv_free(v);
		jqp_finish(&m->jq);
		snprintf(m->reason, sizeof(m->reason),
			 "--doc: the program gave more than one value for %s", what);
		return -1;
	case JQP_ERROR:
		jv_free(v);
		return jq_failed(m);
	case JQP_HALT:
		jv_free(v);
		return halt(m) + 1;
	case JQP_DONE:
	default:
		break;
	}
	if (jqp_print(&m->jq, &m->out, v) < 0) {
		jv_free(v);
		return too_deep(m);
	}
	jv_free(v);
	return 1;
}

static bool
is_null(const char *v, size_t len)
{
	return v == NULL || (len == 4 && memcmp(v, "null", 4) == 0);
}

/*
 * --doc: the event line with after (and before) replaced by the program's
 * result, into m->out.  No value for after drops the event; no value for
 * before makes it null.  Returns 0, 1 after a halt (m->out emptied), or
 * -1 with m->reason set.
 */
static int
map_doc(struct map *m, const char *line, size_t len, const struct event_info *ev)
{
	struct span {
		const char *name, *p;
		size_t len;
	} sp[2];
	int n = 0;
	const char *at = line;

	if (!is_null(ev->after, ev->after_len))
		sp[n++] = (struct span){ "after", ev->after, ev->after_len };
	if (!is_null(ev->before, ev->before_len))
		sp[n++] = (struct span){ "before", ev->before, ev->before_len };
	if (n == 0) {
		buf_add(&m->out, line, len);	/* nothing to map: t, m, or no images */
		buf_addc(&m->out, '\n');
		return 0;
	}
	if (n == 2 && sp[1].p < sp[0].p) {
		struct span t = sp[0];

		sp[0] = sp[1];
		sp[1] = t;
	}
	for (int i = 0; i < n; i++) {
		int r;

		buf_add(&m->out, at, (size_t)(sp[i].p - at));
		r = map_image(m, sp[i].name, sp[i].p, sp[i].len, (size_t)(sp[i].p - line));
		if (r < 0)
			return -1;
		if (r == 2) {
			buf_reset(&m->out);
			return 1;
		}
		if (r == 0) {
			if (sp[i].name[0] == 'a') {
				buf_reset(&m->out);	/* the program dropped the row */
				return 0;
			}
			buf_add(&m->out, "null", 4);
		}
		at = sp[i].p + sp[i].len;
	}
	buf_add(&m->out, at, (size_t)(line + len - at));
	buf_addc(&m->out, '\n');
	m->values++;
	return 0;
}

/* Options and arguments; the program text (and its directory, for -f) is returned. */
static void
parse_args(struct map *m, struct evin_opts *io, int argc, char **argv, char **program,
	   char **origin)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORTOPTS, options, NULL)) != -1) {
		if (evin_option(io, c, optarg) || metrics_option(&m->metrics, c, optarg) ||
		    jqp_option(&m->jq, c, optarg, argc, argv))
			continue;
		switch (c) {
		case OPT_DOC:
			m->doc = true;
			break;
		case OPT_LOSSY:
			m->jq.check_numbers = false;
			break;
		case OPT_DROP_CONTROL:
			m->drop_control = true;
			break;
		default:
			cli_option(c, argv, options, usage_text);
		}
	}
	evin_check_options(io);
	*program = jqp_program(&m->jq, argc, argv, origin);
	if (*program == NULL)
		die_usage("no PROGRAM given (an argument, or -f PROGFILE)");
}

/* One event: its outputs into m->out.  Returns 0, 1 after a halt, -1 with m->reason set. */
static int
map_line(struct map *m, const struct evin_line *l)
{
	buf_reset(&m->out);
	if (l->ev.control) {
		if (!m->drop_control) {
			buf_add(&m->out, l->text, l->len);
			buf_addc(&m->out, '\n');
		}
		return 0;
	}
	/* jq counts the newlines read: a last line without one is not counted */
	jqp_set_input(&m->jq, m->in.name, l->nl ? l->lineno : l->lineno - 1);
	return m->doc ? map_doc(m, l->text, l->len, &l->ev) : map_event(m, l->text, l->len);
}

int
main(int argc, char **argv)
{
	struct map m = { 0 };
	struct evin_opts io = { 0 };
	char *program, *origin;
	int status = CDC_EXIT_OK;
	char **args;

	jqp_big_stack(argv);
	log_init(argv[0]);
	jqp_init(&m.jq);
	m.jq.check_numbers = true;
	/* `cdc-map '-.a'` is a program, as in jq (cli_jq_argv()) */
	args = cli_jq_argv(&argc, argv, SHORTOPTS, options, jqp_two_args);
	parse_args(&m, &io, argc, args, &program, &origin);
	jqp_default_libdirs(&m.jq);
	if (m.doc)
		m.jq.max_outputs = 2;	/* one per image; a second is an error */
	if (jqp_compile(&m.jq, program, origin) < 0)
		die_status(CDC_EXIT_USAGE, "cannot compile the jq program");
	/* Build only the members the program can read (numbers still checked). */
	if (jqp_project(&m.jq, program, false))
		info(2, "the program reads part of its input: building that part only");
	if (jqp_fast_compile(&m.jq, program))
		info(2, "the program is paths and objects: it runs on the event's text where it can");

	info(1, "rewriting %s of the events from %s with the jq program, on standard output",
	     m.doc ? "the row images (--doc)" : "each", argc > optind ? "the files given" : "standard input");
	sig_setup();
	metrics_init(&m.metrics, "cdc-map");
	evin_open(&m.in, &io, EVIN_EVENTS, args + optind, argc - optind);
	evin_set_metrics(&m.in, &m.metrics);
	wr_init(&m.w, STDOUT_FILENO, 0);
	evin_set_idle(&m.in, flush_output, &m.w);
	evin_watch_output(&m.in, STDOUT_FILENO);

	while (!cdc_stop && status == CDC_EXIT_OK && !m.halted && !m.w.err) {
		struct evin_line l;
		enum evin_status st;

		st = evin_next(&m.in, &l);
		if (st == EVIN_INTR)
			continue;
		if (st != EVIN_LINE) {
			status = evin_exit_status(st);
			break;
		}
		m.events++;
		if (map_line(&m, &l) < 0) {
			end_spool(&m, false);
			if (evin_reject(&m.in, &l, m.reason) < 0)
				status = CDC_EXIT_DATAERR;
			continue;
		}
		end_spool(&m, true);
		emit(&m, m.out.data, m.out.len);
		if (m.out.len)
			metrics_event_out(&m.metrics, &l.ev, m.out.len);
	}
	wr_close(&m.w);
	info(1, "%llu events in, %llu values out", (unsigned long long)m.events,
	     (unsigned long long)m.values);
	evin_close(&m.in);
	metrics_finish(&m.metrics);
	buf_release(&m.out);
	if (m.spool)
		fclose(m.spool);
	jqp_free(&m.jq);
	free(program);
	if (args != argv)
		free(args);
	free(origin);
	/* Everything is freed first: exits from here leave nothing behind. */
	wr_die_on_error(&m.w, "standard output");
	return m.halted ? m.halt_status : status;
}
