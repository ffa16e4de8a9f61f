/* SPDX-License-Identifier: MIT */
/*
 * ERR and REQ (interrupt-semantics.md rule 21): one trigger each, set,
 * replaced, cleared and looped back through SET_IRQS TRIGGER, as
 * vfio_pci_set_ctx_trigger_single() does.
 *
 * Every test measures the open fds before creating the device and checks
 * the same number after irqlink_dev_destroy() and closing its own fds, and
 * checks in between that a replaced or cleared trigger's dup is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include <irqlink/device.h>

#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX
#define REQ VFIO_PCI_REQ_IRQ_INDEX

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

static const struct irqlink_dev_shape shape = {
	.intx_pin = true, .pcie = true, .msi_vectors = 4, .msix_vectors = 8,
};

static struct irqlink_dev *mkdev_shape(const struct irqlink_dev_shape *s)
{
	struct irqlink_dev *dev = NULL;

	assert_int_equal(irqlink_dev_create(s, &dev), 0);
	assert_non_null(dev);
	return dev;
}

static int set_fd(struct irqlink_dev *dev, uint32_t index, int32_t fd)
{
	return tu_set_irqs(dev, A_TRIG | D_EFD, index, 0, 1, &fd, sizeof(fd));
}

static int set_none(struct irqlink_dev *dev, uint32_t action, uint32_t index,
		    uint32_t count)
{
	return tu_set_irqs(dev, action | D_NONE, index, 0, count, NULL, 0);
}

static int set_bool(struct irqlink_dev *dev, uint32_t index, uint32_t count,
		    uint8_t b)
{
	return tu_set_irqs(dev, A_TRIG | D_BOOL, index, 0, count, &b, count ? 1 : 0);
}

/* The device-side raise for @index. */
static int raise_irq(struct irqlink_dev *dev, uint32_t index)
{
	return index == ERR ? irqlink_dev_err_signal(dev) :
			      irqlink_dev_req_signal(dev);
}

/* An fd number that is certainly not open, far above what dups will take. */
static int bad_fd(void)
{
	int fd;

	for (fd = 900; fcntl(fd, F_GETFD) != -1; fd++)
		;
	return fd;
}

