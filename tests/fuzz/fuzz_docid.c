/*
 * fuzz_docid.c: how cdc-sink-es names documents (cmd/cdc-sink-es/docid.c):
 * docid_from_key(), docid_from_image(), index_name(), on event lines.
 *
 * Oracles besides the sanitizers (docid.h): an id is 1 to 512 bytes; a
 * refused key leaves the output as it was; the same key gives the same id;
 * an id of several columns that was not hashed holds exactly one comma
 * fewer than it has columns; an insert's id from its "after" image equals
 * its id from "key" when "after" holds the same values; index names hold
 * no upper-case ASCII (the template here has none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "buf.h"
#include "docid.h"
#include "event.h"
#include "json.h"
#include "linereader.h"
#include "log.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static struct buf id, id2, idx;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_docid");
	return 0;
}

static int
members(const char *v, size_t vlen)
{
	struct json_iter it;
	struct json_span k;
	const char *mv, *err;
	size_t mlen;
	int n = 0;

	if (json_iter_begin(&it, v, vlen) < 0 || it.array)
		return -1;
	while (json_iter_next(&it, &k, &mv, &mlen, &err) == 1)
		n++;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_info ev;
	const char *err = NULL;
	char *s = malloc(size ? size : 1);
	size_t where;
	int r;

	CHECK(s != NULL);
	memcpy(s, data, size);
	if (text_check(s, size, &where) != LINE_OK || event_scan(s, size, &ev, &err) < 0) {
		free(s);
		return 0;
	}
	buf_reset(&idx);
	index_name("cdc-{db}-{schema}-{table}-x", &ev, &idx);
	for (size_t i = 0; i < idx.len; i++)
		CHECK(!(idx.data[i] >= 'A' && idx.data[i] <= 'Z'));

	buf_reset(&id);
	buf_adds(&id, "pre");
	r = docid_from_key(ev.key, ev.key_len, &id, &err);
	if (r < 0) {
		CHECK(err != NULL);
		CHECK(id.len == 3 && memcmp(id.data, "pre", 3) == 0);
	} else {
		size_t n = id.len - 3;
		const char *p = id.data + 3;
		int cols = members(ev.key, ev.key_len);

		CHECK(r == 0);
		CHECK(n >= 1 && n <= DOCID_MAX);
		buf_reset(&id2);
		CHECK(docid_from_key(ev.key, ev.key_len, &id2, &err) == 0);
		CHECK(id2.len == n && memcmp(id2.data, p, n) == 0);
		if (cols > 1 && !(n == 71 && memcmp(p, "sha256:", 7) == 0)) {
			int commas = 0;

			for (size_t i = 0; i < n; i++)
				commas += p[i] == ',';
			CHECK(commas == cols - 1);
		}
		/* The same values in the image give the same id. */
		if (ev.after && ev.after_len >= 2 && ev.after[0] == '{') {
			buf_reset(&id2);
			r = docid_from_image(ev.key, ev.key_len, ev.after, ev.after_len, &id2, &err);
			CHECK(r >= -1 && r <= 1);
			if (r == 1 && ev.after_len == ev.key_len && memcmp(ev.after, ev.key, ev.key_len) == 0)
				CHECK(id2.len == n && memcmp(id2.data, p, n) == 0);
		}
	}
	free(s);
	return 0;
}
