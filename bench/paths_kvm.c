/* SPDX-License-Identifier: MIT */
/*
 * The baselines: interrupt paths made of raw KVM ioctls, with no irqlink
 * code, and a naive user-space relay written here, beside which irqlink's
 * relay is judged.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int raw_irqfd(struct run *r, int fd, uint32_t gsi, uint32_t flags,
		     int rfd)
{
	struct kvm_irqfd req;

	memset(&req, 0, sizeof(req));
	req.fd = (uint32_t)fd;
	req.gsi = gsi;
	req.flags = flags;
	req.resamplefd = (uint32_t)rfd;
	if (ioctl(r->vm_fd, KVM_IRQFD, &req))
		return bench_why(r, -errno, "KVM_IRQFD: %s", strerror(errno));
	return 0;
}

/* KVM_IRQFD, edge, on IOAPIC pin 16. */
static int setup_irqfd_ioapic(struct run *r)
{
	int err;

	if ((err = bench_raw_vm(r)) ||
	    (err = bench_program_pin(r, 16, 0x40, KG_EDGE)))
		return err;
	if ((r->efd = bench_eventfd()) < 0)
		return bench_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	return raw_irqfd(r, r->efd, 16, 0, 0);
}

/* KVM_IRQ_LINE assert then deassert on IOAPIC pin 18 (edge). */
static int setup_irq_line(struct run *r)
{
	int err;

	if ((err = bench_raw_vm(r)) ||
	    (err = bench_program_pin(r, 18, 0x41, KG_EDGE)))
		return err;
	return 0;
}

static int sample_irq_line(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct kvm_irq_level up = { .irq = r->pin, .level = 1 };
	struct kvm_irq_level down = { .irq = r->pin, .level = 0 };
	uint64_t t0;
	int err;

	(void)isr;
	r->expected++;
	t0 = bench_tsc();
	if (ioctl(r->vm_fd, KVM_IRQ_LINE, &up) ||
	    ioctl(r->vm_fd, KVM_IRQ_LINE, &down))
		return bench_why(r, -errno, "KVM_IRQ_LINE: %s",
				 strerror(errno));
	if ((err = bench_wait_isr(r)))
		return err;
	return bench_isr_latency(r, t0, lat);
}

/* MSI route on GSI 24 + KVM_IRQFD. */
int bench_kvm_setup_msi_irqfd(struct run *r)
{
	struct kvm_irq_routing *t;
	int err;

	if ((err = bench_raw_vm(r)))
		return err;
	r->vector = 0x42;
	if (!(t = bench_pin_routes(1)))
		return bench_why(r, -ENOMEM, "out of memory");
	bench_msi_route(t, 24, r->vector);
	err = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) ? -errno : 0;
	free(t);
	if (err)
		return bench_why(r, err, "KVM_SET_GSI_ROUTING: %s",
				 strerror(-err));
	if ((r->efd = bench_eventfd()) < 0)
		return bench_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	return raw_irqfd(r, r->efd, 24, 0, 0);
}

int bench_kvm_setup_signal_msi(struct run *r)
{
	int err;

	if ((err = bench_raw_vm(r)))
		return err;
	r->vector = 0x43;
	return 0;
}

/* Level irqfd with resamplefd on IOAPIC pin 17; the sample ends when the
 * EOI's resample reaches the host (the full INTx cycle). */
int bench_kvm_setup_level_resample(struct run *r)
{
	int err;

	if ((err = bench_raw_vm(r)) ||
	    (err = bench_program_pin(r, 17, 0x44, KG_LEVEL)))
		return err;
	if ((r->efd = bench_eventfd()) < 0)
		return bench_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	if ((r->rfd = bench_eventfd()) < 0)
		return bench_why(r, r->rfd, "eventfd: %s", strerror(-r->rfd));
	return raw_irqfd(r, r->efd, 17, KVM_IRQFD_FLAG_RESAMPLE, r->rfd);
}

static int resamplefd_read(struct run *r)
{
	uint64_t v;

	if (read(r->rfd, &v, sizeof(v)) == sizeof(v))
		return 1;
	if (errno == EAGAIN)
		return 0;
	return bench_why(r, -errno, "read resamplefd: %s", strerror(errno));
}

