/* SPDX-License-Identifier: MIT */
/*
 * The device interrupt context: GET_IRQ_INFO, SET_IRQS validation and
 * dispatch, and the single-trigger ERR and REQ indexes.
 *
 * Theory of operation: SET_IRQS is checked in two stages, as vfio does.
 * First the header alone (argsz, index, start/count against the index's
 * size, flags, payload length): any failure is -EINVAL. Then the request is
 * dispatched on (index, action); a pair with no handler is -ENOTTY. Only the
 * handlers look at device state, so a malformed request never touches it.
 * Both wire layouts (ioctl: eventfds inline; vfio-user: eventfds out of
 * band) are reduced to one struct il_irq_req before dispatch.
 */
#include "device_internal.h"
#include "eventfd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IL_SHAPE_FLAGS IRQLINK_DEV_STRICT

int il_dev_signal(struct irqlink_dev *dev, int fd)
{
	if (fd < 0) {
		il_count(&dev->stats.dropped);
		return 0;
	}
	il_eventfd_signal(fd);
	il_count(&dev->stats.signals);
	return 1;
}

static uint32_t irq_count(const struct irqlink_dev *dev, uint32_t index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return dev->shape.intx_pin ? 1 : 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return dev->shape.msi_vectors;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return dev->shape.msix_vectors;
	case VFIO_PCI_ERR_IRQ_INDEX:
		return dev->shape.pcie ? 1 : 0;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	}
	return 0;
}

static int single_init(struct il_single *s)
{
	s->fd = -1;
	return -pthread_mutex_init(&s->lock, NULL);
}

