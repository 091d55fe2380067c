#include "sig.h"
#include "log.h"

#include <string.h>
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
