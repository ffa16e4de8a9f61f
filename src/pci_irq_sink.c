/* SPDX-License-Identifier: MIT */
/*
 * Interrupt sinks of the PCI glue: each one an irqlink_consumer.
 *
 * Theory of operation: the consumer does the work (route, irqfd, relay
 * entries, pairing, lossless switches); a sink only says which kind of
 * consumer an interrupt needs and applies the glue's delivery mode to it.
 * RELAY forces the consumer onto the relay; AUTO and KERNEL leave the path
 * to the bypass manager's pairing, and KERNEL then checks the outcome, so a
 * VMM that asked for in-kernel delivery hears about every interrupt that did
 * not get it instead of finding it relayed in a benchmark.
 */
#include "pci_irq_sink.h"
#include "consumer_internal.h"

#include <errno.h>
#include <string.h>

#include <irqlink/consumer.h>

static int open_consumer(const struct il_irq_sinks *s, struct il_irq_sink *k,
			 struct irqlink_consumer_config *cc, int fdinfo_dir)
{
	int r;

	cc->force_relay = s->delivery == IRQLINK_DELIVERY_RELAY;
	r = il_consumer_create_at(fdinfo_dir, s->vm, s->relay, s->bypass, cc,
				  &k->c);
	if (r)
		return r;
	k->open = true;
	return 0;
}

int il_irq_sink_open_edge(const struct il_irq_sinks *s, struct il_irq_sink *k,
			  int efd, const struct kvm_msi *msg, int fdinfo_dir)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_MSI,
		.trigger_fd = efd,
		.msi = *msg,
		.unmask_fd = -1,
		.notify_fd = -1,
	};
	int r = open_consumer(s, k, &cc, fdinfo_dir);

	if (!r)
		k->msg = *msg;
	return r;
}

int il_irq_sink_open_level(const struct il_irq_sinks *s, struct il_irq_sink *k,
			   int efd, int unmask_fd, uint32_t pin)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_INTX,
		.trigger_fd = efd,
		.gsi = pin,
		.unmask_fd = unmask_fd,
		.notify_fd = -1,
	};

	return open_consumer(s, k, &cc, -1);
}

int il_irq_sink_open_notify(const struct il_irq_sinks *s, struct il_irq_sink *k,
			   int efd, int notify_fd, uint32_t pin)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_INTX_NOTIFY,
		.trigger_fd = efd,
		.gsi = pin,
		.unmask_fd = -1,
		.notify_fd = notify_fd,
	};

	return open_consumer(s, k, &cc, -1);
}

int il_irq_sink_set_msi(struct il_irq_sink *k, const struct kvm_msi *msg)
{
	int r;

	if (!k->open)
		return -EINVAL;
	if (!memcmp(&k->msg, msg, sizeof(*msg)))
		return 0;
	r = irqlink_consumer_set_msi(k->c, msg);
	if (!r)
		k->msg = *msg;
	return r;
}

static int check_kernel(const struct il_irq_sinks *s, struct il_irq_sink *k)
{
	if (s->delivery != IRQLINK_DELIVERY_KERNEL || il_irq_sink_in_kernel(k))
		return 0;
	return -EOPNOTSUPP;
}

void il_irq_sink_settle_begin(struct il_irq_sink *k)
{
	if (k->open)
		il_consumer_settle_begin(k->c);
}

int il_irq_sink_settle(const struct il_irq_sinks *s, struct il_irq_sink *k)
{
	if (!k->open)
		return 0;
	/* A failed attach keeps the consumer on the relay, which delivers
	 * too; the consumer counts it, and KERNEL mode reports it below. */
	(void)irqlink_consumer_refresh(k->c);
	return check_kernel(s, k);
}

int il_irq_sink_apply_delivery(const struct il_irq_sinks *s,
			       struct il_irq_sink *k)
{
	if (!k->open)
		return 0;
	(void)irqlink_consumer_set_force_relay(k->c,
			s->delivery == IRQLINK_DELIVERY_RELAY);
	return check_kernel(s, k);
}

uint32_t il_irq_sink_gsi(const struct il_irq_sink *k)
{
	return irqlink_consumer_gsi(k->c);
}

bool il_irq_sink_in_kernel(const struct il_irq_sink *k)
{
	return k->open && irqlink_consumer_path(k->c) == IRQLINK_PATH_BYPASS;
}

void il_irq_sink_close(struct il_irq_sink *k)
{
	if (!k->open)
		return;
	irqlink_consumer_destroy(k->c);
	memset(k, 0, sizeof(*k));
}
