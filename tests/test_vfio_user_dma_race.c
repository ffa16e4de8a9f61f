/* SPDX-License-Identifier: MIT */
/*
 * vfio-user DMA by message under contention, both ends in this process:
 * device threads doing DMA_WRITE and DMA_READ into a window the client
 * serves through a handler, the server's loop on its own thread, the
 * client's requests (REGION_READ) from another thread, and a poller that
 * answers the server while no request of the client's is waiting. Every
 * access must complete, exactly once, with the right bytes: the counts
 * are exact, and ThreadSanitizer (CI's race suite) checks the locking.
 */
#include "testutil.h"
#include "testdev.h"

#include <irqlink/vfio_user_client.h>
#include <irqlink/vfio_user_server.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/vfio.h>

#define WINDOW  0x10000000ull
#define THREADS 4
#define ROUNDS  2000            /* per device thread */
#define CALLS   500             /* the client's own requests */

struct fx {
	char dir[64], path[96];
	struct testdev *td;
	struct irqlink_vfu_server *s;
	struct irqlink_vfu_client *c;
	int stop;               /* stops the server loop and the poller */
	atomic_bool done;
	uint32_t mem[THREADS][1024];    /* the window, as the client has it */
	unsigned long writes, reads;    /* under the client's lock */
};

static int window(void *opaque, uint64_t iova, void *buf, size_t len,
		  bool write)
{
	struct fx *f = opaque;
	uint8_t *at = (uint8_t *)f->mem + (iova - WINDOW);

	if (write) {
		memcpy(at, buf, len);
		f->writes++;
	} else {
		memcpy(buf, at, len);
		f->reads++;
	}
	return 0;
}

static void *loop(void *arg)
{
	struct fx *f = arg;

	assert_int_equal(irqlink_vfu_server_run(f->s, f->stop), 0);
	return NULL;
}

static void *poller(void *arg)
{
	struct fx *f = arg;

	while (!atomic_load(&f->done)) {
		struct pollfd p = { .fd = irqlink_vfu_client_fd(f->c),
				    .events = POLLIN };

		if (poll(&p, 1, 10) > 0)
			assert_int_equal(irqlink_vfu_client_process(f->c), 0);
	}
	return NULL;
}

struct dev_thread {
	struct fx *f;
	unsigned int n;
	int failures;
};

/* Write a word, read it back: the read's reply must carry what was
 * written, and nothing of another thread's. */
static void *device(void *arg)
{
	struct dev_thread *t = arg;

	for (uint32_t i = 0; i < ROUNDS; i++) {
		uint64_t at = WINDOW + t->n * sizeof(t->f->mem[0]) +
			      (i % 1024) * 4;
		uint32_t v = t->n << 24 | i, back = 0;

		if (irqlink_vfu_server_dma_write(t->f->s, at, &v, 4) ||
		    irqlink_vfu_server_dma_read(t->f->s, at, &back, 4) ||
		    back != v)
			t->failures++;
	}
	return NULL;
}

static void test_dma_contention(void **state)
{
	struct testdev_config dc = { .intx = true, .msi_vectors = 4,
				     .msix_vectors = 64 };
	struct irqlink_vfu_server_config sc = { .ops = &testdev_pci_ops };
	struct irqlink_vfu_client_config cc = { 0 };
	struct dev_thread dt[THREADS];
	pthread_t lt, pt, th[THREADS];
	struct irqlink_vfu_server_stats ss;
	struct irqlink_vfu_client_stats cs;
	struct fx *f = calloc(1, sizeof(*f));
	int fds = tu_open_fds();
	uint64_t one = 1;

	(void)state;
	assert_non_null(f);
	strcpy(f->dir, "/tmp/irqlink-vfur-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/dev.sock", f->dir);
	assert_int_equal(testdev_create(&dc, &f->td), 0);
	sc.path = f->path;
	sc.opaque = f->td;
	assert_int_equal(irqlink_vfu_server_create(&sc, &f->s), 0);
	f->stop = eventfd(0, EFD_CLOEXEC);
	assert_true(f->stop >= 0);
	assert_int_equal(pthread_create(&lt, NULL, loop, f), 0);
	cc.path = f->path;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &f->c), 0);
	assert_int_equal(irqlink_vfu_client_dma_map_handler(f->c, WINDOW,
			 sizeof(f->mem), VFIO_DMA_MAP_FLAG_READ |
			 VFIO_DMA_MAP_FLAG_WRITE, window, f), 0);
	assert_int_equal(pthread_create(&pt, NULL, poller, f), 0);

	for (unsigned int i = 0; i < THREADS; i++) {
		dt[i] = (struct dev_thread){ .f = f, .n = i };
		assert_int_equal(pthread_create(&th[i], NULL, device, &dt[i]),
				 0);
	}
	/* Meanwhile the client's own requests, answered in order. */
	for (int i = 0; i < CALLS; i++) {
		uint32_t id = 0;

		assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
				 VFIO_PCI_BAR0_REGION_INDEX, TESTDEV_REG_ID,
				 &id, 4), 0);
		assert_int_equal(id, TESTDEV_ID_VALUE);
	}
	for (unsigned int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(dt[i].failures, 0);
	}
	atomic_store(&f->done, true);
	assert_int_equal(pthread_join(pt, NULL), 0);

	assert_int_equal(irqlink_vfu_server_get_stats(f->s, &ss), 0);
	assert_int_equal(ss.dma_requests, 2 * THREADS * ROUNDS);
	assert_int_equal(ss.dma_failures, 0);
	assert_int_equal(irqlink_vfu_client_get_stats(f->c, &cs), 0);
	assert_int_equal(cs.server_requests, 2 * THREADS * ROUNDS);
	assert_int_equal(cs.server_errors, 0);
	assert_int_equal(f->writes, THREADS * ROUNDS);
	assert_int_equal(f->reads, THREADS * ROUNDS);
	for (unsigned int i = 0; i < THREADS; i++)
		assert_int_equal(f->mem[i][(ROUNDS - 1) % 1024],
				 i << 24 | (ROUNDS - 1));

	irqlink_vfu_client_destroy(f->c);
	assert_int_equal(write(f->stop, &one, 8), 8);
	assert_int_equal(pthread_join(lt, NULL), 0);
	irqlink_vfu_server_destroy(f->s);
	testdev_destroy(f->td);
	close(f->stop);
	assert_int_equal(rmdir(f->dir), 0);
	assert_int_equal(tu_open_fds(), fds);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dma_contention),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
