/* SPDX-License-Identifier: MIT */
/*
 * GET_IRQ_INFO and SET_IRQS validation (interrupt-semantics.md rules 1-5).
 *
 * Every test measures the process's open fds before it creates anything and
 * checks the same number after irqlink_dev_destroy(): a call that fails
 * validation must not have kept a duplicate of any fd it was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include <irqlink/device.h>

#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX
#define REQ VFIO_PCI_REQ_IRQ_INDEX

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

static struct irqlink_dev *mkdev(const struct irqlink_dev_shape *shape)
{
	struct irqlink_dev *dev = NULL;

	assert_int_equal(irqlink_dev_create(shape, &dev), 0);
	assert_non_null(dev);
	return dev;
}

/* A "full" device: pin, PCIe, MSI and MSI-X. */
static const struct irqlink_dev_shape full_shape = {
	.intx_pin = true, .pcie = true,
	.msi_vectors = 8, .msix_vectors = 64,
};

/*
 * struct vfio_irq_set in kernel ioctl layout: the 20-byte header followed by
 * @len bytes of payload; argsz is header + len unless @argsz is non-zero.
 */
static int set_irqs_raw(struct irqlink_dev *dev, uint32_t argsz, uint32_t flags,
			uint32_t index, uint32_t start, uint32_t count,
			const void *data, size_t len)
{
	struct vfio_irq_set *s = calloc(1, sizeof(*s) + len + 8);
	int r;

	assert_non_null(s);
	s->argsz = argsz ? argsz : (uint32_t)(sizeof(*s) + len);
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (len)
		memcpy(s->data, data, len);
	r = irqlink_dev_set_irqs(dev, s);
	free(s);
	return r;
}

static int set_fd1(struct irqlink_dev *dev, uint32_t action, uint32_t index,
		   int32_t fd)
{
	return tu_set_irqs(dev, action | D_EFD, index, 0, 1, &fd, sizeof(fd));
}

static int set_none(struct irqlink_dev *dev, uint32_t action, uint32_t index,
		    uint32_t start, uint32_t count)
{
	return tu_set_irqs(dev, action | D_NONE, index, start, count, NULL, 0);
}

static int set_bool1(struct irqlink_dev *dev, uint32_t action, uint32_t index,
		     uint8_t b)
{
	return tu_set_irqs(dev, action | D_BOOL, index, 0, 1, &b, 1);
}

static void info(struct irqlink_dev *dev, uint32_t index, uint32_t *flags,
		 uint32_t *count)
{
	struct vfio_irq_info in = { .argsz = sizeof(in), .index = index };

	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), 0);
	assert_int_equal(in.index, index);
	*flags = in.flags;
	*count = in.count;
}

#define EXPECT_INFO(dev, idx, fl, cnt)                                   \
	do {                                                             \
		uint32_t f_, c_;                                         \
		info((dev), (idx), &f_, &c_);                            \
		assert_int_equal(f_, (fl));                              \
		assert_int_equal(c_, (cnt));                             \
	} while (0)

#define I_EFD VFIO_IRQ_INFO_EVENTFD
#define I_MASK VFIO_IRQ_INFO_MASKABLE
#define I_AUTO VFIO_IRQ_INFO_AUTOMASKED
#define I_NORES VFIO_IRQ_INFO_NORESIZE

/* ---- rule 1: GET_IRQ_INFO argsz and index ------------------------------ */

static void test_rule1_info_argsz_and_index(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	struct vfio_irq_info in;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.argsz = sizeof(in) - 1; /* 15 */
	in.index = INTX;
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), -EINVAL);
	in.argsz = 0;
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), -EINVAL);

	in.argsz = sizeof(in); /* exactly 16 is enough */
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), 0);
	in.argsz = 64;         /* a bigger buffer is fine too */
	in.index = REQ;
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), 0);

	in.argsz = sizeof(in);
	in.index = VFIO_PCI_NUM_IRQS; /* 5 */
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), -EINVAL);
	in.index = UINT32_MAX;
	assert_int_equal(irqlink_dev_get_irq_info(dev, &in), -EINVAL);

	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rules 2, 3: flags and counts for several shapes -------------------- */

