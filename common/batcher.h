/*
 * batcher.h: batches of events over per-key lanes, for sinks that hand a
 * batch at a time to something that answers for it (cdc-sink-exec's
 * handlers, cdc-sink-http's receiver): Lambda's batch semantics with the
 * ack loop intact.
 *
 * batcher_add() takes every good input line.  Control events without a
 * position are dropped, a rewind or a heartbeat only moves the checkpoint
 * (common/ackring), events at or below the checkpoint are skipped.  Every
 * other event gets an ack slot and goes to one of nlanes lanes by the hash
 * of its "key" (the table's name for events with no key), so that every
 * change of a row goes to one lane, in order.  A truncate, and an update
 * that moves its row to another key, is a barrier over all lanes: it is
 * delivered once every event before it is applied, and the events after
 * it wait until it is.  A lane gathers a batch (up
 * to batch_size events, or what came in window_ms) and queues it; one
 * batch per lane is in flight at a time, so a lane's batches are applied
 * in order and the checkpoint is the contiguous watermark over all lanes.
 *
 * The sink delivers: ops->start() begins lane->cur (its attempt already
 * counted), ops->poll() drives what is in flight without waiting and
 * reports each finished batch with exactly one of batcher_applied(),
 * batcher_refused() or batcher_retry(), which take lane->cur (and free
 * it).  Bad data is bisected (Lambda's BisectBatchOnFunctionError) until
 * the bad event stands alone; temporary failures wait a doubling backoff;
 * after max_retries, or when an event is older than max_age_ms by its
 * source.ts_ms, the events go to the bad-input policy (under the stop
 * policy: blocked, exit 75 or 65).  The batcher owns its batches and lanes;
 * the sink owns whatever it keeps per lane (index it by lane->id).
 *
 * A sink is then: its options into the settings, batcher_open(), its own
 * setup, exit(batcher_run()).
 */
#ifndef CDC_BATCHER_H
#define CDC_BATCHER_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ackring.h"
#include "buf.h"
#include "event.h"
#include "evinput.h"
#include "lsn.h"
#include "metrics.h"

/* Option values (above any program's own). */
enum {
	BATCHER_OPT_BATCH_SIZE = 0x4500,
	BATCHER_OPT_BATCH_WINDOW,
	BATCHER_OPT_MAX_RETRIES,
	BATCHER_OPT_BACKOFF,
	BATCHER_OPT_MAX_EVENT_AGE,
	BATCHER_OPT_CHECKPOINT_INTERVAL,
};

/*
 * The options every batching sink has: a program lists BATCHER_OPTIONS in
 * its option table (and 'c' in its short options), BATCHER_HELP after its
 * own lines under "Batches:", BATCHER_CHECKPOINT_HELP, and passes every
 * option to batcher_option() before its own switch.
 */
#define BATCHER_OPTIONS \
	{ "batch-size", required_argument, NULL, BATCHER_OPT_BATCH_SIZE }, \
	{ "batch-window", required_argument, NULL, BATCHER_OPT_BATCH_WINDOW }, \
	{ "max-retries", required_argument, NULL, BATCHER_OPT_MAX_RETRIES }, \
	{ "backoff", required_argument, NULL, BATCHER_OPT_BACKOFF }, \
	{ "max-event-age", required_argument, NULL, BATCHER_OPT_MAX_EVENT_AGE }, \
	{ "checkpoint", required_argument, NULL, 'c' }, \
	{ "checkpoint-interval", required_argument, NULL, BATCHER_OPT_CHECKPOINT_INTERVAL }

#define BATCHER_HELP \
	"      --batch-size N           events per batch at most (default 100)\n" \
	"      --batch-window DURATION  deliver a partial batch after this long (default 1s)\n" \
	"      --max-retries N          temporary failures of one batch before exiting 75\n" \
	"                               (default 5)\n" \
	"      --backoff DURATION       first wait before a retry, doubled each time up\n" \
	"                               to 30s (default 100ms)\n" \
	"      --max-event-age DURATION an event older than this (by source.ts_ms) is not\n" \
	"                               retried again: the bad-input policy takes it\n" \
	"                               (default none)\n"

#define BATCHER_CHECKPOINT_HELP \
	"Checkpoint:\n" \
	"  -c, --checkpoint FILE        skip events at or below FILE's position; keep the\n" \
	"                               position of what was applied in it\n" \
	"      --checkpoint-interval DURATION  write FILE at most this often (default\n" \
	"                               100ms; always at the end)\n"

/* One event of a batch. */
struct bt_item {
	size_t off, len;		/* its line in data (a '\n' follows it there) */
	size_t toff, tlen;		/* "schema.table" in tables; tlen 0: none */
	size_t xoff, xlen;		/* the sink's own text for it in extra */
	uint64_t ord;			/* its ack slot */
	uint64_t lineno;
	struct cdc_pos pos;
	int64_t ts_ms;			/* source.ts_ms, 0: unknown */
	uint64_t hash;			/* of its table and key: the lane's choice */
};

struct bt_batch {
	struct buf data;		/* the lines, each with its '\n' */
	struct buf tables, extra;
	struct bt_item *it;
	size_t n, cap;
	unsigned attempt;		/* deliveries so far */
	int64_t not_before;		/* mono ms: a retry waits till then */
	int64_t first_ms;		/* mono ms: when its first event came */
	struct bt_batch *next;
};

struct bt_lane {
	int id;
	struct bt_batch *acc;		/* gathering events */
	struct bt_batch *q, *qtail;	/* ready, in order */
	struct bt_batch *cur;		/* in flight, NULL: none */
};

