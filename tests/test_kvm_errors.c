/* SPDX-License-Identifier: MIT */
/*
 * The KVM-side plumbing against the real /dev/kvm: VM create/wrap/destroy
 * (failures injected at every ioctl), irqfd errors and semantics (rules
 * 22-25, 28), KVM_SIGNAL_MSI and KVM_IRQ_LINE (rule 31), ioeventfd errors
 * (rules 32, 33, 35) and which guest writes an ioeventfd catches (rule 34,
 * with the test guest). Every errno asserted here is the one this KVM returns;
 * every test checks that the process holds exactly the fds it held before.
 */
#include "testutil.h"

#include <irqlink/irqlink.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kvm_guest.h"
#include "vm_internal.h"

/* ---- helpers ------------------------------------------------------------ */

static struct irqlink_vm *new_vm(enum irqlink_irqchip kind)
{
	struct irqlink_vm_config cfg = { .irqchip = kind };
	struct irqlink_vm *vm = NULL;

	assert_int_equal(irqlink_vm_create(&cfg, &vm), 0);
	assert_non_null(vm);
	return vm;
}

/* An fd number that is certainly not open. */
static int closed_fd(void)
{
	int fd = tu_eventfd();

	close(fd);
	return fd;
}

/* An open fd that is not an eventfd. */
static int not_eventfd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* The IOAPIC's IRR: for a masked, edge-mode redirection entry (the state
 * after reset) bit n follows the level of pin n. */
static uint32_t ioapic_irr(struct irqlink_vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	assert_int_equal(ioctl(irqlink_vm_fd(vm), KVM_GET_IRQCHIP, &chip), 0);
	return chip.chip.ioapic.irr;
}

/* irqfd injection of IOAPIC pins runs from a kernel work item: poll. */
static bool wait_irr(struct irqlink_vm *vm, unsigned pin, bool set)
{
	for (int i = 0; i < 1000; i++) {
		if (!!(ioapic_irr(vm) & (1u << pin)) == set)
			return true;
		tu_sleep_ms(1);
	}
	return false;
}

/* vCPU 0 with its LAPIC software-enabled (or not) via the SVR. */
static int new_vcpu(struct irqlink_vm *vm, bool lapic_on)
{
	struct kvm_lapic_state ls;
	int cpu = ioctl(irqlink_vm_fd(vm), KVM_CREATE_VCPU, 0);
	uint32_t svr;

	assert_true(cpu >= 0);
	assert_int_equal(ioctl(cpu, KVM_GET_LAPIC, &ls), 0);
	svr = lapic_on ? 0x1ff : 0xff;
	memcpy(&ls.regs[0xf0], &svr, sizeof(svr));
	assert_int_equal(ioctl(cpu, KVM_SET_LAPIC, &ls), 0);
	return cpu;
}

static bool lapic_irr(int cpu, unsigned vec)
{
	struct kvm_lapic_state ls;
	uint32_t w;

	assert_int_equal(ioctl(cpu, KVM_GET_LAPIC, &ls), 0);
	memcpy(&w, &ls.regs[0x200 + 0x10 * (vec / 32)], sizeof(w));
	return w & (1u << (vec % 32));
}

#define MSI_ADDR(apic) (0xfee00000u | ((apic) << 12))

/* ---- VM ----------------------------------------------------------------- */

static void test_vm_create_kinds(void **state)
{
	static const enum irqlink_irqchip kinds[] = {
		IRQLINK_IRQCHIP_FULL, IRQLINK_IRQCHIP_SPLIT, IRQLINK_IRQCHIP_NONE,
	};
	int fds = tu_open_fds();
	struct irqlink_vm *vm;
	(void)state;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		vm = new_vm(kinds[i]);
		assert_int_equal(irqlink_vm_irqchip(vm), kinds[i]);
		assert_true(irqlink_vm_fd(vm) >= 0);
		/* /dev/kvm is closed again: the VM fd is all that is left. */
		assert_int_equal(tu_open_fds(), fds + 1);
		/* The VM fd is close-on-exec. */
		assert_true(fcntl(irqlink_vm_fd(vm), F_GETFD) & FD_CLOEXEC);
		irqlink_vm_destroy(vm);
		assert_int_equal(tu_open_fds(), fds);
	}
	/* NULL config = full irqchip: a second KVM_CREATE_IRQCHIP fails. */
	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	assert_int_equal(irqlink_vm_irqchip(vm), IRQLINK_IRQCHIP_FULL);
	assert_int_equal(ioctl(irqlink_vm_fd(vm), KVM_CREATE_IRQCHIP, 0), -1);
	assert_int_equal(errno, EEXIST);
	irqlink_vm_destroy(vm);
	/* Split: KVM_CAP_SPLIT_IRQCHIP was enabled (a second time: EEXIST). */
	vm = new_vm(IRQLINK_IRQCHIP_SPLIT);
	{
		struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP,
					      .args = { 24 } };

		assert_int_equal(ioctl(irqlink_vm_fd(vm), KVM_ENABLE_CAP, &cap),
				 -1);
		assert_int_equal(errno, EEXIST);
	}
	irqlink_vm_destroy(vm);
	irqlink_vm_destroy(NULL);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_vm_create_bad_args(void **state)
{
	struct irqlink_vm_config cfg = { .irqchip = 7 };
	struct irqlink_vm *vm = NULL;
	int fds = tu_open_fds();
	(void)state;

	assert_int_equal(irqlink_vm_create(&cfg, &vm), -EINVAL);
	cfg = (struct irqlink_vm_config){ .flags = 1 };
	assert_int_equal(irqlink_vm_create(&cfg, &vm), -EINVAL);
	assert_int_equal(irqlink_vm_create(NULL, NULL), -EINVAL);
	assert_null(vm);
	assert_int_equal(tu_open_fds(), fds);
}