static void test_rule2_3_info_full_device(void **state)
{
	struct irqlink_dev *dev = mkdev(&full_shape);

	(void)state;
	EXPECT_INFO(dev, INTX, I_EFD | I_MASK | I_AUTO, 1);
	/* non-strict: MSI/MSI-X also MASKABLE (header: the model implements it) */
	EXPECT_INFO(dev, MSI, I_EFD | I_NORES | I_MASK, 8);
	EXPECT_INFO(dev, MSIX, I_EFD | I_NORES | I_MASK, 64);
	EXPECT_INFO(dev, ERR, I_EFD | I_NORES, 1);
	EXPECT_INFO(dev, REQ, I_EFD | I_NORES, 1);
	irqlink_dev_destroy(dev);
}

static void test_rule2_3_info_strict(void **state)
{
	struct irqlink_dev_shape s = full_shape;
	struct irqlink_dev *dev;

	(void)state;
	s.flags = IRQLINK_DEV_STRICT;
	s.msi_vectors = 32;
	s.msix_vectors = IRQLINK_MSIX_MAX;
	dev = mkdev(&s);
	/* strict: exactly the kernel's flags */
	EXPECT_INFO(dev, INTX, I_EFD | I_MASK | I_AUTO, 1);
	EXPECT_INFO(dev, MSI, I_EFD | I_NORES, 32);
	EXPECT_INFO(dev, MSIX, I_EFD | I_NORES, 2048);
	EXPECT_INFO(dev, ERR, I_EFD | I_NORES, 1);
	EXPECT_INFO(dev, REQ, I_EFD | I_NORES, 1);
	irqlink_dev_destroy(dev);
}

static void test_rule2_info_msix_dynamic_drops_noresize(void **state)
{
	struct irqlink_dev_shape s = full_shape;
	struct irqlink_dev *dev;

	(void)state;
	s.msix_dynamic = true;
	dev = mkdev(&s);
	EXPECT_INFO(dev, MSIX, I_EFD | I_MASK, 64);
	/* dynamic MSI-X affects only the MSI-X index */
	EXPECT_INFO(dev, MSI, I_EFD | I_NORES | I_MASK, 8);
	irqlink_dev_destroy(dev);

	s.flags = IRQLINK_DEV_STRICT;
	dev = mkdev(&s);
	EXPECT_INFO(dev, MSIX, I_EFD, 64);
	irqlink_dev_destroy(dev);
}

static void test_rule3_info_no_pin_no_msi_non_pcie(void **state)
{
	struct irqlink_dev_shape s = { 0 };
	struct irqlink_dev *dev;

	(void)state;
	dev = mkdev(&s);
	/* flags depend on the index only; the count says what exists */
	EXPECT_INFO(dev, INTX, I_EFD | I_MASK | I_AUTO, 0);
	EXPECT_INFO(dev, MSI, I_EFD | I_NORES | I_MASK, 0);
	EXPECT_INFO(dev, MSIX, I_EFD | I_NORES | I_MASK, 0);
	/* header contract: ERR count 0 on a non-PCIe device (the kernel's
	 * GET_IRQ_INFO refuses ERR there with EINVAL; the model reports 0) */
	EXPECT_INFO(dev, ERR, I_EFD | I_NORES, 0);
	EXPECT_INFO(dev, REQ, I_EFD | I_NORES, 1);
	irqlink_dev_destroy(dev);

	s.msi_vectors = 1;
	s.msix_vectors = 1;
	s.intx_pin = true;
	dev = mkdev(&s);
	EXPECT_INFO(dev, INTX, I_EFD | I_MASK | I_AUTO, 1);
	EXPECT_INFO(dev, MSI, I_EFD | I_NORES | I_MASK, 1);
	EXPECT_INFO(dev, MSIX, I_EFD | I_NORES | I_MASK, 1);
	EXPECT_INFO(dev, ERR, I_EFD | I_NORES, 0);
	irqlink_dev_destroy(dev);
}

