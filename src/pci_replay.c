/* SPDX-License-Identifier: MIT */
/*
 * A replaced device: everything the guest programmed, given again to a
 * device that knows none of it (irqlink_pci_device_replaced()).
 *
 * Theory of operation: the glue already holds the guest's view of every
 * interrupt and the host view it last gave the device. Forgetting the
 * host view -- nothing enabled, no eventfd held, no mask bit set, which is
 * exactly a device after reset -- and running the same reconciliation a
 * config write runs sends the device what it lacks, in the usual order
 * (enable, eventfds, masks), with the eventfds the consumers already
 * hold. Routes and irqfds stay as they are, so the first interrupt the
 * new device raises reaches KVM like any other. The command register goes
 * first, so the device decodes its BARs and may master the bus before any
 * doorbell or interrupt is in place.
 */
#include "pci_internal.h"

#include <errno.h>

static void forget(struct il_pci_irqs *q)
{
	q->dev_on = false;
	q->dev_want = q->dev_count = 0;
	for (uint32_t i = 0; q->vec && i < q->nvec; i++) {
		q->vec[i].dev_fd = false;
		q->vec[i].dev_masked = false;
	}
}

int irqlink_pci_device_replaced(struct irqlink_pci *pci)
{
	struct irqlink_pci *p = pci;
	int err;

	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	p->stats.device_replays++;
	err = il_pci_err(p, 0, il_pci_config_replay(p));
	err = il_first(err, il_pci_doorbells_retake(p));
	err = il_first(err, il_pci_bar_map_retake(p));
	err = il_first(err, il_pci_errreq_replay(p));

	p->intx.dev_on = false;
	il_pci_ack_reset(p);
	forget(&p->msi.irqs);
	forget(&p->msix.irqs);
	if (p->msi.off)
		err = il_first(err, il_pci_msi_written(p));
	if (p->msix.off)
		err = il_first(err, il_pci_msix_written(p));
	/* Both end with INTx where it belongs; without either, do it here. */
	err = il_first(err, il_pci_intx_sync(p, true));
	pthread_mutex_unlock(&p->lock);
	return err;
}
