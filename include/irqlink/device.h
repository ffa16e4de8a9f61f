/* SPDX-License-Identifier: MIT */
/*
 * The device-side interrupt model: what vfio-pci's interrupt code is to a
 * physical device, this is to a device emulated in user space.
 *
 * Theory of operation
 * -------------------
 * A device has up to five interrupt indexes, numbered as in <linux/vfio.h>:
 * INTx (0), MSI (1), MSI-X (2), ERR (3) and REQ (4). The VMM configures them
 * with irqlink_dev_get_irq_info() and irqlink_dev_set_irqs(), which take the
 * kernel's own struct vfio_irq_info / struct vfio_irq_set and follow vfio-pci
 * rule for rule, error codes and partial success included. The device side
 * raises interrupts with irqlink_dev_intx_assert(), irqlink_dev_msi_fire(),
 * irqlink_dev_err_signal() and irqlink_dev_req_signal(); each lands as one
 * eventfd signal on the trigger the VMM configured, or is held back by a mask.
 *
 * INTx is a level: the line stays asserted until the device deasserts it.
 * When it fires, INTx is masked first (AUTOMASKED) and the trigger signalled;
 * further assertions are not signalled until an unmask. An unmask while the
 * line is still asserted fires again at once. The unmask usually comes from
 * the guest's EOI through a KVM resampling irqfd's resamplefd, registered
 * here as the INTx unmask eventfd and watched by the model itself (see
 * "Unmask eventfds" below). The PCI command register's Interrupt Disable bit
 * is a second, virtual mask (irqlink_dev_set_intx_disable()).
 *
 * MSI and MSI-X are edges, one eventfd per vector. Beyond the kernel, the
 * model keeps a per-vector mask bit and a pending bit: a vector fired while
 * masked sets its pending bit, and unmasking a pending vector signals it
 * exactly once. MSI-X also has the function-wide mask. Masking never swaps
 * or closes a vector's eventfd, so an in-kernel irqfd attached to it keeps
 * working across mask/unmask. IRQLINK_DEV_STRICT turns the extension off:
 * MSI/MSI-X MASK and UNMASK then fail with -ENOTTY exactly like the kernel.
 *
 * File descriptors
 * ----------------
 * Every eventfd handed to irqlink_dev_set_irqs() is borrowed: the model
 * keeps its own duplicate (close-on-exec) and closes that duplicate when the
 * trigger is replaced, cleared, or the index disabled, or when the device is
 * destroyed. The caller may close its own fd as soon as the call returns.
 *
 * Threading
 * ---------
 * Any number of device threads may raise interrupts while one control
 * thread calls irqlink_dev_set_irqs(), irqlink_dev_set_intx_disable() and
 * the mask functions, and while the unmask watcher runs. Once a call that
 * removes or replaces an eventfd has returned, that eventfd is never
 * signalled by the model again. Control calls serialize among themselves.
 * irqlink_dev_destroy() must not race any other call on the same device.
 * The raise path takes one uncontended mutex (per vector for MSI/MSI-X, per
 * device for INTx) and makes one write(2); it never allocates.
 *
 * Unmask eventfds
 * ---------------
 * The INTx unmask eventfd (SET_IRQS UNMASK + DATA_EVENTFD) is watched with
 * epoll. Either let the model run its own watcher thread
 * (irqlink_dev_watcher_start()), or drive it from your own event loop:
 * poll irqlink_dev_poll_fd() for readability and call irqlink_dev_dispatch().
 * The model must be the only reader of an unmask eventfd it watches.
 */
#ifndef IRQLINK_DEVICE_H
#define IRQLINK_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#include <irqlink/bypass.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest MSI-X table a device can have (PCI spec: 2048 entries). */
#define IRQLINK_MSIX_MAX 2048u
/* Largest MSI vector count (Multiple Message Capable = 32). */
#define IRQLINK_MSI_MAX 32u

/* Shape flags. */
/* MSI/MSI-X MASK and UNMASK return -ENOTTY, as the kernel does. */
#define IRQLINK_DEV_STRICT (1u << 0)

/*
 * The interrupt shape of a device: what its config space advertises.
 */
