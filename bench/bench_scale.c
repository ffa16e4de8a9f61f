/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, "cost as the work grows" (see bench_scale.h for what each
 * figure is).
 *
 * Theory of operation
 * -------------------
 * The glue needs a device behind its ops. The bench brings the smallest one
 * that has an MSI-X capability: a 256-byte config space with the capability
 * at 0x40, BAR0 holding the table (which the glue serves itself) and the
 * PBA (answered from the interrupt model), and SET_IRQS passed straight to
 * an irqlink_dev. It is the bench's own, not the test device, so the figures
 * carry no test-device cost and the module links against libirqlink only.
 *
 * The glue's enable is one config write that opens a routes batch, creates
 * the consumers, hands the eventfds to the device, commits, attaches the
 * irqfds and unmasks (src/pci_vectors.c). No public counter times the
 * commit in there, and the VM's ioctl hook is internal (src/kvm_ioctl.h),
 * so this file does not reach for it: the device's own SET_IRQS op stamps
 * the calls that bracket the commit, and the commit itself is taken from
 * the batched way, which makes the same calls in the same order with the
 * commit as a call of its own. What a direct figure would need is written
 * down in bench_scale.h and the report, not patched into the library.
 *
 * The three ways run interleaved inside each repetition, each on a fresh
 * VM, so a burst of someone else's load on this shared machine hits all of
 * them alike; medians are taken per figure.
 *
 * No global state: everything lives in the result and in the stack frames
 * of one run.
 */
#include "bench_scale.h"
#include "bench.h"
#include "bench_msix_dev.h"

#include <irqlink/irqlink.h>

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define REPS_FULL  5
#define REPS_QUICK 3

static const unsigned int enable_full[] = { 1, 64, 512, 2048 };
static const unsigned int enable_quick[] = { 1, 64 };
static const unsigned int bypass_full[] = { 1000, 10000, 100000 };
static const unsigned int bypass_quick[] = { 1000, 10000 };

#define MASK_VECTORS   64u
#define MASK_VECTOR    5u      /* an entry in the middle of the table */
#define MASK_PAIRS     2000u
#define MASK_PAIRS_Q   200u
#define MASK_CHANGES   200u
#define MASK_CHANGES_Q 50u
#define BYPASS_OPS     1000u
#define IDENTITY_READS 256u

/* Each vector holds the glue's (or the VMM's) eventfd and the duplicates
 * kept by the device model and the consumer (whose relay entry and irqfd
 * share its one): 3. Only one way is set up at a time; the rest is
 * headroom. */
#define FDS_PER_VECTOR 8u
#define FDS_BASE       256u

/* ---- small helpers ------------------------------------------------------ */

static double ms_of(uint64_t ns)
{
	return (double)ns / 1e6;
}

static uint64_t routes_commits(struct irqlink_vm *vm)
{
	struct irqlink_routes_stats st;

	if (irqlink_routes_stats(vm, &st))
		return 0;
	return st.commits;
}

/* The message of vector @i: the x86 interrupt window, APIC 0, a spread of
 * vectors. Every way routes the same messages. */
static struct kvm_msi msg_for(unsigned int i)
{
	return (struct kvm_msi){
		.address_lo = 0xfee00000u,
		.data = 0x30u + i % 0xc0u,
	};
}

/* ---- a VM with what interrupts need ------------------------------------ */

struct rig {
	struct irqlink_vm *vm;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
	struct sdev *dev;
	struct irqlink_pci *pci;        /* glue ways only */
};

static void rig_close(struct rig *g)
{
	irqlink_pci_destroy(g->pci);
	if (g->dev) {
		irqlink_dev_attach_bypass(g->dev->irq, NULL);
		sd_destroy(g->dev);
	}
	irqlink_relay_destroy(g->relay);
	irqlink_bypass_destroy(g->bypass);
	irqlink_vm_destroy(g->vm);
	memset(g, 0, sizeof(*g));
}

/* A fresh VM (full irqchip), relay, bypass manager and an @nvec-vector
 * device attached to it as producer; with @glue, the PCI glue over the
 * device with BAR0 programmed and decoding, as enumeration leaves it. */
static int rig_open(struct rig *g, unsigned int nvec, bool glue, char *why,
		    size_t len)
{
	struct irqlink_pci_config pc = { .ops = &bench_msix_dev_ops };
	int r;

	memset(g, 0, sizeof(*g));
	r = irqlink_vm_create(NULL, &g->vm);
	if (r)
		return bench_say(why, len, r, "cannot create a KVM VM (/dev/kvm): %s",
			   strerror(-r));
	r = irqlink_relay_create(g->vm, NULL, &g->relay);
	if (!r)
		r = irqlink_bypass_create(&g->bypass);
	if (!r)
		r = sd_create(nvec, &g->dev);
	if (!r)
		r = irqlink_dev_attach_bypass(g->dev->irq, g->bypass);
	if (r) {
		rig_close(g);
		return bench_say(why, len, r, "cannot set up a device with %u MSI-X "
			   "vectors: %s", nvec, strerror(-r));
	}
	if (!glue)
		return 0;
	pc.opaque = g->dev;
	pc.vm = g->vm;
	pc.relay = g->relay;
	pc.bypass = g->bypass;
	r = irqlink_pci_create(&pc, &g->pci);
	if (!r)
		r = irqlink_pci_config_write(g->pci, 0x10, 4, SD_BAR_GPA);
	if (!r)
		r = irqlink_pci_config_write(g->pci, 0x04, 2, 0x0002);
	if (r) {
		rig_close(g);
		return bench_say(why, len, r, "the PCI glue refused the bench's %u-vector "
			   "device: %s", nvec, strerror(-r));
	}
	return 0;
}

