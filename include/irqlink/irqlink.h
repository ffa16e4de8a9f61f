/* SPDX-License-Identifier: MIT */
/*
 * irqlink: device interrupts into KVM guests, the way VFIO and KVM carry them.
 *
 * This umbrella header includes every public concept. Each concept has its
 * own header and can be included alone:
 *   <irqlink/bypass.h>   IRQ bypass pairing of interrupt producers and
 *                        consumers by eventfd (Linux irqbypass semantics)
 *   <irqlink/consumer.h> the guest side of one device interrupt: bypass
 *                        (KVM irqfd) or relay, switched while interrupts flow
 *   <irqlink/device.h>   the device-side interrupt model (VFIO GET_IRQ_INFO /
 *                        SET_IRQS semantics, INTx/MSI/MSI-X/ERR/REQ)
 *   <irqlink/ioeventfd.h> KVM ioeventfds: guest PIO/MMIO writes as eventfd
 *                        signals
 *   <irqlink/irqfd.h>    KVM irqfds: edge and level (resampling) injection
 *                        from an eventfd
 *   <irqlink/memslot.h>  guest memory slots for directly mapped device
 *                        memory (taken from the top of KVM's range)
 *   <irqlink/msi_doorbell.h> MSI as a device's DMA write into an IOVA
 *                        window (the ARM shape): KVM_SIGNAL_MSI of the
 *                        guest's message for the vector the data names
 *   <irqlink/pci.h>      PCI glue: a device (in-process or remote, one ops
 *                        seam) as a guest PCI function: virtual config space,
 *                        BARs, INTx/MSI/MSI-X wired to KVM, doorbells
 *   <irqlink/relay.h>    the user-space relay thread: eventfd signals to
 *                        irqfd writes, KVM_SIGNAL_MSI or KVM_IRQ_LINE
 *   <irqlink/routes.h>   the VM's GSI routing table: GSI allocation, MSI
 *                        routes, batched commits
 *   <irqlink/vfio_user_client.h> a device in another process, reached
 *                        over vfio-user through the PCI glue's device ops
 *   <irqlink/vfio_user_server.h> a device served over vfio-user, so it
 *                        runs in its own process
 *   <irqlink/vm.h>       the KVM VM context (create or wrap), KVM_SIGNAL_MSI
 *                        and KVM_IRQ_LINE
 *
 * Conventions shared by every header:
 *   - Functions return 0 (or a documented non-negative value) on success and
 *     a negative errno on failure. The library never prints and never exits.
 *   - Every fd passed in is borrowed: irqlink duplicates what it keeps and
 *     closes its duplicate when it lets go. The caller keeps ownership of the
 *     fd it passed and may close it at once.
 *   - There is no global state; everything hangs off a context object.
 */
#ifndef IRQLINK_IRQLINK_H
#define IRQLINK_IRQLINK_H

#include <irqlink/bypass.h>
#include <irqlink/consumer.h>
#include <irqlink/device.h>
#include <irqlink/eoi.h>
#include <irqlink/ioeventfd.h>
#include <irqlink/irqfd.h>
#include <irqlink/memslot.h>
#include <irqlink/msi_doorbell.h>
#include <irqlink/pci.h>
#include <irqlink/relay.h>
#include <irqlink/routes.h>
#include <irqlink/vfio_user_client.h>
#include <irqlink/vfio_user_server.h>
#include <irqlink/vm.h>

#endif
