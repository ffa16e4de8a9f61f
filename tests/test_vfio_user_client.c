/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client against our server, the server in a child process
 * serving the test device, as irqlink-devd does:
 *
 *   - connect: VERSION, device info, the interrupt counts, the doorbell;
 *     config space and BAR0 through the glue's ops;
 *   - SET_IRQS with 20 eventfds to a server that takes 8 per message goes
 *     as an enable of the whole block and 3 messages of eventfds, registers 20 proxy producers, and the remote device's
 *     fires land in exactly the eventfds that were sent;
 *   - a run of -1 entries de-assigns; a chunk that fails de-assigns the
 *     whole range and the first error comes back;
 *   - a server that never answers times out; one that goes away gives
 *     -ENOTCONN; no fd is left behind.
 */
#include "testutil.h"
#include "testdev.h"

#include <irqlink/bypass.h>
#include <irqlink/vfio_user_client.h>
#include <irqlink/vfio_user_server.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#define MSIX 64u
#define SERVER_FDS 8u

struct fx {
	char dir[64], path[96];
	pid_t server;
	int stop;               /* write end: closing it stops the server */
	struct irqlink_bypass *bypass;
	struct irqlink_vfu_client *c;
	int fds_before;
};

/* The test device's bus-master writes: the server's DMA. */
static int device_dma(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct irqlink_vfu_server **s = opaque;

	return irqlink_vfu_server_dma_write(*s, addr, buf, len);
}

/* The child: the test device (@msix entries) served until the parent
 * closes @stop. */
static void serve(const char *path, uint32_t msix, int ready, int stop)
{
	struct irqlink_vfu_server *s = NULL;
	struct testdev_config dc = { .intx = true, .msi_vectors = 4,
				     .msix_vectors = msix, .mem_bar = true,
				     .dma_write = device_dma, .dma_opaque = &s };
	struct irqlink_vfu_server_config sc = {
		.path = path, .ops = &testdev_pci_ops,
		.max_msg_fds = SERVER_FDS,
	};
	struct testdev *td;
	char ok = 1;

	if (testdev_create(&dc, &td))
		_exit(2);
	sc.opaque = td;
	if (irqlink_vfu_server_create(&sc, &s))
		_exit(3);
	if (write(ready, &ok, 1) != 1)
		_exit(4);
	close(ready);
	(void)irqlink_vfu_server_run(s, stop);
	irqlink_vfu_server_destroy(s);
	testdev_destroy(td);
	_exit(0);
}

static void start_server_msix(struct fx *f, uint32_t msix)
{
	int ready[2], stop[2];
	char b;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	f->server = fork();
	assert_true(f->server >= 0);
	if (f->server == 0) {
		close(ready[0]);
		close(stop[1]);
		serve(f->path, msix, ready[1], stop[0]);
	}
	close(ready[1]);
	close(stop[0]);
	f->stop = stop[1];
	assert_int_equal(read(ready[0], &b, 1), 1);
	close(ready[0]);
}

static void start_server(struct fx *f)
{
	start_server_msix(f, MSIX);
}

static void stop_server(struct fx *f)
{
	int status;

	if (f->server <= 0)
		return;
	close(f->stop);
	assert_int_equal(waitpid(f->server, &status, 0), f->server);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	f->server = 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct irqlink_vfu_client_config cc = { 0 };

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	strcpy(f->dir, "/tmp/irqlink-vfuc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/dev.sock", f->dir);
	start_server(f);
	assert_int_equal(irqlink_bypass_create(&f->bypass), 0);
	cc.path = f->path;
	cc.bypass = f->bypass;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &f->c), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct irqlink_bypass_stats bs;

	irqlink_vfu_client_destroy(f->c);
	/* Every proxy went with the client. */
	assert_int_equal(irqlink_bypass_get_stats(f->bypass, &bs), 0);
	assert_int_equal(bs.producers, 0);
	irqlink_bypass_destroy(f->bypass);
	stop_server(f);
	rmdir(f->dir);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

static uint32_t bar0(struct fx *f, uint32_t reg)
{
	uint32_t v = 0;

	assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
			 VFIO_PCI_BAR0_REGION_INDEX, reg, &v, 4), 0);
	return v;
}

