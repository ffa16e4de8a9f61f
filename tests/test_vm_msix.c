/* SPDX-License-Identifier: MIT */
/*
 * MSI-X at scale, on real KVM: a 2048-entry table enabled and used by the
 * test guest's own driver through irqlink-vm's machine, every vector a
 * consumer paired in-kernel by the bypass manager.
 *
 * The guest counts per IDT vector and has at most 224 usable, so entry i
 * uses vector VEC + i % SPAN; interrupts are raised one entry at a time,
 * each waited for before the next, so no two can merge in the LAPIC. The
 * oracles: the guest's count per vector, the device's count per entry
 * (testdev_signals()), the device model's replay count, and KVM routing
 * commits counted by irqlink_routes_stats().
 */
#include "vm_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NVEC 2048u
#define VEC  0x60u
#define SPAN 0x80u   /* IDT vectors 0x60-0xdf */
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

static int setup(void **state)
{
	struct vm_machine_config cfg = { .msix_vectors = NVEC,
					 .eoi = IRQLINK_EOI_GUEST_PORT };

	return vm_fx_setup(state, &cfg);
}

static uint64_t commits(struct vm_machine *m)
{
	struct irqlink_routes_stats st;

	assert_int_equal(irqlink_routes_stats(m->vm, &st), 0);
	return st.commits;
}

static unsigned int vec_of(unsigned int entry)
{
	return VEC + entry % SPAN;
}

static uint64_t table_gpa(struct vm_machine *m, unsigned int entry)
{
	volatile struct kg_ext_fn *fn = &kg_ext(m->g)->fn[m->dev->fn];

	return fn->bar[fn->msix_table & 7].addr + (fn->msix_table & ~7u) +
	       16ull * entry;
}

/* Enable all NVEC entries, unmasked, sharing the SPAN vectors; returns
 * the routing commits it cost. */
static uint64_t enable(struct vm_machine *m)
{
	uint64_t c0 = commits(m);

	assert_int_equal(kg_pci_msix_shared(m->g, (unsigned int)m->dev->fn, VEC,
					    SPAN, NVEC, 0, false), 0);
	return commits(m) - c0;
}

/* Raise entry @e once from the device, and (if @expect) wait for the
 * guest to count it on its vector. */
static void fire(struct vm_machine *m, unsigned int e, bool expect)
{
	uint64_t want = kg_count(m->g, vec_of(e)) + 1;

	testdev_reg_write(m->dev->td, TESTDEV_REG_KIND, MSIX);
	testdev_reg_write(m->dev->td, TESTDEV_REG_VECTOR, e);
	testdev_reg_write(m->dev->td, TESTDEV_REG_COUNT, 1);
	testdev_reg_write(m->dev->td, TESTDEV_REG_DOORBELL, 1);
	if (expect)
		assert_int_equal(kg_wait_count(m->g, vec_of(e), want, WAIT_MS),
				 0);
}

static void counts(struct vm_machine *m, uint64_t *c)
{
	for (unsigned int v = 0; v < SPAN; v++)
		c[v] = kg_count(m->g, VEC + v);
}

/* Every entry once, one at a time: one interrupt on its vector, one
 * signal on its entry; the enable was one routing commit; every vector
 * in-kernel. */
static void test_2048_each_entry(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	uint64_t before[SPAN], after[SPAN];
	struct irqlink_pci_stats p;

	assert_int_equal(enable(m), 1);
	p = pstats(m);
	assert_int_equal(p.host_vectors, NVEC);
	assert_int_equal(p.in_kernel, NVEC);
	assert_int_equal(p.relayed, 0);
	counts(m, before);
	for (unsigned int e = 0; e < NVEC; e++)
		fire(m, e, true);
	usleep(30 * 1000);
	counts(m, after);
	for (unsigned int v = 0; v < SPAN; v++)
		assert_int_equal(after[v] - before[v], NVEC / SPAN);
	for (unsigned int e = 0; e < NVEC; e++)
		assert_int_equal(testdev_signals(m->dev->td, MSIX, e), 1);
	assert_int_equal(relay_injections(m), 0);
	assert_int_equal(pstats(m).errors, 0);
}

