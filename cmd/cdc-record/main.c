/*
 * cdc-record: a pipeline stage that passes events through unchanged and
 * appends them to an indexed, lz4-compressed log directory (see
 * common/segment.h for the format and recorder.h for how it is written).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadletter.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "opt.h"
#include "recorder.h"
#include "sig.h"
#include "timeutil.h"
#include "writer.h"

static const char usage_text[] =
	"Usage: cdc-record [OPTIONS] DIR\n"
	"Copy change events (NDJSON on standard input) to standard output unchanged,\n"
	"and append them to an indexed, lz4-compressed log in the directory DIR.\n"
	"\n"
	"Log:\n"
	"  -s, --segment-bytes SIZE     start a new segment after SIZE compressed bytes\n"
	"                               (default 64M)\n"
	"      --segment-age DURATION   start a new segment when the current one is this\n"
	"                               old (default 1h; 0: never)\n"
	"      --frame-bytes SIZE       uncompressed bytes per lz4 frame, the unit of the\n"
	"                               index (default 1M)\n"
	"  -l, --level N                lz4 compression level, 1 (fast) to 12 (default 1)\n"
	"\n"
	"Durability:\n"
	"  -c, --checkpoint FILE        keep FILE at the last position synced to the log\n"
	"                               (what cdc-capture --ack-file reads)\n"
	"      --sync-interval DURATION group commit: sync the log at most this long after\n"
	"                               a write (default 200ms)\n"
	"      --keep-duplicates        log events at or before the greatest position in\n"
	"                               the log (re-delivered ones; default: leave out)\n"
	"\n"
	"Retention:\n"
	"      --retain-bytes SIZE      remove the oldest segments while the log is bigger\n"
	"      --retain-age DURATION    remove segments last written longer ago than this\n"
	"\n"
	"Input and output:\n"
	"  -n, --no-output              do not copy events to standard output\n"
	"      --dead-letter FILE       append bad lines to FILE and go on\n"
	"      --skip-bad               skip bad lines and go on\n"
	"      --max-line SIZE          longest line accepted (default 64M)\n"
	"\n"
	"General:\n"
	"  -v, --verbose                more messages (repeatable)\n"
	"  -q, --quiet                  no warnings\n"
	"  -h, --help                   show this help\n"
	"  -V, --version                show the version\n";

enum {
	OPT_SEGMENT_AGE = 256,
	OPT_FRAME_BYTES,
	OPT_SYNC_INTERVAL,
	OPT_KEEP_DUPLICATES,
	OPT_RETAIN_BYTES,
	OPT_RETAIN_AGE,
	OPT_MAX_LINE,
	OPT_SKIP_BAD,
	OPT_DEAD_LETTER,
};

static const struct option longopts[] = {
	/* log */
	{ "segment-bytes", required_argument, NULL, 's' },
	{ "segment-age", required_argument, NULL, OPT_SEGMENT_AGE },
	{ "frame-bytes", required_argument, NULL, OPT_FRAME_BYTES },
	{ "level", required_argument, NULL, 'l' },
	/* durability */
	{ "checkpoint", required_argument, NULL, 'c' },
	{ "sync-interval", required_argument, NULL, OPT_SYNC_INTERVAL },
	{ "keep-duplicates", no_argument, NULL, OPT_KEEP_DUPLICATES },
	/* retention */
	{ "retain-bytes", required_argument, NULL, OPT_RETAIN_BYTES },
	{ "retain-age", required_argument, NULL, OPT_RETAIN_AGE },
	/* input and output */
	{ "no-output", no_argument, NULL, 'n' },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
	{ "dead-letter", required_argument, NULL, OPT_DEAD_LETTER },
	/* general */
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct ctx {
	struct recorder rec;
	struct writer out;
	bool output;
	bool failed;		/* the idle hook hit a log error */
};

