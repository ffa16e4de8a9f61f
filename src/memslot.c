/* SPDX-License-Identifier: MIT */
/*
 * Guest memory slots irqlink maps (<irqlink/memslot.h>).
 *
 * Theory of operation: a short list of the slots we hold, under the VM's
 * lock; a new one takes the highest id below KVM's limit that we do not
 * hold. A VM has few directly mapped areas (a few per BAR), so a list is
 * all it needs.
 */
#include <irqlink/memslot.h>

#include "vm_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

/* How many slots one VM may hold: plenty for 8 devices of 6 BARs with a
 * few areas each. */
#define MAX_SLOTS 128u

struct il_memslots {
	uint32_t limit;                 /* KVM_CAP_NR_MEMSLOTS */
	uint32_t n;
	struct kvm_userspace_memory_region held[MAX_SLOTS];
};

int il_memslots_init(struct irqlink_vm *vm)
{
	int r;

	vm->memslots = calloc(1, sizeof(*vm->memslots));
	if (!vm->memslots)
		return -ENOMEM;
	r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_CHECK_EXTENSION,
			 KVM_CAP_NR_MEMSLOTS);
	/* Before the capability existed KVM had 32 slots. */
	vm->memslots->limit = r > 0 ? (uint32_t)r : 32;
	return 0;
}

static int set_region(struct irqlink_vm *vm,
		      const struct kvm_userspace_memory_region *m)
{
	return il_kvm_ioctl(&vm->kvm, vm->fd, KVM_SET_USER_MEMORY_REGION,
			    (unsigned long)m);
}

void il_memslots_teardown(struct irqlink_vm *vm)
{
	struct il_memslots *s = vm->memslots;

	if (!s)
		return;
	for (uint32_t i = 0; i < s->n; i++) {
		struct kvm_userspace_memory_region gone = {
			.slot = s->held[i].slot };

		(void)set_region(vm, &gone);
	}
	free(s);
	vm->memslots = NULL;
}

static bool held(const struct il_memslots *s, uint32_t slot)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->held[i].slot == slot)
			return true;
	return false;
}

int irqlink_memslot_map(struct irqlink_vm *vm, uint64_t gpa, uint64_t size,
			void *hva)
{
	struct kvm_userspace_memory_region m = {
		.guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	struct il_memslots *s;
	uint32_t slot;
	int r;

	if (!vm || !hva || !size || ((gpa | size | m.userspace_addr) & 0xfff))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	s = vm->memslots;
	r = -ENOSPC;
	if (s->n == MAX_SLOTS)
		goto out;
	for (slot = s->limit; slot-- > 0 && held(s, slot);)
		;
	if (slot == UINT32_MAX || s->limit - slot > MAX_SLOTS)
		goto out;
	m.slot = slot;
	r = set_region(vm, &m);
	if (r)
		goto out;
	s->held[s->n++] = m;
	r = (int)slot;
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_memslot_unmap(struct irqlink_vm *vm, int slot)
{
	struct il_memslots *s;
	int r = -ENOENT;

	if (!vm || slot < 0)
		return -ENOENT;
	pthread_mutex_lock(&vm->lock);
	s = vm->memslots;
	for (uint32_t i = 0; i < s->n; i++) {
		struct kvm_userspace_memory_region gone = {
			.slot = (uint32_t)slot };

		if (s->held[i].slot != (uint32_t)slot)
			continue;
		r = set_region(vm, &gone);
		if (!r)
			s->held[i] = s->held[--s->n];
		break;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

unsigned int irqlink_memslot_count(struct irqlink_vm *vm)
{
	unsigned int n;

	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	n = vm->memslots->n;
	pthread_mutex_unlock(&vm->lock);
	return n;
}
