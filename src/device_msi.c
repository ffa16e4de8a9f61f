/* SPDX-License-Identifier: MIT */
/*
 * MSI and MSI-X: edge interrupts, one eventfd per vector, with the mask and
 * pending bits the kernel leaves out.
 *
 * Theory of operation: each vector is a small state machine under its own
 * lock: allocated (has a host vector, i.e. the index is enabled and covers
 * it), masked (its own mask bit), fmasked (the MSI-X function mask, copied
 * into every vector so the raise path needs one lock), pending, and the
 * eventfd. A raise on an allocated vector either signals (unmasked) or sets
 * pending (masked); unmasking a pending vector signals it once, however many
 * times it fired while masked, which is what the PCI pending bit means.
 *
 * A device that sends MSI-X as its own memory write (a writer is set,
 * irqlink_dev_set_msix_writer()) keeps all of the above; only the last
 * step differs: where the eventfd would be signalled, the caller calls the
 * writer once the vector's lock is dropped. The write may be a message to
 * another process that waits for its reply, and that process may be about
 * to mask this very vector: holding the lock across it would deadlock.
 *
 * Masking never touches the eventfd. QEMU swaps a masked vector's eventfd
 * for one it polls itself; that detaches the in-kernel irqfd (and any IRQ
 * bypass) on every mask, so the model holds the message back instead.
 *
 * Enabling follows vfio: the first DATA_EVENTFD allocates start + count
 * vectors (or reports how many the host could give), later ones set or
 * clear eventfds within the block, and a failure part-way clears the whole
 * block up to the failing vector.
 */
#include "device_internal.h"
#include "eventfd.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int il_msi_init(struct irqlink_dev *dev, struct il_msi_cap *cap, uint32_t nvec)
{
	uint32_t i;
	int r;

	cap->nvec = 0;
	cap->vec = NULL;
	if (!nvec)
		return 0;
	cap->vec = calloc(nvec, sizeof(*cap->vec));
	if (!cap->vec)
		return -ENOMEM;
	for (i = 0; i < nvec; i++) {
		r = -pthread_mutex_init(&cap->vec[i].lock, NULL);
		if (r) {
			while (i--)
				pthread_mutex_destroy(&cap->vec[i].lock);
			free(cap->vec);
			cap->vec = NULL;
			return r;
		}
		cap->vec[i].fd = -1;
		il_producer_init(dev, &cap->vec[i].prod, false);
	}
	cap->nvec = nvec;
	return 0;
}

void il_msi_fini(struct irqlink_dev *dev, struct il_msi_cap *cap)
{
	uint32_t i;

	(void)dev;
	for (i = 0; i < cap->nvec; i++) {
		if (cap->vec[i].fd >= 0)
			close(cap->vec[i].fd);
		pthread_mutex_destroy(&cap->vec[i].lock);
	}
	free(cap->vec);
}

static struct il_msi_cap *cap_of(struct irqlink_dev *dev, unsigned int index)
{
	if (index == VFIO_PCI_MSI_IRQ_INDEX)
		return &dev->msi;
	if (index == VFIO_PCI_MSIX_IRQ_INDEX)
		return &dev->msix;
	return NULL;
}

/* Signal a vector that is allowed to fire now. Caller holds v->lock. */
static bool held(const struct il_vector *v)
{
	return v->masked || v->fmasked || v->paused;
}

/* Signal, or leave the write to the caller (IL_MSI_WRITE). */
static int deliver_locked(struct irqlink_dev *dev, struct il_vector *v)
{
	if (dev->msix_writer && v >= dev->msix.vec &&
	    v < dev->msix.vec + dev->msix.nvec)
		return IL_MSI_WRITE;
	return il_dev_signal(dev, v->fd);
}

static int send_locked(struct irqlink_dev *dev, struct il_vector *v)
{
	if (held(v)) {
		v->pending = true;
		il_count(&dev->stats.msi_latched);
		return 0;
	}
	return deliver_locked(dev, v);
}

int il_msi_replay_locked(struct irqlink_dev *dev, struct il_vector *v)
{
	if (!v->pending || held(v))
		return 0;
	v->pending = false;
	il_count(&dev->stats.msi_replayed);
	return deliver_locked(dev, v);
}

int il_msi_finish(struct irqlink_dev *dev, struct il_vector *v, int r)
{
	int w;

	if (r != IL_MSI_WRITE)
		return r;
	w = dev->msix_writer(dev->msix_writer_opaque,
			     (unsigned int)(v - dev->msix.vec));
	if (w) {
		il_count(&dev->stats.msix_write_errors);
		return 0;
	}
	il_count(&dev->stats.msix_writes);
	return 1;
}

