/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user (see bench_vfu.h for what each figure is): the
 * measurement. The device process is vfu_device_proc.c's, the raw stream
 * I/O vfu_wire.c's, the synchronous client vfu_raw_client.c's, the tables
 * and JSON vfu_report.c's.
 *
 * No global state: everything lives in the result and in the stack frames
 * of one run (the child's in its own process).
 */
#include "bench_vfu.h"
#include "bench.h"
#include "vfu_internal.h"

#include <irqlink/irqlink.h>

#include "testdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static const unsigned int rt_bytes[BENCH_VFU_RT_SIZES] = { 4, 64, 4096 };
static const unsigned int irq_fds[BENCH_VFU_IRQ_SIZES] = { 1, 16, 2048 };

/* Round trips per path and size. Each round runs every path of every size
 * once, so the rows share whatever the machine was doing. */
#define RT_SAMPLES     10000u   /* per placement and row */
#define RT_SAMPLES_Q   500u
#define RT_CHUNK       250u     /* rounds before the placement changes */
#define RT_CHUNK_Q     100u
#define RT_CHUNK_WARMUP 10u
_Static_assert(RT_SAMPLES % RT_CHUNK == 0 && RT_SAMPLES_Q % RT_CHUNK_Q == 0,
	       "whole chunks of rounds");
#define RT_WARMUP      200u
#define RT_WARMUP_Q    50u

/* SET_IRQS repetitions per size: the small ones cost tens of us, 2048
 * eventfds some ms. */
static const unsigned int irq_reps[BENCH_VFU_IRQ_SIZES] = { 1000, 1000, 60 };
static const unsigned int irq_reps_q[BENCH_VFU_IRQ_SIZES] = { 100, 100, 6 };
/* Repetitions before the placement changes. */
static const unsigned int irq_chunk[BENCH_VFU_IRQ_SIZES] = { 100, 100, 10 };
static const unsigned int irq_chunk_q[BENCH_VFU_IRQ_SIZES] = { 50, 50, 3 };
#define IRQ_WARMUP     1u       /* per way, after each move */
#define PERFD_REPS     15u
#define PERFD_REPS_Q   5u

#define REGION         TESTDEV_MEM_BAR      /* plain memory: a memcpy */

/* Each of the 2048 vectors holds our eventfd, the in-process device's dup
 * of it and, while a SET_IRQS is in flight, its SCM_RIGHTS reference; the
 * child's device holds one more in its own table. */
#define FDS_NEEDED     (256u + 3u * IRQLINK_MSIX_MAX)

/* ---- small helpers ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v. */
static uint64_t rank(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n);

	return v[i ? i - 1 : 0];
}

