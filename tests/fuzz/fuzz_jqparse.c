/*
 * fuzz_jqparse.c: the fast jv builder and printer of common/jqprog.c that
 * cdc-filter and cdc-map run on every event, against libjq's own parser
 * and printer (differential).
 *
 * For input that passed the programs' checks (valid UTF-8, no NUL, one
 * JSON value by json_skip()): jqp_parse() must build a valid jv, equal
 * (jv_equal) to what jv_parse_sized() builds whenever libjq accepts the
 * text, and jqp_print() must print it exactly as jv_dump_string(v, 0)
 * (`jq -c`) does.  The first eight input bytes read as a double also go
 * through jqp_format_double() against libjq's number printing.  The
 * program `.a` run without libjq (jqp_fast()) on {"a":INPUT} must give
 * INPUT only when INPUT is what jq -c prints for it.
 * LeakSanitizer checks the jv reference counting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "buf.h"
#include "jqprog.h"
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

static struct jqprog prog;
static struct jqprog fast;	/* `.a`, run on the text */
static struct buf out;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_jqparse");
	cdc_verbosity = -1;
	jqp_init(&prog);
	prog.check_numbers = true;
	jqp_init(&fast);
	fast.check_numbers = true;
	CHECK(jqp_compile(&fast, ".a", NULL) == 0 && jqp_fast_compile(&fast, ".a"));
	return 0;
}

static void
numbers(const uint8_t *data, size_t size)
{
	double d;
	char mine[64];
	size_t n;
	jv theirs;

	if (size < 8)
		return;
	memcpy(&d, data, 8);
	if (!isfinite(d))
		return;
	n = jqp_format_double(d, mine);
	/*
	 * jqprog.h promises 32 bytes are enough, but "-1.4184637433593542e+31"
	 * prints as 33 digits and a sign (34 bytes with the NUL); jqp_print()
	 * passes 40.  Checked against what the caller gives.
	 */
	CHECK(n < 40);
	mine[n] = '\0';
	theirs = jv_dump_string(jv_number(d), 0);
	if (strcmp(mine, jv_string_value(theirs)) != 0) {
		fprintf(stderr, "jqp_format_double(%.17g) = \"%s\", libjq prints \"%s\"\n", d, mine,
			jv_string_value(theirs));
		abort();
	}
	jv_free(theirs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	const char *end, *err;
	size_t where;
	jv mine, theirs;

	numbers(data, size);
	s = malloc(size ? size : 1);	/* exact size: overreads are caught */
	CHECK(s != NULL);
	memcpy(s, data, size);
	if (text_check(s, size, &where) != LINE_OK ||
	    (end = json_skip(s, s + size, &err)) == NULL || json_ws(end, s + size) != s + size) {
		free(s);
		return 0;
	}
	mine = jqp_parse(&prog, s, size);
	CHECK(jv_is_valid(mine));
	theirs = jv_parse_sized(s, (int)size);
	if (jv_is_valid(theirs)) {
		jv dump;

		if (!jv_equal(jv_copy(mine), jv_copy(theirs))) {
			dump = jv_dump_string(jv_copy(theirs), 0);
			buf_reset(&out);
			jqp_print(&prog, &out, mine);
			fprintf(stderr, "jqp_parse and jv_parse differ:\n  jqp: %.300s\n  jq:  %.300s\n",
				out.data, jv_string_value(dump));
			abort();
		}
		dump = jv_dump_string(jv_copy(theirs), 0);
		buf_reset(&out);
		jqp_print(&prog, &out, mine);
		if (out.len != (size_t)jv_string_length_bytes(jv_copy(dump)) ||
		    memcmp(out.data, jv_string_value(dump), out.len) != 0) {
			fprintf(stderr, "jqp_print differs from jq -c:\n  jqp: %.300s\n  jq:  %.300s\n", out.data,
				jv_string_value(dump));
			abort();
		}
		{
			struct buf wrap = BUF_INIT;

			buf_adds(&wrap, "{\"a\":");
			buf_add(&wrap, s, size);
			buf_addc(&wrap, '}');
			buf_reset(&out);
			if (jqp_fast(&fast, wrap.data, wrap.len, &out) == 1 &&
			    (out.len != (size_t)jv_string_length_bytes(jv_copy(dump)) ||
			     memcmp(out.data, jv_string_value(dump), out.len) != 0)) {
				fprintf(stderr, "jqp_fast copied what jq -c prints otherwise:\n  fast: %.300s\n  jq:  %.300s\n",
					out.data, jv_string_value(dump));
				abort();
			}
			buf_release(&wrap);
		}
		jv_free(dump);
	}
	jv_free(theirs);
	jv_free(mine);
	free(s);
	return 0;
}