static int cfgw(struct rig *g, uint32_t off, uint32_t size, uint32_t v,
		char *why, size_t len)
{
	int r = irqlink_pci_config_write(g->pci, off, size, v);

	if (r)
		return bench_say(why, len, r, "the glue could not follow a guest "
			   "config write (0x%x = 0x%x): %s", off, v,
			   strerror(-r));
	return 0;
}

/* A 4-byte guest write into entry @vec of the MSI-X table at @field. */
static int tablew(struct rig *g, unsigned int vec, uint32_t field, uint32_t v,
		  char *why, size_t len)
{
	uint64_t gpa = SD_BAR_GPA + (uint64_t)vec * MSIX_ENTRY + field;
	int r = irqlink_pci_mmio(g->pci, gpa, &v, 4, true);

	if (r == 1)
		return 0;
	r = r ? r : -ENXIO;
	return bench_say(why, len, r, "a guest write to MSI-X table entry %u failed: "
		   "%s", vec, strerror(-r));
}

/* ---- 1. the enable, three ways ------------------------------------------ */

struct way_sample {
	double total_ms, commit_ms;
	uint64_t commits, in_kernel;
};

struct glue_sample {
	struct way_sample w;
	double program_ms, sinks_ms, triggers_ms, commit_irqfds_ms, unmask_ms;
	uint64_t batches;
};

/* The guest's enable: Function Mask on, the whole table written, Enable
 * on, Function Mask off. @nvec entries are programmed unmasked. */
static int guest_enable(struct rig *g, unsigned int nvec, uint64_t *t_last,
			char *why, size_t len)
{
	unsigned int i;
	int r;

	r = cfgw(g, SD_MSIX_CTRL, 2, MSIX_FMASK, why, len);
	for (i = 0; !r && i < nvec; i++) {
		struct kvm_msi m = msg_for(i);

		r = tablew(g, i, 0, m.address_lo, why, len);
		if (!r)
			r = tablew(g, i, 4, m.address_hi, why, len);
		if (!r)
			r = tablew(g, i, 8, m.data, why, len);
		if (!r)
			r = tablew(g, i, 12, 0, why, len);
	}
	if (!r)
		r = cfgw(g, SD_MSIX_CTRL, 2, MSIX_ENABLE | MSIX_FMASK, why, len);
	if (r)
		return r;
	memset(&g->dev->marks, 0, sizeof(g->dev->marks));
	g->dev->marks.armed = true;
	*t_last = bench_now_ns();
	r = cfgw(g, SD_MSIX_CTRL, 2, MSIX_ENABLE, why, len);
	g->dev->marks.armed = false;
	return r;
}

static int glue_enable(unsigned int nvec, struct glue_sample *s, char *why,
		       size_t len)
{
	struct irqlink_pci_stats a, b;
	uint64_t c0, t0, t_last, t_end;
	const struct sd_marks *m;
	struct rig g;
	int r;

	r = rig_open(&g, nvec, true, why, len);
	if (r)
		return r;
	irqlink_pci_get_stats(g.pci, &a);
	c0 = routes_commits(g.vm);
	t0 = bench_now_ns();
	r = guest_enable(&g, nvec, &t_last, why, len);
	t_end = bench_now_ns();
	if (r) {
		rig_close(&g);
		return r;
	}
	irqlink_pci_get_stats(g.pci, &b);
	s->w.total_ms = ms_of(t_end - t0);
	s->w.commits = routes_commits(g.vm) - c0;
	s->w.in_kernel = b.in_kernel;
	s->w.commit_ms = NAN;
	s->batches = b.route_batches - a.route_batches;
	s->program_ms = ms_of(t_last - t0);
	m = &g.dev->marks;
	if (m->fd_calls && m->unmask_calls && t_last <= m->fds_in &&
	    m->fds_in <= m->fds_out && m->fds_out <= m->unmask_in &&
	    m->unmask_in <= t_end) {
		s->sinks_ms = ms_of(m->fds_in - t_last);
		s->triggers_ms = ms_of(m->fds_out - m->fds_in);
		s->commit_irqfds_ms = ms_of(m->unmask_in - m->fds_out);
		s->unmask_ms = ms_of(t_end - m->unmask_in);
	} else {
		s->sinks_ms = s->triggers_ms = NAN;
		s->commit_irqfds_ms = s->unmask_ms = NAN;
	}
	rig_close(&g);
	return 0;
}

/* Consumers go in one batch: one commit for all their GSI frees. */
static void consumers_destroy(struct irqlink_vm *vm,
			      struct irqlink_consumer **c, unsigned int n)
{
	bool batch = irqlink_routes_begin(vm) == 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		irqlink_consumer_destroy(c[i]);
	if (batch)
		(void)irqlink_routes_commit(vm);
}

