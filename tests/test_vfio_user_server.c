/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server, driven by a client written from the protocol text
 * alone: its own header struct, raw sendmsg()/recvmsg(), no use of the
 * library's message layer, so a misreading shared by both of our ends
 * cannot hide. The device is the test device (devices/testdev.h) through
 * the same ops the PCI glue uses.
 *
 *   - a session: VERSION, DEVICE_GET_INFO, REGION_INFO / READ / WRITE,
 *     IRQ_INFO, SET_IRQS with eventfds that the device then signals;
 *   - a table of malformed requests, each with its errno, the connection
 *     still usable and no fd left behind in the server;
 *   - a message split across writes; a header that cannot be framed;
 *   - DMA_MAP / DMA_UNMAP by memfd: the device reads and writes guest
 *     memory in place within the rights granted, never past an unmap;
 *   - GET_REGION_IO_FDS hands out the device's own doorbell eventfd;
 *   - disconnect releases the device's eventfds and DMA maps; a second client is
 *     refused with EBUSY; a wrong peer uid is refused; 0600 and EEXIST.
 */
#include "testutil.h"
#include "testdev.h"

#include <irqlink/vfio_user_server.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vfio.h>

/* The wire header as the protocol text gives it. */
struct wire_hdr {
	uint16_t id, cmd;
	uint32_t size, flags, error;
};

enum { C_VERSION = 1, C_DMA_MAP = 2, C_DMA_UNMAP = 3, C_GET_INFO = 4,
       C_REGION_INFO = 5, C_IO_FDS = 6, C_IRQ_INFO = 7, C_SET_IRQS = 8,
       C_READ = 9, C_WRITE = 10, C_RESET = 13 };

#define F_REPLY 0x1u
#define F_ERROR 0x20u

struct fx {
	char dir[64], path[96];
	struct testdev *td;
	struct irqlink_vfu_server *s;
	int c;                  /* the client socket */
	int stop;               /* stops irqlink_vfu_server_run() */
	uint16_t id;
};