static void bar0_write(struct fx *f, uint32_t reg, uint32_t v)
{
	assert_int_equal(irqlink_vfu_client_ops.region_write(f->c,
			 VFIO_PCI_BAR0_REGION_INDEX, reg, &v, 4), 0);
}

/* The remote device raises @count interrupts of @kind on @vector. */
static void fire(struct fx *f, uint32_t kind, uint32_t vector, uint32_t count)
{
	bar0_write(f, TESTDEV_REG_KIND, kind);
	bar0_write(f, TESTDEV_REG_VECTOR, vector);
	bar0_write(f, TESTDEV_REG_COUNT, count);
	bar0_write(f, TESTDEV_REG_DOORBELL, 1);
}

static struct irqlink_vfu_client_stats cstats(struct fx *f)
{
	struct irqlink_vfu_client_stats st;

	assert_int_equal(irqlink_vfu_client_get_stats(f->c, &st), 0);
	return st;
}

static int msix_triggers(struct fx *f, uint32_t start, const int *fds,
			 uint32_t n)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD |
			 VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX, .start = start, .count = n,
	};

	return irqlink_vfu_client_ops.set_irqs(f->c, &set, fds, n);
}

static void test_connect(void **state)
{
	struct fx *f = *state;
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_irq_info ii = { .argsz = sizeof(ii),
				    .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct irqlink_pci_ioeventfd db[4];
	uint32_t id = 0;

	assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
			 VFIO_PCI_CONFIG_REGION_INDEX, 0, &id, 4), 0);
	assert_int_equal(id, TESTDEV_VENDOR_ID | TESTDEV_DEVICE_ID << 16);
	assert_int_equal(bar0(f, TESTDEV_REG_ID), TESTDEV_ID_VALUE);
	assert_int_equal(irqlink_vfu_client_ops.get_region_info(f->c, &ri), 0);
	assert_int_equal(ri.size, TESTDEV_BAR0_SIZE);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_WRITE);
	assert_int_equal(irqlink_vfu_client_ops.get_irq_info(f->c, &ii), 0);
	assert_int_equal(ii.count, MSIX);
	/* The device's one doorbell, an eventfd of our own now. */
	assert_int_equal(irqlink_vfu_client_ops.get_ioeventfds(f->c, db, 4), 1);
	assert_int_equal(db[0].region, VFIO_PCI_BAR0_REGION_INDEX);
	assert_int_equal(db[0].offset, TESTDEV_REG_DOORBELL);
	tu_signal(db[0].fd);    /* must be a live eventfd */
	assert_int_equal(cstats(f).doorbells, 1);
	/* A read past the region's end is the server's EINVAL. */
	assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
			 VFIO_PCI_BAR0_REGION_INDEX, TESTDEV_BAR0_SIZE, &id, 4),
			 -EINVAL);
	assert_int_equal(cstats(f).errors, 1);
}

static void test_set_irqs_chunks(void **state)
{
	struct fx *f = *state;
	struct irqlink_bypass_stats bs;
	uint64_t before = cstats(f).set_irqs_messages;
	int e[20];

	for (int i = 0; i < 20; i++)
		e[i] = tu_eventfd();
	assert_int_equal(msix_triggers(f, 0, e, 20), 0);
	/* The block enabled whole (vfio sizes it by the enabling call),
	 * then 8 + 8 + 4 eventfds, each message answered. */
	assert_int_equal(cstats(f).set_irqs_messages - before, 4);
	assert_int_equal(cstats(f).producers, 20);
	assert_int_equal(irqlink_bypass_get_stats(f->bypass, &bs), 0);
	assert_int_equal(bs.producers, 20);
	fire(f, VFIO_PCI_MSIX_IRQ_INDEX, 13, 3);
	fire(f, VFIO_PCI_MSIX_IRQ_INDEX, 19, 1);
	for (int i = 0; i < 20; i++)
		assert_int_equal(tu_count(e[i]),
				 i == 13 ? 3 : i == 19 ? 1 : 0);
	/* Enabled already; a run of -1 inside: three messages, vectors 5-6
	 * de-assigned. */
	before = cstats(f).set_irqs_messages;
	{
		int mixed[4] = { e[4], -1, -1, e[7] };

		assert_int_equal(msix_triggers(f, 4, mixed, 4), 0);
	}
	assert_int_equal(cstats(f).set_irqs_messages - before, 3);
	assert_int_equal(cstats(f).producers, 18);
	fire(f, VFIO_PCI_MSIX_IRQ_INDEX, 5, 1);
	fire(f, VFIO_PCI_MSIX_IRQ_INDEX, 7, 1);
	assert_int_equal(tu_count(e[5]), 0);
	assert_int_equal(tu_count(e[7]), 1);
	/* The index off: every proxy goes. */
	{
		struct vfio_irq_set off = {
			.argsz = sizeof(off),
			.flags = VFIO_IRQ_SET_DATA_NONE |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSIX_IRQ_INDEX,
		};

		assert_int_equal(irqlink_vfu_client_ops.set_irqs(f->c, &off,
				 NULL, 0), 0);
	}
	assert_int_equal(cstats(f).producers, 0);
	for (int i = 0; i < 20; i++)
		close(e[i]);
}

