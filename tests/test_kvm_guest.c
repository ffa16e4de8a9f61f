/* SPDX-License-Identifier: MIT */
/*
 * Proves the KVM test guest and its harness (kvm_guest.h) against real KVM:
 * the guest boots, every injection path KVM offers reaches it exactly once
 * per trigger, level interrupts coalesce and resample as the IOAPIC says,
 * and a guest fault ends the run with a report instead of a hang.
 *
 * Injection is done with raw ioctls from <linux/kvm.h> on purpose: these
 * tests check the guest, so they must not depend on the library code the
 * guest is later used to check. Only test_with_irqlink_vm uses the library,
 * to show the harness works on an irqlink_vm's fd.
 *
 * Each test gets a fresh VM and guest, so every count starts at 0.
 */
#include "kvm_guest.h"
#include "testutil.h"

#include <irqlink/vm.h>

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define N_IRQS 100
#define WAIT_MS 2000

/* Vectors the tests use (all in 0x20-0xef). */
#define VEC_LINE   0x40
#define VEC_IRQFD  0x41
#define VEC_MSI    0x42
#define VEC_ROUTE  0x43
#define VEC_LEVEL  0x44
#define VEC_PAUSE  0x45
#define VEC_EOI    0x46

struct fx {
	int fds_before;
	int vm;
	struct kg_guest *g;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	f->vm = kg_vm_create();
	assert_true(f->vm >= 0);
	assert_int_equal(kg_create(f->vm, &f->g), 0);
	assert_int_equal(kg_start(f->g), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kg_destroy(f->g);
	close(f->vm);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

/* Waits up to WAIT_MS for an eventfd to become readable; returns its count
 * (reset), or 0 on timeout. */
static uint64_t wait_efd(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	if (poll(&p, 1, WAIT_MS) != 1)
		return 0;
	return tu_count(efd);
}

static void irq_line(int vm, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	assert_int_equal(ioctl(vm, KVM_IRQ_LINE, &l), 0);
}

static int signal_msi(int vm, uint32_t vector)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = vector };

	return ioctl(vm, KVM_SIGNAL_MSI, &msi);
}

static void irqfd(int vm, int efd, uint32_t gsi, uint32_t flags, int rfd)
{
	struct kvm_irqfd req = {
		.fd = (uint32_t)efd, .gsi = gsi, .flags = flags,
		.resamplefd = (uint32_t)rfd,
	};

	assert_int_equal(ioctl(vm, KVM_IRQFD, &req), 0);
}

/* The count must not move past `n` once the trigger stops: give a stray
 * extra delivery time to show up, then check exactly. */
static void assert_settled(struct kg_guest *g, unsigned int vec, uint64_t n)
{
	usleep(20 * 1000);
	assert_int_equal(kg_count(g, vec), n);
}

/* 1. Boot: ready reported through the shared page and one port exit, the
 * mailbox answers, nothing exits to user space for MMIO, and teardown
 * closes every fd (checked in teardown()). */
static void test_boot_ready(void **state)
{
	struct fx *f = *state;
	volatile struct kg_shared *sh = kg_shared(f->g);
	uint64_t result = 99;

	assert_int_equal(kg_state(f->g), KG_RUNNING);
	assert_int_equal(sh->ready, 1);
	assert_int_equal(sh->exc_valid, 0);
	assert_int_equal(kg_exits(f->g, KVM_EXIT_IO), 1);

	assert_int_equal(kg_mailbox(f->g, KG_CMD_NOP, 0, 0, 0, &result,
				    WAIT_MS), 0);
	assert_int_equal(result, 0);
	/* The guest may ack before it takes the wake interrupt. */
	assert_int_equal(kg_wait_count(f->g, KG_WAKE_VECTOR, 1, WAIT_MS), 0);
	assert_int_equal(kg_mailbox(f->g, 77, 0, 0, 0, &result, WAIT_MS), 0);
	assert_int_equal(result, (uint64_t)-1);

	/* The guest reads its own LAPIC: version register, in-kernel. */
	assert_int_equal(kg_guest_read(f->g, KG_LAPIC_GPA + 0x30, 4, &result), 0);
	assert_int_equal(result & 0xff, 0x14);
	assert_int_equal(kg_exits(f->g, KVM_EXIT_MMIO), 0);
	assert_string_equal(kg_why(f->g), "");
}

