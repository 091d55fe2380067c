/*
 * fuzz_segment.c: cdc-record's segment format as cdc-replay reads it
 * (common/segment.c): the streaming lz4 frame reader, the frame scanner,
 * index lines and segment names.
 *
 * The first input byte picks what the rest is:
 *   0-63    a segment file as it lies on disk (any bytes): lz4r_read() with
 *           a small output step and lz4r_resync() after damage, the way a
 *           reader skips a bad frame, then seg_scan_frames();
 *   64-127  the text of lines to record: compressed with LZ4F in the format
 *           cdc-record writes (content checksum and size), optionally with
 *           one byte changed (chosen by the next three input bytes), then
 *           read back;
 *   128-191 an index file: seg_index_load() for a file size from the input,
 *           and each line through seg_entry_parse()/seg_entry_format();
 *   192-255 a segment name: seg_name_parse()/seg_name_format().
 *
 * Oracles besides the sanitizers: the reader ends (progress after every
 * damaged frame), offsets stay within the file, an undamaged segment
 * decodes to exactly its text, frames seg_scan_frames() reports tile the
 * file from 0, loaded index entries chain within the file size, and index
 * lines and names survive format(parse(x)) unchanged.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "segment.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static struct buf out;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_segment");
	cdc_verbosity = -1;
	return 0;
}

static int
memfd_with(const void *data, size_t size)
{
	int fd = memfd_create("seg", MFD_CLOEXEC);

	CHECK(fd >= 0);
	if (size)
		CHECK(write(fd, data, size) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

struct tiles {
	uint64_t next;
	uint64_t size;
	struct buf all;
};

static void
on_frame(void *arg, uint64_t off, uint64_t clen, const char *data, size_t ulen)
{
	struct tiles *t = arg;

	CHECK(off == t->next);
	CHECK(clen > 0 && off + clen <= t->size);
	t->next = off + clen;
	buf_add(&t->all, data, ulen);
}

/*
 * Read a whole file the way cdc-replay does: frames, skipping damaged ones.
 * Returns the decoded bytes of the good frames in out; *damaged counts the
 * damaged frames.
 */
static void
read_all(int fd, uint64_t size, size_t step, int *damaged, bool *partial)
{
	struct lz4r r;
	uint64_t last_bad = UINT64_MAX;
	int rounds = 0;

	*damaged = 0;
	*partial = false;
	buf_reset(&out);
	lz4r_init(&r, fd, 0, NULL, 0);
	for (;;) {
		enum lz4r_status st = lz4r_read(&r, &out, step);

		CHECK(++rounds < 1000000);
		CHECK(lz4r_offset(&r) <= size);
		if (st == LZ4R_FRAME || st == LZ4R_MORE)
			continue;
		if (st == LZ4R_EOF)
			break;
		if (st == LZ4R_PARTIAL) {
			*partial = true;
			break;
		}
		CHECK(st == LZ4R_CORRUPT);
		CHECK(r.err != NULL && r.err_off <= size);
		CHECK(last_bad == UINT64_MAX || r.err_off > last_bad);
		last_bad = r.err_off;
		(*damaged)++;
		st = lz4r_resync(&r);
		if (st == LZ4R_EOF)
			break;
		CHECK(st == LZ4R_FRAME);
		/* "skip to the next frame": never the damaged one again (a loop). */
		CHECK(lz4r_offset(&r) > r.err_off);
	}
	lz4r_free(&r);
}

static void
raw_segment(const uint8_t *data, size_t size, size_t step)
{
	int fd = memfd_with(data, size), damaged;
	bool partial;
	struct tiles t = { 0, size, BUF_INIT };
	const char *why = NULL;
	int64_t good;

	read_all(fd, size, step, &damaged, &partial);
	good = seg_scan_frames(fd, on_frame, &t, &why);
	CHECK(good >= 0 && (uint64_t)good <= size);
	CHECK((uint64_t)good == t.next);
	if (why == NULL)
		CHECK((uint64_t)good == size);
	buf_release(&t.all);
	(void)lz4_detect(data, size);
	close(fd);
}

