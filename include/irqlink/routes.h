/* SPDX-License-Identifier: MIT */
/*
 * The VM's GSI routing table: which MSI message each GSI sends.
 *
 * Theory of operation
 * -------------------
 * KVM_SET_GSI_ROUTING replaces the VM's whole routing table, and each call
 * rebuilds the kernel's table and re-resolves every irqfd: setting N routes
 * one call at a time costs O(N^2). So irqlink keeps the table itself and
 * submits it in one piece:
 *
 *   - GSIs are allocated here: the lowest free GSI above the irqchip pins
 *     (GSI 24 and up with a full or split irqchip), given back by
 *     irqlink_routes_gsi_free(), so a freed GSI is the next one handed out.
 *   - Changes are staged. Between irqlink_routes_begin() and
 *     irqlink_routes_commit() any number of set/clear/free calls cost no
 *     ioctl; the commit makes exactly one KVM_SET_GSI_ROUTING, or none at
 *     all when the table is the same as at the last commit. A change made
 *     outside begin/commit commits at once (one ioctl) and is undone if that
 *     commit fails.
 *   - Every submitted table carries the irqchip pin routes KVM installs by
 *     default (full irqchip: GSI 0-15 to PIC and IOAPIC, 16-23 to the
 *     IOAPIC; split irqchip: none), so pins keep working.
 *   - The kernel caps the table at KVM_CAP_IRQ_ROUTING entries (4096 on
 *     x86; pin routes count: 40 of them with a full irqchip). A change that
 *     would exceed the cap fails with -ENOSPC before anything is submitted;
 *     the table is left as it was.
 *
 * Lookups and changes are O(1); a commit is O(routes). irqlink_routes_get()
 * reads either the staged table or the one last committed to KVM.
 *
 * A signal on an irqfd whose GSI has no route is consumed and lost; KVM does
 * not replay it when a route appears. Route a GSI before signalling it.
 *
 * Needs an in-kernel irqchip: on an IRQLINK_IRQCHIP_NONE VM every call here
 * returns -EINVAL (KVM keeps no routing table there).
 */
#ifndef IRQLINK_ROUTES_H
#define IRQLINK_ROUTES_H

#include <stdint.h>
#include <linux/kvm.h>

#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which table irqlink_routes_get() reads. */
enum irqlink_routes_view {
	IRQLINK_ROUTES_STAGED = 0,      /* with uncommitted changes */
	IRQLINK_ROUTES_COMMITTED,       /* as KVM has it */
};

/*
 * struct irqlink_routes_stats - counters, read with irqlink_routes_stats().
 * @commits:          KVM_SET_GSI_ROUTING calls that succeeded.
 * @commit_failures:  KVM_SET_GSI_ROUTING calls that failed.
 * @staged_routes:    MSI routes in the staged table.
 * @committed_routes: MSI routes in KVM's table.
 * @pin_routes:       irqchip pin entries in every submitted table.
 * @max_routes:       entries KVM accepts in one table (pins included).
 * @gsi_base:         first GSI irqlink_routes_gsi_alloc() hands out.
 * @gsis_allocated:   GSIs allocated now.
 */
struct irqlink_routes_stats {
	uint64_t commits;
	uint64_t commit_failures;
	uint32_t staged_routes;
	uint32_t committed_routes;
	uint32_t pin_routes;
	uint32_t max_routes;
	uint32_t gsi_base;
	uint32_t gsis_allocated;
};

/*
 * irqlink_routes_gsi_alloc - allocate the lowest free GSI at or above the
 * pin range. The GSI has no route until irqlink_routes_set_msi().
 * Returns 0 with *@gsi set, -ENOSPC when every GSI below the route limit is
 * taken, -EINVAL (no irqchip, NULL argument).
 */
int irqlink_routes_gsi_alloc(struct irqlink_vm *vm, uint32_t *gsi);

