/* SPDX-License-Identifier: MIT */
/*
 * IRQ bypass manager under concurrency: two threads register and unregister
 * producers and consumers over one shared set of tokens, so they keep
 * pairing with, and clashing with, each other's structs; a third thread
 * reads the counters meanwhile. Callbacks check, under the manager's lock,
 * that no pair is ever half built and that stop/start nest. At the end the
 * counters must match the callbacks counted and the pairs found by walking
 * every struct. Worker threads never call cmocka (it is not thread-safe):
 * they count violations, and the main thread asserts.
 */
#include "testutil.h"

#include <irqlink/bypass.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define NTHREADS 2
#define NTOK 64                    /* tokens 1..NTOK, shared by both threads */
#define OPS_PER_THREAD 100000      /* 200,000 operations in all */
#define STATS_READS 20000
#define FAIL_ERR (-ENOSPC)

struct side_state {
	int thread;
	bool stopped;   /* between stop and start; touched under the lock only */
	bool fail_add;  /* consumer: add_producer refuses */
	bool registered; /* the owning thread's view */
};

struct prod {
	struct irqlink_bypass_producer p;
	struct side_state s;
};

struct cons {
	struct irqlink_bypass_consumer c;
	struct side_state s;
};

static struct prod prods[NTHREADS][NTOK];
static struct cons conss[NTHREADS][NTOK];
static struct irqlink_bypass *mgr;

static atomic_ulong violations;
static atomic_ulong n_p_add, n_p_del, n_c_add_ok, n_c_add_fail, n_c_del;
static atomic_ulong n_cross_pairs, n_ebusy, n_refused;
static atomic_bool workers_done;
/* Workers start together, so their operations really interleave. */
static pthread_barrier_t start_line;

#define PROD(x) ((struct prod *)(x))
#define CONS(x) ((struct cons *)(x))

static void check(bool ok)
{
	if (!ok)
		atomic_fetch_add(&violations, 1);
}

/* A pair being built or taken apart has both sides stopped. */
static void check_quiesced(struct irqlink_bypass_producer *p,
			   struct irqlink_bypass_consumer *c)
{
	check(PROD(p)->s.stopped && CONS(c)->s.stopped);
	check(p->token == c->token);
}

static void p_stop(struct irqlink_bypass_producer *p)
{
	check(!PROD(p)->s.stopped);
	PROD(p)->s.stopped = true;
}

static void p_start(struct irqlink_bypass_producer *p)
{
	check(PROD(p)->s.stopped);
	PROD(p)->s.stopped = false;
}

static void c_stop(struct irqlink_bypass_consumer *c)
{
	check(!CONS(c)->s.stopped);
	CONS(c)->s.stopped = true;
}

static void c_start(struct irqlink_bypass_consumer *c)
{
	check(CONS(c)->s.stopped);
	CONS(c)->s.stopped = false;
}

static int p_add(struct irqlink_bypass_producer *p,
		 struct irqlink_bypass_consumer *c)
{
	check_quiesced(p, c);
	check(!p->consumer && !c->producer);
	atomic_fetch_add(&n_p_add, 1);
	return 0;
}

static void p_del(struct irqlink_bypass_producer *p,
		  struct irqlink_bypass_consumer *c)
{
	check_quiesced(p, c);
	/* Either a real disconnect or the rollback of a refused pairing. */
	check((p->consumer == c && c->producer == p) ||
	      (!p->consumer && !c->producer && CONS(c)->s.fail_add));
	atomic_fetch_add(&n_p_del, 1);
}

static int c_add(struct irqlink_bypass_consumer *c,
		 struct irqlink_bypass_producer *p)
{
	check_quiesced(p, c);
	check(!p->consumer && !c->producer);
	if (CONS(c)->s.fail_add) {
		atomic_fetch_add(&n_c_add_fail, 1);
		return FAIL_ERR;
	}
	atomic_fetch_add(&n_c_add_ok, 1);
	if (PROD(p)->s.thread != CONS(c)->s.thread)
		atomic_fetch_add(&n_cross_pairs, 1);
	return 0;
}

