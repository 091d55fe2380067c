/*
 * sink.h: the parts of cdc-sink-es and how they share state.
 *
 * main.c reads events (common/evinput) and hands each good line to
 * apply.c, which turns it into bulk actions (an index or a delete) for a
 * lane: lane = hash(index, id) % workers, so all events of one document
 * travel in order on one lane.  A lane fills one batch while its previous
 * batch is in flight (lane.c); requests run concurrently through one
 * libcurl multi handle (http.c).  The lanes never wait: the loop (loop.c)
 * pumps transfers and, when an action does not fit or a document must be
 * applied first, waits for the lane by pumping.  Every event that needs
 * acknowledging has a slot in the ring (common/ackring), in input order; a slot is
 * done when all its actions are applied (or stale, or dead-lettered), and
 * the checkpoint is the position of the last slot of the contiguous run of
 * done slots (the watermark).  options.c reads the command line,
 * index.c and truncate.c talk to the server about indexes, alias.c
 * switches --alias at the end, stats.c adds the sink's own metrics.
 *
 * Everything here is owned by the one struct sink, created in main() and
 * passed to every function; there are no globals and no other threads.
 */
#ifndef CDC_SINK_H
#define CDC_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "ackring.h"
#include "buf.h"
#include "bulkresp.h"
#include "checkpoint.h"
#include "deadletter.h"
#include "evinput.h"
#include "json.h"
#include "lsn.h"
#include "metrics.h"
#include "writer.h"

enum truncate_mode { TRUNC_DELETE, TRUNC_SKIP, TRUNC_STOP };

struct node {
	char *url;		/* base URL, no trailing '/', no credentials */
};

struct config {
	struct node *nodes;
	int nnodes;
	const char *index_tmpl;
	const char *alias_tmpl;		/* --alias, or NULL */
	int workers;
	uint64_t batch_docs;
	uint64_t batch_bytes;
	int64_t batch_wait_ms;
	int64_t linger_ms;		/* an idle input sends a batch once it is this old */
	int64_t checkpoint_interval_ms;	/* at most one checkpoint write this often */
	int max_retries;
	int64_t timeout_ms;
	int64_t backoff_ms;		/* first retry delay */
	int64_t backoff_max_ms;
	const char *checkpoint_path;
	const char *pipeline;
	const char *refresh;		/* NULL, "true" or "wait_for" */
	bool gzip;
	bool dry_run;
	bool soft_delete;
	bool delete_unseen;		/* --delete-unseen: see do_incremental_end() */
	bool insecure;
	enum truncate_mode truncate;
	char *create_body;		/* --create-index file contents, or NULL */
	char *user, *password, *api_key;
	const char *netrc_file;
	const char *cacert, *cert, *key;
};

/* The soft-delete marker field. */
#define SOFT_DELETE_FIELD "__deleted"

/* Unchanged TOAST columns of an index action: none, or to read from the stored document. */
enum toast_kind { TOAST_NONE, TOAST_SAME };

/* One bulk action in a lane's batch. */
struct item {
	uint64_t ord;			/* its event's slot */
	uint64_t lineno;
	uint64_t dochash;
	uint64_t version;
	size_t body_off, body_len;	/* action + source lines, in body (or merged) */
	size_t line_off, line_len;	/* the input line, in lines */
	bool is_delete;			/* a real delete (not a soft one) */
	bool toast;			/* unchanged TOAST columns to fill in */
	bool merged;			/* body is in batch.merged */
	bool done;
	bool inreq;			/* part of the request in flight */
};

struct batch {
	struct buf body;		/* NDJSON bulk body as built */
	struct buf lines;		/* original input lines */
	struct buf merged;		/* bodies of TOAST items after the merge */
	struct item *items;
	size_t n, cap;
	size_t todo;			/* items not done */
	int64_t first_ms;		/* monotonic time of the first item */
	bool toast;			/* has TOAST items */
	bool toast_merged;		/* their bodies are merged */
};

enum lane_phase { PH_BULK, PH_MGET };

struct lane {
	int id;
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *headers_json;
	struct batch fill;		/* collecting events */
	struct batch work;		/* being sent (n == 0: none) */
	struct buf req;			/* a request body built from parts */
	struct buf gz;			/* the gzip of the request body */
	struct buf resp;		/* response body */
	struct buf url;
	char errbuf[CURL_ERROR_SIZE];
	bool busy;			/* a request is in flight */
	enum lane_phase phase;
	size_t chunk;			/* max items per request (halved on 413) */
	size_t req_items;		/* items in the request in flight */
	size_t req_bytes;
	int attempts;			/* consecutive failed attempts */
	int64_t wake_ms;		/* backoff: resend at this monotonic time */
	bool stopped;			/* hit a stop-policy error: send nothing more */
};

