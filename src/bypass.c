/* SPDX-License-Identifier: MIT */
/*
 * IRQ bypass manager.
 *
 * Theory of operation: producers and consumers each live in their own hash
 * table, keyed by the token they registered under, so registering finds a
 * clash on its own side and its partner on the other side in O(1) (Linux
 * replaced its lists with an xarray for the same reason: thousands of
 * irqfds made every registration walk thousands of entries). Tables use
 * open addressing with linear probing and backward-shift deletion, so heavy
 * register/unregister churn never leaves tombstones that slow lookups down.
 *
 * A registration reserves its table slot before any callback runs; the only
 * thing that can fail after the first callback is the pair's own
 * add_consumer/add_producer, and then nothing has been inserted, so a failed
 * registration leaves no trace -- the same outcome Linux reaches by erasing
 * its xarray entry again.
 *
 * One mutex guards both tables, the counters and every manager-set field of
 * the registered structs; callbacks run under it, so a pair is never seen
 * half connected. The mutex is error-checking: a callback that re-enters the
 * manager gets -EDEADLK instead of hanging the thread.
 */
#include <irqlink/bypass.h>

#include "eventfd.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Token 0 never names a registration, so it marks an empty slot. */
struct slot {
	uint64_t key;
	void *obj;
};

struct table {
	struct slot *slots;
	size_t cap;     /* 0 or a power of two */
	size_t count;
};

#define TABLE_MIN_CAP 16u

struct irqlink_bypass {
	pthread_mutex_t lock;
	struct table producers;
	struct table consumers;
	uint64_t connects;
	uint64_t disconnects;
	uint64_t connect_failures;
};

/*
 * Eventfd ids are small sequential numbers; a full 64-bit mix spreads them
 * (and caller-chosen tokens with structure in the high bits) over the table.
 */
static size_t slot_index(uint64_t key, size_t cap)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ull;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebull;
	key ^= key >> 31;
	return (size_t)key & (cap - 1);
}

static void *table_find(const struct table *t, uint64_t key)
{
	size_t i;

	if (!t->cap)
		return NULL;
	for (i = slot_index(key, t->cap); t->slots[i].key;
	     i = (i + 1) & (t->cap - 1))
		if (t->slots[i].key == key)
			return t->slots[i].obj;
	return NULL;
}

/* Place an entry known to be absent; the table has a free slot. */
static void table_place(struct table *t, uint64_t key, void *obj)
{
	size_t i = slot_index(key, t->cap);

	while (t->slots[i].key)
		i = (i + 1) & (t->cap - 1);
	t->slots[i].key = key;
	t->slots[i].obj = obj;
	t->count++;
}

static int table_resize(struct table *t, size_t cap)
{
	struct slot *old = t->slots;
	size_t old_cap = t->cap, i;

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->cap = cap;
	t->count = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].key)
			table_place(t, old[i].key, old[i].obj);
	free(old);
	return 0;
}

/*
 * Make room for one more entry, keeping the load at or below 70 % so probe
 * runs stay short. Called before any callback so that, once a pairing has
 * been made, inserting cannot fail.
 */
static int table_reserve(struct table *t)
{
	size_t cap = t->cap ? t->cap : TABLE_MIN_CAP;

	while ((t->count + 1) * 10 > cap * 7) {
		if (cap > SIZE_MAX / 2 / sizeof(struct slot))
			return -ENOMEM;
		cap *= 2;
	}
	return cap == t->cap ? 0 : table_resize(t, cap);
}

static void table_remove(struct table *t, uint64_t key)
{
	size_t mask = t->cap - 1, hole, i;

	for (hole = slot_index(key, t->cap); t->slots[hole].key != key;
	     hole = (hole + 1) & mask)
		if (!t->slots[hole].key)
			return;

	/*
	 * Backward-shift: pull each later entry of the probe run into the hole
	 * unless its home slot lies cyclically after the hole (moving it there
	 * would put it before its home, where lookups would never reach it).
	 */
	for (i = (hole + 1) & mask; t->slots[i].key; i = (i + 1) & mask) {
		size_t home = slot_index(t->slots[i].key, t->cap);

		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->slots[hole] = t->slots[i];
			hole = i;
		}
	}
	t->slots[hole].key = 0;
	t->slots[hole].obj = NULL;
	t->count--;

	/* Give memory back after a burst; failing to shrink is harmless. */
	if (t->cap > TABLE_MIN_CAP && t->count * 8 < t->cap)
		(void)table_resize(t, t->cap / 2);
}

static int bypass_lock(struct irqlink_bypass *b)
{
	return -pthread_mutex_lock(&b->lock);
}

static void bypass_unlock(struct irqlink_bypass *b)
{
	pthread_mutex_unlock(&b->lock);
}

/*
 * Both sides are quiesced before either learns of the other and restarted
 * only when both agree, so neither runs while the pair is half built. The
 * restart happens on failure too: a refused pairing must not leave a side
 * stopped.
 */
static int pair_connect(struct irqlink_bypass *b,
			struct irqlink_bypass_producer *prod,
			struct irqlink_bypass_consumer *cons)
{
	int r = 0;

	if (prod->stop)
		prod->stop(prod);
	if (cons->stop)
		cons->stop(cons);

	if (prod->add_consumer)
		r = prod->add_consumer(prod, cons);
	if (!r) {
		r = cons->add_producer(cons, prod);
		/* The producer already accepted: take that back. */
		if (r && prod->del_consumer)
			prod->del_consumer(prod, cons);
	}

	if (cons->start)
		cons->start(cons);
	if (prod->start)
		prod->start(prod);

