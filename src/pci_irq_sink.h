/* SPDX-License-Identifier: MIT */
/*
 * The one seam between the PCI glue and KVM: an interrupt sink carries one
 * device interrupt's trigger eventfd into the guest (pci_irq_sink.c).
 * Every sink is an irqlink_consumer (<irqlink/consumer.h>), so every INTx,
 * MSI and MSI-X interrupt is paired with the device's producer by the
 * bypass manager and delivered in-kernel or by the relay as the manager
 * and the delivery mode decide. There is no second path beside it.
 *
 * The kinds follow what the interrupt is, so a level interrupt cannot be
 * opened without its way back:
 *   edge   an MSI/MSI-X vector: a message;
 *   level  INTx with KVM's resampler: the pin and the eventfd the guest's
 *          EOI signals (the device's unmask eventfd, or the glue's own);
 *   notify INTx whose unmask the glue does itself: the pin and the
 *          eventfd signalled before each injection (IRQLINK_EOI_BAR_ACCESS).
 *
 * The glue opens and changes edge sinks only between irqlink_routes_begin()
 * and irqlink_routes_commit(), so a whole capability change is one commit,
 * and settles every sink it opened or changed once that commit is in: a
 * consumer waits for its route in the "deferred" state and takes the irqfd
 * at settle().
 */
#ifndef IRQLINK_SRC_PCI_IRQ_SINK_H
#define IRQLINK_SRC_PCI_IRQ_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include <irqlink/bypass.h>
#include <irqlink/eoi.h>
#include <irqlink/relay.h>
#include <irqlink/vm.h>

struct irqlink_consumer;

/* Where a glue's sinks deliver, and how. */
struct il_irq_sinks {
	struct irqlink_vm *vm;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;  /* NULL: nothing pairs, all relay */
	enum irqlink_delivery delivery;
};

/* One interrupt's path into the guest. Zeroed = closed. */
struct il_irq_sink {
	bool open;
	struct kvm_msi msg;     /* edge: the message it carries */
	struct irqlink_consumer *c;
};

/* Open a sink for @efd (borrowed; the consumer keeps dups). Return 0 or
 * -errno; nothing is left on failure. @fdinfo_dir: il_fdinfo_dir_open()'s
 * for a caller opening many, or -1. */
int il_irq_sink_open_edge(const struct il_irq_sinks *s, struct il_irq_sink *k,
			  int efd, const struct kvm_msi *msg, int fdinfo_dir);
int il_irq_sink_open_level(const struct il_irq_sinks *s, struct il_irq_sink *k,
			   int efd, int unmask_fd, uint32_t pin);
int il_irq_sink_open_notify(const struct il_irq_sinks *s, struct il_irq_sink *k,
			   int efd, int notify_fd, uint32_t pin);

/* Edge: deliver as @msg from now on. 0 (also when unchanged) or -errno
 * (the old message is kept). */
int il_irq_sink_set_msi(struct il_irq_sink *k, const struct kvm_msi *msg);

/* The routing batch that opened or changed @k is committed (or there was
 * none): let the consumer take its path. Returns 0, or -EOPNOTSUPP when
 * the delivery mode is KERNEL and the interrupt is still relayed. */
int il_irq_sink_settle(const struct il_irq_sinks *s, struct il_irq_sink *k);

/* Before il_irq_sink_settle() of many sinks: begin each one's switch
 * (il_consumer_settle_begin()), so their settles wait for the relay thread
 * once in all. Every sink begun must be settled. */
void il_irq_sink_settle_begin(struct il_irq_sink *k);

/* Apply s->delivery to an open sink (force the relay or release it).
 * Returns as il_irq_sink_settle(). */
int il_irq_sink_apply_delivery(const struct il_irq_sinks *s,
			       struct il_irq_sink *k);

/* The MSI route's GSI (IRQLINK_CONSUMER_NO_GSI while KVM had none free),
 * or the INTx pin. @k must be open. */
uint32_t il_irq_sink_gsi(const struct il_irq_sink *k);

/* True when @k is open and delivered in-kernel now. */
bool il_irq_sink_in_kernel(const struct il_irq_sink *k);

/* Stop delivering; the consumer detaches its irqfd before its route goes. */
void il_irq_sink_close(struct il_irq_sink *k);

#endif
