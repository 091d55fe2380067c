/*
 * fuzz_checkpoint.c: checkpoint_parse() on arbitrary text.
 *
 * Oracles besides the sanitizers: a rejected file has a reason (and a line
 * number no larger than the file's line count); an accepted one, written
 * back with checkpoint_format(), is nine lines and parses again to the
 * same position, snapshot flag, name and writer (control characters in
 * those two written as '?').
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "checkpoint.h"
#include "log.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_checkpoint");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkpoint cp, again;
	const char *err = NULL;
	unsigned line = 12345, lines = 1;
	struct buf b = BUF_INIT;
	/* A private copy: the parser must not read past len. */
	char *text = malloc(size ? size : 1);

	CHECK(text != NULL);
	memcpy(text, data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	memset(&cp, 0xA5, sizeof(cp));
	if (checkpoint_parse(text, size, &cp, &err, &line) < 0) {
		CHECK(err != NULL && err[0] != '\0');
		CHECK(line <= lines);
		free(text);
		return 0;
	}
	CHECK(memchr(cp.name, '\0', sizeof(cp.name)) != NULL);
	CHECK(memchr(cp.writer, '\0', sizeof(cp.writer)) != NULL);

	checkpoint_format(&cp, &b);
	memset(&again, 0, sizeof(again));
	err = NULL;
	if (checkpoint_parse(b.data, b.len, &again, &err, &line) < 0) {
		fprintf(stderr, "formatted checkpoint rejected: line %u: %s\n%s", line, err, b.data);
		abort();
	}
	CHECK(pos_cmp(&cp.pos, &again.pos) == 0);
	CHECK(cp.snapshot == again.snapshot);
	/* checkpoint_format() writes control characters as '?'. */
	for (char *c = cp.name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	for (char *c = cp.writer; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	CHECK(strcmp(cp.name, again.name) == 0);
	CHECK(strcmp(cp.writer, again.writer) == 0);
	CHECK(cp.epoch == again.epoch);
	/* Exactly the keys it wrote (epoch= only when set): nothing in a value starts a line of its own. */
	{
		unsigned nl = 0;

		for (size_t i = 0; i < b.len; i++)
			nl += b.data[i] == '\n';
		CHECK(nl == 9 + (cp.epoch != 0));
	}
	buf_release(&b);
	free(text);
	return 0;
}