static int timed_commit(struct irqlink_vm *vm, uint64_t *commit_ns)
{
	uint64_t t = bench_now_ns();
	int r = irqlink_routes_commit(vm);

	*commit_ns += bench_now_ns() - t;
	return r;
}

/*
 * The VMM does what the glue does inside, by hand: N eventfds, one
 * SET_IRQS (the device registers N producers), N consumers, each pairing
 * at once and staging its route in the open batch, the commit, and one
 * irqlink_consumer_refresh_many() that attaches every irqfd and waits for
 * the relay once. @per_vector opens and commits a batch and refreshes
 * around each consumer instead.
 */
static int consumers_enable(unsigned int nvec, bool per_vector,
			    struct way_sample *s, char *why, size_t len)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.count = nvec,
	};
	struct irqlink_consumer **c;
	uint64_t c0, t0, t_end, commit_ns = 0;
	unsigned int i, made = 0;
	const char *step = "";
	struct rig g;
	int *efd, r;

	efd = malloc(nvec * sizeof(*efd));
	c = calloc(nvec, sizeof(*c));
	if (!efd || !c) {
		free(efd);
		free(c);
		return bench_say(why, len, -ENOMEM, "out of memory");
	}
	for (i = 0; i < nvec; i++)
		efd[i] = -1;
	r = rig_open(&g, nvec, false, why, len);
	if (r)
		goto out;

	c0 = routes_commits(g.vm);
	t0 = bench_now_ns();
	for (i = 0; i < nvec && !r; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd[i] < 0)
			r = -errno;
	}
	step = "eventfd";
	if (!r) {
		step = "SET_IRQS";
		r = irqlink_dev_set_irqs_fds(g.dev->irq, &set, efd, nvec);
		r = r > 0 ? -ENOSPC : r;
	}
	if (!r && !per_vector) {
		step = "routes batch";
		r = irqlink_routes_begin(g.vm);
	}
	for (i = 0; i < nvec && !r; i++) {
		struct irqlink_consumer_config cc = {
			.kind = IRQLINK_CONSUMER_MSI,
			.trigger_fd = efd[i],
			.msi = msg_for(i),
			.unmask_fd = -1,
			.notify_fd = -1,
		};

		step = "consumer";
		if (per_vector)
			r = irqlink_routes_begin(g.vm);
		if (!r)
			r = irqlink_consumer_create(g.vm, g.relay, g.bypass, &cc,
						    &c[i]);
		if (r)
			break;
		made++;
		if (per_vector) {
			step = "routing commit";
			r = timed_commit(g.vm, &commit_ns);
			if (!r)
				r = irqlink_consumer_refresh(c[i]);
		}
	}
	if (!r && !per_vector) {
		step = "routing commit";
		r = timed_commit(g.vm, &commit_ns);
		if (!r)
			r = irqlink_consumer_refresh_many(c, nvec);
	}
	t_end = bench_now_ns();
	if (r) {
		irqlink_routes_abort(g.vm);
		bench_say(why, len, r, "%s enable of %u vectors, %s: %s",
		    per_vector ? "per-vector" : "batched", nvec, step,
		    strerror(-r));
	} else {
		s->total_ms = ms_of(t_end - t0);
		s->commit_ms = ms_of(commit_ns);
		s->commits = routes_commits(g.vm) - c0;
		s->in_kernel = 0;
		for (i = 0; i < nvec; i++)
			s->in_kernel += irqlink_consumer_path(c[i]) ==
				IRQLINK_PATH_BYPASS;
	}
	consumers_destroy(g.vm, c, made);
	rig_close(&g);
out:
	for (i = 0; i < nvec; i++)
		if (efd[i] >= 0)
			close(efd[i]);
	free(efd);
	free(c);
	return r;
}

static void way_fold(struct bench_scale_way_result *w,
		     const struct way_sample *s, unsigned int reps,
		     double *scratch)
{
	unsigned int i;

	for (i = 0; i < reps; i++)
		scratch[i] = s[i].total_ms;
	w->total_ms = bench_median(scratch, reps);
	for (i = 0; i < reps; i++)
		scratch[i] = s[i].commit_ms;
	w->commit_ms = bench_median(scratch, reps);
	for (i = 0; i < reps; i++)
		scratch[i] = s[i].total_ms - s[i].commit_ms;
	w->rest_ms = bench_median(scratch, reps);
	w->commits_min = w->commits_max = s[0].commits;
	w->in_kernel_min = s[0].in_kernel;
	for (i = 1; i < reps; i++) {
		if (s[i].commits < w->commits_min)
			w->commits_min = s[i].commits;
		if (s[i].commits > w->commits_max)
			w->commits_max = s[i].commits;
		if (s[i].in_kernel < w->in_kernel_min)
			w->in_kernel_min = s[i].in_kernel;
	}
}

static int measure_enable(unsigned int nvec, unsigned int reps,
			  struct bench_scale_enable *e, char *why, size_t len)
{
	struct way_sample bat[REPS_FULL] = { 0 }, per[REPS_FULL] = { 0 };
	struct way_sample glu[REPS_FULL] = { 0 };
	struct glue_sample gs[REPS_FULL] = { 0 };
	struct bench_scale_glue_split *sp = &e->glue;
	double v[REPS_FULL];
	unsigned int i;
	int r;