/* Harness: a stopped vCPU takes no interrupt; the MSI waits in its LAPIC
 * and is taken, once, when the vCPU runs again. */
static void test_stop_resume(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kg_stop(f->g), 0);
	assert_int_equal(kg_state(f->g), KG_STOPPED);
	assert_int_equal(signal_msi(f->vm, VEC_PAUSE), 1);
	assert_int_equal(kg_wait_count(f->g, VEC_PAUSE, 1, 50), -ESRCH);
	assert_int_equal(kg_count(f->g, VEC_PAUSE), 0);
	assert_int_equal(kg_mailbox(f->g, KG_CMD_NOP, 0, 0, 0, NULL, WAIT_MS),
			 -ESRCH);

	assert_int_equal(kg_start(f->g), 0);
	assert_int_equal(kg_start(f->g), -EBUSY);
	assert_int_equal(kg_wait_count(f->g, VEC_PAUSE, 1, WAIT_MS), 0);
	assert_settled(f->g, VEC_PAUSE, 1);
	assert_true(kg_exits(f->g, KVM_EXIT_INTR) >= 1);
}

/* 2. KVM_IRQ_LINE on edge IOAPIC pin 16, one pulse at a time. */
static void test_irq_line_edge(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kg_program_ioapic(f->g, 16, VEC_LINE, KG_EDGE), 0);
	for (uint64_t i = 1; i <= N_IRQS; i++) {
		irq_line(f->vm, 16, 1);
		irq_line(f->vm, 16, 0);
		assert_int_equal(kg_wait_count(f->g, VEC_LINE, i, WAIT_MS), 0);
	}
	assert_settled(f->g, VEC_LINE, N_IRQS);
	assert_int_equal(kg_exits(f->g, KVM_EXIT_MMIO), 0);
}

/* 3. KVM_IRQFD on edge GSI 17: each signal is one pulse. */
static void test_irqfd_edge(void **state)
{
	struct fx *f = *state;
	int efd = tu_eventfd();

	assert_int_equal(kg_program_ioapic(f->g, 17, VEC_IRQFD, KG_EDGE), 0);
	irqfd(f->vm, efd, 17, 0, 0);
	for (uint64_t i = 1; i <= N_IRQS; i++) {
		tu_signal(efd);
		assert_int_equal(kg_wait_count(f->g, VEC_IRQFD, i, WAIT_MS), 0);
	}
	assert_settled(f->g, VEC_IRQFD, N_IRQS);
	irqfd(f->vm, efd, 17, KVM_IRQFD_FLAG_DEASSIGN, 0);
	close(efd);
}

/* 4. KVM_SIGNAL_MSI: delivered to one LAPIC (returns 1) each time. */
static void test_signal_msi(void **state)
{
	struct fx *f = *state;

	for (uint64_t i = 1; i <= N_IRQS; i++) {
		assert_int_equal(signal_msi(f->vm, VEC_MSI), 1);
		assert_int_equal(kg_wait_count(f->g, VEC_MSI, i, WAIT_MS), 0);
	}
	assert_settled(f->g, VEC_MSI, N_IRQS);
}

/* The running regime: the guest spins in ring 3 with interrupts on, takes
 * every interrupt there and returns to the spin; its mailbox is closed
 * (-EBUSY) until kg_spin_stop() brings it back to ring 0, and it can spin
 * again after that. */