struct irqlink_dev_shape {
	bool intx_pin;          /* Interrupt Pin register non-zero */
	bool pcie;              /* has a PCIe capability, so an ERR interrupt */
	bool msix_dynamic;      /* MSI-X vectors may be added while enabled
	                           (GET_IRQ_INFO then omits NORESIZE) */
	uint32_t msi_vectors;   /* 0 = no MSI capability; else a power of two
	                           from 1 to IRQLINK_MSI_MAX */
	uint32_t msix_vectors;  /* MSI-X table size; 0 = no MSI-X capability;
	                           at most IRQLINK_MSIX_MAX */
	uint32_t host_vectors;  /* how many MSI/MSI-X vectors the host can back
	                           at once; 0 = as many as asked. Enabling more
	                           returns this number (rule 17). */
	uint32_t flags;         /* IRQLINK_DEV_* */
};

struct irqlink_dev;

/*
 * irqlink_dev_create - create a device interrupt context.
 * @shape: the interrupt shape; copied.
 * @out:   receives the new context.
 *
 * Every index starts disabled, INTx unmasked and deasserted, Interrupt
 * Disable clear, every MSI/MSI-X mask bit clear.
 *
 * Returns 0, -EINVAL for an impossible shape (msi_vectors not a power of two
 * or above 32, msix_vectors above 2048, unknown flags, NULL pointers), or
 * -ENOMEM / -EMFILE when resources run out.
 */
int irqlink_dev_create(const struct irqlink_dev_shape *shape,
		       struct irqlink_dev **out);

/*
 * irqlink_dev_destroy - stop the watcher, close every eventfd the model holds
 * and free the context. NULL is a no-op. Must not race other calls on @dev.
 */
void irqlink_dev_destroy(struct irqlink_dev *dev);

/*
 * irqlink_dev_get_irq_info - VFIO_DEVICE_GET_IRQ_INFO.
 * @info: in: argsz and index; out: flags and count.
 *
 * Returns 0, or -EINVAL if argsz < sizeof(struct vfio_irq_info) or
 * index >= VFIO_PCI_NUM_IRQS. flags: EVENTFD always; INTx adds MASKABLE and
 * AUTOMASKED; MSI, ERR and REQ add NORESIZE, as does MSI-X unless the shape
 * is msix_dynamic. Unless IRQLINK_DEV_STRICT, MSI and MSI-X also report
 * MASKABLE, because the model implements their MASK/UNMASK. count: INTx 1
 * with a pin else 0, MSI msi_vectors, MSI-X msix_vectors, ERR 1 if pcie
 * else 0, REQ 1.
 */
int irqlink_dev_get_irq_info(struct irqlink_dev *dev,
			     struct vfio_irq_info *info);

/*
 * irqlink_dev_set_irqs - VFIO_DEVICE_SET_IRQS, kernel ioctl layout: BOOL and
 * EVENTFD data follow the header inline in set->data, and argsz covers them.
 *
 * Eventfds in the data are borrowed (see "File descriptors").
 *
 * Returns 0; a positive number of vectors when enabling MSI/MSI-X asked for
 * more than the host can provide (nothing changed; retry with that many);
 * -EINVAL for a malformed request or a state that does not allow it;
 * -ENOTTY for an action the index does not implement; -EBADF for an fd that
 * is not open; -EINVAL for an fd that is not an eventfd; -EBUSY when an INTx
 * unmask eventfd is already registered; -EMFILE/-ENOMEM when the model cannot
 * duplicate an fd. When one vector of an MSI/MSI-X block fails, every vector
 * of the block up to and including it is cleared (the rest keep their
 * eventfds, as in vfio), and an index this call enabled is disabled again.
 */
int irqlink_dev_set_irqs(struct irqlink_dev *dev,
			 const struct vfio_irq_set *set);

/*
 * irqlink_dev_set_irqs_fds - SET_IRQS in vfio-user layout: BOOL data is
 * inline after the header (argsz covers it), eventfds travel out of band in
 * @fds (one per vector, as received with SCM_RIGHTS). With DATA_EVENTFD,
 * @nfds must be set->count, or 0 to clear (de-assign) the whole range.
 * Returns as irqlink_dev_set_irqs(); -EINVAL if @nfds is neither.
 */
int irqlink_dev_set_irqs_fds(struct irqlink_dev *dev,
			     const struct vfio_irq_set *set,
			     const int *fds, size_t nfds);

/*
 * irqlink_dev_intx_assert - the device raises its INTx line (level).
 *
 * If INTx is enabled, unmasked and Interrupt Disable is clear, INTx is
 * masked and its trigger signalled. Otherwise the level is remembered and
 * fires when the line is unmasked (or INTx enabled) while still asserted.
 * Returns 1 if the trigger was signalled, 0 if not, -ENODEV if the device
 * has no INTx pin.
 */
