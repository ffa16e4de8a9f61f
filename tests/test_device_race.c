/* SPDX-License-Identifier: MIT */
/*
 * Race tests for the device model's threading contract (rule 14).
 *
 * Accounting: every raise that returns 1 signalled exactly one eventfd,
 * so the sum of those returns must equal the sum of the counters read from
 * every eventfd the test ever installed. A removed eventfd is drained right
 * after the call that removed it returns and parked in a graveyard; any
 * count that shows up on it later is a signal on a removed fd.
 */
#include "testutil.h"

#include <irqlink/device.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RACE_FIRES
#define RACE_FIRES 1000000
#endif
#define GRAVE 64

struct grave {
	int fd[GRAVE];
	int n;
	uint64_t late;          /* counts found on removed fds */
};

static void bury(struct grave *g, int fd)
{
	if (g->n == GRAVE) {
		g->late += tu_count(g->fd[0]);
		close(g->fd[0]);
		memmove(g->fd, g->fd + 1, sizeof(int) * (GRAVE - 1));
		g->n--;
	}
	g->fd[g->n++] = fd;
}

static void grave_close(struct grave *g)
{
	for (int i = 0; i < g->n; i++) {
		g->late += tu_count(g->fd[i]);
		close(g->fd[i]);
	}
	g->n = 0;
}

static int set_one(struct irqlink_dev *dev, uint32_t index, uint32_t action,
		   uint32_t start, int fd)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd;
	} req = {
		.s = { .argsz = sizeof(req), .index = index, .start = start,
		       .count = 1,
		       .flags = VFIO_IRQ_SET_DATA_EVENTFD | action },
		.fd = fd,
	};
	return irqlink_dev_set_irqs(dev, &req.s);
}

static int set_none(struct irqlink_dev *dev, uint32_t index, uint32_t action,
		    uint32_t count)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .index = index, .start = 0, .count = count,
		.flags = VFIO_IRQ_SET_DATA_NONE | action,
	};
	return irqlink_dev_set_irqs(dev, &s);
}

/* Enable MSI-X vectors 0-3 with no eventfds. */
static void enable4(struct irqlink_dev *dev)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd[4];
	} req = {
		.s = { .argsz = sizeof(req), .index = VFIO_PCI_MSIX_IRQ_INDEX,
		       .count = 4,
		       .flags = VFIO_IRQ_SET_DATA_EVENTFD |
				VFIO_IRQ_SET_ACTION_TRIGGER },
		.fd = { -1, -1, -1, -1 },
	};
	assert_int_equal(irqlink_dev_set_irqs(dev, &req.s), 0);
}

struct msi_race {
	struct irqlink_dev *dev;
	atomic_bool done;
	uint64_t signalled;     /* fires that returned 1 */
	uint64_t fired;
	uint64_t bad;           /* unexpected returns (cmocka asserts may not
	                           run off the main thread) */
	int fires;
};

static void *msi_device_thread(void *arg)
{
	struct msi_race *r = arg;

	for (int i = 0; i < r->fires; i++) {
		int ret = irqlink_dev_msi_fire(r->dev, VFIO_PCI_MSIX_IRQ_INDEX,
					       (unsigned)i & 3);
		if (ret != 0 && ret != 1)
			r->bad++;
		else
			r->signalled += (uint64_t)ret;
		r->fired++;
	}
	atomic_store(&r->done, true);
	return NULL;
}

/*
 * Swap-only: the control thread keeps replacing vector triggers, never
 * clearing them, so a trigger is always set and unmasked: every one of the
 * fires must be signalled, and every signal found.
 */
