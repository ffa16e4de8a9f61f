/* SPDX-License-Identifier: MIT */
/*
 * IRQ bypass manager.
 *
 * Theory of operation: producers and consumers each live in their own hash
 * table, keyed by the token they registered under, so registering finds a
 * clash on its own side and its partner on the other side in O(1) (Linux
 * replaced its lists with an xarray for the same reason: thousands of
 * irqfds made every registration walk thousands of entries). The tables
 * are token tables (src/token_table.c): open addressing with linear probing
 * and backward-shift deletion, so heavy register/unregister churn never
 * leaves tombstones that slow lookups down.
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
#include "token_table.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

struct irqlink_bypass {
	pthread_mutex_t lock;
	struct il_token_table producers;
	struct il_token_table consumers;
	uint64_t connects;
	uint64_t disconnects;
	uint64_t connect_failures;
};

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
	il_token_table_init(&b->producers);
	il_token_table_init(&b->consumers);
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

/* Drain callbacks of irqlink_bypass_destroy(), run under the mutex. */
static void drop_producer(uint64_t token, void *obj, void *opaque)
{
	struct irqlink_bypass_producer *prod = obj;

	(void)token;
	if (prod->consumer)
		pair_disconnect(opaque, prod, prod->consumer);
	prod->owner = NULL;
	prod->owner_token = 0;
}

static void drop_consumer(uint64_t token, void *obj, void *opaque)
{
	struct irqlink_bypass_consumer *cons = obj;

	(void)token;
	(void)opaque;
	cons->owner = NULL;
	cons->owner_token = 0;
}

void irqlink_bypass_destroy(struct irqlink_bypass *b)
{
	if (!b)
		return;
	/* Held so that a callback re-entering the manager fails cleanly. */
	bypass_lock(b);
	il_token_table_drain(&b->producers, drop_producer, b);
	il_token_table_drain(&b->consumers, drop_consumer, b);
	bypass_unlock(b);
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
	if (prod->owner || il_token_table_find(&b->producers, token)) {
		r = -EBUSY;
		goto out;
	}
	r = il_token_table_reserve(&b->producers);
	if (r)
		goto out;

	prod->consumer = NULL;
	cons = il_token_table_find(&b->consumers, token);
	if (cons) {
		r = pair_connect(b, prod, cons);
		if (r)
			goto out;
	}
	/* Cannot fail: reserved above, token checked absent and non-zero. */
	(void)il_token_table_insert(&b->producers, token, prod);
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
		(void)il_token_table_remove(&b->producers, prod->owner_token);
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
	if (cons->owner || il_token_table_find(&b->consumers, token)) {
		r = -EBUSY;
		goto out;
	}
	r = il_token_table_reserve(&b->consumers);
	if (r)
		goto out;

	cons->producer = NULL;
	prod = il_token_table_find(&b->producers, token);
	if (prod) {
		r = pair_connect(b, prod, cons);
		if (r)
			goto out;
	}
	/* Cannot fail: reserved above, token checked absent and non-zero. */
	(void)il_token_table_insert(&b->consumers, token, cons);
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
		(void)il_token_table_remove(&b->consumers, cons->owner_token);
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
	out->producers = il_token_table_count(&b->producers);
	out->consumers = il_token_table_count(&b->consumers);
	bypass_unlock(b);
	return 0;
}
