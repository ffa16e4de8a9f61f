/* SPDX-License-Identifier: MIT */
/* A set of non-zero 64-bit tokens (eventfd identities) with O(1) lookups. */
#ifndef IRQLINK_SRC_TOKEN_SET_H
#define IRQLINK_SRC_TOKEN_SET_H

#include <stddef.h>
#include <stdint.h>

struct il_token_set {
	uint64_t *slot;         /* 0 = empty, UINT64_MAX = deleted */
	size_t cap;             /* power of two, or 0 */
	size_t used;            /* live + deleted slots */
	size_t live;
};

/* Add @token: 0, -EBUSY if present, -EINVAL for 0 or UINT64_MAX, -ENOMEM. */
int il_token_set_add(struct il_token_set *s, uint64_t token);
/* Remove @token; a token not present is a no-op. */
void il_token_set_del(struct il_token_set *s, uint64_t token);
void il_token_set_free(struct il_token_set *s);

#endif
