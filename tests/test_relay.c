/* SPDX-License-Identifier: MIT */
/*
 * The user-space relay against a real KVM guest (guest/kvm_guest.h): every
 * action kind delivers exactly one guest interrupt per source signal when
 * signals are paced one at a time; coalesced signals inject once; level
 * INTx through two entries gives exactly one interrupt and one device
 * unmask per assertion, and the unmask only after the EOI; entries added
 * and removed while signals flow lose nothing and read nothing after their
 * removal; pinning and busy-poll; every fd is given back. EVENTFD_NOTIFY
 * writes its notify eventfd once per read, before the target.
 *
 * Accounting used throughout: the relay injects once per read of a source,
 * so when the test sends signal i+1 only after the guest has counted
 * interrupt i, no two signals can coalesce and the guest count must equal
 * the number of signals exactly. Where signals are sent without pacing, the
 * test balances them instead: every signal is either in the relay's
 * stats.counts (read by the relay) or still in the source's counter (read by
 * the test at the end), never both and never neither.
 */
#include "kvm_guest.h"
#include "relay_internal.h"
#include "testutil.h"

#include <irqlink/irqlink.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define N_IRQS  200
#define WAIT_MS 5000
#define MSI_ADDR 0xfee00000u

#define VEC_EDGE  0x40
#define VEC_MSI   0x41
#define VEC_MSI2  0x42
#define VEC_LINE  0x43
#define VEC_LEVEL 0x44
#define VEC_FLOW  0x45
#define VEC_PIN   0x46

#define PIN_EDGE  16
#define PIN_LINE  17
#define PIN_LEVEL 18

struct fx {
	int fds_before;
	int vmfd;
	struct irqlink_vm *vm;
	struct kg_guest *g;
	struct irqlink_relay *relay;
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
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	irqlink_relay_destroy(f->relay);
	kg_destroy(f->g);
	irqlink_vm_destroy(f->vm);
	close(f->vmfd);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

static struct irqlink_relay_stats rstats(struct irqlink_relay *r)
{
	struct irqlink_relay_stats st;

