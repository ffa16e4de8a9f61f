/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server's device commands: DEVICE_GET_INFO,
 * DEVICE_GET_REGION_INFO, DEVICE_GET_REGION_IO_FDS (the device's
 * doorbells, for the client's KVM_IOEVENTFD), DEVICE_GET_IRQ_INFO,
 * DEVICE_SET_IRQS,
 * REGION_READ, REGION_WRITE and DEVICE_RESET, each turned into calls of
 * the device's VFIO-shaped ops; and DMA_MAP / DMA_UNMAP, kept in the
 * server's DMA table (vfio_user_dma.c).
 *
 * Theory of operation: a command is checked in full against what the wire
 * says (payload length, argsz) and what the device says (region size and
 * access flags, interrupt index count) before any op runs, so an op only
 * ever sees a request the kernel's ioctl would have let through its own
 * copy_from_user checks. The ops then give the kernel's answers (their
 * -errno is the error reply). Lengths are compared in 64 bits so that no
 * offset + count can wrap.
 */
#include "vfio_user_server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/vfio.h>

#include <irqlink/device.h>

static uint32_t num_regions(const struct irqlink_vfu_server *s)
{
	return s->cfg.num_regions ? s->cfg.num_regions : VFIO_PCI_NUM_REGIONS;
}

static uint32_t num_irqs(const struct irqlink_vfu_server *s)
{
	return s->cfg.num_irqs ? s->cfg.num_irqs : VFIO_PCI_NUM_IRQS;
}

static uint32_t u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int get_info(struct irqlink_vfu_server *s, const struct il_vfu_msg *m,
		    struct il_vfu_answer *a)
{
	struct il_vfu_device_info info = {
		.argsz = sizeof(info),
		.flags = VFIO_DEVICE_FLAGS_PCI |
			 (s->cfg.reset ? VFIO_DEVICE_FLAGS_RESET : 0),
		.num_regions = num_regions(s),
		.num_irqs = num_irqs(s),
	};

	/* argsz is the largest reply the client takes. */
	if (m->len < sizeof(uint32_t) || u32_at(m->payload) < sizeof(info))
		return -EINVAL;
	memcpy(s->reply, &info, sizeof(info));
	a->len = sizeof(info);
	return 0;
}

/* The device's idea of region @index, after checking the index. */
static int region_info(struct irqlink_vfu_server *s, uint32_t index,
		       struct vfio_region_info *ri)
{
	if (index >= num_regions(s))
		return -EINVAL;
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return s->cfg.ops->get_region_info(s->cfg.opaque, ri);
}

/* The device's mappable areas of a region of @size bytes, if it has any
 * it can describe: at least one, page-aligned, inside the region. */
static bool region_mmap(struct irqlink_vfu_server *s, uint32_t index,
			uint64_t size, struct irqlink_pci_region_mmap *mm)
{
	if (!size || !s->cfg.ops->get_region_mmap ||
	    s->cfg.ops->get_region_mmap(s->cfg.opaque, index, mm) ||
	    mm->fd < 0 || !mm->nareas || mm->nareas > IRQLINK_PCI_MMAP_AREAS)
		return false;
	for (uint32_t i = 0; i < mm->nareas; i++)
		if (((mm->areas[i].offset | mm->areas[i].size) & 0xfff) ||
		    !mm->areas[i].size || mm->areas[i].offset > size ||
		    mm->areas[i].size > size - mm->areas[i].offset)
			return false;
	return true;
}

/* The region info, and for a region the device lets be mapped, the MMAP
 * flag, its fd (where the region starts at ri.offset) and the sparse mmap
 * capability listing the areas that may be mapped. As the kernel does, a
 * reply that would not fit the client's argsz says the size it needs (and
 * carries no capability and no fd: the client asks again). */
