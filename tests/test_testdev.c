/* SPDX-License-Identifier: MIT */
/*
 * The test PCI device (devices/testdev.h) on its own, through its ops:
 * config space layout, region info, and that each BAR0 register drives the
 * right call into the device interrupt model -- every outcome counted on the
 * eventfds the model was given with SET_IRQS, and on the device's counters.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "testdev.h"

#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

static const struct testdev_config full = {
	.intx = true, .msi_vectors = 8, .msix_vectors = 64,
};

struct fixture {
	struct testdev *td;
	int fds_before;
};

static struct testdev *mk(const struct testdev_config *cfg)
{
	struct testdev *td = NULL;

	assert_int_equal(testdev_create(cfg, &td), 0);
	assert_non_null(td);
	return td;
}

static int set_irqs(struct testdev *td, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, const int *fds)
{
	struct vfio_irq_set s = { .argsz = sizeof(s), .flags = flags,
				  .index = index, .start = start,
				  .count = count };

	return testdev_pci_ops.set_irqs(td, &s, fds, fds ? count : 0);
}

static uint32_t cfg_read(struct testdev *td, uint32_t off, size_t len)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;
	size_t i;

	assert_int_equal(testdev_pci_ops.region_read(td,
			VFIO_PCI_CONFIG_REGION_INDEX, off, b, len), 0);
	for (i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void cfg_write(struct testdev *td, uint32_t off, uint32_t v, size_t len)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	assert_int_equal(testdev_pci_ops.region_write(td,
			VFIO_PCI_CONFIG_REGION_INDEX, off, b, len), 0);
}

static uint32_t reg(struct testdev *td, uint32_t off)
{
	uint8_t b[4];

	assert_int_equal(testdev_pci_ops.region_read(td, 0, off, b, 4), 0);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		(uint32_t)b[3] << 24;
}

static void wreg(struct testdev *td, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	assert_int_equal(testdev_pci_ops.region_write(td, 0, off, b, 4), 0);
}

static void command(struct testdev *td, uint32_t kind, uint32_t vec,
		    uint32_t count)
{
	wreg(td, TESTDEV_REG_KIND, kind);
	wreg(td, TESTDEV_REG_VECTOR, vec);
	wreg(td, TESTDEV_REG_COUNT, count);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	f->td = mk(&full);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	testdev_destroy(f->td);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

/* IDs, header, capability chain MSI -> MSI-X -> PCIe, pin, BAR types. */
static void test_config_layout(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;

	assert_int_equal(cfg_read(td, 0x00, 2), TESTDEV_VENDOR_ID);
	assert_int_equal(cfg_read(td, 0x02, 2), TESTDEV_DEVICE_ID);
	assert_int_equal(cfg_read(td, 0x06, 2) & 0x10, 0x10);
	assert_int_equal(cfg_read(td, 0x0e, 1), 0);
	assert_int_equal(cfg_read(td, 0x3d, 1), 1);
	assert_int_equal(cfg_read(td, 0x10, 4), 0x0);
	assert_int_equal(cfg_read(td, 0x18, 4), 0x4);
	assert_int_equal(cfg_read(td, 0x34, 1), TESTDEV_MSI_CAP);
	/* MSI: 8 vectors (MMC 3), 64-bit, per-vector masking. */
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP, 1), 0x05);
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP + 1, 1), TESTDEV_MSIX_CAP);
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP + 2, 2), 0x0186);
	/* MSI-X: 64 entries, table BAR2 @0, PBA BAR2 @0x1000. */
	assert_int_equal(cfg_read(td, TESTDEV_MSIX_CAP, 1), 0x11);
	assert_int_equal(cfg_read(td, TESTDEV_MSIX_CAP + 1, 1), TESTDEV_PCIE_CAP);
	assert_int_equal(cfg_read(td, TESTDEV_MSIX_CAP + 2, 2), 63);
	assert_int_equal(cfg_read(td, TESTDEV_MSIX_CAP + 4, 4), 2);
	assert_int_equal(cfg_read(td, TESTDEV_MSIX_CAP + 8, 4), 0x1002);
	assert_int_equal(cfg_read(td, TESTDEV_PCIE_CAP, 1), 0x10);
	assert_int_equal(cfg_read(td, TESTDEV_PCIE_CAP + 1, 1), 0);
	assert_int_equal(cfg_read(td, TESTDEV_PCIE_CAP + 2, 2), 0x0002);
	/* Writes other than the command register change nothing. */
	cfg_write(td, 0x00, 0xffffffff, 4);
	cfg_write(td, TESTDEV_MSI_CAP + 2, 0xffff, 2);
	assert_int_equal(cfg_read(td, 0x00, 2), TESTDEV_VENDOR_ID);
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP + 2, 2), 0x0186);
}

