/* SPDX-License-Identifier: MIT */
/*
 * The consumer against a real KVM guest (guest/kvm_guest.h): which path it
 * picks (connected + the right in-kernel irqchip -> BYPASS; force_relay,
 * unconnected or INTX_NOTIFY -> RELAY), that each path really is the one
 * in use (BYPASS: E is a KVM irqfd and the relay injects nothing; RELAY:
 * the relay injects), message changes on both paths, and switching while
 * interrupts flow.
 *
 * Switching accounting (test_switch_1m and the smaller switch tests):
 * a device thread sends trigger i+1 only after the guest's ISR has counted
 * interrupt i, so at most one signal is ever outstanding and nothing can
 * coalesce -- in E's counter, in KVM's irqfd, or in the LAPIC. So every
 * trigger must produce exactly one guest interrupt:
 *   - a lost trigger shows up as a timeout waiting for count i (5 s);
 *   - a duplicated one shows up as the count being past i-1 when trigger i
 *     is about to be sent, or past N after the last trigger (the count is
 *     checked again after a settle delay);
 * and the final count must equal the number of triggers exactly. Meanwhile
 * a control thread connects and disconnects the bypass (registers and
 * unregisters the producer) SWITCH_CYCLES times, spread over the run by the
 * device thread's progress, so switches land at arbitrary points of a
 * trigger's trip (E pending, being relayed, in KVM, in the guest). The
 * consumer's own counters must show every switch (to_bypass == to_relay ==
 * cycles), and the routing table must have been written once.
 *
 * IRQLINK_SWITCH_TRIGGERS overrides the 1,000,000 triggers of
 * test_switch_1m (CI uses the default). Its duration and rate are printed.
 */
#include "consumer_internal.h"
#include "kvm_guest.h"
#include "testutil.h"
#include "vm_internal.h"

#include <irqlink/irqlink.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 5000
#define MSI_ADDR 0xfee00000u
#define N_IRQS 100

#define VEC_MSI    0x50
#define VEC_MSI2   0x51
#define VEC_INTX   0x52
#define VEC_SWITCH 0x53
#define VEC_SWINTX 0x54
#define VEC_DEV    0x55
#define VEC_NOTIFY 0x56
#define VEC_NOROUTE 0x57
#define VEC_DETACH 0x58
#define VEC_SETTLE 0x60         /* and the next N_SETTLE - 1 */
#define N_SETTLE   8

#define PIN_INTX   18
#define PIN_SWINTX 19
#define PIN_NOTIFY 20

#define SWITCH_CYCLES 1000
#define DEFAULT_TRIGGERS 1000000

struct fx {
	int fds_before;
	int vmfd;
	struct irqlink_vm *vm;
	struct kg_guest *g;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	f->vmfd = kg_vm_create();
	assert_true(f->vmfd >= 0);
	assert_int_equal(irqlink_vm_wrap(f->vmfd, IRQLINK_IRQCHIP_FULL, &f->vm),
			 0);
	assert_int_equal(kg_create(f->vmfd, &f->g), 0);
	assert_int_equal(kg_start(f->g), 0);
	assert_int_equal(irqlink_relay_create(f->vm, NULL, &f->relay), 0);
	assert_int_equal(irqlink_bypass_create(&f->bypass), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	irqlink_bypass_destroy(f->bypass);
	irqlink_relay_destroy(f->relay);
	kg_destroy(f->g);
	irqlink_vm_destroy(f->vm);
	close(f->vmfd);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

static struct kvm_msi msi_vec(unsigned int vec)
{
	return (struct kvm_msi){ .address_lo = MSI_ADDR, .data = vec };
}

static struct irqlink_relay_stats rstats(struct irqlink_relay *r)
{
	struct irqlink_relay_stats st;

	assert_int_equal(irqlink_relay_get_stats(r, &st), 0);
	return st;
}

static struct irqlink_consumer_stats cstats(struct irqlink_consumer *c)
{
	struct irqlink_consumer_stats st;

	assert_int_equal(irqlink_consumer_get_stats(c, &st), 0);
	return st;
}

static uint64_t commits(struct irqlink_vm *vm)
{
	struct irqlink_routes_stats st;

	assert_int_equal(irqlink_routes_stats(vm, &st), 0);
	return st.commits;
}

/* A bare producer under E's token: what a device registers. */
static void producer_init(struct irqlink_bypass_producer *p, int efd)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(irqlink_bypass_token_from_fd(efd, &p->token), 0);
}

static void assert_settled(struct kg_guest *g, unsigned int vec, uint64_t n)
{
	usleep(20 * 1000);
	assert_int_equal(kg_count(g, vec), n);
}

static uint64_t wait_efd(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	if (poll(&p, 1, WAIT_MS) != 1)
		return 0;
	return tu_count(efd);
}

/* N paced triggers on E; each must give one interrupt on @vec, and for
 * INTx (@unmask >= 0) one device unmask. */
static void paced(struct kg_guest *g, int efd, int unmask, unsigned int vec,
		  uint64_t n)
{
	uint64_t base = kg_count(g, vec);

	for (uint64_t i = 1; i <= n; i++) {
		assert_int_equal(kg_count(g, vec), base + i - 1);
		tu_signal(efd);
		assert_int_equal(kg_wait_count(g, vec, base + i, WAIT_MS), 0);
		if (unmask >= 0)
			assert_int_equal(wait_efd(unmask), 1);
	}
	assert_settled(g, vec, base + n);
	if (unmask >= 0)
		assert_int_equal(tu_count(unmask), 0);
}

/* Which irqfd (if any) E is attached as. */
static int irqfd_of(struct irqlink_vm *vm, int efd,
		    struct irqlink_irqfd_info *info)
{
	return irqlink_irqfd_lookup(vm, efd, info);
}

/* ---- arguments ---------------------------------------------------------- */

static void test_create_args(void **state)
{
	struct fx *f = *state;
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .msi = msi_vec(VEC_MSI),
	};
	struct irqlink_consumer *c = NULL, *c2;
	struct irqlink_vm *split, *none;
	struct irqlink_vm_config vcfg = { .irqchip = IRQLINK_IRQCHIP_SPLIT };
	struct irqlink_relay *srelay;
	struct irqlink_bypass_producer prod;
	int e = tu_eventfd(), u = tu_eventfd(), p[2], fds;