static void
recorded_text(const uint8_t *data, size_t size)
{
	LZ4F_preferences_t prefs;
	size_t cap, clen;
	char *seg;
	uint32_t where = 0;
	uint8_t flip = 0;
	int fd, damaged;
	bool partial;

	if (size >= 4) {
		where = (uint32_t)data[0] << 8 | data[1];
		flip = data[2];
		data += 3;
		size -= 3;
	}
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.contentSize = size;
	cap = LZ4F_compressFrameBound(size, &prefs);
	seg = malloc(cap * 2 + 1);
	CHECK(seg != NULL);
	clen = LZ4F_compressFrame(seg, cap, data, size, &prefs);
	CHECK(!LZ4F_isError(clen));
	/* Two frames, as a segment holds: the text twice. */
	memcpy(seg + clen, seg, clen);
	clen *= 2;
	if (flip)
		seg[where % clen] ^= (char)flip;
	fd = memfd_with(seg, clen);
	read_all(fd, clen, (size_t)where % 70000 + 1, &damaged, &partial);
	if (!flip) {
		CHECK(damaged == 0 && !partial);
		CHECK(out.len == 2 * size);
		CHECK(memcmp(out.data, data, size) == 0 && memcmp(out.data + size, data, size) == 0);
	} else {
		struct tiles t = { 0, clen, BUF_INIT };
		const char *why;
		int64_t good = seg_scan_frames(fd, on_frame, &t, &why);

		CHECK(good >= 0 && (uint64_t)good <= clen);
		/* Whatever passed the checksums is the text. */
		if (t.all.len == 2 * size)
			CHECK(memcmp(t.all.data, data, size) == 0);
		buf_release(&t.all);
	}
	close(fd);
	free(seg);
}

static void
index_file(const uint8_t *data, size_t size)
{
	uint64_t file_size = 0;
	struct seg_entry *v = NULL;
	char path[64];
	long n;
	int fd;
	size_t off = 0;
	struct buf b = BUF_INIT;

	for (int i = 0; i < 4 && off < size; i++)
		file_size = file_size << 8 | data[off++];
	fd = memfd_with(data + off, size - off);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = seg_index_load(path, file_size, &v);
	CHECK(n >= 0);
	{
		uint64_t next = 0;

		for (long i = 0; i < n; i++) {
			CHECK(v[i].off == next);
			CHECK(v[i].clen > 0 && v[i].off + v[i].clen <= file_size);
			next = v[i].off + v[i].clen;
		}
	}
	free(v);
	close(fd);

	/* Each line on its own: parse, format, parse gives the same entry. */
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
		struct seg_entry e, e2;
		char *line = malloc(len ? len : 1);

		CHECK(line != NULL);
		memcpy(line, data + off, len);
		memset(&e, 0, sizeof(e));
		if (seg_entry_parse(line, len, &e) == 0) {
			buf_reset(&b);
			seg_entry_format(&e, &b);
			CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
			memset(&e2, 0, sizeof(e2));
			CHECK(seg_entry_parse(b.data, b.len - 1, &e2) == 0);
			CHECK(e.off == e2.off && e.clen == e2.clen && e.ulen == e2.ulen && e.lines == e2.lines);
			CHECK(e.has_pos == e2.has_pos && e.has_ts == e2.has_ts);
			if (e.has_pos)
				CHECK(pos_cmp(&e.min_pos, &e2.min_pos) == 0 && pos_cmp(&e.max_pos, &e2.max_pos) == 0);
			if (e.has_ts)
				CHECK(e.min_ts == e2.min_ts && e.max_ts == e2.max_ts);
		}
		free(line);
		off += len + 1;
	}
	buf_release(&b);
}

static void
name(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), fmt[SEG_NAME_BUFSZ];
	uint64_t seq, lsn;

	CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	if (seg_name_parse(s, &seq, &lsn) == 0) {
		uint64_t seq2, lsn2;

		CHECK(strcmp(seg_name_format(seq, lsn, fmt), s) == 0);
		CHECK(seg_name_parse(fmt, &seq2, &lsn2) == 0 && seq2 == seq && lsn2 == lsn);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (mode < 64)
		raw_segment(data, size, mode & 1 ? 7 : (size_t)1 << 20);
	else if (mode < 128)
		recorded_text(data, size);
	else if (mode < 192)
		index_file(data, size);
	else
		name(data, size);
	return 0;
}
