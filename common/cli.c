#include "cli.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cli_help(const char *usage)
{
	fputs(usage, stdout);
	fputs(CLI_HELP_EXIT, stdout);
	exit(fflush(stdout) == 0 && !ferror(stdout) ? CDC_EXIT_OK : CDC_EXIT_FAILURE);
}

void
cli_option(int c, char **argv, const struct option *opts, const char *usage)
{
	switch (c) {
	case 'v':
		cdc_verbosity = cdc_verbosity < 0 ? 1 : cdc_verbosity + 1;
		return;
	case 'q':
		cdc_verbosity = -1;
		return;
	case 'h':
		cli_help(usage);
	case 'V':
		print_version();
	default:
		cli_bad_option(c, argv, opts);
	}
}

/*
 * The element getopt_long() stopped at, when it was a long option: the
 * name as typed (without "--" and without "=VALUE"), else NULL.
 */
static const char *
long_name(char **argv, size_t *len)
{
	const char *el = optind > 0 ? argv[optind - 1] : NULL;

	if (el == NULL || strncmp(el, "--", 2) != 0 || el[2] == '\0')
		return NULL;
	el += 2;
	*len = strcspn(el, "=");
	return el;
}

/* How many long options start with name[0..len); *exact when one is name itself. */
static int
matches(const struct option *opts, const char *name, size_t len, const struct option **one,
	bool *exact)
{
	int n = 0;

	*exact = false;
	for (const struct option *o = opts; o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (o->name[len] == '\0')
			*exact = true;
		*one = o;
		n++;
	}
	return n;
}

void
cli_bad_option(int c, char **argv, const struct option *opts)
{
	size_t len = 0;
	const char *name = long_name(argv, &len);
	const struct option *o = NULL;
	bool exact;
	int n = name ? matches(opts, name, len, &o, &exact) : 0;
	int shown = len > 40 ? 40 : (int)len;

	if (c != '?' && c != ':')
		die("internal error: option value %d is not handled", c);
	/* A short option inside "-xyz" leaves argv[optind - 1] at another element. */
	if (name && optopt != 0 && (n == 0 || o->val != optopt))
		name = NULL;
	if (name) {
		if (n > 1 && !exact)
			die_usage("option '--%.*s' is ambiguous", shown, name);
		if (n == 0)
			die_usage("unknown option '--%.*s'", shown, name);
		if (c == ':')
			die_usage("option '--%s' needs a value", o->name);
		if (o->has_arg == no_argument && name[len] == '=')
			die_usage("option '--%s' takes no value", o->name);
		die_usage("option '--%s' was refused", o->name);
	}
	if (optopt > ' ' && optopt < 127) {
		if (c == ':')
			die_usage("option '-%c' needs a value", optopt);
		die_usage("unknown option '-%c'", optopt);
	}
	die_usage("unknown option");
}
