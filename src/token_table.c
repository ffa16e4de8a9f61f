/* SPDX-License-Identifier: MIT */
/*
 * The token table: token -> pointer, open addressing.
 *
 * Theory of operation: every table irqlink keeps is keyed by eventfd
 * identity -- the bypass manager's producers and consumers, a VM's consumer
 * claims, a VM's irqfd records, the relay's entries -- and all of them want
 * the same things: O(1) lookups with thousands of entries (Linux replaced
 * the bypass manager's lists with an xarray because walking them took
 * hundreds of milliseconds), heavy register/unregister churn, and an insert
 * that can be made unable to fail. So there is one table, with one mixer.
 *
 * Open addressing with linear probing: one array of (token, pointer) slots
 * per table, no allocation per entry and no link embedded in the records,
 * and a lookup is a short walk over adjacent slots. Token 0 never names an
 * eventfd (il_eventfd_token() hands out id + 1), so it marks an empty slot.
 * The capacity is a power of two and the load stays at or below 70 %, where
 * linear probing's runs are still short.
 *
 * Deletion shifts the rest of the probe run back instead of leaving a
 * tombstone, so churn never leaves dead slots that lengthen every lookup or
 * force a rebuild, and no token value has to be set aside as "deleted".
 *
 * Reserve before commit: reserve() is the only step that allocates. It
 * grows the table ahead of an insert so that the insert itself cannot fail,
 * which is what lets a caller reserve, then take a step it cannot undo
 * cleanly, then insert: the bypass manager runs a pair's connect callbacks,
 * the relay adds the source to its epoll set, irqfd.c has KVM attach the
 * irqfd. Running out of memory after such a step would mean undoing it (a
 * disconnect the partners would see, a second epoll_ctl or ioctl that could
 * itself fail); reserving first means failing before anything happened.
 * Removing entries between the reserve and the insert keeps the room: a
 * shrink leaves the table at most a quarter full.
 *
 * Shrinking: after a burst the table halves once fewer than an eighth of
 * its slots are used, so memory comes back; the gap to the 70 % at which
 * it grows keeps a table that hovers at one size from resizing over and
 * over. A shrink that cannot allocate just keeps the larger table.
 */
#include "token_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define MIN_CAP 16u

/*
 * Eventfd ids are small sequential numbers, and bypass tokens chosen by a
 * caller may differ only in their high bits; the slot is taken from the low
 * bits, so a full 64-bit mix (splitmix64's finalizer) spreads both kinds
 * over the table.
 */
static size_t home_of(uint64_t token, size_t cap)
{
	token ^= token >> 30;
	token *= UINT64_C(0xbf58476d1ce4e5b9);
	token ^= token >> 27;
	token *= UINT64_C(0x94d049bb133111eb);
	token ^= token >> 31;
	return (size_t)token & (cap - 1);
}

static bool has_room(const struct il_token_table *t)
{
	return t->cap && (t->count + 1) * 10 <= t->cap * 7;
}

/* Place an entry known to be absent; the table has a free slot. */
static void place(struct il_token_table *t, uint64_t token, void *ptr)
{
	size_t i = home_of(token, t->cap);

	while (t->slots[i].token)
		i = (i + 1) & (t->cap - 1);
	t->slots[i].token = token;
	t->slots[i].ptr = ptr;
	t->count++;
}

static int resize(struct il_token_table *t, size_t cap)
{
	struct il_token_slot *old = t->slots;
	size_t old_cap = t->cap, i;

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->cap = cap;
	t->count = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].token)
			place(t, old[i].token, old[i].ptr);
	free(old);
	return 0;
}

void il_token_table_init(struct il_token_table *t)
{
	*t = (struct il_token_table){ 0 };
}

void il_token_table_fini(struct il_token_table *t)
{
	free(t->slots);
	il_token_table_init(t);
}

int il_token_table_reserve(struct il_token_table *t)
{
	size_t cap = t->cap ? t->cap : MIN_CAP;

	while ((t->count + 1) * 10 > cap * 7) {
		if (cap > SIZE_MAX / 2 / sizeof(struct il_token_slot))
			return -ENOMEM;
		cap *= 2;
	}
	return cap == t->cap ? 0 : resize(t, cap);
}

void *il_token_table_find(const struct il_token_table *t, uint64_t token)
{
	size_t i;

	if (!t->cap || !token)
		return NULL;
	for (i = home_of(token, t->cap); t->slots[i].token;
	     i = (i + 1) & (t->cap - 1))
		if (t->slots[i].token == token)
			return t->slots[i].ptr;
	return NULL;
}

int il_token_table_insert(struct il_token_table *t, uint64_t token, void *ptr)
{
	int r;

	/* NULL is find()'s "absent", so it cannot be a stored value. */
	if (!token || !ptr)
		return -EINVAL;
	if (il_token_table_find(t, token))
		return -EBUSY;
	if (!has_room(t)) {
		r = il_token_table_reserve(t);
		if (r)
			return r;
	}
	place(t, token, ptr);
	return 0;
}

void *il_token_table_remove(struct il_token_table *t, uint64_t token)
{
	size_t mask = t->cap - 1, hole, i;
	void *ptr;

	if (!t->cap || !token)
		return NULL;
	for (hole = home_of(token, t->cap); t->slots[hole].token != token;
	     hole = (hole + 1) & mask)
		if (!t->slots[hole].token)
			return NULL;
	ptr = t->slots[hole].ptr;

	/*
	 * Backward-shift: pull each later entry of the probe run into the hole
	 * unless its home slot lies cyclically after the hole (moving it there
	 * would put it before its home, where lookups would never reach it).
	 */
	for (i = (hole + 1) & mask; t->slots[i].token; i = (i + 1) & mask) {
		size_t home = home_of(t->slots[i].token, t->cap);

		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->slots[hole] = t->slots[i];
			hole = i;
		}
	}
	t->slots[hole].token = 0;
	t->slots[hole].ptr = NULL;
	t->count--;

	/* Give memory back after a burst; failing to shrink is harmless. */
	if (t->cap > MIN_CAP && t->count * 8 < t->cap)
		(void)resize(t, t->cap / 2);
	return ptr;
}

size_t il_token_table_count(const struct il_token_table *t)
{
	return t->count;
}

void il_token_table_drain(struct il_token_table *t,
			  void (*fn)(uint64_t token, void *ptr, void *opaque),
			  void *opaque)
{
	struct il_token_slot *slots = t->slots;
	size_t cap = t->cap, i;

	/* Detached first: whatever @fn does, it sees an empty table. */
	il_token_table_init(t);
	for (i = 0; i < cap; i++)
		if (slots[i].token)
			fn(slots[i].token, slots[i].ptr, opaque);
	free(slots);
}