static void test_rule21_eventfd_set_replace_clear(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd(), b = tu_eventfd(), base;
	uint32_t idx;

	(void)state;
	base = tu_open_fds();
	for (idx = ERR; idx <= REQ; idx++) {
		assert_int_equal(raise_irq(dev, idx), 0); /* no trigger yet */
		assert_int_equal(set_fd(dev, idx, a), 0);
		assert_int_equal(tu_open_fds(), base + 1);
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(a), 1);
		/* fd >= 0 replaces: the old dup is closed */
		assert_int_equal(set_fd(dev, idx, b), 0);
		assert_int_equal(tu_open_fds(), base + 1);
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(b), 1);
		assert_int_equal(tu_count(a), 0);
		/* setting the same eventfd again is a replace too */
		assert_int_equal(set_fd(dev, idx, b), 0);
		assert_int_equal(tu_open_fds(), base + 1);
		/* fd -1 clears */
		assert_int_equal(set_fd(dev, idx, -1), 0);
		assert_int_equal(tu_open_fds(), base);
		assert_int_equal(raise_irq(dev, idx), 0);
		assert_int_equal(tu_count(b), 0);
		/* ...and clearing nothing is fine */
		assert_int_equal(set_fd(dev, idx, -1), 0);
	}
	close(a);
	close(b);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_fd_below_minus_one_is_a_noop(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd(), base;
	uint32_t idx;

	(void)state;
	base = tu_open_fds();
	for (idx = ERR; idx <= REQ; idx++) {
		/* no trigger: still a no-op returning 0 */
		assert_int_equal(set_fd(dev, idx, -2), 0);
		assert_int_equal(raise_irq(dev, idx), 0);
		assert_int_equal(set_fd(dev, idx, a), 0);
		/* only fd == -1 clears; other negatives leave the trigger */
		assert_int_equal(set_fd(dev, idx, -2), 0);
		assert_int_equal(set_fd(dev, idx, INT32_MIN), 0);
		assert_int_equal(tu_open_fds(), base + 1);
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(set_fd(dev, idx, -1), 0);
		assert_int_equal(tu_open_fds(), base);
	}
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_data_none_signals_or_releases(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd(), base;
	uint32_t idx;

	(void)state;
	base = tu_open_fds();
	for (idx = ERR; idx <= REQ; idx++) {
		/* no trigger: both DATA_NONE forms fall through to EINVAL */
		assert_int_equal(set_none(dev, A_TRIG, idx, 1), -EINVAL);
		assert_int_equal(set_none(dev, A_TRIG, idx, 0), -EINVAL);
		assert_int_equal(set_fd(dev, idx, a), 0);
		/* count 1: loopback signal */
		assert_int_equal(set_none(dev, A_TRIG, idx, 1), 0);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(set_none(dev, A_TRIG, idx, 1), 0);
		assert_int_equal(set_none(dev, A_TRIG, idx, 1), 0);
		assert_int_equal(tu_count(a), 2);
		/* count 0: release the trigger */
		assert_int_equal(set_none(dev, A_TRIG, idx, 0), 0);
		assert_int_equal(tu_open_fds(), base);
		assert_int_equal(tu_count(a), 0);
		assert_int_equal(raise_irq(dev, idx), 0);
		assert_int_equal(set_none(dev, A_TRIG, idx, 0), -EINVAL);
		assert_int_equal(set_none(dev, A_TRIG, idx, 1), -EINVAL);
	}
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_data_bool_needs_count1(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd();
	uint32_t idx;

	(void)state;
	for (idx = ERR; idx <= REQ; idx++) {
		/* no trigger: BOOL is accepted and signals nothing */
		assert_int_equal(set_bool(dev, idx, 1, 1), 0);
		assert_int_equal(set_bool(dev, idx, 0, 1), -EINVAL);
		assert_int_equal(set_fd(dev, idx, a), 0);
		assert_int_equal(set_bool(dev, idx, 1, 1), 0);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(set_bool(dev, idx, 1, 0), 0);
		assert_int_equal(tu_count(a), 0);
		assert_int_equal(set_bool(dev, idx, 0, 1), -EINVAL);
		assert_int_equal(tu_count(a), 0);
		/* the trigger is still there */
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(set_fd(dev, idx, -1), 0);
	}
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_start_and_count_rules(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd(), b = tu_eventfd(), base;
	int32_t two[2] = { b, b };
	uint8_t bb[2] = { 1, 1 };
	uint32_t idx;

	(void)state;
	for (idx = ERR; idx <= REQ; idx++) {
		assert_int_equal(set_fd(dev, idx, a), 0);
		base = tu_open_fds();
		/* start must be 0, count at most 1 */
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, idx, 1, 1, two, 4),
				 -EINVAL);
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, idx, 0, 2, two, 8),
				 -EINVAL);
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_BOOL, idx, 0, 2, bb, 2),
				 -EINVAL);
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE, idx, 1, 0, NULL, 0),
				 -EINVAL);
		/* EVENTFD with count 0 passes validation but needs count 1 */
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, idx, 0, 0, two, 4),
				 -EINVAL);
		assert_int_equal(tu_open_fds(), base);
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(tu_count(b), 0);
		assert_int_equal(set_fd(dev, idx, -1), 0);
	}
	close(a);
	close(b);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_bad_and_non_eventfd_fds(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd(), p[2], base;
	uint32_t idx;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	base = tu_open_fds();
	for (idx = ERR; idx <= REQ; idx++) {
		assert_int_equal(set_fd(dev, idx, bad_fd()), -EBADF);
		assert_int_equal(set_fd(dev, idx, p[1]), -EINVAL);
		assert_int_equal(tu_open_fds(), base);
		assert_int_equal(set_fd(dev, idx, a), 0);
		/* the new fd is resolved before the old trigger is dropped */
		assert_int_equal(set_fd(dev, idx, bad_fd()), -EBADF);
		assert_int_equal(set_fd(dev, idx, p[0]), -EINVAL);
		assert_int_equal(tu_open_fds(), base + 1);
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(set_fd(dev, idx, -1), 0);
	}
	close(p[0]);
	close(p[1]);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_mask_unmask_enotty(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int a = tu_eventfd();
	int32_t fd = a;
	uint8_t one = 1;
	uint32_t idx;

	(void)state;
	for (idx = ERR; idx <= REQ; idx++) {
		assert_int_equal(set_fd(dev, idx, a), 0);
		assert_int_equal(set_none(dev, A_MASK, idx, 1), -ENOTTY);
		assert_int_equal(set_none(dev, A_UNMASK, idx, 1), -ENOTTY);
		assert_int_equal(tu_set_irqs(dev, A_MASK | D_BOOL, idx, 0, 1, &one, 1),
				 -ENOTTY);
		assert_int_equal(tu_set_irqs(dev, A_UNMASK | D_EFD, idx, 0, 1, &fd, 4),
				 -ENOTTY);
		/* nothing masked: the raise still signals */
		assert_int_equal(raise_irq(dev, idx), 1);
		assert_int_equal(tu_count(a), 1);
		assert_int_equal(set_fd(dev, idx, -1), 0);
	}
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_err_on_non_pcie_has_count0(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = shape;
	struct irqlink_dev *dev;
	struct vfio_irq_info in = { .argsz = sizeof(in), .index = ERR };
	int a = tu_eventfd(), base;
	uint8_t one = 1;

	(void)state;
	s.pcie = false;
	dev = mkdev_shape(&s);
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), 0);
	assert_int_equal(in.count, 0);
	base = tu_open_fds();
	/* start 0 >= count 0: every form fails validation */
	assert_int_equal(set_fd(dev, ERR, a), -EINVAL);
	assert_int_equal(set_fd(dev, ERR, -1), -EINVAL);
	assert_int_equal(set_none(dev, A_TRIG, ERR, 0), -EINVAL);
	assert_int_equal(set_none(dev, A_TRIG, ERR, 1), -EINVAL);
	assert_int_equal(set_bool(dev, ERR, 1, one), -EINVAL);
	assert_int_equal(set_none(dev, A_MASK, ERR, 1), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(irqlink_dev_err_signal(dev), 0);
	/* REQ is there on every device */
	assert_int_equal(set_fd(dev, REQ, a), 0);
	assert_int_equal(irqlink_dev_req_signal(dev), 1);
	assert_int_equal(tu_count(a), 1);
	close(a);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule21_err_req_independent_of_each_other_and_irq_type(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev_shape(&shape);
	int e = tu_eventfd(), r = tu_eventfd(), m = tu_eventfd();
	int reader = dup(e);
	int32_t mfd = m;

	(void)state;
	assert_true(reader >= 0);
	/* ERR/REQ do not care which of INTx/MSI/MSI-X is active */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSIX, 0, 1, &mfd, 4), 0);
	assert_int_equal(set_fd(dev, ERR, e), 0);
	assert_int_equal(set_fd(dev, REQ, r), 0);
	close(e); /* borrowed: the model keeps its own dup */
	assert_int_equal(irqlink_dev_err_signal(dev), 1);
	assert_int_equal(tu_count(reader), 1);
	assert_int_equal(tu_count(r), 0);
	assert_int_equal(irqlink_dev_req_signal(dev), 1);
	assert_int_equal(tu_count(r), 1);
	assert_int_equal(tu_count(reader), 0);
	/* releasing one leaves the other */
	assert_int_equal(set_none(dev, A_TRIG, ERR, 0), 0);
	assert_int_equal(irqlink_dev_err_signal(dev), 0);
	assert_int_equal(irqlink_dev_req_signal(dev), 1);
	assert_int_equal(tu_count(r), 1);
	/* disabling MSI-X does not touch REQ */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE, MSIX, 0, 0, NULL, 0), 0);
	assert_int_equal(irqlink_dev_req_signal(dev), 1);
	assert_int_equal(tu_count(r), 1);
	assert_int_equal(tu_count(m), 0);
	close(reader);
	close(r);
	close(m);
	/* destroy closes REQ's dup */
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule21_eventfd_set_replace_clear),
		cmocka_unit_test(test_rule21_fd_below_minus_one_is_a_noop),
		cmocka_unit_test(test_rule21_data_none_signals_or_releases),
		cmocka_unit_test(test_rule21_data_bool_needs_count1),
		cmocka_unit_test(test_rule21_start_and_count_rules),
		cmocka_unit_test(test_rule21_bad_and_non_eventfd_fds),
		cmocka_unit_test(test_rule21_mask_unmask_enotty),
		cmocka_unit_test(test_rule21_err_on_non_pcie_has_count0),
		cmocka_unit_test(test_rule21_err_req_independent_of_each_other_and_irq_type),
	};

	return tu_run_group(tests);
}
