/* SPDX-License-Identifier: MIT */
/*
 * Internal irqfd calls for callers that already hold the eventfd's identity
 * (@token, from il_eventfd_token() of that very eventfd; 0 = read it here
 * as the public calls do): each saves a /proc read, and a consumer makes
 * one per switch per vector. The caller keeps @efd and @resamplefd open,
 * under the same numbers, until it detaches: the record uses them instead
 * of dups of its own, which saves two syscalls per attach and one per
 * detach, and two fds per attached vector. Same semantics and returns as
 * irqlink_irqfd_attach_edge/_level() (@resamplefd -1 for edge) and
 * irqlink_irqfd_detach().
 */
#ifndef IRQLINK_SRC_IRQFD_INTERNAL_H
#define IRQLINK_SRC_IRQFD_INTERNAL_H

#include <stdint.h>

struct irqlink_vm;

int il_irqfd_attach_token(struct irqlink_vm *vm, int efd, int resamplefd,
			  uint32_t gsi, uint64_t token);
int il_irqfd_detach_token(struct irqlink_vm *vm, int efd, uint32_t gsi,
			  uint64_t token);

#endif
