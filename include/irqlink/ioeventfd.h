/* SPDX-License-Identifier: MIT */
/*
 * KVM ioeventfds: a guest write to an I/O port or an MMIO address becomes an
 * eventfd signal, without an exit to user space (a doorbell).
 *
 * Theory of operation
 * -------------------
 * Registrations take the kernel's struct kvm_ioeventfd unchanged:
 *   @fd         the eventfd to signal (borrowed, see below);
 *   @addr       the exact guest address (port number with PIO);
 *   @len        the access width to match: 1, 2, 4 or 8; 0 = any width;
 *   @flags      KVM_IOEVENTFD_FLAG_PIO for the port bus (else MMIO),
 *               KVM_IOEVENTFD_FLAG_DATAMATCH to match only writes of
 *               @datamatch (compared as a 64-bit value, so a datamatch
 *               wider than @len never matches).
 * A write matches when its address is @addr exactly and, unless @len is 0,
 * its width is @len and (with DATAMATCH) its value is @datamatch. A write
 * that matches nothing exits to user space as a normal PIO/MMIO exit.
 *
 * Errors are KVM's, passed through as -errno; measured on this KVM:
 *   -EINVAL  @len not 0, 1, 2, 4 or 8; @addr + @len wraps around; a flag
 *            KVM does not know; @len 0 with DATAMATCH; the fd is open but
 *            not an eventfd;
 *   -EBADF   the fd is not open;
 *   -EEXIST  a registration collides with one already there: same bus and
 *            address, and either length 0 on either side, or equal lengths
 *            with either side a wildcard (no DATAMATCH) or equal datamatch
 *            values. PIO and MMIO are separate buses; different eventfds
 *            collide all the same.
 * (@addr ~0 with @len 0 is accepted: nothing wraps.)
 *
 * File descriptors
 * ----------------
 * On success the VM context keeps a close-on-exec duplicate of @fd and
 * closes it at deregistration or VM destruction. Closing your own fd does
 * not deregister anything.
 */
#ifndef IRQLINK_IOEVENTFD_H
#define IRQLINK_IOEVENTFD_H

#include <stddef.h>
#include <linux/kvm.h>

#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * irqlink_ioeventfd_register - KVM_IOEVENTFD assign, as described above.
 * Returns 0 or -errno (KVM's; -EINVAL also when @req carries
 * KVM_IOEVENTFD_FLAG_DEASSIGN, -ENOMEM/-EMFILE when the duplicate cannot be
 * made, KVM's registration then being removed again).
 */
int irqlink_ioeventfd_register(struct irqlink_vm *vm,
			       const struct kvm_ioeventfd *req);

/*
 * irqlink_ioeventfd_deregister - remove the first registration matching
 * @req: same bus, same eventfd (any fd of it), @addr, @len and wildcard-ness,
 * and the same datamatch when DATAMATCH is set. KVM_IOEVENTFD_FLAG_DEASSIGN
 * is implied. Returns 0, -ENOENT (nothing matched), -EBADF or -EINVAL for
 * @fd. KVM does not check @len or unknown flags here: they just fail to
 * match (or are ignored, for unknown flags).
 */
int irqlink_ioeventfd_deregister(struct irqlink_vm *vm,
				 const struct kvm_ioeventfd *req);

/* irqlink_ioeventfd_count - registrations made through @vm and not yet
 * deregistered. */
size_t irqlink_ioeventfd_count(struct irqlink_vm *vm);

#ifdef __cplusplus
}
#endif

#endif
