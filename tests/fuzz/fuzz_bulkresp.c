/*
 * fuzz_bulkresp.c: cdc-sink-es's readers of server responses
 * (cmd/cdc-sink-es/bulkresp.c): _bulk, _mget, whole-request errors, and
 * json_find_strings().  A server (or a proxy in front of it) can send any
 * bytes; the sink must never crash on them.
 *
 * The first input byte gives how many result slots the caller offers
 * (0..15, so "more items than sent" is reached); the rest is the body.
 *
 * Oracles besides the sanitizers: spans point inside the body; statuses
 * are HTTP statuses; an accepted _bulk or _mget body is valid JSON; the
 * count returned by json_find_strings() equals the callbacks made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkresp.h"
#include "json.h"
#include "log.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static const char *body_start, *body_end;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_bulkresp");
	return 0;
}

static void
check_span(const struct json_span *sp)
{
	if (sp->p == NULL)
		return;
	/* mgetresp_parse() names an error without type or reason "error" (static text). */
	if (sp->len == 5 && memcmp(sp->p, "error", 5) == 0)
		return;
	CHECK(sp->p >= body_start && sp->p + sp->len <= body_end);
}

static void
on_string(const struct json_span *val, void *arg)
{
	check_span(val);
	(*(int *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bulk_item_result items[16];
	struct mget_doc docs[16];
	struct json_span type, reason;
	const char *err = NULL, *end;
	size_t n, len;
	char *body;
	bool errors = false;
	long r;
	int found = 0, calls = 0;

	if (size < 1)
		return 0;
	n = data[0] & 15;
	len = size - 1;
	body = malloc(len ? len : 1);	/* exact size: overreads are caught */
	CHECK(body != NULL);
	memcpy(body, data + 1, len);
	body_start = body;
	body_end = body + len;

	memset(items, 0, sizeof(items));
	r = bulkresp_parse(body, len, items, n, &errors, &err);
	if (r < 0) {
		CHECK(err != NULL);
	} else {
		end = json_skip(body, body + len, &err);
		CHECK(end != NULL);
		for (long i = 0; i < r && (size_t)i < n; i++) {
			CHECK(items[i].status >= 100 && items[i].status <= 599);
			check_span(&items[i].type);
			check_span(&items[i].reason);
		}
	}

	type.p = reason.p = NULL;
	if (errresp_parse(body, len, &type, &reason) == 0) {
		check_span(&type);
		check_span(&reason);
	}

	memset(docs, 0, sizeof(docs));
	err = NULL;
	r = mgetresp_parse(body, len, docs, n, &err);
	if (r < 0) {
		CHECK(err != NULL);
	} else {
		CHECK(json_skip(body, body + len, &err) != NULL);
		for (long i = 0; i < r && (size_t)i < n; i++) {
			if (docs[i].source)
				CHECK(docs[i].source >= body && docs[i].source + docs[i].source_len <= body + len);
			check_span(&docs[i].err_type);
		}
	}

	found = json_find_strings(body, len, "reason", on_string, &calls);
	if (found >= 0)
		CHECK(found == calls);
	free(body);
	return 0;
}
