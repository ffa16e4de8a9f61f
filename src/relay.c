/* SPDX-License-Identifier: MIT */
/*
 * The user-space interrupt relay.
 *
 * Theory of operation: one thread reads the sources. Its loop is
 * epoll_wait -> for each ready source: one read, one action -> then, if the
 * control eventfd was among the ready fds, carry out the posted command.
 * The hot path reads an entry only through its event's epoll data and
 * never changes it, so it needs no lock; and because commands run only
 * after a whole batch has been handled, no event of the batch can point at
 * an entry that a command has just removed: when the command completes, the
 * thread holds no reference to the entry and the next epoll_wait cannot
 * return it. That is the whole of the "never touched after remove returns"
 * guarantee.
 *
 * The entry table (a token table, src/token_table.c) is for commands only:
 * an event carries its entry in the epoll data, so relaying an interrupt
 * does no lookup, takes no lock and allocates nothing. An add reserves the
 * table's room before EPOLL_CTL_ADD, so once the source is in the epoll set
 * recording the entry cannot fail and nothing has to be taken out again.
 *
 * Control calls and the thread share the table and the epoll set's
 * membership under the relay mutex. What only gives the thread something
 * (add, resume) the caller does itself under the mutex: the entry is whole
 * before EPOLL_CTL_ADD publishes it, and the hot path reaches entries only
 * through the epoll data, so there is nothing to wait for. What takes
 * something away (remove, update) is posted as a command and carried out
 * ON the thread between two batches, when it holds no event that points at
 * the entry: one command slot, posted under the mutex, announced through
 * the control eventfd, completed under the mutex with a broadcast. A caller
 * waits without a timeout; the thread always comes back to the control fd
 * within one batch.
 *
 * Pause sits in between: the caller makes the EPOLL_CTL_MOD itself and
 * notes how many commands the thread had completed (@passes). The thread
 * may still read the source in the batch it is in, but commands run only
 * after a whole batch, so once any later command has completed it never
 * will; a pause that finds none posts an empty one. A caller that pauses
 * many entries (a consumer switching thousands of vectors) thus waits for
 * the thread once, not once per entry: il_relay_pause_token_begin() for
 * each, and the first il_relay_pause_token() waits for all of them.
 *
 * Pausing is EPOLL_CTL_MOD to an empty event mask rather than DEL + ADD:
 * MOD never allocates, so pause and resume cannot fail for an existing
 * entry, which is what lets a consumer switch paths from a callback that
 * cannot report errors. An eventfd never raises EPOLLERR/EPOLLHUP, so an
 * entry with no events is never reported.
 *
 * Sources are read with il_eventfd_take(): one preadv2(RWF_NOWAIT) that
 * never blocks, whatever O_NONBLOCK says on the caller's open file (which
 * we may not change).
 */
#include <irqlink/relay.h>

#include "eventfd.h"
#include "relay_internal.h"
#include "token_table.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* In the entry table under the source's eventfd identity. */
struct relay_entry {
	int src;                        /* our dup of the source, or borrowed */
	bool own_src;                   /* src is our dup: close it */
	bool paused;                    /* under the relay mutex */
	uint64_t paused_at;             /* @passes when paused */
	struct irqlink_relay_action act;/* target_fd is our dup, or -1 */
};

enum relay_op {
	OP_SYNC,                        /* nothing: its completion is the point */
	OP_REMOVE,
	OP_UPDATE,
	OP_STOP,
};

struct relay_cmd {
	enum relay_op op;
	uint64_t token;
	struct relay_entry *entry;      /* REMOVE: out */
	struct irqlink_relay_action act;/* UPDATE: in, and out: the old one */
	int result;
	bool done;
};

/* Written by the relay thread only; atomics so readers on other threads
 * see whole values (relaxed: they are counters, not synchronization). */
