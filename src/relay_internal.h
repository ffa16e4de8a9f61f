/* SPDX-License-Identifier: MIT */
/*
 * Internal relay calls keyed by the source eventfd's identity (the token of
 * il_eventfd_token()), for callers that already hold it: the public calls
 * re-read the identity from /proc on every call, and a consumer switching
 * thousands of vectors makes several such calls per vector. Same semantics
 * and returns as irqlink_relay_remove/pause/resume().
 */
#ifndef IRQLINK_SRC_RELAY_INTERNAL_H
#define IRQLINK_SRC_RELAY_INTERNAL_H

#include <stdint.h>

struct irqlink_relay;

int il_relay_remove_token(struct irqlink_relay *relay, uint64_t token);
int il_relay_pause_token(struct irqlink_relay *relay, uint64_t token);
int il_relay_resume_token(struct irqlink_relay *relay, uint64_t token);

#endif