static int get_region_info(struct irqlink_vfu_server *s,
			   const struct il_vfu_msg *m, struct il_vfu_answer *a)
{
	struct vfio_region_info_cap_sparse_mmap cap = {
		.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP,
			    .version = 1 },
	};
	struct irqlink_pci_region_mmap mm;
	struct vfio_region_info ri;
	uint32_t argsz, need;
	int r;

	if (m->len < 16 || u32_at(m->payload) < IL_VFU_REGION_INFO_SIZE)
		return -EINVAL;
	argsz = u32_at(m->payload);
	r = region_info(s, u32_at(m->payload + 8), &ri);
	if (r)
		return r;
	ri.flags &= ~(uint32_t)(VFIO_REGION_INFO_FLAG_MMAP |
				VFIO_REGION_INFO_FLAG_CAPS);
	ri.argsz = IL_VFU_REGION_INFO_SIZE;
	ri.cap_offset = 0;
	ri.offset = 0;
	a->len = IL_VFU_REGION_INFO_SIZE;
	if (region_mmap(s, ri.index, ri.size, &mm)) {
		need = IL_VFU_REGION_INFO_SIZE + (uint32_t)sizeof(cap) +
		       mm.nareas * (uint32_t)sizeof(cap.areas[0]);
		ri.flags |= VFIO_REGION_INFO_FLAG_MMAP |
			    VFIO_REGION_INFO_FLAG_CAPS;
		ri.offset = mm.fd_offset;
		ri.argsz = need;
		if (argsz >= need) {
			uint8_t *p = s->reply + IL_VFU_REGION_INFO_SIZE;

			ri.cap_offset = IL_VFU_REGION_INFO_SIZE;
			cap.nr_areas = mm.nareas;
			memcpy(p, &cap, sizeof(cap));
			p += sizeof(cap);
			for (uint32_t i = 0; i < mm.nareas; i++) {
				struct vfio_region_sparse_mmap_area area = {
					.offset = mm.areas[i].offset,
					.size = mm.areas[i].size,
				};

				memcpy(p, &area, sizeof(area));
				p += sizeof(area);
			}
			a->len = need;
			a->fds[0] = mm.fd;      /* the device's, borrowed */
			a->nfds = 1;
		}
	}
	memcpy(s->reply, &ri, IL_VFU_REGION_INFO_SIZE);
	return 0;
}

static int get_irq_info(struct irqlink_vfu_server *s,
			const struct il_vfu_msg *m, struct il_vfu_answer *a)
{
	struct vfio_irq_info info;
	int r;

	if (m->len < sizeof(info))
		return -EINVAL;
	memcpy(&info, m->payload, sizeof(info));
	if (info.argsz < sizeof(info) || info.index >= num_irqs(s))
		return -EINVAL;
	info.argsz = sizeof(info);
	info.flags = info.count = 0;
	r = s->cfg.ops->get_irq_info(s->cfg.opaque, &info);
	if (r)
		return r;
	memcpy(s->reply, &info, sizeof(info));
	a->len = sizeof(info);
	return 0;
}

static int set_irqs(struct irqlink_vfu_server *s, const struct il_vfu_msg *m)
{
	/* The header and its BOOL data, one buffer: a struct with a
	 * flexible array cannot be followed by another member in C11. */
	_Alignas(struct vfio_irq_set) uint8_t buf[sizeof(struct vfio_irq_set) +
						  IRQLINK_MSIX_MAX];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	uint32_t data;
	int r;

	if (m->len < sizeof(*set))
		return -EINVAL;
	memcpy(set, m->payload, sizeof(*set));
	if (set->argsz < sizeof(*set) || set->index >= num_irqs(s))
		return -EINVAL;
	data = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	/* Fds only with DATA_EVENTFD; inline data only with DATA_BOOL. */
	if (m->nfds && data != VFIO_IRQ_SET_DATA_EVENTFD)
		return -EINVAL;
	set->argsz = sizeof(*set);
	if (data == VFIO_IRQ_SET_DATA_BOOL) {
		if (set->count > IRQLINK_MSIX_MAX ||
		    m->len - sizeof(*set) < set->count)
			return -EINVAL;
		memcpy(buf + sizeof(*set), m->payload + sizeof(*set),
		       set->count);
		set->argsz += set->count;
	}
	r = s->cfg.ops->set_irqs(s->cfg.opaque, set, m->fds, m->nfds);
	/* The model's "only this many vectors" has no place on the wire. */
	return r > 0 ? -ENOSPC : r;
}

/* Check a REGION_READ/WRITE against the region: @write says which. */
static int region_access(struct irqlink_vfu_server *s,
			 const struct il_vfu_msg *m, bool write,
			 struct il_vfu_region_access *ra)
{
	struct vfio_region_info ri;
	uint32_t need = write ? VFIO_REGION_INFO_FLAG_WRITE
			      : VFIO_REGION_INFO_FLAG_READ;
	int r;

