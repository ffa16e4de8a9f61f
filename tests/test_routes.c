/* SPDX-License-Identifier: MIT */
/*
 * The GSI routing table against the real /dev/kvm: batching (one
 * KVM_SET_GSI_ROUTING per commit, none when nothing changed), the route limit
 * (-ENOSPC without losing the table), GSI allocation (lowest free first),
 * failures injected into the routing ioctl (committed table unchanged), pin
 * routes kept in every table, rule 30 (a signal without a route is lost).
 * Routes are checked end to end where it matters: an irqfd on the GSI is
 * signalled and the vector must (or must not) show up in the LAPIC's IRR of a
 * vCPU that never runs.
 */
#include "testutil.h"

#include <irqlink/irqlink.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "vm_internal.h"

#define MSI_ADDR 0xfee00000u    /* APIC ID 0, fixed delivery */

/* Counts routing ioctls; fails them with @err while @err is set. */
struct counter {
	unsigned long routing;
	int err;
};

static int count_hook(void *opaque, int fd, unsigned long req,
		      unsigned long arg)
{
	struct counter *c = opaque;
	(void)fd;
	(void)arg;

	if (req != KVM_SET_GSI_ROUTING)
		return 0;
	c->routing++;
	return c->err;
}

static struct irqlink_vm *new_vm(enum irqlink_irqchip kind, struct counter *c)
{
	struct irqlink_vm_config cfg = { .irqchip = kind };
	struct irqlink_vm *vm = NULL;

	assert_int_equal(irqlink_vm_create(&cfg, &vm), 0);
	if (c) {
		il_vm_kvm(vm)->hook = count_hook;
		il_vm_kvm(vm)->opaque = c;
	}
	return vm;
}

static struct kvm_msi msi_vec(unsigned vec)
{
	return (struct kvm_msi){ .address_lo = MSI_ADDR, .data = vec };
}

static struct irqlink_routes_stats stats(struct irqlink_vm *vm)
{
	struct irqlink_routes_stats st;

	assert_int_equal(irqlink_routes_stats(vm, &st), 0);
	return st;
}

/* vCPU 0 with a software-enabled LAPIC, so MSIs to APIC ID 0 land in its
 * IRR. It never runs: the IRR just accumulates. */
static int new_vcpu(struct irqlink_vm *vm)
{
	struct kvm_lapic_state ls;
	int cpu = ioctl(irqlink_vm_fd(vm), KVM_CREATE_VCPU, 0);
	uint32_t svr = 0x1ff;

	assert_true(cpu >= 0);
	assert_int_equal(ioctl(cpu, KVM_GET_LAPIC, &ls), 0);
	memcpy(&ls.regs[0xf0], &svr, sizeof(svr));
	assert_int_equal(ioctl(cpu, KVM_SET_LAPIC, &ls), 0);
	return cpu;
}

/* Read and clear the IRR bit of @vec. */
static bool take_irr(int cpu, unsigned vec)
{
	struct kvm_lapic_state ls;
	unsigned off = 0x200 + 0x10 * (vec / 32);
	uint32_t w;
	bool set;

	assert_int_equal(ioctl(cpu, KVM_GET_LAPIC, &ls), 0);
	memcpy(&w, &ls.regs[off], sizeof(w));
	set = w & (1u << (vec % 32));
	if (set) {
		w &= ~(1u << (vec % 32));
		memcpy(&ls.regs[off], &w, sizeof(w));
		assert_int_equal(ioctl(cpu, KVM_SET_LAPIC, &ls), 0);
	}
	return set;
}

/* An irqfd on an MSI route normally delivers inside the eventfd write, but
 * KVM may fall back to a work item: poll a little before giving up. */
