/* SPDX-License-Identifier: MIT */
/*
 * Internal: the VM context (struct irqlink_vm) that vm.c, irqfd.c,
 * routes.c, ioeventfd.c and consumer.c work on. Each concept keeps its own
 * state behind an opaque pointer and exposes only a lifecycle
 * (init/teardown) to vm.c. Every KVM ioctl goes through the VM's ioctl
 * layer (kvm_ioctl.h).
 */
#ifndef IRQLINK_SRC_VM_INTERNAL_H
#define IRQLINK_SRC_VM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <irqlink/vm.h>

#include "kvm_ioctl.h"
#include "token_table.h"

/* Per-concept state, private to the file named after it. */
struct il_irqfds;
struct il_routes;
struct il_ioeventfds;
struct il_memslots;

struct irqlink_vm {
	/* Serializes every call on this VM; KVM ioctls are made under it. */
	pthread_mutex_t lock;
	int fd;                         /* the VM fd: ours, or our dup */
	bool wrapped;                   /* the VM came from irqlink_vm_wrap() */
	enum irqlink_irqchip irqchip;
	uint32_t max_routes;            /* KVM_CAP_IRQ_ROUTING, 0 = none */
	struct il_kvm kvm;
	struct il_irqfds *irqfds;
	struct il_routes *routes;
	struct il_ioeventfds *ioeventfds;
	struct il_memslots *memslots;
	/* Eventfds a consumer delivers from, so a second consumer of one
	 * eventfd in this VM is refused (-EBUSY) instead of splitting its
	 * interrupts with the first (relay threads would race to read it).
	 * Only membership counts: each token maps to the VM itself. */
	struct il_token_table consumers;
};

/* Claim @token for a consumer of @vm: 0, -EBUSY, -ENOMEM, -EINVAL for
 * token 0; and give it back (a token not claimed is a no-op). */
int il_vm_claim(struct irqlink_vm *vm, uint64_t token);
void il_vm_unclaim(struct irqlink_vm *vm, uint64_t token);

/* The ioctl layer of @vm, so tests can set a hook on a live VM. */
struct il_kvm *il_vm_kvm(struct irqlink_vm *vm);

/* irqlink_vm_create()/irqlink_vm_wrap() with @hook installed before the
 * first ioctl, so failures can be injected into creation itself. */
int il_vm_create_hooked(const struct irqlink_vm_config *cfg,
			il_kvm_hook_fn hook, void *opaque,
			struct irqlink_vm **out);
int il_vm_wrap_hooked(int vm_fd, enum irqlink_irqchip kind,
		      il_kvm_hook_fn hook, void *opaque,
		      struct irqlink_vm **out);

/*
 * Concept lifecycles, called by vm.c with vm->lock NOT needed (the VM is
 * not shared yet, or no longer shared). init returns 0 or -ENOMEM; teardown
 * undoes everything registered through the VM and frees the state.
 * Teardown order, set by irqlink_vm_destroy(): irqfds, ioeventfds, routes,
 * memslots.
 */
int il_irqfds_init(struct irqlink_vm *vm);
void il_irqfds_teardown(struct irqlink_vm *vm);
int il_ioeventfds_init(struct irqlink_vm *vm);
void il_ioeventfds_teardown(struct irqlink_vm *vm);
int il_routes_init(struct irqlink_vm *vm);
void il_routes_teardown(struct irqlink_vm *vm);
int il_memslots_init(struct irqlink_vm *vm);
void il_memslots_teardown(struct irqlink_vm *vm);

#endif
