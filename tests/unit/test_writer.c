/* Unit tests for common/writer.c: block writes, wr_line, sticky errors, EPIPE. */
#include "writer.h"
#include "buf.h"
#include "log.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Everything currently readable from a non-blocking pipe read end. */
static size_t
drain(int fd, struct buf *out)
{
	char tmp[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		buf_add(out, tmp, (size_t)n);
		total += (size_t)n;
	}
	return total;
}

static void
nonblock_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		abort();
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
}

static void
test_blocks(void)
{
	struct writer w;
	struct buf got = BUF_INIT;
	int fds[2];

	nonblock_pipe(fds);
	wr_init(&w, fds[1], 16);
	is_int(w.cap, 16, "block size as asked");
	is_int(wr_write(&w, "abcde", 5), 0, "small write ok");
	is_int(drain(fds[0], &got), 0, "small write stays in the block");
	is_u64(w.bytes, 0, "nothing handed to the kernel yet");
	is_int(wr_write(&w, "fghijklmnop", 11), 0, "write filling the block exactly");
	is_int(drain(fds[0], &got), 16, "a full block is written out at once");
	is_int(w.len, 0, "block empty after writing it out");
	is_int(wr_write(&w, "0123456789", 10), 0, "write 10");
	is_int(wr_write(&w, "ABCDEFGHIJ", 10), 0, "write 10 more (does not fit)");
	is_int(drain(fds[0], &got), 10, "the queued 10 bytes were written before the new ones");
	is_int(w.len, 10, "the new 10 bytes are queued");
	is_int(wr_write(&w, "this is longer than one block", 29), 0, "write larger than a block");
	is_int(drain(fds[0], &got), 10 + 29, "queued bytes then the large write go out directly");
	is_int(w.len, 0, "nothing queued after a direct write");
	is_int(wr_write(&w, "", 0), 0, "empty write ok");
	is_int(wr_write(&w, "tail", 4), 0, "write tail");
	is_int(wr_flush(&w), 0, "flush ok");
	is_int(drain(fds[0], &got), 4, "flush writes the rest");
	is_int(wr_flush(&w), 0, "flush of an empty block ok");
	is_mem(got.data, got.len,
	       "abcdefghijklmnop0123456789ABCDEFGHIJthis is longer than one blocktail",
	       "bytes arrive in order");
	is_u64(w.bytes, got.len, "bytes counts everything written");
	is_int(wr_close(&w), 0, "close ok");
	ok(w.buf == NULL, "close frees the block");
	close(fds[0]);
	close(fds[1]);
	buf_release(&got);
}

static void
test_lines(void)
{
	struct writer w;
	struct buf got = BUF_INIT;
	char big[40];
	int fds[2];

	nonblock_pipe(fds);
	wr_init(&w, fds[1], 8);
	is_int(wr_line(&w, "abc", 3), 0, "wr_line short");
	is_int(w.len, 4, "line plus newline queued");
	is_int(wr_line(&w, "xyz", 3), 0, "wr_line filling the block exactly");
	is_int(drain(fds[0], &got), 8, "full block written");
	is_int(wr_line(&w, "", 0), 0, "empty line");
	is_int(wr_line(&w, "1234567", 7), 0, "line that does not fit the block");
	memset(big, 'x', sizeof(big));
	is_int(wr_line(&w, big, sizeof(big)), 0, "line longer than a block");
	is_int(wr_close(&w), 0, "close flushes");
	drain(fds[0], &got);
	is_mem(got.data, got.len,
	       "abc\nxyz\n\n1234567\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	       "lines arrive whole and in order");
	close(fds[0]);
	close(fds[1]);
	buf_release(&got);

	/* Default capacity. */
	nonblock_pipe(fds);
	wr_init(&w, fds[1], 0);
	is_int(w.cap, WR_DEFAULT_CAP, "cap 0 means WR_DEFAULT_CAP");
	wr_close(&w);
	close(fds[0]);
	close(fds[1]);
}

static void
test_epipe(void)
{
	struct writer w;
	int fds[2];

	if (pipe(fds) < 0)
		abort();
	close(fds[0]);
	wr_init(&w, fds[1], 16);
	is_int(wr_write(&w, "abc", 3), 0, "write into the block succeeds before any I/O");
	is_int(wr_flush(&w), -1, "flush to a closed pipe fails");
	is_int(w.err, EPIPE, "error is EPIPE");
	is_int(wr_write(&w, "d", 1), -1, "write after the error fails (sticky)");
	is_int(wr_line(&w, "e", 1), -1, "wr_line after the error fails");
	is_int(wr_flush(&w), -1, "flush after the error fails");
	is_int(w.err, EPIPE, "first error kept");
	is_int(wr_close(&w), -1, "close reports the error");
	close(fds[1]);

	/* A direct (larger than a block) write hits EPIPE too. */
	if (pipe(fds) < 0)
		abort();
	close(fds[0]);
	wr_init(&w, fds[1], 4);
	is_int(wr_write(&w, "0123456789", 10), -1, "direct write to a closed pipe fails");
	is_int(w.err, EPIPE, "direct write error is EPIPE");
	wr_close(&w);
	close(fds[1]);

	/* Bad descriptor: not EPIPE. */
	wr_init(&w, -1, 4);
	is_int(wr_line(&w, "abcdef", 6), -1, "write to a bad fd fails");
	is_int(w.err, EBADF, "error is EBADF");
	wr_close(&w);
}

/* Run wr_die_on_error on a writer in the given state in a child; exit status and stderr. */
static int
die_status_of(int err, struct buf *errout)
{
	int efd[2];
	pid_t pid;
	int st;

	if (pipe(efd) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct writer w;

		dup2(efd[1], 2);
		close(efd[0]);
		log_init("test-writer");
		wr_init(&w, 1, 16);
		w.err = err;
		wr_die_on_error(&w, "standard output");
		_exit(42);	/* returned: no error */
	}
	close(efd[1]);
	{
		char tmp[512];
		ssize_t n;

		while ((n = read(efd[0], tmp, sizeof(tmp))) > 0)
			buf_add(errout, tmp, (size_t)n);
	}
	close(efd[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_die_on_error(void)
{
	struct buf e = BUF_INIT;

	is_int(die_status_of(0, &e), 42, "wr_die_on_error returns when there is no error");
	is_int(e.len, 0, "and prints nothing");
	buf_reset(&e);
	is_int(die_status_of(EPIPE, &e), CDC_EXIT_PIPE, "EPIPE exits 141");
	is_int(e.len, 0, "EPIPE exits quietly");
	buf_reset(&e);
	is_int(die_status_of(ENOSPC, &e), CDC_EXIT_FAILURE, "other errors exit 1");
	ok(e.data && strstr(e.data, "test-writer: write error on standard output: ") == e.data,
	   "message names the program and the output");
	ok(e.data && strstr(e.data, strerror(ENOSPC)) != NULL, "message carries strerror");
	buf_release(&e);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_blocks();
	test_lines();
	test_epipe();
	test_die_on_error();
	return tap_done();
}
