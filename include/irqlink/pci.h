/* SPDX-License-Identifier: MIT */
/*
 * PCI glue: present one device to a KVM guest as a PCI function, and carry
 * its interrupts into the guest the way a VMM's VFIO code does.
 *
 * Theory of operation
 * -------------------
 * The device is reached only through struct irqlink_pci_ops, which is VFIO
 * shaped: region info, region read/write (the BARs and the config space),
 * GET_IRQ_INFO and SET_IRQS with eventfds. An in-process device implements
 * the ops with plain calls into its struct irqlink_dev; a vfio-user client
 * implements them with messages. The glue cannot tell the two apart.
 *
 * The guest never touches the device's config space directly. The glue
 * keeps a virtual config space on top of the device's:
 *
 *   - BARs, the ROM BAR, Interrupt Line and Pin, the MSI capability and the
 *     MSI-X capability are the glue's own (guest view). BAR sizing works as
 *     on hardware; the size of BAR n is the device's region n rounded up to
 *     a power of two, its type bits (I/O, 64-bit, prefetchable) are the
 *     device's.
 *   - The command register is the glue's (Memory and I/O Space enable decide
 *     whether the BARs decode) and is also written through to the device, so
 *     the device applies Interrupt Disable (irqlink_dev_set_intx_disable()
 *     for an in-process device).
 *   - Everything else (IDs, status, the capability list, other capabilities)
 *     is read from and written to the device on every access. So are the
 *     MSI Pending Bits register and the MSI-X PBA: the device model keeps
 *     the pending bits (irqlink_dev_read_pending()).
 *
 * Directly mapped memory. A BAR whose region the device lets be mapped
 * (ops.get_region_mmap: vfio's MMAP flag with its sparse areas) has the
 * region mapped in this process once, and each mappable area given to the
 * guest as a KVM memslot at the BAR's address while the BAR decodes
 * (<irqlink/memslot.h>): the guest's loads and stores there never exit.
 * The rest of the BAR traps as before, and so do the areas while the BAR
 * is off, while BAR_ACCESS waits for an acknowledgement (every access must
 * trap then), or if KVM refused a slot. stats.mapped_areas counts them.
 *
 * Interrupts. Each interrupt the guest uses (an MSI/MSI-X vector, INTx)
 * gets a trigger eventfd owned by the glue, handed to the device with
 * SET_IRQS, and an irqlink_consumer (<irqlink/consumer.h>) on the same
 * eventfd: an MSI route carrying the guest's message, or the INTx pin. The
 * device registers the eventfd as a bypass producer
 * (irqlink_dev_attach_bypass(), or a vfio-user client's proxy), the bypass
 * manager pairs it with the consumer, and the consumer attaches it as a KVM
 * irqfd: a device signal reaches the guest without any process running.
 * Unpaired, or with IRQLINK_DELIVERY_RELAY, the relay delivers. That is
 * the only path; config.delivery chooses how it is used (<irqlink/eoi.h>).
 * Each MSI/MSI-X vector is kept as a guest view (message, mask bit as the
 * guest wrote them) and a host view (eventfd, GSI and route, the mask bit
 * the device holds), and every guest write reconciles the two for the
 * vectors it touched:
 *
 *   - A capability change (MSI enable, Multiple Message Enable, message,
 *     MSI-X enable or Function Mask, one table entry) is applied in ONE
 *     routing batch: at most one KVM_SET_GSI_ROUTING per guest write.
 *   - Mask bits (MSI per-vector masks, MSI-X vector control and Function
 *     Mask) are mirrored into the device with SET_IRQS MASK/UNMASK
 *     (DATA_NONE). The device holds a masked vector's fires in its pending
 *     bit and replays it once on unmask; the eventfd, the irqfd and the
 *     route stay in place. A route is updated to a new message only while
 *     the guest has the vector unmasked, and before the device unmasks it,
 *     so a replayed pending message goes where the guest last said.
 *   - MSI-X vectors get a host vector lazily, the first time the guest
 *     unmasks them with a message aimed at the interrupt window
 *     (0xFEExxxxx; without a VM, any message), and keep it until MSI-X is disabled: a table of 2048
 *     entries costs nothing until it is used, and an entry unmasked
 *     before its message is written takes no GSI.
 *
 * INTx. When the VMM says which GSI the device's pin is wired to
 * (irqlink_pci_intx_route()), the glue wires it according to
 * config.intx_eoi (<irqlink/eoi.h> explains the policies):
 *   RESAMPLEFD  a level consumer whose resamplefd is given to the device as
 *               its INTx unmask eventfd (SET_IRQS UNMASK + DATA_EVENTFD):
 *               assertion, EOI and unmask happen between the device model
 *               and KVM. The device's unmask events must be processed (its
 *               watcher thread or irqlink_dev_dispatch()).
 *   GUEST_PORT  the same level consumer, but the resample eventfd stays the
 *               glue's; irqlink_pci_intx_eoi() (the guest's report)
 *               unmasks the device.
 *   BAR_ACCESS  a notify consumer: the relay injects; the glue infers
 *               the acknowledgement in irqlink_pci_mmio()/pio() (the first
 *               access to one of the device's BARs after which its line is
 *               down, asked with ops->intx_asserted; without that op, any
 *               access) and unmasks then; meanwhile the doorbell
 *               ioeventfds are removed, a doorbell write that traps is
 *               passed to the doorbell's eventfd as KVM would have, and an
 *               ack timer runs (irqlink_pci_poll_fd()/irqlink_pci_process()).
 * INTx is enabled at the device only while neither MSI nor MSI-X is.
 *
 * ERR and REQ. If the device has them (GET_IRQ_INFO count 1), the glue
 * gives each an eventfd of its own at creation and only delivers what
 * arrives: irqlink_pci_errreq_fd() to poll, irqlink_pci_errreq_take() to
 * collect. What they mean for the guest is the VMM's policy (QEMU stops
 * the VM on ERR and asks the guest to release the device on REQ), so the
 * glue does neither itself; see irqlink_pci_errreq_fd().
 *
 * Doorbells. If the device lists ioeventfds (ops->get_ioeventfds), the glue
 * registers each with KVM at its BAR's guest address whenever that BAR
 * decodes, and moves or removes them when the guest moves the BAR or turns
 * decoding off.
 *
 * Without a VM (config.vm NULL) the glue does all of the above except the
 * KVM part (no consumers, no EOI policy): trigger eventfds are still made and handed to the device, and
 * irqlink_pci_trigger_fd() gives them to the caller, who delivers the
 * interrupts itself (and tests count them).
 *
 * File descriptors
 * ----------------
 * The glue owns its trigger, resample, ERR and REQ eventfds; the device and
 * KVM keep their own duplicates. The ioeventfds the device lists are
 * borrowed: the glue keeps a close-on-exec duplicate of each until
 * irqlink_pci_destroy().
 * Every fd the glue holds is closed by irqlink_pci_destroy().
 *
 * Threading
 * ---------
 * One mutex per glue serializes every call, including the device ops calls
 * made on their behalf: config and BAR accesses may come from any vCPU
 * thread and the control calls from another thread. The ops must not call
 * back into the same glue. irqlink_pci_destroy() must not race other calls.
 *
 * Errors
 * ------
 * A guest access cannot fail on hardware, so the guest view is always
 * updated. When the host side could not follow (a device op or a KVM call
 * failed), the call returns that -errno and counts it in stats.errors; the
 * VMM may log it and carry on.
 *
 * An ERR signal is the device's error report, not an error of the glue:
 * it is not counted in stats.errors and makes no call fail; the VMM sees it
 * only through irqlink_pci_errreq_take(). Neither is a device without ERR
 * or REQ an error.
 */
