/* SPDX-License-Identifier: MIT */
/*
 * The guest side of one device interrupt: picks in-kernel bypass when it
 * can and the user-space relay when it cannot, and switches between them
 * while interrupts flow.
 *
 * Theory of operation
 * -------------------
 * A consumer is configured with the device's trigger eventfd E and what the
 * interrupt is in the guest:
 *   MSI   a message (struct kvm_msi). Bypass: E is a KVM irqfd on a GSI the
 *         consumer allocated and routed to the message (<irqlink/routes.h>).
 *         Relay: the relay reads E and injects with KVM_SIGNAL_MSI.
 *   INTx  an IOAPIC pin GSI and the device's INTx unmask eventfd U. Bypass:
 *         E is a level irqfd on the pin whose resamplefd is U itself, so the
 *         guest's EOI unmasks the device with no process in between. Relay:
 *         a level irqfd on an eventfd L the consumer owns, with resamplefd
 *         R (also the consumer's); the relay forwards E -> L and R -> U.
 *   INTX_NOTIFY  an IOAPIC pin GSI and a notify eventfd N, for a VMM that
 *         unmasks the device by its own policy rather than through KVM's
 *         resamplefd (IRQLINK_EOI_BAR_ACCESS, <irqlink/eoi.h>): the relay
 *         signals N, then a level irqfd L the consumer owns on the pin;
 *         KVM lowers L's line at the EOI (its resamplefd is the
 *         consumer's and unused). Relay only: the path rule never picks
 *         bypass, though the consumer pairs with the producer like any
 *         other.
 *
 * The consumer registers with the IRQ bypass manager under E's identity
 * (irqlink_bypass_token_from_fd(E)). The path rule:
 *     BYPASS  when a producer is connected (the manager called add_producer),
 *             the VM has the in-kernel irqchip the path needs (MSI: full or
 *             split; INTx: full), and force_relay is off;
 *     RELAY   otherwise.
 * The rule is applied whenever one of its inputs changes: on
 * connect/disconnect (from the manager's callbacks), on
 * irqlink_consumer_set_force_relay(), and on irqlink_consumer_refresh().
 * irqlink_consumer_path() reports the path in use.
 *
 * Switching loses no interrupt and injects none twice:
 *   relay -> bypass: the relay entry is paused (when that returns the relay
 *     no longer reads E), E is drained without blocking (count n), E is
 *     attached as the irqfd, and if n > 0, E is signalled once so that KVM
 *     consumes and injects it. Draining first matters: KVM injects a count
 *     that is pending at attach time but leaves it in the eventfd, so it
 *     would later be injected a second time.
 *   bypass -> relay: the irqfd is detached (after that KVM injects nothing
 *     from it; a signal that raced the detach is still counted in E), then
 *     the relay entry is resumed, and the relay injects what E holds.
 * A signal that arrives while E is neither read by the relay nor attached
 * simply waits in E's counter. If attaching fails, the consumer stays on
 * the relay (counted in stats.bypass_failures) and the rule is retried at
 * the next change or refresh.
 *
 * INTx unmask signals: KVM's resampler signals the resamplefd of every level
 * irqfd on a pin at each EOI of that pin (one shared resampler per GSI), so
 * a device's unmask eventfd already receives unmasks for EOIs that were not
 * its own; unmask while unmasked is a no-op (vfio rule 10/11). The switch
 * keeps L's irqfd attached in both paths (so the pin's resampler, and with
 * it an asserted line, survive every switch) and orders its steps so that
 * no EOI can go unforwarded. The price: an EOI that lands while a switch is
 * in progress may reach U twice (directly and through R). Guest interrupts
 * are exact either way.
 *
 * MSI routes: the GSI is allocated when the consumer is created (when KVM's
 * routes are all taken, the consumer is created without one and relays --
 * KVM_SIGNAL_MSI needs no route -- until a GSI is free at a later
 * irqlink_consumer_refresh(); stats.no_route counts the refusals); its route
 * is written (one KVM_SET_GSI_ROUTING) the first time the consumer enters
 * bypass and by irqlink_consumer_set_msi() while in bypass; a route that is
 * already right costs nothing. A signal on an irqfd whose route is not in
 * KVM yet would be lost (rule 30), so bypass is entered only once the route
 * is committed: inside an open irqlink_routes_begin() batch the consumer
 * stages its route and keeps relaying, in an explicit "deferred" state
 * (irqlink_consumer_deferred(), stats.deferred; not a failure), until
 * irqlink_consumer_refresh() after the commit. So N consumers created or
 * changed inside one batch cost one KVM_SET_GSI_ROUTING in all, and
 * irqlink_consumer_refresh_many() after it waits for the relay thread once
 * for all N switches instead of once per switch.
 *
 * File descriptors and lifetime
 * -----------------------------
 * E and U are borrowed: the consumer keeps close-on-exec duplicates, which
 * its relay entry and its irqfd use too (one fd per MSI consumer). An INTx
 * consumer owns two more eventfds (L and R). The VM, relay and bypass manager are borrowed and must
 * outlive the consumer.
 *
 * Threading
 * ---------
 * One mutex per consumer serializes path changes and set_msi. The manager's
 * callbacks take it with the manager's mutex held; the consumer never calls
 * into the manager while holding its own, so there is no lock cycle. The
 * consumer functions may be called from any thread except from inside a
 * callback of the manager the consumer is registered with (destroy could
 * not unregister there). irqlink_consumer_path() takes no lock.
 * irqlink_consumer_destroy() must not race other calls on the same consumer.
 */
