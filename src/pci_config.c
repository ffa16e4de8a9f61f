/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's virtual config space, and the glue's lifecycle.
 *
 * Theory of operation: at creation the device's whole config space is read
 * once into cfg[]. Each byte then has a home, recorded in flags[]: the
 * device (read and written through the ops on every access, so live device
 * state such as status bits and pending bits is always current) or the
 * glue (IL_CFG_EMU: cfg[] is the guest view, and a guest write changes only
 * the bits wmask[] allows, which is how BAR sizing, read-only capability
 * fields and reserved bits come out right without special cases). The
 * command register is both: the guest view decides BAR decoding here, and
 * the write also reaches the device, which owns Interrupt Disable.
 *
 * A write is applied byte by byte first and only then handed to the
 * concept that owns the range (BARs, MSI, MSI-X), so a handler always sees
 * the complete new guest view, whatever the access width was.
 */
#include "pci_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint32_t il_cfg_get(const struct irqlink_pci *p, uint32_t off, uint32_t size)
{
	uint32_t v = 0, i;

	for (i = 0; i < size; i++)
		v |= (uint32_t)p->cfg[off + i] << (8 * i);
	return v;
}

void il_cfg_set(struct irqlink_pci *p, uint32_t off, uint32_t size,
		uint32_t val)
{
	uint32_t i;

	for (i = 0; i < size; i++)
		p->cfg[off + i] = (uint8_t)(val >> (8 * i));
}

void il_cfg_emulate(struct irqlink_pci *p, uint32_t off, uint32_t size,
		    uint8_t flags, uint32_t wmask)
{
	uint32_t i;

	for (i = 0; i < size; i++) {
		p->flags[off + i] = flags;
		p->wmask[off + i] = (uint8_t)(wmask >> (8 * i));
	}
}

int il_pci_set_irqs(struct irqlink_pci *p, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, const int *fds)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = flags,
		.index = index,
		.start = start,
		.count = count,
	};

	return p->ops->set_irqs(p->opaque, &set, fds, fds ? count : 0);
}

static bool overlaps(uint32_t off, uint32_t size, uint32_t start,
		     uint32_t len)
{
	return off < start + len && start < off + size;
}

/* Walk the device's capability list (in cfg[], as read at creation) for
 * MSI and MSI-X. A list that leaves the header's capability area or is
 * longer than the area can hold is malformed. */
static int find_caps(struct irqlink_pci *p, uint8_t *msi, uint8_t *msix)
{
	uint32_t ptr, hops = 0;

	*msi = *msix = 0;
	if (!(il_cfg_get(p, IL_CFG_STATUS, 2) & IL_STATUS_CAP_LIST))
		return 0;
	ptr = p->cfg[IL_CFG_CAP_PTR] & ~3u;
	while (ptr) {
		if (ptr < 0x40 || ptr > IRQLINK_PCI_CONFIG_SIZE - 4 ||
		    ++hops > (IRQLINK_PCI_CONFIG_SIZE - 0x40) / 4)
			return -EINVAL;
		if (p->cfg[ptr] == IL_CAP_ID_MSI && !*msi)
			*msi = (uint8_t)ptr;
		else if (p->cfg[ptr] == IL_CAP_ID_MSIX && !*msix)
			*msix = (uint8_t)ptr;
		ptr = p->cfg[ptr + 1] & ~3u;
	}
	return 0;
}

