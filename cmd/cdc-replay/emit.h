/*
 * emit.h: what cdc-replay does with the lines it reads: check them (bad
 * line policy), select them (positions, commit times, tables, ops), pace
 * them, write them, and show progress.
 *
 * The readers (input.c) hand over a buffer of decoded bytes; emit_lines()
 * takes the complete lines from its front and leaves an unfinished last
 * line there for the next call.  The emitter owns its writer and selector;
 * emit_free() releases them.
 */
#ifndef CDC_REPLAY_EMIT_H
#define CDC_REPLAY_EMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "deadletter.h"
#include "linereader.h"
#include "lsn.h"
#include "metrics.h"
#include "segment.h"
#include "select.h"
#include "writer.h"

struct emitter {
	/* set up by the caller before use */
	struct seg_range range;		/* --from/--to/--since/--until */
	bool has_after;			/* --after-checkpoint */
	struct cdc_pos after;
	struct selector sel;
	double rate;			/* events per second, 0: no limit */
	double speed;			/* original timing sped up X times, 0: off */
	size_t max_line;
	struct deadletter *dl;
	struct metrics *metrics;	/* --stats, --metrics-file: NULL when neither */
	bool progress;
	bool count_lines;		/* count events even where nothing is checked */
	/* the input being read */
	const char *name;
	bool trusted;			/* lines come from a cdc-record log: checked when recorded */
	bool pass;			/* lines go out unchecked: trusted, or lz4 that nothing looks at */
	bool stream;			/* a pipe: a cut-off last line means its writer died (exit 75) */
	uint64_t lineno;
	/* an over-long line being skipped */
	bool skipping;
	size_t skip_len;
	char skip_prefix[LR_PREFIX];
	size_t skip_prefix_len;
	/* state */
	struct writer out;
	bool scan;			/* every line goes through event_scan() */
	bool whole;			/* the lines now handed over are all selected (emit_takes_whole()) */
	bool past_end;			/* an event after --to/--until was seen */
	int status;			/* exit status when a call returned -1 */
	int64_t pace_start_ns, pace_t0;
	bool pace_started;
	uint64_t events, bytes;
	bool have_pos;
	struct cdc_pos last_pos;
	int64_t started_ms, next_progress_ms;
	bool progress_shown;
};

/* Ready the emitter after the selection fields are set; output to fd. */
void emit_init(struct emitter *e, int fd);
/*
 * How an input's lines are checked:
 *   EMIT_CHECK    every line (plain text);
 *   EMIT_PASS     only when something looks at lines (a selection, pacing,
 *                 --skip-bad, --dead-letter); else they are passed through
 *                 and the next program checks them (lz4 input, like lz4 -dc);
 *   EMIT_TRUSTED  never (a cdc-record log, checked when it was written).
 */
enum emit_trust { EMIT_CHECK, EMIT_PASS, EMIT_TRUSTED };
/*
 * A new input starts (line numbers restart; messages name it).  The
 * caller sets e->stream for a pipe.
 */
void emit_begin_input(struct emitter *e, const char *name, enum emit_trust trust);
/*
 * Handle the complete lines at the front of data and move the rest to its
 * front; at the end of an input (final) the rest is a line too.  Returns
 * 0, or -1 when replay must stop (e->status: exit status; 0 on a signal).
 */
int emit_lines(struct emitter *e, struct buf *data, bool final);
/*
 * Would every line of a frame whose index entry is x be selected, with
 * nothing to pace?  Then a verified frame of a cdc-record log can go out
 * as it is (the reader sets e->whole while it hands the frame over).
 */
bool emit_takes_whole(const struct emitter *e, const struct seg_entry *x);
/*
 * Is no line of a frame whose index entry is x in the range?  Then it can
 * be passed over; one past the range's end sets e->past_end as its lines
 * would have.
 */
bool emit_passes_over(struct emitter *e, const struct seg_entry *x);
/* Forget an unfinished line (after a damaged frame). */
void emit_drop_partial(struct emitter *e, struct buf *data);
/* Write out what is buffered.  Returns 0, or -1 (e->status set). */
int emit_flush(struct emitter *e);
/* Flush, end the progress line; returns e->status or the output's failure. */
int emit_finish(struct emitter *e);

#endif
