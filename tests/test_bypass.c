/* SPDX-License-Identifier: MIT */
/*
 * IRQ bypass manager: callback order on connect and disconnect (rules 36,
 * 37), rollback when a side refuses, every error code (rule 38), O(1)
 * registration at scale (rule 39), eventfd tokens, and independence of
 * managers.
 */
#include "eventfd.h"
#include "testutil.h"

#include <irqlink/bypass.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- callback log ----------------------------------------------------- */

enum ev {
	P_STOP = 1, P_START, P_ADD, P_DEL,
	C_STOP, C_START, C_ADD, C_DEL,
};

struct rec {
	enum ev ev;
	void *self;
	void *peer;
};

#define LOG_MAX 64
static struct rec log_buf[LOG_MAX];
static size_t log_len;

/* Results the add callbacks return; tests set them per case. */
static int p_add_ret, c_add_ret;

static void log_ev(enum ev ev, void *self, void *peer)
{
	assert_true(log_len < LOG_MAX);
	log_buf[log_len++] = (struct rec){ ev, self, peer };
}

static void log_reset(void)
{
	log_len = 0;
	memset(log_buf, 0, sizeof(log_buf));
}

/* Assert the log holds exactly @n events; self/peer checked per event. */
static void expect_log(const struct rec *want, size_t n)
{
	size_t i;

	assert_int_equal(log_len, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(log_buf[i].ev, want[i].ev);
		assert_ptr_equal(log_buf[i].self, want[i].self);
		assert_ptr_equal(log_buf[i].peer, want[i].peer);
	}
	log_reset();
}

static int p_add(struct irqlink_bypass_producer *p,
		 struct irqlink_bypass_consumer *c)
{
	log_ev(P_ADD, p, c);
	return p_add_ret;
}

static void p_del(struct irqlink_bypass_producer *p,
		  struct irqlink_bypass_consumer *c)
{
	log_ev(P_DEL, p, c);
}

static void p_stop(struct irqlink_bypass_producer *p)
{
	log_ev(P_STOP, p, NULL);
}

static void p_start(struct irqlink_bypass_producer *p)
{
	log_ev(P_START, p, NULL);
}

static int c_add(struct irqlink_bypass_consumer *c,
		 struct irqlink_bypass_producer *p)
{
	log_ev(C_ADD, c, p);
	return c_add_ret;
}

static void c_del(struct irqlink_bypass_consumer *c,
		  struct irqlink_bypass_producer *p)
{
	log_ev(C_DEL, c, p);
}

static void c_stop(struct irqlink_bypass_consumer *c)
{
	log_ev(C_STOP, c, NULL);
}

static void c_start(struct irqlink_bypass_consumer *c)
{
	log_ev(C_START, c, NULL);
}

static struct irqlink_bypass_producer full_producer(uint64_t token)
{
	return (struct irqlink_bypass_producer){
		.token = token, .add_consumer = p_add, .del_consumer = p_del,
		.stop = p_stop, .start = p_start,
	};
}

static struct irqlink_bypass_consumer full_consumer(uint64_t token)
{
	return (struct irqlink_bypass_consumer){
		.token = token, .add_producer = c_add, .del_producer = c_del,
		.stop = c_stop, .start = c_start,
	};
}

static struct irqlink_bypass_stats stats_of(struct irqlink_bypass *b)
{
	struct irqlink_bypass_stats s;

	assert_int_equal(irqlink_bypass_get_stats(b, &s), 0);
	return s;
}

static void expect_stats(struct irqlink_bypass *b, uint64_t connects,
			 uint64_t disconnects, uint64_t failures,
			 uint64_t producers, uint64_t consumers)
{
	struct irqlink_bypass_stats s = stats_of(b);

	assert_int_equal(s.connects, connects);
	assert_int_equal(s.disconnects, disconnects);
	assert_int_equal(s.connect_failures, failures);
	assert_int_equal(s.connected, connects - disconnects);
	assert_int_equal(s.producers, producers);
	assert_int_equal(s.consumers, consumers);
}

