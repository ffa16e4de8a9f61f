/* SPDX-License-Identifier: MIT */
/*
 * The device model as an IRQ bypass producer: registration follows the
 * trigger eventfds, and a fire while a consumer switches paths (producer
 * stopped) is held and delivered exactly once when it starts again.
 */
#include "testutil.h"

#include <irqlink/bypass.h>
#include <irqlink/device.h>

#include <errno.h>
#include <unistd.h>

struct cons {
	struct irqlink_bypass_consumer c;
	struct irqlink_dev *dev;
	unsigned int index, vector;
	int adds, dels;
	int fire_ret;           /* what a fire inside add_producer returned */
};

static int cons_add(struct irqlink_bypass_consumer *c,
		    struct irqlink_bypass_producer *p)
{
	struct cons *k = (struct cons *)c;

	(void)p;
	k->adds++;
	/* The producer is stopped here: this fire must be held. */
	if (k->index == VFIO_PCI_INTX_IRQ_INDEX)
		k->fire_ret = irqlink_dev_intx_assert(k->dev);
	else
		k->fire_ret = irqlink_dev_msi_fire(k->dev, k->index, k->vector);
	return 0;
}

static void cons_del(struct irqlink_bypass_consumer *c,
		     struct irqlink_bypass_producer *p)
{
	(void)p;
	((struct cons *)c)->dels++;
}

static void cons_init(struct cons *k, struct irqlink_dev *dev, int efd,
		      unsigned int index, unsigned int vector)
{
	*k = (struct cons){ .dev = dev, .index = index, .vector = vector,
			    .fire_ret = -1 };
	assert_int_equal(irqlink_bypass_token_from_fd(efd, &k->c.token), 0);
	k->c.add_producer = cons_add;
	k->c.del_producer = cons_del;
}

static int set_fds(struct irqlink_dev *dev, uint32_t index, uint32_t action,
		   uint32_t start, const int *fds, uint32_t n)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .index = index, .start = start, .count = n,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | action,
	};
	return irqlink_dev_set_irqs_fds(dev, &s, fds, n);
}

static uint32_t producers(struct irqlink_bypass *b)
{
	struct irqlink_bypass_stats st;

	assert_int_equal(irqlink_bypass_get_stats(b, &st), 0);
	return (uint32_t)st.producers;
}

static void test_msix_vectors_register_and_follow_swaps(void **state)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 4 };
	struct irqlink_bypass *b;
	struct irqlink_dev *dev;
	int efd[4], other, fds_before = tu_open_fds();
	struct cons k;

	(void)state;
	assert_int_equal(irqlink_bypass_create(&b), 0);
	assert_int_equal(irqlink_dev_create(&shape, &dev), 0);
	assert_int_equal(irqlink_dev_attach_bypass(dev, b), 0);
	for (int i = 0; i < 4; i++)
		efd[i] = tu_eventfd();
	assert_int_equal(set_fds(dev, VFIO_PCI_MSIX_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_TRIGGER, 0, efd, 4), 0);
	assert_int_equal(producers(b), 4);

	/* The consumer of vector 2's eventfd connects; the fire it makes
	 * while the producer is stopped is held, then sent once on start. */
	cons_init(&k, dev, efd[2], VFIO_PCI_MSIX_IRQ_INDEX, 2);
	assert_int_equal(irqlink_bypass_register_consumer(b, &k.c), 0);
	assert_int_equal(k.adds, 1);
	assert_non_null(k.c.producer);
	assert_int_equal(k.fire_ret, 0);
	assert_int_equal(tu_count(efd[2]), 1);
	uint64_t pba = 1;
	assert_int_equal(irqlink_dev_read_pending(dev, VFIO_PCI_MSIX_IRQ_INDEX,
						  &pba, 1), 4);
	assert_int_equal(pba, 0);

	/* Swapping vector 2's eventfd disconnects the old pairing. */
	other = tu_eventfd();
	assert_int_equal(set_fds(dev, VFIO_PCI_MSIX_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_TRIGGER, 2, &other, 1), 0);
	assert_int_equal(k.dels, 1);
	assert_null(k.c.producer);
	assert_int_equal(producers(b), 4);

	/* Disabling the index unregisters every producer. */
	struct vfio_irq_set off = {
		.argsz = sizeof(off), .index = VFIO_PCI_MSIX_IRQ_INDEX,
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	assert_int_equal(irqlink_dev_set_irqs(dev, &off), 0);
	assert_int_equal(producers(b), 0);

	assert_int_equal(irqlink_bypass_unregister_consumer(b, &k.c), 0);
	irqlink_dev_destroy(dev);
	irqlink_bypass_destroy(b);
	for (int i = 0; i < 4; i++)
		close(efd[i]);
	close(other);
	assert_int_equal(tu_open_fds(), fds_before);
}