struct relay_counters {
	_Atomic uint64_t events;
	_Atomic uint64_t counts;
	_Atomic uint64_t eventfd_injections;
	_Atomic uint64_t msi_injections;
	_Atomic uint64_t line_injections;
	_Atomic uint64_t inject_errors;
	_Atomic uint64_t msi_undelivered;
	_Atomic uint64_t spurious;
	_Atomic uint64_t commands;
	_Atomic uint32_t entries;
	_Atomic uint32_t paused;
	_Atomic int cpu;
};

struct irqlink_relay {
	struct irqlink_vm *vm;          /* borrowed, may be NULL */
	int epfd;
	int ctlfd;                      /* control eventfd, in the epoll set */
	bool busy_poll;
	pthread_t thread;

	pthread_mutex_t lock;           /* guards the four below */
	pthread_cond_t cond;
	struct relay_cmd *cmd;          /* posted, not yet taken back */
	uint64_t passes;                /* commands the thread completed */
	struct il_token_table entries;  /* token -> struct relay_entry */

	bool stopping;                  /* relay thread only */

	struct relay_counters st;
};

#define BATCH 64

/* Single writer: a relaxed load + store is enough and costs no locked
 * instruction on the hot path. */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---- entries ----------------------------------------------------------- */

static void release_action(struct irqlink_relay_action *act);

static void entry_free(struct relay_entry *e)
{
	release_action(&e->act);
	if (e->own_src)
		close(e->src);
	free(e);
}

/* ---- the hot path ------------------------------------------------------ */

/* One read of the source: 1 with the coalesced count, 0 if nothing was
 * there (another reader won), <0 on error. */
static int read_source(int fd, uint64_t *cnt)
{
	int r = il_eventfd_take(fd, cnt);

	return r < 0 ? -EIO : r;
}

static void inject(struct irqlink_relay *r, const struct relay_entry *e)
{
	static const uint64_t one = 1;
	int ret;

	switch (e->act.kind) {
	case IRQLINK_RELAY_EVENTFD_NOTIFY:
		/* First: once the guest can see the interrupt, whoever
		 * watches notify_fd must already know of it. */
		if (write(e->act.notify_fd, &one, sizeof(one)) !=
		    (ssize_t)sizeof(one))
			bump(&r->st.inject_errors, 1);
		/* fall through */
	case IRQLINK_RELAY_EVENTFD:
		ret = write(e->act.target_fd, &one, sizeof(one)) ==
		      (ssize_t)sizeof(one) ? 0 : -1;
		bump(&r->st.eventfd_injections, 1);
		break;
	case IRQLINK_RELAY_MSI:
		ret = irqlink_vm_signal_msi(r->vm, &e->act.msi);
		if (ret == 0)
			bump(&r->st.msi_undelivered, 1);
		bump(&r->st.msi_injections, 1);
		break;
	case IRQLINK_RELAY_LINE:
		/* An edge: the IOAPIC latches the rising edge at assert, and
		 * the deassert leaves the line free for the next one. */
		ret = irqlink_vm_set_irq_line(r->vm, e->act.gsi, true);
		if (ret >= 0)
			ret = irqlink_vm_set_irq_line(r->vm, e->act.gsi, false);
		bump(&r->st.line_injections, 1);
		break;
	default:
		ret = -1;
		break;
	}
	if (ret < 0)
		bump(&r->st.inject_errors, 1);
}

static void relay_one(struct irqlink_relay *r, struct relay_entry *e)
{
	uint64_t cnt;
	int ret = read_source(e->src, &cnt);

	if (ret <= 0) {
		bump(&r->st.spurious, 1);
		return;
	}
	bump(&r->st.events, 1);
	bump(&r->st.counts, cnt);
	/* Once per read whatever the count: signals that arrived before we
	 * read coalesce, exactly as they do in a KVM irqfd. */
	inject(r, e);
}

/* ---- commands (relay thread) ------------------------------------------ */