static void c_del(struct irqlink_bypass_consumer *c,
		  struct irqlink_bypass_producer *p)
{
	check_quiesced(p, c);
	check(p->consumer == c && c->producer == p);
	atomic_fetch_add(&n_c_del, 1);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
	long i;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < OPS_PER_THREAD; i++) {
		uint64_t r = xorshift(&seed);
		unsigned k = (unsigned)(r % NTOK);
		bool consumer_side = (r >> 32) & 1;
		struct side_state *s;
		int ret;

		if (consumer_side) {
			struct cons *c = &conss[t][k];

			s = &c->s;
			if (s->registered) {
				check(irqlink_bypass_unregister_consumer(mgr, &c->c) == 0);
				s->registered = false;
				continue;
			}
			ret = irqlink_bypass_register_consumer(mgr, &c->c);
		} else {
			struct prod *p = &prods[t][k];

			s = &p->s;
			if (s->registered) {
				check(irqlink_bypass_unregister_producer(mgr, &p->p) == 0);
				s->registered = false;
				continue;
			}
			ret = irqlink_bypass_register_producer(mgr, &p->p);
		}

		if (ret == 0) {
			s->registered = true;
		} else if (ret == -EBUSY) {
			atomic_fetch_add(&n_ebusy, 1);
		} else if (ret == FAIL_ERR) {
			/*
			 * Only a refusing consumer's token can fail; which side
			 * registered last does not matter, so check the token's
			 * consumers instead of this struct.
			 */
			check(conss[0][k].s.fail_add || conss[1][k].s.fail_add);
			atomic_fetch_add(&n_refused, 1);
		} else {
			check(false);
		}
	}
	return NULL;
}

static void *stats_reader(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < STATS_READS && !atomic_load(&workers_done); i++) {
		struct irqlink_bypass_stats st;

		check(irqlink_bypass_get_stats(mgr, &st) == 0);
		check(st.connects >= st.disconnects);
		check(st.connected == st.connects - st.disconnects);
		check(st.connected <= NTOK);
		check(st.producers <= NTOK && st.consumers <= NTOK);
		check(st.connected <= st.producers && st.connected <= st.consumers);
	}
	return NULL;
}

static void init_structs(void)
{
	int t, k;

	for (t = 0; t < NTHREADS; t++) {
		for (k = 0; k < NTOK; k++) {
			prods[t][k] = (struct prod){
				.p = { .token = (uint64_t)k + 1,
				       .add_consumer = p_add, .del_consumer = p_del,
				       .stop = p_stop, .start = p_start },
				.s = { .thread = t },
			};
			conss[t][k] = (struct cons){
				.c = { .token = (uint64_t)k + 1,
				       .add_producer = c_add, .del_producer = c_del,
				       .stop = c_stop, .start = c_start },
				/* One thread's consumer of every 8th token refuses. */
				.s = { .thread = t, .fail_add = t == 1 && k % 8 == 0 },
			};
		}
	}
}

/* Walk every struct: the pairs and registrations the counters claim. */
static void check_consistent(uint64_t *pairs, uint64_t *nprod, uint64_t *ncons)
{
	int t, k;

	*pairs = *nprod = *ncons = 0;
	for (k = 0; k < NTOK; k++) {
		struct prod *rp = NULL;
		struct cons *rc = NULL;

		for (t = 0; t < NTHREADS; t++) {
			struct prod *p = &prods[t][k];
			struct cons *c = &conss[t][k];

			assert_false(p->s.stopped);
			assert_false(c->s.stopped);
			assert_int_equal(p->s.registered, p->p.owner == mgr);
			assert_int_equal(c->s.registered, c->c.owner == mgr);
			if (p->s.registered) {
				assert_null(rp);
				assert_int_equal(p->p.owner_token, (uint64_t)k + 1);
				rp = p;
			} else {
				assert_null(p->p.consumer);
			}
			if (c->s.registered) {
				assert_null(rc);
				assert_int_equal(c->c.owner_token, (uint64_t)k + 1);
				rc = c;
			} else {
				assert_null(c->c.producer);
			}
		}
		*nprod += rp != NULL;
		*ncons += rc != NULL;
		if (rp && rc) {
			/* Both registered means paired: a refusal keeps one out. */
			assert_ptr_equal(rp->p.consumer, &rc->c);
			assert_ptr_equal(rc->c.producer, &rp->p);
			(*pairs)++;
		} else {
			if (rp)
				assert_null(rp->p.consumer);
			if (rc)
				assert_null(rc->c.producer);
		}
	}
}

