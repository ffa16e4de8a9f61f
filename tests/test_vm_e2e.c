/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm end to end, on real KVM: the VMM's machine (tools/vm_machine.c,
 * tools/vm_bus.c) booted in-process, and the irqlink-vm binary itself.
 *
 * The guest's own PCI driver does all the device work here, as a driver
 * would: configuration cycles through ports 0xCF8/0xCFC, BAR sizing and
 * assignment, IOAPIC/MSI/MSI-X programming, and asking the device for
 * interrupts through its BAR0 registers and doorbell. The test reads the
 * outcome from three independent places and makes them agree exactly: the
 * guest's per-vector ISR counts, the device's counters (testdev registers
 * and its interrupt model's stats), and KVM_RUN exits by reason.
 *
 * INTx here runs under the GUEST_PORT EOI policy (<irqlink/eoi.h>): the
 * guest's handler reports its end on a port and the glue unmasks the device
 * then, so the counts (N interrupts, N reports, N unmasks, 0 spurious) are
 * exact on any KVM. tests/test_vm_delivery.c runs the other policies and
 * every delivery mode.
 */
#include "testutil.h"
#include "vm_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VEC_MSI  0x40   /* 32-aligned: up to 32 MSI vectors 0x40-0x5f */
#define VEC_MSIX 0x70

#define MSI_PENDING (TESTDEV_MSI_CAP + 0x14)   /* 64-bit MSI, maskable */
#define MSI_MASK    (TESTDEV_MSI_CAP + 0x10)
#define MSIX_PBA    0x1000                      /* BAR2 offset */

static int setup(void **state)
{
	/* The guest's end-of-handler report is this file's EOI policy: the
	 * counts below (N interrupts, N reports, N unmasks, 0 spurious) are
	 * exact under it on any KVM. tests/test_vm_delivery.c covers the
	 * other policies and the delivery modes. */
	struct vm_machine_config cfg = { .eoi = IRQLINK_EOI_GUEST_PORT };

	return vm_fx_setup(state, &cfg);
}

/* ---- 1. skeleton: config cycles, enumeration, BARs -------------------------- */

static void test_enumerate(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	volatile struct kg_ext *e = kg_ext(m->g);
	volatile struct kg_ext_fn *fn;
	struct irqlink_pci_bar bar;
	struct irqlink_pci_stats ps;
	struct vm_bus_stats b0, b1;
	uint64_t mmio;
	uint32_t v;

	/* Exactly one function on bus 0: the test device in its slot. */
	assert_int_equal(e->nfn, 1);
	assert_int_equal(m->dev->fn, 0);
	fn = &e->fn[0];
	assert_int_equal(fn->bdf, BDF);
	assert_int_equal(fn->vendor, TESTDEV_VENDOR_ID);
	assert_int_equal(fn->device, TESTDEV_DEVICE_ID);
	assert_int_equal(fn->irq_pin, 1);
	assert_int_equal(fn->irq_line, VM_DEFAULT_GSI);
	assert_int_equal(fn->msi_cap, TESTDEV_MSI_CAP);
	assert_int_equal(fn->msix_cap, TESTDEV_MSIX_CAP);
	assert_int_equal(fn->pcie_cap, TESTDEV_PCIE_CAP);
	assert_int_equal((fn->msi_ctrl >> 1) & 7, 5);            /* 32 vectors */
	assert_int_equal((fn->msix_ctrl & 0x7ff) + 1, VM_MSIX_VECTORS);

	/* BARs sized by writing all ones, placed by the guest, and the
	 * glue decodes them where the guest put them. */
	assert_int_equal(fn->bar[0].size, TESTDEV_BAR0_SIZE);
	assert_int_equal(fn->bar[0].addr, KG_PCI_MMIO_BASE);
	assert_int_equal(fn->bar[0].flags, 0);
	assert_int_equal(fn->bar[1].size, 0);
	assert_int_equal(fn->bar[2].flags, KG_BAR_64);
	assert_true(fn->bar[2].size >= 0x2000);
	assert_int_equal(fn->bar[2].addr % fn->bar[2].size, 0);
	for (unsigned int b = 0; b < 6; b++) {
		assert_int_equal(irqlink_pci_bar_info(m->dev->pci, b, &bar), 0);
		if (fn->bar[b].size) {
			assert_true(bar.mapped);
			assert_int_equal(bar.addr, fn->bar[b].addr);
			assert_int_equal(bar.size, fn->bar[b].size);
		} else {
			assert_false(bar.mapped);
		}
	}
	/* Memory + I/O decoding and bus mastering on. */
	assert_int_equal(cfg_r(m, 0x04, 2) & 7, 7);

	/* A BAR0 register read is one MMIO exit, served by the device. */
	mmio = kg_exits(m->g, KVM_EXIT_MMIO);
	assert_int_equal(reg_r(m, TESTDEV_REG_ID), TESTDEV_ID_VALUE);
	assert_int_equal(kg_exits(m->g, KVM_EXIT_MMIO), mmio + 1);

	/* Config cycles: each access of the guest is one config read or
	 * write at the glue; an empty slot or a disabled CONFIG_ADDRESS
	 * reads all ones. */
	b0 = bstats(m);
	assert_int_equal(cfg_r(m, 0x00, 4),
			 TESTDEV_VENDOR_ID | TESTDEV_DEVICE_ID << 16);
	assert_int_equal(cfg_r(m, 0x02, 2), TESTDEV_DEVICE_ID);
	assert_int_equal(cfg_r(m, 0x3d, 1), 1);
	assert_int_equal(kg_pci_cfg_read(m->g, 4 << 3, 0, 4, &v), 0);
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(kg_pci_cfg_read(m->g, BDF | 1, 0, 4, &v), 0);
	assert_int_equal(v, 0xffffffff);
	b1 = bstats(m);
	assert_int_equal(b1.cfg_reads - b0.cfg_reads, 3);
	assert_int_equal(b1.cfg_misses - b0.cfg_misses, 2);
	assert_int_equal(b1.errors, 0);
	irqlink_pci_get_stats(m->dev->pci, &ps);
	assert_int_equal(ps.errors, 0);
	assert_int_equal(ps.ioeventfds, 1);   /* the doorbell, at BAR0 */
}

/* ---- 2. INTx through the resampler ------------------------------------------ */

/* N assertions, one at a time: exactly N guest interrupts, N EOIs, N
 * device unmasks, no spurious one; and the exits are exactly the driver's
 * (status read + ack write per interrupt, one EOI report, no doorbell
 * exit). */
static void test_intx_resample(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	volatile struct kg_ext *e = kg_ext(m->g);
	const uint32_t n = 200;
	struct irqlink_dev_stats d0, d1;
	struct vm_bus_stats b0, b1;
	uint64_t mmio, io;
	uint32_t unmasks;

	intx_on(m, true);
	command(m, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
	d0 = dstats(m);
	b0 = bstats(m);
	unmasks = reg_r(m, TESTDEV_REG_UNMASKS);
	mmio = kg_exits(m->g, KVM_EXIT_MMIO);
	io = kg_exits(m->g, KVM_EXIT_IO);

	guest_run(m, VEC_INTX, 1, n);
	settled(m, VEC_INTX, n);

	d1 = dstats(m);
	b1 = bstats(m);
	assert_int_equal(e->intx_claimed, n);
	assert_int_equal(e->intx_spurious, 0);
	assert_int_equal(d1.intx_fires - d0.intx_fires, n);
	assert_int_equal(d1.intx_unmasks - d0.intx_unmasks, n);
	assert_int_equal(b1.intx_eois - b0.intx_eois, n);
	assert_int_equal(b1.intx_unmasks - b0.intx_unmasks, n);
	assert_int_equal(kg_exits(m->g, KVM_EXIT_MMIO) - mmio, 2 * n);
	assert_int_equal(kg_exits(m->g, KVM_EXIT_IO) - io, n);
	/* (the read of UNMASKS is itself one more MMIO exit) */
	assert_int_equal(reg_r(m, TESTDEV_REG_UNMASKS) - unmasks, n);
	assert_int_equal(reg_r(m, TESTDEV_REG_STATUS), 0);
	assert_int_equal(b1.errors, 0);
}

/* A level the device keeps asserted re-fires after every EOI: the handler
 * reads the status but does not ack, so each EOI's unmask finds the line
 * still up. When the device drops it, the storm stops; every interrupt
 * was one fire, one EOI, one unmask. */
static void test_intx_held_line_refires(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	volatile struct kg_ext *e = kg_ext(m->g);
	struct irqlink_dev_stats d;
	struct vm_bus_stats b;
	uint64_t n;

	intx_on(m, false);
	testdev_reg_write(m->dev->td, TESTDEV_REG_INTX, 1);
	/* kg_wait_count() wants an exact count; a storm runs past it. */
	for (int i = 0; i < WAIT_MS && kg_count(m->g, VEC_INTX) < 5; i++)
		usleep(1000);
	assert_true(kg_count(m->g, VEC_INTX) >= 5);
	testdev_reg_write(m->dev->td, TESTDEV_REG_INTX, 0);
	usleep(30 * 1000);
	n = kg_count(m->g, VEC_INTX);
	settled(m, VEC_INTX, n);
	assert_true(n >= 5);

	d = dstats(m);
	b = bstats(m);
	assert_int_equal(d.intx_fires, n);
	assert_int_equal(b.intx_eois, n);
	assert_int_equal(d.intx_unmasks, n);
	assert_int_equal(e->intx_claimed + e->intx_spurious, n);
	assert_true(e->intx_claimed >= n - 1);
}

/* Interrupt Disable (command bit 10, written by the guest) holds the line:
 * the device asserts, nothing arrives, the status register's Interrupt
 * Status shows it pending; clearing the bit delivers it, once. */
static void test_intx_disable(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	struct irqlink_dev_stats d0, d1;
	uint32_t cmd, done;
	uint64_t seen = 0;

	intx_on(m, true);
	command(m, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
	guest_run(m, VEC_INTX, 1, 3);

	cmd = cfg_r(m, 0x04, 2);
	cfg_w(m, 0x04, 2, cmd | 0x400);
	d0 = dstats(m);
	done = reg_r(m, TESTDEV_REG_DONE);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	while (reg_r(m, TESTDEV_REG_DONE) == done)
		usleep(1000);
	/* The guest itself waits 50 ms (its LAPIC timer ends the wait):
	 * still 3. */
	assert_int_equal(kg_guest_wait(m->g, VEC_INTX, 4, 50, &seen), 0);
	assert_int_equal(seen, 3);
	settled(m, VEC_INTX, 3);
	assert_int_equal(cfg_r(m, 0x06, 2) & 0x08, 0x08);
	assert_int_equal(reg_r(m, TESTDEV_REG_STATUS), TESTDEV_STATUS_INTX);
	assert_int_equal(dstats(m).intx_fires, d0.intx_fires);

	cfg_w(m, 0x04, 2, cmd & ~0x400u);
	assert_int_equal(kg_wait_count(m->g, VEC_INTX, 4, WAIT_MS), 0);
	settled(m, VEC_INTX, 4);
	d1 = dstats(m);
	assert_int_equal(d1.intx_fires - d0.intx_fires, 1);
	/* Clearing the bit is an unmask (vfio's virq_disabled), the EOI is
	 * the other. */
	assert_int_equal(d1.intx_unmasks - d0.intx_unmasks, 2);
	assert_int_equal(cfg_r(m, 0x06, 2) & 0x08, 0);
	assert_int_equal(kg_ext(m->g)->intx_spurious, 0);
}

/* ---- 3. MSI ------------------------------------------------------------------ */

/* Every vector delivers exactly what the device raised, one at a time. */
static void msi_vectors(struct vm_machine *m, unsigned int nvec)
{
	const uint32_t per = 4;
	uint64_t before[256];
	uint32_t raised, signalled;

	for (unsigned int v = 0; v < 256; v++)
		before[v] = kg_count(m->g, v);
	assert_int_equal(kg_pci_msi(m->g, (unsigned int)m->dev->fn, VEC_MSI, nvec, 0,
				    false), 0);
	command(m, VFIO_PCI_MSI_IRQ_INDEX, 0, 1);
	raised = reg_r(m, TESTDEV_REG_RAISED);
	signalled = reg_r(m, TESTDEV_REG_SIGNALLED);

	guest_run(m, VEC_MSI, nvec, nvec * per);
	usleep(30 * 1000);
	for (unsigned int v = 0x20; v < 0xef; v++) {
		uint64_t want = v >= VEC_MSI && v < VEC_MSI + nvec ? per : 0;

		assert_int_equal(kg_count(m->g, v) - before[v], want);
	}
	assert_int_equal(reg_r(m, TESTDEV_REG_RAISED) - raised, nvec * per);
	assert_int_equal(reg_r(m, TESTDEV_REG_SIGNALLED) - signalled,
			 nvec * per);
	assert_int_equal(kg_pci_msi(m->g, (unsigned int)m->dev->fn, 0, 0, 0, false),
			 0);
}

static void test_msi_1_4_32(void **state)
{
	struct vm_fx *f = *state;

	msi_vectors(f->m, 1);
	msi_vectors(f->m, 4);
	msi_vectors(f->m, 32);
	assert_int_equal(bstats(f->m).errors, 0);
}

/* A masked vector's raises are held in its pending bit and arrive once on
 * unmask; its neighbours are not held. */
static void test_msi_mask(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	unsigned int fn = (unsigned int)m->dev->fn;
	struct irqlink_dev_stats d0, d1;
	uint32_t held;

	assert_int_equal(kg_pci_msi(m->g, fn, VEC_MSI, 4, 0, false), 0);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSI, 2, true), 0);
	assert_int_equal(cfg_r(m, MSI_MASK, 4), 1u << 2);

	d0 = dstats(m);
	held = reg_r(m, TESTDEV_REG_HELD);
	command(m, VFIO_PCI_MSI_IRQ_INDEX, 2, 3);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	while (reg_r(m, TESTDEV_REG_HELD) - held < 3)
		usleep(1000);
	settled(m, VEC_MSI + 2, 0);
	assert_int_equal(cfg_r(m, MSI_PENDING, 4), 1u << 2);
	d1 = dstats(m);
	assert_int_equal(d1.msi_latched - d0.msi_latched, 3);

	/* Vector 1 is not held meanwhile. */
	command(m, VFIO_PCI_MSI_IRQ_INDEX, 1, 1);
	guest_run(m, VEC_MSI + 1, 1, 1);

	/* Unmask: the pending one arrives, once, and the bit clears. */
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSI, 2, false), 0);
	assert_int_equal(kg_wait_count(m->g, VEC_MSI + 2, 1, WAIT_MS), 0);
	settled(m, VEC_MSI + 2, 1);
	assert_int_equal(cfg_r(m, MSI_PENDING, 4), 0);
	assert_int_equal(dstats(m).msi_replayed - d0.msi_replayed, 1);
	assert_int_equal(kg_count(m->g, VEC_MSI + 1), 1);
	assert_int_equal(kg_count(m->g, VEC_MSI), 0);
	assert_int_equal(kg_count(m->g, VEC_MSI + 3), 0);
}