/* The input went quiet: pass on what we have, and let the log commit. */
static void
on_idle(void *arg)
{
	struct ctx *c = arg;

	if (c->output)
		wr_flush(&c->out);
	if (!c->failed && rec_idle(&c->rec, STDIN_FILENO) < 0)
		c->failed = true;
	/*
	 * A signal that came during the group-commit wait would otherwise
	 * leave the reader blocked in read() until more input arrives: end
	 * the input instead, so the loop stops as it would on EOF.
	 */
	if (cdc_stop) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
	}
}

static int64_t
duration_arg(const char *opt, const char *s)
{
	int64_t ms;

	if (duration_parse(s, &ms) < 0 || ms < 0)
		die_usage("invalid duration for %s: '%s'", opt, s);
	return ms;
}

/* Flush standard output and close the log; exit with status (or 141/1 for output trouble). */
static noreturn void
finish(struct ctx *c, struct deadletter *dl, int status)
{
	if (c->output)
		wr_flush(&c->out);
	if (rec_close(&c->rec) < 0 && status == CDC_EXIT_OK)
		status = CDC_EXIT_FAILURE;
	dl_finish(dl);
	info(1, "%llu lines recorded in %llu frames, %llu segments started",
	     (unsigned long long)c->rec.lines, (unsigned long long)c->rec.frames,
	     (unsigned long long)c->rec.segments);
	if (c->rec.dups)
		info(1, "%llu events already in the log were not logged again",
		     (unsigned long long)c->rec.dups);
	if (c->output) {
		if (c->out.err == EPIPE && status == CDC_EXIT_OK)
			exit(CDC_EXIT_PIPE);
		wr_die_on_error(&c->out, "standard output");
	}
	exit(status);
}

/* One line for a command-line option getopt_long() refused (opterr is off via ":"). */
static noreturn void
bad_option(char **argv, const char *what)
{
	if (optopt > 0 && optopt < 256)
		die_usage("option '-%c' %s", optopt, what);
	die_usage("option '%s' %s", argv[optind - 1], what);
}

