/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue without KVM (config.vm NULL): virtual config space, BAR
 * sizing and decoding, the command register, capability walking, MSI and
 * MSI-X register semantics (read-only bits, mask bits), PBA reads, INTx
 * wiring, ERR and REQ delivery and the mirroring of guest state into the
 * device.
 *
 * The device is the test device (devices/testdev.h) behind a recording shim
 * that counts every SET_IRQS by index and action and can inject failures,
 * hide an interrupt index or corrupt the config space the device reports.
 * Interrupts are counted on the glue's own trigger eventfds
 * (irqlink_pci_trigger_fd()), which nothing else reads without a VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "testdev.h"

#include <irqlink/pci.h>

#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX
#define REQ VFIO_PCI_REQ_IRQ_INDEX

#define BAR0_GPA 0xc0000000u
#define BAR2_GPA 0xd0000000u
#define MSIX_TABLE BAR2_GPA
#define MSIX_PBA (BAR2_GPA + 0x1000u)

/* ---- a recording shim around the test device ------------------------- */

enum { ACT_TRIG, ACT_MASK, ACT_UNMASK, ACT_N };

struct shim {
	struct testdev *td;
	unsigned int calls[VFIO_PCI_NUM_IRQS][ACT_N];
	unsigned int trig_fds[VFIO_PCI_NUM_IRQS];  /* fds passed in TRIGGER */
	unsigned int cfg_writes;
	int fail_set_irqs;      /* next SET_IRQS returns this, once */
	int patch_off;          /* config byte to corrupt, 0 = none */
	uint32_t patch_val;     /* with this 32-bit value (little endian) */
	/* Per index: GET_IRQ_INFO answers info_ret, or reports count 0 with
	 * info_none; an eventfd TRIGGER answers trig_ret. */
	int info_ret[VFIO_PCI_NUM_IRQS];
	bool info_none[VFIO_PCI_NUM_IRQS];
	int trig_ret[VFIO_PCI_NUM_IRQS];
	int trig_fd[VFIO_PCI_NUM_IRQS];    /* first fd of the last TRIGGER */
	/* TRIGGER DATA_NONE count 0 calls, and whether trig_fd was still
	 * open in the caller at the last one. */
	unsigned int releases[VFIO_PCI_NUM_IRQS];
	bool open_at_release[VFIO_PCI_NUM_IRQS];
};

static int sh_region_info(void *o, struct vfio_region_info *ri)
{
	return testdev_pci_ops.get_region_info(((struct shim *)o)->td, ri);
}

static int sh_read(void *o, uint32_t region, uint64_t off, void *data,
		   size_t len)
{
	struct shim *s = o;
	int r = testdev_pci_ops.region_read(s->td, region, off, data, len);
	size_t i;

	if (!r && s->patch_off && region == VFIO_PCI_CONFIG_REGION_INDEX)
		for (i = 0; i < 4; i++)
			if ((uint64_t)s->patch_off + i >= off &&
			    (uint64_t)s->patch_off + i < off + len)
				((uint8_t *)data)[s->patch_off + i - off] =
					(uint8_t)(s->patch_val >> (8 * i));
	return r;
}

static int sh_write(void *o, uint32_t region, uint64_t off, const void *data,
		    size_t len)
{
	struct shim *s = o;

	if (region == VFIO_PCI_CONFIG_REGION_INDEX)
		s->cfg_writes++;
	return testdev_pci_ops.region_write(s->td, region, off, data, len);
}

static int sh_irq_info(void *o, struct vfio_irq_info *ii)
{
	struct shim *s = o;
	bool known = ii->index < VFIO_PCI_NUM_IRQS;
	int r;

	if (known && s->info_ret[ii->index])
		return s->info_ret[ii->index];
	r = testdev_pci_ops.get_irq_info(s->td, ii);
	if (!r && known && s->info_none[ii->index])
		ii->count = 0;
	return r;
}

/* Record a TRIGGER; returns the failure to inject, or 0. */
static int sh_trigger(struct shim *s, const struct vfio_irq_set *set,
		      const int *fds, size_t nfds)
{
	uint32_t i = set->index;

	s->calls[i][ACT_TRIG]++;
	s->trig_fds[i] += (unsigned int)nfds;
	if (nfds) {
		s->trig_fd[i] = fds[0];
		return s->trig_ret[i];
	}
	if ((set->flags & VFIO_IRQ_SET_DATA_NONE) && !set->count) {
		s->releases[i]++;
		s->open_at_release[i] = fcntl(s->trig_fd[i], F_GETFD) >= 0;
	}
	return 0;
}

static int sh_set_irqs(void *o, const struct vfio_irq_set *set,
		       const int *fds, size_t nfds)
{
	struct shim *s = o;
	int r = 0;

	if (set->index < VFIO_PCI_NUM_IRQS) {
		if (set->flags & VFIO_IRQ_SET_ACTION_TRIGGER)
			r = sh_trigger(s, set, fds, nfds);
		if (set->flags & VFIO_IRQ_SET_ACTION_MASK)
			s->calls[set->index][ACT_MASK]++;
		if (set->flags & VFIO_IRQ_SET_ACTION_UNMASK)
			s->calls[set->index][ACT_UNMASK]++;
	}
	if (r)
		return r;
	if (s->fail_set_irqs) {
		r = s->fail_set_irqs;
		s->fail_set_irqs = 0;
		return r;
	}
	return testdev_pci_ops.set_irqs(s->td, set, fds, nfds);
}

static int sh_ioeventfds(void *o, struct irqlink_pci_ioeventfd *out,
			 size_t max)
{
	return testdev_pci_ops.get_ioeventfds(((struct shim *)o)->td, out, max);
}

static const struct irqlink_pci_ops shim_ops = {
	.get_region_info = sh_region_info,
	.region_read = sh_read,
	.region_write = sh_write,
	.get_irq_info = sh_irq_info,
	.set_irqs = sh_set_irqs,
	.get_ioeventfds = sh_ioeventfds,
};

/* ---- fixture ------------------------------------------------------------ */

struct fx {
	int fds_before;
	struct shim sh;
	struct irqlink_pci *pci;
};

static const struct testdev_config full = {
	.intx = true, .msi_vectors = 8, .msix_vectors = 64,
};