/* Hook: fail the @nth (0-based) call of request @req with @err. */
struct inject {
	unsigned long req;
	int nth;
	int err;
	int seen;
	int calls;
};

static int inject_hook(void *opaque, int fd, unsigned long req,
		       unsigned long arg)
{
	struct inject *in = opaque;
	(void)fd;
	(void)arg;

	in->calls++;
	if (req == in->req && in->seen++ == in->nth)
		return in->err;
	return 0;
}

static void test_vm_create_injected(void **state)
{
	static const struct {
		enum irqlink_irqchip kind;
		unsigned long req;
		int err;
	} cases[] = {
		{ IRQLINK_IRQCHIP_FULL, KVM_CREATE_VM, -ENOMEM },
		{ IRQLINK_IRQCHIP_FULL, KVM_CREATE_IRQCHIP, -EEXIST },
		{ IRQLINK_IRQCHIP_FULL, KVM_CHECK_EXTENSION, -EINTR },
		{ IRQLINK_IRQCHIP_SPLIT, KVM_ENABLE_CAP, -EINVAL },
		{ IRQLINK_IRQCHIP_SPLIT, KVM_CHECK_EXTENSION, -EBUSY },
		{ IRQLINK_IRQCHIP_NONE, KVM_CHECK_EXTENSION, -ENOSPC },
	};
	int fds = tu_open_fds();
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct irqlink_vm_config cfg = { .irqchip = cases[i].kind };
		struct inject in = { .req = cases[i].req, .err = cases[i].err };
		struct irqlink_vm *vm = NULL;

		assert_int_equal(il_vm_create_hooked(&cfg, inject_hook, &in,
						     &vm), cases[i].err);
		assert_null(vm);
		assert_int_equal(in.seen, 1);
		assert_int_equal(tu_open_fds(), fds);
	}
}

static void test_vm_wrap(void **state)
{
	int fds = tu_open_fds();
	int kvm, raw, efd = tu_eventfd();
	struct irqlink_vm *vm = NULL;
	struct inject in = { .req = KVM_CHECK_EXTENSION, .err = -EINTR };
	(void)state;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(kvm >= 0);
	raw = ioctl(kvm, KVM_CREATE_VM, 0);
	assert_true(raw >= 0);
	assert_int_equal(ioctl(raw, KVM_CREATE_IRQCHIP, 0), 0);

	assert_int_equal(irqlink_vm_wrap(closed_fd(), IRQLINK_IRQCHIP_FULL, &vm),
			 -EBADF);
	assert_int_equal(irqlink_vm_wrap(efd, IRQLINK_IRQCHIP_FULL, &vm),
			 -ENOTTY);
	/* /dev/kvm answers KVM_CHECK_EXTENSION too, but is not a VM. */
	assert_int_equal(irqlink_vm_wrap(kvm, IRQLINK_IRQCHIP_FULL, &vm),
			 -ENOTTY);
	assert_int_equal(irqlink_vm_wrap(raw, 9, &vm), -EINVAL);
	assert_int_equal(il_vm_wrap_hooked(raw, IRQLINK_IRQCHIP_FULL,
					   inject_hook, &in, &vm), -EINTR);
	assert_null(vm);
	assert_int_equal(tu_open_fds(), fds + 3);

	assert_int_equal(irqlink_vm_wrap(raw, IRQLINK_IRQCHIP_FULL, &vm), 0);
	/* Borrowed: the context works on its own dup. */
	assert_int_not_equal(irqlink_vm_fd(vm), raw);
	assert_int_equal(tu_open_fds(), fds + 4);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 20), 0);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds + 3);
	/* The caller's VM lives on, and the irqfd was deassigned: the eventfd
	 * can back a new irqfd (EBUSY otherwise, rule 23). */
	{
		struct kvm_irqfd f = { .fd = (uint32_t)efd, .gsi = 20 };

		assert_int_equal(ioctl(raw, KVM_IRQFD, &f), 0);
		f.flags = KVM_IRQFD_FLAG_DEASSIGN;
		assert_int_equal(ioctl(raw, KVM_IRQFD, &f), 0);
	}
	close(raw);
	close(kvm);
	close(efd);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- irqfd: rule 22 (argument errors) ------------------------------------ */