	assert_int_equal(pipe(p), 0);
	fds = tu_open_fds();
	cfg.trigger_fd = e;
	assert_int_equal(irqlink_consumer_create(NULL, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	assert_int_equal(irqlink_consumer_create(f->vm, NULL, NULL, &cfg, &c),
			 -EINVAL);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, NULL, &c),
			 -EINVAL);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg,
						 NULL), -EINVAL);
	cfg.trigger_fd = -1;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg, &c),
			 -EBADF);
	cfg.trigger_fd = p[0];
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	cfg.trigger_fd = e;
	cfg.msi.flags = 4;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	cfg.msi.flags = 0;
	cfg.kind = 7;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	cfg.kind = IRQLINK_CONSUMER_INTX;
	cfg.unmask_fd = -1;
	cfg.gsi = PIN_INTX;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg, &c),
			 -EBADF);
	cfg.unmask_fd = u;
	cfg.gsi = IRQLINK_IOAPIC_PINS;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	assert_null(c);
	assert_int_equal(tu_open_fds(), fds);

	/* One consumer per eventfd: the second is refused by the relay (no
	 * manager) or by the manager. */
	cfg.kind = IRQLINK_CONSUMER_MSI;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg,
						 &c2), -EBUSY);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c2), -EBUSY);
	assert_int_equal(irqlink_consumer_set_msi(c, NULL), -EINVAL);
	irqlink_consumer_destroy(c);
	irqlink_consumer_destroy(NULL);
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(tu_open_fds(), fds);

	/* Split irqchip: MSI bypass works (irqfd + MSI route), INTx cannot
	 * work on either path. No irqchip: nothing works. */
	assert_int_equal(irqlink_vm_create(&vcfg, &split), 0);
	assert_int_equal(irqlink_relay_create(split, NULL, &srelay), 0);
	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_create(split, srelay, f->bypass, &cfg,
						 &c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_int_equal(irqfd_of(split, e, &(struct irqlink_irqfd_info){0}), 1);
	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_irqfd_count(split), 0);
	cfg.kind = IRQLINK_CONSUMER_INTX;
	cfg.gsi = PIN_INTX;
	assert_int_equal(irqlink_consumer_create(split, srelay, f->bypass, &cfg,
						 &c), -EINVAL);
	irqlink_relay_destroy(srelay);
	irqlink_vm_destroy(split);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);

	vcfg.irqchip = IRQLINK_IRQCHIP_NONE;
	assert_int_equal(irqlink_vm_create(&vcfg, &none), 0);
	assert_int_equal(irqlink_consumer_create(none, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	cfg.kind = IRQLINK_CONSUMER_MSI;
	assert_int_equal(irqlink_consumer_create(none, f->relay, NULL, &cfg, &c),
			 -EINVAL);
	irqlink_vm_destroy(none);
	assert_int_equal(tu_open_fds(), fds);

	close(p[0]);
	close(p[1]);
	close(e);
	close(u);
}

/* ---- path selection ----------------------------------------------------- */

/*
 * MSI: unconnected -> RELAY; a producer connects -> BYPASS (E is the
 * irqfd, on the consumer's GSI, whose committed route is the message, and
 * the relay injects nothing); force_relay -> RELAY; back; disconnect ->
 * RELAY. Each state is proven by delivering paced interrupts.
 */
static void test_select_msi(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd(), fds = tu_open_fds();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_MSI),
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_irqfd_info info;
	struct irqlink_consumer *c;
	struct irqlink_consumer_stats st;
	struct kvm_msi route;
	uint64_t relayed;

	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	/* Our dup of E, which the relay's entry uses too. */
	assert_int_equal(tu_open_fds(), fds + 1);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqfd_of(f->vm, e, &info), 0);
	assert_true(irqlink_consumer_gsi(c) >= IRQLINK_IOAPIC_PINS);
	paced(f->g, e, -1, VEC_MSI, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, N_IRQS);

	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_non_null(prod.consumer);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_int_equal(irqfd_of(f->vm, e, &info), 1);
	assert_int_equal(info.gsi, irqlink_consumer_gsi(c));
	/* The irqfd uses our dup of E too. */
	assert_int_equal(tu_open_fds(), fds + 1);
	assert_false(info.level);
	assert_int_equal(irqlink_routes_get(f->vm, info.gsi,
					    IRQLINK_ROUTES_COMMITTED, &route), 1);
	assert_int_equal(route.address_lo, MSI_ADDR);
	assert_int_equal(route.data, VEC_MSI);
	assert_int_equal(rstats(f->relay).paused, 1);
	relayed = rstats(f->relay).msi_injections;
	paced(f->g, e, -1, VEC_MSI, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, relayed);

	assert_int_equal(irqlink_consumer_set_force_relay(c, true), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqfd_of(f->vm, e, &info), 0);
	paced(f->g, e, -1, VEC_MSI, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, relayed + N_IRQS);
	assert_int_equal(irqlink_consumer_set_force_relay(c, false), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	paced(f->g, e, -1, VEC_MSI, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, relayed + N_IRQS);

	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqfd_of(f->vm, e, &info), 0);
	paced(f->g, e, -1, VEC_MSI, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, relayed + 2 * N_IRQS);

	st = cstats(c);
	assert_int_equal(st.to_bypass, 2);
	assert_int_equal(st.to_relay, 2);
	assert_int_equal(st.switches, 4);
	assert_int_equal(st.bypass_failures, 0);
	/* The route was written once: re-entering bypass found it right. */
	assert_int_equal(st.route_updates, 1);

	irqlink_consumer_destroy(c);
	assert_int_equal(rstats(f->relay).entries, 0);
	/* The GSI was freed with its route. */
	assert_int_equal(irqlink_routes_get(f->vm, info.gsi,
					    IRQLINK_ROUTES_COMMITTED, &route), 0);
	assert_int_equal(tu_open_fds(), fds);
	close(e);
}

