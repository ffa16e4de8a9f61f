/* SPDX-License-Identifier: MIT */
/*
 * MSI and MSI-X vectors of the PCI glue: the guest view of each vector
 * reconciled with its host view. Shared by pci_msi.c and pci_msix.c, which
 * fill in the guest view (message and mask bit per vector) from config
 * space or the MSI-X table and then call il_pci_irqs_sync().
 *
 * Theory of operation: a sync runs four steps, always in this order, for the
 * vectors whose guest view changed:
 *
 *   1. enable state: the index is enabled at the device (SET_IRQS TRIGGER,
 *      no eventfds yet) or disabled and every host vector released;
 *   2. routes, in one batch: a vector that needs a host vector gets an
 *      eventfd and a sink (a consumer with its route); a vector the
 *      guest has unmasked (its own bit and the Function Mask clear) gets
 *      its route pointed at the guest's current message. One commit;
 *   3. triggers: new eventfds go to the device (SET_IRQS DATA_EVENTFD), in
 *      contiguous runs, before the commit (see il_pci_irqs_sync());
 *   4. masks: the device's mask bits are set to guest mask OR function mask
 *      (SET_IRQS MASK/UNMASK, in runs).
 *
 * Unmasking last is what makes a pending vector safe to replay: the device
 * sends a held message only once the eventfd is in place and the route
 * carries the message the guest wrote before unmasking. A masked vector's
 * route is left alone (the device is holding its fires), so a guest that
 * masks, rewrites and unmasks an entry costs one commit, at the unmask.
 */
#include "eventfd.h"
#include "pci_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <irqlink/consumer.h>
#include <irqlink/routes.h>

int il_pci_irqs_init(struct il_pci_irqs *q, uint32_t index, uint32_t nvec,
		     uint32_t dev_max, bool lazy)
{
	uint32_t i;

	q->vec = calloc(nvec, sizeof(*q->vec));
	if (!q->vec)
		return -ENOMEM;
	for (i = 0; i < nvec; i++)
		q->vec[i].efd = -1;
	q->index = index;
	q->nvec = nvec;
	q->dev_max = dev_max < nvec ? dev_max : nvec;
	q->lazy = lazy;
	return 0;
}

/* Give back every host vector. The device must not hold them any more (it
 * keeps its own dups, so it could not signal a closed fd, but it would
 * signal into a route that no longer exists). */
static void release(struct irqlink_pci *p, struct il_pci_irqs *q)
{
	uint32_t i;
	bool batch = false;

	if (!q->nhost)
		return;
	if (p->vm)
		batch = irqlink_routes_begin(p->vm) == 0;
	for (i = 0; i < q->nvec; i++)
		if (q->vec[i].sink.open)
			il_irq_sink_close(&q->vec[i].sink);
	if (batch) {
		il_pci_err(p, 0, irqlink_routes_commit(p->vm));
		p->stats.route_batches++;
	}
	for (i = 0; i < q->nvec; i++) {
		struct il_pci_vec *x = &q->vec[i];

		if (x->efd >= 0) {
			close(x->efd);
			x->efd = -1;
			p->stats.host_vectors--;
			q->nhost--;
		}
		x->dev_fd = false;
	}
}

static int dev_disable(struct irqlink_pci *p, struct il_pci_irqs *q)
{
	int r;

	if (!q->dev_on)
		return 0;
	r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_NONE |
			    VFIO_IRQ_SET_ACTION_TRIGGER, q->index, 0, 0, NULL);
	/* Even if the device refused, treat the index as gone on our side:
	 * release() closes our eventfds, and the device only holds dups. */
	q->dev_on = false;
	q->dev_want = q->dev_count = 0;
	return il_pci_err(p, 0, r);
}

static int dev_enable(struct irqlink_pci *p, struct il_pci_irqs *q,
		      uint32_t want)
{
	uint32_t n = want < q->dev_max ? want : q->dev_max;
	int r, tries;

	if (!n)
		return il_pci_err(p, 0, -ENODEV);
	/* A positive answer is vfio's "the host has only this many": ask
	 * again for that many (once; a second positive answer is an error). */
	for (tries = 0; tries < 2; tries++) {
		r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER, q->index,
				    0, n, NULL);
		if (r <= 0 || (uint32_t)r >= n)
			break;
		n = (uint32_t)r;
	}
	if (r)
		return il_pci_err(p, 0, r > 0 ? -ENOSPC : r);
	q->dev_on = true;
	q->dev_want = want;
	q->dev_count = n;
	return 0;
}

/* A message a lazy vector may get a route for: one aimed at the x86
 * interrupt window (0xFEExxxxx). An entry unmasked with anything else --
 * typically a table the driver has not written yet -- would only waste a
 * GSI of KVM's 4096 on a route that can deliver nothing. (Without a VM
 * there is no route to waste, and the caller delivers what it likes.) */
