/* SPDX-License-Identifier: MIT */
/*
 * The user-space interrupt relay: one thread that turns eventfd signals into
 * guest interrupts when in-kernel delivery (a KVM irqfd fed directly by the
 * device's eventfd) is not used.
 *
 * Theory of operation
 * -------------------
 * A relay holds entries. An entry is a source eventfd and an action:
 *   EVENTFD  write 1 to a target eventfd (an edge or level irqfd's eventfd;
 *            or a level irqfd's resamplefd forwarded to a device's INTx
 *            unmask eventfd),
 *   MSI      KVM_SIGNAL_MSI with a struct kvm_msi,
 *   LINE     KVM_IRQ_LINE assert then deassert on a GSI (an edge pulse),
 *   EVENTFD_NOTIFY  write 1 to a notify eventfd, then 1 to the target:
 *            whoever watches the notify eventfd learns of the interrupt
 *            before the guest can run its handler (the PCI glue's
 *            bar-access INTx acknowledgement, <irqlink/eoi.h>, whose target
 *            is a level irqfd on the pin).
 * The relay thread waits in epoll for any source to become readable, reads
 * it once -- the read returns the count of signals coalesced since the last
 * read -- and performs the action ONCE for that read. That is edge
 * semantics, the same a KVM irqfd gives: one injection per wakeup.
 *
 * Level INTx through the relay takes two entries: trigger -> the eventfd of
 * a level (resampling) irqfd, and that irqfd's resamplefd -> the device's
 * INTx unmask eventfd. KVM holds the line until the guest EOIs; only then
 * is the resamplefd signalled, so the device is unmasked only after the EOI.
 *
 * The thread's hot path takes no lock and allocates nothing. A change that
 * takes something away from the thread (remove, update, and the end of a
 * pause) waits for the thread: the control call posts a command through a
 * control eventfd and waits (no timeout) until the thread has carried it
 * out, which it does between two epoll batches. Add and resume only give
 * the thread more to read, so the calling thread makes them itself,
 * without a round trip. Hence:
 *   - once irqlink_relay_remove() or irqlink_relay_pause() returns, the
 *     relay never reads that source again (until a resume), so a count that
 *     arrives afterwards stays in the eventfd for whoever takes over. This is
 *     what lets a consumer switch between the relay and a KVM irqfd without
 *     losing or duplicating an interrupt (<irqlink/consumer.h>);
 *   - once irqlink_relay_update() returns, every later injection uses the
 *     new action;
 *   - an entry removed is never touched by the thread after the call
 *     returns, so its fds are closed by the caller's thread.
 * Entries are keyed by the source eventfd's identity (the token of
 * irqlink_bypass_token_from_fd()): any fd of the same eventfd names the
 * entry, and one eventfd feeds at most one entry, as with KVM irqfds.
 *
 * Thread and CPU placement
 * ------------------------
 * The relay sits on the interrupt's critical path: trigger -> relay wakeup
 * -> ioctl/write -> vCPU. Measured on these machines, a relay on a CPU of
 * its own costs about 7 us (to KVM_SIGNAL_MSI) to 10 us (to an irqfd) from
 * trigger to guest ISR, against 3.6-5.8 us in-kernel; a relay thread that
 * shares a CPU with the vCPU thread costs 35-39 us (3-4x), because each
 * interrupt then needs two context switches on that CPU. So:
 *   - pin the relay (IRQLINK_RELAY_PIN_CPU) to a CPU that runs no vCPU
 *     thread, and keep the vCPUs it serves off that CPU;
 *   - one relay per NUMA node / CPU set serving many vectors is the intended
 *     shape; a relay per vector only buys more context switches;
 *   - IRQLINK_RELAY_BUSY_POLL makes the thread spin (epoll_wait timeout 0)
 *     instead of sleeping: it saves the ~10 us wakeup of an idle CPU on
 *     latency-critical vectors, at the price of one CPU at 100%. Use it only
 *     together with pinning, on a CPU you can give away. When a poll finds
 *     nothing the thread calls sched_yield(), so a thread that shares its
 *     CPU (the device's, on a small host) still runs at once; on a CPU of
 *     its own that is one cheap syscall.
 * The thread blocks every signal, so process-directed signals never land on
 * it.
 *
 * File descriptors
 * ----------------
 * Source and target eventfds are borrowed: the relay keeps a close-on-exec
 * duplicate of each and closes it when the entry is removed (or the relay
 * destroyed). The relay itself owns an epoll fd and a control eventfd. A
 * source is read without blocking even when its file is in blocking mode
 * (preadv2 RWF_NOWAIT), since the O_NONBLOCK flag is shared with the
 * caller's fd and must not be changed. The relay must be the only reader of
 * an active source.
 *
 * The VM (for MSI and LINE actions) is borrowed and must outlive the relay.
 */
