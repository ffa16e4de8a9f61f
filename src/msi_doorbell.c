/* SPDX-License-Identifier: MIT */
/*
 * The MSI doorbell window (<irqlink/msi_doorbell.h>).
 *
 * Theory of operation: a write is decoded without a lock (the window never
 * changes after create), the vector's message comes from the VMM's
 * resolver, and KVM_SIGNAL_MSI needs no route, so a device with 2048
 * vectors costs KVM nothing until it writes. Counters are relaxed atomics:
 * they count, they do not order anything.
 */
#include <irqlink/msi_doorbell.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DOORBELL_MAX_VECTORS 2048u

struct irqlink_msi_doorbell {
	struct irqlink_vm *vm;
	struct irqlink_msi_doorbell_config cfg;
	struct {
		_Atomic uint64_t writes, injected, undelivered, refused,
			no_message, errors;
	} st;
};

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int irqlink_msi_doorbell_create(struct irqlink_vm *vm,
				const struct irqlink_msi_doorbell_config *cfg,
				struct irqlink_msi_doorbell **out)
{
	struct irqlink_msi_doorbell *db;

	if (!vm || !cfg || !out || !cfg->resolve)
		return -EINVAL;
	if ((cfg->iova & 3) || !cfg->size || (cfg->size & 3) ||
	    cfg->iova + cfg->size - 1 < cfg->iova)
		return -EINVAL;
	if (!cfg->vectors || cfg->vectors > DOORBELL_MAX_VECTORS)
		return -EINVAL;
	if (irqlink_vm_irqchip(vm) == IRQLINK_IRQCHIP_NONE)
		return -EINVAL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->vm = vm;
	db->cfg = *cfg;
	*out = db;
	return 0;
}

void irqlink_msi_doorbell_destroy(struct irqlink_msi_doorbell *db)
{
	free(db);
}

int irqlink_msi_doorbell_message(const struct irqlink_msi_doorbell *db,
				 uint32_t vector, uint64_t *addr,
				 uint32_t *data)
{
	if (!db || !addr || !data || vector >= db->cfg.vectors)
		return -EINVAL;
	*addr = db->cfg.iova;
	*data = vector;
	return 0;
}

static bool inside(const struct irqlink_msi_doorbell *db, uint64_t iova,
		   size_t len)
{
	return len && iova >= db->cfg.iova &&
	       iova - db->cfg.iova < db->cfg.size &&
	       len <= db->cfg.size - (iova - db->cfg.iova);
}

int irqlink_msi_doorbell_write(struct irqlink_msi_doorbell *db, uint64_t iova,
			       const void *buf, size_t len)
{
	struct kvm_msi msg;
	uint32_t data;
	int r;

	if (!db || !buf)
		return -EINVAL;
	count(&db->st.writes);
	if (!inside(db, iova, len)) {
		count(&db->st.refused);
		return -EFAULT;
	}
	if (len != sizeof(data) || (iova & 3)) {
		count(&db->st.refused);
		return -EINVAL;
	}
	/* The bus is little endian, and so is x86. */
	memcpy(&data, buf, sizeof(data));
	if (data >= db->cfg.vectors) {
		count(&db->st.refused);
		return -EINVAL;
	}
	memset(&msg, 0, sizeof(msg));
	r = db->cfg.resolve(db->cfg.opaque, data, &msg);
	if (r) {
		count(&db->st.no_message);
		return r < 0 ? r : -EIO;
	}
	r = irqlink_vm_signal_msi(db->vm, &msg);
	if (r < 0) {
		count(&db->st.errors);
		return r;
	}
	count(&db->st.injected);
	if (r == 0)
		count(&db->st.undelivered);
	return 0;
}

int irqlink_msi_doorbell_dma(void *opaque, uint64_t iova, void *buf,
			     size_t len, bool write)
{
	struct irqlink_msi_doorbell *db = opaque;

	if (!db)
		return -EINVAL;
	if (!write) {
		count(&db->st.writes);
		count(&db->st.refused);
		return -EFAULT;
	}
	return irqlink_msi_doorbell_write(db, iova, buf, len);
}

int irqlink_msi_doorbell_get_stats(const struct irqlink_msi_doorbell *db,
				   struct irqlink_msi_doorbell_stats *st)
{
	if (!db || !st)
		return -EINVAL;
	st->writes = atomic_load(&db->st.writes);
	st->injected = atomic_load(&db->st.injected);
	st->undelivered = atomic_load(&db->st.undelivered);
	st->refused = atomic_load(&db->st.refused);
	st->no_message = atomic_load(&db->st.no_message);
	st->errors = atomic_load(&db->st.errors);
	return 0;
}