int
main(int argc, char **argv)
{
	struct rec_opts o = {
		.segment_bytes = (uint64_t)64 << 20,
		.segment_age_ms = 3600 * 1000,
		.frame_bytes = (uint64_t)1 << 20,
		.sync_ms = 200,
		.level = 1,
		.dedupe = true,
	};
	const char *dead_letter = NULL;
	uint64_t max_line = LR_DEFAULT_MAX_LINE, u;
	bool skip_bad = false;
	struct deadletter dl;
	struct linereader lr;
	struct ctx c;
	int opt;

	log_init(argv[0]);
	memset(&c, 0, sizeof(c));
	c.output = true;
	while ((opt = getopt_long(argc, argv, ":s:l:c:nvqhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (parse_size(optarg, 4096, UINT64_MAX, &o.segment_bytes) < 0)
				die_usage("invalid size for --segment-bytes: '%s'", optarg);
			break;
		case OPT_SEGMENT_AGE:
			o.segment_age_ms = duration_arg("--segment-age", optarg);
			break;
		case OPT_FRAME_BYTES:
			if (parse_size(optarg, 1024, (uint64_t)64 << 20, &o.frame_bytes) < 0)
				die_usage("invalid size for --frame-bytes (1K to 64M): '%s'", optarg);
			break;
		case 'l':
			if (parse_int(optarg, 1, 12, &o.level) < 0)
				die_usage("invalid level for --level (1 to 12): '%s'", optarg);
			break;
		case 'c':
			o.checkpoint = optarg;
			break;
		case OPT_SYNC_INTERVAL:
			o.sync_ms = duration_arg("--sync-interval", optarg);
			break;
		case OPT_KEEP_DUPLICATES:
			o.dedupe = false;
			break;
		case OPT_RETAIN_BYTES:
			if (parse_size(optarg, 1, UINT64_MAX, &o.retain_bytes) < 0)
				die_usage("invalid size for --retain-bytes: '%s'", optarg);
			break;
		case OPT_RETAIN_AGE:
			o.retain_age_ms = duration_arg("--retain-age", optarg);
			if (o.retain_age_ms == 0)
				die_usage("--retain-age must be more than 0");
			break;
		case 'n':
			c.output = false;
			break;
		case OPT_MAX_LINE:
			if (parse_size(optarg, 1, LR_DEFAULT_MAX_LINE, &u) < 0)
				die_usage("invalid size for --max-line (at most 64M): '%s'", optarg);
			max_line = u;
			break;
		case OPT_SKIP_BAD:
			skip_bad = true;
			break;
		case OPT_DEAD_LETTER:
			dead_letter = optarg;
			break;
		case 'v':
			cdc_verbosity = cdc_verbosity < 0 ? 1 : cdc_verbosity + 1;
			break;
		case 'q':
			cdc_verbosity = -1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return fflush(stdout) == 0 ? CDC_EXIT_OK : CDC_EXIT_FAILURE;
		case 'V':
			print_version();
		case ':':
			bad_option(argv, "needs an argument");
		default:
			bad_option(argv, "is not known");
		}
	}
	if (optind >= argc)
		die_usage("missing log directory DIR");
	if (argc - optind > 1)
		die_usage("unexpected argument '%s'", argv[optind + 1]);
	if (skip_bad && dead_letter)
		die_usage("--skip-bad and --dead-letter cannot be used together");
	o.dir = argv[optind];

	sig_setup();
	dl_init(&dl, dead_letter, skip_bad);
	if (rec_open(&c.rec, &o) < 0) {
		rec_close(&c.rec);
		return CDC_EXIT_FAILURE;
	}
	if (c.output)
		wr_init(&c.out, STDOUT_FILENO, 0);
	lr_init(&lr, STDIN_FILENO, max_line);
	lr_set_idle(&lr, on_idle, &c);

	for (;;) {
		struct event_info ev;
		enum lr_status st;
		enum line_problem prob;
		const char *line, *err;
		size_t len, where;
		bool nl;
		int r;

		if (cdc_stop)
			break;
		st = lr_next(&lr, &line, &len);
		if (c.failed)
			finish(&c, &dl, CDC_EXIT_FAILURE);
		if (st == LR_INTR)
			continue;
		if (st == LR_EOF)
			break;
		if (st == LR_ERROR) {
			error_errno("read error on standard input");
			finish(&c, &dl, CDC_EXIT_FAILURE);
		}
		if (st == LR_TOO_LONG) {
			char reason[80];

			snprintf(reason, sizeof(reason), "line longer than --max-line (%zu bytes)", len);
			if (dl_bad_line(&dl, lr.lineno, NULL, reason, line, len, len, NULL) < 0)
				finish(&c, &dl, CDC_EXIT_DATAERR);
			continue;
		}
		prob = lr_check(line, len, &where);
		if (prob != LINE_OK) {
			char reason[80];

			lr_problem_describe(prob, where, reason, sizeof(reason));
			if (dl_bad_line(&dl, lr.lineno, NULL, reason, line, len, 0, NULL) < 0)
				finish(&c, &dl, CDC_EXIT_DATAERR);
			continue;
		}
		/* Any JSON object is logged; one without "op" simply has no position. */
		r = event_scan(line, len, &ev, &err);
		if (r < 0 && strcmp(err, "no \"op\" field") != 0) {
			if (dl_bad_line(&dl, lr.lineno, NULL, err, line, len, 0, NULL) < 0)
				finish(&c, &dl, CDC_EXIT_DATAERR);
			continue;
		}
		/* The last line may lack its '\n': pass it on exactly as it came. */
		nl = lr.consumed - lr.offset > len;
		if (c.output && wr_write(&c.out, line, len + nl) < 0)
			finish(&c, &dl, CDC_EXIT_OK);
		if (rec_append(&c.rec, line, len, r == 0 ? &ev : NULL) < 0)
			finish(&c, &dl, CDC_EXIT_FAILURE);
	}
	if (cdc_stop)
		info(1, "stopping on signal %d", (int)cdc_stop);
	lr_free(&lr);
	finish(&c, &dl, CDC_EXIT_OK);
}
