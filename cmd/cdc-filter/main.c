/*
 * cdc-filter: keep the change events that match a jq expression and/or the
 * fast selection flags, and write each kept event as the bytes it came as.
 *
 * The fast flags (--table, --schema, --op) work on event_scan()'s results,
 * without jq.  An expression runs only on the data events the flags let
 * through; the event is built into a jv by jqp_parse() (only the members
 * the expression can read, when jqp_project() can tell) and never printed
 * again.  Control events pass untouched (the ack loop needs them) unless
 * --drop-control.
 */
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
#include "select.h"
#include "sig.h"
#include "writer.h"

static const char usage_text[] =
	"Usage: cdc-filter [OPTION]... [EXPR] [FILE]...\n"
	"       cdc-filter [OPTION]... -f PROGFILE [FILE]...\n"
	"Keep the change events (NDJSON) for which the jq expression EXPR gives a\n"
	"true first output and that every selection flag matches; write them to\n"
	"standard output exactly as they came.  Events are read from the FILEs in\n"
	"turn, or from standard input (also for FILE \"-\").  As with jq, the first\n"
	"argument is EXPR unless -f is given: with flags alone and files, write\n"
	"\".\" as EXPR.\n"
	"\n"
	"Selection:\n"
	"      --table NAME|SCHEMA.NAME[,...]  events of these tables\n"
	"      --schema NAME[,...]      events of tables in these schemas\n"
	"      --op OPS                 events with these ops (c,u,d,r,t,m), e.g. u or c,u\n"
	"  -f, --from-file PROGFILE     read EXPR from PROGFILE\n"
	"      --invert                 keep the data events that do not match\n"
	"      --drop-control           drop control events (heartbeat, begin, commit,\n"
	"                               snapshot_begin, snapshot_end)\n"
	"\n"
	"jq:\n"
	"      --arg NAME VALUE         bind $NAME to the string VALUE\n"
	"      --argjson NAME JSON      bind $NAME to the JSON value\n"
	"      --slurpfile NAME FILE    bind $NAME to an array of the JSON values in FILE\n"
	"      --rawfile NAME FILE      bind $NAME to the text of FILE\n"
	"  -L, --library-path DIR       search DIR for jq modules first\n"
	"      --allow-env              let EXPR read the environment ($ENV, env)\n"
	"\n"
	EVIN_HELP
	"\n"
	"Output:\n"
	METRICS_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_INVERT = 256, OPT_DROP_CONTROL,
};

#define SHORTOPTS ":" JQP_SHORTOPTS CLI_SHORTOPTS

static const struct option options[] = {
	/* selection */
	SEL_OPTIONS,
	{ "invert", no_argument, NULL, OPT_INVERT },
	{ "drop-control", no_argument, NULL, OPT_DROP_CONTROL },
	/* jq: -f, --arg and friends, -L, --allow-env */
	JQP_OPTIONS,
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

struct filter {
	struct selector sel;
	bool have_expr;
	struct jqprog jq;
	bool invert;
	bool drop_control;
	struct evin in;
	struct writer w;
	struct metrics metrics;
	uint64_t kept, dropped;
	bool halted;		/* the expression called halt or halt_error */
	int halt_status;
};

static void
flush_output(void *arg)
{
	wr_flush(arg);
}

/*
 * Run the expression on one event.  Returns 1 (true first output), 0 (false,
 * null or no output, or a halt: f->halted) or -1 (runtime error: reason in
 * jqp_error()).
 */
static int
run_expr(struct filter *f, const char *line, size_t len)
{
	jv in = jqp_parse(&f->jq, line, len);
	jv out;
	int r;

	if (!jv_is_valid(in)) {
		/* event_scan() validated the line: only a bug gets here */
		jv_free(in);
		return -1;
	}
	jqp_start(&f->jq, in);
	switch (jqp_next(&f->jq, &out)) {
	case JQP_VALUE:
		r = jqp_truthy(out);
		jv_free(out);
		jqp_finish(&f->jq);
		return r;
	case JQP_DONE:
		return 0;
	case JQP_HALT:
		f->halted = true;
		f->halt_status = jqp_halt_status(&f->jq);
		return 0;
	case JQP_ERROR:
	default:
		return -1;
	}
}

/* Options and arguments; the program text (and its directory, for -f) is returned. */
static void
parse_args(struct filter *f, struct evin_opts *io, int argc, char **argv, char **program,
	   char **origin)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORTOPTS, options, NULL)) != -1) {
		if (evin_option(io, c, optarg) || metrics_option(&f->metrics, c, optarg) ||
		    sel_option(&f->sel, c, optarg) || jqp_option(&f->jq, c, optarg, argc, argv))
			continue;
		switch (c) {
		case OPT_INVERT:
			f->invert = true;
			break;
		case OPT_DROP_CONTROL:
			f->drop_control = true;
			break;
		default:
			cli_option(c, argv, options, usage_text);
		}
	}
	evin_check_options(io);
	*program = jqp_program(&f->jq, argc, argv, origin);
}

