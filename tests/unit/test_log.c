/* Unit tests for common/log.c: message format, verbosity, exit statuses. */
#include "log.h"
#include "buf.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct run {
	int status;
	struct buf out, err;
};

static void
slurp(int fd, struct buf *b)
{
	char tmp[1024];
	ssize_t n;

	buf_adds(b, "");
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
}

/* Run fn(arg) in a child with stdout and stderr captured (small outputs only). */
static void
run(void (*fn)(int), int arg, struct run *r)
{
	int o[2], e[2], st;
	pid_t pid;

	if (pipe(o) < 0 || pipe(e) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]);
		close(e[0]);
		fn(arg);
		fflush(stdout);
		_exit(99);
	}
	close(o[1]);
	close(e[1]);
	buf_reset(&r->out);
	buf_reset(&r->err);
	slurp(o[0], &r->out);
	slurp(e[0], &r->err);
	waitpid(pid, &st, 0);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
do_die(int a)
{
	(void)a;
	log_init("/usr/local/bin/cdc-x");
	die("line %d: %s", 42, "not a JSON object");
}

static void
do_die_status(int a)
{
	log_init("cdc-x");
	die_status(a, "server down");
}

static void
do_die_errno(int a)
{
	(void)a;
	log_init("cdc-x");
	errno = ENOENT;
	die_errno("cannot open %s", "f");
}

static void
do_usage(int a)
{
	(void)a;
	log_init("cdc-x");
	die_usage("unknown option '%s'", "--frob");
}

static void
do_messages(int verbosity)
{
	log_init("cdc-x");
	cdc_verbosity = verbosity;
	if (error("e%d", 1) != -1)
		_exit(3);
	errno = EACCES;
	if (error_errno("e%d", 2) != -1)
		_exit(4);
	warning("w");
	info(1, "i1");
	info(2, "i2");
	exit(0);
}

static void
do_version(int a)
{
	(void)a;
	log_init("cdc-x");
	print_version();
}

static void
do_long(int a)
{
	char big[10000];

	(void)a;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("cdc-x");
	error("%s", big);
	exit(0);
}

int
main(void)
{
	struct run r = { 0, BUF_INIT, BUF_INIT };
	char want[200];

	run(do_die, 0, &r);
	is_int(r.status, CDC_EXIT_FAILURE, "die exits 1");
	is_str(r.err.data, "cdc-x: line 42: not a JSON object\n", "die: 'prog: message', basename of argv[0]");
	is_int(r.out.len, 0, "die: nothing on stdout");

	run(do_die_status, CDC_EXIT_TEMPFAIL, &r);
	is_int(r.status, 75, "die_status exits with the status given");
	is_str(r.err.data, "cdc-x: server down\n", "die_status message");

	run(do_die_errno, 0, &r);
	is_int(r.status, 1, "die_errno exits 1");
	snprintf(want, sizeof(want), "cdc-x: cannot open f: %s\n", strerror(ENOENT));
	is_str(r.err.data, want, "die_errno appends strerror");

	run(do_usage, 0, &r);
	is_int(r.status, CDC_EXIT_USAGE, "die_usage exits 2");
	is_str(r.err.data, "cdc-x: unknown option '--frob'\nTry 'cdc-x --help' for more information.\n",
	       "die_usage message and hint");
	is_int(r.out.len, 0, "die_usage: nothing on stdout");

	run(do_messages, 0, &r);
	is_int(r.status, 0, "error() and error_errno() return -1");
	snprintf(want, sizeof(want), "cdc-x: e1\ncdc-x: e2: %s\ncdc-x: warning: w\n", strerror(EACCES));
	is_str(r.err.data, want, "default verbosity: errors and warnings, no info");
	run(do_messages, 2, &r);
	snprintf(want, sizeof(want), "cdc-x: e1\ncdc-x: e2: %s\ncdc-x: warning: w\ncdc-x: i1\ncdc-x: i2\n",
		 strerror(EACCES));
	is_str(r.err.data, want, "-vv: info levels 1 and 2 too");
	run(do_messages, -1, &r);
	snprintf(want, sizeof(want), "cdc-x: e1\ncdc-x: e2: %s\n", strerror(EACCES));
	is_str(r.err.data, want, "--quiet: errors only");

	run(do_version, 0, &r);
	is_int(r.status, 0, "print_version exits 0");
	is_str(r.out.data, "cdc-x (cdc) " CDC_VERSION "\n", "print_version to stdout");
	is_int(r.err.len, 0, "print_version: nothing on stderr");

	run(do_long, 0, &r);
	ok(r.status == 0 && r.err.len > 4000 && r.err.len < 4200 && r.err.data[r.err.len - 1] == '\n',
	   "over-long message is cut, still one line");

	is_int(CDC_EXIT_OK, 0, "exit code ok 0");
	is_int(CDC_EXIT_DATAERR, 65, "exit code data error 65");
	is_int(CDC_EXIT_PIPE, 141, "exit code EPIPE 141");
	buf_release(&r.out);
	buf_release(&r.err);
	return tap_done();
}
