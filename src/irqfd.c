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
#include "irqfd_internal.h"
#include "token_table.h"

struct irqfd_rec {
	uint64_t token;                 /* the eventfd's identity, the key */
	uint32_t gsi;
	int efd;                        /* our duplicate, or borrowed */
	int rfd;                        /* likewise, -1 for edge */
	bool borrowed;                  /* the caller's fds: not ours to close */
};

struct il_irqfds {
	struct il_token_table recs;     /* token -> struct irqfd_rec */
};

int il_irqfds_init(struct irqlink_vm *vm)
{
	struct il_irqfds *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	il_token_table_init(&t->recs);
	vm->irqfds = t;
	return 0;
}

/* The record with @token (and @gsi unless any_gsi), or NULL. A token has
 * at most one record (assign drops a stale one), so a record found with
 * another gsi means there is no match. */
static struct irqfd_rec *find(struct il_irqfds *t, uint64_t token,
			      uint32_t gsi, bool any_gsi)
{
	struct irqfd_rec *rec = il_token_table_find(&t->recs, token);

	return rec && (any_gsi || rec->gsi == gsi) ? rec : NULL;
}

static void rec_free(struct irqfd_rec *rec)
{
	if (!rec->borrowed) {
		close(rec->efd);
		if (rec->rfd >= 0)
			close(rec->rfd);
	}
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
 * lookup, and the record would then disagree with KVM. Not so a @borrow
 * caller's fd, which nobody closes before the detach.
 */
static int detach_locked(struct irqlink_vm *vm, int efd, uint32_t gsi,
			 uint64_t token, bool borrow)
{
	struct irqfd_rec *rec;
	int fd = borrow ? efd : dup_fd(efd), r;

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
	if (r == 0 && (token || il_eventfd_token(fd, &token) == 0)) {
		rec = find(vm->irqfds, token, gsi, false);
		if (rec) {
			(void)il_token_table_remove(&vm->irqfds->recs, token);
			rec_free(rec);
		}
	}
	if (!borrow)
		close(fd);
	return r;
}

/* @token: the eventfd's identity if the caller holds it, else 0. @borrow:
 * the caller keeps its fds open until the detach, so the record uses them
 * instead of dups. */
static int assign_locked(struct irqlink_vm *vm, const struct kvm_irqfd *req,
			 uint64_t token, bool borrow)
{
	struct il_irqfds *t = vm->irqfds;
	struct irqfd_rec *rec, *stale;
	int r;

	/* Before KVM_IRQFD, so that recording an irqfd KVM has accepted
	 * cannot fail for want of memory. */
	r = il_token_table_reserve(&t->recs);
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
	rec->borrowed = borrow;
	if (borrow) {
		rec->efd = (int)req->fd;
		if (level)
			rec->rfd = (int)req->resamplefd;
	} else if (!fd_open((int)req->fd) ||
		   (level && !fd_open((int)req->resamplefd))) {
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
	rec->token = token;
	r = token ? 0 : il_eventfd_token(rec->efd, &rec->token);
	if (r)
		goto fail_token;

	/* KVM allows one irqfd per eventfd, so a record with this token is
	 * stale: its irqfd was deassigned behind our back. Drop it. */
	stale = il_token_table_remove(&t->recs, rec->token);
	if (stale)
		rec_free(stale);
	/* Cannot fail: reserved above (a removal keeps the room), the token
	 * is now absent and non-zero. */
	(void)il_token_table_insert(&t->recs, rec->token, rec);
	return 0;

fail_token:
	(void)kvm_deassign(vm, rec->efd, req->gsi);
fail_kvm:
	if (!borrow && rec->rfd >= 0)
		close(rec->rfd);
	if (!borrow && rec->efd >= 0)
		close(rec->efd);
	free(rec);
	return r;
}

static int detach(struct irqlink_vm *vm, int efd, uint32_t gsi,
		  uint64_t token, bool borrow)
{
	int r;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	r = detach_locked(vm, efd, gsi, token, borrow);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static int assign(struct irqlink_vm *vm, const struct kvm_irqfd *req,
		  uint64_t token, bool borrow)
{
	int r;

	if (!vm || !req)
		return -EINVAL;
	if (req->flags & KVM_IRQFD_FLAG_DEASSIGN)
		return detach(vm, (int)req->fd, req->gsi, token, borrow);
	pthread_mutex_lock(&vm->lock);
	r = assign_locked(vm, req, token, borrow);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_irqfd_assign(struct irqlink_vm *vm, const struct kvm_irqfd *req)
{
	return assign(vm, req, 0, false);
}

int il_irqfd_attach_token(struct irqlink_vm *vm, int efd, int resamplefd,
			  uint32_t gsi, uint64_t token)
{
	struct kvm_irqfd req = { .fd = (uint32_t)efd, .gsi = gsi };

	if (resamplefd >= 0) {
		req.flags = KVM_IRQFD_FLAG_RESAMPLE;
		req.resamplefd = (uint32_t)resamplefd;
	}
	return assign(vm, &req, token, true);
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

int il_irqfd_detach_token(struct irqlink_vm *vm, int efd, uint32_t gsi,
			  uint64_t token)
{
	return detach(vm, efd, gsi, token, true);
}

int irqlink_irqfd_detach(struct irqlink_vm *vm, int efd, uint32_t gsi)
{
	return detach(vm, efd, gsi, 0, false);
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
	rec = find(vm->irqfds, token, 0, true);
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
	n = il_token_table_count(&vm->irqfds->recs);
	pthread_mutex_unlock(&vm->lock);
	return n;
}

static void teardown_rec(uint64_t token, void *ptr, void *opaque)
{
	struct irqfd_rec *rec = ptr;

	(void)token;
	/* Deassign explicitly: closing our duplicate detaches nothing while
	 * the caller still holds the eventfd, and even a final close is
	 * noticed by KVM asynchronously, possibly after the routes change
	 * under the irqfd. */
	(void)kvm_deassign(opaque, rec->efd, rec->gsi);
	rec_free(rec);
}

void il_irqfds_teardown(struct irqlink_vm *vm)
{
	struct il_irqfds *t = vm->irqfds;

	if (!t)
		return;
	il_token_table_drain(&t->recs, teardown_rec, vm);
	free(t);
	vm->irqfds = NULL;
}