	assert_int_equal(irqlink_relay_get_stats(r, &st), 0);
	return st;
}

static struct kvm_msi msi_vec(unsigned int vec)
{
	return (struct kvm_msi){ .address_lo = MSI_ADDR, .data = vec };
}

/* The count must not move past @n once signals stop. */
static void assert_settled(struct kg_guest *g, unsigned int vec, uint64_t n)
{
	usleep(20 * 1000);
	assert_int_equal(kg_count(g, vec), n);
}

/* Poll an eventfd for up to WAIT_MS; its count (reset), 0 on timeout. */
static uint64_t wait_efd(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	if (poll(&p, 1, WAIT_MS) != 1)
		return 0;
	return tu_count(efd);
}

static bool readable(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Wait until the relay has read @n events in total. */
static void wait_events(struct irqlink_relay *r, uint64_t n)
{
	for (int i = 0; i < WAIT_MS && rstats(r).events < n; i++)
		usleep(1000);
	assert_int_equal(rstats(r).events, n);
}

/* Signal @src N times, one at a time, each time waiting for the guest to
 * count the interrupt on @vec (which starts at @base). */
static void paced(struct kg_guest *g, int src, unsigned int vec,
		  uint64_t base, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++) {
		assert_int_equal(kg_count(g, vec), base + i - 1);
		tu_signal(src);
		assert_int_equal(kg_wait_count(g, vec, base + i, WAIT_MS), 0);
	}
	assert_settled(g, vec, base + n);
}

/* Exactly @n paced signals relayed, all by EVENTFD-kind actions (EVENTFD
 * or EVENTFD_NOTIFY: one injection per read), none failed. */
static void assert_eventfd_only(struct irqlink_relay *r, uint64_t n)
{
	struct irqlink_relay_stats st = rstats(r);

	assert_int_equal(st.events, n);
	assert_int_equal(st.counts, n);
	assert_int_equal(st.eventfd_injections, n);
	assert_int_equal(st.injections, n);
	assert_int_equal(st.msi_injections + st.line_injections, 0);
	assert_int_equal(st.inject_errors + st.spurious, 0);
}

/* ---- arguments and fds -------------------------------------------------- */

static void test_create_args(void **state)
{
	struct fx *f = *state;
	struct irqlink_relay_config cfg = { 0 };
	struct irqlink_relay *r = NULL;
	int fds = tu_open_fds();

	assert_int_equal(irqlink_relay_create(f->vm, NULL, NULL), -EINVAL);
	cfg.flags = 1u << 7;
	assert_int_equal(irqlink_relay_create(f->vm, &cfg, &r), -EINVAL);
	cfg.flags = IRQLINK_RELAY_PIN_CPU;
	cfg.cpu = -1;
	assert_int_equal(irqlink_relay_create(f->vm, &cfg, &r), -EINVAL);
	cfg.cpu = CPU_SETSIZE;
	assert_int_equal(irqlink_relay_create(f->vm, &cfg, &r), -EINVAL);
	/* A CPU this process cannot run on (none has 1024 CPUs here). */
	cfg.cpu = CPU_SETSIZE - 1;
	assert_int_equal(irqlink_relay_create(f->vm, &cfg, &r), -EINVAL);
	assert_null(r);
	assert_int_equal(tu_open_fds(), fds);

	/* A relay holds exactly its epoll fd and its control eventfd. */
	assert_int_equal(irqlink_relay_create(NULL, NULL, &r), 0);
	assert_int_equal(tu_open_fds(), fds + 2);
	irqlink_relay_destroy(r);
	assert_int_equal(tu_open_fds(), fds);
	irqlink_relay_destroy(NULL);
}

static void test_add_args(void **state)
{
	struct fx *f = *state;
	struct irqlink_relay *novm;
	struct irqlink_relay_action ev = { .kind = IRQLINK_RELAY_EVENTFD };
	struct irqlink_relay_action msi = {
		.kind = IRQLINK_RELAY_MSI, .msi = msi_vec(VEC_MSI),
	};
	struct irqlink_relay_action line = {
		.kind = IRQLINK_RELAY_LINE, .gsi = PIN_LINE,
	};
	int src = tu_eventfd(), tgt = tu_eventfd(), p[2];
	int src2 = dup(src);
	int fds;

	assert_int_equal(pipe(p), 0);
	fds = tu_open_fds();

	ev.target_fd = tgt;
	assert_int_equal(irqlink_relay_add(NULL, src, &ev), -EINVAL);
	assert_int_equal(irqlink_relay_add(f->relay, src, NULL), -EINVAL);
	assert_int_equal(irqlink_relay_add(f->relay, -1, &ev), -EBADF);
	assert_int_equal(irqlink_relay_add(f->relay, 999, &ev), -EBADF);
	assert_int_equal(irqlink_relay_add(f->relay, p[0], &ev), -EINVAL);
	ev.target_fd = -1;
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), -EBADF);
	ev.target_fd = p[1];
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), -EINVAL);
	/* A source feeding itself, by any of its fds. */
	ev.target_fd = src;
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), -EINVAL);
	ev.target_fd = src2;
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), -EINVAL);
	ev.target_fd = tgt;
	ev.kind = 99;
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), -EINVAL);
	ev.kind = IRQLINK_RELAY_EVENTFD;
	msi.msi.flags = 2;
	assert_int_equal(irqlink_relay_add(f->relay, src, &msi), -EINVAL);
	msi.msi.flags = 0;
	assert_int_equal(tu_open_fds(), fds);

	/* MSI and LINE need a VM with an irqchip. */
	assert_int_equal(irqlink_relay_create(NULL, NULL, &novm), 0);
	assert_int_equal(irqlink_relay_add(novm, src, &msi), -EINVAL);
	assert_int_equal(irqlink_relay_add(novm, src, &line), -EINVAL);
	assert_int_equal(irqlink_relay_add(novm, src, &ev), 0);
	irqlink_relay_destroy(novm);
	assert_int_equal(tu_open_fds(), fds);

	/* One entry per eventfd, whichever fd names it. An entry holds a
	 * dup of its source and of an EVENTFD target. */
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), 0);
	assert_int_equal(tu_open_fds(), fds + 2);
	assert_int_equal(irqlink_relay_add(f->relay, src2, &msi), -EBUSY);
	assert_int_equal(rstats(f->relay).entries, 1);
	assert_int_equal(irqlink_relay_remove(f->relay, tgt), -ENOENT);
	assert_int_equal(irqlink_relay_pause(f->relay, tgt), -ENOENT);
	assert_int_equal(irqlink_relay_resume(f->relay, tgt), -ENOENT);
	assert_int_equal(irqlink_relay_update(f->relay, tgt, &msi), -ENOENT);
	assert_int_equal(irqlink_relay_remove(f->relay, -1), -EBADF);
	assert_int_equal(irqlink_relay_remove(f->relay, p[0]), -EINVAL);
	/* update: the EVENTFD action's dup is swapped for none. */
	assert_int_equal(irqlink_relay_update(f->relay, src2, &msi), 0);
	assert_int_equal(tu_open_fds(), fds + 1);
	assert_int_equal(irqlink_relay_update(f->relay, src, &ev), 0);
	assert_int_equal(tu_open_fds(), fds + 2);
	ev.target_fd = src2;
	assert_int_equal(irqlink_relay_update(f->relay, src, &ev), -EINVAL);
	assert_int_equal(tu_open_fds(), fds + 2);
	assert_int_equal(irqlink_relay_remove(f->relay, src2), 0);
	assert_int_equal(irqlink_relay_remove(f->relay, src), -ENOENT);
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(tu_open_fds(), fds);

	/* The caller may close its fds at once: the relay keeps its dups. */
	ev.target_fd = tgt;
	assert_int_equal(irqlink_relay_add(f->relay, src, &ev), 0);
	close(src2);
	tu_signal(src);
	assert_int_equal(wait_efd(tgt), 1);
	assert_int_equal(irqlink_relay_remove(f->relay, src), 0);

	close(p[0]);
	close(p[1]);
	close(src);
	close(tgt);
}