static int setup(void **state)
{
	struct irqlink_bypass *b;

	log_reset();
	p_add_ret = 0;
	c_add_ret = 0;
	if (irqlink_bypass_create(&b))
		return -1;
	*state = b;
	return 0;
}

/*
 * Each test ends with done(), which destroys its manager while the test's
 * structs are still alive. A manager still here means the test failed part
 * way: it may point at structs on a stack that is gone, so leak it rather
 * than let destroy write through those pointers.
 */
static int teardown(void **state)
{
	(void)state;
	return 0;
}

static void done(void **state)
{
	irqlink_bypass_destroy(*state);
	*state = NULL;
}

/* Rule 36's sequence for the pair (p, c). */
#define CONNECT_SEQ(p, c) {                                             \
	{ P_STOP, (p), NULL }, { C_STOP, (c), NULL },                   \
	{ P_ADD, (p), (c) }, { C_ADD, (c), (p) },                       \
	{ C_START, (c), NULL }, { P_START, (p), NULL } }

/* Rule 37's sequence for the pair (p, c). */
#define DISCONNECT_SEQ(p, c) {                                          \
	{ P_STOP, (p), NULL }, { C_STOP, (c), NULL },                   \
	{ C_DEL, (c), (p) }, { P_DEL, (p), (c) },                       \
	{ C_START, (c), NULL }, { P_START, (p), NULL } }

/* ---- connect / disconnect order ---------------------------------------- */

static void test_connect_producer_first(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(7);
	struct irqlink_bypass_consumer c = full_consumer(7);
	const struct rec want[] = CONNECT_SEQ(&p, &c);

	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	expect_log(NULL, 0);
	assert_null(p.consumer);
	assert_ptr_equal(p.owner, b);
	expect_stats(b, 0, 0, 0, 1, 0);

	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	expect_log(want, 6);
	assert_ptr_equal(p.consumer, &c);
	assert_ptr_equal(c.producer, &p);
	expect_stats(b, 1, 0, 0, 1, 1);
	done(state);
}

static void test_connect_consumer_first(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(7);
	struct irqlink_bypass_consumer c = full_consumer(7);
	const struct rec want[] = CONNECT_SEQ(&p, &c);

	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	expect_log(NULL, 0);
	assert_null(c.producer);

	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	expect_log(want, 6);
	assert_ptr_equal(p.consumer, &c);
	assert_ptr_equal(c.producer, &p);
	expect_stats(b, 1, 0, 0, 1, 1);
	done(state);
}

static void test_no_pairing_across_tokens(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(7);
	struct irqlink_bypass_consumer c = full_consumer(8);

	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	expect_log(NULL, 0);
	assert_null(p.consumer);
	assert_null(c.producer);
	expect_stats(b, 0, 0, 0, 1, 1);
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	expect_log(NULL, 0);
	expect_stats(b, 0, 0, 0, 0, 0);
	done(state);
}

static void test_disconnect_by_producer(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(9);
	struct irqlink_bypass_consumer c = full_consumer(9);
	const struct rec want_dis[] = DISCONNECT_SEQ(&p, &c);
	const struct rec want_con[] = CONNECT_SEQ(&p, &c);

	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	log_reset();

	assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	expect_log(want_dis, 6);
	assert_null(p.consumer);
	assert_null(c.producer);
	assert_null(p.owner);
	assert_ptr_equal(c.owner, b);
	expect_stats(b, 1, 1, 0, 0, 1);

	/* The consumer stayed registered: the producer's return pairs again. */
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	expect_log(want_con, 6);
	expect_stats(b, 2, 1, 0, 1, 1);
	done(state);
}

static void test_disconnect_by_consumer(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(9);
	struct irqlink_bypass_consumer c = full_consumer(9);
	const struct rec want_dis[] = DISCONNECT_SEQ(&p, &c);
	const struct rec want_con[] = CONNECT_SEQ(&p, &c);

	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	log_reset();

	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	expect_log(want_dis, 6);
	assert_null(p.consumer);
	assert_null(c.producer);
	assert_null(c.owner);
	assert_ptr_equal(p.owner, b);
	expect_stats(b, 1, 1, 0, 1, 0);

	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	expect_log(want_con, 6);
	expect_stats(b, 2, 1, 0, 1, 1);

	/* Unregistering the second side of a broken pair calls nothing. */
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	log_reset();
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	expect_log(NULL, 0);
	expect_stats(b, 2, 2, 0, 0, 0);
	done(state);
}

