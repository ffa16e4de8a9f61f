/* SPDX-License-Identifier: MIT */
/*
 * MSI and MSI-X (interrupt-semantics.md rules 15-20), the per-vector mask and
 * pending-bit extension, and the vfio-user entry irqlink_dev_set_irqs_fds().
 *
 * Every test measures the open fds before creating the device and checks
 * the same number after irqlink_dev_destroy() and closing its own fds; many
 * also check in between that the model holds exactly one duplicate per
 * vector that has an eventfd.
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

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

#define NV 8 /* eventfds per test */

static const struct irqlink_dev_shape base_shape = {
	.intx_pin = true, .pcie = true, .msi_vectors = 8, .msix_vectors = 16,
};

static struct irqlink_dev *mkdev_shape(const struct irqlink_dev_shape *s)
{
	struct irqlink_dev *dev = NULL;

	assert_int_equal(irqlink_dev_create(s, &dev), 0);
	assert_non_null(dev);
	return dev;
}

static struct irqlink_dev *mkdev(void)
{
	return mkdev_shape(&base_shape);
}

static int set_fds(struct irqlink_dev *dev, uint32_t index, uint32_t start,
		   uint32_t count, const int32_t *fds)
{
	return tu_set_irqs(dev, A_TRIG | D_EFD, index, start, count, fds,
			count * sizeof(int32_t));
}

static int set_fd1(struct irqlink_dev *dev, uint32_t index, uint32_t vec,
		   int32_t fd)
{
	return set_fds(dev, index, vec, 1, &fd);
}

static int set_none(struct irqlink_dev *dev, uint32_t action, uint32_t index,
		    uint32_t start, uint32_t count)
{
	return tu_set_irqs(dev, action | D_NONE, index, start, count, NULL, 0);
}

static int set_bools(struct irqlink_dev *dev, uint32_t action, uint32_t index,
		     uint32_t start, uint32_t count, const uint8_t *b)
{
	return tu_set_irqs(dev, action | D_BOOL, index, start, count, b, count);
}

static int disable(struct irqlink_dev *dev, uint32_t index)
{
	return set_none(dev, A_TRIG, index, 0, 0);
}

/* vfio-user layout: header only for EVENTFD, the fds out of band. */
static int set_irqs_fds(struct irqlink_dev *dev, uint32_t flags, uint32_t index,
			uint32_t start, uint32_t count, const void *inline_data,
			size_t len, const int *fds, size_t nfds)
{
	struct vfio_irq_set *s = calloc(1, sizeof(*s) + len);
	int r;

	assert_non_null(s);
	s->argsz = (uint32_t)(sizeof(*s) + len);
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (len)
		memcpy(s->data, inline_data, len);
	r = irqlink_dev_set_irqs_fds(dev, s, fds, nfds);
	free(s);
	return r;
}

static void mkefds(int32_t *efd, int n)
{
	int i;

	for (i = 0; i < n; i++)
		efd[i] = tu_eventfd();
}

static void closeefds(const int32_t *efd, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(efd[i]);
}

/* An fd number that is certainly not open, far above what dups will take. */
static int bad_fd(void)
{
	int fd;

	for (fd = 900; fcntl(fd, F_GETFD) != -1; fd++)
		;
	return fd;
}

static uint64_t pending(struct irqlink_dev *dev, unsigned int index)
{
	uint64_t bits[1] = { 0 };

	assert_true(irqlink_dev_read_pending(dev, index, bits, 1) > 0);
	return bits[0];
}

/* ---- rule 15 ------------------------------------------------------------- */

