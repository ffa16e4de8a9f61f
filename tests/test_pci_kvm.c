/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue end to end on real KVM: the test device behind the glue, the
 * test guest taking the interrupts. Config space is driven from the host
 * through the glue's config-write API, exactly as the guest's config cycles
 * would reach it; BAR accesses the guest makes exit to the glue through the
 * harness's MMIO handler, except the doorbell, which is a KVM ioeventfd.
 *
 * What is proved, counted in the guest (per vector) and on the device:
 *   - INTx: N assertions -> exactly N guest interrupts and N device unmasks,
 *     with no process between the device's eventfd write and the guest, and
 *     Interrupt Disable holding the line until cleared;
 *   - MSI with 1, 4 and 32 vectors: each vector delivers exactly what the
 *     device raised; one KVM_SET_GSI_ROUTING per capability change (enable,
 *     message change, disable) and none for a mask-bit change; a masked
 *     vector's fires are held in the Pending Bits and delivered once;
 *   - MSI-X: doorbell writes reach the device without an exit; per-vector
 *     mask, PBA and unmask replay; one commit for the first unmask, none
 *     after; doorbells follow the BAR;
 *   - every interrupt through an irqlink consumer paired with the device by
 *     the bypass manager: the relay injects nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "kvm_guest.h"
#include "testdev.h"

#include <irqlink/irqlink.h>

#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

#define BAR0_GPA 0xc0000000u
#define BAR2_GPA 0xc0100000u
#define WAIT_MS 2000

struct kt {
	int fds_before;
	struct irqlink_vm *vm;
	struct kg_guest *g;
	struct testdev *td;
	struct irqlink_pci *pci;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
};

static void on_mmio(void *opaque, uint64_t gpa, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct kt *t = opaque;

	if (irqlink_pci_mmio(t->pci, gpa, data, len, is_write) != 1 &&
	    !is_write)
		memset(data, 0xff, len);
}

static void kt_open(struct kt *t, const struct testdev_config *dc,
		    bool consumers)
{
	struct irqlink_pci_config pc = { .ops = &testdev_pci_ops };

	memset(t, 0, sizeof(*t));
	t->fds_before = tu_open_fds();
	assert_int_equal(irqlink_vm_create(NULL, &t->vm), 0);
	assert_int_equal(kg_create(irqlink_vm_fd(t->vm), &t->g), 0);
	assert_int_equal(testdev_create(dc, &t->td), 0);
	/* Every interrupt goes through a consumer that the bypass manager
	 * pairs with the device (@consumers only adds assertions on them). */
	(void)consumers;
	assert_int_equal(irqlink_relay_create(t->vm, NULL, &t->relay), 0);
	assert_int_equal(irqlink_bypass_create(&t->bypass), 0);
	assert_int_equal(irqlink_dev_attach_bypass(testdev_irq(t->td),
						   t->bypass), 0);
	pc.opaque = t->td;
	pc.vm = t->vm;
	pc.relay = t->relay;
	pc.bypass = t->bypass;
	assert_int_equal(irqlink_pci_create(&pc, &t->pci), 0);
	kg_set_mmio_handler(t->g, on_mmio, t);
	assert_int_equal(kg_start(t->g), 0);
}

static void kt_close(struct kt *t)
{
	kg_destroy(t->g);
	testdev_stop(t->td);
	irqlink_pci_destroy(t->pci);
	irqlink_dev_attach_bypass(testdev_irq(t->td), NULL);
	testdev_destroy(t->td);
	irqlink_relay_destroy(t->relay);
	irqlink_bypass_destroy(t->bypass);
	irqlink_vm_destroy(t->vm);
	assert_int_equal(tu_open_fds(), t->fds_before);
}

static void cfgw(struct kt *t, uint32_t off, uint32_t size, uint32_t v)
{
	assert_int_equal(irqlink_pci_config_write(t->pci, off, size, v), 0);
}

static uint32_t cfgr(struct kt *t, uint32_t off, uint32_t size)
{
	uint32_t v;

	assert_int_equal(irqlink_pci_config_read(t->pci, off, size, &v), 0);
	return v;
}

static uint64_t commits(struct kt *t)
{
	struct irqlink_routes_stats st;

	assert_int_equal(irqlink_routes_stats(t->vm, &st), 0);
	return st.commits;
}

