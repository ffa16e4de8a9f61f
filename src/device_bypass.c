/* SPDX-License-Identifier: MIT */
/*
 * The device as an IRQ bypass producer.
 *
 * Theory of operation: vfio-pci registers each MSI vector's trigger with the
 * kernel's irqbypass manager, so KVM can find it by eventfd and take the
 * fast path on its own. The model does the same with an irqlink bypass
 * manager: whenever a trigger eventfd is installed (INTx, or an MSI/MSI-X
 * vector) it registers a producer keyed by the eventfd's identity, and it
 * unregisters it before the eventfd is dropped.
 *
 * A consumer that switches paths (relay to irqfd or back) first stops the
 * producer. Stopped, a vector latches its fires in the pending bit and INTx
 * holds its level, exactly as a mask would; start replays what was held,
 * once. Together with the consumer's own ordering, that is why a switch
 * loses no interrupt and invents none.
 *
 * As in vfio, a registration that fails (say the same eventfd is the
 * trigger of two vectors, -EBUSY) leaves the vector working without bypass;
 * it is counted, not returned.
 */
#include "container_of.h"
#include "device_internal.h"
#include "eventfd.h"

#include <errno.h>
#include <stddef.h>

static void vector_stop(struct irqlink_bypass_producer *bp)
{
	struct il_vector *v = il_container_of(bp, struct il_vector, prod.bp);

	pthread_mutex_lock(&v->lock);
	v->paused = true;
	pthread_mutex_unlock(&v->lock);
}

static void vector_start(struct irqlink_bypass_producer *bp)
{
	struct il_vector *v = il_container_of(bp, struct il_vector, prod.bp);

	int r;

	pthread_mutex_lock(&v->lock);
	v->paused = false;
	r = il_msi_replay_locked(v->prod.dev, v);
	pthread_mutex_unlock(&v->lock);
	(void)il_msi_finish(v->prod.dev, v, r);
}

static void intx_stop(struct irqlink_bypass_producer *bp)
{
	struct il_intx *x = il_container_of(bp, struct il_intx, prod.bp);

	pthread_mutex_lock(&x->lock);
	x->paused = true;
	pthread_mutex_unlock(&x->lock);
}

static void intx_start(struct irqlink_bypass_producer *bp)
{
	struct il_intx *x = il_container_of(bp, struct il_intx, prod.bp);

	pthread_mutex_lock(&x->lock);
	x->paused = false;
	il_intx_resume_locked(x->prod.dev);
	pthread_mutex_unlock(&x->lock);
}

void il_producer_init(struct irqlink_dev *dev, struct il_producer *p,
		      bool intx)
{
	p->dev = dev;
	p->intx = intx;
	p->registered = false;
}

void il_producer_drop(struct irqlink_dev *dev, struct il_producer *p)
{
	if (!p->registered)
		return;
	irqlink_bypass_unregister_producer(dev->bypass, &p->bp);
	p->registered = false;
}

/* With a bypass manager the identity read is also the eventfd check: one
 * /proc access per trigger instead of a readlink and an fdinfo read. */
int il_producer_dup(struct irqlink_dev *dev, int fdinfo_dir, int fd,
		    uint64_t *token)
{
	int r;

	*token = 0;
	if (!dev->bypass)
		return il_eventfd_dup(fd);
	r = il_eventfd_dup_token(fdinfo_dir, fd, token);
	/* No identities in /proc: the trigger still works, unpaired
	 * (il_producer_update() counts it). */
	if (r == -ENOTSUP) {
		*token = 0;
		r = il_eventfd_dup(fd);
	}
	return r;
}

void il_producer_update(struct irqlink_dev *dev, struct il_producer *p, int fd,
			uint64_t token)
{
	il_producer_drop(dev, p);
	if (fd < 0 || !dev->bypass)
		return;
	if (!token && il_eventfd_token(fd, &token)) {
		il_count(&dev->stats.bypass_failures);
		return;
	}
	p->bp = (struct irqlink_bypass_producer){
		.token = token,
		.stop = p->intx ? intx_stop : vector_stop,
		.start = p->intx ? intx_start : vector_start,
		.opaque = dev,
	};
	if (irqlink_bypass_register_producer(dev->bypass, &p->bp) == 0)
		p->registered = true;
	else
		il_count(&dev->stats.bypass_failures);
}

/* Apply @fn to every producer slot with its current trigger. Caller holds
 * dev->ctl, which every trigger change also holds, so the fds are stable. */
static void for_each_trigger(struct irqlink_dev *dev, bool install)
{
	struct il_msi_cap *caps[] = { &dev->msi, &dev->msix };

	if (install)
		il_producer_update(dev, &dev->intx.prod, dev->intx.trigger,
				   0);
	else
		il_producer_drop(dev, &dev->intx.prod);
	for (size_t c = 0; c < 2; c++)
		for (uint32_t i = 0; i < caps[c]->nvec; i++) {
			struct il_vector *v = &caps[c]->vec[i];

			if (install)
				il_producer_update(dev, &v->prod, v->fd, 0);
			else
				il_producer_drop(dev, &v->prod);
		}
}

int irqlink_dev_attach_bypass(struct irqlink_dev *dev,
			      struct irqlink_bypass *bypass)
{
	int r = 0;

	pthread_mutex_lock(&dev->ctl);
	if (bypass && dev->bypass && dev->bypass != bypass) {
		r = -EBUSY;
	} else if (bypass != dev->bypass) {
		if (dev->bypass)
			for_each_trigger(dev, false);
		dev->bypass = bypass;
		if (bypass)
			for_each_trigger(dev, true);
	}
	pthread_mutex_unlock(&dev->ctl);
	return r;
}
