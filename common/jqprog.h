/*
 * jqprog.h: running a jq program over events with libjq 1.6, for cdc-filter
 * and cdc-map (the only programs linked with -ljq; a program that calls
 * nothing here does not pull these objects out of libcdc.a, so it needs no
 * libjq).  Three files implement it: jqprog.c is the glue to libjq
 * (arguments, modules, compiling, running, the sandbox and helpers);
 * jqjson.c converts JSON text to jv and back (jqp_parse, jqp_project,
 * jqp_print); jqnum.c is jq 1.6's number formatting and the exact-number
 * rule (jqp_format_double, jqp_number_exact).
 *
 * What it adds to libjq:
 *  - jqp_parse(): builds a jv from a line event_scan() has already
 *    validated, several times faster than jv_parse(), reusing key strings
 *    between events, and noting numbers libjq cannot hold exactly (a
 *    double prints them differently: integers beyond 2^53, more than 17
 *    significant digits, out of range).
 *  - jqp_print(): writes a jv as `jq -c` does (same key order, escapes and
 *    number format) into a caller-owned struct buf.
 *  - a sandbox: `input`/`inputs` raise an error instead of reading the
 *    event stream; unless allow_env, the process environment is emptied
 *    before the program is compiled, so `$ENV` and `env` are {}.
 *  - the cdc module's C helpers (sha256/hmac for masking), reached through
 *    a private debug/input handshake documented in jqprog.c.
 *
 * Ownership follows libjq: every jv function consumes its jv arguments
 * unless this header says otherwise; jv_copy() to keep one.  libjq 1.6 is
 * not thread-safe: one thread only.
 */
#ifndef CDC_JQPROG_H
#define CDC_JQPROG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jv.h>
#include <jq.h>

#include "buf.h"
#include "jqpaths.h"

/* jqp_next() results. */
enum jqp_status {
	JQP_DONE = 0,		/* no more outputs */
	JQP_VALUE,		/* *out holds an output */
	JQP_ERROR,		/* runtime error; jqp_error() has the reason */
	JQP_HALT,		/* the program called halt or halt_error */
};

#define JQP_KEYCACHE 1024	/* cached object keys (a power of two) */
#define JQP_VALUECACHE 1024	/* cached short string values (a power of two) */
#define JQP_VALUE_MAX 16	/* longest string value cached */

struct jqp_key {
	char *bytes;		/* NULL: empty slot */
	size_t len;
	uint32_t hash;
	jv str;
};

/*
 * A member the program only copies into its outputs (jqpaths.h, "raw"):
 * when its text is as jq -c would print it, jqp_parse() hands the program
 * ph instead of building the value, and jqp_print() prints the text where
 * ph comes out.
 */
struct jqp_raw {
	jv ph;			/* a string of our own, never seen by the program */
	const char *text;	/* this event's value (NULL: none) */
	size_t len;
	int depth;		/* how deep its containers nest (0: a string) */
};

/* A member name in an object jqp_parse() checks for raw use. */
struct jqp_rawkey {
	const char *s;
	size_t len;
};

struct jqprog {
	jq_state *jq;
	jv named;		/* object: $name -> value (--arg and friends) */
	jv libdirs;		/* array of library directories, searched in order */
	bool allow_env;
	const char *from_file;		/* -f FILE (jqp_option()) */
	bool check_numbers;	/* count inexact numbers in jqp_parse() */
	int max_outputs;	/* > 0: the caller reads at most this many outputs
				   (jqp_compile() sets 0 when stopping early is safe) */
	bool quiet;		/* compile messages are not printed */
	struct buf err;		/* the last error message */
	struct buf scratch;	/* string decoding */
	/* parse statistics of the last jqp_parse() */
	uint64_t inexact;	/* numbers libjq holds inexactly */
	size_t inexact_at;	/* byte offset of the first one */
	const char *base;	/* the text being parsed */
	struct jqp_key keys[JQP_KEYCACHE];
	int nkeys;
	jv values[JQP_VALUECACHE];
	unsigned char value_len[JQP_VALUECACHE];	/* length + 1, 0: empty slot */
	/* the cdc module's C helpers */
	jv pending;		/* request seen by the debug hook, or invalid */
	jv input_name;		/* input_filename's answer (a string) */
	uint64_t input_line;	/* input_line_number's answer */
	char *inexact_arg;	/* "--argjson NAME" with a rounded number, or NULL */
	/* what jqp_parse() builds of an object: NULL, everything */
	struct jqpaths *need;
	/* the members of need the program only copies (jqpaths.h "raw") */
	struct jqp_raw *raw;
	int nraw;
	short raw_slot[JQPATHS_MAX];	/* need's node -> raw[] index */
	struct jqp_rawkey *rawkeys;	/* names of the objects being checked */
	size_t nrawkeys, rawkeys_cap;
	uint32_t *rawtab;		/* the duplicate check's table */
	size_t rawtab_cap;
	/* the program, when it runs without libjq (jqp_fast_compile()) */
	struct jqfast *fast;
};