static void test_irqfd_errors(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *full = new_vm(IRQLINK_IRQCHIP_FULL);
	struct irqlink_vm *split = new_vm(IRQLINK_IRQCHIP_SPLIT);
	struct irqlink_vm *none = new_vm(IRQLINK_IRQCHIP_NONE);
	int efd = tu_eventfd(), rfd = tu_eventfd(), nfd = not_eventfd();
	int bad = closed_fd();
	int held = tu_open_fds();
	struct kvm_irqfd req = { .fd = (uint32_t)efd, .gsi = 20 };
	(void)state;

	/* Unknown flags: EINVAL, before anything else is looked at. */
	req.flags = 1u << 2;
	assert_int_equal(irqlink_irqfd_assign(full, &req), -EINVAL);
	req.flags = 1u << 31;
	assert_int_equal(irqlink_irqfd_assign(full, &req), -EINVAL);
	/* ...even with a bad fd: KVM checks flags first. */
	req.fd = (uint32_t)bad;
	req.flags = 1u << 2;
	assert_int_equal(irqlink_irqfd_assign(full, &req), -EINVAL);

	/* No in-kernel irqchip: EINVAL, for edge and level alike. */
	assert_int_equal(irqlink_irqfd_attach_edge(none, efd, 20), -EINVAL);
	assert_int_equal(irqlink_irqfd_attach_level(none, efd, rfd, 20),
			 -EINVAL);
	/* RESAMPLE needs the full irqchip. */
	assert_int_equal(irqlink_irqfd_attach_level(split, efd, rfd, 20),
			 -EINVAL);

	/* Bad fd, not an eventfd; the same for the resamplefd. */
	assert_int_equal(irqlink_irqfd_attach_edge(full, bad, 20), -EBADF);
	assert_int_equal(irqlink_irqfd_attach_edge(full, nfd, 20), -EINVAL);
	assert_int_equal(irqlink_irqfd_attach_edge(full, -1, 20), -EBADF);
	assert_int_equal(irqlink_irqfd_attach_level(full, bad, rfd, 20), -EBADF);
	assert_int_equal(irqlink_irqfd_attach_level(full, nfd, rfd, 20),
			 -EINVAL);
	assert_int_equal(irqlink_irqfd_attach_level(full, efd, bad, 20), -EBADF);
	assert_int_equal(irqlink_irqfd_attach_level(full, efd, nfd, 20),
			 -EINVAL);

	/* Nothing of that left anything behind. */
	assert_int_equal(irqlink_irqfd_count(full), 0);
	assert_int_equal(irqlink_irqfd_count(split), 0);
	assert_int_equal(irqlink_irqfd_count(none), 0);
	assert_int_equal(tu_open_fds(), held);

	/* The split irqchip takes edge irqfds; a GSI without a route is
	 * accepted too (its signals are just lost). */
	assert_int_equal(irqlink_irqfd_attach_edge(split, efd, 20), 0);
	assert_int_equal(irqlink_irqfd_detach(split, efd, 20), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(full, efd, 5000), 0);
	assert_int_equal(irqlink_irqfd_detach(full, efd, 5000), 0);
	assert_int_equal(tu_open_fds(), held);

	irqlink_vm_destroy(full);
	irqlink_vm_destroy(split);
	irqlink_vm_destroy(none);
	close(efd);
	close(rfd);
	close(nfd);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- irqfd: rule 23 (one eventfd, one irqfd) ---------------------------- */

static void test_irqfd_ebusy(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *a = new_vm(IRQLINK_IRQCHIP_FULL);
	struct irqlink_vm *b = new_vm(IRQLINK_IRQCHIP_FULL);
	int efd = tu_eventfd(), rfd = tu_eventfd(), efd2;
	int held;
	(void)state;

	assert_int_equal(irqlink_irqfd_attach_edge(a, efd, 20), 0);
	/* Our dup of the eventfd is the one thing the attach added. */
	held = tu_open_fds();
	assert_int_equal(irqlink_irqfd_attach_edge(a, efd, 20), -EBUSY);
	assert_int_equal(irqlink_irqfd_attach_edge(a, efd, 21), -EBUSY);
	assert_int_equal(irqlink_irqfd_attach_level(a, efd, rfd, 22), -EBUSY);
	assert_int_equal(irqlink_irqfd_attach_edge(b, efd, 20), -EBUSY);
	assert_int_equal(irqlink_irqfd_attach_level(b, efd, rfd, 20), -EBUSY);
	/* Another fd of the same eventfd is the same eventfd. */
	efd2 = dup(efd);
	assert_int_equal(irqlink_irqfd_attach_edge(b, efd2, 23), -EBUSY);
	close(efd2);
	assert_int_equal(irqlink_irqfd_count(a), 1);
	assert_int_equal(irqlink_irqfd_count(b), 0);
	assert_int_equal(tu_open_fds(), held);

	/* Once detached, the other VM may have it. */
	assert_int_equal(irqlink_irqfd_detach(a, efd, 20), 0);
	assert_int_equal(irqlink_irqfd_attach_level(b, efd, rfd, 20), 0);
	assert_int_equal(irqlink_irqfd_attach_edge(a, efd, 20), -EBUSY);
	/* A resamplefd may serve several level irqfds. */
	{
		int e3 = tu_eventfd();

		assert_int_equal(irqlink_irqfd_attach_level(b, e3, rfd, 20), 0);
		assert_int_equal(irqlink_irqfd_count(b), 2);
		close(e3);
	}
	irqlink_vm_destroy(a);
	irqlink_vm_destroy(b);
	close(efd);
	close(rfd);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- irqfd: rule 24 (deassign) ------------------------------------------ */

static void test_irqfd_detach(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	int efd = tu_eventfd(), other = tu_eventfd(), rfd = tu_eventfd();
	int nfd = not_eventfd();
	struct irqlink_irqfd_info info;
	struct kvm_irqfd req = { .fd = (uint32_t)efd, .gsi = 20,
				 .flags = KVM_IRQFD_FLAG_DEASSIGN };
	int base = tu_open_fds(), e2;
	(void)state;

	/* Nothing attached: 0, as KVM answers. */
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 20), 0);
	/* But the fd must still be an open eventfd. */
	assert_int_equal(irqlink_irqfd_detach(vm, closed_fd(), 20), -EBADF);
	assert_int_equal(irqlink_irqfd_detach(vm, nfd, 20), -EINVAL);

	assert_int_equal(irqlink_irqfd_attach_level(vm, efd, rfd, 20), 0);
	assert_int_equal(tu_open_fds(), base + 2);  /* dups of efd and rfd */
	assert_int_equal(irqlink_irqfd_lookup(vm, efd, &info), 1);
	assert_int_equal(info.gsi, 20);
	assert_true(info.level);
	assert_int_equal(irqlink_irqfd_lookup(vm, other, &info), 0);
	assert_int_equal(irqlink_irqfd_lookup(vm, nfd, &info), -EINVAL);

	/* KVM matches (eventfd, gsi): another GSI or eventfd detaches
	 * nothing, and says 0. */
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 21), 0);
	assert_int_equal(irqlink_irqfd_detach(vm, other, 20), 0);
	assert_int_equal(irqlink_irqfd_count(vm), 1);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 20), -EBUSY);

	/* Detach with another fd of the same eventfd, through the raw form. */
	e2 = dup(efd);
	req.fd = (uint32_t)e2;
	assert_int_equal(irqlink_irqfd_assign(vm, &req), 0);
	close(e2);
	assert_int_equal(irqlink_irqfd_count(vm), 0);
	assert_int_equal(irqlink_irqfd_lookup(vm, efd, &info), 0);
	assert_int_equal(tu_open_fds(), base);
	/* Gone from KVM as well: the eventfd is free again. */
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 21), 0);
	assert_int_equal(irqlink_irqfd_lookup(vm, efd, &info), 1);
	assert_int_equal(info.gsi, 21);
	assert_false(info.level);
	{
		uint64_t tok;
		struct irqlink_irqfd_info again;

		/* The lookup key is the bypass token of the eventfd. */
		assert_int_equal(irqlink_bypass_token_from_fd(efd, &tok), 0);
		assert_true(info.token == tok);
		assert_int_equal(irqlink_irqfd_lookup(vm, efd, &again), 1);
	}
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 21), 0);
	assert_int_equal(tu_open_fds(), base);

	irqlink_vm_destroy(vm);
	close(efd);
	close(other);
	close(rfd);
	close(nfd);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- irqfd: rule 25 (pending counts) ------------------------------------ */

