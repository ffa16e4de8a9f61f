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

	/* No fcntl(F_GETFD) first: a closed fd has no /proc link (ENOENT),
	 * and every syscall counts when a 2048-vector enable checks each of
	 * its eventfds at several layers. */
	if (fd < 0)
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

/* The text after "@key" on the line of fdinfo text @buf that starts with
 * it, or NULL. */
static const char *fdinfo_field(const char *buf, const char *key)
{
	size_t len = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, key, len))
			return p + len;
	return NULL;
}

/*
 * One read of fdinfo answers both questions: an eventfd's fdinfo always
 * has "eventfd-count:", and kernels since 6.0 add "eventfd-id:" (in
 * decimal). Plain syscalls into the stack, no stdio and no readlink first:
 * every layer takes the identity of every eventfd it is given, so a
 * 2048-vector enable pays this thousands of times.
 */
int il_fdinfo_dir_open(void)
{
	int d = open("/proc/self/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return d < 0 ? -errno : d;
}

int il_eventfd_token_at(int dir, int fd, uint64_t *token)
{
	char path[40], buf[512];
	unsigned long long id;
	const char *p;
	ssize_t n;
	int f;

	if (fd < 0)
		return -EBADF;
	if (dir >= 0) {
		/* No walk of /proc/self/fdinfo: a fifth of the read. */
		snprintf(path, sizeof(path), "%d", fd);
		f = openat(dir, path, O_RDONLY | O_CLOEXEC);
	} else {
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (f < 0)
		return errno == ENOENT ? -EBADF : -errno;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	if (!fdinfo_field(buf, "eventfd-count:"))
		return -EINVAL;
	p = fdinfo_field(buf, "eventfd-id:");
	if (!p || sscanf(p, " %llu", &id) != 1)
		return -ENOTSUP;
	/* Ids start at 0; keep 0 free to mean "no key". */
	*token = (uint64_t)id + 1;
	return 0;
}

int il_eventfd_token(int fd, uint64_t *token)
{
	return il_eventfd_token_at(-1, fd, token);
}

int il_eventfd_dup_token(int dir, int fd, uint64_t *token)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0), r;

	if (dup < 0)
		return -errno;
	/* On our dup, which nobody can close or renumber under us. */
	r = il_eventfd_token_at(dir, dup, token);
	if (r) {
		close(dup);
		return r;
	}
	return dup;
}