static void test_rule15_enable_fire_disable(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	uint32_t idx;
	int i, base;

	(void)state;
	mkefds(e, 4);
	base = tu_open_fds();
	for (idx = MSI; idx <= MSIX; idx++) {
		assert_int_equal(disable(dev, idx), -EINVAL); /* not enabled */
		assert_int_equal(set_fds(dev, idx, 0, 4, e), 0);
		assert_int_equal(tu_open_fds(), base + 4);
		for (i = 0; i < 4; i++) {
			assert_int_equal(irqlink_dev_msi_fire(dev, idx, i), 1);
			assert_int_equal(tu_count(e[i]), 1);
		}
		assert_int_equal(disable(dev, idx), 0);
		assert_int_equal(tu_open_fds(), base);
		for (i = 0; i < 4; i++)
			assert_int_equal(irqlink_dev_msi_fire(dev, idx, i), 0);
		assert_int_equal(set_none(dev, A_TRIG, idx, 0, 1), -EINVAL);
		/* the kernel takes the disable branch only when irq_is(index) */
		assert_int_equal(disable(dev, idx), -EINVAL);
		for (i = 0; i < 4; i++)
			assert_int_equal(tu_count(e[i]), 0);
	}
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule15_other_type_active(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	int base;

	(void)state;
	mkefds(e, 4);
	assert_int_equal(set_fds(dev, MSI, 0, 2, e), 0);
	base = tu_open_fds();
	/* MSI active: MSI-X can be neither enabled, looped back nor disabled */
	assert_int_equal(set_fds(dev, MSIX, 0, 2, e + 2), -EINVAL);
	assert_int_equal(set_fd1(dev, MSIX, 0, -1), -EINVAL);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 1), -EINVAL);
	assert_int_equal(disable(dev, MSIX), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSI, 1), 1);
	assert_int_equal(tu_count(e[1]), 1);
	assert_int_equal(disable(dev, MSI), 0);

	/* MSI-X active: MSI refused */
	assert_int_equal(set_fds(dev, MSIX, 0, 2, e), 0);
	assert_int_equal(set_fds(dev, MSI, 0, 2, e + 2), -EINVAL);
	assert_int_equal(disable(dev, MSI), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 1);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(disable(dev, MSIX), 0);

	/* INTx active: both refused */
	assert_int_equal(tu_set_irqs(dev, A_TRIG | D_EFD, INTX, 0, 1, &e[3], 4), 0);
	base = tu_open_fds();
	assert_int_equal(set_fds(dev, MSI, 0, 1, e), -EINVAL);
	assert_int_equal(set_fds(dev, MSIX, 0, 1, e), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(set_none(dev, A_TRIG, INTX, 0, 0), 0);
	assert_int_equal(tu_count(e[0]), 0);
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 16 ------------------------------------------------------------- */

static void test_rule16_enable_start_plus_count_then_set_clear(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	uint32_t idx;
	int base;

	(void)state;
	mkefds(e, 6);
	base = tu_open_fds();
	for (idx = MSI; idx <= MSIX; idx++) {
		/* enabling with start 2, count 2 allocates vectors 0..3 */
		assert_int_equal(set_fds(dev, idx, 2, 2, e + 2), 0);
		assert_int_equal(tu_open_fds(), base + 2);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 0), 0); /* no fd */
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 2), 1);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 3), 1);
		assert_int_equal(tu_count(e[2]), 1);
		assert_int_equal(tu_count(e[3]), 1);
		/* vectors 0 and 1 exist: they take an fd */
		assert_int_equal(set_fd1(dev, idx, 0, e[0]), 0);
		assert_int_equal(set_fd1(dev, idx, 1, e[1]), 0);
		assert_int_equal(tu_open_fds(), base + 4);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 0), 1);
		assert_int_equal(tu_count(e[0]), 1);
		/* non-dynamic: vector 4 was not allocated -> EINVAL
		 * (vfio_msi_alloc_irq: pci_irq_vector fails, no dynamic MSI-X) */
		assert_int_equal(set_fd1(dev, idx, 4, e[4]), -EINVAL);
		assert_int_equal(tu_open_fds(), base + 4);
		/* ...but clearing it is a no-op that succeeds (fd < 0 returns
		 * before allocation) */
		assert_int_equal(set_fd1(dev, idx, 4, -1), 0);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 4), 0);
		/* replace vector 2: old dup closed, new eventfd signalled */
		assert_int_equal(set_fd1(dev, idx, 2, e[5]), 0);
		assert_int_equal(tu_open_fds(), base + 4);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 2), 1);
		assert_int_equal(tu_count(e[5]), 1);
		assert_int_equal(tu_count(e[2]), 0);
		/* clear vector 3: its dup closed, its fires go nowhere */
		assert_int_equal(set_fd1(dev, idx, 3, -1), 0);
		assert_int_equal(tu_open_fds(), base + 3);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 3), 0);
		assert_int_equal(tu_count(e[3]), 0);
		/* a block sets several at once, mixing set and clear */
		{
			int32_t blk[3] = { -1, e[3], e[2] };

			assert_int_equal(set_fds(dev, idx, 1, 3, blk), 0);
			assert_int_equal(tu_open_fds(), base + 3);
			assert_int_equal(irqlink_dev_msi_fire(dev, idx, 1), 0);
			assert_int_equal(irqlink_dev_msi_fire(dev, idx, 2), 1);
			assert_int_equal(irqlink_dev_msi_fire(dev, idx, 3), 1);
			assert_int_equal(tu_count(e[1]), 0);
			assert_int_equal(tu_count(e[3]), 1);
			assert_int_equal(tu_count(e[2]), 1);
		}
		assert_int_equal(disable(dev, idx), 0);
		assert_int_equal(tu_open_fds(), base);
	}
	closeefds(e, 6);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule16_dynamic_msix_allows_new_vectors(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = base_shape;
	struct irqlink_dev *dev;
	int32_t e[NV];
	int base;

	(void)state;
	s.msix_dynamic = true;
	dev = mkdev_shape(&s);
	mkefds(e, 3);
	base = tu_open_fds();
	assert_int_equal(set_fds(dev, MSIX, 0, 1, e), 0);
	/* dynamic: vectors beyond those enabled are allocated on demand */
	assert_int_equal(set_fd1(dev, MSIX, 10, e[1]), 0);
	assert_int_equal(set_fd1(dev, MSIX, 15, e[2]), 0);
	assert_int_equal(tu_open_fds(), base + 3);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 10), 1);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 15), 1);
	assert_int_equal(tu_count(e[1]), 1);
	assert_int_equal(tu_count(e[2]), 1);
	/* still bounded by the table */
	assert_int_equal(set_fd1(dev, MSIX, 16, e[1]), -EINVAL);
	/* MSI is never dynamic */
	assert_int_equal(disable(dev, MSIX), 0);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(set_fds(dev, MSI, 0, 1, e), 0);
	assert_int_equal(set_fd1(dev, MSI, 3, e[1]), -EINVAL);
	assert_int_equal(disable(dev, MSI), 0);
	closeefds(e, 3);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule16_caller_may_close_its_fd(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e = tu_eventfd();
	int reader = dup(e);

	(void)state;
	assert_true(reader >= 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 1, &e), 0);
	close(e); /* borrowed: the model kept its own duplicate */
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 1);
	assert_int_equal(tu_count(reader), 1);
	close(reader);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 17 ------------------------------------------------------------- */

