/* SPDX-License-Identifier: MIT */
/*
 * IRQ bypass pairing: let an interrupt source and an interrupt injector that
 * share an eventfd find each other, the way Linux's irqbypass manager pairs
 * a VFIO vector with a KVM irqfd.
 *
 * Theory of operation
 * -------------------
 * A producer is an interrupt source (for instance a device vector whose
 * trigger is an eventfd); a consumer is an injector (a KVM irqfd, a relay
 * entry) that listens on an eventfd. Both register with a manager
 * independently and in either order, each under a token: a non-zero 64-bit
 * key, normally the eventfd's identity from irqlink_bypass_token_from_fd().
 * When a producer and a consumer with the same token are both registered
 * the manager connects them, and when either one leaves it disconnects them.
 * One token pairs at most one producer with one consumer (no 1:N).
 *
 * Connecting calls, in this order: producer stop, consumer stop, producer
 * add_consumer, consumer add_producer, consumer start, producer start.
 * Disconnecting mirrors it: producer stop, consumer stop, consumer
 * del_producer, producer del_consumer, consumer start, producer start.
 * Optional callbacks left NULL are skipped. If add_consumer fails,
 * add_producer is not called; if add_producer fails, del_consumer undoes
 * add_consumer. Either way both sides are restarted, nothing is paired, and
 * the registration that tried to connect fails with that error and leaves
 * nothing registered -- as Linux does.
 *
 * Ownership and threading
 * -----------------------
 * The caller owns the producer and consumer structs (usually embedded in its
 * own objects) and must keep each alive, and leave its token unchanged,
 * while it is registered. The manager allocates only while registering
 * (its lookup tables grow), never in a callback's path.
 *
 * One mutex per manager serializes every call on it. Callbacks run with that
 * mutex held, on the thread that registered or unregistered: a callback must
 * not call back into the same manager (such a call fails with -EDEADLK and
 * does nothing), and must not take a lock that another thread holds while
 * calling into this manager. Managers are independent of each other.
 */
#ifndef IRQLINK_BYPASS_H
#define IRQLINK_BYPASS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct irqlink_bypass;
struct irqlink_bypass_producer;
struct irqlink_bypass_consumer;

/*
 * struct irqlink_bypass_producer - an interrupt source.
 * @token:        pairing key, non-zero; fixed while registered.
 * @add_consumer: connect to @cons (optional). Non-zero return (a -errno)
 *                aborts the connection.
 * @del_consumer: disconnect from @cons (optional); also undoes a successful
 *                add_consumer when the consumer's add_producer fails.
 * @stop:         quiesce before add/del (optional).
 * @start:        resume after add/del (optional).
 * @opaque:       for the caller; the manager never touches it.
 * @consumer:     set by the manager: the connected consumer, or NULL.
 * @owner:        set by the manager: the manager it is registered with, or
 *                NULL.
 * @owner_token:  set by the manager: the token it is registered under.
 *
 * Initialize every field (zero what you do not use) before the first
 * registration; the manager-set fields must start NULL/0 and are read-only
 * for the caller. Read @consumer from a callback, or when no registration
 * of this token can run concurrently.
 */
struct irqlink_bypass_producer {
	uint64_t token;
	int (*add_consumer)(struct irqlink_bypass_producer *prod,
			    struct irqlink_bypass_consumer *cons);
	void (*del_consumer)(struct irqlink_bypass_producer *prod,
			     struct irqlink_bypass_consumer *cons);
	void (*stop)(struct irqlink_bypass_producer *prod);
	void (*start)(struct irqlink_bypass_producer *prod);
	void *opaque;

	struct irqlink_bypass_consumer *consumer;
	struct irqlink_bypass *owner;
	uint64_t owner_token;
};

/*
 * struct irqlink_bypass_consumer - an interrupt injector.
 * @token:        pairing key, non-zero; fixed while registered.
 * @add_producer: connect to @prod (required). Non-zero return (a -errno)
 *                aborts the connection.
 * @del_producer: disconnect from @prod (required).
 * @stop:         quiesce before add/del (optional).
 * @start:        resume after add/del (optional).
 * @opaque:       for the caller; the manager never touches it.
 * @producer:     set by the manager: the connected producer, or NULL.
 * @owner:        set by the manager: the manager it is registered with, or
 *                NULL.
 * @owner_token:  set by the manager: the token it is registered under.
 *
 * Same initialization and reading rules as struct irqlink_bypass_producer.
 */
struct irqlink_bypass_consumer {
	uint64_t token;
	int (*add_producer)(struct irqlink_bypass_consumer *cons,
			    struct irqlink_bypass_producer *prod);
	void (*del_producer)(struct irqlink_bypass_consumer *cons,
			     struct irqlink_bypass_producer *prod);
	void (*stop)(struct irqlink_bypass_consumer *cons);
	void (*start)(struct irqlink_bypass_consumer *cons);
	void *opaque;

