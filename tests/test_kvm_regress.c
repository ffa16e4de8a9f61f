/* SPDX-License-Identifier: MIT */
/*
 * The regressions of the interrupt spec (section 5), one test each, against
 * the real KVM with the test guest counting interrupts (guest/kvm_guest.h):
 *
 *   - deassign racing KVM_SET_GSI_ROUTING and signals: once detach returns,
 *     no interrupt from that irqfd reaches the guest, on any vector;
 *   - the same eventfd offered to two consumers: EBUSY, and the first keeps
 *     every interrupt (no silent drop);
 *   - a level line unmasked after its EOI: no spurious interrupt (rule 29);
 *   - assign racing close of the eventfd, raw and through the library: only
 *     0, EBUSY or EBADF, and no fd leaked;
 *   - deassign/close of 10,000 irqfds racing a second thread: only 0,
 *     EBUSY or EBADF, the library's records agree with what it returned,
 *     and nothing is left at the end.
 *
 * kvm_pvm EOIs an interrupt when it injects it (docs/ARCHITECTURE.md), so
 * where a test needs interrupts to wait unacknowledged it stops the vCPU
 * (kg_stop()). Every loop is bounded in iterations and in time.
 */
#include "kvm_guest.h"
#include "testutil.h"

#include <irqlink/irqlink.h>

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 2000
#define SETTLE_MS 20
#define MSI_ADDR 0xfee00000u
#define APIC_IRR 0x200

/* Vectors (0x20-0xef). */
#define VEC_R1     0x60   /* routes the racing router alternates between */
#define VEC_R2     0x61
#define VEC_R3     0x62   /* routes after detach: must never be seen */
#define VEC_R4     0x66
#define VEC_C1     0x63   /* consumer / irqfd that owns the eventfd */
#define VEC_C2     0x64   /* the one refused */
#define VEC_UNMASK 0x65

#define PIN_UNMASK 20

/* ---- helpers ------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t wait_efd(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	if (poll(&p, 1, WAIT_MS) != 1)
		return 0;
	return tu_count(efd);
}

static void assert_settled(struct kg_guest *g, unsigned int vec, uint64_t n)
{
	tu_sleep_ms(SETTLE_MS);
	assert_int_equal(kg_count(g, vec), n);
}

static struct kvm_msi msi_vec(unsigned int vec)
{
	return (struct kvm_msi){ .address_lo = MSI_ADDR, .data = vec };
}

/* @n triggers on @efd, each sent only once the previous one was counted:
 * each must be exactly one interrupt on @vec. */
static void paced(struct kg_guest *g, int efd, unsigned int vec, uint64_t n)
{
	uint64_t base = kg_count(g, vec);

	for (uint64_t i = 1; i <= n; i++) {
		tu_signal(efd);
		assert_int_equal(kg_wait_count(g, vec, base + i, WAIT_MS), 0);
	}
	assert_settled(g, vec, base + n);
}

struct pin {
	bool level;
	bool rirr;
	bool masked;
};

static struct pin ioapic_pin(struct irqlink_vm *vm, unsigned int pin)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct pin p;

	assert_int_equal(ioctl(irqlink_vm_fd(vm), KVM_GET_IRQCHIP, &chip), 0);
	p.level = (chip.chip.ioapic.irr >> pin) & 1;
	p.rirr = chip.chip.ioapic.redirtbl[pin].fields.remote_irr;
	p.masked = chip.chip.ioapic.redirtbl[pin].fields.mask;
	return p;
}

static bool wait_level(struct irqlink_vm *vm, unsigned int pin, bool level)
{
	for (int i = 0; i < WAIT_MS; i++) {
		if (ioapic_pin(vm, pin).level == level)
			return true;
		tu_sleep_ms(1);
	}
	return false;
}

static bool irr_bit(const struct kvm_lapic_state *la, unsigned int vec)
{
	uint32_t w;

	memcpy(&w, la->regs + APIC_IRR + 0x10 * (vec / 32), sizeof(w));
	return (w >> (vec % 32)) & 1;
}

static void irr_clear(struct kvm_lapic_state *la, unsigned int vec)
{
	uint32_t w;

	memcpy(&w, la->regs + APIC_IRR + 0x10 * (vec / 32), sizeof(w));
	w &= ~(1u << (vec % 32));
	memcpy(la->regs + APIC_IRR + 0x10 * (vec / 32), &w, sizeof(w));
}

