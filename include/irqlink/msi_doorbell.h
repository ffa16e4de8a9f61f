/* SPDX-License-Identifier: MIT */
/*
 * The MSI doorbell at an IOVA: MSI as a device's own DMA write.
 *
 * Theory of operation
 * -------------------
 * On ARM a device's MSI is a memory write that goes through the IOMMU, so
 * the address the host programs into the device's MSI-X table is an IOVA,
 * and the VMM maps an IOVA window onto the interrupt controller's
 * doorbell. This object is that window for a device whose DMA the VMM
 * sees: a vfio-user device's DMA_WRITE into a range the client mapped
 * without an fd (irqlink_vfu_client_dma_map_handler() with
 * irqlink_msi_doorbell_dma), or an in-process device's bus-write callback
 * calling irqlink_msi_doorbell_write().
 *
 * The host programs the device's table (its host view, as the host kernel
 * programs a physical device) with irqlink_msi_doorbell_message(): every
 * vector writes the window's first word, and the data names the vector,
 * as an ITS's translation register takes the event number. A 4-byte write
 * of data V into the window becomes one KVM_SIGNAL_MSI of the guest's
 * message for vector V, which @resolve supplies (the PCI glue's
 * irqlink_pci_guest_msi()). Nothing is injected for anything else, and
 * nothing is dropped silently: every refused write returns an error (the
 * device's bus write fails, and a vfio-user server reports it to the
 * device) and is counted. Unmapping the window (DMA_UNMAP) stops delivery:
 * the device's next write finds no mapping and is refused there.
 *
 * Masking is the device's business, as with eventfds: the glue mirrors the
 * guest's mask bits to the device model, which holds a masked vector back
 * and writes it once on unmask (irqlink_dev_set_msix_writer()).
 *
 * Threading: write may be called from any number of threads at once;
 * @resolve must allow that. Destroy only when no write can come (after
 * the window is unmapped, or the device stopped).
 */
#ifndef IRQLINK_MSI_DOORBELL_H
#define IRQLINK_MSI_DOORBELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct irqlink_msi_doorbell_config
 * @iova:    the window's first IOVA, 4-byte aligned.
 * @size:    its length in bytes: a multiple of 4, at least 4. Writes
 *           anywhere in it are doorbell writes; a device is programmed
 *           with the first word.
 * @vectors: data values 0 .. @vectors - 1 name a vector (1 .. 2048).
 * @resolve: the guest's message for @vector: 0 and *@msg, or -errno
 *           (-ENOENT: the guest has none now). Called on the writing
 *           thread, possibly inside a device op: take no lock that ops
 *           hold.
 * @opaque:  passed to @resolve.
 */
struct irqlink_msi_doorbell_config {
	uint64_t iova;
	uint64_t size;
	uint32_t vectors;
	int (*resolve)(void *opaque, uint32_t vector, struct kvm_msi *msg);
	void *opaque;
};

struct irqlink_msi_doorbell;

/*
 * irqlink_msi_doorbell_create - a doorbell window that injects into @vm
 * (borrowed; it must outlive the doorbell and have an in-kernel irqchip,
 * full or split).
 * Returns 0 and *@out; -EINVAL for a NULL argument, a misaligned or empty
 * window, one that wraps past 2^64, @vectors 0 or above 2048, or a VM
 * without an in-kernel irqchip; -ENOMEM.
 */
int irqlink_msi_doorbell_create(struct irqlink_vm *vm,
				const struct irqlink_msi_doorbell_config *cfg,
				struct irqlink_msi_doorbell **out);

/* Free it. NULL is a no-op. */
void irqlink_msi_doorbell_destroy(struct irqlink_msi_doorbell *db);

/*
 * irqlink_msi_doorbell_message - what the host programs into the device's
 * MSI-X table entry for @vector: *@addr (the window's first IOVA) and
 * *@data (@vector). Returns 0, or -EINVAL for a vector past @vectors or a
 * NULL argument.
 */
int irqlink_msi_doorbell_message(const struct irqlink_msi_doorbell *db,
				 uint32_t vector, uint64_t *addr,
				 uint32_t *data);

/*
 * irqlink_msi_doorbell_write - the device wrote @len bytes of @buf at
 * @iova. Returns 0 once the guest's message for the vector was injected
 * (KVM_SIGNAL_MSI; a message that no vCPU accepted counts as undelivered
 * and still returns 0, as KVM reports it); -EFAULT if the write does not
 * lie inside the window; -EINVAL unless it is one aligned 4-byte word
 * whose data names a vector; the -errno of @resolve (-ENOENT: the guest
 * has no message for it); the -errno of KVM_SIGNAL_MSI.
 */
int irqlink_msi_doorbell_write(struct irqlink_msi_doorbell *db, uint64_t iova,
			       const void *buf, size_t len);

/*
 * irqlink_msi_doorbell_dma - the same, in the shape of a vfio-user
 * client's range handler (irqlink_vfu_dma_fn; @opaque is the doorbell).
 * A read of the window is refused with -EFAULT: a doorbell is write-only.
 */
int irqlink_msi_doorbell_dma(void *opaque, uint64_t iova, void *buf,
			     size_t len, bool write);

/*
 * struct irqlink_msi_doorbell_stats - since create.
 * @writes:      writes offered (irqlink_msi_doorbell_write/_dma calls).
 * @injected:    KVM_SIGNAL_MSI calls made.
 * @undelivered: of those, messages no vCPU accepted (KVM returned 0).
 * @refused:     writes outside the window, not one aligned word, data
 *               naming no vector, or reads.
 * @no_message:  writes for a vector the guest had no message for.
 * @errors:      KVM_SIGNAL_MSI failures.
 */
struct irqlink_msi_doorbell_stats {
	uint64_t writes;
	uint64_t injected;
	uint64_t undelivered;
	uint64_t refused;
	uint64_t no_message;
	uint64_t errors;
};

/* Copy the counters (each read atomically). 0, or -EINVAL for NULL. */
int irqlink_msi_doorbell_get_stats(const struct irqlink_msi_doorbell *db,
				   struct irqlink_msi_doorbell_stats *st);

#ifdef __cplusplus
}
#endif

#endif
