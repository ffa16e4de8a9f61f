/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's MSI-X capability, table and PBA.
 *
 * Theory of operation: the capability's control word (Enable, Function
 * Mask) and the whole table are the guest view and live here; the table is
 * never forwarded to the device. The PBA is the device's: a guest read of it
 * is a read of the device's BAR, where the device model answers from its
 * pending bits (irqlink_dev_read_pending()); writes to it are dropped, as
 * the PBA is read-only.
 *
 * Each table entry is 16 bytes: Message Address (bits 1:0 read-only zero),
 * Message Upper Address, Message Data, Vector Control (only bit 0, Mask, is
 * writable). Every entry resets masked. A table write is applied byte by
 * byte, then the entries it touched are reconciled (pci_vectors.c): the
 * first unmask of an entry gives it a host vector, a message change of an
 * unmasked entry moves its route, and the mask bit goes to the device.
 * Control writes reconcile every entry: Enable switches the index at the
 * device (INTx off first), Function Mask is mirrored as a mask of every
 * vector, which the device releases vector by vector on clear, replaying
 * what it held.
 */
#include "pci_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MSIX_CTRL_ENABLE 0x8000u
#define MSIX_CTRL_FMASK  0x4000u
#define MSIX_CTRL_SIZE   0x07ffu
#define MSIX_ENTRY       16u
#define MSIX_VCTRL       12u       /* Vector Control offset in an entry */

/* Guest-writable bits of byte @b of a table entry. */
static uint8_t entry_wmask(uint32_t b)
{
	if (b == 0)
		return 0xfc;
	if (b < MSIX_VCTRL)
		return 0xff;
	return b == MSIX_VCTRL ? 0x01 : 0x00;
}

static uint32_t entry_get(const uint8_t *e, uint32_t off)
{
	return (uint32_t)e[off] | (uint32_t)e[off + 1] << 8 |
		(uint32_t)e[off + 2] << 16 | (uint32_t)e[off + 3] << 24;
}