/* Only the consumer's two required callbacks: the optional ones are skipped. */
static void test_optional_callbacks_absent(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = { .token = 3 };
	struct irqlink_bypass_consumer c = {
		.token = 3, .add_producer = c_add, .del_producer = c_del,
	};
	const struct rec want_add[] = { { C_ADD, &c, &p } };
	const struct rec want_del[] = { { C_DEL, &c, &p } };

	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	expect_log(want_add, 1);
	assert_ptr_equal(p.consumer, &c);
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	expect_log(want_del, 1);
	assert_null(c.producer);
	done(state);
}

/* ---- refused pairings --------------------------------------------------- */

/*
 * add_producer fails: the producer's del_consumer undoes add_consumer, both
 * sides restart, and the registration that tried fails with that error and
 * is not kept (Linux erases its xarray entry and returns the error).
 */
static void check_add_producer_failure(struct irqlink_bypass *b,
				       bool producer_last)
{
	struct irqlink_bypass_producer p = full_producer(11);
	struct irqlink_bypass_consumer c = full_consumer(11);
	const struct rec want[] = {
		{ P_STOP, &p, NULL }, { C_STOP, &c, NULL },
		{ P_ADD, &p, &c }, { C_ADD, &c, &p }, { P_DEL, &p, &c },
		{ C_START, &c, NULL }, { P_START, &p, NULL },
	};
	const struct rec want_con[] = CONNECT_SEQ(&p, &c);

	c_add_ret = -ENOSPC;
	if (producer_last) {
		assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
		assert_int_equal(irqlink_bypass_register_producer(b, &p), -ENOSPC);
		assert_null(p.owner);
		assert_ptr_equal(c.owner, b);
		expect_stats(b, 0, 0, 1, 0, 1);
	} else {
		assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
		assert_int_equal(irqlink_bypass_register_consumer(b, &c), -ENOSPC);
		assert_null(c.owner);
		assert_ptr_equal(p.owner, b);
		expect_stats(b, 0, 0, 1, 1, 0);
	}
	expect_log(want, 7);
	assert_null(p.consumer);
	assert_null(c.producer);

	/* The failed side was not kept: unregistering it is a no-op. */
	if (producer_last)
		assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	else
		assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	expect_log(NULL, 0);

	/* Nothing is left half-registered: a retry pairs normally. */
	c_add_ret = 0;
	if (producer_last)
		assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	else
		assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	expect_log(want_con, 6);
	assert_ptr_equal(p.consumer, &c);
	assert_ptr_equal(c.producer, &p);
	expect_stats(b, 1, 0, 1, 1, 1);
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
}

static void test_add_producer_fails_producer_last(void **state)
{
	check_add_producer_failure(*state, true);
	done(state);
}

static void test_add_producer_fails_consumer_last(void **state)
{
	check_add_producer_failure(*state, false);
	done(state);
}

/* Without a del_consumer the rollback has nothing to call. */
static void test_add_producer_fails_no_del_consumer(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(12);
	struct irqlink_bypass_consumer c = full_consumer(12);
	const struct rec want[] = {
		{ P_STOP, &p, NULL }, { C_STOP, &c, NULL },
		{ P_ADD, &p, &c }, { C_ADD, &c, &p },
		{ C_START, &c, NULL }, { P_START, &p, NULL },
	};

	p.del_consumer = NULL;
	c_add_ret = -EIO;
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), -EIO);
	expect_log(want, 6);
	expect_stats(b, 0, 0, 1, 1, 0);
	done(state);
}