static void test_irqfd_pending_count(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	int efd = tu_eventfd(), rfd = tu_eventfd();
	(void)state;

	/* Edge: a count pending before the attach stays in the eventfd. */
	tu_signal(efd);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 20), 0);
	assert_int_equal(tu_count(efd), 1);
	/* Signals after the attach are KVM's: nothing left to read. */
	tu_signal(efd);
	tu_signal(efd);
	assert_int_equal(tu_count(efd), 0);
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 20), 0);

	/* Level: the pending count injects (the line goes up) and still
	 * stays readable. */
	assert_false(ioapic_irr(vm) & (1u << 21));
	tu_signal(efd);
	assert_int_equal(irqlink_irqfd_attach_level(vm, efd, rfd, 21), 0);
	assert_true(wait_irr(vm, 21, true));
	assert_int_equal(tu_count(efd), 1);
	assert_int_equal(tu_count(rfd), 0);
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 21), 0);

	irqlink_vm_destroy(vm);
	close(efd);
	close(rfd);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- irqfd: rule 28 (level lines come down with their last irqfd) -------- */

static void test_irqfd_level_deassert(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	int e1 = tu_eventfd(), e2 = tu_eventfd(), rfd = tu_eventfd();
	(void)state;

	/* GSI 22 is IOAPIC pin 22 only (no PIC behind it). */
	assert_int_equal(irqlink_irqfd_attach_level(vm, e1, rfd, 22), 0);
	assert_int_equal(irqlink_irqfd_attach_level(vm, e2, rfd, 22), 0);
	assert_false(ioapic_irr(vm) & (1u << 22));
	tu_signal(e1);
	assert_true(wait_irr(vm, 22, true));
	/* One resampler per GSI: removing one of two irqfds keeps the line. */
	assert_int_equal(irqlink_irqfd_detach(vm, e1, 22), 0);
	tu_sleep_ms(20);
	assert_true(ioapic_irr(vm) & (1u << 22));
	/* Removing the last one deasserts it, before detach returns. */
	assert_int_equal(irqlink_irqfd_detach(vm, e2, 22), 0);
	assert_false(ioapic_irr(vm) & (1u << 22));
	/* No EOI happened: the resamplefd was never signalled. */
	assert_int_equal(tu_count(rfd), 0);

	/* A KVM_IRQ_LINE level is a separate source of the same line. */
	assert_int_equal(irqlink_irqfd_attach_level(vm, e1, rfd, 22), 0);
	assert_int_equal(irqlink_vm_set_irq_line(vm, 22, true), 0);
	tu_signal(e1);
	assert_int_equal(irqlink_irqfd_detach(vm, e1, 22), 0);
	assert_true(ioapic_irr(vm) & (1u << 22));
	assert_int_equal(irqlink_vm_set_irq_line(vm, 22, false), 0);
	assert_false(ioapic_irr(vm) & (1u << 22));

	irqlink_vm_destroy(vm);
	close(e1);
	close(e2);
	close(rfd);
	assert_int_equal(tu_open_fds(), fds);
}

/* Closing the caller's eventfd does not detach (the context holds a dup);
 * destroying the context does, and deasserts the line. */
static void test_irqfd_close_vs_destroy(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *own = new_vm(IRQLINK_IRQCHIP_FULL);
	struct irqlink_vm *vm;
	int efd = tu_eventfd(), rfd = tu_eventfd(), e2;
	(void)state;

	assert_int_equal(irqlink_vm_wrap(irqlink_vm_fd(own),
					 IRQLINK_IRQCHIP_FULL, &vm), 0);
	assert_int_equal(irqlink_irqfd_attach_level(vm, efd, rfd, 23), 0);
	e2 = dup(efd);          /* to signal after closing efd */
	close(efd);
	close(rfd);
	tu_signal(e2);
	assert_true(wait_irr(own, 23, true));
	tu_sleep_ms(20);
	assert_true(ioapic_irr(own) & (1u << 23));
	assert_int_equal(irqlink_irqfd_count(vm), 1);

	irqlink_vm_destroy(vm);
	assert_false(ioapic_irr(own) & (1u << 23));
	/* KVM let go of the eventfd: it can back a new irqfd. */
	assert_int_equal(irqlink_irqfd_attach_edge(own, e2, 23), 0);
	irqlink_vm_destroy(own);
	close(e2);
	assert_int_equal(tu_open_fds(), fds);
}

