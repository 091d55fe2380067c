#include "jqprog.h"
#include "sha256.h"
#include "fileio.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

/*
 * The cdc module's C helpers.  libjq 1.6 has no API for adding builtins,
 * but two hooks reach C code from a program: `debug` hands its input to
 * the debug callback, and `input` asks the input callback for a value.
 * jq/cdc.jq calls a helper as
 *     (["\u0000cdc", "sha256", $text] | debug | empty), input
 * the debug hook keeps the request, the input hook answers it.  Anything
 * else reaching `input` is an error: the event stream is ours, and a
 * program must not read past its event.
 */
#define HELPER_TAG "\0cdc"
#define HELPER_TAG_LEN 4

void
jqp_init(struct jqprog *p)
{
	memset(p, 0, sizeof(*p));
	p->named = jv_object();
	p->libdirs = jv_array();
	p->pending = jv_invalid();
	p->input_name = jv_string("<stdin>");
}

void
jqp_set_input(struct jqprog *p, const char *filename, uint64_t line)
{
	const char *name = filename ? filename : "<stdin>";

	if (strcmp(jv_string_value(p->input_name), name) != 0) {
		jv_free(p->input_name);
		p->input_name = jv_string(name);
	}
	p->input_line = line;
}

const char *
jqp_error(const struct jqprog *p)
{
	return p->err.data ? p->err.data : "";
}

static int
set_error(struct jqprog *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
set_error(struct jqprog *p, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&p->err);
	va_start(ap, fmt);
	buf_vaddf(&p->err, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * libjq 1.6 frees, compares and copies values recursively: a value nested a
 * few hundred thousand levels deep (`reduce range(300000) as $i (0; [.])`)
 * overflows an 8 MiB stack inside libjq, where we cannot check.  With a
 * 1 GiB stack the heap runs out first (a level costs about twice as much
 * heap as stack), as with any program that builds too much.  The kernel
 * places the other mappings below the stack by the limit at exec time, so
 * raising it takes a new exec; the second run finds it raised.
 */
#define JQP_STACK ((rlim_t)1 << 30)

void
jqp_big_stack(char **argv)
{
	struct rlimit rl;
	rlim_t want = JQP_STACK;
	const char *preload;
	char self[4096];
	ssize_t n;

	if (getrlimit(RLIMIT_STACK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	if (want <= rl.rlim_cur)
		return;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_STACK, &rl) < 0)
		return;
	/*
	 * Under valgrind a new exec would run outside it (its preload names
	 * it); without /proc, or there, the stack can still grow to the gap
	 * the kernel left below it (128 MiB at least).
	 */
	preload = getenv("LD_PRELOAD");
	if (preload && strstr(preload, "vgpreload"))
		return;
	/*
	 * Exec the file itself, not /proc/self/exe: the process's name (ps,
	 * pgrep, systemctl status) comes from the path given to execv, and
	 * "exe" would hide which stage is which.
	 */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1)
		return;
	self[n] = '\0';
	execv(self, argv);
}

/* --- named arguments and library paths --- */

static bool
valid_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* Bind $name to v (consumed). */
static int
bind(struct jqprog *p, const char *name, jv v)
{
	if (!valid_name(name)) {
		jv_free(v);
		return set_error(p, "'%s' is not a valid variable name", name);
	}
	p->named = jv_object_set(p->named, jv_string(name), v);
	return 0;
}

int
jqp_arg(struct jqprog *p, const char *name, const char *text)
{
	return bind(p, name, jv_string(text));
}

/*
 * The JSON values of text (len bytes) for --argjson (one value) or
 * --slurpfile (an array of all of them), built as events are: by
 * jqp_parse(), noting the first option whose numbers libjq would round
 * (jqp_compile() refuses the program then, unless !check_numbers).
 */
static int
json_arg(struct jqprog *p, const char *opt, const char *name, const char *text, size_t len,
	 bool slurp, jv *out)
{
	const char *s = text, *end = text + len;
	bool saved = p->check_numbers;
	jv all = jv_array();
	int n = 0;

	p->check_numbers = true;
	for (;;) {
		const char *v = json_ws(s, end), *e, *err = "not valid JSON";
		jv x;

		if (v == end)
			break;
		e = json_skip(v, end, &err);
		if (e == NULL || (!slurp && n == 1)) {
			p->check_numbers = saved;
			jv_free(all);
			if (e == NULL)
				return set_error(p, "%s %s: the value is not valid JSON (%s)", opt,
						 name, err);
			return set_error(p, "%s %s: more than one JSON value", opt, name);
		}
		x = jqp_parse(p, v, (size_t)(e - v));
		if (p->inexact && p->inexact_arg == NULL) {
			struct buf b = BUF_INIT;

			buf_addf(&b, "%s %s", opt, name);
			p->inexact_arg = buf_detach(&b, NULL);
		}
		all = jv_array_append(all, x);
		n++;
		s = e;
	}
	p->check_numbers = saved;
	if (!slurp && n == 0) {
		jv_free(all);
		return set_error(p, "%s %s: the value is not valid JSON", opt, name);
	}
	if (slurp) {
		*out = all;
	} else {
		*out = jv_array_get(jv_copy(all), 0);
		jv_free(all);
	}
	return 0;
}

int
jqp_argjson(struct jqprog *p, const char *name, const char *json)
{
	jv v;

	if (json_arg(p, "--argjson", name, json, strlen(json), false, &v) < 0)
		return -1;
	return bind(p, name, v);
}

int
jqp_slurpfile(struct jqprog *p, const char *name, const char *path)
{
	struct buf text = BUF_INIT;
	jv v;
	int r = read_file(path, (size_t)1 << 30, false, &text);

	if (r != 0) {
		buf_release(&text);
		return set_error(p, "--slurpfile %s: %s", path,
				 r > 0 ? strerror(ENOENT) : strerror(errno));
	}
	r = json_arg(p, "--slurpfile", name, text.data ? text.data : "", text.len, true, &v);
	buf_release(&text);
	return r < 0 ? -1 : bind(p, name, v);
}

static int
load(struct jqprog *p, const char *name, const char *path, int raw, const char *opt)
{
	jv v = jv_load_file(path, raw);

	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);

		set_error(p, "%s %s: %s", opt, path,
			  jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg)
							     : "cannot read the file");
		jv_free(msg);
		return -1;
	}
	return bind(p, name, v);
}