static void test_rule17_fewer_host_vectors_returns_that_number(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = base_shape;
	struct irqlink_dev *dev;
	int32_t e[NV];
	int base, i;

	(void)state;
	s.host_vectors = 4;
	dev = mkdev_shape(&s);
	mkefds(e, 8);
	base = tu_open_fds();
	/* pci_alloc_irq_vectors got fewer than asked: return how many */
	assert_int_equal(set_fds(dev, MSIX, 0, 8, e), 4);
	assert_int_equal(set_fds(dev, MSI, 0, 8, e), 4);
	assert_int_equal(set_fds(dev, MSIX, 4, 2, e), 4); /* start + count = 6 */
	/* nothing changed: no dups kept, nothing enabled */
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 1), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(tu_count(e[0]), 0);
	/* the retry with that many works */
	assert_int_equal(set_fds(dev, MSIX, 0, 4, e), 0);
	assert_int_equal(tu_open_fds(), base + 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, i), 1);
		assert_int_equal(tu_count(e[i]), 1);
	}
	assert_int_equal(disable(dev, MSIX), 0);
	closeefds(e, 8);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 18 ------------------------------------------------------------- */

static void test_rule18_bad_fd_in_block_undoes_enable(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV], blk[4];
	int p[2], base, i, round;

	(void)state;
	mkefds(e, 4);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	base = tu_open_fds();
	for (round = 0; round < 2; round++) {
		int expect = round == 0 ? -EBADF : -EINVAL;

		blk[0] = e[0];
		blk[1] = e[1];
		blk[2] = round == 0 ? bad_fd() : p[0];
		blk[3] = e[3];
		assert_int_equal(set_fds(dev, MSIX, 0, 4, blk), expect);
		/* every dup released, the index disabled again */
		assert_int_equal(tu_open_fds(), base);
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 1), 0);
		assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 4), -EINVAL);
		for (i = 0; i < 4; i++)
			assert_int_equal(tu_count(e[i]), 0);
		/* so another type can be enabled now */
		assert_int_equal(set_fds(dev, MSI, 0, 1, e), 0);
		assert_int_equal(disable(dev, MSI), 0);
	}
	/* a block whose first vector is bad on MSI: same */
	blk[0] = bad_fd();
	assert_int_equal(set_fds(dev, MSI, 0, 1, blk), -EBADF);
	assert_int_equal(set_none(dev, A_TRIG, MSI, 0, 1), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	close(p[0]);
	close(p[1]);
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule18_bad_fd_in_block_when_enabled(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV], x = tu_eventfd(), y = tu_eventfd(), blk[3];
	int p[2], base, after, i;

	(void)state;
	mkefds(e, 8);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 8, e), 0);
	base = tu_open_fds();
	blk[0] = x;
	blk[1] = p[0];
	blk[2] = y;
	/* vectors 2 (x), 3 (pipe) fail at 3 -> 2 and 3 end up cleared */
	assert_int_equal(set_fds(dev, MSIX, 2, 3, blk), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 3), 0);
	assert_int_equal(tu_count(x), 0);
	assert_int_equal(tu_count(e[2]), 0);
	assert_int_equal(tu_count(e[3]), 0);
	/* vectors outside the block are untouched, and so is vector 4, after
	 * the failing one (vfio_msi_set_block stops at the failure and clears
	 * start..failing; spec: "up to that point"). The index stays enabled. */
	for (i = 0; i < 8; i++) {
		if (i == 2 || i == 3)
			continue;
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, i), 1);
		assert_int_equal(tu_count(e[i]), 1);
	}
	assert_int_equal(tu_count(y), 0);
	/* dups: e2 and e3 released, x never kept */
	after = tu_open_fds();
	assert_int_equal(after, base - 2);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 8), 0); /* enabled */
	for (i = 0; i < 8; i++)
		tu_count(e[i]);

	/* non-dynamic: a block that runs past the enabled vectors fails on the
	 * first unallocated one and clears the earlier ones */
	assert_int_equal(disable(dev, MSIX), 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 4, e), 0);
	blk[0] = x;
	blk[1] = y;
	blk[2] = e[6];
	assert_int_equal(set_fds(dev, MSIX, 2, 3, blk), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 3), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 1);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 1), 1);
	assert_int_equal(tu_count(x), 0);
	assert_int_equal(tu_count(y), 0);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(tu_count(e[1]), 1);
	assert_int_equal(disable(dev, MSIX), 0);
	close(p[0]);
	close(p[1]);
	close(x);
	close(y);
	closeefds(e, 8);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 19 ------------------------------------------------------------- */

