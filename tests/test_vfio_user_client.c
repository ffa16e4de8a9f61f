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
 *     -ENOTCONN; no fd is left behind;
 *   - against a scripted server in a thread: a DMA request sent in one
 *     send() with the reply the client awaits, ahead of it or behind it,
 *     is answered before the call returns; one cut short behind it, on
 *     the process() after the rest comes.
 */
#include "testutil.h"
#include "testdev.h"
#include "vfio_user_msg.h"

#include <irqlink/bypass.h>
#include <irqlink/vfio_user_client.h>
#include <irqlink/vfio_user_server.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
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

static void close_all(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* A fresh directory in @dir and the path of socket @name in it in @path,
 * sized as struct fx's. */
static void socket_path(char dir[64], char path[96], const char *name)
{
	strcpy(dir, "/tmp/irqlink-vfuc-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, 96, "%s/%s", dir, name);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	return l;
}

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
	socket_path(f->dir, f->path, "dev.sock");
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

#define WINDOW_IOVA 0x10000000u

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
	uint64_t off = iova - WINDOW_IOVA;

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

/* ---- a scripted server: what arrives in one read with a reply ----------- */

/*
 * The client reads ahead: one recvmsg() may take a reply and whatever the
 * server sent with it, and what it took no longer shows on the socket. A
 * server request (DMA_READ / DMA_WRITE) that shares a read with the reply
 * must still be answered before the call returns; nothing else would
 * read it until the server sends more. The server here is a thread on
 * the other end of the client's socket that answers the handshake
 * minimally and sends, for each REGION_READ, its reply and a DMA request
 * in one send(), in the order a script says.
 */

/* Where the DMA request stands in the one send() that carries the reply. */
enum order {
	REQUEST_FIRST,          /* met while the reply is awaited */
	REPLY_FIRST,            /* behind the reply, in the same read */
	REPLY_THEN_PART,        /* behind it but cut short: the rest later */
	REQUEST_OVER_FDS,       /* alone ahead of the reply, with more fds
				 * than the client takes */
};

/* The client's limit (its default max_msg_fds) and one fd more. */
#define OVER_FDS 17u

struct step {
	enum order order;
	uint16_t cmd;           /* IL_VFU_CMD_DMA_READ or _WRITE */
	uint64_t addr;
	uint32_t count;
	uint32_t error;         /* the client's refusal, or 0 */
};

/* The client's answer to one step's DMA request, as the server saw it. */
struct answer {
	bool at_return;         /* already sent when the call returned */
	bool at_process;        /* sent by irqlink_vfu_client_process() */
	bool extra;             /* anything more came */
	struct il_vfu_hdr hdr;
	uint8_t data[64];
	size_t len;
};

#define SCRIPT_MAX 8u
#define FAKE_MAX_MSG 4096u
#define FAKE_WAIT_S 5
/* The client's reply timeout here: a call that sat it out, waiting on a
 * socket that shows nothing of what the client already holds, is told
 * from one that did not. */
#define FAKE_TIMEOUT_MS 2000
/* The server's ids for its requests, far from the client's: an answer
 * that echoes the wrong one shows. */
#define DMA_ID(k) ((uint16_t)(0x8000u + (k)))
/* What the requests aim at besides the window: memory behind an fd that
 * the device may only read. */
#define MEM_IOVA    0x30000000u
#define MEM_SIZE    0x1000u
#define READ_LEN    8u

/* Who acts: the test between its calls, the server between its sends. The
 * turn passes under the lock, which also orders what the server records
 * before the test reads it. */
enum { TURN_TEST, TURN_SERVER };

struct fake {
	char dir[64], path[96];
	int listener, conn;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int turn;
	int failed;             /* the server's first failed check: a line */
	const struct step *steps;
	size_t nsteps, next;
	unsigned int requests;  /* every request the client sent */
	struct answer ans[SCRIPT_MAX];
	struct irqlink_vfu_client *c;
	int fds_before;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static uint8_t reg_byte(uint64_t off, size_t i)
{
	return (uint8_t)(0xa0 + off + i);
}

static uint8_t dma_byte(size_t step, size_t i)
{
	return (uint8_t)(0x10 * (step + 1) + i);
}

static uint8_t mem_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static void hand_over(struct fake *f, int to)
{
	pthread_mutex_lock(&f->lock);
	f->turn = to;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Wait for the turn to come to @self; false after FAKE_WAIT_S or once the
 * server has failed (it gives up the turn then). */
static bool await_turn(struct fake *f, int self)
{
	struct timespec until;
	bool ok;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += FAKE_WAIT_S;
	pthread_mutex_lock(&f->lock);
	while (f->turn != self && !f->failed && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&f->cond, &f->lock, &until);
	ok = f->turn == self && !f->failed;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static int fake_fail(struct fake *f, int line)
{
	pthread_mutex_lock(&f->lock);
	if (!f->failed)
		f->failed = line;
	f->turn = TURN_TEST;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return -1;
}

/* The server thread can't use cmocka's asserts: it records and stops. */
#define FAKE_CHECK(f, cond) do { \
	if (!(cond)) \
		return fake_fail((f), __LINE__); \
} while (0)

/* One whole message; with MSG_DONTWAIT, -EAGAIN unless it is all there. */
static int fake_recv(struct fake *f, struct il_vfu_rx *rx, int flags,
		     struct il_vfu_msg *m)
{
	for (;;) {
		int r = il_vfu_rx_recv(rx, f->conn, flags);

		if (r < 0)
			return r;
		if (r)
			return il_vfu_rx_take(rx, m);
	}
}

/* The answer that may be there now, if it is. */
static void take_answer(struct fake *f, struct il_vfu_rx *rx,
			struct answer *a, bool *seen)
{
	struct il_vfu_msg m;

	*seen = !fake_recv(f, rx, MSG_DONTWAIT, &m);
	if (!*seen)
		return;
	close_all(m.fds, m.nfds);
	a->hdr = m.hdr;
	a->len = m.len < sizeof(a->data) ? m.len : sizeof(a->data);
	memcpy(a->data, m.payload, a->len);
}

/* Append one message to @buf at *@len. */
static void put(uint8_t *buf, size_t *len, uint16_t id, uint16_t cmd,
		uint32_t flags, const void *payload, size_t plen)
{
	struct il_vfu_hdr h = { .id = id, .cmd = cmd, .flags = flags,
				.size = (uint32_t)(IL_VFU_HDR_SIZE + plen) };

	memcpy(buf + *len, &h, sizeof(h));
	memcpy(buf + *len + sizeof(h), payload, plen);
	*len += sizeof(h) + plen;
}

/* A request of its own with OVER_FDS fds (of /dev/null) attached. */
static int send_over_fds(struct fake *f, uint16_t id, uint16_t cmd,
			 const void *req, size_t len)
{
	struct il_vfu_hdr h = { .id = id, .cmd = cmd,
				.flags = IL_VFU_F_TYPE_COMMAND };
	int fds[OVER_FDS];
	size_t n = 0;
	int r = 0;

	while (n < OVER_FDS && (fds[n] = open("/dev/null",
					      O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	if (n == OVER_FDS)
		r = il_vfu_send(f->conn, &h, req, len, fds, n);
	else
		r = -EMFILE;
	close_all(fds, n);
	return r;
}

/* The client's REGION_READ @m: its reply and the script's next DMA
 * request in one send(), then what the client answered by the time the
 * test says its call returned. */
static int fake_step(struct fake *f, struct il_vfu_rx *rx,
		     const struct il_vfu_msg *m)
{
	uint8_t rep[sizeof(struct il_vfu_region_access) + READ_LEN];
	uint8_t req[sizeof(struct il_vfu_dma_rw) + 32];
	uint8_t buf[2 * IL_VFU_HDR_SIZE + sizeof(rep) + sizeof(req)];
	struct il_vfu_region_access ra;
	struct il_vfu_dma_rw rw;
	struct answer *a;
	struct step s = { 0 };
	size_t k, len = 0, cut, rlen;
	bool scripted, more;

	pthread_mutex_lock(&f->lock);
	k = f->next++;
	scripted = k < f->nsteps;
	if (scripted)
		s = f->steps[k];
	pthread_mutex_unlock(&f->lock);
	FAKE_CHECK(f, scripted && m->len == sizeof(ra) && !m->nfds);
	memcpy(&ra, m->payload, sizeof(ra));
	FAKE_CHECK(f, ra.region == VFIO_PCI_BAR0_REGION_INDEX &&
		   ra.count == READ_LEN && s.count <= sizeof(req) - sizeof(rw));
	memcpy(rep, &ra, sizeof(ra));
	for (size_t i = 0; i < READ_LEN; i++)
		rep[sizeof(ra) + i] = reg_byte(ra.offset, i);
	rw = (struct il_vfu_dma_rw){ .addr = s.addr, .count = s.count };
	memcpy(req, &rw, sizeof(rw));
	rlen = sizeof(rw);
	if (s.cmd == IL_VFU_CMD_DMA_WRITE)
		for (size_t i = 0; i < s.count; i++)
			req[rlen++] = dma_byte(k, i);
	if (s.order == REQUEST_OVER_FDS)
		FAKE_CHECK(f, send_over_fds(f, DMA_ID(k), s.cmd, req, rlen) == 0);
	if (s.order == REQUEST_FIRST)
		put(buf, &len, DMA_ID(k), s.cmd, IL_VFU_F_TYPE_COMMAND, req,
		    rlen);
	put(buf, &len, m->hdr.id, m->hdr.cmd, IL_VFU_F_TYPE_REPLY, rep,
	    sizeof(rep));
	if (s.order == REPLY_FIRST || s.order == REPLY_THEN_PART)
		put(buf, &len, DMA_ID(k), s.cmd, IL_VFU_F_TYPE_COMMAND, req,
		    rlen);
	/* Cut inside the request's payload: its header and address only. */
	cut = s.order == REPLY_THEN_PART ? len - rlen + sizeof(rw.addr) : len;
	FAKE_CHECK(f, send(f->conn, buf, cut, MSG_NOSIGNAL) == (ssize_t)cut);

	FAKE_CHECK(f, await_turn(f, TURN_SERVER));
	a = &f->ans[k];
	take_answer(f, rx, a, &a->at_return);
	if (!a->at_return && s.order == REPLY_THEN_PART) {
		FAKE_CHECK(f, send(f->conn, buf + cut, len - cut, MSG_NOSIGNAL) ==
			   (ssize_t)(len - cut));
		hand_over(f, TURN_TEST);
		FAKE_CHECK(f, await_turn(f, TURN_SERVER));
		take_answer(f, rx, a, &a->at_process);
	}
	{
		struct answer spare;

		take_answer(f, rx, &spare, &more);
	}
	a->extra = more;
	hand_over(f, TURN_TEST);
	return 0;
}

/* The handshake's questions answered as a PCI device with INTx only, no
 * doorbells and no capabilities; DMA_MAP taken; REGION_READ scripted. */
static int fake_answer(struct fake *f, struct il_vfu_rx *rx,
		       const struct il_vfu_msg *m)
{
	struct il_vfu_hdr h = { .id = m->hdr.id, .cmd = m->hdr.cmd,
				.flags = IL_VFU_F_TYPE_REPLY };
	uint8_t out[256];
	size_t len = 0, nfds = m->nfds;

	close_all(m->fds, m->nfds);
	FAKE_CHECK(f, (m->hdr.flags & IL_VFU_F_TYPE_MASK) ==
		   IL_VFU_F_TYPE_COMMAND);
	pthread_mutex_lock(&f->lock);
	f->requests++;
	pthread_mutex_unlock(&f->lock);
	switch (m->hdr.cmd) {
	case IL_VFU_CMD_VERSION: {
		struct il_vfu_caps caps = { 0 };        /* the defaults */
		int n = il_vfu_version_build(out, sizeof(out), IL_VFU_MAJOR,
					     IL_VFU_MINOR, &caps);

		FAKE_CHECK(f, n > 0);
		len = (size_t)n;
		break;
	}
	case IL_VFU_CMD_DEVICE_GET_INFO: {
		struct il_vfu_device_info di = {
			.argsz = sizeof(di), .flags = VFIO_DEVICE_FLAGS_PCI,
			.num_regions = VFIO_PCI_NUM_REGIONS,
			.num_irqs = VFIO_PCI_NUM_IRQS };

		memcpy(out, &di, sizeof(di));
		len = sizeof(di);
		break;
	}
	case IL_VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info ii;

		FAKE_CHECK(f, m->len == sizeof(ii));
		memcpy(&ii, m->payload, sizeof(ii));
		ii.flags = VFIO_IRQ_INFO_EVENTFD;
		ii.count = ii.index == VFIO_PCI_INTX_IRQ_INDEX;
		memcpy(out, &ii, sizeof(ii));
		len = sizeof(ii);
		break;
	}
	case IL_VFU_CMD_DEVICE_GET_REGION_IO_FDS: {
		uint32_t io[4];         /* argsz, flags, index, count */

		FAKE_CHECK(f, m->len == sizeof(io));
		memcpy(io, m->payload, sizeof(io));
		io[0] = sizeof(io);
		io[1] = io[3] = 0;
		memcpy(out, io, sizeof(io));
		len = sizeof(io);
		break;
	}
	case IL_VFU_CMD_DMA_MAP:
		FAKE_CHECK(f, m->len == sizeof(struct il_vfu_dma_map) &&
			   nfds <= 1);
		break;
	case IL_VFU_CMD_REGION_READ:
		return fake_step(f, rx, m);
	default:
		h.flags |= IL_VFU_F_ERROR;
		h.error = ENOSYS;
	}
	return il_vfu_send(f->conn, &h, out, len, NULL, 0);
}

static void *fake_serve(void *opaque)
{
	struct fake *f = opaque;
	struct timeval tv = { .tv_sec = FAKE_WAIT_S };
	struct il_vfu_rx rx;

	if (il_vfu_rx_init(&rx, FAKE_MAX_MSG, SERVER_FDS)) {
		fake_fail(f, __LINE__);
		return NULL;
	}
	/* The listener's timeout ends an accept() nobody comes to. */
	f->conn = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC);
	if (f->conn < 0 ||
	    setsockopt(f->conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		fake_fail(f, __LINE__);
	while (f->conn >= 0) {
		struct il_vfu_msg m;
		int r = fake_recv(f, &rx, 0, &m);

		if (r == -ECONNRESET)
			break;          /* the client has gone: the end */
		if (r) {
			fake_fail(f, __LINE__);
			break;
		}
		if (fake_answer(f, &rx, &m))
			break;
	}
	if (f->conn >= 0)
		close(f->conn);
	il_vfu_rx_fini(&rx);
	return NULL;
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct irqlink_vfu_client_config cc = { .timeout_ms = FAKE_TIMEOUT_MS };
	struct timeval tv = { .tv_sec = FAKE_WAIT_S };
	pthread_condattr_t ca;

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	f->conn = -1;
	socket_path(f->dir, f->path, "fake.sock");
	f->listener = listen_at(f->path);
	assert_int_equal(setsockopt(f->listener, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)), 0);
	assert_int_equal(pthread_mutex_init(&f->lock, NULL), 0);
	assert_int_equal(pthread_condattr_init(&ca), 0);
	assert_int_equal(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
	assert_int_equal(pthread_cond_init(&f->cond, &ca), 0);
	pthread_condattr_destroy(&ca);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
	cc.path = f->path;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &f->c), 0);
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	/* The server reads the close as the end of its loop. */
	irqlink_vfu_client_destroy(f->c);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	assert_int_equal(f->failed, 0);
	close(f->listener);
	unlink(f->path);
	rmdir(f->dir);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}

/* Let the server act until it hands back; its failed check by line. */
static void server_turn(struct fake *f)
{
	bool back;
	int failed;

	hand_over(f, TURN_SERVER);
	back = await_turn(f, TURN_TEST);
	pthread_mutex_lock(&f->lock);
	failed = f->failed;
	pthread_mutex_unlock(&f->lock);
	assert_int_equal(failed, 0);
	assert_true(back);
}

/* What the server saw of the answer to step @k, against the script. */
static void check_answer(struct fake *f, size_t k, const struct step *s)
{
	const struct answer *a = &f->ans[k];
	struct il_vfu_dma_rw rw;
	bool read = s->cmd == IL_VFU_CMD_DMA_READ;

	assert_int_equal(a->at_return, s->order != REPLY_THEN_PART);
	assert_int_equal(a->at_process, s->order == REPLY_THEN_PART);
	assert_false(a->extra);
	assert_int_equal(a->hdr.id, DMA_ID(k));
	assert_int_equal(a->hdr.cmd, s->cmd);
	if (s->error) {
		/* The spec's error reply: the header alone. */
		assert_int_equal(a->hdr.flags,
				 IL_VFU_F_TYPE_REPLY | IL_VFU_F_ERROR);
		assert_int_equal(a->hdr.error, s->error);
		assert_int_equal(a->len, 0);
		return;
	}
	assert_int_equal(a->hdr.flags, IL_VFU_F_TYPE_REPLY);
	assert_int_equal(a->len, sizeof(rw) + (read ? s->count : 0));
	memcpy(&rw, a->data, sizeof(rw));
	assert_int_equal(rw.addr, s->addr);
	assert_int_equal(rw.count, s->count);
	for (size_t i = 0; read && i < s->count; i++)
		assert_int_equal(a->data[sizeof(rw) + i],
				 mem_byte(s->addr - MEM_IOVA + i));
}

/* Each step: a REGION_READ whose reply shares one read with a DMA request;
 * the read's data, the DMA's effect and answer, and the stats, exactly. */
static void run_script(struct fake *f, const struct step *steps, size_t n)
{
	struct window w = { .writes = 0 };
	struct irqlink_vfu_client_stats before, st;
	uint8_t mem[MEM_SIZE], now[MEM_SIZE];
	unsigned int writes = 0, refused = 0;
	int memfd = memfd_create("ram", MFD_CLOEXEC);

	assert_true(n <= SCRIPT_MAX);
	assert_true(memfd >= 0);
	for (size_t i = 0; i < sizeof(mem); i++)
		mem[i] = mem_byte(i);
	assert_int_equal(pwrite(memfd, mem, sizeof(mem), 0), sizeof(mem));
	assert_int_equal(irqlink_vfu_client_dma_map_handler(f->c, WINDOW_IOVA,
			 0x1000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			 window_dma, &w), 0);
	assert_int_equal(irqlink_vfu_client_dma_map(f->c, MEM_IOVA, MEM_SIZE,
			 VFIO_DMA_MAP_FLAG_READ, memfd, 0), 0);
	pthread_mutex_lock(&f->lock);
	f->steps = steps;
	f->nsteps = n;
	pthread_mutex_unlock(&f->lock);
	assert_int_equal(irqlink_vfu_client_get_stats(f->c, &before), 0);

	for (size_t k = 0; k < n; k++) {
		const struct step *s = &steps[k];
		bool lands = s->cmd == IL_VFU_CMD_DMA_WRITE && !s->error;
		uint64_t off = 0x100 * k;
		uint8_t got[READ_LEN];
		int64_t t0 = now_ms();

		assert_int_equal(irqlink_vfu_client_ops.region_read(f->c,
				 VFIO_PCI_BAR0_REGION_INDEX, off, got,
				 sizeof(got)), 0);
		assert_true(now_ms() - t0 < FAKE_TIMEOUT_MS / 2);
		for (size_t i = 0; i < sizeof(got); i++)
			assert_int_equal(got[i], reg_byte(off, i));
		/* A whole request was served within the call; half of one
		 * waits for the rest, which only process() can then take. */
		if (lands && s->order != REPLY_THEN_PART)
			writes++;
		assert_int_equal(w.writes, writes);
		server_turn(f);
		if (s->order == REPLY_THEN_PART) {
			struct pollfd pf = { .fd = irqlink_vfu_client_fd(f->c),
					     .events = POLLIN };

			assert_int_equal(poll(&pf, 1, FAKE_WAIT_S * 1000), 1);
			assert_int_equal(irqlink_vfu_client_process(f->c), 0);
			writes += lands;
			assert_int_equal(w.writes, writes);
			server_turn(f);
		}
		check_answer(f, k, s);
		for (size_t i = 0; lands && i < s->count; i++)
			assert_int_equal(w.mem[s->addr - WINDOW_IOVA + i],
					 dma_byte(k, i));
		refused += s->error != 0;
		assert_int_equal(irqlink_vfu_client_get_stats(f->c, &st), 0);
		assert_int_equal(st.requests, before.requests + k + 1);
		assert_int_equal(st.server_requests, k + 1);
		assert_int_equal(st.server_errors, refused);
		assert_int_equal(st.errors, 0);
		assert_int_equal(st.timeouts, 0);
		assert_int_equal(st.stale_replies, 0);
	}
	/* Nothing is left to answer, and the device wrote nothing it may only
	 * read. */
	assert_int_equal(irqlink_vfu_client_process(f->c), 0);
	pthread_mutex_lock(&f->lock);
	assert_int_equal(f->requests, st.requests);
	pthread_mutex_unlock(&f->lock);
	assert_int_equal(pread(memfd, now, sizeof(now), 0), sizeof(now));
	assert_memory_equal(now, mem, sizeof(mem));
	close(memfd);
}

/* The server's DMA request ahead of the reply in the same read: met while
 * the reply is awaited, taken from what the read left aside. */
static void test_dma_request_read_with_reply(void **state)
{
	static const struct step steps[] = {
		{ REQUEST_FIRST, IL_VFU_CMD_DMA_WRITE, WINDOW_IOVA + 0x40, 16, 0 },
		{ REQUEST_FIRST, IL_VFU_CMD_DMA_READ, MEM_IOVA + 0x100, 24, 0 },
		{ REQUEST_FIRST, IL_VFU_CMD_DMA_WRITE, MEM_IOVA + 0x200, 8,
		  EFAULT },
	};

	run_script(*state, steps, sizeof(steps) / sizeof(steps[0]));
}

/* The request behind the reply in the same read: answered before the
 * call returns, since the socket shows nothing of it afterwards. Cut
 * short, it is whole only with bytes the socket shows: process() then. */
static void test_dma_request_behind_reply(void **state)
{
	static const struct step steps[] = {
		{ REPLY_FIRST, IL_VFU_CMD_DMA_WRITE, WINDOW_IOVA + 0x80, 16, 0 },
		{ REPLY_FIRST, IL_VFU_CMD_DMA_READ, MEM_IOVA + 0x300, 24, 0 },
		{ REPLY_FIRST, IL_VFU_CMD_DMA_WRITE, MEM_IOVA + 0x200, 8,
		  EFAULT },
		{ REPLY_THEN_PART, IL_VFU_CMD_DMA_WRITE, WINDOW_IOVA + 0xc0, 16,
		  0 },
	};

	run_script(*state, steps, sizeof(steps) / sizeof(steps[0]));
}

/* A request with more fds than the client takes: the receiver closes
 * them, and the client still answers -- EINVAL, nothing served -- rather
 * than leave the server to its timeout. */
static void test_dma_request_over_fds(void **state)
{
	static const struct step steps[] = {
		{ REQUEST_OVER_FDS, IL_VFU_CMD_DMA_WRITE, WINDOW_IOVA + 0x40, 16,
		  EINVAL },
		{ REQUEST_FIRST, IL_VFU_CMD_DMA_WRITE, WINDOW_IOVA + 0x40, 16, 0 },
	};

	run_script(*state, steps, sizeof(steps) / sizeof(steps[0]));
}

static void test_timeout_and_bad_config(void **state)
{
	struct irqlink_vfu_client_config cc = { .timeout_ms = 100 };
	struct irqlink_vfu_client *c = NULL;
	char dir[64], path[96];
	int fds = tu_open_fds(), l;

	(void)state;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -EINVAL);
	socket_path(dir, path, "mute.sock");
	cc.path = path;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -ENOENT);
	/* Listens, never answers. */
	l = listen_at(path);
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -ETIMEDOUT);
	assert_null(c);
	cc.flags = 1;
	assert_int_equal(irqlink_vfu_client_connect(&cc, &c), -EINVAL);
	close(l);
	unlink(path);
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
		cmocka_unit_test_setup_teardown(
			test_dma_request_read_with_reply, fake_setup,
			fake_teardown),
		cmocka_unit_test_setup_teardown(test_dma_request_behind_reply,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_dma_request_over_fds,
						fake_setup, fake_teardown),
		cmocka_unit_test(test_timeout_and_bad_config),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
