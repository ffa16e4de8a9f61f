/* SPDX-License-Identifier: MIT */
/*
 * The GSI routing table.
 *
 * Theory of operation: KVM only takes whole tables, and every
 * KVM_SET_GSI_ROUTING re-resolves every irqfd of the VM, so the table lives
 * here and goes to KVM in one piece per commit. Each GSI has a slot (an array
 * indexed by GSI: O(1) lookup) holding two MSI routes: the staged one, which
 * calls change, and the committed one, which is what KVM has. A slot whose
 * staged route was touched since the last commit is on the dirty list, so a
 * commit can tell "nothing changed" without walking the table, and GSIs with
 * a staged route are kept in a dense array (swap-remove), so building the
 * array for KVM walks the routes only, never the empty slots. The committed
 * copy is updated only after KVM accepted the table: a failed ioctl leaves
 * the committed view equal to what KVM still has.
 *
 * KVM puts an irqchip route and an MSI route on the same GSI in conflict
 * (it refuses the table), so on a full irqchip the pin GSIs never get MSI
 * routes and allocation starts above them. The pin routes themselves are
 * re-sent with every table because the new table replaces the default one
 * KVM set up at KVM_CREATE_IRQCHIP.
 */
#include "vm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <irqlink/routes.h>

/* KVM's default table on a full irqchip: GSI 0-15 reach both the PIC and
 * the IOAPIC (the guest uses whichever it programs), 16-23 the IOAPIC. */
#define PIC_PINS 16u
#define FULL_PIN_ENTRIES (IRQLINK_IOAPIC_PINS + PIC_PINS)

#define NO_POS UINT32_MAX

struct route_slot {
	struct kvm_msi staged;
	struct kvm_msi committed;
	uint32_t on_pos;        /* index in il_routes.on, or NO_POS */
	uint8_t committed_on;
	uint8_t dirty;
};

struct il_routes {
	uint32_t limit;         /* GSIs are < limit; entries per table <= limit */
	uint32_t base;          /* first allocatable GSI */
	uint32_t npins;         /* pin entries per table */
	struct route_slot *slot;
	uint32_t *on;           /* GSIs with a staged route, dense */
	uint32_t non;
	uint32_t *dirty;        /* GSIs touched since the last commit */
	uint32_t ndirty;
	uint64_t *used;         /* allocation bitmap; bits below base set */
	uint32_t nalloc;
	uint32_t ncommitted;
	unsigned depth;         /* open batches */
	uint64_t commits;
	uint64_t failures;
};

int il_routes_init(struct irqlink_vm *vm)
{
	struct il_routes *rt;
	uint32_t g, npins = 0, base = IRQLINK_IOAPIC_PINS;

	vm->routes = NULL;
	if (vm->irqchip == IRQLINK_IRQCHIP_NONE)
		return 0;
	if (vm->irqchip == IRQLINK_IRQCHIP_FULL)
		npins = FULL_PIN_ENTRIES;
	/* A KVM without routing (or a cap too small for the pins) leaves the
	 * table unmanaged: every call then says -EINVAL, as with no irqchip. */
	if (vm->max_routes <= base || vm->max_routes < npins)
		return 0;

	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->limit = vm->max_routes;
	rt->base = base;
	rt->npins = npins;
	rt->slot = calloc(rt->limit, sizeof(*rt->slot));
	rt->on = calloc(rt->limit, sizeof(*rt->on));
	rt->dirty = calloc(rt->limit, sizeof(*rt->dirty));
	rt->used = calloc((rt->limit + 63) / 64, sizeof(*rt->used));
	if (!rt->slot || !rt->on || !rt->dirty || !rt->used) {
		free(rt->slot);
		free(rt->on);
		free(rt->dirty);
		free(rt->used);
		free(rt);
		return -ENOMEM;
	}
	for (g = 0; g < rt->limit; g++)
		rt->slot[g].on_pos = NO_POS;
	for (g = 0; g < base; g++)
		rt->used[g / 64] |= 1ull << (g % 64);
	vm->routes = rt;
	return 0;
}

static bool gsi_used(const struct il_routes *rt, uint32_t gsi)
{
	return rt->used[gsi / 64] & (1ull << (gsi % 64));
}