static void test_rule19_loopback_skips_vectors_without_eventfd(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	uint8_t b[4] = { 1, 1, 0, 1 };
	uint32_t idx;

	(void)state;
	mkefds(e, 4);
	for (idx = MSI; idx <= MSIX; idx++) {
		assert_int_equal(set_none(dev, A_TRIG, idx, 0, 1), -EINVAL);
		assert_int_equal(set_bools(dev, A_TRIG, idx, 0, 4, b), -EINVAL);
		assert_int_equal(set_fds(dev, idx, 0, 4, e), 0);
		assert_int_equal(set_fd1(dev, idx, 1, -1), 0);
		assert_int_equal(set_none(dev, A_TRIG, idx, 0, 4), 0);
		assert_int_equal(tu_count(e[0]), 1);
		assert_int_equal(tu_count(e[1]), 0);
		assert_int_equal(tu_count(e[2]), 1);
		assert_int_equal(tu_count(e[3]), 1);
		assert_int_equal(set_bools(dev, A_TRIG, idx, 0, 4, b), 0);
		assert_int_equal(tu_count(e[0]), 1);
		assert_int_equal(tu_count(e[1]), 0);
		assert_int_equal(tu_count(e[2]), 0);
		assert_int_equal(tu_count(e[3]), 1);
		/* a sub-range: bools index from start */
		assert_int_equal(set_bools(dev, A_TRIG, idx, 2, 2, b + 2), 0);
		assert_int_equal(tu_count(e[2]), 0);
		assert_int_equal(tu_count(e[3]), 1);
		assert_int_equal(set_none(dev, A_TRIG, idx, 3, 1), 0);
		assert_int_equal(tu_count(e[3]), 1);
		assert_int_equal(tu_count(e[0]), 0);
		assert_int_equal(disable(dev, idx), 0);
		assert_int_equal(set_none(dev, A_TRIG, idx, 0, 4), -EINVAL);
	}
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- rule 20: the mask/pending extension --------------------------------- */

static void test_rule20_set_irqs_mask_latches_and_replays_once(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	uint32_t idx;
	int i, base;

	(void)state;
	mkefds(e, 4);
	for (idx = MSI; idx <= MSIX; idx++) {
		assert_int_equal(set_fds(dev, idx, 0, 4, e), 0);
		base = tu_open_fds();
		assert_int_equal(set_none(dev, A_MASK, idx, 1, 1), 0);
		assert_int_equal(tu_open_fds(), base); /* eventfd kept as is */
		for (i = 0; i < 5; i++)
			assert_int_equal(irqlink_dev_msi_fire(dev, idx, 1), 0);
		assert_int_equal(tu_count(e[1]), 0);
		assert_int_equal(pending(dev, idx), 1u << 1);
		/* other vectors unaffected */
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 0), 1);
		assert_int_equal(tu_count(e[0]), 1);
		/* five fires while masked replay as exactly one */
		assert_int_equal(set_none(dev, A_UNMASK, idx, 1, 1), 0);
		assert_int_equal(tu_count(e[1]), 1);
		assert_int_equal(pending(dev, idx), 0);
		assert_int_equal(set_none(dev, A_UNMASK, idx, 1, 1), 0);
		assert_int_equal(tu_count(e[1]), 0); /* no second replay */
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 1), 1);
		assert_int_equal(tu_count(e[1]), 1);
		/* unmasking a masked vector that never fired signals nothing */
		assert_int_equal(set_none(dev, A_MASK, idx, 0, 4), 0);
		assert_int_equal(set_none(dev, A_UNMASK, idx, 0, 4), 0);
		for (i = 0; i < 4; i++)
			assert_int_equal(tu_count(e[i]), 0);
		assert_int_equal(tu_open_fds(), base);
		assert_int_equal(disable(dev, idx), 0);
	}
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule20_set_irqs_mask_unmask_bool(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	uint8_t m[3] = { 1, 0, 1 }, u[3] = { 0, 1, 1 }, one = 1;
	int i;

	(void)state;
	mkefds(e, 4);
	assert_int_equal(set_fds(dev, MSIX, 0, 4, e), 0);
	assert_int_equal(set_bools(dev, A_MASK, MSIX, 0, 3, m), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, i),
				 (i == 0 || i == 2) ? 0 : 1);
	assert_int_equal(tu_count(e[1]), 1);
	assert_int_equal(tu_count(e[3]), 1);
	assert_int_equal(pending(dev, MSIX), (1u << 0) | (1u << 2));
	/* UNMASK BOOL {0,1,1}: vector 0 stays masked, 2 replays, 1 had
	 * nothing pending */
	assert_int_equal(set_bools(dev, A_UNMASK, MSIX, 0, 3, u), 0);
	assert_int_equal(tu_count(e[0]), 0);
	assert_int_equal(tu_count(e[1]), 0);
	assert_int_equal(tu_count(e[2]), 1);
	assert_int_equal(pending(dev, MSIX), 1u << 0);
	assert_int_equal(set_bools(dev, A_UNMASK, MSIX, 0, 1, &one), 0);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(pending(dev, MSIX), 0);
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule20_mask_api_and_persistence(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	struct irqlink_dev_stats st;
	int32_t e[NV];

	(void)state;
	mkefds(e, 2);
	assert_int_equal(irqlink_dev_msi_mask(dev, INTX, 0), -EINVAL);
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 16), -EINVAL);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSI, 8), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 16), -EINVAL);
	assert_int_equal(irqlink_dev_msi_fire(dev, 3, 0), -EINVAL);

	/* the mask bit is set while the index is disabled, and persists */
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 0), 0);
	/* a fire to a disabled index is dropped, not latched */
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(pending(dev, MSIX), 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 2, e), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(tu_count(e[0]), 0);
	assert_int_equal(pending(dev, MSIX), 1);
	irqlink_dev_get_stats(dev, &st);
	assert_true(st.msi_latched >= 1);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 0), 1);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 0), 0);
	irqlink_dev_get_stats(dev, &st);
	assert_int_equal(st.msi_replayed, 1);

	/* mask survives disable + re-enable */
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 1), 0);
	assert_int_equal(disable(dev, MSIX), 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 2, e), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 1), 0);
	assert_int_equal(tu_count(e[1]), 0);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 1), 1);
	assert_int_equal(tu_count(e[1]), 1);
	closeefds(e, 2);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule20_msix_function_mask(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape nomsix = base_shape;
	struct irqlink_dev *dev = mkdev(), *d2;
	int32_t e[NV];
	int i;

	(void)state;
	mkefds(e, 4);
	assert_int_equal(set_fds(dev, MSIX, 0, 4, e), 0);
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 1), 0);
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, true), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, i), 0);
	assert_int_equal(pending(dev, MSIX), 0x7);
	for (i = 0; i < 4; i++)
		assert_int_equal(tu_count(e[i]), 0);
	/* per-vector unmask while the function mask holds: stays pending */
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 1), 0);
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 1), 0);
	assert_int_equal(tu_count(e[1]), 0);
	/* clearing it replays 0 and 2 (1 is masked on its own), once each */
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, false), 2);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(tu_count(e[1]), 0);
	assert_int_equal(tu_count(e[2]), 1);
	assert_int_equal(pending(dev, MSIX), 1u << 1);
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, false), 0);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 1), 1);
	assert_int_equal(tu_count(e[1]), 1);
	/* no pending: no replay */
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, true), 0);
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, false), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(tu_count(e[i]), 0);

	nomsix.msix_vectors = 0;
	d2 = mkdev_shape(&nomsix);
	assert_int_equal(irqlink_dev_msix_set_function_mask(d2, true), -EINVAL);
	irqlink_dev_destroy(d2);
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule20_masking_never_changes_the_eventfd(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	int base, i;

	(void)state;
	mkefds(e, 2);
	assert_int_equal(set_fds(dev, MSIX, 0, 2, e), 0);
	base = tu_open_fds();
	for (i = 0; i < 3; i++) {
		assert_int_equal(set_none(dev, A_MASK, MSIX, 0, 2), 0);
		assert_int_equal(irqlink_dev_msix_set_function_mask(dev, true), 0);
		assert_int_equal(tu_open_fds(), base); /* no dup closed/opened */
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
		assert_int_equal(irqlink_dev_msix_set_function_mask(dev, false), 0);
		assert_int_equal(set_none(dev, A_UNMASK, MSIX, 0, 2), 0);
		assert_int_equal(tu_open_fds(), base);
		/* the replay and later fires land on the same eventfd */
		assert_int_equal(tu_count(e[0]), 1);
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 1);
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 1), 1);
		assert_int_equal(tu_count(e[0]), 1);
		assert_int_equal(tu_count(e[1]), 1);
	}
	closeefds(e, 2);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule20_strict_mode_enotty(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = base_shape;
	struct irqlink_dev *dev;
	int32_t e[NV];
	uint8_t one = 1;
	uint32_t idx;

	(void)state;
	s.flags = IRQLINK_DEV_STRICT;
	dev = mkdev_shape(&s);
	mkefds(e, 2);
	for (idx = MSI; idx <= MSIX; idx++) {
		assert_int_equal(set_fds(dev, idx, 0, 2, e), 0);
		assert_int_equal(set_none(dev, A_MASK, idx, 0, 1), -ENOTTY);
		assert_int_equal(set_none(dev, A_UNMASK, idx, 0, 1), -ENOTTY);
		assert_int_equal(set_bools(dev, A_MASK, idx, 0, 1, &one), -ENOTTY);
		assert_int_equal(set_bools(dev, A_UNMASK, idx, 0, 1, &one), -ENOTTY);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 0), 1);
		assert_int_equal(tu_count(e[0]), 1);
		/* the glue's mask mirror still works in strict mode */
		assert_int_equal(irqlink_dev_msi_mask(dev, idx, 1), 0);
		assert_int_equal(irqlink_dev_msi_fire(dev, idx, 1), 0);
		assert_int_equal(tu_count(e[1]), 0);
		assert_int_equal(irqlink_dev_msi_unmask(dev, idx, 1), 1);
		assert_int_equal(tu_count(e[1]), 1);
		assert_int_equal(disable(dev, idx), 0);
	}
	closeefds(e, 2);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_rule20_read_pending_bounds(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape s = base_shape;
	struct irqlink_dev *dev;
	uint64_t bits[32];
	int32_t e = tu_eventfd();

	(void)state;
	s.msix_vectors = IRQLINK_MSIX_MAX;
	dev = mkdev_shape(&s);
	assert_int_equal(irqlink_dev_read_pending(dev, MSIX, bits, 32), 2048);
	assert_int_equal(irqlink_dev_read_pending(dev, MSIX, bits, 31), -EINVAL);
	assert_int_equal(irqlink_dev_read_pending(dev, MSI, bits, 1), 8);
	assert_int_equal(irqlink_dev_read_pending(dev, INTX, bits, 1), -EINVAL);
	/* the last vector lands in the last word */
	assert_int_equal(set_fds(dev, MSIX, 0, 1, &e), 0);
	/* clearing an unallocated vector succeeds; setting it does not */
	assert_int_equal(set_fd1(dev, MSIX, 2047, -1), 0);
	assert_int_equal(set_fd1(dev, MSIX, 2047, e), -EINVAL);
	assert_int_equal(disable(dev, MSIX), 0);
	{
		int32_t blk = e;

		assert_int_equal(set_fds(dev, MSIX, 2047, 1, &blk), 0);
	}
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 2047), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2047), 0);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(irqlink_dev_read_pending(dev, MSIX, bits, 32), 2048);
	assert_int_equal(bits[31], 1ull << 63);
	assert_int_equal(bits[0], 0);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 2047), 1);
	assert_int_equal(tu_count(e), 1);
	close(e);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- vfio-user entry: fds out of band ------------------------------------ */

