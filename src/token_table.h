/* SPDX-License-Identifier: MIT */
/*
 * A table from a token (an eventfd identity, a non-zero uint64) to a
 * pointer, with O(1) lookups. The one table behind the bypass manager's
 * producers and consumers, a VM's consumer claims, a VM's irqfd records and
 * the relay's entries; src/token_table.c explains the design.
 *
 * Not thread-safe: each user keeps its own table under its own lock (or on
 * its own thread). Pointers are the caller's: the table never frees them.
 */
#ifndef IRQLINK_SRC_TOKEN_TABLE_H
#define IRQLINK_SRC_TOKEN_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct il_token_slot {
	uint64_t token;         /* 0 = empty */
	void *ptr;
};

struct il_token_table {
	struct il_token_slot *slots;
	size_t cap;             /* 0 or a power of two */
	size_t count;
};

/* An empty table; allocates nothing, so it cannot fail. A zeroed struct is
 * an empty table too. */
void il_token_table_init(struct il_token_table *t);
/* Free the slots; the pointers are the caller's (see drain). */
void il_token_table_fini(struct il_token_table *t);
/* Make room for one more entry, so that the next insert of an absent token
 * cannot fail, even if entries are removed in between. Call it before a
 * step that cannot be undone. 0 or -ENOMEM. */
int il_token_table_reserve(struct il_token_table *t);
/* The pointer stored under @token, or NULL (also for token 0). */
void *il_token_table_find(const struct il_token_table *t, uint64_t token);
/* Store @ptr under @token: 0; -EINVAL for token 0 or a NULL @ptr; -EBUSY if
 * @token is present; -ENOMEM only when no reserve made room for it. */
int il_token_table_insert(struct il_token_table *t, uint64_t token, void *ptr);
/* Take @token out: the pointer it stored, or NULL if it was absent. */
void *il_token_table_remove(struct il_token_table *t, uint64_t token);
size_t il_token_table_count(const struct il_token_table *t);
/* Empty the table, calling @fn once per entry that was in it, in no
 * particular order; @fn already sees an empty table. Afterwards the table
 * is as after init (its slots freed). */
void il_token_table_drain(struct il_token_table *t,
			  void (*fn)(uint64_t token, void *ptr, void *opaque),
			  void *opaque);

#endif