static void test_spin_regime(void **state)
{
	struct fx *f = *state;
	volatile struct kg_shared *sh = kg_shared(f->g);
	uint64_t v, loops, base = kg_count(f->g, VEC_MSI);

	for (int round = 0; round < 2; round++) {
		assert_int_equal(kg_spin_start(f->g), 0);
		assert_true(kg_spinning(f->g));
		assert_int_equal(kg_spin_start(f->g), -EBUSY);
		assert_int_equal(kg_guest_read(f->g, KG_SHARED_GPA, 4, &v),
				 -EBUSY);
		loops = sh->spin_loops;
		for (uint64_t i = 1; i <= N_IRQS; i++) {
			assert_int_equal(signal_msi(f->vm, VEC_MSI), 1);
			assert_int_equal(kg_wait_count(f->g, VEC_MSI,
						       base + i, WAIT_MS), 0);
		}
		base += N_IRQS;
		assert_settled(f->g, VEC_MSI, base);
		/* Still in ring 3, still looping, nothing faulted. */
		assert_int_equal(sh->spinning, 1);
		assert_true(sh->spin_loops > loops);
		assert_int_equal(sh->exc_valid, 0);
		assert_int_equal(kg_spin_stop(f->g), 0);
		assert_false(kg_spinning(f->g));
		assert_int_equal(sh->spinning, 0);
		assert_int_equal(kg_spin_stop(f->g), 0);
		assert_int_equal(kg_guest_read(f->g, KG_SHARED_GPA + KG_SH_READY,
					       4, &v), 0);
		assert_int_equal(v, 1);
	}
	assert_int_equal(kg_state(f->g), KG_RUNNING);
}

/* A routing table with the default irqchip routes (IOAPIC pins 0-23 on GSI
 * 0-23, PIC pins on GSI 0-15) plus one MSI route: KVM_SET_GSI_ROUTING
 * replaces the whole table, so dropping the pins would kill pin routes. */
static void set_routes_with_msi(int vm, uint32_t msi_gsi, uint32_t vector)
{
	const unsigned int n = 24 + 16 + 1;
	struct kvm_irq_routing *r;
	unsigned int k = 0;

	r = calloc(1, sizeof(*r) + n * sizeof(r->entries[0]));
	assert_non_null(r);
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		r->entries[k].gsi = gsi;
		r->entries[k].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[k].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		r->entries[k].u.irqchip.pin = gsi;
		k++;
	}
	for (uint32_t gsi = 0; gsi < 16; gsi++) {
		r->entries[k].gsi = gsi;
		r->entries[k].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[k].u.irqchip.irqchip =
			gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		r->entries[k].u.irqchip.pin = gsi % 8;
		k++;
	}
	r->entries[k].gsi = msi_gsi;
	r->entries[k].type = KVM_IRQ_ROUTING_MSI;
	r->entries[k].u.msi.address_lo = 0xfee00000;
	r->entries[k].u.msi.data = vector;
	k++;
	r->nr = k;
	assert_int_equal(ioctl(vm, KVM_SET_GSI_ROUTING, r), 0);
	free(r);
}

/* 5. An MSI route on GSI 24 fed by an irqfd; the pin routes kept in the
 * same table still work. */
static void test_msi_route_irqfd(void **state)
{
	struct fx *f = *state;
	int efd = tu_eventfd();

	assert_int_equal(kg_program_ioapic(f->g, 16, VEC_LINE, KG_EDGE), 0);
	set_routes_with_msi(f->vm, 24, VEC_ROUTE);
	irqfd(f->vm, efd, 24, 0, 0);
	for (uint64_t i = 1; i <= N_IRQS; i++) {
		tu_signal(efd);
		assert_int_equal(kg_wait_count(f->g, VEC_ROUTE, i, WAIT_MS), 0);
	}
	assert_settled(f->g, VEC_ROUTE, N_IRQS);

	irq_line(f->vm, 16, 1);
	irq_line(f->vm, 16, 0);
	assert_int_equal(kg_wait_count(f->g, VEC_LINE, 1, WAIT_MS), 0);

	irqfd(f->vm, efd, 24, KVM_IRQFD_FLAG_DEASSIGN, 0);
	close(efd);
}

static void ioapic_pin_state(int vm, unsigned int pin, bool *asserted,
			     bool *remote_irr)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	assert_int_equal(ioctl(vm, KVM_GET_IRQCHIP, &chip), 0);
	*asserted = (chip.chip.ioapic.irr >> pin) & 1;
	*remote_irr = chip.chip.ioapic.redirtbl[pin].fields.remote_irr;
}

