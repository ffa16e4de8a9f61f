/* SPDX-License-Identifier: MIT */
/*
 * INTx: enable, triggers, loopback, automask, unmask (ioctl and eventfd),
 * mask, and the Interrupt Disable bit (interrupt-semantics.md rules 6-14).
 *
 * Every test measures the open fds before creating the device and checks
 * the same number after irqlink_dev_destroy() and closing its own fds; some
 * also check in between that a replaced or cleared trigger's duplicate was
 * closed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include <irqlink/device.h>

#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

/* Generous: only reached when something is broken. */
#define WAIT_MS 5000

static const struct irqlink_dev_shape shape = {
	.intx_pin = true, .pcie = true, .msi_vectors = 4, .msix_vectors = 8,
};

static struct irqlink_dev *mkdev(void)
{
	struct irqlink_dev *dev = NULL;

	assert_int_equal(irqlink_dev_create(&shape, &dev), 0);
	assert_non_null(dev);
	return dev;
}

static int set_fd(struct irqlink_dev *dev, uint32_t action, int32_t fd)
{
	return tu_set_irqs(dev, action | D_EFD, INTX, 0, 1, &fd, sizeof(fd));
}

static int set_none(struct irqlink_dev *dev, uint32_t action, uint32_t count)
{
	return tu_set_irqs(dev, action | D_NONE, INTX, 0, count, NULL, 0);
}

static int set_bool(struct irqlink_dev *dev, uint32_t action, uint8_t b)
{
	return tu_set_irqs(dev, action | D_BOOL, INTX, 0, 1, &b, 1);
}

static int trigger(struct irqlink_dev *dev, int32_t fd)
{
	return set_fd(dev, A_TRIG, fd);
}

static int loopback(struct irqlink_dev *dev)
{
	return set_none(dev, A_TRIG, 1);
}

static int unmask(struct irqlink_dev *dev)
{
	return set_none(dev, A_UNMASK, 1);
}

/* An fd number that is certainly not open, far above what dups will take. */
static int bad_fd(void)
{
	int fd;

	for (fd = 900; fcntl(fd, F_GETFD) != -1; fd++)
		;
	return fd;
}

/*
 * Wait (bounded) for the device's poll fd to become readable, then
 * dispatch. Returns what irqlink_dev_dispatch() returned, or 0 if the poll fd
 * never became readable.
 */
static int pump(struct irqlink_dev *dev)
{
	struct pollfd p = { .fd = irqlink_dev_poll_fd(dev), .events = POLLIN };
	int r;

	assert_true(p.fd >= 0);
	r = poll(&p, 1, WAIT_MS);
	assert_true(r >= 0);
	if (r == 0)
		return 0;
	return irqlink_dev_dispatch(dev);
}

/* Wait (bounded) until @efd has a count, and return it (0 on timeout). */
static uint64_t wait_count(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	assert_true(poll(&p, 1, WAIT_MS) >= 0);
	return tu_count(efd);
}

/* ---- rule 6 -------------------------------------------------------------- */

static void test_rule6_count0_disables(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), base;

	(void)state;
	base = tu_open_fds();
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(tu_open_fds(), base + 1); /* the model's dup */
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	assert_int_equal(tu_open_fds(), base);     /* dup closed on disable */
	/* disabled: loopback EINVAL, the line does nothing */
	assert_int_equal(loopback(dev), -EINVAL);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(a), 0);
	/* disabling an index that is not enabled: the kernel only takes the
	 * disable branch when is_intx(), else count != 1 -> EINVAL */
	assert_int_equal(set_none(dev, A_TRIG, 0), -EINVAL);
	/* the line is still asserted: enabling INTx fires it at once, as a
	 * pending level does when request_irq() installs the handler (header:
	 * "fires when ... INTx enabled while still asserted") */
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0); /* automasked */
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	/* line low at enable: nothing until it rises */
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule6_other_trigger_forms_need_count1(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd();
	int32_t fd = a;
	uint8_t one = 1;

	(void)state;
	/* count 0 with BOOL/EVENTFD is not a disable: start 0, count 1 needed */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, INTX, 0, 0, &fd, 4), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_BOOL, INTX, 0, 0, &one, 1), -EINVAL);
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, INTX, 0, 0, &fd, 4), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_BOOL, INTX, 0, 0, &one, 1), -EINVAL);
	/* still enabled with trigger a */
	assert_int_equal(loopback(dev), 0);
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 7 -------------------------------------------------------------- */