/* add_consumer fails: add_producer is never asked and nothing is undone. */
static void test_add_consumer_fails(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(13);
	struct irqlink_bypass_consumer c = full_consumer(13);
	const struct rec want[] = {
		{ P_STOP, &p, NULL }, { C_STOP, &c, NULL }, { P_ADD, &p, &c },
		{ C_START, &c, NULL }, { P_START, &p, NULL },
	};

	p_add_ret = -EOPNOTSUPP;
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	assert_int_equal(irqlink_bypass_register_producer(b, &p), -EOPNOTSUPP);
	expect_log(want, 5);
	assert_null(p.owner);
	assert_null(p.consumer);
	assert_null(c.producer);
	expect_stats(b, 0, 0, 1, 0, 1);
	done(state);
}

/* ---- errors (rule 38) ---------------------------------------------------- */

static void test_errors_einval(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(0);
	struct irqlink_bypass_consumer c = full_consumer(0);
	struct irqlink_bypass_stats s;

	assert_int_equal(irqlink_bypass_create(NULL), -EINVAL);
	irqlink_bypass_destroy(NULL);

	/* Token 0 is the kernel's NULL token. */
	assert_int_equal(irqlink_bypass_register_producer(b, &p), -EINVAL);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), -EINVAL);

	c.token = 5;
	c.add_producer = NULL;
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), -EINVAL);
	c.add_producer = c_add;
	c.del_producer = NULL;
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), -EINVAL);
	assert_null(c.owner);

	/* The producer's callbacks are all optional. */
	p = (struct irqlink_bypass_producer){ .token = 5 };
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);

	assert_int_equal(irqlink_bypass_register_producer(NULL, &p), -EINVAL);
	assert_int_equal(irqlink_bypass_register_producer(b, NULL), -EINVAL);
	assert_int_equal(irqlink_bypass_register_consumer(NULL, &c), -EINVAL);
	assert_int_equal(irqlink_bypass_register_consumer(b, NULL), -EINVAL);
	assert_int_equal(irqlink_bypass_unregister_producer(NULL, &p), -EINVAL);
	assert_int_equal(irqlink_bypass_unregister_producer(b, NULL), -EINVAL);
	assert_int_equal(irqlink_bypass_unregister_consumer(NULL, &c), -EINVAL);
	assert_int_equal(irqlink_bypass_unregister_consumer(b, NULL), -EINVAL);
	assert_int_equal(irqlink_bypass_get_stats(NULL, &s), -EINVAL);
	assert_int_equal(irqlink_bypass_get_stats(b, NULL), -EINVAL);
	expect_log(NULL, 0);
	expect_stats(b, 0, 0, 0, 1, 0);
	done(state);
}

static void test_errors_ebusy(void **state)
{
	struct irqlink_bypass *b = *state, *other;
	struct irqlink_bypass_producer p1 = full_producer(21);
	struct irqlink_bypass_producer p2 = full_producer(21);
	struct irqlink_bypass_consumer c1 = full_consumer(21);
	struct irqlink_bypass_consumer c2 = full_consumer(21);

	assert_int_equal(irqlink_bypass_register_producer(b, &p1), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c1), 0);
	log_reset();

	/* Same token, same side. */
	assert_int_equal(irqlink_bypass_register_producer(b, &p2), -EBUSY);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c2), -EBUSY);
	assert_null(p2.owner);
	assert_null(c2.owner);

	/* Same struct twice, with the same and with another token. */
	assert_int_equal(irqlink_bypass_register_producer(b, &p1), -EBUSY);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c1), -EBUSY);
	p1.token = 22;
	c1.token = 22;
	assert_int_equal(irqlink_bypass_register_producer(b, &p1), -EBUSY);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c1), -EBUSY);

	/* ... or into another manager. */
	assert_int_equal(irqlink_bypass_create(&other), 0);
	assert_int_equal(irqlink_bypass_register_producer(other, &p1), -EBUSY);
	assert_int_equal(irqlink_bypass_register_consumer(other, &c1), -EBUSY);
	expect_stats(other, 0, 0, 0, 0, 0);
	irqlink_bypass_destroy(other);

	/* The EBUSY attempts changed nothing. */
	expect_log(NULL, 0);
	assert_ptr_equal(p1.consumer, &c1);
	assert_ptr_equal(c1.producer, &p1);
	assert_int_equal(p1.owner_token, 21);
	expect_stats(b, 1, 0, 0, 1, 1);

	/* The registered token, not the (changed) field, is what is removed. */
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p1), 0);
	p1.token = 21;
	assert_int_equal(irqlink_bypass_register_producer(b, &p2), 0);
	assert_ptr_equal(p2.consumer, &c1);
	expect_stats(b, 2, 1, 0, 1, 1);
	done(state);
}