#ifndef IRQLINK_PCI_H
#define IRQLINK_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#include <irqlink/bypass.h>
#include <irqlink/eoi.h>
#include <irqlink/relay.h>
#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Config space size of a conventional PCI function and of a PCIe one. */
#define IRQLINK_PCI_CONFIG_SIZE 256u
#define IRQLINK_PCIE_CONFIG_SIZE 4096u

/* struct irqlink_pci_ioeventfd flags. */
/* Match only writes of @datamatch (KVM_IOEVENTFD_FLAG_DATAMATCH). */
#define IRQLINK_PCI_IOEVENTFD_DATAMATCH (1u << 0)

/*
 * struct irqlink_pci_ioeventfd - a register write the device wants as an
 * eventfd signal (vfio-user DEVICE_GET_REGION_IO_FDS).
 * @region:    BAR index (0-5).
 * @flags:     IRQLINK_PCI_IOEVENTFD_*.
 * @offset:    register offset inside the BAR.
 * @size:      access width to match: 1, 2, 4 or 8; 0 = any.
 * @datamatch: value to match with IRQLINK_PCI_IOEVENTFD_DATAMATCH.
 * @fd:        the eventfd; owned by the device, borrowed by the glue.
 */
struct irqlink_pci_ioeventfd {
	uint32_t region;
	uint32_t flags;
	uint64_t offset;
	uint32_t size;
	uint64_t datamatch;
	int fd;
};