/* ---- MSI-X sent by the device's own write (the ARM shape) ---------------- */

struct writes {
	struct irqlink_dev *dev;
	unsigned int n, last;
	uint64_t pending_seen;
	int result;
};

static int record_write(void *opaque, unsigned int vector)
{
	struct writes *w = opaque;

	/* Takes every vector's lock: hangs if the writer runs under one. */
	w->pending_seen = pending(w->dev, MSIX);
	w->n++;
	w->last = vector;
	return w->result;
}

static void test_msix_writer(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev_shape nomsix = base_shape;
	struct irqlink_dev *dev = mkdev(), *d2;
	struct irqlink_dev_stats st;
	struct writes w = { .dev = dev };
	int32_t e[NV];
	int i;

	(void)state;
	nomsix.msix_vectors = 0;
	d2 = mkdev_shape(&nomsix);
	assert_int_equal(irqlink_dev_set_msix_writer(d2, record_write, &w),
			 -EINVAL);
	irqlink_dev_destroy(d2);

	mkefds(e, 4);
	assert_int_equal(irqlink_dev_set_msix_writer(dev, record_write, &w), 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 4, e), 0);
	assert_int_equal(irqlink_dev_set_msix_writer(dev, NULL, NULL), -EBUSY);

	/* An unmasked vector is written, its eventfd left alone. */
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2), 1);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.last, 2);
	assert_int_equal(tu_count(e[2]), 0);

	/* Masked: latched; the unmask writes it once, outside the lock. */
	assert_int_equal(irqlink_dev_msi_mask(dev, MSIX, 1), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 1), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(irqlink_dev_msi_unmask(dev, MSIX, 1), 1);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.last, 1);
	assert_int_equal(w.pending_seen, 0);

	/* The function mask holds and releases the same way. */
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, true), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(irqlink_dev_msix_set_function_mask(dev, false), 1);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.last, 0);

	/* SET_IRQS loopback, and a vector whose eventfd was taken away:
	 * the device writes its message whatever eventfd there is. */
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 3, 1), 0);
	assert_int_equal(w.n, 4);
	assert_int_equal(set_fd1(dev, MSIX, 3, -1), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 3), 1);
	assert_int_equal(w.n, 5);
	for (i = 0; i < 4; i++)
		assert_int_equal(tu_count(e[i]), 0);

	/* A refused write is lost at the device and counted. */
	w.result = -EFAULT;
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2), 0);
	assert_int_equal(w.n, 6);
	w.result = 0;

	/* MSI is not the writer's. */
	assert_int_equal(disable(dev, MSIX), 0);
	assert_int_equal(set_fds(dev, MSI, 0, 1, e), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSI, 0), 1);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(w.n, 6);
	assert_int_equal(disable(dev, MSI), 0);

	/* Off again: eventfds. */
	assert_int_equal(irqlink_dev_set_msix_writer(dev, NULL, NULL), 0);
	assert_int_equal(set_fds(dev, MSIX, 0, 4, e), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2), 1);
	assert_int_equal(tu_count(e[2]), 1);
	assert_int_equal(w.n, 6);

	irqlink_dev_get_stats(dev, &st);
	assert_int_equal(st.msix_writes, 5);
	assert_int_equal(st.msix_write_errors, 1);
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