static void test_rule7_enable_swap_clear(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), b = tu_eventfd(), base;

	(void)state;
	base = tu_open_fds();
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(tu_open_fds(), base + 1);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);

	/* swap: the old dup is closed, the mask state is unchanged */
	assert_int_equal(trigger(dev, b), 0);
	assert_int_equal(tu_open_fds(), base + 1);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0); /* still masked */
	assert_int_equal(unmask(dev), 0);                  /* re-fires, to b */
	assert_int_equal(tu_count(b), 1);
	assert_int_equal(tu_count(a), 0);

	/* the caller may close its fd at once: the model keeps its own dup */
	{
		int c = tu_eventfd(), reader = dup(c);

		assert_true(reader >= 0);
		assert_int_equal(trigger(dev, c), 0);
		close(c);
		assert_int_equal(unmask(dev), 0);
		assert_int_equal(tu_count(reader), 1);
		assert_int_equal(tu_count(b), 0);
		/* fd < 0: INTx stays enabled, with no trigger */
		assert_int_equal(trigger(dev, -1), 0);
		close(reader);
	}
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(loopback(dev), 0); /* enabled: not EINVAL */
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(tu_count(b), 0);
	/* clearing twice is fine */
	assert_int_equal(trigger(dev, -1), 0);
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	close(a);
	close(b);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule7_enable_with_no_trigger(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), base;

	(void)state;
	base = tu_open_fds();
	assert_int_equal(trigger(dev, -1), 0);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(loopback(dev), 0); /* enabled, nothing to signal */
	/* the kernel's INTx handler masks even with no trigger set
	 * (vfio_intx_handler masks, vfio_send_intx_eventfd finds NULL) */
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0); /* masked */
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(unmask(dev), 0); /* still asserted: fires to a */
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule7_enable_while_msi_active(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), m = tu_eventfd(), base;
	int32_t mfd = m;
	uint32_t idx;

	(void)state;
	for (idx = MSI; idx <= MSIX; idx++) {
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, idx, 0, 1, &mfd, 4), 0);
		base = tu_open_fds();
		assert_int_equal(trigger(dev, a), -EINVAL);
		assert_int_equal(trigger(dev, -1), -EINVAL);
		assert_int_equal(loopback(dev), -EINVAL);
		assert_int_equal(unmask(dev), -EINVAL);
		assert_int_equal(set_none(dev, A_MASK, 1), -EINVAL);
		assert_int_equal(set_fd(dev, A_UNMASK, a), -EINVAL);
		assert_int_equal(tu_open_fds(), base); /* a was not kept */
		assert_int_equal(irqlink_dev_intx_assert(dev), 0);
		assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
		assert_int_equal(tu_count(a), 0);
		/* MSI still works */
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 0), 1);
		assert_int_equal(tu_count(m), 1);
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE, idx, 0, 0, NULL, 0), 0);
	}
	/* nothing active any more: INTx enables */
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(loopback(dev), 0);
	assert_int_equal(tu_count(a), 1);
	close(a);
	close(m);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule7_bad_and_non_eventfd_fds(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), p[2], base;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	base = tu_open_fds();
	assert_int_equal(trigger(dev, bad_fd()), -EBADF);
	assert_int_equal(trigger(dev, p[0]), -EINVAL);
	/* INTx was not enabled by the failures */
	assert_int_equal(loopback(dev), -EINVAL);
	assert_int_equal(tu_open_fds(), base);

	assert_int_equal(trigger(dev, a), 0);
	/* 6.x resolves the new fd before touching the old trigger
	 * (vfio_pci_set_intx_trigger: eventfd_ctx_fdget first), so a failed
	 * swap leaves the old trigger in place */
	assert_int_equal(trigger(dev, bad_fd()), -EBADF);
	assert_int_equal(trigger(dev, p[1]), -EINVAL);
	assert_int_equal(tu_open_fds(), base + 1);
	assert_int_equal(loopback(dev), 0);
	assert_int_equal(tu_count(a), 1);
	close(p[0]);
	close(p[1]);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 8 -------------------------------------------------------------- */

