/* SPDX-License-Identifier: MIT */
/*
 * irqlink-demo: the device interrupt model at work.
 *
 * A device thread raises INTx, MSI-X, ERR and REQ interrupts through the
 * model; a listener thread stands where KVM would, counting the eventfd
 * signals and acknowledging INTx the way a guest EOI does through a
 * resampling irqfd (it signals the unmask eventfd, which the model's watcher
 * turns into an unmask). The table at the end compares what was raised with
 * what arrived.
 */
#include <irqlink/irqlink.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NVEC 8
enum { SRC_INTX, SRC_ERR, SRC_REQ, SRC_MSIX0 };
#define NSRC (SRC_MSIX0 + NVEC)

struct demo {
	struct irqlink_dev *dev;
	int efd[NSRC];          /* trigger eventfds, ours */
	int unmask;             /* INTx unmask eventfd (the "resamplefd") */
	int stop;
	atomic_ulong got[NSRC];
	unsigned long raised[NSRC];
};

static const char *src_name(int s, char *buf, size_t n)
{
	if (s == SRC_INTX)
		return "INTx";
	if (s == SRC_ERR)
		return "ERR";
	if (s == SRC_REQ)
		return "REQ";
	snprintf(buf, n, "MSI-X %d", s - SRC_MSIX0);
	return buf;
}

static void *listener(void *arg)
{
	struct demo *d = arg;
	struct epoll_event ev[16];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return NULL;
	for (int s = 0; s <= NSRC; s++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)s };

		epoll_ctl(ep, EPOLL_CTL_ADD, s == NSRC ? d->stop : d->efd[s], &e);
	}
	for (;;) {
		int n = epoll_wait(ep, ev, 16, -1);

		for (int i = 0; i < n; i++) {
			uint32_t s = ev[i].data.u32;
			uint64_t v, one = 1;

			if (s == NSRC) {
				close(ep);
				return NULL;
			}
			if (read(d->efd[s], &v, sizeof(v)) != sizeof(v))
				continue;
			/* The guest's ISR clears the device's status (the
			 * line drops), then EOIs, which reaches the model as
			 * an unmask. EOI before the line drops would re-fire:
			 * that is what a level is. */
			if (s == SRC_INTX) {
				irqlink_dev_intx_deassert(d->dev);
				if (write(d->unmask, &one, sizeof(one)) !=
				    sizeof(one))
					return NULL;
			}
			/* Counted last: the device raises again only after
			 * this, so its next assertion cannot be the one the
			 * status clear above drops. */
			atomic_fetch_add(&d->got[s], v);
		}
	}
}

/* Wait until the listener has seen @want signals on @s; 2 s at most. */
static int wait_for(struct demo *d, int s, unsigned long want)
{
	for (int i = 0; i < 200000; i++) {
		if (atomic_load(&d->got[s]) >= want)
			return 0;
		usleep(10);
	}
	return -ETIMEDOUT;
}

static int set_fds(struct irqlink_dev *dev, uint32_t index, uint32_t action,
		   const int *fds, uint32_t n)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .index = index, .start = 0, .count = n,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | action,
	};
	return irqlink_dev_set_irqs_fds(dev, &s, fds, n);
}

