/* SPDX-License-Identifier: MIT */
/*
 * irqfds attached through a VM context.
 *
 * Theory of operation: KVM is asked first, with the caller's own fds, so
 * every refusal is KVM's, errno and precedence included (flags before the
 * irqchip check before the fds). Only when KVM has accepted do we take our
 * duplicates; if that fails we detach KVM's irqfd again, so a failed call
 * leaves nothing behind. Holding a duplicate keeps the eventfd alive, which
 * is what keeps the irqfd attached after the caller closes its fd: KVM drops
 * an irqfd only on deassign or on the eventfd's final close.
 *
 * Records live in a hash table keyed by the eventfd's identity (its
 * fdinfo eventfd-id), not by fd number: the caller may detach with any fd
 * of the same eventfd, and KVM itself allows one irqfd per eventfd, so the
 * identity is a unique key. Detach closes our duplicates only after KVM's
 * deassign has returned, i.e. after KVM has flushed every pending injection
 * and resampler notification that could still touch them.
 */
#include "vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <irqlink/irqfd.h>

#include "eventfd.h"
#include "token_map.h"

struct irqfd_rec {
	struct il_token_link link;      /* keyed by the eventfd's identity */
	uint32_t gsi;
	int efd;                        /* our duplicate */
	int rfd;                        /* our duplicate, -1 for edge */
};

struct il_irqfds {
	struct il_token_map map;
};

#define MIN_BUCKETS 64u

static struct irqfd_rec *rec_of(struct il_token_link *l)
{
	return il_token_entry(l, struct irqfd_rec, link);
}

int il_irqfds_init(struct irqlink_vm *vm)
{
	struct il_irqfds *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (il_token_map_init(&t->map, MIN_BUCKETS)) {
		free(t);
		return -ENOMEM;
	}
	vm->irqfds = t;
	return 0;
}

/* The link pointing at the record with @token (and @gsi unless any_gsi),
 * or at the chain's terminating NULL. */
static struct il_token_link **find(struct il_irqfds *t, uint64_t token,
				   uint32_t gsi, bool any_gsi)
{
	struct il_token_link **p = il_token_map_chain(&t->map, token);

	while (*p && ((*p)->token != token ||
		      (!any_gsi && rec_of(*p)->gsi != gsi)))
		p = &(*p)->next;
	return p;
}

static void rec_free(struct irqfd_rec *rec)
{
	close(rec->efd);
	if (rec->rfd >= 0)
		close(rec->rfd);
	free(rec);
}

static int kvm_deassign(struct irqlink_vm *vm, int efd, uint32_t gsi)
{
	struct kvm_irqfd req = {
		.fd = (uint32_t)efd,
		.gsi = gsi,
		.flags = KVM_IRQFD_FLAG_DEASSIGN,
	};

	return il_kvm_ioctl(&vm->kvm, vm->fd, KVM_IRQFD, (unsigned long)&req);
}

static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int dup_fd(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	return r < 0 ? -errno : r;
}

/*
 * Both directions work on our own dup of the caller's fd, never on the
 * caller's fd number twice: another thread may close that number (or
 * reuse it for another eventfd) between our KVM_IRQFD and our identity
 * lookup, and the record would then disagree with KVM.
 */
static int detach_locked(struct irqlink_vm *vm, int efd, uint32_t gsi)
{
	struct il_token_link **p;
	uint64_t token;
	int fd = dup_fd(efd), r;

	if (fd < 0) {
		/* KVM's answer for the raw request (a bad fd, bad flags) is
		 * the errno the caller should see; a dup that failed with
		 * EMFILE while KVM would have succeeded is still refused,
		 * before anything changed. */
		return fd_open(efd) ? fd : -EBADF;
	}
	r = kvm_deassign(vm, fd, gsi);
	/* KVM accepted the fd as an eventfd, so it has a token; not finding
	 * one (no fdinfo) means we could not have recorded it either. */
	if (r == 0 && il_eventfd_token(fd, &token) == 0) {
		p = find(vm->irqfds, token, gsi, false);
		if (*p) {
			struct irqfd_rec *rec = rec_of(*p);

			il_token_map_unlink(&vm->irqfds->map, p);
			rec_free(rec);
		}
	}
	close(fd);
	return r;
}