static struct irqlink_pci_stats pstats(struct kt *t)
{
	struct irqlink_pci_stats st;

	irqlink_pci_get_stats(t->pci, &st);
	return st;
}

/* The device raises @n interrupts of @kind on @vec (host side: the BAR0
 * registers, the same a guest driver writes). */
static void raise(struct kt *t, uint32_t kind, uint32_t vec, uint32_t n)
{
	testdev_reg_write(t->td, TESTDEV_REG_KIND, kind);
	testdev_reg_write(t->td, TESTDEV_REG_VECTOR, vec);
	testdev_reg_write(t->td, TESTDEV_REG_COUNT, n);
	testdev_reg_write(t->td, TESTDEV_REG_DOORBELL, 1);
}

/* Nothing more arrives on @vector within a short window. */
static void assert_quiet(struct kt *t, unsigned int vector, uint64_t count)
{
	usleep(30 * 1000);
	assert_int_equal(kg_count(t->g, vector), count);
}

static void map_bars(struct kt *t)
{
	cfgw(t, 0x10, 4, BAR0_GPA);
	cfgw(t, 0x18, 4, BAR2_GPA);
	cfgw(t, 0x1c, 4, 0);
	cfgw(t, 0x04, 2, 0x0006);       /* memory decoding, bus master */
}

/* ---- INTx --------------------------------------------------------------- */

#define INTX_PIN 17
#define INTX_VEC 0x60

/* Keep calling the device's unmask dispatch until @n unmasks happened.
 * The resamplefd is signalled by KVM at the guest's EOI (or, on kvm_pvm,
 * at injection), so it may still be on its way. */
static void wait_unmasks(struct kt *t, uint32_t n)
{
	int i;

	for (i = 0; i < WAIT_MS * 10; i++) {
		assert_true(testdev_process(t->td) >= 0);
		if (testdev_reg_read(t->td, TESTDEV_REG_UNMASKS) >= n)
			break;
		usleep(100);
	}
	assert_int_equal(testdev_reg_read(t->td, TESTDEV_REG_UNMASKS), n);
}

static void test_intx(void **state)
{
	struct testdev_config dc = { .intx = true };
	struct irqlink_dev_stats ds;
	struct irqlink_irqfd_info ii;
	struct kt t;
	const uint32_t n = 20;
	uint32_t i;

	(void)state;
	kt_open(&t, &dc, false);
	assert_int_equal(kg_program_ioapic(t.g, INTX_PIN, INTX_VEC, KG_LEVEL), 0);
	assert_int_equal(irqlink_pci_intx_route(t.pci, INTX_PIN), 0);
	assert_int_equal(irqlink_irqfd_lookup(t.vm, irqlink_pci_trigger_fd(t.pci,
				VFIO_PCI_INTX_IRQ_INDEX, 0), &ii), 1);
	assert_int_equal(ii.gsi, INTX_PIN);
	assert_true(ii.level);

	/* Each cycle as hardware and a driver do it: the device asserts, the
	 * guest takes the interrupt, the device's status is cleared (its
	 * line drops), the EOI's resample unmasks the device. The unmask is
	 * dispatched only after the line dropped, so it never re-fires. */
	for (i = 1; i <= n; i++) {
		testdev_reg_write(t.td, TESTDEV_REG_INTX, 1);
		assert_int_equal(kg_wait_count(t.g, INTX_VEC, i, WAIT_MS), 0);
		testdev_reg_write(t.td, TESTDEV_REG_STATUS, TESTDEV_STATUS_INTX);
		wait_unmasks(&t, i);
	}
	assert_quiet(&t, INTX_VEC, n);
	irqlink_dev_get_stats(testdev_irq(t.td), &ds);
	assert_int_equal(ds.intx_fires, n);
	assert_int_equal(ds.intx_unmasks, n);

	/* Interrupt Disable (through the glue's command register) holds the
	 * line: nothing reaches the guest until it is cleared. */
	cfgw(&t, 0x04, 2, 0x0400);
	testdev_reg_write(t.td, TESTDEV_REG_INTX, 1);
	assert_quiet(&t, INTX_VEC, n);
	irqlink_dev_get_stats(testdev_irq(t.td), &ds);
	assert_int_equal(ds.intx_fires, n);
	assert_int_equal(cfgr(&t, 0x06, 2) & 0x08, 0x08);  /* status: pending */
	/* Clearing it is itself an unmask (vfio: virq_disabled off), which
	 * fires the held line; the guest's EOI then unmasks once more. */
	cfgw(&t, 0x04, 2, 0x0000);
	assert_int_equal(kg_wait_count(t.g, INTX_VEC, n + 1, WAIT_MS), 0);
	testdev_reg_write(t.td, TESTDEV_REG_STATUS, TESTDEV_STATUS_INTX);
	wait_unmasks(&t, n + 2);
	irqlink_dev_get_stats(testdev_irq(t.td), &ds);
	assert_int_equal(ds.intx_fires, n + 1);
	assert_quiet(&t, INTX_VEC, n + 1);

	assert_int_equal(irqlink_pci_intx_unroute(t.pci), 0);
	assert_int_equal(irqlink_irqfd_count(t.vm), 0);
	assert_int_equal(pstats(&t).errors, 0);
	kt_close(&t);
}