/* Median, p99 and fastest of @n samples in ns. Sorts @v. */
static void stat_of(uint64_t *v, size_t n, struct bench_vfu_stat *s)
{
	s->n = n;
	if (!n) {
		s->p50_us = s->p99_us = s->min_us = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	s->p50_us = (double)rank(v, n, 0.50) / 1e3;
	s->p99_us = (double)rank(v, n, 0.99) / 1e3;
	s->min_us = (double)v[0] / 1e3;
}

/* ---- what one run holds ------------------------------------------------- */

/*
 * The order of the paths (and of the SET_IRQS ways) is shuffled afresh for
 * every round, not rotated: a rotation keeps each path's predecessor the
 * same, and on these machines what ran just before moves a round trip by
 * several microseconds (measured: with a fixed order, whichever raw
 * ping-pong followed the blocking one was about 13% faster, whatever its
 * wait style). xorshift64* from a fixed seed: the same orders every run.
 */
struct shuffle {
	uint64_t s;
};

static void shuffle(struct shuffle *z, unsigned int *v, unsigned int n)
{
	unsigned int i, j, t;

	for (i = n; i > 1; i--) {
		z->s ^= z->s >> 12;
		z->s ^= z->s << 25;
		z->s ^= z->s >> 27;
		j = (unsigned int)((z->s * 0x2545f4914f6cdd1dull) >> 32) % i;
		t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

struct rig {
	struct devproc dp;
	struct irqlink_vfu_client *cl;          /* 16 fds per message */
	struct irqlink_vfu_client *cl_wide;     /* 253 */
	struct sync_client sync;
	struct testdev *local;          /* the in-process device */
	struct shuffle order;
	int efd[IRQLINK_MSIX_MAX];      /* ours; every way sends these */
	unsigned int nefd;
};

static void rig_close(struct rig *g)
{
	unsigned int i;

	irqlink_vfu_client_destroy(g->cl);
	irqlink_vfu_client_destroy(g->cl_wide);
	g->cl = g->cl_wide = NULL;
	close_fd(&g->sync.sock);
	testdev_destroy(g->local);
	g->local = NULL;
	vfu_devproc_stop(&g->dp);
	for (i = 0; i < g->nefd; i++)
		close(g->efd[i]);
	g->nefd = 0;
}

static int rig_open(struct rig *g, char *why, size_t len)
{
	struct testdev_config tc = {
		.msix_vectors = IRQLINK_MSIX_MAX,
		.mem_bar = true,
	};
	struct irqlink_vfu_client_config cc = { 0 };
	int r;

	memset(g, 0, sizeof(*g));
	g->sync.sock = -1;
	g->order.s = 0x9e3779b97f4a7c15ull;
	r = vfu_devproc_start(&g->dp, why, len);
	if (r)
		return r;
	cc.path = g->dp.path[SRV_PIPELINED];
	r = irqlink_vfu_client_connect(&cc, &g->cl);
	if (!r) {
		cc.path = g->dp.path[SRV_WIDE];
		r = irqlink_vfu_client_connect(&cc, &g->cl_wide);
	}
	if (r) {
		bench_say(why, len, r, "irqlink's client cannot connect to the "
		    "device process: %s", strerror(-r));
		goto fail;
	}
	r = vfu_sync_connect(&g->sync, g->dp.path[SRV_SYNC], why, len);
	if (r)
		goto fail;
	r = testdev_create(&tc, &g->local);
	if (r) {
		bench_say(why, len, r, "the in-process test device: %s",
		    strerror(-r));
		goto fail;
	}
	/* Made after the fork, so the child holds none of them. */
	for (; g->nefd < IRQLINK_MSIX_MAX; g->nefd++) {
		g->efd[g->nefd] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->efd[g->nefd] < 0) {
			r = bench_say(why, len, -errno, "eventfd %u of %u: %s",
				g->nefd, IRQLINK_MSIX_MAX, strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	rig_close(g);
	return r;
}

/* ---- placement ---------------------------------------------------------- */

/* Every thread of process @pid onto @set (the device process's threads
 * are all made before the first measurement). 0 or -errno. */
static int pin_process(pid_t pid, const cpu_set_t *set)
{
	struct dirent *e;
	char path[40];
	DIR *d;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);

		if (*end || tid <= 0)
			continue;
		if (sched_setaffinity((pid_t)tid, sizeof(*set), set) && !r)
			r = -errno;
	}
	closedir(d);
	return r;
}

/* The two placements, and the mask the bench thread came with (the child
 * inherited it), to go back to. */
struct placement {
	cpu_set_t orig, bench, device[BENCH_VFU_LAYOUTS];
	bool ok[BENCH_VFU_LAYOUTS];
	int cpu_bench, cpu_device;
};

static void placement_init(struct placement *pl)
{
	int c;

	memset(pl, 0, sizeof(*pl));
	pl->cpu_bench = pl->cpu_device = -1;
	if (sched_getaffinity(0, sizeof(pl->orig), &pl->orig))
		return;
	pl->cpu_bench = sched_getcpu();
	if (pl->cpu_bench < 0 || !CPU_ISSET(pl->cpu_bench, &pl->orig))
		return;
	CPU_SET(pl->cpu_bench, &pl->bench);
	pl->device[BENCH_VFU_ONE_CPU] = pl->bench;
	pl->ok[BENCH_VFU_ONE_CPU] = true;
	/* The next CPU we may use after ours, wrapping around. */
	for (c = 1; c < CPU_SETSIZE; c++) {
		int cpu = (pl->cpu_bench + c) % CPU_SETSIZE;

		if (CPU_ISSET(cpu, &pl->orig)) {
			pl->cpu_device = cpu;
			CPU_SET(cpu, &pl->device[BENCH_VFU_TWO_CPUS]);
			pl->ok[BENCH_VFU_TWO_CPUS] = true;
			break;
		}
	}
}

/* Put the bench thread and the device process where layout @l says; a
 * refusal takes the layout out of the run. */
static bool place(struct rig *g, struct placement *pl, unsigned int l)
{
	if (!pl->ok[l])
		return false;
	if (sched_setaffinity(0, sizeof(pl->bench), &pl->bench) ||
	    pin_process(g->dp.pid, &pl->device[l]))
		pl->ok[l] = false;
	return pl->ok[l];
}

/* The bench thread back on the CPUs it came with. */
static void placement_fini(struct placement *pl)
{
	if (pl->cpu_bench >= 0)
		(void)sched_setaffinity(0, sizeof(pl->orig), &pl->orig);
}

/* ---- 1. round trips ----------------------------------------------------- */

struct rt_item {
	enum bench_vfu_op op;
	unsigned int bytes;
	size_t reqlen, replen;
	uint8_t req[MSG_CAP];   /* the raw paths' request */
};

static void rt_item_init(struct rt_item *it, enum bench_vfu_op op,
			 unsigned int bytes)
{
	struct wire_region ra = { .offset = 0, .region = REGION,
				  .count = bytes };
	struct wire_hdr h = { .cmd = op == BENCH_VFU_READ ? CMD_REGION_READ
							  : CMD_REGION_WRITE };

	it->op = op;
	it->bytes = bytes;
	it->reqlen = HDR_SIZE + sizeof(ra) +
		     (op == BENCH_VFU_WRITE ? bytes : 0);
	it->replen = HDR_SIZE + sizeof(ra) +
		     (op == BENCH_VFU_READ ? bytes : 0);
	h.size = (uint32_t)it->reqlen;
	memset(it->req, 0x5a, sizeof(it->req));
	memcpy(it->req, &h, sizeof(h));
	memcpy(it->req + HDR_SIZE, &ra, sizeof(ra));
}

static int rt_once(struct rig *g, const struct rt_item *it,
		   enum bench_vfu_path p, uint8_t *buf)
{
	const struct irqlink_pci_ops *ops = &irqlink_vfu_client_ops;
	enum wait_style ws;
	ssize_t n;
	int fd, r;

	if (p == BENCH_VFU_IRQLINK)
		return it->op == BENCH_VFU_READ
			? ops->region_read(g->cl, REGION, 0, buf, it->bytes)
			: ops->region_write(g->cl, REGION, 0, buf, it->bytes);
	fd = g->dp.raw[p - BENCH_VFU_RAW];
	ws = p == BENCH_VFU_RAW ? WAIT_BLOCK : WAIT_POLL_TIMED;
	r = vfu_send_all(fd, it->req, it->reqlen, ws);
	if (r)
		return r;
	n = vfu_recv_msg(fd, buf, MSG_CAP, ws);
	if (n < 0)
		return (int)n;
	return (size_t)n == it->replen ? 0 : -EPROTO;
}

static const char *const path_name[BENCH_VFU_PATHS] = {
	[BENCH_VFU_IRQLINK] = "irqlink",
	[BENCH_VFU_RAW] = "raw",
	[BENCH_VFU_RAW_POLL] = "raw, irqlink's wait style",
};

struct rt_run {
	unsigned int nitems, samples;
	struct rt_item *it;
	uint64_t *v;            /* [layout][item][path][sample], ns */
	uint8_t *buf;
};

static uint64_t *rt_slot(struct rt_run *x, unsigned int l, unsigned int i,
			 unsigned int p)
{
	return x->v + (((size_t)l * x->nitems + i) * BENCH_VFU_PATHS + p) *
		x->samples;
}

/* One round: every path of every item once, in a shuffled order (see
 * struct shuffle). Stores at sample @at of layout @l unless @at is
 * negative (warm-up). */
static int rt_round(struct rig *g, struct rt_run *x, unsigned int l, long at,
		    char *why, size_t len)
{
	unsigned int ord[BENCH_VFU_OPS * BENCH_VFU_RT_SIZES * BENCH_VFU_PATHS];
	unsigned int n = x->nitems * BENCH_VFU_PATHS, k;
	int r;

	for (k = 0; k < n; k++)
		ord[k] = k;
	shuffle(&g->order, ord, n);
	for (k = 0; k < n; k++) {
		unsigned int i = ord[k] / BENCH_VFU_PATHS;
		enum bench_vfu_path p = (enum bench_vfu_path)
			(ord[k] % BENCH_VFU_PATHS);
		uint64_t t0 = bench_now_ns(), t1;

		r = rt_once(g, &x->it[i], p, x->buf);
		t1 = bench_now_ns();
		if (r)
			return bench_say(why, len, r, "%s of %u bytes, %s: %s",
				   vfu_op_name[x->it[i].op], x->it[i].bytes,
				   path_name[p], strerror(-r));
		if (at >= 0)
			rt_slot(x, l, i, p)[at] = t1 - t0;
	}
	return 0;
}

static void rt_fold(struct rt_run *x, unsigned int l, unsigned int n,
		    struct bench_vfu_rt *out)
{
	unsigned int i, k;

	for (i = 0; i < x->nitems; i++) {
		struct bench_vfu_rt *y = &out[i];

		y->op = x->it[i].op;
		y->bytes = x->it[i].bytes;
		y->request_bytes = (unsigned int)x->it[i].reqlen;
		y->reply_bytes = (unsigned int)x->it[i].replen;
		for (k = 0; k < BENCH_VFU_PATHS; k++)
			stat_of(rt_slot(x, l, i, k), n, &y->path[k]);
		y->ratio_p50 = y->path[BENCH_VFU_IRQLINK].p50_us /
			       y->path[BENCH_VFU_RAW].p50_us;
		y->ratio_p99 = y->path[BENCH_VFU_IRQLINK].p99_us /
			       y->path[BENCH_VFU_RAW].p99_us;
		y->poll_ratio_p50 = y->path[BENCH_VFU_IRQLINK].p50_us /
				    y->path[BENCH_VFU_RAW_POLL].p50_us;
	}
}

/* The placements take turns in chunks of rounds; each chunk starts with a
 * few unkept rounds, after the threads have moved. */
static int measure_rt(struct rig *g, struct placement *pl, bool quick,
		      struct bench_vfu_result *res, char *why, size_t len)
{
	const unsigned int chunk = quick ? RT_CHUNK_Q : RT_CHUNK;
	struct rt_run x = { .nitems = BENCH_VFU_OPS * BENCH_VFU_RT_SIZES };
	unsigned int kept[BENCH_VFU_LAYOUTS] = { 0 };
	unsigned int c, l, i;
	int r = 0;

	x.samples = quick ? RT_SAMPLES_Q : RT_SAMPLES;
	x.it = calloc(x.nitems, sizeof(*x.it));
	x.v = calloc((size_t)BENCH_VFU_LAYOUTS * x.nitems * BENCH_VFU_PATHS *
		     x.samples, sizeof(*x.v));
	x.buf = malloc(MSG_CAP);
	if (!x.it || !x.v || !x.buf) {
		r = bench_say(why, len, -ENOMEM, "out of memory for the round trips' "
			"samples");
		goto out;
	}
	memset(x.buf, 0xa5, MSG_CAP);
	for (i = 0; i < x.nitems; i++)
		rt_item_init(&x.it[i],
			     (enum bench_vfu_op)(i / BENCH_VFU_RT_SIZES),
			     rt_bytes[i % BENCH_VFU_RT_SIZES]);
	for (c = 0; !r && c < x.samples / chunk * BENCH_VFU_LAYOUTS; c++) {
		l = c % BENCH_VFU_LAYOUTS;
		if (!place(g, pl, l))
			continue;
		/* The first chunk of each placement warms up for longer. */
		for (i = 0; i < (c < BENCH_VFU_LAYOUTS ?
				 (quick ? RT_WARMUP_Q : RT_WARMUP) :
				 RT_CHUNK_WARMUP) && !r; i++)
			r = rt_round(g, &x, l, -1, why, len);
		for (i = 0; i < chunk && !r; i++)
			r = rt_round(g, &x, l, (long)(kept[l] + i), why, len);
		kept[l] += chunk;
	}
	if (r)
		goto out;
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++)
		rt_fold(&x, l, pl->ok[l] ? kept[l] : 0, res->rt[l]);
	res->nrt = x.nitems;
out:
	free(x.it);
	free(x.v);
	free(x.buf);
	return r;
}

/* ---- 2. SET_IRQS -------------------------------------------------------- */

static uint64_t client_messages(struct irqlink_vfu_client *cl)
{
	struct irqlink_vfu_client_stats st;

	return irqlink_vfu_client_get_stats(cl, &st) ? 0 : st.set_irqs_messages;
}

/* One SET_IRQS @set (with @fds for DATA_EVENTFD) the way @w makes it.
 * *@msgs: the messages it took. */
static int set_irqs_way(struct rig *g, enum bench_vfu_way w,
			const struct vfio_irq_set *set, const int *fds,
			uint64_t *msgs)
{
	size_t nfds = fds ? set->count : 0;
	struct irqlink_vfu_client *cl;
	uint64_t m0;
	int r;

	switch (w) {
	case BENCH_VFU_INPROC:
		*msgs = 0;
		r = irqlink_dev_set_irqs_fds(testdev_irq(g->local), set, fds,
					     nfds);
		/* "Fewer vectors than asked" is a failure here. */
		return r > 0 ? -ENOSPC : r;
	case BENCH_VFU_PIPELINED:
	case BENCH_VFU_WIDE:
		cl = w == BENCH_VFU_WIDE ? g->cl_wide : g->cl;
		m0 = client_messages(cl);
		r = irqlink_vfu_client_ops.set_irqs(cl, set, fds, nfds);
		*msgs = client_messages(cl) - m0;
		return r;
	case BENCH_VFU_SYNC:
		m0 = g->sync.messages;
		if (fds) {
			r = vfu_sync_set_irqs(&g->sync, set, fds);
		} else {
			struct vfio_irq_set s = *set;

			s.argsz = sizeof(s);
			r = vfu_wire_call(&g->sync, CMD_SET_IRQS, &s,
					  sizeof(s), NULL, 0);
			g->sync.messages++;
		}
		*msgs = g->sync.messages - m0;
		return r;
	default:
		return -EINVAL;
	}
}

static const struct vfio_irq_set msix_off = {
	.argsz = sizeof(struct vfio_irq_set),
	.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	.index = VFIO_PCI_MSIX_IRQ_INDEX,
};

/* (Filled in place: a struct with a flexible array is no value to pass.) */
static void msix_assign(struct vfio_irq_set *s, unsigned int n)
{
	*s = msix_off;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->count = n;
}

/* Untimed: after way @w assigned @n eventfds, a loopback SET_IRQS of the
 * last vector must signal our eventfd for it, whichever process holds the
 * device. */
static int check_delivery(struct rig *g, enum bench_vfu_way w, unsigned int n,
			  char *why, size_t len)
{
	struct vfio_irq_set fire = msix_off;
	uint64_t cnt, msgs;
	int r;

	fire.start = n - 1;
	fire.count = 1;
	(void)!read(g->efd[n - 1], &cnt, sizeof(cnt));
	r = set_irqs_way(g, w, &fire, NULL, &msgs);
	if (r)
		return bench_say(why, len, r, "%s: firing vector %u of %u: %s",
			   vfu_way_name[w], n - 1, n, strerror(-r));
	if (read(g->efd[n - 1], &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return bench_say(why, len, -EIO, "%s: vector %u of %u fired but its "
			   "eventfd was not signalled: the eventfds did not "
			   "reach the device", vfu_way_name[w], n - 1, n);
	return 0;
}

struct irq_samples {
	uint64_t *assign, *deassign;    /* [layout][rep], ns */
	uint64_t msgs;
};

static int assign_once(struct rig *g, enum bench_vfu_way w, unsigned int n,
		       uint64_t *t_assign, uint64_t *t_deassign, uint64_t *msgs,
		       char *why, size_t len)
{
	struct vfio_irq_set set;
	uint64_t t0, t1, t2, m;
	int r;

	msix_assign(&set, n);
	t0 = bench_now_ns();
	r = set_irqs_way(g, w, &set, g->efd, msgs);
	t1 = bench_now_ns();
	if (r)
		return bench_say(why, len, r, "%s: SET_IRQS of %u eventfds: %s",
			   vfu_way_name[w], n, strerror(-r));
	r = set_irqs_way(g, w, &msix_off, NULL, &m);
	t2 = bench_now_ns();
	if (r)
		return bench_say(why, len, r, "%s: de-assigning %u eventfds: %s",
			   vfu_way_name[w], n, strerror(-r));
	if (t_assign)
		*t_assign = t1 - t0;
	if (t_deassign)
		*t_deassign = t2 - t1;
	return 0;
}

/* Untimed, once per N: every way's eventfds must reach the device. */
static int irqs_check(struct rig *g, unsigned int n, char *why, size_t len)
{
	struct vfio_irq_set set;
	unsigned int w;
	uint64_t msgs;
	int r = 0;

	msix_assign(&set, n);
	for (w = 0; w < BENCH_VFU_WAYS && !r; w++) {
		r = set_irqs_way(g, (enum bench_vfu_way)w, &set, g->efd, &msgs);
		if (r)
			return bench_say(why, len, r, "%s: SET_IRQS of %u eventfds: "
				   "%s", vfu_way_name[w], n, strerror(-r));
		r = check_delivery(g, (enum bench_vfu_way)w, n, why, len);
		if (!r)
			r = set_irqs_way(g, (enum bench_vfu_way)w, &msix_off,
					 NULL, &msgs);
		if (r)
			bench_say(why, len, r, "%s: de-assigning %u eventfds: %s",
			    vfu_way_name[w], n, strerror(-r));
	}
	return r;
}

static void irqs_fold(struct irq_samples *s, unsigned int l, unsigned int n,
		      unsigned int kept, unsigned int reps,
		      struct bench_vfu_irqs *out)
{
	struct bench_vfu_way_result *in = &out->way[BENCH_VFU_INPROC];
	struct bench_vfu_way_result *pi = &out->way[BENCH_VFU_PIPELINED];
	struct bench_vfu_way_result *sy = &out->way[BENCH_VFU_SYNC];
	struct bench_vfu_way_result *wi = &out->way[BENCH_VFU_WIDE];
	unsigned int w;

	out->fds = n;
	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		stat_of(s[w].assign + (size_t)l * reps, kept,
			&out->way[w].assign);
		stat_of(s[w].deassign + (size_t)l * reps, kept,
			&out->way[w].deassign);
		out->way[w].messages = (unsigned int)s[w].msgs;
	}
	out->socket_overhead_pct = (pi->assign.p50_us / in->assign.p50_us - 1) *
				   100;
	out->wide_overhead_pct = (wi->assign.p50_us / in->assign.p50_us - 1) *
				 100;
	out->sync_over_pipelined = sy->assign.p50_us / pi->assign.p50_us;
}

/* @reps per placement, the placements taking turns every @chunk, the
 * ways in a shuffled order within each repetition. */
static int measure_irqs_size(struct rig *g, struct placement *pl,
			     unsigned int n, unsigned int reps,
			     unsigned int chunk, struct bench_vfu_result *res,
			     unsigned int idx, char *why, size_t len)
{
	struct irq_samples s[BENCH_VFU_WAYS] = { { 0 } };
	unsigned int kept[BENCH_VFU_LAYOUTS] = { 0 };
	unsigned int ord[BENCH_VFU_WAYS];
	unsigned int c, l, i, k, w;
	uint64_t msgs;
	int r = 0;

	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		s[w].assign = calloc((size_t)BENCH_VFU_LAYOUTS * reps,
				     sizeof(uint64_t));
		s[w].deassign = calloc((size_t)BENCH_VFU_LAYOUTS * reps,
				       sizeof(uint64_t));
		if (!s[w].assign || !s[w].deassign) {
			r = bench_say(why, len, -ENOMEM, "out of memory");
			goto out;
		}
	}
	r = irqs_check(g, n, why, len);
	for (c = 0; !r && c < reps / chunk * BENCH_VFU_LAYOUTS; c++) {
		l = c % BENCH_VFU_LAYOUTS;
		if (!place(g, pl, l))
			continue;
		for (w = 0; w < BENCH_VFU_WAYS && !r; w++)
			for (k = 0; k < IRQ_WARMUP && !r; k++)
				r = assign_once(g, (enum bench_vfu_way)w, n,
						NULL, NULL, &msgs, why, len);
		for (i = 0; i < chunk && !r; i++) {
			size_t at = (size_t)l * reps + kept[l] + i;

			for (k = 0; k < BENCH_VFU_WAYS; k++)
				ord[k] = k;
			shuffle(&g->order, ord, BENCH_VFU_WAYS);
			for (k = 0; k < BENCH_VFU_WAYS && !r; k++) {
				w = ord[k];
				r = assign_once(g, (enum bench_vfu_way)w, n,
						&s[w].assign[at],
						&s[w].deassign[at], &msgs,
						why, len);
				/* A count, not noise: the largest. */
				if (msgs > s[w].msgs)
					s[w].msgs = msgs;
			}
		}
		kept[l] += chunk;
	}
	if (r)
		goto out;
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++)
		irqs_fold(s, l, n, pl->ok[l] ? kept[l] : 0, reps,
			  &res->irqs[l][idx]);
out:
	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		free(s[w].assign);
		free(s[w].deassign);
	}
	return r;
}

