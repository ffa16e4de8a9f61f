/* SPDX-License-Identifier: MIT */
/*
 * The VM context.
 *
 * Theory of operation: a context is born with a VM fd and an interrupt
 * controller, then grows irqfds, routes and ioeventfds, each kept by the file
 * named after it. Creation goes forward step by step and a failure unwinds
 * exactly the steps done so far. Destruction runs the concepts' teardowns in
 * a fixed order: irqfds first, because an irqfd looks up its route at every
 * routing change and at every signal, so it must be gone before the routes
 * are touched; ioeventfds next (they only signal eventfds, but their eventfd
 * duplicates must stay open until KVM has let go of them); the routes last.
 * The VM fd is closed after all of that, because the teardowns need it.
 *
 * KVM_SIGNAL_MSI and KVM_IRQ_LINE are injection hot paths (a user-space
 * relay calls them per interrupt), so they do not take the context mutex:
 * they touch nothing but the VM fd, which lives as long as the context.
 */
#include "eventfd.h"
#include "vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int vm_alloc(enum irqlink_irqchip kind, il_kvm_hook_fn hook,
		    void *opaque, struct irqlink_vm **out)
{
	struct irqlink_vm *vm = calloc(1, sizeof(*vm));
	int r;

	if (!vm)
		return -ENOMEM;
	r = pthread_mutex_init(&vm->lock, NULL);
	if (r) {
		free(vm);
		return -r;
	}
	vm->fd = -1;
	vm->irqchip = kind;
	il_token_table_init(&vm->consumers);
	vm->kvm.hook = hook;
	vm->kvm.opaque = opaque;
	*out = vm;
	return 0;
}

static void vm_free(struct irqlink_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	il_token_table_fini(&vm->consumers);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int il_vm_claim(struct irqlink_vm *vm, uint64_t token)
{
	int r;

	pthread_mutex_lock(&vm->lock);
	r = il_token_table_insert(&vm->consumers, token, vm);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void il_vm_unclaim(struct irqlink_vm *vm, uint64_t token)
{
	pthread_mutex_lock(&vm->lock);
	(void)il_token_table_remove(&vm->consumers, token);
	pthread_mutex_unlock(&vm->lock);
}

/* Learn the route limit, then give every concept its (empty) state. The VM
 * fd and irqchip are in place when this runs. */
static int vm_setup(struct irqlink_vm *vm)
{
	int r;

	/* Asked of the VM, not /dev/kvm: a wrapped VM comes without the
	 * system fd, and the VM's answer is the one that applies to it. */
	r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_CHECK_EXTENSION,
			 KVM_CAP_IRQ_ROUTING);
	if (r < 0)
		return r;
	vm->max_routes = (uint32_t)r;

	r = il_irqfds_init(vm);
	if (r)
		return r;
	r = il_ioeventfds_init(vm);
	if (r)
		goto fail_ioeventfds;
	r = il_routes_init(vm);
	if (r)
		goto fail_routes;
	r = il_memslots_init(vm);
	if (r)
		goto fail_memslots;
	return 0;

fail_memslots:
	il_routes_teardown(vm);
fail_routes:
	il_ioeventfds_teardown(vm);
fail_ioeventfds:
	il_irqfds_teardown(vm);
	return r;
}

static int valid_kind(enum irqlink_irqchip kind)
{
	return kind == IRQLINK_IRQCHIP_FULL || kind == IRQLINK_IRQCHIP_SPLIT ||
	       kind == IRQLINK_IRQCHIP_NONE;
}

static int create_irqchip(struct irqlink_vm *vm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_SPLIT_IRQCHIP,
		.args = { IRQLINK_IOAPIC_PINS },
	};
	int r;

	switch (vm->irqchip) {
	case IRQLINK_IRQCHIP_FULL:
		r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_CREATE_IRQCHIP, 0);
		break;
	case IRQLINK_IRQCHIP_SPLIT:
		/* KVM refuses this once a vCPU exists; the VM is brand new. */
		r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_ENABLE_CAP,
				 (unsigned long)&cap);
		break;
	default:
		r = 0;
		break;
	}
	return r < 0 ? r : 0;
}

