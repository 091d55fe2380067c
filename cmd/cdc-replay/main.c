/*
 * cdc-replay: re-emit change events from saved logs (plain NDJSON, lz4
 * files, cdc-record directories), selected by position, commit time, table
 * and op, optionally paced, optionally following the log as it grows.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "deadletter.h"
#include "emit.h"
#include "evinput.h"
#include "input.h"
#include "linereader.h"
#include "log.h"
#include "metrics.h"
#include "lsn.h"
#include "opt.h"
#include "select.h"
#include "sig.h"
#include "timeutil.h"

static const char usage_text[] =
	"Usage: cdc-replay [OPTIONS] [FILE|DIR|-]...\n"
	"Write the change events saved in FILEs (plain NDJSON or lz4, told apart by\n"
	"content) and cdc-record log DIRs to standard output, exactly as they were\n"
	"recorded.  With no argument, or for -, read standard input.\n"
	"\n"
	"Selection (bounds are inclusive):\n"
	"      --from POS               events from commit LSN POS on (X/X or decimal;\n"
	"                               X/X:seq for a position inside a transaction)\n"
	"      --to POS                 events up to commit LSN POS\n"
	"      --since TIME             events committed at or after TIME (RFC 3339, or\n"
	"                               relative to now: -2h, -30m, -1d)\n"
	"      --until TIME             events committed at or before TIME\n"
	"      --after-checkpoint FILE  events after the position in checkpoint FILE\n"
	"      --table NAME|SCHEMA.NAME[,...]  events of these tables\n"
	"      --schema NAME[,...]      events of tables in these schemas\n"
	"      --op OPS                 events with these ops (c,u,d,r,t,m)\n"
	"\n"
	"Pacing:\n"
	"      --rate N                 at most N events per second\n"
	"      --speed X                the original commit timing, X times faster\n"
	"\n"
	"Following:\n"
	"  -F, --follow                 at the end, wait for more, across segment\n"
	"                               rotation (the last argument only)\n"
	"      --poll-interval DURATION how often to look for more (default 200ms)\n"
	"\n"
	"Damage and dead letters:\n"
	"      --skip-corrupt           skip a damaged lz4 frame, report it, go on\n"
	"      --verify-first           write no line of an lz4 frame before its checksum\n"
	"                               is verified, also of frames over 8 MiB (held in\n"
	"                               a temporary file)\n"
	"      --dead-letters           the FILEs are dead-letter files (--dead-letter of\n"
	"                               any program): write the original lines they hold,\n"
	"                               to be fixed and applied again\n"
	"\n"
	EVIN_HELP
	"\n"
	"Output:\n"
	METRICS_HELP
	"\n"
	CLI_HELP
	"  (progress is shown on stderr when it is a terminal, unless --quiet)\n";

enum {
	OPT_FROM = 256,
	OPT_TO,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_AFTER_CHECKPOINT,
	OPT_RATE,
	OPT_SPEED,
	OPT_POLL_INTERVAL,
	OPT_SKIP_CORRUPT,
	OPT_VERIFY_FIRST,
	OPT_DEAD_LETTERS,
};

static const struct option longopts[] = {
	/* selection */
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "after-checkpoint", required_argument, NULL, OPT_AFTER_CHECKPOINT },
	SEL_OPTIONS,
	/* pacing */
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "speed", required_argument, NULL, OPT_SPEED },
	/* following */
	{ "follow", no_argument, NULL, 'F' },
	{ "poll-interval", required_argument, NULL, OPT_POLL_INTERVAL },
	/* damage and bad lines */
	{ "skip-corrupt", no_argument, NULL, OPT_SKIP_CORRUPT },
	{ "verify-first", no_argument, NULL, OPT_VERIFY_FIRST },
	{ "dead-letters", no_argument, NULL, OPT_DEAD_LETTERS },
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

/* --from/--to: a bare LSN means the whole transaction (seq 0 or the greatest seq). */
static void
pos_arg(const char *opt, const char *s, bool upper, struct cdc_pos *out)
{
	if (pos_parse(s, out) < 0)
		die_usage("invalid position for %s: '%s' (X/X, decimal, or X/X:seq)", opt, s);
	if (strchr(s, ':') == NULL)
		out->seq = upper ? UINT64_MAX : 0;
}

