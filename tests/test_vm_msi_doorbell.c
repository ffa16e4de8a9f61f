/* SPDX-License-Identifier: MIT */
/*
 * MSI as the device's own DMA write into the MSI doorbell window (the ARM
 * shape, <irqlink/msi_doorbell.h>), with the guest counting what arrives,
 * for the in-process test device and for the same device in its own
 * process over vfio-user (irqlink-devd, its writes arriving as DMA_WRITE):
 *
 *   - every interrupt the guest asks for arrives exactly once, each one a
 *     doorbell injection of the guest's message (the relay injected
 *     nothing, no eventfd was signalled);
 *   - a vector the guest masks is held by the device and written once on
 *     unmask;
 *   - the device will not change modes while the guest has MSI-X on;
 *   - with the window unmapped the device's write is refused and counted
 *     at the device, and nothing is injected;
 *   - back on eventfds, interrupts flow as before; no fd is left behind.
 */
#include "vm_fixture.h"

#include <irqlink/msi_doorbell.h>
#include <irqlink/vfio_user_client.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#define VEC_MSIX 0x70
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

static struct irqlink_msi_doorbell_stats dbstats(struct vm_machine *m)
{
	struct irqlink_msi_doorbell_stats st;

	assert_int_equal(irqlink_msi_doorbell_get_stats(m->dev->doorbell, &st), 0);
	return st;
}

static uint64_t server_requests(struct vm_machine *m)
{
	struct irqlink_vfu_client_stats cs;

	if (!m->dev->vfu)
		return 0;
	assert_int_equal(irqlink_vfu_client_get_stats(m->dev->vfu, &cs), 0);
	assert_int_equal(cs.server_errors, 0);
	return cs.server_requests;
}

/* Wait until the device's register @reg has moved by @n. */
static void dev_reg_moved(struct vm_machine *m, uint32_t reg, uint32_t base,
			  uint32_t n)
{
	for (int i = 0; i < WAIT_MS &&
	     vm_dev_reg(m->dev, reg) - base < n; i++)
		tu_sleep_ms(1);
	assert_int_equal(vm_dev_reg(m->dev, reg) - base, n);
}

static void doorbell_run(struct vm_machine *m)
{
	const uint32_t n = 2000, q = n / 4;
	unsigned int fn = (unsigned int)m->dev->fn;
	struct irqlink_msi_doorbell_stats ds;
	uint64_t r0, sreq0;
	uint32_t dmas0, base;
	char err[256] = "";

	assert_non_null(m->dev->doorbell);
	assert_int_equal(vm_dev_set_msix_dma(m->dev, true, err, sizeof(err)),
			 0);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_MSIX_DMA), 1);
	assert_int_equal(kg_pci_msix(m->g, fn, VEC_MSIX, 4, 0, false), 0);
	assert_int_equal(vm_dev_set_msix_dma(m->dev, false, err, sizeof(err)),
			 -EBUSY);
	assert_non_null(strstr(err, "MSI-X enabled"));
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_MSIX_DMA), 1);

	command(m, MSIX, 0, 1);
	r0 = relay_injections(m);
	sreq0 = server_requests(m);
	dmas0 = vm_dev_reg(m->dev, TESTDEV_REG_DMAS);
	guest_run(m, VEC_MSIX, 4, n);
	for (unsigned int v = 0; v < 4; v++)
		settled(m, VEC_MSIX + v, q);
	assert_int_equal(relay_injections(m) - r0, 0);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_DMAS) - dmas0, n);
	ds = dbstats(m);
	assert_int_equal(ds.writes, n);
	assert_int_equal(ds.injected, n);
	assert_int_equal(ds.undelivered + ds.refused + ds.no_message +
			 ds.errors, 0);
	/* Over vfio-user, each one was a DMA_WRITE the client answered. */
	if (m->dev->vfu)
		assert_int_equal(server_requests(m) - sreq0, n);

	/* Masked by the guest: the device holds it, and writes it once when
	 * the guest unmasks. */
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, 1, true), 0);
	base = vm_dev_reg(m->dev, TESTDEV_REG_HELD);
	command(m, MSIX, 1, 3);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	dev_reg_moved(m, TESTDEV_REG_HELD, base, 3);
	settled(m, VEC_MSIX + 1, q);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, 1, false), 0);
	assert_int_equal(kg_wait_count(m->g, VEC_MSIX + 1, q + 1, WAIT_MS), 0);
	settled(m, VEC_MSIX + 1, q + 1);
	assert_int_equal(dbstats(m).injected, n + 1);

	/* The window unmapped: the write is refused where it is made. */
	assert_int_equal(vm_dev_unmap_doorbell(m->dev), 0);
	base = vm_dev_reg(m->dev, TESTDEV_REG_DMA_ERRORS);
	sreq0 = server_requests(m);
	command(m, MSIX, 2, 1);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	dev_reg_moved(m, TESTDEV_REG_DMA_ERRORS, base, 1);
	settled(m, VEC_MSIX + 2, q);
	assert_int_equal(dbstats(m).writes, n + 1);
	assert_int_equal(server_requests(m), sreq0);

	/* Off, with MSI-X off: eventfds carry the interrupts again. */
	assert_int_equal(kg_pci_msix(m->g, fn, 0, 0, 0, false), 0);
	assert_int_equal(vm_dev_set_msix_dma(m->dev, false, err, sizeof(err)),
			 0);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_MSIX_DMA), 0);
	assert_int_equal(kg_pci_msix(m->g, fn, VEC_MSIX, 4, 0, false), 0);
	command(m, MSIX, 0, 1);
	guest_run(m, VEC_MSIX, 4, 40);
	settled(m, VEC_MSIX, q + 10);
	settled(m, VEC_MSIX + 1, q + 1 + 10);
	settled(m, VEC_MSIX + 2, q + 10);
	settled(m, VEC_MSIX + 3, q + 10);
	assert_int_equal(dbstats(m).writes, n + 1);
}

static void test_doorbell_in_process(void **state)
{
	struct vm_machine_config cfg = { .eoi = IRQLINK_EOI_GUEST_PORT,
					 .msix_vectors = 64 };
	struct vm_fx f;
	struct vm_machine *m;

	(void)state;
	m = vm_fx_boot(&f, &cfg);
	doorbell_run(m);
	vm_fx_close_static(&f);
}

static void test_doorbell_remote(void **state)
{
	const char *const args[] = { "--msix", "64", NULL };
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	struct vm_machine_config cfg = { .eoi = IRQLINK_EOI_GUEST_PORT,
					 .msix_vectors = 64 };

	(void)state;
	devd_start(&d, args);
	cfg.remote = d.path;
	m = vm_fx_boot(&f, &cfg);
	assert_null(m->dev->td);
	doorbell_run(m);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doorbell_in_process),
		cmocka_unit_test(test_doorbell_remote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
