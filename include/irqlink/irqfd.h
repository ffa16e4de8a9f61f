/* SPDX-License-Identifier: MIT */
/*
 * KVM irqfds: an eventfd signal becomes a guest interrupt without a trip
 * through user space.
 *
 * Theory of operation
 * -------------------
 * An edge irqfd injects an edge on its GSI per signal (assert, then
 * deassert): the form for MSI routes and edge IOAPIC pins. A level irqfd
 * (KVM_IRQFD_FLAG_RESAMPLE) holds its GSI asserted until the guest EOIs it;
 * KVM then deasserts the line once and signals the resamplefd of every level
 * irqfd on that GSI (one shared resampler per GSI). A device model that
 * still asserts its line re-triggers the irqfd; signals that arrive before
 * the EOI coalesce into one interrupt. Level irqfds need the full irqchip.
 *
 * Every error is KVM's own, passed through unchanged as -errno (the
 * library calls KVM first, with the caller's fds, and only then takes its
 * duplicates):
 *   -EINVAL  flags other than DEASSIGN and RESAMPLE; no in-kernel irqchip;
 *            RESAMPLE on a split irqchip; the fd or the resamplefd is open
 *            but not an eventfd;
 *   -EBADF   the fd or the resamplefd is not open;
 *   -EBUSY   the eventfd already backs an irqfd, in this VM (any GSI) or in
 *            any other VM: one eventfd feeds at most one irqfd.
 * A GSI without a route is accepted; signals to it are consumed and lost.
 *
 * A count already pending on the eventfd at attach time injects once but
 * stays in the eventfd (KVM does not consume it); counts signalled after the
 * attach are consumed by KVM, so a read() by user space sees EAGAIN.
 *
 * File descriptors
 * ----------------
 * The eventfd and resamplefd are borrowed: on success the VM context keeps a
 * close-on-exec duplicate of each and closes them when the irqfd is detached
 * or the VM destroyed. Because of that duplicate, closing your own fd does
 * NOT detach the irqfd (KVM would only let go when the last reference to the
 * eventfd closes): detach it, or destroy the VM.
 *
 * Consumers (for IRQ bypass)
 * --------------------------
 * Each irqfd is kept keyed by its eventfd's identity -- the same token
 * irqlink_bypass_token_from_fd() gives -- and found in O(1) by
 * irqlink_irqfd_lookup(). The KVM irqfd stays attached while anything keyed
 * by that token (a bypass consumer, a relay) comes and goes, so interrupts
 * keep flowing through KVM during such changes.
 */
#ifndef IRQLINK_IRQFD_H
#define IRQLINK_IRQFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct irqlink_irqfd_info - what irqlink_irqfd_lookup() reports.
 * @token: the eventfd's identity (irqlink_bypass_token_from_fd()).
 * @gsi:   the GSI it injects into.
 * @level: true for a resampling (level) irqfd.
 */
struct irqlink_irqfd_info {
	uint64_t token;
	uint32_t gsi;
	bool level;
};

/*
 * irqlink_irqfd_attach_edge - attach @efd to @gsi as an edge irqfd.
 * Returns 0 or -errno (see the list above; also -ENOMEM/-EMFILE when the
 * duplicate cannot be made, KVM's irqfd then being detached again).
 */
int irqlink_irqfd_attach_edge(struct irqlink_vm *vm, int efd, uint32_t gsi);

/*
 * irqlink_irqfd_attach_level - attach @efd to @gsi as a level irqfd whose
 * EOIs are signalled on @resamplefd. Needs the full irqchip.
 * Returns 0 or -errno as irqlink_irqfd_attach_edge().
 */
int irqlink_irqfd_attach_level(struct irqlink_vm *vm, int efd,
			       int resamplefd, uint32_t gsi);

/*
 * irqlink_irqfd_assign - KVM_IRQFD with the kernel's own argument: @req->fd,
 * @req->gsi, @req->flags, @req->resamplefd exactly as KVM takes them.
 * RESAMPLE attaches a level irqfd, DEASSIGN detaches (as
 * irqlink_irqfd_detach()), any other flag is passed to KVM, which refuses it
 * with -EINVAL. For callers that already speak the kernel ABI.
 */
int irqlink_irqfd_assign(struct irqlink_vm *vm, const struct kvm_irqfd *req);

/*
 * irqlink_irqfd_detach - detach the irqfd of eventfd @efd on @gsi (KVM
 * matches both) and close the context's duplicates of its fds.
 * Returns 0 -- also when no irqfd matched, as KVM does -- or -EBADF (@efd
 * not open), -EINVAL (@efd not an eventfd). When it returns, KVM injects
 * nothing more from that irqfd. Detaching the last level irqfd of a GSI
 * deasserts the line.
 */
int irqlink_irqfd_detach(struct irqlink_vm *vm, int efd, uint32_t gsi);

/*
 * irqlink_irqfd_lookup - find the irqfd attached through @vm whose eventfd
 * is @efd (any fd of that eventfd). Returns 1 and fills *@info, 0 if none,
 * or -EBADF/-EINVAL for an @efd that is not an open eventfd.
 */
int irqlink_irqfd_lookup(struct irqlink_vm *vm, int efd,
			 struct irqlink_irqfd_info *info);

/* irqlink_irqfd_count - irqfds attached through @vm now. */
size_t irqlink_irqfd_count(struct irqlink_vm *vm);

#ifdef __cplusplus
}
#endif

#endif