static bool msi_valid(const struct kvm_msi *msg)
{
	return (msg->address_lo & 0xfff00000u) == 0xfee00000u;
}

/* Step 2a: eventfds and sinks (routes + irqfds, or consumers), staged in
 * a routing batch that sync_commit() closes. *@batch says whether one was
 * opened (there is none without a VM). */
static int sync_sinks(struct irqlink_pci *p, struct il_pci_irqs *q,
		      bool fmask, uint32_t first, uint32_t n, bool *batch)
{
	uint32_t i;
	int err = 0, r, dir = -1;
	bool dir_tried = false;

	*batch = false;
	if (p->vm) {
		r = irqlink_routes_begin(p->vm);
		if (r)
			return il_pci_err(p, 0, r);
		*batch = true;
	}
	for (i = first; i < first + n; i++) {
		struct il_pci_vec *x = &q->vec[i];
		/* Under the Function Mask every vector is masked: a driver
		 * that writes its whole table with it set and then clears it
		 * gets every host vector, and every route, in one batch. */
		bool masked = x->masked || fmask;
		bool need = i < q->dev_count &&
			(!q->lazy || x->efd >= 0 ||
			 (!masked && (!p->vm || msi_valid(&x->msg))));
		int efd;

		if (need && x->efd < 0) {
			efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (efd < 0) {
				err = il_pci_err(p, err, -errno);
				continue;
			}
			if (*batch) {
				/* Each new sink reads its eventfd's identity
				 * (see il_fdinfo_dir_open()); without the
				 * dirfd each read walks the path. */
				if (!dir_tried && n > 1)
					dir = il_fdinfo_dir_open();
				dir_tried = true;
				r = il_irq_sink_open_edge(&p->sinks, &x->sink,
							  efd, &x->msg, dir);
				if (r) {
					close(efd);
					err = il_pci_err(p, err, r);
					continue;
				}
			}
			x->efd = efd;
			x->dev_fd = false;
			p->stats.host_vectors++;
			q->nhost++;
		} else if (x->sink.open && !masked) {
			err = il_pci_err(p, err, il_irq_sink_set_msi(&x->sink,
								     &x->msg));
		}
	}
	if (dir >= 0)
		close(dir);
	return err;
}

/* Step 2b: the one commit, then let the sinks take their fast path. */
static int sync_commit(struct irqlink_pci *p, struct il_pci_irqs *q,
		       uint32_t first, uint32_t n, bool batch)
{
	uint32_t i;
	int err = 0, r;

	if (!batch)
		return 0;
	r = irqlink_routes_commit(p->vm);
	if (r) {
		/* KVM kept its old table; do not leave our changes staged to
		 * ride along with someone else's commit. */
		irqlink_routes_abort(p->vm);
		return il_pci_err(p, 0, r);
	}
	p->stats.route_batches++;
	for (i = first; i < first + n; i++)
		il_irq_sink_settle_begin(&q->vec[i].sink);
	for (i = first; i < first + n; i++) {
		if (!q->vec[i].sink.open)
			continue;
		r = il_irq_sink_settle(&p->sinks, &q->vec[i].sink);
		if (r) {
			p->stats.not_in_kernel++;
			err = il_pci_err(p, err, r);
		}
	}
	return err;
}

/* Step 3: hand new eventfds to the device, one SET_IRQS per run. */
static int sync_triggers(struct irqlink_pci *p, struct il_pci_irqs *q,
			 uint32_t first, uint32_t n)
{
	uint32_t i = first, start, k;
	int err = 0, r, *fds;

	fds = malloc(n * sizeof(*fds));
	if (!fds)
		return il_pci_err(p, 0, -ENOMEM);
	while (i < first + n) {
		if (q->vec[i].efd < 0 || q->vec[i].dev_fd) {
			i++;
			continue;
		}
		start = i;
		while (i < first + n && q->vec[i].efd >= 0 &&
		       !q->vec[i].dev_fd) {
			fds[i - start] = q->vec[i].efd;
			i++;
		}
		r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER, q->index,
				    start, i - start, fds);
		if (r) {
			err = il_pci_err(p, err, r > 0 ? -ENOSPC : r);
			continue;
		}
		for (k = start; k < i; k++)
			q->vec[k].dev_fd = true;
	}
	free(fds);
	return err;
}

