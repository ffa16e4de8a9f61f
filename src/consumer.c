/* SPDX-License-Identifier: MIT */
/*
 * A device interrupt's guest side: bypass (KVM irqfd on the device's own
 * eventfd) or relay, chosen by the path rule and switched in place.
 *
 * Theory of operation: everything either path needs is set up once, at
 * creation, so a switch only moves the trigger eventfd E between two readers
 * and never allocates on the relay side: the relay entries are added at
 * creation and then only paused and resumed (which cannot fail), the MSI
 * GSI is allocated up front, and an INTx consumer's relay-side level irqfd
 * (L, resamplefd R) stays attached in both paths. What a switch does:
 *
 *   relay -> bypass                       bypass -> relay
 *   1. pause relay(E)                     1. INTx: drain R, discard
 *   2. drain E -> n                       2. INTx: resume relay(R -> U)
 *   3. attach E as the irqfd              3. detach E's irqfd
 *   4. INTx: pause relay(R), drain R,     4. resume relay(E)
 *      forward to U if non-zero
 *   5. n > 0: signal E once
 *
 * E: at every moment exactly one of {relay, KVM} may consume it, or
 * neither, in which case signals wait in the counter. Step 2 empties E
 * before KVM sees it because KVM injects a count pending at attach time
 * without consuming it (rule 25); leaving it there would let the next
 * wakeup inject it again. Step 5 hands the drained count to KVM the normal
 * way: a write that KVM's wakeup consumes. After bypass step 3, KVM has
 * stopped injecting (rule 24) and has consumed only signals it injected;
 * the relay picks up the rest in step 4.
 *
 * INTx resamples: with L and E both attached on the pin, each EOI signals
 * R and U. KVM adds and removes a level irqfd from the pin's resampler with
 * an SRCU grace period (synchronize_srcu on irq_srcu) before the ioctl
 * returns, so once "attach E" returns every later EOI reaches U directly,
 * and once "detach E" returns none does. Hence: R signals from before
 * relay->bypass step 3 returned are unique and are forwarded (by the relay,
 * or by step 4); R signals while E is attached duplicate a direct U signal
 * and are discarded (bypass step 1); between bypass steps 1 and 3 they are
 * forwarded, possibly twice over -- an extra unmask, which the shared
 * resampler already makes part of the contract. Keeping L attached also
 * keeps the pin's resampler, so an asserted line is never dropped (rule 28)
 * in the middle of a switch.
 *
 * Locking: c->lock serializes rule evaluation and set_msi. The bypass
 * manager calls add_producer/del_producer with its own mutex held; we take
 * c->lock inside it and never call the manager while holding c->lock.
 */
#include <irqlink/consumer.h>
#include <irqlink/irqfd.h>
#include <irqlink/routes.h>

#include "consumer_internal.h"
#include "container_of.h"
#include "eventfd.h"
#include "irqfd_internal.h"
#include "relay_internal.h"
#include "vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct irqlink_consumer {
	struct irqlink_bypass_consumer bc;      /* registered with @bypass */
	struct irqlink_vm *vm;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
	enum irqlink_consumer_kind kind;

	int efd;                /* dup of E */
	int ufd;                /* INTx: dup of U */
	int lfd, rfd;           /* INTx: relay-side level irqfd and its
				 * resamplefd, ours (INTX_NOTIFY too) */
	uint32_t gsi;           /* MSI: allocated GSI; INTx: the pin */
	bool gsi_allocated;
	bool registered;        /* with @bypass */

	pthread_mutex_t lock;   /* guards everything below */
	struct kvm_msi msi;
	bool connected;
	bool force_relay;
	bool deferred;          /* bypass waits for a routes commit */
	bool pause_begun;       /* E's relay entry paused ahead of to_bypass */
	_Atomic int path;       /* enum irqlink_consumer_path */
	struct irqlink_consumer_stats st;
};

static struct irqlink_consumer *of(struct irqlink_bypass_consumer *bc)
{
	return il_container_of(bc, struct irqlink_consumer, bc);
}