int
jqp_rawfile(struct jqprog *p, const char *name, const char *path)
{
	return load(p, name, path, 1, "--rawfile");
}

const char *const jqp_two_args[] = { "arg", "argjson", "slurpfile", "rawfile", NULL };

/* --arg, --argjson, --slurpfile, --rawfile NAME X: X is argv[optind]. */
static void
named_option(struct jqprog *p, const char *opt, const char *name, int argc, char **argv)
{
	const char *x;
	int r;

	if (optind >= argc)
		die_usage("option '--%s' requires two arguments", opt);
	x = argv[optind++];
	if (strcmp(opt, "arg") == 0)
		r = jqp_arg(p, name, x);
	else if (strcmp(opt, "argjson") == 0)
		r = jqp_argjson(p, name, x);
	else if (strcmp(opt, "slurpfile") == 0)
		r = jqp_slurpfile(p, name, x);
	else
		r = jqp_rawfile(p, name, x);
	if (r < 0)
		die_usage("%s", jqp_error(p));
}

bool
jqp_option(struct jqprog *p, int c, const char *arg, int argc, char **argv)
{
	switch (c) {
	case 'f':
		p->from_file = arg;
		return true;
	case JQP_OPT_ARG:
		named_option(p, "arg", arg, argc, argv);
		return true;
	case JQP_OPT_ARGJSON:
		named_option(p, "argjson", arg, argc, argv);
		return true;
	case JQP_OPT_SLURPFILE:
		named_option(p, "slurpfile", arg, argc, argv);
		return true;
	case JQP_OPT_RAWFILE:
		named_option(p, "rawfile", arg, argc, argv);
		return true;
	case 'L':
		jqp_libdir(p, arg);
		return true;
	case JQP_OPT_ALLOW_ENV:
		p->allow_env = true;
		return true;
	}
	return false;
}

