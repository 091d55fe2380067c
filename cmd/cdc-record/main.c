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

#include "cli.h"
#include "evinput.h"
#include "fileio.h"
#include "log.h"
#include "metrics.h"
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
	"Output:\n"
	"      --no-output              do not copy events to standard output\n"
	METRICS_HELP
	"\n"
	EVIN_HELP
	"\n"
	CLI_HELP;

enum {
	OPT_SEGMENT_AGE = 256,
	OPT_FRAME_BYTES,
	OPT_SYNC_INTERVAL,
	OPT_KEEP_DUPLICATES,
	OPT_RETAIN_BYTES,
	OPT_RETAIN_AGE,
	OPT_NO_OUTPUT,
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
	/* output */
	{ "no-output", no_argument, NULL, OPT_NO_OUTPUT },
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

struct ctx {
	struct recorder rec;
	struct evin in;
	struct metrics metrics;
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
finish(struct ctx *c, int status)
{
	if (c->output)
		wr_flush(&c->out);
	if (rec_close(&c->rec) < 0 && status == CDC_EXIT_OK)
		status = CDC_EXIT_FAILURE;
	evin_close(&c->in);
	if (c->rec.have_cp) {
		c->metrics.ckpt = c->rec.cp.pos;
		c->metrics.have_ckpt = true;
	}
	metrics_finish(&c->metrics);
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
	struct evin_opts io = { .max_line_limit = LR_DEFAULT_MAX_LINE };
	struct ctx c;
	int opt;

	log_init(argv[0]);
	memset(&c, 0, sizeof(c));
	c.output = true;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:l:c:" CLI_SHORTOPTS, longopts, NULL)) != -1) {
		if (evin_option(&io, opt, optarg) || metrics_option(&c.metrics, opt, optarg))
			continue;
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
		case OPT_NO_OUTPUT:
			c.output = false;
			break;
		default:
			cli_option(opt, argv, longopts, usage_text);
		}
	}
	if (optind >= argc)
		die_usage("missing log directory DIR");
	if (argc - optind > 1)
		die_usage("unexpected argument '%s'", argv[optind + 1]);
	evin_check_options(&io);
	o.dir = argv[optind];

	sig_setup();
	metrics_init(&c.metrics, "cdc-record");
	evin_open(&c.in, &io, EVIN_OBJECTS, NULL, 0);
	evin_set_metrics(&c.in, &c.metrics);
	if (rec_open(&c.rec, &o) < 0) {
		rec_close(&c.rec);
		return CDC_EXIT_FAILURE;
	}
	/* Before the first event is logged: a run must not learn it at its first sync. */
	if (o.checkpoint && check_writable(o.checkpoint) < 0) {
		error_errno("cannot write checkpoint %s", o.checkpoint);
		rec_close(&c.rec);
		return CDC_EXIT_FAILURE;
	}
	info(1, "recording standard input into %s (a new segment every %llu compressed bytes), "
	     "syncing at most %lld ms after a write%s%s%s", o.dir, (unsigned long long)o.segment_bytes,
	     (long long)o.sync_ms, o.checkpoint ? ", checkpoint " : "", o.checkpoint ? o.checkpoint : "",
	     c.output ? ", passing events on" : "");
	if (c.output)
		wr_init(&c.out, STDOUT_FILENO, 0);
	evin_set_idle(&c.in, on_idle, &c);
	if (c.output)
		evin_watch_output(&c.in, STDOUT_FILENO);

	while (!cdc_stop) {
		struct evin_line l;
		enum evin_status st = evin_next(&c.in, &l);

		if (c.failed)
			finish(&c, CDC_EXIT_FAILURE);
		if (st == EVIN_INTR)
			continue;
		if (st != EVIN_LINE)
			finish(&c, evin_exit_status(st));
		/* A whole last line without its '\n' is passed on exactly as it came. */
		if (c.output && wr_write(&c.out, l.text, l.len + l.nl) < 0)
			finish(&c, CDC_EXIT_OK);
		if (rec_append(&c.rec, l.text, l.len, l.has_ev ? &l.ev : NULL) < 0)
			finish(&c, CDC_EXIT_FAILURE);
		metrics_event_out(&c.metrics, l.has_ev ? &l.ev : NULL, l.len + 1);
		if (c.rec.have_cp) {
			c.metrics.ckpt = c.rec.cp.pos;
			c.metrics.have_ckpt = true;
		}
	}
	info(1, "stopping on signal %d", (int)cdc_stop);
	finish(&c, CDC_EXIT_OK);
}