/* Mappable areas a region may list (vfio's sparse mmap capability). */
#define IRQLINK_PCI_MMAP_AREAS 8

/*
 * struct irqlink_pci_region_mmap - where a region's memory can be mapped
 * directly (VFIO_REGION_INFO_FLAG_MMAP with the sparse mmap capability).
 * @fd:        holds the region from @fd_offset on; owned by the device,
 *             borrowed (dup it to keep it). Map it MAP_SHARED.
 * @fd_offset: where the region starts in @fd (vfio's region offset).
 * @nareas:    how many of @areas, 1..IRQLINK_PCI_MMAP_AREAS.
 * @areas:     offset and size (page-aligned) within the region of each
 *             part that may be mapped; the rest (an MSI-X table, say)
 *             must be reached through region_read / region_write.
 */
struct irqlink_pci_region_mmap {
	int fd;
	uint64_t fd_offset;
	uint32_t nareas;
	struct {
		uint64_t offset, size;
	} areas[IRQLINK_PCI_MMAP_AREAS];
};

/*
 * struct irqlink_pci_ops - the device, as the glue reaches it. Every
 * callback gets the opaque pointer of struct irqlink_pci_config and returns
 * 0 (or the documented non-negative value) or -errno. Regions are numbered
 * as in <linux/vfio.h>: BAR0-5 = 0-5, ROM = 6, CONFIG = 7.
 *
 * @get_region_info: VFIO_DEVICE_GET_REGION_INFO: fill size and flags of
 *                   info->index (argsz and index are set). A region the
 *                   device lacks has size 0.
 * @region_read:     read @len bytes at @offset of @region into @data.
 * @region_write:    write @len bytes from @data at @offset of @region.
 * @get_irq_info:    VFIO_DEVICE_GET_IRQ_INFO (argsz and index are set).
 *                   For ERR and REQ, -EINVAL means the device has none
 *                   (vfio's answer for ERR on a conventional PCI device).
 * @set_irqs:        VFIO_DEVICE_SET_IRQS in vfio-user layout: BOOL data
 *                   inline after @set, eventfds out of band in @fds
 *                   (@nfds = set->count, or 0 = de-assign the range /
 *                   enable without eventfds). The fds are borrowed for the
 *                   call. May return a positive vector count (vfio's "fewer
 *                   host vectors"); the glue then retries with that many.
 * @get_ioeventfds:  optional. Fill up to @max entries of @out with the
 *                   device's doorbells and return how many it has (which
 *                   may exceed @max: the glue asks again with more room).
 * @intx_asserted:   optional. 1 if the device's INTx line is asserted now,
 *                   0 if not, or -errno (then taken as "not asserted").
 *                   The BAR_ACCESS EOI policy uses it to tell the access
 *                   that acknowledged the interrupt from one that only read
 *                   the status; without it every access while an
 *                   acknowledgement is pending unmasks (QEMU's behaviour:
 *                   a line still up fires again, an extra interrupt).
 * @get_region_mmap: optional. Where @region can be mapped (see struct
 *                   irqlink_pci_region_mmap), or -ENOENT where it cannot.
 */
struct irqlink_pci_ops {
	int (*get_region_info)(void *opaque, struct vfio_region_info *info);
	int (*region_read)(void *opaque, uint32_t region, uint64_t offset,
			   void *data, size_t len);
	int (*region_write)(void *opaque, uint32_t region, uint64_t offset,
			    const void *data, size_t len);
	int (*get_irq_info)(void *opaque, struct vfio_irq_info *info);
	int (*set_irqs)(void *opaque, const struct vfio_irq_set *set,
			const int *fds, size_t nfds);
	int (*get_ioeventfds)(void *opaque, struct irqlink_pci_ioeventfd *out,
			      size_t max);
	int (*intx_asserted)(void *opaque);
	int (*get_region_mmap)(void *opaque, uint32_t region,
			       struct irqlink_pci_region_mmap *out);
};

