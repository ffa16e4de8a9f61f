/* SPDX-License-Identifier: MIT */
/*
 * The PCI glue's BARs: sizing, decoding, guest accesses and doorbells.
 *
 * Theory of operation: a BAR register is an emulated config dword whose
 * writable bits are exactly the address bits above the BAR's size (wmask),
 * with the type bits fixed; so writing all ones and reading back gives the
 * size, and any address the guest writes comes back aligned, as on
 * hardware. After every command or BAR write each BAR's decode state is
 * re-derived from the guest view (space enabled in the command register,
 * address non-zero and inside the address space); a BAR whose decode state
 * or address changed moves its doorbells: every KVM ioeventfd of the old
 * address is removed before one is registered at the new address, so a
 * doorbell is never live at two places, and none is live while the BAR does
 * not decode (a guest write there must not reach the device).
 */
#include "pci_internal.h"

#include "eventfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <irqlink/ioeventfd.h>

/* x86 I/O port space. */
#define IL_PIO_LIMIT 0x10000u

static uint64_t pow2_up(uint64_t v)
{
	uint64_t p = 1;

	while (p < v && p)
		p <<= 1;
	return p;
}

static int bar_init(struct irqlink_pci *p, uint32_t i)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
	struct il_pci_bar *b = &p->bar[i];
	uint32_t off = IL_CFG_BAR0 + 4 * i;
	uint32_t raw = il_cfg_get(p, off, 4), low;
	uint64_t wmask;
	int r;

	if (b->upper)
		return 0;       /* emulated by BAR i - 1 */
	il_cfg_emulate(p, off, 4, IL_CFG_EMU, 0);
	il_cfg_set(p, off, 4, 0);
	r = p->ops->get_region_info(p->opaque, &ri);
	if (r)
		return r;
	if (!ri.size)
		return 0;
	b->region_size = ri.size;
	if (raw & 1) {
		b->io = true;
		b->size = pow2_up(ri.size < 4 ? 4 : ri.size);
		if (b->size > IL_PIO_LIMIT)
			return -EINVAL;
		low = 1;
		wmask = ~(b->size - 1) & ~UINT64_C(3);
	} else {
		b->is64 = ((raw >> 1) & 3) == 2;
		b->prefetch = raw & 8;
		b->size = pow2_up(ri.size < 16 ? 16 : ri.size);
		if (!b->size || (b->is64 && i == IL_PCI_BARS - 1) ||
		    (!b->is64 && b->size > (UINT64_C(1) << 31)))
			return -EINVAL;
		low = (b->is64 ? 4u : 0u) | (b->prefetch ? 8u : 0u);
		wmask = ~(b->size - 1) & ~UINT64_C(0xf);
	}
	il_cfg_emulate(p, off, 4, IL_CFG_EMU, (uint32_t)wmask);
	il_cfg_set(p, off, 4, low);
	if (b->is64) {
		p->bar[i + 1].upper = true;
		il_cfg_emulate(p, off + 4, 4, IL_CFG_EMU,
			       (uint32_t)(wmask >> 32));
		il_cfg_set(p, off + 4, 4, 0);
	}
	return il_pci_bar_map_init(p, i);
}

/* Take the device's doorbell list, checking every entry against the BARs:
 * the device is not trusted to describe itself correctly. */
static int doorbells_init(struct irqlink_pci *p)
{
	struct irqlink_pci_ioeventfd *list = NULL, *n;
	size_t max = 8, i;
	int r;

	if (!p->ops->get_ioeventfds)
		return 0;
	for (;;) {
		n = realloc(list, max * sizeof(*list));
		if (!n) {
			free(list);
			return -ENOMEM;
		}
		list = n;
		r = p->ops->get_ioeventfds(p->opaque, list, max);
		if (r < 0 || (size_t)r <= max)
			break;
		max = (size_t)r;
	}
	if (r <= 0) {
		free(list);
		return r;
	}
	p->db = calloc((size_t)r, sizeof(*p->db));
	if (!p->db) {
		free(list);
		return -ENOMEM;
	}
	for (i = 0; i < (size_t)r; i++) {
		const struct irqlink_pci_ioeventfd *d = &list[i];
		const struct il_pci_bar *b = d->region < IL_PCI_BARS ?
			&p->bar[d->region] : NULL;
		int fd;

		if (!b || !b->size || d->flags & ~IRQLINK_PCI_IOEVENTFD_DATAMATCH ||
		    (d->size != 0 && d->size != 1 && d->size != 2 &&
		     d->size != 4 && d->size != 8) ||
		    d->offset >= b->region_size ||
		    b->region_size - d->offset < d->size) {
			r = -EINVAL;
			break;
		}
		fd = il_eventfd_dup(d->fd);
		if (fd < 0) {
			r = fd;
			break;
		}
		p->db[i].d = *d;
		p->db[i].d.fd = fd;
		p->ndb = i + 1;
	}
	free(list);
	return r < 0 ? r : 0;
}