/* Failures injected after KVM accepted an irqfd undo it. */
static void test_irqfd_injected(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	struct inject in = { .req = KVM_IRQFD, .err = -EINTR };
	int efd = tu_eventfd(), base = tu_open_fds();
	uint64_t calls;
	(void)state;

	il_vm_kvm(vm)->hook = inject_hook;
	il_vm_kvm(vm)->opaque = &in;
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 20), -EINTR);
	assert_int_equal(irqlink_irqfd_count(vm), 0);
	assert_int_equal(tu_open_fds(), base);
	/* The next call goes through. */
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 20), 0);
	/* A failing deassign keeps the record (KVM still has the irqfd). */
	in = (struct inject){ .req = KVM_IRQFD, .err = -EBUSY };
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 20), -EBUSY);
	assert_int_equal(irqlink_irqfd_count(vm), 1);
	il_vm_kvm(vm)->hook = NULL;
	calls = il_vm_kvm(vm)->calls;
	assert_int_equal(irqlink_irqfd_detach(vm, efd, 20), 0);
	assert_int_equal(il_vm_kvm(vm)->calls, calls + 1);
	assert_int_equal(tu_open_fds(), base);
	irqlink_vm_destroy(vm);
	close(efd);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- rule 31: KVM_SIGNAL_MSI; KVM_IRQ_LINE -------------------------------- */