/* Register a bare producer under @cfg's E, then create the consumer: the
 * manager pairs them during create; the path is still RELAY (forced, or a
 * kind that never bypasses). */
static struct irqlink_consumer *
create_paired_relayed(struct fx *f, struct irqlink_bypass_producer *prod,
		      const struct irqlink_consumer_config *cfg)
{
	struct irqlink_consumer *c;

	producer_init(prod, cfg->trigger_fd);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, prod), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 cfg, &c), 0);
	assert_non_null(prod->consumer);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	return c;
}

/* force_relay from the start: connected, yet RELAY until it is lifted. A
 * producer registered first connects during create. */
static void test_select_forced(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_MSI), .force_relay = true,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c = create_paired_relayed(f, &prod, &cfg);

	paced(f->g, e, -1, VEC_MSI, 10);
	assert_int_equal(rstats(f->relay).msi_injections, 10);
	assert_int_equal(irqlink_consumer_set_force_relay(c, false), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	paced(f->g, e, -1, VEC_MSI, 10);
	assert_int_equal(rstats(f->relay).msi_injections, 10);

	/* No manager at all: never connected, always RELAY. */
	irqlink_consumer_destroy(c);
	assert_null(prod.consumer);
	cfg.force_relay = false;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg,
						 &c), 0);
	assert_int_equal(irqlink_consumer_refresh(c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	close(e);
}

/*
 * INTx: RELAY = E -> L (level irqfd, resamplefd R) and R -> U through the
 * relay; BYPASS = E itself a level irqfd on the pin with resamplefd U. On
 * both, each trigger is one interrupt and one unmask of the device.
 */
static void test_select_intx(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd(), u = tu_eventfd(), fds = tu_open_fds();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_INTX, .trigger_fd = e,
		.gsi = PIN_INTX, .unmask_fd = u,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_irqfd_info info;
	struct irqlink_consumer *c;
	uint64_t relayed;

	assert_int_equal(kg_program_ioapic(f->g, PIN_INTX, VEC_INTX, KG_LEVEL), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_consumer_gsi(c), PIN_INTX);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqfd_of(f->vm, e, &info), 0);
	assert_int_equal(irqlink_irqfd_count(f->vm), 1);        /* L */
	assert_int_equal(rstats(f->relay).entries, 2);
	paced(f->g, e, u, VEC_INTX, N_IRQS);
	assert_int_equal(rstats(f->relay).eventfd_injections, 2 * N_IRQS);

	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_int_equal(irqfd_of(f->vm, e, &info), 1);
	assert_true(info.level);
	assert_int_equal(info.gsi, PIN_INTX);
	assert_int_equal(rstats(f->relay).paused, 2);
	relayed = rstats(f->relay).eventfd_injections;
	paced(f->g, e, u, VEC_INTX, N_IRQS);
	assert_int_equal(rstats(f->relay).eventfd_injections, relayed);

	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqfd_of(f->vm, e, &info), 0);
	paced(f->g, e, u, VEC_INTX, N_IRQS);
	assert_int_equal(rstats(f->relay).eventfd_injections,
			 relayed + 2 * N_IRQS);
	assert_int_equal(cstats(c).switches, 2);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_irqfd_count(f->vm), 0);
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(tu_open_fds(), fds);
	assert_int_equal(irqlink_consumer_set_msi(NULL, NULL), -EINVAL);
	close(e);
	close(u);
}

/* set_msi: in BYPASS one routing commit and the next interrupt lands on the
 * new vector; in RELAY no commit, the next injection uses it; entering
 * bypass again writes the route once; INTx consumers have no message. */
static void test_set_msi(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd(), u = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_MSI),
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;
	struct kvm_msi m = msi_vec(VEC_MSI2), bad = m;
	uint64_t n0;

	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	paced(f->g, e, -1, VEC_MSI, 10);

	n0 = commits(f->vm);
	bad.flags = 8;
	assert_int_equal(irqlink_consumer_set_msi(c, &bad), -EINVAL);
	assert_int_equal(irqlink_consumer_set_msi(c, &m), 0);
	assert_int_equal(commits(f->vm), n0 + 1);
	paced(f->g, e, -1, VEC_MSI2, 10);
	assert_int_equal(kg_count(f->g, VEC_MSI), 10);
	assert_int_equal(rstats(f->relay).msi_injections, 0);

	assert_int_equal(irqlink_consumer_set_force_relay(c, true), 0);
	m = msi_vec(VEC_MSI);
	assert_int_equal(irqlink_consumer_set_msi(c, &m), 0);
	assert_int_equal(commits(f->vm), n0 + 1);
	paced(f->g, e, -1, VEC_MSI, 10);
	assert_int_equal(kg_count(f->g, VEC_MSI2), 10);
	assert_int_equal(rstats(f->relay).msi_injections, 10);

	assert_int_equal(irqlink_consumer_set_force_relay(c, false), 0);
	assert_int_equal(commits(f->vm), n0 + 2);
	paced(f->g, e, -1, VEC_MSI, 10);
	assert_int_equal(kg_count(f->g, VEC_MSI2), 10);
	assert_int_equal(rstats(f->relay).msi_injections, 10);
	assert_int_equal(cstats(c).route_updates, 3);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);

	cfg.kind = IRQLINK_CONSUMER_INTX;
	cfg.gsi = PIN_INTX;
	cfg.unmask_fd = u;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, NULL, &cfg,
						 &c), 0);
	assert_int_equal(irqlink_consumer_set_msi(c, &m), -EINVAL);
	irqlink_consumer_destroy(c);
	close(e);
	close(u);
}

/*
 * Rule 25 in a switch: a count pending in E when bypass takes over is
 * injected exactly once. The test holds the relay off E (pausing its entry
 * directly) so the count is certainly pending at the switch.
 */