char *
jqp_program(struct jqprog *p, int argc, char **argv, char **origin)
{
	char *slash;

	*origin = NULL;
	if (p->from_file == NULL)
		return optind < argc ? xstrdup(argv[optind++]) : NULL;
	*origin = xstrdup(p->from_file);
	slash = strrchr(*origin, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(*origin, ".");
	return jqp_read_program(p->from_file);
}

char *
jqp_read_program(const char *path)
{
	struct buf b = BUF_INIT;
	FILE *f = fopen(path, "r");
	char chunk[8192];
	size_t n;

	if (f == NULL)
		die_errno("cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	if (ferror(f))
		die_errno("cannot read %s", path);
	fclose(f);
	if (memchr(b.data ? b.data : "", '\0', b.len))
		die("%s: the program contains a NUL byte", path);
	return buf_detach(&b, NULL);
}

void
jqp_libdir(struct jqprog *p, const char *dir)
{
	char cwd[4096];

	if (dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
		p->libdirs = jv_array_append(p->libdirs, jv_string(dir));
		return;
	}
	p->libdirs = jv_array_append(p->libdirs, jv_string_fmt("%s/%s", cwd, dir));
}

/* The directory of the running binary, or "" when unknown. */
static void
exe_dir(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	char *slash;

	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (slash)
		*slash = '\0';
}

/* Add dir (relative to the binary's directory) when it holds cdc.jq. */
static void
add_if_module(struct jqprog *p, const char *bindir, const char *rel)
{
	struct buf path = BUF_INIT;

	buf_addf(&path, "%s/%s/cdc.jq", bindir, rel);
	if (access(path.data, R_OK) == 0) {
		buf_setlen(&path, path.len - strlen("/cdc.jq"));
		jqp_libdir(p, path.data);
	}
	buf_release(&path);
}

void
jqp_default_libdirs(struct jqprog *p)
{
	const char *env = getenv("CDC_JQ_LIB");
	char dir[4096];

	if (env && *env) {
		char *copy = xstrdup(env), *save = NULL;

		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			jqp_libdir(p, d);
		free(copy);
	}
	jqp_libdir(p, CDC_DATADIR "/jq");
	exe_dir(dir, sizeof(dir));
	if (dir[0]) {
		/* An installed tree moved elsewhere, then a build in the source tree. */
		add_if_module(p, dir, "../share/cdc/jq");
		add_if_module(p, dir, "../../jq");
	}
}

/* --- compiling and running --- */

static const char prelude[];
static const char limit_open[];

/* libjq's message quotes the line: the definitions added there are left out. */
static void
compile_error_cb(void *data, jv msg)
{
	const struct jqprog *p = data;

	if (p->quiet) {
		jv_free(msg);
		return;
	}
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		const char *m = jv_string_value(msg), *at = strstr(m, prelude);
		size_t skip = strlen(prelude);

		if (at && strncmp(at + skip, limit_open, strlen(limit_open)) == 0)
			skip += strlen(limit_open);
		const char *tail = strstr(m, ") as $__cdc_v (0; ");

		if (at)
			error("%.*s%s", (int)(at - m), m, at + skip);
		else if (tail)	/* the line limit_open's end is on */
			error("%.*s%s", (int)(tail - m), m, strchr(tail, '\n') ? strchr(tail, '\n') : "");
		else
			error("%s", m);
	} else
		error("jq reported an error");
	jv_free(msg);
}

static void
debug_cb(void *data, jv v)
{
	struct jqprog *p = data;
	struct buf b = BUF_INIT;

	if (jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) >= 2) {
		jv tag = jv_array_get(jv_copy(v), 0);
		bool ours = jv_get_kind(tag) == JV_KIND_STRING &&
			    jv_string_length_bytes(jv_copy(tag)) == HELPER_TAG_LEN &&
			    memcmp(jv_string_value(tag), HELPER_TAG, HELPER_TAG_LEN) == 0;

		jv_free(tag);
		if (ours) {
			jv_free(p->pending);
			p->pending = v;
			return;
		}
	}
	/* As jq prints it: ["DEBUG:",value] */
	buf_adds(&b, "[\"DEBUG:\",");
	if (jqp_print(p, &b, v) < 0) {
		buf_reset(&b);
		buf_addf(&b, "%s: debug: a value nested deeper than %d levels is not printed\n",
			 cdc_progname, JQP_PRINT_DEPTH);
	} else {
		buf_adds(&b, "]\n");
	}
	fflush(stdout);
	if (fwrite(b.data, 1, b.len, stderr) != b.len)
		(void)0;	/* stderr is best effort */
	buf_release(&b);
	jv_free(v);
}