/* ---- each action kind into the guest ------------------------------------ */

/* EVENTFD -> the eventfd of an edge irqfd on IOAPIC pin 16. */
static void test_eventfd_to_irqfd(void **state)
{
	struct fx *f = *state;
	int src = tu_eventfd(), irq = tu_eventfd();
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_EVENTFD, .target_fd = irq,
	};

	assert_int_equal(kg_program_ioapic(f->g, PIN_EDGE, VEC_EDGE, KG_EDGE), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(f->vm, irq, PIN_EDGE), 0);
	assert_int_equal(irqlink_relay_add(f->relay, src, &act), 0);

	paced(f->g, src, VEC_EDGE, 0, N_IRQS);
	assert_eventfd_only(f->relay, N_IRQS);

	assert_int_equal(irqlink_relay_remove(f->relay, src), 0);
	assert_int_equal(irqlink_irqfd_detach(f->vm, irq, PIN_EDGE), 0);
	close(src);
	close(irq);
}

/* Signals that arrive before the relay reads coalesce into one read and one
 * injection, as in an irqfd. Made deterministic by pausing the entry. */
static void test_coalesce(void **state)
{
	struct fx *f = *state;
	int src = tu_eventfd(), tgt = tu_eventfd();
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_EVENTFD, .target_fd = tgt,
	};
	struct irqlink_relay_stats st;

	assert_int_equal(irqlink_relay_add(f->relay, src, &act), 0);
	assert_int_equal(irqlink_relay_pause(f->relay, src), 0);
	assert_int_equal(irqlink_relay_pause(f->relay, src), 0);
	assert_int_equal(rstats(f->relay).paused, 1);
	for (int i = 0; i < 5; i++)
		tu_signal(src);
	usleep(20 * 1000);
	assert_true(readable(src));
	assert_int_equal(rstats(f->relay).events, 0);
	assert_int_equal(tu_count(tgt), 0);

	assert_int_equal(irqlink_relay_resume(f->relay, src), 0);
	wait_events(f->relay, 1);
	usleep(20 * 1000);
	st = rstats(f->relay);
	assert_int_equal(st.events, 1);
	assert_int_equal(st.counts, 5);
	assert_int_equal(st.injections, 1);
	assert_int_equal(st.paused, 0);
	assert_int_equal(tu_count(tgt), 1);
	assert_false(readable(src));

	assert_int_equal(irqlink_relay_remove(f->relay, src), 0);
	close(src);
	close(tgt);
}

/* ---- EVENTFD_NOTIFY ------------------------------------------------------ */

/* A source, its notify eventfd and its target. */
struct nfds {
	int src, notify, tgt;
};

static struct nfds nfds_open(void)
{
	return (struct nfds){ tu_eventfd(), tu_eventfd(), tu_eventfd() };
}

static void nfds_close(const struct nfds *n)
{
	close(n->src);
	close(n->notify);
	close(n->tgt);
}

static struct irqlink_relay_action notify_act(int notify, int tgt)
{
	return (struct irqlink_relay_action){
		.kind = IRQLINK_RELAY_EVENTFD_NOTIFY,
		.notify_fd = notify, .target_fd = tgt,
	};
}

/* Signal the source @n times, one at a time: each signal is one write to
 * the notify eventfd and one to the target, and the notify write is
 * already there when the target becomes readable (it is made first). */
static void paced_notify(const struct nfds *e, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++) {
		tu_signal(e->src);
		assert_int_equal(wait_efd(e->tgt), 1);
		assert_int_equal(tu_count(e->notify), 1);
	}
	usleep(20 * 1000);
	assert_int_equal(tu_count(e->tgt) + tu_count(e->notify), 0);
}