#ifndef IRQLINK_CONSUMER_H
#define IRQLINK_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include <irqlink/bypass.h>
#include <irqlink/relay.h>
#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

enum irqlink_consumer_kind {
	IRQLINK_CONSUMER_MSI = 0,       /* edge, an MSI message */
	IRQLINK_CONSUMER_INTX,          /* level, an IOAPIC pin */
	IRQLINK_CONSUMER_INTX_NOTIFY,   /* level, relayed, VMM unmasks */
};

enum irqlink_consumer_path {
	IRQLINK_PATH_RELAY = 0,         /* the relay thread injects */
	IRQLINK_PATH_BYPASS,            /* KVM reads E itself (irqfd) */
};

/*
 * struct irqlink_consumer_config - what the consumer injects.
 * @kind:        MSI or INTx.
 * @trigger_fd:  the device's trigger eventfd E; borrowed.
 * @msi:         MSI: the message (flags 0 or KVM_MSI_VALID_DEVID).
 * @gsi:         INTx, INTX_NOTIFY: the IOAPIC pin (0-23) the line is wired to.
 * @unmask_fd:   INTx: the device's INTx unmask eventfd U; borrowed.
 * @notify_fd:   INTX_NOTIFY: the eventfd N signalled before each injection;
 *               borrowed.
 * @force_relay: never bypass (changeable later with
 *               irqlink_consumer_set_force_relay()).
 */
struct irqlink_consumer_config {
	enum irqlink_consumer_kind kind;
	int trigger_fd;
	struct kvm_msi msi;
	uint32_t gsi;
	int unmask_fd;
	int notify_fd;
	bool force_relay;
};

/*
 * struct irqlink_consumer_stats - counters since creation.
 * @switches:        path changes (to_bypass + to_relay).
 * @to_bypass:       relay -> bypass switches.
 * @to_relay:        bypass -> relay switches.
 * @bypass_failures: times the rule asked for bypass but the attach (or the
 *                   route's commit) failed, so the consumer stayed on the
 *                   relay.
 * @deferred:        times bypass had to wait for an open routes batch's
 *                   commit (the consumer relays meanwhile).
 * @drained:         relay -> bypass switches that found a count pending in
 *                   E and handed it to KVM.
 * @unmasks_forwarded: INTx: EOIs collected from R during a switch and
 *                   forwarded to U by the consumer itself.
 * @route_updates:   MSI route changes the consumer made (each is one
 *                   routing commit, unless made inside an open batch).
 * @no_route:        times bypass was wanted but no GSI was free (the
 *                   consumer relayed instead).
 * @relay_failures:  times the rule asked for the relay but detaching the
 *                   irqfd failed, so the consumer stayed in bypass (its
 *                   relay side paused, nothing lost).
 */
struct irqlink_consumer_stats {
	uint64_t switches;
	uint64_t to_bypass;
	uint64_t to_relay;
	uint64_t bypass_failures;
	uint64_t deferred;
	uint64_t drained;
	uint64_t unmasks_forwarded;
	uint64_t route_updates;
	uint64_t no_route;
	uint64_t relay_failures;
};

/* irqlink_consumer_gsi()'s answer for an MSI consumer without a route. */
#define IRQLINK_CONSUMER_NO_GSI UINT32_MAX