/*
 * struct irqlink_pci_config - what irqlink_pci_create() presents.
 * @ops:    the device (required; every callback but get_ioeventfds).
 * @opaque: passed to every op; the caller keeps it alive until destroy.
 * @vm:     the VM to route interrupts and doorbells into, or NULL for none
 *          (see "Without a VM"). Must outlive the glue.
 * @relay:  the relay the consumers use when they do not deliver in-kernel;
 *          required with @vm, must outlive the glue.
 * @bypass: the bypass manager the consumers register with (the device
 *          attaches to the same one as producer); NULL = nothing pairs, so
 *          everything is relayed. Only with @relay.
 * @delivery: IRQLINK_DELIVERY_AUTO (0), _KERNEL or _RELAY (<irqlink/eoi.h>);
 *          changeable later with irqlink_pci_set_delivery().
 * @intx_eoi: the INTx EOI policy (<irqlink/eoi.h>); IRQLINK_EOI_RESAMPLEFD
 *          (0) is right on upstream KVM.
 * @intx_ack_timeout_ms: BAR_ACCESS: how long an acknowledgement may stay
 *          pending before the device is unmasked anyway (0 = 250).
 * @flags:  reserved, must be 0.
 */
struct irqlink_pci_config {
	const struct irqlink_pci_ops *ops;
	void *opaque;
	struct irqlink_vm *vm;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
	enum irqlink_delivery delivery;
	enum irqlink_eoi_policy intx_eoi;
	unsigned int intx_ack_timeout_ms;
	uint32_t flags;
};

struct irqlink_pci;

/*
 * irqlink_pci_create - read the device's config space, regions and
 * interrupt info and build the guest view: BARs unprogrammed, command
 * register 0, MSI and MSI-X disabled, every MSI-X vector masked (mirrored
 * into the device with one SET_IRQS MASK), INTx not routed; the device's
 * ERR and REQ, those it has, get the glue's eventfds (SET_IRQS TRIGGER).
 * The device is expected fresh or reset: no interrupt index enabled.
 *
 * Returns 0 and *@out; -EINVAL for a bad config (NULL ops or callback,
 * flags, @vm without @relay or @relay without @vm, @bypass without @relay,
 * an unknown delivery or EOI policy, or a pair irqlink_eoi_check()
 * refuses) or a device whose config space is malformed (a capability list
 * that leaves the config space or loops, an MSI-X table or PBA outside its
 * BAR, a config region smaller than 256 bytes); -ENOMEM; -EMFILE; or the
 * -errno of a device op (among them a refused ERR or REQ trigger). On
 * failure nothing is left behind: no fd, no trigger at the device.
 */
int irqlink_pci_create(const struct irqlink_pci_config *cfg,
		       struct irqlink_pci **out);

/*
 * irqlink_pci_destroy - disable the device's interrupts (SET_IRQS; ERR and
 * REQ are released with DATA_NONE count 0 before their eventfds close),
 * remove every irqfd, route and ioeventfd the glue made (one routing
 * commit), close every fd it holds and free it. NULL is a no-op.
 */
void irqlink_pci_destroy(struct irqlink_pci *pci);

/*
 * irqlink_pci_config_read / irqlink_pci_config_write - a guest config space
 * access of @size 1, 2 or 4 bytes at @offset, naturally aligned, below the
 * device's config size. Little endian, as the guest sees it.
 *
 * Returns 0; -EINVAL for a bad size, alignment or offset (nothing is done);
 * or, for a write, the -errno with which the host side failed to follow
 * (the guest view is updated all the same). A read that the device fails
 * returns its -errno and *@value all ones, as a failed PCI read does.
 */
int irqlink_pci_config_read(struct irqlink_pci *pci, uint32_t offset,
			    uint32_t size, uint32_t *value);
int irqlink_pci_config_write(struct irqlink_pci *pci, uint32_t offset,
			     uint32_t size, uint32_t value);