/* Spin (yielding now and then: two shared cores) until *@v >= @target. */
static void spin_until(atomic_uint *v, unsigned int target)
{
	unsigned int n = 0;

	while (atomic_load(v) < target) {
		if (++n % 256 == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

/* Busy-wait up to @max pause instructions, so the two sides of a race
 * meet at varying offsets (a few microseconds at most). */
static void jitter(unsigned int *seed, unsigned int max)
{
	unsigned int n = (unsigned int)rand_r(seed) % max;

	while (n--)
		__builtin_ia32_pause();
}

/* ---- deassign racing KVM_SET_GSI_ROUTING and signals --------------------- */

#define RACE_ROUNDS 10
#define RACE_SIGNALS_MAX 50000000u  /* per round; rounds end on time */
#define RACE_COMMITS_MAX 5000000u
#define RACE_SETTLE_MS 100

enum { PH_FLOW, PH_DETACHED, PH_END };

struct race {
	struct irqlink_vm *vm;
	int efd;
	uint32_t gsi;
	atomic_int phase;
	atomic_uint signals;      /* writes done */
	atomic_uint post;         /* writes started after PH_DETACHED was seen */
	atomic_uint commits;
	atomic_int router_err;
	atomic_int signal_err;
};

static void *signaler(void *arg)
{
	struct race *rc = arg;
	uint64_t one = 1;

	while (atomic_load(&rc->phase) != PH_END &&
	       atomic_load(&rc->signals) < RACE_SIGNALS_MAX) {
		bool after = atomic_load(&rc->phase) == PH_DETACHED;

		if (write(rc->efd, &one, sizeof(one)) != sizeof(one)) {
			atomic_store(&rc->signal_err, errno);
			break;
		}
		if (after)
			atomic_fetch_add(&rc->post, 1);
		/* Leave the vCPU and the router some CPU: 2 shared cores. */
		if (atomic_fetch_add(&rc->signals, 1) % 8 == 7)
			sched_yield();
	}
	return NULL;
}

static void *router(void *arg)
{
	struct race *rc = arg;
	unsigned int k = 1;     /* R2 first: the round starts on R1 */

	while (atomic_load(&rc->phase) != PH_END &&
	       atomic_load(&rc->commits) < RACE_COMMITS_MAX) {
		struct kvm_msi m;
		int r;

		/* Alternating, so that every call is a real commit. */
		if (atomic_load(&rc->phase) == PH_DETACHED)
			m = msi_vec(k++ % 2 ? VEC_R4 : VEC_R3);
		else
			m = msi_vec(k++ % 2 ? VEC_R2 : VEC_R1);
		r = irqlink_routes_set_msi(rc->vm, rc->gsi, &m);
		if (r) {
			atomic_store(&rc->router_err, r);
			break;
		}
		atomic_fetch_add(&rc->commits, 1);
	}
	return NULL;
}

static uint64_t routed(struct kg_guest *g)
{
	return kg_count(g, VEC_R1) + kg_count(g, VEC_R2) + kg_count(g, VEC_R3) +
	       kg_count(g, VEC_R4);
}

/*
 * One thread signals an MSI irqfd as fast as it can, another re-commits
 * the GSI's route to alternating vectors (R1, R2), and the main thread
 * detaches the irqfd. The vCPU is stopped around the detach, so whatever
 * KVM injected before detach returned waits in the LAPIC's IRR; those bits
 * are cleared right after detach returns. Then, for a settle period with
 * the signals and re-routing still going (now alternating R3, R4: vectors
 * only a route made after the detach uses), the IRR must stay clear of
 * R1-R4, and, the vCPU resumed, the guest's counts must not move at all.
 * Meanwhile every signal after the detach stays in the eventfd (KVM no
 * longer consumes it). Ten rounds.
 *
 * Note: the library serializes irqfd and route calls on one VM context
 * under its mutex, so in the kernel this detach never overlaps a routing
 * commit; what races is the detach against injections through a route
 * that changes between any two of them.
 */
static void test_regress_detach_vs_routing_and_signals(void **state)
{
	struct tu_guest_vm *f = *state;
	struct kvm_lapic_state la;
	uint64_t c1 = 0, c2 = 0, c_a[4], seen, post_total = 0;
	struct irqlink_routes_stats st0, st1;
	double t0 = now_s();
	unsigned int commits_total = 0, pending = 0;
	struct kvm_msi m = msi_vec(VEC_R1);
	struct race rc = { .vm = f->vm };
	const unsigned int vecs[4] = { VEC_R1, VEC_R2, VEC_R3, VEC_R4 };

	rc.efd = tu_eventfd();
	assert_int_equal(irqlink_routes_add_msi(f->vm, &m, &rc.gsi), 0);
	assert_int_equal(irqlink_routes_stats(f->vm, &st0), 0);

	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_t ts, tr;
		uint64_t left;
		int i;

		assert_int_equal(irqlink_routes_set_msi(f->vm, rc.gsi, &m), 0);
		/* Whatever the last round left in the eventfd would be
		 * injected at attach (rule 25). */
		(void)tu_count(rc.efd);
		assert_int_equal(irqlink_irqfd_attach_edge(f->vm, rc.efd,
							   rc.gsi), 0);
		atomic_store(&rc.phase, PH_FLOW);
		atomic_store(&rc.signals, 0);
		atomic_store(&rc.post, 0);
		atomic_store(&rc.commits, 0);
		seen = routed(f->g);
		assert_int_equal(pthread_create(&ts, NULL, signaler, &rc), 0);
		assert_int_equal(pthread_create(&tr, NULL, router, &rc), 0);

		/* Interrupts flow (and the router has committed a few). */
		for (i = 0; i < WAIT_MS; i++) {
			if (routed(f->g) >= seen + 50 &&
			    atomic_load(&rc.commits) >= 4)
				break;
			tu_sleep_ms(1);
		}
		assert_true(i < WAIT_MS);

		/* Stop the vCPU; let the race go on into its LAPIC. */
		assert_int_equal(kg_stop(f->g), 0);
		tu_sleep_ms(5);
		assert_int_equal(irqlink_irqfd_detach(f->vm, rc.efd, rc.gsi), 0);
		atomic_store(&rc.phase, PH_DETACHED);
		/* What was injected before detach returned is legitimate:
		 * take it out of the IRR so only later injections show. */
		assert_int_equal(ioctl(kg_vcpu_fd(f->g), KVM_GET_LAPIC, &la), 0);
		pending += irr_bit(&la, VEC_R1) || irr_bit(&la, VEC_R2);
		assert_false(irr_bit(&la, VEC_R3));
		assert_false(irr_bit(&la, VEC_R4));
		for (int v = 0; v < 4; v++)
			irr_clear(&la, vecs[v]);
		assert_int_equal(ioctl(kg_vcpu_fd(f->g), KVM_SET_LAPIC, &la), 0);

		tu_sleep_ms(RACE_SETTLE_MS);
		assert_int_equal(ioctl(kg_vcpu_fd(f->g), KVM_GET_LAPIC, &la), 0);
		for (int v = 0; v < 4; v++)
			assert_false(irr_bit(&la, vecs[v]));

		/* Resumed: the guest finishes an ISR it may have been
		 * stopped in; after that, with signals and re-routing still
		 * going, nothing more arrives. */
		assert_int_equal(kg_start(f->g), 0);
		assert_int_equal(kg_mailbox(f->g, KG_CMD_NOP, 0, 0, 0, NULL,
					    WAIT_MS), 0);
		tu_sleep_ms(SETTLE_MS);
		for (int v = 0; v < 4; v++)
			c_a[v] = kg_count(f->g, vecs[v]);
		tu_sleep_ms(RACE_SETTLE_MS);
		for (int v = 0; v < 4; v++)
			assert_int_equal(kg_count(f->g, vecs[v]), c_a[v]);
		assert_int_equal(kg_count(f->g, VEC_R3), 0);
		assert_int_equal(kg_count(f->g, VEC_R4), 0);

		atomic_store(&rc.phase, PH_END);
		assert_int_equal(pthread_join(ts, NULL), 0);
		assert_int_equal(pthread_join(tr, NULL), 0);
		assert_int_equal(atomic_load(&rc.signal_err), 0);
		assert_int_equal(atomic_load(&rc.router_err), 0);
		/* Every signal since the detach is still in the eventfd. */
		left = tu_count(rc.efd);
		assert_true(atomic_load(&rc.post) > 0);
		assert_true(left >= atomic_load(&rc.post));
		assert_true(left <= atomic_load(&rc.signals));
		post_total += atomic_load(&rc.post);
		commits_total += atomic_load(&rc.commits);
		assert_int_equal(irqlink_irqfd_count(f->vm), 0);
		assert_true(now_s() - t0 < 120);
	}
	c1 = kg_count(f->g, VEC_R1);
	c2 = kg_count(f->g, VEC_R2);
	assert_int_equal(irqlink_routes_stats(f->vm, &st1), 0);
	/* Every router call was a real KVM_SET_GSI_ROUTING, plus one per
	 * round after the first to put R1 back. */
	assert_int_equal(st1.commit_failures, st0.commit_failures);
	assert_int_equal(st1.commits - st0.commits,
			 commits_total + RACE_ROUNDS - 1);
	fprintf(stderr, "detach race: %d rounds, %llu on R1, %llu on R2, "
		"0 on R3/R4, %llu KVM_SET_GSI_ROUTING, %u rounds with R1/R2 "
		"pending at detach, %llu signals after detach kept in the "
		"eventfd, %.1f s\n", RACE_ROUNDS,
		(unsigned long long)c1, (unsigned long long)c2,
		(unsigned long long)(st1.commits - st0.commits), pending,
		(unsigned long long)post_total, now_s() - t0);
	/* The route really changed under the flowing interrupts, and the
	 * stopped vCPU's IRR did collect injections made before detach
	 * returned (so an injection after it would have shown there). */
	assert_true(c1 > 0);
	assert_true(c2 > 0);
	assert_true(pending > 0);
	assert_int_equal(irqlink_routes_gsi_free(f->vm, rc.gsi), 0);
	close(rc.efd);
}

/* ---- the same eventfd offered to two consumers --------------------------- */

static void producer_init(struct irqlink_bypass_producer *p, int efd)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(irqlink_bypass_token_from_fd(efd, &p->token), 0);
}

/*
 * A consumer owns E (bypass: E is its KVM irqfd; relay: its relay reads
 * E). A second consumer for E, through the same relay or the same bypass
 * manager, is refused with EBUSY, and then the first still gets every
 * interrupt: N paced triggers, exactly N on its vector, none on the
 * refused one's.
 */
static void test_regress_two_consumers_ebusy(void **state)
{
	struct tu_guest_vm *f = *state;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
	struct irqlink_bypass_producer prod;
	struct irqlink_consumer *c1, *c2 = NULL;
	struct irqlink_consumer_config cfg = { .kind = IRQLINK_CONSUMER_MSI };
	struct irqlink_relay_stats rs;
	int e = tu_eventfd(), fds;

	assert_int_equal(irqlink_relay_create(f->vm, NULL, &relay), 0);
	assert_int_equal(irqlink_bypass_create(&bypass), 0);
	producer_init(&prod, e);
	assert_int_equal(irqlink_bypass_register_producer(bypass, &prod), 0);

	cfg.trigger_fd = e;
	cfg.msi = msi_vec(VEC_C1);
	assert_int_equal(irqlink_consumer_create(f->vm, relay, bypass, &cfg,
						 &c1), 0);
	assert_int_equal(irqlink_consumer_path(c1), IRQLINK_PATH_BYPASS);

	cfg.msi = msi_vec(VEC_C2);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: c1 in bypass; pass 1: c1 on the relay. */
		fds = tu_open_fds();
		assert_int_equal(irqlink_consumer_create(f->vm, relay, NULL,
							 &cfg, &c2), -EBUSY);
		assert_int_equal(irqlink_consumer_create(f->vm, relay, bypass,
							 &cfg, &c2), -EBUSY);
		cfg.force_relay = true;
		assert_int_equal(irqlink_consumer_create(f->vm, relay, bypass,
							 &cfg, &c2), -EBUSY);
		cfg.force_relay = false;
		assert_null(c2);
		assert_int_equal(tu_open_fds(), fds);

		paced(f->g, e, VEC_C1, 100);
		assert_int_equal(kg_count(f->g, VEC_C1), 100 * (pass + 1));
		assert_int_equal(kg_count(f->g, VEC_C2), 0);
		assert_int_equal(irqlink_relay_get_stats(relay, &rs), 0);
		assert_int_equal(rs.msi_injections, pass ? 100 : 0);
		if (!pass) {
			assert_int_equal(irqlink_bypass_unregister_producer(
						 bypass, &prod), 0);
			assert_int_equal(irqlink_consumer_path(c1),
					 IRQLINK_PATH_RELAY);
		}
	}

	irqlink_consumer_destroy(c1);
	irqlink_bypass_destroy(bypass);
	irqlink_relay_destroy(relay);
	close(e);
}

