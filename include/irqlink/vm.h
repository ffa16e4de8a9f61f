/* SPDX-License-Identifier: MIT */
/*
 * The KVM virtual machine an irqlink consumer injects into.
 *
 * Theory of operation
 * -------------------
 * struct irqlink_vm is the context for one KVM VM: its fd, the kind of
 * in-kernel interrupt controller it has, and everything registered in it
 * through irqlink -- irqfds (<irqlink/irqfd.h>), the GSI routing table
 * (<irqlink/routes.h>) and ioeventfds (<irqlink/ioeventfd.h>). Either let
 * irqlink create the VM (irqlink_vm_create()), or bring your own VM fd
 * (irqlink_vm_wrap()). irqlink_vm_destroy() undoes everything that was
 * registered through the context, in an order that never lets an interrupt
 * be injected through a half-torn-down path: irqfds are deassigned first
 * (so no irqfd sees a route change under it), then ioeventfds, then the
 * routes, and only then are the fds closed.
 *
 * vCPUs are not irqlink's business: create them on irqlink_vm_fd() yourself.
 * A split irqchip must be chosen before any vCPU exists, which is why the
 * choice is made at creation time.
 *
 * File descriptors
 * ----------------
 * A VM created by irqlink_vm_create() owns its VM fd. A wrapped VM keeps a
 * close-on-exec duplicate of the caller's fd; the caller keeps its own. Once
 * routes are committed through a wrapped VM, irqlink owns that VM's routing
 * table (KVM_SET_GSI_ROUTING replaces the whole table).
 *
 * Threading
 * ---------
 * Every irqfd, route and ioeventfd call on one VM context takes the
 * context's mutex, so they may come from different threads. The injection
 * helpers (irqlink_vm_signal_msi(), irqlink_vm_set_irq_line()) take no lock
 * and may run on any thread at any rate. irqlink_vm_destroy() must not race
 * any other call on the same context.
 */
#ifndef IRQLINK_VM_H
#define IRQLINK_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The in-kernel interrupt controller of a VM. */
enum irqlink_irqchip {
	/* PIC + IOAPIC + LAPIC in KVM (KVM_CREATE_IRQCHIP). */
	IRQLINK_IRQCHIP_FULL = 0,
	/* Only the LAPIC in KVM; the IOAPIC (24 pins) lives in user space
	 * (KVM_CAP_SPLIT_IRQCHIP). No resampling irqfds, no pin routes. */
	IRQLINK_IRQCHIP_SPLIT,
	/* No in-kernel irqchip: no irqfds, no routes, no injection helpers. */
	IRQLINK_IRQCHIP_NONE,
};

/* Number of IOAPIC pins (also the split irqchip's user-space IOAPIC). */
#define IRQLINK_IOAPIC_PINS 24u

/*
 * struct irqlink_vm_config - how irqlink_vm_create() makes the VM.
 * @irqchip: which interrupt controller to create (default FULL).
 * @flags:   reserved, must be 0.
 * A zeroed config (or NULL) asks for the defaults.
 */
struct irqlink_vm_config {
	enum irqlink_irqchip irqchip;
	uint32_t flags;
};

struct irqlink_vm;

/*
 * irqlink_vm_create - open /dev/kvm, create a VM and its interrupt
 * controller.
 * @cfg: NULL for the defaults.
 * @out: receives the context; it owns the VM fd.
 *
 * /dev/kvm is closed again before returning. Returns 0, -EINVAL (unknown
 * irqchip kind or flags, NULL @out), -ENOMEM, or the -errno of the failing
 * open/KVM_CREATE_VM/KVM_CREATE_IRQCHIP/KVM_ENABLE_CAP (e.g. -ENOENT or
 * -EACCES without /dev/kvm). Nothing is left open on failure.
 */
int irqlink_vm_create(const struct irqlink_vm_config *cfg,
		      struct irqlink_vm **out);

/*
 * irqlink_vm_wrap - make a context for a VM the caller created.
 * @vm_fd: a KVM VM fd; borrowed: the context keeps its own duplicate.
 * @kind:  the interrupt controller the caller gave that VM (irqlink cannot
 *         ask KVM; telling it wrong makes KVM refuse later calls).
 * @out:   receives the context.
 *
 * Returns 0, -EINVAL (unknown @kind, NULL @out), -EBADF (@vm_fd not open),
 * -ENOTTY (@vm_fd is not a KVM VM: KVM_CHECK_EXTENSION failed), -EMFILE or
 * -ENOMEM.
 */
int irqlink_vm_wrap(int vm_fd, enum irqlink_irqchip kind,
		    struct irqlink_vm **out);

/*
 * irqlink_vm_destroy - deassign every irqfd, then every ioeventfd,
 * registered through @vm; restore the default routing table of a wrapped VM
 * if irqlink changed it; close every fd the context holds (its eventfd
 * duplicates, then the VM fd) and free it. NULL is a no-op. Errors from KVM
 * during teardown are ignored: there is nobody left to report them to.
 */
void irqlink_vm_destroy(struct irqlink_vm *vm);

/* The VM fd, owned by the context: use it (e.g. KVM_CREATE_VCPU), do not
 * close it. Valid until irqlink_vm_destroy(). */
int irqlink_vm_fd(const struct irqlink_vm *vm);

/* The interrupt controller kind of @vm. */
enum irqlink_irqchip irqlink_vm_irqchip(const struct irqlink_vm *vm);

/*
 * irqlink_vm_signal_msi - inject one MSI now (KVM_SIGNAL_MSI).
 * @msi: the message; @msi->flags may be 0 or KVM_MSI_VALID_DEVID (x86 KVM
 *       accepts and ignores the devid).
 *
 * Returns what KVM returns, measured on this KVM:
 *   1        delivered to a LAPIC (one per destination vCPU);
 *   0        vCPUs exist but none accepted it: no LAPIC with that
 *            destination, or the LAPIC is software-disabled (SVR bit 8
 *            clear, as after reset);
 *   -EPERM   the VM has no vCPU at all (KVM returns -1 from its delivery
 *            code, which reaches user space as errno 1);
 *   -EINVAL  no in-kernel irqchip, or unknown @msi->flags.
 */
int irqlink_vm_signal_msi(struct irqlink_vm *vm, const struct kvm_msi *msi);

/*
 * irqlink_vm_set_irq_line - set the level user space drives on @gsi
 * (KVM_IRQ_LINE): @level true asserts, false deasserts. KVM ORs this level
 * with the VM's other sources of the line (irqfds, resamplers), so a level
 * held here survives a guest EOI and re-delivers.
 *
 * Returns 0 (also for a GSI without a route, which KVM ignores), or -ENXIO
 * when the VM has no in-kernel irqchip.
 */
int irqlink_vm_set_irq_line(struct irqlink_vm *vm, uint32_t gsi, bool level);

#ifdef __cplusplus
}
#endif

#endif