int il_pci_msix_init(struct irqlink_pci *p, uint8_t off)
{
	struct vfio_irq_info info = { .argsz = sizeof(info),
				      .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct il_pci_msix *m = &p->msix;
	uint32_t ctrl, tbl, pba, i;
	const struct il_pci_bar *tb, *pb;
	int r;

	if (off + 12u > IRQLINK_PCI_CONFIG_SIZE)
		return -EINVAL;
	ctrl = il_cfg_get(p, off + 2u, 2);
	tbl = il_cfg_get(p, off + 4u, 4);
	pba = il_cfg_get(p, off + 8u, 4);
	m->size = (ctrl & MSIX_CTRL_SIZE) + 1;
	m->table_bar = tbl & 7;
	m->table_off = tbl & ~7u;
	m->pba_bar = pba & 7;
	m->pba_off = pba & ~7u;
	m->pba_len = (m->size + 63) / 64 * 8;
	if (m->table_bar >= IL_PCI_BARS || m->pba_bar >= IL_PCI_BARS)
		return -EINVAL;
	tb = &p->bar[m->table_bar];
	pb = &p->bar[m->pba_bar];
	/* The table is ours, so it need only fit the decode window; the PBA
	 * is read from the device, so it must fit the device's region. */
	if (!tb->size || tb->io || tb->upper || !pb->size || pb->io ||
	    pb->upper || m->table_off > tb->size ||
	    tb->size - m->table_off < (uint64_t)m->size * MSIX_ENTRY ||
	    m->pba_off > pb->region_size ||
	    pb->region_size - m->pba_off < m->pba_len)
		return -EINVAL;
	r = p->ops->get_irq_info(p->opaque, &info);
	if (r)
		return r;

	il_cfg_emulate(p, off, 2, IL_CFG_EMU, 0);
	il_cfg_emulate(p, off + 2u, 2, IL_CFG_EMU,
		       MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	il_cfg_set(p, off + 2u, 2, ctrl & MSIX_CTRL_SIZE);
	il_cfg_emulate(p, off + 4u, 4, IL_CFG_EMU, 0);   /* Table Offset/BIR */
	il_cfg_emulate(p, off + 8u, 4, IL_CFG_EMU, 0);   /* PBA Offset/BIR */

	m->table = calloc(m->size, MSIX_ENTRY);
	if (!m->table)
		return -ENOMEM;
	r = il_pci_irqs_init(&m->irqs, VFIO_PCI_MSIX_IRQ_INDEX, m->size,
			     info.count, true);
	if (r) {
		free(m->table);
		m->table = NULL;
		return r;
	}
	for (i = 0; i < m->size; i++) {
		m->table[i * MSIX_ENTRY + MSIX_VCTRL] = 1;
		m->irqs.vec[i].masked = true;
	}
	m->off = off;
	/* Mirror the reset state (every entry masked) into the device: one
	 * SET_IRQS MASK. A strict device refuses it; that is not fatal. */
	il_pci_irqs_sync(p, &m->irqs, false, 0, false, 0, m->size);
	return 0;
}

void il_pci_msix_fini(struct irqlink_pci *p)
{
	struct il_pci_msix *m = &p->msix;

	il_pci_irqs_fini(p, &m->irqs);
	free(m->table);
	m->table = NULL;
}

int il_pci_msix_written(struct irqlink_pci *p)
{
	struct il_pci_msix *m = &p->msix;
	uint32_t ctrl = il_cfg_get(p, m->off + 2u, 2);
	int err = 0;

	m->enabled = ctrl & MSIX_CTRL_ENABLE;
	m->fmask = ctrl & MSIX_CTRL_FMASK;
	pthread_mutex_lock(&p->msg_lock);
	m->irqs.guest_on = m->enabled;
	pthread_mutex_unlock(&p->msg_lock);
	p->stats.msix_updates++;
	if (m->enabled)
		err = il_pci_intx_sync(p, false);
	err = il_first(err, il_pci_irqs_sync(p, &m->irqs, m->enabled,
					      m->size, m->fmask, 0, m->size));
	return il_first(err, il_pci_intx_sync(p, true));
}

static int table_access(struct irqlink_pci *p, uint64_t o, uint8_t *data,
			uint32_t size, bool is_write)
{
	struct il_pci_msix *m = &p->msix;
	uint64_t end = (uint64_t)m->size * MSIX_ENTRY;
	uint32_t i, e, first, last;

	if (!is_write) {
		for (i = 0; i < size; i++)
			data[i] = o + i < end ? m->table[o + i] : 0xff;
		return 1;
	}
	for (i = 0; i < size && o + i < end; i++) {
		uint8_t wm = entry_wmask((uint32_t)((o + i) % MSIX_ENTRY));
		uint8_t *t = &m->table[o + i];

		*t = (uint8_t)((*t & ~wm) | (data[i] & wm));
	}
	if (!i)
		return 1;
	first = (uint32_t)(o / MSIX_ENTRY);
	last = (uint32_t)((o + i - 1) / MSIX_ENTRY);
	pthread_mutex_lock(&p->msg_lock);
	for (e = first; e <= last; e++) {
		const uint8_t *t = &m->table[e * MSIX_ENTRY];
		struct il_pci_vec *x = &m->irqs.vec[e];

		x->msg.address_lo = entry_get(t, 0);
		x->msg.address_hi = entry_get(t, 4);
		x->msg.data = entry_get(t, 8);
		x->masked = t[MSIX_VCTRL] & 1;
	}
	pthread_mutex_unlock(&p->msg_lock);
	p->stats.msix_updates++;
	return il_pci_irqs_sync(p, &m->irqs, m->enabled, m->size, m->fmask,
				first, last - first + 1);
}

int il_pci_msix_access(struct irqlink_pci *p, uint32_t bar, uint64_t off,
		       void *data, uint32_t size, bool is_write)
{
	struct il_pci_msix *m = &p->msix;
	int r;

	if (!m->off)
		return 0;
	if (bar == m->table_bar && off >= m->table_off &&
	    off - m->table_off < (uint64_t)m->size * MSIX_ENTRY) {
		r = table_access(p, off - m->table_off, data, size, is_write);
		return r ? r : 1;
	}
	if (bar == m->pba_bar && off >= m->pba_off &&
	    off - m->pba_off < m->pba_len) {
		if (is_write)
			return 1;
		if (off + size > (uint64_t)m->pba_off + m->pba_len) {
			memset(data, 0xff, size);
			return 1;
		}
		r = p->ops->region_read(p->opaque, bar, off, data, size);
		if (r) {
			memset(data, 0xff, size);
			return il_pci_err(p, 0, r);
		}
		return 1;
	}
	return 0;
}
