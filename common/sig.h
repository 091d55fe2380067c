/*
 * sig.h: signal flags.  Handlers only set flags; loops act on them.
 *
 * sig_setup() installs SIGINT/SIGTERM handlers that set cdc_stop (without
 * SA_RESTART, so a blocking read returns EINTR and the loop can look), a
 * SIGHUP handler that sets cdc_reload, and ignores SIGPIPE so that a closed
 * stdout shows up as EPIPE from write() (see wr_die_on_error()).
 * A second SIGINT/SIGTERM while stopping exits at once.
 */
#ifndef CDC_SIG_H
#define CDC_SIG_H

#include <signal.h>

extern volatile sig_atomic_t cdc_stop;		/* the signal number, 0 if none */
extern volatile sig_atomic_t cdc_reload;

void sig_setup(void);

#endif