static void test_eventfd_notify(void **state)
{
	struct fx *f = *state;
	struct nfds e = nfds_open();
	struct irqlink_relay_action act = notify_act(e.notify, e.tgt);
	struct irqlink_relay *r;
	int fds = tu_open_fds();

	/* The entry holds dups of its source, notify and target. */
	assert_int_equal(irqlink_relay_add(f->relay, e.src, &act), 0);
	assert_int_equal(tu_open_fds(), fds + 3);
	paced_notify(&e, N_IRQS);
	assert_eventfd_only(f->relay, N_IRQS);

	assert_int_equal(irqlink_relay_remove(f->relay, e.src), 0);
	assert_int_equal(tu_open_fds(), fds);

	/* Destroying a relay (its own 2 fds) closes an entry's notify dup
	 * too. No VM needed. */
	assert_int_equal(irqlink_relay_create(NULL, NULL, &r), 0);
	assert_int_equal(irqlink_relay_add(r, e.src, &act), 0);
	assert_int_equal(tu_open_fds(), fds + 2 + 3);
	paced_notify(&e, 3);
	irqlink_relay_destroy(r);
	assert_int_equal(tu_open_fds(), fds);
	nfds_close(&e);
}

/*
 * The notify write comes first, shown deterministically: a notify eventfd
 * in blocking mode whose counter is at its maximum makes the relay
 * thread's notify write block. While it blocks the target must not have
 * been written; reading the notify eventfd lets the write, and then the
 * target's, go through.
 */
static void test_eventfd_notify_order(void **state)
{
	struct fx *f = *state;
	struct nfds e = nfds_open();
	struct irqlink_relay_action act = notify_act(e.notify, e.tgt);
	uint64_t full = UINT64_MAX - 1, v = 0, injected;
	bool early;

	/* Blocking mode, shared with the relay's dup. */
	assert_int_equal(fcntl(e.notify, F_SETFL, 0), 0);
	assert_int_equal(irqlink_relay_add(f->relay, e.src, &act), 0);
	for (int i = 1; i <= 20; i++) {
		assert_int_equal(write(e.notify, &full, sizeof(full)),
				 sizeof(full));
		tu_signal(e.src);
		wait_events(f->relay, (uint64_t)i);
		usleep(20 * 1000);
		/* The relay thread is inside write(notify): no target yet.
		 * Looked at first and asserted once the thread is free, so
		 * that a failure does not leave it blocked for teardown. */
		early = readable(e.tgt);
		injected = rstats(f->relay).eventfd_injections;
		assert_int_equal(read(e.notify, &v, sizeof(v)), sizeof(v));
		assert_int_equal(v, full);
		assert_false(early);
		assert_int_equal(injected, i - 1);
		assert_int_equal(wait_efd(e.tgt), 1);
		assert_int_equal(read(e.notify, &v, sizeof(v)), sizeof(v));
		assert_int_equal(v, 1);
	}
	usleep(20 * 1000);      /* the count follows the target write */
	assert_int_equal(rstats(f->relay).eventfd_injections, 20);
	assert_int_equal(rstats(f->relay).inject_errors, 0);

	assert_int_equal(irqlink_relay_remove(f->relay, e.src), 0);
	nfds_close(&e);
}

/* Every refusal leaves no entry and no fd behind (in particular no dup of
 * a good notify fd when the target is the bad one). */
static void test_eventfd_notify_args(void **state)
{
	struct fx *f = *state;
	struct nfds e = nfds_open();
	int src2 = dup(e.src), p[2], piped = pipe(p), fds = tu_open_fds();
	const struct {
		int notify, tgt, err;
	} bad[] = {
		{ p[1], e.tgt, -EINVAL },        /* notify not an eventfd */
		{ -1, e.tgt, -EBADF },           /* not open */
		{ 999, e.tgt, -EBADF },
		{ e.src, e.tgt, -EINVAL },       /* the source, by any fd */
		{ src2, e.tgt, -EINVAL },
		{ e.notify, e.src, -EINVAL },    /* target is the source */
		{ e.notify, src2, -EINVAL },
		{ e.notify, p[1], -EINVAL },     /* target not an eventfd */
		{ e.notify, -1, -EBADF },
	};
	struct irqlink_relay_action act;

	assert_int_equal(piped, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		act = notify_act(bad[i].notify, bad[i].tgt);
		print_message("refusal %zu\n", i);
		assert_int_equal(irqlink_relay_add(f->relay, e.src, &act),
				 bad[i].err);
	}
	assert_int_equal(rstats(f->relay).entries, 0);
	assert_int_equal(tu_open_fds(), fds);

	close(p[0]);
	close(p[1]);
	close(src2);
	nfds_close(&e);
}