	memset(e, 0, sizeof(*e));
	e->vectors = nvec;
	for (i = 0; i < reps; i++) {
		r = glue_enable(nvec, &gs[i], why, len);
		if (!r)
			r = consumers_enable(nvec, false, &bat[i], why, len);
		if (!r)
			r = consumers_enable(nvec, true, &per[i], why, len);
		if (r)
			return r;
		/* Not timed inside the glue: the same table's commit, in
		 * the same repetition, from the batched way. */
		gs[i].w.commit_ms = bat[i].commit_ms;
		glu[i] = gs[i].w;
	}
	way_fold(&e->way[BENCH_SCALE_GLUE], glu, reps, v);
	e->way[BENCH_SCALE_GLUE].commit_estimated = true;
	way_fold(&e->way[BENCH_SCALE_BATCHED], bat, reps, v);
	way_fold(&e->way[BENCH_SCALE_PER_VECTOR], per, reps, v);
	e->speedup = e->way[BENCH_SCALE_PER_VECTOR].total_ms /
		e->way[BENCH_SCALE_GLUE].total_ms;

#define SPLIT(field) do {                                              \
		for (i = 0; i < reps; i++)                             \
			v[i] = gs[i].field;                            \
		sp->field = bench_median(v, reps);                           \
	} while (0)
	SPLIT(program_ms);
	SPLIT(sinks_ms);
	SPLIT(triggers_ms);
	SPLIT(commit_irqfds_ms);
	SPLIT(unmask_ms);
#undef SPLIT
	sp->route_batches_min = sp->route_batches_max = gs[0].batches;
	for (i = 1; i < reps; i++) {
		if (gs[i].batches < sp->route_batches_min)
			sp->route_batches_min = gs[i].batches;
		if (gs[i].batches > sp->route_batches_max)
			sp->route_batches_max = gs[i].batches;
	}
	return 0;
}

/* One eventfd identity read, the unit the library pays per eventfd it
 * takes (device, consumer, relay and irqfd each read it). */
static int measure_identity(unsigned int reps, double *us, char *why,
			    size_t len)
{
	double v[REPS_FULL];
	unsigned int i, k;
	uint64_t tok, t;
	int fd, r = 0;

	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return bench_say(why, len, -errno, "eventfd: %s", strerror(errno));
	for (k = 0; k < reps && !r; k++) {
		t = bench_now_ns();
		for (i = 0; i < IDENTITY_READS && !r; i++)
			r = irqlink_bypass_token_from_fd(fd, &tok);
		v[k] = (double)(bench_now_ns() - t) / 1e3 / IDENTITY_READS;
	}
	close(fd);
	if (r)
		return bench_say(why, len, r, "eventfd identities are not readable "
			   "from /proc: %s", strerror(-r));
	*us = bench_median(v, reps);
	return 0;
}

/* ---- 2. mask, unmask, message change ------------------------------------ */

struct mask_sample {
	double pair_us, data_us, masked_us;
	uint64_t pair_commits, pair_calls, data_commits, masked_commits;
};

static int mask_once(unsigned int pairs, unsigned int changes,
		     struct mask_sample *s, char *why, size_t len)
{
	const unsigned int v = MASK_VECTOR;
	struct kvm_msi m = msg_for(v);
	struct irqlink_pci_stats a, b;
	uint64_t c0, t;
	unsigned int i;
	struct rig g;
	int r;

	r = rig_open(&g, MASK_VECTORS, true, why, len);
	if (!r)
		r = guest_enable(&g, MASK_VECTORS, &t, why, len);
	if (r)
		goto out;

	irqlink_pci_get_stats(g.pci, &a);
	c0 = routes_commits(g.vm);
	t = bench_now_ns();
	for (i = 0; i < pairs && !r; i++) {
		r = tablew(&g, v, 12, 1, why, len);
		if (!r)
			r = tablew(&g, v, 12, 0, why, len);
	}
	s->pair_us = (double)(bench_now_ns() - t) / 1e3 / pairs;
	irqlink_pci_get_stats(g.pci, &b);
	s->pair_commits = routes_commits(g.vm) - c0;
	s->pair_calls = b.mask_calls - a.mask_calls;
	if (r)
		goto out;

	/* Every change differs from the message before it. */
	c0 = routes_commits(g.vm);
	t = bench_now_ns();
	for (i = 0; i < changes && !r; i++)
		r = tablew(&g, v, 8, m.data ^ (i % 2 ? 0 : 0x1), why, len);
	s->data_us = (double)(bench_now_ns() - t) / 1e3 / changes;
	s->data_commits = routes_commits(g.vm) - c0;
	if (r)
		goto out;