static void
hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Answer a helper request: [tag, "sha256", text], [tag, "hmac", key, text],
 * [tag, "input_filename"] or [tag, "input_line_number"].
 */
static jv
helper(struct jqprog *p, jv req)
{
	jv op = jv_array_get(jv_copy(req), 1);
	int n = jv_array_length(jv_copy(req));
	unsigned char md[32];
	char out[65];
	jv r;

	if (jv_get_kind(op) != JV_KIND_STRING) {
		r = jv_invalid_with_msg(jv_string("cdc: malformed helper call"));
	} else if (strcmp(jv_string_value(op), "input_filename") == 0 && n == 2) {
		r = jv_copy(p->input_name);
	} else if (strcmp(jv_string_value(op), "input_line_number") == 0 && n == 2) {
		r = jv_number((double)p->input_line);
	} else if (strcmp(jv_string_value(op), "sha256") == 0 && n == 3) {
		jv t = jv_array_get(jv_copy(req), 2);

		if (jv_get_kind(t) == JV_KIND_STRING) {
			sha256(jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)), md);
			hex(md, 32, out);
			r = jv_string(out);
		} else {
			r = jv_invalid_with_msg(jv_string("cdc: sha256 needs a string"));
		}
		jv_free(t);
	} else if (strcmp(jv_string_value(op), "hmac") == 0 && n == 4) {
		jv k = jv_array_get(jv_copy(req), 2);
		jv t = jv_array_get(jv_copy(req), 3);

		if (jv_get_kind(k) == JV_KIND_STRING && jv_get_kind(t) == JV_KIND_STRING) {
			hmac_sha256(jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)),
					jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)), md);
			hex(md, 32, out);
			r = jv_string(out);
		} else {
			r = jv_invalid_with_msg(jv_string("cdc: hmac needs a string key and text"));
		}
		jv_free(k);
		jv_free(t);
	} else {
		r = jv_invalid_with_msg(jv_string("cdc: unknown helper call"));
	}
	jv_free(op);
	jv_free(req);
	return r;
}

static jv
input_cb(jq_state *jq, void *data)
{
	struct jqprog *p = data;
	jv req = p->pending;

	(void)jq;
	p->pending = jv_invalid();
	if (jv_is_valid(req))
		return helper(p, req);
	return jv_invalid_with_msg(jv_string_fmt(
		"input and inputs are not available in %s: each event is processed on its own",
		cdc_progname));
}

/*
 * libjq 1.6 computes a % b as (intmax_t)a % (intmax_t)b: a double beyond
 * the 64-bit range converts to INT64_MIN (undefined behaviour in C), and
 * INT64_MIN % -1 raises SIGFPE, so one row value could kill the stage.
 * `%` calls the function _mod/2, and a definition of that name in the
 * program comes ahead of the builtin: this one checks the operands and
 * hands the safe cases to the builtin (bound as _cdc_mod0 before _mod is
 * redefined).  Modules are compiled on their own and keep the builtin:
 * jq/cdc.jq divides by constants only, never by -1.  A number
 * modulo -1 is 0, and operands whose integer part is outside
 * [-2^63, 2^63) or NaN are an error instead of jq's platform-dependent
 * result.  `/` divides doubles and has no such corner.
 */