/* Route accounting: a mask + unmask with the same message costs no
 * commit, a message change of an unmasked entry one, disabling one. */
static void test_route_accounting(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	unsigned int fn = (unsigned int)m->dev->fn, e = 77;
	uint64_t c;

	assert_int_equal(enable(m), 1);
	c = commits(m);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, e, true), 0);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, e, false), 0);
	assert_int_equal(commits(m), c);
	fire(m, e, true);

	/* New data (vector) for the unmasked entry: its route moves. */
	assert_int_equal(kg_guest_write(m->g, table_gpa(m, e) + 8, 0xe5, 4), 0);
	assert_int_equal(commits(m), c + 1);
	assert_int_equal(kg_wait_count(m->g, 0xe5, 0, WAIT_MS), 0);
	testdev_reg_write(m->dev->td, TESTDEV_REG_KIND, MSIX);
	testdev_reg_write(m->dev->td, TESTDEV_REG_VECTOR, e);
	testdev_reg_write(m->dev->td, TESTDEV_REG_COUNT, 1);
	testdev_reg_write(m->dev->td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(kg_wait_count(m->g, 0xe5, 1, WAIT_MS), 0);

	assert_int_equal(kg_pci_msix(m->g, fn, 0, 0, 0, false), 0);
	assert_int_equal(commits(m), c + 2);
	assert_int_equal(pstats(m).host_vectors, 0);
}

/* An entry unmasked before its message is written gets no host vector
 * and no route; writing the address then costs one commit. */
static void test_unmask_without_message(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	unsigned int fn = (unsigned int)m->dev->fn, e = 1000;
	uint64_t gpa, c, hv;

	assert_int_equal(enable(m), 1);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, e, true), 0);
	gpa = table_gpa(m, e);
	/* Address 0: nowhere an MSI can go. Disable and re-enable MSI-X so
	 * the entry's host vector (made at enable) is given back. */
	assert_int_equal(kg_guest_write(m->g, gpa, 0, 4), 0);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX,
				     KG_PCI_FUNCTION_MASK, true), 0);
	cfg_w(m, TESTDEV_MSIX_CAP + 2, 2, 0x4000);      /* disable */
	cfg_w(m, TESTDEV_MSIX_CAP + 2, 2, 0x8000);      /* enable, unmasked */
	hv = pstats(m).host_vectors;
	assert_int_equal(hv, NVEC - 1);
	c = commits(m);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, e, false), 0);
	assert_int_equal(pstats(m).host_vectors, hv);
	assert_int_equal(commits(m), c);
	assert_int_equal(kg_guest_write(m->g, gpa, 0xfee00000u, 4), 0);
	assert_int_equal(pstats(m).host_vectors, hv + 1);
	assert_int_equal(commits(m), c + 1);
	fire(m, e, true);
}

/* Every odd entry masked, every entry fired twice: even entries deliver
 * both, odd ones hold a pending bit (PBA) and deliver exactly one each on
 * unmask. No commit for any of it. */
