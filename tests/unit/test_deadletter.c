/*
 * Unit tests for common/deadletter.c: the three bad-input policies and the
 * dead-letter record format.
 */
#include "deadletter.h"
#include "text.h"
#include "buf.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "tap.h"
#include "timeutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cdc-test-dl-XXXXXX";
static int saved_stderr = -1;
static char errpath[300];

static void
capture_begin(void)
{
	int fd;

	snprintf(errpath, sizeof(errpath), "%s/stderr.txt", dir);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void
read_file(const char *path, struct buf *out)
{
	char tmp[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf_reset(out);
	buf_adds(out, "");
	if (fd < 0)
		return;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(out, tmp, (size_t)n);
	close(fd);
}

static void
capture_end(struct buf *out)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	read_file(errpath, out);
	unlink(errpath);
}

/* Raw value of member key in the JSON object rec (NULL if absent). */
static const char *
member(const char *rec, size_t len, const char *key, size_t *vlen)
{
	struct json_iter it;
	struct json_span k;
	const char *v, *err;

	if (json_iter_begin(&it, rec, len) < 0)
		return NULL;
	while (json_iter_next(&it, &k, &v, vlen, &err) == 1)
		if (json_span_eq(&k, key))
			return v;
	return NULL;
}

/* Decoded string member, into out; false if absent or not a string. */
static bool
member_str(const char *rec, size_t len, const char *key, struct buf *out)
{
	size_t vlen;
	const char *v = member(rec, len, key, &vlen);
	struct json_span sp;

	buf_reset(out);
	if (v == NULL || vlen < 2 || v[0] != '"')
		return false;
	sp.p = v + 1;
	sp.len = vlen - 2;
	sp.escaped = memchr(sp.p, '\\', sp.len) != NULL;
	return json_span_decode(&sp, out) == 0;
}

static bool
member_raw_is(const char *rec, size_t len, const char *key, const char *want)
{
	size_t vlen;
	const char *v = member(rec, len, key, &vlen);

	return v != NULL && vlen == strlen(want) && memcmp(v, want, vlen) == 0;
}

static bool
member_b64_is(const char *rec, size_t len, const char *key, const void *data, size_t dlen)
{
	struct buf want = BUF_INIT;
	bool r;

	json_add_base64(&want, data, dlen);
	r = member_raw_is(rec, len, key, want.data);
	buf_release(&want);
	return r;
}

static void
test_stop(void)
{
	struct deadletter dl;
	struct cdc_pos pos = { 0x16B3748, 3 };
	struct buf e = BUF_INIT;

	dl_init(&dl, NULL, false);
	is_int(dl.policy, BAD_STOP, "stop is the default policy");
	is_int(dl.fd, -1, "stop: no file");
	capture_begin();
	is_int(dl_bad_line(&dl, 42, NULL, "not a JSON object", "x", 1, 0, NULL), -1,
	       "stop: returns -1");
	capture_end(&e);
	is_str(e.data, "test-dl: line 42: not a JSON object\n", "stop: message names the line");
	capture_begin();
	dl_bad_line(&dl, 7, &pos, "invalid UTF-8", "secret\xFF", 7, 0, NULL);
	capture_end(&e);
	is_str(e.data, "test-dl: line 7 (position 0/16B3748:3): invalid UTF-8\n",
	       "stop: message names line and position, never the row");
	is_u64(dl.count, 0, "stop: nothing counted");
	capture_begin();
	is_u64(dl_finish(&dl), 0, "stop: finish returns 0");
	capture_end(&e);
	is_int(e.len, 0, "stop: finish prints nothing");
	buf_release(&e);
}

static void
test_skip(void)
{
	struct deadletter dl;
	struct buf e = BUF_INIT;

	dl_init(&dl, NULL, true);
	is_int(dl.policy, BAD_SKIP, "skip policy");
	capture_begin();
	is_int(dl_bad_line(&dl, 1, NULL, "empty line", "", 0, 0, NULL), 0, "skip: returns 0");
	is_int(dl_bad_line(&dl, 2, NULL, "not a JSON object", "[1]", 3, 0, NULL), 0, "skip: again");
	is_int(dl_bad_line(&dl, 3, NULL, "line too long", "aaaa", 4, 9999999, NULL), 0,
	       "skip: over-long line");
	capture_end(&e);
	is_int(e.len, 0, "skip: quiet per line at default verbosity");
	is_u64(dl.count, 3, "skip: counts");
	capture_begin();
	is_u64(dl_finish(&dl), 3, "skip: finish returns the count");
	capture_end(&e);
	is_str(e.data, "test-dl: warning: 3 bad lines skipped\n", "skip: count reported on exit");

	dl_init(&dl, NULL, true);
	cdc_verbosity = 1;
	capture_begin();
	dl_bad_line(&dl, 5, NULL, "empty line", "", 0, 0, NULL);
	capture_end(&e);
	is_str(e.data, "test-dl: line 5: empty line: skipped\n", "skip: -v names each skipped line");
	cdc_verbosity = -1;
	capture_begin();
	is_u64(dl_finish(&dl), 1, "skip: one");
	capture_end(&e);
	is_int(e.len, 0, "skip: --quiet silences the count");
	cdc_verbosity = 0;
	buf_release(&e);
}

static void
test_deadletter_file(void)
{
	char path[300];
	struct deadletter dl;
	struct cdc_pos pos = { 0x16B3748, 3 };
	struct buf f = BUF_INIT, s = BUF_INIT, e = BUF_INIT, big = BUF_INIT;
	struct stat st;
	mode_t old;
	int64_t t0, t1;
	static const char good[] = "{\"op\":\"c\",\"after\":{\"note\":\"a \\\"quoted\\\" caf\xC3\xA9\"}} \t";
	static const char badutf[] = "{\"op\":\"c\",\"x\":\"\xC3(\"}";
	static const char nul[] = "{\"op\":\0\"c\"}";

	snprintf(path, sizeof(path), "%s/dead.ndjson", dir);
	old = umask(0);
	dl_init(&dl, path, true);	/* a path wins over skip */
	umask(old);
	is_int(dl.policy, BAD_DEADLETTER, "dead-letter policy");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "dead-letter file created 0600 (umask 0)");

	t0 = now_ms();
	is_int(dl_bad_line(&dl, 42, &pos, "not a JSON object", good, sizeof(good) - 1, 0, NULL), 0,
	       "record 1 written");
	is_int(dl_bad_line(&dl, 43, NULL, "invalid UTF-8", badutf, sizeof(badutf) - 1, 0, NULL), 0,
	       "record 2 (invalid UTF-8) written");
	is_int(dl_bad_line(&dl, 44, NULL, "NUL byte", nul, sizeof(nul) - 1, 0, NULL), 0,
	       "record 3 (NUL) written");
	for (int i = 0; i < 5000; i++)
		buf_addc(&big, (char)(i % 3 == 0 ? '\xE2' : i % 3 == 1 ? '\x82' : '\xAC'));
	/* The prefix ends inside a 3-byte sequence (4096 = 3 * 1365 + 1). */
	is_int(dl_bad_line(&dl, 45, &pos, "line too long", big.data, big.len, 123456789, NULL), 0,
	       "record 4 (over-long) written");
	is_int(dl_bad_line(&dl, 46, NULL, "line too long", "short", 5, 70, NULL), 0,
	       "record 5 (over-long, short prefix) written");
	is_int(dl_bad_line(&dl, 47, &pos, "mapper_parsing_exception", "{\"op\":\"c\"}", 10, 0,
			   "\"status\":400,\"index\":\"shop-orders\",\"id\":\"7\""), 0,
	       "record 6 (sink extras) written");
	is_int(dl_bad_line(&dl, 48, NULL, "empty line", "", 0, 0, ""), 0, "record 7 (empty extra) written");
	t1 = now_ms();
	is_u64(dl.count, 7, "dead-letter: counts records");
	is_int(dl_sync(&dl), 0, "dl_sync ok");
	capture_begin();
	is_u64(dl_finish(&dl), 7, "dl_finish returns the count");
	capture_end(&e);
	{
		char want[400];

		snprintf(want, sizeof(want), "test-dl: warning: 7 bad lines written to %s\n", path);
		is_str(e.data, want, "dead-letter: count and file reported on exit");
	}
	is_int(dl.fd, -1, "dl_finish closes the file");

	read_file(path, &f);
	{
		const char *p = f.data, *end = f.data + f.len;
		const char *rec[8];
		size_t rlen[8];
		int n = 0, valid = 0;

		while (p < end && n < 8) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *err = NULL;

			if (nl == NULL)
				break;
			rec[n] = p;
			rlen[n] = (size_t)(nl - p);
			if (json_skip(p, nl, &err) == nl && utf8_valid(p, rlen[n], NULL))
				valid++;
			n++;
			p = nl + 1;
		}
		is_int(n, 7, "seven records, one per line, each ending in a newline");
		ok(p == end, "nothing after the last record");
		is_int(valid, 7, "every record is valid JSON (json_skip) and valid UTF-8");
		if (n != 7)
			goto out;

		/* Record 1: the common members. */
		ok(member_str(rec[0], rlen[0], "program", &s) && strcmp(s.data, "test-dl") == 0,
		   "record: program");
		{
			int64_t when = 0;

			ok(member_str(rec[0], rlen[0], "time", &s) && s.len == 24 && s.data[23] == 'Z' &&
			   time_parse(s.data, &when) == 0 && when >= t0 - 1 && when <= t1 + 1,
			   "record: time is RFC 3339 UTC with milliseconds, now");
		}
		ok(member_raw_is(rec[0], rlen[0], "line", "42"), "record: line is a number");
		ok(member_str(rec[0], rlen[0], "position", &s) && strcmp(s.data, "0/16B3748:3") == 0,
		   "record: position text");
		ok(member_str(rec[0], rlen[0], "reason", &s) && strcmp(s.data, "not a JSON object") == 0,
		   "record: reason");
		ok(member_str(rec[0], rlen[0], "input", &s) && s.len == sizeof(good) - 1 &&
		   memcmp(s.data, good, s.len) == 0, "record: input is the original line, exactly");
		ok(member(rec[0], rlen[0], "input_base64", &rlen[7]) == NULL, "record: no input_base64 then");

		/* Record 2, 3: base64. */
		ok(member_raw_is(rec[1], rlen[1], "position", "null"), "invalid UTF-8: position null");
		ok(member(rec[1], rlen[1], "input", &rlen[7]) == NULL, "invalid UTF-8: no input member");
		ok(member_b64_is(rec[1], rlen[1], "input_base64", badutf, sizeof(badutf) - 1),
		   "invalid UTF-8: input_base64 holds the exact bytes");
		ok(member(rec[2], rlen[2], "input", &rlen[7]) == NULL &&
		   member_b64_is(rec[2], rlen[2], "input_base64", nul, sizeof(nul) - 1),
		   "NUL byte: input_base64 holds the exact bytes");

		/* Record 4, 5: over-long. */
		ok(member_raw_is(rec[3], rlen[3], "input_bytes", "123456789"), "over-long: input_bytes");
		ok(member_b64_is(rec[3], rlen[3], "input_prefix_base64", big.data, LR_PREFIX),
		   "over-long: input_prefix_base64 is the first 4096 bytes");
		ok(member(rec[3], rlen[3], "input", &rlen[7]) == NULL &&
		   member(rec[3], rlen[3], "input_base64", &rlen[7]) == NULL,
		   "over-long: no input/input_base64");
		ok(member_str(rec[3], rlen[3], "reason", &s) && strcmp(s.data, "line too long") == 0,
		   "over-long: reason");
		ok(member_raw_is(rec[4], rlen[4], "input_bytes", "70") &&
		   member_b64_is(rec[4], rlen[4], "input_prefix_base64", "short", 5),
		   "over-long with a short prefix");

		/* Record 6: extras; record 7: empty input. */
		ok(member_raw_is(rec[5], rlen[5], "status", "400") &&
		   member_str(rec[5], rlen[5], "index", &s) && strcmp(s.data, "shop-orders") == 0 &&
		   member_str(rec[5], rlen[5], "id", &s) && strcmp(s.data, "7") == 0,
		   "extras: status, index, id");
		ok(member_str(rec[5], rlen[5], "input", &s) && strcmp(s.data, "{\"op\":\"c\"}") == 0,
		   "extras: input still there");
		ok(member_str(rec[6], rlen[6], "input", &s) && s.len == 0, "empty line: input \"\"");
	}

	/* A second run appends. */
	dl_init(&dl, path, false);
	dl_bad_line(&dl, 1, NULL, "x", "y", 1, 0, NULL);
	cdc_verbosity = -1;
	dl_finish(&dl);
	cdc_verbosity = 0;
	{
		size_t before = f.len;

		read_file(path, &f);
		ok(f.len > before && f.data[f.len - 1] == '\n', "dead-letter file is appended to");
	}
out:
	unlink(path);
	buf_release(&f);
	buf_release(&s);
	buf_release(&e);
	buf_release(&big);
}

static void
test_open_failure(void)
{
	pid_t pid;
	int st, efd[2];
	char msg[512] = "";
	ssize_t n;

	if (pipe(efd) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct deadletter dl;
		char path[300];

		dup2(efd[1], 2);
		snprintf(path, sizeof(path), "%s/missing/dead.ndjson", dir);
		dl_init(&dl, path, false);
		_exit(0);
	}
	close(efd[1]);
	n = read(efd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(efd[0]);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == CDC_EXIT_FAILURE, "unopenable dead-letter file: exit 1");
	ok(strstr(msg, "test-dl: cannot open dead-letter file ") == msg && strstr(msg, "/missing/dead.ndjson: ") != NULL,
	   "unopenable dead-letter file: message names the file");
}

int
main(void)
{
	log_init("test-dl");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_stop();
	test_skip();
	test_deadletter_file();
	test_open_failure();
	rmdir(dir);
	return tap_done();
}