/* A LAPIC register bit for `vector` (APIC_IRR 0x200, APIC_ISR 0x100), read
 * with KVM_GET_LAPIC: the vCPU must be stopped (a vCPU ioctl waits for
 * KVM_RUN to return). */
static bool lapic_bit(struct kg_guest *g, unsigned int reg,
		      unsigned int vector)
{
	struct kvm_lapic_state la;
	uint32_t word;

	assert_int_equal(ioctl(kg_vcpu_fd(g), KVM_GET_LAPIC, &la), 0);
	memcpy(&word, la.regs + reg + 0x10 * (vector / 32), sizeof(word));
	return (word >> (vector % 32)) & 1;
}

/*
 * 6. Level IOAPIC pin 18 + resampling irqfd.
 *
 * One at a time: a signal asserts the line, the guest takes the interrupt,
 * the EOI reaches the IOAPIC, whose ack notifier (the resampler) deasserts
 * the line and signals the resamplefd. So each signal is exactly one
 * interrupt and one resample. (On kvm_pvm that EOI happens when KVM injects
 * the interrupt, not at the guest's EOI write: see test_eoi_model.)
 *
 * Coalescing, made deterministic by stopping the vCPU: the guest cannot take
 * (and so cannot EOI) anything while it is out of KVM_RUN. The first of five
 * signals asserts the line; the IOAPIC sends the vector to the LAPIC (IRR)
 * and sets the pin's remote IRR. The other four re-assert an asserted line
 * and the IOAPIC delivers nothing while remote IRR is set. We give KVM's
 * irqfd injection work items 20 ms to finish (each takes microseconds; one
 * that ran after the resumed guest's EOI would show up as a second
 * interrupt and fail the test, not pass it silently), then resume: one
 * interrupt, one EOI, one resample, line deasserted.
 */
static void test_level_resample(void **state)
{
	struct fx *f = *state;
	int efd = tu_eventfd(), rfd = tu_eventfd();
	bool asserted, rirr;

	assert_int_equal(kg_program_ioapic(f->g, 18, VEC_LEVEL, KG_LEVEL), 0);
	irqfd(f->vm, efd, 18, KVM_IRQFD_FLAG_RESAMPLE, rfd);

	for (uint64_t i = 1; i <= N_IRQS; i++) {
		tu_signal(efd);
		assert_int_equal(kg_wait_count(f->g, VEC_LEVEL, i, WAIT_MS), 0);
		assert_int_equal(wait_efd(rfd), 1);
	}
	assert_settled(f->g, VEC_LEVEL, N_IRQS);
	assert_int_equal(tu_count(rfd), 0);
	ioapic_pin_state(f->vm, 18, &asserted, &rirr);
	assert_false(asserted);
	assert_false(rirr);

	assert_int_equal(kg_stop(f->g), 0);
	for (int k = 0; k < 5; k++)
		tu_signal(efd);
	usleep(20 * 1000);
	assert_int_equal(kg_count(f->g, VEC_LEVEL), N_IRQS);
	assert_int_equal(tu_count(rfd), 0);
	ioapic_pin_state(f->vm, 18, &asserted, &rirr);
	assert_true(asserted);
	assert_true(rirr);
	assert_true(lapic_bit(f->g, 0x200, VEC_LEVEL));

	assert_int_equal(kg_start(f->g), 0);
	assert_int_equal(kg_wait_count(f->g, VEC_LEVEL, N_IRQS + 1, WAIT_MS), 0);
	assert_int_equal(wait_efd(rfd), 1);
	assert_settled(f->g, VEC_LEVEL, N_IRQS + 1);
	assert_int_equal(tu_count(rfd), 0);
	ioapic_pin_state(f->vm, 18, &asserted, &rirr);
	assert_false(asserted);
	assert_false(rirr);

	/* And the pin works one at a time again. */
	tu_signal(efd);
	assert_int_equal(kg_wait_count(f->g, VEC_LEVEL, N_IRQS + 2, WAIT_MS), 0);
	assert_int_equal(wait_efd(rfd), 1);

	irqfd(f->vm, efd, 18, KVM_IRQFD_FLAG_DEASSIGN, 0);
	close(efd);
	close(rfd);
}