/* ---- 4. MSI-X ---------------------------------------------------------------- */

static void test_msix(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	unsigned int fn = (unsigned int)m->dev->fn;
	uint64_t pba_gpa = kg_ext(m->g)->fn[fn].bar[TESTDEV_MSIX_BAR].addr +
			   MSIX_PBA;
	uint64_t pba = 0;
	uint32_t held;

	assert_int_equal(kg_pci_msix(m->g, fn, VEC_MSIX, 8, 0, false), 0);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	guest_run(m, VEC_MSIX, 8, 8 * 3);
	for (unsigned int v = 0; v < 8; v++)
		assert_int_equal(kg_count(m->g, VEC_MSIX + v), 3);

	/* Entry 5 masked in its vector control: held, PBA bit 5, one on
	 * unmask. */
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, 5, true), 0);
	held = reg_r(m, TESTDEV_REG_HELD);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 5, 2);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	while (reg_r(m, TESTDEV_REG_HELD) - held < 2)
		usleep(1000);
	settled(m, VEC_MSIX + 5, 3);
	assert_int_equal(kg_guest_read(m->g, pba_gpa, 8, &pba), 0);
	assert_int_equal(pba, 1u << 5);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, 5, false), 0);
	assert_int_equal(kg_wait_count(m->g, VEC_MSIX + 5, 4, WAIT_MS), 0);
	settled(m, VEC_MSIX + 5, 4);
	assert_int_equal(kg_guest_read(m->g, pba_gpa, 8, &pba), 0);
	assert_int_equal(pba, 0);

	/* The Function Mask holds every vector; clearing it replays each
	 * pending one once. */
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX,
				     KG_PCI_FUNCTION_MASK, true), 0);
	held = reg_r(m, TESTDEV_REG_HELD);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	/* The command registers may change once the doorbell was served. */
	while (reg_r(m, TESTDEV_REG_HELD) - held < 1)
		usleep(1000);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 6, 1);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	while (reg_r(m, TESTDEV_REG_HELD) - held < 2)
		usleep(1000);
	settled(m, VEC_MSIX + 1, 3);
	settled(m, VEC_MSIX + 6, 3);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX,
				     KG_PCI_FUNCTION_MASK, false), 0);
	assert_int_equal(kg_wait_count(m->g, VEC_MSIX + 1, 4, WAIT_MS), 0);
	assert_int_equal(kg_wait_count(m->g, VEC_MSIX + 6, 4, WAIT_MS), 0);
	settled(m, VEC_MSIX + 1, 4);
	settled(m, VEC_MSIX + 6, 4);
	assert_int_equal(kg_count(m->g, VEC_MSIX + 0), 3);
	assert_int_equal(bstats(m).errors, 0);
}