/* update: EVENTFD_NOTIFY -> EVENTFD drops the notify dup and stops the
 * notify writes; back again takes a new dup and they resume. A refused
 * update leaves the entry as it was. */
static void test_eventfd_notify_update(void **state)
{
	struct fx *f = *state;
	struct nfds e = nfds_open();
	struct irqlink_relay_action act = notify_act(e.notify, e.tgt);
	struct irqlink_relay_action ev = {
		.kind = IRQLINK_RELAY_EVENTFD, .target_fd = e.tgt,
	};
	int fds = tu_open_fds();

	assert_int_equal(irqlink_relay_add(f->relay, e.src, &act), 0);
	assert_int_equal(tu_open_fds(), fds + 3);
	paced_notify(&e, 10);

	assert_int_equal(irqlink_relay_update(f->relay, e.src, &ev), 0);
	assert_int_equal(tu_open_fds(), fds + 2);
	for (int i = 0; i < 10; i++) {
		tu_signal(e.src);
		assert_int_equal(wait_efd(e.tgt), 1);
	}
	usleep(20 * 1000);
	assert_int_equal(tu_count(e.notify), 0);

	assert_int_equal(irqlink_relay_update(f->relay, e.src, &act), 0);
	assert_int_equal(tu_open_fds(), fds + 3);
	paced_notify(&e, 10);

	/* Refused: a notify fd that is the source. Still notifying. */
	act.notify_fd = e.src;
	assert_int_equal(irqlink_relay_update(f->relay, e.src, &act), -EINVAL);
	assert_int_equal(tu_open_fds(), fds + 3);
	paced_notify(&e, 1);
	assert_int_equal(rstats(f->relay).eventfd_injections, 31);
	assert_int_equal(rstats(f->relay).inject_errors, 0);

	assert_int_equal(irqlink_relay_remove(f->relay, e.src), 0);
	assert_int_equal(tu_open_fds(), fds);
	nfds_close(&e);
}

/* MSI via KVM_SIGNAL_MSI; update switches the message for every later
 * injection. */
static void test_msi(void **state)
{
	struct fx *f = *state;
	int src = tu_eventfd();
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_MSI, .msi = msi_vec(VEC_MSI),
	};
	struct irqlink_relay_stats st;

	assert_int_equal(irqlink_relay_add(f->relay, src, &act), 0);
	paced(f->g, src, VEC_MSI, 0, N_IRQS);

	act.msi = msi_vec(VEC_MSI2);
	assert_int_equal(irqlink_relay_update(f->relay, src, &act), 0);
	paced(f->g, src, VEC_MSI2, 0, N_IRQS);
	assert_int_equal(kg_count(f->g, VEC_MSI), N_IRQS);

	st = rstats(f->relay);
	assert_int_equal(st.msi_injections, 2 * N_IRQS);
	assert_int_equal(st.injections, 2 * N_IRQS);
	assert_int_equal(st.msi_undelivered + st.inject_errors, 0);

	/* A message no LAPIC accepts (APIC ID 5 does not exist): KVM
	 * returns 0, counted as undelivered; nothing reaches the guest. */
	act.msi.address_lo = MSI_ADDR | (5u << 12);
	assert_int_equal(irqlink_relay_update(f->relay, src, &act), 0);
	tu_signal(src);
	wait_events(f->relay, 2 * N_IRQS + 1);
	assert_int_equal(rstats(f->relay).msi_undelivered, 1);
	assert_settled(f->g, VEC_MSI2, N_IRQS);

	assert_int_equal(irqlink_relay_remove(f->relay, src), 0);
	close(src);
}

/* LINE: KVM_IRQ_LINE assert + deassert, an edge on IOAPIC pin 17. */
static void test_line(void **state)
{
	struct fx *f = *state;
	int src = tu_eventfd();
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_LINE, .gsi = PIN_LINE,
	};

	assert_int_equal(kg_program_ioapic(f->g, PIN_LINE, VEC_LINE, KG_EDGE), 0);
	assert_int_equal(irqlink_relay_add(f->relay, src, &act), 0);
	paced(f->g, src, VEC_LINE, 0, N_IRQS);
	assert_int_equal(rstats(f->relay).line_injections, N_IRQS);
	assert_int_equal(rstats(f->relay).inject_errors, 0);
	assert_int_equal(irqlink_relay_remove(f->relay, src), 0);
	close(src);
}

/*
 * Level INTx through two entries: trigger -> the eventfd of a level irqfd
 * on pin 18, and the irqfd's resamplefd -> the device's unmask eventfd.
 * Each assertion: exactly one guest interrupt and exactly one unmask.
 * Then the ordering: with the vCPU stopped the guest cannot take (and so
 * cannot EOI) the interrupt; KVM holds the line and the device is NOT
 * unmasked until the guest runs and takes it.
 */
