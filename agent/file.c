/* SPDX-License-Identifier: MIT */
/* file: one bounded reader for small files (see file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "file.h"

char *file_read_fd(int fd, size_t max, size_t *lenp)
{
	size_t len = 0;
	ssize_t n;
	char *b = malloc(max + 2);
	int saved;

	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	/* One byte more than max tells a file of exactly max bytes from a larger one. */
	while (len <= max) {
		n = read(fd, b + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		errno = EFBIG;
		goto fail;
	}
	b[len] = '\0';
	*lenp = len;
	return b;
fail:
	saved = errno;
	free(b);
	errno = saved;
	return NULL;
}

char *file_read(const char *path, size_t max, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;
	char *b;

	if (fd < 0)
		return NULL;
	b = file_read_fd(fd, max, lenp);
	saved = errno;
	close(fd);
	errno = saved;
	return b;
}
