/* SPDX-License-Identifier: MIT */
/*
 * The token map behind the irqfd records of a VM and the relay's entries.
 *
 * Theory of operation: records embed their link, so inserting never
 * allocates and removing never frees; the only allocation is the bucket
 * array, which doubles ahead of an insert (il_token_map_reserve) so that
 * callers can reserve before a step they could not undo, such as a
 * KVM_IRQFD or an epoll registration. Tokens are eventfd ids, handed out
 * sequentially, so they are multiplied by a 64-bit golden-ratio constant
 * before masking, which spreads neighbours over the buckets.
 */
#include "token_map.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot(size_t nbuckets, uint64_t token)
{
	return (size_t)((token * UINT64_C(0x9E3779B97F4A7C15)) >> 32) &
	       (nbuckets - 1);
}

int il_token_map_init(struct il_token_map *m, size_t nbuckets)
{
	m->bucket = calloc(nbuckets, sizeof(*m->bucket));
	if (!m->bucket)
		return -ENOMEM;
	m->nbuckets = nbuckets;
	m->count = 0;
	return 0;
}

void il_token_map_fini(struct il_token_map *m)
{
	free(m->bucket);
	m->bucket = NULL;
	m->nbuckets = m->count = 0;
}

int il_token_map_reserve(struct il_token_map *m)
{
	struct il_token_link **nb, *l, *next;
	size_t i, n = m->nbuckets * 2;

	if (m->count < m->nbuckets)
		return 0;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	for (i = 0; i < m->nbuckets; i++) {
		for (l = m->bucket[i]; l; l = next) {
			size_t h = slot(n, l->token);

			next = l->next;
			l->next = nb[h];
			nb[h] = l;
		}
	}
	free(m->bucket);
	m->bucket = nb;
	m->nbuckets = n;
	return 0;
}

struct il_token_link **il_token_map_chain(struct il_token_map *m,
					  uint64_t token)
{
	return &m->bucket[slot(m->nbuckets, token)];
}

void il_token_map_insert(struct il_token_map *m, struct il_token_link *l)
{
	struct il_token_link **p = il_token_map_chain(m, l->token);

	l->next = *p;
	*p = l;
	m->count++;
}

void il_token_map_unlink(struct il_token_map *m, struct il_token_link **at)
{
	*at = (*at)->next;
	m->count--;
}

struct il_token_link *il_token_map_drain(struct il_token_map *m)
{
	struct il_token_link *all = NULL, *l, *next;
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		for (l = m->bucket[i]; l; l = next) {
			next = l->next;
			l->next = all;
			all = l;
		}
		m->bucket[i] = NULL;
	}
	m->count = 0;
	return all;
}
