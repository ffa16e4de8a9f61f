/* SPDX-License-Identifier: MIT */
/*
 * Many vectors, many devices: does the path stay as cheap when a device has
 * 64, 512 or 2048 vectors on the bypass path, or when 2, 4 or 8 devices
 * fire at once?
 *
 * Each device is a model with N MSI-X vectors attached to the bypass
 * manager; every vector has a consumer, all created in one routes batch
 * (one KVM_SET_GSI_ROUTING) and then refreshed onto the in-kernel path.
 * A sample fires vector k (round robin over all N, so every route and
 * irqfd is used) on every device at once and ends when the guest has
 * entered the ISR of the last of them. The guest counts per IDT vector (224
 * usable), so device d's vector k arrives on IDT vector 0x40 + 16 d +
 * k % 16: one interrupt in flight per device, each on a vector of its own.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define MANY_VEC_BASE 0x40u
#define MANY_VEC_SPAN 16u
#define MANY_MAX_DEVS 8u

struct bench_many {
	unsigned int ndev, nvec, next;
	struct irqlink_dev *dev[MANY_MAX_DEVS];
	int *efd;                      /* ndev * nvec, device-major */
	struct irqlink_consumer **cons;
};

static unsigned int idt_vector(unsigned int d, unsigned int k)
{
	return MANY_VEC_BASE + d * MANY_VEC_SPAN + k % MANY_VEC_SPAN;
}

void bench_many_destroy(struct bench_many *m)
{
	size_t n;

	if (!m)
		return;
	n = (size_t)m->ndev * m->nvec;
	for (size_t i = 0; m->cons && i < n; i++)
		irqlink_consumer_destroy(m->cons[i]);
	for (unsigned int d = 0; d < m->ndev; d++)
		irqlink_dev_destroy(m->dev[d]);
	for (size_t i = 0; m->efd && i < n; i++)
		if (m->efd[i] >= 0)
			close(m->efd[i]);
	free(m->efd);
	free(m->cons);
	free(m);
}

static int many_devices(struct run *r, struct bench_many *m)
{
	struct irqlink_dev_shape shape = { .msix_vectors = m->nvec };
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = m->nvec,
	};
	int err;

	for (unsigned int d = 0; d < m->ndev; d++) {
		int *efd = &m->efd[(size_t)d * m->nvec];

		if ((err = irqlink_dev_create(&shape, &m->dev[d])) ||
		    (err = irqlink_dev_attach_bypass(m->dev[d], r->bypass)))
			return bench_why(r, err, "device %u: %s", d,
					 strerror(-err));
		for (unsigned int k = 0; k < m->nvec; k++)
			if ((efd[k] = bench_eventfd()) < 0)
				return bench_why(r, efd[k], "eventfd: %s",
						 strerror(-efd[k]));
		err = irqlink_dev_set_irqs_fds(m->dev[d], &set, efd, m->nvec);
		if (err)
			return bench_why(r, err < 0 ? err : -EIO,
					 "irqlink_dev_set_irqs_fds: %d", err);
	}
	return 0;
}

/* Every consumer in one routes batch, then onto the in-kernel path. */
static int many_consumers(struct run *r, struct bench_many *m)
{
	size_t n = (size_t)m->ndev * m->nvec;
	int err;

	if ((err = irqlink_routes_begin(r->vm)))
		return bench_why(r, err, "irqlink_routes_begin: %s",
				 strerror(-err));
	for (size_t i = 0; i < n; i++) {
		struct irqlink_consumer_config cc = {
			.kind = IRQLINK_CONSUMER_MSI,
			.trigger_fd = m->efd[i],
			.msi = bench_msi_to(idt_vector(
				(unsigned int)(i / m->nvec),
				(unsigned int)(i % m->nvec))),
		};

		err = irqlink_consumer_create(r->vm, r->relay, r->bypass, &cc,
					      &m->cons[i]);
		if (err) {
			irqlink_routes_abort(r->vm);
			return bench_why(r, err, "consumer %zu: %s", i,
					 strerror(-err));
		}
	}
	if ((err = irqlink_routes_commit(r->vm)))
		return bench_why(r, err, "irqlink_routes_commit: %s",
				 strerror(-err));
	for (size_t i = 0; i < n; i++) {
		if ((err = irqlink_consumer_refresh(m->cons[i])))
			return bench_why(r, err, "irqlink_consumer_refresh: %s",
					 strerror(-err));
		if (irqlink_consumer_path(m->cons[i]) != IRQLINK_PATH_BYPASS)
			return bench_why(r, -EPROTO, "vector %zu is not on the "
					 "in-kernel path", i);
	}
	return 0;
}