/* The sink's own counters; the shared ones are in struct metrics. */
struct stats {
	uint64_t docs, deletes, stale, batches, retries, bytes;
	struct metrics_sizes req_actions;	/* actions per bulk request answered */
};

struct sink {
	struct config *cfg;
	CURLM *multi;
	CURL *sync;			/* for one-off requests (startup, truncate, create) */
	struct curl_slist *sync_headers;
	struct curl_slist *sync_headers_ndjson;
	struct buf sync_resp;
	struct buf sync_url;
	char sync_err[CURL_ERROR_SIZE];
	struct lane *lanes;
	struct ackring ack;		/* events to acknowledge, and the checkpoint */
	struct evin in;			/* the input, and the dead-letter file */
	int node;			/* current node for new requests */
	uint64_t batch_bytes;		/* may shrink after a 413 */
	bool input_idle;
	bool started;			/* a transfer was added since the last curl_multi_perform() */
	int fatal;			/* exit status to stop with; 0 while all is well */
	struct stats st;
	struct metrics m;
	struct writer out;		/* --dry-run output */
	/* lane.c's request path and response scratch */
	struct buf bulk_path;		/* /_bulk?... with the fixed parameters */
	struct bulk_item_result *results;
	size_t nresults;
	struct mget_doc *mdocs;
	size_t nmdocs;
	bool *mnewer;			/* per _mget doc: missing because a later event removed it */
	size_t nmnewer;
	bool split_warned;		/* the 413 split warning was given */
	bool finishing;			/* finish() is running */
	/* scratch buffers of apply.c and truncate.c, reused for every event */
	struct buf scratch_index, scratch_id, scratch_old, scratch_action, scratch_doc, scratch_toast;
	char **indexes;			/* indexes seen (for --create-index) */
	char **aliases;			/* --alias for each of them */
	size_t nindexes, capindexes;
};

/* lane.c */
void lanes_init(struct sink *s);
/*
 * The lanes are driven by the loop and never wait themselves: the loop
 * asks whether a lane must send its fill batch before an action fits
 * (lane_must_flush) or still holds a document (lane_holds_doc), and pumps
 * until it does not (loop_wait_lane, loop_wait_doc).
 */
/* Append one action to the lane's fill batch (room ensured by the caller).  line is copied. */
void lane_add(struct sink *s, struct lane *ln, uint64_t ord, uint64_t lineno,
	      const char *line, size_t len, const struct buf *action, const char *doc,
	      size_t doclen, uint64_t dochash, uint64_t version, bool is_delete,
	      enum toast_kind toast);
/* Must the fill batch go before an action of add bytes (for dochash, with TOAST) joins it? */
bool lane_must_flush(const struct sink *s, const struct lane *ln, size_t add, bool toast,
		     uint64_t dochash);
/* No request in flight and no work batch (a finished one is cleared). */
bool lane_idle(struct lane *ln);
/* An idle lane sends its fill batch now. */
void lane_flush(struct sink *s, struct lane *ln);
/* Is an action for the document queued or in flight on the lane? */
bool lane_holds_doc(const struct lane *ln, uint64_t dochash);
/*
 * Append the document after (a JSON object) with the unchanged TOAST
 * columns cols (a JSON array of names) added from the stored _source src;
 * a column src lacks is left out.
 */
void toast_merge(struct buf *out, const char *after, size_t alen, const char *cols, size_t clen,
		 const char *src, size_t srclen);
/* Start requests that are ready; handle finished transfers. */
void lanes_kick(struct sink *s);
void lane_done(struct sink *s, struct lane *ln, CURLcode rc);
/* True when no lane has anything queued or in flight (stopped lanes aside). */
bool lanes_empty(struct sink *s);
/* Milliseconds until the next backoff expires (or max_wait). */
int lanes_next_wake(struct sink *s, int max_wait);
/* Is a request in flight on any lane? */
bool lanes_in_flight(const struct sink *s);

/* options.c: the command line into s->cfg, s->m (--stats, --metrics-file) and io. */
void options_parse(struct sink *s, int argc, char **argv, struct evin_opts *io);

/* loop.c: wait (pumping) while the ring is full. */
void ring_room(struct sink *s);
/* A slot for an event with pending actions; waits (pumping) while the ring is full. */
uint64_t ring_push(struct sink *s, const struct event_info *ev, uint32_t pending);
/* Retire done slots; write the checkpoint when due (a failed write sets s->fatal). */
void checkpoint_maybe(struct sink *s);

