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

#include "deadletter.h"
#include "jqprog.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "opt.h"
#include "select.h"
#include "sig.h"
#include "writer.h"

static const char usage_text[] =
	"Usage: cdc-filter [OPTIONS] [EXPR]\n"
	"       cdc-filter [OPTIONS] -f FILE\n"
	"Keep the change events (NDJSON on standard input) for which the jq\n"
	"expression EXPR gives a true first output and that every selection flag\n"
	"matches; write them to standard output exactly as they came.\n"
	"\n"
	"Selection:\n"
	"      --table NAME|SCHEMA.NAME[,...]  events of these tables\n"
	"      --schema NAME[,...]      events of tables in these schemas\n"
	"      --op OPS                 events with these ops (c,u,d,r,t,m), e.g. u or c,u\n"
	"  -f, --from-file FILE         read EXPR from FILE\n"
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
	OPT_TABLE = 256, OPT_SCHEMA, OPT_OP, OPT_INVERT, OPT_DROP_CONTROL, OPT_ARG, OPT_ARGJSON,
	OPT_SLURPFILE, OPT_RAWFILE, OPT_ALLOW_ENV, OPT_DEAD_LETTER, OPT_SKIP_BAD, OPT_MAX_LINE,
	OPT_HELP, OPT_VERSION,
};

