/* SPDX-License-Identifier: MIT */
/*
 * INTx: a level-triggered, automasked line, as vfio-pci virtualizes it.
 *
 * Theory of operation: four bits decide everything. The device drives
 * `asserted`. When the line is asserted while INTx is enabled and unmasked,
 * the model sets `masked` first and then signals the trigger, so a line that
 * stays asserted produces exactly one signal until someone unmasks. An
 * unmask while the line is still asserted is itself a new firing: `masked`
 * stays set and the trigger is signalled again (the kernel's
 * pci_check_and_unmask_intx() path). `disabled` is the guest's Interrupt
 * Disable bit, a second mask: setting it masks, and while it is set unmask
 * does nothing; clearing it unmasks.
 *
 * Every transition happens under intx.lock, and signals are sent with the
 * lock held. That is the whole answer to the trigger-swap race: a control
 * call that swaps or clears the trigger takes the same lock, so once it
 * returns no raise, unmask or watcher event can still reach the old fd.
 */
#include "device_internal.h"
#include "eventfd.h"

#include <errno.h>
#include <unistd.h>

int il_intx_init(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;

	x->trigger = x->unmask_fd = -1;
	il_producer_init(dev, &x->prod, true);
	return -pthread_mutex_init(&x->lock, NULL);
}

void il_intx_fini(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;

	if (x->trigger >= 0)
		close(x->trigger);
	if (x->unmask_fd >= 0)
		close(x->unmask_fd);
	pthread_mutex_destroy(&x->lock);
}

/* Mask and signal: the line fired. Caller holds the lock. */
static int fire_locked(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;

	x->masked = true;
	il_count(&dev->stats.intx_fires);
	return il_dev_signal(dev, x->trigger);
}

static void mask_locked(struct il_intx *x)
{
	if (x->enabled)
		x->masked = true;
}

static int unmask_locked(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;

	if (!x->enabled || !x->masked || x->disabled)
		return 0;
	il_count(&dev->stats.intx_unmasks);
	if (x->asserted && !x->paused)
		return fire_locked(dev);
	/* A paused producer fires the held level when it starts again. */
	x->masked = false;
	return 0;
}

void il_intx_resume_locked(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;

	if (x->enabled && x->asserted && !x->masked && !x->disabled)
		fire_locked(dev);
}

int irqlink_dev_intx_assert(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;
	int r = 0;

	if (!dev->shape.intx_pin)
		return -ENODEV;
	pthread_mutex_lock(&x->lock);
	x->asserted = true;
	if (x->enabled && !x->masked && !x->paused)
		r = fire_locked(dev);
	pthread_mutex_unlock(&x->lock);
	return r;
}