static void fx_open(struct fx *f, const struct testdev_config *dc)
{
	struct irqlink_pci_config pc = { .ops = &shim_ops, .opaque = &f->sh };

	assert_int_equal(testdev_create(dc, &f->sh.td), 0);
	assert_int_equal(irqlink_pci_create(&pc, &f->pci), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	fx_open(f, &full);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	irqlink_pci_destroy(f->pci);
	testdev_destroy(f->sh.td);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

static uint32_t rd(struct irqlink_pci *p, uint32_t off, uint32_t size)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(irqlink_pci_config_read(p, off, size, &v), 0);
	return v;
}

static void wr(struct irqlink_pci *p, uint32_t off, uint32_t size, uint32_t v)
{
	assert_int_equal(irqlink_pci_config_write(p, off, size, v), 0);
}

static uint64_t mrd(struct irqlink_pci *p, uint64_t a, uint32_t size)
{
	uint64_t v = 0;

	assert_int_equal(irqlink_pci_mmio(p, a, &v, size, false), 1);
	return v;
}

static void mwr(struct irqlink_pci *p, uint64_t a, uint32_t size, uint64_t v)
{
	assert_int_equal(irqlink_pci_mmio(p, a, &v, size, true), 1);
}

/* Program BAR0 and BAR2 and turn on memory decoding. */
static void map_bars(struct irqlink_pci *p)
{
	wr(p, 0x10, 4, BAR0_GPA);
	wr(p, 0x18, 4, BAR2_GPA);
	wr(p, 0x1c, 4, 0);
	wr(p, 0x04, 2, 0x0002);
}

static void dev_cmd(struct fx *f, uint32_t kind, uint32_t vec, uint32_t n)
{
	testdev_reg_write(f->sh.td, TESTDEV_REG_KIND, kind);
	testdev_reg_write(f->sh.td, TESTDEV_REG_VECTOR, vec);
	testdev_reg_write(f->sh.td, TESTDEV_REG_COUNT, n);
	testdev_reg_write(f->sh.td, TESTDEV_REG_DOORBELL, 1);
}

static int tfd(struct fx *f, unsigned int index, unsigned int v)
{
	return irqlink_pci_trigger_fd(f->pci, index, v);
}

static struct irqlink_pci_stats stats(struct fx *f)
{
	struct irqlink_pci_stats st;

	irqlink_pci_get_stats(f->pci, &st);
	return st;
}

/* ---- tests -------------------------------------------------------------- */

static void test_create_args(void **state)
{
	struct fx *f = *state;
	struct irqlink_pci_config pc = { .ops = &shim_ops, .opaque = &f->sh };
	struct irqlink_pci_ops bad = shim_ops;
	struct irqlink_pci *p = NULL;

	assert_int_equal(irqlink_pci_create(NULL, &p), -EINVAL);
	assert_int_equal(irqlink_pci_create(&pc, NULL), -EINVAL);
	pc.flags = 1;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	pc.flags = 0;
	pc.bypass = (struct irqlink_bypass *)&bad; /* without a relay */
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	pc.bypass = NULL;
	pc.relay = (struct irqlink_relay *)&bad;   /* without a VM */
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	pc.relay = NULL;
	bad.set_irqs = NULL;
	pc.ops = &bad;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	assert_null(p);
	/* Bad accesses change nothing and say so. */
	assert_int_equal(irqlink_pci_config_read(f->pci, 0, 3, &(uint32_t){0}),
			 -EINVAL);
	assert_int_equal(irqlink_pci_config_read(f->pci, 2, 4, &(uint32_t){0}),
			 -EINVAL);
	assert_int_equal(irqlink_pci_config_write(f->pci, 0x1000, 1, 0), -EINVAL);
	assert_int_equal(irqlink_pci_config_write(f->pci, 0x0ffe, 4, 0), -EINVAL);
	assert_int_equal(irqlink_pci_mmio(f->pci, BAR0_GPA, &(uint64_t){0}, 3,
					  false), -EINVAL);
}

/* The reset state mirrored into the device: every MSI-X entry masked with
 * ONE SET_IRQS MASK, nothing else enabled. */
static void test_reset_state(void **state)
{
	struct fx *f = *state;

	assert_int_equal(f->sh.calls[MSIX][ACT_MASK], 1);
	assert_int_equal(f->sh.calls[MSIX][ACT_TRIG], 0);
	assert_int_equal(f->sh.calls[MSI][ACT_MASK] +
			 f->sh.calls[MSI][ACT_UNMASK] +
			 f->sh.calls[MSI][ACT_TRIG], 0);
	assert_int_equal(f->sh.calls[INTX][ACT_TRIG], 0);
	assert_int_equal(rd(f->pci, 0x04, 2), 0);
	assert_int_equal(stats(f).host_vectors, 0);
	assert_int_equal(stats(f).errors, 0);
}

static void test_bar_sizing(void **state)
{
	struct fx *f = *state;
	struct irqlink_pci_bar b;
	int i;

	/* BAR0: 32-bit memory, 4 KiB. */
	assert_int_equal(rd(f->pci, 0x10, 4), 0);
	wr(f->pci, 0x10, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x10, 4), 0xfffff000);
	/* BAR1 not implemented: reads zero whatever is written. */
	wr(f->pci, 0x14, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x14, 4), 0);
	/* BAR2/3: 64-bit memory, 8 KiB (64 entries + PBA page). */
	assert_int_equal(rd(f->pci, 0x18, 4), 0x4);
	wr(f->pci, 0x18, 4, 0xffffffff);
	wr(f->pci, 0x1c, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x18, 4), 0xffffe004);
	assert_int_equal(rd(f->pci, 0x1c, 4), 0xffffffff);
	for (i = 0x20; i <= 0x24; i += 4) {
		wr(f->pci, (uint32_t)i, 4, 0xffffffff);
		assert_int_equal(rd(f->pci, (uint32_t)i, 4), 0);
	}
	/* No ROM. */
	wr(f->pci, 0x30, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x30, 4), 0);

	/* Programming: address bits below the size are read-only. */
	wr(f->pci, 0x10, 4, BAR0_GPA | 0xabc);
	assert_int_equal(rd(f->pci, 0x10, 4), BAR0_GPA);
	/* Byte-wide programming of the upper half of a 64-bit BAR. */
	wr(f->pci, 0x18, 4, 0x12344000);
	wr(f->pci, 0x1c, 4, 0);
	wr(f->pci, 0x1f, 1, 0x01);
	assert_int_equal(irqlink_pci_bar_info(f->pci, 2, &b), 0);
	assert_true(b.is64);
	assert_false(b.io);
	assert_int_equal(b.size, 0x2000);
	assert_int_equal(b.addr, UINT64_C(0x0100000012344000));
	assert_false(b.mapped);
	assert_int_equal(irqlink_pci_bar_info(f->pci, 3, &b), 0);
	assert_int_equal(b.size, 0);
	assert_int_equal(irqlink_pci_bar_info(f->pci, 6, &b), -EINVAL);
}

/* Decoding follows the command register's Memory Space bit and the
 * programmed address; accesses reach the device's BAR0 registers. */