static bool msi_equal(const struct kvm_msi *a, const struct kvm_msi *b)
{
	return a->address_lo == b->address_lo &&
	       a->address_hi == b->address_hi && a->data == b->data &&
	       a->flags == b->flags &&
	       (!(a->flags & KVM_MSI_VALID_DEVID) || a->devid == b->devid);
}

static bool chip_ok(const struct irqlink_consumer *c)
{
	enum irqlink_irqchip chip = irqlink_vm_irqchip(c->vm);

	if (c->kind == IRQLINK_CONSUMER_INTX_NOTIFY)
		return false;   /* no resampler, no in-kernel level */
	if (c->kind == IRQLINK_CONSUMER_INTX)
		return chip == IRQLINK_IRQCHIP_FULL;
	return chip == IRQLINK_IRQCHIP_FULL || chip == IRQLINK_IRQCHIP_SPLIT;
}

static enum irqlink_consumer_path path_of(const struct irqlink_consumer *c)
{
	return (enum irqlink_consumer_path)atomic_load(&c->path);
}

/* Make KVM's committed route for our GSI the current message. 0 when it
 * is live; -EAGAIN when it is only staged (the caller has a routes batch
 * open), so an irqfd would lose signals to a missing route. */
static int ensure_route(struct irqlink_consumer *c)
{
	struct kvm_msi cur;
	int r;

	r = irqlink_routes_get(c->vm, c->gsi, IRQLINK_ROUTES_COMMITTED, &cur);
	if (r == 1 && msi_equal(&cur, &c->msi))
		return 0;
	r = irqlink_routes_set_msi(c->vm, c->gsi, &c->msi);
	if (r)
		return r;
	c->st.route_updates++;
	r = irqlink_routes_get(c->vm, c->gsi, IRQLINK_ROUTES_COMMITTED, &cur);
	return r == 1 && msi_equal(&cur, &c->msi) ? 0 : -EAGAIN;
}

/* E's own calls pass its identity, read once at creation: a switch of
 * thousands of vectors would otherwise re-read it from /proc several
 * times per vector. */
static int attach_e(struct irqlink_consumer *c)
{
	return il_irqfd_attach_token(c->vm, c->efd,
				     c->kind == IRQLINK_CONSUMER_INTX ? c->ufd
								      : -1,
				     c->gsi, c->bc.token);
}

static int to_bypass(struct irqlink_consumer *c)
{
	uint64_t n = 0, m = 0;
	int r;

	if (c->kind == IRQLINK_CONSUMER_MSI && !c->gsi_allocated) {
		r = irqlink_routes_gsi_alloc(c->vm, &c->gsi);
		if (r) {
			c->gsi = IRQLINK_CONSUMER_NO_GSI;
			c->st.no_route++;
			return r;
		}
		c->gsi_allocated = true;
	}
	if (c->kind == IRQLINK_CONSUMER_MSI) {
		r = ensure_route(c);
		if (r)
			return r;
	}
	/* Cannot fail: the entry exists and pausing allocates nothing. */
	r = il_relay_pause_token(c->relay, c->bc.token);
	if (r)
		return r;
	/* Nobody else reads E now; a failed read leaves the count in E. */
	if (il_eventfd_take(c->efd, &n) < 0)
		n = 0;
	r = attach_e(c);
	if (r) {
		/* Back to the relay; it injects what we took, once. */
		if (n)
			(void)il_eventfd_signal(c->efd);
		(void)il_relay_resume_token(c->relay, c->bc.token);
		return r;
	}
	if (c->kind == IRQLINK_CONSUMER_INTX) {
		/* Every EOI from here on reaches U directly (the attach
		 * waited out KVM's in-flight resamples); collect the ones
		 * that reached only R and the relay has not passed on. */
		(void)irqlink_relay_pause(c->relay, c->rfd);
		if (il_eventfd_take(c->rfd, &m) > 0) {
			(void)il_eventfd_signal(c->ufd);
			c->st.unmasks_forwarded++;
		}
	}
	if (n) {
		/* KVM's wakeup consumes this write and injects once. */
		(void)il_eventfd_signal(c->efd);
		c->st.drained++;
	}
	atomic_store(&c->path, IRQLINK_PATH_BYPASS);
	c->st.to_bypass++;
	c->st.switches++;
	return 0;
}

