/*
 * Unit tests for common/linereader.c: lines of any length across buffer
 * boundaries, over-long lines, the idle hook, signals, and text_check().
 */
#include "linereader.h"
#include "text.h"
#include "buf.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* A temp file holding data, opened for reading at offset 0. */
static int
file_with(const void *data, size_t len)
{
	char path[] = "/tmp/cdc-test-lr-XXXXXX";
	int fd = mkstemp(path);
	const char *p = data;

	if (fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	unlink(path);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			perror("write");
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/*
 * A child writing data into a pipe: first the first `first` bytes, then
 * (after pause_us) the rest in chunks of `chunk` bytes.  Returns the read end.
 */
static int
pipe_writer(const char *data, size_t len, size_t first, size_t chunk, unsigned pause_us,
	    pid_t *pid)
{
	int fds[2];

	if (pipe(fds) < 0) {
		perror("pipe");
		exit(1);
	}
	*pid = fork();
	if (*pid < 0) {
		perror("fork");
		exit(1);
	}
	if (*pid == 0) {
		size_t off = 0;

		close(fds[0]);
		while (off < len) {
			size_t n = off == 0 && first ? first : chunk;
			ssize_t w;

			if (n > len - off)
				n = len - off;
			w = write(fds[1], data + off, n);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
			if (off == first && pause_us)
				usleep(pause_us);
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static int
reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Content of generated line i, byte j. */
static char
gen_byte(size_t i, size_t j)
{
	return (char)('a' + (i * 7 + j) % 26);
}

static void
gen_line(struct buf *b, size_t i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		buf_addc(b, gen_byte(i, j));
}

static bool
line_is(const char *p, size_t i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		if (p[j] != gen_byte(i, j))
			return false;
	return true;
}

static void
test_basic(void)
{
	static const char in[] = "a\nbb\n\nccc";
	struct linereader lr;
	const char *line;
	size_t len;
	int fd = file_with(in, sizeof(in) - 1);

	lr_init(&lr, fd, 0);
	is_int(lr_next(&lr, &line, &len), LR_OK, "basic: line 1 ok");
	is_mem(line, len, "a", "basic: line 1 text");
	is_u64(lr.lineno, 1, "basic: line 1 number");
	is_u64(lr.offset, 0, "basic: line 1 offset");
	is_int(lr_next(&lr, &line, &len), LR_OK, "basic: line 2 ok");
	is_mem(line, len, "bb", "basic: line 2 text");
	is_u64(lr.offset, 2, "basic: line 2 offset");
	is_int(lr_next(&lr, &line, &len), LR_OK, "basic: empty line ok");
	is_int(len, 0, "basic: empty line has length 0");
	is_u64(lr.lineno, 3, "basic: empty line counted");
	is_u64(lr.offset, 5, "basic: empty line offset");
	is_int(lr_next(&lr, &line, &len), LR_OK, "basic: last line without newline is a line");
	is_mem(line, len, "ccc", "basic: last line text");
	is_u64(lr.lineno, 4, "basic: last line number");
	is_u64(lr.offset, 6, "basic: last line offset");
	is_u64(lr.consumed, 9, "basic: all bytes consumed");
	is_int(lr_next(&lr, &line, &len), LR_EOF, "basic: then EOF");
	is_int(lr_next(&lr, &line, &len), LR_EOF, "basic: EOF again");
	is_u64(lr.lineno, 4, "basic: EOF does not count a line");
	lr_free(&lr);
	close(fd);

	fd = file_with("", 0);
	lr_init(&lr, fd, 0);
	is_int(lr_next(&lr, &line, &len), LR_EOF, "empty input: EOF at once");
	is_u64(lr.lineno, 0, "empty input: no lines");
	lr_free(&lr);
	close(fd);

	fd = file_with("x\r\n\n", 4);
	lr_init(&lr, fd, 0);
	lr_next(&lr, &line, &len);
	is_mem(line, len, "x\r", "CR is kept (only '\\n' ends a line)");
	is_int(lr_next(&lr, &line, &len), LR_OK, "line after CRLF");
	is_int(len, 0, "blank line after CRLF");
	is_int(lr_next(&lr, &line, &len), LR_EOF, "a trailing newline makes no extra line");
	lr_free(&lr);
	close(fd);
}

/*
 * Many lines of lengths 0..5000 with max_line 5000 (a 5001-byte buffer):
 * lines straddle buffer boundaries constantly.  Fed from a file and from a
 * pipe written in small odd chunks.
 */
static void
test_boundaries(int from_pipe)
{
	const char *how = from_pipe ? "pipe" : "file";
	struct buf in = BUF_INIT;
	size_t lens[600];
	size_t n = sizeof(lens) / sizeof(lens[0]);
	uint32_t seed = 12345;
	struct linereader lr;
	const char *line;
	size_t len;
	uint64_t off = 0;
	size_t i, good = 0, good_off = 0;
	pid_t pid = 0;
	int fd;
	char name[100];

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		lens[i] = (seed >> 8) % 5001;
		if (i == 10)
			lens[i] = 5000;		/* exactly the cap */
		if (i == 11)
			lens[i] = 0;
		if (i == 12)
			lens[i] = 4999;
		gen_line(&in, i, lens[i]);
		buf_addc(&in, '\n');
	}
	if (from_pipe)
		fd = pipe_writer(in.data, in.len, 0, 1237, 0, &pid);
	else
		fd = file_with(in.data, in.len);
	lr_init(&lr, fd, 5000);
	for (i = 0; i < n; i++) {
		enum lr_status st = lr_next(&lr, &line, &len);

		if (st == LR_OK && len == lens[i] && line_is(line, i, len))
			good++;
		else
			diag("%s: line %zu: status %d len %zu want %zu", how, i + 1, st, len, lens[i]);
		if (lr.lineno == i + 1 && lr.offset == off)
			good_off++;
		off += lens[i] + 1;
	}
	snprintf(name, sizeof(name), "boundaries (%s): %zu lines of 0..5000 bytes read intact", how, n);
	is_int(good, n, name);
	snprintf(name, sizeof(name), "boundaries (%s): line numbers and offsets", how);
	is_int(good_off, n, name);
	snprintf(name, sizeof(name), "boundaries (%s): EOF after the last line", how);
	is_int(lr_next(&lr, &line, &len), LR_EOF, name);
	lr_free(&lr);
	close(fd);
	if (from_pipe)
		is_int(reap(pid), 0, "boundaries (pipe): writer finished");
	buf_release(&in);
}

/* Lines far longer than the initial 256 KiB buffer with the default cap. */
static void
test_big_lines(void)
{
	struct buf in = BUF_INIT;
	struct linereader lr;
	const char *line;
	size_t len;
	pid_t pid;
	int fd;

	gen_line(&in, 1, 3 << 20);
	buf_addc(&in, '\n');
	buf_adds(&in, "short\n");
	gen_line(&in, 3, 700000);	/* last line, no newline */
	fd = pipe_writer(in.data, in.len, 0, 65536, 0, &pid);
	lr_init(&lr, fd, 0);
	ok(lr_next(&lr, &line, &len) == LR_OK && len == 3u << 20 && line_is(line, 1, len),
	   "3 MiB line read whole under the default cap");
	ok(lr_next(&lr, &line, &len) == LR_OK && len == 5 && memcmp(line, "short", 5) == 0,
	   "short line after it");
	is_u64(lr.offset, (3u << 20) + 1, "offset of the line after a 3 MiB line");
	ok(lr_next(&lr, &line, &len) == LR_OK && len == 700000 && line_is(line, 3, len),
	   "700000-byte last line without newline");
	is_int(lr_next(&lr, &line, &len), LR_EOF, "EOF after big lines");
	lr_free(&lr);
	close(fd);
	reap(pid);
	buf_release(&in);
}

/* Check an LR_TOO_LONG result: full length and the prefix bytes of generated line i. */
static void
check_too_long(enum lr_status st, const char *line, size_t len, size_t i, size_t want,
	       const char *what)
{
	char name[256];
	size_t plen = want < LR_PREFIX ? want : LR_PREFIX;

	snprintf(name, sizeof(name), "%s: LR_TOO_LONG", what);
	is_int(st, LR_TOO_LONG, name);
	snprintf(name, sizeof(name), "%s: full length reported", what);
	is_int(len, want, name);
	snprintf(name, sizeof(name), "%s: prefix holds the first %zu bytes", what, plen);
	ok(st == LR_TOO_LONG && line_is(line, i, plen), name);
}

static void
test_too_long(size_t max_line, size_t first, unsigned pause_us, int from_pipe)
{
	struct buf in = BUF_INIT;
	struct linereader lr;
	const char *line;
	size_t len;
	pid_t pid = 0;
	int fd;
	enum lr_status st;
	char what[96];
	size_t big = max_line < 50000 ? 100000 : 2 * max_line + 7, edge = max_line + 1;

	snprintf(what, sizeof(what), "max_line %zu (%s%s)", max_line, from_pipe ? "pipe" : "file",
		 pause_us ? ", writer pauses" : "");
	/* ok, too long (big), ok, too long by one byte, ok, too long at EOF */
	gen_line(&in, 0, 3);
	buf_addc(&in, '\n');
	gen_line(&in, 1, big);
	buf_addc(&in, '\n');
	gen_line(&in, 2, max_line);
	buf_addc(&in, '\n');
	gen_line(&in, 3, edge);
	buf_addc(&in, '\n');
	gen_line(&in, 4, 1);
	buf_addc(&in, '\n');
	gen_line(&in, 5, big + 1);
	if (from_pipe)
		fd = pipe_writer(in.data, in.len, first, 4093, pause_us, &pid);
	else
		fd = file_with(in.data, in.len);
	lr_init(&lr, fd, max_line);

	st = lr_next(&lr, &line, &len);
	ok(st == LR_OK && len == 3 && line_is(line, 0, 3), "too long: first short line");
	{
		char w2[256];

		snprintf(w2, sizeof(w2), "%s, %zu-byte line", what, big);
		st = lr_next(&lr, &line, &len);
		check_too_long(st, line, len, 1, big, w2);
		snprintf(w2, sizeof(w2), "%s: line number and offset of the long line", what);
		ok(lr.lineno == 2 && lr.offset == 4, w2);
		snprintf(w2, sizeof(w2), "%s: a line of exactly max_line bytes is ok", what);
		st = lr_next(&lr, &line, &len);
		ok(st == LR_OK && len == max_line && line_is(line, 2, len), w2);
		snprintf(w2, sizeof(w2), "%s: its line number and offset", what);
		ok(lr.lineno == 3 && lr.offset == 4 + big + 1, w2);
		snprintf(w2, sizeof(w2), "%s, a line of max_line + 1 bytes", what);
		st = lr_next(&lr, &line, &len);
		check_too_long(st, line, len, 3, edge, w2);
		snprintf(w2, sizeof(w2), "%s: the line after it is read correctly", what);
		st = lr_next(&lr, &line, &len);
		ok(st == LR_OK && len == 1 && line_is(line, 4, 1), w2);
		snprintf(w2, sizeof(w2), "%s: offset after two long lines", what);
		is_u64(lr.offset, 4 + (big + 1) + (max_line + 1) + (edge + 1), w2);
		snprintf(w2, sizeof(w2), "%s, over-long last line without newline", what);
		st = lr_next(&lr, &line, &len);
		check_too_long(st, line, len, 5, big + 1, w2);
		snprintf(w2, sizeof(w2), "%s: last line number 6", what);
		is_u64(lr.lineno, 6, w2);
		snprintf(w2, sizeof(w2), "%s: EOF at the end", what);
		is_int(lr_next(&lr, &line, &len), LR_EOF, w2);
		snprintf(w2, sizeof(w2), "%s: every byte consumed", what);
		is_u64(lr.consumed, in.len, w2);
	}
	lr_free(&lr);
	close(fd);
	if (from_pipe)
		reap(pid);
	buf_release(&in);
}

static void
test_has_line(void)
{
	struct linereader lr;
	const char *line;
	size_t len;
	int fd = file_with("one\ntwo\nthree", 13);

	lr_init(&lr, fd, 0);
	ok(!lr_has_line(&lr), "has_line: nothing buffered before the first read");
	lr_next(&lr, &line, &len);
	ok(lr_has_line(&lr), "has_line: 'two' is buffered");
	lr_next(&lr, &line, &len);
	ok(!lr_has_line(&lr), "has_line: 'three' has no newline yet");
	is_int(lr_next(&lr, &line, &len), LR_OK, "has_line: last line still returned");
	is_mem(line, len, "three", "has_line: last line text");
	lr_free(&lr);
	close(fd);
}

struct idle_state {
	int calls;
	int wfd;		/* write end to feed from the hook, -1 for none */
	int fed;
};

static void
idle_hook(void *arg)
{
	struct idle_state *s = arg;

	s->calls++;
	/* Feed the next line from inside the hook: this only works if the hook runs before the read blocks. */
	if (s->wfd >= 0 && !s->fed) {
		if (write(s->wfd, "fed\n", 4) != 4)
			abort();
		s->fed = 1;
	}
}

static void
test_idle(void)
{
	struct linereader lr;
	struct idle_state s = { 0, -1, 0 };
	const char *line;
	size_t len;
	int fds[2];
	pid_t pid;
	int calls_after_one;

	/*
	 * Data already there after a large read: no idle call at all, not
	 * even at EOF (the pipe is readable, and poll() says so).
	 */
	if (pipe(fds) < 0)
		abort();
	{
		char big[(LR_DRAINED_READ / 100 + 1) * 100];	/* lines of 100 bytes */
		int lines = 0;

		memset(big, 'x', sizeof(big));
		for (size_t i = 99; i < sizeof(big); i += 100, lines++)
			big[i] = '\n';
		if (write(fds[1], big, sizeof(big)) != (ssize_t)sizeof(big))
			abort();
		close(fds[1]);
		lr_init(&lr, fds[0], 0);
		lr_set_idle(&lr, idle_hook, &s);
		while (lines-- > 0)
			lr_next(&lr, &line, &len);
	}
	is_int(lr_next(&lr, &line, &len), LR_EOF, "idle: EOF after a large read of ready lines");
	is_int(s.calls, 0, "idle: hook not called while input is available after a large read");
	lr_free(&lr);
	close(fds[0]);

	/*
	 * After a small read the input counts as quiet without a poll(): the
	 * hook runs before the next read, even though EOF is already there.
	 */
	if (pipe(fds) < 0)
		abort();
	if (write(fds[1], "a\nb\n", 4) != 4)
		abort();
	close(fds[1]);
	lr_init(&lr, fds[0], 0);
	lr_set_idle(&lr, idle_hook, &s);
	lr_next(&lr, &line, &len);
	lr_next(&lr, &line, &len);
	is_int(s.calls, 0, "idle (small read): hook not called while lines are buffered");
	is_int(lr_next(&lr, &line, &len), LR_EOF, "idle (small read): EOF after two ready lines");
	is_int(s.calls, 1, "idle (small read): hook called once before the next read");
	lr_free(&lr);
	close(fds[0]);
	s.calls = 0;

	/* Nothing there: the hook runs before the read blocks (it feeds the line itself). */
	if (pipe(fds) < 0)
		abort();
	s.calls = 0;
	s.wfd = fds[1];
	lr_init(&lr, fds[0], 0);
	lr_set_idle(&lr, idle_hook, &s);
	alarm(5);		/* a bug here would block forever */
	is_int(lr_next(&lr, &line, &len), LR_OK, "idle: line fed by the hook is read");
	alarm(0);
	is_mem(line, len, "fed", "idle: hook's line text");
	is_int(s.calls, 1, "idle: hook called exactly once before the blocking read");
	close(fds[1]);
	is_int(lr_next(&lr, &line, &len), LR_EOF, "idle: EOF after the writer closes");
	lr_free(&lr);
	close(fds[0]);

	/* A writer that pauses between lines: the hook runs in the pause. */
	s.calls = 0;
	s.wfd = -1;
	s.fed = 0;
	{
		static const char two[] = "one\ntwo\n";

		lr_init(&lr, pipe_writer(two, 8, 4, 4, 200000, &pid), 0);
	}
	lr_set_idle(&lr, idle_hook, &s);
	is_int(lr_next(&lr, &line, &len), LR_OK, "idle (pausing writer): first line");
	is_mem(line, len, "one", "idle (pausing writer): first line text");
	calls_after_one = s.calls;
	is_int(lr_next(&lr, &line, &len), LR_OK, "idle (pausing writer): second line");
	is_mem(line, len, "two", "idle (pausing writer): second line text");
	ok(s.calls > calls_after_one, "idle (pausing writer): hook called during the pause");
	is_int(lr_next(&lr, &line, &len), LR_EOF, "idle (pausing writer): EOF");
	close(lr.fd);
	lr_free(&lr);
	is_int(reap(pid), 0, "idle (pausing writer): writer done");

	/* The writer pauses inside an over-long line: the hook runs while it is skipped. */
	s.calls = 0;
	{
		static const char longer[] = "one\n0123456789abcdefghij\nlast\n";

		lr_init(&lr, pipe_writer(longer, sizeof(longer) - 1, 4 + 15, 64, 200000, &pid), 10);
	}
	lr_set_idle(&lr, idle_hook, &s);
	lr_next(&lr, &line, &len);
	calls_after_one = s.calls;
	ok(lr_next(&lr, &line, &len) == LR_TOO_LONG && len == 20 && memcmp(line, "0123456789abcdefghij", 20) == 0,
	   "idle (pause inside a long line): long line reported whole");
	ok(s.calls > calls_after_one, "idle (pause inside a long line): hook called while skipping");
	ok(lr_next(&lr, &line, &len) == LR_OK && len == 4 && memcmp(line, "last", 4) == 0,
	   "idle (pause inside a long line): next line");
	close(lr.fd);
	lr_free(&lr);
	reap(pid);
}

static void
on_alarm(int sig)
{
	(void)sig;
}

static void
test_intr_error(void)
{
	struct linereader lr;
	struct sigaction sa, old;
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };	/* repeats: no hang if one fires early */
	const char *line;
	size_t len;
	int fds[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: read() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	if (pipe(fds) < 0)
		abort();
	lr_init(&lr, fds[0], 0);
	setitimer(ITIMER_REAL, &it, NULL);
	is_int(lr_next(&lr, &line, &len), LR_INTR, "a signal during the read gives LR_INTR");
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	if (write(fds[1], "after\n", 6) != 6)
		abort();
	is_int(lr_next(&lr, &line, &len), LR_OK, "reading goes on after LR_INTR");
	is_mem(line, len, "after", "line after LR_INTR");
	is_u64(lr.lineno, 1, "LR_INTR does not count a line");
	lr_free(&lr);
	close(fds[0]);
	close(fds[1]);
	sigaction(SIGALRM, &old, NULL);

	lr_init(&lr, fds[0], 0);	/* closed descriptor */
	errno = 0;
	is_int(lr_next(&lr, &line, &len), LR_ERROR, "read error gives LR_ERROR");
	is_int(errno, EBADF, "errno set on LR_ERROR");
	lr_free(&lr);
}

struct utf8_case {
	const char *s;
	size_t len;
	int want;		/* LINE_* */
	size_t where;
	const char *name;
};

#define C(lit, want, where, name) { lit, sizeof(lit) - 1, want, where, name }

static const struct utf8_case cases[] = {
	C("", LINE_OK, 0, "empty"),
	C("{\"op\":\"c\"}", LINE_OK, 0, "ASCII"),
	C("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", LINE_OK, 0, "2-, 3- and 4-byte sequences"),
	C("\xC2\x80", LINE_OK, 0, "U+0080, smallest 2-byte"),
	C("\xDF\xBF", LINE_OK, 0, "U+07FF"),
	C("\xE0\xA0\x80", LINE_OK, 0, "U+0800, smallest 3-byte"),
	C("\xED\x9F\xBF", LINE_OK, 0, "U+D7FF, below the surrogates"),
	C("\xEE\x80\x80", LINE_OK, 0, "U+E000, above the surrogates"),
	C("\xEF\xBF\xBF", LINE_OK, 0, "U+FFFF"),
	C("\xF0\x90\x80\x80", LINE_OK, 0, "U+10000, smallest 4-byte"),
	C("\xF4\x8F\xBF\xBF", LINE_OK, 0, "U+10FFFF, the largest"),
	C("\x7F", LINE_OK, 0, "DEL is valid"),
	C("a\0b", LINE_NUL, 1, "NUL byte"),
	C("0123456789abcdef\0", LINE_NUL, 16, "NUL at the end of a long run"),
	C("ab\x80", LINE_BAD_UTF8, 2, "lone continuation byte"),
	C("0123456789\xBF", LINE_BAD_UTF8, 10, "continuation byte after an 8-byte ASCII block"),
	C("01234567\xC3\xA9x\xFF", LINE_BAD_UTF8, 11, "0xFF after valid text"),
	C("\xC0\xAF", LINE_BAD_UTF8, 0, "overlong '/' (C0 AF)"),
	C("\xC1\xBF", LINE_BAD_UTF8, 0, "overlong 2-byte (C1 BF)"),
	C("\xE0\x80\xAF", LINE_BAD_UTF8, 0, "overlong 3-byte (E0 80 AF)"),
	C("\xE0\x9F\xBF", LINE_BAD_UTF8, 0, "overlong 3-byte (E0 9F BF)"),
	C("\xF0\x80\x80\xAF", LINE_BAD_UTF8, 0, "overlong 4-byte (F0 80 80 AF)"),
	C("\xF0\x8F\xBF\xBF", LINE_BAD_UTF8, 0, "overlong 4-byte U+FFFF"),
	C("x\xED\xA0\x80", LINE_BAD_UTF8, 1, "surrogate U+D800"),
	C("\xED\xBF\xBF", LINE_BAD_UTF8, 0, "surrogate U+DFFF"),
	C("\xED\xA0\xBD\xED\xB8\x80", LINE_BAD_UTF8, 0, "CESU-8 surrogate pair"),
	C("\xF4\x90\x80\x80", LINE_BAD_UTF8, 0, "U+110000, above the maximum"),
	C("\xF5\x80\x80\x80", LINE_BAD_UTF8, 0, "lead byte F5"),
	C("\xF8\x88\x80\x80\x80", LINE_BAD_UTF8, 0, "5-byte form"),
	C("\xFE", LINE_BAD_UTF8, 0, "FE"),
	C("abc\xE2\x82", LINE_BAD_UTF8, 3, "truncated 3-byte sequence at the end"),
	C("\xF0\x9F\x98", LINE_BAD_UTF8, 0, "truncated 4-byte sequence"),
	C("\xC3", LINE_BAD_UTF8, 0, "lone lead byte at the end"),
	C("\xE2\x82\x41", LINE_BAD_UTF8, 0, "3-byte sequence cut by ASCII"),
	C("\xC3\xA9\xC3", LINE_BAD_UTF8, 2, "truncated after a valid sequence"),
	C("\xE2\x82\xAC\xC0\x80", LINE_BAD_UTF8, 3, "overlong NUL after a valid sequence"),
};

static void
test_check(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct utf8_case *c = &cases[i];
		size_t where = (size_t)-1;
		int got = text_check(c->s, c->len, &where);
		char name[160];

		snprintf(name, sizeof(name), "text_check: %s", c->name);
		if (c->want == LINE_OK) {
			is_int(got, LINE_OK, name);
		} else {
			ok(got == c->want && where == c->where, name);
			if (got != c->want || where != c->where)
				diag("got %d at %zu, want %d at %zu", got, where, c->want, c->where);
		}
	}
	/*
	 * Lines of every length to 100 (the 32-byte loop, then one or two
	 * loads of 16 for the rest, or bytes alone under 16): a NUL or a bad
	 * byte anywhere.
	 */
	{
		char line[100];
		bool nul_ok = true, bad_ok = true, plain_ok = true;

		for (size_t len = 1; len <= sizeof(line); len++) {
			for (size_t at = 0; at < len; at++) {
				size_t where = (size_t)-1;

				memset(line, 'a', sizeof(line));
				plain_ok = plain_ok && text_check(line, len, &where) == LINE_OK;
				line[at] = '\0';
				nul_ok = nul_ok && text_check(line, len, &where) == LINE_NUL && where == at;
				line[at] = (char)0xFF;
				bad_ok = bad_ok && text_check(line, len, &where) == LINE_BAD_UTF8 && where == at;
				/* what lies past the end is not looked at */
				line[at] = 'a';
				if (len < sizeof(line)) {
					line[len] = '\0';
					plain_ok = plain_ok && text_check(line, len, &where) == LINE_OK;
				}
			}
		}
		ok(plain_ok, "text_check: ASCII lines of 1 to 100 bytes");
		ok(nul_ok, "text_check: a NUL at every place of lines of 1 to 100 bytes");
		ok(bad_ok, "text_check: a bad byte at every place of lines of 1 to 100 bytes");
	}
	{
		size_t bad = 99;

		ok(utf8_valid("a\0b", 3, &bad), "utf8_valid allows NUL");
		ok(!utf8_valid("a\xC3", 2, &bad) && bad == 1, "utf8_valid reports the offset");
		ok(!utf8_valid("\x80", 1, NULL), "utf8_valid with bad == NULL");
	}
	is_str(text_problem_str(LINE_NUL), "NUL byte", "problem text for NUL");
	is_str(text_problem_str(LINE_BAD_UTF8), "invalid UTF-8", "problem text for UTF-8");
	is_str(text_problem_str(LINE_OK), "ok", "problem text for ok");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_basic();
	test_boundaries(0);
	test_boundaries(1);
	test_big_lines();
	test_too_long(5000, 0, 0, 0);		/* 5001-byte buffer, file */
	test_too_long(5000, 0, 0, 1);		/* pipe in 4093-byte chunks */
	test_too_long(10, 0, 0, 0);		/* cap below LR_PREFIX, file */
	test_too_long(10, 4 + 11, 100000, 1);	/* pipe: line 1, 11 bytes of line 2, pause, rest */
	test_too_long(4096, 4 + 4097, 100000, 1);
	test_too_long(5000, 4 + 5001, 100000, 1);
	test_too_long(300000, 0, 0, 1);		/* cap above the initial buffer */
	test_has_line();
	test_idle();
	test_intr_error();
	test_check();
	return tap_done();
}