int il_pci_bars_init(struct irqlink_pci *p)
{
	uint32_t i;
	int r;

	for (i = 0; i < IL_PCI_BARS; i++) {
		r = bar_init(p, i);
		if (r)
			return r;
	}
	return doorbells_init(p);
}

static void doorbell_req(const struct irqlink_pci *p,
			 const struct il_pci_doorbell *db, uint64_t addr,
			 struct kvm_ioeventfd *req)
{
	memset(req, 0, sizeof(*req));
	req->addr = addr;
	req->len = db->d.size;
	req->fd = db->d.fd;
	if (p->bar[db->d.region].io)
		req->flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (db->d.flags & IRQLINK_PCI_IOEVENTFD_DATAMATCH) {
		req->flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		req->datamatch = db->d.datamatch;
	}
}

static void doorbell_off(struct irqlink_pci *p, struct il_pci_doorbell *db)
{
	struct kvm_ioeventfd req;

	if (!db->registered)
		return;
	doorbell_req(p, db, db->addr, &req);
	irqlink_ioeventfd_deregister(p->vm, &req);
	db->registered = false;
	p->stats.ioeventfds--;
}

static int doorbell_on(struct irqlink_pci *p, struct il_pci_doorbell *db,
		       uint64_t base)
{
	struct kvm_ioeventfd req;
	int r;

	if (!p->vm)
		return 0;
	doorbell_req(p, db, base + db->d.offset, &req);
	r = irqlink_ioeventfd_register(p->vm, &req);
	if (r)
		return r;
	db->registered = true;
	db->addr = req.addr;
	p->stats.ioeventfds++;
	return 0;
}

void il_pci_bars_fini(struct irqlink_pci *p)
{
	size_t i;

	for (i = 0; i < p->ndb; i++) {
		doorbell_off(p, &p->db[i]);
		close(p->db[i].d.fd);
	}
	free(p->db);
	p->db = NULL;
	p->ndb = 0;
	il_pci_bar_map_fini(p);
}

int il_pci_bars_update(struct irqlink_pci *p)
{
	uint32_t cmd = il_cfg_get(p, IL_CFG_COMMAND, 2), i;
	size_t j;
	int first = 0;

	for (i = 0; i < IL_PCI_BARS; i++) {
		struct il_pci_bar *b = &p->bar[i];
		uint32_t off = IL_CFG_BAR0 + 4 * i;
		uint64_t addr;
		bool on;

		if (!b->size)
			continue;
		addr = il_cfg_get(p, off, 4) & (b->io ? ~3u : ~0xfu);
		if (b->is64)
			addr |= (uint64_t)il_cfg_get(p, off + 4, 4) << 32;
		on = (cmd & (b->io ? IL_CMD_IO : IL_CMD_MEM)) && addr &&
			addr + b->size > addr &&
			(!b->io || addr + b->size <= IL_PIO_LIMIT);
		if (on == b->mapped && (!on || addr == b->addr))
			continue;
		for (j = 0; j < p->ndb; j++)
			if (p->db[j].d.region == i)
				doorbell_off(p, &p->db[j]);
		il_pci_bar_map_off(p, i);
		b->mapped = on;
		b->addr = on ? addr : 0;
		if (!on || p->db_suspended)
			continue;
		first = il_first(first, il_pci_bar_map_on(p, i));
		for (j = 0; j < p->ndb; j++)
			if (p->db[j].d.region == i)
				first = il_pci_err(p, first,
					doorbell_on(p, &p->db[j], addr));
	}
	return first;
}

int il_pci_doorbells_retake(struct irqlink_pci *p)
{
	int first = 0, r;

	for (size_t j = 0; j < p->ndb; j++) {
		doorbell_off(p, &p->db[j]);
		close(p->db[j].d.fd);
	}
	free(p->db);
	p->db = NULL;
	p->ndb = 0;
	r = doorbells_init(p);
	if (r)
		return il_pci_err(p, 0, r);
	for (size_t j = 0; !p->db_suspended && j < p->ndb; j++) {
		struct il_pci_bar *b = &p->bar[p->db[j].d.region];

		if (b->mapped)
			first = il_pci_err(p, first,
					   doorbell_on(p, &p->db[j], b->addr));
	}
	return first;
}

