/*
 * sig.h: signal flags.  Handlers only set flags; loops act on them.
 *
 * sig_setup() installs SIGINT/SIGTERM/SIGHUP handlers that set cdc_stop
 * (without SA_RESTART, so a blocking read returns EINTR and the loop can
 * look): every program stops cleanly on each of them (a hangup of the
 * terminal a pipeline runs in ends it as ^C would; nothing is re-read on
 * SIGHUP: restart the program to change its configuration).  It ignores
 * SIGPIPE so that a closed stdout shows up as EPIPE from write() (see
 * wr_die_on_error()).  A second signal while stopping exits at once.
 */
#ifndef CDC_SIG_H
#define CDC_SIG_H

#include <signal.h>

extern volatile sig_atomic_t cdc_stop;		/* the signal number, 0 if none */

void sig_setup(void);
/*
 * Wait until fd is readable, unless a stop signal came (before or while
 * waiting): -1 with errno EINTR then.  The stop signals are blocked from
 * the look at cdc_stop until pselect() unblocks them atomically, so none
 * can slip in between and leave the caller blocked on a pipe whose writer
 * is still there.  0 also when fd is in error: the read reports it.
 */
int sig_wait_readable(int fd);

#endif