/* ---- 5. the doorbell is an ioeventfd ------------------------------------------ */

/* The device's memory BAR, mapped straight into the guest (sparse: its
 * first page traps). */
static void test_mem_bar_direct(void **state)
{
	mem_bar_direct(((struct vm_fx *)*state)->m);
}

/* A guest write to DOORBELL reaches the device with no exit to user space;
 * a write to any other register exits. Counted by KVM_RUN exit reason. */
static void test_doorbell_no_exit(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	const uint32_t n = 100;
	uint64_t mmio, io, done;

	assert_int_equal(kg_pci_msi(m->g, (unsigned int)m->dev->fn, VEC_MSI, 1, 0,
				    false), 0);
	command(m, VFIO_PCI_MSI_IRQ_INDEX, 0, 1);
	done = testdev_reg_read(m->dev->td, TESTDEV_REG_DONE);
	mmio = kg_exits(m->g, KVM_EXIT_MMIO);
	io = kg_exits(m->g, KVM_EXIT_IO);

	guest_run(m, VEC_MSI, 1, n);
	/* The device counts a command done after its raise, which the guest
	 * may take first: look once the interrupts have settled. */
	settled(m, VEC_MSI, n);
	assert_int_equal(testdev_reg_read(m->dev->td, TESTDEV_REG_DONE) - done, n);
	assert_int_equal(vm_dev_raises(m->dev), n);
	assert_int_equal(kg_exits(m->g, KVM_EXIT_MMIO), mmio);
	assert_int_equal(kg_exits(m->g, KVM_EXIT_IO), io);

	/* COUNT is an ordinary register: one exit. */
	reg_w(m, TESTDEV_REG_COUNT, 1);
	assert_int_equal(kg_exits(m->g, KVM_EXIT_MMIO), mmio + 1);
}

