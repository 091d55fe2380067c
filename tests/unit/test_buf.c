/* Unit tests for common/buf.c: the growable byte buffer. */
#include "buf.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void
test_empty(void)
{
	struct buf b = BUF_INIT;
	char *p;
	size_t n = 99;

	ok(b.data == buf_empty && b.len == 0 && b.cap == 0, "BUF_INIT owns nothing");
	is_str(b.data, "", "BUF_INIT reads as an empty string");
	is_int(buf_avail(&b), 0, "avail of an empty buffer is 0");
	p = buf_detach(&b, &n);
	ok(p != NULL, "detach of an empty buffer returns memory");
	is_int(n, 0, "detach reports length 0");
	is_str(p, "", "detached empty buffer is an empty string");
	ok(b.data == buf_empty && b.len == 0 && b.cap == 0, "buffer is BUF_INIT after detach");
	free(p);
	buf_release(&b);
	ok(b.data == buf_empty && b.cap == 0, "release of an empty buffer is harmless");
}

static void
test_add(void)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "abc");
	is_int(b.len, 3, "adds sets len");
	is_str(b.data, "abc", "adds content");
	ok(b.data[b.len] == '\0', "NUL-terminated");
	buf_addc(&b, 'd');
	is_str(b.data, "abcd", "addc appends");
	buf_add(&b, "e\0f", 3);
	is_int(b.len, 7, "add counts an embedded NUL");
	ok(memcmp(b.data, "abcde\0f", 8) == 0, "embedded NUL kept, terminator after");
	buf_add(&b, NULL, 0);
	is_int(b.len, 7, "adding nothing changes nothing");
	buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	is_str(b.data, "", "reset leaves an empty string");
	ok(b.cap > 0, "reset keeps the memory");
	buf_release(&b);
}

static void
test_grow(void)
{
	struct buf b = BUF_INIT;
	size_t cap;
	int i;

	for (i = 0; i < 100000; i++)
		buf_addc(&b, (char)('a' + i % 26));
	is_int(b.len, 100000, "100000 single-byte appends");
	ok(b.cap > b.len, "capacity leaves room for the NUL");
	ok(b.data[99999] == (char)('a' + 99999 % 26) && b.data[100000] == '\0',
	   "last byte and terminator right");
	cap = b.cap;
	buf_reset(&b);
	buf_grow(&b, cap - 1);
	is_int(b.cap, cap, "grow within capacity does not reallocate");
	is_int(buf_avail(&b), cap - 1, "avail is cap - len - 1");
	buf_grow(&b, cap);
	ok(b.cap >= cap + 1, "grow beyond capacity enlarges");
	buf_release(&b);
}

static void
test_addf(void)
{
	struct buf b = BUF_INIT;
	char big[1000];

	buf_addf(&b, "%d-%s", 42, "x");
	is_str(b.data, "42-x", "addf formats");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_addf(&b, "[%s]", big);
	is_int(b.len, 4 + 2 + 999, "addf longer than the first guess");
	ok(b.data[4] == '[' && b.data[5 + 999] == ']' && b.data[b.len] == '\0',
	   "long addf content and terminator");
	buf_release(&b);
}

static void
test_setlen_detach(void)
{
	struct buf b = BUF_INIT;
	char *p;
	size_t n;

	buf_grow(&b, 10);
	memcpy(b.data, "0123456789", 10);
	buf_setlen(&b, 10);
	is_str(b.data, "0123456789", "setlen after writing into the room");
	buf_setlen(&b, 4);
	is_str(b.data, "0123", "setlen shortens and terminates");
	p = buf_detach(&b, &n);
	is_int(n, 4, "detach reports the length");
	is_str(p, "0123", "detach hands over the data");
	ok(b.data == buf_empty && b.len == 0, "buffer empty after detach");
	free(p);
}

static void
test_xstr(void)
{
	char *s = xstrdup("hello");
	char *t = xstrndup("hello", 3);

	is_str(s, "hello", "xstrdup");
	is_str(t, "hel", "xstrndup cuts and terminates");
	free(s);
	free(t);
	s = xmalloc(0);
	ok(s != NULL, "xmalloc(0) returns memory");
	free(s);
	s = xcalloc(4, 4);
	ok(s[0] == 0 && s[15] == 0, "xcalloc zeroes");
	s = xrealloc(s, 64);
	ok(s[15] == 0, "xrealloc keeps content");
	free(s);
}

int
main(void)
{
	test_empty();
	test_add();
	test_grow();
	test_addf();
	test_setlen_detach();
	test_xstr();
	return tap_done();
}
