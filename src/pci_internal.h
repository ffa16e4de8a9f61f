/* SPDX-License-Identifier: MIT */
/* State shared by the PCI glue's files (pci_config.c, pci_bar.c,
 * pci_vectors.c, pci_msi.c, pci_msix.c, pci_intx.c, pci_errreq.c). Not
 * public API.
 * Everything here is guarded by irqlink_pci.lock. */
#ifndef IRQLINK_SRC_PCI_INTERNAL_H
#define IRQLINK_SRC_PCI_INTERNAL_H

#include <irqlink/pci.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci_irq_sink.h"

#define IL_PCI_BARS 6u
#define IL_PCI_ERRREQ 2u        /* ERR, REQ */

/* Config register offsets and bits (PCI Local Bus 3.0 / PCIe base). */
#define IL_CFG_COMMAND     0x04
#define IL_CFG_STATUS      0x06
#define IL_CFG_BAR0        0x10
#define IL_CFG_ROM         0x30
#define IL_CFG_CAP_PTR     0x34
#define IL_CFG_INT_LINE    0x3c
#define IL_CFG_INT_PIN     0x3d
#define IL_CMD_IO          0x0001
#define IL_CMD_MEM         0x0002
#define IL_CMD_INTX_DISABLE 0x0400
#define IL_STATUS_CAP_LIST 0x0010
#define IL_CAP_ID_MSI      0x05
#define IL_CAP_ID_MSIX     0x11

/* Per config byte: where the guest's view of it lives. */
#define IL_CFG_EMU   0x1  /* reads from cfg[]; writes update cfg[] via wmask */
#define IL_CFG_DEVW  0x2  /* an EMU byte whose writes also reach the device */

struct il_pci_bar {
	uint64_t size;          /* decode size, power of two; 0 = none */
	uint64_t region_size;   /* the device region behind it */
	bool io, is64, prefetch;
	bool upper;             /* the upper half of BAR n-1 */
	bool mapped;
	uint64_t addr;          /* where it decodes, when mapped */
	/* Areas the guest reaches with no exit (pci_bar_map.c): the region
	 * mapped here once, and a memslot per area while the BAR decodes. */
	uint8_t *map;           /* NULL: nothing mappable */
	size_t map_len;
	uint32_t nareas;
	struct {
		uint64_t offset, size;
		int slot;       /* -1 while trapped */
	} area[IRQLINK_PCI_MMAP_AREAS];
};

/* A doorbell the device asked for, and where it is registered now. */
struct il_pci_doorbell {
	struct irqlink_pci_ioeventfd d;  /* d.fd is our dup */
	bool registered;
	uint64_t addr;
};

/* One MSI vector or MSI-X entry: guest view and host view. */
struct il_pci_vec {
	/* guest view */
	struct kvm_msi msg;
	bool masked;
	/* host view */
	int efd;                /* our trigger eventfd, -1 = no host vector */
	bool dev_fd;            /* the device holds efd as its trigger */
	bool dev_masked;        /* the mask bit the device holds */
	struct il_irq_sink sink;
};

/* The host side of one interrupt index (MSI or MSI-X). */
struct il_pci_irqs {
	uint32_t index;         /* VFIO_PCI_MSI/MSIX_IRQ_INDEX */
	uint32_t nvec;          /* capability size (guest view) */
	uint32_t dev_max;       /* vectors the device reports (GET_IRQ_INFO) */
	bool lazy;              /* host vectors only once the guest unmasks */
	bool no_mask;           /* the device refused MASK/UNMASK (-ENOTTY) */
	struct il_pci_vec *vec;
	uint32_t nhost;         /* vectors with a host eventfd */
	bool dev_on;            /* index enabled at the device */
	uint32_t dev_want;      /* vectors asked for at enable */
	uint32_t dev_count;     /* vectors the device backs */
	bool guest_on;          /* the guest has the capability enabled;
				   under msg_lock too */
};

struct il_pci_msi {
	uint8_t off;            /* capability offset; 0 = none */
	uint8_t len;
	bool is64, pvm;
	uint8_t data_off, mask_off;
	struct il_pci_irqs irqs;
};