static int assign_locked(struct irqlink_vm *vm, const struct kvm_irqfd *req)
{
	struct il_irqfds *t = vm->irqfds;
	struct il_token_link **p;
	struct irqfd_rec *rec;
	int r;

	r = il_token_map_reserve(&t->map);
	if (r)
		return r;
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	rec->gsi = req->gsi;
	rec->rfd = -1;

	/* Dup first (see above), but only fds that are open: a dup takes the
	 * lowest free number, which may be the caller's bad one, and KVM would
	 * then see our dup where the caller passed a closed fd. When an fd is
	 * not open or a dup fails, KVM judges the caller's raw request, so the
	 * errno is KVM's (bad flags before a bad fd, the eventfd before the
	 * resamplefd); if KVM would accept it, we undo that and report ours. */
	bool level = req->flags & KVM_IRQFD_FLAG_RESAMPLE;
	int dup_err = 0;

	rec->efd = -1;
	if (!fd_open((int)req->fd) || (level && !fd_open((int)req->resamplefd))) {
		dup_err = -EBADF;
	} else {
		rec->efd = dup_fd((int)req->fd);
		if (rec->efd < 0)
			dup_err = rec->efd;
		else if (level && (rec->rfd = dup_fd((int)req->resamplefd)) < 0)
			dup_err = rec->rfd;
	}
	if (dup_err) {
		r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_IRQFD, (unsigned long)req);
		if (r == 0) {
			(void)kvm_deassign(vm, (int)req->fd, req->gsi);
			r = dup_err;
		}
		goto fail_kvm;
	}
	struct kvm_irqfd own = *req;

	own.fd = (uint32_t)rec->efd;
	if (level)
		own.resamplefd = (uint32_t)rec->rfd;
	r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_IRQFD, (unsigned long)&own);
	if (r < 0)
		goto fail_kvm;
	/* From here on KVM holds the irqfd: every failure must detach it. */
	r = il_eventfd_token(rec->efd, &rec->link.token);
	if (r)
		goto fail_token;

	/* KVM allows one irqfd per eventfd, so a record with this token is
	 * stale: its irqfd was deassigned behind our back. Drop it. */
	p = find(t, rec->link.token, 0, true);
	if (*p) {
		struct irqfd_rec *stale = rec_of(*p);

		il_token_map_unlink(&t->map, p);
		rec_free(stale);
	}
	il_token_map_insert(&t->map, &rec->link);
	return 0;

fail_token:
	(void)kvm_deassign(vm, rec->efd, req->gsi);
fail_kvm:
	if (rec->rfd >= 0)
		close(rec->rfd);
	if (rec->efd >= 0)
		close(rec->efd);
	free(rec);
	return r;
}

int irqlink_irqfd_assign(struct irqlink_vm *vm, const struct kvm_irqfd *req)
{
	int r;

	if (!vm || !req)
		return -EINVAL;
	if (req->flags & KVM_IRQFD_FLAG_DEASSIGN)
		return irqlink_irqfd_detach(vm, (int)req->fd, req->gsi);
	pthread_mutex_lock(&vm->lock);
	r = assign_locked(vm, req);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_irqfd_attach_edge(struct irqlink_vm *vm, int efd, uint32_t gsi)
{
	struct kvm_irqfd req = { .fd = (uint32_t)efd, .gsi = gsi };

	return irqlink_irqfd_assign(vm, &req);
}

int irqlink_irqfd_attach_level(struct irqlink_vm *vm, int efd,
			       int resamplefd, uint32_t gsi)
{
	struct kvm_irqfd req = {
		.fd = (uint32_t)efd,
		.gsi = gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE,
		.resamplefd = (uint32_t)resamplefd,
	};

	return irqlink_irqfd_assign(vm, &req);
}

int irqlink_irqfd_detach(struct irqlink_vm *vm, int efd, uint32_t gsi)
{
	int r;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	r = detach_locked(vm, efd, gsi);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_irqfd_lookup(struct irqlink_vm *vm, int efd,
			 struct irqlink_irqfd_info *info)
{
	struct il_token_link *l;
	struct irqfd_rec *rec;
	uint64_t token;
	int r;

	if (!vm || !info)
		return -EINVAL;
	r = il_eventfd_token(efd, &token);
	if (r)
		return r;
	pthread_mutex_lock(&vm->lock);
	l = *find(vm->irqfds, token, 0, true);
	if (l) {
		rec = rec_of(l);
		info->token = l->token;
		info->gsi = rec->gsi;
		info->level = rec->rfd >= 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return l ? 1 : 0;
}

size_t irqlink_irqfd_count(struct irqlink_vm *vm)
{
	size_t n;

	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	n = vm->irqfds->map.count;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

void il_irqfds_teardown(struct irqlink_vm *vm)
{
	struct il_irqfds *t = vm->irqfds;
	struct il_token_link *l, *next;

	if (!t)
		return;
	for (l = il_token_map_drain(&t->map); l; l = next) {
		struct irqfd_rec *rec = rec_of(l);

		next = l->next;
		/* Deassign explicitly: closing our duplicate detaches nothing
		 * while the caller still holds the eventfd, and even a final
		 * close is noticed by KVM asynchronously, possibly after the
		 * routes change under the irqfd. */
		(void)kvm_deassign(vm, rec->efd, rec->gsi);
		rec_free(rec);
	}
	il_token_map_fini(&t->map);
	free(t);
	vm->irqfds = NULL;
}