/*
 * Two consumers for E in one VM, each with a relay of its own and no
 * bypass manager: nothing but E's identity is shared, and E must still
 * feed at most one of them (the spec: EBUSY, never a silent drop). If the
 * second is accepted, two relay threads read E and the interrupts are
 * split between the two vectors.
 */
static void test_regress_two_consumers_two_relays(void **state)
{
	struct tu_guest_vm *f = *state;
	struct irqlink_relay *r1, *r2;
	struct irqlink_consumer *c1, *c2 = NULL;
	struct irqlink_consumer_config cfg = { .kind = IRQLINK_CONSUMER_MSI };
	int e = tu_eventfd(), rc;
	uint64_t c2n;

	assert_int_equal(irqlink_relay_create(f->vm, NULL, &r1), 0);
	assert_int_equal(irqlink_relay_create(f->vm, NULL, &r2), 0);
	cfg.trigger_fd = e;
	cfg.msi = msi_vec(VEC_C1);
	assert_int_equal(irqlink_consumer_create(f->vm, r1, NULL, &cfg, &c1), 0);
	cfg.msi = msi_vec(VEC_C2);
	rc = irqlink_consumer_create(f->vm, r2, NULL, &cfg, &c2);
	if (rc == 0) {
		/* Show what the acceptance costs before failing on it. */
		for (int i = 0; i < 200; i++) {
			tu_signal(e);
			usleep(200);
		}
		tu_sleep_ms(SETTLE_MS);
		fprintf(stderr, "two relays: second consumer accepted; 200 "
			"triggers -> %llu on the first, %llu on the second\n",
			(unsigned long long)kg_count(f->g, VEC_C1),
			(unsigned long long)kg_count(f->g, VEC_C2));
		irqlink_consumer_destroy(c2);
	}
	c2n = kg_count(f->g, VEC_C2);
	paced(f->g, e, VEC_C1, 100);
	assert_int_equal(kg_count(f->g, VEC_C2), c2n);

	irqlink_consumer_destroy(c1);
	irqlink_relay_destroy(r1);
	irqlink_relay_destroy(r2);
	close(e);
	/* Last, so that a failure leaves nothing behind. */
	assert_int_equal(rc, -EBUSY);
	assert_int_equal(c2n, 0);
}