static void test_mask_odd(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	volatile struct kg_ext_fn *fn;
	unsigned int idx = (unsigned int)m->dev->fn;
	uint64_t before[SPAN], after[SPAN], pba_gpa, c, bits;
	struct irqlink_dev_stats d0, d1;

	assert_int_equal(enable(m), 1);
	fn = &kg_ext(m->g)->fn[m->dev->fn];
	pba_gpa = fn->bar[fn->msix_pba & 7].addr + (fn->msix_pba & ~7u);
	for (unsigned int e = 1; e < NVEC; e += 2)
		assert_int_equal(kg_pci_mask(m->g, idx, KG_PCI_KIND_MSIX, e,
					     true), 0);
	c = commits(m);
	counts(m, before);
	d0 = dstats(m);
	for (int round = 0; round < 2; round++)
		for (unsigned int e = 0; e < NVEC; e++)
			fire(m, e, !(e & 1));
	usleep(30 * 1000);
	counts(m, after);
	/* Vector VEC + v serves entries v, v + SPAN, ...: SPAN is even, so
	 * all even or all odd. */
	for (unsigned int v = 0; v < SPAN; v++)
		assert_int_equal(after[v] - before[v],
				 (v & 1) ? 0 : 2 * NVEC / SPAN);
	for (unsigned int w = 0; w < NVEC / 64; w++) {
		assert_int_equal(kg_guest_read(m->g, pba_gpa + 8 * w, 8, &bits),
				 0);
		assert_int_equal(bits, 0xaaaaaaaaaaaaaaaaull);
	}
	for (unsigned int e = 1; e < NVEC; e += 2) {
		assert_int_equal(kg_pci_mask(m->g, idx, KG_PCI_KIND_MSIX, e,
					     false), 0);
		assert_int_equal(kg_wait_count(m->g, vec_of(e),
			after[e % SPAN] + e / SPAN + 1, WAIT_MS), 0);
	}
	usleep(30 * 1000);
	counts(m, before);
	for (unsigned int v = 1; v < SPAN; v += 2)
		assert_int_equal(before[v] - after[v], NVEC / SPAN);
	d1 = dstats(m);
	assert_int_equal(d1.msi_latched - d0.msi_latched, NVEC);
	assert_int_equal(d1.msi_replayed - d0.msi_replayed, NVEC / 2);
	assert_int_equal(kg_guest_read(m->g, pba_gpa, 8, &bits), 0);
	assert_int_equal(bits, 0);
	assert_int_equal(commits(m), c);
}

/* The Function Mask holds every entry; clearing it replays each held one
 * once. */