static const struct option options[] = {
	/* selection */
	{ "table", required_argument, NULL, OPT_TABLE },
	{ "schema", required_argument, NULL, OPT_SCHEMA },
	{ "op", required_argument, NULL, OPT_OP },
	{ "from-file", required_argument, NULL, 'f' },
	{ "invert", no_argument, NULL, OPT_INVERT },
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

struct filter {
	struct selector sel;
	bool have_expr;
	struct jqprog jq;
	bool invert;
	bool drop_control;
	struct deadletter dl;
	struct writer w;
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

int
main(int argc, char **argv)
{
	struct filter f = { 0 };
	const char *expr = NULL, *expr_file = NULL, *dead_letter = NULL;
	char *program = NULL, *origin = NULL;
	bool skip_bad = false;
	uint64_t max_line = LR_DEFAULT_MAX_LINE;
	struct linereader lr;
	int c, status = CDC_EXIT_OK;

	log_init(argv[0]);
	sel_init(&f.sel);
	jqp_init(&f.jq);
	while ((c = getopt_long(argc, argv, "f:L:vq", options, NULL)) != -1) {
		switch (c) {
		case OPT_TABLE:
			if (sel_add_tables(&f.sel, optarg) < 0)
				die_usage("bad --table '%s': expected NAME or SCHEMA.NAME, comma-separated",
					  optarg);
			break;
		case OPT_SCHEMA:
			if (sel_add_schemas(&f.sel, optarg) < 0)
				die_usage("bad --schema '%s'", optarg);
			break;
		case OPT_OP:
			if (sel_add_ops(&f.sel, optarg) < 0)
				die_usage("bad --op '%s': expected letters of c,u,d,r,t,m, comma-separated",
					  optarg);
			break;
		case 'f':
			expr_file = optarg;
			break;
		case OPT_INVERT:
			f.invert = true;
			break;
		case OPT_DROP_CONTROL:
			f.drop_control = true;
			break;
		case OPT_ARG:
			jqp_named_option(&f.jq, "arg", optarg, argc, argv);
			break;
		case OPT_ARGJSON:
			jqp_named_option(&f.jq, "argjson", optarg, argc, argv);
			break;
		case OPT_SLURPFILE:
			jqp_named_option(&f.jq, "slurpfile", optarg, argc, argv);
			break;
		case OPT_RAWFILE:
			jqp_named_option(&f.jq, "rawfile", optarg, argc, argv);
			break;
		case 'L':
			jqp_libdir(&f.jq, optarg);
			break;
		case OPT_ALLOW_ENV:
			f.jq.allow_env = true;
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
			jqp_free(&f.jq);
			sel_free(&f.sel);
			return fflush(stdout) == 0 ? CDC_EXIT_OK : CDC_EXIT_FAILURE;
		case OPT_VERSION:
			print_version();
		default:
			die_usage("unknown option");
		}
	}
	if (optind < argc)
		expr = argv[optind++];
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (expr && expr_file)
		die_usage("give EXPR or -f FILE, not both");
	if (dead_letter && skip_bad)
		die_usage("--dead-letter and --skip-bad are alternatives");
	if (expr_file) {
		char *slash;

		program = jqp_read_program(expr_file);
		origin = xstrdup(expr_file);
		slash = strrchr(origin, '/');
		if (slash)
			*slash = '\0';
		else
			strcpy(origin, ".");
	} else if (expr) {
		program = xstrdup(expr);
	}

	if (program) {
		f.have_expr = true;
		jqp_default_libdirs(&f.jq);
		if (jqp_compile(&f.jq, program, origin) < 0)
			die_status(CDC_EXIT_USAGE, "cannot compile the jq expression");
		/* Only the first output's truth matters here. */
		if (jqp_project(&f.jq, program, true))
			info(2, "the expression reads part of the event: building that part only");
	}
	sig_setup();
	dl_init(&f.dl, dead_letter, skip_bad);
	wr_init(&f.w, STDOUT_FILENO, 0);
	lr_init(&lr, STDIN_FILENO, (size_t)max_line);
	lr_set_idle(&lr, flush_output, &f.w);

	while (!cdc_stop) {
		const char *line, *err;
		char reason[160];
		size_t len, where;
		struct event_info ev;
		enum line_problem prob;
		enum lr_status st = lr_next(&lr, &line, &len);
		bool keep;

		if (st == LR_EOF)
			break;
		if (st == LR_INTR)
			continue;
		if (st == LR_ERROR)
			die_errno("cannot read standard input");
		if (st == LR_TOO_LONG) {
			snprintf(reason, sizeof(reason), "line too long (%zu bytes, --max-line is %llu)",
				 len, (unsigned long long)max_line);
			if (dl_bad_line(&f.dl, lr.lineno, NULL, reason, line,
					len < LR_PREFIX ? len : LR_PREFIX, len, NULL) < 0)
				goto bad_stop;
			continue;
		}
		prob = lr_check(line, len, &where);
		if (prob != LINE_OK) {
			lr_problem_describe(prob, where, reason, sizeof(reason));
			if (dl_bad_line(&f.dl, lr.lineno, NULL, reason, line, len, 0, NULL) < 0)
				goto bad_stop;
			continue;
		}
		if (event_scan(line, len, &ev, &err) < 0) {
			if (dl_bad_line(&f.dl, lr.lineno, NULL, err, line, len, 0, NULL) < 0)
				goto bad_stop;
			continue;
		}
		if (ev.control) {
			keep = !f.drop_control;
		} else {
			keep = sel_match(&f.sel, &ev);
			if (keep && f.have_expr) {
				int r = run_expr(&f, line, len);

				if (r < 0) {
					snprintf(reason, sizeof(reason), "jq: %.140s", jqp_error(&f.jq));
					if (dl_bad_line(&f.dl, lr.lineno, ev.has_pos ? &ev.pos : NULL, reason,
							line, len, 0, NULL) < 0)
						goto bad_stop;
					continue;
				}
				if (f.halted)
					break;
				keep = r == 1;
			}
			if (f.invert)
				keep = !keep;
		}
		if (keep) {
			f.kept++;
			if (wr_line(&f.w, line, len) < 0)
				break;
		} else {
			f.dropped++;
		}
	}
	goto done;
bad_stop:
	status = CDC_EXIT_DATAERR;
done:
	wr_close(&f.w);
	info(1, "%llu events kept, %llu dropped", (unsigned long long)f.kept,
	     (unsigned long long)f.dropped);
	dl_finish(&f.dl);
	lr_free(&lr);
	sel_free(&f.sel);
	jqp_free(&f.jq);
	free(program);
	free(origin);
	/* Everything is freed first: exits from here leave nothing behind. */
	wr_die_on_error(&f.w, "standard output");
	return f.halted ? f.halt_status : status;
}
