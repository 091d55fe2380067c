/*
 * bulkresp.h: reading Elasticsearch/OpenSearch responses: _bulk, _mget,
 * whole-request errors.  Pure functions over a response body, no I/O, so
 * they can be unit-tested and fuzzed.
 *
 * A _bulk response (possibly shrunk with filter_path, which keeps
 * items.*.status: every item has it) is
 *   {"took":5,"errors":true,"items":[{"index":{"status":201}},
 *     {"delete":{"status":404}},
 *     {"index":{"status":400,"error":{"type":"mapper_parsing_exception",
 *                                     "reason":"failed to parse ..."}}}]}
 * Items come in request order, one single-member object per action.
 *
 * Spans returned point into the caller's body (escapes not decoded): valid
 * as long as the body is.  Nothing is allocated.
 */
#ifndef CDC_SINK_BULKRESP_H
#define CDC_SINK_BULKRESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct bulk_item_result {
	int status;			/* the item's HTTP status (100..599) */
	struct json_span type;		/* error.type; p NULL when absent */
	struct json_span reason;	/* error.reason; p NULL when absent */
};

/*
 * Walk a _bulk response.  Fills out[i] for the first min(n, items) items
 * and returns how many items the response holds (the caller treats a
 * count different from what it sent as a protocol error), or -1 with a
 * static message in *err when the body is not an object with an "items"
 * array of single-member objects each with an integer "status".
 * *errors: the "errors" member (false when absent).
 */
long bulkresp_parse(const char *body, size_t len, struct bulk_item_result *out, size_t n,
		    bool *errors, const char **err);

/*
 * A whole-request error body: {"error":{"type":...,"reason":...},"status":N}
 * or {"error":"text"}.  Sets *type and *reason (p NULL when absent).
 * Returns 0 when an "error" member was found, -1 otherwise.
 */
int errresp_parse(const char *body, size_t len, struct json_span *type, struct json_span *reason);

struct mget_doc {
	bool found;
	bool has_version;
	uint64_t version;		/* _version */
	const char *source;		/* raw _source object; NULL when absent */
	size_t source_len;
	struct json_span err_type;	/* a per-doc error (e.g. index closed) */
};

/*
 * Walk an _mget response {"docs":[{"_index":..,"_id":..,"_version":N,
 * "found":true,"_source":{...}} | {"_index":..,"error":{...}}]}.  Fills
 * out[i] for the first min(n, docs) docs; returns the number of docs, or -1
 * with *err set when malformed.
 */
long mgetresp_parse(const char *body, size_t len, struct mget_doc *out, size_t n,
		    const char **err);

/* One hit of a search or scroll page; index and id are raw JSON strings (quotes included). */
struct search_hit {
	const char *index;
	size_t index_len;
	const char *id;
	size_t id_len;
	bool has_version;
	uint64_t version;		/* _version (asked for with "version":true) */
};

/*
 * Walk a search or scroll response {"_scroll_id":"..","hits":{"hits":[
 * {"_index":"i","_id":"1","_version":3},...]}} (other members ignored).
 * Fills out[i] for the first min(n, hits) hits, sets *scroll_id (p NULL
 * when absent) and returns the number of hits, or -1 with *err set when
 * malformed (a hit without a string _index and _id is malformed).
 */
long searchresp_parse(const char *body, size_t len, struct search_hit *out, size_t n,
		      struct json_span *scroll_id, const char **err);

/*
 * Whether an es_rejected_execution_exception reason (a 429) says that the
 * rejected work alone is over an indexing-pressure limit, so that waiting
 * will not help: "rejected execution of primary operation [...,
 * primary_operation_bytes=N, max_primary_bytes=M]" with N > M (likewise
 * coordinating_operation_bytes / max_coordinating_and_primary_bytes and
 * replica_operation_bytes / max_replica_bytes).  A rejection under load
 * has N <= M; any other text is not "too large".
 */
bool rejected_too_large(const struct json_span *reason);

/*
 * Call fn(value, arg) for every string-valued member named name anywhere
 * in a JSON value, depth-first in text order (e.g. every "gc_deletes" in a
 * settings response).  Returns how many were found, or -1 when malformed.
 */
int json_find_strings(const char *body, size_t len, const char *name,
		      void (*fn)(const struct json_span *val, void *arg), void *arg);

#endif
