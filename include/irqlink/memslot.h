/* SPDX-License-Identifier: MIT */
/*
 * Guest memory slots for directly mapped device memory.
 *
 * Theory of operation
 * -------------------
 * A device region the device lets be mapped (vfio's MMAP flag, sparse
 * areas included) is reached fastest by not trapping it at all: the VMM
 * maps the region's fd and gives that memory to the guest at the BAR's
 * address as a KVM memory slot, so the guest's loads and stores go
 * straight to the device's memory with no exit. The PCI glue does this
 * for every mappable area of a BAR while the BAR is enabled, and moves or
 * removes the slots when the guest moves or disables the BAR.
 *
 * KVM numbers slots per VM, and the caller usually has its own (guest
 * RAM). irqlink takes slot ids from the top of KVM's range down
 * (KVM_CAP_NR_MEMSLOTS), so a VMM that numbers its own from 0 up never
 * collides with them. A slot may not overlap another slot's guest range:
 * KVM refuses that with -EEXIST.
 *
 * Threading: calls on one VM serialize on the VM's lock.
 */
#ifndef IRQLINK_MEMSLOT_H
#define IRQLINK_MEMSLOT_H

#include <stdint.h>

#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * irqlink_memslot_map - the guest's [@gpa, @gpa + @size) is @hva's memory
 * (borrowed: keep it mapped until irqlink_memslot_unmap()).
 * Returns the slot id (>= 0); -EINVAL for a NULL argument, a size of 0, or
 * a @gpa, @size or @hva that is not page-aligned; -ENOSPC when every slot
 * irqlink may take is in use; the -errno of KVM_SET_USER_MEMORY_REGION
 * (-EEXIST: the range overlaps another slot).
 */
int irqlink_memslot_map(struct irqlink_vm *vm, uint64_t gpa, uint64_t size,
			void *hva);

/*
 * irqlink_memslot_unmap - remove slot @slot (from irqlink_memslot_map()):
 * the guest's accesses there exit again. Returns 0, -ENOENT for a slot
 * that is not irqlink's, or the -errno of KVM_SET_USER_MEMORY_REGION.
 */
int irqlink_memslot_unmap(struct irqlink_vm *vm, int slot);

/* How many slots irqlink holds in @vm now. */
unsigned int irqlink_memslot_count(struct irqlink_vm *vm);

#ifdef __cplusplus
}
#endif

#endif
