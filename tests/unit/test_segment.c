/* Unit tests for common/segment.c: names, index lines, lz4 frame reading. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4frame.h>

#include "buf.h"
#include "segment.h"
#include "tap.h"

static char tmpdir[] = "/tmp/test_segment.XXXXXX";

/* Compress text as one lz4 frame (content checksum on) and append it to b. */
static void
add_frame(struct buf *b, const char *text)
{
	LZ4F_preferences_t prefs;
	size_t n = strlen(text), bound, r;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	bound = LZ4F_compressFrameBound(n, &prefs);
	buf_grow(b, bound);
	r = LZ4F_compressFrame(b->data + b->len, bound, text, n, &prefs);
	buf_setlen(b, b->len + r);
}

/* Write data to a new file in tmpdir; returns an fd open for reading at 0. */
static int
file_with(const char *name, const void *data, size_t len)
{
	struct buf path = BUF_INIT;
	int fd;

	buf_addf(&path, "%s/%s", tmpdir, name);
	fd = open(path.data, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (write(fd, data, len) != (ssize_t)len)
		abort();
	lseek(fd, 0, SEEK_SET);
	buf_release(&path);
	return fd;
}

static void
test_names(void)
{
	char name[SEG_NAME_BUFSZ];
	uint64_t seq, lsn;

	is_str(seg_name_format(7, 0x16B3748, name), "cdc-0000000007-00000000016B3748.lz4",
	       "segment name format");
	ok(seg_name_parse(name, &seq, &lsn) == 0 && seq == 7 && lsn == 0x16B3748,
	   "segment name parses back");
	ok(seg_name_parse("cdc-0000000007-00000000016b3748.lz4", &seq, &lsn) < 0,
	   "lower-case hex is not ours");
	ok(seg_name_parse("cdc-0000000007-00000000016B3748.lz4.idx", &seq, &lsn) < 0,
	   "index file is not a segment");
	ok(seg_name_parse("cdc-000000007-00000000016B3748.lz4", &seq, &lsn) < 0,
	   "short sequence rejected");
}

static void
test_list(void)
{
	struct seg_file *v;
	char name[SEG_NAME_BUFSZ];
	int n;

	close(file_with(seg_name_format(10, 5, name), "", 0));
	close(file_with(seg_name_format(9, 900, name), "", 0));
	close(file_with("cdc-0000000009-0000000000000384.lz4.idx", "", 0));
	close(file_with("notes.txt", "", 0));
	n = seg_list(tmpdir, &v);
	is_int(n, 2, "seg_list finds the two segments only");
	ok(n == 2 && v[0].seq == 9 && v[1].seq == 10, "segments sorted by sequence, not by LSN");
	free(v);
}

static void
test_index(void)
{
	struct seg_entry e, f, *v;
	struct event_info ev;
	struct buf b = BUF_INIT, text = BUF_INIT;
	long n;
	int fd;

	memset(&e, 0, sizeof(e));
	seg_entry_clear(&e);
	e.off = 0;
	e.clen = 100;
	memset(&ev, 0, sizeof(ev));
	ev.has_pos = true;
	ev.pos.commit_lsn = 0x16B3748;
	ev.pos.seq = 3;
	ev.has_ts = true;
	ev.ts_ms = 1763700000000;
	seg_entry_add(&e, 10, &ev);
	ev.pos.seq = 1;
	ev.ts_ms = 1763700000500;
	seg_entry_add(&e, 20, &ev);
	seg_entry_add(&e, 5, NULL);
	seg_entry_format(&e, &b);
	is_str(b.data, "0 100 35 3 0/16B3748:1 0/16B3748:3 1763700000000 1763700000500\n",
	       "index line format (min/max of positions and times)");
	ok(seg_entry_parse(b.data, b.len - 1, &f) == 0 && f.ulen == 35 && f.lines == 3 &&
	   f.has_pos && f.min_pos.seq == 1 && f.max_pos.seq == 3 && f.max_ts == 1763700000500,
	   "index line parses back");
	ok(seg_entry_parse("0 100 35 3 - - - -", 18, &f) == 0 && !f.has_pos && !f.has_ts,
	   "entry without positions");
	ok(seg_entry_parse("0 100 35 3 - 0/1:1 - -", 22, &f) < 0, "half a position range rejected");
	ok(seg_entry_parse("0 0 35 3 - - - -", 16, &f) < 0, "empty frame rejected");
	ok(seg_entry_parse("0 100 35 3 - - - - x", 20, &f) < 0, "trailing field rejected");

	/* A file of entries: chain, torn tail, and entries past the segment's end. */
	buf_adds(&text, SEG_INDEX_HEADER);
	buf_adds(&text, "0 100 35 3 - - - -\n100 50 35 3 0/1:1 0/1:2 5 6\n");
	buf_adds(&text, "150 50 35 3 - - - -\n");
	buf_adds(&text, "200 50 35 3 - - -");		/* torn */
	fd = file_with("a.idx", text.data, text.len);
	close(fd);
	buf_reset(&b);
	buf_addf(&b, "%s/a.idx", tmpdir);
	n = seg_index_load(b.data, 1000, &v);
	is_int(n, 3, "index load stops at a torn line");
	free(v);
	n = seg_index_load(b.data, 180, &v);
	is_int(n, 2, "index load stops at an entry past the end of the segment");
	free(v);
	buf_reset(&text);
	buf_adds(&text, "0 100 35 3 - - - -\n120 50 35 3 - - - -\n");
	close(file_with("b.idx", text.data, text.len));
	buf_reset(&b);
	buf_addf(&b, "%s/b.idx", tmpdir);
	n = seg_index_load(b.data, 1000, &v);
	is_int(n, 1, "index load stops where entries do not chain");
	free(v);
	buf_reset(&b);
	buf_addf(&b, "%s/missing.idx", tmpdir);
	is_int(seg_index_load(b.data, 1000, &v), 0, "missing index: no entries");
	buf_release(&b);
	buf_release(&text);
}

static void
test_may_match(void)
{
	struct seg_entry e;
	struct seg_range r;

	memset(&e, 0, sizeof(e));
	memset(&r, 0, sizeof(r));
	e.has_pos = true;
	e.min_pos = (struct cdc_pos){ 100, 1 };
	e.max_pos = (struct cdc_pos){ 200, 3 };
	e.has_ts = true;
	e.min_ts = 1000;
	e.max_ts = 2000;
	ok(seg_entry_may_match(&e, &r), "no range: everything");
	r.has_from = true;
	r.from = (struct cdc_pos){ 200, 3 };
	ok(seg_entry_may_match(&e, &r), "from at the frame's last position");
	r.from = (struct cdc_pos){ 200, 4 };
	ok(!seg_entry_may_match(&e, &r), "from after the frame");
	r.has_from = false;
	r.has_to = true;
	r.to = (struct cdc_pos){ 100, 0 };
	ok(!seg_entry_may_match(&e, &r), "to before the frame");
	r.has_to = false;
	r.has_since = true;
	r.since = 2001;
	ok(!seg_entry_may_match(&e, &r), "since after the frame's times");
	r.since = 2000;
	ok(seg_entry_may_match(&e, &r), "since at the frame's last time");
	e.has_ts = false;
	ok(!seg_entry_may_match(&e, &r), "a time range skips frames without times");
}

static void
test_lz4(void)
{
	struct buf f = BUF_INIT, out = BUF_INIT;
	struct lz4r r;
	enum lz4r_status st;
	const char *why;
	unsigned char legacy[4] = { 0x02, 0x21, 0x4C, 0x18 };
	size_t first;
	int fd;

	ok(lz4_detect("{\"op", 4) == LZ4_KIND_NONE, "JSON is not lz4");
	ok(lz4_detect(legacy, 4) == LZ4_KIND_LEGACY, "legacy magic detected");
	ok(lz4_detect("\x04\x22\x4D", 3) == LZ4_KIND_NONE, "three bytes are not enough");
	ok(lz4_detect("\x50\x2A\x4D\x18", 4) == LZ4_KIND_FRAME, "skippable frame magic detected");

	add_frame(&f, "line 1\nline 2\n");
	first = f.len;
	add_frame(&f, "line 3\n");
	fd = file_with("two.lz4", f.data, f.len);
	lz4r_init(&r, fd, 0, NULL, 0);
	st = lz4r_read(&r, &out, SIZE_MAX);
	ok(st == LZ4R_FRAME && out.len == 14, "first frame");
	is_u64(lz4r_offset(&r), first, "offset after the first frame");
	st = lz4r_read(&r, &out, SIZE_MAX);
	ok(st == LZ4R_FRAME, "second frame");
	is_mem(out.data, out.len, "line 1\nline 2\nline 3\n", "both frames' data");
	is_int(lz4r_read(&r, &out, SIZE_MAX), LZ4R_EOF, "clean end");
	ok(lz4r_seek(&r, first) == 0 && (buf_reset(&out), lz4r_read(&r, &out, SIZE_MAX)) == LZ4R_FRAME,
	   "seek to the second frame");
	is_mem(out.data, out.len, "line 3\n", "second frame alone");
	lz4r_free(&r);
	close(fd);

	/* Torn tail: the second frame cut short. */
	fd = file_with("torn.lz4", f.data, f.len - 3);
	is_int(seg_scan_frames(fd, NULL, NULL, &why), (int)first, "scan stops before the torn frame");
	is_str(why, "truncated lz4 frame", "torn frame reported");
	lseek(fd, 0, SEEK_SET);
	lz4r_init(&r, fd, 0, NULL, 0);
	buf_reset(&out);
	ok(lz4r_read(&r, &out, SIZE_MAX) == LZ4R_FRAME && lz4r_read(&r, &out, SIZE_MAX) == LZ4R_PARTIAL,
	   "reader: frame, then partial");
	/* The file grows: the reader reads on. */
	if (pwrite(fd, f.data + f.len - 3, 3, (off_t)(f.len - 3)) != 3)
		abort();
	is_int(lz4r_read(&r, &out, SIZE_MAX), LZ4R_FRAME, "partial frame completes when the file grows");
	lz4r_free(&r);
	close(fd);

	/* Damage inside the first frame's data: checksum or block error, then resync. */
	f.data[first - 6] ^= 0x55;
	fd = file_with("bad.lz4", f.data, f.len);
	is_int(seg_scan_frames(fd, NULL, NULL, &why), 0, "scan stops at the damaged frame");
	ok(why != NULL, "damage reported");
	lseek(fd, 0, SEEK_SET);
	lz4r_init(&r, fd, 0, NULL, 0);
	buf_reset(&out);
	st = lz4r_read(&r, &out, SIZE_MAX);
	ok(st == LZ4R_CORRUPT && r.err_off == 0, "damaged frame found at offset 0");
	ok(lz4r_resync(&r) == LZ4R_FRAME, "resync finds the next frame");
	buf_reset(&out);
	st = lz4r_read(&r, &out, SIZE_MAX);
	is_int(st, LZ4R_FRAME, "frame after the damage decodes");
	is_mem(out.data, out.len, "line 3\n", "its data");
	lz4r_free(&r);
	close(fd);

	/* Data after the prefix the caller already read. */
	fd = file_with("pre.lz4", f.data + first, f.len - first);
	{
		char head[4];

		if (read(fd, head, 4) != 4)
			abort();
		lz4r_init(&r, fd, 0, head, 4);
	}
	buf_reset(&out);
	ok(lz4r_read(&r, &out, SIZE_MAX) == LZ4R_FRAME, "reader takes an already-read prefix");
	is_mem(out.data, out.len, "line 3\n", "prefix plus the rest decode");
	lz4r_free(&r);
	close(fd);
	buf_release(&f);
	buf_release(&out);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_names();
	test_list();
	test_index();
	test_may_match();
	test_lz4();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmpdir);
	}
	return tap_done();
}
