/* SPDX-License-Identifier: MIT */
/*
 * Consumer calls for a caller that creates and settles many consumers at
 * once (the PCI glue's MSI-X enable).
 */
#ifndef IRQLINK_SRC_CONSUMER_INTERNAL_H
#define IRQLINK_SRC_CONSUMER_INTERNAL_H

#include <irqlink/consumer.h>

/*
 * The first half of the relay -> bypass switch that the next
 * irqlink_consumer_refresh() of @c will make, if it will: the relay stops
 * taking E's events (il_relay_pause_token_begin()). Begin every consumer
 * of a batch, then refresh each: the relay thread is waited for once for
 * the whole batch instead of once per consumer. Any later path-rule run
 * (the refresh, a pairing change, a forced relay) ends the begun pause:
 * completed by the switch, or undone if the consumer stays on the relay,
 * so no signal is lost meanwhile, only held in E until then.
 */
void il_consumer_settle_begin(struct irqlink_consumer *c);

/* irqlink_consumer_create() reading E's identity through @fdinfo_dir (from
 * il_fdinfo_dir_open(), or -1), for a caller creating many at once. */
int il_consumer_create_at(int fdinfo_dir, struct irqlink_vm *vm,
			  struct irqlink_relay *relay,
			  struct irqlink_bypass *bypass,
			  const struct irqlink_consumer_config *cfg,
			  struct irqlink_consumer **out);

#endif