	/* The driver's way: mask, rewrite the entry (the destination APIC
	 * id in the address and the data), unmask. */
	c0 = routes_commits(g.vm);
	t = bench_now_ns();
	for (i = 0; i < changes && !r; i++) {
		r = tablew(&g, v, 12, 1, why, len);
		if (!r)
			r = tablew(&g, v, 0, m.address_lo | (i % 2 ? 0 : 1u << 12),
				   why, len);
		if (!r)
			r = tablew(&g, v, 4, 0, why, len);
		if (!r)
			r = tablew(&g, v, 8, m.data + (i % 2 ? 0 : 1), why, len);
		if (!r)
			r = tablew(&g, v, 12, 0, why, len);
	}
	s->masked_us = (double)(bench_now_ns() - t) / 1e3 / changes;
	s->masked_commits = routes_commits(g.vm) - c0;
out:
	rig_close(&g);
	return r;
}

static int measure_mask(bool quick, unsigned int reps,
			struct bench_scale_mask *mk, char *why, size_t len)
{
	struct mask_sample s[REPS_FULL];
	double v[REPS_FULL];
	unsigned int i;
	uint64_t dc = 0, mc = 0;
	int r;

	memset(mk, 0, sizeof(*mk));
	mk->vectors = MASK_VECTORS;
	mk->pairs = quick ? MASK_PAIRS_Q : MASK_PAIRS;
	mk->changes = quick ? MASK_CHANGES_Q : MASK_CHANGES;
	for (i = 0; i < reps; i++) {
		r = mask_once(mk->pairs, mk->changes, &s[i], why, len);
		if (r)
			return r;
	}
	for (i = 0; i < reps; i++)
		v[i] = s[i].pair_us;
	mk->pair_us = bench_median(v, reps);
	for (i = 0; i < reps; i++)
		v[i] = s[i].data_us;
	mk->data_us = bench_median(v, reps);
	for (i = 0; i < reps; i++)
		v[i] = s[i].masked_us;
	mk->masked_us = bench_median(v, reps);
	/* Counts are not noise: report the worst repetition. */
	for (i = 0; i < reps; i++) {
		if (s[i].pair_commits > mk->pair_commits)
			mk->pair_commits = s[i].pair_commits;
		if ((double)s[i].pair_calls / mk->pairs > mk->pair_set_irqs)
			mk->pair_set_irqs = (double)s[i].pair_calls / mk->pairs;
		if (s[i].data_commits > dc)
			dc = s[i].data_commits;
		if (s[i].masked_commits > mc)
			mc = s[i].masked_commits;
	}
	mk->data_commits = (double)dc / mk->changes;
	mk->masked_commits = (double)mc / mk->changes;
	return 0;
}

/* ---- 3. the bypass manager --------------------------------------------- */

struct bp_pair {
	struct irqlink_bypass_producer p;
	struct irqlink_bypass_consumer c;
};

static int bp_add_producer(struct irqlink_bypass_consumer *cons,
			   struct irqlink_bypass_producer *prod)
{
	(void)cons;
	(void)prod;
	return 0;
}

static void bp_del_producer(struct irqlink_bypass_consumer *cons,
			    struct irqlink_bypass_producer *prod)
{
	(void)cons;
	(void)prod;
}

static void bp_init(struct bp_pair *x, uint64_t token)
{
	memset(x, 0, sizeof(*x));
	x->p.token = token;
	x->c.token = token;
	x->c.add_producer = bp_add_producer;
	x->c.del_producer = bp_del_producer;
}

/* Time @n calls of one operation over @x, in ns per call. */
enum bp_op { BP_REG_PROD, BP_REG_CONS, BP_UNREG_CONS, BP_UNREG_PROD };

static int bp_batch(struct irqlink_bypass *b, struct bp_pair *x,
		    unsigned int n, enum bp_op op, double *ns)
{
	uint64_t t = bench_now_ns();
	unsigned int i;
	int r = 0;

	for (i = 0; i < n && !r; i++) {
		switch (op) {
		case BP_REG_PROD:
			r = irqlink_bypass_register_producer(b, &x[i].p);
			break;
		case BP_REG_CONS:
			r = irqlink_bypass_register_consumer(b, &x[i].c);
			break;
		case BP_UNREG_CONS:
			r = irqlink_bypass_unregister_consumer(b, &x[i].c);
			break;
		case BP_UNREG_PROD:
			r = irqlink_bypass_unregister_producer(b, &x[i].p);
			break;
		}
	}
	*ns = (double)(bench_now_ns() - t) / n;
	return r;
}