static void test_set_irqs_failure_deassigns_all(void **state)
{
	struct fx *f = *state;
	int e[20], p[2];

	for (int i = 0; i < 20; i++)
		e[i] = tu_eventfd();
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* The third chunk carries a pipe: the device refuses it. */
	close(e[17]);
	e[17] = p[0];
	assert_int_equal(msix_triggers(f, 0, e, 20), -EINVAL);
	assert_int_equal(cstats(f).producers, 0);
	/* The first two chunks were taken, then undone. */
	fire(f, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	fire(f, VFIO_PCI_MSIX_IRQ_INDEX, 9, 1);
	assert_int_equal(tu_count(e[0]), 0);
	assert_int_equal(tu_count(e[9]), 0);
	for (int i = 0; i < 20; i++)
		close(e[i]);
	close(p[1]);
}

static void test_server_gone(void **state)
{
	struct fx *f = *state;
	uint32_t v;

	kill(f->server, SIGKILL);
	assert_int_equal(waitpid(f->server, NULL, 0), f->server);
	f->server = 0;
	close(f->stop);
	assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
			 VFIO_PCI_BAR0_REGION_INDEX, 0, &v, 4), -ENOTCONN);
	/* And it stays so, without touching the socket again. */
	assert_int_equal(irqlink_vfu_client_reset(f->c), -ENOTCONN);
	unlink(f->path);
}

/* A window of ours without an fd: what the device wrote, and when to
 * refuse. */
struct window {
	uint8_t mem[0x1000];
	unsigned int writes;
};

static int window_dma(void *opaque, uint64_t iova, void *buf, size_t len,
		      bool write)
{
	struct window *w = opaque;
	uint64_t off = iova - 0x10000000;

	if (off == 0x800)
		return -EIO;    /* the handler's error is the device's */
	if (write) {
		memcpy(w->mem + off, buf, len);
		w->writes++;
	} else {
		memcpy(buf, w->mem + off, len);
	}
	return 0;
}

static void dma_to(struct fx *f, uint64_t addr, uint32_t val)
{
	bar0_write(f, TESTDEV_REG_DMA_LO, (uint32_t)addr);
	bar0_write(f, TESTDEV_REG_DMA_HI, (uint32_t)(addr >> 32));
	bar0_write(f, TESTDEV_REG_DMA_DATA, val);
}

/* The device's DMA into ranges without an fd: DMA_WRITE requests from the
 * server arrive while our REGION_WRITE waits for its reply (the server's
 * loop thread is the one doing the DMA), and are answered in between. */
