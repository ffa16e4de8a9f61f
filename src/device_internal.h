/* SPDX-License-Identifier: MIT */
/* State shared by the device model's files (device.c, device_intx.c,
 * device_msi.c, unmask_watcher.c). Not part of the public API. */
#ifndef IRQLINK_SRC_DEVICE_INTERNAL_H
#define IRQLINK_SRC_DEVICE_INTERNAL_H

#include <irqlink/bypass.h>
#include <irqlink/device.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* irq_type when no index is enabled (the kernel uses VFIO_PCI_NUM_IRQS too). */
#define IL_IRQ_NONE VFIO_PCI_NUM_IRQS

/* A SET_IRQS request after validation, independent of its wire layout. */
struct il_irq_req {
	uint32_t flags, index, start, count;
	const uint8_t *bools;   /* DATA_BOOL: count bytes */
	const int *fds;         /* DATA_EVENTFD: count fds, or NULL = all -1 */
};

/* A trigger eventfd registered as a bypass producer (device_bypass.c). */
struct il_producer {
	struct irqlink_bypass_producer bp;
	struct irqlink_dev *dev;
	bool intx;
	bool registered;
};

/* INTx. Everything here is guarded by lock, which the raise path, the
 * control path and the unmask watcher all take: that is what keeps a swap
 * of the trigger from racing a signal (CVE-2024-26812) and a DisINTx write
 * consistent with SET_IRQS (CVE-2024-26810). */
struct il_intx {
	pthread_mutex_t lock;
	bool enabled;           /* irq_type == INTX, mirrored for the raise path */
	bool asserted;          /* the device's line level */
	bool masked;            /* automask / MASK state (kernel ctx->masked) */
	bool disabled;          /* PCI_COMMAND_INTX_DISABLE (kernel virq_disabled) */
	bool paused;            /* bypass producer stopped: hold the level */
	int trigger;            /* our dup, or -1 */
	int unmask_fd;          /* our dup of the unmask eventfd, or -1 */
	uint64_t unmask_token;  /* epoll token of unmask_fd; stale events miss */
	struct il_producer prod;
};

/* One MSI vector or MSI-X table entry; lock guards every field. */
struct il_vector {
	pthread_mutex_t lock;
	int fd;                 /* our dup, or -1 */
	bool allocated;         /* backed by a host vector (enabled) */
	bool masked;            /* per-vector mask bit */
	bool fmasked;           /* copy of the MSI-X function mask */
	bool paused;            /* bypass producer stopped: latch like a mask */
	bool pending;           /* fired while masked */
	struct il_producer prod;
};

struct il_msi_cap {
	struct il_vector *vec;
	uint32_t nvec;          /* capability size */
	uint32_t allocated;     /* vectors with a host vector; under dev->ctl */
	bool function_mask;     /* MSI-X Function Mask; under dev->ctl */
};

/* ERR or REQ: one optional trigger. */
struct il_single {
	pthread_mutex_t lock;
	int fd;
};

struct irqlink_dev {
	struct irqlink_dev_shape shape;
	/* Serializes control calls; taken before any per-index lock. */
	pthread_mutex_t ctl;
	uint32_t irq_type;      /* IL_IRQ_NONE or the enabled index; under ctl */

	struct il_intx intx;
	struct il_msi_cap msi, msix;
	struct il_single err, req;

	/* Unmask watcher (unmask_watcher.c). */
	int epfd;
	int stopfd;
	uint64_t next_token;    /* under ctl */
	pthread_t thread;
	bool thread_running;    /* under ctl */

	struct irqlink_bypass *bypass;  /* under ctl; NULL = none */
	/* Set under ctl while MSI-X is off; read by the raise path once a
	 * vector is allocated (after it, through the vector's lock). */
	irqlink_msix_writer_fn msix_writer;
	void *msix_writer_opaque;

	struct {
		_Atomic uint64_t signals, intx_fires, intx_unmasks,
			msi_latched, msi_replayed, dropped, bypass_failures,
			msix_writes, msix_write_errors;
	} stats;
};

static inline void il_count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Signal @fd (if >= 0) and count it; returns 1 if signalled. */
int il_dev_signal(struct irqlink_dev *dev, int fd);

/* device_intx.c */
int il_intx_init(struct irqlink_dev *dev);
void il_intx_fini(struct irqlink_dev *dev);
int il_intx_trigger(struct irqlink_dev *dev, const struct il_irq_req *req);
int il_intx_unmask_action(struct irqlink_dev *dev, const struct il_irq_req *req);
int il_intx_mask_action(struct irqlink_dev *dev, const struct il_irq_req *req);
/* The watcher saw @token readable: consume it and unmask. 1 if handled. */
int il_intx_unmask_event(struct irqlink_dev *dev, uint64_t token);

/* INTx is allowed to fire again (producer started): fire a held level. */
void il_intx_resume_locked(struct irqlink_dev *dev);

/* device_msi.c */
int il_msi_init(struct irqlink_dev *dev, struct il_msi_cap *cap, uint32_t nvec);
void il_msi_fini(struct irqlink_dev *dev, struct il_msi_cap *cap);
int il_msi_trigger(struct irqlink_dev *dev, const struct il_irq_req *req);
int il_msi_mask_action(struct irqlink_dev *dev, const struct il_irq_req *req);
/* Send a held pending vector if nothing holds it any more; v->lock held. */
int il_msi_replay_locked(struct irqlink_dev *dev, struct il_vector *v);
/* What il_msi_replay_locked() and a raise return when the device's writer
 * must send the vector: the caller drops v->lock, then il_msi_finish(). */
#define IL_MSI_WRITE 2
/* @r from a raise or replay under v->lock, now dropped: call the writer if
 * @r says so. Returns 1 if the vector was sent (signalled or written), 0 if
 * not (held, or the write failed: counted). */
int il_msi_finish(struct irqlink_dev *dev, struct il_vector *v, int r);

/* device_bypass.c; all under dev->ctl */
void il_producer_init(struct irqlink_dev *dev, struct il_producer *p, bool intx);
/* (Re-)register @p for trigger @fd (-1: none) with dev->bypass, if any.
 * @token: @fd's identity if the caller has it, else 0. */
void il_producer_update(struct irqlink_dev *dev, struct il_producer *p, int fd,
			uint64_t token);
/* A dup of a new trigger @fd, as il_eventfd_dup(); *@token gets its
 * identity (read through @fdinfo_dir, or -1: il_eventfd_token_at()) when
 * the device will register it, else 0. */
int il_producer_dup(struct irqlink_dev *dev, int fdinfo_dir, int fd,
		    uint64_t *token);
void il_producer_drop(struct irqlink_dev *dev, struct il_producer *p);

/* unmask_watcher.c */
int il_watcher_init(struct irqlink_dev *dev);
void il_watcher_fini(struct irqlink_dev *dev);
int il_watcher_add(struct irqlink_dev *dev, int fd, uint64_t token);
void il_watcher_del(struct irqlink_dev *dev, int fd);

#endif
