/*
 * fuzz_json.c: the JSON scanner and string writer in common/json.c.
 *
 * json_skip() validates the input; json_iter walks every object and array
 * it accepts, down to a fixed depth, and every key and string value is
 * decoded with json_span_decode() and compared with json_span_eq().  The
 * raw input is also handed to json_span_decode() as a span (its contract:
 * -1 when malformed, never a crash), to json_parse_u64/i64, and to
 * json_add_str(), whose output must be one valid JSON string that decodes
 * back to the input when the input is valid UTF-8 (and is valid UTF-8
 * always).
 *
 * Cross-checks: json_skip and json_iter agree on where a container ends,
 * and json_iter never accepts what json_skip rejects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "buf.h"
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

#define WALK_DEPTH 64

static struct buf dec, out;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_json");
	return 0;
}

/* A string value's span as event_scan() builds it. */
static void
check_string(const char *v, size_t vlen)
{
	struct json_span sp;

	CHECK(vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"');
	sp.p = v + 1;
	sp.len = vlen - 2;
	sp.escaped = memchr(sp.p, '\\', sp.len) != NULL;
	buf_reset(&dec);
	CHECK(json_span_decode(&sp, &dec) == 0);
	if (dec.len && memchr(dec.data, '\0', dec.len) == NULL)
		CHECK(json_span_eq(&sp, dec.data));
}

/* Walk a value json_skip() accepted; every step must succeed. */
static void
walk(const char *v, size_t vlen, int depth)
{
	struct json_iter it;
	struct json_span key;
	const char *mv, *err = NULL;
	size_t mlen;
	int r;

	const char *start = json_ws(v, v + vlen);

	vlen -= (size_t)(start - v);
	v = start;
	if (vlen == 0)
		return;
	if (*v == '"') {
		check_string(v, vlen);
		return;
	}
	if (*v != '{' && *v != '[') {
		uint64_t u;
		int64_t i;

		if (json_parse_u64(v, vlen, &u))
			CHECK(json_parse_i64(v, vlen, &i) == (u <= (uint64_t)INT64_MAX));
		return;
	}
	if (depth >= WALK_DEPTH)
		return;
	CHECK(json_iter_begin(&it, v, vlen) == 0);
	while ((r = json_iter_next(&it, &key, &mv, &mlen, &err)) == 1) {
		const char *e2;

		CHECK(mv >= v && mv + mlen <= v + vlen && mlen > 0);
		CHECK(json_skip(mv, mv + mlen, &e2) == mv + mlen);
		if (!it.array) {
			CHECK(key.p > v && key.p + key.len < v + vlen);
			CHECK(key.p[-1] == '"' && key.p[key.len] == '"');
			check_string(key.p - 1, key.len + 2);
		}
		walk(mv, mlen, depth + 1);
	}
	CHECK(r == 0);
	CHECK(json_ws(it.p, v + vlen) == v + vlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy exactly size bytes long: reads past the end are caught. */
	char *s = malloc(size ? size : 1);
	const char *end, *err = NULL;
	size_t bad;

	CHECK(s != NULL);
	memcpy(s, data, size);

	/* 1. The scanner. */
	end = json_skip(s, s + size, &err);
	if (end == NULL) {
		struct json_iter it;

		CHECK(err != NULL);
		/* json_iter must not accept a whole container json_skip rejects. */
		if (json_iter_begin(&it, s, size) == 0) {
			struct json_span key;
			const char *mv;
			size_t mlen;
			int r;

			while ((r = json_iter_next(&it, &key, &mv, &mlen, &err)) == 1)
				;
			CHECK(r != 0);
		}
	} else {
		CHECK(end > s && end <= s + size);
		walk(s, (size_t)(end - s), 0);
	}

	/*
	 * 1b. json_members() (every event is read with it) agrees with
	 * json_skip on an object: the same end, or both reject; each member's
	 * value is one whole value; the "source" object's members likewise.
	 */
	{
		const char *p = json_ws(s, s + size), *mend, *e2;
		struct json_member top[4], sub[4];
		struct json_members jm = { .m = top, .max = 4, .open = "source", .sub = sub, .submax = 4 };

		if (p < s + size && *p == '{') {
			const char *skip_end = json_skip(p, s + size, &e2);

			mend = json_members(p, s + size, &jm, &err);
			CHECK(mend == skip_end);
			if (mend != NULL) {
				for (int i = 0; i < jm.n && i < jm.max; i++)
					CHECK(json_skip(top[i].v, top[i].v + top[i].vlen, &e2) == top[i].v + top[i].vlen);
				for (int i = 0; i < jm.nsub && i < jm.submax; i++)
					CHECK(json_skip(sub[i].v, sub[i].v + sub[i].vlen, &e2) == sub[i].v + sub[i].vlen);
			}
		}
	}

	/* 2. The raw bytes as a string span: -1 or a decoding, never a crash. */
	{
		struct json_span sp = { s, size, true };

		buf_reset(&dec);
		(void)json_span_decode(&sp, &dec);
		sp.escaped = false;
		buf_reset(&dec);
		CHECK(json_span_decode(&sp, &dec) == 0 && dec.len == size);
	}

	/* 3. Numbers. */
	{
		uint64_t u;
		int64_t i;

		(void)json_parse_u64(s, size, &u);
		(void)json_parse_i64(s, size, &i);
	}

	/* 4. The writer: valid JSON, valid UTF-8, round trip for valid input. */
	buf_reset(&out);
	json_add_str(&out, s, size);
	CHECK(out.len >= 2);
	CHECK(json_skip(out.data, out.data + out.len, &err) == out.data + out.len);
	CHECK(utf8_valid(out.data, out.len, &bad));
	CHECK(memchr(out.data, '\0', out.len) == NULL);
	{
		struct json_span sp = { out.data + 1, out.len - 2, memchr(out.data, '\\', out.len) != NULL };

		buf_reset(&dec);
		CHECK(json_span_decode(&sp, &dec) == 0);
		if (utf8_valid(s, size, &bad))
			CHECK(dec.len == size && memcmp(dec.data, s, size) == 0);
		else
			CHECK(utf8_valid(dec.data, dec.len, &bad));
	}

	/* 5. base64 writer: the length is exact. */
	buf_reset(&out);
	json_add_base64(&out, s, size);
	CHECK(out.len == (size + 2) / 3 * 4 + 2);

	free(s);
	return 0;
}