static bool wait_take_irr(int cpu, unsigned vec)
{
	struct timespec ms = { .tv_nsec = 1000000 };

	for (int i = 0; i < 1000; i++) {
		if (take_irr(cpu, vec))
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

static uint32_t ioapic_irr(struct irqlink_vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	assert_int_equal(ioctl(irqlink_vm_fd(vm), KVM_GET_IRQCHIP, &chip), 0);
	return chip.chip.ioapic.irr;
}

/* The IOAPIC pins still reach the IOAPIC: the pin routes are in KVM's
 * table. (KVM_IRQ_LINE on a GSI without a route does nothing.) */
static void assert_pins_routed(struct irqlink_vm *vm)
{
	assert_int_equal(irqlink_vm_set_irq_line(vm, 20, true), 0);
	assert_true(ioapic_irr(vm) & (1u << 20));
	assert_int_equal(irqlink_vm_set_irq_line(vm, 20, false), 0);
	assert_int_equal(irqlink_vm_set_irq_line(vm, 3, true), 0);
	assert_true(ioapic_irr(vm) & (1u << 3));
	assert_int_equal(irqlink_vm_set_irq_line(vm, 3, false), 0);
}

/* ---- batching ----------------------------------------------------------- */

static void test_batch_2048(void **state)
{
	int fds = tu_open_fds();
	struct counter c = { 0 };
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, &c);
	struct kvm_msi m;
	uint32_t gsi, i;
	int cpu, efd;
	(void)state;

	assert_int_equal(irqlink_routes_begin(vm), 0);
	for (i = 0; i < 2048; i++) {
		m = msi_vec(0x20 + i % 0xd0);
		assert_int_equal(irqlink_routes_add_msi(vm, &m, &gsi), 0);
		assert_int_equal(gsi, 24 + i);
	}
	assert_int_equal(c.routing, 0);
	assert_int_equal(stats(vm).staged_routes, 2048);
	assert_int_equal(stats(vm).committed_routes, 0);
	assert_int_equal(irqlink_routes_get(vm, 24, IRQLINK_ROUTES_COMMITTED,
					    &m), 0);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 1);
	assert_int_equal(stats(vm).commits, 1);
	assert_int_equal(stats(vm).committed_routes, 2048);
	assert_int_equal(irqlink_routes_get(vm, 24 + 2047,
					    IRQLINK_ROUTES_COMMITTED, &m), 1);
	assert_int_equal(m.data, 0x20 + 2047 % 0xd0);

	/* KVM really has them: the first and the last route deliver. */
	cpu = new_vcpu(vm);
	efd = tu_eventfd();
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 24 + 2047), 0);
	tu_signal(efd);
	assert_true(wait_take_irr(cpu, 0x20 + 2047 % 0xd0));
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 24 + 2047), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 24), 0);
	tu_signal(efd);
	assert_true(wait_take_irr(cpu, 0x20));
	/* ...and the pins still work. */
	assert_pins_routed(vm);

	close(cpu);
	close(efd);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_recommit_unchanged(void **state)
{
	int fds = tu_open_fds();
	struct counter c = { 0 };
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, &c);
	struct kvm_msi m = msi_vec(0x30), m2 = msi_vec(0x31);
	uint32_t a, b;
	(void)state;

	/* Nothing staged since creation: no ioctl. */
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(irqlink_routes_begin(vm), 0);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 0);

	/* Outside a batch a change commits at once: one ioctl each. */
	assert_int_equal(irqlink_routes_add_msi(vm, &m, &a), 0);
	assert_int_equal(c.routing, 1);
	/* Setting the same route again changes nothing. */
	assert_int_equal(irqlink_routes_set_msi(vm, a, &m), 0);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 1);

	/* Changes that cancel out inside a batch: no ioctl. */
	assert_int_equal(irqlink_routes_begin(vm), 0);
	assert_int_equal(irqlink_routes_set_msi(vm, a, &m2), 0);
	assert_int_equal(irqlink_routes_set_msi(vm, a, &m), 0);
	assert_int_equal(irqlink_routes_clear(vm, a), 0);
	assert_int_equal(irqlink_routes_set_msi(vm, a, &m), 0);
	assert_int_equal(irqlink_routes_add_msi(vm, &m2, &b), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, b), 0);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 1);
	assert_int_equal(stats(vm).commits, 1);

	/* Clearing a GSI with no route: no ioctl. */
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &b), 0);
	assert_int_equal(irqlink_routes_clear(vm, b), 0);
	assert_int_equal(c.routing, 1);

	/* Nested batches: only the outermost commit submits. */
	assert_int_equal(irqlink_routes_begin(vm), 0);
	assert_int_equal(irqlink_routes_begin(vm), 0);
	assert_int_equal(irqlink_routes_set_msi(vm, b, &m2), 0);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 1);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 2);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 2);

	/* Abort: staged goes back to committed, nothing submitted. */
	assert_int_equal(irqlink_routes_begin(vm), 0);
	assert_int_equal(irqlink_routes_clear(vm, a), 0);
	assert_int_equal(irqlink_routes_set_msi(vm, b, &m), 0);
	irqlink_routes_abort(vm);
	assert_int_equal(irqlink_routes_get(vm, a, IRQLINK_ROUTES_STAGED, &m2),
			 1);
	assert_int_equal(m2.data, 0x30);
	assert_int_equal(irqlink_routes_get(vm, b, IRQLINK_ROUTES_STAGED, &m2),
			 1);
	assert_int_equal(m2.data, 0x31);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 2);

	irqlink_vm_destroy(vm);
	/* An owned VM dies with its fd: no routing ioctl at destroy. */
	assert_int_equal(c.routing, 2);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- the route limit ---------------------------------------------------- */