int irqlink_dev_msi_fire(struct irqlink_dev *dev, unsigned int index,
			 unsigned int vector)
{
	struct il_msi_cap *cap = cap_of(dev, index);
	struct il_vector *v;
	int r = 0;

	if (!cap || vector >= cap->nvec)
		return -EINVAL;
	v = &cap->vec[vector];
	pthread_mutex_lock(&v->lock);
	if (v->allocated)
		r = send_locked(dev, v);
	else
		il_count(&dev->stats.dropped);
	pthread_mutex_unlock(&v->lock);
	return il_msi_finish(dev, v, r);
}

int irqlink_dev_msi_mask(struct irqlink_dev *dev, unsigned int index,
			 unsigned int vector)
{
	struct il_msi_cap *cap = cap_of(dev, index);
	struct il_vector *v;

	if (!cap || vector >= cap->nvec)
		return -EINVAL;
	v = &cap->vec[vector];
	pthread_mutex_lock(&v->lock);
	v->masked = true;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

int irqlink_dev_msi_unmask(struct irqlink_dev *dev, unsigned int index,
			   unsigned int vector)
{
	struct il_msi_cap *cap = cap_of(dev, index);
	struct il_vector *v;
	int r;

	if (!cap || vector >= cap->nvec)
		return -EINVAL;
	v = &cap->vec[vector];
	pthread_mutex_lock(&v->lock);
	v->masked = false;
	r = il_msi_replay_locked(dev, v);
	pthread_mutex_unlock(&v->lock);
	return il_msi_finish(dev, v, r);
}

int irqlink_dev_msix_set_function_mask(struct irqlink_dev *dev, bool mask)
{
	struct il_msi_cap *cap = &dev->msix;
	uint32_t i;
	int n = 0;

	if (!cap->nvec)
		return -EINVAL;
	pthread_mutex_lock(&dev->ctl);
	cap->function_mask = mask;
	for (i = 0; i < cap->nvec; i++) {
		struct il_vector *v = &cap->vec[i];

		int r;

		pthread_mutex_lock(&v->lock);
		v->fmasked = mask;
		r = il_msi_replay_locked(dev, v);
		pthread_mutex_unlock(&v->lock);
		n += il_msi_finish(dev, v, r);
	}
	pthread_mutex_unlock(&dev->ctl);
	return n;
}

int irqlink_dev_read_pending(struct irqlink_dev *dev, unsigned int index,
			     uint64_t *bits, size_t nwords)
{
	struct il_msi_cap *cap = cap_of(dev, index);
	uint32_t i;

	if (!cap || !cap->nvec || !bits || nwords < (cap->nvec + 63) / 64)
		return -EINVAL;
	for (i = 0; i < (cap->nvec + 63) / 64; i++)
		bits[i] = 0;
	for (i = 0; i < cap->nvec; i++) {
		struct il_vector *v = &cap->vec[i];
		bool p;

		pthread_mutex_lock(&v->lock);
		p = v->pending;
		pthread_mutex_unlock(&v->lock);
		if (p)
			bits[i / 64] |= UINT64_C(1) << (i % 64);
	}
	return (int)cap->nvec;
}

/* Replace vector @i's eventfd with our dup of @fd (fd < 0: clear it). The
 * swap is one locked step, so a raise lands on the old fd or the new one,
 * never on neither. On failure the vector is left cleared, as vfio leaves
 * it. Caller holds dev->ctl. */
static int set_vector(struct irqlink_dev *dev, struct il_msi_cap *cap,
		      bool msix, uint32_t i, int fd, int fdinfo_dir)
{
	struct il_vector *v = &cap->vec[i];
	int nfd = -1, old, r = 0;
	uint64_t token = 0;

	if (fd >= 0 && !v->allocated) {
		/* Past the enabled block: only dynamic MSI-X may grow. */
		if (!msix || !dev->shape.msix_dynamic)
			r = -EINVAL;
		else if (dev->shape.host_vectors &&
			 cap->allocated >= dev->shape.host_vectors)
			r = -ENOSPC;
	}
	if (!r && fd >= 0) {
		nfd = il_producer_dup(dev, fdinfo_dir, fd, &token);
		if (nfd < 0)
			r = nfd;
	}
	/* The old eventfd leaves the bypass manager before it leaves us. */
	il_producer_drop(dev, &v->prod);
	pthread_mutex_lock(&v->lock);
	old = v->fd;
	v->fd = r ? -1 : nfd;
	if (nfd >= 0 && !v->allocated) {
		v->allocated = true;
		v->pending = false;
		cap->allocated++;
	}
	pthread_mutex_unlock(&v->lock);
	if (old >= 0)
		close(old);
	il_producer_update(dev, &v->prod, r ? -1 : nfd, token);
	return r;
}

static int set_block(struct irqlink_dev *dev, struct il_msi_cap *cap,
		     bool msix, const struct il_irq_req *req)
{
	uint32_t i, j;
	int r = 0, dir = -1;

	/* Many identities to read: see il_fdinfo_dir_open(). Without the
	 * dirfd each read walks the path instead. */
	if (dev->bypass && req->fds && req->count > 1)
		dir = il_fdinfo_dir_open();
	for (i = 0, j = req->start; i < req->count; i++, j++) {
		r = set_vector(dev, cap, msix, j, req->fds ? req->fds[i] : -1,
			       dir);
		if (r)
			break;
	}
	if (r)
		for (i = req->start; i < j; i++)
			set_vector(dev, cap, msix, i, -1, -1);
	if (dir >= 0)
		close(dir);
	return r;
}

static int enable(struct irqlink_dev *dev, struct il_msi_cap *cap,
		  uint32_t index, uint32_t nvec)
{
	uint32_t i;

	/* pci_alloc_irq_vectors(dev, 1, 0, ...) is a range error. */
	if (!nvec)
		return -ERANGE;
	/* Fewer host vectors than asked: say how many, change nothing. */
	if (dev->shape.host_vectors && nvec > dev->shape.host_vectors)
		return (int)dev->shape.host_vectors;
	for (i = 0; i < nvec; i++) {
		struct il_vector *v = &cap->vec[i];

		pthread_mutex_lock(&v->lock);
		v->allocated = true;
		v->pending = false;
		pthread_mutex_unlock(&v->lock);
	}
	cap->allocated = nvec;
	dev->irq_type = index;
	return 0;
}

static void disable(struct irqlink_dev *dev, struct il_msi_cap *cap)
{
	uint32_t i;

	for (i = 0; i < cap->nvec; i++) {
		struct il_vector *v = &cap->vec[i];
		int old;

		il_producer_drop(dev, &v->prod);
		pthread_mutex_lock(&v->lock);
		old = v->fd;
		v->fd = -1;
		v->allocated = false;
		v->pending = false;
		pthread_mutex_unlock(&v->lock);
		if (old >= 0)
			close(old);
	}
	cap->allocated = 0;
	dev->irq_type = IL_IRQ_NONE;
}

int irqlink_dev_set_msix_writer(struct irqlink_dev *dev,
				irqlink_msix_writer_fn fn, void *opaque)
{
	int r = 0;

	if (!dev || !dev->msix.nvec)
		return -EINVAL;
	pthread_mutex_lock(&dev->ctl);
	/* Enabling publishes it to the raise path (through each vector's
	 * lock), so it may change only while no vector can fire. */
	if (dev->irq_type == VFIO_PCI_MSIX_IRQ_INDEX) {
		r = -EBUSY;
	} else {
		dev->msix_writer = fn;
		dev->msix_writer_opaque = fn ? opaque : NULL;
	}
	pthread_mutex_unlock(&dev->ctl);
	return r;
}

int il_msi_trigger(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	struct il_msi_cap *cap = cap_of(dev, req->index);
	bool msix = req->index == VFIO_PCI_MSIX_IRQ_INDEX;
	bool on = dev->irq_type == req->index;
	uint32_t i;
	int r;

	if (on && !req->count && (req->flags & VFIO_IRQ_SET_DATA_NONE)) {
		disable(dev, cap);
		return 0;
	}
	if (!on && dev->irq_type != IL_IRQ_NONE)
		return -EINVAL;

	if (req->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		if (on)
			return set_block(dev, cap, msix, req);
		r = enable(dev, cap, req->index, req->start + req->count);
		if (r)
			return r;
		r = set_block(dev, cap, msix, req);
		if (r)
			disable(dev, cap);
		return r;
	}

	if (!on)
		return -EINVAL;
	/* Loopback: as if the device sent each selected vector; vectors with
	 * no eventfd are skipped, as the kernel skips them. */
	for (i = req->start; i < req->start + req->count; i++) {
		struct il_vector *v = &cap->vec[i];

		if ((req->flags & VFIO_IRQ_SET_DATA_BOOL) &&
		    !req->bools[i - req->start])
			continue;
		int r = 0;

		pthread_mutex_lock(&v->lock);
		if (v->allocated && v->fd >= 0)
			r = send_locked(dev, v);
		pthread_mutex_unlock(&v->lock);
		(void)il_msi_finish(dev, v, r);
	}
	return 0;
}

int il_msi_mask_action(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	uint32_t i;

	if (req->flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return -ENOTTY; /* no mask/unmask eventfds for MSI */
	for (i = req->start; i < req->start + req->count; i++) {
		if ((req->flags & VFIO_IRQ_SET_DATA_BOOL) &&
		    !req->bools[i - req->start])
			continue;
		if (req->flags & VFIO_IRQ_SET_ACTION_MASK)
			irqlink_dev_msi_mask(dev, req->index, i);
		else
			irqlink_dev_msi_unmask(dev, req->index, i);
	}
	return 0;
}