	if (r) {
		b->connect_failures++;
		return r;
	}
	prod->consumer = cons;
	cons->producer = prod;
	b->connects++;
	return 0;
}

/* The mirror of pair_connect: the consumer lets go first, as it took last. */
static void pair_disconnect(struct irqlink_bypass *b,
			    struct irqlink_bypass_producer *prod,
			    struct irqlink_bypass_consumer *cons)
{
	if (prod->stop)
		prod->stop(prod);
	if (cons->stop)
		cons->stop(cons);

	cons->del_producer(cons, prod);
	if (prod->del_consumer)
		prod->del_consumer(prod, cons);

	if (cons->start)
		cons->start(cons);
	if (prod->start)
		prod->start(prod);

	prod->consumer = NULL;
	cons->producer = NULL;
	b->disconnects++;
}

int irqlink_bypass_create(struct irqlink_bypass **out)
{
	struct irqlink_bypass *b;
	pthread_mutexattr_t attr;
	int r;

	if (!out)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = -pthread_mutexattr_init(&attr);
	if (r)
		goto err_free;
	r = -pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	if (!r)
		r = -pthread_mutex_init(&b->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (r)
		goto err_free;
	*out = b;
	return 0;

err_free:
	free(b);
	return r;
}

void irqlink_bypass_destroy(struct irqlink_bypass *b)
{
	size_t i;

	if (!b)
		return;
	/* Held so that a callback re-entering the manager fails cleanly. */
	bypass_lock(b);
	for (i = 0; i < b->producers.cap; i++) {
		struct irqlink_bypass_producer *prod = b->producers.slots[i].obj;

		if (!prod)
			continue;
		if (prod->consumer)
			pair_disconnect(b, prod, prod->consumer);
		prod->owner = NULL;
		prod->owner_token = 0;
	}
	for (i = 0; i < b->consumers.cap; i++) {
		struct irqlink_bypass_consumer *cons = b->consumers.slots[i].obj;

		if (!cons)
			continue;
		cons->owner = NULL;
		cons->owner_token = 0;
	}
	bypass_unlock(b);
	free(b->producers.slots);
	free(b->consumers.slots);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int irqlink_bypass_register_producer(struct irqlink_bypass *b,
				     struct irqlink_bypass_producer *prod)
{
	struct irqlink_bypass_consumer *cons;
	uint64_t token;
	int r;

	if (!b || !prod || !prod->token)
		return -EINVAL;
	r = bypass_lock(b);
	if (r)
		return r;

	token = prod->token;
	if (prod->owner || table_find(&b->producers, token)) {
		r = -EBUSY;
		goto out;
	}
	r = table_reserve(&b->producers);
	if (r)
		goto out;

	prod->consumer = NULL;
	cons = table_find(&b->consumers, token);
	if (cons) {
		r = pair_connect(b, prod, cons);
		if (r)
			goto out;
	}
	table_place(&b->producers, token, prod);
	prod->owner = b;
	prod->owner_token = token;
out:
	bypass_unlock(b);
	return r;
}

int irqlink_bypass_unregister_producer(struct irqlink_bypass *b,
				       struct irqlink_bypass_producer *prod)
{
	int r;

	if (!b || !prod)
		return -EINVAL;
	r = bypass_lock(b);
	if (r)
		return r;
	if (prod->owner == b) {
		if (prod->consumer)
			pair_disconnect(b, prod, prod->consumer);
		table_remove(&b->producers, prod->owner_token);
		prod->owner = NULL;
		prod->owner_token = 0;
	}
	bypass_unlock(b);
	return 0;
}

int irqlink_bypass_register_consumer(struct irqlink_bypass *b,
				     struct irqlink_bypass_consumer *cons)
{
	struct irqlink_bypass_producer *prod;
	uint64_t token;
	int r;

	if (!b || !cons || !cons->token ||
	    !cons->add_producer || !cons->del_producer)
		return -EINVAL;
	r = bypass_lock(b);
	if (r)
		return r;

	token = cons->token;
	if (cons->owner || table_find(&b->consumers, token)) {
		r = -EBUSY;
		goto out;
	}
	r = table_reserve(&b->consumers);
	if (r)
		goto out;

	cons->producer = NULL;
	prod = table_find(&b->producers, token);
	if (prod) {
		r = pair_connect(b, prod, cons);
		if (r)
			goto out;
	}
	table_place(&b->consumers, token, cons);
	cons->owner = b;
	cons->owner_token = token;
out:
	bypass_unlock(b);
	return r;
}

int irqlink_bypass_unregister_consumer(struct irqlink_bypass *b,
				       struct irqlink_bypass_consumer *cons)
{
	int r;

	if (!b || !cons)
		return -EINVAL;
	r = bypass_lock(b);
	if (r)
		return r;
	if (cons->owner == b) {
		if (cons->producer)
			pair_disconnect(b, cons->producer, cons);
		table_remove(&b->consumers, cons->owner_token);
		cons->owner = NULL;
		cons->owner_token = 0;
	}
	bypass_unlock(b);
	return 0;
}

int irqlink_bypass_token_from_fd(int fd, uint64_t *token)
{
	if (!token)
		return -EINVAL;
	return il_eventfd_token(fd, token);
}

int irqlink_bypass_get_stats(struct irqlink_bypass *b,
			     struct irqlink_bypass_stats *out)
{
	int r;

	if (!b || !out)
		return -EINVAL;
	r = bypass_lock(b);
	if (r)
		return r;
	out->connects = b->connects;
	out->disconnects = b->disconnects;
	out->connect_failures = b->connect_failures;
	out->connected = b->connects - b->disconnects;
	out->producers = b->producers.count;
	out->consumers = b->consumers.count;
	bypass_unlock(b);
	return 0;
}
