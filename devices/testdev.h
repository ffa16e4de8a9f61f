/* SPDX-License-Identifier: MIT */
/*
 * testdev: the in-process test PCI device. The same device is later served
 * over vfio-user; here it is reached through struct irqlink_pci_ops
 * (testdev_pci_ops, opaque = the struct testdev), so the PCI glue drives it
 * exactly as it would drive a remote one.
 *
 * What it has
 * -----------
 * Config space (4 KiB, PCIe): IDs below, an Interrupt Pin (INTA) when asked,
 * and a capability list: MSI (64-bit, per-vector masking, 1-32 vectors) at
 * 0x40, MSI-X at 0x60 (table at offset 0 of BAR2, PBA after it in the same
 * BAR), PCIe (endpoint, version 2) at 0x70, each present only when
 * configured (PCIe always, so the device has an ERR interrupt). BAR0 is a
 * 32-bit memory BAR of 4 KiB registers; BAR2/3 a 64-bit memory BAR for the
 * MSI-X table and PBA.
 *
 * Every interrupt it raises goes through its device interrupt model
 * (struct irqlink_dev, testdev_irq()): irqlink_dev_intx_assert/deassert,
 * irqlink_dev_msi_fire, irqlink_dev_err_signal, irqlink_dev_req_signal.
 * The device itself never touches an eventfd for interrupts. Config and
 * BAR2 reads answer from the model where the model owns the state: the
 * status register's Interrupt Status bit, the MSI Pending Bits register and
 * the MSI-X PBA (irqlink_dev_read_pending()). A command register write
 * applies Interrupt Disable (irqlink_dev_set_intx_disable()).
 *
 * BAR0 registers (32-bit, little endian; reads of other widths return the
 * addressed bytes, writes must be 4 bytes wide)
 * ---------------------------------------------------------------------
 *   0x00 ID         RO   TESTDEV_ID_VALUE
 *   0x04 KIND       RW   what DOORBELL raises: a VFIO index (INTx 0, MSI 1,
 *                        MSI-X 2, ERR 3, REQ 4)
 *   0x08 VECTOR     RW   MSI/MSI-X vector (0 for the others)
 *   0x0c COUNT      RW   K: how many interrupts DOORBELL raises
 *   0x10 DOORBELL   WO   any write runs the command (KIND, VECTOR, COUNT)
 *                        once. Offered as an ioeventfd (ops get_ioeventfds),
 *                        so a guest write reaches the device's doorbell
 *                        eventfd without a userspace exit; the device runs
 *                        one command per write it finds counted there
 *                        (testdev_process() or the device thread). A write
 *                        that does exit (no ioeventfd) runs it at once.
 *   0x14 INTX       WO   1 asserts INTx, 0 deasserts it. Asserted is a level
 *                        the device holds until told (0 here) or until the
 *                        guest clears STATUS, like real hardware. An INTx
 *                        command asserts too (K times; a held level
 *                        coalesces, as a level does).
 *   0x18 STATUS     RW1C bit 0: INTx asserted. Writing 1 deasserts.
 *   0x1c DONE       RO   commands completed
 *   0x20 RAISED     RO   raise calls made to the model
 *   0x24 SIGNALLED  RO   raise calls that signalled an eventfd (model said 1)
 *   0x28 HELD       RO   raise calls that did not (masked, latched, dropped)
 *   0x2c ERRORS     RO   raises refused (bad KIND or VECTOR: model -errno)
 *   0x30 UNMASKS    RO   INTx unmasks the model performed (its stats)
 *   0x34 DMA_LO     RW   bus address for DMA_DATA, low 32 bits
 *   0x38 DMA_HI     RW   and high 32 bits
 *   0x3c DMA_DATA   WO   the device writes these 4 bytes at DMA_HI:DMA_LO
 *                        (bus mastering: config.dma_write); a refused
 *                        write counts in DMA_ERRORS
 *   0x40 DMAS       RO   DMA writes done (DMA_DATA, and MSI-X messages
 *                        with msix_by_dma)
 *   0x44 DMA_ERRORS RO   DMA writes refused (no dma_write, no bus
 *                        mastering, or its -errno)
 *   0x48 MSIX_DMA   RW   1: MSI-X leaves the device as its own DMA write
 *                        (config.msix_by_dma, which sets it at create); 0:
 *                        as eventfd signals. Writable only while MSI-X is
 *                        disabled and (for 1) with a dma_write: a refused
 *                        write counts in ERRORS and changes nothing.
 *   0x4c MEM_OFF    RW   a word offset in the memory BAR (mem_bar)
 *   0x50 MEM_DATA   RW   the device's own access to that word of its
 *                        memory (what it reads there, what it stores)
 *
 * Memory BAR (config.mem_bar): BAR4, a 32-bit memory BAR of
 * TESTDEV_MEM_SIZE bytes of plain memory in a memfd, offered for mmap
 * (ops.get_region_mmap) except its first TESTDEV_MEM_TRAP bytes, which
 * stand for registers that must trap (as an MSI-X table in a BAR does):
 * the sparse mmap areas leave them out. Region reads and writes reach all
 * of it.
 *
 * Threading: the ops may be called from any thread (vCPU threads, a
 * vfio-user server loop); the device thread (testdev_start()) or
 * testdev_process() serves the doorbell eventfd and the model's INTx
 * unmask eventfds.
 */
#ifndef IRQLINK_TESTDEV_H
#define IRQLINK_TESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#include <irqlink/device.h>
#include <irqlink/pci.h>