static void test_bar_decode(void **state)
{
	struct fx *f = *state;
	struct irqlink_pci_bar b;
	uint64_t v;

	wr(f->pci, 0x10, 4, BAR0_GPA);
	assert_int_equal(irqlink_pci_mmio(f->pci, BAR0_GPA, &v, 4, false), 0);
	wr(f->pci, 0x04, 2, 0x0002);
	assert_int_equal(irqlink_pci_bar_info(f->pci, 0, &b), 0);
	assert_true(b.mapped);
	assert_int_equal(mrd(f->pci, BAR0_GPA + TESTDEV_REG_ID, 4),
			 TESTDEV_ID_VALUE);
	mwr(f->pci, BAR0_GPA + TESTDEV_REG_COUNT, 4, 77);
	assert_int_equal(testdev_reg_read(f->sh.td, TESTDEV_REG_COUNT), 77);
	/* Just past the BAR: not ours. Straddling the end: refused. */
	assert_int_equal(irqlink_pci_mmio(f->pci, BAR0_GPA + 0x1000, &v, 4,
					  false), 0);
	assert_int_equal(irqlink_pci_mmio(f->pci, BAR0_GPA + 0xffe, &v, 4,
					  false), -EINVAL);
	/* Moving the BAR moves the decode window. */
	wr(f->pci, 0x10, 4, BAR0_GPA + 0x10000);
	assert_int_equal(irqlink_pci_mmio(f->pci, BAR0_GPA, &v, 4, false), 0);
	assert_int_equal(mrd(f->pci, BAR0_GPA + 0x10000, 4), TESTDEV_ID_VALUE);
	/* Memory decoding off: nothing decodes. */
	wr(f->pci, 0x04, 2, 0);
	assert_int_equal(irqlink_pci_mmio(f->pci, BAR0_GPA + 0x10000, &v, 4,
					  false), 0);
	/* I/O space accesses never hit a memory BAR. */
	wr(f->pci, 0x04, 2, 0x0003);
	assert_int_equal(irqlink_pci_pio(f->pci, BAR0_GPA + 0x10000, &v, 4,
					 false), 0);
	assert_int_equal(stats(f).ioeventfds, 0);  /* no VM */
}

static void test_command_register(void **state)
{
	struct fx *f = *state;
	uint8_t devcmd[2];

	wr(f->pci, 0x04, 2, 0xffff);
	assert_int_equal(rd(f->pci, 0x04, 2), 0x0547);
	/* Written through to the device (its view of Interrupt Disable). */
	assert_int_equal(testdev_pci_ops.region_read(f->sh.td,
			VFIO_PCI_CONFIG_REGION_INDEX, 4, devcmd, 2), 0);
	assert_int_equal(devcmd[0] | devcmd[1] << 8, 0x0547);
	/* Status is the device's: capability list bit, live INTx status. */
	assert_int_equal(rd(f->pci, 0x06, 2), 0x0010);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 1);
	assert_int_equal(rd(f->pci, 0x04, 4), 0x00180547);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 0);
	/* A byte write of the low half leaves Interrupt Disable alone. */
	wr(f->pci, 0x04, 1, 0x00);
	assert_int_equal(rd(f->pci, 0x04, 2), 0x0500);
	/* IDs are the device's and read-only. */
	wr(f->pci, 0x00, 4, 0);
	assert_int_equal(rd(f->pci, 0x00, 4),
			 TESTDEV_DEVICE_ID << 16 | TESTDEV_VENDOR_ID);
}

/* Walk the capability list the way a guest does. */
static void test_capability_walk(void **state)
{
	struct fx *f = *state;
	uint32_t ptr, ids[8], offs[8], n = 0;

	assert_int_equal(rd(f->pci, 0x06, 2) & 0x10, 0x10);
	ptr = rd(f->pci, 0x34, 1);
	while (ptr && n < 8) {
		offs[n] = ptr;
		ids[n++] = rd(f->pci, ptr, 1);
		ptr = rd(f->pci, ptr + 1, 1);
	}
	assert_int_equal(n, 3);
	assert_int_equal(offs[0], 0x40);
	assert_int_equal(ids[0], 0x05);
	assert_int_equal(offs[1], 0x60);
	assert_int_equal(ids[1], 0x11);
	assert_int_equal(offs[2], 0x70);
	assert_int_equal(ids[2], 0x10);
	/* Capability headers are read-only. */
	wr(f->pci, 0x40, 2, 0xffff);
	assert_int_equal(rd(f->pci, 0x40, 2), 0x6005);
	wr(f->pci, 0x60, 2, 0xffff);
	assert_int_equal(rd(f->pci, 0x60, 2), 0x7011);
	/* Interrupt Line is the guest's; Interrupt Pin is INTA, read-only. */
	wr(f->pci, 0x3c, 2, 0xff0b);
	assert_int_equal(rd(f->pci, 0x3c, 2), 0x010b);
}

static void test_malformed_device(void **state)
{
	struct fx *f = *state;
	struct irqlink_pci_config pc = { .ops = &shim_ops, .opaque = &f->sh };
	struct irqlink_pci *p = NULL;
	int fds = tu_open_fds();

	/* PCIe capability's next pointer back to MSI: a loop. */
	f->sh.patch_off = 0x70;
	f->sh.patch_val = 0x00024010;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	/* A capability pointer into the header. */
	f->sh.patch_off = 0x34;
	f->sh.patch_val = 0x20;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	/* MSI-X table (64 entries) starting past the 8 KiB BAR's middle. */
	f->sh.patch_off = 0x64;
	f->sh.patch_val = 0x1c0a;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	/* PBA in BAR0 past its end. */
	f->sh.patch_off = 0x68;
	f->sh.patch_val = 0x2000;
	assert_int_equal(irqlink_pci_create(&pc, &p), -EINVAL);
	assert_null(p);
	f->sh.patch_off = 0;
	assert_int_equal(tu_open_fds(), fds);
}

/* MSI control: only Enable and Multiple Message Enable are writable;
 * address bits 1:0, extended data and mask bits of absent vectors read 0. */
static void test_msi_registers(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rd(f->pci, 0x42, 2), 0x0186);
	wr(f->pci, 0x42, 2, 0xfffe);            /* all but Enable */
	assert_int_equal(rd(f->pci, 0x42, 2), 0x01f6);
	wr(f->pci, 0x42, 2, 0);
	assert_int_equal(rd(f->pci, 0x42, 2), 0x0186);
	wr(f->pci, 0x44, 4, 0xfee00003);
	assert_int_equal(rd(f->pci, 0x44, 4), 0xfee00000);
	wr(f->pci, 0x48, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x48, 4), 0xffffffff);
	wr(f->pci, 0x4c, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x4c, 4), 0x0000ffff);
	wr(f->pci, 0x50, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x50, 4), 0xff);   /* 8 vectors */
	wr(f->pci, 0x50, 4, 0);
	/* Pending Bits are the device's and read-only. */
	wr(f->pci, 0x54, 4, 0xffffffff);
	assert_int_equal(rd(f->pci, 0x54, 4), 0);
	/* Nothing was enabled at the device. */
	assert_int_equal(f->sh.calls[MSI][ACT_TRIG], 0);
}