/*
 * irqlink_pci_mmio / irqlink_pci_pio - a guest access of @size (1, 2, 4 or
 * 8) bytes at guest-physical address @addr (I/O port for pio). For a read
 * the glue fills @data.
 *
 * Returns 1 when a decoding BAR claims the access (the MSI-X table is
 * served by the glue, the PBA and everything else by the device; writes to
 * the PBA are dropped, reads past the device's region return all ones);
 * 0 when no BAR claims it (nothing touched); -EINVAL for a bad size or an
 * access that runs off the end of a BAR; or a device op's -errno (a failed
 * read fills all ones).
 */
int irqlink_pci_mmio(struct irqlink_pci *pci, uint64_t addr, void *data,
		     uint32_t size, bool is_write);
int irqlink_pci_pio(struct irqlink_pci *pci, uint64_t port, void *data,
		    uint32_t size, bool is_write);

/*
 * irqlink_pci_intx_route - the guest's INTx pin is wired to @gsi (an IOAPIC
 * pin of the VM, 0-23). Creates the INTx eventfds and consumer for the
 * EOI policy (see "INTx" above) and gives the device its trigger (and,
 * for RESAMPLEFD, its unmask eventfd), unless MSI or MSI-X is enabled; then
 * when they are disabled. Routing again moves the line to the new GSI.
 *
 * Returns 0; -ENODEV if the device has no interrupt pin; -EINVAL for
 * @gsi >= 24; -EOPNOTSUPP when the delivery mode is KERNEL and the device's
 * INTx did not pair in-kernel; the consumer's -errno (e.g. -EINVAL on a
 * split irqchip, which has no IOAPIC); or a device op's -errno. On failure
 * INTx is left unrouted.
 */
int irqlink_pci_intx_route(struct irqlink_pci *pci, uint32_t gsi);

/*
 * irqlink_pci_intx_eoi - the guest reports that its INTx handler is done
 * (IRQLINK_EOI_GUEST_PORT): unmask the device's INTx (SET_IRQS UNMASK,
 * DATA_NONE). Unmasking an unmasked line does nothing, so a report for an
 * interrupt the device did not raise is harmless. Returns 1 if the device
 * was told to unmask, 0 if the policy is another one or INTx is not
 * enabled at the device, or a device op's -errno.
 */
int irqlink_pci_intx_eoi(struct irqlink_pci *pci);

/*
 * irqlink_pci_poll_fd - an fd (owned by the glue: do not close it) that
 * becomes readable when the glue has INTx work that no guest access
 * carries: under BAR_ACCESS, a fire to take note of (remove the doorbells
 * until the guest acknowledges) and the ack timer. Poll it from the VMM's
 * loop and call irqlink_pci_process() when it is readable. -ENOENT for
 * the other policies (nothing to poll) or without a VM.
 */
int irqlink_pci_poll_fd(struct irqlink_pci *pci);

/*
 * irqlink_pci_process - do the work irqlink_pci_poll_fd() announced,
 * without blocking. Returns the number of timer-driven unmasks it made
 * (each also counted in stats.intx_timer_unmasks: a guest that did not
 * acknowledge in time), 0, or -EINVAL.
 */
int irqlink_pci_process(struct irqlink_pci *pci);

/*
 * irqlink_pci_set_delivery - change how every interrupt of the glue is
 * delivered, while interrupts flow: RELAY forces each consumer onto the
 * relay, AUTO and KERNEL give the choice back to the bypass manager's
 * pairing. Each consumer switches losslessly (<irqlink/consumer.h>).
 * Returns 0; -EINVAL (unknown mode, or one irqlink_eoi_check() refuses with
 * the glue's EOI policy: nothing changes); -EOPNOTSUPP when the mode is
 * KERNEL and some interrupt is still relayed (the mode is set all the same;
 * stats.relayed says how many).
 */
int irqlink_pci_set_delivery(struct irqlink_pci *pci,
			     enum irqlink_delivery delivery);

/*
 * irqlink_pci_intx_unroute - disable INTx at the device, detach the irqfd
 * and close the INTx eventfds. Returns 0 (also when not routed).
 */
int irqlink_pci_intx_unroute(struct irqlink_pci *pci);

