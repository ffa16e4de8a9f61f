/* SPDX-License-Identifier: MIT */
/*
 * The raw KVM ioctl layer.
 *
 * Theory of operation: one function issues every KVM ioctl the library
 * makes. Funnelling them through a single point gives tests one place to
 * inject any kernel error at any call (the hook), and gives every caller the
 * same calling convention: a non-negative result or -errno, never -1 with
 * errno to read later (errno would be clobbered by any cleanup in between).
 */
#include "kvm_ioctl.h"

#include <errno.h>
#include <sys/ioctl.h>

int il_kvm_ioctl(struct il_kvm *k, int fd, unsigned long req,
		 unsigned long arg)
{
	il_kvm_hook_fn hook = atomic_load_explicit(&k->hook,
						   memory_order_acquire);
	int r;

	atomic_fetch_add_explicit(&k->calls, 1, memory_order_relaxed);
	if (hook) {
		r = hook(k->opaque, fd, req, arg);
		if (r < 0)
			return r;
	}
	r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}