static void test_enospc(void **state)
{
	int fds = tu_open_fds();
	struct counter c = { 0 };
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, &c);
	struct irqlink_routes_stats st = stats(vm);
	struct kvm_msi m;
	uint32_t gsi, n, extra, want;
	int cpu, efd;
	(void)state;

	assert_int_equal(st.max_routes, 4096);
	assert_int_equal(st.pin_routes, 40);
	assert_int_equal(st.gsi_base, 24);
	want = st.max_routes - st.pin_routes;   /* 4056 MSI routes */

	assert_int_equal(irqlink_routes_begin(vm), 0);
	for (n = 0;; n++) {
		m = msi_vec(0x20 + n % 0xd0);
		int r = irqlink_routes_add_msi(vm, &m, &gsi);

		if (r) {
			assert_int_equal(r, -ENOSPC);
			break;
		}
	}
	assert_int_equal(n, want);
	/* The failed add gave its GSI back and staged nothing. */
	st = stats(vm);
	assert_int_equal(st.gsis_allocated, want);
	assert_int_equal(st.staged_routes, want);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(c.routing, 1);
	assert_int_equal(stats(vm).committed_routes, want);

	/* A full table, outside a batch: -ENOSPC, no ioctl, table intact. */
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &extra), 0);
	assert_int_equal(extra, 24 + want);
	m = msi_vec(0xee);
	assert_int_equal(irqlink_routes_set_msi(vm, extra, &m), -ENOSPC);
	assert_int_equal(c.routing, 1);
	st = stats(vm);
	assert_int_equal(st.committed_routes, want);
	assert_int_equal(st.staged_routes, want);
	assert_int_equal(irqlink_routes_get(vm, extra, IRQLINK_ROUTES_STAGED,
					    &m), 0);
	/* Updating an existing route needs no room. */
	m = msi_vec(0xe0);
	assert_int_equal(irqlink_routes_set_msi(vm, 24, &m), 0);
	assert_int_equal(c.routing, 2);

	/* KVM's table is the full one: its last route delivers. */
	cpu = new_vcpu(vm);
	efd = tu_eventfd();
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 24 + want - 1), 0);
	tu_signal(efd);
	assert_true(wait_take_irr(cpu, 0x20 + (want - 1) % 0xd0));
	assert_pins_routed(vm);

	/* Make room, and the extra GSI fits. */
	assert_int_equal(irqlink_routes_clear(vm, 25), 0);
	m = msi_vec(0xee);
	assert_int_equal(irqlink_routes_set_msi(vm, extra, &m), 0);
	assert_int_equal(c.routing, 4);

	/* GSIs run out at the route limit too: 24..4095. */
	while (irqlink_routes_gsi_alloc(vm, &gsi) == 0)
		;
	st = stats(vm);
	assert_int_equal(st.gsis_allocated, 4096 - 24);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &gsi), -ENOSPC);

	close(cpu);
	close(efd);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