int bench_kvm_sample_level_resample(struct run *r, uint64_t *lat,
				    uint64_t *isr)
{
	return bench_sample_efd_cycle(r, resamplefd_read, lat, isr);
}

/* ---- The naive relay ------------------------------------------------------ */

/*
 * What a VMM writes first when it must relay an eventfd itself: one thread,
 * epoll_wait on the source, read it, KVM_SIGNAL_MSI. No batching, no busy
 * polling, nothing clever. Pinned where irqlink's relay is pinned (the
 * trigger CPU), so the two differ only in the relay's own code.
 */
struct bench_naive_relay {
	pthread_t t;
	int ep, src, stop, vm_fd;
	struct kvm_msi msi;
	uint64_t errors;   /* atomic */
	/* TSC when epoll_wait returned and when the read did, for the last
	 * interrupt: published by `seq` (release), read after the ISR. */
	uint64_t t_wake, t_read, seq;
};

static void *naive_loop(void *arg)
{
	struct bench_naive_relay *n = arg;
	struct epoll_event ev;
	uint64_t v;

	for (;;) {
		uint64_t t_wake, t_read;

		if (epoll_wait(n->ep, &ev, 1, -1) != 1)
			continue;
		t_wake = bench_tsc();
		if (ev.data.fd == n->stop)
			return NULL;
		if (read(n->src, &v, sizeof(v)) != sizeof(v))
			continue;
		t_read = bench_tsc();
		__atomic_store_n(&n->t_wake, t_wake, __ATOMIC_RELAXED);
		__atomic_store_n(&n->t_read, t_read, __ATOMIC_RELAXED);
		__atomic_fetch_add(&n->seq, 1, __ATOMIC_RELEASE);
		if (ioctl(n->vm_fd, KVM_SIGNAL_MSI, &n->msi) != 1)
			__atomic_fetch_add(&n->errors, 1, __ATOMIC_RELAXED);
	}
}

void bench_naive_relay_destroy(struct bench_naive_relay *n)
{
	if (!n)
		return;
	bench_signal(n->stop);
	pthread_join(n->t, NULL);
	close(n->ep);
	close(n->stop);
	free(n);
}

static int naive_add(struct bench_naive_relay *n, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(n->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int setup_naive_relay(struct run *r)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 1 };
	struct bench_naive_relay *n;
	cpu_set_t cpus;
	int32_t fd32;
	int err;

	if ((err = bench_raw_vm(r)))
		return err;
	r->vector = 0x49;
	/* The device model is the source, as on irqlink's relay row. */
	if ((err = irqlink_dev_create(&shape, &r->dev)))
		return bench_why(r, err, "irqlink_dev_create: %s",
				 strerror(-err));
	if ((r->efd = bench_eventfd()) < 0)
		return bench_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 1,
	};
	fd32 = r->efd;
	if ((err = irqlink_dev_set_irqs_fds(r->dev, &set, &fd32, 1)))
		return bench_why(r, err < 0 ? err : -EIO,
				 "irqlink_dev_set_irqs_fds: %d", err);
	if (!(n = calloc(1, sizeof(*n))))
		return bench_why(r, -ENOMEM, "out of memory");
	n->src = r->efd;
	n->vm_fd = r->vm_fd;
	n->msi = bench_msi_to(r->vector);
	n->ep = epoll_create1(EPOLL_CLOEXEC);
	n->stop = bench_eventfd();
	if (n->ep < 0 || n->stop < 0 || naive_add(n, n->src) ||
	    naive_add(n, n->stop)) {
		err = -errno;
		if (n->ep >= 0)
			close(n->ep);
		if (n->stop >= 0)
			close(n->stop);
		free(n);
		return bench_why(r, err, "naive relay: %s", strerror(-err));
	}
	if ((err = -pthread_create(&n->t, NULL, naive_loop, n))) {
		close(n->ep);
		close(n->stop);
		free(n);
		return bench_why(r, err, "pthread_create: %s", strerror(-err));
	}
	r->naive = n;
	/* Where irqlink's relay is pinned. */
	CPU_ZERO(&cpus);
	CPU_SET(r->cfg->cpu_relay, &cpus);
	if ((err = -pthread_setaffinity_np(n->t, sizeof(cpus), &cpus)))
		return bench_why(r, err, "pin the naive relay: %s",
				 strerror(-err));
	return 0;
}