	if (m->len < sizeof(*ra))
		return -EINVAL;
	memcpy(ra, m->payload, sizeof(*ra));
	if (ra->count > s->cfg.max_data_xfer_size)
		return -EINVAL;
	if (m->len != sizeof(*ra) + (write ? ra->count : 0))
		return -EINVAL;
	r = region_info(s, ra->region, &ri);
	if (r)
		return r;
	if (!(ri.flags & need) || ra->offset > ri.size ||
	    ri.size - ra->offset < ra->count)
		return -EINVAL;
	return 0;
}

static int region_read(struct irqlink_vfu_server *s,
		       const struct il_vfu_msg *m, struct il_vfu_answer *a)
{
	struct il_vfu_region_access ra;
	int r = region_access(s, m, false, &ra);

	if (r)
		return r;
	r = s->cfg.ops->region_read(s->cfg.opaque, ra.region, ra.offset,
				    s->reply + sizeof(ra), ra.count);
	if (r < 0)
		return r;
	memcpy(s->reply, &ra, sizeof(ra));
	a->len = sizeof(ra) + ra.count;
	return 0;
}

static int region_write(struct irqlink_vfu_server *s,
			const struct il_vfu_msg *m, struct il_vfu_answer *a)
{
	struct il_vfu_region_access ra;
	int r = region_access(s, m, true, &ra);

	if (r)
		return r;
	r = s->cfg.ops->region_write(s->cfg.opaque, ra.region, ra.offset,
				     m->payload + sizeof(ra), ra.count);
	if (r < 0)
		return r;
	ra.count = (uint32_t)(m->len - sizeof(ra));
	memcpy(s->reply, &ra, sizeof(ra));
	a->len = sizeof(ra);
	return 0;
}

static int dma_map(struct irqlink_vfu_server *s, const struct il_vfu_msg *m)
{
	struct il_vfu_dma_map d;

	if (m->len < sizeof(d) || m->nfds > 1)
		return -EINVAL;
	memcpy(&d, m->payload, sizeof(d));
	if (d.argsz < sizeof(d) ||
	    d.flags & ~(uint32_t)(VFIO_DMA_MAP_FLAG_READ |
				  VFIO_DMA_MAP_FLAG_WRITE))
		return -EINVAL;
	/* VFIO's READ/WRITE are the device's rights, as ours are. */
	return il_vfu_dma_map(&s->dma, d.address, d.size, d.flags,
			      m->nfds ? m->fds[0] : -1, d.offset);
}

static int dma_unmap(struct irqlink_vfu_server *s, const struct il_vfu_msg *m,
		     struct il_vfu_answer *a)
{
	struct il_vfu_dma_unmap d;
	int r;

	if (m->len < sizeof(d))
		return -EINVAL;
	memcpy(&d, m->payload, sizeof(d));
	/* No dirty-page bitmap, no "unmap all": the spec has flags unused. */
	if (d.argsz < sizeof(d) || d.flags)
		return -EINVAL;
	r = il_vfu_dma_unmap(&s->dma, d.address, d.size);
	if (r)
		return r;
	d.argsz = sizeof(d);
	memcpy(s->reply, &d, sizeof(d));
	a->len = sizeof(d);
	return 0;
}

/* The device's doorbells, all of them: *@out is the caller's to free. */
static int device_ioeventfds(struct irqlink_vfu_server *s,
			     struct irqlink_pci_ioeventfd **out)
{
	size_t cap = 16;

	*out = NULL;
	if (!s->cfg.ops->get_ioeventfds)
		return 0;
	for (;;) {
		struct irqlink_pci_ioeventfd *e = calloc(cap, sizeof(*e));
		int n;

		if (!e)
			return -ENOMEM;
		n = s->cfg.ops->get_ioeventfds(s->cfg.opaque, e, cap);
		if (n < 0 || (size_t)n <= cap) {
			if (n < 0)
				free(e);
			else
				*out = e;
			return n;
		}
		free(e);
		cap = (size_t)n;
	}
}