static void pump(struct fx *f, int ms)
{
	for (int i = 0; i < ms; i++) {
		struct pollfd p = { .fd = f->c, .events = POLLIN };

		assert_int_equal(irqlink_vfu_server_process(f->s), 0);
		if (f->c >= 0 && poll(&p, 1, 1) > 0)
			return;
	}
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_raw(int fd, const void *buf, size_t len, const int *fds,
		     size_t nfds)
{
	char ctl[CMSG_SPACE(64 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &m, MSG_NOSIGNAL), (ssize_t)len);
}

/* Send a request; the header's size is the real one unless @size. */
static uint16_t request(struct fx *f, uint16_t cmd, uint32_t flags,
			const void *payload, size_t len, const int *fds,
			size_t nfds)
{
	uint8_t buf[8192];
	struct wire_hdr h = { .id = ++f->id, .cmd = cmd,
			      .size = (uint32_t)(sizeof(h) + len),
			      .flags = flags };

	assert_true(sizeof(h) + len <= sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	send_raw(f->c, buf, sizeof(h) + len, fds, nfds);
	return h.id;
}

static void read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* The reply to @id: its payload into @out (at most @cap bytes), its length
 * returned; *@err the error (0 without the error flag). */
static size_t reply(struct fx *f, uint16_t id, uint16_t cmd, void *out,
		    size_t cap, uint32_t *err)
{
	struct wire_hdr h;
	uint8_t sink[8192];
	size_t len;

	pump(f, 2000);
	read_full(f->c, &h, sizeof(h));
	assert_int_equal(h.id, id);
	assert_int_equal(h.cmd, cmd);
	assert_int_equal(h.flags & 0xf, F_REPLY);
	len = h.size - sizeof(h);
	assert_true(len <= sizeof(sink));
	read_full(f->c, sink, len);
	*err = (h.flags & F_ERROR) ? h.error : 0;
	if (out)
		memcpy(out, sink, len < cap ? len : cap);
	return len;
}

/* One request, its reply's errno. */
static uint32_t rt(struct fx *f, uint16_t cmd, const void *p, size_t len,
		   void *out, size_t cap)
{
	uint32_t err;

	(void)reply(f, request(f, cmd, 0, p, len, NULL, 0), cmd, out, cap,
		    &err);
	return err;
}

static void version(struct fx *f)
{
	const char json[] = "{\"capabilities\":{\"max_msg_fds\":16,"
			    "\"migration\":{\"pgsize\":4096},"
			    "\"unknown_future_cap\":[1,2]}}";
	uint8_t p[128] = { 0 }, out[256] = { 0 };
	uint16_t major = 0, minor = 1;
	uint32_t err;
	size_t n;

	memcpy(p, &major, 2);
	memcpy(p + 2, &minor, 2);
	memcpy(p + 4, json, sizeof(json));
	n = reply(f, request(f, C_VERSION, 0, p, 4 + sizeof(json), NULL, 0),
		  C_VERSION, out, sizeof(out) - 1, &err);
	assert_int_equal(err, 0);
	assert_true(n > 4);
	assert_int_equal(out[0] | out[1] << 8, 0);
	assert_int_equal(out[2] | out[3] << 8, 1);
	assert_non_null(strstr((char *)out + 4, "\"max_msg_fds\":16"));
	assert_int_equal(out[n - 1], 0);
}

/* The server notices that the client has gone (or dropped it). */
static void wait_gone(struct fx *f)
{
	for (int i = 0; i < 50 && irqlink_vfu_server_connected(f->s); i++) {
		assert_int_equal(irqlink_vfu_server_process(f->s), 0);
		tu_sleep_ms(1);
	}
	assert_false(irqlink_vfu_server_connected(f->s));
}

/* The test device's bus-master writes: the server's DMA. */
static int device_dma(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct irqlink_vfu_server **s = opaque;

	return irqlink_vfu_server_dma_write(*s, addr, buf, len);
}

static void fx_open_max(struct fx *f, uint32_t flags, uid_t uid,
			uint32_t max_dma_maps)
{
	struct testdev_config dc = { .intx = true, .msi_vectors = 4,
				     .msix_vectors = 64,
				     .dma_write = device_dma,
				     .dma_opaque = &f->s, .mem_bar = true };
	struct irqlink_vfu_server_config sc = {
		.ops = &testdev_pci_ops,
		.flags = flags,
		.peer_uid = uid,
		.max_dma_maps = max_dma_maps,
	};

	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/irqlink-vfu-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/dev.sock", f->dir);
	assert_int_equal(testdev_create(&dc, &f->td), 0);
	sc.path = f->path;
	sc.opaque = f->td;
	assert_int_equal(irqlink_vfu_server_create(&sc, &f->s), 0);
	f->c = connect_to(f->path);
	pump(f, 5);
}

static void fx_open(struct fx *f, uint32_t flags, uid_t uid)
{
	fx_open_max(f, flags, uid, 0);
}

static void fx_close(struct fx *f)
{
	if (f->c >= 0)
		close(f->c);
	irqlink_vfu_server_destroy(f->s);
	testdev_destroy(f->td);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(rmdir(f->dir), 0);
}

static void test_create_errors(void **state)
{
	struct irqlink_vfu_server_config sc = { .ops = &testdev_pci_ops };
	struct irqlink_vfu_server *s = NULL;
	struct fx f;
	struct stat st;
	int fds;

	(void)state;
	fx_open(&f, 0, 0);
	assert_int_equal(stat(f.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	fds = tu_open_fds();
	sc.opaque = f.td;
	sc.path = f.path;
	assert_int_equal(irqlink_vfu_server_create(&sc, &s), -EEXIST);
	sc.path = "/nonexistent-dir/dev.sock";
	assert_int_equal(irqlink_vfu_server_create(&sc, &s), -ENOENT);
	sc.path = NULL;
	assert_int_equal(irqlink_vfu_server_create(&sc, &s), -EINVAL);
	sc.path = f.path;
	sc.max_msg_fds = 254;
	assert_int_equal(irqlink_vfu_server_create(&sc, &s), -EINVAL);
	assert_null(s);
	assert_int_equal(tu_open_fds(), fds);
	fx_close(&f);
}

static void test_session(void **state)
{
	struct fx f;
	uint32_t p[8] = { 0 }, out[16];
	uint8_t rw[24];
	uint64_t off;
	struct vfio_irq_info ii = { .argsz = sizeof(ii),
				    .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct { struct vfio_irq_set s; } set = { {
		.argsz = sizeof(set), .index = VFIO_PCI_MSIX_IRQ_INDEX,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.start = 0, .count = 4 } };
	int efd[4], fds;
	uint32_t err, v;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);

	p[0] = 16;
	assert_int_equal(rt(&f, C_GET_INFO, p, 16, out, sizeof(out)), 0);
	assert_int_equal(out[1], VFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(out[2], VFIO_PCI_NUM_REGIONS);
	assert_int_equal(out[3], VFIO_PCI_NUM_IRQS);

	memset(p, 0, sizeof(p));
	p[0] = 32;
	p[2] = VFIO_PCI_BAR0_REGION_INDEX;
	assert_int_equal(rt(&f, C_REGION_INFO, p, 32, out, sizeof(out)), 0);
	assert_int_equal(out[2], 0);
	memcpy(&off, &out[4], 8);
	assert_int_equal(off, TESTDEV_BAR0_SIZE);

	/* REGION_READ of the ID register. */
	memset(rw, 0, sizeof(rw));
	off = TESTDEV_REG_ID;
	memcpy(rw, &off, 8);
	v = VFIO_PCI_BAR0_REGION_INDEX;
	memcpy(rw + 8, &v, 4);
	v = 4;
	memcpy(rw + 12, &v, 4);
	assert_int_equal(rt(&f, C_READ, rw, 16, out, sizeof(out)), 0);
	assert_int_equal(out[4], TESTDEV_ID_VALUE);
	/* REGION_WRITE of COUNT, read back. */
	off = TESTDEV_REG_COUNT;
	memcpy(rw, &off, 8);
	v = 7;
	memcpy(rw + 16, &v, 4);
	assert_int_equal(rt(&f, C_WRITE, rw, 20, out, sizeof(out)), 0);
	assert_int_equal(out[3], 4);
	assert_int_equal(testdev_reg_read(f.td, TESTDEV_REG_COUNT), 7);

	assert_int_equal(rt(&f, C_IRQ_INFO, &ii, sizeof(ii), &ii, sizeof(ii)),
			 0);
	assert_int_equal(ii.count, 64);

	/* MSI-X on with four eventfds: the device's fires land in them. */
	for (int i = 0; i < 4; i++)
		efd[i] = tu_eventfd();
	fds = tu_open_fds() - 2;        /* less both ends of the socket */
	(void)reply(&f, request(&f, C_SET_IRQS, 0, &set, sizeof(set), efd, 4),
		    C_SET_IRQS, NULL, 0, &err);
	assert_int_equal(err, 0);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k <= i; k++)
			assert_int_equal(irqlink_dev_msi_fire(
				testdev_irq(f.td), VFIO_PCI_MSIX_IRQ_INDEX,
				(unsigned int)i), 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tu_count(efd[i]), (uint64_t)i + 1);

	/* The client goes: the device lets go of every eventfd. */
	close(f.c);
	f.c = -1;
	wait_gone(&f);
	/* Dropped as by a disabled capability, and the model's dups of
	 * the four eventfds are closed. */
	assert_int_equal(irqlink_dev_msi_fire(testdev_irq(f.td),
					      VFIO_PCI_MSIX_IRQ_INDEX, 0), 0);
	assert_int_equal(tu_count(efd[0]), 0);
	assert_int_equal(tu_open_fds(), fds);
	for (int i = 0; i < 4; i++)
		close(efd[i]);
	fx_close(&f);
}

struct bad {
	const char *what;
	uint16_t cmd;
	uint32_t flags;
	uint8_t payload[32];
	size_t len;
	size_t nfds;
	uint32_t err;
};

static void test_malformed(void **state)
{
	/* BAR0 is 4 KiB, readable and writable; region 9 does not exist. */
	static const struct bad table[] = {
		{ "GET_INFO without argsz", C_GET_INFO, 0, { 0 }, 0, 0, EINVAL },
		{ "GET_INFO argsz too small", C_GET_INFO, 0, { 8 }, 16, 0,
		  EINVAL },
		{ "REGION_INFO short", C_REGION_INFO, 0, { 32 }, 8, 0, EINVAL },
		{ "REGION_INFO bad index", C_REGION_INFO, 0,
		  { 32, 0, 0, 0, 0, 0, 0, 0, 9 }, 32, 0, EINVAL },
		{ "READ short", C_READ, 0, { 0 }, 8, 0, EINVAL },
		{ "READ bad region", C_READ, 0,
		  { 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 4 }, 16, 0, EINVAL },
		{ "READ past the end", C_READ, 0,
		  { 0xfe, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4 }, 16, 0,
		  EINVAL },
		{ "READ offset wraps", C_READ, 0,
		  { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
		    4 }, 16, 0, EINVAL },
		{ "WRITE count beyond its data", C_WRITE, 0,
		  { 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1 }, 20,
		  0, EINVAL },
		{ "fds with GET_INFO", C_GET_INFO, 0, { 16 }, 16, 1, EINVAL },
		{ "SET_IRQS short", C_SET_IRQS, 0, { 20 }, 12, 0, EINVAL },
		{ "SET_IRQS 2 fds for 1 vector", C_SET_IRQS, 0,
		  { 20, 0, 0, 0, 0x24, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1 }, 20,
		  2, EINVAL },
		{ "SET_IRQS fds with DATA_NONE", C_SET_IRQS, 0,
		  { 20, 0, 0, 0, 0x21, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1 }, 20,
		  1, EINVAL },
		{ "SET_IRQS bad index", C_SET_IRQS, 0,
		  { 20, 0, 0, 0, 0x21, 0, 0, 0, 9 }, 20, 0, EINVAL },
		{ "RESET without a reset", C_RESET, 0, { 0 }, 0, 0, EINVAL },
		{ "unknown command", 99, 0, { 0 }, 0, 0, ENOSYS },
		{ "a reply, unasked", C_GET_INFO, F_REPLY, { 16 }, 16, 0,
		  EINVAL },
		{ "an error reply with error 0, unasked", C_GET_INFO,
		  F_REPLY | F_ERROR, { 0 }, 0, 0, EINVAL },
		{ "VERSION twice", C_VERSION, 0, { 0, 0, 1, 0 }, 4, 0, EINVAL },
	};
	struct fx f;
	uint32_t p[4] = { 16 }, out[4], err;
	int fds, efd[2];

	(void)state;
	fx_open(&f, 0, 0);
	/* Before VERSION nothing else is served. */
	assert_int_equal(rt(&f, C_GET_INFO, p, 16, out, sizeof(out)), EINVAL);
	version(&f);
	efd[0] = tu_eventfd();
	efd[1] = tu_eventfd();
	fds = tu_open_fds();
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct bad *b = &table[i];

		print_message("  %s\n", b->what);
		(void)reply(&f, request(&f, b->cmd, b->flags, b->payload,
					b->len, efd, b->nfds),
			    b->cmd, NULL, 0, &err);
		assert_int_equal(err, b->err);
		/* Still usable, and nothing the request brought is kept. */
		assert_int_equal(rt(&f, C_GET_INFO, p, 16, out, sizeof(out)),
				 0);
		assert_int_equal(tu_open_fds(), fds);
	}
	close(efd[0]);
	close(efd[1]);
	fx_close(&f);
}

/* More fds than the negotiated max_msg_fds (16): all closed, the message
 * refused, the connection kept. */
static void test_too_many_fds(void **state)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set), .index = VFIO_PCI_MSIX_IRQ_INDEX,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.start = 0, .count = 17 };
	uint32_t p[4] = { 16 }, out[4], err;
	int efd[17], fds;
	struct fx f;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	for (int i = 0; i < 17; i++)
		efd[i] = tu_eventfd();
	fds = tu_open_fds();
	(void)reply(&f, request(&f, C_SET_IRQS, 0, &set, sizeof(set), efd, 17),
		    C_SET_IRQS, NULL, 0, &err);
	assert_int_equal(err, EINVAL);
	assert_int_equal(tu_open_fds(), fds);
	assert_int_equal(irqlink_dev_msi_fire(testdev_irq(f.td),
					      VFIO_PCI_MSIX_IRQ_INDEX, 0), 0);
	assert_int_equal(rt(&f, C_GET_INFO, p, 16, out, sizeof(out)), 0);
	for (int i = 0; i < 17; i++)
		close(efd[i]);
	fx_close(&f);
}