static void test_intx_level_held_while_stopped(void **state)
{
	struct irqlink_dev_shape shape = { .intx_pin = true };
	struct irqlink_bypass *b;
	struct irqlink_dev *dev;
	int trig = tu_eventfd(), fds_before;
	struct cons k;

	(void)state;
	fds_before = tu_open_fds();
	assert_int_equal(irqlink_bypass_create(&b), 0);
	assert_int_equal(irqlink_dev_create(&shape, &dev), 0);
	/* Attach after the trigger exists: existing triggers register too. */
	assert_int_equal(set_fds(dev, VFIO_PCI_INTX_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_TRIGGER, 0, &trig, 1), 0);
	assert_int_equal(irqlink_dev_attach_bypass(dev, b), 0);
	assert_int_equal(producers(b), 1);

	cons_init(&k, dev, trig, VFIO_PCI_INTX_IRQ_INDEX, 0);
	assert_int_equal(irqlink_bypass_register_consumer(b, &k.c), 0);
	assert_int_equal(k.fire_ret, 0);        /* held while stopped */
	assert_int_equal(tu_count(trig), 1);    /* fired once on start */
	/* Automasked now: a second assertion is not signalled. */
	assert_int_equal(irqlink_dev_intx_assert(dev), 0);
	assert_int_equal(tu_count(trig), 0);

	/* Detaching the manager unregisters (and so disconnects). */
	assert_int_equal(irqlink_dev_attach_bypass(dev, NULL), 0);
	assert_int_equal(producers(b), 0);
	assert_int_equal(k.dels, 1);
	assert_int_equal(irqlink_bypass_unregister_consumer(b, &k.c), 0);
	irqlink_dev_destroy(dev);
	irqlink_bypass_destroy(b);
	assert_int_equal(tu_open_fds(), fds_before);
	close(trig);
}

static void test_shared_eventfd_and_second_manager(void **state)
{
	struct irqlink_dev_shape shape = { .msi_vectors = 2 };
	struct irqlink_bypass *b, *b2;
	struct irqlink_dev *dev;
	struct irqlink_dev_stats st;
	int efd = tu_eventfd(), fds_before, both[2];

	(void)state;
	fds_before = tu_open_fds();
	assert_int_equal(irqlink_bypass_create(&b), 0);
	assert_int_equal(irqlink_bypass_create(&b2), 0);
	assert_int_equal(irqlink_dev_create(&shape, &dev), 0);
	assert_int_equal(irqlink_dev_attach_bypass(dev, b), 0);
	assert_int_equal(irqlink_dev_attach_bypass(dev, b2), -EBUSY);
	assert_int_equal(irqlink_dev_attach_bypass(dev, b), 0);

	/* One eventfd behind two vectors: the second producer is refused
	 * (-EBUSY in the manager), yet both vectors still deliver. */
	both[0] = both[1] = efd;
	assert_int_equal(set_fds(dev, VFIO_PCI_MSI_IRQ_INDEX,
				 VFIO_IRQ_SET_ACTION_TRIGGER, 0, both, 2), 0);
	assert_int_equal(producers(b), 1);
	irqlink_dev_get_stats(dev, &st);
	assert_int_equal(st.bypass_failures, 1);
	assert_int_equal(irqlink_dev_msi_fire(dev, VFIO_PCI_MSI_IRQ_INDEX, 0), 1);
	assert_int_equal(irqlink_dev_msi_fire(dev, VFIO_PCI_MSI_IRQ_INDEX, 1), 1);
	assert_int_equal(tu_count(efd), 2);

	/* Destroy with the manager attached leaves nothing registered. */
	irqlink_dev_destroy(dev);
	assert_int_equal(producers(b), 0);
	irqlink_bypass_destroy(b);
	irqlink_bypass_destroy(b2);
	assert_int_equal(tu_open_fds(), fds_before);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msix_vectors_register_and_follow_swaps),
		cmocka_unit_test(test_intx_level_held_while_stopped),
		cmocka_unit_test(test_shared_eventfd_and_second_manager),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