/* MSI enable/disable, multiple messages, and the INTx hand-over. */
static void test_msi_enable(void **state)
{
	struct fx *f = *state;
	int v;

	assert_int_equal(irqlink_pci_intx_route(f->pci, 5), 0);
	assert_int_equal(f->sh.calls[INTX][ACT_TRIG], 1);
	wr(f->pci, 0x44, 4, 0xfee00000);
	wr(f->pci, 0x4c, 2, 0x0040);
	wr(f->pci, 0x42, 2, 0x0021);            /* enable, 4 messages */
	/* INTx off at the device, then MSI enabled and its 4 eventfds given
	 * in one call. */
	assert_int_equal(f->sh.calls[INTX][ACT_TRIG], 2);
	assert_int_equal(f->sh.calls[MSI][ACT_TRIG], 2);
	assert_int_equal(f->sh.trig_fds[MSI], 4);
	assert_int_equal(stats(f).host_vectors, 4);
	for (v = 0; v < 4; v++)
		assert_true(tfd(f, MSI, (unsigned)v) >= 0);
	assert_int_equal(tfd(f, MSI, 4), -ENOENT);
	assert_int_equal(tfd(f, MSI, 8), -EINVAL);
	assert_int_equal(tfd(f, INTX, 0) >= 0, 1);

	dev_cmd(f, MSI, 2, 3);
	assert_int_equal(tu_count(tfd(f, MSI, 2)), 3);
	assert_int_equal(tu_count(tfd(f, MSI, 0)), 0);
	/* INTx is not delivered while MSI is on. */
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(tfd(f, INTX, 0)), 0);
	/* No VM: no routes. */
	assert_int_equal(irqlink_pci_vector_gsi(f->pci, MSI, 0,
						&(uint32_t){0}), -ENOENT);

	/* Disable: host vectors released, INTx back on (the held line fires). */
	wr(f->pci, 0x42, 2, 0x0000);
	assert_int_equal(stats(f).host_vectors, 0);
	assert_int_equal(tfd(f, MSI, 2), -ENOENT);
	assert_int_equal(f->sh.calls[INTX][ACT_TRIG], 3);
	assert_int_equal(tu_count(tfd(f, INTX, 0)), 1);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 0);

	/* Changing Multiple Message Enable while enabled re-enables. */
	wr(f->pci, 0x42, 2, 0x0001);
	assert_int_equal(stats(f).host_vectors, 1);
	wr(f->pci, 0x42, 2, 0x0031);
	assert_int_equal(stats(f).host_vectors, 8);
	dev_cmd(f, MSI, 7, 1);
	assert_int_equal(tu_count(tfd(f, MSI, 7)), 1);
	assert_int_equal(stats(f).errors, 0);
}

/* MSI per-vector mask bits go to the device with MASK/UNMASK, never by
 * swapping eventfds; Pending Bits come from the device. */
static void test_msi_mask(void **state)
{
	struct fx *f = *state;
	unsigned int trig;
	int fd1;

	wr(f->pci, 0x44, 4, 0xfee00000);
	wr(f->pci, 0x42, 2, 0x0021);
	fd1 = tfd(f, MSI, 1);
	trig = f->sh.calls[MSI][ACT_TRIG];
	wr(f->pci, 0x50, 4, 0x2);
	assert_int_equal(f->sh.calls[MSI][ACT_MASK], 1);
	dev_cmd(f, MSI, 1, 5);
	assert_int_equal(tu_count(fd1), 0);
	assert_int_equal(rd(f->pci, 0x54, 4), 0x2);
	wr(f->pci, 0x50, 4, 0x0);
	assert_int_equal(f->sh.calls[MSI][ACT_UNMASK], 1);
	assert_int_equal(tu_count(fd1), 1);     /* replayed once */
	assert_int_equal(rd(f->pci, 0x54, 4), 0);
	assert_int_equal(tfd(f, MSI, 1), fd1);
	assert_int_equal(f->sh.calls[MSI][ACT_TRIG], trig);
	/* Rewriting the same mask costs no call. */
	wr(f->pci, 0x50, 4, 0x0);
	assert_int_equal(f->sh.calls[MSI][ACT_UNMASK] +
			 f->sh.calls[MSI][ACT_MASK], 2);
	/* Masks persist while disabled and apply at the next enable. */
	wr(f->pci, 0x42, 2, 0);
	wr(f->pci, 0x50, 4, 0x1);
	wr(f->pci, 0x42, 2, 0x0021);
	dev_cmd(f, MSI, 0, 1);
	assert_int_equal(tu_count(tfd(f, MSI, 0)), 0);
	assert_int_equal(rd(f->pci, 0x54, 4), 0x1);
}

/* MSI-X table: reset values, read-only bits, qword access. */
static void test_msix_table_registers(void **state)
{
	struct fx *f = *state;

	map_bars(f->pci);
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 0, 4), 0);
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 12, 4), 1);
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 63 * 16 + 12, 4), 1);
	mwr(f->pci, MSIX_TABLE + 16, 4, 0xfee00003);
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 16, 4), 0xfee00000);
	mwr(f->pci, MSIX_TABLE + 16 + 12, 4, 0xfffffffe);
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 16 + 12, 4), 0);
	mwr(f->pci, MSIX_TABLE + 16 + 8, 8, UINT64_C(0xffffffff00000041));
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 16 + 8, 8),
			 UINT64_C(0x0000000100000041));
	mwr(f->pci, MSIX_TABLE + 32, 8, UINT64_C(0x00000001fee01000));
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 32, 8),
			 UINT64_C(0x00000001fee01000));
	/* Control: Enable and Function Mask writable, table size read-only;
	 * table and PBA locations read-only. */
	wr(f->pci, 0x62, 2, 0x3fff);
	assert_int_equal(rd(f->pci, 0x62, 2), 63);
	wr(f->pci, 0x64, 4, 0);
	wr(f->pci, 0x68, 4, 0);
	assert_int_equal(rd(f->pci, 0x64, 4), 2);
	assert_int_equal(rd(f->pci, 0x68, 4), 0x1002);
	/* Past the table but inside the BAR (and before the PBA): the
	 * device's, which reads zero there. */
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 64 * 16, 4), 0);
	assert_int_equal(stats(f).host_vectors, 0);
}

/* MSI-X: lazy host vectors, per-vector mask mirrored, PBA from the device,
 * Function Mask. */