#define TESTDEV_VENDOR_ID 0x1b36  /* test IDs; not a product */
#define TESTDEV_DEVICE_ID 0x11c0
#define TESTDEV_ID_VALUE  0x44544c49u  /* "ILTD" */

#define TESTDEV_MSI_CAP   0x40
#define TESTDEV_MSIX_CAP  0x60
#define TESTDEV_PCIE_CAP  0x70
#define TESTDEV_MSIX_BAR  2
#define TESTDEV_MEM_BAR   4        /* with config.mem_bar */
#define TESTDEV_MEM_SIZE  0x10000u
#define TESTDEV_MEM_TRAP  0x1000u  /* its first page is not mappable */
#define TESTDEV_BAR0_SIZE 0x1000u
#define TESTDEV_CONFIG_SIZE 0x1000u

#define TESTDEV_REG_ID        0x00
#define TESTDEV_REG_KIND      0x04
#define TESTDEV_REG_VECTOR    0x08
#define TESTDEV_REG_COUNT     0x0c
#define TESTDEV_REG_DOORBELL  0x10
#define TESTDEV_REG_INTX      0x14
#define TESTDEV_REG_STATUS    0x18
#define TESTDEV_REG_DONE      0x1c
#define TESTDEV_REG_RAISED    0x20
#define TESTDEV_REG_SIGNALLED 0x24
#define TESTDEV_REG_HELD      0x28
#define TESTDEV_REG_ERRORS    0x2c
#define TESTDEV_REG_UNMASKS   0x30
#define TESTDEV_REG_DMA_LO    0x34
#define TESTDEV_REG_DMA_HI    0x38
#define TESTDEV_REG_DMA_DATA  0x3c
#define TESTDEV_REG_DMAS      0x40
#define TESTDEV_REG_DMA_ERRORS 0x44
#define TESTDEV_REG_MSIX_DMA  0x48
#define TESTDEV_REG_MEM_OFF   0x4c
#define TESTDEV_REG_MEM_DATA  0x50

#define TESTDEV_STATUS_INTX   0x1u

/*
 * struct testdev_config - the device's shape.
 * @intx:         Interrupt Pin INTA.
 * @msi_vectors:  0 = no MSI capability, else 1-32, a power of two.
 * @msix_vectors: 0 = no MSI-X capability, else the table size, 1-2048.
 * @host_vectors: passed to the model (irqlink_dev_shape.host_vectors).
 * @dev_flags:    IRQLINK_DEV_* for the model.
 * @dma_write:    how the device writes memory at a bus address (for a
 *                device served over vfio-user: the server's DMA); NULL =
 *                the device cannot master the bus. 0 or -errno.
 * @dma_opaque:   passed to @dma_write.
 * @msix_by_dma:  MSI-X leaves the device as its own bus write (the ARM
 *                shape, <irqlink/msi_doorbell.h>): an unmasked vector
 *                writes the Message Data of its entry in the device's own
 *                table (the host view, BAR2 from offset 0, which only the
 *                host writes: the guest's table is the VMM's) to the entry's
 *                Message Address through @dma_write, instead of signalling
 *                an eventfd. Masks and pending bits stay the model's. Needs
 *                MSI-X and @dma_write; bus mastering must be on.
 * @mem_bar:      the memory BAR (BAR4), mappable but for its first page.
 */
struct testdev_config {
	bool intx;
	uint32_t msi_vectors;
	uint32_t msix_vectors;
	uint32_t host_vectors;
	uint32_t dev_flags;
	int (*dma_write)(void *opaque, uint64_t addr, const void *buf,
			 size_t len);
	void *dma_opaque;
	bool msix_by_dma;
	bool mem_bar;
};

struct testdev;

/* The device ops; opaque is the struct testdev. */
extern const struct irqlink_pci_ops testdev_pci_ops;

/* Create a device. Returns 0, -EINVAL for a shape the model refuses (or
 * msix_by_dma without MSI-X or dma_write), or
 * -ENOMEM/-EMFILE. */
int testdev_create(const struct testdev_config *cfg, struct testdev **out);

/* Stop its thread, destroy its model (closing every eventfd the model
 * holds) and its doorbell eventfd. NULL is a no-op. */
void testdev_destroy(struct testdev *td);

/* The device's interrupt model, owned by the device (do not destroy). */
struct irqlink_dev *testdev_irq(struct testdev *td);

/* The doorbell eventfd, owned by the device (do not close). */
int testdev_doorbell_fd(struct testdev *td);

/* Without blocking: run one command per doorbell write counted on the
 * doorbell eventfd, and dispatch the model's ready INTx unmask events.
 * Returns the number of commands run, or -errno. Do not mix with
 * testdev_start(). */
int testdev_process(struct testdev *td);

/* Run a device thread that does what testdev_process() does, whenever
 * something is ready. Returns 0, -EALREADY, or -errno. */
int testdev_start(struct testdev *td);
/* Stop and join it. Returns 0 (also when not running). */
int testdev_stop(struct testdev *td);

/* BAR0 register access from the host side (the same as the ops' region
 * read/write of BAR0). */
uint32_t testdev_reg_read(struct testdev *td, uint32_t reg);
void testdev_reg_write(struct testdev *td, uint32_t reg, uint32_t val);

/* Raises of MSI (@kind VFIO_PCI_MSI_IRQ_INDEX) or MSI-X vector @vector that
 * signalled its eventfd (or, with msix_by_dma, were written) since creation: what a test compares with what the
 * guest counted for that vector. 0 for a vector the device lacks. */
uint32_t testdev_signals(struct testdev *td, uint32_t kind, uint32_t vector);

#endif
