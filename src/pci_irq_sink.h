/* SPDX-License-Identifier: MIT */
/*
 * The seam between the PCI glue and whatever carries one MSI/MSI-X vector's
 * trigger eventfd into the guest (pci_irq_backend.c). Two implementations
 * behind one interface:
 *
 *   - direct: a KVM MSI route plus an edge irqfd on the trigger eventfd,
 *     when the glue has no relay;
 *   - consumer: an irqlink_consumer (<irqlink/consumer.h>), when the glue
 *     has a relay: in-kernel irqfd while the device is paired with it as a
 *     bypass producer, the relay thread otherwise.
 *
 * The glue calls open/set_msi/close only between irqlink_routes_begin() and
 * irqlink_routes_commit(), so a whole capability change is one commit, and
 * settle() on every sink it opened or changed once that commit is in: a
 * consumer refuses the irqfd path while its route is only staged and takes
 * it at settle().
 */
#ifndef IRQLINK_SRC_PCI_IRQ_BACKEND_H
#define IRQLINK_SRC_PCI_IRQ_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include <irqlink/bypass.h>
#include <irqlink/relay.h>
#include <irqlink/vm.h>

struct irqlink_consumer;

/* Where sinks deliver: @vm always; @relay NULL selects the direct path. */
struct il_msi_backend {
	struct irqlink_vm *vm;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
};

/* One vector's path into the guest. Zeroed = closed. */
struct il_msi_sink {
	bool open;
	uint32_t gsi;           /* the MSI route's GSI */
	struct kvm_msi msg;     /* the message it carries (host view) */
	struct irqlink_consumer *c;     /* consumer path only */
};

/* Start delivering @efd (borrowed; dups are kept below) as @msg.
 * Returns 0 or -errno; nothing is left on failure. */
int il_msi_sink_open(const struct il_msi_backend *b, struct il_msi_sink *s,
		     int efd, const struct kvm_msi *msg);

/* Deliver as @msg from now on. Returns 0 (also when unchanged) or -errno
 * (the old message is kept). */
int il_msi_sink_set_msi(const struct il_msi_backend *b, struct il_msi_sink *s,
			const struct kvm_msi *msg);

/* The routing batch that opened or changed @s is committed. */
void il_msi_sink_settle(const struct il_msi_backend *b, struct il_msi_sink *s);

/* Stop delivering: the irqfd goes before the route, so no signal is
 * injected through a route being torn down. */
void il_msi_sink_close(const struct il_msi_backend *b, struct il_msi_sink *s,
		       int efd);

#endif
