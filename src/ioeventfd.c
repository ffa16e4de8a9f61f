/* SPDX-License-Identifier: MIT */
/*
 * ioeventfds registered through a VM context.
 *
 * Theory of operation: as with irqfds, KVM is asked first with the caller's
 * own fd, so every refusal (and its precedence: length, wrap-around, flags,
 * length 0 with datamatch, then the fd, then collisions) is KVM's. Only then
 * do we take a duplicate of the eventfd, undoing KVM's registration if that
 * fails. The record remembers exactly what KVM matches on at deassign time
 * (bus, eventfd identity, address, length, wildcard-ness, datamatch), so we
 * drop the same entry KVM dropped, and can deassign every entry ourselves
 * at VM destruction with our duplicate.
 */
#include "vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <irqlink/ioeventfd.h>

#include "eventfd.h"

/* The flags that select a bus or a match mode; the rest is KVM's business. */
#define KEPT_FLAGS (KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH | \
		    KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY)

struct ioev_rec {
	uint64_t token;
	uint64_t addr;
	uint64_t datamatch;
	uint32_t len;
	uint32_t flags;         /* KEPT_FLAGS as registered */
	int efd;                /* our duplicate */
};

struct il_ioeventfds {
	struct ioev_rec *rec;
	size_t n, cap;
};

int il_ioeventfds_init(struct irqlink_vm *vm)
{
	vm->ioeventfds = calloc(1, sizeof(*vm->ioeventfds));
	return vm->ioeventfds ? 0 : -ENOMEM;
}

/* KVM's choice of bus: PIO wins over the CCW notify bus, MMIO otherwise. */
static uint32_t bus_of(uint32_t flags)
{
	if (flags & KVM_IOEVENTFD_FLAG_PIO)
		return KVM_IOEVENTFD_FLAG_PIO;
	return flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY;
}

static bool rec_matches(const struct ioev_rec *r, uint64_t token,
			const struct kvm_ioeventfd *req)
{
	bool wildcard = !(req->flags & KVM_IOEVENTFD_FLAG_DATAMATCH);

	if (r->token != token || bus_of(r->flags) != bus_of(req->flags) ||
	    r->addr != req->addr || r->len != req->len ||
	    !(r->flags & KVM_IOEVENTFD_FLAG_DATAMATCH) != wildcard)
		return false;
	return wildcard || r->datamatch == req->datamatch;
}

static int reserve_one(struct il_ioeventfds *t)
{
	struct ioev_rec *n;
	size_t cap = t->cap ? t->cap * 2 : 16;

	if (t->n < t->cap)
		return 0;
	n = realloc(t->rec, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->rec = n;
	t->cap = cap;
	return 0;
}

static int kvm_call(struct irqlink_vm *vm, const struct kvm_ioeventfd *req)
{
	return il_kvm_ioctl(&vm->kvm, vm->fd, KVM_IOEVENTFD,
			    (unsigned long)req);
}

int irqlink_ioeventfd_register(struct irqlink_vm *vm,
			       const struct kvm_ioeventfd *req)
{
	struct kvm_ioeventfd undo;
	struct ioev_rec rec;
	int r;

	if (!vm || !req || (req->flags & KVM_IOEVENTFD_FLAG_DEASSIGN))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	r = reserve_one(vm->ioeventfds);
	if (r)
		goto out;
	r = kvm_call(vm, req);
	if (r < 0)
		goto out;
	/* KVM holds the registration now: undo it on any failure below. */
	rec = (struct ioev_rec){
		.addr = req->addr,
		.datamatch = req->datamatch,
		.len = req->len,
		.flags = req->flags & KEPT_FLAGS,
		.efd = fcntl(req->fd, F_DUPFD_CLOEXEC, 0),
	};
	if (rec.efd < 0) {
		r = -errno;
		goto fail_kvm;
	}
	r = il_eventfd_token(rec.efd, &rec.token);
	if (r)
		goto fail_token;
	vm->ioeventfds->rec[vm->ioeventfds->n++] = rec;
	r = 0;
	goto out;

fail_token:
	close(rec.efd);
fail_kvm:
	undo = *req;
	undo.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	(void)kvm_call(vm, &undo);
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_ioeventfd_deregister(struct irqlink_vm *vm,
				 const struct kvm_ioeventfd *req)
{
	struct il_ioeventfds *t;
	struct kvm_ioeventfd del;
	uint64_t token;
	size_t i;
	int r;

	if (!vm || !req)
		return -EINVAL;
	del = *req;
	del.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	pthread_mutex_lock(&vm->lock);
	t = vm->ioeventfds;
	r = kvm_call(vm, &del);
	if (r < 0)
		goto out;
	r = 0;
	/* KVM removed one entry; drop our record of it (there is at most
	 * one: identical entries would have collided with EEXIST). */
	if (il_eventfd_token(req->fd, &token))
		goto out;
	for (i = 0; i < t->n; i++) {
		if (rec_matches(&t->rec[i], token, req)) {
			close(t->rec[i].efd);
			t->rec[i] = t->rec[--t->n];
			break;
		}
	}
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

size_t irqlink_ioeventfd_count(struct irqlink_vm *vm)
{
	size_t n;

	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	n = vm->ioeventfds->n;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

void il_ioeventfds_teardown(struct irqlink_vm *vm)
{
	struct il_ioeventfds *t = vm->ioeventfds;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++) {
		struct ioev_rec *r = &t->rec[i];
		struct kvm_ioeventfd del = {
			.datamatch = r->datamatch,
			.addr = r->addr,
			.len = r->len,
			.fd = r->efd,
			.flags = r->flags | KVM_IOEVENTFD_FLAG_DEASSIGN,
		};

		/* Deassign before closing: KVM keeps its own reference to
		 * the eventfd, so closing ours would not remove the entry. */
		(void)kvm_call(vm, &del);
		close(r->efd);
	}
	free(t->rec);
	free(t);
	vm->ioeventfds = NULL;
}