/*
 * Raw KVM_IRQFD: E backs an irqfd on GSI g1; the same E on GSI g2 (any
 * VM) is EBUSY, through the library too, and every signal still lands on
 * g1's vector only.
 */
static void test_regress_irqfd_two_gsis_ebusy(void **state)
{
	struct tu_guest_vm *f = *state;
	int vmfd = irqlink_vm_fd(f->vm), e = tu_eventfd(), e2, other;
	struct kvm_msi m1 = msi_vec(VEC_C1), m2 = msi_vec(VEC_C2);
	struct kvm_irqfd req = { .fd = (uint32_t)e };
	uint32_t g1, g2;

	assert_int_equal(irqlink_routes_add_msi(f->vm, &m1, &g1), 0);
	assert_int_equal(irqlink_routes_add_msi(f->vm, &m2, &g2), 0);
	req.gsi = g1;
	assert_int_equal(ioctl(vmfd, KVM_IRQFD, &req), 0);
	req.gsi = g2;
	assert_int_equal(ioctl(vmfd, KVM_IRQFD, &req), -1);
	assert_int_equal(errno, EBUSY);
	/* Any fd of that eventfd, and another VM: the same answer. */
	e2 = dup(e);
	req.fd = (uint32_t)e2;
	assert_int_equal(ioctl(vmfd, KVM_IRQFD, &req), -1);
	assert_int_equal(errno, EBUSY);
	other = kg_vm_create();
	assert_true(other >= 0);
	assert_int_equal(ioctl(other, KVM_IRQFD, &req), -1);
	assert_int_equal(errno, EBUSY);
	close(other);
	close(e2);
	assert_int_equal(irqlink_irqfd_attach_edge(f->vm, e, g2), -EBUSY);
	assert_int_equal(irqlink_irqfd_count(f->vm), 0);

	paced(f->g, e, VEC_C1, 100);
	assert_int_equal(kg_count(f->g, VEC_C2), 0);
	/* KVM consumed every one. */
	assert_int_equal(tu_count(e), 0);

	req.fd = (uint32_t)e;
	req.gsi = g1;
	req.flags = KVM_IRQFD_FLAG_DEASSIGN;
	assert_int_equal(ioctl(vmfd, KVM_IRQFD, &req), 0);
	/* Free again: now g2 may have it. */
	assert_int_equal(irqlink_irqfd_attach_edge(f->vm, e, g2), 0);
	paced(f->g, e, VEC_C2, 10);
	assert_int_equal(kg_count(f->g, VEC_C1), 100);
	assert_int_equal(irqlink_irqfd_detach(f->vm, e, g2), 0);
	assert_int_equal(irqlink_routes_gsi_free(f->vm, g1), 0);
	assert_int_equal(irqlink_routes_gsi_free(f->vm, g2), 0);
	close(e);
}

