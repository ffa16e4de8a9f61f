/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user: the device process.
 *
 * bench_vfu_run() forks a child that holds three test devices of the
 * same shape, each behind its own irqlink vfio-user server (enum
 * server_id: a server takes one client at a time), and the raw echo
 * servers. Every one of them runs on a thread of its own and sleeps in its
 * own wait until a message comes, so whichever path the parent exercises
 * finds its server asleep, as a real device process would. The parent
 * moves the threads of both processes between the placements with
 * sched_setaffinity() (every thread of the child, by its task id). It
 * stops the child by closing a pipe: the servers' run loops watch the read
 * end, and the child unlinks its sockets before it _exit()s. The child
 * ignores SIGINT so that a ^C to the bench still goes through that
 * clean-up (the parent's death closes the pipe too).
 */
#include "vfu_internal.h"
#include "bench.h"

#include <irqlink/irqlink.h>

#include "testdev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define CHILD_START_MS 10000
#define CHILD_STOP_MS  5000

static const char *const server_sock[NSERVERS] = {
	[SRV_PIPELINED] = "pipelined.sock",
	[SRV_SYNC] = "sync.sock",
	[SRV_WIDE] = "wide.sock",
};

/* The raw ping-pongs' servers wait as irqlink's server loop does, or
 * block. */
static const enum wait_style raw_server_wait[NRAW] = {
	[BENCH_VFU_RAW - BENCH_VFU_RAW] = WAIT_BLOCK,
	[BENCH_VFU_RAW_POLL - BENCH_VFU_RAW] = WAIT_POLL,
};

struct child_report {
	int err;
	char why[200];
};

struct serve_arg {
	struct irqlink_vfu_server *srv;
	int stop;
};

struct echo_arg {
	int fd;
	enum wait_style ws;
};

static void *serve_main(void *p)
{
	struct serve_arg *a = p;

	/* A failure shows in the parent as requests that time out. */
	(void)irqlink_vfu_server_run(a->srv, a->stop);
	return NULL;
}

/* The raw server's reply: as many bytes as vfio-user's reply to the same
 * request would have, in place of the request. */
static size_t raw_reply(uint8_t *buf)
{
	struct wire_hdr h;
	struct wire_region ra;

	memcpy(&h, buf, sizeof(h));
	memcpy(&ra, buf + HDR_SIZE, sizeof(ra));
	h.flags = F_TYPE_REPLY;
	h.size = HDR_SIZE + (uint32_t)sizeof(ra) +
		 (h.cmd == CMD_REGION_READ ? ra.count : 0);
	memcpy(buf, &h, sizeof(h));
	return h.size;
}

static void *echo_main(void *p)
{
	struct echo_arg *a = p;
	uint8_t *buf = malloc(MSG_CAP);
	ssize_t n;

	while (buf) {
		n = vfu_recv_msg(a->fd, buf, MSG_CAP, a->ws);
		if (n < (ssize_t)(HDR_SIZE + sizeof(struct wire_region)))
			break;
		if (vfu_send_all(a->fd, buf, raw_reply(buf), a->ws))
			break;
	}
	free(buf);
	return NULL;
}

struct child {
	struct testdev *td[NSERVERS];
	struct irqlink_vfu_server *srv[NSERVERS];
	struct serve_arg serve[NSERVERS];
	struct echo_arg echo[NRAW];
	pthread_t thr[NSERVERS + NRAW];
	unsigned int nthr;
};

static int child_setup(struct child *c, const struct devproc *dp, int stop,
		       char *why, size_t len)
{
	/* The demo's device, at the size of the largest table. */
	struct testdev_config tc = {
		.msix_vectors = IRQLINK_MSIX_MAX,
		.mem_bar = true,
	};
	unsigned int i;
	int r;

	for (i = 0; i < NSERVERS; i++) {
		/* 16 is the server's default; SCM_MAX_FD (253) the most one
		 * message can carry on Linux. */
		struct irqlink_vfu_server_config sc = {
			.path = dp->path[i],
			.ops = &testdev_pci_ops,
			.max_msg_fds = i == SRV_WIDE ? WIDE_FDS : 0,
		};

		r = testdev_create(&tc, &c->td[i]);
		if (r)
			return bench_say(why, len, r, "the test device: %s",
				   strerror(-r));
		sc.opaque = c->td[i];
		r = irqlink_vfu_server_create(&sc, &c->srv[i]);
		if (r)
			return bench_say(why, len, r, "the vfio-user server at %s: %s",
				   dp->path[i], strerror(-r));
		c->serve[i] = (struct serve_arg){ .srv = c->srv[i],
						  .stop = stop };
		r = -pthread_create(&c->thr[c->nthr], NULL, serve_main,
				    &c->serve[i]);
		if (r)
			return bench_say(why, len, r, "a server thread: %s",
				   strerror(-r));
		c->nthr++;
	}
	for (i = 0; i < NRAW; i++) {
		r = -pthread_create(&c->thr[c->nthr], NULL, echo_main,
				    &c->echo[i]);
		if (r)
			return bench_say(why, len, r, "an echo thread: %s",
				   strerror(-r));
		c->nthr++;
	}
	return 0;
}

/* The child's whole life; never returns. */
__attribute__((noreturn))
static void child_main(const struct devproc *dp, const int *raw, int stop,
		       int report)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	struct child_report rep = { 0 };
	struct pollfd pf = { .fd = stop, .events = POLLIN };
	struct child c = { 0 };
	unsigned int i;

	for (i = 0; i < NRAW; i++)
		c.echo[i] = (struct echo_arg){ .fd = raw[i],
					       .ws = raw_server_wait[i] };
	sigaction(SIGINT, &ign, NULL);
	rep.err = child_setup(&c, dp, stop, rep.why, sizeof(rep.why));
	if (write(report, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		rep.err = rep.err ? rep.err : -EPIPE;
	if (!rep.err)
		while (poll(&pf, 1, -1) < 0 && errno == EINTR)
			;
	/* The server threads return once the parent's end of the stop pipe
	 * is closed (also after a failed start: the parent closes it when it
	 * has read the report); the echo threads are woken from their reads
	 * here, in case the parent still holds its ends. The read end stays
	 * open until the threads polling it are gone. */
	for (i = 0; i < NRAW; i++)
		shutdown(raw[i], SHUT_RDWR);
	for (i = 0; i < c.nthr; i++)
		pthread_join(c.thr[i], NULL);
	close(stop);
	for (i = 0; i < NSERVERS; i++) {
		irqlink_vfu_server_destroy(c.srv[i]);
		testdev_destroy(c.td[i]);
	}
	_exit(rep.err ? 1 : 0);
}

void vfu_devproc_stop(struct devproc *dp)
{
	struct pollfd pf = { .fd = dp->report, .events = POLLIN };
	char b;

	for (unsigned int i = 0; i < NRAW; i++)
		close_fd(&dp->raw[i]);
	close_fd(&dp->stop);
	if (dp->pid > 0) {
		/* EOF on the report pipe: the child has exited. */
		while (poll(&pf, 1, CHILD_STOP_MS) > 0 &&
		       read(dp->report, &b, 1) > 0)
			;
		if (!(pf.revents & (POLLIN | POLLHUP)))
			kill(dp->pid, SIGKILL);
		while (waitpid(dp->pid, NULL, 0) < 0 && errno == EINTR)
			;
		dp->pid = 0;
	}
	close_fd(&dp->report);
	if (dp->dir[0]) {
		/* Left behind only by a child that died. */
		for (unsigned int i = 0; i < NSERVERS; i++)
			unlink(dp->path[i]);
		rmdir(dp->dir);
		dp->dir[0] = '\0';
	}
}

int vfu_devproc_start(struct devproc *dp, char *why, size_t len)
{
	int raw[NRAW][2], stop[2] = { -1, -1 }, rep[2] = { -1, -1 };
	int child_raw[NRAW];
	struct child_report cr;
	struct pollfd pf;
	unsigned int i;
	ssize_t n;
	int r = 0;

	memset(dp, 0, sizeof(*dp));
	for (i = 0; i < NRAW; i++)
		raw[i][0] = raw[i][1] = dp->raw[i] = -1;
	dp->stop = dp->report = -1;
	strcpy(dp->dir, "/tmp/irqlink-bench-vfu-XXXXXX");
	if (!mkdtemp(dp->dir)) {
		dp->dir[0] = '\0';
		return bench_say(why, len, -errno, "cannot make a directory for the "
			   "sockets in /tmp: %s", strerror(errno));
	}
	for (i = 0; i < NSERVERS; i++)
		snprintf(dp->path[i], sizeof(dp->path[i]), "%s/%s", dp->dir,
			 server_sock[i]);
	for (i = 0; i < NRAW && !r; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, raw[i]))
			r = -errno;
	if (!r && (pipe2(stop, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)))
		r = -errno;
	if (r) {
		r = bench_say(why, len, r, "sockets and pipes for the device "
			"process: %s", strerror(-r));
		goto fail;
	}
	dp->pid = fork();
	if (dp->pid < 0) {
		r = bench_say(why, len, -errno, "cannot start the device process: "
			"fork: %s", strerror(errno));
		dp->pid = 0;
		goto fail;
	}
	if (dp->pid == 0) {
		for (i = 0; i < NRAW; i++) {
			close(raw[i][0]);
			child_raw[i] = raw[i][1];
		}
		close(stop[1]);
		close(rep[0]);
		child_main(dp, child_raw, stop[0], rep[1]);
	}
	for (i = 0; i < NRAW; i++) {
		close_fd(&raw[i][1]);
		dp->raw[i] = raw[i][0];
	}
	close_fd(&stop[0]);
	close_fd(&rep[1]);
	dp->stop = stop[1];
	dp->report = rep[0];
	pf = (struct pollfd){ .fd = dp->report, .events = POLLIN };
	if (poll(&pf, 1, CHILD_START_MS) <= 0) {
		r = bench_say(why, len, -ETIMEDOUT, "the device process did not "
			"start within %d s", CHILD_START_MS / 1000);
		goto fail_child;
	}
	n = read(dp->report, &cr, sizeof(cr));
	if (n != (ssize_t)sizeof(cr)) {
		r = bench_say(why, len, -EPIPE, "the device process died while "
			"starting");
		goto fail_child;
	}
	if (cr.err) {
		cr.why[sizeof(cr.why) - 1] = '\0';
		r = bench_say(why, len, cr.err, "the device process: %s", cr.why);
		goto fail_child;
	}
	return 0;

fail:
	for (i = 0; i < NRAW; i++) {
		close_fd(&raw[i][0]);
		close_fd(&raw[i][1]);
	}
	close_fd(&stop[0]);
	close_fd(&stop[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
fail_child:
	vfu_devproc_stop(dp);
	return r;
}