struct il_pci_msix {
	uint8_t off;            /* capability offset; 0 = none */
	uint32_t size;          /* table entries */
	uint32_t table_bar, table_off;
	uint32_t pba_bar, pba_off, pba_len;
	uint8_t *table;         /* guest view, 16 bytes per entry */
	bool enabled, fmask;    /* guest view of the control register */
	struct il_pci_irqs irqs;
};

struct il_pci_intx {
	uint8_t pin;            /* 0 = none */
	bool routed;
	uint32_t gsi;
	int trigger;            /* our eventfds, -1 when not routed */
	int resample;           /* RESAMPLEFD, GUEST_PORT: the EOI's eventfd */
	int notify;             /* BAR_ACCESS: signalled before each injection */
	bool dev_on;            /* INTx enabled at the device */
	bool ack_pending;       /* BAR_ACCESS: fired, not acknowledged yet */
	struct il_irq_sink sink;
	/* BAR_ACCESS's poll fd: an epoll set of notify and timer. Made at
	 * create, for the glue's lifetime. */
	int epfd, timer;
	unsigned int ack_timeout_ms;
};

struct irqlink_pci {
	const struct irqlink_pci_ops *ops;
	void *opaque;
	struct irqlink_vm *vm;
	struct il_irq_sinks sinks;      /* vm, relay, bypass, delivery */
	enum irqlink_eoi_policy eoi;
	pthread_mutex_t lock;
	/* A leaf lock over the guest's messages and enables (il_pci_vec.msg,
	 * il_pci_irqs.guest_on), which writers change under @lock too. It
	 * lets irqlink_pci_guest_msi() answer from inside a device op: a
	 * device that sends MSI-X by DMA into a doorbell may do so while the
	 * op that unmasked it holds @lock. */
	pthread_mutex_t msg_lock;

	uint32_t cfg_size;
	uint8_t cfg[IRQLINK_PCIE_CONFIG_SIZE];   /* guest view of EMU bytes */
	uint8_t wmask[IRQLINK_PCIE_CONFIG_SIZE]; /* guest-writable bits */
	uint8_t flags[IRQLINK_PCIE_CONFIG_SIZE]; /* IL_CFG_* */

	struct il_pci_bar bar[IL_PCI_BARS];
	struct il_pci_doorbell *db;
	size_t ndb;
	bool db_suspended;      /* BAR_ACCESS: removed until the guest acks */

	struct il_pci_msi msi;
	struct il_pci_msix msix;
	struct il_pci_intx intx;
	/* Our ERR and REQ trigger eventfds, held by the device from create
	 * to destroy; -1 = the device has none. */
	int errreq[IL_PCI_ERRREQ];

	struct irqlink_pci_stats stats;
};

/* Keep the first error. */
static inline int il_first(int first, int r)
{
	return first ? first : (r < 0 ? r : 0);
}

/* Count a failed host-side call @r (< 0) and keep the first error. Every
 * failing op or KVM call is counted once, where it is made. */
static inline int il_pci_err(struct irqlink_pci *p, int first, int r)
{
	if (r < 0)
		p->stats.errors++;
	return il_first(first, r);
}

/* pci_config.c */
uint32_t il_cfg_get(const struct irqlink_pci *p, uint32_t off, uint32_t size);
void il_cfg_set(struct irqlink_pci *p, uint32_t off, uint32_t size,
		uint32_t val);
/* Make [off, off+size) (size 1-4) emulated with @flags and guest-writable bits @wmask
 * (little endian, like the value). */
void il_cfg_emulate(struct irqlink_pci *p, uint32_t off, uint32_t size,
		    uint8_t flags, uint32_t wmask);
/* A replaced device: write the command register (decoding, Bus Master,
 * Interrupt Disable) through again. */
int il_pci_config_replay(struct irqlink_pci *p);
/* SET_IRQS with no data (@fds NULL) or eventfds. Returns the op's result. */
int il_pci_set_irqs(struct irqlink_pci *p, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, const int *fds);

/* pci_bar.c */
int il_pci_bars_init(struct irqlink_pci *p);
void il_pci_bars_fini(struct irqlink_pci *p);
/* Re-derive every BAR's decode state (after a command or BAR write) and
 * move doorbells that moved. Returns 0 or the first -errno. */
int il_pci_bars_update(struct irqlink_pci *p);
/* Remove every doorbell from KVM so that each guest write traps, and put
 * them back. Resume returns 0 or the first -errno. */