struct batcher_ops {
	/* Begin delivering lane->cur. */
	void (*start)(void *arg, struct bt_lane *lane);
	/* Drive deliveries in flight without waiting; report the finished ones. */
	void (*poll)(void *arg);
	/*
	 * Wait at most timeout_ms for the deliveries, or for in_fd (>= 0)
	 * to be readable; true when in_fd is.  A signal may end it early.
	 */
	bool (*wait)(void *arg, int timeout_ms, int in_fd);
	/* Optional: the sink's own text for an event, appended to out (kept per item). */
	void (*extra)(void *arg, const struct event_info *ev, const char *table, size_t tlen,
		      struct buf *out);
};

struct batcher {
	/* Settings: the caller fills these in before batcher_open(). */
	size_t batch_size;		/* --batch-size */
	int64_t window_ms;		/* --batch-window */
	int64_t backoff_ms;		/* --backoff: the first wait, doubled up to 30 s */
	int64_t max_age_ms;		/* --max-event-age, 0: none */
	unsigned max_retries;		/* --max-retries */
	int nlanes;
	const char *checkpoint;		/* --checkpoint FILE, NULL: none */
	int64_t checkpoint_ms;		/* --checkpoint-interval */
	const char *lane_name;		/* "worker", "lane": for messages */
	const char *unit;		/* "runs", "requests": metric names, messages */
	const char *unit_help;		/* the help of the deliveries metric */
	const char *refusal;		/* what bad data looks like ("exit 65"): metric help */
	const struct batcher_ops *ops;
	void *arg;			/* passed to ops */

	struct bt_lane *lane;
	struct evin in;			/* the input, with its bad-input policy */
	struct ackring ack;
	struct metrics m;		/* the caller may set its options before batcher_open() */
	int fatal;			/* the exit status to stop with, 0 while all is well */
	bool eof;			/* the input ended: send partial batches now */
	bool flush;			/* a truncate's barrier: send partial batches now */
	uint64_t deliveries, retries, bisects, applied, failed_items, expired;
	struct metrics_sizes delivered;	/* events per delivery */
	struct buf table;		/* the last event's "schema.table", decoded */
	struct span_memo table_memo;	/* the spans it was decoded from */
	uint64_t table_hash;		/* fnv1a of table */
	size_t data_hint;		/* the text of the last batch sealed, in bytes */
	int64_t clock_ms;		/* the last mono_ms() it read */
};

/*
 * The defaults of the settings above (nlanes 1); the program then sets
 * lane_name, unit, unit_help, refusal, ops and arg.
 */
void batcher_defaults(struct batcher *bt);
/*
 * Take option c with argument arg if it is one of BATCHER_OPTIONS (or
 * 'c'): returns true (dies with exit 2 on a bad value), false for any
 * other option.
 */
bool batcher_option(struct batcher *bt, int c, const char *arg);

/*
 * Set up the checkpoint (exit 1 when it cannot be read or written), the
 * metrics of program prog, the input files[0..nfiles) with io's bad-input
 * policy, and the lanes.
 */
void batcher_open(struct batcher *bt, const char *prog, const struct evin_opts *io,
		  char **files, int nfiles);
/*
 * Read the input to its end (or a signal, or a fatal failure) and deliver
 * it; then finish (batcher_finish()), print a summary at -v, close the
 * input and the metrics.  Returns the status to exit with.
 */
int batcher_run(struct batcher *bt);

/* Take a good input line (see above); sets bt->fatal when the run must stop. */
void batcher_add(struct batcher *bt, const struct evin_line *l);

/* Drive deliveries, start what is due, checkpoint; no waiting. */
void batcher_service(struct batcher *bt);
/* Wait up to the next deadline, or for in_fd (>= 0); true when in_fd is readable. */
bool batcher_wait(struct batcher *bt, int in_fd);

/*
 * The end of a run with status: at the end of input deliver everything
 * gathered; when stopping (a signal, a fatal failure) finish only what is
 * in flight.  Writes the checkpoint; returns the status to exit with.
 */
int batcher_finish(struct batcher *bt, int status);

/*
 * Outcomes of lane->cur; each takes the batch (lane->cur becomes NULL).
 *
 * batcher_applied(): applied, but for the events failed[i] names (failed
 * NULL: none), which are retried as temporary failures, together with the
 * later events of the batch that share a failed event's table and key (so
 * that a row's changes still arrive in order).
 *
 * batcher_refused(): bad data.  With failed, those events go to the
 * bad-input policy and the others are applied; without, the batch is
 * bisected, or, one event alone, it goes to the bad-input policy.  what
 * is the reason, detail (NULL: what) the longer story for a dead letter.
 *
 * batcher_retry(): a temporary failure: the batch again after wait_ms
 * (< 0: the backoff); past max_retries the bad-input policy decides, with
 * detail (NULL: why) in a dead letter.
 */
void batcher_applied(struct batcher *bt, struct bt_lane *lane, const bool *failed);
void batcher_refused(struct batcher *bt, struct bt_lane *lane, const bool *failed,
		     const char *what, const char *detail);
void batcher_retry(struct batcher *bt, struct bt_lane *lane, const char *why, const char *detail,
		   int64_t wait_ms);

/*
 * Find a Lambda ReportBatchItemFailures answer in text: the last line (or
 * else the whole text) that is an object with "batchItemFailures", an
 * array of {"itemIdentifier":"POSITION"}; an identifier may carry
 * id_prefix and ':' first (NULL: no prefix).  Returns 1 with failed[i]
 * set for the named events of b, 0 when there is no report, -1 when it is
 * malformed or names an event not in b (why says so).
 */
int batcher_report(const struct bt_batch *b, const char *text, size_t len, const char *id_prefix,
		   bool *failed, char *why, size_t whysz);

/* The comma-separated set of b's tables, in order of first appearance, into out. */
void batcher_tables(const struct bt_batch *b, struct buf *out);

#endif
