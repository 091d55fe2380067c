#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cdc_progname = "cdc";
int cdc_verbosity;

void
log_init(const char *argv0)
{
	const char *slash;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	slash = strrchr(argv0, '/');
	cdc_progname = slash ? slash + 1 : argv0;
}

/* One line per message: build it first so concurrent writers do not interleave. */
static void
vreport(const char *prefix, const char *fmt, va_list ap, int errnum)
{
	char msg[4096];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	if (errnum)
		fprintf(stderr, "%s: %s%s: %s\n", cdc_progname, prefix, msg, strerror(errnum));
	else
		fprintf(stderr, "%s: %s%s\n", cdc_progname, prefix, msg);
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
	exit(CDC_EXIT_FAILURE);
}

void
die_status(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
	exit(status);
}

void
die_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, errnum);
	va_end(ap);
	exit(CDC_EXIT_FAILURE);
}

void
die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", cdc_progname);
	exit(CDC_EXIT_USAGE);
}

int
error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
	return -1;
}

int
error_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, errnum);
	va_end(ap);
	return -1;
}

void
warning(const char *fmt, ...)
{
	va_list ap;

	if (cdc_verbosity < 0)
		return;
	va_start(ap, fmt);
	vreport("warning: ", fmt, ap, 0);
	va_end(ap);
}

void
info(int level, const char *fmt, ...)
{
	va_list ap;

	if (cdc_verbosity < level)
		return;
	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
}

void
print_version(void)
{
	printf("%s (cdc) %s\n", cdc_progname, CDC_VERSION);
	if (fflush(stdout) != 0 || ferror(stdout))
		exit(CDC_EXIT_FAILURE);
	exit(CDC_EXIT_OK);
}
