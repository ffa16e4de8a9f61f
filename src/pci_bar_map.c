/* SPDX-License-Identifier: MIT */
/*
 * BAR areas mapped straight into the guest (vfio's mmap of a region, with
 * its sparse areas).
 *
 * Theory of operation: at create, a BAR whose region the device lets be
 * mapped (ops.get_region_mmap) has the region's fd mapped here, whole,
 * MAP_SHARED, so this mapping is the device's memory. While the BAR
 * decodes, each mappable area is a KVM memslot at the BAR's address plus
 * the area's offset (<irqlink/memslot.h>): the guest's accesses there
 * never exit. Everything else in the BAR -- registers, an MSI-X table --
 * still traps and goes to the device through region_read/write, and so do
 * the areas whenever their slots are off: when the BAR moves or stops
 * decoding, while BAR_ACCESS wants every access to trap, or when KVM
 * refused a slot (counted as an error; the area then simply traps).
 */
#include "pci_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <irqlink/memslot.h>

static bool area_ok(const struct irqlink_pci_region_mmap *mm, uint32_t k,
		    uint64_t region_size)
{
	uint64_t off = mm->areas[k].offset, size = mm->areas[k].size;

	return size && !((off | size) & 0xfff) && off <= region_size &&
	       size <= region_size - off;
}

int il_pci_bar_map_init(struct irqlink_pci *p, uint32_t i)
{
	struct il_pci_bar *b = &p->bar[i];
	struct irqlink_pci_region_mmap mm;
	void *m;

	if (!p->vm || !p->ops->get_region_mmap || !b->size || b->io ||
	    b->region_size > b->size ||
	    p->ops->get_region_mmap(p->opaque, i, &mm))
		return 0;       /* nothing to map: every access traps */
	if (mm.fd < 0 || !mm.nareas || mm.nareas > IRQLINK_PCI_MMAP_AREAS)
		return -EINVAL;
	for (uint32_t k = 0; k < mm.nareas; k++)
		if (!area_ok(&mm, k, b->region_size))
			return -EINVAL;
	m = mmap(NULL, b->region_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 mm.fd, (off_t)mm.fd_offset);
	if (m == MAP_FAILED)
		return -errno;
	b->map = m;
	b->map_len = b->region_size;
	b->nareas = mm.nareas;
	for (uint32_t k = 0; k < mm.nareas; k++) {
		b->area[k].offset = mm.areas[k].offset;
		b->area[k].size = mm.areas[k].size;
		b->area[k].slot = -1;
	}
	return 0;
}

int il_pci_bar_map_on(struct irqlink_pci *p, uint32_t i)
{
	struct il_pci_bar *b = &p->bar[i];
	int first = 0;

	if (!b->map || !b->mapped || p->db_suspended)
		return 0;
	for (uint32_t k = 0; k < b->nareas; k++) {
		int r;

		if (b->area[k].slot >= 0)
			continue;
		r = irqlink_memslot_map(p->vm, b->addr + b->area[k].offset,
					b->area[k].size,
					b->map + b->area[k].offset);
		if (r < 0) {
			first = il_pci_err(p, first, r);
			continue;
		}
		b->area[k].slot = r;
		p->stats.mapped_areas++;
	}
	return first;
}

void il_pci_bar_map_off(struct irqlink_pci *p, uint32_t i)
{
	struct il_pci_bar *b = &p->bar[i];

	for (uint32_t k = 0; b->map && k < b->nareas; k++) {
		if (b->area[k].slot < 0)
			continue;
		(void)irqlink_memslot_unmap(p->vm, b->area[k].slot);
		b->area[k].slot = -1;
		p->stats.mapped_areas--;
	}
}

static void let_go(struct irqlink_pci *p, uint32_t i)
{
	struct il_pci_bar *b = &p->bar[i];

	il_pci_bar_map_off(p, i);
	if (b->map)
		munmap(b->map, b->map_len);
	b->map = NULL;
	b->map_len = 0;
	b->nareas = 0;
}

void il_pci_bar_map_fini(struct irqlink_pci *p)
{
	for (uint32_t i = 0; i < IL_PCI_BARS; i++)
		let_go(p, i);
}

int il_pci_bar_map_retake(struct irqlink_pci *p)
{
	int first = 0;

	for (uint32_t i = 0; i < IL_PCI_BARS; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri),
					       .index = i };
		int r;

		if (!p->bar[i].map)
			continue;
		let_go(p, i);
		/* Asked again: a device over vfio-user hands its new fd
		 * with the region's info. */
		r = p->ops->get_region_info(p->opaque, &ri);
		if (!r)
			r = il_pci_bar_map_init(p, i);
		if (!r)
			r = il_pci_bar_map_on(p, i);
		first = il_pci_err(p, first, r);
	}
	return first;
}