static int measure_bypass(unsigned int pairs, unsigned int reps,
			  struct bench_scale_bypass *out, char *why,
			  size_t len)
{
	double v[4][REPS_FULL];
	struct irqlink_bypass *b;
	struct irqlink_bypass_stats st;
	struct bp_pair *x;
	unsigned int i, k, op;
	int r;

	x = malloc(((size_t)pairs + BYPASS_OPS) * sizeof(*x));
	if (!x)
		return bench_say(why, len, -ENOMEM, "out of memory for %u bypass "
			   "pairs", pairs);
	r = irqlink_bypass_create(&b);
	if (r) {
		free(x);
		return bench_say(why, len, r, "irqlink_bypass_create: %s",
			   strerror(-r));
	}
	for (i = 0; i < pairs + BYPASS_OPS; i++)
		bp_init(&x[i], (uint64_t)i + 1);
	for (i = 0; i < pairs && !r; i++) {
		r = irqlink_bypass_register_producer(b, &x[i].p);
		if (!r)
			r = irqlink_bypass_register_consumer(b, &x[i].c);
	}
	/* The same fresh tokens each repetition: they leave with their
	 * batch, so the table holds @pairs between batches. */
	for (k = 0; k < reps && !r; k++)
		for (op = BP_REG_PROD; op <= BP_UNREG_PROD && !r; op++)
			r = bp_batch(b, x + pairs, BYPASS_OPS, (enum bp_op)op,
				     &v[op][k]);
	if (!r && (irqlink_bypass_get_stats(b, &st) || st.connected != pairs))
		r = -EPROTO;
	irqlink_bypass_destroy(b);
	free(x);
	if (r)
		return bench_say(why, len, r, "the bypass manager with %u pairs: %s",
			   pairs, strerror(-r));
	out->pairs = pairs;
	out->reg_producer_ns = bench_median(v[BP_REG_PROD], reps);
	out->reg_consumer_ns = bench_median(v[BP_REG_CONS], reps);
	out->unreg_consumer_ns = bench_median(v[BP_UNREG_CONS], reps);
	out->unreg_producer_ns = bench_median(v[BP_UNREG_PROD], reps);
	return 0;
}

/* ---- the run ------------------------------------------------------------ */

int bench_scale_run(const struct bench_scale_cfg *cfg,
		    struct bench_scale_result **out, char *why, size_t whylen)
{
	const unsigned int *en, *bp;
	unsigned int nen, nbp, i;
	struct bench_scale_result *res;
	int r;

	if (why && whylen)
		why[0] = '\0';
	if (!out)
		return bench_say(why, whylen, -EINVAL, "no place for the results");
	*out = NULL;
	if (!cfg)
		return bench_say(why, whylen, -EINVAL, "no configuration");
	en = cfg->quick ? enable_quick : enable_full;
	nen = cfg->quick ? sizeof(enable_quick) / sizeof(*en) :
		sizeof(enable_full) / sizeof(*en);
	bp = cfg->quick ? bypass_quick : bypass_full;
	nbp = cfg->quick ? sizeof(bypass_quick) / sizeof(*bp) :
		sizeof(bypass_full) / sizeof(*bp);

	res = calloc(1, sizeof(*res));
	if (!res)
		return bench_say(why, whylen, -ENOMEM, "out of memory");
	res->quick = cfg->quick;
	res->reps = cfg->quick ? REPS_QUICK : REPS_FULL;
	res->bypass_ops = BYPASS_OPS;

	r = bench_nofile_room(FDS_BASE + (rlim_t)en[nen - 1] * FDS_PER_VECTOR,
			      "the largest MSI-X table's vectors", NULL, why,
			      whylen);
	for (i = 0; !r && i < nen; i++)
		r = measure_enable(en[i], res->reps, &res->enable[i], why,
				   whylen);
	res->nenable = nen;
	if (!r)
		r = measure_identity(res->reps, &res->identity_us, why, whylen);
	if (!r)
		r = measure_mask(cfg->quick, res->reps, &res->mask, why, whylen);
	for (i = 0; !r && i < nbp; i++)
		r = measure_bypass(bp[i], res->reps, &res->bypass[i], why,
				   whylen);
	res->nbypass = nbp;
	if (r) {
		free(res);
		return r;
	}
	*out = res;
	return 0;
}

void bench_scale_free(struct bench_scale_result *r)
{
	free(r);
}

/* ---- reporting ---------------------------------------------------------- */

static const char *const way_name[BENCH_SCALE_WAYS] = {
	[BENCH_SCALE_GLUE] = "glue (guest enable)",
	[BENCH_SCALE_BATCHED] = "consumers, 1 batch",
	[BENCH_SCALE_PER_VECTOR] = "consumers, per vector",
};

static const char *const way_key[BENCH_SCALE_WAYS] = {
	[BENCH_SCALE_GLUE] = "glue",
	[BENCH_SCALE_BATCHED] = "batched",
	[BENCH_SCALE_PER_VECTOR] = "per_vector",
};

/* A time in a fixed-width column, "-" when it could not be taken. */
static void put_ms(FILE *f, int width, double v, const char *suffix)
{
	if (isnan(v))
		fprintf(f, " %*s%s", width, "-", suffix);
	else
		fprintf(f, " %*.3f%s", width, v, suffix);
}

static void put_count(FILE *f, int width, uint64_t lo, uint64_t hi)
{
	char buf[48];

	if (lo == hi)
		snprintf(buf, sizeof(buf), "%" PRIu64, lo);
	else
		snprintf(buf, sizeof(buf), "%" PRIu64 "-%" PRIu64, lo, hi);
	fprintf(f, " %*s", width, buf);
}