static int64_t
time_arg(const char *opt, const char *s)
{
	int64_t ms;

	if (time_parse(s, &ms) < 0)
		die_usage("invalid time for %s: '%s' (RFC 3339, or -2h style)", opt, s);
	return ms;
}

/* Parse the options into EM, RD, IO and METRICS; the --after-checkpoint path
 * (or NULL) is returned. */
static const char *
parse_options(int argc, char **argv, struct emitter *em, struct reader *rd, struct evin_opts *io,
	      struct metrics *metrics, bool *follow)
{
	const char *after_cp = NULL;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":F" CLI_SHORTOPTS, longopts, NULL)) != -1) {
		if (evin_option(io, opt, optarg) || metrics_option(metrics, opt, optarg) ||
		    sel_option(&em->sel, opt, optarg))
			continue;
		switch (opt) {
		case OPT_FROM:
			pos_arg("--from", optarg, false, &em->range.from);
			em->range.has_from = true;
			break;
		case OPT_TO:
			pos_arg("--to", optarg, true, &em->range.to);
			em->range.has_to = true;
			break;
		case OPT_SINCE:
			em->range.since = time_arg("--since", optarg);
			em->range.has_since = true;
			break;
		case OPT_UNTIL:
			em->range.until = time_arg("--until", optarg);
			em->range.has_until = true;
			break;
		case OPT_AFTER_CHECKPOINT:
			after_cp = optarg;
			break;
		case OPT_RATE:
			if (parse_double(optarg, 0.001, 1e9, &em->rate) < 0)
				die_usage("invalid rate for --rate: '%s'", optarg);
			break;
		case OPT_SPEED:
			if (parse_double(optarg, 0.001, 1e9, &em->speed) < 0)
				die_usage("invalid factor for --speed: '%s'", optarg);
			break;
		case 'F':
			*follow = true;
			break;
		case OPT_POLL_INTERVAL:
			if (duration_parse(optarg, &rd->poll_ms) < 0 || rd->poll_ms < 1 ||
			    rd->poll_ms > 3600 * 1000)
				die_usage("invalid duration for --poll-interval: '%s'", optarg);
			break;
		case OPT_SKIP_CORRUPT:
			rd->skip_corrupt = true;
			break;
		case OPT_VERIFY_FIRST:
			rd->verify_first = true;
			break;
		case OPT_DEAD_LETTERS:
			rd->dead_letters = true;
			break;
		default:
			cli_option(opt, argv, longopts, usage_text);
		}
	}
	evin_check_options(io);
	if (io->max_line)
		em->max_line = io->max_line;
	if (em->rate > 0 && em->speed > 0)
		die_usage("--rate and --speed cannot be used together");
	if (em->range.has_from && em->range.has_to && pos_cmp(&em->range.from, &em->range.to) > 0)
		die_usage("--from is after --to");
	if (em->range.has_since && em->range.has_until && em->range.since > em->range.until)
		die_usage("--since is after --until");
	return after_cp;
}

/* --after-checkpoint PATH: replay only what is after the position in PATH;
 * a checkpoint not written yet means everything.  -1 when PATH is unreadable. */
static int
after_checkpoint(struct emitter *em, const char *path)
{
	struct checkpoint cp;
	int r = checkpoint_read(path, &cp);

	if (r < 0)
		return -1;
	if (r == 1) {
		/* No checkpoint yet: the sink has nothing, so everything is after it. */
		info(1, "checkpoint %s does not exist yet: replaying from the start", path);
	} else {
		em->has_after = true;
		em->after = cp.pos;
		/* Seeking by index: everything after the checkpoint starts at it. */
		if (!em->range.has_from || pos_cmp(&em->range.from, &cp.pos) < 0) {
			em->range.from = cp.pos;
			em->range.has_from = true;
		}
	}
	return 0;
}

