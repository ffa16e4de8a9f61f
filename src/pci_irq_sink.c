/* SPDX-License-Identifier: MIT */
/*
 * One MSI/MSI-X vector into the guest, for the PCI glue.
 *
 * Theory of operation: on the direct path the route is staged first and
 * the irqfd attached to its GSI second. Inside the glue's routing batch the
 * route is not in KVM yet when the irqfd attaches; that is harmless because
 * the device is only given the eventfd after the batch commits, so nothing
 * signals it before the route exists (a signal to a GSI without a route
 * would be lost). Teardown mirrors it: irqfd first, route second.
 *
 * On the consumer path the consumer does all of that itself and more (the
 * relay fallback, bypass pairing); created inside the batch it starts on
 * the relay, and settle() lets it move to the irqfd once the route is in.
 */
#include "pci_irq_backend.h"

#include <errno.h>
#include <string.h>

#include <irqlink/consumer.h>
#include <irqlink/irqfd.h>
#include <irqlink/routes.h>

int il_msi_sink_open(const struct il_msi_backend *b, struct il_msi_sink *s,
		     int efd, const struct kvm_msi *msg)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_MSI,
		.trigger_fd = efd,
		.msi = *msg,
		.unmask_fd = -1,
	};
	uint32_t gsi;
	int r;

	if (b->relay) {
		r = irqlink_consumer_create(b->vm, b->relay, b->bypass, &cc,
					    &s->c);
		if (r)
			return r;
		gsi = irqlink_consumer_gsi(s->c);
	} else {
		r = irqlink_routes_add_msi(b->vm, msg, &gsi);
		if (r)
			return r;
		r = irqlink_irqfd_attach_edge(b->vm, efd, gsi);
		if (r) {
			irqlink_routes_gsi_free(b->vm, gsi);
			return r;
		}
	}
	s->open = true;
	s->gsi = gsi;
	s->msg = *msg;
	return 0;
}

int il_msi_sink_set_msi(const struct il_msi_backend *b, struct il_msi_sink *s,
			const struct kvm_msi *msg)
{
	int r;

	if (!s->open)
		return -EINVAL;
	if (!memcmp(&s->msg, msg, sizeof(*msg)))
		return 0;
	r = s->c ? irqlink_consumer_set_msi(s->c, msg) :
		irqlink_routes_set_msi(b->vm, s->gsi, msg);
	if (!r)
		s->msg = *msg;
	return r;
}

void il_msi_sink_settle(const struct il_msi_backend *b, struct il_msi_sink *s)
{
	(void)b;
	/* Its failure only means "still on the relay", which delivers too;
	 * the consumer counts it in its own stats. */
	if (s->c)
		(void)irqlink_consumer_refresh(s->c);
}

void il_msi_sink_close(const struct il_msi_backend *b, struct il_msi_sink *s,
		       int efd)
{
	if (!s->open)
		return;
	if (s->c) {
		irqlink_consumer_destroy(s->c);
	} else {
		irqlink_irqfd_detach(b->vm, efd, s->gsi);
		irqlink_routes_gsi_free(b->vm, s->gsi);
	}
	memset(s, 0, sizeof(*s));
}
