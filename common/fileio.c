#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r, saved;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* The directory part of path, in a new string (dirname() may modify its argument). */
static char *
parent_of(const char *path)
{
	char *copy = xstrdup(path), *dir = xstrdup(dirname(copy));

	free(copy);
	return dir;
}

int
fsync_parent(const char *path)
{
	char *dir = parent_of(path);
	int r = fsync_dir(dir), saved = errno;

	free(dir);
	errno = saved;
	return r;
}

int
read_file(const char *path, size_t max, bool private, struct buf *b)
{
	struct stat st;
	size_t start = b->len;
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;

	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (private && (st.st_mode & 077)) {
		errno = EACCES;
		goto fail;
	}
	for (;;) {
		ssize_t n;

		buf_grow(b, 4096);
		n = read(fd, b->data + b->len, buf_avail(b));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n - start > max) {
			errno = EFBIG;
			goto fail;
		}
		buf_setlen(b, b->len + (size_t)n);
	}
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	buf_setlen(b, start);
	errno = saved;
	return -1;
}

int
atomic_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	struct buf tmp = BUF_INIT;
	int fd, saved;

	buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto fail;
	if (write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail_close;
	if (close(fd) < 0)
		goto fail_unlink;
	if (rename(tmp.data, path) < 0)
		goto fail_unlink;
	buf_release(&tmp);
	return fsync_parent(path);
fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp.data);
	errno = saved;
fail:
	buf_release(&tmp);
	return -1;
}

int
check_writable(const char *path)
{
	struct stat st;
	char *dir;
	int r;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	dir = parent_of(path);
	r = stat(dir, &st);
	if (r == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		r = -1;
	}
	if (r == 0)
		r = access(dir, W_OK | X_OK);
	if (r < 0) {
		int saved = errno;

		free(dir);
		errno = saved;
		return -1;
	}
	free(dir);
	return 0;
}

bool
fd_reader_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}