/* -v: what this run does, in one line. */
static void
say_start(const struct emitter *em, const struct reader *rd, int nargs, const char *first, bool follow)
{
	const struct seg_range *r = &em->range;
	char pos[POS_BUFSZ];
	struct buf b = BUF_INIT;

	buf_addf(&b, "replaying %s%s", nargs == 0 ? "standard input" : first,
		 nargs > 1 ? " and the other inputs given" : "");
	if (rd->dead_letters)
		buf_adds(&b, " (dead-letter files: their original lines)");
	if (r->has_from)
		buf_addf(&b, ", from %s", pos_format(&r->from, pos));
	if (r->has_to)
		buf_addf(&b, ", to %s", pos_format(&r->to, pos));
	if (em->has_after)
		buf_addf(&b, ", after the checkpoint's %s", pos_format(&em->after, pos));
	if (r->has_since || r->has_until)
		buf_adds(&b, ", within the commit times given");
	if (em->sel.active)
		buf_adds(&b, ", the tables and ops selected");
	if (em->rate > 0)
		buf_addf(&b, ", at %g events/s", em->rate);
	if (em->speed > 0)
		buf_addf(&b, ", at %gx the original pace", em->speed);
	if (follow)
		buf_adds(&b, ", following the last input as it grows");
	info(1, "%s", b.data);
	buf_release(&b);
}

int
main(int argc, char **argv)
{
	struct emitter em;
	struct reader rd;
	struct deadletter dl;
	struct metrics metrics = { 0 };
	struct evin_opts io = { .max_line_limit = LR_DEFAULT_MAX_LINE };
	const char *after_cp;
	bool follow = false;
	int status = CDC_EXIT_OK;

	log_init(argv[0]);
	memset(&em, 0, sizeof(em));
	memset(&rd, 0, sizeof(rd));
	reader_init(&rd);
	sel_init(&em.sel);
	em.max_line = LR_DEFAULT_MAX_LINE;
	rd.poll_ms = 200;
	after_cp = parse_options(argc, argv, &em, &rd, &io, &metrics, &follow);
	if (after_cp && after_checkpoint(&em, after_cp) < 0)
		return CDC_EXIT_FAILURE;
	say_start(&em, &rd, argc - optind, argc > optind ? argv[optind] : NULL, follow);

	sig_setup();
	dl_init(&dl, io.dead_letter, io.skip_bad);
	em.dl = &dl;
	metrics_init(&metrics, "cdc-replay");
	if (metrics.path || metrics.stats)
		em.metrics = &metrics;
	em.progress = cdc_verbosity >= 0 && isatty(STDERR_FILENO);
	em.count_lines = em.progress || cdc_verbosity > 0 || em.metrics;
	emit_init(&em, STDOUT_FILENO);
	rd.em = &em;
	rd.use_index = em.range.has_from || em.range.has_to || em.range.has_since ||
		       em.range.has_until;

	if (optind == argc) {
		if (replay_arg(&rd, "-", false) < 0)
			status = em.status;
	}
	for (int i = optind; i < argc && !cdc_stop; i++) {
		if (replay_arg(&rd, argv[i], follow && i == argc - 1) < 0) {
			status = em.status;
			break;
		}
	}
	em.status = status;
	status = emit_finish(&em);
	if (rd.frames_skipped)
		info(1, "the index let %llu frame%s go unread", (unsigned long long)rd.frames_skipped,
		     rd.frames_skipped == 1 ? "" : "s");
	if (rd.segments_skipped)
		info(1, "the segment names let %llu segment%s go unopened",
		     (unsigned long long)rd.segments_skipped, rd.segments_skipped == 1 ? "" : "s");
	if (rd.index_fallbacks)
		info(1, "%llu segment%s read from the start: the index did not match",
		     (unsigned long long)rd.index_fallbacks, rd.index_fallbacks == 1 ? "" : "s");
	if (rd.damaged)
		warning("%llu damaged frame%s skipped", (unsigned long long)rd.damaged,
			rd.damaged == 1 ? "" : "s");
	if (em.metrics) {
		metrics.skipped = dl.policy == BAD_SKIP ? dl.count : 0;
		metrics.dead_lettered = dl.policy == BAD_DEADLETTER ? dl.count : 0;
		metrics_finish(&metrics);
	}
	dl_finish(&dl);
	info(1, "%llu events, %llu bytes written", (unsigned long long)em.events,
	     (unsigned long long)em.bytes);
	reader_free(&rd);
	sel_free(&em.sel);
	if (status == CDC_EXIT_PIPE)
		return CDC_EXIT_PIPE;
	if (status == CDC_EXIT_FAILURE && em.out.err) {
		errno = em.out.err;
		error_errno("write error on standard output");
	}
	return status;
}