static void test_msix_vectors(void **state)
{
	struct fx *f = *state;
	unsigned int trig;
	int fd3;

	map_bars(f->pci);
	mwr(f->pci, MSIX_TABLE + 3 * 16, 4, 0xfee00000);
	mwr(f->pci, MSIX_TABLE + 3 * 16 + 8, 4, 0x45);
	wr(f->pci, 0x62, 2, 0x8000);
	/* Enabled without eventfds: nothing unmasked yet. */
	assert_int_equal(f->sh.calls[MSIX][ACT_TRIG], 1);
	assert_int_equal(f->sh.trig_fds[MSIX], 0);
	assert_int_equal(stats(f).host_vectors, 0);
	assert_int_equal(tfd(f, MSIX, 3), -ENOENT);
	/* A masked vector fires into its pending bit. */
	dev_cmd(f, MSIX, 3, 2);
	assert_int_equal(mrd(f->pci, MSIX_PBA, 8), 1u << 3);
	/* Unmask: host vector made, handed over, then unmasked: the pending
	 * message is delivered once. */
	mwr(f->pci, MSIX_TABLE + 3 * 16 + 12, 4, 0);
	assert_int_equal(stats(f).host_vectors, 1);
	assert_int_equal(f->sh.trig_fds[MSIX], 1);
	fd3 = tfd(f, MSIX, 3);
	assert_true(fd3 >= 0);
	assert_int_equal(tu_count(fd3), 1);
	assert_int_equal(mrd(f->pci, MSIX_PBA, 8), 0);
	dev_cmd(f, MSIX, 3, 4);
	assert_int_equal(tu_count(fd3), 4);

	/* Mask again: no eventfd swap, the vector latches. */
	trig = f->sh.calls[MSIX][ACT_TRIG];
	mwr(f->pci, MSIX_TABLE + 3 * 16 + 12, 4, 1);
	dev_cmd(f, MSIX, 3, 3);
	assert_int_equal(tu_count(fd3), 0);
	assert_int_equal(mrd(f->pci, MSIX_PBA, 4), 1u << 3);
	assert_int_equal(mrd(f->pci, MSIX_PBA, 1), 1u << 3);
	/* PBA writes are dropped. */
	mwr(f->pci, MSIX_PBA, 8, 0);
	assert_int_equal(mrd(f->pci, MSIX_PBA, 8), 1u << 3);
	mwr(f->pci, MSIX_TABLE + 3 * 16 + 12, 4, 0);
	assert_int_equal(tu_count(fd3), 1);
	assert_int_equal(f->sh.calls[MSIX][ACT_TRIG], trig);
	assert_int_equal(tfd(f, MSIX, 3), fd3);
	assert_int_equal(stats(f).host_vectors, 1);

	/* Function Mask holds every vector; clearing it replays. */
	wr(f->pci, 0x62, 2, 0xc000);
	dev_cmd(f, MSIX, 3, 2);
	assert_int_equal(tu_count(fd3), 0);
	assert_int_equal(mrd(f->pci, MSIX_PBA, 8), 1u << 3);
	wr(f->pci, 0x62, 2, 0x8000);
	assert_int_equal(tu_count(fd3), 1);

	/* Disable: host vectors released, the table (guest view) kept. */
	wr(f->pci, 0x62, 2, 0x0000);
	assert_int_equal(stats(f).host_vectors, 0);
	assert_int_equal(tfd(f, MSIX, 3), -ENOENT);
	assert_int_equal(mrd(f->pci, MSIX_TABLE + 3 * 16 + 8, 4), 0x45);
	assert_int_equal(stats(f).errors, 0);
}

/* 2048 entries cost nothing until used. */
static void test_msix_2048(void **state)
{
	struct fx *f = *state;
	struct testdev_config big = { .msix_vectors = 2048 };
	struct fx g = { 0 };
	int fds;

	(void)f;
	fx_open(&g, &big);
	fds = tu_open_fds();
	wr(g.pci, 0x10, 4, BAR0_GPA);
	wr(g.pci, 0x18, 4, BAR2_GPA);
	wr(g.pci, 0x04, 2, 0x0002);
	assert_int_equal(rd(g.pci, 0x18, 4), BAR2_GPA | 0x4);
	wr(g.pci, 0x62, 2, 0x8000);
	assert_int_equal(tu_open_fds(), fds);
	mwr(g.pci, MSIX_TABLE + 2047 * 16 + 12, 4, 0);
	/* One eventfd of ours, one dup in the device. */
	assert_int_equal(tu_open_fds(), fds + 2);
	dev_cmd(&g, MSIX, 2047, 2);
	assert_int_equal(tu_count(tfd(&g, MSIX, 2047)), 2);
	/* PBA of 2048 vectors: 32 qwords at 0x8000. */
	mwr(g.pci, MSIX_TABLE + 2047 * 16 + 12, 4, 1);
	dev_cmd(&g, MSIX, 2047, 1);
	assert_int_equal(mrd(g.pci, BAR2_GPA + 0x8000 + 31 * 8, 8),
			 UINT64_C(1) << 63);
	assert_int_equal(g.sh.calls[MSIX][ACT_MASK], 2);
	irqlink_pci_destroy(g.pci);
	testdev_destroy(g.sh.td);
}

/* INTx without a VM: the glue's trigger and resample eventfds become the
 * device's INTx trigger and unmask eventfd; signalling the resample fd
 * stands in for the guest's EOI. Interrupt Disable holds the line. */
static void test_intx_wiring(void **state)
{
	struct fx *f = *state;
	int trig, res;

	assert_int_equal(tfd(f, INTX, 0), -ENOENT);
	assert_int_equal(irqlink_pci_intx_resample_fd(f->pci), -ENOENT);
	assert_int_equal(irqlink_pci_intx_route(f->pci, 24), -EINVAL);
	assert_int_equal(irqlink_pci_intx_route(f->pci, 10), 0);
	assert_int_equal(f->sh.calls[INTX][ACT_TRIG], 1);
	assert_int_equal(f->sh.calls[INTX][ACT_UNMASK], 1);
	trig = tfd(f, INTX, 0);
	res = irqlink_pci_intx_resample_fd(f->pci);
	assert_true(trig >= 0 && res >= 0);

	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 1);
	tu_signal(res);                          /* EOI, line still up */
	assert_int_equal(testdev_process(f->sh.td), 0);
	assert_int_equal(tu_count(trig), 1);
	testdev_reg_write(f->sh.td, TESTDEV_REG_STATUS, TESTDEV_STATUS_INTX);
	tu_signal(res);                          /* EOI, line down */
	assert_int_equal(testdev_process(f->sh.td), 0);
	assert_int_equal(tu_count(trig), 0);
	assert_int_equal(testdev_reg_read(f->sh.td, TESTDEV_REG_UNMASKS), 2);

	/* Interrupt Disable, set through the glue's config space. */
	wr(f->pci, 0x04, 2, 0x0400);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 0);
	wr(f->pci, 0x04, 2, 0x0000);
	assert_int_equal(tu_count(trig), 1);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 0);

	/* Re-routing moves it; unrouting closes our fds. */
	assert_int_equal(irqlink_pci_intx_route(f->pci, 11), 0);
	assert_int_equal(irqlink_pci_intx_unroute(f->pci), 0);
	assert_int_equal(tfd(f, INTX, 0), -ENOENT);
	assert_int_equal(irqlink_pci_intx_unroute(f->pci), 0);
}