static void mark_dirty(struct il_routes *rt, uint32_t gsi)
{
	if (!rt->slot[gsi].dirty) {
		rt->slot[gsi].dirty = 1;
		rt->dirty[rt->ndirty++] = gsi;
	}
}

static void stage_on(struct il_routes *rt, uint32_t gsi,
		     const struct kvm_msi *msi)
{
	struct route_slot *s = &rt->slot[gsi];

	s->staged = *msi;
	if (s->on_pos == NO_POS) {
		s->on_pos = rt->non;
		rt->on[rt->non++] = gsi;
	}
}

static void stage_off(struct il_routes *rt, uint32_t gsi)
{
	struct route_slot *s = &rt->slot[gsi];
	uint32_t last;

	if (s->on_pos == NO_POS)
		return;
	last = rt->on[--rt->non];
	rt->on[s->on_pos] = last;
	rt->slot[last].on_pos = s->on_pos;
	s->on_pos = NO_POS;
	memset(&s->staged, 0, sizeof(s->staged));
}

static bool slot_changed(const struct route_slot *s)
{
	bool on = s->on_pos != NO_POS;

	if (on != (bool)s->committed_on)
		return true;
	return on && memcmp(&s->staged, &s->committed, sizeof(s->staged));
}

static uint32_t fill_pins(const struct il_routes *rt,
			  struct kvm_irq_routing_entry *e)
{
	uint32_t n = 0, pin;

	if (!rt->npins)
		return 0;
	for (pin = 0; pin < IRQLINK_IOAPIC_PINS; pin++) {
		e[n].gsi = pin;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = pin;
		n++;
		if (pin < PIC_PINS) {
			e[n].gsi = pin;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER
							 : KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = pin % 8;
			n++;
		}
	}
	return n;
}

/* Build the table (pins, then the staged MSI routes unless @pins_only) and
 * hand it to KVM in one KVM_SET_GSI_ROUTING. */
static int submit(struct irqlink_vm *vm, bool pins_only)
{
	struct il_routes *rt = vm->routes;
	uint32_t i, n, nmsi = pins_only ? 0 : rt->non;
	struct kvm_irq_routing_entry *e;
	struct kvm_irq_routing *tbl;
	int r;

	tbl = calloc(1, sizeof(*tbl) + (size_t)(rt->npins + nmsi) * sizeof(*e));
	if (!tbl)
		return -ENOMEM;
	e = tbl->entries;
	n = fill_pins(rt, e);
	for (i = 0; i < nmsi; i++, n++) {
		const struct kvm_msi *m = &rt->slot[rt->on[i]].staged;

		e[n].gsi = rt->on[i];
		e[n].type = KVM_IRQ_ROUTING_MSI;
		e[n].flags = m->flags;
		e[n].u.msi.address_lo = m->address_lo;
		e[n].u.msi.address_hi = m->address_hi;
		e[n].u.msi.data = m->data;
		e[n].u.msi.devid = m->devid;
	}
	tbl->nr = n;
	r = il_kvm_ioctl(&vm->kvm, vm->fd, KVM_SET_GSI_ROUTING,
			 (unsigned long)tbl);
	free(tbl);
	if (r < 0) {
		rt->failures++;
		return r;
	}
	rt->commits++;
	return 0;
}

/* Submit the staged table if it differs from the committed one. On failure
 * nothing but the failure counter changes. */
static int flush(struct irqlink_vm *vm)
{
	struct il_routes *rt = vm->routes;
	bool changed = false;
	uint32_t i;
	int r;

	for (i = 0; i < rt->ndirty && !changed; i++)
		changed = slot_changed(&rt->slot[rt->dirty[i]]);
	if (changed) {
		r = submit(vm, false);
		if (r)
			return r;
		rt->ncommitted = rt->non;
	}
	for (i = 0; i < rt->ndirty; i++) {
		struct route_slot *s = &rt->slot[rt->dirty[i]];

		s->committed_on = s->on_pos != NO_POS;
		s->committed = s->staged;
		s->dirty = 0;
	}
	rt->ndirty = 0;
	return 0;
}