int irqlink_dev_intx_deassert(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;

	if (!dev->shape.intx_pin)
		return -ENODEV;
	pthread_mutex_lock(&x->lock);
	x->asserted = false;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

int irqlink_dev_intx_asserted(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;
	bool a;

	if (!dev->shape.intx_pin)
		return -ENODEV;
	pthread_mutex_lock(&x->lock);
	a = x->asserted;
	pthread_mutex_unlock(&x->lock);
	return a;
}

int irqlink_dev_set_intx_disable(struct irqlink_dev *dev, bool disable)
{
	struct il_intx *x = &dev->intx;
	int r = 0;

	pthread_mutex_lock(&x->lock);
	if (x->disabled != disable) {
		x->disabled = disable;
		if (disable)
			mask_locked(x);
		else
			r = unmask_locked(dev);
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}

/* Enable INTx with @fd (our dup, or -1) as its trigger. A line already
 * asserted fires at once, as a level does when its handler is installed;
 * with Interrupt Disable set the line starts masked (kernel: masked =
 * virq_disabled). */
static void enable(struct irqlink_dev *dev, int fd)
{
	struct il_intx *x = &dev->intx;

	pthread_mutex_lock(&x->lock);
	x->enabled = true;
	x->masked = x->disabled;
	x->trigger = fd;
	if (x->asserted && !x->masked && !x->paused)
		fire_locked(dev);
	pthread_mutex_unlock(&x->lock);
	dev->irq_type = VFIO_PCI_INTX_IRQ_INDEX;
	il_producer_update(dev, &x->prod, fd, 0);
}

static void swap_trigger(struct irqlink_dev *dev, int fd)
{
	struct il_intx *x = &dev->intx;
	int old;

	il_producer_drop(dev, &x->prod);
	pthread_mutex_lock(&x->lock);
	old = x->trigger;
	x->trigger = fd;
	pthread_mutex_unlock(&x->lock);
	if (old >= 0)
		close(old);
	il_producer_update(dev, &x->prod, fd, 0);
}

/* Remove the unmask eventfd, if any. Caller holds dev->ctl. */
static void unmask_fd_clear(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;
	int old;

	pthread_mutex_lock(&x->lock);
	old = x->unmask_fd;
	x->unmask_fd = -1;
	x->unmask_token = 0;
	pthread_mutex_unlock(&x->lock);
	if (old >= 0) {
		il_watcher_del(dev, old);
		close(old);
	}
}

static void disable(struct irqlink_dev *dev)
{
	struct il_intx *x = &dev->intx;
	int old;

	unmask_fd_clear(dev);
	il_producer_drop(dev, &x->prod);
	pthread_mutex_lock(&x->lock);
	x->enabled = false;
	x->masked = false;
	old = x->trigger;
	x->trigger = -1;
	pthread_mutex_unlock(&x->lock);
	if (old >= 0)
		close(old);
	dev->irq_type = IL_IRQ_NONE;
}

static bool is_intx(const struct irqlink_dev *dev)
{
	return dev->irq_type == VFIO_PCI_INTX_IRQ_INDEX;
}

/* DATA_NONE, or DATA_BOOL with a true first byte: "do it". */
static bool data_says_do(const struct il_irq_req *req)
{
	if (req->flags & VFIO_IRQ_SET_DATA_NONE)
		return true;
	return (req->flags & VFIO_IRQ_SET_DATA_BOOL) && req->bools[0];
}

int il_intx_trigger(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	struct il_intx *x = &dev->intx;

	if (is_intx(dev) && !req->count &&
	    (req->flags & VFIO_IRQ_SET_DATA_NONE)) {
		disable(dev);
		return 0;
	}
	if (!(is_intx(dev) || dev->irq_type == IL_IRQ_NONE) ||
	    req->start != 0 || req->count != 1)
		return -EINVAL;

	if (req->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int fd = req->fds ? req->fds[0] : -1;

		if (fd >= 0) {
			fd = il_eventfd_dup(fd);
			if (fd < 0)
				return fd;
		} else {
			fd = -1;
		}
		if (is_intx(dev))
			swap_trigger(dev, fd);
		else
			enable(dev, fd);
		return 0;
	}

	if (!is_intx(dev))
		return -EINVAL;
	/* Loopback signals the trigger as the kernel does: without touching
	 * the mask state, and not while Interrupt Disable is set. */
	if (data_says_do(req)) {
		pthread_mutex_lock(&x->lock);
		if (!x->disabled)
			il_dev_signal(dev, x->trigger);
		pthread_mutex_unlock(&x->lock);
	}
	return 0;
}

static int unmask_fd_set(struct irqlink_dev *dev, int fd)
{
	struct il_intx *x = &dev->intx;
	uint64_t token, v;
	int dup, r;

	dup = il_eventfd_dup(fd);
	if (dup < 0)
		return dup;
	if (x->unmask_fd >= 0) {
		close(dup);
		return -EBUSY;
	}
	token = ++dev->next_token;
	r = il_watcher_add(dev, dup, token);
	if (r) {
		close(dup);
		return r;
	}
	pthread_mutex_lock(&x->lock);
	x->unmask_fd = dup;
	x->unmask_token = token;
	/* A signal that arrived before registration counts: consume it now
	 * rather than leave it for a watcher that might never run. */
	if (il_eventfd_take(dup, &v) > 0)
		unmask_locked(dev);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

int il_intx_unmask_action(struct irqlink_dev *dev,
			  const struct il_irq_req *req)
{
	struct il_intx *x = &dev->intx;

	if (!is_intx(dev) || req->start != 0 || req->count != 1)
		return -EINVAL;
	if (req->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int fd = req->fds ? req->fds[0] : -1;

		if (fd >= 0)
			return unmask_fd_set(dev, fd);
		unmask_fd_clear(dev);
		return 0;
	}
	if (data_says_do(req)) {
		pthread_mutex_lock(&x->lock);
		unmask_locked(dev);
		pthread_mutex_unlock(&x->lock);
	}
	return 0;
}

int il_intx_mask_action(struct irqlink_dev *dev, const struct il_irq_req *req)
{
	struct il_intx *x = &dev->intx;

	if (!is_intx(dev) || req->start != 0 || req->count != 1)
		return -EINVAL;
	if (req->flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return -ENOTTY; /* no mask eventfd, as in the kernel */
	if (data_says_do(req)) {
		pthread_mutex_lock(&x->lock);
		mask_locked(x);
		pthread_mutex_unlock(&x->lock);
	}
	return 0;
}

int il_intx_unmask_event(struct irqlink_dev *dev, uint64_t token)
{
	struct il_intx *x = &dev->intx;
	uint64_t v;
	int r = 0;

	pthread_mutex_lock(&x->lock);
	/* The token check makes an event for an unmask fd that was removed
	 * (or replaced) after epoll_wait returned a no-op: its fd may
	 * already be closed. */
	if (x->unmask_fd >= 0 && x->unmask_token == token &&
	    il_eventfd_take(x->unmask_fd, &v) > 0) {
		unmask_locked(dev);
		r = 1;
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}