static int setup_many(struct run *r, unsigned int ndev, unsigned int nvec)
{
	size_t n = (size_t)ndev * nvec;
	struct bench_many *m;
	int err;

	if ((err = bench_nofile_room(512 + (rlim_t)n * 8, "the vectors",
				     NULL, r->res->why, sizeof(r->res->why))) ||
	    (err = bench_lib_vm(r)))
		return err;
	if ((err = irqlink_relay_create(r->vm, NULL, &r->relay)) ||
	    (err = irqlink_bypass_create(&r->bypass)))
		return bench_why(r, err, "relay/bypass: %s", strerror(-err));
	if (!(m = calloc(1, sizeof(*m))))
		return bench_why(r, -ENOMEM, "out of memory");
	r->many = m;
	m->ndev = ndev;
	m->nvec = nvec;
	m->efd = malloc(n * sizeof(*m->efd));
	m->cons = calloc(n, sizeof(*m->cons));
	if (!m->efd || !m->cons)
		return bench_why(r, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		m->efd[i] = -1;
	if ((err = many_devices(r, m)))
		return err;
	return many_consumers(r, m);
}

static int setup_64(struct run *r)
{
	return setup_many(r, 1, 64);
}

static int setup_512(struct run *r)
{
	return setup_many(r, 1, 512);
}

static int setup_2048(struct run *r)
{
	return setup_many(r, 1, 2048);
}

static int setup_2x64(struct run *r)
{
	return setup_many(r, 2, 64);
}

static int setup_4x64(struct run *r)
{
	return setup_many(r, 4, 64);
}

static int setup_8x64(struct run *r)
{
	return setup_many(r, 8, 64);
}

/* Wait for vector k of every device (want[d] = its count to reach);
 * *lat = the last ISR entry after t0. */
static int wait_all(struct run *r, unsigned int k, const uint64_t *want,
		    uint64_t t0, uint64_t *lat)
{
	uint64_t last = 0;
	int err;

	for (unsigned int d = 0; d < r->many->ndev; d++) {
		uint64_t t;

		r->vector = idt_vector(d, k);
		r->expected = want[d];
		if ((err = bench_wait_isr(r)) ||
		    (err = bench_isr_latency(r, t0, &t)))
			return err;
		if (t > last)
			last = t;
	}
	*lat = last;
	return 0;
}

/* Fire vector k on every device; the sample ends at the last ISR entry. */
static int sample_many(struct run *r, uint64_t *lat, uint64_t *isr)
{
	volatile struct kg_shared *sh = kg_shared(r->g);
	struct bench_many *m = r->many;
	unsigned int k = m->next++ % m->nvec;
	uint64_t want[MANY_MAX_DEVS], t0;
	int n;

	(void)isr;
	for (unsigned int d = 0; d < m->ndev; d++)
		want[d] = sh->count[idt_vector(d, k)] + 1;
	t0 = bench_tsc();
	for (unsigned int d = 0; d < m->ndev; d++) {
		n = irqlink_dev_msi_fire(m->dev[d], VFIO_PCI_MSIX_IRQ_INDEX, k);
		if (n != 1)
			return bench_why(r, n < 0 ? n : -EIO, "device %u vector "
					 "%u: irqlink_dev_msi_fire returned %d",
					 d, k, n);
	}
	return wait_all(r, k, want, t0, lat);
}

/*
 * The raw baseline of @n devices at once: n MSI routes (GSI 24 on) and n
 * KVM irqfds made with ioctls, the n eventfds written back to back. The
 * guest's ISRs run one after another in KVM's emulator, so the last one's
 * entry is late on both rows alike.
 */
static int setup_kvm_n(struct run *r, unsigned int n)
{
	struct kvm_irq_routing *t;
	struct bench_many *m;
	int err;

	if ((err = bench_raw_vm(r)))
		return err;
	if (!(m = calloc(1, sizeof(*m))))
		return bench_why(r, -ENOMEM, "out of memory");
	r->many = m;
	m->ndev = n;
	m->nvec = 1;
	if (!(m->efd = malloc(n * sizeof(*m->efd))))
		return bench_why(r, -ENOMEM, "out of memory");
	for (unsigned int d = 0; d < n; d++)
		m->efd[d] = -1;
	if (!(t = bench_pin_routes(n)))
		return bench_why(r, -ENOMEM, "out of memory");
	for (unsigned int d = 0; d < n; d++)
		bench_msi_route(t, 24 + d, idt_vector(d, 0));
	err = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) ? -errno : 0;
	free(t);
	if (err)
		return bench_why(r, err, "KVM_SET_GSI_ROUTING: %s",
				 strerror(-err));
	for (unsigned int d = 0; d < n; d++) {
		struct kvm_irqfd req = { .gsi = 24 + d };

		if ((m->efd[d] = bench_eventfd()) < 0)
			return bench_why(r, m->efd[d], "eventfd: %s",
					 strerror(-m->efd[d]));
		req.fd = (uint32_t)m->efd[d];
		if (ioctl(r->vm_fd, KVM_IRQFD, &req))
			return bench_why(r, -errno, "KVM_IRQFD: %s",
					 strerror(errno));
	}
	return 0;
}

