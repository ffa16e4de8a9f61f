/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's INTx wiring, for each EOI policy (<irqlink/eoi.h>).
 *
 * Theory of operation: the glue's trigger eventfd T is the device's INTx
 * trigger and the eventfd of one consumer on the pin; what brings the
 * unmask back differs:
 *
 *   RESAMPLEFD  level consumer (T, U): U is the resamplefd and also the
 *               device's unmask eventfd. The device automasks when it
 *               signals, KVM holds the line until the guest's EOI, then
 *               signals U and the device unmasks: no process in the loop.
 *   GUEST_PORT  the same level consumer, but the device does not get U;
 *               the guest's report (irqlink_pci_intx_eoi()) unmasks it.
 *               KVM still needs the resampler to lower its line at EOI.
 *   BAR_ACCESS  notify consumer (T, N): the relay signals N and injects;
 *               pci_intx_ack.c infers the acknowledgement from BAR
 *               accesses and unmasks.
 *
 * The consumer is created before the device gets T, so the first
 * assertion already finds it listening; when the device registers T as its
 * producer the bypass manager pairs them and, for a level consumer, KVM
 * takes over T. INTx is enabled at the device only while MSI and MSI-X are
 * off there (vfio allows one index type at a time); disabling INTx at the
 * device also drops its unmask eventfd, so both are given again on every
 * enable. Interrupt Disable is not handled here: it is a command register
 * bit, written through to the device.
 */
#include "pci_internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

int il_pci_intx_init(struct irqlink_pci *p)
{
	struct vfio_irq_info info = { .argsz = sizeof(info),
				      .index = VFIO_PCI_INTX_IRQ_INDEX };
	uint8_t pin = p->cfg[IL_CFG_INT_PIN];
	int r;

	r = p->ops->get_irq_info(p->opaque, &info);
	if (r)
		return r;
	/* A pin the device cannot signal is no pin (vfio hides it too). */
	if (!info.count || pin > 4)
		pin = 0;
	il_cfg_emulate(p, IL_CFG_INT_PIN, 1, IL_CFG_EMU, 0);
	il_cfg_set(p, IL_CFG_INT_PIN, 1, pin);
	p->intx.pin = pin;
	return 0;
}

static int set_intx(struct irqlink_pci *p, uint32_t action, const int *fd)
{
	return il_pci_set_irqs(p, (fd ? VFIO_IRQ_SET_DATA_EVENTFD :
				   VFIO_IRQ_SET_DATA_NONE) | action,
			       VFIO_PCI_INTX_IRQ_INDEX, 0, fd ? 1 : 0, fd);
}

int il_pci_intx_unmask(struct irqlink_pci *p)
{
	return il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_NONE |
			       VFIO_IRQ_SET_ACTION_UNMASK,
			       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL);
}

int il_pci_intx_sync(struct irqlink_pci *p, bool allow)
{
	struct il_pci_intx *x = &p->intx;
	bool want = allow && x->routed && !p->msi.irqs.dev_on &&
		!p->msix.irqs.dev_on;
	int r;

	if (want == x->dev_on)
		return 0;
	if (!want) {
		x->dev_on = false;
		il_pci_ack_reset(p);
		return il_pci_err(p, 0, set_intx(p, VFIO_IRQ_SET_ACTION_TRIGGER,
						 NULL));
	}
	r = set_intx(p, VFIO_IRQ_SET_ACTION_TRIGGER, &x->trigger);
	if (r)
		return il_pci_err(p, 0, r);
	if (p->eoi == IRQLINK_EOI_RESAMPLEFD) {
		r = set_intx(p, VFIO_IRQ_SET_ACTION_UNMASK, &x->resample);
		if (r) {
			/* Without its unmask path INTx would fire once and
			 * stay masked forever: do not leave it half set up. */
			set_intx(p, VFIO_IRQ_SET_ACTION_TRIGGER, NULL);
			return il_pci_err(p, 0, r);
		}
	}
	x->dev_on = true;
	/* The device registered T as its producer just now: with KERNEL
	 * delivery the pairing must have taken the level in-kernel. */
	r = il_irq_sink_settle(&p->sinks, &x->sink);
	if (r) {
		p->stats.not_in_kernel++;
		return il_pci_err(p, 0, r);
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void unroute_locked(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;

	if (!x->routed)
		return;
	/* Device first, so nothing signals the trigger while KVM lets go. */
	x->routed = false;
	il_pci_intx_sync(p, false);
	il_pci_ack_unwatch(p);
	il_irq_sink_close(&x->sink);
	close_fd(&x->trigger);
	close_fd(&x->resample);
	close_fd(&x->notify);
}

void il_pci_intx_fini(struct irqlink_pci *p)
{
	unroute_locked(p);
}

static int new_eventfd(int *fd)
{
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return *fd < 0 ? -errno : 0;
}

/* The eventfds and the consumer the policy needs. */
static int wire(struct irqlink_pci *p, uint32_t gsi)
{
	struct il_pci_intx *x = &p->intx;
	bool notify = p->eoi == IRQLINK_EOI_BAR_ACCESS;
	int r;

	r = new_eventfd(&x->trigger);
	if (!r)
		r = new_eventfd(notify ? &x->notify : &x->resample);
	if (r || !p->vm)
		return r;
	if (notify) {
		r = il_irq_sink_open_notify(&p->sinks, &x->sink, x->trigger,
					   x->notify, gsi);
		if (!r)
			r = il_pci_ack_watch(p);
		return r;
	}
	return il_irq_sink_open_level(&p->sinks, &x->sink, x->trigger,
				      x->resample, gsi);
}

int irqlink_pci_intx_route(struct irqlink_pci *pci, uint32_t gsi)
{
	struct il_pci_intx *x;
	int r;

	if (!pci || gsi >= IRQLINK_IOAPIC_PINS)
		return -EINVAL;
	x = &pci->intx;
	pthread_mutex_lock(&pci->lock);
	if (!x->pin) {
		r = -ENODEV;
		goto out;
	}
	unroute_locked(pci);
	x->routed = true;
	x->gsi = gsi;
	r = wire(pci, gsi);
	if (!r)
		r = il_pci_intx_sync(pci, true);
	if (r)
		unroute_locked(pci);
out:
	pthread_mutex_unlock(&pci->lock);
	return r;
}

int irqlink_pci_intx_unroute(struct irqlink_pci *pci)
{
	if (!pci)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	unroute_locked(pci);
	pthread_mutex_unlock(&pci->lock);
	return 0;
}

int irqlink_pci_intx_resample_fd(struct irqlink_pci *pci)
{
	int r;

	if (!pci)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	r = pci->intx.routed && pci->intx.resample >= 0 ? pci->intx.resample
							 : -ENOENT;
	pthread_mutex_unlock(&pci->lock);
	return r;
}

int irqlink_pci_intx_eoi(struct irqlink_pci *pci)
{
	struct il_pci_intx *x;
	uint64_t n;
	int r = 0;

	if (!pci)
		return -EINVAL;
	x = &pci->intx;
	pthread_mutex_lock(&pci->lock);
	if (pci->eoi == IRQLINK_EOI_GUEST_PORT && x->dev_on) {
		/* The resamplefd only lowers KVM's line; the report is what
		 * says the handler is done. Empty it so it never fills. */
		if (read(x->resample, &n, sizeof(n)) < 0)
			n = 0;
		r = il_pci_intx_unmask(pci);
		if (!r) {
			pci->stats.intx_eoi_reports++;
			r = 1;
		} else {
			r = il_pci_err(pci, 0, r);
		}
	}
	pthread_mutex_unlock(&pci->lock);
	return r;
}
