/* SPDX-License-Identifier: MIT */
/*
 * irqlink-devd: the test PCI device (devices/testdev.h) in a process of its
 * own, served over vfio-user (<irqlink/vfio_user_server.h>) on a socket, so
 * that irqlink-vm --device vfio-user:PATH attaches it like the in-process
 * one and its interrupts still go straight into the VMM's KVM.
 *
 * One thread does everything: the server's requests, the device's doorbell
 * (an ioeventfd in the client's KVM) and the device model's INTx unmask
 * events, all from one poll(). SIGINT and SIGTERM end it cleanly (the
 * socket is unlinked); a client that goes away is reported and the next one
 * is served.
 */
#include <irqlink/vfio_user_server.h>

#include "testdev.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
"usage: irqlink-devd [options] SOCKET\n"
"\n"
"Serve irqlink's test PCI device over vfio-user on the Unix socket SOCKET\n"
"(created 0600; it must not exist), one client at a time, until SIGINT or\n"
"SIGTERM. Attach it with: irqlink-vm --device vfio-user:SOCKET demo\n"
"\n"
"  --msix N      MSI-X table size, 1-2048, or 0 for none (default 64)\n"
"  --msi N       MSI vectors, 1-32 (a power of two), or 0 (default 32)\n"
"  --no-intx     no INTx pin\n"
"  -q, --quiet   say nothing about clients coming and going\n"
"  -h, --help    this text\n"
"\n"
"Exit status: 0 when stopped by a signal, 1 on an error, 2 on bad usage.\n");
}

static int number(const char *s, unsigned long max, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/* Why the socket could not be made, for a person: bind() says ENOENT for
 * a directory such as /proc that exists but takes no sockets. */
static const char *create_error(const char *path, int r)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat sb;

	switch (r) {
	case -EEXIST:
		return "the path exists (remove it, or choose another)";
	case -EINVAL:
		return "the path is too long for a Unix socket";
	case -EACCES:
	case -EPERM:
	case -ENOENT:
	case -ENOTDIR:
	case -EROFS:
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s",
				 (int)(slash - path), path);
		if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
			return "its directory does not exist";
		return "its directory is not writable";
	default:
		return strerror(-r);
	}
}

/* The device's bus-master writes: into the client's DMA_MAP ranges. */
static int dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct irqlink_vfu_server **s = opaque;

	return *s ? irqlink_vfu_server_dma_write(*s, addr, buf, len) : -ENODEV;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "msix", required_argument, NULL, 'x' },
		{ "msi", required_argument, NULL, 'm' },
		{ "no-intx", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct irqlink_vfu_server *s = NULL;
	struct testdev_config dc = { .intx = true, .msi_vectors = 32,
				     .msix_vectors = 64, .dma_write = dma_write,
				     .dma_opaque = &s, .mem_bar = true };
	struct irqlink_vfu_server_config sc = { .ops = &testdev_pci_ops };
	struct irqlink_vfu_server_stats st;
	struct testdev *td;
	bool quiet = false, was = false;
	uint64_t gone = 0;
	sigset_t sigs;
	int c, r, sfd;

	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'x':
			if (number(optarg, 2048, &dc.msix_vectors)) {
				fprintf(stderr, "irqlink-devd: --msix takes "
					"0-2048\n");
				return 2;
			}
			break;
		case 'm':
			if (number(optarg, 32, &dc.msi_vectors) ||
			    (dc.msi_vectors & (dc.msi_vectors - 1))) {
				fprintf(stderr, "irqlink-devd: --msi takes 0 "
					"or a power of two up to 32\n");
				return 2;
			}
			break;
		case 'n':
			dc.intx = false;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	sc.path = argv[optind];

	/* Signals arrive as a readable fd, so the loop ends between two
	 * requests and the socket is always unlinked. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "irqlink-devd: signalfd: %s\n", strerror(errno));
		return 1;
	}
	r = testdev_create(&dc, &td);
	if (r) {
		fprintf(stderr, "irqlink-devd: cannot create the device: %s\n",
			strerror(-r));
		return 1;
	}
	sc.opaque = td;
	r = irqlink_vfu_server_create(&sc, &s);
	if (r) {
		fprintf(stderr, "irqlink-devd: cannot serve on %s: %s\n",
			sc.path, create_error(sc.path, r));
		testdev_destroy(td);
		return 1;
	}
	if (!quiet)
		fprintf(stderr, "irqlink-devd: serving the test device on %s\n",
			sc.path);
	/* The device runs on its own thread: a raise that is a DMA write
	 * into a range without an fd (an MSI doorbell) waits for the client's
	 * reply, which this loop receives. */
	r = testdev_start(td);
	if (r) {
		fprintf(stderr, "irqlink-devd: cannot start the device thread: "
			"%s\n", strerror(-r));
		irqlink_vfu_server_destroy(s);
		testdev_destroy(td);
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = irqlink_vfu_server_fd(s), .events = POLLIN },
		};
		bool now;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			r = irqlink_vfu_server_process(s);
			if (r)
				break;
		}
		now = irqlink_vfu_server_connected(s);
		(void)irqlink_vfu_server_get_stats(s, &st);
		if (!quiet && now && !was)
			fprintf(stderr, "irqlink-devd: a client connected\n");
		if (!quiet && st.disconnects != gone)
			fprintf(stderr, "irqlink-devd: the client went away; "
				"device reset, waiting for the next\n");
		gone = st.disconnects;
		was = now;
	}
	if (r)
		fprintf(stderr, "irqlink-devd: %s\n", strerror(-r));
	/* The device before the server it may be asking for DMA. */
	testdev_stop(td);
	irqlink_vfu_server_destroy(s);
	testdev_destroy(td);
	close(sfd);
	return r ? 1 : 0;
}