	struct irqlink_bypass_producer *producer;
	struct irqlink_bypass *owner;
	uint64_t owner_token;
};

/*
 * struct irqlink_bypass_stats - counters, read with irqlink_bypass_get_stats().
 * @connects:         pairings made since the manager was created.
 * @disconnects:      pairings undone since then (unregister or destroy).
 * @connect_failures: pairings refused by add_consumer or add_producer.
 * @connected:        pairs connected now (always connects - disconnects).
 * @producers:        producers registered now.
 * @consumers:        consumers registered now.
 */
struct irqlink_bypass_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t connect_failures;
	uint64_t connected;
	uint64_t producers;
	uint64_t consumers;
};

/*
 * irqlink_bypass_create - create an empty manager.
 * @out: receives the manager.
 *
 * Returns 0, -EINVAL if @out is NULL, or -ENOMEM.
 */
int irqlink_bypass_create(struct irqlink_bypass **out);

/*
 * irqlink_bypass_destroy - disconnect every connected pair (with the full
 * disconnect callback sequence), forget every registration (their manager-set
 * fields return to NULL/0) and free the manager. NULL is a no-op. Must not
 * race any other call on @bypass.
 */
void irqlink_bypass_destroy(struct irqlink_bypass *bypass);

/*
 * irqlink_bypass_register_producer - register @prod under @prod->token and
 * connect it to the consumer registered under the same token, if any.
 *
 * Returns 0 on success, including when no consumer is there yet.
 * -EINVAL: NULL argument or token 0.
 * -EBUSY: @prod is already registered (with any manager), or another
 *         producer is registered under the same token.
 * -ENOMEM: the lookup table could not grow.
 * -EDEADLK: called from a callback of this manager.
 * Otherwise the error add_consumer or add_producer returned; @prod is then
 * not registered.
 */
int irqlink_bypass_register_producer(struct irqlink_bypass *bypass,
				     struct irqlink_bypass_producer *prod);

/*
 * irqlink_bypass_unregister_producer - disconnect @prod from its consumer,
 * if connected, and remove it. A producer not registered with @bypass is
 * left alone.
 *
 * Returns 0 (also for the no-op), -EINVAL for a NULL argument, or -EDEADLK
 * when called from a callback of this manager (nothing is done).
 */
int irqlink_bypass_unregister_producer(struct irqlink_bypass *bypass,
				       struct irqlink_bypass_producer *prod);

/*
 * irqlink_bypass_register_consumer - register @cons under @cons->token and
 * connect it to the producer registered under the same token, if any.
 *
 * Returns 0 on success, including when no producer is there yet.
 * -EINVAL: NULL argument, token 0, or add_producer or del_producer NULL.
 * -EBUSY: @cons is already registered (with any manager), or another
 *         consumer is registered under the same token.
 * -ENOMEM: the lookup table could not grow.
 * -EDEADLK: called from a callback of this manager.
 * Otherwise the error add_consumer or add_producer returned; @cons is then
 * not registered.
 */
int irqlink_bypass_register_consumer(struct irqlink_bypass *bypass,
				     struct irqlink_bypass_consumer *cons);

/*
 * irqlink_bypass_unregister_consumer - disconnect @cons from its producer,
 * if connected, and remove it. A consumer not registered with @bypass is
 * left alone.
 *
 * Returns 0 (also for the no-op), -EINVAL for a NULL argument, or -EDEADLK
 * when called from a callback of this manager (nothing is done).
 */
int irqlink_bypass_unregister_consumer(struct irqlink_bypass *bypass,
				       struct irqlink_bypass_consumer *cons);

/*
 * irqlink_bypass_token_from_fd - the token of an eventfd: its kernel
 * identity, the same for every fd (dup, SCM_RIGHTS) that refers to the same
 * eventfd, and never 0. The fd is only inspected, not kept. A token can be
 * reused once every fd of that eventfd is closed.
 *
 * Returns 0, -EINVAL if @token is NULL or @fd is not an eventfd, -EBADF if
 * @fd is not open, or -ENOTSUP if /proc does not expose eventfd identities.
 */
int irqlink_bypass_token_from_fd(int fd, uint64_t *token);

/*
 * irqlink_bypass_get_stats - copy the manager's counters into @out.
 *
 * Returns 0, -EINVAL for a NULL argument, or -EDEADLK when called from a
 * callback of this manager.
 */
int irqlink_bypass_get_stats(struct irqlink_bypass *bypass,
			     struct irqlink_bypass_stats *out);

#ifdef __cplusplus
}
#endif

#endif