int irqlink_dev_intx_assert(struct irqlink_dev *dev);

/*
 * irqlink_dev_intx_deassert - the device lowers its INTx line. A line that
 * already fired stays masked until unmasked. Returns 0, or -ENODEV.
 */
int irqlink_dev_intx_deassert(struct irqlink_dev *dev);

/*
 * irqlink_dev_intx_asserted - whether the device's INTx line is asserted
 * now (its level, whatever the mask). A VMM that infers the guest's
 * acknowledgement from BAR accesses (IRQLINK_EOI_BAR_ACCESS, <irqlink/eoi.h>)
 * asks this after each access: the access that lowered the line is the
 * acknowledgement. Returns 1, 0, or -ENODEV if the device has no INTx pin.
 */
int irqlink_dev_intx_asserted(struct irqlink_dev *dev);

/*
 * irqlink_dev_set_intx_disable - the guest wrote the Interrupt Disable bit
 * (PCI command register bit 10). Setting it masks INTx; while it is set
 * nothing is signalled and unmask does nothing. Clearing it unmasks, so a
 * line still asserted fires at once. Returns 1 if that signalled the
 * trigger, else 0.
 */
int irqlink_dev_set_intx_disable(struct irqlink_dev *dev, bool disable);

/*
 * irqlink_dev_msi_fire - the device sends MSI or MSI-X vector @vector.
 * @index: VFIO_PCI_MSI_IRQ_INDEX or VFIO_PCI_MSIX_IRQ_INDEX.
 *
 * If the index is enabled and the vector allocated: a masked vector (its
 * mask bit, or the MSI-X function mask) latches its pending bit; an
 * unmasked one signals its eventfd, if it has one, or for MSI-X goes to the
 * device's writer (irqlink_dev_set_msix_writer()). Anything else is
 * dropped, as a message to a disabled capability is.
 * Returns 1 if an eventfd was signalled (or the writer sent the vector), 0
 * if not (latched, dropped, or the write refused), or
 * -EINVAL for another index or a vector outside the capability.
 */
int irqlink_dev_msi_fire(struct irqlink_dev *dev, unsigned int index,
			 unsigned int vector);

/*
 * irqlink_dev_msi_mask / irqlink_dev_msi_unmask - the per-vector mask bit of
 * MSI vector or MSI-X table entry @vector. The bit persists across enable
 * and disable, as the MSI-X table does. Unmasking a vector whose pending bit
 * is set clears the bit and signals the vector exactly once (unless the
 * MSI-X function mask still holds it). Returns 1 if unmask signalled,
 * else 0; -EINVAL for a bad index or vector. Works in strict mode too: the
 * PCI glue uses these to mirror the guest's mask bits.
 */
int irqlink_dev_msi_mask(struct irqlink_dev *dev, unsigned int index,
			 unsigned int vector);
int irqlink_dev_msi_unmask(struct irqlink_dev *dev, unsigned int index,
			   unsigned int vector);

/*
 * irqlink_dev_msix_set_function_mask - the MSI-X Function Mask bit. While
 * set, every vector behaves as masked. Clearing it replays each pending
 * vector that is not masked on its own, once. Returns the number of vectors
 * signalled, or -EINVAL if the device has no MSI-X.
 */
int irqlink_dev_msix_set_function_mask(struct irqlink_dev *dev, bool mask);

/*
 * irqlink_dev_read_pending - copy the pending bits (the MSI-X PBA, or the
 * MSI Pending Bits register) of @index into @bits, vector v at bit v % 64 of
 * bits[v / 64]. @nwords must cover every vector of the capability.
 * Returns the number of vectors of the capability, or -EINVAL.
 */
int irqlink_dev_read_pending(struct irqlink_dev *dev, unsigned int index,
			     uint64_t *bits, size_t nwords);

/*
 * irqlink_dev_err_signal / irqlink_dev_req_signal - the device reports an
 * error (ERR) or the host asks for the device back (REQ). Returns 1 if a
 * trigger was signalled, 0 if none is set.
 */
int irqlink_dev_err_signal(struct irqlink_dev *dev);
int irqlink_dev_req_signal(struct irqlink_dev *dev);

/*
 * irqlink_dev_poll_fd - an fd (owned by the device: do not close it) that
 * becomes readable when a watched unmask eventfd has fired. Poll it from
 * your own loop and call irqlink_dev_dispatch() when it is readable. Do not
 * mix with irqlink_dev_watcher_start().
 */
