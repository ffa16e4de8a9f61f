/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's ERR and REQ interrupts: the device's error report and the
 * host's request for the device back, carried to the VMM.
 *
 * Theory of operation: each of the two is a single trigger with no guest
 * side (no capability, no route, no mask), so the glue gives the device an
 * eventfd of its own once, at creation, and keeps it until destroy. What a
 * signal means for the guest is the VMM's decision (<irqlink/pci.h>, "ERR
 * and REQ"), so the glue only counts what the VMM takes. The eventfds stay
 * readable until taken, which is what lets a VMM poll them from its loop.
 */
#include "pci_internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "eventfd.h"

/* errreq[i] is index VFIO_PCI_ERR_IRQ_INDEX + i. */
_Static_assert(VFIO_PCI_REQ_IRQ_INDEX == VFIO_PCI_ERR_IRQ_INDEX + 1 &&
	       IL_PCI_ERRREQ == 2, "ERR and REQ are adjacent indexes");

/* Whether the device has this index: count 1. vfio answers GET_IRQ_INFO for
 * ERR on a conventional PCI device with EINVAL instead of count 0, so that
 * is "none" too. Returns 1, 0 or -errno. */
static int has_index(struct irqlink_pci *p, uint32_t index)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };
	int r = p->ops->get_irq_info(p->opaque, &info);

	if (r == -EINVAL)
		return 0;
	if (r)
		return r;
	return info.count == 1;
}

static int errreq_open(struct irqlink_pci *p, unsigned int i)
{
	uint32_t index = VFIO_PCI_ERR_IRQ_INDEX + i;
	int fd, r;

	r = has_index(p, index);
	if (r <= 0)
		return r;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_EVENTFD |
			    VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 1, &fd);
	if (r) {
		close(fd);
		/* "Fewer vectors" means none here: a single trigger cannot
		 * be retried with less. */
		return r < 0 ? r : -EIO;
	}
	p->errreq[i] = fd;
	return 0;
}

int il_pci_errreq_init(struct irqlink_pci *p)
{
	unsigned int i;
	int r;

	for (i = 0; i < IL_PCI_ERRREQ; i++) {
		r = errreq_open(p, i);
		if (r)
			return r;
	}
	return 0;
}

int il_pci_errreq_replay(struct irqlink_pci *p)
{
	int first = 0;

	for (unsigned int i = 0; i < IL_PCI_ERRREQ; i++) {
		int r;

		if (p->errreq[i] < 0)
			continue;
		r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER,
				    VFIO_PCI_ERR_IRQ_INDEX + i, 0, 1,
				    &p->errreq[i]);
		first = il_pci_err(p, first, r > 0 ? -EIO : r);
	}
	return first;
}

void il_pci_errreq_fini(struct irqlink_pci *p)
{
	unsigned int i;

	for (i = 0; i < IL_PCI_ERRREQ; i++) {
		if (p->errreq[i] < 0)
			continue;
		/* Released at the device first: it stops signalling and drops
		 * its duplicate, so nothing of ours outlives the glue. If it
		 * refuses there is no one left to tell; ours is closed all
		 * the same. */
		(void)il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_NONE |
				      VFIO_IRQ_SET_ACTION_TRIGGER,
				      VFIO_PCI_ERR_IRQ_INDEX + i, 0, 0, NULL);
		close(p->errreq[i]);
		p->errreq[i] = -1;
	}
}

int irqlink_pci_errreq_fd(struct irqlink_pci *pci, unsigned int index)
{
	int r;

	if (!pci || index < VFIO_PCI_ERR_IRQ_INDEX ||
	    index > VFIO_PCI_REQ_IRQ_INDEX)
		return -EINVAL;
	index -= VFIO_PCI_ERR_IRQ_INDEX;
	pthread_mutex_lock(&pci->lock);
	r = pci->errreq[index] >= 0 ? pci->errreq[index] : -ENOENT;
	pthread_mutex_unlock(&pci->lock);
	return r;
}

/* Read one eventfd's count into *@n: 0 without the index or on failure,
 * so the caller always has what was really taken. */
static int take_one(struct irqlink_pci *p, unsigned int i, uint64_t *n)
{
	int r = 0;

	*n = 0;
	if (p->errreq[i] >= 0)
		r = il_eventfd_take(p->errreq[i], n);
	if (r < 0) {
		*n = 0;
		return r;
	}
	return 0;
}

int irqlink_pci_errreq_take(struct irqlink_pci *pci, uint64_t *err,
			    uint64_t *req)
{
	int r;

	if (!pci || !err || !req)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	r = take_one(pci, 0, err);
	r = il_first(r, take_one(pci, 1, req));
	pci->stats.err_signals += *err;
	pci->stats.req_signals += *req;
	pthread_mutex_unlock(&pci->lock);
	return r;
}