static void test_level_intx(void **state)
{
	struct fx *f = *state;
	int trig = tu_eventfd(), lvl = tu_eventfd(), rs = tu_eventfd();
	int unmask = tu_eventfd();
	struct irqlink_relay_action to_lvl = {
		.kind = IRQLINK_RELAY_EVENTFD, .target_fd = lvl,
	};
	struct irqlink_relay_action to_unmask = {
		.kind = IRQLINK_RELAY_EVENTFD, .target_fd = unmask,
	};
	struct irqlink_relay_stats st;
	uint64_t unmasks = 0;

	assert_int_equal(kg_program_ioapic(f->g, PIN_LEVEL, VEC_LEVEL, KG_LEVEL),
			 0);
	assert_int_equal(irqlink_irqfd_attach_level(f->vm, lvl, rs, PIN_LEVEL),
			 0);
	assert_int_equal(irqlink_relay_add(f->relay, rs, &to_unmask), 0);
	assert_int_equal(irqlink_relay_add(f->relay, trig, &to_lvl), 0);

	for (uint64_t i = 1; i <= N_IRQS; i++) {
		tu_signal(trig);
		assert_int_equal(kg_wait_count(f->g, VEC_LEVEL, i, WAIT_MS), 0);
		assert_int_equal(wait_efd(unmask), 1);
		unmasks++;
	}
	assert_settled(f->g, VEC_LEVEL, N_IRQS);
	assert_int_equal(tu_count(unmask), 0);
	assert_int_equal(unmasks, N_IRQS);
	st = rstats(f->relay);
	assert_int_equal(st.eventfd_injections, 2 * N_IRQS);
	assert_int_equal(st.events, 2 * N_IRQS);

	assert_int_equal(kg_stop(f->g), 0);
	tu_signal(trig);
	usleep(50 * 1000);
	assert_int_equal(kg_count(f->g, VEC_LEVEL), N_IRQS);
	assert_int_equal(tu_count(unmask), 0);
	assert_int_equal(rstats(f->relay).eventfd_injections, 2 * N_IRQS + 1);
	assert_int_equal(kg_start(f->g), 0);
	assert_int_equal(kg_wait_count(f->g, VEC_LEVEL, N_IRQS + 1, WAIT_MS), 0);
	assert_int_equal(wait_efd(unmask), 1);
	assert_settled(f->g, VEC_LEVEL, N_IRQS + 1);
	assert_int_equal(tu_count(unmask), 0);

	assert_int_equal(irqlink_relay_remove(f->relay, trig), 0);
	assert_int_equal(irqlink_irqfd_detach(f->vm, lvl, PIN_LEVEL), 0);
	assert_int_equal(irqlink_relay_remove(f->relay, rs), 0);
	close(trig);
	close(lvl);
	close(rs);
	close(unmask);
}

/* ---- add/remove while signals flow -------------------------------------- */

#define CYCLES 300

struct flow {
	int flood_src;          /* signalled as fast as possible */
	int paced_src;          /* signalled one at a time into the guest */
	struct kg_guest *g;
	uint64_t paced_n;
	atomic_bool stop;
	atomic_uint_fast64_t flood_sent;
	atomic_uint_fast64_t paced_sent;
	int paced_err;
};

static void *flood_thread(void *arg)
{
	struct flow *fl = arg;

	while (!atomic_load(&fl->stop)) {
		uint64_t one = 1;

		if (write(fl->flood_src, &one, sizeof(one)) == sizeof(one))
			atomic_fetch_add(&fl->flood_sent, 1);
		sched_yield();
	}
	return NULL;
}

static void *paced_thread(void *arg)
{
	struct flow *fl = arg;

	for (uint64_t i = 1; i <= fl->paced_n; i++) {
		uint64_t one = 1;

		if (kg_count(fl->g, VEC_FLOW) != i - 1 ||
		    write(fl->paced_src, &one, sizeof(one)) != sizeof(one)) {
			fl->paced_err = -EPROTO;
			break;
		}
		atomic_fetch_add(&fl->paced_sent, 1);
		fl->paced_err = kg_wait_count(fl->g, VEC_FLOW, i, WAIT_MS);
		if (fl->paced_err)
			break;
	}
	atomic_store(&fl->stop, true);
	return NULL;
}