static const char prelude[] =
	"def _cdc_mod0(a; b): a % b; "
	"def _mod(a; b): b as $b | a as $a | "
	"if ($a | type) != \"number\" or ($b | type) != \"number\" then _cdc_mod0($a; $b) "
	"elif ($a | isnan) or ($b | isnan) or $a < -9223372036854775808 or "
	"$a >= 9223372036854775808 or $b < -9223372036854775808 or $b >= 9223372036854775808 "
	"then error(\"number and number cannot be divided (remainder): "
	"an operand is beyond the 64-bit integer range\") "
	"elif $b > -2 and $b <= -1 then 0 else _cdc_mod0($a; $b) end; "
	/*
	 * libjq answers these two only for the jq CLI's own input reader:
	 * here they ask the helper hook (the position jqp_set_input() set).
	 */
	"def input_filename: ([\"\\u0000cdc\", \"input_filename\"] | debug | empty), input; "
	"def input_line_number: ([\"\\u0000cdc\", \"input_line_number\"] | debug | empty), input; ";

/*
 * Where program's directives (module, import, include) end: definitions
 * must follow them.  A plain scan, enough for directives that compile;
 * strings may hold escapes, and a directive ends at a ';' outside strings.
 */
static size_t
directives_end(const char *program)
{
	const char *p = program, *end = program;

	for (;;) {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '#') {
			if (*p == '#')
				while (*p && *p != '\n')
					p++;
			else
				p++;
		}
		for (n = 0; (p[n] >= 'a' && p[n] <= 'z') || p[n] == '_' ||
			    (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9');
		     n++)
			;
		if (!((n == 6 && (strncmp(p, "module", 6) == 0 || strncmp(p, "import", 6) == 0)) ||
		      (n == 7 && strncmp(p, "include", 7) == 0)))
			return (size_t)(end - program);
		for (p += n; *p && *p != ';'; p++) {
			if (*p != '"')
				continue;
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p == '\0')
				return (size_t)(end - program);
		}
		if (*p == '\0')
			return (size_t)(end - program);
		end = ++p;
	}
}

/*
 * program with prelude after its directives, on the same line (line
 * numbers in messages and $__loc__ stay the program's).  Caller frees.
 */
/*
 * Stopping a program between outputs and starting it on the next input
 * (jq_start() resets it) trips an assertion in libjq 1.6 when the program
 * was inside a path expression (`path(..)`, paths, del, |=): the process
 * aborts.  A caller that wants only the first max outputs has the program
 * stop itself instead, as jq's limit/2 does, and jqp_finish() lets the
 * break unwind it.
 */
static const char limit_open[] = "label $__cdc_out | foreach (";

/*
 * Whether program may enter libjq's path mode, which only path(f) and the
 * assignment operators do, and the builtins of jq 1.6 built on them
 * (paths, leaf_paths, del, map_values, tostream, INDEX), or a module.  A
 * plain text search that may say yes for nothing (a word in a string):
 * the wrapper costs about 2 us an event, worth saving on the common
 * `.op == "u"`.
 */
static bool
may_track_paths(const char *program)
{
	static const char *const words[] = {
		"path", "del", "map_values", "tostream", "INDEX", "include", "import",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(program, words[i]))
			return true;
	for (const char *q = strchr(program, '='); q; q = strchr(q + 1, '=')) {
		char before = q > program ? q[-1] : ' ';

		if (q[1] == '=' || before == '=' || before == '!' || before == '<' || before == '>')
			continue;	/* ==, !=, <=, >= */
		return true;
	}
	return false;
}

static char *
with_checked_ops(const char *program, int max_outputs)
{
	struct buf b = BUF_INIT;
	size_t at = directives_end(program);

	buf_add(&b, program, at);
	buf_adds(&b, prelude);
	if (max_outputs > 0)
		buf_adds(&b, limit_open);
	buf_adds(&b, program + at);
	/* on a line of its own: the program may end with a comment */
	if (max_outputs > 0)
		buf_addf(&b, "\n) as $__cdc_v (0; . + 1; $__cdc_v, if . >= %d then break $__cdc_out "
			 "else empty end)", max_outputs);
	return buf_detach(&b, NULL);
}

