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
#include "kvm_ioctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <irqlink/irqfd.h>

#include "eventfd.h"

struct irqfd_rec {
	struct irqfd_rec *next;         /* hash chain */
	uint64_t token;
	uint32_t gsi;
	int efd;                        /* our duplicate */
	int rfd;                        /* our duplicate, -1 for edge */
};

struct il_irqfds {
	struct irqfd_rec **bucket;
	size_t nbuckets;                /* a power of two */
	size_t count;
};

#define MIN_BUCKETS 64u

int il_irqfds_init(struct irqlink_vm *vm)
{
	struct il_irqfds *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->bucket = calloc(MIN_BUCKETS, sizeof(*t->bucket));
	if (!t->bucket) {
		free(t);
		return -ENOMEM;
	}
	t->nbuckets = MIN_BUCKETS;
	vm->irqfds = t;
	return 0;
}

static size_t hash(const struct il_irqfds *t, uint64_t token)
{
	return (size_t)((token * 0x9E3779B97F4A7C15ull) >> 32) &
	       (t->nbuckets - 1);
}

/* Keep the load factor at most 1, so lookups stay O(1). Called before
 * asking KVM, so running out of memory never has to undo a KVM call. */
static int reserve_one(struct il_irqfds *t)
{
	struct irqfd_rec **nb, *r, *next;
	size_t i, n = t->nbuckets * 2, old = t->nbuckets;

	if (t->count < t->nbuckets)
		return 0;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	t->nbuckets = n;
	for (i = 0; i < old; i++) {
		for (r = t->bucket[i]; r; r = next) {
			size_t h = hash(t, r->token);

			next = r->next;
			r->next = nb[h];
			nb[h] = r;
		}
	}
	free(t->bucket);
	t->bucket = nb;
	return 0;
}

/* The link pointing at the record with @token (and @gsi unless any_gsi),
 * or at the chain's terminating NULL. */
static struct irqfd_rec **find(struct il_irqfds *t, uint64_t token,
			       uint32_t gsi, bool any_gsi)
{
	struct irqfd_rec **p = &t->bucket[hash(t, token)];

	while (*p && ((*p)->token != token || (!any_gsi && (*p)->gsi != gsi)))
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
	struct irqfd_rec **p, *rec;
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
		rec = *p;
		if (rec) {
			*p = rec->next;
			vm->irqfds->count--;
			rec_free(rec);
		}
	}
	close(fd);
	return r;
}

static int assign_locked(struct irqlink_vm *vm, const struct kvm_irqfd *req)
{
	struct il_irqfds *t = vm->irqfds;
	struct irqfd_rec *rec, **p;
	int r;

	r = reserve_one(t);
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
	r = il_eventfd_token(rec->efd, &rec->token);
	if (r)
		goto fail_token;

	/* KVM allows one irqfd per eventfd, so a record with this token is
	 * stale: its irqfd was deassigned behind our back. Drop it. */
	p = find(t, rec->token, 0, true);
	if (*p) {
		struct irqfd_rec *stale = *p;

		*p = stale->next;
		t->count--;
		rec_free(stale);
	}
	p = &t->bucket[hash(t, rec->token)];
	rec->next = *p;
	*p = rec;
	t->count++;
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
	struct irqfd_rec *rec;
	uint64_t token;
	int r;

	if (!vm || !info)
		return -EINVAL;
	r = il_eventfd_token(efd, &token);
	if (r)
		return r;
	pthread_mutex_lock(&vm->lock);
	rec = *find(vm->irqfds, token, 0, true);
	if (rec) {
		info->token = rec->token;
		info->gsi = rec->gsi;
		info->level = rec->rfd >= 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return rec ? 1 : 0;
}

size_t irqlink_irqfd_count(struct irqlink_vm *vm)
{
	size_t n;

	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	n = vm->irqfds->count;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

void il_irqfds_teardown(struct irqlink_vm *vm)
{
	struct il_irqfds *t = vm->irqfds;
	struct irqfd_rec *rec, *next;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		for (rec = t->bucket[i]; rec; rec = next) {
			next = rec->next;
			/* Deassign explicitly: closing our duplicate detaches
			 * nothing while the caller still holds the eventfd, and
			 * even a final close is noticed by KVM asynchronously,
			 * possibly after the routes change under the irqfd. */
			(void)kvm_deassign(vm, rec->efd, rec->gsi);
			rec_free(rec);
		}
	}
	free(t->bucket);
	free(t);
	vm->irqfds = NULL;
}