static void test_dma_requests(void **state)
{
	struct fx *f = *state;
	struct window w = { .writes = 0 };
	struct irqlink_vfu_client_stats st;
	uint16_t cmd = 0x0004;  /* Bus Master Enable */
	uint32_t v;
	int memfd;

	assert_int_equal(irqlink_vfu_client_dma_map_handler(f->c, 0x10000000,
			 0x1000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			 window_dma, &w), 0);
	assert_int_equal(irqlink_vfu_client_dma_map_handler(f->c, 0x10001000,
			 0x1000, VFIO_DMA_MAP_FLAG_READ, window_dma, &w), 0);
	assert_int_equal(irqlink_vfu_client_dma_map_handler(f->c, 0x10002000,
			 0x1000, 3, NULL, NULL), -EINVAL);
	assert_int_equal(irqlink_vfu_client_ops.region_write(f->c,
			 VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2), 0);

	dma_to(f, 0x10000010, 0xfeedf00d);
	memcpy(&v, w.mem + 0x10, 4);
	assert_int_equal(v, 0xfeedf00d);
	assert_int_equal(w.writes, 1);
	assert_int_equal(bar0(f, TESTDEV_REG_DMAS), 1);
	st = cstats(f);
	assert_int_equal(st.server_requests, 1);
	assert_int_equal(st.server_errors, 0);

	/* Refused by the server itself: a write to a range mapped read-only,
	 * an address nobody mapped; by us: the handler's -EIO. */
	dma_to(f, 0x10001000, 1);
	dma_to(f, 0x10000800, 2);
	dma_to(f, 0x20000000, 3);
	assert_int_equal(w.writes, 1);
	assert_int_equal(bar0(f, TESTDEV_REG_DMAS), 1);
	assert_int_equal(bar0(f, TESTDEV_REG_DMA_ERRORS), 3);
	st = cstats(f);
	assert_int_equal(st.server_requests, 2);
	assert_int_equal(st.server_errors, 1);

	/* After the unmap the device cannot reach the window. */
	assert_int_equal(irqlink_vfu_client_dma_unmap(f->c, 0x10000000,
						      0x1000), 0);
	dma_to(f, 0x10000010, 4);
	assert_int_equal(bar0(f, TESTDEV_REG_DMA_ERRORS), 4);
	assert_int_equal(cstats(f).server_requests, 2);

	/* An fd-backed range goes in place: no request at all. */
	memfd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, 0x1000), 0);
	assert_int_equal(irqlink_vfu_client_dma_map(f->c, 0x30000000, 0x1000,
			 VFIO_DMA_MAP_FLAG_WRITE, memfd, 0), 0);
	dma_to(f, 0x30000020, 0xabcd1234);
	assert_int_equal(pread(memfd, &v, 4, 0x20), 4);
	assert_int_equal(v, 0xabcd1234);
	assert_int_equal(cstats(f).server_requests, 2);
	close(memfd);
	/* Nothing waits: process finds nothing to do. */
	assert_int_equal(irqlink_vfu_client_process(f->c), 0);
	assert_true(irqlink_vfu_client_fd(f->c) >= 0);
}

/* A server that crashes and comes back at the same path: the client
 * dials again, refuses another device, and restores its DMA ranges; the
 * doorbells are the new server's. */
static void test_reconnect(void **state)
{
	struct fx *f = *state;
	struct window w = { .writes = 0 };
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = TESTDEV_MEM_BAR };
	struct irqlink_pci_region_mmap mm;
	uint16_t cmd = 0x0004;  /* Bus Master Enable */
	uint32_t v;

	assert_int_equal(irqlink_vfu_client_ops.get_region_info(f->c, &ri), 0);
	assert_int_equal(irqlink_vfu_client_ops.get_region_mmap(f->c,
			 TESTDEV_MEM_BAR, &mm), 0);
	assert_true(irqlink_vfu_client_connected(f->c));
	assert_int_equal(irqlink_vfu_client_reconnect(f->c), -EISCONN);
	assert_int_equal(irqlink_vfu_client_dma_map_handler(f->c, 0x10000000,
			 0x1000, VFIO_DMA_MAP_FLAG_WRITE, window_dma, &w), 0);
	assert_int_equal(cstats(f).doorbells, 1);

	kill(f->server, SIGKILL);
	assert_int_equal(waitpid(f->server, NULL, 0), f->server);
	f->server = 0;
	close(f->stop);
	unlink(f->path);
	assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
			 VFIO_PCI_BAR0_REGION_INDEX, 0, &v, 4), -ENOTCONN);
	assert_false(irqlink_vfu_client_connected(f->c));
	/* Not back yet. */
	assert_int_equal(irqlink_vfu_client_reconnect(f->c), -ENOENT);

	/* Back, but another device (32 MSI-X entries, not 64). */
	start_server_msix(f, 32);
	assert_int_equal(irqlink_vfu_client_reconnect(f->c), -EPROTO);
	assert_false(irqlink_vfu_client_connected(f->c));
	stop_server(f);
	unlink(f->path);

	/* The same device: restored. */
	start_server(f);
	assert_int_equal(irqlink_vfu_client_reconnect(f->c), 0);
	assert_true(irqlink_vfu_client_connected(f->c));
	assert_int_equal(bar0(f, TESTDEV_REG_ID), TESTDEV_ID_VALUE);
	assert_int_equal(cstats(f).reconnects, 1);
	assert_int_equal(cstats(f).doorbells, 2);
	/* The old server's memory is gone with it; the new one's is asked. */
	assert_int_equal(irqlink_vfu_client_ops.get_region_mmap(f->c,
			 TESTDEV_MEM_BAR, &mm), -ENOENT);
	assert_int_equal(irqlink_vfu_client_ops.get_region_info(f->c, &ri), 0);
	assert_int_equal(irqlink_vfu_client_ops.get_region_mmap(f->c,
			 TESTDEV_MEM_BAR, &mm), 0);
	/* The window is the new server's too: the device's DMA reaches it. */
	assert_int_equal(irqlink_vfu_client_ops.region_write(f->c,
			 VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2), 0);
	dma_to(f, 0x10000010, 0x5eed5eed);
	memcpy(&v, w.mem + 0x10, 4);
	assert_int_equal(v, 0x5eed5eed);
	assert_int_equal(w.writes, 1);
}