/* ---- 3. per-eventfd costs ----------------------------------------------- */

/* The device model's own work per eventfd (src/eventfd.c does it through
 * the library's internal helpers; these are the same system calls). */
static int check_dup(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[40], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n != (ssize_t)sizeof(want) - 1 || memcmp(link, want, (size_t)n))
		return -EINVAL;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return n < 0 ? -errno : (int)n;
}

/* Pass @n eventfds through a socket pair, @per per message, receive and
 * close them. */
static int scm_pass(const int sv[2], const int *fds, unsigned int n,
		    unsigned int per)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(WIDE_FDS * sizeof(int))];
	} ctl;
	unsigned int i, k;
	size_t j, got;
	char b = 0;

	for (i = 0; i < n; i += k) {
		struct iovec iov = { .iov_base = &b, .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf };
		struct cmsghdr *c;

		k = n - i < per ? n - i : per;
		memset(&ctl, 0, sizeof(ctl));
		m.msg_controllen = CMSG_SPACE(k * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(c), fds + i, k * sizeof(int));
		if (sendmsg(sv[0], &m, MSG_NOSIGNAL) != 1)
			return -errno;
		m.msg_controllen = sizeof(ctl.buf);
		if (recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC) != 1)
			return -errno;
		c = CMSG_FIRSTHDR(&m);
		if (!c || c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_RIGHTS)
			return -EPROTO;
		/* Whatever came is ours to close, even a short count. */
		got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (j = 0; j < got; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(fd));
			close(fd);
		}
		if (got != k)
			return -EPROTO;
	}
	return 0;
}