/*
 * Call first in main(): makes sure the process runs with a 1 GiB stack
 * limit (or the hard limit), re-executing itself once to get it, so that
 * libjq's recursion over deeply nested values exhausts memory, not the
 * stack.  Returns when the limit is already there (or cannot be raised).
 */
void jqp_big_stack(char **argv);

/* Set up an empty program context (nothing compiled yet). */
void jqp_init(struct jqprog *p);

/*
 * Named arguments, as jq's options of the same names.  name must be a
 * valid jq identifier.  Return 0, or -1 with the reason in jqp_error()
 * (bad JSON, unreadable file, bad name).  A number of --argjson or
 * --slurpfile that libjq would round is noted: jqp_compile() fails then
 * when check_numbers is set, as an event with one would.
 */
int jqp_arg(struct jqprog *p, const char *name, const char *text);
int jqp_argjson(struct jqprog *p, const char *name, const char *json);
int jqp_slurpfile(struct jqprog *p, const char *name, const char *path);
int jqp_rawfile(struct jqprog *p, const char *name, const char *path);
/*
 * The jq options of cdc-filter and cdc-map: a program lists JQP_OPTIONS in
 * its option table, JQP_SHORTOPTS in its short options, JQP_TWO_ARGS for
 * cli_jq_argv(), and passes every option to jqp_option() before its own
 * switch.  --arg, --argjson, --slurpfile and --rawfile NAME X take X from
 * argv[optind] (optind advances); -f/--from-file FILE is kept for
 * jqp_program().
 */
enum {
	JQP_OPT_ARG = 0x4300,
	JQP_OPT_ARGJSON,
	JQP_OPT_SLURPFILE,
	JQP_OPT_RAWFILE,
	JQP_OPT_ALLOW_ENV,
};

#define JQP_SHORTOPTS "f:L:"
#define JQP_OPTIONS \
	{ "from-file", required_argument, NULL, 'f' }, \
	{ "arg", required_argument, NULL, JQP_OPT_ARG }, \
	{ "argjson", required_argument, NULL, JQP_OPT_ARGJSON }, \
	{ "slurpfile", required_argument, NULL, JQP_OPT_SLURPFILE }, \
	{ "rawfile", required_argument, NULL, JQP_OPT_RAWFILE }, \
	{ "library-path", required_argument, NULL, 'L' }, \
	{ "allow-env", no_argument, NULL, JQP_OPT_ALLOW_ENV }

/* The long options followed by a second argument (for cli_jq_argv()). */
extern const char *const jqp_two_args[];

/*
 * Take option c with argument arg if it is one of JQP_OPTIONS: returns
 * true (dies with a usage error on a missing or unusable value), false
 * for any other option.
 */
bool jqp_option(struct jqprog *p, int c, const char *arg, int argc, char **argv);
/*
 * After the options: the program text, from -f FILE or else argv[optind]
 * (optind advances); *origin is FILE's directory (modules are searched
 * there) or NULL.  Returns NULL when neither is given.  Caller frees both.
 */
char *jqp_program(struct jqprog *p, int argc, char **argv, char **origin);
/* Read a program file (-f FILE); dies when it cannot.  Caller frees. */
char *jqp_read_program(const char *path);
/* Append a library directory (made absolute here). */
void jqp_libdir(struct jqprog *p, const char *dir);
/*
 * Append the default library directories: $CDC_JQ_LIB (colon-separated),
 * CDC_DATADIR/jq, and the tree's jq/ when the binary runs from build/bin.
 */
void jqp_default_libdirs(struct jqprog *p);

/*
 * Compile program text once.  origin: the directory relative module paths
 * of the program start from (the -f file's directory), NULL for ".".
 * Prints libjq's messages as "prog: ..." and returns -1 on a compile error.
 */
int jqp_compile(struct jqprog *p, const char *program, const char *origin);

/*
 * Where the next input comes from, for input_filename (filename, NULL:
 * "<stdin>") and input_line_number (line: the newlines read so far in
 * that input, as jq counts them).
 */