/* One request in three writes, with pauses in which the server runs. */
static void test_split_and_framing(void **state)
{
	struct wire_hdr h = { .id = 77, .cmd = C_GET_INFO, .size = 32 };
	uint32_t p[4] = { 16 }, out[4], err;
	uint8_t buf[32];
	struct irqlink_vfu_server_stats st;
	struct fx f;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	memcpy(buf, &h, 16);
	memcpy(buf + 16, p, 16);
	send_raw(f.c, buf, 5, NULL, 0);
	pump(&f, 5);
	send_raw(f.c, buf + 5, 15, NULL, 0);
	pump(&f, 5);
	send_raw(f.c, buf + 20, 12, NULL, 0);
	f.id = 76;
	(void)reply(&f, 77, C_GET_INFO, out, sizeof(out), &err);
	assert_int_equal(err, 0);
	assert_int_equal(out[2], VFIO_PCI_NUM_REGIONS);

	/* A size beyond any message ends the connection (framing is lost);
	 * the server takes the next client. */
	h.size = 1u << 30;
	send_raw(f.c, &h, sizeof(h), NULL, 0);
	wait_gone(&f);
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.framing, 1);
	close(f.c);
	f.c = connect_to(f.path);
	version(&f);
	assert_int_equal(rt(&f, C_GET_INFO, p, 16, out, sizeof(out)), 0);
	fx_close(&f);
}