/* ---- spurious interrupt when a level line is unmasked after EOI ---------- */

/*
 * The IRQF_ONESHOT pattern of a Linux guest on a level pin fed by a
 * resampling irqfd (E, resamplefd R; R is what a VFIO device takes as its
 * INTx unmask):
 *   1. the device asserts (E): one interrupt, its EOI signals R;
 *   2. the guest masks the IOAPIC entry (handler thread pending);
 *   3. the device still asserted when R unmasked it, so it fires again (E):
 *      the IOAPIC latches the level, masked, nothing delivered;
 *   4. the guest's thread services the device (it deasserts: the test
 *      sends nothing more) and unmasks the entry.
 * The latched level is stale by then. KVM must not inject it: with a
 * resampler on the pin it signals R instead (rule 29), and the device,
 * no longer asserting, stays quiet. No spurious interrupt. When the
 * device IS still asserting at step 4, R's unmask makes it fire once more
 * and that is one real interrupt.
 */
static void test_regress_level_unmask_after_eoi(void **state)
{
	struct tu_guest_vm *f = *state;
	int e = tu_eventfd(), r = tu_eventfd();
	uint64_t n = 0;
	struct pin p;

	assert_int_equal(kg_program_ioapic(f->g, PIN_UNMASK, VEC_UNMASK,
					   KG_LEVEL), 0);
	assert_int_equal(irqlink_irqfd_attach_level(f->vm, e, r, PIN_UNMASK),
			 0);

	for (int round = 0; round < 20; round++) {
		bool still_asserted = round % 2;

		/* 1 */
		tu_signal(e);
		assert_int_equal(kg_wait_count(f->g, VEC_UNMASK, ++n, WAIT_MS),
				 0);
		assert_int_equal(wait_efd(r), 1);
		/* 2 */
		assert_int_equal(kg_program_ioapic(f->g, PIN_UNMASK, VEC_UNMASK,
						   KG_LEVEL | KG_MASKED), 0);
		/* 3 */
		tu_signal(e);
		assert_true(wait_level(f->vm, PIN_UNMASK, true));
		tu_sleep_ms(SETTLE_MS);
		p = ioapic_pin(f->vm, PIN_UNMASK);
		assert_true(p.masked);
		assert_false(p.rirr);
		assert_int_equal(kg_count(f->g, VEC_UNMASK), n);
		assert_int_equal(tu_count(r), 0);
		/* 4 */
		assert_int_equal(kg_program_ioapic(f->g, PIN_UNMASK, VEC_UNMASK,
						   KG_LEVEL), 0);
		assert_int_equal(wait_efd(r), 1);
		assert_settled(f->g, VEC_UNMASK, n);
		p = ioapic_pin(f->vm, PIN_UNMASK);
		assert_false(p.level);
		assert_false(p.rirr);
		if (still_asserted) {
			/* The device, unmasked through R, fires again. */
			tu_signal(e);
			assert_int_equal(kg_wait_count(f->g, VEC_UNMASK, ++n,
						       WAIT_MS), 0);
			assert_int_equal(wait_efd(r), 1);
			assert_settled(f->g, VEC_UNMASK, n);
		}
		assert_int_equal(tu_count(r), 0);
	}
	assert_int_equal(n, 30);
	assert_int_equal(irqlink_irqfd_detach(f->vm, e, PIN_UNMASK), 0);
	close(e);
	close(r);
}

