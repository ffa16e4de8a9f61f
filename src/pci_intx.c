/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's INTx wiring.
 *
 * Theory of operation: the device's INTx level reaches the guest through a
 * KVM level irqfd and comes back through that irqfd's resamplefd, with no
 * process in the loop: the glue's trigger eventfd is both the device's INTx
 * trigger and the irqfd, and the glue's resample eventfd is both the
 * irqfd's resamplefd and the device's INTx unmask eventfd. The device
 * automasks when it signals; KVM holds the line until the guest's EOI, then
 * deasserts it and signals the resamplefd; the device unmasks and, if its
 * line is still up, signals again. The glue only sets this up and tears it
 * down.
 *
 * The irqfd is attached before the device gets the trigger, so the first
 * assertion already finds KVM listening. INTx is enabled at the device only
 * while MSI and MSI-X are off there (vfio allows one index type at a
 * time); disabling INTx at the device also drops its unmask eventfd, so
 * both are given again on every enable. Interrupt Disable is not handled
 * here: it is a command register bit, written through to the device.
 */
#include "pci_internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <irqlink/irqfd.h>

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
		return il_pci_err(p, 0, il_pci_set_irqs(p,
				VFIO_IRQ_SET_DATA_NONE |
				VFIO_IRQ_SET_ACTION_TRIGGER,
				VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL));
	}
	r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_EVENTFD |
			    VFIO_IRQ_SET_ACTION_TRIGGER,
			    VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &x->trigger);
	if (r)
		return il_pci_err(p, 0, r);
	r = il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_EVENTFD |
			    VFIO_IRQ_SET_ACTION_UNMASK,
			    VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &x->resample);
	if (r) {
		/* Without its unmask path INTx would fire once and stay
		 * masked forever: do not leave it half set up. */
		il_pci_set_irqs(p, VFIO_IRQ_SET_DATA_NONE |
				VFIO_IRQ_SET_ACTION_TRIGGER,
				VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL);
		return il_pci_err(p, 0, r);
	}
	x->dev_on = true;
	return 0;
}

static void unroute_locked(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;

	if (!x->routed)
		return;
	/* Device first, so nothing signals the trigger while KVM lets go. */
	x->routed = false;
	il_pci_intx_sync(p, false);
	if (p->vm)
		irqlink_irqfd_detach(p->vm, x->trigger, x->gsi);
	close(x->trigger);
	close(x->resample);
	x->trigger = x->resample = -1;
}

void il_pci_intx_fini(struct irqlink_pci *p)
{
	unroute_locked(p);
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
	x->trigger = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->trigger < 0) {
		r = -errno;
		goto out;
	}
	x->resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->resample < 0) {
		r = -errno;
		goto close_trigger;
	}
	if (pci->vm) {
		r = irqlink_irqfd_attach_level(pci->vm, x->trigger,
					       x->resample, gsi);
		if (r)
			goto close_resample;
	}
	x->routed = true;
	x->gsi = gsi;
	r = il_pci_intx_sync(pci, true);
	if (r)
		unroute_locked(pci);
	goto out;

close_resample:
	close(x->resample);
	x->resample = -1;
close_trigger:
	close(x->trigger);
	x->trigger = -1;
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
	r = pci->intx.routed ? pci->intx.resample : -ENOENT;
	pthread_mutex_unlock(&pci->lock);
	return r;
}