void
jqp_finish(struct jqprog *p)
{
	jv v;

	if (p->max_outputs == 0)
		return;		/* not wrapped: nothing to unwind */
	/* The break comes next; a try of libjq 1.6 may catch it once or twice. */
	for (int i = 0; i < 8 && jqp_next(p, &v) == JQP_VALUE; i++)
		jv_free(v);
}

/* One try at compiling program (with the prelude and, when max_outputs, the limit). */
static int
compile_once(struct jqprog *p, const char *program, const char *origin, int max_outputs)
{
	char dir[4096];
	char *text;
	jv args, named_args;
	int ok;

	p->jq = jq_init();
	if (p->jq == NULL)
		die("cannot initialise libjq");
	jq_set_error_cb(p->jq, compile_error_cb, p);
	jq_set_attr(p->jq, jv_string("JQ_LIBRARY_PATH"), jv_copy(p->libdirs));
	exe_dir(dir, sizeof(dir));
	jq_set_attr(p->jq, jv_string("JQ_ORIGIN"), jv_string(dir[0] ? dir : "."));
	if (origin == NULL && getcwd(dir, sizeof(dir)))
		origin = dir;
	jq_set_attr(p->jq, jv_string("PROGRAM_ORIGIN"), jv_string(origin ? origin : "."));
	/*
	 * libjq 1.6 turns $ENV into a constant while compiling, from environ,
	 * and `env` reads environ: an empty environment switches both off.
	 */
	if (!p->allow_env) {
		/*
		 * Not clearenv(): it leaves environ NULL, and libjq 1.6 then
		 * frees the $ENV constant too early (a use after free).
		 */
		static char *no_environment[] = { NULL };

		environ = no_environment;
	}
	named_args = jv_object_set(jv_object(), jv_string("positional"), jv_array());
	named_args = jv_object_set(named_args, jv_string("named"), jv_copy(p->named));
	args = jv_object_set(jv_copy(p->named), jv_string("ARGS"), named_args);
	/* Lets the cdc module tell our programs from the jq CLI. */
	args = jv_object_set(args, jv_string("__cdc_host"), jv_string(cdc_progname));
	text = with_checked_ops(program, max_outputs);
	ok = jq_compile_args(p->jq, text, args);
	free(text);
	if (!ok) {
		jq_teardown(&p->jq);
		return -1;
	}
	jq_set_input_cb(p->jq, input_cb, p);
	jq_set_debug_cb(p->jq, debug_cb, p);
	return 0;
}

int
jqp_compile(struct jqprog *p, const char *program, const char *origin)
{
	if (p->check_numbers && p->inexact_arg) {
		error("%s: a number cannot be held exactly by libjq (a double); "
		      "--lossy-numbers accepts it rounded", p->inexact_arg);
		return -1;
	}
	if (p->max_outputs > 0 && may_track_paths(program)) {
		/*
		 * The limit needs an expression: a program of definitions
		 * alone (`def f: .a = 1;`, the identity for jq) compiles
		 * without it, and so do the messages of a bad program.
		 */
		p->quiet = true;
		if (compile_once(p, program, origin, p->max_outputs) == 0) {
			p->quiet = false;
			return 0;
		}
		p->quiet = false;
	}
	p->max_outputs = 0;	/* stopping it anywhere is safe */
	return compile_once(p, program, origin, 0);
}

void
jqp_start(struct jqprog *p, jv input)
{
	jv_free(p->pending);
	p->pending = jv_invalid();
	jq_start(p->jq, input, 0);
}

/*
 * jq quotes values in some messages: `number (42) and string ("x") cannot
 * be added`, `... (while parsing 'text')`.  Diagnostics must not carry row
 * values, so those parts are cut out.  libjq prints the value into 15
 * bytes: either its whole JSON text or 11 bytes and "...", then ") ".
 */