/* ---- 6. more than one vCPU ---------------------------------------------------- */

static void test_two_vcpus(void **state)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000 | 1 << 12, .data = 0x90 };
	struct vm_machine_config cfg = { .vcpus = 2,
					 .eoi = IRQLINK_EOI_GUEST_PORT };
	struct vm_fx f = { 0 };
	struct vm_machine *m;

	(void)state;
	m = vm_fx_boot(&f, &cfg);
	assert_int_equal(kg_vcpus(m->g), 2);
	assert_int_equal(*(volatile uint32_t *)((volatile uint8_t *)kg_shared(m->g) +
						KG_SH_AP_READY), 1);
	/* APIC ID 1 takes an MSI addressed to it, on its own thread. */
	assert_int_equal(irqlink_vm_signal_msi(m->vm, &msi), 1);
	assert_int_equal(kg_wait_count(m->g, 0x90, 1, WAIT_MS), 0);
	/* The device works as with one. */
	assert_int_equal(kg_pci_msi(m->g, (unsigned int)m->dev->fn, VEC_MSI, 1, 0,
				    false), 0);
	command(m, VFIO_PCI_MSI_IRQ_INDEX, 0, 1);
	guest_run(m, VEC_MSI, 1, 20);
	settled(m, VEC_MSI, 20);
	vm_fx_close_static(&f);
}