/* A region the server lets be mapped: its fd and sparse areas through the
 * glue's get_region_mmap; our mapping is the device's memory. */
static void test_region_mmap(void **state)
{
	struct fx *f = *state;
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = TESTDEV_MEM_BAR };
	struct irqlink_pci_region_mmap mm;
	uint32_t v = 0x7e57da7a;
	uint8_t *map;

	assert_int_equal(irqlink_vfu_client_ops.get_region_mmap(f->c,
			 TESTDEV_MEM_BAR, &mm), -ENOENT);      /* not asked */
	assert_int_equal(irqlink_vfu_client_ops.get_region_info(f->c, &ri), 0);
	assert_int_equal(ri.size, TESTDEV_MEM_SIZE);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(irqlink_vfu_client_ops.get_region_mmap(f->c,
			 TESTDEV_MEM_BAR, &mm), 0);
	assert_int_equal(mm.nareas, 1);
	assert_int_equal(mm.areas[0].offset, TESTDEV_MEM_TRAP);
	assert_int_equal(mm.areas[0].size, TESTDEV_MEM_SIZE - TESTDEV_MEM_TRAP);
	map = mmap(NULL, TESTDEV_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   mm.fd, (off_t)mm.fd_offset);
	assert_true(map != MAP_FAILED);
	memcpy(map + 0x4000, &v, 4);
	v = 0;
	assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
			 TESTDEV_MEM_BAR, 0x4000, &v, 4), 0);
	assert_int_equal(v, 0x7e57da7a);
	/* The device's own access sees it too. */
	bar0_write(f, TESTDEV_REG_MEM_OFF, 0x4000);
	assert_int_equal(bar0(f, TESTDEV_REG_MEM_DATA), 0x7e57da7a);
	munmap(map, TESTDEV_MEM_SIZE);

	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	assert_int_equal(irqlink_vfu_client_ops.get_region_info(f->c, &ri), 0);
	assert_false(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(irqlink_vfu_client_ops.get_region_mmap(f->c,
			 VFIO_PCI_BAR0_REGION_INDEX, &mm), -ENOENT);
}

static void test_timeout_and_bad_config(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct irqlink_vfu_client_config cc = { .timeout_ms = 100 };
	struct irqlink_vfu_client *c = NULL;
	char dir[64] = "/tmp/irqlink-vfuc-XXXXXX";
	int fds = tu_open_fds(), l;

	(void)state;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -EINVAL);
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/mute.sock", dir);
	cc.path = sa.sun_path;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -ENOENT);
	/* Listens, never answers. */
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -ETIMEDOUT);
	assert_null(c);
	cc.flags = 1;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -EINVAL);
	close(l);
	unlink(sa.sun_path);
	rmdir(dir);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_set_irqs_failure_deassigns_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dma_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_region_mmap, setup,
						teardown),
		cmocka_unit_test(test_timeout_and_bad_config),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
