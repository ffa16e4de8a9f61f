/* SPDX-License-Identifier: MIT */
/* An intrusive chained hash map keyed by eventfd identity (a token). */
#ifndef IRQLINK_SRC_TOKEN_MAP_H
#define IRQLINK_SRC_TOKEN_MAP_H

#include <stddef.h>
#include <stdint.h>

/* Embed one in each record; the map never allocates records. */
struct il_token_link {
	struct il_token_link *next;
	uint64_t token;
};

struct il_token_map {
	struct il_token_link **bucket;
	size_t nbuckets;        /* a power of two */
	size_t count;
};

#define il_token_entry(link, type, member) \
	((type *)(void *)((char *)(link) - offsetof(type, member)))

/* 0 or -ENOMEM. @nbuckets is the starting size, a power of two. */
int il_token_map_init(struct il_token_map *m, size_t nbuckets);
/* Frees the buckets; the records are the caller's (see drain). */
void il_token_map_fini(struct il_token_map *m);
/* Make room for one more record so the load factor stays at most 1 and
 * lookups O(1). Call before a step that cannot be undone, so running out
 * of memory never has to undo it. 0 or -ENOMEM. */
int il_token_map_reserve(struct il_token_map *m);
/* The link at the head of @token's chain: walk it with &(*p)->next,
 * matching what the caller needs beyond the token. */
struct il_token_link **il_token_map_chain(struct il_token_map *m,
					  uint64_t token);
/* Insert @l (its token set) after a successful reserve. */
void il_token_map_insert(struct il_token_map *m, struct il_token_link *l);
/* Remove the record *@at points to (a link found by walking a chain). */
void il_token_map_unlink(struct il_token_map *m, struct il_token_link **at);
/* Empty the map; returns every record as one list (through ->next). */
struct il_token_link *il_token_map_drain(struct il_token_map *m);

#endif