/* Without MSI and MSI-X the chain starts at PCIe; no pin without INTx. */
static void test_config_minimal(void **state)
{
	struct testdev_config c = { 0 };
	struct testdev *td = mk(&c);
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = INTX };

	(void)state;
	assert_int_equal(cfg_read(td, 0x34, 1), TESTDEV_PCIE_CAP);
	assert_int_equal(cfg_read(td, 0x3d, 1), 0);
	assert_int_equal(cfg_read(td, 0x18, 4), 0);
	assert_int_equal(testdev_pci_ops.get_irq_info(td, &ii), 0);
	assert_int_equal(ii.count, 0);
	ii.index = ERR;
	assert_int_equal(testdev_pci_ops.get_irq_info(td, &ii), 0);
	assert_int_equal(ii.count, 1);
	testdev_destroy(td);
}

static void test_region_info(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct testdev_config big = { .msix_vectors = 2048 };
	struct testdev *td2;
	struct irqlink_pci_ioeventfd db[2];

	ri.index = 0;
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), 0);
	assert_int_equal(ri.size, TESTDEV_BAR0_SIZE);
	ri.index = 1;
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), 0);
	assert_int_equal(ri.size, 0);
	ri.index = 2;
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), 0);
	assert_int_equal(ri.size, 0x2000);
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), 0);
	assert_int_equal(ri.size, TESTDEV_CONFIG_SIZE);
	ri.index = VFIO_PCI_NUM_REGIONS;
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), -EINVAL);
	/* Out-of-range accesses are refused, not truncated. */
	assert_int_equal(testdev_pci_ops.region_read(td, 0,
			 TESTDEV_BAR0_SIZE - 2, db, 4), -EINVAL);

	/* 2048 entries: 32 KiB table, PBA at 0x8000, BAR 64 KiB. */
	td2 = mk(&big);
	ri.index = 2;
	assert_int_equal(testdev_pci_ops.get_region_info(td2, &ri), 0);
	assert_int_equal(ri.size, 0x10000);
	assert_int_equal(cfg_read(td2, TESTDEV_MSIX_CAP + 2, 2), 2047);
	assert_int_equal(cfg_read(td2, TESTDEV_MSIX_CAP + 8, 4), 0x8002);
	testdev_destroy(td2);

	assert_int_equal(testdev_pci_ops.get_ioeventfds(td, db, 2), 1);
	assert_int_equal(db[0].region, 0);
	assert_int_equal(db[0].offset, TESTDEV_REG_DOORBELL);
	assert_int_equal(db[0].size, 4);
	assert_int_equal(db[0].fd, testdev_doorbell_fd(td));
	assert_int_equal(reg(td, TESTDEV_REG_ID), TESTDEV_ID_VALUE);
}

/* MSI command: K signals on the chosen vector's eventfd, none elsewhere. */
static void test_msi_command(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int e[4], i;

	for (i = 0; i < 4; i++)
		e[i] = tu_eventfd();
	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSI, 0, 4, e), 0);
	command(td, MSI, 2, 3);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(e[2]), 3);
	assert_int_equal(tu_count(e[0]) + tu_count(e[1]) + tu_count(e[3]), 0);
	assert_int_equal(reg(td, TESTDEV_REG_DONE), 1);
	assert_int_equal(reg(td, TESTDEV_REG_RAISED), 3);
	assert_int_equal(reg(td, TESTDEV_REG_SIGNALLED), 3);
	assert_int_equal(reg(td, TESTDEV_REG_HELD), 0);
	assert_int_equal(reg(td, TESTDEV_REG_KIND), MSI);
	assert_int_equal(reg(td, TESTDEV_REG_VECTOR), 2);
	assert_int_equal(reg(td, TESTDEV_REG_COUNT), 3);

	/* A vector past the enabled block exists in the capability but has
	 * no host vector: the model drops it (held, not an error). */
	command(td, MSI, 6, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(reg(td, TESTDEV_REG_HELD), 1);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 0);
	/* Outside the capability: refused by the model. */
	command(td, MSI, 8, 5);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 1);
	assert_int_equal(reg(td, TESTDEV_REG_DONE), 3);
	command(td, 7, 0, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 2);
	for (i = 0; i < 4; i++)
		close(e[i]);
}