static int region_io_fds(struct irqlink_vfu_server *s,
			 const struct il_vfu_msg *m, struct il_vfu_answer *a)
{
	struct irqlink_pci_ioeventfd *e;
	uint32_t req[4], count = 0, need;
	struct vfio_region_info ri;
	int n, r;

	if (m->len < sizeof(req))
		return -EINVAL;
	memcpy(req, m->payload, sizeof(req));
	/* argsz, flags (must be 0), index, count (must be 0) */
	if (req[0] < sizeof(req) || req[1] || req[3])
		return -EINVAL;
	r = region_info(s, req[2], &ri);
	if (r)
		return r;
	n = device_ioeventfds(s, &e);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct il_vfu_io_fd io = { 0 };
		size_t k;

		if (e[i].region != req[2])
			continue;
		/* Sub-regions may share an fd: send each fd once. */
		for (k = 0; k < a->nfds && a->fds[k] != e[i].fd; k++)
			;
		if (k == a->nfds) {
			if (a->nfds == s->peer.max_msg_fds ||
			    a->nfds == IL_VFU_MAX_FDS) {
				free(e);
				return -ENOSPC;
			}
			a->fds[a->nfds++] = e[i].fd;
		}
		io.offset = e[i].offset;
		io.size = e[i].size;
		io.fd_index = (uint32_t)k;
		io.type = IL_VFU_IO_FD_TYPE_IOEVENTFD;
		if (e[i].flags & IRQLINK_PCI_IOEVENTFD_DATAMATCH) {
			io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
			io.datamatch = e[i].datamatch;
		}
		if (sizeof(req) + (count + 1) * sizeof(io) <= s->max_msg_size)
			memcpy(s->reply + sizeof(req) + count * sizeof(io), &io,
			       sizeof(io));
		count++;
	}
	free(e);
	need = (uint32_t)(sizeof(req) + count * sizeof(struct il_vfu_io_fd));
	if (need > s->max_msg_size)
		return -ENOSPC;
	/* Too small a reply buffer: say how big, send no sub-region or fd,
	 * as for every other variable-size vfio reply. */
	if (req[0] < need) {
		a->nfds = 0;
		a->len = sizeof(req);
	} else {
		a->len = need;
	}
	req[0] = need;
	req[3] = count;
	memcpy(s->reply, req, sizeof(req));
	return 0;
}

int il_vfu_cmd_device(struct irqlink_vfu_server *s, const struct il_vfu_msg *m,
		      struct il_vfu_answer *a)
{
	/* Only SET_IRQS and DMA_MAP take fds; anywhere else they are a
	 * malformed message (the caller closes them). */
	if (m->nfds && m->hdr.cmd != IL_VFU_CMD_DEVICE_SET_IRQS &&
	    m->hdr.cmd != IL_VFU_CMD_DMA_MAP)
		return -EINVAL;
	switch (m->hdr.cmd) {
	case IL_VFU_CMD_DMA_MAP:
		return dma_map(s, m);
	case IL_VFU_CMD_DMA_UNMAP:
		return dma_unmap(s, m, a);
	case IL_VFU_CMD_DEVICE_GET_INFO:
		return get_info(s, m, a);
	case IL_VFU_CMD_DEVICE_GET_REGION_INFO:
		return get_region_info(s, m, a);
	case IL_VFU_CMD_DEVICE_GET_IRQ_INFO:
		return get_irq_info(s, m, a);
	case IL_VFU_CMD_DEVICE_SET_IRQS:
		return set_irqs(s, m);
	case IL_VFU_CMD_DEVICE_GET_REGION_IO_FDS:
		return region_io_fds(s, m, a);
	case IL_VFU_CMD_REGION_READ:
		return region_read(s, m, a);
	case IL_VFU_CMD_REGION_WRITE:
		return region_write(s, m, a);
	case IL_VFU_CMD_DEVICE_RESET:
		if (m->len)
			return -EINVAL;
		return s->cfg.reset ? s->cfg.reset(s->cfg.opaque) : -EINVAL;
	default:
		/* Known to the protocol but not served here (WRITE_MULTI,
		 * features, migration), or unknown. */
		return -ENOSYS;
	}
}

void il_vfu_device_release(struct irqlink_vfu_server *s)
{
	for (uint32_t i = 0; i < num_irqs(s); i++) {
		struct vfio_irq_info info = { .argsz = sizeof(info),
					      .index = i };
		struct vfio_irq_set off = {
			.argsz = sizeof(off),
			.flags = VFIO_IRQ_SET_DATA_NONE |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = i,
		};

		if (s->cfg.ops->get_irq_info(s->cfg.opaque, &info) ||
		    !info.count)
			continue;
		/* start 0, count 0: the index off, every eventfd dropped. */
		(void)s->cfg.ops->set_irqs(s->cfg.opaque, &off, NULL, 0);
	}
	if (s->cfg.reset)
		(void)s->cfg.reset(s->cfg.opaque);
}