/* loop.c */
/* Drive transfers: wait up to timeout_ms (for curl or, if watch_input, the input). */
void pump(struct sink *s, int timeout_ms, bool watch_input, bool *input_ready);
/* Stop: drain when status is 0 or 65, write the checkpoint, metrics, exit. */
_Noreturn void finish(struct sink *s, int status);
/* Wait until every lane is empty (sending what is queued). */
void drain(struct sink *s);
/* The input's idle hook: pump until input is readable. */
void loop_idle(void *sink);
/* Pump until the lane is idle, then send its fill batch (finishes on a stop). */
void loop_wait_lane(struct sink *s, struct lane *ln);
/* Pump until no action for the document is queued or in flight on its lane ln. */
void loop_wait_doc(struct sink *s, struct lane *ln, uint64_t dochash);

/* apply.c */
/* One good event line into actions (or a slot, or the bad-input policy). */
void apply_line(struct sink *s, const struct evin_line *l);
/* A line that cannot be applied: the bad-input policy decides (may finish()). */
void bad_line(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *reason,
	      const char *line, size_t len, size_t truncated);

/* truncate.c: a truncate event (the --truncate policy), then truncate_index() below. */
void do_truncate(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *line,
		 size_t len);
/*
 * truncate.c: an incremental_end event under --delete-unseen: for a
 * snapshot of a whole table, the documents of the table's index below its
 * snapshot.since_lsn (written before the snapshot began and neither
 * rewritten by it nor changed by the stream since) are deleted at the
 * event's commit LSN, as a truncate deletes.  A snapshot with a condition
 * deletes nothing.
 */
void do_incremental_end(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *line,
			size_t len);

/* index.c */
/* The first event for an index: create it (--create-index), check it, note its --alias. */
void ensure_index(struct sink *s, const char *name, const struct event_info *ev);
/* Read the server's limits (http.max_content_length) before the first request. */
void startup_checks(struct sink *s);

/* http.c */
/*
 * Every libcurl option is checked: one it refuses (an old libcurl, a TLS
 * backend without the feature) stops the sink at start with its name
 * rather than running with it silently unset.
 */
#define SETOPT(easy, opt, val) http_setopt_ok(curl_easy_setopt((easy), (opt), (val)), #opt)
void http_setopt_ok(CURLcode rc, const char *name);
void http_init(struct sink *s);
/* Set up easy for a request to the current node; path is appended to the node URL. */
void http_prepare(struct sink *s, CURL *easy, struct buf *url, const char *path,
		  struct buf *resp, char *errbuf);
/* True for transfer errors worth a retry on another node. */
bool http_retryable(CURLcode rc);
/* Next node after a connection-level failure. */
void http_failover(struct sink *s, const char *why);
/*
 * A blocking request (method GET/PUT/POST, body may be NULL) with retries
 * on connection errors, 429 and 5xx.  Returns the HTTP status with the
 * body in s->sync_resp; -1 when retries ran out or a stop was asked for
 * (temporary: the caller exits CDC_EXIT_TEMPFAIL, or 0 when stopping);
 * -2 for a transfer error no retry can mend (a TLS or URL problem: exit
 * CDC_EXIT_FAILURE).  Messages are printed for -1 and -2.
 */
long http_sync(struct sink *s, const char *method, const char *path, const char *body);
/* As http_sync(); ndjson: the body is NDJSON (a _bulk request). */
long http_sync_ct(struct sink *s, const char *method, const char *path, const char *body,
		  bool ndjson);
/* Gzip src into dst (replacing it). */
void http_gzip(const char *src, size_t len, struct buf *dst);
/* Append "type: reason" of an error body (sanitised: no field values). */
void http_reason(struct buf *out, const struct json_span *type, const struct json_span *reason);

/* truncate.c */
/*
 * Apply a truncate at version (its commit LSN) to index: every document
 * listed by a scroll over the index is deleted by id at that version with
 * version_type=external_gte (--soft-delete: replaced by a marker document
 * at that version), so documents of later events stay and earlier events
 * replayed later are refused as stale.  The caller has drained the lanes.
 * Stops the sink (finish()) when the server refuses or stays unreachable;
 * the server's reason is printed.
 */
void truncate_index(struct sink *s, const char *index, uint64_t version, uint64_t lineno);

/* stats.c: the sink's lines in --stats and --metrics-file (metrics.h hooks) */
/* Copy the sink's counters into the shared ones before they are shown. */
void stats_sync(struct sink *s);
void stats_metrics(struct buf *out, const char *labels, void *sink);
void stats_line(struct buf *out, void *sink);

/* alias.c: point each --alias at the indexes written; returns an exit status. */
int switch_aliases(struct sink *s);

/* Backoff delay for attempt n (1-based), with jitter. */
int64_t backoff_delay(const struct config *cfg, int attempt);

#endif