/* Not a kernel rule: the create() contract that the shapes above rely on. */
static void test_create_rejects_impossible_shapes(void **state)
{
	struct irqlink_dev_shape s = full_shape;
	struct irqlink_dev *dev = NULL;
	int fds0 = tu_open_fds();

	(void)state;
	s.msi_vectors = 3;
	assert_int_equal(irqlink_dev_create(&s, &dev), -EINVAL);
	s.msi_vectors = 64;
	assert_int_equal(irqlink_dev_create(&s, &dev), -EINVAL);
	s.msi_vectors = 8;
	s.msix_vectors = IRQLINK_MSIX_MAX + 1;
	assert_int_equal(irqlink_dev_create(&s, &dev), -EINVAL);
	s.msix_vectors = 8;
	s.flags = 0x80000000u;
	assert_int_equal(irqlink_dev_create(&s, &dev), -EINVAL);
	s.flags = 0;
	assert_int_equal(irqlink_dev_create(NULL, &dev), -EINVAL);
	assert_int_equal(irqlink_dev_create(&s, NULL), -EINVAL);
	assert_null(dev);
	irqlink_dev_destroy(NULL); /* no-op */
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 4: SET_IRQS validation, every clause -> EINVAL ----------------- */

static void test_rule4_argsz_and_index(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int efd = tu_eventfd();
	int32_t fd = efd;

	(void)state;
	/* argsz below the 20-byte header */
	assert_int_equal(set_irqs_raw(dev, 19, A_TRIG | D_NONE, REQ, 0, 1, NULL, 0),
			 -EINVAL);
	assert_int_equal(set_irqs_raw(dev, 4, A_TRIG | D_EFD, INTX, 0, 1, &fd,
				      sizeof(fd)), -EINVAL);
	/* index >= 5 */
	assert_int_equal(set_fd1(dev, A_TRIG, VFIO_PCI_NUM_IRQS, efd), -EINVAL);
	assert_int_equal(set_fd1(dev, A_TRIG, UINT32_MAX, efd), -EINVAL);
	assert_int_equal(set_none(dev, A_MASK, 7, 0, 1), -EINVAL);
	/* the failed INTx call did not enable INTx: loopback says it is off */
	assert_int_equal(set_none(dev, A_TRIG, INTX, 0, 1), -EINVAL);
	assert_int_equal(tu_count(efd), 0);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule4_count_overflow(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int efd[4];
	int32_t fds[4];
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		fds[i] = efd[i] = tu_eventfd();
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSIX, 0, 4, fds,
				  sizeof(fds)), 0);
	/*
	 * start 2 + count 0xfffffffe wraps to 0, so only the
	 * "count >= U32_MAX - start" clause catches it (vfio_main.c
	 * vfio_set_irqs_validate_and_prepare); a loopback over the wrapped
	 * range would otherwise succeed and signal nothing.
	 */
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 2, UINT32_MAX - 1), -EINVAL);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, UINT32_MAX), -EINVAL);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 1, UINT32_MAX - 1), -EINVAL);
	for (i = 0; i < 4; i++)
		assert_int_equal(tu_count(efd[i]), 0);
	/* the index is still enabled with its vectors */
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 4), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(tu_count(efd[i]), 1);
		close(efd[i]);
	}
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule4_unknown_flag_bits(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int efd = tu_eventfd();
	int32_t fd = efd;
	int base;

	(void)state;
	base = tu_open_fds();
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD | 0x40, REQ, 0, 1, &fd,
				  sizeof(fd)), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD | 0x80000000u, INTX, 0, 1,
				  &fd, sizeof(fd)), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE | 0x100, MSIX, 0, 1, NULL, 0),
			 -EINVAL);
	assert_int_equal(tu_open_fds(), base); /* nothing was duplicated */
	/* REQ kept no trigger: signalling it finds none */
	assert_int_equal(irqlink_dev_req_signal(dev), 0);
	assert_int_equal(tu_count(efd), 0);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule4_start_count_range(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int32_t fds[2];

	(void)state;
	fds[0] = tu_eventfd();
	fds[1] = tu_eventfd();
	/* start >= irq count */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSIX, 64, 1, fds, 4), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSI, 8, 1, fds, 4), -EINVAL);
	assert_int_equal(set_fd1(dev, A_TRIG, INTX, -1) , 0); /* (0,1) is fine */
	assert_int_equal(set_none(dev, A_TRIG, INTX, 0, 0), 0); /* disable again */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, INTX, 1, 1, fds, 4), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, REQ, 1, 1, fds, 4), -EINVAL);
	/* start + count > irq count */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSIX, 63, 2, fds, 8), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSI, 7, 2, fds, 8), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, INTX, 0, 2, fds, 8), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, ERR, 0, 2, fds, 8), -EINVAL);
	/* start >= count even with count 0 */
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 64, 0), -EINVAL);
	/* the largest legal block is accepted */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSIX, 62, 2, fds, 8), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 63), 1);
	assert_int_equal(tu_count(fds[1]), 1);
	close(fds[0]);
	close(fds[1]);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule4_index_with_count_zero_always_fails(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = { .intx_pin = false, .pcie = false };
	struct irqlink_dev *dev = mkdev(&s);
	int efd = tu_eventfd();
	uint8_t one = 1;
	uint32_t a;
	static const uint32_t act[] = { A_TRIG, A_MASK, A_UNMASK };

	(void)state;
	/* INTx without a pin, MSI/MSI-X without a capability, ERR on a
	 * non-PCIe device: start 0 >= count 0 */
	for (a = 0; a < 3; a++) {
		uint32_t idx;

		for (idx = INTX; idx <= ERR; idx++) {
			assert_int_equal(set_fd1(dev, act[a], idx, efd), -EINVAL);
			assert_int_equal(set_none(dev, act[a], idx, 0, 1), -EINVAL);
			assert_int_equal(set_none(dev, act[a], idx, 0, 0), -EINVAL);
			assert_int_equal(tu_set_irqs(dev, act[a] | D_BOOL, idx, 0, 1,
						  &one, 1), -EINVAL);
		}
	}
	assert_int_equal(irqlink_dev_intx_assert(dev), -ENODEV);
	assert_int_equal(irqlink_dev_intx_deassert(dev), -ENODEV);
	assert_int_equal(irqlink_dev_err_signal(dev), 0);
	assert_int_equal(tu_count(efd), 0);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule4_exactly_one_data_type(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int efd = tu_eventfd();
	int32_t buf[2] = { efd, efd };

	(void)state;
	assert_int_equal(tu_set_irqs(dev, A_TRIG, REQ, 0, 1, buf, 4), -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE | D_BOOL, REQ, 0, 1, buf, 4),
			 -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_BOOL | D_EFD, REQ, 0, 1, buf, 4),
			 -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE | D_EFD, INTX, 0, 1, buf, 4),
			 -EINVAL);
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_NONE | D_BOOL | D_EFD, MSIX, 0, 1,
				  buf, 4), -EINVAL);
	/* no data type and no action either: still EINVAL (validation first) */
	assert_int_equal(tu_set_irqs(dev, 0, MSIX, 0, 1, buf, 4), -EINVAL);
	assert_int_equal(irqlink_dev_req_signal(dev), 0);
	/* INTx was not enabled: loopback says so */
	assert_int_equal(set_none(dev, A_TRIG, INTX, 0, 1), -EINVAL);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule4_short_payload(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int32_t fds[4];
	uint8_t bools[4] = { 1, 1, 1, 1 };
	int i, base;

	(void)state;
	for (i = 0; i < 4; i++)
		fds[i] = tu_eventfd();
	base = tu_open_fds();
	/* EVENTFD: 4 vectors need 16 bytes; give 15 */
	assert_int_equal(set_irqs_raw(dev, 20 + 15, A_TRIG | D_EFD, MSIX, 0, 4, fds,
				      sizeof(fds)), -EINVAL);
	/* header only */
	assert_int_equal(set_irqs_raw(dev, 20, A_TRIG | D_EFD, MSI, 0, 1, fds,
				      sizeof(fds)), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	/* nothing enabled: INTx loopback EINVAL, MSI-X loopback EINVAL */
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 1), -EINVAL);
	assert_int_equal(set_none(dev, A_TRIG, MSI, 0, 1), -EINVAL);

	/* enable MSI-X, then a BOOL loopback with 3 of 4 bytes */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, MSIX, 0, 4, fds,
				  sizeof(fds)), 0);
	assert_int_equal(set_irqs_raw(dev, 20 + 3, A_TRIG | D_BOOL, MSIX, 0, 4, bools,
				      sizeof(bools)), -EINVAL);
	for (i = 0; i < 4; i++)
		assert_int_equal(tu_count(fds[i]), 0);
	/* and the exact size works */
	assert_int_equal(set_irqs_raw(dev, 20 + 4, A_TRIG | D_BOOL, MSIX, 0, 4, bools,
				      sizeof(bools)), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(tu_count(fds[i]), 1);
		close(fds[i]);
	}
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 5: ENOTTY for actions the index does not implement ------------ */