/* As bench_sample_dev_msi(), with where the time went: the trigger's
 * own call, the relay's wake-up, its read, and from the read to the
 * guest's ISR entry (the injection ioctl and the vCPU's entry). */
static int sample_naive_relay(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct bench_naive_relay *n = r->naive;
	uint64_t t0, t_fired, t_wake, t_read;
	uint64_t seq = __atomic_load_n(&n->seq, __ATOMIC_ACQUIRE);
	int k, err;

	(void)isr;
	r->expected++;
	t0 = bench_tsc();
	k = irqlink_dev_msi_fire(r->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0);
	t_fired = bench_tsc();
	if (k != 1)
		return bench_why(r, k < 0 ? k : -EIO,
				 "irqlink_dev_msi_fire returned %d", k);
	if ((err = bench_wait_isr(r)) || (err = bench_isr_latency(r, t0, lat)))
		return err;
	if (__atomic_load_n(&n->errors, __ATOMIC_RELAXED))
		return bench_why(r, -EIO, "naive relay: KVM_SIGNAL_MSI failed");
	/* The ISR ran, so the relay published this interrupt's stamps. */
	if (__atomic_load_n(&n->seq, __ATOMIC_ACQUIRE) != seq + 1)
		return bench_why(r, -EPROTO, "naive relay: one read per "
				 "interrupt expected");
	t_wake = __atomic_load_n(&n->t_wake, __ATOMIC_RELAXED);
	t_read = __atomic_load_n(&n->t_read, __ATOMIC_RELAXED);
	r->part[0] = t_fired - t0;
	r->part[1] = t_wake - t0;
	r->part[2] = t_read - t_wake;
	r->part[3] = t0 + *lat - t_read;
	return 0;
}

const struct bench_path bench_paths_kvm[] = {
	{ "kvm-irqfd-ioapic", NULL,
	  "KVM_IRQFD, edge, IOAPIC pin -> ISR entry",
	  setup_irqfd_ioapic, bench_sample_efd_isr, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-irq-line", NULL,
	  "KVM_IRQ_LINE assert+deassert -> ISR entry",
	  setup_irq_line, sample_irq_line, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-msi-irqfd", NULL,
	  "MSI route + KVM_IRQFD -> ISR entry",
	  bench_kvm_setup_msi_irqfd, bench_sample_efd_isr, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-signal-msi", NULL,
	  "KVM_SIGNAL_MSI -> ISR entry",
	  bench_kvm_setup_signal_msi, bench_sample_signal_msi, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-level-resample", NULL,
	  "level irqfd -> ISR -> EOI -> resamplefd read (full INTx cycle)",
	  bench_kvm_setup_level_resample, bench_kvm_sample_level_resample, true,
	  BENCH_WAIT_SPIN, NULL, NULL, { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-msi-irqfd/yield", NULL,
	  "kvm-msi-irqfd, the trigger thread yielding while it waits",
	  bench_kvm_setup_msi_irqfd, bench_sample_efd_isr, false,
	  BENCH_WAIT_YIELD, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-signal-msi/yield", NULL,
	  "kvm-signal-msi, the trigger thread yielding while it waits",
	  bench_kvm_setup_signal_msi, bench_sample_signal_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "naive-relay/yield", "kvm-signal-msi/yield",
	  "device eventfd -> the bench's own epoll thread: read, "
	  "KVM_SIGNAL_MSI -> ISR",
	  setup_naive_relay, sample_naive_relay, false, BENCH_WAIT_YIELD,
	  NULL, NULL,
	  { "fire", "wake-up", "read", "ioctl to ISR" }, BENCH_PLOT_BY_WAIT },
};
const size_t bench_paths_kvm_n =
	sizeof(bench_paths_kvm) / sizeof(bench_paths_kvm[0]);
