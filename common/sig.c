#include "sig.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

volatile sig_atomic_t cdc_stop;

static void
on_stop(int sig)
{
	if (cdc_stop)
		_exit(128 + sig);
	cdc_stop = sig;
}

void
sig_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
sig_wait_readable(int fd)
{
	sigset_t stop, old;
	fd_set rd;
	int r, e;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &old);
	if (cdc_stop) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		errno = EINTR;
		return -1;
	}
	if (fd >= FD_SETSIZE) {
		/* Past select()'s reach: poll, with the small window that leaves. */
		struct pollfd p = { .fd = fd, .events = POLLIN };

		sigprocmask(SIG_SETMASK, &old, NULL);
		return poll(&p, 1, -1) < 0 && errno == EINTR ? -1 : 0;
	}
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	r = pselect(fd + 1, &rd, NULL, NULL, NULL, &old);
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0 && e == EINTR) {
		errno = EINTR;
		return -1;
	}
	return 0;
}