static void test_msix_swap_never_loses(void **state)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 4 };
	struct msi_race r = { .fires = RACE_FIRES };
	struct grave g = { .n = 0 };
	int live[4], fds_before = tu_open_fds();
	uint64_t counted = 0, swaps = 0;
	pthread_t t;

	(void)state;
	assert_int_equal(irqlink_dev_create(&shape, &r.dev), 0);
	enable4(r.dev);
	for (int v = 0; v < 4; v++) {
		live[v] = tu_eventfd();
		assert_int_equal(set_one(r.dev, VFIO_PCI_MSIX_IRQ_INDEX,
					 VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)v,
					 live[v]), 0);
	}

	assert_int_equal(pthread_create(&t, NULL, msi_device_thread, &r), 0);
	while (!atomic_load(&r.done)) {
		int v = (int)(swaps++ & 3), nfd = tu_eventfd(), old = live[v];

		assert_int_equal(set_one(r.dev, VFIO_PCI_MSIX_IRQ_INDEX,
					 VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)v,
					 nfd), 0);
		live[v] = nfd;
		counted += tu_count(old);  /* final: it is no longer installed */
		bury(&g, old);
	}
	pthread_join(t, NULL);
	for (int v = 0; v < 4; v++) {
		counted += tu_count(live[v]);
		close(live[v]);
	}
	grave_close(&g);
	irqlink_dev_destroy(r.dev);

	assert_int_equal(r.bad, 0);
	assert_int_equal(r.fired, RACE_FIRES);
	assert_int_equal(r.signalled, RACE_FIRES);
	assert_int_equal(counted, RACE_FIRES);
	assert_int_equal(g.late, 0);
	assert_true(swaps > 0);
	assert_int_equal(tu_open_fds(), fds_before);
}

/*
 * Mixed: the control thread also clears vectors, disables and re-enables
 * the whole index, and masks/unmasks. Signals may be dropped while nothing
 * is installed, but each one reported must be found, none on a removed fd.
 */
static void test_msix_churn_accounts_every_signal(void **state)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 4 };
	struct msi_race r = { .fires = RACE_FIRES };
	struct grave g = { .n = 0 };
	int live[4] = { -1, -1, -1, -1 }, fds_before = tu_open_fds();
	uint64_t counted = 0, round = 0;
	pthread_t t;
	bool enabled = false;

	(void)state;
	assert_int_equal(irqlink_dev_create(&shape, &r.dev), 0);
	assert_int_equal(pthread_create(&t, NULL, msi_device_thread, &r), 0);
	while (!atomic_load(&r.done)) {
		int v = (int)(round & 3), op = (int)((round >> 2) % 5);

		round++;
		if (!enabled) {
			enable4(r.dev);
			enabled = true;
		}
		if (op == 4 && v == 0) {
			/* Disable the index: every fd goes at once. */
			set_none(r.dev, VFIO_PCI_MSIX_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_TRIGGER, 0);
			for (int i = 0; i < 4; i++) {
				if (live[i] < 0)
					continue;
				counted += tu_count(live[i]);
				bury(&g, live[i]);
				live[i] = -1;
			}
			enabled = false;
			continue;
		}
		if (op == 3) {
			irqlink_dev_msi_mask(r.dev, VFIO_PCI_MSIX_IRQ_INDEX,
					     (unsigned)v);
			irqlink_dev_msi_unmask(r.dev, VFIO_PCI_MSIX_IRQ_INDEX,
					       (unsigned)v);
			continue;
		}
		int nfd = op == 2 ? -1 : tu_eventfd();

		assert_int_equal(set_one(r.dev, VFIO_PCI_MSIX_IRQ_INDEX,
					 VFIO_IRQ_SET_ACTION_TRIGGER,
					 (uint32_t)v, nfd), 0);
		if (live[v] >= 0) {
			counted += tu_count(live[v]);
			bury(&g, live[v]);
		}
		live[v] = nfd;
	}
	pthread_join(t, NULL);
	for (int v = 0; v < 4; v++) {
		if (live[v] < 0)
			continue;
		counted += tu_count(live[v]);
		close(live[v]);
	}
	grave_close(&g);
	irqlink_dev_destroy(r.dev);

	assert_int_equal(r.bad, 0);
	assert_int_equal(r.fired, RACE_FIRES);
	assert_int_equal(counted, r.signalled);
	assert_int_equal(g.late, 0);
	assert_int_equal(tu_open_fds(), fds_before);
}

/*
 * INTx: a device thread asserts, deasserts and acknowledges (signals the
 * unmask eventfd, as KVM's resampler would) while the control thread swaps
 * the trigger and replaces the unmask eventfd, and toggles Interrupt
 * Disable. The watcher thread does the unmasking.
 */