static void test_rule8_loopback(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd();

	(void)state;
	assert_int_equal(loopback(dev), -EINVAL); /* INTx off */
	assert_int_equal(set_bool(dev, A_TRIG, 1), -EINVAL);
	assert_int_equal(trigger(dev, a), 0);

	/* signals without masking: a real assertion still fires afterwards */
	assert_int_equal(loopback(dev), 0);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(set_bool(dev, A_TRIG, 1), 0);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(set_bool(dev, A_TRIG, 0), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);

	/* signals while masked too, and does not unmask */
	assert_int_equal(loopback(dev), 0);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(a), 0);

	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	assert_int_equal(loopback(dev), -EINVAL); /* off again */
	assert_int_equal(tu_count(a), 0);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 9 -------------------------------------------------------------- */

static void test_rule9_automask(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	struct irqlink_dev_stats st;
	int a = tu_eventfd();

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	/* masked now: neither a repeated assert nor a new edge is signalled */
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(tu_count(a), 0);
	irqlink_dev_get_stats(dev, &st);
	assert_int_equal(st.intx_fires, 1);
	/* after an unmask with the line low, the next assertion fires once */
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(a), 1);
	irqlink_dev_get_stats(dev, &st);
	assert_int_equal(st.intx_fires, 2);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 10 ------------------------------------------------------------- */

static void test_rule10_unmask_refires_while_asserted(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd();

	(void)state;
	assert_int_equal(unmask(dev), -EINVAL); /* INTx off */
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(unmask(dev), 0);       /* not masked: nothing */
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	/* still asserted: each unmask fires again and re-masks */
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(set_bool(dev, A_UNMASK, 1), 0);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(set_bool(dev, A_UNMASK, 0), 0); /* BOOL 0: no-op */
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0); /* re-masked */
	/* deasserted: unmask just unmasks */
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 11 ------------------------------------------------------------- */

