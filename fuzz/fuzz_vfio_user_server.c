/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the vfio-user server (<irqlink/vfio_user_server.h>)
 * serving the test device, fed a byte stream as a client would send it.
 *
 * Each input is one connection. Its first byte chooses how the stream
 * starts -- bit 0: a valid VERSION first, so the fuzzer reaches every
 * command without having to find the JSON; bits 1-3: how many eventfds
 * ride (SCM_RIGHTS) with the rest -- and the rest is written as is, then
 * the client hangs up. The server must survive anything: after the
 * connection it has no client, holds no fd the input gave it, and accepts
 * the next one. ASan/UBSan catch the rest.
 */
#include <irqlink/vfio_user_server.h>

#include "testdev.h"
#include "vfio_user_msg.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_MAX_INPUT (64 * 1024)

struct harness {
	char dir[64], path[96];
	struct testdev *td;
	struct irqlink_vfu_server *s;
	int fds_at_rest;
};

static struct harness h;        /* libFuzzer's entry takes no context */

/* The fds a connection could leak: sockets, eventfds, epolls. Pipes and
 * files are the fuzzer's and the sanitizers' own (their symbolizer, the
 * corpus), opened and closed at their own pace. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		char p[300], t[64];
		ssize_t k;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		k = readlink(p, t, sizeof(t) - 1);
		if (k <= 0)
			continue;
		t[k] = '\0';
		if (!strncmp(t, "socket:", 7) || !strncmp(t, "anon_inode:", 11))
			n++;
	}
	closedir(d);
	return n;
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char p[300], t[256];
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		n = readlink(p, t, sizeof(t) - 1);
		t[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "  %s -> %s\n", e->d_name, t);
	}
	if (d)
		closedir(d);
}

static void setup(void)
{
	struct testdev_config dc = { .intx = true, .msi_vectors = 4,
				     .msix_vectors = 64 };
	struct irqlink_vfu_server_config sc = { .ops = &testdev_pci_ops,
						.max_data_xfer_size = 4096,
						.max_dma_maps = 16 };

	strcpy(h.dir, "/tmp/irqlink-fuzz-XXXXXX");
	if (!mkdtemp(h.dir))
		abort();
	snprintf(h.path, sizeof(h.path), "%s/s", h.dir);
	if (testdev_create(&dc, &h.td))
		abort();
	sc.path = h.path;
	sc.opaque = h.td;
	if (irqlink_vfu_server_create(&sc, &h.s))
		abort();
	h.fds_at_rest = count_fds();
}

static void send_with_fds(int c, const uint8_t *buf, size_t len,
			  unsigned int nfds)
{
	char ctl[CMSG_SPACE(8 * sizeof(int))] = { 0 };
	int fds[8];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	if (nfds) {
		struct cmsghdr *cm;

		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	/* Short writes are fine: the rest of the stream is just lost. */
	(void)sendmsg(c, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
}

static void send_version(int c)
{
	static const char caps[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
	uint8_t buf[IL_VFU_HDR_SIZE + 4 + sizeof(caps)];
	struct il_vfu_hdr hd = { .id = 1, .cmd = IL_VFU_CMD_VERSION,
				 .size = sizeof(buf),
				 .flags = IL_VFU_F_TYPE_COMMAND };
	uint16_t ver[2] = { IL_VFU_MAJOR, IL_VFU_MINOR };

	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd), ver, sizeof(ver));
	memcpy(buf + sizeof(hd) + sizeof(ver), caps, sizeof(caps));
	send_with_fds(c, buf, sizeof(buf), 0);
}

/* Let the server work, reading its replies so it never fills the socket;
 * done when it has dropped the client. */
static void serve(int c)
{
	static uint8_t sink[65536];

	for (int i = 0; i < 10000; i++) {
		struct pollfd p = { .fd = c, .events = POLLIN };

		if (irqlink_vfu_server_process(h.s))
			abort();
		while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN) &&
		       recv(c, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		if (!irqlink_vfu_server_connected(h.s) && i)
			return;
	}
	/* A closed connection the server never noticed loses fds. */
	fprintf(stderr, "fuzz: the server kept a client that hung up\n");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c;

	if (!h.s)
		setup();
	if (!size || size > FUZZ_MAX_INPUT)
		return -1;
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		abort();
	strcpy(sa.sun_path, h.path);
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	if (irqlink_vfu_server_process(h.s))
		abort();
	if (data[0] & 1)
		send_version(c);
	if (size > 1)
		send_with_fds(c, data + 1, size - 1, (data[0] >> 1) & 7);
	shutdown(c, SHUT_WR);
	serve(c);
	close(c);
	if (count_fds() != h.fds_at_rest) {
		fprintf(stderr, "fuzz: %d fds open after the connection, %d "
			"before:\n", count_fds(), h.fds_at_rest);
		list_fds();
		abort();
	}
	return 0;
}