static void test_signal_msi(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *full = new_vm(IRQLINK_IRQCHIP_FULL);
	struct irqlink_vm *split = new_vm(IRQLINK_IRQCHIP_SPLIT);
	struct irqlink_vm *none = new_vm(IRQLINK_IRQCHIP_NONE);
	struct kvm_msi msi = { .address_lo = MSI_ADDR(0), .data = 0x40 };
	int cpu;
	(void)state;

	/* No vCPU at all: -EPERM (KVM's -1 from the delivery code). */
	assert_int_equal(irqlink_vm_signal_msi(full, &msi), -EPERM);
	assert_int_equal(irqlink_vm_signal_msi(split, &msi), -EPERM);
	/* x86 accepts (and ignores) a devid; other flags are EINVAL. */
	msi.flags = KVM_MSI_VALID_DEVID;
	msi.devid = 7;
	assert_int_equal(irqlink_vm_signal_msi(full, &msi), -EPERM);
	msi.flags = 2;
	assert_int_equal(irqlink_vm_signal_msi(full, &msi), -EINVAL);
	msi.flags = 0;
	msi.devid = 0;
	/* No in-kernel irqchip. */
	assert_int_equal(irqlink_vm_signal_msi(none, &msi), -EINVAL);

	/* A vCPU whose LAPIC is software-disabled (after reset): 0. */
	cpu = new_vcpu(full, false);
	assert_int_equal(irqlink_vm_signal_msi(full, &msi), 0);
	assert_false(lapic_irr(cpu, 0x40));
	close(cpu);
	/* Enabled: delivered, 1, and the vector is pending in the IRR. */
	cpu = new_vcpu(split, true);
	assert_int_equal(irqlink_vm_signal_msi(split, &msi), 1);
	assert_true(lapic_irr(cpu, 0x40));
	/* Not coalesced: a second one with the vector still pending is 1. */
	assert_int_equal(irqlink_vm_signal_msi(split, &msi), 1);
	/* No LAPIC with APIC ID 5, but vCPUs exist: 0, not -EPERM. */
	msi.address_lo = MSI_ADDR(5);
	msi.data = 0x41;
	assert_int_equal(irqlink_vm_signal_msi(split, &msi), 0);
	assert_false(lapic_irr(cpu, 0x41));
	close(cpu);

	assert_int_equal(irqlink_vm_signal_msi(full, NULL), -EINVAL);
	irqlink_vm_destroy(full);
	irqlink_vm_destroy(split);
	irqlink_vm_destroy(none);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_irq_line(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *full = new_vm(IRQLINK_IRQCHIP_FULL);
	struct irqlink_vm *none = new_vm(IRQLINK_IRQCHIP_NONE);
	(void)state;

	assert_int_equal(irqlink_vm_set_irq_line(none, 20, true), -ENXIO);
	assert_int_equal(irqlink_vm_set_irq_line(full, 20, true), 0);
	assert_true(ioapic_irr(full) & (1u << 20));
	assert_int_equal(irqlink_vm_set_irq_line(full, 20, false), 0);
	assert_false(ioapic_irr(full) & (1u << 20));
	/* A GSI with no route: accepted and ignored. */
	assert_int_equal(irqlink_vm_set_irq_line(full, 5000, true), 0);
	assert_int_equal(ioapic_irr(full), 0);
	irqlink_vm_destroy(full);
	irqlink_vm_destroy(none);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- ioeventfd: rules 32, 33, 35 ----------------------------------------- */

#define PIO KVM_IOEVENTFD_FLAG_PIO
#define DM KVM_IOEVENTFD_FLAG_DATAMATCH

static int reg(struct irqlink_vm *vm, int fd, uint64_t addr, uint32_t len,
	       uint32_t flags, uint64_t dm)
{
	struct kvm_ioeventfd r = { .datamatch = dm, .addr = addr, .len = len,
				   .fd = fd, .flags = flags };

	return irqlink_ioeventfd_register(vm, &r);
}

static int dereg(struct irqlink_vm *vm, int fd, uint64_t addr, uint32_t len,
		 uint32_t flags, uint64_t dm)
{
	struct kvm_ioeventfd r = { .datamatch = dm, .addr = addr, .len = len,
				   .fd = fd, .flags = flags };

	return irqlink_ioeventfd_deregister(vm, &r);
}

static void test_ioeventfd_args(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	int e = tu_eventfd(), nfd = not_eventfd(), base;
	static const uint32_t bad_len[] = { 3, 5, 6, 7, 9, 16, 0xffffffffu };
	(void)state;

	base = tu_open_fds();
	/* Rule 32: lengths, MMIO and PIO alike. */
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		assert_int_equal(reg(vm, e, 0x1000, bad_len[i], 0, 0), -EINVAL);
		assert_int_equal(reg(vm, e, 0x10, bad_len[i], PIO, 0), -EINVAL);
	}
	/* addr + len wraps. */
	assert_int_equal(reg(vm, e, ~0ull, 1, 0, 0), -EINVAL);
	assert_int_equal(reg(vm, e, ~0ull - 3, 4, 0, 0), -EINVAL);
	assert_int_equal(reg(vm, e, ~0ull - 7, 8, DM, 0), -EINVAL);
	/* Unknown flags. */
	assert_int_equal(reg(vm, e, 0x1000, 4, 1u << 8, 0), -EINVAL);
	assert_int_equal(reg(vm, e, 0x1000, 4, 1u << 31, 0), -EINVAL);
	/* DEASSIGN does not belong in a registration (ours, not KVM's). */
	assert_int_equal(reg(vm, e, 0x1000, 4, KVM_IOEVENTFD_FLAG_DEASSIGN, 0),
			 -EINVAL);
	/* Length 0 with DATAMATCH, on either bus. */
	assert_int_equal(reg(vm, e, 0x1000, 0, DM, 0), -EINVAL);
	assert_int_equal(reg(vm, e, 0x10, 0, PIO | DM, 0), -EINVAL);
	/* The fd. */
	assert_int_equal(reg(vm, closed_fd(), 0x1000, 4, 0, 0), -EBADF);
	assert_int_equal(reg(vm, nfd, 0x1000, 4, 0, 0), -EINVAL);
	assert_int_equal(irqlink_ioeventfd_count(vm), 0);
	assert_int_equal(tu_open_fds(), base);

	/* Accepted shapes: every length, both buses, length 0 on both, and
	 * ~0 with length 0 (nothing wraps). */
	assert_int_equal(reg(vm, e, 0x1000, 0, 0, 0), 0);
	assert_int_equal(reg(vm, e, 0x10, 0, PIO, 0), 0);
	assert_int_equal(reg(vm, e, ~0ull, 0, 0, 0), 0);
	assert_int_equal(reg(vm, e, 0x2000, 1, DM, 0x12), 0);
	assert_int_equal(reg(vm, e, 0x2008, 2, 0, 0), 0);
	assert_int_equal(reg(vm, e, 0x2010, 4, DM, 0), 0);
	assert_int_equal(reg(vm, e, 0x2018, 8, DM, ~0ull), 0);
	assert_int_equal(reg(vm, e, ~0ull - 8, 8, 0, 0), 0);
	/* A datamatch wider than the length is taken as is (it can never
	 * match a write of that width). */
	assert_int_equal(reg(vm, e, 0x3000, 1, DM, 0x1ff), 0);
	assert_int_equal(reg(vm, e, 0x3000, 1, DM, 0xff), 0);
	assert_int_equal(irqlink_ioeventfd_count(vm), 10);
	/* One dup per registration. */
	assert_int_equal(tu_open_fds(), base + 10);

	irqlink_vm_destroy(vm);
	close(e);
	close(nfd);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_ioeventfd_collisions(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	int e = tu_eventfd(), e2 = tu_eventfd();
	(void)state;

	/* Same bus and address, equal lengths, a wildcard on either side:
	 * EEXIST, whatever the eventfd. */
	assert_int_equal(reg(vm, e, 0x2000, 4, 0, 0), 0);
	assert_int_equal(reg(vm, e, 0x2000, 4, 0, 0), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x2000, 4, 0, 0), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x2000, 4, DM, 5), -EEXIST);
	/* Different length: fine. Length 0 against anything: EEXIST. */
	assert_int_equal(reg(vm, e2, 0x2000, 2, 0, 0), 0);
	assert_int_equal(reg(vm, e2, 0x2000, 0, 0, 0), -EEXIST);
	/* Other bus: fine (PIO and MMIO are separate). */
	assert_int_equal(reg(vm, e2, 0x2000, 4, PIO, 0), 0);
	assert_int_equal(reg(vm, e2, 0x2000, 4, PIO, 0), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x2000, 0, PIO, 0), -EEXIST);
	/* Adjacent address: fine. */
	assert_int_equal(reg(vm, e2, 0x2004, 4, 0, 0), 0);

	/* Datamatch: different values coexist, equal values collide, and a
	 * wildcard collides with them. */
	assert_int_equal(reg(vm, e, 0x3000, 4, DM, 1), 0);
	assert_int_equal(reg(vm, e, 0x3000, 4, DM, 2), 0);
	assert_int_equal(reg(vm, e2, 0x3000, 4, DM, 1), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x3000, 4, 0, 0), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x3000, 8, DM, 1), 0);

	/* Length 0 first, then any length at that address: EEXIST. */
	assert_int_equal(reg(vm, e, 0x4000, 0, 0, 0), 0);
	assert_int_equal(reg(vm, e2, 0x4000, 1, 0, 0), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x4000, 8, DM, 3), -EEXIST);
	assert_int_equal(reg(vm, e2, 0x4000, 8, PIO, 0), 0);

	assert_int_equal(irqlink_ioeventfd_count(vm), 9);
	irqlink_vm_destroy(vm);
	close(e);
	close(e2);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_ioeventfd_deregister(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	int e = tu_eventfd(), e2 = tu_eventfd(), nfd = not_eventfd(), ed;
	int base = tu_open_fds();
	(void)state;

	assert_int_equal(reg(vm, e, 0x3000, 4, DM, 1), 0);
	assert_int_equal(reg(vm, e, 0x3000, 4, DM, 2), 0);
	assert_int_equal(reg(vm, e, 0x4000, 0, 0, 0), 0);
	assert_int_equal(reg(vm, e, 0x4000, 0, PIO, 0), 0);
	assert_int_equal(tu_open_fds(), base + 4);

	/* Rule 35: bus, eventfd, address, length, wildcard-ness and
	 * datamatch must all match; otherwise ENOENT. */
	assert_int_equal(dereg(vm, e, 0x3000, 4, 0, 0), -ENOENT);
	assert_int_equal(dereg(vm, e, 0x3000, 4, DM, 3), -ENOENT);
	assert_int_equal(dereg(vm, e2, 0x3000, 4, DM, 1), -ENOENT);
	assert_int_equal(dereg(vm, e, 0x3000, 4, DM | PIO, 1), -ENOENT);
	assert_int_equal(dereg(vm, e, 0x3000, 2, DM, 1), -ENOENT);
	/* KVM does not validate the length here: no match, ENOENT. */
	assert_int_equal(dereg(vm, e, 0x3000, 3, DM, 1), -ENOENT);
	assert_int_equal(dereg(vm, e, 0x3004, 4, DM, 1), -ENOENT);
	assert_int_equal(dereg(vm, closed_fd(), 0x3000, 4, DM, 1), -EBADF);
	assert_int_equal(dereg(vm, nfd, 0x3000, 4, DM, 1), -EINVAL);
	assert_int_equal(irqlink_ioeventfd_count(vm), 4);

	/* Any fd of the eventfd; then the entry is gone (ENOENT again). */
	ed = dup(e);
	assert_int_equal(dereg(vm, ed, 0x3000, 4, DM, 1), 0);
	close(ed);
	assert_int_equal(dereg(vm, e, 0x3000, 4, DM, 1), -ENOENT);
	assert_int_equal(irqlink_ioeventfd_count(vm), 3);
	assert_int_equal(tu_open_fds(), base + 3);
	/* KVM ignores unknown flags when deassigning. */
	assert_int_equal(dereg(vm, e, 0x3000, 4, DM | (1u << 8), 2), 0);
	/* Length 0 entries on each bus are separate. */
	assert_int_equal(dereg(vm, e, 0x4000, 0, PIO, 0), 0);
	assert_int_equal(dereg(vm, e, 0x4000, 0, PIO, 0), -ENOENT);
	assert_int_equal(dereg(vm, e, 0x4000, 0, 0, 0), 0);
	assert_int_equal(irqlink_ioeventfd_count(vm), 0);
	assert_int_equal(tu_open_fds(), base);

	/* A registration the context forgot about cannot collide again:
	 * after deregistering, re-registering the same works. */
	assert_int_equal(reg(vm, e, 0x3000, 4, DM, 1), 0);
	assert_int_equal(dereg(vm, e, 0x3000, 4, DM, 1), 0);

	irqlink_vm_destroy(vm);
	close(e);
	close(e2);
	close(nfd);
	assert_int_equal(tu_open_fds(), fds);
}