/* ---- MSI ---------------------------------------------------------------- */

static unsigned int log2u(unsigned int v)
{
	unsigned int k = 0;

	while ((1u << k) < v)
		k++;
	return k;
}

static void check_routes(struct kt *t, unsigned int nvec, unsigned int base)
{
	struct kvm_msi m;
	uint32_t gsi;
	unsigned int v;

	for (v = 0; v < nvec; v++) {
		assert_int_equal(irqlink_pci_vector_gsi(t->pci, MSI, v, &gsi), 0);
		assert_int_equal(irqlink_routes_get(t->vm, gsi,
				IRQLINK_ROUTES_COMMITTED, &m), 1);
		assert_int_equal(m.address_lo, 0xfee00000);
		assert_int_equal(m.address_hi, 0);
		assert_int_equal(m.data, base + v);
	}
}

static void msi_case(unsigned int nvec, bool consumers)
{
	struct testdev_config dc = { .intx = true, .msi_vectors = 32 };
	const unsigned int base = 0x40, base2 = 0x80;
	uint64_t want[256] = { 0 }, c0, c1, total = 0;
	unsigned int v, k, j;
	struct kt t;

	kt_open(&t, &dc, consumers);
	c0 = commits(&t);
	/* Message first (MSI disabled: no routes, no commit), then enable. */
	cfgw(&t, 0x44, 4, 0xfee00000);
	cfgw(&t, 0x48, 4, 0);
	cfgw(&t, 0x4c, 2, base);
	assert_int_equal(commits(&t), c0);
	cfgw(&t, 0x42, 2, log2u(nvec) << 4 | 1);
	assert_int_equal(commits(&t), c0 + 1);
	assert_int_equal(pstats(&t).host_vectors, nvec);
	check_routes(&t, nvec, base);

	/* Vector v raises v % 3 + 1 times, one at a time (two MSIs to one
	 * vector before the guest takes the first would merge in the
	 * LAPIC, as on hardware). */
	for (v = 0; v < nvec; v++) {
		k = v % 3 + 1;
		for (j = 0; j < k; j++) {
			raise(&t, MSI, v, 1);
			want[base + v]++;
			total++;
			assert_int_equal(kg_wait_count(t.g, base + v,
						       want[base + v],
						       WAIT_MS), 0);
		}
	}
	assert_quiet(&t, base, want[base]);
	for (v = 0x20; v < 0xe0; v++)
		assert_int_equal(kg_count(t.g, v), want[v]);
	assert_int_equal(testdev_reg_read(t.td, TESTDEV_REG_SIGNALLED), total);
	if (consumers) {
		struct irqlink_relay_stats rs;
		struct irqlink_bypass_stats bs;

		/* Every vector paired with the device and went in-kernel:
		 * the relay injected nothing. */
		assert_int_equal(irqlink_bypass_get_stats(t.bypass, &bs), 0);
		assert_int_equal(bs.connected, nvec);
		assert_int_equal(irqlink_relay_get_stats(t.relay, &rs), 0);
		assert_int_equal(rs.injections, 0);
	}

	/* A new message while enabled: one commit moves every route. */
	c1 = commits(&t);
	cfgw(&t, 0x4c, 2, base2);
	assert_int_equal(commits(&t), c1 + 1);
	check_routes(&t, nvec, base2);
	raise(&t, MSI, nvec - 1, 1);
	assert_int_equal(kg_wait_count(t.g, base2 + nvec - 1, 1, WAIT_MS), 0);
	assert_int_equal(kg_count(t.g, base + nvec - 1), want[base + nvec - 1]);

	/* Mask bits cost no routing: the device holds the vector, the
	 * Pending Bits show it, the unmask delivers it once. */
	cfgw(&t, 0x50, 4, 0x1);
	assert_int_equal(commits(&t), c1 + 1);
	raise(&t, MSI, 0, 3);
	assert_quiet(&t, base2, nvec == 1 ? 1 : 0);
	assert_int_equal(cfgr(&t, 0x54, 4), 0x1);
	cfgw(&t, 0x50, 4, 0x0);
	assert_int_equal(kg_wait_count(t.g, base2, nvec == 1 ? 2 : 1, WAIT_MS), 0);
	assert_quiet(&t, base2, nvec == 1 ? 2 : 1);
	assert_int_equal(cfgr(&t, 0x54, 4), 0);
	assert_int_equal(commits(&t), c1 + 1);

	/* Disable: one commit removes every route. */
	cfgw(&t, 0x42, 2, 0);
	assert_int_equal(commits(&t), c1 + 2);
	assert_int_equal(pstats(&t).host_vectors, 0);
	assert_int_equal(irqlink_irqfd_count(t.vm), 0);
	assert_int_equal(pstats(&t).errors, 0);
	kt_close(&t);
}