static int epoll_set(struct irqlink_relay *r, int op, struct relay_entry *e,
		     uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };

	return epoll_ctl(r->epfd, op, e->src, &ev) ? -errno : 0;
}

static void count_entries(struct irqlink_relay *r)
{
	atomic_store_explicit(&r->st.entries,
			      (uint32_t)il_token_table_count(&r->entries),
			      memory_order_relaxed);
}

static void count_paused(struct irqlink_relay *r, bool paused)
{
	if (paused)
		atomic_fetch_add_explicit(&r->st.paused, 1,
					  memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&r->st.paused, 1,
					  memory_order_relaxed);
}

/* Under the relay mutex. */
static int exec_cmd(struct irqlink_relay *r, struct relay_cmd *c)
{
	struct relay_entry *e;

	if (c->op == OP_STOP) {
		r->stopping = true;
		return 0;
	}
	if (c->op == OP_SYNC)
		return 0;
	e = il_token_table_find(&r->entries, c->token);
	if (!e)
		return -ENOENT;
	switch (c->op) {
	case OP_REMOVE:
		/* Our dup stays open until the caller frees the entry, so
		 * DEL always finds the registration. */
		(void)epoll_set(r, EPOLL_CTL_DEL, e, 0);
		(void)il_token_table_remove(&r->entries, c->token);
		if (e->paused)
			count_paused(r, false);
		count_entries(r);
		c->entry = e;
		return 0;
	case OP_UPDATE: {
		struct irqlink_relay_action old = e->act;

		e->act = c->act;
		c->act = old;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static void handle_control(struct irqlink_relay *r)
{
	uint64_t v;

	/* Non-blocking: several posts may have been announced by one count,
	 * or the count was consumed by an earlier pass. */
	(void)!read(r->ctlfd, &v, sizeof(v));
	pthread_mutex_lock(&r->lock);
	if (r->cmd && !r->cmd->done) {
		r->cmd->result = exec_cmd(r, r->cmd);
		r->cmd->done = true;
		r->passes++;
		atomic_store_explicit(&r->st.cpu, sched_getcpu(),
				      memory_order_relaxed);
		bump(&r->st.commands, 1);
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

static void *relay_main(void *arg)
{
	struct irqlink_relay *r = arg;
	struct epoll_event ev[BATCH];
	int timeout = r->busy_poll ? 0 : -1;

	while (!r->stopping) {
		bool control = false;
		int i, n = epoll_wait(r->epfd, ev, BATCH, timeout);

		/* Idle while busy polling: let whatever else is runnable on
		 * this CPU go first (one cheap syscall when nothing is). A
		 * poller that never yields holds off, for a whole time slice,
		 * the very thread whose signal it waits for. */
		if (n == 0)
			sched_yield();
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr)
				relay_one(r, ev[i].data.ptr);
			else
				control = true;
		}
		/* After the batch: a command may free an entry that an
		 * event of this batch pointed at. */
		if (control)
			handle_control(r);
	}
	return NULL;
}

/* ---- control calls (any thread) --------------------------------------- */

/* With the relay mutex held, which the waits let go of meanwhile. */
static int post_locked(struct irqlink_relay *r, struct relay_cmd *c)
{
	while (r->cmd)
		pthread_cond_wait(&r->cond, &r->lock);
	c->done = false;
	r->cmd = c;
	/* Announced under the mutex so the thread cannot take the slot of a
	 * later poster for ours. Cannot fail: the counter is far from max. */
	(void)il_eventfd_signal(r->ctlfd);
	while (!c->done)
		pthread_cond_wait(&r->cond, &r->lock);
	r->cmd = NULL;
	pthread_cond_broadcast(&r->cond);
	return c->result;
}

static int post(struct irqlink_relay *r, struct relay_cmd *c)
{
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = post_locked(r, c);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static bool msi_flags_ok(const struct kvm_msi *msi)
{
	return (msi->flags & ~(uint32_t)KVM_MSI_VALID_DEVID) == 0;
}

/* Check @act and copy it into *@out, taking a dup of an EVENTFD target.
 * @src_token: the source's identity, which the target must not share. */
/* A dup of @fd, an eventfd that is not the source. */
static int dup_target(int fd, uint64_t src_token)
{
	uint64_t token;
	int ret;

	ret = il_eventfd_token(fd, &token);
	if (ret)
		return ret;
	/* A source feeding itself would spin the thread forever. */
	if (token == src_token)
		return -EINVAL;
	return il_eventfd_dup(fd);
}

/* Check @act and copy it into *@out, taking dups of its eventfds.
 * @src_token: the source's identity, which no target may share. */
static int prepare_action(struct irqlink_relay *r,
			  const struct irqlink_relay_action *act,
			  uint64_t src_token, struct irqlink_relay_action *out)
{
	int ret;

	*out = *act;
	out->target_fd = out->notify_fd = -1;
	switch (act->kind) {
	case IRQLINK_RELAY_EVENTFD_NOTIFY:
		ret = dup_target(act->notify_fd, src_token);
		if (ret < 0)
			return ret;
		out->notify_fd = ret;
		/* fall through */
	case IRQLINK_RELAY_EVENTFD:
		ret = dup_target(act->target_fd, src_token);
		if (ret < 0) {
			release_action(out);
			return ret;
		}
		out->target_fd = ret;
		return 0;
	case IRQLINK_RELAY_MSI:
		if (!msi_flags_ok(&act->msi))
			return -EINVAL;
		/* fall through */
	case IRQLINK_RELAY_LINE:
		if (!r->vm || irqlink_vm_irqchip(r->vm) == IRQLINK_IRQCHIP_NONE)
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static void release_action(struct irqlink_relay_action *act)
{
	bool fds = act->kind == IRQLINK_RELAY_EVENTFD ||
		   act->kind == IRQLINK_RELAY_EVENTFD_NOTIFY;

	if (fds && act->target_fd >= 0)
		close(act->target_fd);
	if (fds && act->notify_fd >= 0 &&
	    act->kind == IRQLINK_RELAY_EVENTFD_NOTIFY)
		close(act->notify_fd);
	act->target_fd = act->notify_fd = -1;
}

/* Under the relay mutex: no command needed, see the top of the file. */
static int add_locked(struct irqlink_relay *r, uint64_t token,
		      struct relay_entry *e)
{
	int ret;

	if (il_token_table_find(&r->entries, token))
		return -EBUSY;
	ret = il_token_table_reserve(&r->entries);
	if (ret)
		return ret;
	ret = epoll_set(r, EPOLL_CTL_ADD, e, EPOLLIN);
	if (ret)
		return ret;
	/* Cannot fail: reserved above, the token is absent. */
	(void)il_token_table_insert(&r->entries, token, e);
	count_entries(r);
	return 0;
}

/* @own: @src is a dup for the entry to close; else the caller's, open
 * until the entry is removed. Nothing is kept on failure. */
static int add_entry(struct irqlink_relay *relay, int src, bool own,
		     uint64_t token, const struct irqlink_relay_action *act)
{
	struct relay_entry *e;
	int ret;

	if (!relay || !act)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	ret = prepare_action(relay, act, token, &e->act);
	if (ret)
		goto fail_action;
	e->src = src;
	e->own_src = own;
	pthread_mutex_lock(&relay->lock);
	ret = add_locked(relay, token, e);
	pthread_mutex_unlock(&relay->lock);
	if (!ret)
		return 0;
	release_action(&e->act);
fail_action:
	free(e);
	return ret;
}

int il_relay_add_token(struct irqlink_relay *relay, int src_fd,
		       uint64_t token, const struct irqlink_relay_action *act)
{
	return add_entry(relay, src_fd, false, token, act);
}

int irqlink_relay_add(struct irqlink_relay *relay, int src_fd,
		      const struct irqlink_relay_action *act)
{
	uint64_t token;
	int src, ret;

	if (!relay || !act)
		return -EINVAL;
	src = il_eventfd_dup_token(-1, src_fd, &token);
	if (src < 0)
		return src;
	ret = add_entry(relay, src, true, token, act);
	if (ret)
		close(src);
	return ret;
}

int il_relay_remove_token(struct irqlink_relay *relay, uint64_t token)
{
	struct relay_cmd c = { .op = OP_REMOVE, .token = token };
	int ret;

	if (!relay)
		return -EINVAL;
	ret = post(relay, &c);
	if (ret)
		return ret;
	/* The thread has let go of the entry: its fds are ours to close. */
	entry_free(c.entry);
	return 0;
}

/* Under the relay mutex: the entry @token, paused or active as @pause
 * asks. MOD never allocates, so this fails only for a missing entry. */
static int set_paused_locked(struct irqlink_relay *r, uint64_t token,
			     bool pause, struct relay_entry **out)
{
	struct relay_entry *e = il_token_table_find(&r->entries, token);
	int ret;

	if (!e)
		return -ENOENT;
	*out = e;
	if (e->paused == pause)
		return 0;
	ret = epoll_set(r, EPOLL_CTL_MOD, e, pause ? 0 : EPOLLIN);
	if (ret)
		return ret;
	e->paused = pause;
	e->paused_at = r->passes;
	count_paused(r, pause);
	return 0;
}

/* @wait: a pause also waits until the thread has let go of the source. */
static int set_paused(struct irqlink_relay *r, uint64_t token, bool pause,
		      bool wait)
{
	struct relay_cmd c = { .op = OP_SYNC };
	struct relay_entry *e;
	int ret;

	if (!r)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	ret = set_paused_locked(r, token, pause, &e);
	/* A command completed since the MOD: the thread has finished the
	 * batch that may have held the source's event. */
	if (!ret && pause && wait && r->passes == e->paused_at)
		ret = post_locked(r, &c);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int il_relay_pause_token_begin(struct irqlink_relay *relay, uint64_t token)
{
	return set_paused(relay, token, true, false);
}

int il_relay_pause_token(struct irqlink_relay *relay, uint64_t token)
{
	return set_paused(relay, token, true, true);
}

int il_relay_resume_token(struct irqlink_relay *relay, uint64_t token)
{
	return set_paused(relay, token, false, false);
}

/* The public calls name the entry by any fd of its source. */
static int by_fd(int (*op)(struct irqlink_relay *, uint64_t),
		 struct irqlink_relay *relay, int src_fd)
{
	uint64_t token;
	int ret;

	if (!relay)
		return -EINVAL;
	ret = il_eventfd_token(src_fd, &token);
	return ret ? ret : op(relay, token);
}

int irqlink_relay_remove(struct irqlink_relay *relay, int src_fd)
{
	return by_fd(il_relay_remove_token, relay, src_fd);
}

int irqlink_relay_pause(struct irqlink_relay *relay, int src_fd)
{
	return by_fd(il_relay_pause_token, relay, src_fd);
}

int irqlink_relay_resume(struct irqlink_relay *relay, int src_fd)
{
	return by_fd(il_relay_resume_token, relay, src_fd);
}

int irqlink_relay_update(struct irqlink_relay *relay, int src_fd,
			 const struct irqlink_relay_action *act)
{
	struct relay_cmd c = { .op = OP_UPDATE };
	int ret;

	if (!relay || !act)
		return -EINVAL;
	ret = il_eventfd_token(src_fd, &c.token);
	if (ret)
		return ret;
	ret = prepare_action(relay, act, c.token, &c.act);
	if (ret)
		return ret;
	ret = post(relay, &c);
	/* On success c.act is the old action, on failure our new one: either
	 * way its target dup is ours to close now. */
	release_action(&c.act);
	return ret;
}

int irqlink_relay_get_stats(struct irqlink_relay *relay,
			    struct irqlink_relay_stats *st)
{
	struct relay_counters *c;

	if (!relay || !st)
		return -EINVAL;
	c = &relay->st;
#define LD(x) atomic_load_explicit(&c->x, memory_order_relaxed)
	st->events = LD(events);
	st->counts = LD(counts);
	st->eventfd_injections = LD(eventfd_injections);
	st->msi_injections = LD(msi_injections);
	st->line_injections = LD(line_injections);
	st->injections = st->eventfd_injections + st->msi_injections +
			 st->line_injections;
	st->inject_errors = LD(inject_errors);
	st->msi_undelivered = LD(msi_undelivered);
	st->spurious = LD(spurious);
	st->commands = LD(commands);
	st->entries = LD(entries);
	st->paused = LD(paused);
	st->cpu = LD(cpu);
#undef LD
	return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static int start_thread(struct irqlink_relay *r,
			const struct irqlink_relay_config *cfg)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int ret;

	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	if (cfg->flags & IRQLINK_RELAY_PIN_CPU) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cfg->cpu, &set);
		ret = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		if (ret)
			goto out;
	}
	/* The thread inherits this mask: it must never be the one a
	 * process-directed signal interrupts. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&r->thread, &attr, relay_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	pthread_attr_destroy(&attr);
	return -ret;
}

int irqlink_relay_create(struct irqlink_vm *vm,
			 const struct irqlink_relay_config *cfg,
			 struct irqlink_relay **out)
{
	static const struct irqlink_relay_config defaults;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct irqlink_relay *r;
	int ret;

	if (!out)
		return -EINVAL;
	if (!cfg)
		cfg = &defaults;
	if (cfg->flags & ~(IRQLINK_RELAY_PIN_CPU | IRQLINK_RELAY_BUSY_POLL))
		return -EINVAL;
	if ((cfg->flags & IRQLINK_RELAY_PIN_CPU) &&
	    (cfg->cpu < 0 || cfg->cpu >= CPU_SETSIZE))
		return -EINVAL;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vm = vm;
	r->busy_poll = cfg->flags & IRQLINK_RELAY_BUSY_POLL;
	atomic_init(&r->st.cpu, -1);
	il_token_table_init(&r->entries);
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		ret = -ret;
		goto fail_mutex;
	}
	ret = pthread_cond_init(&r->cond, NULL);
	if (ret) {
		ret = -ret;
		goto fail_cond;
	}
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		ret = -errno;
		goto fail_epoll;
	}
	r->ctlfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->ctlfd < 0) {
		ret = -errno;
		goto fail_ctl;
	}
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->ctlfd, &ev)) {
		ret = -errno;
		goto fail_ctl_add;
	}
	ret = start_thread(r, cfg);
	if (ret)
		goto fail_ctl_add;
	*out = r;
	return 0;

fail_ctl_add:
	close(r->ctlfd);
fail_ctl:
	close(r->epfd);
fail_epoll:
	pthread_cond_destroy(&r->cond);
fail_cond:
	pthread_mutex_destroy(&r->lock);
fail_mutex:
	free(r);
	return ret;
}

static void drop_entry(uint64_t token, void *ptr, void *opaque)
{
	(void)token;
	(void)opaque;
	entry_free(ptr);
}

void irqlink_relay_destroy(struct irqlink_relay *relay)
{
	struct relay_cmd c = { .op = OP_STOP };

	if (!relay)
		return;
	(void)post(relay, &c);
	/* The thread is gone, so the table is ours now. */
	pthread_join(relay->thread, NULL);
	il_token_table_drain(&relay->entries, drop_entry, NULL);
	close(relay->ctlfd);
	close(relay->epfd);
	pthread_cond_destroy(&relay->cond);
	pthread_mutex_destroy(&relay->lock);
	free(relay);
}