/*
 * Where the EOI happens. The guest holds its EOI for the vector
 * (kg_hold_eoi), takes one level interrupt, and returns from its ISR
 * without writing the LAPIC EOI register.
 *
 * Upstream KVM keeps the vector in service (LAPIC ISR bit) and the pin's
 * remote IRR set until the guest's EOI; only then does the resampler run.
 * kvm_pvm does not: it retires the interrupt when it injects it -- LAPIC
 * ISR clear, EOI broadcast to the IOAPIC, resamplefd signalled -- with the
 * guest's EOI write never executed. Tests on this machine therefore cannot
 * make the guest's EOI late; they stop the vCPU instead (test 6).
 */
static void test_eoi_model(void **state)
{
	struct fx *f = *state;
	int efd = tu_eventfd(), rfd = tu_eventfd();
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	bool asserted, rirr;

	assert_int_equal(kg_program_ioapic(f->g, 19, VEC_EOI, KG_LEVEL), 0);
	irqfd(f->vm, efd, 19, KVM_IRQFD_FLAG_RESAMPLE, rfd);
	kg_hold_eoi(f->g, VEC_EOI, true);

	tu_signal(efd);
	assert_int_equal(kg_wait_count(f->g, VEC_EOI, 1, WAIT_MS), 0);
	usleep(20 * 1000);
	ioapic_pin_state(f->vm, 19, &asserted, &rirr);
	assert_int_equal(kg_stop(f->g), 0);
	if (pvm) {
		assert_int_equal(tu_count(rfd), 1);
		assert_false(asserted);
		assert_false(rirr);
		assert_false(lapic_bit(f->g, 0x100, VEC_EOI));
	} else {
		assert_int_equal(tu_count(rfd), 0);
		assert_true(asserted);
		assert_true(rirr);
		assert_true(lapic_bit(f->g, 0x100, VEC_EOI));
	}
	assert_int_equal(kg_start(f->g), 0);

	/* The guest's own EOI: resamples on upstream KVM; on kvm_pvm there is
	 * nothing left in service, so it changes nothing. */
	assert_int_equal(kg_eoi(f->g), 0);
	usleep(20 * 1000);
	assert_int_equal(tu_count(rfd), pvm ? 0 : 1);
	assert_int_equal(kg_count(f->g, VEC_EOI), 1);

	kg_hold_eoi(f->g, VEC_EOI, false);
	irqfd(f->vm, efd, 19, KVM_IRQFD_FLAG_DEASSIGN, 0);
	close(efd);
	close(rfd);
}

/* 7. ud2 in the guest: the run ends with #UD reported at the ud2. */
static void test_exception_ud2(void **state)
{
	struct fx *f = *state;
	volatile struct kg_shared *sh = kg_shared(f->g);
	const uint8_t *insn;
	char want[64];

	assert_int_equal(kg_mailbox(f->g, KG_CMD_UD2, 0, 0, 0, NULL, WAIT_MS),
			 -EIO);
	assert_int_equal(kg_state(f->g), KG_EXCEPTION);
	assert_int_equal(sh->exc_valid, 1);
	assert_int_equal(sh->exc_vector, 6);
	assert_int_equal(sh->exc_error, 0);
	assert_in_range(sh->exc_rip, KG_IMAGE_GPA, KG_IMAGE_GPA + KG_IMAGE_MAX);
	insn = kg_mem(f->g, sh->exc_rip, 2);
	assert_non_null(insn);
	assert_int_equal(insn[0], 0x0f);
	assert_int_equal(insn[1], 0x0b);
	snprintf(want, sizeof(want), "#UD (vector 6) at rip 0x%llx",
		 (unsigned long long)sh->exc_rip);
	assert_non_null(strstr(kg_why(f->g), want));
	assert_int_equal(kg_exits(f->g, KVM_EXIT_IO), 2);

	/* Everything after reports the dead guest instead of waiting. */
	assert_int_equal(kg_wait_count(f->g, VEC_MSI, 1, WAIT_MS), -EIO);
	assert_int_equal(kg_mailbox(f->g, KG_CMD_NOP, 0, 0, 0, NULL, WAIT_MS),
			 -EIO);
	assert_int_equal(kg_start(f->g), -EIO);
}

