/*
 * fuzz_linereader.c: the input path every filter shares.
 *
 * The input is fed through a memfd (or, when it fits, a pipe) into
 * lr_next() with a line cap chosen by the first byte, so the over-long
 * path (skip_long_line) and buffer growth are reached with small inputs.
 * Each line then goes through what a program does with it: text_check(),
 * event_scan(), sel_match() with a few selectors, and for bad lines
 * dl_bad_line() into a memfd.
 *
 * Oracles besides the sanitizers:
 *  - every line returned is the input at lr->offset, ends where the input
 *    has '\n' (or at its end), and line numbers count up by one;
 *  - LR_OK lines are no longer than the cap, LR_TOO_LONG ones are longer;
 *  - all input is consumed and lr_next() then keeps saying LR_EOF;
 *  - a line event_scan() accepts is one valid JSON value (json_skip);
 *  - every dead-letter record is valid UTF-8 JSON without NUL bytes, and
 *    its "input" decodes back to the original line.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "text.h"
#include "buf.h"
#include "deadletter.h"
#include "event.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "select.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static const size_t caps[8] = { 1, 16, 100, LR_PREFIX - 1, LR_PREFIX, LR_PREFIX + 1, 10000, 0 };

static struct selector sel_any, sel_table, sel_schema_ops;
static int idle_calls;

static void
on_idle(void *arg)
{
	(void)arg;
	idle_calls++;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_linereader");
	cdc_verbosity = -1;
	sel_init(&sel_any);
	sel_init(&sel_table);
	CHECK(sel_add_tables(&sel_table, "orders,public.items") == 0);
	sel_init(&sel_schema_ops);
	CHECK(sel_add_schemas(&sel_schema_ops, "public") == 0);
	CHECK(sel_add_ops(&sel_schema_ops, "c,u,d") == 0);
	return 0;
}

static int
feed_fd(const uint8_t *data, size_t size, int use_pipe)
{
	int fd;

	if (use_pipe && size <= 32768) {
		int p[2];
		size_t off = 0;

		CHECK(pipe(p) == 0);
		while (off < size) {
			ssize_t n = write(p[1], data + off, size - off);

			CHECK(n > 0);
			off += (size_t)n;
		}
		close(p[1]);
		return p[0];
	}
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	CHECK(fd >= 0);
	if (size)
		CHECK(write(fd, data, size) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

static void
base64_decode(const char *s, size_t n, struct buf *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *c = memchr(tab, s[i], 64);

		CHECK(c != NULL);
		acc = acc << 6 | (unsigned)(c - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(out, (char)(acc >> bits & 0xFF));
		}
	}
}

/* One dead-letter record must name the line and give its input back. */
static void
check_record(const char *rec, size_t len, const char *line, size_t linelen, size_t truncated)
{
	struct json_iter it;
	struct json_span k, sv;
	const char *v, *err;
	size_t vlen, where;
	int r;
	bool seen_input = false;
	struct buf dec = BUF_INIT;

	CHECK(text_check(rec, len, &where) == LINE_OK);
	CHECK(json_skip(rec, rec + len, &err) == rec + len);
	CHECK(json_iter_begin(&it, rec, len) == 0 && !it.array);
	while ((r = json_iter_next(&it, &k, &v, &vlen, &err)) == 1) {
		if (json_span_eq(&k, "input")) {
			CHECK(v[0] == '"');
			sv.p = v + 1;
			sv.len = vlen - 2;
			sv.escaped = memchr(sv.p, '\\', sv.len) != NULL;
			buf_reset(&dec);
			CHECK(json_span_decode(&sv, &dec) == 0);
			CHECK(truncated == 0);
			CHECK(dec.len == linelen && memcmp(dec.data, line, linelen) == 0);
			seen_input = true;
		} else if (json_span_eq(&k, "input_base64") || json_span_eq(&k, "input_prefix_base64")) {
			size_t want = truncated ? (linelen < LR_PREFIX ? linelen : LR_PREFIX) : linelen;

			buf_reset(&dec);
			base64_decode(v + 1, vlen - 2, &dec);
			CHECK(dec.len == want && memcmp(dec.data, line, want) == 0);
			seen_input = true;
		}
	}
	CHECK(r == 0);
	CHECK(seen_input);
	buf_release(&dec);
}