/* MSI Pending Bits in config space come from the model. */
static void test_msi_pending_register(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int e[2] = { tu_eventfd(), tu_eventfd() };

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSI, 0, 2, e), 0);
	assert_int_equal(set_irqs(td, A_MASK | D_NONE, MSI, 1, 1, NULL), 0);
	command(td, MSI, 1, 4);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(e[1]), 0);
	assert_int_equal(reg(td, TESTDEV_REG_HELD), 4);
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP + 0x14, 4), 0x2);
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP + 0x14, 1), 0x2);
	assert_int_equal(set_irqs(td, A_UNMASK | D_NONE, MSI, 1, 1, NULL), 0);
	assert_int_equal(tu_count(e[1]), 1);
	assert_int_equal(cfg_read(td, TESTDEV_MSI_CAP + 0x14, 4), 0);
	close(e[0]);
	close(e[1]);
}

/* MSI-X: a masked vector latches into the PBA (read through BAR2); the
 * unmask replays it once. */
static void test_msix_pba(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int e = tu_eventfd();
	uint64_t pba[2] = { 0, 0 };
	uint8_t tbl[16];

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSIX, 0, 64, NULL), 0);
	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSIX, 37, 1, &e), 0);
	assert_int_equal(set_irqs(td, A_MASK | D_NONE, MSIX, 37, 1, NULL), 0);
	command(td, MSIX, 37, 5);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(e), 0);
	assert_int_equal(testdev_pci_ops.region_read(td, 2, 0x1000, pba, 16), 0);
	assert_int_equal(pba[0], UINT64_C(1) << 37);
	assert_int_equal(pba[1], 0);
	/* Byte-wide read of the same bit. */
	assert_int_equal(testdev_pci_ops.region_read(td, 2, 0x1004, pba, 1), 0);
	assert_int_equal(((uint8_t *)pba)[0], 1u << 5);
	/* The device's own table is the host view: nothing written yet. */
	memset(tbl, 0xaa, sizeof(tbl));
	assert_int_equal(testdev_pci_ops.region_read(td, 2, 0, tbl, 16), 0);
	assert_int_equal(tbl[0] | tbl[12], 0);

	assert_int_equal(set_irqs(td, A_UNMASK | D_NONE, MSIX, 37, 1, NULL), 0);
	assert_int_equal(tu_count(e), 1);
	assert_int_equal(testdev_pci_ops.region_read(td, 2, 0x1000, pba, 8), 0);
	assert_int_equal(pba[0], 0);
	command(td, MSIX, 37, 2);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(e), 2);
	close(e);
}

/* INTx is a level: held in STATUS until deasserted or cleared; automask;
 * an unmask (signal on the unmask eventfd, served by testdev_process())
 * fires again while the level is held. */