/* A read above the 4 GiB identity map faults (#PF, not present, read,
 * supervisor: error code 0) with CR2 = the address. */
static void test_exception_pf(void **state)
{
	struct fx *f = *state;
	volatile struct kg_shared *sh = kg_shared(f->g);
	uint64_t v;

	assert_int_equal(kg_guest_read(f->g, 0x140000000ull, 8, &v), -EIO);
	assert_int_equal(kg_state(f->g), KG_EXCEPTION);
	assert_int_equal(sh->exc_vector, 14);
	assert_int_equal(sh->exc_error, 0);
	assert_int_equal(sh->exc_cr2, 0x140000000ull);
	assert_non_null(strstr(kg_why(f->g), "#PF"));
}

struct mmio_log {
	unsigned int writes, reads;
	uint64_t gpa;
	uint32_t len;
	uint32_t value;
};

static void mmio_cb(void *opaque, uint64_t gpa, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct mmio_log *log = opaque;

	log->gpa = gpa;
	log->len = len;
	if (is_write) {
		log->writes++;
		memcpy(&log->value, data, sizeof(log->value));
	} else {
		log->reads++;
		memcpy(data, &log->value, sizeof(log->value));
	}
}

/* Exit accounting: a guest access to an address nobody claims is one
 * KVM_EXIT_MMIO, handed to the test's handler. */
static void test_mmio_exit(void **state)
{
	struct fx *f = *state;
	struct mmio_log log = { 0 };
	uint64_t v = 0;

	assert_int_equal(kg_stop(f->g), 0);
	kg_set_mmio_handler(f->g, mmio_cb, &log);
	assert_int_equal(kg_start(f->g), 0);

	assert_int_equal(kg_exits(f->g, KVM_EXIT_MMIO), 0);
	assert_int_equal(kg_guest_write(f->g, 0xd0000000, 0x12345678, 4), 0);
	assert_int_equal(kg_exits(f->g, KVM_EXIT_MMIO), 1);
	assert_int_equal(log.writes, 1);
	assert_int_equal(log.gpa, 0xd0000000);
	assert_int_equal(log.len, 4);
	assert_int_equal(log.value, 0x12345678);

	assert_int_equal(kg_guest_read(f->g, 0xd0000000, 4, &v), 0);
	assert_int_equal(v, 0x12345678);
	assert_int_equal(log.reads, 1);
	assert_int_equal(kg_exits(f->g, KVM_EXIT_MMIO), 2);

	assert_int_equal(kg_guest_write(f->g, 0xd0000000, 1, 3), -EINVAL);
}

/* The library's VM context drives the same guest: kg_create() borrows the
 * context's fd (keeping its own dup), so either may be destroyed first. */
static void test_with_irqlink_vm(void **state)
{
	int fds = tu_open_fds();
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = VEC_MSI };
	struct irqlink_vm *vm;
	struct kg_guest *g;

	(void)state;
	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	assert_int_equal(kg_create(irqlink_vm_fd(vm), &g), 0);
	assert_int_equal(kg_start(g), 0);
	assert_int_equal(irqlink_vm_signal_msi(vm, &msi), 1);
	assert_int_equal(kg_wait_count(g, VEC_MSI, 1, WAIT_MS), 0);
	assert_int_equal(kg_program_ioapic(g, 16, VEC_LINE, KG_EDGE), 0);
	assert_int_equal(irqlink_vm_set_irq_line(vm, 16, true), 0);
	assert_int_equal(irqlink_vm_set_irq_line(vm, 16, false), 0);
	assert_int_equal(kg_wait_count(g, VEC_LINE, 1, WAIT_MS), 0);
	irqlink_vm_destroy(vm);
	kg_destroy(g);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boot_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_line_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spin_regime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_route_irqfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_resample, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoi_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exception_ud2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exception_pf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_exit, setup, teardown),
		cmocka_unit_test(test_with_irqlink_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
