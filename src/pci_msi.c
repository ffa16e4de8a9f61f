/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's MSI capability.
 *
 * Theory of operation: the capability is emulated whole (the guest view
 * lives in config space, pci_config.c) except the Pending Bits register,
 * which is read from the device every time because the device model owns
 * the pending bits. Read-only fields (Multiple Message Capable, 64-bit,
 * per-vector masking) keep the device's values; writable bits are exactly
 * those the spec defines, so reserved bits and mask bits of vectors the
 * capability does not have read as zero.
 *
 * Any write into the capability re-derives the guest view of every vector:
 * with Multiple Message Enable = 2^k, vector v sends the message data with
 * its low k bits replaced by v (how MSI spreads one data word over several
 * vectors), and its mask bit is bit v of Mask Bits. Then one sync
 * reconciles the host view (pci_vectors.c): one routing commit per write.
 * INTx is switched off at the device before MSI is switched on there, and
 * back on after MSI is off, because vfio refuses two active index types.
 */
#include "pci_internal.h"

#include <errno.h>

#define MSI_CTRL_ENABLE  0x0001u
#define MSI_CTRL_MMC(c)  (((c) >> 1) & 7u)
#define MSI_CTRL_MME(c)  (((c) >> 4) & 7u)
#define MSI_CTRL_MME_MASK 0x0070u
#define MSI_CTRL_64BIT   0x0080u
#define MSI_CTRL_PVM     0x0100u

int il_pci_msi_init(struct irqlink_pci *p, uint8_t off)
{
	struct vfio_irq_info info = { .argsz = sizeof(info),
				      .index = VFIO_PCI_MSI_IRQ_INDEX };
	struct il_pci_msi *m = &p->msi;
	uint32_t ctrl = il_cfg_get(p, off + 2u, 2), nvec, k;
	int r;

	k = MSI_CTRL_MMC(ctrl);
	nvec = 1u << (k > 5 ? 5 : k);   /* 6 and 7 are reserved encodings */
	m->is64 = ctrl & MSI_CTRL_64BIT;
	m->pvm = ctrl & MSI_CTRL_PVM;
	m->data_off = m->is64 ? 0x0c : 0x08;
	m->mask_off = m->pvm ? m->data_off + 4 : 0;
	m->len = m->pvm ? m->data_off + 12 : m->data_off + 2;
	if (off + m->len > IRQLINK_PCI_CONFIG_SIZE)
		return -EINVAL;
	r = p->ops->get_irq_info(p->opaque, &info);
	if (r)
		return r;

	il_cfg_emulate(p, off, 2, IL_CFG_EMU, 0);          /* ID, next */
	il_cfg_emulate(p, off + 2u, 2, IL_CFG_EMU,
		       MSI_CTRL_ENABLE | MSI_CTRL_MME_MASK);
	il_cfg_set(p, off + 2u, 2, ctrl & (MSI_CTRL_64BIT | MSI_CTRL_PVM |
					  0x000eu));
	/* Message Address is dword aligned: bits 1:0 are read-only zero. */
	il_cfg_emulate(p, off + 4u, 4, IL_CFG_EMU, 0xfffffffcu);
	il_cfg_set(p, off + 4u, 4, 0);
	if (m->is64) {
		il_cfg_emulate(p, off + 8u, 4, IL_CFG_EMU, 0xffffffffu);
		il_cfg_set(p, off + 8u, 4, 0);
	}
	il_cfg_emulate(p, off + m->data_off, 2, IL_CFG_EMU, 0xffff);
	il_cfg_set(p, off + m->data_off, 2, 0);
	if (m->pvm) {
		il_cfg_emulate(p, off + m->data_off + 2u, 2, IL_CFG_EMU, 0);
		il_cfg_set(p, off + m->data_off + 2u, 2, 0);
		il_cfg_emulate(p, off + m->mask_off, 4, IL_CFG_EMU,
			       nvec == 32 ? 0xffffffffu : (1u << nvec) - 1);
		il_cfg_set(p, off + m->mask_off, 4, 0);
		/* Pending Bits stay the device's. */
	}
	r = il_pci_irqs_init(&m->irqs, VFIO_PCI_MSI_IRQ_INDEX, nvec,
			     info.count, false);
	if (r)
		return r;
	m->off = off;
	return 0;
}

int il_pci_msi_written(struct irqlink_pci *p)
{
	struct il_pci_msi *m = &p->msi;
	uint32_t ctrl = il_cfg_get(p, m->off + 2u, 2);
	uint32_t lo = il_cfg_get(p, m->off + 4u, 4);
	uint32_t hi = m->is64 ? il_cfg_get(p, m->off + 8u, 4) : 0;
	uint32_t data = il_cfg_get(p, m->off + m->data_off, 2);
	uint32_t mask = m->pvm ? il_cfg_get(p, m->off + m->mask_off, 4) : 0;
	uint32_t want = 1u << MSI_CTRL_MME(ctrl), v;
	bool on = ctrl & MSI_CTRL_ENABLE;
	int err = 0;

	/* Enabling more than is capable is undefined; give what there is. */
	if (want > m->irqs.nvec)
		want = m->irqs.nvec;
	pthread_mutex_lock(&p->msg_lock);
	m->irqs.guest_on = on;
	for (v = 0; v < m->irqs.nvec; v++) {
		struct il_pci_vec *x = &m->irqs.vec[v];

		x->msg.address_lo = lo;
		x->msg.address_hi = hi;
		x->msg.data = v < want ? (data & ~(want - 1)) | v : data;
		x->masked = (mask >> v) & 1;
	}
	pthread_mutex_unlock(&p->msg_lock);
	p->stats.msi_updates++;
	if (on)
		err = il_pci_intx_sync(p, false);
	err = il_first(err, il_pci_irqs_sync(p, &m->irqs, on, want, false,
					      0, m->irqs.nvec));
	return il_first(err, il_pci_intx_sync(p, true));
}