/*
 * irqlink_routes_gsi_free - drop @gsi's route (staged, committed at once
 * outside a batch) and give the GSI back. Returns 0, -ENOENT if @gsi is not
 * allocated, -EINVAL, or the commit's error (the GSI then stays allocated
 * with its route).
 */
int irqlink_routes_gsi_free(struct irqlink_vm *vm, uint32_t gsi);

/*
 * irqlink_routes_set_msi - route @gsi to the MSI @msi (add or update).
 * @gsi: a GSI from irqlink_routes_gsi_alloc(), or on a split irqchip one of
 *       the 24 user-space IOAPIC GSIs (0-23).
 * @msi: address_lo/hi and data; flags 0 or KVM_MSI_VALID_DEVID with devid.
 *       Copied.
 * Returns 0; -ENOENT (@gsi in the allocatable range but not allocated);
 * -EINVAL (no irqchip, a full-irqchip pin GSI, @gsi beyond the limit,
 * unknown @msi->flags); -ENOSPC (the table would exceed the route limit;
 * nothing changed); or the commit's error outside a batch (nothing changed).
 */
int irqlink_routes_set_msi(struct irqlink_vm *vm, uint32_t gsi,
			   const struct kvm_msi *msi);

/*
 * irqlink_routes_add_msi - irqlink_routes_gsi_alloc() plus
 * irqlink_routes_set_msi(): a new GSI routed to @msi, in *@gsi. On failure
 * no GSI stays allocated. Errors as the two calls.
 */
int irqlink_routes_add_msi(struct irqlink_vm *vm, const struct kvm_msi *msi,
			   uint32_t *gsi);

/*
 * irqlink_routes_clear - remove @gsi's MSI route; the GSI stays allocated.
 * A GSI without a route is a no-op (0, no ioctl). Returns 0, -EINVAL, or the
 * commit's error outside a batch (nothing changed).
 */
int irqlink_routes_clear(struct irqlink_vm *vm, uint32_t gsi);

/*
 * irqlink_routes_begin - open a batch: changes until the matching
 * irqlink_routes_commit() are staged only. Batches nest; only the outermost
 * commit submits. Returns 0 or -EINVAL.
 */
int irqlink_routes_begin(struct irqlink_vm *vm);

/*
 * irqlink_routes_commit - close a batch (if one is open) and, when that was
 * the outermost one, submit the staged table: one KVM_SET_GSI_ROUTING if it
 * differs from the committed one, no ioctl otherwise. Outside any batch it
 * just submits what is staged.
 *
 * Returns 0, -ENOMEM, -EINVAL (no irqchip), or KVM's -errno (e.g. -EINTR,
 * -EBUSY). On failure KVM's table and the committed view are unchanged and
 * the staged changes are kept: commit again, or irqlink_routes_abort().
 * (A change made outside a batch meanwhile submits them along with it, and
 * drops them with it if that commit fails too.)
 */
int irqlink_routes_commit(struct irqlink_vm *vm);

/*
 * irqlink_routes_abort - drop every uncommitted route change (the staged
 * table becomes the committed one again) and close all open batches. GSI
 * allocations are not undone. Never calls KVM.
 */
void irqlink_routes_abort(struct irqlink_vm *vm);

/*
 * irqlink_routes_get - read @gsi's MSI route from @view into *@msi.
 * Returns 1 (route present, *@msi filled), 0 (no MSI route), -EINVAL
 * (no irqchip, @gsi beyond the limit, NULL argument).
 */
int irqlink_routes_get(struct irqlink_vm *vm, uint32_t gsi,
		       enum irqlink_routes_view view, struct kvm_msi *msi);

/* irqlink_routes_stats - fill *@st. Returns 0 or -EINVAL. */
int irqlink_routes_stats(struct irqlink_vm *vm,
			 struct irqlink_routes_stats *st);

#ifdef __cplusplus
}
#endif

#endif