static void test_vfio_user_set_irqs_fds(void **state)
{
	int fds0 = tu_open_fds();
	struct irqlink_dev *dev = mkdev();
	int32_t e[NV];
	int fds[4];
	uint8_t b[4] = { 0, 1, 0, 1 };
	int base, i;

	(void)state;
	mkefds(e, 4);
	for (i = 0; i < 4; i++)
		fds[i] = e[i];
	base = tu_open_fds();
	/* nfds neither 0 nor count */
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_EFD, MSIX, 0, 4, NULL, 0,
				      fds, 2), -EINVAL);
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_EFD, MSIX, 0, 4, NULL, 0,
				      fds, 5), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 1), -EINVAL);

	/* one fd per vector */
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_EFD, MSIX, 0, 4, NULL, 0,
				      fds, 4), 0);
	assert_int_equal(tu_open_fds(), base + 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, i), 1);
		assert_int_equal(tu_count(e[i]), 1);
	}
	/* BOOL stays inline */
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_BOOL, MSIX, 0, 4, b, 4,
				      NULL, 0), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(tu_count(e[i]), b[i]);
	/* nfds 0 de-assigns the range; the index stays enabled */
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_EFD, MSIX, 1, 2, NULL, 0,
				      NULL, 0), 0);
	assert_int_equal(tu_open_fds(), base + 2);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 1), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 2), 0);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 1);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 3), 1);
	assert_int_equal(tu_count(e[0]), 1);
	assert_int_equal(tu_count(e[3]), 1);
	assert_int_equal(tu_count(e[1]), 0);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 4), 0);
	assert_int_equal(tu_count(e[1]), 0);
	assert_int_equal(tu_count(e[0]), 1);
	/* a bad fd in the out-of-band array: same rollback as rule 18 */
	fds[1] = bad_fd();
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_EFD, MSIX, 0, 2, NULL, 0,
				      fds, 2), -EBADF);
	assert_int_equal(irqlink_dev_msi_fire(dev, MSIX, 0), 0);
	assert_int_equal(tu_open_fds(), base + 1); /* only vector 3's dup */
	/* DATA_NONE, count 0 disables */
	assert_int_equal(set_irqs_fds(dev, A_TRIG | D_NONE, MSIX, 0, 0, NULL, 0,
				      NULL, 0), 0);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(set_none(dev, A_TRIG, MSIX, 0, 1), -EINVAL);
	closeefds(e, 4);
	irqlink_dev_destroy(dev);
	assert_int_equal(tu_open_fds(), fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule15_enable_fire_disable),
		cmocka_unit_test(test_rule15_other_type_active),
		cmocka_unit_test(test_rule16_enable_start_plus_count_then_set_clear),
		cmocka_unit_test(test_rule16_dynamic_msix_allows_new_vectors),
		cmocka_unit_test(test_rule16_caller_may_close_its_fd),
		cmocka_unit_test(test_rule17_fewer_host_vectors_returns_that_number),
		cmocka_unit_test(test_rule18_bad_fd_in_block_undoes_enable),
		cmocka_unit_test(test_rule18_bad_fd_in_block_when_enabled),
		cmocka_unit_test(test_rule19_loopback_skips_vectors_without_eventfd),
		cmocka_unit_test(test_rule20_set_irqs_mask_latches_and_replays_once),
		cmocka_unit_test(test_rule20_set_irqs_mask_unmask_bool),
		cmocka_unit_test(test_rule20_mask_api_and_persistence),
		cmocka_unit_test(test_rule20_msix_function_mask),
		cmocka_unit_test(test_rule20_masking_never_changes_the_eventfd),
		cmocka_unit_test(test_rule20_strict_mode_enotty),
		cmocka_unit_test(test_rule20_read_pending_bounds),
		cmocka_unit_test(test_msix_writer),
		cmocka_unit_test(test_vfio_user_set_irqs_fds),
	};

	return tu_run_group(tests);
}