int irqlink_dev_poll_fd(struct irqlink_dev *dev);

/*
 * irqlink_dev_dispatch - process every unmask event that is ready, without
 * blocking. Returns the number of unmask events processed, or -errno.
 */
int irqlink_dev_dispatch(struct irqlink_dev *dev);

/*
 * irqlink_dev_watcher_start - start a thread that watches unmask eventfds
 * and dispatches them. Returns 0, -EALREADY if running, or -errno from
 * pthread_create.
 * irqlink_dev_watcher_stop - stop and join it; returns 0, or -ENOENT if
 * not running. irqlink_dev_destroy() stops it too.
 */
int irqlink_dev_watcher_start(struct irqlink_dev *dev);
int irqlink_dev_watcher_stop(struct irqlink_dev *dev);

/*
 * irqlink_dev_attach_bypass - make the device an IRQ bypass producer.
 * @bypass: the manager (NULL detaches); it must outlive the attachment.
 *
 * Every trigger eventfd the device holds (INTx, each MSI/MSI-X vector) is
 * registered with @bypass as a producer keyed by the eventfd's identity
 * (irqlink_bypass_token_from_fd()), now and whenever SET_IRQS installs one;
 * it is unregistered before the eventfd is replaced or dropped, and on
 * irqlink_dev_destroy(). A consumer registered under the same eventfd (a
 * guest route, <irqlink/consumer.h>) is then connected to it.
 * While a consumer has the producer stopped, a vector latches its fires in
 * its pending bit and INTx holds its level; start sends what was held,
 * once. A registration the manager refuses (e.g. -EBUSY: one eventfd
 * triggering two vectors) leaves the vector working without bypass and
 * counts in stats.bypass_failures, as vfio does.
 * Returns 0, or -EBUSY when another manager is attached.
 */
int irqlink_dev_attach_bypass(struct irqlink_dev *dev,
			      struct irqlink_bypass *bypass);

/*
 * irqlink_msix_writer_fn - sends MSI-X vector @vector as the device's own
 * memory write: the address and data the host programmed into the
 * device's MSI-X table (its host view). This is the ARM shape, where the
 * write goes through the IOMMU to an MSI doorbell mapped at an IOVA
 * (<irqlink/msi_doorbell.h>) instead of ending in an eventfd.
 *
 * Called wherever the vector's eventfd would have been signalled (a raise
 * of an unmasked allocated vector, or the replay of a pending one on
 * unmask), from the thread that raised or unmasked, without the vector's
 * lock but possibly with the model's control lock held: it must not call
 * the model's configuration functions (set_irqs, masks, function mask).
 * Returns 0, or -errno if the write was refused: the message is then lost
 * at the device, as a refused bus write is, and counted in
 * stats.msix_write_errors.
 */
typedef int (*irqlink_msix_writer_fn)(void *opaque, unsigned int vector);

/*
 * irqlink_dev_set_msix_writer - MSI-X leaves this device through @fn
 * (NULL: through the vectors' eventfds again, the default). Masks, the
 * function mask and pending bits behave exactly as before; a vector needs
 * no eventfd to be written, only to be allocated (enabled). MSI is not
 * affected.
 * Returns 0; -EINVAL for a device without MSI-X; -EBUSY while MSI-X is
 * enabled (set it before the guest enables the capability).
 */
int irqlink_dev_set_msix_writer(struct irqlink_dev *dev,
				irqlink_msix_writer_fn fn, void *opaque);

/*
 * Counters, for tests and benchmarks. Monotonic; read without locking, so a
 * snapshot taken while interrupts flow is approximate.
 */
struct irqlink_dev_stats {
	uint64_t signals;        /* eventfd signals sent, all indexes */
	uint64_t intx_fires;     /* INTx automask-and-signal events */
	uint64_t intx_unmasks;   /* unmasks that found INTx masked */
	uint64_t msi_latched;    /* MSI/MSI-X fires latched into a pending bit */
	uint64_t msi_replayed;   /* pending vectors replayed on unmask */
	uint64_t dropped;        /* raises that found nowhere to go */
	uint64_t bypass_failures;/* triggers the bypass manager refused */
	uint64_t msix_writes;    /* MSI-X vectors sent by the writer */
	uint64_t msix_write_errors; /* writer calls that failed */
};
void irqlink_dev_get_stats(struct irqlink_dev *dev,
			   struct irqlink_dev_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