static void print_enable(FILE *f, const struct bench_scale_result *r)
{
	unsigned int i, w;

	fprintf(f, "MSI-X enable of N vectors (ms, median of %u, fresh VM each; "
		"commits = KVM_SET_GSI_ROUTING calls)\n", r->reps);
	fprintf(f, "%6s  %-22s %10s %8s %11s %10s %10s %8s\n", "N", "way",
		"total", "commits", "commit", "rest", "in-kernel", "speedup");
	for (i = 0; i < r->nenable; i++) {
		const struct bench_scale_enable *e = &r->enable[i];

		for (w = 0; w < BENCH_SCALE_WAYS; w++) {
			const struct bench_scale_way_result *x = &e->way[w];
			const struct bench_scale_way_result *pv =
				&e->way[BENCH_SCALE_PER_VECTOR];

			if (w == 0)
				fprintf(f, "%6u", e->vectors);
			else
				fprintf(f, "%6s", "");
			fprintf(f, "  %-22s", way_name[w]);
			put_ms(f, 10, x->total_ms, "");
			put_count(f, 8, x->commits_min, x->commits_max);
			put_ms(f, 9, x->commit_ms,
			       x->commit_estimated ? "*" : " ");
			put_ms(f, 10, x->rest_ms, "");
			fprintf(f, " %5" PRIu64 "/%-4u", x->in_kernel_min,
				e->vectors);
			fprintf(f, " %7.1fx\n", pv->total_ms / x->total_ms);
		}
	}
	fprintf(f, "  * not timed inside the glue (no public counter or hook): "
		"the same table's commit from the batched way, same repetition.\n"
		"  speedup = per-vector total / this total. One eventfd identity "
		"read (/proc) costs %.2f us.\n\n", r->identity_us);

	fprintf(f, "Glue enable, split at the glue's own device calls (ms, "
		"median)\n");
	fprintf(f, "%6s %10s %14s %10s %15s %9s %8s\n", "N", "program",
		"eventfds+cons", "SET_IRQS", "commit+irqfds", "unmask",
		"batches");
	for (i = 0; i < r->nenable; i++) {
		const struct bench_scale_enable *e = &r->enable[i];
		const struct bench_scale_glue_split *s = &e->glue;

		fprintf(f, "%6u", e->vectors);
		put_ms(f, 10, s->program_ms, "");
		put_ms(f, 14, s->sinks_ms, "");
		put_ms(f, 10, s->triggers_ms, "");
		put_ms(f, 15, s->commit_irqfds_ms, "");
		put_ms(f, 9, s->unmask_ms, "");
		put_count(f, 8, s->route_batches_min, s->route_batches_max);
		fputc('\n', f);
	}
	fprintf(f, "  program = Function Mask on, N table entries (4 writes each), "
		"Enable on; the rest is the\n  Function Mask clear: its "
		"consumers, the SET_IRQS with the eventfds, the routing commit\n"
		"  and irqfd attaches, the unmask. batches = routing batches the "
		"glue closed (empty ones make no ioctl).\n\n");
}

static void print_mask(FILE *f, const struct bench_scale_mask *m)
{
	fprintf(f, "One vector of a %u-vector table, through the glue (median "
		"time; commits: worst repetition)\n", m->vectors);
	fprintf(f, "  mask + unmask, message unchanged: %8.2f us per pair, "
		"%" PRIu64 " commits in %u pairs, %.2f SET_IRQS per pair\n",
		m->pair_us, m->pair_commits, m->pairs, m->pair_set_irqs);
	fprintf(f, "  message change, data dword of the unmasked entry: "
		"%8.2f us, %.2f commits per change\n", m->data_us,
		m->data_commits);
	fprintf(f, "  message change, mask + address + data + unmask:   "
		"%8.2f us, %.2f commits per change (%u changes)\n\n",
		m->masked_us, m->masked_commits, m->changes);
}

static double bypass_sum(const struct bench_scale_bypass *b)
{
	return b->reg_producer_ns + b->reg_consumer_ns + b->unreg_consumer_ns +
		b->unreg_producer_ns;
}

static void print_bypass(FILE *f, const struct bench_scale_result *r)
{
	unsigned int i;

	fprintf(f, "Bypass manager, ns per operation with P pairs already "
		"registered (%u ops per batch, median of %u)\n",
		r->bypass_ops, r->reps);
	fprintf(f, "%8s %14s %20s %24s %16s\n", "P", "reg producer",
		"reg consumer (pair)", "unreg consumer (unpair)",
		"unreg producer");
	for (i = 0; i < r->nbypass; i++) {
		const struct bench_scale_bypass *b = &r->bypass[i];

		fprintf(f, "%8u %14.1f %20.1f %24.1f %16.1f\n", b->pairs,
			b->reg_producer_ns, b->reg_consumer_ns,
			b->unreg_consumer_ns, b->unreg_producer_ns);
	}
	if (r->nbypass > 1 && bypass_sum(&r->bypass[0]) > 0)
		fprintf(f, "  all four operations, P = %u against P = %u: "
			"%.2fx\n", r->bypass[r->nbypass - 1].pairs,
			r->bypass[0].pairs,
			bypass_sum(&r->bypass[r->nbypass - 1]) /
			bypass_sum(&r->bypass[0]));
}

void bench_scale_print(FILE *f, const struct bench_scale_result *r)
{
	if (!f || !r)
		return;
	fprintf(f, "== Cost as the work grows%s ==\n\n",
		r->quick ? " (quick)" : "");
	print_enable(f, r);
	print_mask(f, &r->mask);
	print_bypass(f, r);
}

