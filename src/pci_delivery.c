/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's delivery mode (<irqlink/eoi.h>): applied to every
 * interrupt sink the glue has open, and counted for the VMM.
 *
 * Theory of operation: the mode is one field of the glue's sink set, read
 * whenever a sink is opened or settled; a change walks the open sinks and
 * lets each consumer switch (losslessly, <irqlink/consumer.h>) under the
 * glue's lock, so no guest access reconciles a vector halfway through.
 */
#include "pci_internal.h"

#include <errno.h>

#include <irqlink/consumer.h>

/* Every sink whose interrupt is live: INTx only while the device has it
 * enabled (with MSI or MSI-X on, its consumer waits unpaired, relayed by
 * definition, and carries nothing). */
static void each_sink(struct irqlink_pci *p,
		      void (*fn)(struct irqlink_pci *, struct il_irq_sink *,
				 void *), void *arg)
{
	struct il_pci_irqs *q[2] = { &p->msi.irqs, &p->msix.irqs };

	if (p->intx.dev_on)
		fn(p, &p->intx.sink, arg);
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; q[k]->vec && i < q[k]->nvec; i++)
			fn(p, &q[k]->vec[i].sink, arg);
}

static void apply(struct irqlink_pci *p, struct il_irq_sink *k, void *arg)
{
	int *err = arg, r;

	if (!k->open)
		return;
	r = il_irq_sink_apply_delivery(&p->sinks, k);
	if (r) {
		p->stats.not_in_kernel++;
		*err = il_first(*err, r);
	}
}

int irqlink_pci_set_delivery(struct irqlink_pci *pci,
			     enum irqlink_delivery delivery)
{
	int err = 0;

	if (!pci || irqlink_eoi_check(pci->eoi, delivery, NULL))
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	pci->sinks.delivery = delivery;
	each_sink(pci, apply, &err);
	/* An INTx the device has off still follows the mode, for when it is
	 * enabled again (il_pci_intx_sync() settles and checks it then). */
	if (!pci->intx.dev_on && pci->intx.sink.open)
		(void)il_irq_sink_apply_delivery(&pci->sinks, &pci->intx.sink);
	pthread_mutex_unlock(&pci->lock);
	return err;
}

static void count(struct irqlink_pci *p, struct il_irq_sink *k, void *arg)
{
	(void)arg;
	if (!k->open)
		return;
	if (il_irq_sink_in_kernel(k))
		p->stats.in_kernel++;
	else
		p->stats.relayed++;
	if (k != &p->intx.sink && il_irq_sink_gsi(k) == IRQLINK_CONSUMER_NO_GSI)
		p->stats.no_route++;
}

void irqlink_pci_get_stats(struct irqlink_pci *pci,
			   struct irqlink_pci_stats *stats)
{
	if (!pci || !stats)
		return;
	pthread_mutex_lock(&pci->lock);
	pci->stats.in_kernel = pci->stats.relayed = pci->stats.no_route = 0;
	each_sink(pci, count, NULL);
	*stats = pci->stats;
	pthread_mutex_unlock(&pci->lock);
}