/* ---- assign racing close of the eventfd ---------------------------------- */

#define ASSIGN_RACES 2000
#define RACE_TIME_S 60

struct closer {
	atomic_uint go;         /* iteration i may start: i + 1 */
	atomic_uint done;       /* iteration i's close done: i + 1 */
	atomic_int fd;          /* the fd to close in this iteration */
	atomic_uint delay;      /* pause instructions before the close */
	unsigned int iters;
};

static void pause_n(unsigned int n)
{
	while (n--)
		__builtin_ia32_pause();
}

static void *closer_thread(void *arg)
{
	struct closer *c = arg;

	for (unsigned int i = 0; i < c->iters; i++) {
		spin_until(&c->go, i + 1);
		pause_n(atomic_load(&c->delay));
		close(atomic_load(&c->fd));
		atomic_store(&c->done, i + 1);
	}
	return NULL;
}

static bool accepted(int r)
{
	return r == 0 || r == -EBUSY || r == -EBADF;
}

/*
 * One thread closes the caller's eventfd while the other assigns it, at
 * offsets that vary from "closed before" to "closed after". @lib selects
 * irqlink_irqfd_attach_edge() or raw KVM_IRQFD on the VM fd. Every result
 * must be 0, EBUSY or EBADF. With the library, each success keeps exactly
 * one fd (its dup, which keeps the irqfd attached although the caller's fd
 * is gone) and is counted by irqlink_irqfd_count(); destroying the VM
 * context gives every fd back.
 */