static void teardown(struct irqlink_pci *p)
{
	/* Interrupts first (the device stops signalling, then the routes go),
	 * doorbells last: a doorbell can only make the device raise more. */
	il_pci_irqs_fini(p, &p->msi.irqs);
	il_pci_msix_fini(p);
	il_pci_intx_fini(p);
	il_pci_errreq_fini(p);
	il_pci_ack_fini(p);
	il_pci_bars_fini(p);
	pthread_mutex_destroy(&p->msg_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int irqlink_pci_create(const struct irqlink_pci_config *cfg,
		       struct irqlink_pci **out)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = VFIO_PCI_CONFIG_REGION_INDEX };
	const struct irqlink_pci_ops *ops;
	struct irqlink_pci *p;
	uint8_t msi, msix;
	int r;

	if (!cfg || !out || cfg->flags || !cfg->relay != !cfg->vm ||
	    (cfg->bypass && !cfg->relay) ||
	    irqlink_eoi_check(cfg->intx_eoi, cfg->delivery, NULL) ||
	    (!cfg->vm && cfg->intx_eoi == IRQLINK_EOI_BAR_ACCESS))
		return -EINVAL;
	ops = cfg->ops;
	if (!ops || !ops->get_region_info || !ops->region_read ||
	    !ops->region_write || !ops->get_irq_info || !ops->set_irqs)
		return -EINVAL;
	r = ops->get_region_info(cfg->opaque, &ri);
	if (r)
		return r;
	if (ri.size < IRQLINK_PCI_CONFIG_SIZE)
		return -EINVAL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = pthread_mutex_init(&p->lock, NULL);
	if (r) {
		free(p);
		return -r;
	}
	r = pthread_mutex_init(&p->msg_lock, NULL);
	if (r) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -r;
	}
	p->ops = ops;
	p->opaque = cfg->opaque;
	p->vm = cfg->vm;
	p->sinks.vm = cfg->vm;
	p->sinks.relay = cfg->relay;
	p->sinks.bypass = cfg->bypass;
	p->sinks.delivery = cfg->delivery;
	p->eoi = cfg->intx_eoi;
	p->intx.trigger = p->intx.resample = p->intx.notify = -1;
	p->intx.epfd = p->intx.timer = -1;
	p->errreq[0] = p->errreq[1] = -1;
	p->cfg_size = ri.size >= IRQLINK_PCIE_CONFIG_SIZE ?
		IRQLINK_PCIE_CONFIG_SIZE : IRQLINK_PCI_CONFIG_SIZE;

	r = ops->region_read(p->opaque, VFIO_PCI_CONFIG_REGION_INDEX, 0,
			     p->cfg, p->cfg_size);
	if (r)
		goto fail;
	r = find_caps(p, &msi, &msix);
	if (r)
		goto fail;

	/* Command: I/O, Memory, Bus Master, Parity, SERR, Interrupt Disable.
	 * The guest starts with everything off, as after reset. */
	il_cfg_emulate(p, IL_CFG_COMMAND, 2, IL_CFG_EMU | IL_CFG_DEVW, 0x0547);
	il_cfg_set(p, IL_CFG_COMMAND, 2, 0);
	/* No expansion ROM is offered. */
	il_cfg_emulate(p, IL_CFG_ROM, 4, IL_CFG_EMU, 0);
	il_cfg_set(p, IL_CFG_ROM, 4, 0);
	il_cfg_emulate(p, IL_CFG_INT_LINE, 1, IL_CFG_EMU, 0xff);
	il_cfg_set(p, IL_CFG_INT_LINE, 1, 0);

	r = il_pci_bars_init(p);
	if (r)
		goto fail;
	r = il_pci_intx_init(p);
	if (r)
		goto fail;
	if (p->eoi == IRQLINK_EOI_BAR_ACCESS) {
		r = il_pci_ack_init(p, cfg->intx_ack_timeout_ms);
		if (r)
			goto fail;
	}
	if (msi) {
		r = il_pci_msi_init(p, msi);
		if (r)
			goto fail;
	}
	if (msix) {
		r = il_pci_msix_init(p, msix);
		if (r)
			goto fail;
	}
	r = il_pci_errreq_init(p);
	if (r)
		goto fail;
	*out = p;
	return 0;
fail:
	teardown(p);
	return r;
}

void irqlink_pci_destroy(struct irqlink_pci *pci)
{
	if (pci)
		teardown(pci);
}

static int check_access(const struct irqlink_pci *p, uint32_t off,
			uint32_t size)
{
	if ((size != 1 && size != 2 && size != 4) || off % size ||
	    off >= p->cfg_size || p->cfg_size - off < size)
		return -EINVAL;
	return 0;
}