static void test_one_client(void **state)
{
	struct wire_hdr h;
	struct irqlink_vfu_server_stats st;
	struct fx f;
	int second;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	second = connect_to(f.path);
	pump(&f, 5);
	/* Told why, then closed. */
	read_full(second, &h, sizeof(h));
	assert_int_equal(h.flags, F_REPLY | F_ERROR);
	assert_int_equal(h.error, EBUSY);
	assert_int_equal(read(second, &h, sizeof(h)), 0);
	close(second);
	assert_true(irqlink_vfu_server_connected(f.s));
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.clients, 1);
	assert_int_equal(st.refused, 1);
	fx_close(&f);
}

static void test_peer_uid(void **state)
{
	struct irqlink_vfu_server_stats st;
	struct fx f;
	char c;

	(void)state;
	fx_open(&f, IRQLINK_VFU_REQUIRE_UID, getuid() + 1);
	pump(&f, 5);
	assert_int_equal(read(f.c, &c, 1), 0);
	assert_false(irqlink_vfu_server_connected(f.s));
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.clients, 0);
	fx_close(&f);
}

/* DMA_MAP payload: argsz, flags, offset, address, size. */
static uint32_t dma_map(struct fx *f, uint32_t flags, uint64_t offset,
			uint64_t iova, uint64_t size, const int *fd, size_t nfd)
{
	struct { uint32_t argsz, flags; uint64_t offset, iova, size; } d = {
		32, flags, offset, iova, size };
	uint32_t err;

	(void)reply(f, request(f, C_DMA_MAP, 0, &d, sizeof(d), fd, nfd),
		    C_DMA_MAP, NULL, 0, &err);
	return err;
}

static uint32_t dma_unmap(struct fx *f, uint64_t iova, uint64_t size)
{
	struct { uint32_t argsz, flags; uint64_t iova, size; } d = {
		24, 0, iova, size }, out = { 0 };
	uint32_t err;
	size_t n;

	n = reply(f, request(f, C_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0),
		  C_DMA_UNMAP, &out, sizeof(out), &err);
	if (!err) {
		/* The reply echoes the entry. */
		assert_int_equal(n, sizeof(out));
		assert_int_equal(out.iova, iova);
		assert_int_equal(out.size, size);
	}
	return err;
}

/* Guest memory by fd: the device reads and writes it in place, within the
 * rights the client gave, and never past an unmap or a disconnect. */