static void test_rule11_unmask_eventfd_dispatch(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u = tu_eventfd(), base;

	(void)state;
	assert_int_equal(set_fd(dev, A_UNMASK, u), -EINVAL); /* INTx off */
	assert_int_equal(trigger(dev, a), 0);
	base = tu_open_fds();
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);
	assert_true(irqlink_dev_poll_fd(dev) >= 0);
	assert_int_equal(irqlink_dev_dispatch(dev), 0); /* nothing yet */

	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	/* guest EOI -> resamplefd -> unmask; line still high -> fires again */
	tu_signal(u);
	assert_int_equal(pump(dev), 1);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(tu_count(u), 0); /* the model consumed the signal */
	assert_int_equal(irqlink_dev_dispatch(dev), 0);

	/* line low: the unmask just unmasks; the next edge fires */
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	tu_signal(u);
	assert_int_equal(pump(dev), 1);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);

	/* removing it closes the model's dup of u */
	base = tu_open_fds();
	assert_int_equal(set_fd(dev, A_UNMASK, -1), 0);
	assert_int_equal(tu_open_fds(), base - 1);
	close(a);
	close(u);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule11_second_unmask_eventfd_ebusy_and_removal(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u1 = tu_eventfd(), u2 = tu_eventfd(), n;

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_fd(dev, A_UNMASK, -1), 0); /* none to remove: ok */
	assert_int_equal(set_fd(dev, A_UNMASK, u1), 0);
	n = tu_open_fds();
	assert_int_equal(set_fd(dev, A_UNMASK, u2), -EBUSY);
	assert_int_equal(set_fd(dev, A_UNMASK, u1), -EBUSY); /* same one too */
	/* vfio_virqfd_enable resolves the fd before it checks for a
	 * registered one: a bad fd is still EBADF/EINVAL, not EBUSY */
	{
		int p[2];

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		n += 2;
		assert_int_equal(set_fd(dev, A_UNMASK, bad_fd()), -EBADF);
		assert_int_equal(set_fd(dev, A_UNMASK, p[0]), -EINVAL);
		close(p[0]);
		close(p[1]);
		n -= 2;
	}
	assert_int_equal(tu_open_fds(), n);                   /* u2 not kept */

	/* fd < 0 removes it: its dup is closed and it no longer unmasks */
	assert_int_equal(set_fd(dev, A_UNMASK, -1), 0);
	assert_int_equal(tu_open_fds(), n - 1);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	tu_signal(u1);
	assert_int_equal(irqlink_dev_dispatch(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(tu_count(u1), 1); /* nobody read it */

	/* now the other one registers fine and works */
	assert_int_equal(set_fd(dev, A_UNMASK, u2), 0);
	tu_signal(u2);
	assert_int_equal(pump(dev), 1);
	assert_int_equal(tu_count(a), 1);

	/* disabling INTx drops the unmask eventfd (vfio_intx_disable
	 * disables the unmask virqfd), so after re-enable it is free again */
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	assert_int_equal(tu_open_fds(), n - 2); /* a's and u2's dups */
	assert_int_equal(set_fd(dev, A_UNMASK, u2), -EINVAL); /* INTx off */
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_fd(dev, A_UNMASK, u1), 0);
	close(a);
	close(u1);
	close(u2);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule11_pending_count_processed_at_registration(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u = tu_eventfd();
	uint64_t got;

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	/* an EOI already happened before the resamplefd was handed over:
	 * vfio_virqfd_enable polls the eventfd once when it is installed and
	 * runs the unmask handler right there, so the registration itself
	 * unmasks; the line is still high -> exactly one re-fire */
	tu_signal(u);
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);
	got = tu_count(a);
	assert_int_equal(got, 1);
	/* consumed: no second unmask at the next dispatch */
	assert_int_equal(irqlink_dev_dispatch(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(tu_count(u), 0);
	close(a);
	close(u);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule11_bad_unmask_fds(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u = tu_eventfd(), p[2], n;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(trigger(dev, a), 0);
	n = tu_open_fds();
	assert_int_equal(set_fd(dev, A_UNMASK, bad_fd()), -EBADF);
	assert_int_equal(set_fd(dev, A_UNMASK, p[0]), -EINVAL);
	assert_int_equal(tu_open_fds(), n);
	/* nothing was registered: a good one is not EBUSY */
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);
	close(p[0]);
	close(p[1]);
	close(a);
	close(u);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule11_unmask_eventfd_watcher_thread(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u = tu_eventfd();

	(void)state;
	assert_int_equal(irqlink_dev_watcher_stop(dev), -ENOENT);
	assert_int_equal(irqlink_dev_watcher_start(dev), 0);
	assert_int_equal(irqlink_dev_watcher_start(dev), -EALREADY);
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);

	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	/* line still high: the watcher's unmask re-fires */
	tu_signal(u);
	assert_int_equal(wait_count(a), 1);

	/* line low: the watcher's unmask only unmasks. Raise the line again
	 * right after the EOI: whichever comes first, exactly one signal. */
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	tu_signal(u);
	assert_true(irqlink_dev_intx_assert(dev) >= 0);
	assert_int_equal(wait_count(a), 1);

	/* a second round, to see the watcher keeps going */
	tu_signal(u);
	assert_int_equal(wait_count(a), 1);

	assert_int_equal(irqlink_dev_watcher_stop(dev), 0);
	assert_int_equal(irqlink_dev_watcher_stop(dev), -ENOENT);
	/* restartable, and destroy stops it */
	assert_int_equal(irqlink_dev_watcher_start(dev), 0);
	close(a);
	close(u);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 12 ------------------------------------------------------------- */

static void test_rule12_mask(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd();

	(void)state;
	assert_int_equal(set_none(dev, A_MASK, 1), -EINVAL); /* INTx off */
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_bool(dev, A_MASK, 0), 0); /* BOOL 0: no-op */
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(unmask(dev), 0);

	assert_int_equal(set_none(dev, A_MASK, 1), 0);
	assert_int_equal(set_none(dev, A_MASK, 1), 0); /* idempotent */
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(unmask(dev), 0); /* asserted while masked: fires now */
	assert_int_equal(tu_count(a), 1);

	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(set_bool(dev, A_MASK, 1), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(set_bool(dev, A_UNMASK, 1), 0);
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 13 ------------------------------------------------------------- */

static void test_rule13_disintx_masks_and_blocks_unmask(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd();

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, true), 0);
	/* nothing is signalled: not an assertion, not a loopback */
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(loopback(dev), 0);
	assert_int_equal(set_bool(dev, A_TRIG, 1), 0);
	assert_int_equal(tu_count(a), 0);
	/* unmask does nothing while DisINTx is set (unmask_handler checks
	 * virq_disabled) */
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, true), 0);
	/* clearing it unmasks: the line is still high, so it fires */
	assert_int_equal(irqlink_dev_set_intx_disable(dev, false), 1);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, false), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0); /* automasked again */

	/* a line that fired, then DisINTx, then lowered: clearing DisINTx
	 * unmasks without a signal, and the next edge fires */
	assert_int_equal(irqlink_dev_set_intx_disable(dev, true), 0);
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, false), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);

	/* with an explicit MASK too, clearing DisINTx still unmasks
	 * (vfio_pci_config: clearing the bit calls vfio_pci_intx_unmask) */
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(set_none(dev, A_MASK, 1), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, true), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, false), 1);
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule13_enable_while_disintx_set_starts_masked(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd();

	(void)state;
	/* DisINTx written while INTx is off: remembered */
	assert_int_equal(irqlink_dev_set_intx_disable(dev, true), 0);
	assert_int_equal(trigger(dev, a), 0); /* ctx->masked = virq_disabled */
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, false), 1);
	assert_int_equal(tu_count(a), 1);

	/* re-enable after clearing: starts unmasked */
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	assert_int_equal(irqlink_dev_intx_deassert(dev), 0);
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule13_disintx_blocks_unmask_eventfd(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u = tu_eventfd();

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, true), 0);
	tu_signal(u);
	assert_true(pump(dev) >= 0); /* processed, but it may not unmask */
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(irqlink_dev_set_intx_disable(dev, false), 1);
	assert_int_equal(tu_count(a), 1);
	close(a);
	close(u);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 14 (single-threaded half; the races are test_device_race) ------ */