/* Staged := committed, except that a GSI freed meanwhile keeps no route: the
 * slot then stays dirty so the next commit removes the route from KVM. */
static void revert(struct il_routes *rt)
{
	uint32_t i, kept = 0;

	for (i = 0; i < rt->ndirty; i++) {
		uint32_t g = rt->dirty[i];
		struct route_slot *s = &rt->slot[g];
		bool freed = g >= rt->base && !gsi_used(rt, g);

		if (s->committed_on && !freed)
			stage_on(rt, g, &s->committed);
		else
			stage_off(rt, g);
		if (slot_changed(s))
			rt->dirty[kept++] = g;
		else
			s->dirty = 0;
	}
	rt->ndirty = kept;
}

/* After a change: outside a batch, commit it now, and undo it if KVM says
 * no, so a single call either takes effect or changes nothing. */
static int settle(struct irqlink_vm *vm)
{
	int r;

	if (vm->routes->depth)
		return 0;
	r = flush(vm);
	if (r)
		revert(vm->routes);
	return r;
}

/* Lock @vm and check it has a routing table; on success the caller holds
 * the lock. */
static int lock_routes(struct irqlink_vm *vm)
{
	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (!vm->routes) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	return 0;
}

static int gsi_alloc_locked(struct il_routes *rt, uint32_t *gsi)
{
	uint32_t w, nwords = (rt->limit + 63) / 64;

	for (w = rt->base / 64; w < nwords; w++) {
		uint64_t free_bits = ~rt->used[w];
		uint32_t g;

		if (!free_bits)
			continue;
		g = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
		if (g >= rt->limit)
			break;
		rt->used[w] |= 1ull << (g % 64);
		rt->nalloc++;
		*gsi = g;
		return 0;
	}
	return -ENOSPC;
}

static void gsi_release_locked(struct il_routes *rt, uint32_t gsi)
{
	rt->used[gsi / 64] &= ~(1ull << (gsi % 64));
	rt->nalloc--;
}