static void test_pending_handover(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_MSI), .force_relay = true,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;

	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_relay_pause(f->relay, e), 0);
	tu_signal(e);
	tu_signal(e);
	assert_settled(f->g, VEC_MSI, 0);

	assert_int_equal(irqlink_consumer_set_force_relay(c, false), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_int_equal(kg_wait_count(f->g, VEC_MSI, 1, WAIT_MS), 0);
	assert_settled(f->g, VEC_MSI, 1);
	assert_int_equal(cstats(c).drained, 1);
	assert_int_equal(rstats(f->relay).msi_injections, 0);

	/* Nothing left behind in E for the relay to inject again. */
	assert_int_equal(irqlink_consumer_set_force_relay(c, true), 0);
	assert_settled(f->g, VEC_MSI, 1);
	assert_int_equal(rstats(f->relay).msi_injections, 0);
	paced(f->g, e, -1, VEC_MSI, 5);
	assert_int_equal(rstats(f->relay).msi_injections, 5);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	close(e);
}

/* A routes batch open when the producer connects: the route is only
 * staged, so the consumer keeps relaying; refresh after the commit
 * enters bypass. */
static void test_route_batch(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_MSI),
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;

	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	producer_init(&prod, e);
	assert_int_equal(irqlink_routes_begin(f->vm), 0);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	/* Waiting for the commit is a state, not a failure. */
	assert_true(irqlink_consumer_deferred(c));
	assert_int_equal(cstats(c).deferred, 1);
	assert_int_equal(cstats(c).bypass_failures, 0);
	paced(f->g, e, -1, VEC_MSI, 5);
	assert_int_equal(rstats(f->relay).msi_injections, 5);
	assert_int_equal(irqlink_routes_commit(f->vm), 0);
	assert_int_equal(irqlink_consumer_refresh(c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_false(irqlink_consumer_deferred(c));
	paced(f->g, e, -1, VEC_MSI, 5);
	assert_int_equal(rstats(f->relay).msi_injections, 5);
	assert_int_equal(cstats(c).route_updates, 1);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	close(e);
}

/* N_SETTLE MSI consumers, each paired with a producer, created in one
 * routes batch: deferred until the commit, which this makes. */
static void create_batch(struct fx *f, int *e,
			 struct irqlink_bypass_producer *prod,
			 struct irqlink_consumer **c)
{
	assert_int_equal(irqlink_routes_begin(f->vm), 0);
	for (int i = 0; i < N_SETTLE; i++) {
		struct irqlink_consumer_config cfg = {
			.kind = IRQLINK_CONSUMER_MSI,
			.msi = msi_vec(VEC_SETTLE + (unsigned int)i),
		};

		e[i] = tu_eventfd();
		cfg.trigger_fd = e[i];
		assert_int_equal(irqlink_consumer_create(f->vm, f->relay,
							 f->bypass, &cfg,
							 &c[i]), 0);
		producer_init(&prod[i], e[i]);
		assert_int_equal(irqlink_bypass_register_producer(f->bypass,
								  &prod[i]),
				 0);
		assert_true(irqlink_consumer_deferred(c[i]));
	}
	assert_int_equal(irqlink_routes_commit(f->vm), 0);
}

/*
 * Consumers of one routes batch settled together: with their switches
 * begun first, the N refreshes wait for the relay thread once. Signals
 * sent while a switch is begun wait in E and reach the guest exactly once;
 * a consumer whose producer leaves meanwhile is relaying again at once,
 * and one begun with nothing to switch is not paused at all.
 */
static void test_settle_batch(void **state)
{
	struct fx *f = *state;
	struct irqlink_bypass_producer prod[N_SETTLE];
	struct irqlink_consumer *c[N_SETTLE];
	int e[N_SETTLE], i, last = N_SETTLE - 1;
	int fds = tu_open_fds();
	uint64_t cmds;

	create_batch(f, e, prod, c);
	/* Creating the consumers waited for the relay thread not once. */
	cmds = rstats(f->relay).commands;
	assert_int_equal(cmds, 0);

	for (i = 0; i < N_SETTLE; i++)
		il_consumer_settle_begin(c[i]);
	assert_int_equal(rstats(f->relay).paused, N_SETTLE);
	for (i = 0; i < N_SETTLE; i++)
		tu_signal(e[i]);
	for (i = 0; i < N_SETTLE; i++)
		assert_settled(f->g, VEC_SETTLE + (unsigned int)i, 0);
	/* The last one's producer leaves before its refresh. */
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass,
							    &prod[last]), 0);
	assert_int_equal(rstats(f->relay).paused, N_SETTLE - 1);
	assert_int_equal(kg_wait_count(f->g, VEC_SETTLE + (unsigned int)last, 1,
				       WAIT_MS), 0);
	for (i = 0; i < N_SETTLE; i++)
		assert_int_equal(irqlink_consumer_refresh(c[i]), 0);
	assert_int_equal(rstats(f->relay).commands, cmds + 1);
	for (i = 0; i < N_SETTLE; i++) {
		unsigned int vec = VEC_SETTLE + (unsigned int)i;

		assert_int_equal(irqlink_consumer_path(c[i]),
				 i == last ? IRQLINK_PATH_RELAY :
				 IRQLINK_PATH_BYPASS);
		assert_int_equal(kg_wait_count(f->g, vec, 1, WAIT_MS), 0);
		assert_settled(f->g, vec, 1);
		assert_int_equal(cstats(c[i]).drained, i == last ? 0 : 1);
		paced(f->g, e[i], -1, vec, 3);
	}
	assert_int_equal(rstats(f->relay).paused, N_SETTLE - 1);
	assert_int_equal(rstats(f->relay).msi_injections, 1 + 3);
	/* Ours, and one dup per consumer: its relay entry and its irqfd use
	 * the consumer's. */
	assert_int_equal(tu_open_fds(), fds + 2 * N_SETTLE);

	/* Begun with nothing to switch (unpaired, or in bypass already). */
	il_consumer_settle_begin(c[last]);
	il_consumer_settle_begin(c[0]);
	assert_int_equal(rstats(f->relay).paused, N_SETTLE - 1);
	assert_int_equal(rstats(f->relay).commands, cmds + 1);

	for (i = 0; i < N_SETTLE; i++) {
		irqlink_consumer_destroy(c[i]);
		if (i != last)
			assert_int_equal(irqlink_bypass_unregister_producer(
						 f->bypass, &prod[i]), 0);
		close(e[i]);
	}
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(irqlink_irqfd_count(f->vm), 0);
	assert_int_equal(tu_open_fds(), fds);
}