struct intx_race {
	struct irqlink_dev *dev;
	atomic_bool done;
	uint64_t signalled;
	uint64_t bad;
	int cycles;
};

static void *intx_device_thread(void *arg)
{
	struct intx_race *r = arg;

	for (int i = 0; i < r->cycles; i++) {
		int ret = irqlink_dev_intx_assert(r->dev);

		if (ret != 0 && ret != 1)
			r->bad++;
		else
			r->signalled += (uint64_t)ret;
		if (irqlink_dev_intx_deassert(r->dev) != 0)
			r->bad++;
		/* The guest's EOI: unmask directly (resampler-less path). */
		struct vfio_irq_set s = {
			.argsz = sizeof(s), .index = VFIO_PCI_INTX_IRQ_INDEX,
			.count = 1,
			.flags = VFIO_IRQ_SET_DATA_NONE |
				 VFIO_IRQ_SET_ACTION_UNMASK,
		};
		if (irqlink_dev_set_irqs(r->dev, &s) != 0)
			r->bad++;
	}
	atomic_store(&r->done, true);
	return NULL;
}

static void test_intx_swap_and_disintx(void **state)
{
	struct irqlink_dev_shape shape = { .intx_pin = true };
	struct intx_race r = { .cycles = RACE_FIRES / 4 };
	struct grave g = { .n = 0 };
	int trig, unmask, fds_before = tu_open_fds();
	uint64_t counted = 0, round = 0;
	struct irqlink_dev_stats st;
	pthread_t t;

	(void)state;
	assert_int_equal(irqlink_dev_create(&shape, &r.dev), 0);
	trig = tu_eventfd();
	unmask = tu_eventfd();
	assert_int_equal(set_one(r.dev, VFIO_PCI_INTX_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_TRIGGER, 0, trig), 0);
	assert_int_equal(set_one(r.dev, VFIO_PCI_INTX_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_UNMASK, 0, unmask), 0);
	assert_int_equal(irqlink_dev_watcher_start(r.dev), 0);
	assert_int_equal(pthread_create(&t, NULL, intx_device_thread, &r), 0);
	while (!atomic_load(&r.done)) {
		int op = (int)(round++ % 4);

		if (op == 0 || op == 1) {
			int nfd = tu_eventfd();

			assert_int_equal(set_one(r.dev, VFIO_PCI_INTX_IRQ_INDEX,
						 VFIO_IRQ_SET_ACTION_TRIGGER,
						 0, nfd), 0);
			counted += tu_count(trig);
			bury(&g, trig);
			trig = nfd;
		} else if (op == 2) {
			/* Replace the unmask fd: remove, then re-add. */
			int nfd = tu_eventfd();

			assert_int_equal(set_one(r.dev, VFIO_PCI_INTX_IRQ_INDEX,
						 VFIO_IRQ_SET_ACTION_UNMASK,
						 0, -1), 0);
			assert_int_equal(set_one(r.dev, VFIO_PCI_INTX_IRQ_INDEX,
						 VFIO_IRQ_SET_ACTION_UNMASK,
						 0, nfd), 0);
			close(unmask);
			unmask = nfd;
		} else {
			irqlink_dev_set_intx_disable(r.dev, true);
			irqlink_dev_set_intx_disable(r.dev, false);
		}
		tu_signal(unmask); /* a stray guest EOI now and then */
	}
	pthread_join(t, NULL);
	assert_int_equal(irqlink_dev_watcher_stop(r.dev), 0);
	irqlink_dev_get_stats(r.dev, &st);
	counted += tu_count(trig);
	close(trig);
	close(unmask);
	grave_close(&g);
	irqlink_dev_destroy(r.dev);

	/* Signals come from assert, unmask re-fires and DisINTx clears; the
	 * model's own counter says how many it sent. */
	assert_int_equal(r.bad, 0);
	assert_int_equal(counted, st.signals);
	assert_true(st.signals >= r.signalled);
	assert_int_equal(g.late, 0);
	assert_int_equal(tu_open_fds(), fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msix_swap_never_loses),
		cmocka_unit_test(test_msix_churn_accounts_every_signal),
		cmocka_unit_test(test_intx_swap_and_disintx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