/* ---- 7. guest faults end the run ----------------------------------------------- */

static void test_guest_exception(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	char why[256];

	assert_int_equal(kg_mailbox(m->g, KG_CMD_UD2, 0, 0, 0, NULL, WAIT_MS),
			 -EIO);
	assert_non_null(strstr(vm_machine_strerror(m, -EIO, why, sizeof(why)),
			       "#UD"));
	/* Everything after fails at once instead of waiting. */
	assert_int_equal(kg_pci_scan(m->g, NULL), -EIO);
}

static void test_guest_hang(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	char why[256];

	assert_int_equal(kg_mailbox(m->g, KG_CMD_HANG, 0, 0, 0, NULL, 200),
			 -ETIMEDOUT);
	assert_non_null(strstr(vm_machine_strerror(m, -ETIMEDOUT, why,
						   sizeof(why)),
			       "did not answer"));
}

/* ---- 7b. the device's ERR and REQ --------------------------------------------- */

static void raise_kind(struct vm_machine *m, uint32_t kind)
{
	testdev_reg_write(m->dev->td, TESTDEV_REG_KIND, kind);
	testdev_reg_write(m->dev->td, TESTDEV_REG_VECTOR, 0);
	testdev_reg_write(m->dev->td, TESTDEV_REG_COUNT, 1);
	testdev_reg_write(m->dev->td, TESTDEV_REG_DOORBELL, 1);
}

