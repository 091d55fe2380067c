/*
 * log.h: diagnostics and the exit-status contract shared by every program.
 *
 * Diagnostics go to stderr as "prog: message"; stdout carries events only.
 * die() and friends never return.  error() returns -1 so that
 * "return error(...)" reads naturally.  Messages never contain row values
 * or secrets: callers pass positions, line numbers and names.
 */
#ifndef CDC_LOG_H
#define CDC_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

/* One exit-status contract for all programs (documented in every man page). */
enum cdc_exit {
	CDC_EXIT_OK = 0,
	CDC_EXIT_FAILURE = 1,	/* runtime failure */
	CDC_EXIT_USAGE = 2,	/* bad command line */
	CDC_EXIT_DATAERR = 65,	/* bad input under the stop policy (EX_DATAERR) */
	CDC_EXIT_TEMPFAIL = 75,	/* temporary failure worth a restart (EX_TEMPFAIL) */
	CDC_EXIT_PIPE = 141,	/* stdout closed by the reader: quiet, like SIGPIPE */
};

/* Program name used as the message prefix; set by log_init(). */
extern const char *cdc_progname;
/* Verbosity: 0 default, 1 with -v, 2 with -vv, ...; -1 with --quiet. */
extern int cdc_verbosity;

/* Set the program name from argv[0] (basename). */
void log_init(const char *argv0);

/* Print "prog: msg" and exit with CDC_EXIT_FAILURE / the given status. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void die_status(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* As die(), appending ": strerror(errno)". */
noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: msg" and "Try 'prog --help' for more information.", exit 2. */
noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "prog: msg"; returns -1. */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As error(), appending ": strerror(errno)"; returns -1. */
int error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: warning: msg" unless --quiet. */
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: msg" when cdc_verbosity >= level. */
void info(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "prog (cdc) VERSION" to stdout and exit 0 (for --version). */
noreturn void print_version(void);

#endif
