/* SPDX-License-Identifier: MIT */
/*
 * The BAR_ACCESS EOI policy (<irqlink/eoi.h>): inferring the guest's
 * acknowledgement of an INTx from its accesses to the device's BARs, as
 * QEMU does when it has no resampler.
 *
 * Theory of operation. The relay signals the notify eventfd N before it
 * injects, so by the time the guest can run its handler, N says an
 * acknowledgement is pending. Whoever looks first takes N: the next BAR
 * access (on a vCPU thread) or irqlink_pci_process() (the VMM's loop),
 * both under the glue's lock. Taking it starts the pending state:
 *
 *   - the doorbell ioeventfds are removed, so every guest access to the
 *     device traps and can be looked at (an acknowledgement written to a
 *     doorbell register would otherwise go by unseen); a doorbell write
 *     that traps meanwhile is passed to the doorbell's eventfd, so the
 *     device sees exactly what KVM would have given it;
 *   - the ack timer is armed.
 *
 * Removing and adding an ioeventfd each wait for an SRCU grace period in
 * KVM (milliseconds here), far more than an INTx cycle, so the doorbells
 * are not put back at every acknowledgement: as QEMU does with its BAR
 * mmaps, they come back once INTx has been quiet -- no acknowledgement
 * pending -- for DOORBELL_QUIET_MS. A busy INTx keeps them trapped; an idle
 * one gets the fast path back.
 *
 * After each served BAR access the glue asks the device whether its line
 * is still up (ops->intx_asserted). The first access after which it is not
 * -- the status write that clears it, not the read that found it -- is the
 * acknowledgement: the device is unmasked (SET_IRQS UNMASK), the doorbells
 * come back, the timer is disarmed. A device without the op is unmasked on
 * the first access, and a line still up then fires again: QEMU's "one extra
 * interrupt per BAR access" bound. If the timer expires first, the device
 * is unmasked anyway: the only unmask a timer makes, counted in
 * stats.intx_timer_unmasks as a guest that did not acknowledge.
 */
#include "pci_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define ACK_TIMEOUT_MS 250u
#define DOORBELL_QUIET_MS 100u

int il_pci_ack_init(struct irqlink_pci *p, unsigned int timeout_ms)
{
	struct il_pci_intx *x = &p->intx;
	struct epoll_event ev = { .events = EPOLLIN };

	x->ack_timeout_ms = timeout_ms ? timeout_ms : ACK_TIMEOUT_MS;
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->epfd < 0)
		return -errno;
	x->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (x->timer < 0)
		return -errno;
	ev.data.fd = x->timer;
	if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, x->timer, &ev))
		return -errno;
	return 0;
}

void il_pci_ack_fini(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;

	if (x->timer >= 0)
		close(x->timer);
	if (x->epfd >= 0)
		close(x->epfd);
	x->timer = x->epfd = -1;
}

int il_pci_ack_watch(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = x->notify };

	return epoll_ctl(x->epfd, EPOLL_CTL_ADD, x->notify, &ev) ? -errno : 0;
}

void il_pci_ack_unwatch(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;

	if (x->epfd >= 0 && x->notify >= 0)
		(void)epoll_ctl(x->epfd, EPOLL_CTL_DEL, x->notify, NULL);
}

static void arm(struct il_pci_intx *x, unsigned int ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	(void)timerfd_settime(x->timer, 0, &its, NULL);
}

/* Take N; a fire starts the pending state. */
static void take_notify(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;
	uint64_t n;

	if (x->notify < 0 || read(x->notify, &n, sizeof(n)) != sizeof(n))
		return;
	/* A fire for a line we already wait on, or one that raced INTx
	 * being disabled: nothing more to wait for. */
	if (x->ack_pending || !x->dev_on)
		return;
	x->ack_pending = true;
	if (!p->db_suspended)
		il_pci_doorbells_suspend(p);
	arm(x, x->ack_timeout_ms);
}

/* The device is unmasked: the timer now waits for INTx to be quiet. */
static int unmask(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;
	int r = il_pci_intx_unmask(p);

	x->ack_pending = false;
	arm(x, DOORBELL_QUIET_MS);
	return il_pci_err(p, 0, r);
}

void il_pci_ack_bar_accessed(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;
	int up;

	if (p->eoi != IRQLINK_EOI_BAR_ACCESS || !x->dev_on)
		return;
	take_notify(p);
	if (!x->ack_pending)
		return;
	up = p->ops->intx_asserted ? p->ops->intx_asserted(p->opaque) : 0;
	if (up > 0)
		return;
	if (!unmask(p))
		p->stats.intx_acks++;
}

void il_pci_ack_reset(struct irqlink_pci *p)
{
	struct il_pci_intx *x = &p->intx;
	uint64_t n;

	x->ack_pending = false;
	if (x->timer >= 0) {
		arm(x, 0);
		if (read(x->timer, &n, sizeof(n)) < 0)
			n = 0; /* nothing had expired: the usual case */
	}
	(void)il_pci_err(p, 0, il_pci_doorbells_resume(p));
}

int irqlink_pci_poll_fd(struct irqlink_pci *pci)
{
	if (!pci)
		return -EINVAL;
	return pci->intx.epfd >= 0 ? pci->intx.epfd : -ENOENT;
}

int irqlink_pci_process(struct irqlink_pci *pci)
{
	struct il_pci_intx *x;
	uint64_t n;
	int r = 0;

	if (!pci)
		return -EINVAL;
	x = &pci->intx;
	pthread_mutex_lock(&pci->lock);
	if (x->epfd >= 0) {
		take_notify(pci);
		if (read(x->timer, &n, sizeof(n)) == sizeof(n)) {
			if (x->ack_pending) {
				(void)unmask(pci);
				pci->stats.intx_timer_unmasks++;
				r = 1;
			} else {
				(void)il_pci_err(pci, 0,
					il_pci_doorbells_resume(pci));
			}
		}
	}
	pthread_mutex_unlock(&pci->lock);
	return r;
}