static void test_intx_no_pin(void **state)
{
	struct testdev_config c = { .msi_vectors = 1 };
	struct fx g = { 0 };

	(void)state;
	fx_open(&g, &c);
	assert_int_equal(rd(g.pci, 0x3d, 1), 0);
	assert_int_equal(irqlink_pci_intx_route(g.pci, 3), -ENODEV);
	assert_int_equal(tfd(&g, INTX, 0), -EINVAL);
	irqlink_pci_destroy(g.pci);
	testdev_destroy(g.sh.td);
}

/* A device failure during a guest write: the guest view still changes,
 * the call reports the device's error, stats count it. */
static void test_device_failure(void **state)
{
	struct fx *f = *state;

	wr(f->pci, 0x44, 4, 0xfee00000);
	f->sh.fail_set_irqs = -EIO;
	assert_int_equal(irqlink_pci_config_write(f->pci, 0x42, 2, 0x0001),
			 -EIO);
	assert_int_equal(rd(f->pci, 0x42, 2) & 1, 1);
	assert_int_equal(stats(f).errors, 1);
	assert_int_equal(stats(f).host_vectors, 0);
	/* The next capability write retries and succeeds. */
	wr(f->pci, 0x42, 2, 0x0001);
	assert_int_equal(stats(f).host_vectors, 1);
	dev_cmd(f, MSI, 0, 1);
	assert_int_equal(tu_count(tfd(f, MSI, 0)), 1);
}

/* A strict device (kernel semantics, no MSI-X masking): creation still
 * works, the refusal is counted once, and interrupts flow. */
static void test_strict_device(void **state)
{
	struct testdev_config c = { .msix_vectors = 4,
				    .dev_flags = IRQLINK_DEV_STRICT };
	struct fx g = { 0 };

	(void)state;
	fx_open(&g, &c);
	assert_int_equal(stats(&g).errors, 1);
	map_bars(g.pci);
	wr(g.pci, 0x62, 2, 0x8000);
	mwr(g.pci, MSIX_TABLE + 12, 4, 0);
	assert_int_equal(g.sh.calls[MSIX][ACT_MASK], 1);
	assert_int_equal(g.sh.calls[MSIX][ACT_UNMASK], 0);
	dev_cmd(&g, MSIX, 0, 1);
	assert_int_equal(tu_count(tfd(&g, MSIX, 0)), 1);
	irqlink_pci_destroy(g.pci);
	testdev_destroy(g.sh.td);
}

/* Host-vector limit (vfio's positive answer): the glue asks again. */
static void test_host_vector_limit(void **state)
{
	struct testdev_config c = { .msi_vectors = 8, .host_vectors = 2 };
	struct fx g = { 0 };

	(void)state;
	fx_open(&g, &c);
	wr(g.pci, 0x42, 2, 0x0031);               /* 8 messages */
	assert_int_equal(g.sh.calls[MSI][ACT_TRIG], 3);
	assert_int_equal(stats(&g).host_vectors, 2);
	assert_int_equal(tfd(&g, MSI, 2), -ENOENT);
	dev_cmd(&g, MSI, 1, 1);
	assert_int_equal(tu_count(tfd(&g, MSI, 1)), 1);
	irqlink_pci_destroy(g.pci);
	testdev_destroy(g.sh.td);
}

/* ---- EOI policies and delivery modes in the config ----------------------- */

static int fx_open_eoi(struct fx *f, const struct testdev_config *dc,
		       enum irqlink_eoi_policy eoi,
		       enum irqlink_delivery delivery)
{
	struct irqlink_pci_config pc = {
		.ops = &shim_ops, .opaque = &f->sh,
		.intx_eoi = eoi, .delivery = delivery,
	};

	f->pci = NULL;
	assert_int_equal(testdev_create(dc, &f->sh.td), 0);
	return irqlink_pci_create(&pc, &f->pci);
}

static void fx_close(struct fx *f)
{
	irqlink_pci_destroy(f->pci);
	testdev_destroy(f->sh.td);
}

/* Without a VM: BAR_ACCESS needs the relay, so it is refused with every
 * mode, as are unknown modes and policies; every other pair is fine. The
 * refusals leave nothing open. */
static void test_create_eoi_config(void **state)
{
	static const int bad[] = { 3, 7, -1 };
	struct fx g = { 0 };
	int fds = tu_open_fds();

	(void)state;
	for (int d = IRQLINK_DELIVERY_AUTO; d <= IRQLINK_DELIVERY_RELAY; d++) {
		assert_int_equal(fx_open_eoi(&g, &full, IRQLINK_EOI_BAR_ACCESS,
					     (enum irqlink_delivery)d), -EINVAL);
		assert_null(g.pci);
		fx_close(&g);
		for (int e = IRQLINK_EOI_RESAMPLEFD; e <= IRQLINK_EOI_GUEST_PORT;
		     e++) {
			if (e == IRQLINK_EOI_BAR_ACCESS)
				continue;
			assert_int_equal(fx_open_eoi(&g, &full,
				(enum irqlink_eoi_policy)e,
				(enum irqlink_delivery)d), 0);
			assert_int_equal(irqlink_pci_poll_fd(g.pci), -ENOENT);
			fx_close(&g);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fx_open_eoi(&g, &full, IRQLINK_EOI_RESAMPLEFD,
					     (enum irqlink_delivery)bad[i]),
				 -EINVAL);
		assert_null(g.pci);
		fx_close(&g);
		assert_int_equal(fx_open_eoi(&g, &full,
					     (enum irqlink_eoi_policy)bad[i],
					     IRQLINK_DELIVERY_AUTO), -EINVAL);
		assert_null(g.pci);
		fx_close(&g);
	}
	assert_int_equal(irqlink_pci_poll_fd(NULL), -EINVAL);
	assert_int_equal(irqlink_pci_intx_eoi(NULL), -EINVAL);
	assert_int_equal(tu_open_fds(), fds);
}

