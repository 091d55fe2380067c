/*
 * cdc-sink-es: apply change events to Elasticsearch/OpenSearch with _bulk.
 *
 * Reads events (cdc-events(7)) from standard input.  c, r and u index the
 * row's "after" image, d deletes, both with version_type=external_gte and
 * version = source.commit_lsn, so an older event never overwrites a newer
 * one and replaying a stream changes nothing.  t deletes the table's
 * documents (delete-by-query) or is refused; m and control events only
 * move the checkpoint.  The checkpoint is the watermark of events applied
 * or dead-lettered, in input order: the file cdc-capture --ack-file reads.
 */
#include "sink.h"
#include "fileio.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -v: what this run does, in one line. */
static void
say_start(struct sink *s, int nfiles)
{
	const struct config *cfg = s->cfg;
	char pos[POS_BUFSZ];
	struct buf b = BUF_INIT;

	buf_addf(&b, "applying events from %s to %s, index %s", nfiles > 0 ? "the files given" :
		 "standard input", cfg->dry_run ? "standard output (--dry-run)" : cfg->nodes[s->node].url,
		 cfg->index_tmpl);
	if (cfg->alias_tmpl)
		buf_addf(&b, " (alias %s at the end)", cfg->alias_tmpl);
	if (cfg->checkpoint_path && s->ack.have_start)
		buf_addf(&b, ", resuming after %s (checkpoint %s)", pos_format(&s->ack.start.pos, pos),
			 cfg->checkpoint_path);
	else if (cfg->checkpoint_path)
		buf_addf(&b, ", from the start (checkpoint %s)", cfg->checkpoint_path);
	else
		buf_adds(&b, ", no checkpoint: every event is applied");
	info(1, "%s", b.data);
	buf_release(&b);
}

int
main(int argc, char **argv)
{
	static struct config config;
	static struct sink sink;
	struct sink *s = &sink;
	const struct config *cfg = &config;
	struct evin_opts io = { 0 };
	unsigned since_pump = 0;
	size_t ring_max;

	log_init(argv[0]);
	s->cfg = &config;
	s->bulk_path = (struct buf)BUF_INIT;
	s->scratch_index = s->scratch_id = s->scratch_old = (struct buf)BUF_INIT;
	s->scratch_action = s->scratch_doc = s->scratch_toast = (struct buf)BUF_INIT;
	options_parse(s, argc, argv, &io);
	s->batch_bytes = cfg->batch_bytes;
	srandom((unsigned)(now_ms() ^ getpid()));

	/* Every path this run writes is checked before any input is read. */
	ring_max = (size_t)cfg->workers * cfg->batch_docs * 4;
	if (ackring_open(&s->ack, cfg->checkpoint_path, "cdc-sink-es", cfg->checkpoint_interval_ms,
			 ring_max < 65536 ? 65536 : ring_max, cfg->dry_run, &s->m) < 0)
		exit(CDC_EXIT_FAILURE);
	metrics_init(&s->m, "cdc-sink-es");
	s->m.extra = stats_metrics;
	s->m.extra_stats = stats_line;
	s->m.extra_arg = s;
	evin_open(&s->in, &io, EVIN_EVENTS, argv + optind, argc - optind);
	evin_set_metrics(&s->in, &s->m);
	evin_set_idle(&s->in, loop_idle, s);

	s->ack.dl = &s->in.dl;

	lanes_init(s);
	if (cfg->dry_run) {
		wr_init(&s->out, 1, 0);
	} else {
		http_init(s);
		startup_checks(s);
	}
	say_start(s, argc - optind);
	sig_setup();

	for (;;) {
		struct evin_line l;
		enum evin_status st = evin_next(&s->in, &l);

		if (st == EVIN_INTR) {
			if (cdc_stop)
				finish(s, CDC_EXIT_OK);
			continue;
		}
		if (st == EVIN_CUT) {
			/* What came before the cut is applied and checkpointed: then restart. */
			drain(s);
			finish(s, s->fatal ? s->fatal : CDC_EXIT_TEMPFAIL);
		}
		if (st != EVIN_LINE)
			finish(s, evin_exit_status(st));
		s->input_idle = false;
		apply_line(s, &l);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		if (++since_pump >= 64) {
			since_pump = 0;
			pump(s, 0, false, NULL);
		}
	}
}