static int to_relay(struct irqlink_consumer *c)
{
	uint64_t m;
	int r;

	if (c->kind == IRQLINK_CONSUMER_INTX) {
		/* While E is attached every R signal has a twin on U. */
		(void)il_eventfd_take(c->rfd, &m);
		(void)irqlink_relay_resume(c->relay, c->rfd);
	}
	/* KVM refuses only a fd that is not an eventfd (ours always is), but
	 * the ioctl layer can fail anything: then E stays KVM's and the
	 * consumer stays in bypass, its relay side paused as it was. An EOI
	 * forwarded from R meanwhile was a twin of a direct one: harmless. */
	r = il_irqfd_detach_token(c->vm, c->efd, c->gsi, c->bc.token);
	if (r) {
		if (c->kind == IRQLINK_CONSUMER_INTX)
			(void)irqlink_relay_pause(c->relay, c->rfd);
		c->st.relay_failures++;
		return r;
	}
	(void)il_relay_resume_token(c->relay, c->bc.token);
	atomic_store(&c->path, IRQLINK_PATH_RELAY);
	c->st.to_relay++;
	c->st.switches++;
	return 0;
}

/* Apply the path rule. Called with c->lock held. */
static int reconcile(struct irqlink_consumer *c)
{
	bool want = c->connected && !c->force_relay && chip_ok(c);
	enum irqlink_consumer_path cur = path_of(c);
	int r = 0;

	c->deferred = false;
	if (want && cur == IRQLINK_PATH_RELAY) {
		r = to_bypass(c);
		if (r == -EAGAIN) {
			/* The route is only staged: not a failure, a state
			 * that the batch's commit and a refresh end. */
			c->deferred = true;
			c->st.deferred++;
			r = 0;
		} else if (r == -ENOSPC && !c->gsi_allocated) {
			r = 0;  /* relayed without a route: counted above */
		} else if (r) {
			c->st.bypass_failures++;
		}
	} else if (!want && cur == IRQLINK_PATH_BYPASS) {
		r = to_relay(c);
	}
	/* A pause begun for a switch that did not happen: the relay is
	 * still E's reader. */
	if (c->pause_begun && path_of(c) == IRQLINK_PATH_RELAY)
		(void)il_relay_resume_token(c->relay, c->bc.token);
	c->pause_begun = false;
	return r;
}

/* Bypass manager callbacks. A failed attach does not refuse the pairing:
 * the interrupt keeps flowing through the relay, and the pairing is still
 * there to be undone by del_producer. */
static int cb_add_producer(struct irqlink_bypass_consumer *bc,
			   struct irqlink_bypass_producer *prod)
{
	struct irqlink_consumer *c = of(bc);