static void test_rule5_err_req_only_trigger(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int efd = tu_eventfd();
	uint32_t idx;

	(void)state;
	for (idx = ERR; idx <= REQ; idx++) {
		assert_int_equal(set_none(dev, A_MASK, idx, 0, 1), -ENOTTY);
		assert_int_equal(set_none(dev, A_UNMASK, idx, 0, 1), -ENOTTY);
		assert_int_equal(set_bool1(dev, A_MASK, idx, 1), -ENOTTY);
		assert_int_equal(set_bool1(dev, A_UNMASK, idx, 1), -ENOTTY);
		assert_int_equal(set_fd1(dev, A_MASK, idx, efd), -ENOTTY);
		assert_int_equal(set_fd1(dev, A_UNMASK, idx, efd), -ENOTTY);
		/* count 0 passes validation too, and is still ENOTTY */
		assert_int_equal(set_none(dev, A_MASK, idx, 0, 0), -ENOTTY);
	}
	assert_int_equal(irqlink_dev_err_signal(dev), 0);
	assert_int_equal(irqlink_dev_req_signal(dev), 0);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule5_strict_msi_msix_mask_unmask(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = full_shape;
	struct irqlink_dev *dev;
	int efd = tu_eventfd(), efd0 = tu_eventfd();
	int32_t fds[2] = { efd0, efd };
	uint32_t idx;

	(void)state;
	s.flags = IRQLINK_DEV_STRICT;
	dev = mkdev(&s);
	for (idx = MSI; idx <= MSIX; idx++) {
		/* disabled index */
		assert_int_equal(set_none(dev, A_MASK, idx, 0, 1), -ENOTTY);
		assert_int_equal(set_none(dev, A_UNMASK, idx, 0, 1), -ENOTTY);
		assert_int_equal(set_bool1(dev, A_MASK, idx, 1), -ENOTTY);
		assert_int_equal(set_fd1(dev, A_UNMASK, idx, efd), -ENOTTY);
		/* enabled index */
		assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, idx, 0, 2, fds,
					  sizeof(fds)), 0);
		assert_int_equal(set_none(dev, A_MASK, idx, 0, 2), -ENOTTY);
		assert_int_equal(set_bool1(dev, A_UNMASK, idx, 1), -ENOTTY);
		assert_int_equal(set_fd1(dev, A_MASK, idx, efd), -ENOTTY);
		/* nothing got masked: a fire still signals */
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 1), 1);
		assert_int_equal(tu_count(efd), 1);
		assert_int_equal(tu_count(efd0), 0);
		assert_int_equal(set_none(dev, A_TRIG, idx, 0, 0), 0);
	}
	close(efd0);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule5_intx_mask_eventfd(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int trig = tu_eventfd(), mfd = tu_eventfd();

	(void)state;
	/* INTx off: set_intx_mask checks is_intx before its ENOTTY -> EINVAL */
	assert_int_equal(set_fd1(dev, A_MASK, INTX, mfd), -EINVAL);
	assert_int_equal(set_fd1(dev, A_TRIG, INTX, trig), 0);
	/* INTx on: MASK + DATA_EVENTFD is unimplemented in the kernel -> ENOTTY */
	assert_int_equal(set_fd1(dev, A_MASK, INTX, mfd), -ENOTTY);
	assert_int_equal(set_fd1(dev, A_MASK, INTX, -1), -ENOTTY);
	/* the other INTx MASK forms work */
	assert_int_equal(set_none(dev, A_MASK, INTX, 0, 1), 0);
	assert_int_equal(set_bool1(dev, A_MASK, INTX, 1), 0);
	/* signalling mfd did nothing: still masked, an assert stays silent */
	tu_signal(mfd);
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(trig), 0);
	close(trig);
	close(mfd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule5_action_bits_none_or_several(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev(&full_shape);
	int efd = tu_eventfd();

	(void)state;
	assert_int_equal(set_fd1(dev, A_TRIG, INTX, efd), 0);
	/* vfio_pci_set_irqs_ioctl switches on the whole action field: no
	 * action bit, or more than one, matches no handler -> ENOTTY */
	assert_int_equal(set_none(dev, 0, INTX, 0, 1), -ENOTTY);
	assert_int_equal(set_none(dev, A_MASK | A_UNMASK, INTX, 0, 1), -ENOTTY);
	assert_int_equal(set_none(dev, A_TRIG | A_MASK, INTX, 0, 1), -ENOTTY);
	assert_int_equal(set_none(dev, A_TRIG | A_UNMASK | A_MASK, REQ, 0, 1),
			 -ENOTTY);
	assert_int_equal(set_none(dev, 0, MSIX, 0, 1), -ENOTTY);
	/* none of those looped back or masked */
	assert_int_equal(tu_count(efd), 0);
	assert_int_equal(irqlink_dev_intx_assert(dev), 1);
	assert_int_equal(tu_count(efd), 1);
	close(efd);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rules 4+5: validation happens before the ENOTTY dispatch ----------- */

static void test_rule4_5_validation_before_enotty(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = full_shape;
	struct irqlink_dev *dev, *nopcie;
	int efd = tu_eventfd();
	int32_t fd = efd;

	(void)state;
	s.flags = IRQLINK_DEV_STRICT;
	dev = mkdev(&s);
	/* REQ MASK is ENOTTY, but a bad start is caught first */
	assert_int_equal(set_none(dev, A_MASK, REQ, 1, 1), -EINVAL);
	assert_int_equal(set_none(dev, A_UNMASK, ERR, 0, 2), -EINVAL);
	/* unknown flag bit on an ENOTTY action */
	assert_int_equal(set_none(dev, A_MASK | 0x40, REQ, 0, 1), -EINVAL);
	/* two data types on an ENOTTY action */
	assert_int_equal(tu_set_irqs(dev, A_MASK | D_NONE | D_BOOL, MSIX, 0, 1, &fd, 4),
			 -EINVAL);
	/* short payload on an ENOTTY action (strict MSI MASK) */
	assert_int_equal(set_irqs_raw(dev, 20 + 3, A_MASK | D_EFD, MSI, 0, 1, &fd, 4),
			 -EINVAL);
	/* out of range on strict MSI-X UNMASK */
	assert_int_equal(set_none(dev, A_UNMASK, MSIX, 64, 1), -EINVAL);
	/* argsz short on ERR MASK */
	assert_int_equal(set_irqs_raw(dev, 16, A_MASK | D_NONE, ERR, 0, 1, NULL, 0),
			 -EINVAL);

	/* ERR on a non-PCIe device has count 0: validation fails first */
	s.pcie = false;
	nopcie = mkdev(&s);
	assert_int_equal(set_none(nopcie, A_MASK, ERR, 0, 1), -EINVAL);
	assert_int_equal(set_none(nopcie, A_UNMASK, ERR, 0, 0), -EINVAL);
	assert_int_equal(set_fd1(nopcie, A_TRIG, ERR, efd), -EINVAL);
	/* but REQ is there */
	assert_int_equal(set_none(nopcie, A_MASK, REQ, 0, 1), -ENOTTY);

	close(efd);
	irqlink_dev_destroy(nopcie);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule1_info_argsz_and_index),
		cmocka_unit_test(test_rule2_3_info_full_device),
		cmocka_unit_test(test_rule2_3_info_strict),
		cmocka_unit_test(test_rule2_info_msix_dynamic_drops_noresize),
		cmocka_unit_test(test_rule3_info_no_pin_no_msi_non_pcie),
		cmocka_unit_test(test_create_rejects_impossible_shapes),
		cmocka_unit_test(test_rule4_argsz_and_index),
		cmocka_unit_test(test_rule4_count_overflow),
		cmocka_unit_test(test_rule4_unknown_flag_bits),
		cmocka_unit_test(test_rule4_start_count_range),
		cmocka_unit_test(test_rule4_index_with_count_zero_always_fails),
		cmocka_unit_test(test_rule4_exactly_one_data_type),
		cmocka_unit_test(test_rule4_short_payload),
		cmocka_unit_test(test_rule5_err_req_only_trigger),
		cmocka_unit_test(test_rule5_strict_msi_msix_mask_unmask),
		cmocka_unit_test(test_rule5_intx_mask_eventfd),
		cmocka_unit_test(test_rule5_action_bits_none_or_several),
		cmocka_unit_test(test_rule4_5_validation_before_enotty),
	};

	return tu_run_group(tests);
}