/* Split irqchip: no pin routes, so all 4096 entries are MSI routes, and the
 * 24 user-space IOAPIC GSIs take MSI routes without allocation. */
static void test_split_limits(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_SPLIT, NULL);
	struct kvm_msi m = msi_vec(0x40);
	uint32_t gsi, n = 0, g;
	(void)state;

	assert_int_equal(stats(vm).pin_routes, 0);
	assert_int_equal(irqlink_routes_begin(vm), 0);
	for (g = 0; g < 24; g++)
		assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
	while (irqlink_routes_add_msi(vm, &m, &gsi) == 0)
		n++;
	assert_int_equal(n, 4096 - 24);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &gsi), -ENOSPC);
	assert_int_equal(irqlink_routes_commit(vm), 0);
	assert_int_equal(stats(vm).committed_routes, 4096);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- GSI allocation ------------------------------------------------------ */

static void test_gsi_realloc(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, NULL);
	struct kvm_msi m = msi_vec(0x40);
	uint32_t g[6];
	(void)state;

	for (int i = 0; i < 6; i++) {
		assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[i]), 0);
		assert_int_equal(g[i], 24 + i);
	}
	assert_int_equal(irqlink_routes_set_msi(vm, 25, &m), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, 25), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, 25), -ENOENT);
	/* The freed GSI lost its route, in KVM too. */
	assert_int_equal(irqlink_routes_get(vm, 25, IRQLINK_ROUTES_COMMITTED,
					    &m), 0);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 25);
	assert_int_equal(irqlink_routes_gsi_free(vm, 28), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, 24), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, 26), 0);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 24);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 26);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 28);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 30);
	/* Across a 64-bit word of the bitmap. */
	for (uint32_t i = 31; i < 200; i++)
		assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, 130), 0);
	assert_int_equal(irqlink_routes_gsi_free(vm, 70), 0);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 70);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 130);
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g[0]), 0);
	assert_int_equal(g[0], 200);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- injected failures --------------------------------------------------- */