/* The public form of a batch's settle: after the commit, every consumer
 * of the batch switches with one relay round trip in all, a count pending
 * in E reaches the guest once; bad arguments change nothing. */
static void test_refresh_many(void **state)
{
	struct fx *f = *state;
	struct irqlink_bypass_producer prod[N_SETTLE];
	struct irqlink_consumer *c[N_SETTLE], *holed[2];
	int e[N_SETTLE], i;
	uint64_t cmds;

	assert_int_equal(irqlink_consumer_refresh_many(NULL, 0), 0);
	assert_int_equal(irqlink_consumer_refresh_many(NULL, 1), -EINVAL);
	create_batch(f, e, prod, c);
	holed[0] = c[0];
	holed[1] = NULL;
	assert_int_equal(irqlink_consumer_refresh_many(holed, 2), -EINVAL);
	assert_int_equal(irqlink_consumer_path(c[0]), IRQLINK_PATH_RELAY);
	assert_int_equal(rstats(f->relay).paused, 0);

	/* Held off the relay, so the count is certainly pending in E. */
	assert_int_equal(irqlink_relay_pause(f->relay, e[0]), 0);
	tu_signal(e[0]);
	cmds = rstats(f->relay).commands;
	assert_int_equal(irqlink_consumer_refresh_many(c, N_SETTLE), 0);
	assert_int_equal(rstats(f->relay).commands, cmds + 1);
	for (i = 0; i < N_SETTLE; i++) {
		assert_int_equal(irqlink_consumer_path(c[i]),
				 IRQLINK_PATH_BYPASS);
		assert_false(irqlink_consumer_deferred(c[i]));
	}
	assert_int_equal(kg_wait_count(f->g, VEC_SETTLE, 1, WAIT_MS), 0);
	assert_settled(f->g, VEC_SETTLE, 1);
	assert_int_equal(cstats(c[0]).drained, 1);
	assert_int_equal(rstats(f->relay).msi_injections, 0);
	/* Nothing to switch: no wait at all. */
	assert_int_equal(irqlink_consumer_refresh_many(c, N_SETTLE), 0);
	assert_int_equal(rstats(f->relay).commands, cmds + 1);

	for (i = 0; i < N_SETTLE; i++) {
		irqlink_consumer_destroy(c[i]);
		assert_int_equal(irqlink_bypass_unregister_producer(f->bypass,
								    &prod[i]),
				 0);
		close(e[i]);
	}
}

/* ---- INTX_NOTIFY -------------------------------------------------------- */

/*
 * INTX_NOTIFY on the full irqchip: a producer under E pairs with it, yet
 * the path stays RELAY (E is never an irqfd). Each paced trigger is one
 * guest interrupt on the level-triggered pin and one notify signal; the
 * notify comes before the guest can take it (vCPU stopped: notified, no
 * interrupt until it runs). Destroy gives every fd back.
 */
static void test_intx_notify(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd(), n = tu_eventfd(), fds = tu_open_fds();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_INTX_NOTIFY, .trigger_fd = e,
		.gsi = PIN_NOTIFY, .unmask_fd = -1, .notify_fd = n,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;
	struct irqlink_consumer_stats st;

	assert_int_equal(kg_program_ioapic(f->g, PIN_NOTIFY, VEC_NOTIFY,
					   KG_LEVEL), 0);
	c = create_paired_relayed(f, &prod, &cfg);
	assert_int_equal(irqlink_consumer_gsi(c), PIN_NOTIFY);
	assert_int_equal(irqfd_of(f->vm, e, &(struct irqlink_irqfd_info){0}), 0);
	assert_int_equal(irqlink_irqfd_count(f->vm), 1);        /* L */
	assert_int_equal(rstats(f->relay).entries, 1);
	/* Ours: E, L, R; the irqfd layer's: L, R; the relay's: N, L (its
	 * entry of E uses ours). */
	assert_int_equal(tu_open_fds(), fds + 7);

	/* One notify per trigger, counted like an unmask. */
	paced(f->g, e, n, VEC_NOTIFY, N_IRQS);
	assert_int_equal(rstats(f->relay).eventfd_injections, N_IRQS);
	assert_int_equal(rstats(f->relay).inject_errors, 0);

	/* Nothing the path rule reads makes it bypass. */
	assert_int_equal(irqlink_consumer_set_force_relay(c, false), 0);
	assert_int_equal(irqlink_consumer_refresh(c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_false(irqlink_consumer_deferred(c));
	assert_int_equal(irqfd_of(f->vm, e, &(struct irqlink_irqfd_info){0}), 0);

	assert_int_equal(kg_stop(f->g), 0);
	tu_signal(e);
	assert_int_equal(wait_efd(n), 1);
	assert_settled(f->g, VEC_NOTIFY, N_IRQS);
	assert_int_equal(kg_start(f->g), 0);
	assert_int_equal(kg_wait_count(f->g, VEC_NOTIFY, N_IRQS + 1, WAIT_MS), 0);
	assert_settled(f->g, VEC_NOTIFY, N_IRQS + 1);
	assert_int_equal(tu_count(n), 0);

	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	paced(f->g, e, n, VEC_NOTIFY, 10);
	st = cstats(c);
	assert_int_equal(st.switches + st.bypass_failures + st.deferred, 0);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_irqfd_count(f->vm), 0);
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(tu_open_fds(), fds);
	close(e);
	close(n);
}

/* create's result; a consumer it made anyway is destroyed. */
static int try_create(struct irqlink_vm *vm, struct irqlink_relay *relay,
		      const struct irqlink_consumer_config *cfg)
{
	struct irqlink_consumer *c = NULL;
	int r = irqlink_consumer_create(vm, relay, NULL, cfg, &c);

	if (r)
		assert_null(c);
	else
		irqlink_consumer_destroy(c);
	return r;
}

/* INTX_NOTIFY config errors; nothing is left behind by any of them. A
 * level line on an IOAPIC pin: neither a split irqchip nor none has one. */
static void test_intx_notify_args(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd(), n = tu_eventfd(), p[2], fds;
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_INTX_NOTIFY, .trigger_fd = e,
		.gsi = PIN_NOTIFY, .unmask_fd = -1, .notify_fd = -1,
	};
	struct irqlink_vm_config vcfg = { .irqchip = IRQLINK_IRQCHIP_SPLIT };
	struct irqlink_vm *split, *none;

	assert_int_equal(pipe(p), 0);
	fds = tu_open_fds();
	assert_int_equal(try_create(f->vm, f->relay, &cfg), -EBADF);
	cfg.notify_fd = p[1];
	assert_int_equal(try_create(f->vm, f->relay, &cfg), -EINVAL);
	cfg.notify_fd = n;
	cfg.gsi = IRQLINK_IOAPIC_PINS;
	assert_int_equal(try_create(f->vm, f->relay, &cfg), -EINVAL);
	cfg.gsi = PIN_NOTIFY;
	assert_int_equal(irqlink_vm_create(&vcfg, &split), 0);
	assert_int_equal(try_create(split, f->relay, &cfg), -EINVAL);
	irqlink_vm_destroy(split);
	vcfg.irqchip = IRQLINK_IRQCHIP_NONE;
	assert_int_equal(irqlink_vm_create(&vcfg, &none), 0);
	assert_int_equal(try_create(none, f->relay, &cfg), -EINVAL);
	irqlink_vm_destroy(none);
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(irqlink_irqfd_count(f->vm), 0);
	assert_int_equal(tu_open_fds(), fds);
	/* The one config that works, for contrast. */
	assert_int_equal(try_create(f->vm, f->relay, &cfg), 0);
	assert_int_equal(tu_open_fds(), fds);

	close(p[0]);
	close(p[1]);
	close(e);
	close(n);
}