/* REQ is reported and the guest runs on; ERR stops the VM, and what fails
 * next says why. */
static void test_err_req(void **state)
{
	struct vm_fx *f = *state;
	struct vm_machine *m = f->m;
	char why[256];
	int i;

	raise_kind(m, VFIO_PCI_REQ_IRQ_INDEX);
	for (i = 0; i < WAIT_MS && !vm_machine_reqs(m); i++)
		usleep(1000);
	assert_int_equal(vm_machine_reqs(m), 1);
	assert_int_equal(vm_machine_errs(m), 0);
	assert_int_equal(kg_state(m->g), KG_RUNNING);
	assert_int_equal(kg_mailbox(m->g, KG_CMD_NOP, 0, 0, 0, NULL, WAIT_MS),
			 0);

	raise_kind(m, VFIO_PCI_ERR_IRQ_INDEX);
	for (i = 0; i < WAIT_MS && kg_state(m->g) == KG_RUNNING; i++)
		usleep(1000);
	assert_int_equal(vm_machine_errs(m), 1);
	assert_int_equal(kg_state(m->g), KG_STOPPED);
	assert_int_equal(kg_mailbox(m->g, KG_CMD_NOP, 0, 0, 0, NULL, 200),
			 -ESRCH);
	assert_non_null(strstr(vm_machine_strerror(m, -ESRCH, why, sizeof(why)),
			       "reported an error (ERR)"));
	assert_int_equal(pstats(m).err_signals, 1);
	assert_int_equal(pstats(m).req_signals, 1);
}