static void test_injected_failure(void **state)
{
	static const int errs[] = { -EINTR, -EBUSY };
	int fds = tu_open_fds();
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		struct counter c = { 0 };
		struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, &c);
		struct kvm_msi m = msi_vec(0x50);
		struct irqlink_routes_stats st;
		uint32_t g, h;
		int cpu = new_vcpu(vm), efd = tu_eventfd();

		assert_int_equal(irqlink_routes_add_msi(vm, &m, &g), 0);
		assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, g), 0);
		assert_int_equal(c.routing, 1);

		/* A failing batch commit: error out, committed view and KVM's
		 * table unchanged, staged changes kept. */
		c.err = errs[i];
		assert_int_equal(irqlink_routes_begin(vm), 0);
		m = msi_vec(0x51);
		assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
		assert_int_equal(irqlink_routes_add_msi(vm, &m, &h), 0);
		assert_int_equal(irqlink_routes_commit(vm), errs[i]);
		assert_int_equal(c.routing, 2);
		st = stats(vm);
		assert_int_equal(st.commits, 1);
		assert_int_equal(st.commit_failures, 1);
		assert_int_equal(st.committed_routes, 1);
		assert_int_equal(st.staged_routes, 2);
		assert_int_equal(irqlink_routes_get(vm, g,
				 IRQLINK_ROUTES_COMMITTED, &m), 1);
		assert_int_equal(m.data, 0x50);
		assert_int_equal(irqlink_routes_get(vm, g,
				 IRQLINK_ROUTES_STAGED, &m), 1);
		assert_int_equal(m.data, 0x51);
		tu_signal(efd);
		assert_true(wait_take_irr(cpu, 0x50));
		assert_false(take_irr(cpu, 0x51));

		/* A failing change outside a batch is undone, with everything
		 * else uncommitted. */
		m = msi_vec(0x52);
		assert_int_equal(irqlink_routes_set_msi(vm, g, &m), errs[i]);
		assert_int_equal(irqlink_routes_get(vm, g,
				 IRQLINK_ROUTES_STAGED, &m), 1);
		assert_int_equal(m.data, 0x50);
		assert_int_equal(irqlink_routes_get(vm, h,
				 IRQLINK_ROUTES_STAGED, &m), 0);
		/* Freeing fails the same way and keeps the GSI and route. */
		assert_int_equal(irqlink_routes_gsi_free(vm, g), errs[i]);
		assert_int_equal(stats(vm).gsis_allocated, 2);
		assert_int_equal(irqlink_routes_get(vm, g,
				 IRQLINK_ROUTES_STAGED, &m), 1);
		assert_int_equal(c.routing, 4);

		/* KVM back to normal: nothing is staged, so no ioctl. */
		c.err = 0;
		assert_int_equal(irqlink_routes_commit(vm), 0);
		assert_int_equal(c.routing, 4);
		/* A retried batch goes through. */
		assert_int_equal(irqlink_routes_begin(vm), 0);
		m = msi_vec(0x53);
		assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
		c.err = errs[i];
		assert_int_equal(irqlink_routes_commit(vm), errs[i]);
		c.err = 0;
		assert_int_equal(irqlink_routes_commit(vm), 0);
		assert_int_equal(c.routing, 6);
		tu_signal(efd);
		assert_true(wait_take_irr(cpu, 0x53));
		assert_false(take_irr(cpu, 0x50));
		st = stats(vm);
		assert_int_equal(st.commits, 2);
		assert_int_equal(st.commit_failures, 4);

		close(cpu);
		close(efd);
		irqlink_vm_destroy(vm);
	}
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- rule 30: a signal without a route is lost ---------------------------- */

static void test_no_route_lost(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, NULL);
	struct kvm_msi m = msi_vec(0x60);
	int cpu = new_vcpu(vm), efd = tu_eventfd();
	uint32_t g;
	(void)state;

	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, g), 0);
	tu_signal(efd);
	/* Consumed by KVM... */
	assert_int_equal(tu_count(efd), 0);
	/* ...and, without a route, injected from a kernel work item that
	 * looks the route up when it runs: a route committed before it ran
	 * would still catch the signal. Detaching flushes that work item, so
	 * after it the signal has certainly met "no route". */
	assert_int_equal(irqlink_irqfd_detach(vm, efd, g), 0);
	assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, g), 0);
	/* Lost: not replayed when the route appears. */
	assert_false(take_irr(cpu, 0x60));
	tu_signal(efd);
	assert_true(wait_take_irr(cpu, 0x60));
	/* The irqfd follows route updates without being re-attached. */
	m = msi_vec(0x61);
	assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
	tu_signal(efd);
	assert_true(wait_take_irr(cpu, 0x61));
	assert_false(take_irr(cpu, 0x60));
	/* Cleared again: lost again. */
	assert_int_equal(irqlink_routes_clear(vm, g), 0);
	tu_signal(efd);
	assert_false(take_irr(cpu, 0x61));

	close(cpu);
	close(efd);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- arguments ------------------------------------------------------------ */

