/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server's DMA map table: the client's DMA_MAP ranges,
 * fd-backed ones mapped into our address space, and the device's access
 * to them.
 */
#ifndef IRQLINK_SRC_VFIO_USER_DMA_H
#define IRQLINK_SRC_VFIO_USER_DMA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct il_vfu_dma_range {
	uint64_t iova, size;
	uint32_t prot;          /* IL_VFU_DMA_READ | IL_VFU_DMA_WRITE */
	uint8_t *addr;          /* our mapping, NULL without an fd */
};

#define IL_VFU_DMA_READ  1u     /* the device may read the range */
#define IL_VFU_DMA_WRITE 2u     /* the device may write it */

/* Sorted by iova, never overlapping. The lock makes device threads'
 * accesses safe against the loop thread's map and unmap. */
struct il_vfu_dma {
	pthread_rwlock_t lock;
	struct il_vfu_dma_range *r;
	size_t n, cap, max;
};

int il_vfu_dma_init(struct il_vfu_dma *d, size_t max_maps);
void il_vfu_dma_fini(struct il_vfu_dma *d);

/* Add [iova, iova + size) with @prot, mapping @fd at @offset when fd >= 0
 * (borrowed). 0; -EINVAL (size 0, a wrap, not page-aligned, bad prot);
 * -EEXIST (overlaps a range); -ENOSPC (max_maps reached); -ENOMEM or the
 * -errno of mmap(). */
int il_vfu_dma_map(struct il_vfu_dma *d, uint64_t iova, uint64_t size,
		   uint32_t prot, int fd, uint64_t offset);

/* Remove the range that is exactly [iova, iova + size): 0 or -ENOENT.
 * Once it returns no access uses the range. */
int il_vfu_dma_unmap(struct il_vfu_dma *d, uint64_t iova, uint64_t size);

/* Remove every range. */
void il_vfu_dma_clear(struct il_vfu_dma *d);

/* Copy between @buf and guest memory at @iova: @write = device to memory.
 * 0; -EFAULT if any byte is outside a range allowing the access, or the
 * access mixes ranges with and without an fd; -EOPNOTSUPP if it lies
 * wholly in ranges without an fd (the caller asks the client instead).
 * Nothing is copied unless all of it can be. */
int il_vfu_dma_access(struct il_vfu_dma *d, uint64_t iova, void *buf,
		      size_t len, bool write);

#endif