/*
 * irqlink_pci_trigger_fd - the glue's trigger eventfd of @index
 * (VFIO_PCI_INTX/MSI/MSIX_IRQ_INDEX) vector @vector, owned by the glue: use
 * it (e.g. count it without a VM), do not close it. Valid until the vector
 * loses its host vector (index disabled, INTx unrouted).
 * Returns the fd, -ENOENT if the vector has no host vector now, -EINVAL.
 */
int irqlink_pci_trigger_fd(struct irqlink_pci *pci, unsigned int index,
			   unsigned int vector);

/*
 * irqlink_pci_intx_resample_fd - the glue's INTx resample eventfd (the
 * device's INTx unmask eventfd), owned by the glue; -ENOENT when INTx is
 * not routed. Without a VM, signalling it stands in for the guest's EOI.
 */
int irqlink_pci_intx_resample_fd(struct irqlink_pci *pci);

/*
 * irqlink_pci_errreq_fd - the glue's eventfd for @index
 * (VFIO_PCI_ERR_IRQ_INDEX or VFIO_PCI_REQ_IRQ_INDEX), owned by the glue:
 * poll it for readability, do not close it and do not read it (that would
 * take signals irqlink_pci_errreq_take() should count). Valid until
 * irqlink_pci_destroy().
 *
 * The glue does not act on these signals. In QEMU (hw/vfio/pci.c) ERR
 * stops the VM to contain the error (vfio_err_notifier_handler ->
 * vm_stop(RUN_STATE_INTERNAL_ERROR)) and REQ asks the guest to release the
 * device by requesting its hot-unplug (vfio_req_notifier_handler ->
 * qdev_unplug). Stopping, reporting, unplugging or resetting are the VMM's
 * decisions, taken in its own loop, so the glue only delivers them.
 *
 * Returns the fd; -ENOENT if the device has no such interrupt; -EINVAL for
 * NULL or another index.
 */
int irqlink_pci_errreq_fd(struct irqlink_pci *pci, unsigned int index);

/*
 * irqlink_pci_errreq_take - without blocking, how many ERR (*@err) and REQ
 * (*@req) signals arrived since the last call: reads (and so resets) both
 * eventfds. An interrupt the device does not have reads 0. The totals are
 * added to stats.err_signals and stats.req_signals.
 *
 * Returns 0; -EINVAL for a NULL argument (nothing is read); or the -errno
 * of a failed read, with *@err and *@req still saying what was taken.
 */
int irqlink_pci_errreq_take(struct irqlink_pci *pci, uint64_t *err,
			    uint64_t *req);

/*
 * irqlink_pci_device_replaced - the device behind the ops is a new one that
 * knows nothing of what the guest programmed: a vfio-user server that was
 * restarted and reconnected (irqlink_vfu_client_reconnect()), or a device
 * reset behind the guest's back. Give it all again, as the guest left it:
 * the command register (decoding, Bus Master, Interrupt Disable); its
 * doorbells taken anew (the old ioeventfds go, the new ones are registered
 * where the BARs are); ERR and REQ; INTx, or MSI / MSI-X enabled with the
 * very eventfds the consumers hold and the mask bits the guest set. The
 * consumers, routes and irqfds are not touched: the new device signals the
 * eventfds KVM already reads, so nothing raised from here on is lost.
 * Every step is tried; returns 0 or the first error (each counted in
 * stats.errors), -EINVAL for NULL.
 */
int irqlink_pci_device_replaced(struct irqlink_pci *pci);

/*
 * irqlink_pci_guest_msi - the message the guest programmed for @index
 * (VFIO_PCI_MSI_IRQ_INDEX or VFIO_PCI_MSIX_IRQ_INDEX) vector @vector: what
 * an MSI doorbell (<irqlink/msi_doorbell.h>) injects when the device writes
 * that vector. The guest's mask bit is not consulted: masks reach the
 * device, which holds a masked vector back itself; a write already on its
 * way when the guest masked is delivered, as a posted write is.
 * May be called from inside a device op (it takes only a leaf lock).
 * Returns 0 and *@msg; -ENOENT when the guest has the capability disabled
 * or the entry holds no message for the x86 interrupt window (0xFEExxxxx);
 * -EINVAL for a NULL argument, an index the device lacks or a vector past
 * the capability.
 */