/* Step 4: the device's mask bits follow guest mask OR function mask. */
static int sync_masks(struct irqlink_pci *p, struct il_pci_irqs *q,
		      bool fmask, uint32_t first, uint32_t n)
{
	uint32_t i = first, start, end, k;
	int err = 0, r;
	bool want;

	end = first + n < q->dev_max ? first + n : q->dev_max;
	while (!q->no_mask && i < end) {
		want = q->vec[i].masked || fmask;
		if (want == q->vec[i].dev_masked) {
			i++;
			continue;
		}
		start = i;
		while (i < end && (q->vec[i].masked || fmask) == want &&
		       q->vec[i].dev_masked != want)
			i++;
		r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_NONE |
				    (want ? VFIO_IRQ_SET_ACTION_MASK :
				     VFIO_IRQ_SET_ACTION_UNMASK),
				    q->index, start, i - start, NULL);
		p->stats.mask_calls++;
		if (r == -ENOTTY) {
			/* A strict device (kernel semantics): it has no mask
			 * bits to mirror into. Say so once and stop trying. */
			q->no_mask = true;
			return il_pci_err(p, err, r);
		}
		if (r) {
			err = il_pci_err(p, err, r);
			continue;
		}
		for (k = start; k < i; k++)
			q->vec[k].dev_masked = want;
	}
	return err;
}

int il_pci_irqs_sync(struct irqlink_pci *p, struct il_pci_irqs *q,
		     bool enabled, uint32_t want, bool fmask,
		     uint32_t first, uint32_t n)
{
	int err = 0;

	if (first >= q->nvec)
		return 0;
	if (n > q->nvec - first)
		n = q->nvec - first;
	if ((!enabled && (q->dev_on || q->nhost)) ||
	    (q->dev_on && want != q->dev_want)) {
		err = dev_disable(p, q);
		release(p, q);
		first = 0;
		n = q->nvec;
	}
	if (enabled && !q->dev_on) {
		err = il_first(err, dev_enable(p, q, want));
		first = 0;
		n = q->nvec;
	}
	if (q->dev_on) {
		bool batch;

		err = il_first(err, sync_sinks(p, q, fmask, first, n, &batch));
		/* Consumers relay until settled, so the device may have their
		 * eventfds before the commit; pairing with the device then
		 * happens inside the batch, where each consumer stages its
		 * route (deferred) instead of committing it on its own. */
		err = il_first(err, sync_triggers(p, q, first, n));
		err = il_first(err, sync_commit(p, q, first, n, batch));
	}
	return il_first(err, sync_masks(p, q, fmask, first, n));
}

void il_pci_irqs_fini(struct irqlink_pci *p, struct il_pci_irqs *q)
{
	if (!q->vec)
		return;
	dev_disable(p, q);
	release(p, q);
	free(q->vec);
	q->vec = NULL;
	q->nvec = 0;
}

static struct il_pci_irqs *irqs_of(struct irqlink_pci *p, unsigned int index)
{
	if (index == VFIO_PCI_MSI_IRQ_INDEX && p->msi.off)
		return &p->msi.irqs;
	if (index == VFIO_PCI_MSIX_IRQ_INDEX && p->msix.off)
		return &p->msix.irqs;
	return NULL;
}

int irqlink_pci_trigger_fd(struct irqlink_pci *pci, unsigned int index,
			   unsigned int vector)
{
	struct il_pci_irqs *q;
	int r = -EINVAL;

	if (!pci)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	if (index == VFIO_PCI_INTX_IRQ_INDEX) {
		if (vector == 0 && pci->intx.pin)
			r = pci->intx.routed ? pci->intx.trigger : -ENOENT;
	} else if ((q = irqs_of(pci, index)) && vector < q->nvec) {
		r = q->vec[vector].efd >= 0 ? q->vec[vector].efd : -ENOENT;
	}
	pthread_mutex_unlock(&pci->lock);
	return r;
}

int irqlink_pci_guest_msi(struct irqlink_pci *pci, unsigned int index,
			  unsigned int vector, struct kvm_msi *msg)
{
	struct il_pci_irqs *q;
	int r = -EINVAL;

	if (!pci || !msg)
		return -EINVAL;
	/* No p->lock: see msg_lock. irqs_of() reads only what create set. */
	q = irqs_of(pci, index);
	if (!q || vector >= q->nvec)
		return -EINVAL;
	pthread_mutex_lock(&pci->msg_lock);
	r = -ENOENT;
	if (q->guest_on && msi_valid(&q->vec[vector].msg)) {
		*msg = q->vec[vector].msg;
		r = 0;
	}
	pthread_mutex_unlock(&pci->msg_lock);
	return r;
}

int irqlink_pci_vector_gsi(struct irqlink_pci *pci, unsigned int index,
			   unsigned int vector, uint32_t *gsi)
{
	struct il_pci_irqs *q;
	int r = -EINVAL;

	if (!pci || !gsi)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	q = irqs_of(pci, index);
	if (q && vector < q->nvec) {
		r = -ENOENT;
		if (q->vec[vector].sink.open) {
			*gsi = il_irq_sink_gsi(&q->vec[vector].sink);
			r = *gsi == IRQLINK_CONSUMER_NO_GSI ? -ENOENT : 0;
		}
	}
	pthread_mutex_unlock(&pci->lock);
	return r;
}