/* ---- switching while interrupts flow ------------------------------------ */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	v = strtoull(s, &end, 0);
	return *end || v == 0 ? dflt : (uint64_t)v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* How a trigger is sent and its completion awaited, per test. */
struct sw {
	struct kg_guest *g;
	unsigned int vec;
	uint64_t n;                     /* triggers */
	uint64_t cycles;                /* connect + disconnect pairs */
	int efd;                        /* plain triggers */
	struct irqlink_dev *dev;        /* device-model triggers, or NULL */
	unsigned int dev_index;         /* VFIO index for dev */

	/* The control side: how to connect and disconnect. */
	struct irqlink_bypass *bypass;
	struct irqlink_bypass_producer *prod;   /* bare producer, or */
	struct irqlink_dev *attach_dev;         /* the device's own */

	atomic_uint_fast64_t progress;  /* triggers completed */
	atomic_bool done;
	int err;                        /* device thread's verdict */
	uint64_t err_at;
	uint64_t toggles;
};

static int sw_trigger(struct sw *s)
{
	int r;

	if (!s->dev) {
		uint64_t one = 1;

		return write(s->efd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
	}
	if (s->dev_index == VFIO_PCI_INTX_IRQ_INDEX) {
		/* A pulse: the device fires at assert (and masks itself) and
		 * the line is low again before this thread dispatches the
		 * unmask, so an unmask can never re-fire it. */
		r = irqlink_dev_intx_assert(s->dev);
		irqlink_dev_intx_deassert(s->dev);
		return r == 1 ? 0 : -EPROTO;
	}
	/* 0: latched while the device's producer is stopped (a switch in
	 * progress); the producer's start sends it, once. */
	r = irqlink_dev_msi_fire(s->dev, s->dev_index, 0);
	return r == 0 || r == 1 ? 0 : -EPROTO;
}

/* INTx: the device must be unmasked (by the guest's EOI, through U) before
 * the next assertion. The device thread dispatches U itself rather than
 * running the model's watcher, so unmasks are only processed while the line
 * is low. An unmask signal U receives twice (during a switch) is harmless:
 * the second finds the line unmasked, or unmasks a fired line early while it
 * is low; intx_unmasks counts only unmasks of a masked line. */
static int sw_wait_unmask(struct sw *s, uint64_t i)
{
	struct irqlink_dev_stats st;
	struct pollfd p;
	double end = now_s() + WAIT_MS / 1000.0;

	if (!s->dev || s->dev_index != VFIO_PCI_INTX_IRQ_INDEX)
		return 0;
	p.fd = irqlink_dev_poll_fd(s->dev);
	p.events = POLLIN;
	for (;;) {
		irqlink_dev_get_stats(s->dev, &st);
		if (st.intx_unmasks >= i)
			return 0;
		if (now_s() > end)
			return -ETIMEDOUT;
		if (poll(&p, 1, 10) == 1 && irqlink_dev_dispatch(s->dev) < 0)
			return -EIO;
	}
}

static void *sw_device(void *arg)
{
	struct sw *s = arg;

	for (uint64_t i = 1; i <= s->n; i++) {
		if (kg_count(s->g, s->vec) != i - 1) {
			s->err = -EOVERFLOW;    /* a duplicate arrived */
			s->err_at = i;
			break;
		}
		s->err = sw_trigger(s);
		if (!s->err)
			s->err = kg_wait_count(s->g, s->vec, i, WAIT_MS);
		if (!s->err)
			s->err = sw_wait_unmask(s, i);
		if (s->err) {
			s->err_at = i;
			break;
		}
		atomic_store_explicit(&s->progress, i, memory_order_relaxed);
	}
	atomic_store(&s->done, true);
	return NULL;
}

static int sw_connect(struct sw *s, bool on)
{
	if (s->attach_dev)
		return irqlink_dev_attach_bypass(s->attach_dev,
						 on ? s->bypass : NULL);
	return on ? irqlink_bypass_register_producer(s->bypass, s->prod)
		  : irqlink_bypass_unregister_producer(s->bypass, s->prod);
}

/* Toggle the connection 2 * cycles times, toggle k once the device has
 * completed k * n / (2 * cycles) triggers (or has finished). */
static void *sw_control(void *arg)
{
	struct sw *s = arg;
	uint64_t toggles = 2 * s->cycles;
	uint64_t step = s->n / toggles;
	struct timespec nap = { 0, 50 * 1000 };

	for (uint64_t k = 1; k <= toggles; k++) {
		while (!atomic_load(&s->done) &&
		       atomic_load_explicit(&s->progress, memory_order_relaxed) <
		       k * step)
			nanosleep(&nap, NULL);
		if (sw_connect(s, k % 2 == 1))
			break;
		s->toggles++;
	}
	return NULL;
}

/* Run the device and control threads; returns the elapsed seconds. */
static double sw_run(struct sw *s)
{
	pthread_t dev, ctl;
	double t0 = now_s();

	assert_int_equal(pthread_create(&dev, NULL, sw_device, s), 0);
	assert_int_equal(pthread_create(&ctl, NULL, sw_control, s), 0);
	pthread_join(dev, NULL);
	pthread_join(ctl, NULL);
	if (s->err) {
		struct irqlink_dev_stats ds = { 0 };

		if (s->dev)
			irqlink_dev_get_stats(s->dev, &ds);
		print_message("device thread: error %d at trigger %llu, guest "
			      "count %llu, device fires %llu unmasks %llu, "
			      "toggles %llu\n", s->err,
			      (unsigned long long)s->err_at,
			      (unsigned long long)kg_count(s->g, s->vec),
			      (unsigned long long)ds.intx_fires,
			      (unsigned long long)ds.intx_unmasks,
			      (unsigned long long)s->toggles);
	}
	assert_int_equal(s->err, 0);
	assert_int_equal(s->toggles, 2 * s->cycles);
	assert_settled(s->g, s->vec, s->n);
	return now_s() - t0;
}

/* The headline test: see the header comment for the accounting. */
static void test_switch_1m(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd(), fds = tu_open_fds();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_SWITCH),
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;
	struct irqlink_consumer_stats st;
	struct irqlink_relay_stats rs;
	struct sw s = {
		.g = f->g, .vec = VEC_SWITCH, .efd = e,
		.n = env_u64("IRQLINK_SWITCH_TRIGGERS", DEFAULT_TRIGGERS),
		.cycles = SWITCH_CYCLES, .bypass = f->bypass, .prod = &prod,
	};
	uint64_t commits0 = commits(f->vm);
	double secs;

	producer_init(&prod, e);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	secs = sw_run(&s);

	assert_int_equal(kg_count(f->g, VEC_SWITCH), s.n);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	st = cstats(c);
	rs = rstats(f->relay);
	assert_int_equal(st.to_bypass, SWITCH_CYCLES);
	assert_int_equal(st.to_relay, SWITCH_CYCLES);
	assert_int_equal(st.switches, 2 * SWITCH_CYCLES);
	assert_int_equal(st.bypass_failures, 0);
	assert_int_equal(commits(f->vm), commits0 + 1);
	/* Both paths carried traffic; the relay never read an empty E. */
	assert_true(rs.msi_injections > 0 && rs.msi_injections < s.n);
	assert_int_equal(rs.spurious + rs.inject_errors + rs.msi_undelivered, 0);
	print_message("switch: %llu triggers, %llu switches in %.1f s "
		      "(%.0f triggers/s); relayed %llu, bypassed %llu, "
		      "pending counts handed to KVM %llu\n",
		      (unsigned long long)s.n,
		      (unsigned long long)st.switches, secs, s.n / secs,
		      (unsigned long long)rs.msi_injections,
		      (unsigned long long)(s.n - rs.msi_injections),
		      (unsigned long long)st.drained);

	irqlink_consumer_destroy(c);
	assert_int_equal(tu_open_fds(), fds);
	close(e);
}