static void test_rule14_unmask_after_swap_or_clear_uses_current_trigger(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), b = tu_eventfd(), u = tu_eventfd(), n;

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(a), 1);
	/* EOI signalled, but not yet dispatched, when the trigger is swapped */
	tu_signal(u);
	assert_int_equal(trigger(dev, b), 0);
	assert_int_equal(pump(dev), 1);
	assert_int_equal(tu_count(b), 1);
	assert_int_equal(tu_count(a), 0);

	/* and when it is cleared: nothing is signalled anywhere */
	n = tu_open_fds();
	tu_signal(u);
	assert_int_equal(trigger(dev, -1), 0);
	assert_int_equal(tu_open_fds(), n - 1); /* b's dup closed at once */
	assert_true(pump(dev) >= 0);
	assert_int_equal(tu_count(a), 0);
	assert_int_equal(tu_count(b), 0);

	/* and after INTx is disabled with an EOI pending */
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(unmask(dev), 0);
	assert_int_equal(tu_count(a), 1);
	tu_signal(u);
	assert_int_equal(set_none(dev, A_TRIG, 0), 0);
	assert_true(irqlink_dev_dispatch(dev) >= 0);
	assert_int_equal(tu_count(a), 0);
	close(a);
	close(b);
	close(u);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_destroy_closes_every_dup(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int a = tu_eventfd(), u = tu_eventfd();

	(void)state;
	assert_int_equal(trigger(dev, a), 0);
	assert_int_equal(set_fd(dev, A_UNMASK, u), 0);
	assert_int_equal(irqlink_dev_watcher_start(dev), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	irqlink_dev_destroy(dev);
	/* only the test's own two eventfds remain */
	assert_int_equal(tu_open_fds(), fds0 + 2);
	assert_int_equal(tu_count(a), 1);
	close(a);
	close(u);
	assert_int_equal(tu_open_fds(), fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule6_count0_disables),
		cmocka_unit_test(test_rule6_other_trigger_forms_need_count1),
		cmocka_unit_test(test_rule7_enable_swap_clear),
		cmocka_unit_test(test_rule7_enable_with_no_trigger),
		cmocka_unit_test(test_rule7_enable_while_msi_active),
		cmocka_unit_test(test_rule7_bad_and_non_eventfd_fds),
		cmocka_unit_test(test_rule8_loopback),
		cmocka_unit_test(test_rule9_automask),
		cmocka_unit_test(test_rule10_unmask_refires_while_asserted),
		cmocka_unit_test(test_rule11_unmask_eventfd_dispatch),
		cmocka_unit_test(test_rule11_second_unmask_eventfd_ebusy_and_removal),
		cmocka_unit_test(test_rule11_pending_count_processed_at_registration),
		cmocka_unit_test(test_rule11_bad_unmask_fds),
		cmocka_unit_test(test_rule11_unmask_eventfd_watcher_thread),
		cmocka_unit_test(test_rule12_mask),
		cmocka_unit_test(test_rule13_disintx_masks_and_blocks_unmask),
		cmocka_unit_test(test_rule13_enable_while_disintx_set_starts_masked),
		cmocka_unit_test(test_rule13_disintx_blocks_unmask_eventfd),
		cmocka_unit_test(test_rule14_unmask_after_swap_or_clear_uses_current_trigger),
		cmocka_unit_test(test_destroy_closes_every_dup),
	};

	return tu_run_group(tests);
}