int irqlink_routes_gsi_alloc(struct irqlink_vm *vm, uint32_t *gsi)
{
	int r;

	if (!gsi)
		return -EINVAL;
	r = lock_routes(vm);
	if (r)
		return r;
	r = gsi_alloc_locked(vm->routes, gsi);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static int clear_locked(struct irqlink_vm *vm, uint32_t gsi)
{
	struct il_routes *rt = vm->routes;

	if (rt->slot[gsi].on_pos == NO_POS)
		return 0;
	stage_off(rt, gsi);
	mark_dirty(rt, gsi);
	return settle(vm);
}

int irqlink_routes_gsi_free(struct irqlink_vm *vm, uint32_t gsi)
{
	struct il_routes *rt;
	int r = lock_routes(vm);

	if (r)
		return r;
	rt = vm->routes;
	if (gsi >= rt->limit)
		r = -EINVAL;
	else if (gsi < rt->base || !gsi_used(rt, gsi))
		r = -ENOENT;
	else
		r = clear_locked(vm, gsi);
	if (!r)
		gsi_release_locked(rt, gsi);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* Where may @gsi carry an MSI route? 0, -EINVAL or -ENOENT. */
static int check_route_gsi(const struct il_routes *rt, uint32_t gsi)
{
	if (gsi >= rt->limit)
		return -EINVAL;
	if (gsi < rt->base)
		/* Split irqchip: the user-space IOAPIC's pins reach the LAPICs
		 * through MSI routes on these GSIs. Full: pin routes own them. */
		return rt->npins ? -EINVAL : 0;
	return gsi_used(rt, gsi) ? 0 : -ENOENT;
}

static int set_locked(struct irqlink_vm *vm, uint32_t gsi,
		      const struct kvm_msi *msi)
{
	struct il_routes *rt = vm->routes;
	struct kvm_msi m = {
		.address_lo = msi->address_lo,
		.address_hi = msi->address_hi,
		.data = msi->data,
		.flags = msi->flags,
	};
	int r = check_route_gsi(rt, gsi);

	if (r)
		return r;
	if (msi->flags & ~KVM_MSI_VALID_DEVID)
		return -EINVAL;
	if (msi->flags & KVM_MSI_VALID_DEVID)
		m.devid = msi->devid;
	if (rt->slot[gsi].on_pos == NO_POS) {
		if (rt->npins + rt->non + 1 > rt->limit)
			return -ENOSPC;
	} else if (!memcmp(&rt->slot[gsi].staged, &m, sizeof(m))) {
		return 0;
	}
	stage_on(rt, gsi, &m);
	mark_dirty(rt, gsi);
	return settle(vm);
}

int irqlink_routes_set_msi(struct irqlink_vm *vm, uint32_t gsi,
			   const struct kvm_msi *msi)
{
	int r;

	if (!msi)
		return -EINVAL;
	r = lock_routes(vm);
	if (r)
		return r;
	r = set_locked(vm, gsi, msi);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_routes_add_msi(struct irqlink_vm *vm, const struct kvm_msi *msi,
			   uint32_t *gsi)
{
	uint32_t g;
	int r;

	if (!msi || !gsi)
		return -EINVAL;
	r = lock_routes(vm);
	if (r)
		return r;
	r = gsi_alloc_locked(vm->routes, &g);
	if (!r) {
		r = set_locked(vm, g, msi);
		if (r)
			gsi_release_locked(vm->routes, g);
		else
			*gsi = g;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_routes_clear(struct irqlink_vm *vm, uint32_t gsi)
{
	int r = lock_routes(vm);

	if (r)
		return r;
	r = gsi < vm->routes->limit ? clear_locked(vm, gsi) : -EINVAL;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_routes_begin(struct irqlink_vm *vm)
{
	int r = lock_routes(vm);

	if (r)
		return r;
	vm->routes->depth++;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int irqlink_routes_commit(struct irqlink_vm *vm)
{
	int r = lock_routes(vm);

	if (r)
		return r;
	if (vm->routes->depth)
		vm->routes->depth--;
	r = vm->routes->depth ? 0 : flush(vm);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void irqlink_routes_abort(struct irqlink_vm *vm)
{
	if (lock_routes(vm))
		return;
	revert(vm->routes);
	vm->routes->depth = 0;
	pthread_mutex_unlock(&vm->lock);
}

int irqlink_routes_get(struct irqlink_vm *vm, uint32_t gsi,
		       enum irqlink_routes_view view, struct kvm_msi *msi)
{
	const struct route_slot *s;
	int r;

	if (!msi || (view != IRQLINK_ROUTES_STAGED &&
		     view != IRQLINK_ROUTES_COMMITTED))
		return -EINVAL;
	r = lock_routes(vm);
	if (r)
		return r;
	if (gsi >= vm->routes->limit) {
		r = -EINVAL;
		goto out;
	}
	s = &vm->routes->slot[gsi];
	if (view == IRQLINK_ROUTES_STAGED ? s->on_pos != NO_POS
					  : s->committed_on) {
		*msi = view == IRQLINK_ROUTES_STAGED ? s->staged : s->committed;
		r = 1;
	}
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int irqlink_routes_stats(struct irqlink_vm *vm,
			 struct irqlink_routes_stats *st)
{
	struct il_routes *rt;
	int r;

	if (!st)
		return -EINVAL;
	r = lock_routes(vm);
	if (r)
		return r;
	rt = vm->routes;
	*st = (struct irqlink_routes_stats){
		.commits = rt->commits,
		.commit_failures = rt->failures,
		.staged_routes = rt->non,
		.committed_routes = rt->ncommitted,
		.pin_routes = rt->npins,
		.max_routes = rt->limit,
		.gsi_base = rt->base,
		.gsis_allocated = rt->nalloc,
	};
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void il_routes_teardown(struct irqlink_vm *vm)
{
	struct il_routes *rt = vm->routes;

	if (!rt)
		return;
	/* A wrapped VM outlives us: give it back KVM's default table rather
	 * than routes to GSIs nobody owns any more. Our own VM dies with its
	 * fd, so an ioctl would be wasted there. */
	if (vm->wrapped && rt->commits)
		(void)submit(vm, true);
	free(rt->slot);
	free(rt->on);
	free(rt->dirty);
	free(rt->used);
	free(rt);
	vm->routes = NULL;
}