void il_pci_doorbells_suspend(struct irqlink_pci *p)
{
	for (size_t j = 0; j < p->ndb; j++)
		doorbell_off(p, &p->db[j]);
	/* And the directly mapped areas: every access must trap. */
	for (uint32_t i = 0; i < IL_PCI_BARS; i++)
		il_pci_bar_map_off(p, i);
	p->db_suspended = true;
}

int il_pci_doorbells_resume(struct irqlink_pci *p)
{
	int first = 0;

	if (!p->db_suspended)
		return 0;
	p->db_suspended = false;
	for (size_t j = 0; j < p->ndb; j++) {
		struct il_pci_bar *b = &p->bar[p->db[j].d.region];

		if (b->mapped)
			first = il_first(first, doorbell_on(p, &p->db[j],
							    b->addr));
	}
	for (uint32_t i = 0; i < IL_PCI_BARS; i++)
		first = il_first(first, il_pci_bar_map_on(p, i));
	return first;
}

/* A write to a removed doorbell: give the device what KVM's ioeventfd
 * would have (one signal on a match), not a register write it never sees
 * while the doorbell is registered. 1 if it was a doorbell. */
static int doorbell_trap(struct irqlink_pci *p, uint32_t bar, uint64_t off,
			 const void *data, uint32_t size)
{
	static const uint64_t one = 1;
	uint64_t v = 0;

	memcpy(&v, data, size);
	for (size_t j = 0; j < p->ndb; j++) {
		const struct irqlink_pci_ioeventfd *d = &p->db[j].d;

		if (d->region != bar || d->offset != off ||
		    (d->size && d->size != size) ||
		    ((d->flags & IRQLINK_PCI_IOEVENTFD_DATAMATCH) &&
		     d->datamatch != v))
			continue;
		if (write(d->fd, &one, sizeof(one)) != sizeof(one))
			return il_pci_err(p, 0, -errno);
		p->stats.doorbell_traps++;
		return 1;
	}
	return 0;
}

static int bar_access(struct irqlink_pci *p, uint64_t addr, void *data,
		  uint32_t size, bool is_write, bool io)
{
	uint32_t i;
	int r = 0;

	if (!p || !data || (size != 1 && size != 2 && size != 4 && size != 8))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < IL_PCI_BARS; i++) {
		struct il_pci_bar *b = &p->bar[i];
		uint64_t off;

		if (!b->mapped || b->io != io || addr < b->addr ||
		    addr - b->addr >= b->size)
			continue;
		off = addr - b->addr;
		if (b->size - off < size) {
			r = -EINVAL;
			break;
		}
		if (is_write)
			p->stats.mmio_writes++;
		else
			p->stats.mmio_reads++;
		r = il_pci_msix_access(p, i, off, data, size, is_write);
		if (r) {
			r = r < 0 ? r : 1;
			break;
		}
		r = 1;
		if (b->region_size < off + size) {
			/* Decoded but not backed: reads float high. */
			if (!is_write)
				memset(data, 0xff, size);
			break;
		}
		if (is_write && p->db_suspended &&
		    (r = doorbell_trap(p, i, off, data, size)) != 0) {
			break;
		} else if (is_write) {
			r = p->ops->region_write(p->opaque, i, off, data, size);
		} else {
			r = p->ops->region_read(p->opaque, i, off, data, size);
			if (r)
				memset(data, 0xff, size);
		}
		r = r ? il_pci_err(p, 0, r) : 1;
		break;
	}
	if (r > 0)
		il_pci_ack_bar_accessed(p);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int irqlink_pci_mmio(struct irqlink_pci *pci, uint64_t addr, void *data,
		     uint32_t size, bool is_write)
{
	return bar_access(pci, addr, data, size, is_write, false);
}

int irqlink_pci_pio(struct irqlink_pci *pci, uint64_t port, void *data,
		    uint32_t size, bool is_write)
{
	return bar_access(pci, port, data, size, is_write, true);
}

int irqlink_pci_bar_info(struct irqlink_pci *pci, unsigned int bar,
			 struct irqlink_pci_bar *out)
{
	const struct il_pci_bar *b;
	uint32_t off;

	if (!pci || !out || bar >= IL_PCI_BARS)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	b = &pci->bar[bar];
	off = IL_CFG_BAR0 + 4 * bar;
	memset(out, 0, sizeof(*out));
	if (b->size) {
		out->size = b->size;
		out->io = b->io;
		out->is64 = b->is64;
		out->prefetch = b->prefetch;
		out->mapped = b->mapped;
		out->addr = il_cfg_get(pci, off, 4) & (b->io ? ~3u : ~0xfu);
		if (b->is64)
			out->addr |= (uint64_t)il_cfg_get(pci, off + 4, 4) << 32;
	}
	pthread_mutex_unlock(&pci->lock);
	return 0;
}