static void test_function_mask(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	unsigned int idx = (unsigned int)m->dev->fn;
	uint64_t before[SPAN], after[SPAN];

	assert_int_equal(enable(m), 1);
	assert_int_equal(kg_pci_mask(m->g, idx, KG_PCI_KIND_MSIX,
				     KG_PCI_FUNCTION_MASK, true), 0);
	counts(m, before);
	for (unsigned int e = 0; e < NVEC; e += 3)
		fire(m, e, false);
	usleep(30 * 1000);
	counts(m, after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(kg_pci_mask(m->g, idx, KG_PCI_KIND_MSIX,
				     KG_PCI_FUNCTION_MASK, false), 0);
	usleep(50 * 1000);
	counts(m, after);
	for (unsigned int v = 0; v < SPAN; v++) {
		uint64_t want = 0;

		for (unsigned int e = v; e < NVEC; e += SPAN)
			want += e % 3 == 0;
		/* Entries sharing a vector may merge in the LAPIC when they
		 * replay together: at least one, at most one per entry. */
		assert_true(after[v] - before[v] <= want);
		assert_true(after[v] - before[v] >= (want ? 1 : 0));
	}
	assert_int_equal(dstats(m).msi_replayed, (NVEC + 2) / 3);
}

/* A guest write of 8 bytes that covers the end of entry @e (its Vector
 * Control) and the start of entry @e + 1 (its Message Address) updates
 * both entries. */
static void test_write_spans_entries(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	unsigned int idx = (unsigned int)m->dev->fn, e = 500;
	uint64_t gpa, v = 0;
	uint32_t lo;

	assert_int_equal(enable(m), 1);
	assert_int_equal(kg_pci_mask(m->g, idx, KG_PCI_KIND_MSIX, e, true), 0);
	gpa = table_gpa(m, e);
	/* Vector Control of e = 0 (unmask), Address of e + 1 = the LAPIC
	 * with destination 0 again but written anew. */
	assert_int_equal(kg_guest_write(m->g, gpa + 12,
					(uint64_t)0xfee00000u << 32, 8), 0);
	assert_int_equal(kg_guest_read(m->g, gpa + 12, 4, &v), 0);
	assert_int_equal(v & 1, 0);
	assert_int_equal(kg_guest_read(m->g, gpa + 16, 4, &v), 0);
	lo = (uint32_t)v;
	assert_int_equal(lo, 0xfee00000u);
	/* Entry e is unmasked again: it delivers. */
	fire(m, e, true);
	fire(m, e + 1, true);
}

/* While one thread raises entry E one interrupt at a time, another moves
 * E's message between vCPU 0 and vCPU 1 and between two vectors: every
 * interrupt arrives once, on the old message or the new one. */
struct flipper {
	struct vm_machine *m;
	unsigned int entry;
	_Atomic bool stop;
	unsigned int flips;
};

static void *flip_thread(void *arg)
{
	struct flipper *fl = arg;
	uint64_t gpa = table_gpa(fl->m, fl->entry);

	while (!fl->stop) {
		unsigned int k = fl->flips++ & 3;

		/* Address (destination APIC ID k & 1) and data (vector) of an
		 * unmasked entry: each write is a route change, applied
		 * while the device fires. */
		assert_int_equal(kg_guest_write(fl->m->g, gpa,
			0xfee00000u | (k & 1) << 12, 4), 0);
		assert_int_equal(kg_guest_write(fl->m->g, gpa + 8,
			k & 2 ? 0xe4 : 0xe3, 4), 0);
		usleep(500);
	}
	return NULL;
}

static void test_message_change_while_firing(void **state)
{
	const unsigned int e = 9, n = 2000;
	struct vm_machine_config cfg = { .vcpus = 2, .msix_vectors = 64,
					 .eoi = IRQLINK_EOI_GUEST_PORT };
	struct flipper fl = { .entry = e };
	struct vm_fx f;
	struct vm_machine *m;
	pthread_t t;
	uint64_t c0;

	(void)state;
	m = vm_fx_boot(&f, &cfg);
	fl.m = m;
	assert_int_equal(kg_pci_msix(m->g, (unsigned int)m->dev->fn, 0x60, 64, 0,
				     false), 0);
	/* Entry e starts on vector 0xe3, vCPU 0. */
	assert_int_equal(kg_guest_write(m->g, table_gpa(m, e) + 8, 0xe3, 4), 0);
	c0 = kg_count(m->g, 0xe3) + kg_count(m->g, 0xe4);
	assert_int_equal(pthread_create(&t, NULL, flip_thread, &fl), 0);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t want = c0 + i + 1;
		int ms = 0;

		testdev_reg_write(m->dev->td, TESTDEV_REG_KIND, MSIX);
		testdev_reg_write(m->dev->td, TESTDEV_REG_VECTOR, e);
		testdev_reg_write(m->dev->td, TESTDEV_REG_COUNT, 1);
		testdev_reg_write(m->dev->td, TESTDEV_REG_DOORBELL, 1);
		while (kg_count(m->g, 0xe3) + kg_count(m->g, 0xe4) < want &&
		       ms++ < WAIT_MS * 10)
			usleep(100);
		assert_int_equal(kg_count(m->g, 0xe3) + kg_count(m->g, 0xe4),
				 want);
	}
	fl.stop = true;
	pthread_join(t, NULL);
	usleep(30 * 1000);
	assert_int_equal(kg_count(m->g, 0xe3) + kg_count(m->g, 0xe4), c0 + n);
	assert_int_equal(testdev_signals(m->dev->td, MSIX, e), n);
	assert_true(fl.flips >= 10);
	assert_int_equal(pstats(m).errors, 0);
	vm_fx_close_static(&f);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_2048_each_entry, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_route_accounting, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_unmask_without_message, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_mask_odd, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_function_mask, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_spans_entries, setup,
						vm_fx_teardown),
		cmocka_unit_test(test_message_change_while_firing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