int irqlink_pci_config_read(struct irqlink_pci *pci, uint32_t offset,
			    uint32_t size, uint32_t *value)
{
	uint8_t buf[4] = { 0 };
	bool dev = false;
	uint32_t i;
	int r = 0;

	if (!pci || !value)
		return -EINVAL;
	r = check_access(pci, offset, size);
	if (r)
		return r;
	pthread_mutex_lock(&pci->lock);
	pci->stats.config_reads++;
	for (i = 0; i < size; i++)
		dev |= !(pci->flags[offset + i] & IL_CFG_EMU);
	if (dev) {
		r = pci->ops->region_read(pci->opaque,
					  VFIO_PCI_CONFIG_REGION_INDEX,
					  offset, buf, size);
		if (r) {
			pci->stats.errors++;
			pthread_mutex_unlock(&pci->lock);
			*value = size == 4 ? UINT32_MAX :
				(UINT32_C(1) << (8 * size)) - 1;
			return r;
		}
	}
	*value = 0;
	for (i = 0; i < size; i++) {
		uint8_t b = pci->flags[offset + i] & IL_CFG_EMU ?
			pci->cfg[offset + i] : buf[i];

		*value |= (uint32_t)b << (8 * i);
	}
	pthread_mutex_unlock(&pci->lock);
	return 0;
}

/* Pass the bytes of a write that the device owns (or shares) to it, one
 * contiguous run at a time. */
static int forward_write(struct irqlink_pci *p, uint32_t off, uint32_t size,
			 const uint8_t *guest)
{
	uint8_t run[4];
	uint32_t i = 0, start, n;
	int first = 0;

	while (i < size) {
		n = 0;
		start = i;
		while (i < size && (!(p->flags[off + i] & IL_CFG_EMU) ||
				    (p->flags[off + i] & IL_CFG_DEVW))) {
			run[n++] = p->flags[off + i] & IL_CFG_EMU ?
				p->cfg[off + i] : guest[i];
			i++;
		}
		if (n)
			first = il_pci_err(p, first,
				p->ops->region_write(p->opaque,
					VFIO_PCI_CONFIG_REGION_INDEX,
					off + start, run, n));
		else
			i++;
	}
	return first;
}

int il_pci_config_replay(struct irqlink_pci *p)
{
	uint8_t cmd[2] = { p->cfg[IL_CFG_COMMAND], p->cfg[IL_CFG_COMMAND + 1] };

	return forward_write(p, IL_CFG_COMMAND, 2, cmd);
}

int irqlink_pci_config_write(struct irqlink_pci *pci, uint32_t offset,
			     uint32_t size, uint32_t value)
{
	struct irqlink_pci *p = pci;
	uint8_t b[4];
	uint32_t i;
	int r, first = 0;

	if (!p)
		return -EINVAL;
	r = check_access(p, offset, size);
	if (r)
		return r;
	for (i = 0; i < size; i++)
		b[i] = (uint8_t)(value >> (8 * i));

	pthread_mutex_lock(&p->lock);
	p->stats.config_writes++;
	for (i = 0; i < size; i++) {
		uint32_t o = offset + i;

		if (p->flags[o] & IL_CFG_EMU)
			p->cfg[o] = (uint8_t)((p->cfg[o] & ~p->wmask[o]) |
					      (b[i] & p->wmask[o]));
	}
	first = forward_write(p, offset, size, b);

	if (overlaps(offset, size, IL_CFG_COMMAND, 2) ||
	    overlaps(offset, size, IL_CFG_BAR0, 4 * IL_PCI_BARS))
		first = il_first(first, il_pci_bars_update(p));
	if (p->msi.off && overlaps(offset, size, p->msi.off, p->msi.len))
		first = il_first(first, il_pci_msi_written(p));
	if (p->msix.off && overlaps(offset, size, p->msix.off + 2u, 2))
		first = il_first(first, il_pci_msix_written(p));
	pthread_mutex_unlock(&p->lock);
	return first;
}
