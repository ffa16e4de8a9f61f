/* SPDX-License-Identifier: MIT */
/* Internal eventfd helpers shared by every part of the library. */
#ifndef IRQLINK_SRC_EVENTFD_H
#define IRQLINK_SRC_EVENTFD_H

#include <stdint.h>

/* 0 if @fd's /proc/self/fd link reads exactly @link (e.g.
 * "anon_inode:kvm-vm"), -EBADF if @fd is not open, -EINVAL if it is
 * something else: user space's only view of what kind of file an
 * anonymous-inode fd is. */
int il_fd_is(int fd, const char *link);

/* 0 if @fd is an open eventfd, -EBADF if it is not open, -EINVAL if it is
 * open but not an eventfd: the same answers as the kernel's eventfd_ctx_fdget. */
int il_eventfd_check(int fd);

/* Check @fd as il_eventfd_check() does, then return a close-on-exec
 * duplicate the caller owns, or -errno (-EMFILE when out of fds). */
int il_eventfd_dup(int fd);

/* Add 1 to the eventfd's counter. Returns 0 or -errno; a counter at its
 * maximum (-EAGAIN) cannot happen with the signal rates we produce. */
int il_eventfd_signal(int fd);

/* If the eventfd is readable, read (and so reset) its counter into *val
 * and return 1; return 0 if it was zero; -errno if the read failed. Never
 * blocks, even on a blocking eventfd (we may not change the O_NONBLOCK
 * flag, which the caller's fd shares) and even when another reader takes
 * the count first: preadv2(RWF_NOWAIT). Only on a kernel that lacks it for
 * eventfds does it fall back to poll + read, where a reader racing between
 * the two can block it. */
int il_eventfd_take(int fd, uint64_t *val);

/* The eventfd's kernel identity ("eventfd-id" in fdinfo): equal for every
 * fd that refers to the same eventfd, so it keys the same eventfd across
 * dup(), SCM_RIGHTS and processes. -EBADF, -EINVAL (not an eventfd), or
 * -ENOTSUP when /proc does not expose it. */
int il_eventfd_token(int fd, uint64_t *token);

/*
 * For a call that reads many identities (thousands at an MSI-X enable):
 * /proc/self/fdinfo opened once, a dirfd for il_eventfd_token_at(), which
 * then opens each fd's entry without walking the path. Returns the dirfd
 * or -errno. Only for the span of one call, closed before it returns:
 * after a fork the child's dirfd would still show the parent's fds.
 */
int il_fdinfo_dir_open(void);
/* il_eventfd_token() through @dir from il_fdinfo_dir_open(), or the path
 * when @dir < 0. */
int il_eventfd_token_at(int dir, int fd, uint64_t *token);

/* il_eventfd_dup() and il_eventfd_token_at(@dir) of the dup in one: the
 * identity read doubles as the check, so a caller that needs both pays one
 * /proc access, not two. Returns the dup or -errno as the two would
 * (-EMFILE before the check); nothing stays open on failure. */
int il_eventfd_dup_token(int dir, int fd, uint64_t *token);

#endif