static void test_unregister_unknown_is_noop(void **state)
{
	struct irqlink_bypass *b = *state, *other;
	struct irqlink_bypass_producer p = full_producer(31);
	struct irqlink_bypass_producer p_twin = full_producer(31);
	struct irqlink_bypass_consumer c = full_consumer(31);
	struct irqlink_bypass_consumer c_twin = full_consumer(31);
	struct irqlink_bypass_producer p0 = full_producer(0);

	/* Never registered at all. */
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p0), 0);

	/* A twin with the registered token but a different struct. */
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	log_reset();
	assert_int_equal(irqlink_bypass_unregister_producer(b, &p_twin), 0);
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c_twin), 0);

	/* Registered, but with another manager. */
	assert_int_equal(irqlink_bypass_create(&other), 0);
	assert_int_equal(irqlink_bypass_unregister_producer(other, &p), 0);
	assert_int_equal(irqlink_bypass_unregister_consumer(other, &c), 0);
	irqlink_bypass_destroy(other);

	expect_log(NULL, 0);
	assert_ptr_equal(p.consumer, &c);
	assert_ptr_equal(p.owner, b);
	expect_stats(b, 1, 0, 0, 1, 1);

	/* Twice: the second call finds nothing to do. */
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	log_reset();
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &c), 0);
	expect_log(NULL, 0);
	expect_stats(b, 1, 1, 0, 1, 0);
	done(state);
}

/* A callback re-entering its manager gets -EDEADLK, not a hung thread. */
static struct irqlink_bypass *reenter_mgr;
static int reenter_results[4];

static int c_add_reenter(struct irqlink_bypass_consumer *c,
			 struct irqlink_bypass_producer *p)
{
	struct irqlink_bypass_consumer extra = full_consumer(99);
	struct irqlink_bypass_stats s;

	reenter_results[0] = irqlink_bypass_register_consumer(reenter_mgr, &extra);
	reenter_results[1] = irqlink_bypass_unregister_producer(reenter_mgr, p);
	reenter_results[2] = irqlink_bypass_unregister_consumer(reenter_mgr, c);
	reenter_results[3] = irqlink_bypass_get_stats(reenter_mgr, &s);
	return 0;
}

static void test_reentry_edeadlk(void **state)
{
	struct irqlink_bypass *b = *state;
	struct irqlink_bypass_producer p = full_producer(41);
	struct irqlink_bypass_consumer c = full_consumer(41);
	int i;

	c.add_producer = c_add_reenter;
	reenter_mgr = b;
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(reenter_results[i], -EDEADLK);
	assert_ptr_equal(p.consumer, &c);
	expect_stats(b, 1, 0, 0, 1, 1);
	done(state);
}

/* ---- tokens from eventfds ------------------------------------------------ */