static int setup_kvm_2(struct run *r)
{
	return setup_kvm_n(r, 2);
}

static int setup_kvm_4(struct run *r)
{
	return setup_kvm_n(r, 4);
}

static int setup_kvm_8(struct run *r)
{
	return setup_kvm_n(r, 8);
}

static int sample_kvm_n(struct run *r, uint64_t *lat, uint64_t *isr)
{
	volatile struct kg_shared *sh = kg_shared(r->g);
	struct bench_many *m = r->many;
	uint64_t want[MANY_MAX_DEVS], t0;
	int err;

	(void)isr;
	for (unsigned int d = 0; d < m->ndev; d++)
		want[d] = sh->count[idt_vector(d, 0)] + 1;
	t0 = bench_tsc();
	for (unsigned int d = 0; d < m->ndev; d++)
		if ((err = bench_signal(m->efd[d])))
			return bench_why(r, err, "eventfd write: %s",
					 strerror(-err));
	return wait_all(r, 0, want, t0, lat);
}

const struct bench_path bench_paths_many[] = {
	{ "kvm-2msi-irqfd", NULL,
	  "2 MSI routes + 2 KVM irqfds signalled at once, until the last ISR "
	  "entry",
	  setup_kvm_2, sample_kvm_n, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-4msi-irqfd", NULL,
	  "4 MSI routes + 4 KVM irqfds signalled at once, until the last ISR "
	  "entry",
	  setup_kvm_4, sample_kvm_n, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-8msi-irqfd", NULL,
	  "8 MSI routes + 8 KVM irqfds signalled at once, until the last ISR "
	  "entry",
	  setup_kvm_8, sample_kvm_n, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-msix-64", "irqlink-msi",
	  "irqlink-msi with 64 vectors on the in-kernel path, fired in turn",
	  setup_64, sample_many, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-msix-512", "irqlink-msi",
	  "irqlink-msi with 512 vectors on the in-kernel path, fired in turn",
	  setup_512, sample_many, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-msix-2048", "irqlink-msi",
	  "irqlink-msi with 2048 vectors on the in-kernel path (2048 routes "
	  "and irqfds), fired in turn",
	  setup_2048, sample_many, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-2dev-x64", "kvm-2msi-irqfd",
	  "2 devices x 64 vectors in-kernel; one vector of each fired at "
	  "once, until the last ISR entry",
	  setup_2x64, sample_many, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-4dev-x64", "kvm-4msi-irqfd",
	  "4 devices x 64 vectors in-kernel; one vector of each fired at "
	  "once, until the last ISR entry",
	  setup_4x64, sample_many, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-8dev-x64", "kvm-8msi-irqfd",
	  "8 devices x 64 vectors in-kernel; one vector of each fired at "
	  "once, until the last ISR entry",
	  setup_8x64, sample_many, false, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
};
const size_t bench_paths_many_n =
	sizeof(bench_paths_many) / sizeof(bench_paths_many[0]);