#ifndef IRQLINK_RELAY_H
#define IRQLINK_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include <irqlink/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What an entry does per event read from its source. */
enum irqlink_relay_kind {
	IRQLINK_RELAY_EVENTFD = 0,      /* write 1 to target_fd */
	IRQLINK_RELAY_MSI,              /* KVM_SIGNAL_MSI with msi */
	IRQLINK_RELAY_LINE,             /* KVM_IRQ_LINE 1 then 0 on gsi */
	IRQLINK_RELAY_EVENTFD_NOTIFY,   /* write 1 to notify_fd, then target */
};

/*
 * struct irqlink_relay_action - an entry's action.
 * @kind:      which of the fields below is used.
 * @target_fd: EVENTFD, EVENTFD_NOTIFY: the eventfd to signal; borrowed (the
 *             relay keeps a dup). Must not be the source eventfd itself.
 * @msi:       MSI: the message; flags 0 or KVM_MSI_VALID_DEVID. Copied.
 * @gsi:       LINE: the GSI pulsed.
 * @notify_fd: EVENTFD_NOTIFY: the eventfd signalled first; borrowed (the
 *             relay keeps a dup). Must not be the source either.
 */
struct irqlink_relay_action {
	enum irqlink_relay_kind kind;
	int target_fd;
	struct kvm_msi msi;
	uint32_t gsi;
	int notify_fd;
};

/* Config flags. */
#define IRQLINK_RELAY_PIN_CPU   (1u << 0) /* pin the thread to @cpu */
#define IRQLINK_RELAY_BUSY_POLL (1u << 1) /* spin: epoll_wait timeout 0 */

/*
 * struct irqlink_relay_config - how irqlink_relay_create() starts the
 * thread. A zeroed config (or NULL) = unpinned, sleeping in epoll_wait.
 * @flags: IRQLINK_RELAY_*.
 * @cpu:   with IRQLINK_RELAY_PIN_CPU, the CPU the thread may run on (set
 *         before the thread starts, so it never runs elsewhere).
 */
struct irqlink_relay_config {
	uint32_t flags;
	int cpu;
};

/*
 * struct irqlink_relay_stats - counters since creation. Each is written by
 * the relay thread only and read without locking: a snapshot taken while
 * interrupts flow is approximate; once traffic has stopped it is exact.
 * @events:          reads of a source that returned a count.
 * @counts:          sum of those counts (counts > events: signals coalesced).
 * @injections:      actions performed (one per event), by kind below.
 * @eventfd_injections, @msi_injections, @line_injections: per kind.
 * @inject_errors:   actions that failed (write or KVM ioctl returned an
 *                   error; KVM_SIGNAL_MSI -EPERM without vCPUs, ...).
 * @msi_undelivered: KVM_SIGNAL_MSI returned 0 (no LAPIC accepted it).
 * @spurious:        readiness reported but the read found nothing (another
 *                   reader took the count).
 * @commands:        control commands the thread carried out (remove,
 *                   update, and the pauses that had to wait for it; add
 *                   and resume are made by the caller's thread).
 * @entries:         entries now; @paused: of which paused.
 * @cpu:             the CPU the thread ran on when it last carried out a
 *                   command (-1 before the first).
 */