/* ---- 8. the binary -------------------------------------------------------------- */

static void test_cli_usage(void **state)
{
	static const char *const none[] = { NULL };
	static const char *const help[] = { "--help", NULL };
	static const char *const badcmd[] = { "fly", NULL };
	static const char *const badopt[] = { "--nope", "demo", NULL };
	static const char *const badgsi[] = { "--gsi", "3", "demo", NULL };
	static const char *const badcount[] = { "-n", "0", "demo", NULL };
	static const char *const badpath[] = { "-p", "intx,edge", "demo", NULL };
	static const char *const badfault[] = { "--fault", "x", "demo", NULL };
	static const char *const extra[] = { "demo", "more", NULL };
	static const char *const baddel[] = { "-d", "fast", "demo", NULL };
	static const char *const badeoi[] = { "--eoi", "port", "demo", NULL };
	static const char *const refused[] = { "-d", "kernel", "-e",
					       "bar-access", "demo", NULL };
	static const char *const badswitch[] = { "-d", "relay", "--switch-ms",
						 "5", "demo", NULL };
	static const char *const badmsix[] = { "--msix-vectors", "4096",
					       "demo", NULL };
	static const char *const baduse[] = { "--msix-vectors", "8",
					      "--msix-use", "9", "demo", NULL };
	char out[8192];

	(void)state;
	assert_int_equal(run_vm(help, out, sizeof(out), 10), 0);
	assert_non_null(strstr(out, "Usage:"));
	assert_int_equal(run_vm(none, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "no command"));
	assert_int_equal(run_vm(badcmd, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "unknown command 'fly'"));
	assert_int_equal(run_vm(badopt, out, sizeof(out), 10), 2);
	assert_int_equal(run_vm(badgsi, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "--gsi"));
	assert_int_equal(run_vm(badcount, out, sizeof(out), 10), 2);
	assert_int_equal(run_vm(badpath, out, sizeof(out), 10), 2);
	assert_int_equal(run_vm(badfault, out, sizeof(out), 10), 2);
	assert_int_equal(run_vm(extra, out, sizeof(out), 10), 2);
	assert_int_equal(run_vm(baddel, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "--delivery takes auto, kernel or relay"));
	assert_int_equal(run_vm(badeoi, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "--eoi takes"));
	assert_int_equal(run_vm(refused, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "cannot be delivered in-kernel"));
	assert_int_equal(run_vm(badswitch, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "needs --delivery auto"));
	assert_int_equal(run_vm(badmsix, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "--msix-vectors must be 1-2048"));
	assert_int_equal(run_vm(baduse, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "more than the table's 8 entries"));
}

static void test_cli_faults(void **state)
{
	static const char *const exc[] = { "--fault", "exception", "demo", NULL };
	static const char *const hang[] = { "--fault", "hang", "--timeout",
					    "300", "demo", NULL };
	char out[8192];
	time_t t0;

	(void)state;
	assert_int_equal(run_vm(exc, out, sizeof(out), 30), 1);
	assert_non_null(strstr(out, "guest exception #UD (vector 6) at rip"));
	t0 = time(NULL);
	assert_int_equal(run_vm(hang, out, sizeof(out), 30), 1);
	assert_non_null(strstr(out, "did not answer within 300 ms"));
	assert_true(time(NULL) - t0 < 10);
}