/*
 * GUEST_PORT without a VM: the device gets the trigger but not the resample
 * eventfd, and irqlink_pci_intx_eoi() is what unmasks it: 1 (and one
 * SET_IRQS UNMASK, one report counted) exactly while INTx is enabled at
 * the device, 0 before routing, while MSI has INTx off, and after
 * unrouting.
 */
static void test_intx_eoi_guest_port(void **state)
{
	struct fx g = { 0 };
	int trig, res, fds = tu_open_fds();

	(void)state;
	assert_int_equal(fx_open_eoi(&g, &full, IRQLINK_EOI_GUEST_PORT,
				     IRQLINK_DELIVERY_AUTO), 0);
	assert_int_equal(irqlink_pci_poll_fd(g.pci), -ENOENT);
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 0);
	assert_int_equal(irqlink_pci_intx_route(g.pci, 10), 0);
	assert_int_equal(g.sh.calls[INTX][ACT_TRIG], 1);
	assert_int_equal(g.sh.calls[INTX][ACT_UNMASK], 0);
	trig = tfd(&g, INTX, 0);
	res = irqlink_pci_intx_resample_fd(g.pci);
	assert_true(trig >= 0 && res >= 0);

	/* The resample fd is not the device's: signalling it unmasks
	 * nothing, and a report empties it. */
	testdev_reg_write(g.sh.td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(trig), 1);
	tu_signal(res);
	assert_int_equal(testdev_process(g.sh.td), 0);
	assert_int_equal(testdev_reg_read(g.sh.td, TESTDEV_REG_UNMASKS), 0);
	assert_int_equal(tu_count(trig), 0);
	/* Report with the line still up: unmasked, so it fires again. */
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 1);
	assert_int_equal(tu_count(res), 0);
	assert_int_equal(g.sh.calls[INTX][ACT_UNMASK], 1);
	assert_int_equal(testdev_reg_read(g.sh.td, TESTDEV_REG_UNMASKS), 1);
	assert_int_equal(tu_count(trig), 1);
	/* The handler clears the status, then reports: no new fire. */
	testdev_reg_write(g.sh.td, TESTDEV_REG_STATUS, TESTDEV_STATUS_INTX);
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 1);
	assert_int_equal(testdev_reg_read(g.sh.td, TESTDEV_REG_UNMASKS), 2);
	assert_int_equal(tu_count(trig), 0);
	/* A report for nothing: the device is told, and ignores it. */
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 1);
	assert_int_equal(testdev_reg_read(g.sh.td, TESTDEV_REG_UNMASKS), 2);
	assert_int_equal(stats(&g).intx_eoi_reports, 3);

	/* MSI on: INTx is off at the device, a report does nothing. */
	wr(g.pci, 0x44, 4, 0xfee00000);
	wr(g.pci, 0x42, 2, 0x0001);
	assert_int_equal(g.sh.calls[INTX][ACT_TRIG], 2);
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 0);
	assert_int_equal(g.sh.calls[INTX][ACT_UNMASK], 3);
	wr(g.pci, 0x42, 2, 0x0000);
	assert_int_equal(g.sh.calls[INTX][ACT_TRIG], 3);
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 1);
	assert_int_equal(g.sh.calls[INTX][ACT_UNMASK], 4);
	assert_int_equal(stats(&g).intx_eoi_reports, 4);

	assert_int_equal(irqlink_pci_intx_unroute(g.pci), 0);
	assert_int_equal(irqlink_pci_intx_eoi(g.pci), 0);
	assert_int_equal(stats(&g).intx_eoi_reports, 4);
	assert_int_equal(g.sh.calls[INTX][ACT_UNMASK], 4);
	assert_int_equal(stats(&g).errors, 0);
	fx_close(&g);
	assert_int_equal(tu_open_fds(), fds);
}

/* RESAMPLEFD (the default, the fixture's): the device unmasks itself
 * through its unmask eventfd; a guest report is not this policy's and
 * unmasks nothing. */
static void test_intx_eoi_resamplefd(void **state)
{
	struct fx *f = *state;

	assert_int_equal(irqlink_pci_intx_route(f->pci, 10), 0);
	assert_int_equal(f->sh.calls[INTX][ACT_UNMASK], 1);     /* the fd */
	assert_int_equal(irqlink_pci_intx_eoi(f->pci), 0);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 1);
	assert_int_equal(tu_count(tfd(f, INTX, 0)), 1);
	assert_int_equal(irqlink_pci_intx_eoi(f->pci), 0);
	assert_int_equal(f->sh.calls[INTX][ACT_UNMASK], 1);
	assert_int_equal(testdev_reg_read(f->sh.td, TESTDEV_REG_UNMASKS), 0);
	assert_int_equal(stats(f).intx_eoi_reports, 0);
	assert_int_equal(irqlink_pci_poll_fd(f->pci), -ENOENT);
	testdev_reg_write(f->sh.td, TESTDEV_REG_INTX, 0);
}

/* ---- ERR and REQ ----------------------------------------------------- */

/* A glue (default config) over a fresh full device whose shim starts as
 * @sh. Returns irqlink_pci_create()'s result; fx_close() in every case. */
static int fx_open_shim(struct fx *f, struct shim sh)
{
	f->sh = sh;
	return fx_open_eoi(f, &full, IRQLINK_EOI_RESAMPLEFD,
			   IRQLINK_DELIVERY_AUTO);
}

static void take(struct fx *f, uint64_t want_err, uint64_t want_req)
{
	uint64_t e = ~0ull, q = ~0ull;

	assert_int_equal(irqlink_pci_errreq_take(f->pci, &e, &q), 0);
	assert_int_equal(e, want_err);
	assert_int_equal(q, want_req);
}

/* The test device is PCIe, so it has both: two distinct eventfds of the
 * glue's, each given to the device once, nothing counted as an error. */