/* The device model as the trigger side, with a VFIO-style eventfd set. */
static void dev_set_fd(struct irqlink_dev *dev, uint32_t index,
		       uint32_t action, int fd)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .index = index, .start = 0, .count = 1,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | action,
	};

	assert_int_equal(irqlink_dev_set_irqs_fds(dev, &s, &fd, 1), 0);
}

/*
 * INTx while switching: the device model's INTx (automask; the device
 * thread dispatches its unmask eventfd) feeds the consumer; the bypass is connected and
 * disconnected with a bare producer. Every pulse must give exactly one
 * fire, one guest interrupt and one unmask of a masked line.
 */
static void test_switch_intx(void **state)
{
	struct fx *f = *state;
	struct irqlink_dev_shape shape = { .intx_pin = true };
	struct irqlink_dev_stats ds;
	struct irqlink_dev *dev;
	int e = tu_eventfd(), u = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_INTX, .trigger_fd = e,
		.gsi = PIN_SWINTX, .unmask_fd = u,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;
	struct sw s = {
		.g = f->g, .vec = VEC_SWINTX, .dev_index = VFIO_PCI_INTX_IRQ_INDEX,
		.n = env_u64("IRQLINK_SWITCH_INTX_TRIGGERS", 20000),
		.cycles = 200, .bypass = f->bypass, .prod = &prod,
	};
	double secs;

	assert_int_equal(kg_program_ioapic(f->g, PIN_SWINTX, VEC_SWINTX,
					   KG_LEVEL), 0);
	assert_int_equal(irqlink_dev_create(&shape, &dev), 0);
	dev_set_fd(dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, e);
	dev_set_fd(dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, u);
	s.dev = dev;
	producer_init(&prod, e);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);

	secs = sw_run(&s);
	usleep(20 * 1000);
	irqlink_dev_get_stats(dev, &ds);
	assert_int_equal(ds.intx_fires, s.n);
	assert_int_equal(ds.intx_unmasks, s.n);
	assert_int_equal(cstats(c).switches, 2 * s.cycles);
	print_message("intx switch: %llu pulses, %llu switches in %.1f s; "
		      "unmasks forwarded at switches %llu\n",
		      (unsigned long long)s.n,
		      (unsigned long long)cstats(c).switches, secs,
		      (unsigned long long)cstats(c).unmasks_forwarded);

	irqlink_consumer_destroy(c);
	irqlink_dev_destroy(dev);
	close(e);
	close(u);
}