static void test_token_from_fd(void **state)
{
	int fds_before = tu_open_fds();
	int a = tu_eventfd(), other = tu_eventfd(), a2 = dup(a), pfd[2];
	uint64_t ta = 0, ta2 = 0, tother = 0, tp;
	int r;

	assert_true(a2 >= 0);
	r = irqlink_bypass_token_from_fd(a, &ta);
	if (r == -ENOTSUP) {
		/* A kernel without eventfd-id in fdinfo. */
		close(a);
		close(a2);
		close(other);
		done(state);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(irqlink_bypass_token_from_fd(a2, &ta2), 0);
	assert_int_equal(irqlink_bypass_token_from_fd(other, &tother), 0);
	assert_true(ta != 0);
	assert_true(tother != 0);
	assert_true(ta == ta2);
	assert_true(ta != tother);

	assert_int_equal(irqlink_bypass_token_from_fd(a, NULL), -EINVAL);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(irqlink_bypass_token_from_fd(pfd[0], &tp), -EINVAL);
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(irqlink_bypass_token_from_fd(pfd[0], &tp), -EBADF);
	assert_int_equal(irqlink_bypass_token_from_fd(-1, &tp), -EBADF);

	close(a);
	close(a2);
	close(other);
	assert_int_equal(tu_open_fds(), fds_before);
	done(state);
}

/* The internal identity reads: through a /proc/self/fdinfo dirfd they
 * answer as the path does; a dup with its identity leaves nothing open
 * when it fails. */
static void test_token_at_and_dup(void **state)
{
	int fds_before = tu_open_fds();
	int a = tu_eventfd(), dir, d, pfd[2];
	uint64_t ta, t;

	if (irqlink_bypass_token_from_fd(a, &ta) == -ENOTSUP) {
		close(a);
		done(state);
		skip();
	}
	dir = il_fdinfo_dir_open();
	assert_true(dir >= 0);
	assert_int_equal(il_eventfd_token_at(dir, a, &t), 0);
	assert_true(t == ta);
	assert_int_equal(il_eventfd_token_at(-1, a, &t), 0);
	assert_true(t == ta);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(il_eventfd_token_at(dir, pfd[0], &t), -EINVAL);
	assert_int_equal(il_eventfd_token_at(dir, -1, &t), -EBADF);

	for (int k = 0; k < 2; k++) {
		int at = k ? dir : -1, fds = tu_open_fds();

		t = 0;
		d = il_eventfd_dup_token(at, a, &t);
		assert_true(d >= 0 && d != a);
		assert_true(t == ta);
		assert_int_equal(tu_open_fds(), fds + 1);
		close(d);
		assert_int_equal(il_eventfd_dup_token(at, pfd[0], &t), -EINVAL);
		assert_int_equal(il_eventfd_dup_token(at, -1, &t), -EBADF);
		assert_int_equal(tu_open_fds(), fds);
	}
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(il_eventfd_token_at(dir, pfd[0], &t), -EBADF);
	close(dir);
	close(a);
	assert_int_equal(tu_open_fds(), fds_before);
	done(state);
}

/* A producer keyed by one fd meets a consumer keyed by its dup. */
static void test_pairing_by_eventfd(void **state)
{
	struct irqlink_bypass *b = *state;
	int efd = tu_eventfd(), efd_dup = dup(efd), r;
	struct irqlink_bypass_producer p = full_producer(0);
	struct irqlink_bypass_consumer c = full_consumer(0);

	assert_true(efd_dup >= 0);
	r = irqlink_bypass_token_from_fd(efd, &p.token);
	if (r == -ENOTSUP) {
		close(efd);
		close(efd_dup);
		done(state);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(irqlink_bypass_token_from_fd(efd_dup, &c.token), 0);
	close(efd_dup);
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	assert_ptr_equal(p.consumer, &c);
	close(efd);
	done(state);
}

/* ---- scale (rule 39) ------------------------------------------------------ */

#define NPAIRS 10000

struct counted_prod {
	struct irqlink_bypass_producer p;
	unsigned adds, dels, stops, starts;
};

struct counted_cons {
	struct irqlink_bypass_consumer c;
	unsigned adds, dels, stops, starts;
};

#define PROD_OF(x) ((struct counted_prod *)(x))
#define CONS_OF(x) ((struct counted_cons *)(x))

static int cp_add(struct irqlink_bypass_producer *p,
		  struct irqlink_bypass_consumer *c)
{
	assert_int_equal(p->token, c->token);
	PROD_OF(p)->adds++;
	return 0;
}

static void cp_del(struct irqlink_bypass_producer *p,
		   struct irqlink_bypass_consumer *c)
{
	assert_int_equal(p->token, c->token);
	PROD_OF(p)->dels++;
}

static void cp_stop(struct irqlink_bypass_producer *p)
{
	PROD_OF(p)->stops++;
}

static void cp_start(struct irqlink_bypass_producer *p)
{
	PROD_OF(p)->starts++;
}

static int cc_add(struct irqlink_bypass_consumer *c,
		  struct irqlink_bypass_producer *p)
{
	assert_int_equal(p->token, c->token);
	CONS_OF(c)->adds++;
	return 0;
}

static void cc_del(struct irqlink_bypass_consumer *c,
		   struct irqlink_bypass_producer *p)
{
	assert_int_equal(p->token, c->token);
	CONS_OF(c)->dels++;
}

static void cc_stop(struct irqlink_bypass_consumer *c)
{
	CONS_OF(c)->stops++;
}

static void cc_start(struct irqlink_bypass_consumer *c)
{
	CONS_OF(c)->starts++;
}

/* Dense small tokens (like eventfd ids) and sparse high-bit ones mixed. */
static uint64_t scale_token(size_t i)
{
	return i % 2 ? (uint64_t)(i + 1) : (uint64_t)(i + 1) << 40;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_ten_thousand_pairs(void **state)
{
	struct irqlink_bypass *b = *state;
	struct counted_prod *P = calloc(NPAIRS, sizeof(*P));
	struct counted_cons *C = calloc(NPAIRS, sizeof(*C));
	double t0;
	size_t i, round;

	assert_non_null(P);
	assert_non_null(C);
	for (i = 0; i < NPAIRS; i++) {
		P[i].p = (struct irqlink_bypass_producer){
			.token = scale_token(i), .add_consumer = cp_add,
			.del_consumer = cp_del, .stop = cp_stop,
			.start = cp_start,
		};
		C[i].c = (struct irqlink_bypass_consumer){
			.token = scale_token(i), .add_producer = cc_add,
			.del_producer = cc_del, .stop = cc_stop,
			.start = cc_start,
		};
	}

	t0 = now_s();
	for (round = 1; round <= 2; round++) {
		/* Half the pairs meet producer-first, half consumer-first. */
		for (i = 0; i < NPAIRS; i++) {
			if (i % 2)
				assert_int_equal(irqlink_bypass_register_producer(b, &P[i].p), 0);
			else
				assert_int_equal(irqlink_bypass_register_consumer(b, &C[i].c), 0);
		}
		expect_stats(b, (round - 1) * NPAIRS, (round - 1) * NPAIRS, 0,
			     NPAIRS / 2, NPAIRS / 2);
		for (i = 0; i < NPAIRS; i++) {
			if (i % 2)
				assert_int_equal(irqlink_bypass_register_consumer(b, &C[i].c), 0);
			else
				assert_int_equal(irqlink_bypass_register_producer(b, &P[i].p), 0);
		}
		expect_stats(b, round * NPAIRS, (round - 1) * NPAIRS, 0,
			     NPAIRS, NPAIRS);
		for (i = 0; i < NPAIRS; i++) {
			assert_ptr_equal(P[i].p.consumer, &C[i].c);
			assert_ptr_equal(C[i].c.producer, &P[i].p);
		}
		/* Break each pair from alternating sides, then drop the rest. */
		for (i = 0; i < NPAIRS; i++) {
			if (i % 3)
				assert_int_equal(irqlink_bypass_unregister_producer(b, &P[i].p), 0);
			else
				assert_int_equal(irqlink_bypass_unregister_consumer(b, &C[i].c), 0);
		}
		expect_stats(b, round * NPAIRS, round * NPAIRS, 0,
			     NPAIRS / 3 + 1, NPAIRS - NPAIRS / 3 - 1);
		for (i = 0; i < NPAIRS; i++) {
			assert_int_equal(irqlink_bypass_unregister_producer(b, &P[i].p), 0);
			assert_int_equal(irqlink_bypass_unregister_consumer(b, &C[i].c), 0);
		}
		expect_stats(b, round * NPAIRS, round * NPAIRS, 0, 0, 0);
	}
	/*
	 * 80,000 registrations and removals against up to 10,000 entries per
	 * side. With a linear scan that is ~10^9 comparisons; hashed, a few
	 * milliseconds. The bound leaves room for sanitizers and a busy box.
	 */
	assert_true(now_s() - t0 < 5.0);

	/* Every pair connected exactly twice and disconnected exactly twice. */
	for (i = 0; i < NPAIRS; i++) {
		assert_int_equal(P[i].adds, 2);
		assert_int_equal(P[i].dels, 2);
		assert_int_equal(P[i].stops, 4);
		assert_int_equal(P[i].starts, 4);
		assert_int_equal(C[i].adds, 2);
		assert_int_equal(C[i].dels, 2);
		assert_int_equal(C[i].stops, 4);
		assert_int_equal(C[i].starts, 4);
		assert_null(P[i].p.owner);
		assert_null(C[i].c.owner);
	}
	free(P);
	free(C);
	done(state);
}

/* ---- managers ------------------------------------------------------------- */

static void test_two_managers_independent(void **state)
{
	struct irqlink_bypass *a = *state, *b;
	struct irqlink_bypass_producer pa = full_producer(51), pb = full_producer(51);
	struct irqlink_bypass_consumer ca = full_consumer(51), cb = full_consumer(51);
	const struct rec want_a[] = CONNECT_SEQ(&pa, &ca);
	const struct rec want_b[] = CONNECT_SEQ(&pb, &cb);
	const struct rec want_destroy_b[] = DISCONNECT_SEQ(&pb, &cb);

	assert_int_equal(irqlink_bypass_create(&b), 0);

	/* The same token on the same side of two managers is no clash. */
	assert_int_equal(irqlink_bypass_register_producer(a, &pa), 0);
	assert_int_equal(irqlink_bypass_register_producer(b, &pb), 0);
	/* A consumer pairs only within its own manager. */
	assert_int_equal(irqlink_bypass_register_consumer(b, &cb), 0);
	expect_log(want_b, 6);
	assert_null(pa.consumer);
	assert_ptr_equal(pb.consumer, &cb);
	expect_stats(a, 0, 0, 0, 1, 0);
	expect_stats(b, 1, 0, 0, 1, 1);

	assert_int_equal(irqlink_bypass_register_consumer(a, &ca), 0);
	expect_log(want_a, 6);
	assert_ptr_equal(pa.consumer, &ca);
	assert_ptr_equal(ca.producer, &pa);
	expect_stats(a, 1, 0, 0, 1, 1);
	expect_stats(b, 1, 0, 0, 1, 1);

	/* Destroying b disconnects b's pair and leaves a's alone. */
	irqlink_bypass_destroy(b);
	expect_log(want_destroy_b, 6);
	assert_null(pb.consumer);
	assert_null(cb.producer);
	assert_null(pb.owner);
	assert_null(cb.owner);
	assert_ptr_equal(pa.consumer, &ca);
	expect_stats(a, 1, 0, 0, 1, 1);

	/* b's structs are free again: they can join a. */
	assert_int_equal(irqlink_bypass_unregister_producer(a, &pa), 0);
	assert_int_equal(irqlink_bypass_unregister_consumer(a, &ca), 0);
	log_reset();
	assert_int_equal(irqlink_bypass_register_producer(a, &pb), 0);
	assert_int_equal(irqlink_bypass_register_consumer(a, &cb), 0);
	expect_log(want_b, 6);
	done(state);
}

/* Destroy runs the full disconnect sequence for every pair it still holds. */
static void test_destroy_disconnects(void **state)
{
	struct irqlink_bypass *b;
	struct irqlink_bypass_producer p = full_producer(61), lone = full_producer(62);
	struct irqlink_bypass_consumer c = full_consumer(61);
	const struct rec want[] = DISCONNECT_SEQ(&p, &c);

	assert_int_equal(irqlink_bypass_create(&b), 0);
	assert_int_equal(irqlink_bypass_register_producer(b, &p), 0);
	assert_int_equal(irqlink_bypass_register_producer(b, &lone), 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &c), 0);
	log_reset();
	irqlink_bypass_destroy(b);
	expect_log(want, 6);
	assert_null(p.owner);
	assert_null(lone.owner);
	assert_null(c.owner);
	assert_int_equal(p.owner_token, 0);
	assert_null(p.consumer);
	assert_null(c.producer);
	done(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_producer_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_consumer_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_pairing_across_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_by_producer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_by_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_optional_callbacks_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_producer_fails_producer_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_producer_fails_consumer_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_producer_fails_no_del_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_consumer_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_ebusy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_at_and_dup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister_unknown_is_noop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentry_edeadlk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_from_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pairing_by_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ten_thousand_pairs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_managers_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_disconnects, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
