/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's I/O buses.
 *
 * Theory of operation. With the in-kernel irqchip, KVM handles the LAPIC,
 * IOAPIC and PIC itself; what reaches user space are the guest's port and
 * MMIO accesses that no memslot, in-kernel device or ioeventfd claims.
 * They arrive here on the vCPU threads.
 *
 * Ports 0xCF8-0xCFF are PCI configuration mechanism #1: a dword write to
 * 0xCF8 latches CONFIG_ADDRESS (enable bit 31, bus 23:16, device 15:11,
 * function 10:8, dword register 7:2); an access of 1, 2 or 4 bytes at
 * 0xCFC + n then reads or writes config byte (register | n) of the
 * selected function, if the enable bit is set and a function lives there.
 * Anything else reads all ones (no device answers: master abort) and
 * drops writes. Only bus 0, function 0 of each slot is populated. The
 * latch is one word shared by all vCPUs, as the host bridge's register is
 * on hardware: the guest serializes its config cycles (ours come from
 * vCPU 0 only).
 *
 * Every other port and every MMIO address is offered to each function's
 * glue (irqlink_pci_pio/irqlink_pci_mmio), which claims it when one of its
 * decoding BARs covers it. The MSI-X table lives there too, so the guest
 * programming its vectors lands in the glue, which reconciles routes.
 *
 * KG_PORT_INTX_EOI: the test guest's INTx handler writes it after its
 * LAPIC EOI, to say the handler is done. The bus only passes that on to
 * each function's glue (irqlink_pci_intx_eoi()); whether it means
 * anything is the glue's EOI policy (<irqlink/eoi.h>: GUEST_PORT), chosen
 * by the VMM, not decided here.
 */
#include "vm_bus.h"

#include "kg_ext.h"

#include <errno.h>
#include <string.h>

static void bump(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

int vm_bus_attach(struct vm_bus *bus, unsigned int slot,
		  struct irqlink_pci *pci)
{
	if (slot >= VM_BUS_SLOTS || !pci)
		return -EINVAL;
	if (bus->slot[slot].pci)
		return -EBUSY;
	bus->slot[slot].pci = pci;
	return 0;
}

/* The function CONFIG_ADDRESS selects, or NULL (disabled, other bus, empty
 * slot, function other than 0). */
static struct irqlink_pci *cfg_target(struct vm_bus *bus, uint32_t addr)
{
	uint32_t dev = (addr >> 11) & 0x1f, fn = (addr >> 8) & 7;

	if (!(addr & 0x80000000u) || ((addr >> 16) & 0xff) != 0 || fn != 0)
		return NULL;
	return bus->slot[dev].pci;
}

static void cfg_data(struct vm_bus *bus, uint16_t port, uint8_t *data,
		     uint32_t size, bool is_write)
{
	uint32_t addr = __atomic_load_n(&bus->cf8, __ATOMIC_ACQUIRE);
	uint32_t off = (addr & 0xfc) | (port & 3u);
	struct irqlink_pci *pci = cfg_target(bus, addr);
	uint32_t v = 0;
	int r;

	/* An access that would cross the dword is not a config cycle. */
	if (!pci || (size != 1 && size != 2 && size != 4) ||
	    (off & 3u) + size > 4) {
		bump(&bus->st.cfg_misses, 1);
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	if (is_write) {
		memcpy(&v, data, size);
		r = irqlink_pci_config_write(pci, off, size, v);
		bump(&bus->st.cfg_writes, 1);
	} else {
		r = irqlink_pci_config_read(pci, off, size, &v);
		memcpy(data, &v, size);
		bump(&bus->st.cfg_reads, 1);
	}
	if (r < 0)
		bump(&bus->st.errors, 1);
}

static void cfg_address(struct vm_bus *bus, uint8_t *data, uint32_t size,
			bool is_write)
{
	uint32_t v;

	/* Only dword accesses reach CONFIG_ADDRESS; narrower ones go to the
	 * legacy ports that overlap it (nothing here). */
	if (size != 4) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	if (is_write) {
		memcpy(&v, data, 4);
		__atomic_store_n(&bus->cf8, v & 0x80fffffcu, __ATOMIC_RELEASE);
	} else {
		v = __atomic_load_n(&bus->cf8, __ATOMIC_ACQUIRE);
		memcpy(data, &v, 4);
	}
}

/* The guest's end-of-handler report, to every function. */
static void intx_eoi(struct vm_bus *bus)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < VM_BUS_SLOTS; i++) {
		struct irqlink_pci *pci = bus->slot[i].pci;
		int r;

		if (!pci)
			continue;
		r = irqlink_pci_intx_eoi(pci);
		if (r < 0)
			bump(&bus->st.errors, 1);
		else
			total += (uint64_t)r;
	}
	bump(&bus->st.intx_unmasks, total);
}