void jqp_set_input(struct jqprog *p, const char *filename, uint64_t line);

/* Start the program on input (consumed). */
void jqp_start(struct jqprog *p, jv input);
/*
 * Next output into *out (caller frees) when JQP_VALUE.  JQP_ERROR: the
 * reason is in jqp_error(), with values jq quotes in its messages left out.
 * JQP_HALT: see jqp_halt_status().
 */
enum jqp_status jqp_next(struct jqprog *p, jv *out);
/*
 * Done with this input before JQP_DONE (max_outputs were read): let the
 * program stop itself.  Set max_outputs before jqp_compile() to read fewer
 * outputs than the program gives; stopping it otherwise can abort the
 * process in libjq 1.6 (jqprog.c).
 */
void jqp_finish(struct jqprog *p);
/* After JQP_HALT: the exit status, and print halt_error's message. */
int jqp_halt_status(struct jqprog *p);
/* The last error message (valid until the next call). */
const char *jqp_error(const struct jqprog *p);

/*
 * Let jqp_parse() build only what the compiled program can observe of its
 * input (jqpaths.h): program is its text, truthy_only as for
 * jqpaths_analyze().  Returns true when parts will be left out, false when
 * everything is still built.  The numbers of the parts left out are still
 * checked (p->inexact) when p->check_numbers.  A member the program only
 * copies into its outputs (jqpaths.h "raw") is not built either when its
 * text is exactly what jq -c would print for it (compact, escapes and
 * numbers as jq writes them, valid UTF-8, no name twice in an object): a
 * stand-in goes to the program, and jqp_print() prints the text.
 */
bool jqp_project(struct jqprog *p, const char *program, bool truthy_only);

/*
 * Let jqp_fast() run the compiled program on events without libjq when it
 * is simple enough (jqpaths.h, struct jqfast: `select(COND) | ` and an
 * output made of field paths and objects).  Returns whether it is.
 */
bool jqp_fast_compile(struct jqprog *p, const char *program);

/*
 * Run the program on text (len bytes of valid JSON, an object, e.g. an
 * event line) without libjq: its output, if any, is appended to out as
 * jqp_print() would write it.  Returns the number of outputs (0 or 1), or
 * -1 with out unchanged when this event needs libjq: not compiled for it,
 * a value not as jq -c prints it (jqp_project()), a member name with
 * escapes or twice, a path through a value that is neither an object nor
 * null (an error in jq), a number libjq cannot hold (when
 * p->check_numbers).  The outputs,
 * errors and verdicts of libjq are then the event's.
 */
int jqp_fast(struct jqprog *p, const char *text, size_t len, struct buf *out);

/*
 * Build a jv from text: len bytes of valid JSON (validated before, e.g. by
 * event_scan() or json_skip(); anything else gives an invalid jv).
 * Counts inexact numbers in p->inexact / p->inexact_at.  After a
 * successful jqp_project(), an object is built with only the members the
 * program can observe.
 */
jv jqp_parse(struct jqprog *p, const char *text, size_t len);

/*
 * Containers nested deeper than this are not printed: no cdc stage reads
 * them back (JSON_MAX_DEPTH), and printing is recursive.  (jq 1.6 prints
 * "<stripped: exceeds max depth>" past 256 levels, which is not JSON.)
 */
#define JQP_PRINT_DEPTH 512

/*
 * Append v as compact JSON, exactly as `jq -c` prints it.  Does NOT consume
 * v.  Strings are assumed valid UTF-8 (libjq guarantees it).  p: the
 * program whose jqp_parse() built the input v came from, so that its
 * stand-ins print as the text they stand for (valid until the next
 * jqp_parse()); NULL when v holds none.  Returns 0, or -1 with b unchanged
 * when v nests containers deeper than JQP_PRINT_DEPTH.
 */
int jqp_print(const struct jqprog *p, struct buf *b, jv v);

/* jq truthiness: anything but false and null (v is not consumed). */
bool jqp_truthy(jv v);

/*
 * Whether the decimal number literal lit (JSON grammar) reads back as the
 * same value after a trip through a double printed the way jq prints it.
 */
bool jqp_number_exact(const char *lit, size_t len, double d);

/* Format a finite double as jq 1.6 does; out holds at least 32 bytes. */
size_t jqp_format_double(double d, char *out);

/* Free everything (tears the jq state down). */
void jqp_free(struct jqprog *p);

#endif
