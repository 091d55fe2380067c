#include "cli.h"
#include "buf.h"
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

/* How many arguments follow the long option at arg ("--name" or "--name=x"). */
static int
long_args(const char *arg, const struct option *opts, const char *const *two_args)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct option *found = NULL;
	int matches = 0, more;

	for (const struct option *o = opts; o->name; o++) {
		if (strncmp(o->name, arg, n) != 0)
			continue;
		if (o->name[n] == '\0') {
			found = o;
			matches = 1;
			break;
		}
		found = o;
		matches++;
	}
	if (matches != 1)
		return 0;	/* getopt_long() reports it */
	more = found->has_arg == required_argument && eq == NULL;
	for (const char *const *t = two_args; t && *t; t++)
		if (strcmp(*t, found->name) == 0)
			more++;
	return more;
}

/* How many arguments follow the short option cluster at arg (after '-'). */
static int
short_args(const char *arg, const char *shortopts)
{
	for (; *arg; arg++) {
		const char *o = *arg == ':' ? NULL : strchr(shortopts, *arg);

		if (o && o[1] == ':')
			return arg[1] == '\0';	/* the rest of the cluster, or the next one */
	}
	return 0;
}

static bool
optionish(const char *a)
{
	return a[0] == '-' && (a[1] == '-' || (a[1] >= 'a' && a[1] <= 'z') ||
			       (a[1] >= 'A' && a[1] <= 'Z'));
}

char **
cli_jq_argv(int *argc, char **argv, const char *shortopts, const struct option *opts,
	    const char *const *two_args)
{
	int n = *argc, nopt = 1, nrand = 0, i;
	bool any = false;
	char **out, **rand;

	for (i = 1; i < n && strcmp(argv[i], "--") != 0; i++) {
		if (optionish(argv[i]))
			i += argv[i][1] == '-' ? long_args(argv[i] + 2, opts, two_args)
					       : short_args(argv[i] + 1, shortopts);
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			any = true;
	}
	if (!any)
		return argv;
	out = xmalloc((size_t)(n + 2) * sizeof(*out));
	rand = xmalloc((size_t)(n + 1) * sizeof(*rand));
	out[0] = argv[0];
	for (i = 1; i < n; i++) {
		int more;

		if (strcmp(argv[i], "--") == 0) {
			while (++i < n)
				rand[nrand++] = argv[i];
			break;
		}
		if (!optionish(argv[i])) {
			rand[nrand++] = argv[i];
			continue;
		}
		more = argv[i][1] == '-' ? long_args(argv[i] + 2, opts, two_args)
					 : short_args(argv[i] + 1, shortopts);
		out[nopt++] = argv[i];
		while (more-- > 0 && i + 1 < n)
			out[nopt++] = argv[++i];
	}
	out[nopt++] = "--";
	memcpy(out + nopt, rand, (size_t)nrand * sizeof(*rand));
	*argc = nopt + nrand;
	out[*argc] = NULL;
	free(rand);
	return out;
}