static void test_intx_level(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int trig = tu_eventfd(), unmask = tu_eventfd();

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, INTX, 0, 1, &trig), 0);
	assert_int_equal(set_irqs(td, A_UNMASK | D_EFD, INTX, 0, 1, &unmask), 0);
	wreg(td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 1);
	assert_int_equal(reg(td, TESTDEV_REG_STATUS), TESTDEV_STATUS_INTX);
	assert_int_equal(cfg_read(td, 0x06, 2) & 0x08, 0x08);
	/* Masked now: a second assertion is not signalled. */
	command(td, INTX, 0, 3);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(trig), 0);
	assert_int_equal(reg(td, TESTDEV_REG_HELD), 3);
	/* EOI while still asserted: fires again. */
	tu_signal(unmask);
	assert_int_equal(testdev_process(td), 0);
	assert_int_equal(tu_count(trig), 1);
	/* The guest clears STATUS: line down; the next EOI unmasks quietly. */
	wreg(td, TESTDEV_REG_STATUS, TESTDEV_STATUS_INTX);
	assert_int_equal(reg(td, TESTDEV_REG_STATUS), 0);
	assert_int_equal(cfg_read(td, 0x06, 2) & 0x08, 0);
	tu_signal(unmask);
	assert_int_equal(testdev_process(td), 0);
	assert_int_equal(tu_count(trig), 0);
	assert_int_equal(reg(td, TESTDEV_REG_UNMASKS), 2);
	/* INTX register: 1 asserts (fires: unmasked), 0 deasserts. */
	wreg(td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 1);
	wreg(td, TESTDEV_REG_INTX, 0);
	assert_int_equal(reg(td, TESTDEV_REG_STATUS), 0);
	/* INTx with a vector other than 0 is refused. */
	command(td, INTX, 1, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 1);
	close(trig);
	close(unmask);
}

/* The command register's Interrupt Disable reaches the model. */
static void test_intx_disable(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int trig = tu_eventfd();

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, INTX, 0, 1, &trig), 0);
	cfg_write(td, 0x04, 0x0400, 2);
	assert_int_equal(cfg_read(td, 0x04, 2), 0x0400);
	wreg(td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 0);
	/* A byte write of the upper half clears it: the held line fires. */
	cfg_write(td, 0x05, 0x00, 1);
	assert_int_equal(tu_count(trig), 1);
	/* Set again through a dword write that also covers status. */
	cfg_write(td, 0x04, 0xffff0400, 4);
	assert_int_equal(cfg_read(td, 0x04, 2), 0x0400);
	assert_int_equal(cfg_read(td, 0x06, 2) & ~0x08u, 0x0010);
	close(trig);
}

/* ERR through the command interface. */
static void test_err_command(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int e = tu_eventfd();

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, ERR, 0, 1, &e), 0);
	command(td, ERR, 0, 2);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(e), 2);
	assert_int_equal(reg(td, TESTDEV_REG_SIGNALLED), 2);
	close(e);
}

/* Doorbell writes counted on the eventfd (what an ioeventfd does) run the
 * command once each, in testdev_process() and in the device thread. */
static void test_doorbell_eventfd(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int e[1] = { tu_eventfd() };
	int i;

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSI, 0, 1, e), 0);
	command(td, MSI, 0, 2);
	assert_int_equal(testdev_process(td), 0);
	tu_signal(testdev_doorbell_fd(td));
	tu_signal(testdev_doorbell_fd(td));
	assert_int_equal(testdev_process(td), 2);
	assert_int_equal(tu_count(e[0]), 4);
	assert_int_equal(reg(td, TESTDEV_REG_DONE), 2);

	assert_int_equal(testdev_start(td), 0);
	assert_int_equal(testdev_start(td), -EALREADY);
	tu_signal(testdev_doorbell_fd(td));
	for (i = 0; i < 2000 && reg(td, TESTDEV_REG_DONE) < 3; i++)
		usleep(1000);
	assert_int_equal(reg(td, TESTDEV_REG_DONE), 3);
	assert_int_equal(tu_count(e[0]), 2);
	assert_int_equal(testdev_stop(td), 0);
	assert_int_equal(testdev_stop(td), 0);
	close(e[0]);
}

/* The device thread also serves the model's INTx unmask eventfd. */
static void test_thread_unmask(void **state)
{
	struct testdev *td = ((struct fixture *)*state)->td;
	int trig = tu_eventfd(), unmask = tu_eventfd(), i;

	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, INTX, 0, 1, &trig), 0);
	assert_int_equal(set_irqs(td, A_UNMASK | D_EFD, INTX, 0, 1, &unmask), 0);
	assert_int_equal(testdev_start(td), 0);
	wreg(td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 1);
	tu_signal(unmask);
	for (i = 0; i < 2000 && reg(td, TESTDEV_REG_UNMASKS) < 1; i++)
		usleep(1000);
	assert_int_equal(reg(td, TESTDEV_REG_UNMASKS), 1);
	assert_int_equal(tu_count(trig), 1);
	assert_int_equal(testdev_stop(td), 0);
	close(trig);
	close(unmask);
}