static int measure_perfd(struct rig *g, unsigned int reps,
			 struct bench_vfu_perfd *pf, char *why, size_t len)
{
	const unsigned int n = g->nefd;
	double tok[PERFD_REPS], chk[PERFD_REPS], scm[PERFD_REPS];
	double wide[PERFD_REPS];
	int *dups = calloc(n, sizeof(int));
	int sv[2] = { -1, -1 };
	unsigned int k, i;
	uint64_t token, t0;
	int r = 0;

	if (!dups)
		return bench_say(why, len, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		free(dups);
		return bench_say(why, len, -errno, "socketpair: %s", strerror(errno));
	}
	for (k = 0; k < reps && !r; k++) {
		t0 = bench_now_ns();
		for (i = 0; i < n && !r; i++)
			r = irqlink_bypass_token_from_fd(g->efd[i], &token);
		tok[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		if (r) {
			bench_say(why, len, r, "eventfd identities are not readable "
			    "from /proc: %s", strerror(-r));
			break;
		}

		t0 = bench_now_ns();
		for (i = 0; i < n; i++)
			dups[i] = check_dup(g->efd[i]);
		for (i = 0; i < n; i++)
			if (dups[i] >= 0)
				close(dups[i]);
			else if (!r)
				r = dups[i];
		chk[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		if (r) {
			bench_say(why, len, r, "checking and duplicating an eventfd: "
			    "%s", strerror(-r));
			break;
		}

		t0 = bench_now_ns();
		r = scm_pass(sv, g->efd, n, SYNC_MAX_FDS);
		scm[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		t0 = bench_now_ns();
		if (!r)
			r = scm_pass(sv, g->efd, n, WIDE_FDS);
		wide[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		if (r)
			bench_say(why, len, r, "passing eventfds over a socket: %s",
			    strerror(-r));
	}
	close(sv[0]);
	close(sv[1]);
	free(dups);
	if (r)
		return r;
	pf->token_us = bench_median(tok, reps);
	pf->check_dup_us = bench_median(chk, reps);
	pf->scm_us = bench_median(scm, reps);
	pf->scm_wide_us = bench_median(wide, reps);
	return 0;
}

/* ---- the run ------------------------------------------------------------ */

int bench_vfu_run(const struct bench_vfu_cfg *cfg,
		  struct bench_vfu_result **out, char *why, size_t whylen)
{
	const unsigned int *reps, *chunk;
	struct bench_vfu_result *res;
	struct bench_vfu_irqs *big;
	struct placement pl;
	struct rlimit old;
	bool raised = false;
	struct rig *g;
	unsigned int i, l;
	int r;

	if (why && whylen)
		why[0] = '\0';
	if (!out)
		return bench_say(why, whylen, -EINVAL, "no place for the results");
	*out = NULL;
	if (!cfg)
		return bench_say(why, whylen, -EINVAL, "no configuration");
	res = calloc(1, sizeof(*res));
	g = calloc(1, sizeof(*g));
	if (!res || !g) {
		free(res);
		free(g);
		return bench_say(why, whylen, -ENOMEM, "out of memory");
	}
	res->quick = cfg->quick;
	reps = cfg->quick ? irq_reps_q : irq_reps;
	chunk = cfg->quick ? irq_chunk_q : irq_chunk;
	placement_init(&pl);

	/* Raised for the run and put back after it (the child has gone by
	 * then, and every fd we opened is closed). */
	r = bench_nofile_room(FDS_NEEDED, "2048 MSI-X eventfds", &old, why,
			      whylen);
	raised = r == 0;
	if (!r)
		r = rig_open(g, why, whylen);
	if (r)
		goto out;
	res->max_msg_fds = g->sync.granted;
	r = measure_rt(g, &pl, cfg->quick, res, why, whylen);
	for (i = 0; !r && i < BENCH_VFU_IRQ_SIZES; i++)
		r = measure_irqs_size(g, &pl, irq_fds[i], reps[i], chunk[i],
				      res, i, why, whylen);
	if (!r) {
		res->nirqs = BENCH_VFU_IRQ_SIZES;
		r = measure_perfd(g, cfg->quick ? PERFD_REPS_Q : PERFD_REPS,
				  &res->perfd, why, whylen);
	}
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++)
		res->layout_ok[l] = pl.ok[l];
	res->cpu_bench = pl.cpu_bench;
	res->cpu_device = pl.ok[BENCH_VFU_TWO_CPUS] ? pl.cpu_device : -1;
	if (!r) {
		big = &res->irqs[BENCH_VFU_ONE_CPU][res->nirqs - 1];
		res->perfd.inproc_us =
			big->way[BENCH_VFU_INPROC].assign.p50_us / big->fds;
		res->perfd.socket_extra_us =
			(big->way[BENCH_VFU_PIPELINED].assign.p50_us -
			 big->way[BENCH_VFU_INPROC].assign.p50_us) / big->fds;
	}
	rig_close(g);
out:
	placement_fini(&pl);
	if (raised)
		(void)setrlimit(RLIMIT_NOFILE, &old);
	free(g);
	if (r) {
		free(res);
		return r;
	}
	*out = res;
	return 0;
}

void bench_vfu_free(struct bench_vfu_result *r)
{
	free(r);
}
