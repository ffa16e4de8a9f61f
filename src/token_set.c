/* SPDX-License-Identifier: MIT */
/*
 * A token set: open addressing with linear probing and tombstones.
 *
 * Theory of operation: tokens are eventfd identities, which the kernel
 * hands out sequentially, so they are mixed before use as a slot index;
 * otherwise neighbouring eventfds would pile into one probe run. The table
 * is rebuilt at twice the size when live + deleted slots pass half of it,
 * which keeps probes short and bounds the tombstones.
 */
#include "token_set.h"

#include <errno.h>
#include <stdlib.h>

#define DELETED UINT64_MAX

static size_t slot_of(const struct il_token_set *s, uint64_t t)
{
	t ^= t >> 33;
	t *= UINT64_C(0xff51afd7ed558ccd);
	t ^= t >> 33;
	return (size_t)t & (s->cap - 1);
}

static size_t *find(struct il_token_set *s, uint64_t t, size_t *i)
{
	for (*i = slot_of(s, t); s->slot[*i]; *i = (*i + 1) & (s->cap - 1))
		if (s->slot[*i] == t)
			return i;
	return NULL;
}

static int grow(struct il_token_set *s)
{
	struct il_token_set n = { .cap = s->cap ? s->cap * 2 : 16 };
	size_t i, j;

	n.slot = calloc(n.cap, sizeof(*n.slot));
	if (!n.slot)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++) {
		if (!s->slot[i] || s->slot[i] == DELETED)
			continue;
		for (j = slot_of(&n, s->slot[i]); n.slot[j]; j = (j + 1) & (n.cap - 1))
			;
		n.slot[j] = s->slot[i];
		n.used = ++n.live;
	}
	free(s->slot);
	*s = n;
	return 0;
}

int il_token_set_add(struct il_token_set *s, uint64_t t)
{
	size_t i;

	if (!t || t == DELETED)
		return -EINVAL;
	if (s->cap && find(s, t, &i))
		return -EBUSY;
	if ((s->used + 1) * 2 > s->cap && grow(s))
		return -ENOMEM;
	for (i = slot_of(s, t); s->slot[i] && s->slot[i] != DELETED;
	     i = (i + 1) & (s->cap - 1))
		;
	if (!s->slot[i])
		s->used++;
	s->slot[i] = t;
	s->live++;
	return 0;
}

void il_token_set_del(struct il_token_set *s, uint64_t t)
{
	size_t i;

	if (!s->cap || !t || t == DELETED || !find(s, t, &i))
		return;
	s->slot[i] = DELETED;
	s->live--;
}

void il_token_set_free(struct il_token_set *s)
{
	free(s->slot);
	*s = (struct il_token_set){ 0 };
}