struct irqlink_consumer;

/*
 * irqlink_consumer_create - set up the interrupt on the relay, register
 * with @bypass (which may connect at once, and so switch to bypass before
 * this returns).
 * @vm:     the VM; needs an in-kernel irqchip (INTx: the full one).
 * @relay:  the relay used on the relay path.
 * @bypass: the manager to register with; NULL = never connected (always
 *          relay).
 * @cfg:    copied.
 * @out:    receives the consumer.
 *
 * Returns 0; -EINVAL (NULL argument, unknown kind, MSI flags, INTx pin >=
 * 24, no in-kernel irqchip, INTx or INTX_NOTIFY on a split irqchip, a fd
 * that is not an eventfd); -EBADF (a fd not open); -EBUSY (E already feeds another
 * consumer of @vm, whatever its relay or manager: two would split E's
 * interrupts between them; irqlink keeps no global state, so consumers of
 * one eventfd in two different VMs are not detected);
 * -ENOMEM; -EMFILE; -ENOTSUP (no eventfd
 * identities in /proc); or an error the manager's pairing returned. Nothing
 * is left behind on failure.
 */
int irqlink_consumer_create(struct irqlink_vm *vm, struct irqlink_relay *relay,
			    struct irqlink_bypass *bypass,
			    const struct irqlink_consumer_config *cfg,
			    struct irqlink_consumer **out);

/*
 * irqlink_consumer_destroy - unregister from the manager (switching to the
 * relay if connected), remove the relay entries, detach the irqfds, free the
 * GSI, close the consumer's fds. A count still in E stays there for whoever
 * takes E next; an EOI the relay had not forwarded yet is forwarded to U.
 * NULL is a no-op.
 */
void irqlink_consumer_destroy(struct irqlink_consumer *c);

/* irqlink_consumer_path - the path in use now (no lock; during a switch it
 * reports the old path until the switch is complete). */
enum irqlink_consumer_path irqlink_consumer_path(struct irqlink_consumer *c);

/* irqlink_consumer_deferred - true while the path rule wants bypass but
 * the route is staged in an open routes batch: the consumer relays until
 * irqlink_consumer_refresh() after the commit. */
bool irqlink_consumer_deferred(struct irqlink_consumer *c);

/* irqlink_consumer_gsi - MSI: the GSI allocated for the route
 * (IRQLINK_CONSUMER_NO_GSI while it has none); INTx: the pin. */
uint32_t irqlink_consumer_gsi(struct irqlink_consumer *c);

/*
 * irqlink_consumer_set_msi - change the message of an MSI consumer.
 * Bypass: the route is updated (one routing commit; inside an open routes
 * batch it takes effect at the batch's commit). Relay: every injection
 * after this returns uses @msi. Either way a later switch uses it.
 * Returns 0; -EINVAL (not an MSI consumer, NULL, bad flags); or the routing
 * commit's error, the message then being unchanged.
 */
int irqlink_consumer_set_msi(struct irqlink_consumer *c,
			     const struct kvm_msi *msi);

/*
 * irqlink_consumer_set_force_relay - turn force_relay on or off and apply
 * the path rule. Returns 0 when the path now follows the rule, or the error
 * of the failed attach that kept the consumer on the relay.
 */
int irqlink_consumer_set_force_relay(struct irqlink_consumer *c, bool force);

/*
 * irqlink_consumer_refresh - apply the path rule again (e.g. after a routes
 * batch was committed). Returns as irqlink_consumer_set_force_relay().
 */
int irqlink_consumer_refresh(struct irqlink_consumer *c);

/*
 * irqlink_consumer_refresh_many - irqlink_consumer_refresh() of @c[0..n-1],
 * in order, for the consumers of one committed routes batch: every switch
 * to bypass needs the relay thread to let go of E, and this waits for it
 * once for all of them instead of once each. Returns 0, -EINVAL (NULL @c
 * with @n > 0, or a NULL consumer: then nothing is done), or the first
 * consumer's error (the others are refreshed all the same).
 */
int irqlink_consumer_refresh_many(struct irqlink_consumer *const *c,
				  size_t n);

/* irqlink_consumer_get_stats - fill *@st. Returns 0 or -EINVAL. */
int irqlink_consumer_get_stats(struct irqlink_consumer *c,
			       struct irqlink_consumer_stats *st);

#ifdef __cplusplus
}
#endif

#endif
