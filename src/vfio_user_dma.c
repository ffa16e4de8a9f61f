/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server's DMA map table.
 *
 * Theory of operation: the client's ranges are kept sorted by IOVA in one
 * array, so an access finds its range by binary search and an overlap
 * check only looks at the two neighbours of the insertion point. A range
 * that came with an fd is mmap()ed once at DMA_MAP, shared, with exactly
 * the protection the client granted, so a device bug that writes a
 * read-only range faults here instead of corrupting the guest. The table
 * is behind a rwlock: device threads read guest memory under the read
 * lock while the loop thread maps and unmaps under the write lock, which
 * is what makes "no reference after DMA_UNMAP's reply" true.
 */
#include "vfio_user_dma.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DMA_PAGE 4096u

int il_vfu_dma_init(struct il_vfu_dma *d, size_t max_maps)
{
	memset(d, 0, sizeof(*d));
	d->max = max_maps;
	return -pthread_rwlock_init(&d->lock, NULL);
}

static void release(struct il_vfu_dma_range *r)
{
	if (r->addr)
		(void)munmap(r->addr, r->size);
}

void il_vfu_dma_clear(struct il_vfu_dma *d)
{
	pthread_rwlock_wrlock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		release(&d->r[i]);
	d->n = 0;
	pthread_rwlock_unlock(&d->lock);
}

void il_vfu_dma_fini(struct il_vfu_dma *d)
{
	il_vfu_dma_clear(d);
	free(d->r);
	pthread_rwlock_destroy(&d->lock);
}

/* The index of the first range whose end is beyond @iova. */
static size_t lower(const struct il_vfu_dma *d, uint64_t iova)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->r[mid].iova + d->r[mid].size <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int il_vfu_dma_map(struct il_vfu_dma *d, uint64_t iova, uint64_t size,
		   uint32_t prot, int fd, uint64_t offset)
{
	struct il_vfu_dma_range nr = { .iova = iova, .size = size,
				       .prot = prot };
	size_t at;
	int r = 0;

	if (!size || iova + size < iova || (iova | size) % DMA_PAGE ||
	    (fd >= 0 && offset % DMA_PAGE) || !prot ||
	    prot & ~(IL_VFU_DMA_READ | IL_VFU_DMA_WRITE))
		return -EINVAL;
	pthread_rwlock_wrlock(&d->lock);
	at = lower(d, iova);
	if (at < d->n && d->r[at].iova < iova + size) {
		r = -EEXIST;
		goto out;
	}
	if (d->n >= d->max) {
		r = -ENOSPC;
		goto out;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		void *p = realloc(d->r, cap * sizeof(*d->r));

		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		d->r = p;
		d->cap = cap;
	}
	if (fd >= 0) {
		int mp = (prot & IL_VFU_DMA_READ ? PROT_READ : 0) |
			 (prot & IL_VFU_DMA_WRITE ? PROT_WRITE : 0);
		void *a = mmap(NULL, (size_t)size, mp, MAP_SHARED, fd,
			       (off_t)offset);

		if (a == MAP_FAILED) {
			r = -errno;
			goto out;
		}
		nr.addr = a;
	}
	memmove(&d->r[at + 1], &d->r[at], (d->n - at) * sizeof(*d->r));
	d->r[at] = nr;
	d->n++;
out:
	pthread_rwlock_unlock(&d->lock);
	return r;
}

int il_vfu_dma_unmap(struct il_vfu_dma *d, uint64_t iova, uint64_t size)
{
	size_t at;
	int r = -ENOENT;

	pthread_rwlock_wrlock(&d->lock);
	at = lower(d, iova);
	if (at < d->n && d->r[at].iova == iova && d->r[at].size == size) {
		release(&d->r[at]);
		memmove(&d->r[at], &d->r[at + 1],
			(d->n - at - 1) * sizeof(*d->r));
		d->n--;
		r = 0;
	}
	pthread_rwlock_unlock(&d->lock);
	return r;
}

/* The ranges covering [iova, iova + len) in order, or -errno: every one
 * adjacent to the last and granting @need, and all of one kind (mapped
 * here, or reached by messages: -EOPNOTSUPP). */
static int cover(const struct il_vfu_dma *d, uint64_t iova, size_t len,
		 uint32_t need, size_t *first)
{
	size_t at = lower(d, iova);
	int kind = -1;          /* 1 mapped, 0 by messages */

	*first = at;
	for (; len; at++) {
		const struct il_vfu_dma_range *g;
		uint64_t n;

		if (at >= d->n)
			return -EFAULT;
		g = &d->r[at];
		if (g->iova > iova || !(g->prot & need))
			return -EFAULT;
		if (kind >= 0 && kind != !!g->addr)
			return -EFAULT;
		kind = !!g->addr;
		n = g->size - (iova - g->iova);
		if (n >= len)
			break;
		iova += n;
		len -= (size_t)n;
	}
	return kind == 0 ? -EOPNOTSUPP : 0;
}

int il_vfu_dma_access(struct il_vfu_dma *d, uint64_t iova, void *buf,
		      size_t len, bool write)
{
	uint32_t need = write ? IL_VFU_DMA_WRITE : IL_VFU_DMA_READ;
	uint8_t *p = buf;
	size_t at;
	int r;

	if (iova + len < iova)
		return -EFAULT;
	pthread_rwlock_rdlock(&d->lock);
	/* Checked whole before any byte moves: a refused access is never
	 * partly done, even across adjacent ranges. */
	r = cover(d, iova, len, need, &at);
	for (; !r && len; at++) {
		const struct il_vfu_dma_range *g = &d->r[at];
		uint64_t in = iova - g->iova;
		uint64_t n = g->size - in < len ? g->size - in : len;

		if (write)
			memcpy(g->addr + in, p, (size_t)n);
		else
			memcpy(p, g->addr + in, (size_t)n);
		p += n;
		iova += n;
		len -= (size_t)n;
	}
	pthread_rwlock_unlock(&d->lock);
	return r;
}
