/* Unit tests for common/sig.c: flags set by handlers, SIGPIPE ignored, sig_wait_readable(). */
#include "sig.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_flags(void)
{
	struct sigaction sa;
	int fds[2];
	char c;
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };	/* repeats: no hang if one fires early */
	struct sigaction alrm;

	sig_setup();
	is_int(cdc_stop, 0, "cdc_stop starts at 0");
	raise(SIGHUP);
	is_int(cdc_stop, SIGHUP, "SIGHUP sets cdc_stop to the signal number");
	cdc_stop = 0;
	raise(SIGTERM);
	is_int(cdc_stop, SIGTERM, "SIGTERM sets cdc_stop to the signal number");
	ok(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN, "SIGPIPE ignored");
	ok(sigaction(SIGINT, NULL, &sa) == 0 && !(sa.sa_flags & SA_RESTART),
	   "SIGINT handler without SA_RESTART");

	/* A closed pipe gives EPIPE instead of killing the process. */
	if (pipe(fds) < 0)
		abort();
	close(fds[0]);
	errno = 0;
	ok(write(fds[1], "x", 1) == -1 && errno == EPIPE, "write to a closed pipe: EPIPE");
	close(fds[1]);

	/* A blocking read is interrupted (no SA_RESTART) so loops can see the flag. */
	cdc_stop = 0;
	if (pipe(fds) < 0)
		abort();
	alrm.sa_handler = SIG_DFL;
	sigaction(SIGINT, NULL, &alrm);
	sigaction(SIGALRM, &alrm, NULL);	/* SIGALRM takes the SIGINT handler */
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	ok(read(fds[0], &c, 1) == -1 && errno == EINTR, "blocking read returns EINTR");
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	is_int(cdc_stop, SIGALRM, "flag set by the interrupting signal");
	close(fds[0]);
	close(fds[1]);
}

static void
test_second_signal(void)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		sig_setup();
		raise(SIGINT);
		if (cdc_stop != SIGINT)
			_exit(3);
		raise(SIGINT);	/* second one: exit at once */
		_exit(4);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGINT, "second SIGINT exits 130 at once");
}

/* sig_wait_readable(): readable input, a stop that came before, one that comes while waiting. */
static void
test_wait_readable(void)
{
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
	struct sigaction term;
	int fds[2];

	sig_setup();
	if (pipe(fds) < 0)
		abort();
	cdc_stop = 0;
	if (write(fds[1], "x", 1) != 1)
		abort();
	is_int(sig_wait_readable(fds[0]), 0, "sig_wait_readable: 0 when the input is readable");
	cdc_stop = SIGTERM;
	errno = 0;
	ok(sig_wait_readable(fds[0]) == -1 && errno == EINTR,
	   "sig_wait_readable: -1 EINTR when a stop came before, input or not");
	/* An empty pipe and a stop signal while waiting (SIGALRM with the stop handler). */
	if (read(fds[0], &(char){ 0 }, 1) != 1)
		abort();
	cdc_stop = 0;
	sigaction(SIGTERM, NULL, &term);
	sigaction(SIGALRM, &term, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	ok(sig_wait_readable(fds[0]) == -1 && errno == EINTR && cdc_stop == SIGALRM,
	   "sig_wait_readable: -1 EINTR when a signal comes while waiting");
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	cdc_stop = 0;
	close(fds[0]);
	close(fds[1]);
}

int
main(void)
{
	test_flags();
	test_second_signal();
	test_wait_readable();
	return tap_done();
}