/* dl_bad_line() under the dead-letter policy, then check the record it appended. */
static void
bad(struct deadletter *dl, int dlfd, uint64_t lineno, const char *reason,
    const char *line, size_t len, size_t truncated)
{
	off_t before = lseek(dlfd, 0, SEEK_END), after;
	char *rec;

	CHECK(before >= 0);
	CHECK(dl_bad_line(dl, lineno, NULL, reason, line, len, truncated, NULL) == 0);
	after = lseek(dlfd, 0, SEEK_END);
	CHECK(after > before + 1);
	rec = malloc((size_t)(after - before));
	CHECK(rec != NULL);
	CHECK(pread(dlfd, rec, (size_t)(after - before), before) == after - before);
	CHECK(rec[after - before - 1] == '\n');
	CHECK(memchr(rec, '\n', (size_t)(after - before - 1)) == NULL);
	check_record(rec, (size_t)(after - before - 1), line, len, truncated);
	free(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linereader lr;
	struct deadletter dl;
	const char *line;
	size_t len, max_line, expect_off = 0;
	uint64_t expect_lineno = 0;
	enum lr_status st;
	int fd, dlfd;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	max_line = caps[mode & 7];

	fd = feed_fd(data, size, mode & 8);
	lr_init(&lr, fd, max_line);
	if (mode & 16)
		lr_set_idle(&lr, on_idle, NULL);
	if (max_line == 0)
		max_line = LR_DEFAULT_MAX_LINE;

	/* A dead-letter file on a memfd: dl_init opens a path, so use /proc. */
	dlfd = memfd_create("dl", MFD_CLOEXEC);
	CHECK(dlfd >= 0);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", dlfd);
		dl_init(&dl, path, false);
	}

	while ((st = lr_next(&lr, &line, &len)) != LR_EOF) {
		struct event_info ev;
		const char *err = NULL;
		size_t where;
		enum line_problem prob;
		size_t shown;

		CHECK(st == LR_OK || st == LR_TOO_LONG);
		expect_lineno++;
		CHECK(lr.lineno == expect_lineno);
		CHECK(lr.offset == expect_off);
		CHECK(expect_off + len <= size);
		shown = st == LR_TOO_LONG && len > LR_PREFIX ? LR_PREFIX : len;
		CHECK(memcmp(line, data + expect_off, shown) == 0);
		CHECK(expect_off + len == size || data[expect_off + len] == '\n');
		CHECK(memchr(data + expect_off, '\n', len) == NULL);
		expect_off += len + (expect_off + len < size ? 1 : 0);
		CHECK(lr.consumed == expect_off);

		if (st == LR_TOO_LONG) {
			CHECK(len > max_line);
			bad(&dl, dlfd, lr.lineno, "line too long", line, len, len);
			continue;
		}
		CHECK(len <= max_line);
		prob = text_check(line, len, &where);
		if (prob != LINE_OK) {
			CHECK(where < len);
			bad(&dl, dlfd, lr.lineno, text_problem_str(prob), line, len, 0);
			continue;
		}
		if (event_scan(line, len, &ev, &err) < 0) {
			CHECK(err != NULL);
			bad(&dl, dlfd, lr.lineno, err, line, len, 0);
			continue;
		}
		/* Accepted: it is one JSON value, with a string op. */
		CHECK(json_skip(line, line + len, &err) != NULL);
		CHECK(json_ws(json_skip(line, line + len, &err), line + len) == line + len);
		/* (An escaped data op points at a static copy of its letter.) */
		CHECK(ev.op.p != NULL);
		CHECK(ev.control == !op_is_data(&ev.op));
		(void)sel_match(&sel_any, &ev);
		(void)sel_match(&sel_table, &ev);
		(void)sel_match(&sel_schema_ops, &ev);
		CHECK(sel_match(&sel_any, &ev));
		if (ev.has_pos) {
			char pbuf[POS_BUFSZ];
			struct cdc_pos back;

			CHECK(pos_parse(pos_format(&ev.pos, pbuf), &back) == 0);
			CHECK(pos_cmp(&back, &ev.pos) == 0);
		}
	}
	CHECK(lr.consumed == size);
	CHECK(lr_next(&lr, &line, &len) == LR_EOF);
	lr_free(&lr);
	close(fd);

	dl_finish(&dl);
	close(dlfd);
	return 0;
}