/* A BAR access: offered to each function until one claims it. */
static bool bar_access(struct vm_bus *bus, bool pio, uint64_t addr,
		       uint8_t *data, uint32_t size, bool is_write)
{
	for (unsigned int i = 0; i < VM_BUS_SLOTS; i++) {
		struct irqlink_pci *pci = bus->slot[i].pci;
		int r;

		if (!pci)
			continue;
		r = pio ? irqlink_pci_pio(pci, addr, data, size, is_write)
			: irqlink_pci_mmio(pci, addr, data, size, is_write);
		if (r == 0)
			continue;
		bump(r > 0 ? &bus->st.bar_accesses : &bus->st.errors, 1);
		return true;
	}
	bump(&bus->st.unclaimed, 1);
	return false;
}

void vm_bus_pio(void *opaque, uint16_t port, uint8_t *data, uint32_t size,
		uint32_t count, bool is_write)
{
	struct vm_bus *bus = opaque;

	/* String I/O (rep ins/outs) arrives as `count` back-to-back items. */
	for (uint32_t i = 0; i < count; i++, data += size) {
		if (port == VM_PCI_CONFIG_ADDRESS) {
			cfg_address(bus, data, size, is_write);
		} else if (port >= VM_PCI_CONFIG_DATA &&
			   port < VM_PCI_CONFIG_DATA + 4) {
			cfg_data(bus, port, data, size, is_write);
		} else if (port == KG_PORT_INTX_EOI && is_write) {
			bump(&bus->st.intx_eois, 1);
			intx_eoi(bus);
		} else if (!bar_access(bus, true, port, data, size,
				       is_write) && !is_write) {
			memset(data, 0xff, size);
		}
	}
}

void vm_bus_mmio(void *opaque, uint64_t gpa, uint8_t *data, uint32_t len,
		 bool is_write)
{
	struct vm_bus *bus = opaque;

	if (!bar_access(bus, false, gpa, data, len, is_write) && !is_write)
		memset(data, 0xff, len);
}

void vm_bus_get_stats(struct vm_bus *bus, struct vm_bus_stats *st)
{
	st->cfg_reads = __atomic_load_n(&bus->st.cfg_reads, __ATOMIC_RELAXED);
	st->cfg_writes = __atomic_load_n(&bus->st.cfg_writes, __ATOMIC_RELAXED);
	st->cfg_misses = __atomic_load_n(&bus->st.cfg_misses, __ATOMIC_RELAXED);
	st->bar_accesses = __atomic_load_n(&bus->st.bar_accesses,
					   __ATOMIC_RELAXED);
	st->unclaimed = __atomic_load_n(&bus->st.unclaimed, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&bus->st.errors, __ATOMIC_RELAXED);
	st->intx_eois = __atomic_load_n(&bus->st.intx_eois, __ATOMIC_RELAXED);
	st->intx_unmasks = __atomic_load_n(&bus->st.intx_unmasks,
					   __ATOMIC_RELAXED);
}