static void assign_vs_close(bool lib)
{
	struct irqlink_vm *vm;
	struct closer c = { .iters = ASSIGN_RACES };
	unsigned int seed = 777, ok = 0, ebadf = 0, ebusy = 0;
	int fds = tu_open_fds(), base;
	double t0 = now_s();
	pthread_t t;

	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	base = tu_open_fds();
	assert_int_equal(pthread_create(&t, NULL, closer_thread, &c), 0);
	for (unsigned int i = 0; i < ASSIGN_RACES; i++) {
		int efd = tu_eventfd(), r;

		/* Delay one side or the other by up to a few microseconds,
		 * so the close lands before, during and after the assign. */
		unsigned int d = (unsigned int)rand_r(&seed) % 8000;

		atomic_store(&c.fd, efd);
		atomic_store(&c.delay, d % 2 ? d : 0);
		atomic_store(&c.go, i + 1);
		pause_n(d % 2 ? 0 : d);
		if (lib) {
			r = irqlink_irqfd_attach_edge(vm, efd, 20);
		} else {
			struct kvm_irqfd req = { .fd = (uint32_t)efd,
						 .gsi = 20 };

			r = ioctl(irqlink_vm_fd(vm), KVM_IRQFD, &req) ? -errno
								      : 0;
		}
		if (!accepted(r))
			fprintf(stderr, "assign vs close: %d at %u\n", r, i);
		assert_true(accepted(r));
		ok += r == 0;
		ebadf += r == -EBADF;
		ebusy += r == -EBUSY;
		spin_until(&c.done, i + 1);
		if (now_s() - t0 > RACE_TIME_S)
			break;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	fprintf(stderr, "assign vs close (%s): %u races: %u ok, %u EBADF, "
		"%u EBUSY, %.2f s\n", lib ? "library" : "raw KVM_IRQFD",
		ok + ebadf + ebusy, ok, ebadf, ebusy, now_s() - t0);
	assert_int_equal(ok + ebadf + ebusy, ASSIGN_RACES);
	if (lib) {
		/* One record and one dup per success, nothing else. */
		assert_int_equal(irqlink_irqfd_count(vm), ok);
		assert_int_equal(tu_open_fds(), base + (int)ok);
	} else {
		assert_int_equal(tu_open_fds(), base);
	}
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_regress_assign_vs_close_raw(void **state)
{
	(void)state;
	assign_vs_close(false);
}

static void test_regress_assign_vs_close_lib(void **state)
{
	(void)state;
	assign_vs_close(true);
}

/* ---- deassign/close of 10,000 irqfds racing a second thread -------------- */

#define MASS_TOTAL 10000
#define MASS_BATCH 2000   /* 3 fds per irqfd at a time: under RLIMIT_NOFILE */

struct mass {
	struct irqlink_vm *vm;
	int *efd;               /* the caller's fds, closed by the closer */
	int *keep;              /* second fds of the same eventfds */
	int *rc1;               /* the main thread's detach results */
	int *rc2;               /* the closer's own detach results */
	atomic_uint at;         /* the detacher is at index i: i + 1 */
	unsigned int n;
	unsigned int seed;
};

/* The second thread: closes each caller fd as the detacher reaches it; on
 * every third one it first detaches the same irqfd itself (through the
 * other fd of the eventfd). */
static void *mass_closer(void *arg)
{
	struct mass *m = arg;

	for (unsigned int i = 0; i < m->n; i++) {
		spin_until(&m->at, i + 1);
		jitter(&m->seed, 2000);
		if (i % 3 == 0)
			m->rc2[i] = irqlink_irqfd_detach(m->vm, m->keep[i], 20);
		close(m->efd[i]);
	}
	return NULL;
}

/*
 * 10,000 irqfds (in batches of 2,000), each detached by the main thread
 * through the caller's fd while a second thread closes that fd (and on
 * every third also detaches it through another fd of the eventfd). Every
 * call must return 0, EBUSY or EBADF. The library's records must agree
 * with its answers: an irqfd stays attached exactly when neither detach
 * returned 0 -- only then may the library still hold it. The rest are
 * detached through the second fd; at the end no irqfd is left and the
 * process holds the fds it held before.
 */
static void test_regress_detach_close_10k(void **state)
{
	struct irqlink_vm *vm;
	struct mass m = { .seed = 4242 };
	unsigned int results[4] = { 0 };   /* 0, EBADF, EBUSY, closer's 0 */
	unsigned int stale_total = 0, miscounted = 0, seed = 99;
	int fds = tu_open_fds(), base;
	double t0 = now_s();
	(void)state;

	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	base = tu_open_fds();
	m.vm = vm;
	m.efd = calloc(MASS_BATCH, sizeof(int));
	m.keep = calloc(MASS_BATCH, sizeof(int));
	m.rc1 = calloc(MASS_BATCH, sizeof(int));
	m.rc2 = calloc(MASS_BATCH, sizeof(int));
	assert_non_null(m.rc1);
	assert_non_null(m.efd);
	assert_non_null(m.keep);
	assert_non_null(m.rc2);

	for (unsigned int done = 0; done < MASS_TOTAL; done += MASS_BATCH) {
		unsigned int expect = 0, stale = 0;
		pthread_t t;

		m.n = MASS_BATCH;
		atomic_store(&m.at, 0);
		for (unsigned int i = 0; i < m.n; i++) {
			m.efd[i] = tu_eventfd();
			m.keep[i] = dup(m.efd[i]);
			assert_true(m.keep[i] >= 0);
			m.rc2[i] = 1;   /* "did not detach" */
			assert_int_equal(irqlink_irqfd_attach_edge(vm, m.efd[i],
								   20), 0);
		}
		assert_int_equal(irqlink_irqfd_count(vm), m.n);

		assert_int_equal(pthread_create(&t, NULL, mass_closer, &m), 0);
		for (unsigned int i = 0; i < m.n; i++) {
			int r;

			atomic_store(&m.at, i + 1);
			jitter(&seed, 2000);
			r = irqlink_irqfd_detach(vm, m.efd[i], 20);
			if (!accepted(r))
				fprintf(stderr, "detach vs close: %d at %u\n",
					r, done + i);
			assert_true(accepted(r));
			results[r == 0 ? 0 : r == -EBADF ? 1 : 2]++;
			m.rc1[i] = r;
		}
		assert_int_equal(pthread_join(t, NULL), 0);
		for (unsigned int i = 0; i < m.n; i++) {
			if (m.rc2[i] == 1)
				continue;
			/* It detaches through its own fd, which stays open:
			 * always 0 (a no-op if the main thread was first). */
			assert_true(accepted(m.rc2[i]));
			assert_int_equal(m.rc2[i], 0);
			results[3]++;
		}
		/* The library's records must agree with its answers: one
		 * exactly for each irqfd that no detach reported detached. */
		for (unsigned int i = 0; i < m.n; i++) {
			struct irqlink_irqfd_info info;
			bool gone = m.rc1[i] == 0 || m.rc2[i] == 0;
			int l = irqlink_irqfd_lookup(vm, m.keep[i], &info);

			assert_true(l == 0 || l == 1);
			expect += !gone;
			if (gone && l == 1)
				stale++;
		}
		if (stale || irqlink_irqfd_count(vm) != expect)
			fprintf(stderr, "detach vs close: batch at %u: %u "
				"irqfds reported detached are still recorded "
				"(count %zu, expected %u)\n", done, stale,
				irqlink_irqfd_count(vm), expect);
		stale_total += stale;
		miscounted += irqlink_irqfd_count(vm) != expect;

		/* Detach what is left through the second fds. */
		for (unsigned int i = 0; i < m.n; i++) {
			assert_int_equal(irqlink_irqfd_detach(vm, m.keep[i], 20),
					 0);
			close(m.keep[i]);
		}
		assert_int_equal(irqlink_irqfd_count(vm), 0);
		assert_int_equal(tu_open_fds(), base);
		assert_true(now_s() - t0 < 240);
	}
	fprintf(stderr, "detach vs close: %d irqfds, main detach: %u ok, %u "
		"EBADF, %u EBUSY; second thread's detach: %u ok; %.1f s\n",
		MASS_TOTAL, results[0], results[1], results[2], results[3],
		now_s() - t0);
	free(m.rc1);
	free(m.efd);
	free(m.keep);
	free(m.rc2);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
	/* Checked last so that a failure still cleans up and reports. */
	assert_int_equal(stale_total, 0);
	assert_int_equal(miscounted, 0);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_regress_detach_vs_routing_and_signals, tu_guest_vm_setup,
			tu_guest_vm_teardown),
		cmocka_unit_test_setup_teardown(test_regress_two_consumers_ebusy,
						tu_guest_vm_setup, tu_guest_vm_teardown),
		cmocka_unit_test_setup_teardown(
			test_regress_two_consumers_two_relays, tu_guest_vm_setup, tu_guest_vm_teardown),
		cmocka_unit_test_setup_teardown(
			test_regress_irqfd_two_gsis_ebusy, tu_guest_vm_setup, tu_guest_vm_teardown),
		cmocka_unit_test_setup_teardown(
			test_regress_level_unmask_after_eoi, tu_guest_vm_setup, tu_guest_vm_teardown),
		cmocka_unit_test(test_regress_assign_vs_close_raw),
		cmocka_unit_test(test_regress_assign_vs_close_lib),
		cmocka_unit_test(test_regress_detach_close_10k),
	};

	return tu_run_group(tests);
}