static void test_errreq_fds(void **state)
{
	struct fx *f = *state;
	int e = irqlink_pci_errreq_fd(f->pci, ERR);
	int q = irqlink_pci_errreq_fd(f->pci, REQ);
	uint64_t n;

	assert_true(e >= 0);
	assert_true(q >= 0);
	assert_int_not_equal(e, q);
	assert_int_equal(f->sh.trig_fds[ERR], 1);
	assert_int_equal(f->sh.trig_fds[REQ], 1);
	assert_int_equal(f->sh.trig_fd[ERR], e);
	assert_int_equal(f->sh.trig_fd[REQ], q);
	assert_true(fcntl(e, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(stats(f).errors, 0);

	assert_int_equal(irqlink_pci_errreq_fd(NULL, ERR), -EINVAL);
	assert_int_equal(irqlink_pci_errreq_fd(f->pci, INTX), -EINVAL);
	assert_int_equal(irqlink_pci_errreq_fd(f->pci, MSIX), -EINVAL);
	assert_int_equal(irqlink_pci_errreq_fd(f->pci, VFIO_PCI_NUM_IRQS),
			 -EINVAL);
	assert_int_equal(irqlink_pci_errreq_fd(f->pci, ~0u), -EINVAL);
	assert_int_equal(irqlink_pci_errreq_take(NULL, &n, &n), -EINVAL);
	assert_int_equal(irqlink_pci_errreq_take(f->pci, NULL, &n), -EINVAL);
	assert_int_equal(irqlink_pci_errreq_take(f->pci, &n, NULL), -EINVAL);
}

/* Two ERR and one REQ: taken once as 2 and 1, then nothing; the fd the VMM
 * polls is quiet again once taken; the totals add up, also for what the
 * device raises through its own command registers. */
static void test_errreq_take(void **state)
{
	struct fx *f = *state;
	struct irqlink_dev *dev = testdev_irq(f->sh.td);
	int e = irqlink_pci_errreq_fd(f->pci, ERR);
	struct irqlink_pci_stats st;
	struct pollfd pfd = { .fd = e, .events = POLLIN };

	take(f, 0, 0);
	assert_int_equal(irqlink_dev_err_signal(dev), 1);
	assert_int_equal(irqlink_dev_err_signal(dev), 1);
	assert_int_equal(irqlink_dev_req_signal(dev), 1);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	take(f, 2, 1);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	take(f, 0, 0);
	st = stats(f);
	assert_int_equal(st.err_signals, 2);
	assert_int_equal(st.req_signals, 1);
	assert_int_equal(st.errors, 0);

	dev_cmd(f, REQ, 0, 3);
	take(f, 0, 3);
	st = stats(f);
	assert_int_equal(st.err_signals, 2);
	assert_int_equal(st.req_signals, 4);
}

/* A device without them, either way a device says so (count 0, or vfio's
 * EINVAL for ERR on conventional PCI): created all the same, -ENOENT,
 * takes read 0, nothing asked of the device. With only one, the other
 * still works. */
static void test_errreq_absent(void **state)
{
	struct fx g = { 0 };
	int fds = tu_open_fds();

	(void)state;
	assert_int_equal(fx_open_shim(&g, (struct shim){
		.info_none[ERR] = true, .info_ret[REQ] = -EINVAL }), 0);
	assert_int_equal(irqlink_pci_errreq_fd(g.pci, ERR), -ENOENT);
	assert_int_equal(irqlink_pci_errreq_fd(g.pci, REQ), -ENOENT);
	assert_int_equal(g.sh.calls[ERR][ACT_TRIG] + g.sh.calls[REQ][ACT_TRIG],
			 0);
	take(&g, 0, 0);
	assert_int_equal(stats(&g).errors, 0);
	fx_close(&g);
	assert_int_equal(g.sh.calls[ERR][ACT_TRIG] + g.sh.calls[REQ][ACT_TRIG],
			 0);

	assert_int_equal(fx_open_shim(&g, (struct shim){
		.info_none[REQ] = true }), 0);
	assert_true(irqlink_pci_errreq_fd(g.pci, ERR) >= 0);
	assert_int_equal(irqlink_pci_errreq_fd(g.pci, REQ), -ENOENT);
	irqlink_dev_err_signal(testdev_irq(g.sh.td));
	take(&g, 1, 0);
	fx_close(&g);
	assert_int_equal(tu_open_fds(), fds);
}

/* Any other failure is an error of create, with nothing left behind: no
 * fd, and no trigger at the device (an ERR already given is released). */
static void test_errreq_create_failures(void **state)
{
	struct fx g = { 0 };
	int fds = tu_open_fds();

	(void)state;
	assert_int_equal(fx_open_shim(&g, (struct shim){
		.info_ret[ERR] = -EIO }), -EIO);
	assert_null(g.pci);
	fx_close(&g);

	assert_int_equal(fx_open_shim(&g, (struct shim){
		.trig_ret[ERR] = -EBUSY }), -EBUSY);
	assert_null(g.pci);
	assert_int_equal(g.sh.releases[ERR], 0);
	fx_close(&g);

	assert_int_equal(fx_open_shim(&g, (struct shim){
		.trig_ret[REQ] = -ENOMEM }), -ENOMEM);
	assert_null(g.pci);
	assert_int_equal(g.sh.releases[ERR], 1);
	assert_int_equal(irqlink_dev_err_signal(testdev_irq(g.sh.td)), 0);
	fx_close(&g);

	/* "Fewer vectors" cannot be honoured for a single trigger. */
	assert_int_equal(fx_open_shim(&g, (struct shim){
		.trig_ret[REQ] = 1 }), -EIO);
	assert_null(g.pci);
	assert_int_equal(irqlink_dev_err_signal(testdev_irq(g.sh.td)), 0);
	fx_close(&g);
	assert_int_equal(tu_open_fds(), fds);
}

/* Destroy releases each at the device (DATA_NONE, count 0) while the
 * glue's eventfd is still open, then closes it, signals left untaken or
 * not: the device signals nothing afterwards, the process has its fds
 * back. */
static void test_errreq_destroy(void **state)
{
	struct fx g = { 0 };
	struct irqlink_dev *dev;
	int fds = tu_open_fds(), e;

	(void)state;
	assert_int_equal(fx_open_shim(&g, (struct shim){ 0 }), 0);
	dev = testdev_irq(g.sh.td);
	e = irqlink_pci_errreq_fd(g.pci, ERR);
	irqlink_dev_err_signal(dev);
	irqlink_pci_destroy(g.pci);
	g.pci = NULL;
	assert_int_equal(g.sh.releases[ERR], 1);
	assert_int_equal(g.sh.releases[REQ], 1);
	assert_true(g.sh.open_at_release[ERR]);
	assert_true(g.sh.open_at_release[REQ]);
	assert_int_equal(fcntl(e, F_GETFD), -1);
	assert_int_equal(irqlink_dev_err_signal(dev), 0);
	assert_int_equal(irqlink_dev_req_signal(dev), 0);
	fx_close(&g);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_2048, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_wiring, setup, teardown),
		cmocka_unit_test(test_intx_no_pin),
		cmocka_unit_test_setup_teardown(test_device_failure, setup, teardown),
		cmocka_unit_test(test_strict_device),
		cmocka_unit_test(test_host_vector_limit),
		cmocka_unit_test(test_create_eoi_config),
		cmocka_unit_test(test_intx_eoi_guest_port),
		cmocka_unit_test_setup_teardown(test_intx_eoi_resamplefd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errreq_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errreq_take, setup, teardown),
		cmocka_unit_test(test_errreq_absent),
		cmocka_unit_test(test_errreq_create_failures),
		cmocka_unit_test(test_errreq_destroy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