/* A bus master's memory, as the test sees it. */
struct fake_bus {
	uint8_t mem[64];
	int calls;
};

static int fake_dma(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct fake_bus *b = opaque;

	b->calls++;
	if (addr > sizeof(b->mem) || len > sizeof(b->mem) - addr)
		return -EFAULT;
	memcpy(b->mem + addr, buf, len);
	return 0;
}

/* DMA_DATA writes through config.dma_write at DMA_HI:DMA_LO, only with Bus
 * Master set; refusals count in DMA_ERRORS. */
static void test_dma(void **state)
{
	struct fake_bus bus = { .calls = 0 };
	struct testdev_config cfg = full;
	struct testdev *td, *none;

	(void)state;
	cfg.dma_write = fake_dma;
	cfg.dma_opaque = &bus;
	td = mk(&cfg);
	wreg(td, TESTDEV_REG_DMA_LO, 8);
	wreg(td, TESTDEV_REG_DMA_HI, 0);
	assert_int_equal(reg(td, TESTDEV_REG_DMA_LO), 8);
	/* Bus Master clear: the device may not write memory. */
	wreg(td, TESTDEV_REG_DMA_DATA, 0xa1b2c3d4);
	assert_int_equal(bus.calls, 0);
	assert_int_equal(reg(td, TESTDEV_REG_DMA_ERRORS), 1);
	cfg_write(td, 0x04, 0x0004, 2);
	wreg(td, TESTDEV_REG_DMA_DATA, 0xa1b2c3d4);
	assert_int_equal(bus.calls, 1);
	assert_int_equal(reg(td, TESTDEV_REG_DMAS), 1);
	assert_int_equal(bus.mem[8] | bus.mem[9] << 8 | bus.mem[10] << 16 |
			 (uint32_t)bus.mem[11] << 24, 0xa1b2c3d4);
	/* The bus refuses: counted, not done. */
	wreg(td, TESTDEV_REG_DMA_HI, 1);
	assert_int_equal(reg(td, TESTDEV_REG_DMA_HI), 1);
	wreg(td, TESTDEV_REG_DMA_DATA, 5);
	assert_int_equal(bus.calls, 2);
	assert_int_equal(reg(td, TESTDEV_REG_DMAS), 1);
	assert_int_equal(reg(td, TESTDEV_REG_DMA_ERRORS), 2);
	testdev_destroy(td);

	/* Without a bus to master, every DMA is refused. */
	none = mk(&full);
	cfg_write(none, 0x04, 0x0004, 2);
	wreg(none, TESTDEV_REG_DMA_DATA, 1);
	assert_int_equal(reg(none, TESTDEV_REG_DMA_ERRORS), 1);
	assert_int_equal(reg(none, TESTDEV_REG_DMAS), 0);
	testdev_destroy(none);
}

/* MSI-X by DMA: a vector is its host-view entry's data written at its
 * address; masks and pending stay the model's; unprogrammed entries and
 * a device that may not master the bus are refused and counted. */