/*
 * Two sources flow while the main thread removes and re-adds both entries
 * CYCLES times: a flood (EVENTFD action to a counter) and a paced MSI into
 * the guest. While an entry is removed, its source must not be read (the
 * relay's counts do not move although the flood keeps it readable), and
 * signals sent meanwhile wait in the source: the paced guest count ends
 * exact, and every flood signal is either in the relay's counts or left in
 * the source, never both.
 */
static void test_add_remove_flowing(void **state)
{
	struct fx *f = *state;
	struct flow fl = { .g = f->g, .paced_n = 3000 };
	int tgt = tu_eventfd();
	struct irqlink_relay_action ev = {
		.kind = IRQLINK_RELAY_EVENTFD, .target_fd = tgt,
	};
	struct irqlink_relay_action msi = {
		.kind = IRQLINK_RELAY_MSI, .msi = msi_vec(VEC_FLOW),
	};
	struct irqlink_relay_stats st;
	pthread_t t1, t2;
	uint64_t left, before, cycles = 0;
	int fds;

	fl.flood_src = tu_eventfd();
	fl.paced_src = tu_eventfd();
	fds = tu_open_fds();
	assert_int_equal(irqlink_relay_add(f->relay, fl.flood_src, &ev), 0);
	assert_int_equal(irqlink_relay_add(f->relay, fl.paced_src, &msi), 0);
	assert_int_equal(pthread_create(&t1, NULL, flood_thread, &fl), 0);
	assert_int_equal(pthread_create(&t2, NULL, paced_thread, &fl), 0);

	while (!atomic_load(&fl.stop) || cycles < CYCLES) {
		assert_int_equal(irqlink_relay_remove(f->relay, fl.flood_src), 0);
		assert_int_equal(irqlink_relay_remove(f->relay, fl.paced_src), 0);
		before = rstats(f->relay).counts;
		usleep(200);
		/* Nothing read while removed (the flood kept it readable). */
		assert_int_equal(rstats(f->relay).counts, before);
		assert_int_equal(irqlink_relay_add(f->relay, fl.flood_src, &ev), 0);
		assert_int_equal(irqlink_relay_add(f->relay, fl.paced_src, &msi),
				 0);
		usleep(300);
		cycles++;
		if (cycles >= 20 * CYCLES)
			break;
	}
	atomic_store(&fl.stop, true);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(fl.paced_err, 0);
	assert_true(cycles >= CYCLES);

	assert_int_equal(irqlink_relay_remove(f->relay, fl.flood_src), 0);
	assert_int_equal(irqlink_relay_remove(f->relay, fl.paced_src), 0);
	assert_int_equal(tu_open_fds(), fds);

	st = rstats(f->relay);
	left = tu_count(fl.flood_src) + tu_count(fl.paced_src);
	assert_int_equal(st.counts + left,
			 atomic_load(&fl.flood_sent) + atomic_load(&fl.paced_sent));
	assert_int_equal(kg_count(f->g, VEC_FLOW), fl.paced_n);
	assert_settled(f->g, VEC_FLOW, fl.paced_n);
	/* One injection per read, and the flood's injections all landed. */
	assert_int_equal(st.injections, st.events);
	assert_int_equal(tu_count(tgt), st.eventfd_injections);
	assert_int_equal(st.msi_injections, fl.paced_n);
	assert_int_equal(st.spurious + st.inject_errors, 0);
	print_message("add/remove: %llu cycles, %llu flood signals in %llu "
		      "reads\n", (unsigned long long)cycles,
		      (unsigned long long)atomic_load(&fl.flood_sent),
		      (unsigned long long)st.eventfd_injections);

	close(fl.flood_src);
	close(fl.paced_src);
	close(tgt);
}

/* Adds and resumes are made by the caller's thread; pauses begun for many
 * entries wait for the relay thread once in all; a pause ends only when
 * the thread has let go, so nothing signalled after it is read. */
