/*
 * Unit tests for common/evinput.c's read-ahead: the same inputs read with
 * and without it give the same lines, line numbers, statuses, events and
 * dead letters, in the same order; across block boundaries (more lines
 * than a block holds, a line larger than a block), several files, bad and
 * over-long lines, a cut-off end, a read error; and a quiet pipe still gets its lines
 * at once, the idle hook called while it waits.
 */
#include "evinput.h"
#include "buf.h"
#include "sig.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cdc-test-evin-XXXXXX";

/* The file name in dir (a few at a time stay valid: the latest per slot). */
static char paths[8][256];

static char *
path(const char *name)
{
	static const char *const names[] = { "many", "bad", "cut", "nonl", "dl" };

	for (int i = 0; i < 5; i++)
		if (strcmp(name, names[i]) == 0) {
			snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, name);
			return paths[i];
		}
	abort();
}

static void
write_file(const char *name, const char *data, size_t len)
{
	FILE *f = fopen(path(name), "w");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(name);
		exit(1);
	}
}

static char *
read_file(const char *name, size_t *len)
{
	struct buf b = BUF_INIT;
	FILE *f = fopen(path(name), "r");
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		*len = 0;
		return xstrdup("");
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return b.data ? b.data : xstrdup("");
}

static void
event(struct buf *b, unsigned i, size_t pad)
{
	buf_addf(b, "{\"op\":\"c\",\"after\":{\"id\":%u,\"note\":\"", i);
	for (size_t k = 0; k < pad; k++)
		buf_addc(b, 'a' + (char)(k % 26));
	buf_addf(b, "\"},\"key\":{\"id\":%u},\"source\":{\"name\":\"t\",\"schema\":\"public\","
		 "\"table\":\"orders\",\"commit_lsn\":%u,\"seq\":1}}\n", i, 1000 + i);
}

/* Dead letters without their "time" members, which differ from run to run. */
static size_t
untimed(char *s, size_t len)
{
	static const char tm[] = "\"time\":\"";
	char *o = s, *p = s, *end = s + len;

	while (p < end) {
		if ((size_t)(end - p) > sizeof(tm) && memcmp(p, tm, sizeof(tm) - 1) == 0) {
			char *q = memchr(p + sizeof(tm) - 1, '"', (size_t)(end - p) - (sizeof(tm) - 1));

			if (q) {
				p = q + 1;
				continue;
			}
		}
		*o++ = *p++;
	}
	return (size_t)(o - s);
}

/*
 * Every line evin_next() gives, and how it ends, as text: two runs that
 * print the same saw the same.  idle counts the idle hook's calls.
 */
static void
on_idle(void *arg)
{
	(*(unsigned *)arg)++;
}

static char *
run(char **files, int nfiles, const char *dead_letter, bool skip, uint64_t max_line, bool ahead,
    enum evin_status *last, uint64_t *bad)
{
	struct evin in;
	struct evin_opts o = { .dead_letter = dead_letter, .skip_bad = skip, .max_line = max_line };
	struct buf out = BUF_INIT;
	unsigned idle = 0;
	enum evin_status st;

	evin_open(&in, &o, EVIN_EVENTS, files, nfiles);
	evin_set_idle(&in, on_idle, &idle);
	if (ahead)
		evin_read_ahead(&in);
	for (;;) {
		struct evin_line l;
		char pos[POS_BUFSZ];
		uint64_t h = 1469598103934665603u;

		st = evin_next(&in, &l);
		if (st != EVIN_LINE)
			break;
		for (size_t k = 0; k < l.len; k++)
			h = (h ^ (unsigned char)l.text[k]) * 1099511628211u;
		buf_addf(&out, "%s:%llu len %zu nl %d hash %llx op %.*s key %.*s pos %s table %.*s\n",
			 evin_name(&in) ? evin_name(&in) : "-", (unsigned long long)l.lineno, l.len,
			 (int)l.nl, (unsigned long long)h, (int)l.ev.op.len, l.ev.op.p,
			 (int)l.ev.key_len, l.ev.key, l.ev.has_pos ? pos_format(&l.ev.pos, pos) : "none",
			 (int)l.ev.table.len, l.ev.table.p);
	}
	*last = st;
	*bad = in.dl.count;
	evin_close(&in);
	return out.data ? out.data : xstrdup("");
}

/* Both ways over the same files: the same lines, end, bad count and dead letters. */
static void
same(const char *what, char **files, int nfiles, bool dead_letter, bool skip, uint64_t max_line,
     enum evin_status want)
{
	enum evin_status st1, st2;
	uint64_t bad1, bad2;
	char *a, *b, *dla, *dlb, name[200];
	size_t la, lb;