static void test_msix_by_dma(void **state)
{
	struct fake_bus bus = { .calls = 0 };
	struct testdev_config cfg = full;
	uint8_t entry[16] = { 0 }, back[16];
	struct testdev *td, *bad = NULL;
	int e = tu_eventfd();

	(void)state;
	cfg.msix_by_dma = true;
	assert_int_equal(testdev_create(&cfg, &bad), -EINVAL); /* no bus */
	cfg.dma_write = fake_dma;
	cfg.dma_opaque = &bus;
	td = mk(&cfg);
	/* The host programs entry 5: address 16, data 0x1234. Entry 6 it
	 * leaves at address 0, data 0x99. */
	entry[0] = 16;
	entry[8] = 0x34;
	entry[9] = 0x12;
	assert_int_equal(testdev_pci_ops.region_write(td, 2, 5 * 16, entry,
						      16), 0);
	assert_int_equal(testdev_pci_ops.region_read(td, 2, 5 * 16, back, 16),
			 0);
	assert_int_equal(memcmp(entry, back, 16), 0);
	memset(entry, 0, sizeof(entry));
	entry[8] = 0x99;
	assert_int_equal(testdev_pci_ops.region_write(td, 2, 6 * 16, entry,
						      16), 0);
	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSIX, 0, 8, NULL), 0);
	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSIX, 5, 1, &e), 0);

	/* Bus mastering off: the write is refused, the raise not sent. */
	command(td, MSIX, 5, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(bus.calls, 0);
	assert_int_equal(reg(td, TESTDEV_REG_DMA_ERRORS), 1);
	assert_int_equal(reg(td, TESTDEV_REG_SIGNALLED), 0);

	cfg_write(td, 0x04, 0x0004, 2);
	command(td, MSIX, 5, 3);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(bus.calls, 3);
	assert_int_equal(bus.mem[16] | bus.mem[17] << 8, 0x1234);
	assert_int_equal(tu_count(e), 0);       /* no eventfd on this path */
	assert_int_equal(reg(td, TESTDEV_REG_DMAS), 3);
	assert_int_equal(reg(td, TESTDEV_REG_SIGNALLED), 3);
	assert_int_equal(testdev_signals(td, MSIX, 5), 3);

	/* Masked: held in the PBA; the unmask writes it once. */
	assert_int_equal(set_irqs(td, A_MASK | D_NONE, MSIX, 5, 1, NULL), 0);
	command(td, MSIX, 5, 4);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(bus.calls, 3);
	/* 4 and the refused write: neither reached the bus. */
	assert_int_equal(reg(td, TESTDEV_REG_HELD), 5);
	memset(bus.mem, 0, sizeof(bus.mem));
	assert_int_equal(set_irqs(td, A_UNMASK | D_NONE, MSIX, 5, 1, NULL), 0);
	assert_int_equal(bus.calls, 4);
	assert_int_equal(bus.mem[16] | bus.mem[17] << 8, 0x1234);
	assert_int_equal(reg(td, TESTDEV_REG_DMAS), 4);

	/* Entry 6 was never given an address: address 0 is not a doorbell
	 * here (the fake bus takes it, so this one lands at 0), and entry 9
	 * is past the enabled block: dropped by the model, no write. */
	command(td, MSIX, 6, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(bus.calls, 5);
	assert_int_equal(bus.mem[0], 0x99);
	command(td, MSIX, 9, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(bus.calls, 5);
	assert_int_equal(reg(td, TESTDEV_REG_HELD), 6);

	/* The mode register: fixed while MSI-X is on, free once it is off. */
	assert_int_equal(reg(td, TESTDEV_REG_MSIX_DMA), 1);
	wreg(td, TESTDEV_REG_MSIX_DMA, 0);
	assert_int_equal(reg(td, TESTDEV_REG_MSIX_DMA), 1);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 1);
	assert_int_equal(set_irqs(td, A_TRIG | D_NONE, MSIX, 0, 0, NULL), 0);
	wreg(td, TESTDEV_REG_MSIX_DMA, 0);
	assert_int_equal(reg(td, TESTDEV_REG_MSIX_DMA), 0);
	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSIX, 0, 8, NULL), 0);
	assert_int_equal(set_irqs(td, A_TRIG | D_EFD, MSIX, 5, 1, &e), 0);
	command(td, MSIX, 5, 1);
	wreg(td, TESTDEV_REG_DOORBELL, 1);
	assert_int_equal(tu_count(e), 1);       /* eventfds again */
	assert_int_equal(bus.calls, 5);
	testdev_destroy(td);

	/* No bus to master: the mode cannot be turned on. */
	td = mk(&full);
	wreg(td, TESTDEV_REG_MSIX_DMA, 1);
	assert_int_equal(reg(td, TESTDEV_REG_MSIX_DMA), 0);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 1);
	testdev_destroy(td);
	close(e);
}

/* The memory BAR: one memfd behind the device's own accesses, region
 * reads and writes, and whoever maps the areas it offers (all but the
 * first page). */