/*
 * The device model as its own bypass producer (irqlink_dev_attach_bypass):
 * attaching and detaching the device connects and disconnects the consumer
 * of its MSI-X vector 0, with the producer's stop/start around each switch.
 */
static void test_switch_device_producer(void **state)
{
	struct fx *f = *state;
	struct irqlink_dev_shape shape = { .msix_vectors = 1 };
	struct irqlink_dev_stats ds;
	struct irqlink_dev *dev;
	int e = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_DEV),
	};
	struct irqlink_consumer *c;
	struct sw s = {
		.g = f->g, .vec = VEC_DEV, .dev_index = VFIO_PCI_MSIX_IRQ_INDEX,
		.n = env_u64("IRQLINK_SWITCH_DEV_TRIGGERS", 20000),
		.cycles = 200, .bypass = f->bypass,
	};

	assert_int_equal(irqlink_dev_create(&shape, &dev), 0);
	dev_set_fd(dev, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, e);
	s.dev = dev;
	s.attach_dev = dev;
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);

	(void)sw_run(&s);
	irqlink_dev_get_stats(dev, &ds);
	assert_int_equal(ds.signals, s.n);
	assert_int_equal(cstats(c).to_bypass, s.cycles);
	assert_int_equal(cstats(c).to_relay, s.cycles);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);

	irqlink_consumer_destroy(c);
	irqlink_dev_destroy(dev);
	close(e);
}

/* ---- KVM's routes all taken ------------------------------------------------- */

/* With every GSI allocated, an MSI consumer is still created and relays
 * (KVM_SIGNAL_MSI needs no route); once a GSI is free, a refresh takes it
 * and the consumer goes in-kernel. */
static void test_no_route(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_NOROUTE), .unmask_fd = -1, .notify_fd = -1,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;
	uint32_t gsi, held[4096];
	unsigned int n = 0;

	while (n < 4096 && irqlink_routes_gsi_alloc(f->vm, &gsi) == 0)
		held[n++] = gsi;
	assert_true(n > 0 && n < 4096);
	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqlink_consumer_gsi(c), IRQLINK_CONSUMER_NO_GSI);
	assert_int_equal(cstats(c).no_route, 1);
	assert_int_equal(cstats(c).bypass_failures, 0);
	paced(f->g, e, -1, VEC_NOROUTE, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, N_IRQS);

	assert_int_equal(irqlink_routes_gsi_free(f->vm, held[--n]), 0);
	assert_int_equal(irqlink_consumer_refresh(c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_int_equal(irqlink_consumer_gsi(c), held[n]);
	paced(f->g, e, -1, VEC_NOROUTE, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, N_IRQS);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	while (n)
		assert_int_equal(irqlink_routes_gsi_free(f->vm, held[--n]), 0);
	close(e);
}

/* ---- a switch whose irqfd detach fails ---------------------------------------- */

static int fail_deassign(void *opaque, int fd, unsigned long req,
			 unsigned long arg)
{
	const struct kvm_irqfd *irqfd = (const struct kvm_irqfd *)arg;

	(void)opaque;
	(void)fd;
	if (req == KVM_IRQFD && (irqfd->flags & KVM_IRQFD_FLAG_DEASSIGN))
		return -EIO;
	return 0;
}

/* The move to the relay fails at the detach: the consumer stays in
 * bypass, its relay side paused, and interrupts keep arriving in-kernel;
 * once the detach works the switch completes. Nothing lost either way. */
static void test_switch_detach_fails(void **state)
{
	struct fx *f = *state;
	int e = tu_eventfd();
	struct irqlink_consumer_config cfg = {
		.kind = IRQLINK_CONSUMER_MSI, .trigger_fd = e,
		.msi = msi_vec(VEC_DETACH), .unmask_fd = -1, .notify_fd = -1,
	};
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c;
	struct irqlink_irqfd_info info;

	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(f->bypass, &prod), 0);
	assert_int_equal(irqlink_consumer_create(f->vm, f->relay, f->bypass,
						 &cfg, &c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);

	il_vm_kvm(f->vm)->hook = fail_deassign;
	assert_int_equal(irqlink_consumer_set_force_relay(c, true), -EIO);
	il_vm_kvm(f->vm)->hook = NULL;
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_BYPASS);
	assert_int_equal(cstats(c).relay_failures, 1);
	assert_int_equal(irqfd_of(f->vm, e, &info), 1);
	assert_int_equal(rstats(f->relay).paused, 1);
	paced(f->g, e, -1, VEC_DETACH, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, 0);

	/* The rule is applied again at the next change: now it works. */
	assert_int_equal(irqlink_consumer_refresh(c), 0);
	assert_int_equal(irqlink_consumer_path(c), IRQLINK_PATH_RELAY);
	assert_int_equal(irqfd_of(f->vm, e, &info), 0);
	paced(f->g, e, -1, VEC_DETACH, N_IRQS);
	assert_int_equal(rstats(f->relay).msi_injections, N_IRQS);

	irqlink_consumer_destroy(c);
	assert_int_equal(irqlink_bypass_unregister_producer(f->bypass, &prod), 0);
	close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_forced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_select_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_handover, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_route_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_detach_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_settle_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_many, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_intx_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_notify_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_switch_intx, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_switch_device_producer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_1m, setup, teardown),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