static void test_dma(void **state)
{
	const uint64_t A = 0x100000, SZ = 0x10000;
	struct fx f;
	int mem = memfd_create("guest-ram", MFD_CLOEXEC), fds, two[2];
	uint8_t page[4096], buf[16];
	uint32_t v;

	(void)state;
	assert_true(mem >= 0);
	assert_int_equal(ftruncate(mem, 0x20000), 0);
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)i;
	assert_int_equal(pwrite(mem, page, sizeof(page), 0), sizeof(page));
	assert_int_equal(pwrite(mem, page, sizeof(page), SZ), sizeof(page));
	fx_open_max(&f, 0, 0, 4);
	version(&f);
	fds = tu_open_fds();

	assert_int_equal(dma_map(&f, 3, 0, A, SZ, &mem, 1), 0);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, A + 8, buf, 4), 0);
	assert_memory_equal(buf, page + 8, 4);
	v = 0xdeadbeef;
	assert_int_equal(irqlink_vfu_server_dma_write(f.s, A + 64, &v, 4), 0);
	assert_int_equal(pread(mem, buf, 4, 64), 4);
	assert_memory_equal(buf, &v, 4);

	/* Refused: overlap, misalignment, two fds, unknown flags, no rights. */
	assert_int_equal(dma_map(&f, 3, 0, A + 0x1000, 0x1000, &mem, 1),
			 EEXIST);
	assert_int_equal(dma_map(&f, 3, 0, A - 0x1000, 0x2000, NULL, 0),
			 EEXIST);
	assert_int_equal(dma_map(&f, 3, 0, 0x300100, 0x1000, NULL, 0), EINVAL);
	assert_int_equal(dma_map(&f, 3, 0, 0x300000, 0, NULL, 0), EINVAL);
	assert_int_equal(dma_map(&f, 3, 0, ~0xfffull, 0x2000, NULL, 0),
			 EINVAL);
	two[0] = two[1] = mem;
	assert_int_equal(dma_map(&f, 3, 0, 0x300000, 0x1000, two, 2), EINVAL);
	assert_int_equal(dma_map(&f, 4, 0, 0x300000, 0x1000, NULL, 0), EINVAL);
	assert_int_equal(dma_map(&f, 0, 0, 0x300000, 0x1000, NULL, 0), EINVAL);

	/* Adjacent, read-only: an access spans both; writes to it fault. */
	assert_int_equal(dma_map(&f, 1, SZ, A + SZ, 0x1000, &mem, 1), 0);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, A + SZ - 8, buf, 16),
			 0);
	assert_memory_equal(buf + 8, page, 8);
	assert_int_equal(irqlink_vfu_server_dma_write(f.s, A + SZ, &v, 4),
			 -EFAULT);
	/* Refused whole: the writable half of a spanning write stays. */
	memset(buf, 0x5a, 8);
	assert_int_equal(irqlink_vfu_server_dma_write(f.s, A + SZ - 4, buf, 8),
			 -EFAULT);
	assert_int_equal(pread(mem, buf, 4, SZ - 4), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, A + SZ + 0x1000 - 2,
						     buf, 4), -EFAULT);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, 0x50000, buf, 4),
			 -EFAULT);
	/* Without an fd: reached by messages (test_dma_messages); an access
	 * that mixes the two kinds is refused. */
	assert_int_equal(dma_map(&f, 3, 0, A + SZ + 0x1000, 0x1000, NULL, 0),
			 0);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, A + SZ + 0x1000 - 2,
						     buf, 4), -EFAULT);
	assert_int_equal(dma_unmap(&f, A + SZ + 0x1000, 0x1000), 0);
	assert_int_equal(dma_map(&f, 3, 0, 0x400000, 0x1000, NULL, 0), 0);
	/* The table is full at four. */
	assert_int_equal(dma_map(&f, 3, 0, 0x500000, 0x1000, NULL, 0), 0);
	assert_int_equal(dma_map(&f, 3, 0, 0x600000, 0x1000, NULL, 0), ENOSPC);

	/* Unmap is by exact range; after its reply, no access. */
	assert_int_equal(dma_unmap(&f, A, 0x1000), ENOENT);
	assert_int_equal(dma_unmap(&f, A, SZ), 0);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, A + 8, buf, 4),
			 -EFAULT);
	assert_int_equal(dma_unmap(&f, A, SZ), ENOENT);
	assert_int_equal(tu_open_fds(), fds);

	/* A disconnect unmaps the rest. */
	close(f.c);
	f.c = -1;
	wait_gone(&f);
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, A + SZ, buf, 4),
			 -EFAULT);
	close(mem);
	fx_close(&f);
}

/* A device thread's DMA through a range without an fd. */
struct dma_job {
	struct irqlink_vfu_server *s;
	uint64_t iova;
	uint8_t buf[8];
	bool write;
	int r;
};

static void *dma_thread(void *arg)
{
	struct dma_job *j = arg;

	j->r = j->write ? irqlink_vfu_server_dma_write(j->s, j->iova, j->buf, 8)
			: irqlink_vfu_server_dma_read(j->s, j->iova, j->buf, 8);
	return NULL;
}

/* The server's next request to us, read raw: its header and payload. */
static size_t server_request(struct fx *f, struct wire_hdr *h, void *out,
			     size_t cap)
{
	struct pollfd p = { .fd = f->c, .events = POLLIN };

	for (int i = 0; i < 2000 && poll(&p, 1, 1) == 0; i++)
		;
	read_full(f->c, h, sizeof(*h));
	assert_int_equal(h->flags & 0xf, 0);    /* a command */
	assert_true(h->size - sizeof(*h) <= cap);
	read_full(f->c, out, h->size - sizeof(*h));
	return h->size - sizeof(*h);
}

static void answer(struct fx *f, const struct wire_hdr *req, uint32_t err,
		   const void *p, size_t len)
{
	uint8_t buf[64];
	struct wire_hdr h = { .id = req->id, .cmd = req->cmd,
			      .size = (uint32_t)(sizeof(h) + len),
			      .flags = F_REPLY | (err ? F_ERROR : 0),
			      .error = err };

	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), p, len);
	send_raw(f->c, buf, sizeof(h) + len, NULL, 0);
}

/* Pump the server (the loop, on this thread) until @t's DMA is done. */
static void pump_until(struct fx *f, pthread_t t)
{
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(irqlink_vfu_server_process(f->s), 0);
		if (pthread_tryjoin_np(t, NULL) == 0)
			return;
		tu_sleep_ms(1);
	}
	fail_msg("the DMA thread did not finish");
}

