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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadletter.h"
#include "jqprog.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "opt.h"
#include "sig.h"
#include "writer.h"

static const char usage_text[] =
	"Usage: cdc-map [OPTIONS] PROGRAM\n"
	"       cdc-map [OPTIONS] -f FILE\n"
	"Run the jq PROGRAM on each change event (NDJSON on standard input) and\n"
	"write its outputs, one JSON value per line.\n"
	"\n"
	"Mapping:\n"
	"  -f, --from-file FILE         read PROGRAM from FILE\n"
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
	"Bad input:\n"
	"      --dead-letter FILE       append bad lines to FILE and go on\n"
	"      --skip-bad               skip bad lines and go on\n"
	"      --max-line SIZE          longest line accepted (default 64M)\n"
	"\n"
	"General:\n"
	"  -v, --verbose                more messages (repeatable)\n"
	"  -q, --quiet                  no warnings\n"
	"      --help                   show this help\n"
	"      --version                show the version\n";

enum {
	OPT_DOC = 256, OPT_LOSSY, OPT_DROP_CONTROL, OPT_ARG, OPT_ARGJSON, OPT_SLURPFILE,
	OPT_RAWFILE, OPT_ALLOW_ENV, OPT_DEAD_LETTER, OPT_SKIP_BAD, OPT_MAX_LINE, OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
	/* mapping */
	{ "from-file", required_argument, NULL, 'f' },
	{ "doc", no_argument, NULL, OPT_DOC },
	{ "lossy-numbers", no_argument, NULL, OPT_LOSSY },
	{ "drop-control", no_argument, NULL, OPT_DROP_CONTROL },
	/* jq */
	{ "arg", required_argument, NULL, OPT_ARG },
	{ "argjson", required_argument, NULL, OPT_ARGJSON },
	{ "slurpfile", required_argument, NULL, OPT_SLURPFILE },
	{ "rawfile", required_argument, NULL, OPT_RAWFILE },
	{ "library-path", required_argument, NULL, 'L' },
	{ "allow-env", no_argument, NULL, OPT_ALLOW_ENV },
	/* bad input */
	{ "dead-letter", required_argument, NULL, OPT_DEAD_LETTER },
	{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	/* general */
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* An event's outputs wait here until the event is done; beyond this they go out early. */
#define EVENT_OUTPUT_CAP ((size_t)64 << 20)

struct map {
	struct jqprog jq;
	bool doc;
	bool drop_control;
	struct deadletter dl;
	struct writer w;
	struct buf out;		/* this event's output */
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

/*
 * Whole-event mode: every output of the program, one per line, into m->out.
 * Returns 0, 1 after a halt, or -1 with m->reason set.
 */
static int
map_event(struct map *m, const char *line, size_t len)
{
	jv in, v;

	if (build(m, line, len, 0, &in) < 0)
		return -1;
	jqp_start(&m->jq, in);
	for (;;) {
		switch (jqp_next(&m->jq, &v)) {
		case JQP_VALUE:
			jqp_print(&m->out, v);
			buf_addc(&m->out, '\n');
			jv_free(v);
			m->values++;
			if (m->out.len > EVENT_OUTPUT_CAP) {
				emit(m, m->out.data, m->out.len);
				buf_reset(&m->out);
			}
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
	jqp_print(&m->out, v);
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

int
main(int argc, char **argv)
{
	struct map m = { 0 };
	const char *prog_text = NULL, *prog_file = NULL, *dead_letter = NULL;
	char *program = NULL, *origin = NULL;
	bool skip_bad = false;
	uint64_t max_line = LR_DEFAULT_MAX_LINE;
	struct linereader lr;
	int c, status = CDC_EXIT_OK;

	log_init(argv[0]);
	jqp_init(&m.jq);
	m.jq.check_numbers = true;
	while ((c = getopt_long(argc, argv, "f:L:vq", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			prog_file = optarg;
			break;
		case OPT_DOC:
			m.doc = true;
			break;
		case OPT_LOSSY:
			m.jq.check_numbers = false;
			break;
		case OPT_DROP_CONTROL:
			m.drop_control = true;
			break;
		case OPT_ARG:
			jqp_named_option(&m.jq, "arg", optarg, argc, argv);
			break;
		case OPT_ARGJSON:
			jqp_named_option(&m.jq, "argjson", optarg, argc, argv);
			break;
		case OPT_SLURPFILE:
			jqp_named_option(&m.jq, "slurpfile", optarg, argc, argv);
			break;
		case OPT_RAWFILE:
			jqp_named_option(&m.jq, "rawfile", optarg, argc, argv);
			break;
		case 'L':
			jqp_libdir(&m.jq, optarg);
			break;
		case OPT_ALLOW_ENV:
			m.jq.allow_env = true;
			break;
		case OPT_DEAD_LETTER:
			dead_letter = optarg;
			break;
		case OPT_SKIP_BAD:
			skip_bad = true;
			break;
		case OPT_MAX_LINE:
			if (parse_size(optarg, LR_PREFIX, (uint64_t)1 << 30, &max_line) < 0)
				die_usage("bad --max-line '%s': expected a size from 4K to 1G", optarg);
			break;
		case 'v':
			cdc_verbosity = cdc_verbosity < 0 ? 1 : cdc_verbosity + 1;
			break;
		case 'q':
			cdc_verbosity = -1;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			jqp_free(&m.jq);
			return fflush(stdout) == 0 ? CDC_EXIT_OK : CDC_EXIT_FAILURE;
		case OPT_VERSION:
			print_version();
		default:
			die_usage("unknown option");
		}
	}
	if (optind < argc && prog_file == NULL)
		prog_text = argv[optind++];
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (prog_text == NULL && prog_file == NULL)
		die_usage("no PROGRAM given (an argument, or -f FILE)");
	if (dead_letter && skip_bad)
		die_usage("--dead-letter and --skip-bad are alternatives");
	if (prog_file) {
		char *slash;

		program = jqp_read_program(prog_file);
		origin = xstrdup(prog_file);
		slash = strrchr(origin, '/');
		if (slash)
			*slash = '\0';
		else
			strcpy(origin, ".");
	} else {
		program = xstrdup(prog_text);
	}
	jqp_default_libdirs(&m.jq);
	if (jqp_compile(&m.jq, program, origin) < 0)
		die_status(CDC_EXIT_USAGE, "cannot compile the jq program");
	/* Build only the members the program can read (numbers still checked). */
	if (jqp_project(&m.jq, program, false))
		info(2, "the program reads part of its input: building that part only");

	sig_setup();
	dl_init(&m.dl, dead_letter, skip_bad);
	wr_init(&m.w, STDOUT_FILENO, 0);
	lr_init(&lr, STDIN_FILENO, (size_t)max_line);
	lr_set_idle(&lr, flush_output, &m.w);

	while (!cdc_stop) {
		const char *line, *err;
		size_t len, where;
		struct event_info ev;
		enum line_problem prob;
		enum lr_status st = lr_next(&lr, &line, &len);
		int r;

		if (st == LR_EOF)
			break;
		if (st == LR_INTR)
			continue;
		if (st == LR_ERROR)
			die_errno("cannot read standard input");
		if (st == LR_TOO_LONG) {
			snprintf(m.reason, sizeof(m.reason),
				 "line too long (%zu bytes, --max-line is %llu)", len,
				 (unsigned long long)max_line);
			if (dl_bad_line(&m.dl, lr.lineno, NULL, m.reason, line,
					len < LR_PREFIX ? len : LR_PREFIX, len, NULL) < 0)
				goto bad_stop;
			continue;
		}
		prob = lr_check(line, len, &where);
		if (prob != LINE_OK) {
			lr_problem_describe(prob, where, m.reason, sizeof(m.reason));
			if (dl_bad_line(&m.dl, lr.lineno, NULL, m.reason, line, len, 0, NULL) < 0)
				goto bad_stop;
			continue;
		}
		if (event_scan(line, len, &ev, &err) < 0) {
			if (dl_bad_line(&m.dl, lr.lineno, NULL, err, line, len, 0, NULL) < 0)
				goto bad_stop;
			continue;
		}
		m.events++;
		if (ev.control) {
			if (!m.drop_control) {
				emit(&m, line, len);
				emit(&m, "\n", 1);
			}
			if (m.w.err)
				break;
			continue;
		}
		buf_reset(&m.out);
		r = m.doc ? map_doc(&m, line, len, &ev) : map_event(&m, line, len);
		if (r < 0) {
			if (dl_bad_line(&m.dl, lr.lineno, ev.has_pos ? &ev.pos : NULL, m.reason, line,
					len, 0, NULL) < 0)
				goto bad_stop;
			continue;
		}
		emit(&m, m.out.data, m.out.len);
		if (m.halted || m.w.err)
			break;
	}
	goto done;
bad_stop:
	status = CDC_EXIT_DATAERR;
done:
	wr_close(&m.w);
	info(1, "%llu events in, %llu values out", (unsigned long long)m.events,
	     (unsigned long long)m.values);
	dl_finish(&m.dl);
	lr_free(&lr);
	buf_release(&m.out);
	jqp_free(&m.jq);
	free(program);
	free(origin);
	/* Everything is freed first: exits from here leave nothing behind. */
	wr_die_on_error(&m.w, "standard output");
	return m.halted ? m.halt_status : status;
}
