/* SPDX-License-Identifier: MIT */
/*
 * Internal relay calls keyed by the source eventfd's identity (the token of
 * il_eventfd_token()), for callers that already hold it: the public calls
 * re-read the identity from /proc on every call, and a consumer switching
 * thousands of vectors makes several such calls per vector. Same semantics
 * and returns as irqlink_relay_add/remove/pause/resume().
 */
#ifndef IRQLINK_SRC_RELAY_INTERNAL_H
#define IRQLINK_SRC_RELAY_INTERNAL_H

#include <stdint.h>

struct irqlink_relay;

#include <irqlink/relay.h>

/* irqlink_relay_add() for a caller that holds @src_fd's identity @token
 * and keeps @src_fd open until the entry is removed: the entry uses it
 * instead of a dup of its own. */
int il_relay_add_token(struct irqlink_relay *relay, int src_fd,
		       uint64_t token, const struct irqlink_relay_action *act);
int il_relay_remove_token(struct irqlink_relay *relay, uint64_t token);
int il_relay_pause_token(struct irqlink_relay *relay, uint64_t token);
int il_relay_resume_token(struct irqlink_relay *relay, uint64_t token);

/*
 * The first half of il_relay_pause_token(): the relay stops taking new
 * events of the source, but may still read it in the batch it is in, so
 * the caller must not read the source or hand it to KVM yet. The pause
 * completes with il_relay_pause_token() (or is undone by resume); the
 * first such call waits for the thread once for every entry begun before
 * it, so pausing N entries costs one round trip instead of N. Returns 0
 * or -ENOENT; pausing a paused entry does nothing.
 */
int il_relay_pause_token_begin(struct irqlink_relay *relay, uint64_t token);

#endif