static void test_dma_messages(void **state)
{
	const uint64_t W = 0x400000;
	struct irqlink_vfu_server_stats st;
	struct dma_job j = { .iova = W + 8, .write = true,
			     .buf = { 1, 2, 3, 4, 5, 6, 7, 8 } };
	uint64_t got[3];
	struct wire_hdr h;
	pthread_t t;
	struct fx f;
	int fds;

	(void)state;
	fx_open(&f, 0, 0);
	j.s = f.s;
	/* Before VERSION there is no one to ask. */
	assert_int_equal(irqlink_vfu_server_dma_read(f.s, W, j.buf, 8),
			 -EFAULT);
	version(&f);
	fds = tu_open_fds();
	assert_int_equal(dma_map(&f, 3, 0, W, 0x1000, NULL, 0), 0);

	/* From the loop's own thread between two process() calls the reply
	 * could never be read: refused at once, nothing sent. */
	assert_int_equal(irqlink_vfu_server_dma_write(f.s, W + 8, j.buf, 8),
			 -EDEADLK);

	/* DMA_WRITE from a device thread: address, count, data. */
	assert_int_equal(pthread_create(&t, NULL, dma_thread, &j), 0);
	assert_int_equal(server_request(&f, &h, got, sizeof(got)), 24);
	assert_int_equal(h.cmd, 12);
	assert_int_equal(got[0], W + 8);
	assert_int_equal(got[1], 8);
	assert_memory_equal(&got[2], j.buf, 8);
	answer(&f, &h, 0, got, 16);
	pump_until(&f, t);
	assert_int_equal(j.r, 0);

	/* DMA_READ: the reply's data lands in the caller's buffer. */
	j.write = false;
	assert_int_equal(pthread_create(&t, NULL, dma_thread, &j), 0);
	assert_int_equal(server_request(&f, &h, got, sizeof(got)), 16);
	assert_int_equal(h.cmd, 11);
	got[2] = 0x1122334455667788ull;
	answer(&f, &h, 0, got, 24);
	pump_until(&f, t);
	assert_int_equal(j.r, 0);
	assert_memory_equal(j.buf, &got[2], 8);

	/* An error reply is the caller's error; error 0 is still one; a
	 * reply that does not echo the request is -EPROTO. */
	assert_int_equal(pthread_create(&t, NULL, dma_thread, &j), 0);
	server_request(&f, &h, got, sizeof(got));
	answer(&f, &h, EFAULT, NULL, 0);
	pump_until(&f, t);
	assert_int_equal(j.r, -EFAULT);
	assert_int_equal(pthread_create(&t, NULL, dma_thread, &j), 0);
	server_request(&f, &h, got, sizeof(got));
	answer(&f, &h, 0, NULL, 0);
	pump_until(&f, t);
	assert_int_equal(j.r, -EPROTO);

	/* A client that goes away fails the waiter with -ENOTCONN. */
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.dma_requests, 4);
	assert_int_equal(st.dma_failures, 2);
	assert_int_equal(tu_open_fds(), fds);
	assert_int_equal(pthread_create(&t, NULL, dma_thread, &j), 0);
	server_request(&f, &h, got, sizeof(got));
	close(f.c);
	f.c = -1;
	pump_until(&f, t);
	assert_int_equal(j.r, -ENOTCONN);
	fx_close(&f);
}

/* A BAR0 register access as REGION_READ / REGION_WRITE; sent, not
 * awaited. */
static uint16_t bar0_req(struct fx *f, uint16_t cmd, uint32_t reg,
			 uint32_t val)
{
	uint8_t rw[20] = { 0 };
	uint64_t off = reg;
	uint32_t region = VFIO_PCI_BAR0_REGION_INDEX, count = 4;

	memcpy(rw, &off, 8);
	memcpy(rw + 8, &region, 4);
	memcpy(rw + 12, &count, 4);
	memcpy(rw + 16, &val, 4);
	return request(f, cmd, 0, rw, cmd == C_WRITE ? 20 : 16, NULL, 0);
}

/* The next message, raw (the server runs on its own thread). */
static void next_msg(struct fx *f, struct wire_hdr *h, void *out, size_t cap)
{
	read_full(f->c, h, sizeof(*h));
	assert_true(h->size - sizeof(*h) <= cap);
	read_full(f->c, out, h->size - sizeof(*h));
}

static void *run_server(void *arg)
{
	struct fx *f = arg;

	assert_int_equal(irqlink_vfu_server_run(f->s, f->stop), 0);
	return NULL;
}

/* run() waits in one epoll_wait() with its stop fd in the set: it serves
 * pipelined requests, returns 0 when stopped and leaves nothing of the
 * stop fd in the set; a stop fd epoll cannot take still stops it. */
static void test_run_stop(void **state)
{
	uint32_t p[4] = { 16 }, out[4];
	struct irqlink_vfu_server_stats st;
	struct pollfd pf;
	uint8_t buf[3 * 32];
	pthread_t t;
	struct fx f;
	int devnull;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	f.stop = tu_eventfd();
	assert_int_equal(pthread_create(&t, NULL, run_server, &f), 0);
	/* Three requests in one write: three replies, in order. */
	for (uint16_t i = 0; i < 3; i++) {
		struct wire_hdr h = { .id = (uint16_t)(100 + i),
				      .cmd = C_GET_INFO, .size = 32 };

		memcpy(buf + 32 * i, &h, 16);
		memcpy(buf + 32 * i + 16, p, 16);
	}
	send_raw(f.c, buf, sizeof(buf), NULL, 0);
	for (uint16_t i = 0; i < 3; i++) {
		struct wire_hdr h;

		read_full(f.c, &h, sizeof(h));
		assert_int_equal(h.id, 100 + i);
		assert_int_equal(h.flags, F_REPLY);
		assert_int_equal(h.size, 32);
		read_full(f.c, out, sizeof(out));
		assert_int_equal(out[2], VFIO_PCI_NUM_REGIONS);
	}
	tu_signal(f.stop);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* Still signalled, yet the server's fd has nothing to say. */
	pf = (struct pollfd){ .fd = irqlink_vfu_server_fd(f.s),
			      .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 0), 0);
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.errors, 0);
	close(f.stop);

	/* /dev/null: epoll refuses it, poll() finds it readable. */
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	assert_int_equal(irqlink_vfu_server_run(f.s, devnull), 0);
	close(devnull);
	assert_int_equal(rt(&f, C_GET_INFO, p, 16, out, sizeof(out)), 0);
	fx_close(&f);
}

/* The device's DMA from inside a device op (the loop thread): the server
 * reads the socket for the reply itself, and a command we pipelined
 * behind the op waits and is answered after it, in order. */
