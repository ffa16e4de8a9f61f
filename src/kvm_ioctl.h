/* SPDX-License-Identifier: MIT */
/*
 * Internal: the raw KVM ioctl layer. Every KVM ioctl the library makes goes
 * through il_kvm_ioctl(), so a test can make any single call fail (EBUSY,
 * ENOSPC, EINTR...) by installing a hook: on a live VM through
 * il_vm_kvm(vm)->hook, or for the calls made while a VM is created or
 * wrapped through il_vm_create_hooked() / il_vm_wrap_hooked()
 * (vm_internal.h). Fakes of other KVM behaviour (an upstream KVM's EOI
 * timing, say) plug in the same way.
 */
#ifndef IRQLINK_SRC_KVM_IOCTL_H
#define IRQLINK_SRC_KVM_IOCTL_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * A hook sees every ioctl before the kernel does. Return 0 to let the call
 * through, or a negative errno to make the call fail with it without the
 * kernel ever seeing it. @arg is what would be passed to ioctl(2).
 */
typedef int (*il_kvm_hook_fn)(void *opaque, int fd, unsigned long req,
			      unsigned long arg);

struct il_kvm {
	/* NULL: no hook. Atomic: a test installs it on a live VM while the
	 * relay thread injects; set @opaque first, the store of the hook
	 * publishes it. */
	_Atomic(il_kvm_hook_fn) hook;
	void *opaque;           /* passed to the hook */
	/* ioctls attempted, hooked ones included; atomic because the
	 * injection helpers run without the VM lock. */
	_Atomic uint64_t calls;
};

/*
 * Issue ioctl(@fd, @req, @arg). Returns the ioctl's non-negative result or
 * -errno. Does not retry on EINTR: the caller decides (see routes.c).
 */
int il_kvm_ioctl(struct il_kvm *k, int fd, unsigned long req,
		 unsigned long arg);

#endif
