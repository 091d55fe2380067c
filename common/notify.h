/*
 * notify.h: telling a service manager how the program is doing, with the
 * sd_notify(3) protocol: one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace).
 *
 * systemd's Type=notify services start their dependants on READY=1;
 * STATUS= shows in `systemctl status`; STOPPING=1 says a stop has begun.
 * Without $NOTIFY_SOCKET (not under systemd) nothing is sent.  Failures
 * are not errors for the program: a manager that cannot be told is not a
 * reason to stop streaming.
 */
#ifndef CDC_NOTIFY_H
#define CDC_NOTIFY_H

/* Send state ("READY=1", "STATUS=...", several separated by '\n').  Returns 0, or -1 (errno set). */
int notify(const char *state);
/* As notify() with a printf format. */
int notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