static void test_dma_from_loop(void **state)
{
	const uint64_t W = 0x400000;
	struct irqlink_vfu_server_stats st;
	uint16_t cmd = 0x0004, w_id, r_id;
	uint8_t cfg[18] = { 0 }, out[64];
	uint64_t one = 1, got[3];
	struct wire_hdr h;
	pthread_t t;
	struct fx f;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	assert_int_equal(dma_map(&f, 3, 0, W, 0x1000, NULL, 0), 0);
	/* Bus Master Enable, in config space. */
	cfg[0] = 4;
	cfg[8] = VFIO_PCI_CONFIG_REGION_INDEX;
	cfg[12] = 2;
	memcpy(cfg + 16, &cmd, 2);
	assert_int_equal(rt(&f, C_WRITE, cfg, 18, out, sizeof(out)), 0);
	bar0_req(&f, C_WRITE, TESTDEV_REG_DMA_LO, (uint32_t)W + 0x40);
	bar0_req(&f, C_WRITE, TESTDEV_REG_DMA_HI, 0);
	pump(&f, 50);
	pump(&f, 50);
	next_msg(&f, &h, out, sizeof(out));
	next_msg(&f, &h, out, sizeof(out));
	assert_int_equal(h.flags & F_ERROR, 0);

	f.stop = eventfd(0, EFD_CLOEXEC);
	assert_true(f.stop >= 0);
	assert_int_equal(pthread_create(&t, NULL, run_server, &f), 0);
	w_id = bar0_req(&f, C_WRITE, TESTDEV_REG_DMA_DATA, 0xfeedf00d);
	r_id = bar0_req(&f, C_READ, TESTDEV_REG_DMAS, 0);
	next_msg(&f, &h, got, sizeof(got));
	assert_int_equal(h.flags & 0xf, 0);     /* the server's request */
	assert_int_equal(h.cmd, 12);
	assert_int_equal(got[0], W + 0x40);
	assert_int_equal(got[1], 4);
	assert_int_equal((uint32_t)got[2], 0xfeedf00d);
	answer(&f, &h, 0, got, 16);
	next_msg(&f, &h, out, sizeof(out));
	assert_int_equal(h.id, w_id);
	assert_int_equal(h.flags, F_REPLY);
	next_msg(&f, &h, out, sizeof(out));
	assert_int_equal(h.id, r_id);
	assert_int_equal(h.flags, F_REPLY);
	assert_int_equal(out[16], 1);           /* DMAS: the write was done */
	assert_int_equal(write(f.stop, &one, 8), 8);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(f.stop);
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.dma_requests, 1);
	assert_int_equal(st.dma_failures, 0);
	assert_int_equal(st.deferred, 1);
	fx_close(&f);
}

/* Out of fds, the server neither drops the waiting client nor spins on
 * its listening socket: it backs off and accepts once an fd is free. */
static void test_accept_out_of_fds(void **state)
{
	struct irqlink_vfu_server_stats st;
	struct pollfd p = { .events = POLLIN };
	struct rlimit old, low;
	struct fx f;
	int c2, lowest;

	(void)state;
	fx_open(&f, 0, 0);
	close(f.c);
	f.c = -1;
	wait_gone(&f);
	c2 = connect_to(f.path);        /* waits in the backlog */
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;  /* no fd free below the limit */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(irqlink_vfu_server_process(f.s), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.accept_backoffs, 1);
	assert_int_equal(st.clients, 1);
	assert_false(irqlink_vfu_server_connected(f.s));
	/* Not readable while it backs off: a loop sleeps. */
	p.fd = irqlink_vfu_server_fd(f.s);
	assert_int_equal(poll(&p, 1, 0), 0);
	/* The timer brings the listening socket back; the client is in. */
	assert_int_equal(poll(&p, 1, 2000), 1);
	for (int i = 0; i < 10 && !irqlink_vfu_server_connected(f.s); i++) {
		assert_int_equal(irqlink_vfu_server_process(f.s), 0);
		tu_sleep_ms(1);
	}
	assert_true(irqlink_vfu_server_connected(f.s));
	assert_int_equal(irqlink_vfu_server_get_stats(f.s, &st), 0);
	assert_int_equal(st.clients, 2);
	assert_int_equal(st.accept_backoffs, 1);
	f.c = c2;
	fx_close(&f);
}

/* The first bytes of a reply, with the fds that came with them. */
static size_t recv_fds(int fd, void *buf, size_t len, int *fds, size_t max)
{
	char ctl[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	size_t n = 0;

	assert_int_equal(recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL),
			 (ssize_t)len);
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		assert_true(n + k <= max);
		memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
		n += k;
	}
	return n;
}

/* GET_REGION_IO_FDS: the device's doorbell, as the very eventfd the
 * device reads, for the client to hand to KVM_IOEVENTFD. */
