/*
 * fuzz_types.c: cdc-capture's value mapping (cmd/cdc-capture/types.c).
 *
 * Input: two bytes choosing a type from the built-in OIDs types.c knows
 * (and one it does not), then the value's text as pgoutput or COPY would
 * deliver it.  typemap_new(NULL, ...) never connects: unknown types are
 * strings.
 *
 * Oracle (types.h: "Never fails: text that does not parse as its type is
 * written as a JSON string"): the output is exactly one JSON value (json
 * may keep whitespace around it), valid
 * UTF-8, without NUL, CR or LF bytes (it goes inside one event line).
 * json/jsonb text is embedded as it is, so for those types only text the
 * server could send is checked (valid JSON, valid UTF-8); json[]/jsonb[]
 * arrays are run for crashes only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "buf.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "types.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static const uint32_t oids[] = {
	16, 17, 20, 21, 23, 26, 700, 701, 1700, 114, 3802, 1114, 1184, 1266,
	18, 19, 25, 1042, 1043, 1082, 1083, 1186, 2950, 869, 650, 829, 774, 790,
	142, 3614, 4072, 1560, 1562, 24, 28,
	1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022,
	1028, 1115, 1182, 1183, 1185, 1187, 1231, 1270, 2951, 199, 3807, 1041,
	651, 1040, 791,
	99999,			/* not built in: a string without a lookup */
};
#define NOIDS (sizeof(oids) / sizeof(oids[0]))

static struct typemap *tm, *tm_num;
static struct buf out;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_types");
	cdc_verbosity = -1;
	tm = typemap_new(NULL, false);
	tm_num = typemap_new(NULL, true);
	return 0;
}

static bool
valid_json_text(const char *s, size_t n)
{
	const char *err, *end;
	size_t bad;

	if (!utf8_valid(s, n, &bad) || memchr(s, '\0', n))
		return false;
	end = json_skip(s, s + n, &err);
	return end && json_ws(end, s + n) == s + n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t oid;
	const char *text, *end, *err = NULL;
	size_t n, bad;
	char *copy;
	bool strict = true;

	if (size < 2)
		return 0;
	oid = oids[(data[0] << 8 | data[1]) % NOIDS];
	n = size - 2;
	copy = malloc(n ? n : 1);	/* exact size: overreads are caught */
	CHECK(copy != NULL);
	memcpy(copy, data + 2, n);
	text = copy;

	if (oid == 114 || oid == 3802)
		strict = valid_json_text(text, n);
	if (oid == 199 || oid == 3807)
		strict = false;

	for (int pass = 0; pass < 2; pass++) {
		buf_reset(&out);
		typemap_value(pass ? tm_num : tm, &out, oid, text, n);
		if (!strict)
			continue;
		CHECK(out.len > 0);
		end = json_skip(out.data, out.data + out.len, &err);
		/* json keeps the server's whitespace around the value: allowed. */
		if (!end || json_ws(end, out.data + out.len) != out.data + out.len) {
			fprintf(stderr, "type %u: output is not one JSON value (%s): %.*s\n", oid,
				end ? "trailing text" : err, (int)(out.len > 300 ? 300 : out.len), out.data);
			abort();
		}
		CHECK(utf8_valid(out.data, out.len, &bad));
		CHECK(memchr(out.data, '\0', out.len) == NULL);
		CHECK(memchr(out.data, '\n', out.len) == NULL);
		CHECK(memchr(out.data, '\r', out.len) == NULL);
	}
	free(copy);
	return 0;
}