/* Rule 34, with real guest writes: exact address; length 0 matches any
 * width; otherwise width and (with DATAMATCH) value must match; a miss is
 * an ordinary MMIO exit. The ioeventfd is signalled inside KVM_RUN, before
 * the guest acknowledges the write, so the counts are exact. */
static void test_ioeventfd_match(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL);
	const uint64_t A = 0xd0000000, B = A + 0x10, C = A + 0x20, D = A + 0x30;
	int e1 = tu_eventfd(), e2 = tu_eventfd(), e3 = tu_eventfd();
	int e4 = tu_eventfd();
	struct kg_guest *g;
	uint64_t exits;
	(void)state;

	assert_int_equal(kg_create(irqlink_vm_fd(vm), &g), 0);
	assert_int_equal(kg_start(g), 0);
	assert_int_equal(reg(vm, e1, A, 4, DM, 0x1234), 0);
	assert_int_equal(reg(vm, e2, B, 0, 0, 0), 0);
	assert_int_equal(reg(vm, e3, C, 2, 0, 0), 0);
	assert_int_equal(reg(vm, e4, D, 8, DM, 0x1122334455667788ull), 0);
	exits = kg_exits(g, KVM_EXIT_MMIO);

	/* Datamatch: the right width and value only. */
	assert_int_equal(kg_guest_write(g, A, 0x1234, 4), 0);
	assert_int_equal(tu_count(e1), 1);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits);
	assert_int_equal(kg_guest_write(g, A, 0x1235, 4), 0);
	assert_int_equal(kg_guest_write(g, A, 0x1234, 2), 0);
	assert_int_equal(kg_guest_write(g, A, 0x1234, 8), 0);
	assert_int_equal(tu_count(e1), 0);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits + 3);

	/* Length 0: any width, any value, but the exact address. */
	assert_int_equal(kg_guest_write(g, B, 1, 1), 0);
	assert_int_equal(kg_guest_write(g, B, 2, 2), 0);
	assert_int_equal(kg_guest_write(g, B, 3, 4), 0);
	assert_int_equal(kg_guest_write(g, B, 4, 8), 0);
	assert_int_equal(tu_count(e2), 4);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits + 3);
	assert_int_equal(kg_guest_write(g, B + 1, 1, 1), 0);
	assert_int_equal(tu_count(e2), 0);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits + 4);

	/* Wildcard of length 2: any value of that width only. */
	assert_int_equal(kg_guest_write(g, C, 0xffff, 2), 0);
	assert_int_equal(kg_guest_write(g, C, 0, 2), 0);
	assert_int_equal(tu_count(e3), 2);
	assert_int_equal(kg_guest_write(g, C, 0xffff, 4), 0);
	assert_int_equal(tu_count(e3), 0);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits + 5);

	/* 8-byte datamatch compares all 64 bits. */
	assert_int_equal(kg_guest_write(g, D, 0x1122334455667788ull, 8), 0);
	assert_int_equal(kg_guest_write(g, D, 0x55667788, 8), 0);
	assert_int_equal(tu_count(e4), 1);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits + 6);

	/* Deregistered: the same write now exits. */
	assert_int_equal(dereg(vm, e1, A, 4, DM, 0x1234), 0);
	assert_int_equal(kg_guest_write(g, A, 0x1234, 4), 0);
	assert_int_equal(tu_count(e1), 0);
	assert_int_equal(kg_exits(g, KVM_EXIT_MMIO), exits + 7);

	kg_destroy(g);
	irqlink_vm_destroy(vm);
	close(e1);
	close(e2);
	close(e3);
	close(e4);
	assert_int_equal(tu_open_fds(), fds);
}