	(void)prod;
	pthread_mutex_lock(&c->lock);
	c->connected = true;
	(void)reconcile(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void cb_del_producer(struct irqlink_bypass_consumer *bc,
			    struct irqlink_bypass_producer *prod)
{
	struct irqlink_consumer *c = of(bc);

	(void)prod;
	pthread_mutex_lock(&c->lock);
	c->connected = false;
	(void)reconcile(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- creation and teardown --------------------------------------------- */

/* Everything but the trigger eventfd, which the caller checks by taking
 * its dup and identity. */
static int check_config(struct irqlink_vm *vm,
			const struct irqlink_consumer_config *cfg)
{
	enum irqlink_irqchip chip = irqlink_vm_irqchip(vm);
	int r;

	switch (cfg->kind) {
	case IRQLINK_CONSUMER_MSI:
		if (cfg->msi.flags & ~(uint32_t)KVM_MSI_VALID_DEVID)
			return -EINVAL;
		return chip == IRQLINK_IRQCHIP_NONE ? -EINVAL : 0;
	case IRQLINK_CONSUMER_INTX:
	case IRQLINK_CONSUMER_INTX_NOTIFY:
		r = il_eventfd_check(cfg->kind == IRQLINK_CONSUMER_INTX ?
				     cfg->unmask_fd : cfg->notify_fd);
		if (r)
			return r;
		/* A level irqfd, or KVM_IRQ_LINE on an IOAPIC pin: both need
		 * the full irqchip. */
		if (cfg->gsi >= IRQLINK_IOAPIC_PINS ||
		    chip != IRQLINK_IRQCHIP_FULL)
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

/* L, a level irqfd on the pin of our own, with its resamplefd R. */
static int own_level_attach(struct irqlink_consumer *c)
{
	int r;

	c->lfd = new_eventfd();
	if (c->lfd < 0)
		return c->lfd;
	c->rfd = new_eventfd();
	if (c->rfd < 0) {
		r = c->rfd;
		goto fail_rfd;
	}
	r = irqlink_irqfd_attach_level(c->vm, c->lfd, c->rfd, c->gsi);
	if (!r)
		return 0;
	close(c->rfd);
	c->rfd = -1;
fail_rfd:
	close(c->lfd);
	c->lfd = -1;
	return r;
}

static void own_level_close(struct irqlink_consumer *c)
{
	close(c->rfd);
	close(c->lfd);
	c->lfd = c->rfd = -1;
}

static void own_level_detach(struct irqlink_consumer *c)
{
	/* Detaching the pin's last level irqfd deasserts it (rule 28). */
	(void)irqlink_irqfd_detach(c->vm, c->lfd, c->gsi);
	own_level_close(c);
}

/* INTx relay side: L's level irqfd, then R -> U, then E -> L, so that a
 * count already pending in E finds the whole chain in place. */
static int setup_intx(struct irqlink_consumer *c)
{
	struct irqlink_relay_action act = { .kind = IRQLINK_RELAY_EVENTFD };
	int r;

	r = own_level_attach(c);
	if (r)
		return r;
	act.target_fd = c->ufd;
	r = irqlink_relay_add(c->relay, c->rfd, &act);
	if (r)
		goto fail_r;
	act.target_fd = c->lfd;
	r = il_relay_add_token(c->relay, c->efd, c->bc.token, &act);
	if (!r)
		return 0;
	(void)irqlink_relay_remove(c->relay, c->rfd);
fail_r:
	own_level_detach(c);
	return r;
}

static void teardown_intx(struct irqlink_consumer *c)
{
	uint64_t m;

	(void)il_relay_remove_token(c->relay, c->bc.token);
	/* L first: once it is detached no EOI reaches R, so what R holds
	 * after its relay entry goes is all there is. It also deasserts the
	 * pin if L was its last level irqfd (rule 28). */
	(void)irqlink_irqfd_detach(c->vm, c->lfd, c->gsi);
	(void)irqlink_relay_remove(c->relay, c->rfd);
	/* An EOI the relay had not passed on yet still unmasks the device. */
	if (il_eventfd_take(c->rfd, &m) > 0)
		(void)il_eventfd_signal(c->ufd);
	own_level_close(c);
}

/* The relay signals N, then L, a level irqfd on the pin of our own whose
 * resamplefd R nobody needs: the device's unmask is the VMM's business
 * (its EOI policy). Not a pulse (assert, deassert) of the pin: on a KVM
 * that EOIs at injection the vCPU can take and EOI the interrupt between
 * the two, and the level-triggered IOAPIC entry, seeing the pin still up,
 * delivers it again. KVM's resampler lowers the line inside the EOI,
 * before the IOAPIC looks at it again, so each signal is one interrupt on
 * either kind of KVM. */
static int setup_notify(struct irqlink_consumer *c, int notify_fd)
{
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_EVENTFD_NOTIFY,
		.notify_fd = notify_fd,
	};
	int r;

	r = own_level_attach(c);
	if (r)
		return r;
	act.target_fd = c->lfd;
	r = il_relay_add_token(c->relay, c->efd, c->bc.token, &act);
	if (r)
		own_level_detach(c);
	return r;
}

static void teardown_notify(struct irqlink_consumer *c)
{
	(void)il_relay_remove_token(c->relay, c->bc.token);
	own_level_detach(c);
}

static int setup_msi(struct irqlink_consumer *c)
{
	struct irqlink_relay_action act = {
		.kind = IRQLINK_RELAY_MSI,
		.msi = c->msi,
	};
	int r;

	/* Out of GSIs (KVM has 4096 routes for the whole VM) the vector still
	 * works: the relay's KVM_SIGNAL_MSI needs no route. Bypass waits for
	 * a GSI, asked for again whenever the path rule runs. */
	r = irqlink_routes_gsi_alloc(c->vm, &c->gsi);
	if (r && r != -ENOSPC)
		return r;
	c->gsi_allocated = !r;
	if (r)
		c->gsi = IRQLINK_CONSUMER_NO_GSI;
	r = il_relay_add_token(c->relay, c->efd, c->bc.token, &act);
	if (r && c->gsi_allocated) {
		(void)irqlink_routes_gsi_free(c->vm, c->gsi);
		c->gsi_allocated = false;
	}
	return r;
}

static void teardown_msi(struct irqlink_consumer *c)
{
	(void)il_relay_remove_token(c->relay, c->bc.token);
	if (c->gsi_allocated)
		(void)irqlink_routes_gsi_free(c->vm, c->gsi);
}

static void teardown(struct irqlink_consumer *c)
{
	if (c->kind == IRQLINK_CONSUMER_INTX)
		teardown_intx(c);
	else if (c->kind == IRQLINK_CONSUMER_INTX_NOTIFY)
		teardown_notify(c);
	else
		teardown_msi(c);
}

int irqlink_consumer_create(struct irqlink_vm *vm, struct irqlink_relay *relay,
			    struct irqlink_bypass *bypass,
			    const struct irqlink_consumer_config *cfg,
			    struct irqlink_consumer **out)
{
	return il_consumer_create_at(-1, vm, relay, bypass, cfg, out);
}

int il_consumer_create_at(int fdinfo_dir, struct irqlink_vm *vm,
			  struct irqlink_relay *relay,
			  struct irqlink_bypass *bypass,
			  const struct irqlink_consumer_config *cfg,
			  struct irqlink_consumer **out)
{
	struct irqlink_consumer *c;
	uint64_t token;
	int efd, r;

	if (!vm || !relay || !cfg || !out)
		return -EINVAL;
	efd = il_eventfd_dup_token(fdinfo_dir, cfg->trigger_fd, &token);
	if (efd < 0)
		return efd;
	r = check_config(vm, cfg);
	if (r)
		goto fail_config;
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto fail_config;
	}
	c->efd = efd;
	c->bc.token = token;
	c->vm = vm;
	c->relay = relay;
	c->bypass = bypass;
	c->kind = cfg->kind;
	c->msi = cfg->msi;
	c->force_relay = cfg->force_relay;
	c->ufd = c->lfd = c->rfd = -1;
	atomic_init(&c->path, IRQLINK_PATH_RELAY);
	r = pthread_mutex_init(&c->lock, NULL);
	if (r) {
		r = -r;
		goto fail_mutex;
	}
	/* One consumer per eventfd per VM, whatever relay or bypass manager
	 * it uses: two would silently split the interrupts between them. */
	r = il_vm_claim(vm, c->bc.token);
	if (r)
		goto fail_lock;
	if (c->kind == IRQLINK_CONSUMER_INTX) {
		c->gsi = cfg->gsi;
		c->ufd = il_eventfd_dup(cfg->unmask_fd);
		if (c->ufd < 0) {
			r = c->ufd;
			goto fail_claim;
		}
		r = setup_intx(c);
	} else if (c->kind == IRQLINK_CONSUMER_INTX_NOTIFY) {
		c->gsi = cfg->gsi;
		r = setup_notify(c, cfg->notify_fd);
	} else {
		r = setup_msi(c);
	}
	if (r)
		goto fail_setup;

	c->bc.add_producer = cb_add_producer;
	c->bc.del_producer = cb_del_producer;
	c->bc.opaque = c;
	if (bypass) {
		/* May call cb_add_producer, and so switch, right here. */
		r = irqlink_bypass_register_consumer(bypass, &c->bc);
		if (r)
			goto fail_register;
		c->registered = true;
	}
	*out = c;
	return 0;

fail_register:
	teardown(c);
fail_setup:
	if (c->ufd >= 0)
		close(c->ufd);
fail_claim:
	il_vm_unclaim(vm, c->bc.token);
fail_lock:
	pthread_mutex_destroy(&c->lock);
fail_mutex:
	free(c);
fail_config:
	close(efd);
	return r;
}

void irqlink_consumer_destroy(struct irqlink_consumer *c)
{
	if (!c)
		return;
	/* Not under c->lock: the manager calls back into us. Leaves the
	 * consumer on the relay. */
	if (c->registered)
		(void)irqlink_bypass_unregister_consumer(c->bypass, &c->bc);
	pthread_mutex_lock(&c->lock);
	c->connected = false;
	if (path_of(c) == IRQLINK_PATH_BYPASS)
		(void)to_relay(c);
	pthread_mutex_unlock(&c->lock);

	teardown(c);
	if (c->ufd >= 0)
		close(c->ufd);
	il_vm_unclaim(c->vm, c->bc.token);
	close(c->efd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- queries and changes ----------------------------------------------- */

enum irqlink_consumer_path irqlink_consumer_path(struct irqlink_consumer *c)
{
	return path_of(c);
}

bool irqlink_consumer_deferred(struct irqlink_consumer *c)
{
	bool d;

	pthread_mutex_lock(&c->lock);
	d = c->deferred;
	pthread_mutex_unlock(&c->lock);
	return d;
}

uint32_t irqlink_consumer_gsi(struct irqlink_consumer *c)
{
	return c->gsi;
}

int irqlink_consumer_set_msi(struct irqlink_consumer *c,
			     const struct kvm_msi *msi)
{
	struct irqlink_relay_action act = { .kind = IRQLINK_RELAY_MSI };
	int r = 0;

	if (!c || !msi || c->kind != IRQLINK_CONSUMER_MSI ||
	    (msi->flags & ~(uint32_t)KVM_MSI_VALID_DEVID))
		return -EINVAL;
	act.msi = *msi;
	pthread_mutex_lock(&c->lock);
	if (path_of(c) == IRQLINK_PATH_BYPASS) {
		/* KVM re-resolves every irqfd's route at the commit. */
		r = irqlink_routes_set_msi(c->vm, c->gsi, msi);
		if (r)
			goto out;
		c->st.route_updates++;
	}
	/* The paused or active relay entry always carries the message, so a
	 * switch to the relay never injects a stale one. */
	r = irqlink_relay_update(c->relay, c->efd, &act);
	if (r)
		goto out;
	c->msi = *msi;
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int irqlink_consumer_set_force_relay(struct irqlink_consumer *c, bool force)
{
	int r;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	c->force_relay = force;
	r = reconcile(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int irqlink_consumer_refresh(struct irqlink_consumer *c)
{
	int r;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	r = reconcile(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int irqlink_consumer_refresh_many(struct irqlink_consumer *const *c,
				  size_t n)
{
	size_t i;
	int err = 0, r;

	if (!c && n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!c[i])
			return -EINVAL;
	for (i = 0; i < n; i++)
		il_consumer_settle_begin(c[i]);
	for (i = 0; i < n; i++) {
		r = irqlink_consumer_refresh(c[i]);
		if (!err)
			err = r;
	}
	return err;
}

/* Only when the refresh that follows will switch: a begun pause holds E's
 * signals back until then (reconcile ends it either way). */
void il_consumer_settle_begin(struct irqlink_consumer *c)
{
	struct kvm_msi cur;

	pthread_mutex_lock(&c->lock);
	if (c->connected && !c->force_relay && chip_ok(c) &&
	    path_of(c) == IRQLINK_PATH_RELAY &&
	    (c->kind != IRQLINK_CONSUMER_MSI ||
	     (c->gsi_allocated &&
	      irqlink_routes_get(c->vm, c->gsi, IRQLINK_ROUTES_COMMITTED,
				 &cur) == 1 && msi_equal(&cur, &c->msi))))
		c->pause_begun = il_relay_pause_token_begin(c->relay,
							    c->bc.token) == 0;
	pthread_mutex_unlock(&c->lock);
}

int irqlink_consumer_get_stats(struct irqlink_consumer *c,
			       struct irqlink_consumer_stats *st)
{
	if (!c || !st)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