static size_t
quoted_value_len(const char *q)
{
	const char *err;

	for (size_t j = 1; j <= 14 && q[j - 1]; j++) {
		const char *end;

		if (q[j] != ')' || (q[j + 1] != ' ' && q[j + 1] != '\0'))
			continue;
		if (j == 14 && strncmp(q + 11, "...", 3) == 0)
			return j;
		end = json_skip(q, q + j, &err);
		if (end == q + j)
			return j;
	}
	return 0;
}

static void
redact(struct buf *out, const char *m)
{
	static const char *const kinds[] = {
		"null (", "boolean (", "number (", "string (", "array (", "object (",
	};

	while (*m) {
		size_t j = 0, klen = 0;

		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			klen = strlen(kinds[i]);
			if (strncmp(m, kinds[i], klen) == 0) {
				j = quoted_value_len(m + klen);
				break;
			}
		}
		if (j) {
			buf_add(out, m, klen - 2);
			m += klen + j + 1;
			continue;
		}
		if (strncmp(m, " (while parsing '", 17) == 0)
			break;
		buf_addc(out, *m++);
	}
}

static void
error_from(struct jqprog *p, jv msg)
{
	buf_reset(&p->err);
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		redact(&p->err, jv_string_value(msg));
	} else {
		buf_addf(&p->err, "jq error with a non-string value (%s)",
			 jv_kind_name(jv_get_kind(msg)));
	}
	jv_free(msg);
}

enum jqp_status
jqp_next(struct jqprog *p, jv *out)
{
	jv r = jq_next(p->jq);

	if (jv_is_valid(r)) {
		*out = r;
		return JQP_VALUE;
	}
	if (jq_halted(p->jq)) {
		jv_free(r);
		return JQP_HALT;
	}
	if (jv_invalid_has_msg(jv_copy(r))) {
		error_from(p, jv_invalid_get_msg(r));
		return JQP_ERROR;
	}
	jv_free(r);
	return JQP_DONE;
}

int
jqp_halt_status(struct jqprog *p)
{
	jv code = jq_get_exit_code(p->jq);
	jv msg = jq_get_error_message(p->jq);
	int status = 0;

	if (jv_get_kind(code) == JV_KIND_NUMBER)
		status = (int)jv_number_value(code) & 255;
	else if (jv_is_valid(code))
		status = 5;
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		fputs(jv_string_value(msg), stderr);
	} else if (jv_is_valid(msg) && jv_get_kind(msg) != JV_KIND_NULL) {
		struct buf b = BUF_INIT;

		if (jqp_print(p, &b, msg) < 0)
			buf_addf(&b, "(halt_error: a value nested deeper than %d levels)",
				 JQP_PRINT_DEPTH);
		fprintf(stderr, "%s\n", b.data);
		buf_release(&b);
	}
	jv_free(code);
	jv_free(msg);
	return status;
}

void
jqp_free(struct jqprog *p)
{
	if (p->jq)
		jq_teardown(&p->jq);
	jv_free(p->named);
	jv_free(p->libdirs);
	jv_free(p->pending);
	jv_free(p->input_name);
	free(p->inexact_arg);
	if (p->need) {
		jqpaths_free(p->need);
		free(p->need);
	}
	for (int i = 0; i < p->nraw; i++)
		jv_free(p->raw[i].ph);
	free(p->raw);
	free(p->rawkeys);
	free(p->rawtab);
	if (p->fast) {
		jqfast_free(p->fast);
		free(p->fast);
	}
	for (int i = 0; i < JQP_KEYCACHE; i++) {
		if (p->keys[i].bytes) {
			free(p->keys[i].bytes);
			jv_free(p->keys[i].str);
		}
	}
	for (int i = 0; i < JQP_VALUECACHE; i++)
		if (p->value_len[i])
			jv_free(p->values[i]);
	buf_release(&p->err);
	buf_release(&p->scratch);
	memset(p, 0, sizeof(*p));
}

bool
jqp_truthy(jv v)
{
	jv_kind k = jv_get_kind(v);

	return k != JV_KIND_FALSE && k != JV_KIND_NULL && k != JV_KIND_INVALID;
}
