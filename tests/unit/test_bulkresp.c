/* Unit tests for cmd/cdc-sink-es/bulkresp.c: the _bulk and _mget response walkers. */
#include "../../cmd/cdc-sink-es/bulkresp.h"
#include "tap.h"

#include <stdlib.h>

static long
parse(const char *body, struct bulk_item_result *out, size_t n, bool *errors, const char **err)
{
	return bulkresp_parse(body, strlen(body), out, n, errors, err);
}

static int found;
static void
count_fn(const struct json_span *v, void *arg)
{
	(void)v;
	(void)arg;
	found++;
}

int
main(void)
{
	struct bulk_item_result r[8];
	struct mget_doc d[4];
	struct json_span type, reason;
	const char *err = NULL;
	bool errors;
	long n;

	n = parse("{\"errors\":false,\"items\":[{\"index\":{\"status\":201}},{\"delete\":{\"status\":404}}]}",
		  r, 8, &errors, &err);
	is_int(n, 2, "two items");
	ok(!errors, "errors false");
	is_int(r[0].status, 201, "first status");
	is_int(r[1].status, 404, "second status");
	ok(r[0].type.p == NULL, "no error type");

	n = parse("{\"took\":3,\"errors\":true,\"items\":[{\"index\":{\"_index\":\"x\",\"status\":400,"
		  "\"error\":{\"type\":\"mapper_parsing_exception\",\"reason\":\"failed \\\"x\\\"\","
		  "\"caused_by\":{\"type\":\"y\"}}}},{\"index\":{\"status\":409,\"error\":{\"type\":"
		  "\"version_conflict_engine_exception\"}}}]}", r, 8, &errors, &err);
	is_int(n, 2, "error items counted");
	ok(errors, "errors true");
	is_int(r[0].status, 400, "400 item");
	ok(json_span_eq(&r[0].type, "mapper_parsing_exception"), "error type");
	ok(json_span_eq(&r[0].reason, "failed \"x\""), "error reason with escapes");
	ok(json_span_eq(&r[1].type, "version_conflict_engine_exception"), "409 type");

	/* More items than the caller has room for: counted, not stored. */
	n = parse("{\"items\":[{\"index\":{\"status\":200}},{\"index\":{\"status\":200}},"
		  "{\"index\":{\"status\":503}}]}", r, 1, &errors, &err);
	is_int(n, 3, "all items counted when out is short");

	/* Malformed bodies. */
	static const char *bad[] = {
		"", "[]", "{", "{\"items\":{}}", "{\"errors\":true}",
		"{\"items\":[{\"index\":{\"status\":\"200\"}}]}",
		"{\"items\":[{\"index\":{\"status\":99}}]}",
		"{\"items\":[{\"index\":{\"status\":200},\"delete\":{\"status\":200}}]}",
		"{\"items\":[{\"index\":{}}]}",
		"{\"items\":[42]}",
		"{\"items\":[{\"index\":42}]}",
		"{\"items\":[{\"index\":{\"status\":200}}]} x",
		"{\"items\":[{\"index\":{\"status\":200}}],\"items\":[]}",
		"{\"items\":[{\"index\":{\"status\":2000000000000000000000}}]}",
		"{\"items\":[{\"index\":{\"status\":200}}",
		"<html>502 Bad Gateway</html>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[128];

		err = NULL;
		snprintf(name, sizeof(name), "malformed body %zu refused", i);
		ok(parse(bad[i], r, 8, &errors, &err) == -1 && err != NULL, name);
	}
	ok(bulkresp_parse(NULL, 0, r, 8, &errors, &err) == -1, "NULL body refused");

	/* Every prefix of a valid response is refused, never read past. */
	{
		const char *full = "{\"errors\":true,\"items\":[{\"index\":{\"status\":400,\"error\":"
				   "{\"type\":\"t\",\"reason\":\"r\"}}}]}";
		size_t len = strlen(full);
		int bad_prefix = 0;

		for (size_t k = 0; k < len; k++) {
			char *p = malloc(k ? k : 1);

			memcpy(p, full, k);
			if (bulkresp_parse(p, k, r, 8, &errors, &err) != -1)
				bad_prefix++;
			free(p);
		}
		is_int(bad_prefix, 0, "every truncated response refused");
	}

	/* Whole-request errors. */
	ok(errresp_parse("{\"error\":{\"root_cause\":[],\"type\":\"cluster_block_exception\","
			 "\"reason\":\"blocked\"},\"status\":403}", 95, &type, &reason) == 0 &&
	   json_span_eq(&type, "cluster_block_exception") && json_span_eq(&reason, "blocked"),
	   "error object");
	ok(errresp_parse("{\"error\":\"no handler\"}", 22, &type, &reason) == 0 &&
	   type.p == NULL && json_span_eq(&reason, "no handler"), "error string");
	ok(errresp_parse("oops", 4, &type, &reason) == -1, "not JSON");

	/* mget. */
	{
		const char *m = "{\"docs\":[{\"_index\":\"i\",\"_id\":\"1\",\"_version\":7,\"_seq_no\":1,"
				"\"found\":true,\"_source\":{\"big\":\"x\"}},{\"_index\":\"i\",\"_id\":\"2\","
				"\"found\":false},{\"_index\":\"j\",\"_id\":\"3\",\"error\":{\"type\":"
				"\"index_not_found_exception\",\"reason\":\"no such index\"}}]}";

		n = mgetresp_parse(m, strlen(m), d, 4, &err);
		is_int(n, 3, "mget: three docs");
		ok(d[0].found && d[0].has_version && d[0].version == 7, "mget: found with version");
		is_mem(d[0].source, d[0].source_len, "{\"big\":\"x\"}", "mget: source span");
		ok(!d[1].found && d[1].source == NULL, "mget: not found");
		ok(json_span_eq(&d[2].err_type, "index_not_found_exception"), "mget: error doc");
		ok(mgetresp_parse("{\"docs\":[{\"found\":true}]}", 25, d, 4, &err) == -1,
		   "mget: found without _source refused");
		ok(mgetresp_parse("{\"docs\":[{\"found\":1}]}", 22, d, 4, &err) == -1,
		   "mget: non-boolean found refused");
		ok(mgetresp_parse("{}", 2, d, 4, &err) == -1, "mget: no docs refused");
	}

	/* Search and scroll pages. */
	{
		struct search_hit h[4];
		struct json_span sid;
		const char *sr = "{\"_scroll_id\":\"abc=\",\"took\":1,\"hits\":{\"total\":{\"value\":2},"
				 "\"hits\":[{\"_index\":\"i\",\"_id\":\"1\",\"_version\":7},"
				 "{\"_index\":\"i\",\"_id\":\"a\\\"b\",\"_version\":300}]}}";

		n = searchresp_parse(sr, strlen(sr), h, 4, &sid, &err);
		is_int(n, 2, "search: two hits");
		ok(json_span_eq(&sid, "abc="), "search: scroll id");
		is_mem(h[0].index, h[0].index_len, "\"i\"", "search: raw index");
		is_mem(h[1].id, h[1].id_len, "\"a\\\"b\"", "search: raw id, escapes kept");
		ok(h[0].has_version && h[0].version == 7 && h[1].version == 300, "search: versions");
		sr = "{\"_scroll_id\":\"x\"}";
		n = searchresp_parse(sr, strlen(sr), h, 4, &sid, &err);
		is_int(n, 0, "search: no hits member (filter_path drops it) is an empty page");
		sr = "{\"hits\":{\"hits\":[{\"_index\":\"i\",\"_id\":\"1\"},"
		     "{\"_index\":\"i\",\"_id\":\"2\"}]}}";
		n = searchresp_parse(sr, strlen(sr), h, 1, &sid, &err);
		is_int(n, 2, "search: hits counted when out is short");
		ok(sid.p == NULL && !h[0].has_version, "search: no scroll id, no version");
		static const char *sbad[] = {
			"[]", "{\"hits\":[]}", "{\"hits\":{\"hits\":{}}}",
			"{\"hits\":{\"hits\":[{\"_id\":\"1\"}]}}",
			"{\"hits\":{\"hits\":[{\"_index\":\"i\",\"_id\":1}]}}",
			"{\"hits\":{\"hits\":[{\"_index\":\"i\",\"_id\":\"\"}]}}",
			"{\"hits\":{\"hits\":[{\"_index\":\"i\",\"_id\":\"1\",\"_version\":-1}]}}",
			"{\"_scroll_id\":5}", "{\"hits\":{\"hits\":[]}} x", "{\"hits\":",
		};
		for (size_t i = 0; i < sizeof(sbad) / sizeof(sbad[0]); i++) {
			char name[64];

			snprintf(name, sizeof(name), "search: malformed body %zu refused", i);
			ok(searchresp_parse(sbad[i], strlen(sbad[i]), h, 4, &sid, &err) == -1, name);
		}
	}

	/* Indexing-pressure rejections: too large by itself, or load. */
	{
		struct json_span r1 = { "rejected execution of primary operation [coordinating_and_primary_bytes="
					"52429009, replica_bytes=0, all_bytes=52429009, primary_operation_bytes="
					"209715236, max_primary_bytes=107374182]", 0, false };
		struct json_span r2 = { "rejected execution of primary operation [coordinating_and_primary_bytes="
					"107000000, replica_bytes=0, all_bytes=107000000, primary_operation_bytes="
					"1000, max_primary_bytes=107374182]", 0, false };
		struct json_span r3 = { "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
					"replica_bytes=0, all_bytes=0, coordinating_operation_bytes=60000000, "
					"max_coordinating_and_primary_bytes=53687091]", 0, false };
		struct json_span r4 = { "rejected execution of org.opensearch.common.util.concurrent."
					"TimedRunnable@1 on QueueResizingEsThreadPoolExecutor", 0, false };
		struct json_span r5 = { "primary_operation_bytes=5, max_primary_bytes=", 0, false };

		r1.len = strlen(r1.p);
		r2.len = strlen(r2.p);
		r3.len = strlen(r3.p);
		r4.len = strlen(r4.p);
		r5.len = strlen(r5.p);
		ok(rejected_too_large(&r1), "429: a primary operation over max_primary_bytes is too large");
		ok(!rejected_too_large(&r2), "429: under the limit it is load");
		ok(rejected_too_large(&r3), "429: a coordinating operation over the limit is too large");
		ok(!rejected_too_large(&r4), "429: a full queue is load");
		ok(!rejected_too_large(&r5), "429: a limit without a number is not read");
		ok(!rejected_too_large(NULL), "429: no reason is load");
	}

	/* Finding settings. */
	{
		const char *st = "{\"a\":{\"settings\":{\"index\":{\"gc_deletes\":\"60s\"}}},"
				 "\"b\":{\"defaults\":{\"index\":{\"gc_deletes\":\"1h\"}}}}";

		found = 0;
		is_int(json_find_strings(st, strlen(st), "gc_deletes", count_fn, NULL), 2,
		       "find_strings: two values");
		is_int(found, 2, "find_strings: callback per value");
		is_int(json_find_strings("{\"x\":", 5, "x", count_fn, NULL), -1,
		       "find_strings: malformed refused");
	}
	return tap_done();
}