static void test_cli_demo(void **state)
{
	static const char *const demo[] = { "demo", "-n", "300", NULL };
	static const char *const two[] = { "demo", "-n", "50", "-c", "2",
					   "-g", "19", "-p", "intx,msix", NULL };
	static const char *const probe[] = { "probe", NULL };
	char out[8192];

	(void)state;
	assert_int_equal(run_vm(demo, out, sizeof(out), 120), 0);
	demo_row(out, "INTx", 300);
	demo_row(out, "MSI", 300);
	demo_row(out, "MSI-X", 300);
	demo_row(out, "MSI-X DMA", 300);
	assert_non_null(strstr(out, " doorbell "));
	assert_non_null(strstr(out, "device DMA writes 300; doorbell (IOVA "
				    "0x8000000) injected 300, refused 0"));
	assert_non_null(strstr(out, "claimed 300, spurious 0, device unmasks "
				    "300, timer unmasks 0"));

	assert_int_equal(run_vm(two, out, sizeof(out), 120), 0);
	demo_row(out, "INTx", 50);
	demo_row(out, "MSI-X", 50);
	assert_null(strstr(out, "\nMSI "));
	assert_non_null(strstr(out, "INTA# -> GSI 19"));

	/* Every delivery mode with each EOI policy it can carry: nothing
	 * lost, and each row says what carried it. */
	for (int d = 0; d < 3; d++) {
		for (int e = 0; e < 3; e++) {
			const char *dn = irqlink_delivery_name(d);
			const char *en = irqlink_eoi_policy_name(e);
			const char *const args[] = { "demo", "-n", "200", "-d", dn,
						     "-e", en, "--msix-vectors",
						     "256", NULL };
			int rc;

			if (irqlink_eoi_check(e, d, NULL))
				continue;
			rc = run_vm(args, out, sizeof(out), 120);
			if (rc == 1 && e == IRQLINK_EOI_RESAMPLEFD &&
			    access("/sys/module/kvm_pvm", F_OK) == 0) {
				/* Early EOI: the extra interrupts this policy
				 * now and then gives here fail the run, said
				 * on the INTx row, never hidden. */
				assert_non_null(strstr(out, "the run failed"));
				demo_row(out, "MSI", 200);
				continue;
			}
			assert_int_equal(rc, 0);
			demo_row(out, "INTx", 200);
			demo_row(out, "MSI", 200);
			demo_row(out, "MSI-X", 200);
			assert_non_null(strstr(out, d == IRQLINK_DELIVERY_RELAY ?
					" relay " : " kernel "));
		}
	}
	/* Switching while the interrupts flow loses none. */
	{
		static const char *const sw[] = { "demo", "-n", "2000",
						  "--switch-ms", "2", "-e",
						  "guest-port", NULL };

		assert_int_equal(run_vm(sw, out, sizeof(out), 120), 0);
		demo_row(out, "INTx", 2000);
		demo_row(out, "MSI", 2000);
		demo_row(out, "MSI-X", 2000);
		assert_non_null(strstr(out, "switching relay <-> in-kernel"));
	}

	assert_int_equal(run_vm(probe, out, sizeof(out), 30), 0);
	assert_non_null(strstr(out, "00:03.0 1b36:11c0"));
	assert_non_null(strstr(out, "INTA# -> IOAPIC pin 16"));
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enumerate, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_intx_resample, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_intx_held_line_refires, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_msi_1_4_32, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_msi_mask, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_msix, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_no_exit, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_mem_bar_direct, setup,
						vm_fx_teardown),
		cmocka_unit_test(test_two_vcpus),
		cmocka_unit_test_setup_teardown(test_guest_exception, setup,
						vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_hang, setup, vm_fx_teardown),
		cmocka_unit_test_setup_teardown(test_err_req, setup, vm_fx_teardown),
		cmocka_unit_test(test_cli_usage),
		cmocka_unit_test(test_cli_faults),
		cmocka_unit_test(test_cli_demo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