int il_vm_create_hooked(const struct irqlink_vm_config *cfg,
			il_kvm_hook_fn hook, void *opaque,
			struct irqlink_vm **out)
{
	static const struct irqlink_vm_config defaults;
	struct irqlink_vm *vm;
	int kvm_fd, r;

	if (!out)
		return -EINVAL;
	if (!cfg)
		cfg = &defaults;
	if (!valid_kind(cfg->irqchip) || cfg->flags)
		return -EINVAL;
	r = vm_alloc(cfg->irqchip, hook, opaque, &vm);
	if (r)
		return r;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		r = -errno;
		goto fail;
	}
	/* KVM makes the VM fd close-on-exec itself. */
	r = il_kvm_ioctl(&vm->kvm, kvm_fd, KVM_CREATE_VM, 0);
	close(kvm_fd);
	if (r < 0)
		goto fail;
	vm->fd = r;

	r = create_irqchip(vm);
	if (r)
		goto fail;
	r = vm_setup(vm);
	if (r)
		goto fail;
	*out = vm;
	return 0;

fail:
	vm_free(vm);
	return r;
}

int irqlink_vm_create(const struct irqlink_vm_config *cfg,
		      struct irqlink_vm **out)
{
	return il_vm_create_hooked(cfg, NULL, NULL, out);
}

/* 0 if @fd is a KVM VM fd, -EBADF if not open, -ENOTTY otherwise. /dev/kvm
 * itself answers KVM_CHECK_EXTENSION too, so ask what the fd is instead. */
static int check_vm_fd(int fd)
{
	int r = il_fd_is(fd, "anon_inode:kvm-vm");

	return r == -EINVAL ? -ENOTTY : r;
}

int il_vm_wrap_hooked(int vm_fd, enum irqlink_irqchip kind,
		      il_kvm_hook_fn hook, void *opaque,
		      struct irqlink_vm **out)
{
	struct irqlink_vm *vm;
	int r;

	if (!out || !valid_kind(kind))
		return -EINVAL;
	r = check_vm_fd(vm_fd);
	if (r)
		return r;
	r = vm_alloc(kind, hook, opaque, &vm);
	if (r)
		return r;
	vm->wrapped = true;
	vm->fd = fcntl(vm_fd, F_DUPFD_CLOEXEC, 0);
	if (vm->fd < 0) {
		r = -errno;
		goto fail;
	}
	r = vm_setup(vm);
	if (r)
		goto fail;
	*out = vm;
	return 0;

fail:
	vm_free(vm);
	return r;
}

int irqlink_vm_wrap(int vm_fd, enum irqlink_irqchip kind,
		    struct irqlink_vm **out)
{
	return il_vm_wrap_hooked(vm_fd, kind, NULL, NULL, out);
}

void irqlink_vm_destroy(struct irqlink_vm *vm)
{
	if (!vm)
		return;
	il_irqfds_teardown(vm);
	il_ioeventfds_teardown(vm);
	il_routes_teardown(vm);
	il_memslots_teardown(vm);
	vm_free(vm);
}

int irqlink_vm_fd(const struct irqlink_vm *vm)
{
	return vm->fd;
}

enum irqlink_irqchip irqlink_vm_irqchip(const struct irqlink_vm *vm)
{
	return vm->irqchip;
}

struct il_kvm *il_vm_kvm(struct irqlink_vm *vm)
{
	return &vm->kvm;
}

int irqlink_vm_signal_msi(struct irqlink_vm *vm, const struct kvm_msi *msi)
{
	if (!vm || !msi)
		return -EINVAL;
	return il_kvm_ioctl(&vm->kvm, vm->fd, KVM_SIGNAL_MSI,
			    (unsigned long)msi);
}

int irqlink_vm_set_irq_line(struct irqlink_vm *vm, uint32_t gsi, bool level)
{
	struct kvm_irq_level line = { .irq = gsi, .level = level ? 1 : 0 };

	if (!vm)
		return -EINVAL;
	return il_kvm_ioctl(&vm->kvm, vm->fd, KVM_IRQ_LINE,
			    (unsigned long)&line);
}
