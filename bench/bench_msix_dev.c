/* SPDX-License-Identifier: MIT */
/*
 * The scale bench's MSI-X device (bench_msix_dev.h).
 */
#include "bench_msix_dev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t bench_msix_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void sd_build_config(struct sdev *d)
{
	uint8_t *c = d->config;

	/* Bench-only IDs: nothing matches them, nothing needs to. */
	put16(c + 0x00, 0x1b36);
	put16(c + 0x02, 0x11cf);
	put16(c + 0x06, 0x0010);                /* capability list */
	c[0x0b] = 0xff;                         /* class: unassigned */
	put32(c + 0x10, 0x0);                   /* BAR0: 32-bit memory */
	c[0x34] = SD_MSIX_CAP;
	c[SD_MSIX_CAP] = 0x11;                  /* MSI-X, last capability */
	put16(c + SD_MSIX_CAP + 2, (uint16_t)(d->nvec - 1));
	put32(c + SD_MSIX_CAP + 4, 0);          /* table at BAR0 + 0 */
	put32(c + SD_MSIX_CAP + 8, (uint32_t)d->pba_off);
}

int sd_create(unsigned int nvec, struct sdev **out)
{
	struct irqlink_dev_shape shape = { .msix_vectors = nvec };
	uint64_t end;
	struct sdev *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->nvec = nvec;
	/* Table at 0, PBA from the next page, the BAR a power of two. */
	d->pba_off = ((uint64_t)nvec * MSIX_ENTRY + 0xfff) & ~UINT64_C(0xfff);
	end = d->pba_off + (nvec + 63) / 64 * 8;
	d->bar_size = 0x1000;
	while (d->bar_size < end)
		d->bar_size <<= 1;
	d->pba = calloc((nvec + 63) / 64, sizeof(*d->pba));
	if (!d->pba) {
		free(d);
		return -ENOMEM;
	}
	r = irqlink_dev_create(&shape, &d->irq);
	if (r) {
		free(d->pba);
		free(d);
		return r;
	}
	sd_build_config(d);
	*out = d;
	return 0;
}

void sd_destroy(struct sdev *d)
{
	if (!d)
		return;
	irqlink_dev_destroy(d->irq);
	free(d->pba);
	free(d);
}

static int sd_get_region_info(void *opaque, struct vfio_region_info *info)
{
	struct sdev *d = opaque;

	if (info->argsz < sizeof(*info) ||
	    info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	info->size = 0;
	if (info->index == VFIO_PCI_BAR0_REGION_INDEX)
		info->size = d->bar_size;
	else if (info->index == VFIO_PCI_CONFIG_REGION_INDEX)
		info->size = SD_CFG_SIZE;
	info->flags = info->size ? VFIO_REGION_INFO_FLAG_READ |
		VFIO_REGION_INFO_FLAG_WRITE : 0;
	info->cap_offset = 0;
	info->offset = 0;
	return 0;
}

static bool in_range(uint64_t off, size_t len, uint64_t size)
{
	return off <= size && size - off >= len;
}

static int sd_region_read(void *opaque, uint32_t region, uint64_t offset,
			  void *data, size_t len)
{
	struct sdev *d = opaque;
	uint64_t pba_len = (d->nvec + 63) / 64 * 8;
	uint8_t *out = data;
	size_t i;

	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (!in_range(offset, len, SD_CFG_SIZE))
			return -EINVAL;
		memcpy(out, d->config + offset, len);
		return 0;
	}
	if (region != VFIO_PCI_BAR0_REGION_INDEX ||
	    !in_range(offset, len, d->bar_size))
		return -EINVAL;
	/* Only the PBA reaches the device (the glue serves the table); it
	 * is the model's pending bits. */
	irqlink_dev_read_pending(d->irq, VFIO_PCI_MSIX_IRQ_INDEX, d->pba,
				 pba_len / 8);
	for (i = 0; i < len; i++) {
		uint64_t o = offset + i;

		out[i] = o >= d->pba_off && o - d->pba_off < pba_len ?
			(uint8_t)(d->pba[(o - d->pba_off) / 8] >>
				  (8 * ((o - d->pba_off) % 8))) : 0;
	}
	return 0;
}

static int sd_region_write(void *opaque, uint32_t region, uint64_t offset,
			   const void *data, size_t len)
{
	struct sdev *d = opaque;

	(void)data;
	/* The command register is the only config write the glue passes on,
	 * and with no INTx it means nothing to this device. */
	if (region == VFIO_PCI_CONFIG_REGION_INDEX)
		return in_range(offset, len, SD_CFG_SIZE) ? 0 : -EINVAL;
	if (region == VFIO_PCI_BAR0_REGION_INDEX)
		return in_range(offset, len, d->bar_size) ? 0 : -EINVAL;
	return -EINVAL;
}

static int sd_get_irq_info(void *opaque, struct vfio_irq_info *info)
{
	struct sdev *d = opaque;

	return irqlink_dev_get_irq_info(d->irq, info);
}

static int sd_set_irqs(void *opaque, const struct vfio_irq_set *set,
		       const int *fds, size_t nfds)
{
	struct sdev *d = opaque;
	struct sd_marks *m = &d->marks;
	bool msix = set->index == VFIO_PCI_MSIX_IRQ_INDEX;
	bool with_fds = m->armed && msix && nfds;
	int r;

	if (m->armed && msix && (set->flags & VFIO_IRQ_SET_ACTION_UNMASK) &&
	    !m->unmask_calls++)
		m->unmask_in = bench_msix_now_ns();
	if (with_fds && !m->fd_calls++)
		m->fds_in = bench_msix_now_ns();
	r = irqlink_dev_set_irqs_fds(d->irq, set, fds, nfds);
	if (with_fds)
		m->fds_out = bench_msix_now_ns();
	return r;
}

const struct irqlink_pci_ops bench_msix_dev_ops = {
	.get_region_info = sd_get_region_info,
	.region_read = sd_region_read,
	.region_write = sd_region_write,
	.get_irq_info = sd_get_irq_info,
	.set_irqs = sd_set_irqs,
};