/* Destroy deregisters: a wrapped VM sees its address free again. */
static void test_ioeventfd_destroy(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *own = new_vm(IRQLINK_IRQCHIP_NONE), *vm;
	struct inject in = { .req = KVM_IOEVENTFD, .nth = 1, .err = -EINTR };
	int e = tu_eventfd();
	(void)state;

	assert_int_equal(irqlink_vm_wrap(irqlink_vm_fd(own),
					 IRQLINK_IRQCHIP_NONE, &vm), 0);
	assert_int_equal(reg(vm, e, 0x5000, 4, 0, 0), 0);
	assert_int_equal(reg(vm, e, 0x50, 2, PIO, 0), 0);
	irqlink_vm_destroy(vm);
	assert_int_equal(reg(own, e, 0x5000, 4, 0, 0), 0);
	assert_int_equal(reg(own, e, 0x50, 2, PIO, 0), 0);
	assert_int_equal(irqlink_ioeventfd_count(own), 2);

	/* Injected failures pass through and leave nothing behind. */
	il_vm_kvm(own)->hook = inject_hook;
	il_vm_kvm(own)->opaque = &in;
	assert_int_equal(reg(own, e, 0x6000, 4, 0, 0), 0);
	assert_int_equal(reg(own, e, 0x6004, 4, 0, 0), -EINTR);
	assert_int_equal(irqlink_ioeventfd_count(own), 3);
	in = (struct inject){ .req = KVM_IOEVENTFD, .err = -EBUSY };
	assert_int_equal(dereg(own, e, 0x6000, 4, 0, 0), -EBUSY);
	assert_int_equal(irqlink_ioeventfd_count(own), 3);
	il_vm_kvm(own)->hook = NULL;
	assert_int_equal(dereg(own, e, 0x6000, 4, 0, 0), 0);
	assert_int_equal(reg(own, e, 0x6004, 4, 0, 0), 0);

	irqlink_vm_destroy(own);
	close(e);
	assert_int_equal(tu_open_fds(), fds);
}

/* ---- running out of fds ------------------------------------------------- */

/* Fill every free fd slot below a lowered RLIMIT_NOFILE, leaving @spare
 * free. Returns how many fillers were opened (their fds are fill[]). */
#define FILL_MAX 4096
static int fill[FILL_MAX];
static struct rlimit saved_nofile;

static int fill_fds(int spare)
{
	struct rlimit rl;
	int n = 0, fd;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
	rl = saved_nofile;
	rl.rlim_cur = (rlim_t)tu_open_fds() + 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		assert_true(n < FILL_MAX);
		fill[n++] = fd;
	}
	assert_int_equal(errno, EMFILE);
	while (spare-- > 0)
		close(fill[--n]);
	return n;
}

static void unfill_fds(int n)
{
	while (n > 0)
		close(fill[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
}

/* When the library cannot take its duplicate after KVM accepted, it undoes
 * KVM's side and reports -EMFILE; nothing stays registered or open. */
static void test_emfile(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = new_vm(IRQLINK_IRQCHIP_FULL), *v2 = NULL;
	int efd = tu_eventfd(), rfd = tu_eventfd(), n;
	(void)state;

	/* No slot: the eventfd dup fails. */
	n = fill_fds(0);
	assert_int_equal(irqlink_irqfd_attach_edge(vm, efd, 20), -EMFILE);
	assert_int_equal(irqlink_irqfd_attach_level(vm, efd, rfd, 20), -EMFILE);
	assert_int_equal(reg(vm, efd, 0x1000, 4, 0, 0), -EMFILE);
	assert_int_equal(irqlink_vm_create(NULL, &v2), -EMFILE);
	assert_int_equal(irqlink_vm_wrap(irqlink_vm_fd(vm),
					 IRQLINK_IRQCHIP_FULL, &v2), -EMFILE);
	unfill_fds(n);
	/* One slot: the eventfd dup works, the resamplefd dup fails; /dev/kvm
	 * opens but KVM_CREATE_VM has no fd left for the VM. */
	n = fill_fds(1);
	assert_int_equal(irqlink_irqfd_attach_level(vm, efd, rfd, 20), -EMFILE);
	assert_int_equal(irqlink_vm_create(NULL, &v2), -EMFILE);
	unfill_fds(n);
	assert_null(v2);
	assert_int_equal(irqlink_irqfd_count(vm), 0);
	assert_int_equal(irqlink_ioeventfd_count(vm), 0);

	/* KVM's side was undone: the eventfd is free, the address too. */
	assert_int_equal(irqlink_irqfd_attach_level(vm, efd, rfd, 20), 0);
	assert_int_equal(reg(vm, efd, 0x1000, 4, 0, 0), 0);
	irqlink_vm_destroy(vm);
	close(efd);
	close(rfd);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_create_kinds),
		cmocka_unit_test(test_vm_create_bad_args),
		cmocka_unit_test(test_vm_create_injected),
		cmocka_unit_test(test_vm_wrap),
		cmocka_unit_test(test_irqfd_errors),
		cmocka_unit_test(test_irqfd_ebusy),
		cmocka_unit_test(test_irqfd_detach),
		cmocka_unit_test(test_irqfd_pending_count),
		cmocka_unit_test(test_irqfd_level_deassert),
		cmocka_unit_test(test_irqfd_close_vs_destroy),
		cmocka_unit_test(test_irqfd_injected),
		cmocka_unit_test(test_signal_msi),
		cmocka_unit_test(test_irq_line),
		cmocka_unit_test(test_ioeventfd_args),
		cmocka_unit_test(test_ioeventfd_collisions),
		cmocka_unit_test(test_ioeventfd_deregister),
		cmocka_unit_test(test_ioeventfd_match),
		cmocka_unit_test(test_ioeventfd_destroy),
		cmocka_unit_test(test_emfile),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