static void test_mem_bar(void **state)
{
	struct testdev_config cfg = full;
	struct irqlink_pci_region_mmap mm;
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = TESTDEV_MEM_BAR };
	int fds = tu_open_fds();
	struct testdev *td;
	uint32_t v = 0x11223344;
	uint8_t *map;

	(void)state;
	td = mk(&full);
	assert_int_equal(testdev_pci_ops.get_region_mmap(td, TESTDEV_MEM_BAR,
							 &mm), -ENOENT);
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), 0);
	assert_int_equal(ri.size, 0);
	testdev_destroy(td);

	cfg.mem_bar = true;
	td = mk(&cfg);
	assert_int_equal(testdev_pci_ops.get_region_info(td, &ri), 0);
	assert_int_equal(ri.size, TESTDEV_MEM_SIZE);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(cfg_read(td, 0x20, 4), 0);     /* mem32 BAR */
	assert_int_equal(testdev_pci_ops.get_region_mmap(td, TESTDEV_MEM_BAR,
							 &mm), 0);
	assert_int_equal(mm.nareas, 1);
	assert_int_equal(mm.areas[0].offset, TESTDEV_MEM_TRAP);
	assert_int_equal(mm.areas[0].size, TESTDEV_MEM_SIZE - TESTDEV_MEM_TRAP);
	map = mmap(NULL, TESTDEV_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   mm.fd, (off_t)mm.fd_offset);
	assert_true(map != MAP_FAILED);

	/* A mapper's write is what the device reads, and the other way. */
	memcpy(map + 0x2000, &v, 4);
	wreg(td, TESTDEV_REG_MEM_OFF, 0x2000);
	assert_int_equal(reg(td, TESTDEV_REG_MEM_DATA), 0x11223344);
	wreg(td, TESTDEV_REG_MEM_DATA, 0xa5a5a5a5);
	memcpy(&v, map + 0x2000, 4);
	assert_int_equal(v, 0xa5a5a5a5);
	/* Region accesses reach all of it, the trapped page too. */
	v = 0x600d;
	assert_int_equal(testdev_pci_ops.region_write(td, TESTDEV_MEM_BAR, 0x10,
						      &v, 4), 0);
	wreg(td, TESTDEV_REG_MEM_OFF, 0x10);
	assert_int_equal(reg(td, TESTDEV_REG_MEM_DATA), 0x600d);
	assert_int_equal(testdev_pci_ops.region_read(td, TESTDEV_MEM_BAR,
						     0x2000, &v, 4), 0);
	assert_int_equal(v, 0xa5a5a5a5);
	assert_int_equal(testdev_pci_ops.region_read(td, TESTDEV_MEM_BAR,
			 TESTDEV_MEM_SIZE - 2, &v, 4), -EINVAL);
	/* A word the memory does not have: an error, nothing touched. */
	wreg(td, TESTDEV_REG_MEM_OFF, 0x2002);
	assert_int_equal(reg(td, TESTDEV_REG_MEM_DATA), 0);
	wreg(td, TESTDEV_REG_MEM_OFF, TESTDEV_MEM_SIZE);
	wreg(td, TESTDEV_REG_MEM_DATA, 1);
	assert_int_equal(reg(td, TESTDEV_REG_ERRORS), 2);
	munmap(map, TESTDEV_MEM_SIZE);
	testdev_destroy(td);
	assert_int_equal(tu_open_fds(), fds);
}

static void test_bad_shapes(void **state)
{
	struct testdev_config c = { .msi_vectors = 3 };
	struct testdev *td = NULL;

	(void)state;
	assert_int_equal(testdev_create(&c, &td), -EINVAL);
	c.msi_vectors = 0;
	c.msix_vectors = 2049;
	assert_int_equal(testdev_create(&c, &td), -EINVAL);
	assert_int_equal(testdev_create(NULL, &td), -EINVAL);
	assert_null(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_pending_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_pba, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_unmask, setup, teardown),
		cmocka_unit_test(test_bad_shapes),
		cmocka_unit_test(test_dma),
		cmocka_unit_test(test_msix_by_dma),
		cmocka_unit_test(test_mem_bar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