#define N_BATCH 16
static void test_pause_batched(void **state)
{
	struct fx *f = *state;
	struct irqlink_relay_action act = { .kind = IRQLINK_RELAY_EVENTFD };
	int src[N_BATCH], tgt = tu_eventfd();
	uint64_t tok[N_BATCH], cmds;
	int fds = tu_open_fds();

	act.target_fd = tgt;
	for (int i = 0; i < N_BATCH; i++) {
		src[i] = tu_eventfd();
		assert_int_equal(irqlink_bypass_token_from_fd(src[i], &tok[i]),
				 0);
		assert_int_equal(il_relay_add_token(f->relay, src[i], tok[i],
						    &act), 0);
	}
	/* An entry for an identity already in use, whatever the fd. */
	assert_int_equal(il_relay_add_token(f->relay, tgt, tok[0], &act),
			 -EBUSY);
	assert_int_equal(rstats(f->relay).entries, N_BATCH);
	/* Each entry uses the caller's source and a dup of the target. */
	assert_int_equal(tu_open_fds(), fds + 2 * N_BATCH);
	cmds = rstats(f->relay).commands;
	assert_int_equal(cmds, 0);

	for (int i = 0; i < N_BATCH; i++)
		assert_int_equal(il_relay_pause_token_begin(f->relay, tok[i]),
				 0);
	assert_int_equal(il_relay_pause_token_begin(f->relay, tok[0]), 0);
	assert_int_equal(il_relay_pause_token_begin(f->relay, 12345), -ENOENT);
	assert_int_equal(il_relay_pause_token_begin(NULL, tok[0]), -EINVAL);
	assert_int_equal(rstats(f->relay).paused, N_BATCH);
	assert_int_equal(rstats(f->relay).commands, 0);
	for (int i = 0; i < N_BATCH; i++)
		assert_int_equal(il_relay_pause_token(f->relay, tok[i]), 0);
	assert_int_equal(rstats(f->relay).commands, 1);

	/* Paused: the signals wait in the sources. */
	for (int i = 0; i < N_BATCH; i++)
		tu_signal(src[i]);
	usleep(20 * 1000);
	assert_int_equal(rstats(f->relay).events, 0);
	for (int i = 0; i < N_BATCH; i++)
		assert_true(readable(src[i]));

	/* Resuming waits for nothing, and each waiting count is relayed
	 * once. */
	for (int i = 0; i < N_BATCH; i++)
		assert_int_equal(il_relay_resume_token(f->relay, tok[i]), 0);
	assert_int_equal(rstats(f->relay).paused, 0);
	wait_events(f->relay, N_BATCH);
	assert_int_equal(tu_count(tgt), N_BATCH);
	assert_int_equal(rstats(f->relay).commands, 1);

	/* A pause begun and resumed before it completed costs nothing and
	 * leaves the entry relaying. */
	assert_int_equal(il_relay_pause_token_begin(f->relay, tok[0]), 0);
	assert_int_equal(il_relay_resume_token(f->relay, tok[0]), 0);
	tu_signal(src[0]);
	assert_int_equal(wait_efd(tgt), 1);
	assert_int_equal(rstats(f->relay).commands, 1);

	for (int i = 0; i < N_BATCH; i++) {
		assert_int_equal(il_relay_remove_token(f->relay, tok[i]), 0);
		close(src[i]);
	}
	assert_int_equal(rstats(f->relay).commands, 1 + N_BATCH);
	assert_int_equal(rstats(f->relay).entries, 0);
	close(tgt);
	assert_int_equal(tu_open_fds(), fds - 1);
}

/* ---- placement ----------------------------------------------------------- */

/* A relay pinned to one CPU runs there, and in busy-poll mode still
 * relays exactly and stops when destroyed. */
static void test_pinned_busy_poll(void **state)
{
	struct fx *f = *state;
	struct irqlink_relay_config cfg = {
		.flags = IRQLINK_RELAY_PIN_CPU | IRQLINK_RELAY_BUSY_POLL,
	};
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_MSI, .msi = msi_vec(VEC_PIN),
	};
	struct irqlink_relay *r;
	cpu_set_t set;
	int src = tu_eventfd();

	/* The last CPU this process may use. */
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	cfg.cpu = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cfg.cpu = c;
	assert_true(cfg.cpu >= 0);

	assert_int_equal(irqlink_relay_create(f->vm, &cfg, &r), 0);
	assert_int_equal(rstats(r).cpu, -1);
	/* The caller's thread makes an add: no command, no CPU yet. */
	assert_int_equal(irqlink_relay_add(r, src, &act), 0);
	assert_int_equal(rstats(r).cpu, -1);
	assert_int_equal(rstats(r).commands, 0);
	/* A pause waits for the thread: one command, on its CPU. */
	assert_int_equal(irqlink_relay_pause(r, src), 0);
	assert_int_equal(irqlink_relay_resume(r, src), 0);
	assert_int_equal(rstats(r).cpu, cfg.cpu);
	assert_int_equal(rstats(r).commands, 1);
	paced(f->g, src, VEC_PIN, 0, 50);
	assert_int_equal(rstats(r).msi_injections, 50);
	assert_int_equal(irqlink_relay_remove(r, src), 0);
	assert_int_equal(rstats(r).cpu, cfg.cpu);
	irqlink_relay_destroy(r);
	close(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eventfd_to_irqfd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_coalesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eventfd_notify, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eventfd_notify_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eventfd_notify_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eventfd_notify_update, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_remove_flowing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pause_batched, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pinned_busy_poll, setup,
						teardown),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