int irqlink_pci_guest_msi(struct irqlink_pci *pci, unsigned int index,
			  unsigned int vector, struct kvm_msi *msg);

/*
 * irqlink_pci_vector_gsi - the GSI of the MSI route of @index vector
 * @vector. Returns 0 and *@gsi, -ENOENT if it has none (no VM, no host
 * vector), -EINVAL.
 */
int irqlink_pci_vector_gsi(struct irqlink_pci *pci, unsigned int index,
			   unsigned int vector, uint32_t *gsi);

/*
 * struct irqlink_pci_bar - one BAR as the guest has programmed it.
 * @addr:     guest address (port for I/O), as programmed.
 * @size:     decode size (power of two); 0 = BAR not implemented.
 * @io:       I/O space BAR.
 * @is64:     64-bit memory BAR (it uses the next BAR register too).
 * @prefetch: prefetchable.
 * @mapped:   decoding now (space enabled in the command register, address
 *            programmed and inside the address space).
 */
struct irqlink_pci_bar {
	uint64_t addr;
	uint64_t size;
	bool io, is64, prefetch, mapped;
};

/* irqlink_pci_bar_info - fill *@out for BAR @bar (0-5). Returns 0 or
 * -EINVAL. The upper half of a 64-bit BAR reports size 0. */
int irqlink_pci_bar_info(struct irqlink_pci *pci, unsigned int bar,
			 struct irqlink_pci_bar *out);

/*
 * Counters, for tests and benchmarks. Monotonic except the "now" ones.
 * @config_reads, @config_writes: guest config accesses.
 * @mmio_reads, @mmio_writes:     claimed BAR accesses (MMIO and PIO).
 * @msi_updates:     MSI capability changes reconciled.
 * @msix_updates:    MSI-X changes (control or table entry) reconciled.
 * @route_batches:   routing batches the glue committed (each is at most one
 *                   KVM_SET_GSI_ROUTING; irqlink_routes_stats() counts the
 *                   ioctls).
 * @mask_calls:      SET_IRQS MASK/UNMASK calls made to mirror mask bits.
 * @host_vectors:    MSI/MSI-X vectors with a trigger eventfd now.
 * @ioeventfds:      doorbells registered with KVM now.
 * @errors:          host-side failures during guest accesses.
 * @in_kernel, @relayed: interrupts (INTx, MSI/MSI-X vectors with a
 *                   consumer) delivered in-kernel now / by the relay now.
 * @not_in_kernel:   times KERNEL delivery found an interrupt relayed.
 * @no_route:        MSI/MSI-X vectors without a KVM route now (KVM's 4096
 *                   routes are taken): they work, through the relay.
 * @intx_acks:       BAR_ACCESS: acknowledgements inferred from a BAR access
 *                   (each unmasked the device).
 * @intx_timer_unmasks: BAR_ACCESS: unmasks made by the ack timer.
 * @intx_eoi_reports: GUEST_PORT: reports that unmasked the device.
 * @doorbell_traps:  doorbell writes that trapped while the doorbells were
 *                   removed, passed to the doorbell's eventfd.
 * @err_signals, @req_signals: ERR / REQ signals taken with
 *                   irqlink_pci_errreq_take().
 * @device_replays:  irqlink_pci_device_replaced() calls.
 * @mapped_areas:    BAR areas the guest reaches with no exit now (the
 *                   device's mappable memory, as KVM memslots).
 */
struct irqlink_pci_stats {
	uint64_t config_reads, config_writes;
	uint64_t mmio_reads, mmio_writes;
	uint64_t msi_updates, msix_updates;
	uint64_t route_batches;
	uint64_t mask_calls;
	uint64_t host_vectors;
	uint64_t ioeventfds;
	uint64_t errors;
	uint64_t in_kernel, relayed;
	uint64_t not_in_kernel;
	uint64_t no_route;
	uint64_t intx_acks;
	uint64_t intx_timer_unmasks;
	uint64_t intx_eoi_reports;
	uint64_t doorbell_traps;
	uint64_t err_signals, req_signals;
	uint64_t device_replays;
	uint64_t mapped_areas;
};
void irqlink_pci_get_stats(struct irqlink_pci *pci,
			   struct irqlink_pci_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
