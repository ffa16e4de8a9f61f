/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's I/O buses: PCI configuration mechanism #1 on ports
 * 0xCF8/0xCFC, the BARs of the PCI functions on bus 0 (MMIO and I/O
 * space), and the test guest's INTx end-of-handler port. Internal to irqlink-vm and
 * its tests.
 */
#ifndef IRQLINK_TOOLS_VM_BUS_H
#define IRQLINK_TOOLS_VM_BUS_H

#include <irqlink/device.h>
#include <irqlink/pci.h>

#include <stdbool.h>
#include <stdint.h>

#define VM_BUS_SLOTS 32u

#define VM_PCI_CONFIG_ADDRESS 0xcf8
#define VM_PCI_CONFIG_DATA    0xcfc

/* Counters, all atomic; read with vm_bus_get_stats(). */
struct vm_bus_stats {
	uint64_t cfg_reads;       /* config data cycles that reached a function */
	uint64_t cfg_writes;
	uint64_t cfg_misses;      /* config cycles to an empty slot or disabled */
	uint64_t bar_accesses;    /* MMIO/PIO a BAR claimed */
	uint64_t unclaimed;       /* MMIO/PIO nobody claimed (reads all ones) */
	uint64_t errors;          /* glue calls that returned -errno */
	uint64_t intx_eois;       /* KG_PORT_INTX_EOI writes by the guest */
	uint64_t intx_unmasks;    /* of which a glue turned into an unmask
				   * (IRQLINK_EOI_GUEST_PORT) */
};

/* One PCI function on bus 0, device @slot, function 0: the glue that
 * presents it (config space, BARs, the guest's INTx EOI reports). */
struct vm_bus_fn {
	struct irqlink_pci *pci;
};

struct vm_bus {
	uint32_t cf8;             /* atomic: the CONFIG_ADDRESS latch */
	struct vm_bus_fn slot[VM_BUS_SLOTS];
	struct vm_bus_stats st;
};

/* Put @pci in @slot; call before the vCPUs run. Returns 0, -EINVAL (slot
 * out of range, NULL pci) or -EBUSY (slot taken). */
int vm_bus_attach(struct vm_bus *bus, unsigned int slot,
		  struct irqlink_pci *pci);

/* Port and MMIO exit handlers, in the shape of kg_pio_fn / kg_mmio_fn;
 * @opaque is the struct vm_bus. Safe on several vCPU threads at once. */
void vm_bus_pio(void *opaque, uint16_t port, uint8_t *data, uint32_t size,
		uint32_t count, bool is_write);
void vm_bus_mmio(void *opaque, uint64_t gpa, uint8_t *data, uint32_t len,
		 bool is_write);

void vm_bus_get_stats(struct vm_bus *bus, struct vm_bus_stats *st);

#endif
