/*
 * cli.h: the command-line conventions every program shares.
 *
 * Every program takes -h/--help (usage on stdout, exit 0), -V/--version,
 * -v/--verbose (repeatable: more messages) and -q/--quiet (no warnings),
 * and ends its --help with the same exit-status table.  cdc-capture is
 * the one exception to -h: like psql and pg_recvlogical, its -h is the
 * server's host, and -? is its short help.
 *
 * A program's option table lists CLI_OPTIONS among its own entries, its
 * short-option string starts with ":" (so that a missing argument is told
 * apart from an unknown option) and contains CLI_SHORTOPTS; its switch
 * hands every value it does not know to cli_option(), which handles the
 * common ones and refuses the rest with one line that names the option
 * but never repeats its value: "--dbnme=postgres://u:secret@h" must not
 * print the password back.
 */
#ifndef CDC_CLI_H
#define CDC_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdnoreturn.h>

#define CLI_SHORTOPTS "vqhV"

#define CLI_OPTIONS \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, 'V' }

/* The "General:" block of every --help. */
#define CLI_HELP \
	"General:\n" \
	"  -v, --verbose                more messages on stderr (repeatable)\n" \
	"  -q, --quiet                  no warnings\n" \
	"  -h, --help                   show this help and exit\n" \
	"  -V, --version                show the version and exit\n"

/*
 * The exit statuses, one contract for every program (cdc-events(7)),
 * printed at the end of every --help.
 */
#define CLI_HELP_EXIT \
	"\n" \
	"Exit status:\n" \
	"  0    done: end of input, or stopped by SIGINT, SIGTERM or SIGHUP\n" \
	"  1    runtime failure\n" \
	"  2    bad command line or configuration\n" \
	"  65   bad input under the stop policy: keep the evidence, do not restart\n" \
	"  75   temporary failure, or input cut off by a writer that died: restart\n" \
	"  141  standard output closed by the reader\n"

/*
 * Handle option value c from getopt_long() (argv, opts: what the program
 * passed to it; usage: its --help text).  Returns when c is -v or -q (the
 * verbosity is set); prints usage and exits for -h, prints the version and
 * exits for -V; for anything else (':' for a missing argument, '?' for an
 * unknown or ambiguous option, a value the program forgot) it prints one
 * line and exits 2.
 */
void cli_option(int c, char **argv, const struct option *opts, const char *usage);

/*
 * jq's rule for what is an option: an argument is one only when it is "-"
 * followed by '-' or a letter, so `cdc-map '-.a'` and `cdc-map -1` take a
 * program, as jq does (getopt would read them as options).  When argv
 * holds such an operand (before any "--"), returns a new vector, options
 * first, then "--", then the operands in their order, and updates *argc;
 * otherwise returns argv.  shortopts and opts as for getopt_long();
 * two_args: NULL-terminated long option names that take a second argument
 * after their own (--arg NAME VALUE).  Free a new vector with free().
 */
char **cli_jq_argv(int *argc, char **argv, const char *shortopts, const struct option *opts,
		   const char *const *two_args);

/* Print usage to stdout and exit 0 (1 if stdout cannot be written). */
noreturn void cli_help(const char *usage);

/* The option getopt_long() refused, named without its value; exit 2. */
noreturn void cli_bad_option(int c, char **argv, const struct option *opts);

#endif