static void test_region_io_fds(void **state)
{
	struct fx f;
	struct wire_hdr h;
	uint32_t req[4] = { 16, 0, VFIO_PCI_BAR0_REGION_INDEX, 0 }, out[14];
	struct { uint64_t offset, size; uint32_t fd_index, type, flags, pad;
		 uint64_t datamatch; } io;
	int fds[16], n0;
	size_t nfds;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	n0 = tu_open_fds();
	/* Too small: the size needed and the count, no sub-region, no fd. */
	(void)request(&f, C_IO_FDS, 0, req, sizeof(req), NULL, 0);
	pump(&f, 2000);
	nfds = recv_fds(f.c, &h, sizeof(h), fds, 16);
	assert_int_equal(nfds, 0);
	assert_int_equal(h.flags, F_REPLY);
	assert_int_equal(h.size, 16 + 16);
	read_full(f.c, out, 16);
	assert_int_equal(out[0], 16 + 40);
	assert_int_equal(out[3], 1);

	req[0] = 16 + 40;
	(void)request(&f, C_IO_FDS, 0, req, sizeof(req), NULL, 0);
	pump(&f, 2000);
	nfds = recv_fds(f.c, &h, sizeof(h), fds, 16);
	assert_int_equal(nfds, 1);
	assert_int_equal(h.size, 16 + 16 + 40);
	read_full(f.c, out, 16 + 40);
	assert_int_equal(out[0], 16 + 40);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], VFIO_PCI_BAR0_REGION_INDEX);
	assert_int_equal(out[3], 1);
	memcpy(&io, &out[4], sizeof(io));
	assert_int_equal(io.offset, TESTDEV_REG_DOORBELL);
	assert_int_equal(io.size, 4);
	assert_int_equal(io.fd_index, 0);
	assert_int_equal(io.type, 0);
	assert_int_equal(io.flags, 0);
	/* The same eventfd: a signal on ours is the device's doorbell. */
	tu_signal(fds[0]);
	assert_int_equal(tu_count(testdev_doorbell_fd(f.td)), 1);
	close(fds[0]);
	assert_int_equal(tu_open_fds(), n0);

	/* Another BAR has none; bad index and flags are refused. */
	req[2] = 2;
	assert_int_equal(rt(&f, C_IO_FDS, req, sizeof(req), out, sizeof(out)),
			 0);
	assert_int_equal(out[3], 0);
	req[2] = 9;
	assert_int_equal(rt(&f, C_IO_FDS, req, sizeof(req), out, sizeof(out)),
			 EINVAL);
	req[2] = 0;
	req[1] = 1;
	assert_int_equal(rt(&f, C_IO_FDS, req, sizeof(req), out, sizeof(out)),
			 EINVAL);
	assert_int_equal(tu_open_fds(), n0);
	fx_close(&f);
}

/* GET_REGION_INFO of a region the device lets be mapped: the MMAP and CAPS
 * flags, the sparse mmap capability (all but the first page of the test
 * device's memory BAR) and its memfd, through which our write is the
 * device's memory. A reply that would not fit says the size it needs,
 * without capability or fd. */
static void test_region_mmap(void **state)
{
	struct fx f;
	struct wire_hdr h;
	uint32_t req[8] = { 32, 0, TESTDEV_MEM_BAR, 0 }, out[16];
	struct vfio_region_info ri;
	struct vfio_region_info_cap_sparse_mmap cap;
	struct vfio_region_sparse_mmap_area area;
	uint8_t rw[20] = { 0 };
	uint64_t off;
	uint32_t v, err;
	int fds[16], n0;
	size_t nfds;
	uint8_t *map;

	(void)state;
	fx_open(&f, 0, 0);
	version(&f);
	n0 = tu_open_fds();
	(void)request(&f, C_REGION_INFO, 0, req, 32, NULL, 0);
	pump(&f, 2000);
	nfds = recv_fds(f.c, &h, sizeof(h), fds, 16);
	assert_int_equal(nfds, 0);
	assert_int_equal(h.size, 16 + 32);
	read_full(f.c, &ri, 32);
	assert_int_equal(ri.argsz, 32 + 16 + 16);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(ri.cap_offset, 0);
	assert_int_equal(ri.size, TESTDEV_MEM_SIZE);

	req[0] = 64;
	(void)request(&f, C_REGION_INFO, 0, req, 32, NULL, 0);
	pump(&f, 2000);
	nfds = recv_fds(f.c, &h, sizeof(h), fds, 16);
	assert_int_equal(nfds, 1);
	assert_int_equal(h.size, 16 + 64);
	read_full(f.c, out, 64);
	memcpy(&ri, out, 32);
	memcpy(&cap, (uint8_t *)out + 32, sizeof(cap));
	memcpy(&area, (uint8_t *)out + 48, sizeof(area));
	assert_int_equal(ri.cap_offset, 32);
	assert_int_equal(cap.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(cap.header.version, 1);
	assert_int_equal(cap.header.next, 0);
	assert_int_equal(cap.nr_areas, 1);
	assert_int_equal(area.offset, TESTDEV_MEM_TRAP);
	assert_int_equal(area.size, TESTDEV_MEM_SIZE - TESTDEV_MEM_TRAP);
	map = mmap(NULL, TESTDEV_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fds[0], (off_t)ri.offset);
	assert_true(map != MAP_FAILED);
	close(fds[0]);
	v = 0xbeef0001;
	memcpy(map + 0x3000, &v, 4);
	/* REGION_READ of the same word: the device's memory is ours. */
	off = 0x3000;
	memcpy(rw, &off, 8);
	v = TESTDEV_MEM_BAR;
	memcpy(rw + 8, &v, 4);
	v = 4;
	memcpy(rw + 12, &v, 4);
	assert_int_equal(rt(&f, C_READ, rw, 16, out, sizeof(out)), 0);
	assert_int_equal(out[4], 0xbeef0001);
	munmap(map, TESTDEV_MEM_SIZE);

	/* A region the device does not let be mapped: neither flag. */
	req[2] = VFIO_PCI_BAR0_REGION_INDEX;
	(void)reply(&f, request(&f, C_REGION_INFO, 0, req, 32, NULL, 0),
		    C_REGION_INFO, out, sizeof(out), &err);
	assert_int_equal(err, 0);
	assert_int_equal(out[1], VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE);
	assert_int_equal(tu_open_fds(), n0);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_run_stop),
		cmocka_unit_test(test_region_mmap),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_many_fds),
		cmocka_unit_test(test_split_and_framing),
		cmocka_unit_test(test_one_client),
		cmocka_unit_test(test_peer_uid),
		cmocka_unit_test(test_dma),
		cmocka_unit_test(test_dma_messages),
		cmocka_unit_test(test_dma_from_loop),
		cmocka_unit_test(test_accept_out_of_fds),
		cmocka_unit_test(test_region_io_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