static void single_fini(struct il_single *s)
{
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

static bool shape_valid(const struct irqlink_dev_shape *s)
{
	if (s->flags & ~IL_SHAPE_FLAGS)
		return false;
	if (s->msi_vectors > IRQLINK_MSI_MAX ||
	    (s->msi_vectors & (s->msi_vectors - 1)))
		return false;
	return s->msix_vectors <= IRQLINK_MSIX_MAX;
}

int irqlink_dev_create(const struct irqlink_dev_shape *shape,
		       struct irqlink_dev **out)
{
	struct irqlink_dev *dev;
	int r;

	if (!shape || !out || !shape_valid(shape))
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->shape = *shape;
	dev->irq_type = IL_IRQ_NONE;
	dev->epfd = dev->stopfd = -1;

	r = -pthread_mutex_init(&dev->ctl, NULL);
	if (r)
		goto err_free;
	r = il_intx_init(dev);
	if (r)
		goto err_ctl;
	r = il_msi_init(dev, &dev->msi, shape->msi_vectors);
	if (r)
		goto err_intx;
	r = il_msi_init(dev, &dev->msix, shape->msix_vectors);
	if (r)
		goto err_msi;
	r = single_init(&dev->err);
	if (r)
		goto err_msix;
	r = single_init(&dev->req);
	if (r)
		goto err_err;
	r = il_watcher_init(dev);
	if (r)
		goto err_req;
	*out = dev;
	return 0;

err_req:
	single_fini(&dev->req);
err_err:
	single_fini(&dev->err);
err_msix:
	il_msi_fini(dev, &dev->msix);
err_msi:
	il_msi_fini(dev, &dev->msi);
err_intx:
	il_intx_fini(dev);
err_ctl:
	pthread_mutex_destroy(&dev->ctl);
err_free:
	free(dev);
	return r;
}

void irqlink_dev_destroy(struct irqlink_dev *dev)
{
	if (!dev)
		return;
	/* The watcher goes first: it is the only other thread we own, and it
	 * reads the INTx unmask fd that il_intx_fini() closes. Then every
	 * producer leaves the bypass manager, which outlives us. */
	il_watcher_fini(dev);
	irqlink_dev_attach_bypass(dev, NULL);
	single_fini(&dev->req);
	single_fini(&dev->err);
	il_msi_fini(dev, &dev->msix);
	il_msi_fini(dev, &dev->msi);
	il_intx_fini(dev);
	pthread_mutex_destroy(&dev->ctl);
	free(dev);
}

int irqlink_dev_get_irq_info(struct irqlink_dev *dev,
			     struct vfio_irq_info *info)
{
	uint32_t f = VFIO_IRQ_INFO_EVENTFD;
	bool strict = dev->shape.flags & IRQLINK_DEV_STRICT;

	if (info->argsz < sizeof(*info) || info->index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	switch (info->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		f |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
		break;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (!dev->shape.msix_dynamic)
			f |= VFIO_IRQ_INFO_NORESIZE;
		if (!strict)
			f |= VFIO_IRQ_INFO_MASKABLE;
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
		if (!strict)
			f |= VFIO_IRQ_INFO_MASKABLE;
		/* fall through */
	default:
		f |= VFIO_IRQ_INFO_NORESIZE;
		break;
	}
	info->flags = f;
	info->count = irq_count(dev, info->index);
	return 0;
}

/* Header checks shared by both layouts; returns the element size of the
 * data type (0, 1 or 4) or -EINVAL. */
static int validate_header(const struct irqlink_dev *dev,
			   const struct vfio_irq_set *hdr)
{
	uint32_t n;

	if (hdr->argsz < sizeof(*hdr) || hdr->index >= VFIO_PCI_NUM_IRQS ||
	    hdr->count >= UINT32_MAX - hdr->start ||
	    (hdr->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK |
			    VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	n = irq_count(dev, hdr->index);
	if (hdr->start >= n || hdr->start + hdr->count > n)
		return -EINVAL;
	switch (hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL:
		return sizeof(uint8_t);
	case VFIO_IRQ_SET_DATA_EVENTFD:
		return sizeof(int32_t);
	}
	return -EINVAL;
}

static bool payload_fits(const struct vfio_irq_set *hdr, size_t elem)
{
	return (uint64_t)hdr->argsz - sizeof(*hdr) >=
	       (uint64_t)hdr->count * elem;
}

static int err_req_trigger(struct irqlink_dev *dev, struct il_single *s,
			   const struct il_irq_req *req)
{
	int fd, old = -1, r = 0;

	if (req->start != 0 || req->count > 1)
		return -EINVAL;

	switch (req->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		/* count 1 is loopback, count 0 releases; both need a trigger. */
		pthread_mutex_lock(&s->lock);
		if (s->fd < 0) {
			r = -EINVAL;
		} else if (req->count) {
			il_dev_signal(dev, s->fd);
		} else {
			old = s->fd;
			s->fd = -1;
		}
		pthread_mutex_unlock(&s->lock);
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (!req->count)
			return -EINVAL;
		pthread_mutex_lock(&s->lock);
		if (req->bools[0] && s->fd >= 0)
			il_dev_signal(dev, s->fd);
		pthread_mutex_unlock(&s->lock);
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		if (!req->count)
			return -EINVAL;
		fd = req->fds ? req->fds[0] : -1;
		if (fd < -1)
			return 0; /* the kernel ignores other negative fds */
		if (fd >= 0) {
			fd = il_eventfd_dup(fd);
			if (fd < 0)
				return fd;
		}
		pthread_mutex_lock(&s->lock);
		old = s->fd;
		s->fd = fd;
		pthread_mutex_unlock(&s->lock);
		break;
	}
	/* Closed after the unlock: once we return, nobody signals it. */
	if (old >= 0)
		close(old);
	return r;
}

typedef int (*set_irqs_fn)(struct irqlink_dev *, const struct il_irq_req *);

static int err_trigger(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	return err_req_trigger(dev, &dev->err, req);
}

static int req_trigger(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	return err_req_trigger(dev, &dev->req, req);
}

static set_irqs_fn handler(const struct irqlink_dev *dev, uint32_t index,
			   uint32_t action)
{
	bool strict = dev->shape.flags & IRQLINK_DEV_STRICT;

	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		switch (action) {
		case VFIO_IRQ_SET_ACTION_MASK:
			return il_intx_mask_action;
		case VFIO_IRQ_SET_ACTION_UNMASK:
			return il_intx_unmask_action;
		case VFIO_IRQ_SET_ACTION_TRIGGER:
			return il_intx_trigger;
		}
		return NULL;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		switch (action) {
		case VFIO_IRQ_SET_ACTION_MASK:
		case VFIO_IRQ_SET_ACTION_UNMASK:
			/* The kernel has no MSI masking; strict mode keeps that. */
			return strict ? NULL : il_msi_mask_action;
		case VFIO_IRQ_SET_ACTION_TRIGGER:
			return il_msi_trigger;
		}
		return NULL;
	case VFIO_PCI_ERR_IRQ_INDEX:
		return action == VFIO_IRQ_SET_ACTION_TRIGGER ? err_trigger : NULL;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return action == VFIO_IRQ_SET_ACTION_TRIGGER ? req_trigger : NULL;
	}
	return NULL;
}

static int dispatch(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	set_irqs_fn fn = handler(dev, req->index,
				 req->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK);
	int r;

	if (!fn)
		return -ENOTTY;
	pthread_mutex_lock(&dev->ctl);
	r = fn(dev, req);
	pthread_mutex_unlock(&dev->ctl);
	return r;
}

static struct il_irq_req make_req(const struct vfio_irq_set *set)
{
	return (struct il_irq_req){
		.flags = set->flags, .index = set->index,
		.start = set->start, .count = set->count,
	};
}

int irqlink_dev_set_irqs(struct irqlink_dev *dev,
			 const struct vfio_irq_set *set)
{
	struct il_irq_req req = make_req(set);
	int elem = validate_header(dev, set);

	if (elem < 0)
		return elem;
	if (!payload_fits(set, (size_t)elem))
		return -EINVAL;
	if (elem == sizeof(uint8_t))
		req.bools = set->data;
	else if (elem == sizeof(int32_t))
		req.fds = (const int *)(const void *)set->data;
	return dispatch(dev, &req);
}

int irqlink_dev_set_irqs_fds(struct irqlink_dev *dev,
			     const struct vfio_irq_set *set,
			     const int *fds, size_t nfds)
{
	struct il_irq_req req = make_req(set);
	int elem = validate_header(dev, set);

	if (elem < 0)
		return elem;
	if (elem == sizeof(int32_t)) {
		/* vfio-user: eventfds come as SCM_RIGHTS, one per vector, or
		 * none at all to de-assign the range. */
		if (nfds != 0 && nfds != set->count)
			return -EINVAL;
		if (nfds && !fds)
			return -EINVAL;
		req.fds = nfds ? fds : NULL;
	} else {
		if (nfds != 0 || !payload_fits(set, (size_t)elem))
			return -EINVAL;
		if (elem == sizeof(uint8_t))
			req.bools = set->data;
	}
	return dispatch(dev, &req);
}

static int single_signal(struct irqlink_dev *dev, struct il_single *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->fd >= 0 ? il_dev_signal(dev, s->fd) : 0;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int irqlink_dev_err_signal(struct irqlink_dev *dev)
{
	return single_signal(dev, &dev->err);
}

int irqlink_dev_req_signal(struct irqlink_dev *dev)
{
	return single_signal(dev, &dev->req);
}

void irqlink_dev_get_stats(struct irqlink_dev *dev,
			   struct irqlink_dev_stats *st)
{
	st->signals = atomic_load(&dev->stats.signals);
	st->intx_fires = atomic_load(&dev->stats.intx_fires);
	st->intx_unmasks = atomic_load(&dev->stats.intx_unmasks);
	st->msi_latched = atomic_load(&dev->stats.msi_latched);
	st->msi_replayed = atomic_load(&dev->stats.msi_replayed);
	st->dropped = atomic_load(&dev->stats.dropped);
	st->bypass_failures = atomic_load(&dev->stats.bypass_failures);
	st->msix_writes = atomic_load(&dev->stats.msix_writes);
	st->msix_write_errors = atomic_load(&dev->stats.msix_write_errors);
}
