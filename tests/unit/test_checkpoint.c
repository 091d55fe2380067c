/*
 * Unit tests for common/checkpoint.c: the text format, its parser's
 * errors, and atomic 0600 files.
 */
#include "checkpoint.h"
#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "tap.h"
#include "timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/cdc-test-ckpt-XXXXXX";

/* Capture what a call prints on stderr. */
static int saved_stderr = -1;
static char errpath[256];

static void
capture_begin(void)
{
	int fd;

	snprintf(errpath, sizeof(errpath), "%s/stderr.txt", dir);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void
capture_end(struct buf *out)
{
	char tmp[1024];
	ssize_t n;
	int fd;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	buf_reset(out);
	fd = open(errpath, O_RDONLY);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(out, tmp, (size_t)n);
	close(fd);
	unlink(errpath);
	if (out->data == NULL)
		buf_adds(out, "");
}

static int
parse(const char *text, struct checkpoint *cp, const char **err, unsigned *line)
{
	*err = NULL;
	*line = 999;
	return checkpoint_parse(text, strlen(text), cp, err, line);
}

static void
test_format_parse(void)
{
	struct checkpoint cp, back;
	struct buf b = BUF_INIT;
	const char *err;
	unsigned line;

	memset(&cp, 0, sizeof(cp));
	cp.pos.commit_lsn = 0x16B3748;
	cp.pos.seq = 3;
	cp.snapshot = false;
	strcpy(cp.name, "shop");
	strcpy(cp.writer, "cdc-sink-es");
	cp.updated_ms = 1795239000123LL;	/* 2026-11-21T05:30:00.123Z */
	checkpoint_format(&cp, &b);
	is_str(b.data,
	       "# cdc checkpoint: the last position cdc-sink-es has made durable\n"
	       "version=1\n"
	       "position=0/16B3748:3\n"
	       "commit_lsn=0/16B3748\n"
	       "seq=3\n"
	       "snapshot=false\n"
	       "name=shop\n"
	       "writer=cdc-sink-es\n"
	       "updated=2026-11-21T05:30:00.123Z\n",
	       "format matches the contract example");
	memset(&back, 0x55, sizeof(back));
	is_int(checkpoint_parse(b.data, b.len, &back, &err, &line), 0, "formatted text parses");
	ok(back.pos.commit_lsn == cp.pos.commit_lsn && back.pos.seq == cp.pos.seq, "round trip: position");
	ok(!back.snapshot, "round trip: snapshot false");
	is_str(back.name, "shop", "round trip: name");
	is_str(back.writer, "cdc-sink-es", "round trip: writer");
	ok(back.updated_ms == cp.updated_ms, "round trip: updated to the millisecond");

	/* Extremes, snapshot true, empty name. */
	buf_reset(&b);
	memset(&cp, 0, sizeof(cp));
	cp.pos.commit_lsn = UINT64_MAX;
	cp.pos.seq = UINT64_MAX;
	cp.snapshot = true;
	checkpoint_format(&cp, &b);
	ok(strstr(b.data, "# cdc checkpoint: the last position this writer has made durable\n") == b.data,
	   "format without a writer name");
	ok(strstr(b.data, "\nname=\n") != NULL, "empty name written as name=");
	is_int(checkpoint_parse(b.data, b.len, &back, &err, &line), 0, "extreme checkpoint parses");
	ok(back.pos.commit_lsn == UINT64_MAX && back.pos.seq == UINT64_MAX && back.snapshot &&
	   back.name[0] == '\0' && back.writer[0] == '\0', "round trip: max position, snapshot true");
	buf_release(&b);

	/* What readers tolerate. */
	is_int(parse("# comment\r\n\r\nversion=1\r\ncommit_lsn=0/10\r\nseq=2\r\nfuture_key=whatever\r\n"
		     "# trailing comment", &back, &err, &line), 0,
	       "comments, blank lines, CRLF, unknown keys and a last line without newline");
	ok(back.pos.commit_lsn == 16 && back.pos.seq == 2 && !back.snapshot && back.name[0] == '\0',
	   "minimal checkpoint values (snapshot defaults to false)");
	is_int(parse("seq=2\ncommit_lsn=16\nversion=1\n", &back, &err, &line), 0,
	       "any key order, decimal commit_lsn");
	ok(back.pos.commit_lsn == 16, "decimal commit_lsn value");
	is_int(parse("version=1\ncommit_lsn=0/1\nseq=1\nupdated=yesterday\n", &back, &err, &line), 0,
	       "an unparsable updated= is ignored");
	is_int((int)back.updated_ms, 0, "updated_ms 0 when unknown");
	{
		char text[300];

		snprintf(text, sizeof(text), "version=1\ncommit_lsn=0/1\nseq=1\nwriter=%0100d\n", 0);
		is_int(parse(text, &back, &err, &line), 0, "long writer value accepted");
		is_int(strlen(back.writer), sizeof(back.writer) - 1, "writer truncated to its field");
	}
}

struct bad_case {
	const char *text;
	unsigned line;
	const char *err;
	const char *name;
};

static void
test_parse_errors(void)
{
	static const struct bad_case bad[] = {
		{ "hello world\n", 1, "expected key=value: not a cdc checkpoint", "garbage" },
		{ "{\"version\":1,\"commit_lsn\":\"0/1\",\"seq\":1}\n", 1,
		  "expected key=value: not a cdc checkpoint", "a JSON file" },
		{ "{\"op\":\"c\",\"x\":\"a=b\"}\n", 0, "no version=1 line: not a cdc checkpoint",
		  "a JSON event with '=' in it" },
		{ "", 0, "no version=1 line: not a cdc checkpoint", "empty file" },
		{ "# only a comment\n\n", 0, "no version=1 line: not a cdc checkpoint", "only comments" },
		{ "commit_lsn=0/1\nseq=1\n", 0, "no version=1 line: not a cdc checkpoint", "no version" },
		{ "version=1\nseq=1\n", 0, "commit_lsn or seq missing", "no commit_lsn" },
		{ "version=1\ncommit_lsn=0/1\n", 0, "commit_lsn or seq missing", "no seq" },
		{ "# c\nversion=2\ncommit_lsn=0/1\nseq=1\n", 2,
		  "unsupported checkpoint version (this program reads version=1)", "version 2" },
		{ "version=1.0\n", 1, "unsupported checkpoint version (this program reads version=1)",
		  "version 1.0" },
		{ "version= 1\n", 1, "unsupported checkpoint version (this program reads version=1)",
		  "version with a space" },
		{ "version=1\ncommit_lsn=xyz\nseq=1\n", 2, "commit_lsn is not an LSN (X/X)", "bad commit_lsn" },
		{ "version=1\ncommit_lsn=\nseq=1\n", 2, "commit_lsn is not an LSN (X/X)", "empty commit_lsn" },
		{ "version=1\ncommit_lsn=0/1\n\n\nseq=-1\n", 5, "seq is not an unsigned integer", "negative seq" },
		{ "version=1\ncommit_lsn=0/1\nseq=1x\n", 3, "seq is not an unsigned integer", "seq with junk" },
		{ "version=1\ncommit_lsn=0/1\nseq=18446744073709551616\n", 3, "seq is not an unsigned integer",
		  "seq overflow" },
		{ "version=1\ncommit_lsn=0/1\nseq=1\nsnapshot=yes\n", 4, "snapshot is neither true nor false",
		  "bad snapshot" },
		{ "version=1\ncommit_lsn=0/1\nseq=1\nversion\n", 4, "expected key=value: not a cdc checkpoint",
		  "line without '='" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct checkpoint cp;
		const char *err;
		unsigned line;
		char name[160];
		int r;

		memset(&cp, 0x33, sizeof(cp));
		r = parse(bad[i].text, &cp, &err, &line);
		snprintf(name, sizeof(name), "parse error: %s (line %u)", bad[i].name, bad[i].line);
		ok(r == -1 && line == bad[i].line && err && strcmp(err, bad[i].err) == 0, name);
		if (r != -1 || line != bad[i].line || !err || strcmp(err, bad[i].err) != 0)
			diag("r=%d line=%u err='%s'", r, line, err ? err : "(null)");
		ok(cp.pos.seq == 0x3333333333333333ULL, "  output untouched on error");
	}
	{
		static const char nul[] = "version=1\ncommit_lsn=0/1\nseq=1\0\n";
		struct checkpoint cp;
		const char *err = NULL;
		unsigned line = 9;

		ok(checkpoint_parse(nul, sizeof(nul) - 1, &cp, &err, &line) == -1 && line == 0 &&
		   strcmp(err, "contains a NUL byte: not a cdc checkpoint") == 0,
		   "parse error: NUL byte");
	}
	{
		struct buf t = BUF_INIT;
		struct checkpoint cp;
		const char *err = NULL;
		unsigned line;

		buf_adds(&t, "version=1\ncommit_lsn=0/1\nseq=1\nname=");
		for (int i = 0; i < 200; i++)
			buf_addc(&t, 'n');
		buf_addc(&t, '\n');
		ok(checkpoint_parse(t.data, t.len, &cp, &err, &line) == -1 && line == 4 &&
		   strcmp(err, "value too long") == 0, "parse error: over-long value names its line");
		buf_release(&t);
	}
}

static int
count_entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

static void
write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void
test_files(void)
{
	char path[300], other[300];
	struct checkpoint cp, back;
	struct stat st;
	struct buf e = BUF_INIT;
	int64_t t0, t1;
	ino_t ino1;
	mode_t old_umask;

	snprintf(path, sizeof(path), "%s/es.ckpt", dir);
	memset(&back, 0x44, sizeof(back));
	is_int(checkpoint_read(path, &back), 1, "read: missing file returns 1");
	ok(back.pos.seq == 0x4444444444444444ULL, "read: missing file leaves *cp untouched");

	memset(&cp, 0, sizeof(cp));
	cp.pos.commit_lsn = 0x16B3748;
	cp.pos.seq = 3;
	cp.snapshot = true;
	strcpy(cp.name, "shop");
	strcpy(cp.writer, "cdc-test");
	old_umask = umask(0);		/* the mode must not depend on the umask */
	t0 = now_ms();
	is_int(checkpoint_write(path, &cp), 0, "write: ok");
	t1 = now_ms();
	umask(old_umask);
	ok(cp.updated_ms >= t0 && cp.updated_ms <= t1, "write: sets updated_ms to now");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "write: file mode 0600 (umask 0)");
	ino1 = st.st_ino;
	is_int(count_entries(dir), 1, "write: no temporary file left behind");
	is_int(checkpoint_read(path, &back), 0, "read back: ok");
	ok(back.pos.commit_lsn == 0x16B3748 && back.pos.seq == 3 && back.snapshot &&
	   strcmp(back.name, "shop") == 0 && strcmp(back.writer, "cdc-test") == 0 &&
	   back.updated_ms == cp.updated_ms, "read back: every field");

	/* Replacing: a new file renamed over the old one, mode 0600 again. */
	chmod(path, 0644);
	cp.pos.seq = 4;
	is_int(checkpoint_write(path, &cp), 0, "rewrite: ok");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "rewrite: mode 0600 again");
	ok(st.st_ino != ino1, "rewrite: replaced by rename, not rewritten in place");
	ok(checkpoint_read(path, &back) == 0 && back.pos.seq == 4, "rewrite: new content read");
	is_int(count_entries(dir), 1, "rewrite: still one file");

	/* atomic_write_file failures leave nothing behind. */
	snprintf(other, sizeof(other), "%s/no-such-dir/x.ckpt", dir);
	errno = 0;
	is_int(atomic_write_file(other, "x", 1, 0600), -1, "atomic write into a missing directory fails");
	is_int(errno, ENOENT, "errno ENOENT");
	snprintf(other, sizeof(other), "%s/subdir", dir);
	mkdir(other, 0700);
	ok(atomic_write_file(other, "x", 1, 0600) == -1, "atomic write over a directory fails");
	is_int(count_entries(other), 0, "failed write leaves no temporary file in the directory");
	is_int(count_entries(dir), 2, "failed write leaves no temporary file next to it");
	rmdir(other);
	snprintf(other, sizeof(other), "%s/plain", dir);
	is_int(atomic_write_file(other, "hello", 5, 0640), 0, "atomic write with another mode");
	ok(stat(other, &st) == 0 && (st.st_mode & 07777) == 0640 && st.st_size == 5,
	   "mode and size as asked");
	unlink(other);

	/* Error messages name the file and the line. */
	snprintf(other, sizeof(other), "%s/bad.ckpt", dir);
	write_text(other, "version=1\ncommit_lsn=0/1\nseq=oops\n", 34);
	capture_begin();
	is_int(checkpoint_read(other, &back), -1, "read: malformed file returns -1");
	capture_end(&e);
	{
		char want[400];

		snprintf(want, sizeof(want), "test-ckpt: checkpoint %s: line 3: seq is not an unsigned integer\n",
			 other);
		is_str(e.data, want, "read: message names file and line");
	}
	write_text(other, "{\"op\":\"c\"}\n", 11);
	capture_begin();
	is_int(checkpoint_read(other, &back), -1, "read: a JSON file is rejected");
	capture_end(&e);
	ok(strstr(e.data, "line 1: expected key=value: not a cdc checkpoint") != NULL,
	   "read: JSON file message");
	write_text(other, "version=1\nseq=1\n", 16);
	capture_begin();
	is_int(checkpoint_read(other, &back), -1, "read: missing key rejected");
	capture_end(&e);
	{
		char want[400];

		snprintf(want, sizeof(want), "test-ckpt: checkpoint %s: commit_lsn or seq missing\n", other);
		is_str(e.data, want, "read: whole-file message has no line number");
	}
	{
		struct buf big = BUF_INIT;

		buf_adds(&big, "version=1\ncommit_lsn=0/1\nseq=1\n");
		while (big.len < 70000)
			buf_adds(&big, "# padding padding padding padding padding padding padding\n");
		write_text(other, big.data, big.len);
		capture_begin();
		is_int(checkpoint_read(other, &back), -1, "read: a file over 64 KiB is rejected");
		capture_end(&e);
		ok(strstr(e.data, "larger than 65536 bytes") != NULL, "read: size message");
		buf_release(&big);
	}
	unlink(other);
	capture_begin();
	is_int(checkpoint_read(dir, &back), -1, "read: a directory is an error, not 'missing'");
	capture_end(&e);
	ok(strstr(e.data, "cannot read checkpoint") != NULL, "read: directory message");
	snprintf(other, sizeof(other), "%s/no-such-dir/x.ckpt", dir);
	capture_begin();
	is_int(checkpoint_write(other, &cp), -1, "write into a missing directory fails");
	capture_end(&e);
	ok(strstr(e.data, "cannot write checkpoint") != NULL && strstr(e.data, strerror(ENOENT)) != NULL,
	   "write failure message carries strerror");
	unlink(path);
	buf_release(&e);
}

int
main(void)
{
	log_init("test-ckpt");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_format_parse();
	test_parse_errors();
	test_files();
	rmdir(dir);
	return tap_done();
}
