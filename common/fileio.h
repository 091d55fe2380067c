/*
 * fileio.h: whole writes, whole reads and durable replacement of files.
 *
 * write_all() retries short writes and EINTR.  read_file() reads a small
 * file whole (checkpoints, state files, secrets, jq programs) with a size
 * limit.  atomic_write_file() replaces a file so that a crash leaves the
 * old or the new contents, never a mix: temp file in the same directory,
 * fsync, rename, fsync the directory.  All return -1 with errno set on
 * failure and print nothing: callers name the file in their message.
 */
#ifndef CDC_FILEIO_H
#define CDC_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* Write all len bytes to fd.  Returns 0, or -1 with errno set. */
int write_all(int fd, const void *data, size_t len);

/* fsync the directory dir / the directory that holds path.  0 or -1 (errno). */
int fsync_dir(const char *dir);
int fsync_parent(const char *path);

/*
 * Append the contents of the file at path to b, at most max bytes.
 * Returns 0; 1 when the file does not exist (b untouched); -1 with errno
 * set otherwise (EFBIG when it is larger than max, EISDIR for a
 * directory).  private: also refuse (EACCES) a file that other users can
 * read or write, as secrets must not be.
 */
int read_file(const char *path, size_t max, bool private, struct buf *b);

/*
 * Replace path with data atomically, mode as given (0600 for checkpoints).
 * Returns 0, or -1 with errno set.  A failure before the rename leaves path
 * unchanged; a failure to fsync the directory after it leaves the new
 * contents in place but perhaps not yet durable, so callers must not treat
 * the data as committed (they do not advance past it).
 */
int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode);

/*
 * True when fd is a pipe (or socket) whose reading end has gone: the next
 * stage of a pipeline has ended.  Never blocks.
 */
bool fd_reader_gone(int fd);

/*
 * Can this run write path, a file it will create or replace later
 * (checkpoint, metrics, state)?  Checks that its directory exists and is
 * writable and that path, if it exists, is a regular file.  Creates
 * nothing.  Returns 0, or -1 with errno set.
 */
int check_writable(const char *path);

#endif