/* Keep line l?  1 keep, 0 drop, -1 a jq error (reason in jqp_error()). */
static int
keep_event(struct filter *f, const struct evin_line *l)
{
	bool keep;

	if (l->ev.control)
		return !f->drop_control;
	keep = sel_match(&f->sel, &l->ev);
	if (keep && f->have_expr) {
		int r;

		/* jq counts the newlines read: a last line without one is not counted */
		jqp_set_input(&f->jq, f->in.name, l->nl ? l->lineno : l->lineno - 1);
		r = run_expr(f, l->text, l->len);

		if (r < 0)
			return -1;
		keep = r == 1;
	}
	return f->invert ? !keep : keep;
}

int
main(int argc, char **argv)
{
	struct filter f = { 0 };
	struct evin_opts io = { 0 };
	char *program, *origin;
	int status = CDC_EXIT_OK;
	char **args;

	jqp_big_stack(argv);
	log_init(argv[0]);
	sel_init(&f.sel);
	jqp_init(&f.jq);
	/* `cdc-map '-.a'` is a program, as in jq (cli_jq_argv()) */
	args = cli_jq_argv(&argc, argv, SHORTOPTS, options, jqp_two_args);
	parse_args(&f, &io, argc, args, &program, &origin);
	if (program) {
		f.have_expr = true;
		jqp_default_libdirs(&f.jq);
		f.jq.max_outputs = 1;	/* only the first output counts */
		if (jqp_compile(&f.jq, program, origin) < 0)
			die_status(CDC_EXIT_USAGE, "cannot compile the jq expression");
		/* Only the first output's truth matters here. */
		if (jqp_project(&f.jq, program, true))
			info(2, "the expression reads part of the event: building that part only");
	}
	info(1, "keeping the events from %s %s, byte for byte, on standard output",
	     argc > optind ? "the files given" : "standard input",
	     f.sel.active && program ? "that the selection flags match and the expression selects" :
	     f.sel.active ? "that the selection flags match" :
	     program ? "that the expression selects" : "(all of them: no expression, no flags)");
	sig_setup();
	metrics_init(&f.metrics, "cdc-filter");
	evin_open(&f.in, &io, EVIN_EVENTS, args + optind, argc - optind);
	evin_set_metrics(&f.in, &f.metrics);
	wr_init(&f.w, STDOUT_FILENO, 0);
	evin_set_idle(&f.in, flush_output, &f.w);
	evin_watch_output(&f.in, STDOUT_FILENO);

	while (!cdc_stop && status == CDC_EXIT_OK && !f.halted && !f.w.err) {
		struct evin_line l;
		enum evin_status st;
		char reason[160];
		int keep;

		st = evin_next(&f.in, &l);
		if (st == EVIN_INTR)
			continue;
		if (st != EVIN_LINE) {
			status = evin_exit_status(st);
			break;
		}
		keep = keep_event(&f, &l);
		if (keep < 0) {
			snprintf(reason, sizeof(reason), "jq: %.140s", jqp_error(&f.jq));
			if (evin_reject(&f.in, &l, reason) < 0)
				status = CDC_EXIT_DATAERR;
		} else if (f.halted) {
			break;
		} else if (keep) {
			f.kept++;
			wr_line(&f.w, l.text, l.len);
			metrics_event_out(&f.metrics, &l.ev, l.len + 1);
		} else {
			f.dropped++;
		}
	}
	wr_close(&f.w);
	info(1, "%llu events kept, %llu dropped", (unsigned long long)f.kept,
	     (unsigned long long)f.dropped);
	evin_close(&f.in);
	metrics_finish(&f.metrics);
	sel_free(&f.sel);
	jqp_free(&f.jq);
	free(program);
	if (args != argv)
		free(args);
	free(origin);
	/* Everything is freed first: exits from here leave nothing behind. */
	wr_die_on_error(&f.w, "standard output");
	return f.halted ? f.halt_status : status;
}