struct irqlink_relay_stats {
	uint64_t events;
	uint64_t counts;
	uint64_t injections;
	uint64_t eventfd_injections;
	uint64_t msi_injections;
	uint64_t line_injections;
	uint64_t inject_errors;
	uint64_t msi_undelivered;
	uint64_t spurious;
	uint64_t commands;
	uint32_t entries;
	uint32_t paused;
	int cpu;
};

struct irqlink_relay;

/*
 * irqlink_relay_create - start a relay thread.
 * @vm:  the VM MSI and LINE actions inject into; may be NULL for a relay
 *       with EVENTFD actions only. Borrowed; must outlive the relay.
 * @cfg: NULL for the defaults.
 * @out: receives the relay.
 *
 * Returns 0; -EINVAL (NULL @out, unknown flags, @cpu negative or beyond
 * CPU_SETSIZE, or a CPU this process may not run on); -ENOMEM; -EMFILE; or
 * the -errno of pthread_create (-EAGAIN). Nothing is left open on failure.
 */
int irqlink_relay_create(struct irqlink_vm *vm,
			 const struct irqlink_relay_config *cfg,
			 struct irqlink_relay **out);

/*
 * irqlink_relay_destroy - stop and join the thread, close every duplicate
 * the relay holds and its own fds, free it. Counts pending in sources stay
 * there. NULL is a no-op. Must not race any other call on @relay.
 */
void irqlink_relay_destroy(struct irqlink_relay *relay);

/*
 * irqlink_relay_add - start relaying @src_fd with action @act. The entry is
 * active when this returns: a count already pending in the source is read
 * and injected at once.
 *
 * Returns 0; -EBADF (@src_fd or the target not open); -EINVAL (NULL
 * argument, a source or target that is not an eventfd, the target being
 * the source, unknown kind, MSI flags other than 0 / KVM_MSI_VALID_DEVID,
 * an MSI or LINE action on a relay without a VM or on a VM without an
 * in-kernel irqchip); -EBUSY (this eventfd already feeds an entry);
 * -ENOMEM; -EMFILE; -ENOTSUP (/proc does not expose eventfd identities).
 */
int irqlink_relay_add(struct irqlink_relay *relay, int src_fd,
		      const struct irqlink_relay_action *act);

/*
 * irqlink_relay_remove - remove the entry of @src_fd (any fd of that
 * eventfd). When it returns the relay thread has stopped reading the source
 * and will never touch the entry again; its duplicates are closed. A count
 * still in the source stays there.
 * Returns 0, -ENOENT (no such entry), -EBADF/-EINVAL (@src_fd not an open
 * eventfd).
 */
int irqlink_relay_remove(struct irqlink_relay *relay, int src_fd);

/*
 * irqlink_relay_pause / irqlink_relay_resume - stop / restart reading the
 * source of an entry without removing it. Neither allocates nor opens
 * anything, so neither can fail for an existing entry: this is what a
 * consumer uses to hand a source to KVM and back. After pause returns the
 * relay does not read the source until resume; a count that arrives while
 * paused stays in the eventfd and is read (and injected once) as soon as the
 * entry is resumed. Pausing a paused entry, or resuming an active one, does
 * nothing. Returns 0, -ENOENT, -EBADF/-EINVAL as irqlink_relay_remove().
 */
int irqlink_relay_pause(struct irqlink_relay *relay, int src_fd);
int irqlink_relay_resume(struct irqlink_relay *relay, int src_fd);

/*
 * irqlink_relay_update - replace the action of @src_fd's entry. Every
 * injection after the call returns uses @act (e.g. a new MSI message). The
 * old target duplicate, if any, is closed. Returns 0, -ENOENT, or the errors
 * of irqlink_relay_add() for @act; on error the entry is unchanged.
 */
int irqlink_relay_update(struct irqlink_relay *relay, int src_fd,
			 const struct irqlink_relay_action *act);

/* irqlink_relay_get_stats - fill *@st. Returns 0 or -EINVAL. */
int irqlink_relay_get_stats(struct irqlink_relay *relay,
			    struct irqlink_relay_stats *st);

#ifdef __cplusplus
}
#endif

#endif
