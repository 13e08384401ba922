/* SPDX-License-Identifier: MIT */
/*
 * file: one bounded reader for the small files the agent reads whole: a
 * token_file, /proc/PID/stat and cmdline, a server's runtime JSON.
 *
 * The size a file reports is never trusted (/proc files say 0): it reads
 * until EOF, and never more than max bytes. The buffer is malloc'd (the
 * caller frees it), NUL-terminated, and may hold NUL bytes of its own.
 */
#ifndef AGENT_FILE_H
#define AGENT_FILE_H

#include <stddef.h>

/*
 * Read fd to EOF (EINTR retried). Returns the buffer with its length in
 * *lenp, or NULL with errno set: EFBIG when there is more than max bytes,
 * else read(2)'s or ENOMEM. fd stays open.
 */
char *file_read_fd(int fd, size_t max, size_t *lenp);

/* The same for the file at path (opened with O_CLOEXEC, then closed); open(2)'s errno too. */
char *file_read(const char *path, size_t max, size_t *lenp);

#endif