void il_pci_doorbells_suspend(struct irqlink_pci *p);
/* pci_bar_map.c: BAR areas the device lets be mapped, given to the guest
 * as memslots while the BAR decodes and nothing wants its accesses to
 * trap. init maps the region (no-op without a VM or ops.get_region_mmap);
 * on places BAR @i's areas at its address, off takes them away (accesses
 * trap again and reach the device through region_read/write); retake is
 * for a replaced device: off, let go, ask the device again, on. */
int il_pci_bar_map_init(struct irqlink_pci *p, uint32_t i);
int il_pci_bar_map_on(struct irqlink_pci *p, uint32_t i);
void il_pci_bar_map_off(struct irqlink_pci *p, uint32_t i);
void il_pci_bar_map_fini(struct irqlink_pci *p);
int il_pci_bar_map_retake(struct irqlink_pci *p);

/* A replaced device: let go of its doorbells (ioeventfds and our dups),
 * take the new device's list, register each where its BAR is. */
int il_pci_doorbells_retake(struct irqlink_pci *p);
int il_pci_doorbells_resume(struct irqlink_pci *p);

/* pci_vectors.c */
int il_pci_irqs_init(struct il_pci_irqs *q, uint32_t index, uint32_t nvec,
		     uint32_t dev_max, bool lazy);
/* Disable at the device and release every host vector. */
void il_pci_irqs_fini(struct irqlink_pci *p, struct il_pci_irqs *q);
/* Reconcile the host view with the guest view: the index is @enabled for
 * @want vectors, the function mask is @fmask, and the guest view of
 * vectors [first, first + n) changed (all of them when the enable state or
 * @want changes). One routing batch. Returns 0 or the first -errno. */
int il_pci_irqs_sync(struct irqlink_pci *p, struct il_pci_irqs *q,
		     bool enabled, uint32_t want, bool fmask,
		     uint32_t first, uint32_t n);

/* pci_msi.c */
int il_pci_msi_init(struct irqlink_pci *p, uint8_t off);
int il_pci_msi_written(struct irqlink_pci *p);

/* pci_msix.c */
int il_pci_msix_init(struct irqlink_pci *p, uint8_t off);
void il_pci_msix_fini(struct irqlink_pci *p);
int il_pci_msix_written(struct irqlink_pci *p);
/* A BAR access at @off of BAR @bar: 1 if it hit the table or the PBA and
 * was served, 0 if it hit neither, or the -errno of a served access whose
 * host side failed. */
int il_pci_msix_access(struct irqlink_pci *p, uint32_t bar, uint64_t off,
		       void *data, uint32_t size, bool is_write);

/* pci_intx.c */
int il_pci_intx_init(struct irqlink_pci *p);
void il_pci_intx_fini(struct irqlink_pci *p);
/* Enable or disable INTx at the device as the current state wants;
 * @allow false forces it off (MSI or MSI-X is about to be enabled). */
int il_pci_intx_sync(struct irqlink_pci *p, bool allow);
/* SET_IRQS UNMASK (DATA_NONE) of the device's INTx. */
int il_pci_intx_unmask(struct irqlink_pci *p);

/* pci_errreq.c. Init gives the device its ERR and REQ eventfds (those
 * it has); fini releases them at the device and closes them. */
int il_pci_errreq_init(struct irqlink_pci *p);
void il_pci_errreq_fini(struct irqlink_pci *p);
/* A replaced device: give it our ERR and REQ eventfds again. */
int il_pci_errreq_replay(struct irqlink_pci *p);

/* pci_intx_ack.c: the BAR_ACCESS policy's acknowledgement inference */
int il_pci_ack_init(struct irqlink_pci *p, unsigned int timeout_ms);
void il_pci_ack_fini(struct irqlink_pci *p);
/* Start / stop watching the routed INTx's notify eventfd. */
int il_pci_ack_watch(struct irqlink_pci *p);
void il_pci_ack_unwatch(struct irqlink_pci *p);
/* A guest access to one of the device's BARs was served. */
void il_pci_ack_bar_accessed(struct irqlink_pci *p);
/* INTx is going away or being moved: forget a pending acknowledgement
 * and put the doorbells back. */
void il_pci_ack_reset(struct irqlink_pci *p);

#endif