static int run(struct demo *d, unsigned long count)
{
	int r;

	/* INTx: each assertion fires once; the listener's EOI unmasks. */
	for (unsigned long i = 0; i < count; i++) {
		r = irqlink_dev_intx_assert(d->dev);
		if (r < 0)
			return r;
		d->raised[SRC_INTX]++;
		r = wait_for(d, SRC_INTX, d->raised[SRC_INTX]);
		if (r)
			return r;
	}
	/* Hand over from INTx to MSI-X, as a guest driver does: INTx off,
	 * then MSI-X on (the model refuses two types at once, like vfio). */
	struct vfio_irq_set off = {
		.argsz = sizeof(off), .index = VFIO_PCI_INTX_IRQ_INDEX,
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	if ((r = irqlink_dev_set_irqs(d->dev, &off)) ||
	    (r = set_fds(d->dev, VFIO_PCI_MSIX_IRQ_INDEX,
			 VFIO_IRQ_SET_ACTION_TRIGGER, &d->efd[SRC_MSIX0], NVEC)))
		return r;

	/* MSI-X: every vector, count times each. */
	for (unsigned long i = 0; i < count; i++)
		for (int v = 0; v < NVEC; v++) {
			r = irqlink_dev_msi_fire(d->dev, VFIO_PCI_MSIX_IRQ_INDEX,
						 (unsigned)v);
			if (r < 0)
				return r;
			d->raised[SRC_MSIX0 + v]++;
		}
	/* A masked vector fired ten times latches one pending bit; the
	 * unmask replays it once. */
	irqlink_dev_msi_mask(d->dev, VFIO_PCI_MSIX_IRQ_INDEX, 3);
	for (int i = 0; i < 10; i++)
		irqlink_dev_msi_fire(d->dev, VFIO_PCI_MSIX_IRQ_INDEX, 3);
	uint64_t pba = 0;
	irqlink_dev_read_pending(d->dev, VFIO_PCI_MSIX_IRQ_INDEX, &pba, 1);
	printf("vector 3 masked and fired 10 times: PBA = %#llx\n",
	       (unsigned long long)pba);
	irqlink_dev_msi_unmask(d->dev, VFIO_PCI_MSIX_IRQ_INDEX, 3);
	d->raised[SRC_MSIX0 + 3]++; /* one replay expected */

	irqlink_dev_err_signal(d->dev);
	d->raised[SRC_ERR]++;
	irqlink_dev_req_signal(d->dev);
	d->raised[SRC_REQ]++;

	for (int s = 0; s < NSRC; s++) {
		r = wait_for(d, s, d->raised[s]);
		if (r)
			return r;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: irqlink-demo [--count N]\n"
		   "Raises N of each interrupt kind through the device model and\n"
		   "counts what reaches the eventfds (default N = 1000).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct irqlink_dev_shape shape = {
		.intx_pin = true, .pcie = true, .msix_vectors = NVEC,
	};
	struct demo d = { .unmask = -1, .stop = -1 };
	unsigned long count = 1000;
	pthread_t t;
	char *end;
	int c, r, rc = 1;

	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			errno = 0;
			count = strtoul(optarg, &end, 10);
			if (errno || *end || !count || count > 10000000) {
				fprintf(stderr, "irqlink-demo: bad --count '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	r = irqlink_dev_create(&shape, &d.dev);
	if (r) {
		fprintf(stderr, "irqlink-demo: create: %s\n", strerror(-r));
		return 1;
	}
	for (int s = 0; s < NSRC; s++)
		d.efd[s] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d.unmask = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d.stop = eventfd(0, EFD_CLOEXEC);

	if ((r = set_fds(d.dev, VFIO_PCI_INTX_IRQ_INDEX,
			 VFIO_IRQ_SET_ACTION_TRIGGER, &d.efd[SRC_INTX], 1)) ||
	    (r = set_fds(d.dev, VFIO_PCI_INTX_IRQ_INDEX,
			 VFIO_IRQ_SET_ACTION_UNMASK, &d.unmask, 1)) ||
	    (r = irqlink_dev_watcher_start(d.dev))) {
		fprintf(stderr, "irqlink-demo: INTx setup: %s\n", strerror(-r));
		goto out;
	}
	if ((r = set_fds(d.dev, VFIO_PCI_ERR_IRQ_INDEX,
			 VFIO_IRQ_SET_ACTION_TRIGGER, &d.efd[SRC_ERR], 1)) ||
	    (r = set_fds(d.dev, VFIO_PCI_REQ_IRQ_INDEX,
			 VFIO_IRQ_SET_ACTION_TRIGGER, &d.efd[SRC_REQ], 1))) {
		fprintf(stderr, "irqlink-demo: ERR/REQ setup: %s\n", strerror(-r));
		goto out;
	}
	if ((r = -pthread_create(&t, NULL, listener, &d))) {
		fprintf(stderr, "irqlink-demo: thread: %s\n", strerror(-r));
		goto out;
	}
	r = run(&d, count);
	{
		uint64_t one = 1;

		if (write(d.stop, &one, sizeof(one)) != sizeof(one))
			r = -errno;
	}
	pthread_join(t, NULL);
	if (r) {
		fprintf(stderr, "irqlink-demo: %s\n", strerror(-r));
		goto out;
	}

	printf("%-10s %10s %10s %6s\n", "source", "raised", "received", "lost");
	rc = 0;
	for (int s = 0; s < NSRC; s++) {
		char buf[16];
		unsigned long got = atomic_load(&d.got[s]);

		printf("%-10s %10lu %10lu %6ld\n", src_name(s, buf, sizeof(buf)),
		       d.raised[s], got, (long)d.raised[s] - (long)got);
		if (got != d.raised[s])
			rc = 1;
	}
out:
	irqlink_dev_destroy(d.dev);
	for (int s = 0; s < NSRC; s++)
		close(d.efd[s]);
	close(d.unmask);
	close(d.stop);
	return rc;
}