static void test_msi_1(void **state)
{
	(void)state;
	msi_case(1, false);
}

static void test_msi_4(void **state)
{
	(void)state;
	msi_case(4, false);
}

static void test_msi_32(void **state)
{
	(void)state;
	msi_case(32, false);
}

/* The same through irqlink consumers: the device is a bypass producer, so
 * each vector ends on the in-kernel path; still one commit per change. */
static void test_msi_4_consumers(void **state)
{
	(void)state;
	msi_case(4, true);
}

/* ---- MSI-X and the doorbell --------------------------------------------- */

#define MSIX_VEC 0x70

static void gw(struct kt *t, uint64_t gpa, uint32_t v)
{
	assert_int_equal(kg_guest_write(t->g, gpa, v, 4), 0);
}

/* Ring the doorbell from the guest and wait until the device served it. */
static void doorbell(struct kt *t, uint32_t done)
{
	int i;

	gw(t, BAR0_GPA + TESTDEV_REG_DOORBELL, 1);
	for (i = 0; i < WAIT_MS && testdev_reg_read(t->td, TESTDEV_REG_DONE) <
		     done; i++)
		usleep(1000);
	assert_int_equal(testdev_reg_read(t->td, TESTDEV_REG_DONE), done);
}

static void test_msix_doorbell(void **state)
{
	struct testdev_config dc = { .msix_vectors = 64 };
	const uint64_t e5 = BAR2_GPA + 5 * 16;
	uint64_t c0, exits, pba;
	uint32_t done = 0, i;
	struct kt t;

	(void)state;
	kt_open(&t, &dc, false);
	assert_int_equal(testdev_start(t.td), 0);
	map_bars(&t);
	assert_int_equal(pstats(&t).ioeventfds, 1);
	assert_int_equal(irqlink_ioeventfd_count(t.vm), 1);

	/* Program entry 5 (masked), enable MSI-X: nothing to route yet. */
	c0 = commits(&t);
	gw(&t, e5 + 0, 0xfee00000);
	gw(&t, e5 + 4, 0);
	gw(&t, e5 + 8, MSIX_VEC);
	cfgw(&t, 0x62, 2, 0x8000);
	assert_int_equal(commits(&t), c0);
	assert_int_equal(pstats(&t).host_vectors, 0);
	/* The guest's first unmask: one commit. */
	gw(&t, e5 + 12, 0);
	assert_int_equal(commits(&t), c0 + 1);
	assert_int_equal(pstats(&t).host_vectors, 1);

	/* The guest asks for one MSI-X interrupt on vector 5 per doorbell.
	 * The command registers exit to the glue; the doorbell does not. */
	gw(&t, BAR0_GPA + TESTDEV_REG_KIND, MSIX);
	gw(&t, BAR0_GPA + TESTDEV_REG_VECTOR, 5);
	gw(&t, BAR0_GPA + TESTDEV_REG_COUNT, 1);
	exits = kg_exits(t.g, KVM_EXIT_MMIO);
	for (i = 1; i <= 10; i++) {
		doorbell(&t, ++done);
		assert_int_equal(kg_wait_count(t.g, MSIX_VEC, i, WAIT_MS), 0);
	}
	assert_int_equal(kg_exits(t.g, KVM_EXIT_MMIO), exits);

	/* Guest masks the entry: no routing change; fires go to the PBA. */
	gw(&t, e5 + 12, 1);
	doorbell(&t, ++done);
	doorbell(&t, ++done);
	assert_quiet(&t, MSIX_VEC, 10);
	assert_int_equal(kg_guest_read(t.g, BAR2_GPA + 0x1000, 8, &pba), 0);
	assert_int_equal(pba, 1u << 5);
	gw(&t, e5 + 12, 0);
	assert_int_equal(kg_wait_count(t.g, MSIX_VEC, 11, WAIT_MS), 0);
	assert_quiet(&t, MSIX_VEC, 11);
	assert_int_equal(kg_guest_read(t.g, BAR2_GPA + 0x1000, 8, &pba), 0);
	assert_int_equal(pba, 0);
	assert_int_equal(commits(&t), c0 + 1);

	/* The doorbell follows BAR0, and goes when decoding is off. */
	cfgw(&t, 0x10, 4, BAR0_GPA + 0x10000);
	assert_int_equal(irqlink_ioeventfd_count(t.vm), 1);
	gw(&t, BAR0_GPA + 0x10000 + TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(kg_wait_count(t.g, MSIX_VEC, 12, WAIT_MS), 0);
	cfgw(&t, 0x04, 2, 0);
	assert_int_equal(irqlink_ioeventfd_count(t.vm), 0);
	assert_int_equal(pstats(&t).ioeventfds, 0);
	assert_int_equal(pstats(&t).errors, 0);
	kt_close(&t);
}

/* ---- config checks that need a VM --------------------------------------- */

/*
 * A VM needs a relay; with both, BAR_ACCESS is refused only with KERNEL
 * delivery (the relay must inject its INTx) and otherwise has a poll fd,
 * which the other policies do not. Nothing is left open either way.
 */
static void test_create_vm_config(void **state)
{
	struct testdev_config dc = { .intx = true };
	struct irqlink_pci_config pc = { .ops = &testdev_pci_ops };
	struct irqlink_relay *relay;
	struct irqlink_pci *p = NULL;
	struct irqlink_vm *vm;
	struct testdev *td;
	int fds = tu_open_fds();

	(void)state;
	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	assert_int_equal(irqlink_relay_create(vm, NULL, &relay), 0);
	assert_int_equal(testdev_create(&dc, &td), 0);
	pc.opaque = td;
	pc.vm = vm;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	pc.intx_eoi = IRQLINK_EOI_GUEST_PORT;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	pc.relay = relay;
	pc.intx_eoi = IRQLINK_EOI_BAR_ACCESS;
	pc.delivery = IRQLINK_DELIVERY_KERNEL;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	pc.delivery = 7;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	assert_null(p);

	for (int d = IRQLINK_DELIVERY_AUTO; d <= IRQLINK_DELIVERY_RELAY; d++) {
		if (d == IRQLINK_DELIVERY_KERNEL)
			continue;
		pc.delivery = (enum irqlink_delivery)d;
		assert_int_equal(irqlink_pci_create(&pc, &p), 0);
		assert_true(irqlink_pci_poll_fd(p) >= 0);
		irqlink_pci_destroy(p);
	}
	pc.intx_eoi = IRQLINK_EOI_RESAMPLEFD;
	pc.delivery = IRQLINK_DELIVERY_KERNEL;
	assert_int_equal(irqlink_pci_create(&pc, &p), 0);
	assert_int_equal(irqlink_pci_poll_fd(p), -ENOENT);
	irqlink_pci_destroy(p);

	testdev_destroy(td);
	irqlink_relay_destroy(relay);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intx),
		cmocka_unit_test(test_msi_1),
		cmocka_unit_test(test_msi_4),
		cmocka_unit_test(test_msi_32),
		cmocka_unit_test(test_msi_4_consumers),
		cmocka_unit_test(test_msix_doorbell),
		cmocka_unit_test(test_create_vm_config),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
