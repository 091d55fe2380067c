/*
 * sink.h: the parts of cdc-sink-es and how they share state.
 *
 * main.c reads events and turns each into bulk actions (an index or a
 * delete) that go to a lane: lane = hash(index, id) % workers, so all
 * events of one document travel in order on one lane.  A lane fills one
 * batch while its previous batch is in flight (lane.c); requests run
 * concurrently through one libcurl multi handle (http.c).  Every event
 * that needs acknowledging has a slot in the ring, in input order; a slot
 * is done when all its actions are applied (or stale, or dead-lettered),
 * and the checkpoint is the position of the last slot of the contiguous
 * run of done slots (the watermark).
 *
 * Everything here is owned by the one struct sink; nothing is shared with
 * other threads (there are none).
 */
#ifndef CDC_SINK_H
#define CDC_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "checkpoint.h"
#include "deadletter.h"
#include "json.h"
#include "lsn.h"
#include "writer.h"

enum truncate_mode { TRUNC_DELETE, TRUNC_SKIP, TRUNC_STOP };

struct node {
	char *url;		/* base URL, no trailing '/', no credentials */
};

struct config {
	struct node *nodes;
	int nnodes;
	const char *index_tmpl;
	int workers;
	uint64_t batch_docs;
	uint64_t batch_bytes;
	int64_t batch_wait_ms;
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
	bool stats;
	bool insecure;
	enum truncate_mode truncate;
	char *create_body;		/* --create-index file contents, or NULL */
	const char *metrics_path;
	char *user, *password, *api_key;
	const char *netrc_file;
	const char *cacert, *cert, *key;
};

/* The soft-delete marker field. */
#define SOFT_DELETE_FIELD "__deleted"

/* One event that needs acknowledging, in input order. */
struct slot {
	struct cdc_pos pos;
	int64_t ts_ms;			/* commit time, 0 if unknown */
	uint32_t pending;		/* actions not yet resolved */
	bool snapshot;			/* source.snapshot == "true" */
	bool blocked;			/* failed under the stop policy: never done */
	bool data;			/* a data event (counts for lag) */
};

struct ring {
	struct slot *s;
	size_t cap;			/* power of two */
	uint64_t head;			/* next ordinal to hand out */
	uint64_t tail;			/* oldest slot not yet retired */
};

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

/* Counters for --stats and --metrics-file. */
#define LAG_BUCKETS 320
struct stats {
	uint64_t events, skipped, docs, deletes, stale, batches, retries, dead, bytes;
	uint64_t lag[LAG_BUCKETS];
	uint64_t lag_n;
	int64_t start_ms;
	int64_t last_metrics_ms;
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
	struct ring ring;
	struct deadletter dl;
	uint64_t dl_synced;		/* dl.count at the last dl_sync() */
	struct checkpoint start;	/* the checkpoint read at start */
	bool have_start;
	struct cdc_pos wm;		/* watermark: last retired position */
	bool wm_snapshot, wm_valid, wm_dirty;
	struct cdc_pos written;		/* last position written to the checkpoint */
	bool have_written;
	char name[128];			/* source.name of the events */
	int node;			/* current node for new requests */
	uint64_t batch_bytes;		/* may shrink after a 413 */
	size_t ring_max;
	bool input_idle;
	int fatal;			/* exit status to stop with; 0 while all is well */
	struct stats st;
	struct writer out;		/* --dry-run output */
	char **indexes;			/* indexes seen (for --create-index) */
	size_t nindexes, capindexes;
};

/* lane.c */
void lanes_init(struct sink *s);
/* Queue one action; may wait (pumping) for room.  line is copied. */
void lane_add(struct sink *s, struct lane *ln, uint64_t ord, uint64_t lineno,
	      const char *line, size_t len, const struct buf *action, const char *doc,
	      size_t doclen, uint64_t dochash, uint64_t version, bool is_delete,
	      enum toast_kind toast);
/*
 * Wait (pumping, sending what is queued) until no action for the document
 * is queued or in flight on its lane ln; stops the sink when the lane
 * stopped.
 */
void lane_wait_doc(struct sink *s, struct lane *ln, uint64_t dochash);
/*
 * Append the document after (a JSON object) with the unchanged TOAST
 * columns cols (a JSON array of names) added from the stored _source src;
 * a column src lacks is left out.
 */
void toast_merge(struct buf *out, const char *after, size_t alen, const char *cols, size_t clen,
		 const char *src, size_t srclen);
/* The raw value of member name of the JSON object obj; false when absent. */
bool raw_member(const char *obj, size_t olen, const char *name, const char **v, size_t *vlen);
/* Start requests that are ready; handle finished transfers. */
void lanes_kick(struct sink *s);
void lane_done(struct sink *s, struct lane *ln, CURLcode rc);
/* True when no lane has anything queued or in flight (stopped lanes aside). */
bool lanes_empty(struct sink *s);
/* Milliseconds until the next backoff expires (or max_wait). */
int lanes_next_wake(struct sink *s, int max_wait);

/* main.c */
/* Drive transfers: wait up to timeout_ms (for curl or, if watch_input, stdin). */
void pump(struct sink *s, int timeout_ms, bool watch_input, bool *input_ready);
/* Mark one action of slot ord resolved. */
void slot_release(struct sink *s, uint64_t ord);
void slot_block(struct sink *s, uint64_t ord);
/* Stop: drain when status is 0 or 65, write the checkpoint, stats, exit. */
_Noreturn void finish(struct sink *s, int status);
/* Wait until every lane is empty (sending what is queued). */
void drain(struct sink *s);

/* http.c */
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
 * body in s->sync_resp, or -1 when retries ran out (message printed).
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

/* stats.c */
void stats_lag(struct stats *st, int64_t lag_ms);
int64_t stats_lag_quantile(const struct stats *st, double q);
void stats_print(struct sink *s);
void metrics_write(struct sink *s);

/* Backoff delay for attempt n (1-based), with jitter. */
int64_t backoff_delay(const struct config *cfg, int attempt);

#endif
