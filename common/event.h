/*
 * event.h: the event envelope (cdc-events(7)) as programs route on it.
 *
 * event_scan() checks that a line is one JSON object with a string "op"
 * and pulls out the few members programs need (op, source.schema/table,
 * positions, raw spans of key/before/after) without building a tree.
 * Spans point into the caller's line; nothing is allocated.  Member names
 * are compared decoded, so "t\u0061ble" is "table".
 */
#ifndef CDC_EVENT_H
#define CDC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "lsn.h"

/* What event_scan() finds in an event line. Absent spans have p == NULL. */
struct event_info {
	struct json_span op;
	struct json_span db, schema, table, name, snapshot;
	/* Raw value text (p == NULL when absent); "null" is returned as is. */
	const char *key, *before, *after, *unchanged_toast;
	size_t key_len, before_len, after_len, unchanged_toast_len;
	bool has_pos;		/* source.commit_lsn and source.seq both present */
	struct cdc_pos pos;
	bool has_lsn;
	uint64_t lsn;
	bool has_ts;
	int64_t ts_ms;		/* source.ts_ms: commit time */
	bool control;		/* op is not one of c u d r t m */
};

/*
 * Scan an event line: it must be a valid JSON object with a string "op".
 * Wrongly typed envelope fields (a non-numeric commit_lsn, say) are errors.
 * Returns 0, or -1 with *err set to a static message.
 */
int event_scan(const char *line, size_t len, struct event_info *ev, const char **err);
/*
 * As event_scan(), but any JSON object passes (cdc-record and cdc-replay
 * keep whatever object they are given): ev->op.p is NULL when it has no
 * "op", and ev->control is then false.
 */
int event_scan_any(const char *line, size_t len, struct event_info *ev, const char **err);

/* True for the ops of data events: c u d r t m. */
bool op_is_data(const struct json_span *op);

/*
 * True when the event belongs to an initial snapshot that is not over yet
 * (a checkpoint at it is "snapshot=true"): source.snapshot is "true" or one
 * of Debezium's markers "first", "first_in_data_collection",
 * "last_in_data_collection", "last" (cdc-events(7)).  "false",
 * "incremental", an absent member and snapshot_end (marked "last", but
 * the snapshot is over there) are not.
 */
bool event_in_snapshot(const struct event_info *ev);

#endif