static struct json_object *json_way(const struct bench_scale_way_result *w)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "total_ms", bench_json_num(w->total_ms));
	json_object_object_add(o, "commit_ms", bench_json_num(w->commit_ms));
	json_object_object_add(o, "commit_ms_estimated", json_object_new_boolean(w->commit_estimated));
	json_object_object_add(o, "rest_ms", bench_json_num(w->rest_ms));
	json_object_object_add(o, "commits_min", json_object_new_int64((int64_t)w->commits_min));
	json_object_object_add(o, "commits_max", json_object_new_int64((int64_t)w->commits_max));
	json_object_object_add(o, "in_kernel_min", json_object_new_int64((int64_t)w->in_kernel_min));
	return o;
}

static struct json_object *json_enable(const struct bench_scale_enable *e)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ways = json_object_new_object();
	struct json_object *sp = json_object_new_object();
	unsigned int w;

	if (!o || !ways || !sp) {
		json_object_put(o);
		json_object_put(ways);
		json_object_put(sp);
		return NULL;
	}
	json_object_object_add(o, "vectors", json_object_new_int64(e->vectors));
	for (w = 0; w < BENCH_SCALE_WAYS; w++)
		json_object_object_add(ways, way_key[w], json_way(&e->way[w]));
	json_object_object_add(o, "ways", ways);
	json_object_object_add(o, "speedup", bench_json_num(e->speedup));
	json_object_object_add(sp, "program_ms", bench_json_num(e->glue.program_ms));
	json_object_object_add(sp, "eventfds_consumers_ms", bench_json_num(e->glue.sinks_ms));
	json_object_object_add(sp, "set_irqs_ms", bench_json_num(e->glue.triggers_ms));
	json_object_object_add(sp, "commit_irqfds_ms", bench_json_num(e->glue.commit_irqfds_ms));
	json_object_object_add(sp, "unmask_ms", bench_json_num(e->glue.unmask_ms));
	json_object_object_add(sp, "route_batches_min",
	     json_object_new_int64((int64_t)e->glue.route_batches_min));
	json_object_object_add(sp, "route_batches_max",
	     json_object_new_int64((int64_t)e->glue.route_batches_max));
	json_object_object_add(o, "glue_split", sp);
	return o;
}

struct json_object *bench_scale_json(const struct bench_scale_result *r)
{
	struct json_object *o, *en, *mk, *bp, *sizes;
	unsigned int i;

	if (!r)
		return NULL;
	o = json_object_new_object();
	en = json_object_new_array();
	mk = json_object_new_object();
	bp = json_object_new_object();
	sizes = json_object_new_array();
	if (!o || !en || !mk || !bp || !sizes) {
		json_object_put(o);
		json_object_put(en);
		json_object_put(mk);
		json_object_put(bp);
		json_object_put(sizes);
		return NULL;
	}
	json_object_object_add(o, "quick", json_object_new_boolean(r->quick));
	json_object_object_add(o, "reps", json_object_new_int64(r->reps));
	for (i = 0; i < r->nenable; i++)
		json_object_array_add(en, json_enable(&r->enable[i]));
	json_object_object_add(o, "msix_enable", en);
	json_object_object_add(o, "identity_read_us", bench_json_num(r->identity_us));

	json_object_object_add(mk, "vectors", json_object_new_int64(r->mask.vectors));
	json_object_object_add(mk, "pairs", json_object_new_int64(r->mask.pairs));
	json_object_object_add(mk, "pair_us", bench_json_num(r->mask.pair_us));
	json_object_object_add(mk, "pair_commits", json_object_new_int64((int64_t)r->mask.pair_commits));
	json_object_object_add(mk, "pair_set_irqs", bench_json_num(r->mask.pair_set_irqs));
	json_object_object_add(mk, "changes", json_object_new_int64(r->mask.changes));
	json_object_object_add(mk, "data_change_us", bench_json_num(r->mask.data_us));
	json_object_object_add(mk, "data_change_commits", bench_json_num(r->mask.data_commits));
	json_object_object_add(mk, "masked_change_us", bench_json_num(r->mask.masked_us));
	json_object_object_add(mk, "masked_change_commits", bench_json_num(r->mask.masked_commits));
	json_object_object_add(o, "mask", mk);

	json_object_object_add(bp, "ops_per_batch", json_object_new_int64(r->bypass_ops));
	for (i = 0; i < r->nbypass; i++) {
		const struct bench_scale_bypass *b = &r->bypass[i];
		struct json_object *s = json_object_new_object();

		if (!s)
			continue;
		json_object_object_add(s, "pairs", json_object_new_int64(b->pairs));
		json_object_object_add(s, "register_producer_ns", bench_json_num(b->reg_producer_ns));
		json_object_object_add(s, "register_consumer_ns", bench_json_num(b->reg_consumer_ns));
		json_object_object_add(s, "unregister_consumer_ns", bench_json_num(b->unreg_consumer_ns));
		json_object_object_add(s, "unregister_producer_ns", bench_json_num(b->unreg_producer_ns));
		json_object_array_add(sizes, s);
	}
	json_object_object_add(bp, "sizes", sizes);
	json_object_object_add(o, "bypass", bp);
	return o;
}