static void test_route_args(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL, NULL);
	struct irqlink_vm *none = new_vm(IRQLINK_IRQCHIP_NONE, NULL);
	struct irqlink_routes_stats st;
	struct kvm_msi m = msi_vec(0x40), out;
	uint32_t g;
	(void)state;

	/* No irqchip: no table. */
	assert_int_equal(irqlink_routes_gsi_alloc(none, &g), -EINVAL);
	assert_int_equal(irqlink_routes_set_msi(none, 24, &m), -EINVAL);
	assert_int_equal(irqlink_routes_add_msi(none, &m, &g), -EINVAL);
	assert_int_equal(irqlink_routes_begin(none), -EINVAL);
	assert_int_equal(irqlink_routes_commit(none), -EINVAL);
	assert_int_equal(irqlink_routes_stats(none, &st), -EINVAL);
	irqlink_routes_abort(none);

	/* Full irqchip pins are KVM's; beyond the limit is nothing. */
	assert_int_equal(irqlink_routes_set_msi(vm, 0, &m), -EINVAL);
	assert_int_equal(irqlink_routes_set_msi(vm, 23, &m), -EINVAL);
	assert_int_equal(irqlink_routes_set_msi(vm, 4096, &m), -EINVAL);
	assert_int_equal(irqlink_routes_clear(vm, 4096), -EINVAL);
	assert_int_equal(irqlink_routes_gsi_free(vm, 4096), -EINVAL);
	assert_int_equal(irqlink_routes_gsi_free(vm, 3), -ENOENT);
	assert_int_equal(irqlink_routes_get(vm, 4096, IRQLINK_ROUTES_STAGED,
					    &out), -EINVAL);
	assert_int_equal(irqlink_routes_get(vm, 24, 7, &out), -EINVAL);
	/* Not allocated. */
	assert_int_equal(irqlink_routes_set_msi(vm, 24, &m), -ENOENT);
	assert_int_equal(irqlink_routes_gsi_free(vm, 24), -ENOENT);

	/* Flags: devid is taken (x86 KVM accepts it), nothing else. */
	assert_int_equal(irqlink_routes_gsi_alloc(vm, &g), 0);
	m.flags = 2;
	assert_int_equal(irqlink_routes_set_msi(vm, g, &m), -EINVAL);
	m.flags = KVM_MSI_VALID_DEVID;
	m.devid = 0x1234;
	m.address_hi = 0;
	assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
	assert_int_equal(irqlink_routes_get(vm, g, IRQLINK_ROUTES_COMMITTED,
					    &out), 1);
	assert_int_equal(out.devid, 0x1234);
	assert_int_equal(out.flags, KVM_MSI_VALID_DEVID);
	/* Without the flag, the devid is not part of the route. */
	m.flags = 0;
	assert_int_equal(irqlink_routes_set_msi(vm, g, &m), 0);
	assert_int_equal(irqlink_routes_get(vm, g, IRQLINK_ROUTES_COMMITTED,
					    &out), 1);
	assert_int_equal(out.devid, 0);
	assert_int_equal(stats(vm).commits, 2);

	irqlink_vm_destroy(vm);
	irqlink_vm_destroy(none);
	assert_int_equal(tu_open_fds(), fds);
}

/* A wrapped VM gets KVM's default table back at destroy. */
static void test_wrap_restores_default(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *own = new_vm(IRQLINK_IRQCHIP_FULL, NULL), *vm;
	struct kvm_msi m = msi_vec(0x70);
	int cpu = new_vcpu(own), efd = tu_eventfd();
	uint32_t g;
	struct counter c = { 0 };
	(void)state;

	assert_int_equal(irqlink_vm_wrap(irqlink_vm_fd(own),
					 IRQLINK_IRQCHIP_FULL, &vm), 0);
	il_vm_kvm(vm)->hook = count_hook;
	il_vm_kvm(vm)->opaque = &c;
	assert_int_equal(irqlink_routes_add_msi(vm, &m, &g), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(own, efd, g), 0);
	tu_signal(efd);
	assert_true(wait_take_irr(cpu, 0x70));
	irqlink_vm_destroy(vm);
	assert_int_equal(c.routing, 2);
	/* The route is gone, the pins are back. */
	tu_signal(efd);
	assert_false(take_irr(cpu, 0x70));
	assert_pins_routed(own);

	close(cpu);
	close(efd);
	irqlink_vm_destroy(own);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_2048),
		cmocka_unit_test(test_recommit_unchanged),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_split_limits),
		cmocka_unit_test(test_gsi_realloc),
		cmocka_unit_test(test_injected_failure),
		cmocka_unit_test(test_no_route_lost),
		cmocka_unit_test(test_route_args),
		cmocka_unit_test(test_wrap_restores_default),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