static void test_bypass_race(void **state)
{
	pthread_t th[NTHREADS], reader;
	struct irqlink_bypass_stats st;
	uint64_t pairs, nprod, ncons;
	int t, k;

	(void)state;
	init_structs();
	assert_int_equal(irqlink_bypass_create(&mgr), 0);
	assert_int_equal(pthread_barrier_init(&start_line, NULL, NTHREADS), 0);

	assert_int_equal(pthread_create(&reader, NULL, stats_reader, NULL), 0);
	for (t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, worker,
						(void *)(intptr_t)t), 0);
	for (t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	atomic_store(&workers_done, true);
	assert_int_equal(pthread_join(reader, NULL), 0);
	pthread_barrier_destroy(&start_line);

	assert_int_equal(atomic_load(&violations), 0);
	assert_int_equal(irqlink_bypass_get_stats(mgr, &st), 0);

	/* The counters agree with the callbacks that ran. */
	assert_int_equal(st.connects, atomic_load(&n_c_add_ok));
	assert_int_equal(st.disconnects, atomic_load(&n_c_del));
	assert_int_equal(st.connect_failures, atomic_load(&n_c_add_fail));
	assert_int_equal(st.connect_failures, atomic_load(&n_refused));
	assert_int_equal(atomic_load(&n_p_add), st.connects + st.connect_failures);
	assert_int_equal(atomic_load(&n_p_del), st.disconnects + st.connect_failures);

	/* ... and with the structs themselves. */
	check_consistent(&pairs, &nprod, &ncons);
	assert_int_equal(st.connects, st.disconnects + st.connected);
	assert_int_equal(st.connected, pairs);
	assert_int_equal(st.producers, nprod);
	assert_int_equal(st.consumers, ncons);

	print_message("connects %llu, refused %llu, EBUSY %lu, cross-thread "
		      "pairs %lu, still connected %llu\n",
		      (unsigned long long)st.connects,
		      (unsigned long long)st.connect_failures,
		      atomic_load(&n_ebusy), atomic_load(&n_cross_pairs),
		      (unsigned long long)st.connected);
	/* The run really exercised pairing and clashing across threads. */
	assert_true(st.connects > 1000);
	assert_true(atomic_load(&n_cross_pairs) > 0);
	assert_true(atomic_load(&n_ebusy) > 0);
	assert_true(st.connect_failures > 0);

	/* Tear down from the main thread: every pair comes apart exactly once. */
	for (t = 0; t < NTHREADS; t++) {
		for (k = 0; k < NTOK; k++) {
			assert_int_equal(irqlink_bypass_unregister_producer(mgr, &prods[t][k].p), 0);
			assert_int_equal(irqlink_bypass_unregister_consumer(mgr, &conss[t][k].c), 0);
			prods[t][k].s.registered = false;
			conss[t][k].s.registered = false;
		}
	}
	assert_int_equal(atomic_load(&violations), 0);
	check_consistent(&pairs, &nprod, &ncons);
	assert_int_equal(pairs + nprod + ncons, 0);
	{
		uint64_t connects = st.connects;

		assert_int_equal(irqlink_bypass_get_stats(mgr, &st), 0);
		assert_int_equal(st.connects, connects);
		assert_int_equal(st.disconnects, connects);
		assert_int_equal(st.connected, 0);
		assert_int_equal(st.producers, 0);
		assert_int_equal(st.consumers, 0);
		assert_int_equal(st.disconnects, atomic_load(&n_c_del));
	}
	irqlink_bypass_destroy(mgr);
	mgr = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bypass_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
