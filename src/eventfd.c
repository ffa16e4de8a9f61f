/* SPDX-License-Identifier: MIT */
/*
 * Eventfd helpers.
 *
 * Theory of operation: the kernel identifies an eventfd by its struct
 * eventfd_ctx; user space only has fd numbers, which differ between dups.
 * We check what an fd is through /proc/self/fd (the link of an eventfd is
 * "anon_inode:[eventfd]") and identify it through fdinfo's eventfd-id, so
 * the errors we return and the identities we compare match the kernel's.
 */
#include "eventfd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int il_fd_is(int fd, const char *want)
{
	size_t len = strlen(want);
	char path[32], link[128];
	ssize_t n;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n < 0)
		return errno == ENOENT ? -EBADF : -errno;
	if ((size_t)n != len || memcmp(link, want, len) != 0)
		return -EINVAL;
	return 0;
}

int il_eventfd_check(int fd)
{
	return il_fd_is(fd, "anon_inode:[eventfd]");
}

int il_eventfd_dup(int fd)
{
	int r = il_eventfd_check(fd);

	if (r)
		return r;
	r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return r < 0 ? -errno : r;
}

int il_eventfd_signal(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int il_eventfd_take(int fd, uint64_t *val)
{
	struct iovec iov = { .iov_base = val, .iov_len = sizeof(*val) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);

	/* One syscall that cannot block whatever the fd's O_NONBLOCK says,
	 * even when another reader (KVM's irqfd, the relay) takes the count
	 * first. */
	if (n == (ssize_t)sizeof(*val))
		return 1;
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n >= 0 || (errno != EOPNOTSUPP && errno != EINVAL &&
		       errno != ENOSYS))
		return n < 0 ? -errno : -EIO;
	/* A kernel without RWF_NOWAIT on eventfds: poll, then read. */
	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (!(p.revents & POLLIN))
		return 0;
	if (read(fd, val, sizeof(*val)) != sizeof(*val))
		return -errno;
	return 1;
}

int il_eventfd_token(int fd, uint64_t *token)
{
	char path[40], line[128];
	FILE *f;
	int r = il_eventfd_check(fd);

	if (r)
		return r;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = -ENOTSUP;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long id;

		if (sscanf(line, "eventfd-id: %llu", &id) == 1) {
			/* Ids start at 0; keep 0 free to mean "no key". */
			*token = (uint64_t)id + 1;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}
