/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's machine: one KVM VM with the full in-kernel irqchip, the
 * test guest (guest/) on one or more vCPUs, and up to VM_MAX_DEVICES test
 * PCI devices (devices/testdev, in this process or in their own over
 * vfio-user), each behind its own PCI glue (<irqlink/pci.h>) in slot
 * VM_TESTDEV_SLOT + i of bus 0, their interrupts paired by one IRQ bypass
 * manager and carried by consumers (in-kernel, or the machine's relay).
 * Shared by the irqlink-vm tool and the tests; internal, not installed.
 * m->dev is the first device (m->dev[i] the others).
 *
 *	struct vm_machine *m;
 *	vm_machine_create(&cfg, &m, err, sizeof(err));  // VM, guest, device
 *	vm_machine_boot(m, err, sizeof(err));           // vCPUs run; guest
 *	                                               // enumerates bus 0
 *	... kg_* calls on m->g, vm_machine_* helpers ...
 *	vm_machine_destroy(m);
 */
#ifndef IRQLINK_TOOLS_VM_MACHINE_H
#define IRQLINK_TOOLS_VM_MACHINE_H

#include <irqlink/irqlink.h>
#include <irqlink/pci.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm_guest.h"
#include "kvm_guest_pci.h"
#include "testdev.h"
#include "vm_bus.h"

#define VM_TESTDEV_SLOT   3u   /* bus 0, device 3 (+ i), function 0 */
#define VM_MAX_DEVICES    8u
#define VM_DEFAULT_GSI    16u  /* IOAPIC pin of INTA# (no PIC route) */
#define VM_MSI_VECTORS    32u
#define VM_MSIX_VECTORS   64u
#define VM_MSIX_MAX       2048u
#define VM_RAISE_RING     (1u << 17)  /* raise timestamps kept */
/* The MSI doorbell window in the device's IOVA space: where Linux's ARM
 * SMMU driver reserves its software MSI window (MSI_IOVA_BASE), outside
 * guest RAM, which is mapped at IOVA == guest-physical address. */
#define VM_MSI_DOORBELL_IOVA 0x08000000u
#define VM_MSI_DOORBELL_SIZE 0x1000u
#define VM_RECONNECT_MS   20u  /* a gone server is dialled this often */

/*
 * struct vm_machine_config - zeroed = defaults.
 * @vcpus:     vCPUs, 1..KG_MAX_VCPUS (0 = 1). Each has its own thread.
 * @intx_gsi:  IOAPIC pin the first device's INTA# is wired to, 16..23 (0 =
 *             VM_DEFAULT_GSI); device i gets the pin @intx_gsi + i, which
 *             must be 23 at most. Told to the guest through each device's
 *             Interrupt Line register.
 * @delivery:  how interrupts reach KVM (<irqlink/eoi.h>; 0 = AUTO).
 * @eoi:       the INTx EOI policy; ignored with @eoi_probe.
 * @eoi_probe: pick the policy with the EOI self-test (vm_eoi_probe.h):
 *             BAR_ACCESS on a KVM that EOIs at injection, else RESAMPLEFD;
 *             BAR_ACCESS is not possible with KERNEL delivery, which then
 *             gets GUEST_PORT, nor exact for a @remote device (vfio-user
 *             carries no line state), which gets GUEST_PORT too
 *             (m->eoi_no_line_state).
 * @ack_timeout_ms: BAR_ACCESS's acknowledgement timeout (0 = the glue's).
 * @relay_busy_poll: the relay thread spins instead of sleeping.
 * @doorbells_trap: do not give the devices' doorbell eventfds to KVM:
 *             every doorbell write is then an MMIO exit and a region write
 *             on the vCPU thread (a REGION_WRITE message for a remote
 *             device), as for a device that lists none. For measuring what
 *             ioeventfd saves; never faster.
 * @msix_vectors: each in-process test device's MSI-X table size,
 *             1..2048 (0 = VM_MSIX_VECTORS). RLIMIT_NOFILE is raised to
 *             cover every device's table (a remote one's as its server
 *             reports it).
 * @remote:    shorthand for one device (@ndevices 0): the socket of a
 *             vfio-user server (irqlink-devd) to attach instead of the
 *             in-process test device, or NULL.
 * @ndevices:  how many devices, 1..VM_MAX_DEVICES (0 = one, per @remote).
 * @remotes:   with @ndevices: device i is the vfio-user server at
 *             @remotes[i], or the in-process test device where NULL. A
 *             remote device's interrupts take the same path: the client's
 *             proxy producers pair with the glue's consumers
 *             (<irqlink/vfio_user_client.h>). Its shape is the server's;
 *             its td is NULL.
 */
struct vm_machine_config {
	unsigned int vcpus;
	unsigned int intx_gsi;
	enum irqlink_delivery delivery;
	enum irqlink_eoi_policy eoi;
	bool eoi_probe;
	unsigned int ack_timeout_ms;
	bool relay_busy_poll;
	bool doorbells_trap;
	unsigned int msix_vectors;
	const char *remote;
	unsigned int ndevices;
	const char *remotes[VM_MAX_DEVICES];
};

struct vm_machine;

/* One device of the machine and everything that is its own. */
struct vm_dev {
	struct vm_machine *m;
	unsigned int index;             /* in m->dev[] */
	unsigned int slot;              /* bus 0 device number */
	unsigned int intx_gsi;          /* the IOAPIC pin of its INTA# */
	struct testdev *td;             /* in-process device, or NULL */
	struct irqlink_vfu_client *vfu; /* remote device, or NULL */
	const char *remote;             /* its socket path, or NULL */
	const struct irqlink_pci_ops *ops;      /* the device's, either kind */
	void *opaque;
	struct irqlink_pci_ops trap_ops;        /* @doorbells_trap: *ops
						   without get_ioeventfds */
	struct irqlink_pci *pci;
	/* MSI-X by DMA (vm_dev_set_msix_dma()): the doorbell window, sized
	 * to the device's MSI-X table; NULL without MSI-X. */
	struct irqlink_msi_doorbell *doorbell;
	uint32_t doorbell_vectors;
	bool doorbell_mapped;   /* atomic: the device may write the window */
	bool msix_dma;          /* atomic: the mode the VMM set, given again
				   to a restarted device */
	/* A remote device's server going away and coming back: the device
	 * thread notices (POLLHUP), reconnects every VM_RECONNECT_MS and
	 * gives the new server what the guest had programmed. */
	bool down;              /* device thread only */
	uint64_t disconnects, reconnects;       /* atomic */
	int fn;                 /* the device in the guest's kg_ext.fn[], -1 */
	uint64_t bar0;          /* BAR0 as the guest assigned it */
	uint64_t raises;        /* atomic: doorbell commands run */
	uint64_t *raise_tsc;    /* [VM_RAISE_RING]: TSC before command i */
};

struct vm_machine {
	struct irqlink_vm *vm;
	struct irqlink_bypass *bypass;
	struct irqlink_relay *relay;
	struct kg_guest *g;
	struct vm_dev dev[VM_MAX_DEVICES];
	unsigned int ndev;
	int kickfd;             /* wakes the device thread to look again */
	struct vm_bus bus;
	unsigned int intx_gsi;  /* the first device's pin */
	unsigned int msix_vectors;
	enum irqlink_delivery delivery;
	enum irqlink_eoi_policy eoi;
	bool eoi_probed, eoi_early;     /* the self-test ran; its answer */
	bool eoi_no_line_state;         /* bar-access passed over: remote */
	uint32_t tsc_khz;       /* guest TSC rate (== host TSC here) */

	/* The device thread: serves the devices' doorbell eventfds, unmask
	 * events and their glues' INTx work (vm_machine.c). */
	pthread_t thread;
	bool thread_live;
	int stopfd;
	uint64_t timer_unmasks; /* atomic: the glues' ack timers unmasked */
	uint64_t errs, reqs;    /* atomic: the devices' ERR / REQ signals */
	pthread_mutex_t stop_lock;      /* kg_stop() from two threads */
};

/* Build everything, vCPUs not running yet. On failure returns -errno and
 * writes a one-line reason to @err; nothing is left open. */
int vm_machine_create(const struct vm_machine_config *cfg,
		      struct vm_machine **out, char *err, size_t errlen);

/* Start the vCPUs and the device thread, then have the guest enumerate
 * bus 0 and find every device (its fn and bar0). Returns 0 or -errno with a
 * reason in @err (a guest fault is reported with kg_why()). */
int vm_machine_boot(struct vm_machine *m, char *err, size_t errlen);

/* Stop everything and free it, in reverse order. NULL is a no-op. */
void vm_machine_destroy(struct vm_machine *m);

/*
 * vm_dev_set_msix_dma - MSI-X by the device's own DMA write into the
 * MSI doorbell window (@on; the ARM shape, <irqlink/msi_doorbell.h>), or
 * by eventfds again. The guest must have MSI-X disabled (the device
 * refuses the change otherwise: -EBUSY).
 * On: the window is mapped for the device (a remote one gets a DMA_MAP
 * without an fd, so its writes arrive as DMA_WRITE messages, which the
 * device thread answers), every entry of the device's own MSI-X table
 * (its host view) is programmed with the doorbell's address and data,
 * and the device's mode is set. Off: the mode, then the window goes.
 * Returns 0, or -errno with a reason in @err (-ENODEV: no MSI-X).
 */
int vm_dev_set_msix_dma(struct vm_dev *d, bool on, char *err,
			size_t errlen);

/* How often device @d's server went away, and how often it came back and
 * was given the guest's programming again (irqlink_vfu_client_reconnect(),
 * irqlink_pci_device_replaced()). Both 0 for an in-process device. */
uint64_t vm_dev_disconnects(struct vm_dev *d);
uint64_t vm_dev_reconnects(struct vm_dev *d);

/* Unmap the doorbell window, leaving the device's mode as it is: its next
 * MSI-X write is refused (and counted in its DMA_ERRORS). 0 or -errno. */
int vm_dev_unmap_doorbell(struct vm_dev *d);

/* Guest-physical address of BAR0 register @reg of the device. */
static inline uint64_t vm_dev_reg_gpa(const struct vm_dev *d, uint32_t reg)
{
	return d->bar0 + reg;
}

/* BAR0 register @reg of the device as the host reads it (the test
 * device's counters: TESTDEV_REG_RAISED, _UNMASKS...): directly for the
 * in-process device, a REGION_READ for a remote one. 0 on error, which a
 * remote device that went away also reports in its stats. */
uint32_t vm_dev_reg(struct vm_dev *d, uint32_t reg);

/* Set the device's doorbell command, as the guest's driver does (its own
 * MMIO writes, through the mailbox): each doorbell then raises one
 * interrupt of @kind (a VFIO_PCI_*_IRQ_INDEX), vector 0. 0 or a kg_*
 * error. */
int vm_dev_command(struct vm_machine *m, struct vm_dev *d, uint32_t kind);

/* TSC taken just before doorbell command @seq (0-based, in the order the
 * device ran them) raised its interrupt(s); 0 if it fell out of the ring. */
uint64_t vm_dev_raise_tsc(struct vm_dev *d, uint64_t seq);

/* Doorbell commands run so far. */
uint64_t vm_dev_raises(struct vm_dev *d);

/* INTx unmasks the glue's acknowledgement timer made (BAR_ACCESS): each
 * one is a guest that did not acknowledge in time. 0 in normal operation. */
uint64_t vm_machine_timer_unmasks(struct vm_machine *m);

/* ERR and REQ signals the device sent. On ERR the machine stops the VM,
 * as QEMU does (the device may have corrupted what the guest sees);
 * REQ (the host wants the device back) is only counted and reported. */
uint64_t vm_machine_errs(struct vm_machine *m);
uint64_t vm_machine_reqs(struct vm_machine *m);

/* Describe a kg_* error for a person: a device ERR that stopped the VM,
 * the guest's fault if it died, a timeout as "did not answer", else
 * strerror. */
const char *vm_machine_strerror(struct vm_machine *m, int err, char *buf,
				size_t len);

#endif