	unlink(path("dl"));
	a = run(files, nfiles, dead_letter ? path("dl") : NULL, skip, max_line, false, &st1, &bad1);
	dla = read_file("dl", &la);
	unlink(path("dl"));
	b = run(files, nfiles, dead_letter ? path("dl") : NULL, skip, max_line, true, &st2, &bad2);
	dlb = read_file("dl", &lb);
	snprintf(name, sizeof(name), "%s: the same lines with read-ahead", what);
	ok(strcmp(a, b) == 0 && strlen(a) > 0, name);
	if (strcmp(a, b) != 0)
		printf("# without:\n%.2000s\n# with:\n%.2000s\n", a, b);
	snprintf(name, sizeof(name), "%s: the same end", what);
	is_int(st2, st1, name);
	snprintf(name, sizeof(name), "%s: ends as expected", what);
	is_int(st1, want, name);
	snprintf(name, sizeof(name), "%s: the same bad lines", what);
	is_u64(bad2, bad1, name);
	if (dead_letter) {
		snprintf(name, sizeof(name), "%s: the same dead letters", what);
		la = untimed(dla, la);
		lb = untimed(dlb, lb);
		ok(la > 0 && la == lb && memcmp(dla, dlb, la) == 0, name);
	}
	free(a);
	free(b);
	free(dla);
	free(dlb);
}

/* A quiet pipe: every line comes out while the writer still holds it open. */
static void
quiet_pipe(void)
{
	int fds[2], saved = dup(STDIN_FILENO);
	pid_t pid;
	struct evin in;
	struct evin_opts o = { 0 };
	unsigned idle = 0, got = 0;

	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		perror("pipe/fork");
		exit(1);
	}
	if (pid == 0) {
		close(fds[0]);
		for (unsigned i = 0; i < 5; i++) {
			struct buf b = BUF_INIT;

			event(&b, i, 3);
			if (write(fds[1], b.data, b.len) != (ssize_t)b.len)
				_exit(1);
			usleep(50 * 1000);
		}
		sleep(2);	/* open, silent: the reader must not wait for more */
		_exit(0);
	}
	close(fds[1]);
	dup2(fds[0], STDIN_FILENO);
	close(fds[0]);
	evin_open(&in, &o, EVIN_EVENTS, NULL, 0);
	evin_set_idle(&in, on_idle, &idle);
	evin_read_ahead(&in);
	while (got < 5) {
		struct evin_line l;

		if (evin_next(&in, &l) != EVIN_LINE)
			break;
		got++;
	}
	is_int(got, 5, "quiet pipe: five lines, each as it came");
	ok(waitpid(pid, NULL, WNOHANG) == 0, "quiet pipe: ... while the writer still held it open");
	ok(idle >= 4, "quiet pipe: the idle hook ran while the input was quiet");
	/* The reader is blocked in read() on the open pipe: closing stops it. */
	evin_close(&in);
	ok(1, "quiet pipe: closed with the reader waiting");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	dup2(saved, STDIN_FILENO);
	close(saved);
}

int
main(void)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	char *one[1], *two[3];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	/* 5000 events (more than two blocks' worth), a 1.5 MiB one in the middle. */
	for (unsigned i = 0; i < 5000; i++)
		event(&a, i, i == 2500 ? (size_t)3 << 19 : i % 300);
	write_file("many", a.data, a.len);
	one[0] = path("many");
	same("5000 events and a huge one", one, 1, false, false, 0, EVIN_EOF);

	/* Bad lines of every kind among good ones, under each policy. */
	buf_reset(&b);
	for (unsigned i = 0; i < 3000; i++) {
		switch (i % 500) {
		case 7: buf_adds(&b, "not json\n"); break;
		case 8: buf_adds(&b, "{\"op\":\"c\",\"x\":\"\xff\"}\n"); break;
		case 9: buf_adds(&b, "{\"no\":\"op\"}\n"); break;
		case 10: buf_adds(&b, "\n"); break;
		case 11:
			buf_adds(&b, "{\"op\":\"c\",\"after\":{\"n\":\"");
			for (int k = 0; k < 9000; k++)
				buf_addc(&b, 'x');
			buf_adds(&b, "\"}}\n");
			break;
		default: event(&b, i, i % 50);
		}
	}
	write_file("bad", b.data, b.len);
	one[0] = path("bad");
	same("bad lines, dead-lettered", one, 1, true, false, 8192, EVIN_EOF);
	same("bad lines, skipped", one, 1, false, true, 8192, EVIN_EOF);
	same("bad lines, stop", one, 1, false, false, 8192, EVIN_BAD);

	/* Several files; the last one cut off in the middle of a line. */
	buf_reset(&a);
	event(&a, 1, 5);
	event(&a, 2, 5);
	buf_adds(&a, "{\"op\":\"c\",\"af");
	write_file("cut", a.data, a.len);
	buf_reset(&a);
	event(&a, 3, 5);
	a.len--;	/* a whole last line without its newline */
	write_file("nonl", a.data, a.len);
	two[0] = path("many");
	two[1] = path("nonl");
	two[2] = path("cut");
	same("three files, the last cut off", two, 3, false, false, 0, EVIN_CUT);
	two[2] = path("bad");
	same("three files with bad lines", two, 3, true, false, 8192, EVIN_EOF);

	/* A read error after good lines: a directory opens, but does not read. */
	two[0] = path("many");
	two[1] = dir;
	same("a read error after 5000 lines", two, 2, false, false, 0, EVIN_ERROR);

	quiet_pipe();

	buf_release(&a);
	buf_release(&b);
	unlink(path("many"));
	unlink(path("bad"));
	unlink(path("cut"));
	unlink(path("nonl"));
	unlink(path("dl"));
	rmdir(dir);
	return tap_done();
}
