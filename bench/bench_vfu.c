/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user (see bench_vfu.h for what each figure is).
 *
 * Theory of operation
 * -------------------
 * The device process. bench_vfu_run() forks a child that holds three test
 * devices of the same shape, each behind its own irqlink vfio-user server
 * (enum server_id: a server takes one client at a time), and the raw
 * echo servers. Every one of them runs on a thread of its own and sleeps
 * in its own wait until a message comes, so whichever path the parent
 * exercises finds its server asleep, as a real device process would. The
 * parent moves the threads of both processes between the placements with
 * sched_setaffinity() (every thread of the child, by its task id). It
 * stops the child by closing a pipe: the servers' run loops watch the read
 * end, and the child unlinks its sockets before it _exit()s. The child
 * ignores SIGINT so that a ^C to the bench still goes through that
 * clean-up (the parent's death closes the pipe too).
 *
 * The raw ping-pongs are floors, not strawmen: the client writes the
 * request in one call and reads the reply, the server reads what is there
 * in one call and writes the reply in one (blocking, or non-blocking with
 * poll() for the raw-poll path). It reads greedily, more than one
 * message if more were there, because the ping-pong is strict: the peer
 * never sends before it has our reply. irqlink cannot do that, since it must
 * keep SCM_RIGHTS fds with the message they came with, so it reads a
 * header first; that is part of what the ratio measures.
 *
 * The synchronous SET_IRQS client is the bench's own few lines of
 * vfio-user (a 16-byte header, VERSION with a json-c payload, SET_IRQS
 * with SCM_RIGHTS), written from the protocol rather than from the
 * library's internal headers, which are not ours to use.
 *
 * No global state: everything lives in the result and in the stack frames
 * of one run (the child's in its own process).
 */
#include "bench_vfu.h"
#include "bench.h"

#include <irqlink/irqlink.h>

#include "testdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const unsigned int rt_bytes[BENCH_VFU_RT_SIZES] = { 4, 64, 4096 };
static const unsigned int irq_fds[BENCH_VFU_IRQ_SIZES] = { 1, 16, 2048 };

/* Round trips per path and size. Each round runs every path of every size
 * once, so the rows share whatever the machine was doing. */
#define RT_SAMPLES     10000u   /* per placement and row */
#define RT_SAMPLES_Q   500u
#define RT_CHUNK       250u     /* rounds before the placement changes */
#define RT_CHUNK_Q     100u
#define RT_CHUNK_WARMUP 10u
_Static_assert(RT_SAMPLES % RT_CHUNK == 0 && RT_SAMPLES_Q % RT_CHUNK_Q == 0,
	       "whole chunks of rounds");
#define RT_WARMUP      200u
#define RT_WARMUP_Q    50u

/* SET_IRQS repetitions per size: the small ones cost tens of us, 2048
 * eventfds some ms. */
static const unsigned int irq_reps[BENCH_VFU_IRQ_SIZES] = { 1000, 1000, 60 };
static const unsigned int irq_reps_q[BENCH_VFU_IRQ_SIZES] = { 100, 100, 6 };
/* Repetitions before the placement changes. */
static const unsigned int irq_chunk[BENCH_VFU_IRQ_SIZES] = { 100, 100, 10 };
static const unsigned int irq_chunk_q[BENCH_VFU_IRQ_SIZES] = { 50, 50, 3 };
#define IRQ_WARMUP     1u       /* per way, after each move */
#define PERFD_REPS     15u
#define PERFD_REPS_Q   5u

/* QEMU's client takes at most 16 fds per message, and so asks no more. */
#define SYNC_MAX_FDS   16u
#define WIDE_FDS       253u     /* SCM_MAX_FD */
#define REGION         TESTDEV_MEM_BAR      /* plain memory: a memcpy */
#define MSG_CAP        8192u                /* the largest is 16+16+4096 */
#define CHILD_START_MS 10000
#define CHILD_STOP_MS  5000

/* Each of the 2048 vectors holds our eventfd, the in-process device's dup
 * of it and, while a SET_IRQS is in flight, its SCM_RIGHTS reference; the
 * child's device holds one more in its own table. */
#define FDS_NEEDED     (256u + 3u * IRQLINK_MSIX_MAX)

/* ---- vfio-user on the wire (the protocol's own numbers) ----------------- */

#define HDR_SIZE          16u
#define CMD_VERSION       1u
#define CMD_SET_IRQS      8u
#define CMD_REGION_READ   9u
#define CMD_REGION_WRITE  10u
#define F_TYPE_MASK       0xfu
#define F_TYPE_REPLY      0x1u
#define F_ERROR           0x20u

struct wire_hdr {
	uint16_t id, cmd;
	uint32_t size, flags, error;
};

struct wire_region {
	uint64_t offset;
	uint32_t region, count;
};

_Static_assert(sizeof(struct wire_hdr) == HDR_SIZE, "vfio-user header");
_Static_assert(sizeof(struct wire_region) == 16, "region access");

/* ---- small helpers ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v. */
static uint64_t rank(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n);

	return v[i ? i - 1 : 0];
}

/* Median, p99 and fastest of @n samples in ns. Sorts @v. */
static void stat_of(uint64_t *v, size_t n, struct bench_vfu_stat *s)
{
	s->n = n;
	if (!n) {
		s->p50_us = s->p99_us = s->min_us = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	s->p50_us = (double)rank(v, n, 0.50) / 1e3;
	s->p99_us = (double)rank(v, n, 0.99) / 1e3;
	s->min_us = (double)v[0] / 1e3;
}

/* The soft limit is raised for the run and put back after it (the
 * child has gone by then, and every fd we opened is closed). */
static int fd_budget(struct rlimit *old, bool *raised, char *why, size_t len)
{
	struct rlimit rl;

	*raised = false;
	if (getrlimit(RLIMIT_NOFILE, old))
		return bench_say(why, len, -errno, "getrlimit: %s", strerror(errno));
	if (old->rlim_cur >= FDS_NEEDED)
		return 0;
	if (old->rlim_max != RLIM_INFINITY && old->rlim_max < FDS_NEEDED)
		return bench_say(why, len, -EMFILE, "2048 MSI-X eventfds need about "
			   "%u file descriptors and the hard limit is %llu "
			   "(ulimit -Hn)", FDS_NEEDED,
			   (unsigned long long)old->rlim_max);
	rl = *old;
	rl.rlim_cur = FDS_NEEDED;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return bench_say(why, len, -errno, "cannot raise the open file limit "
			   "to %u: %s", FDS_NEEDED, strerror(errno));
	*raised = true;
	return 0;
}

/* ---- raw stream I/O ----------------------------------------------------- */

/*
 * How one end of a raw ping-pong waits. irqlink's client reads without
 * blocking and polls with what is left of its reply timeout; its server's
 * loop polls with none. (Whether the poll is timed made no difference
 * here, measured, but the raw path waits exactly as irqlink does.)
 */
enum wait_style {
	WAIT_BLOCK,             /* blocking read */
	WAIT_POLL,              /* non-blocking read, then poll(-1) */
	WAIT_POLL_TIMED,        /* non-blocking read, then poll(timeout) */
};

/* irqlink's client's default reply timeout: what its poll() is given. */
#define POLL_TIMEOUT_MS 5000

/* All of @len bytes; a non-blocking style polls when the socket is full. */
static int send_all(int fd, const void *buf, size_t len, enum wait_style ws)
{
	bool nowait = ws != WAIT_BLOCK;

	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL |
				 (nowait ? MSG_DONTWAIT : 0));

		if (n < 0) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN ||
			    poll(&pf, 1, ws == WAIT_POLL_TIMED ?
				 POLL_TIMEOUT_MS : -1) < 0)
				return -errno;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One whole message into @buf (@cap bytes), its length from its header,
 * waiting as @ws says. Greedy: safe only in a strict ping-pong (see the
 * file comment). Returns the message's length, 0 when the peer has closed,
 * or -errno (-ETIMEDOUT after a timed poll found nothing).
 */
static ssize_t recv_msg(int fd, uint8_t *buf, size_t cap, enum wait_style ws)
{
	bool nowait = ws != WAIT_BLOCK;
	size_t have = 0;
	struct wire_hdr h;

	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - have,
				 nowait ? MSG_DONTWAIT : 0);

		if (n < 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			if (errno == EINTR)
				continue;
			if (!nowait || errno != EAGAIN)
				return -errno;
			n = poll(&pf, 1, ws == WAIT_POLL_TIMED ?
				 POLL_TIMEOUT_MS : -1);
			if (n < 0 && errno != EINTR)
				return -errno;
			if (n == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n == 0)
			return 0;
		have += (size_t)n;
		if (have < HDR_SIZE)
			continue;
		memcpy(&h, buf, sizeof(h));
		if (h.size < HDR_SIZE || h.size > cap)
			return -EPROTO;
		if (have >= h.size)
			return have == h.size ? (ssize_t)have : -EPROTO;
	}
}

/* Exactly @len bytes, blocking. 0, -ECONNRESET or -errno. */
static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the device process ------------------------------------------------- */

/* The device process's servers, one client each. */
enum server_id {
	SRV_PIPELINED = 0,      /* irqlink's client: round trips, SET_IRQS */
	SRV_SYNC,               /* the bench's synchronous raw client */
	SRV_WIDE,               /* irqlink's client, 253 fds per message */
	NSERVERS,
};

static const char *const server_sock[NSERVERS] = {
	[SRV_PIPELINED] = "pipelined.sock",
	[SRV_SYNC] = "sync.sock",
	[SRV_WIDE] = "wide.sock",
};

/* The raw ping-pongs, one socket pair and server thread each (a server
 * thread shared by two paths would be found awake by whichever follows
 * the other), indexed by enum bench_vfu_path - BENCH_VFU_RAW. Their
 * servers wait as irqlink's server loop does, or block. */
#define NRAW (BENCH_VFU_PATHS - BENCH_VFU_RAW)

static const enum wait_style raw_server_wait[NRAW] = {
	[BENCH_VFU_RAW - BENCH_VFU_RAW] = WAIT_BLOCK,
	[BENCH_VFU_RAW_POLL - BENCH_VFU_RAW] = WAIT_POLL,
};

struct devproc {
	pid_t pid;
	char dir[64];
	char path[NSERVERS][sizeof(((struct sockaddr_un *)0)->sun_path)];
	int raw[NRAW];          /* our ends of the raw ping-pongs */
	int stop;               /* closing it stops the child */
	int report;             /* the child's start report; EOF at its exit */
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
		n = recv_msg(a->fd, buf, MSG_CAP, a->ws);
		if (n < (ssize_t)(HDR_SIZE + sizeof(struct wire_region)))
			break;
		if (send_all(a->fd, buf, raw_reply(buf), a->ws))
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

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void devproc_stop(struct devproc *dp)
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

static int devproc_start(struct devproc *dp, char *why, size_t len)
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
	devproc_stop(dp);
	return r;
}

/* ---- the bench's synchronous vfio-user client --------------------------- */

struct sync_client {
	int sock;
	uint16_t id;
	unsigned int granted;   /* max_msg_fds from the server's VERSION */
	unsigned int per;       /* fds per message: the grant, at most 16 */
	uint64_t messages;      /* SET_IRQS messages sent */
};

/* One message: header, payload, @nfds fds with its first bytes. */
static int wire_send(struct sync_client *s, uint16_t cmd, const void *payload,
		     size_t len, const int *fds, size_t nfds, uint16_t *id)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SYNC_MAX_FDS * sizeof(int))];
	} ctl;
	uint8_t msg[512];
	struct wire_hdr h = { .id = s->id++, .cmd = cmd,
			      .size = (uint32_t)(HDR_SIZE + len) };
	struct iovec iov = { .iov_base = msg, .iov_len = HDR_SIZE + len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (len > sizeof(msg) - HDR_SIZE || nfds > SYNC_MAX_FDS)
		return -EINVAL;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + HDR_SIZE, payload, len);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(s->sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*id = h.id;
	/* The fds went with the first bytes; the rest go without. */
	return send_all(s->sock, msg + n, HDR_SIZE + len - (size_t)n, false);
}

/* The reply to request @id: its payload into @buf (@cap bytes, *@len
 * set), or the server's error as -errno. A blocking read: the cheapest
 * way to wait for it, so the synchronous row is a lower bound for a client
 * that waits any other way (on another thread that reads the socket, say). */
static int wire_reply(struct sync_client *s, uint16_t id, uint16_t cmd,
		      uint8_t *buf, size_t cap, size_t *len)
{
	struct wire_hdr h;
	int r = read_full(s->sock, &h, sizeof(h));

	if (r)
		return r;
	if (h.size < HDR_SIZE || h.size - HDR_SIZE > cap ||
	    (h.flags & F_TYPE_MASK) != F_TYPE_REPLY || h.id != id ||
	    h.cmd != cmd)
		return -EPROTO;
	r = read_full(s->sock, buf, h.size - HDR_SIZE);
	if (r)
		return r;
	if (len)
		*len = h.size - HDR_SIZE;
	if (h.flags & F_ERROR)
		return h.error ? -(int)h.error : -EIO;
	return 0;
}

static int wire_call(struct sync_client *s, uint16_t cmd, const void *payload,
		     size_t len, const int *fds, size_t nfds)
{
	uint8_t rep[64];
	uint16_t id;
	int r = wire_send(s, cmd, payload, len, fds, nfds, &id);

	return r ? r : wire_reply(s, id, cmd, rep, sizeof(rep), NULL);
}

/* The fds per message the server's VERSION reply grants (the spec's
 * default, 1, when it says nothing). */
static unsigned int granted_fds(const uint8_t *payload, size_t len)
{
	struct json_object *o, *caps, *v;
	unsigned int per = 1;
	int64_t n;

	if (len <= 4 || payload[len - 1] != '\0')
		return per;
	o = json_tokener_parse((const char *)payload + 4);
	if (o && json_object_object_get_ex(o, "capabilities", &caps) &&
	    json_object_object_get_ex(caps, "max_msg_fds", &v)) {
		n = json_object_get_int64(v);
		if (n > 0)
			per = n < UINT32_MAX ? (unsigned int)n : UINT32_MAX;
	}
	json_object_put(o);
	return per;
}

static int sync_connect(struct sync_client *s, const char *path, char *why,
			size_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint8_t pay[256], rep[1024];
	struct json_object *o, *caps;
	const char *text;
	uint16_t ver[2] = { 0, 1 };
	size_t n, rlen = 0;
	uint16_t id;
	int r;

	s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0)
		return bench_say(why, len, -errno, "socket: %s", strerror(errno));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(s->sock, (struct sockaddr *)&a, sizeof(a)))
		return bench_say(why, len, -errno, "the raw client cannot connect "
			   "to %s: %s", path, strerror(errno));
	o = json_object_new_object();
	caps = json_object_new_object();
	if (!o || !caps) {
		json_object_put(o);
		json_object_put(caps);
		return bench_say(why, len, -ENOMEM, "out of memory");
	}
	json_object_object_add(caps, "max_msg_fds",
			       json_object_new_int(SYNC_MAX_FDS));
	json_object_object_add(o, "capabilities", caps);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = strlen(text) + 1;
	if (n > sizeof(pay) - sizeof(ver)) {
		json_object_put(o);
		return bench_say(why, len, -ENOSPC, "VERSION payload too long");
	}
	memcpy(pay, ver, sizeof(ver));
	memcpy(pay + sizeof(ver), text, n);
	json_object_put(o);
	r = wire_send(s, CMD_VERSION, pay, sizeof(ver) + n, NULL, 0, &id);
	if (!r)
		r = wire_reply(s, id, CMD_VERSION, rep, sizeof(rep), &rlen);
	if (r)
		return bench_say(why, len, r, "the raw client's VERSION handshake: "
			   "%s", strerror(-r));
	s->granted = granted_fds(rep, rlen);
	s->per = s->granted < SYNC_MAX_FDS ? s->granted : SYNC_MAX_FDS;
	return 0;
}

/* QEMU's way: a range that needs several messages is enabled whole first
 * (this server, like vfio, sizes MSI-X by the enabling SET_IRQS), then one
 * chunk at a time, each reply awaited before the next chunk goes. */
static int sync_set_irqs(struct sync_client *s, const struct vfio_irq_set *set,
			 const int *fds)
{
	struct vfio_irq_set part = *set;
	uint32_t i, k;
	int r;

	part.argsz = sizeof(part);
	if (set->count > s->per) {
		r = wire_call(s, CMD_SET_IRQS, &part, sizeof(part), NULL, 0);
		s->messages++;
		if (r)
			return r;
	}
	for (i = 0; i < set->count; i += k) {
		k = set->count - i < s->per ? set->count - i : s->per;
		part.start = set->start + i;
		part.count = k;
		r = wire_call(s, CMD_SET_IRQS, &part, sizeof(part), fds + i, k);
		s->messages++;
		if (r)
			return r;
	}
	return 0;
}

/* ---- what one run holds ------------------------------------------------- */

/*
 * The order of the paths (and of the SET_IRQS ways) is shuffled afresh for
 * every round, not rotated: a rotation keeps each path's predecessor the
 * same, and on these machines what ran just before moves a round trip by
 * several microseconds (measured: with a fixed order, whichever raw
 * ping-pong followed the blocking one was about 13% faster, whatever its
 * wait style). xorshift64* from a fixed seed: the same orders every run.
 */
struct shuffle {
	uint64_t s;
};

static void shuffle(struct shuffle *z, unsigned int *v, unsigned int n)
{
	unsigned int i, j, t;

	for (i = n; i > 1; i--) {
		z->s ^= z->s >> 12;
		z->s ^= z->s << 25;
		z->s ^= z->s >> 27;
		j = (unsigned int)((z->s * 0x2545f4914f6cdd1dull) >> 32) % i;
		t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

struct rig {
	struct devproc dp;
	struct irqlink_vfu_client *cl;          /* 16 fds per message */
	struct irqlink_vfu_client *cl_wide;     /* 253 */
	struct sync_client sync;
	struct testdev *local;          /* the in-process device */
	struct shuffle order;
	int efd[IRQLINK_MSIX_MAX];      /* ours; every way sends these */
	unsigned int nefd;
};

static void rig_close(struct rig *g)
{
	unsigned int i;

	irqlink_vfu_client_destroy(g->cl);
	irqlink_vfu_client_destroy(g->cl_wide);
	g->cl = g->cl_wide = NULL;
	close_fd(&g->sync.sock);
	testdev_destroy(g->local);
	g->local = NULL;
	devproc_stop(&g->dp);
	for (i = 0; i < g->nefd; i++)
		close(g->efd[i]);
	g->nefd = 0;
}

static int rig_open(struct rig *g, char *why, size_t len)
{
	struct testdev_config tc = {
		.msix_vectors = IRQLINK_MSIX_MAX,
		.mem_bar = true,
	};
	struct irqlink_vfu_client_config cc = { 0 };
	int r;

	memset(g, 0, sizeof(*g));
	g->sync.sock = -1;
	g->order.s = 0x9e3779b97f4a7c15ull;
	r = devproc_start(&g->dp, why, len);
	if (r)
		return r;
	cc.path = g->dp.path[SRV_PIPELINED];
	r = irqlink_vfu_client_connect(&cc, &g->cl);
	if (!r) {
		cc.path = g->dp.path[SRV_WIDE];
		r = irqlink_vfu_client_connect(&cc, &g->cl_wide);
	}
	if (r) {
		bench_say(why, len, r, "irqlink's client cannot connect to the "
		    "device process: %s", strerror(-r));
		goto fail;
	}
	r = sync_connect(&g->sync, g->dp.path[SRV_SYNC], why, len);
	if (r)
		goto fail;
	r = testdev_create(&tc, &g->local);
	if (r) {
		bench_say(why, len, r, "the in-process test device: %s",
		    strerror(-r));
		goto fail;
	}
	/* Made after the fork, so the child holds none of them. */
	for (; g->nefd < IRQLINK_MSIX_MAX; g->nefd++) {
		g->efd[g->nefd] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->efd[g->nefd] < 0) {
			r = bench_say(why, len, -errno, "eventfd %u of %u: %s",
				g->nefd, IRQLINK_MSIX_MAX, strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	rig_close(g);
	return r;
}

/* ---- placement ---------------------------------------------------------- */

/* Every thread of process @pid onto @set (the device process's threads
 * are all made before the first measurement). 0 or -errno. */
static int pin_process(pid_t pid, const cpu_set_t *set)
{
	struct dirent *e;
	char path[40];
	DIR *d;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);

		if (*end || tid <= 0)
			continue;
		if (sched_setaffinity((pid_t)tid, sizeof(*set), set) && !r)
			r = -errno;
	}
	closedir(d);
	return r;
}

/* The two placements, and the mask the bench thread came with (the child
 * inherited it), to go back to. */
struct placement {
	cpu_set_t orig, bench, device[BENCH_VFU_LAYOUTS];
	bool ok[BENCH_VFU_LAYOUTS];
	int cpu_bench, cpu_device;
};

static void placement_init(struct placement *pl)
{
	int c;

	memset(pl, 0, sizeof(*pl));
	pl->cpu_bench = pl->cpu_device = -1;
	if (sched_getaffinity(0, sizeof(pl->orig), &pl->orig))
		return;
	pl->cpu_bench = sched_getcpu();
	if (pl->cpu_bench < 0 || !CPU_ISSET(pl->cpu_bench, &pl->orig))
		return;
	CPU_SET(pl->cpu_bench, &pl->bench);
	pl->device[BENCH_VFU_ONE_CPU] = pl->bench;
	pl->ok[BENCH_VFU_ONE_CPU] = true;
	/* The next CPU we may use after ours, wrapping around. */
	for (c = 1; c < CPU_SETSIZE; c++) {
		int cpu = (pl->cpu_bench + c) % CPU_SETSIZE;

		if (CPU_ISSET(cpu, &pl->orig)) {
			pl->cpu_device = cpu;
			CPU_SET(cpu, &pl->device[BENCH_VFU_TWO_CPUS]);
			pl->ok[BENCH_VFU_TWO_CPUS] = true;
			break;
		}
	}
}

/* Put the bench thread and the device process where layout @l says; a
 * refusal takes the layout out of the run. */
static bool place(struct rig *g, struct placement *pl, unsigned int l)
{
	if (!pl->ok[l])
		return false;
	if (sched_setaffinity(0, sizeof(pl->bench), &pl->bench) ||
	    pin_process(g->dp.pid, &pl->device[l]))
		pl->ok[l] = false;
	return pl->ok[l];
}

/* The bench thread back on the CPUs it came with. */
static void placement_fini(struct placement *pl)
{
	if (pl->cpu_bench >= 0)
		(void)sched_setaffinity(0, sizeof(pl->orig), &pl->orig);
}

/* ---- 1. round trips ----------------------------------------------------- */

struct rt_item {
	enum bench_vfu_op op;
	unsigned int bytes;
	size_t reqlen, replen;
	uint8_t req[MSG_CAP];   /* the raw paths' request */
};

static void rt_item_init(struct rt_item *it, enum bench_vfu_op op,
			 unsigned int bytes)
{
	struct wire_region ra = { .offset = 0, .region = REGION,
				  .count = bytes };
	struct wire_hdr h = { .cmd = op == BENCH_VFU_READ ? CMD_REGION_READ
							  : CMD_REGION_WRITE };

	it->op = op;
	it->bytes = bytes;
	it->reqlen = HDR_SIZE + sizeof(ra) +
		     (op == BENCH_VFU_WRITE ? bytes : 0);
	it->replen = HDR_SIZE + sizeof(ra) +
		     (op == BENCH_VFU_READ ? bytes : 0);
	h.size = (uint32_t)it->reqlen;
	memset(it->req, 0x5a, sizeof(it->req));
	memcpy(it->req, &h, sizeof(h));
	memcpy(it->req + HDR_SIZE, &ra, sizeof(ra));
}

static int rt_once(struct rig *g, const struct rt_item *it,
		   enum bench_vfu_path p, uint8_t *buf)
{
	const struct irqlink_pci_ops *ops = &irqlink_vfu_client_ops;
	enum wait_style ws;
	ssize_t n;
	int fd, r;

	if (p == BENCH_VFU_IRQLINK)
		return it->op == BENCH_VFU_READ
			? ops->region_read(g->cl, REGION, 0, buf, it->bytes)
			: ops->region_write(g->cl, REGION, 0, buf, it->bytes);
	fd = g->dp.raw[p - BENCH_VFU_RAW];
	ws = p == BENCH_VFU_RAW ? WAIT_BLOCK : WAIT_POLL_TIMED;
	r = send_all(fd, it->req, it->reqlen, ws);
	if (r)
		return r;
	n = recv_msg(fd, buf, MSG_CAP, ws);
	if (n < 0)
		return (int)n;
	return (size_t)n == it->replen ? 0 : -EPROTO;
}

static const char *const op_name[BENCH_VFU_OPS] = {
	[BENCH_VFU_READ] = "REGION_READ",
	[BENCH_VFU_WRITE] = "REGION_WRITE",
};

static const char *const path_name[BENCH_VFU_PATHS] = {
	[BENCH_VFU_IRQLINK] = "irqlink",
	[BENCH_VFU_RAW] = "raw",
	[BENCH_VFU_RAW_POLL] = "raw, irqlink's wait style",
};

struct rt_run {
	unsigned int nitems, samples;
	struct rt_item *it;
	uint64_t *v;            /* [layout][item][path][sample], ns */
	uint8_t *buf;
};

static uint64_t *rt_slot(struct rt_run *x, unsigned int l, unsigned int i,
			 unsigned int p)
{
	return x->v + (((size_t)l * x->nitems + i) * BENCH_VFU_PATHS + p) *
		x->samples;
}

/* One round: every path of every item once, in a shuffled order (see
 * struct shuffle). Stores at sample @at of layout @l unless @at is
 * negative (warm-up). */
static int rt_round(struct rig *g, struct rt_run *x, unsigned int l, long at,
		    char *why, size_t len)
{
	unsigned int ord[BENCH_VFU_OPS * BENCH_VFU_RT_SIZES * BENCH_VFU_PATHS];
	unsigned int n = x->nitems * BENCH_VFU_PATHS, k;
	int r;

	for (k = 0; k < n; k++)
		ord[k] = k;
	shuffle(&g->order, ord, n);
	for (k = 0; k < n; k++) {
		unsigned int i = ord[k] / BENCH_VFU_PATHS;
		enum bench_vfu_path p = (enum bench_vfu_path)
			(ord[k] % BENCH_VFU_PATHS);
		uint64_t t0 = bench_now_ns(), t1;

		r = rt_once(g, &x->it[i], p, x->buf);
		t1 = bench_now_ns();
		if (r)
			return bench_say(why, len, r, "%s of %u bytes, %s: %s",
				   op_name[x->it[i].op], x->it[i].bytes,
				   path_name[p], strerror(-r));
		if (at >= 0)
			rt_slot(x, l, i, p)[at] = t1 - t0;
	}
	return 0;
}

static void rt_fold(struct rt_run *x, unsigned int l, unsigned int n,
		    struct bench_vfu_rt *out)
{
	unsigned int i, k;

	for (i = 0; i < x->nitems; i++) {
		struct bench_vfu_rt *y = &out[i];

		y->op = x->it[i].op;
		y->bytes = x->it[i].bytes;
		y->request_bytes = (unsigned int)x->it[i].reqlen;
		y->reply_bytes = (unsigned int)x->it[i].replen;
		for (k = 0; k < BENCH_VFU_PATHS; k++)
			stat_of(rt_slot(x, l, i, k), n, &y->path[k]);
		y->ratio_p50 = y->path[BENCH_VFU_IRQLINK].p50_us /
			       y->path[BENCH_VFU_RAW].p50_us;
		y->ratio_p99 = y->path[BENCH_VFU_IRQLINK].p99_us /
			       y->path[BENCH_VFU_RAW].p99_us;
		y->poll_ratio_p50 = y->path[BENCH_VFU_IRQLINK].p50_us /
				    y->path[BENCH_VFU_RAW_POLL].p50_us;
	}
}

/* The placements take turns in chunks of rounds; each chunk starts with a
 * few unkept rounds, after the threads have moved. */
static int measure_rt(struct rig *g, struct placement *pl, bool quick,
		      struct bench_vfu_result *res, char *why, size_t len)
{
	const unsigned int chunk = quick ? RT_CHUNK_Q : RT_CHUNK;
	struct rt_run x = { .nitems = BENCH_VFU_OPS * BENCH_VFU_RT_SIZES };
	unsigned int kept[BENCH_VFU_LAYOUTS] = { 0 };
	unsigned int c, l, i;
	int r = 0;

	x.samples = quick ? RT_SAMPLES_Q : RT_SAMPLES;
	x.it = calloc(x.nitems, sizeof(*x.it));
	x.v = calloc((size_t)BENCH_VFU_LAYOUTS * x.nitems * BENCH_VFU_PATHS *
		     x.samples, sizeof(*x.v));
	x.buf = malloc(MSG_CAP);
	if (!x.it || !x.v || !x.buf) {
		r = bench_say(why, len, -ENOMEM, "out of memory for the round trips' "
			"samples");
		goto out;
	}
	memset(x.buf, 0xa5, MSG_CAP);
	for (i = 0; i < x.nitems; i++)
		rt_item_init(&x.it[i],
			     (enum bench_vfu_op)(i / BENCH_VFU_RT_SIZES),
			     rt_bytes[i % BENCH_VFU_RT_SIZES]);
	for (c = 0; !r && c < x.samples / chunk * BENCH_VFU_LAYOUTS; c++) {
		l = c % BENCH_VFU_LAYOUTS;
		if (!place(g, pl, l))
			continue;
		/* The first chunk of each placement warms up for longer. */
		for (i = 0; i < (c < BENCH_VFU_LAYOUTS ?
				 (quick ? RT_WARMUP_Q : RT_WARMUP) :
				 RT_CHUNK_WARMUP) && !r; i++)
			r = rt_round(g, &x, l, -1, why, len);
		for (i = 0; i < chunk && !r; i++)
			r = rt_round(g, &x, l, (long)(kept[l] + i), why, len);
		kept[l] += chunk;
	}
	if (r)
		goto out;
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++)
		rt_fold(&x, l, pl->ok[l] ? kept[l] : 0, res->rt[l]);
	res->nrt = x.nitems;
out:
	free(x.it);
	free(x.v);
	free(x.buf);
	return r;
}

/* ---- 2. SET_IRQS -------------------------------------------------------- */

static const char *const way_name[BENCH_VFU_WAYS] = {
	[BENCH_VFU_INPROC] = "in-process (irqlink_dev)",
	[BENCH_VFU_PIPELINED] = "irqlink client, pipelined",
	[BENCH_VFU_SYNC] = "raw client, synchronous",
	[BENCH_VFU_WIDE] = "irqlink client, 253 per msg",
};

static const char *const way_key[BENCH_VFU_WAYS] = {
	[BENCH_VFU_INPROC] = "in_process",
	[BENCH_VFU_PIPELINED] = "pipelined",
	[BENCH_VFU_SYNC] = "synchronous",
	[BENCH_VFU_WIDE] = "pipelined_253",
};

static uint64_t client_messages(struct irqlink_vfu_client *cl)
{
	struct irqlink_vfu_client_stats st;

	return irqlink_vfu_client_get_stats(cl, &st) ? 0 : st.set_irqs_messages;
}

/* One SET_IRQS @set (with @fds for DATA_EVENTFD) the way @w makes it.
 * *@msgs: the messages it took. */
static int set_irqs_way(struct rig *g, enum bench_vfu_way w,
			const struct vfio_irq_set *set, const int *fds,
			uint64_t *msgs)
{
	size_t nfds = fds ? set->count : 0;
	struct irqlink_vfu_client *cl;
	uint64_t m0;
	int r;

	switch (w) {
	case BENCH_VFU_INPROC:
		*msgs = 0;
		r = irqlink_dev_set_irqs_fds(testdev_irq(g->local), set, fds,
					     nfds);
		/* "Fewer vectors than asked" is a failure here. */
		return r > 0 ? -ENOSPC : r;
	case BENCH_VFU_PIPELINED:
	case BENCH_VFU_WIDE:
		cl = w == BENCH_VFU_WIDE ? g->cl_wide : g->cl;
		m0 = client_messages(cl);
		r = irqlink_vfu_client_ops.set_irqs(cl, set, fds, nfds);
		*msgs = client_messages(cl) - m0;
		return r;
	case BENCH_VFU_SYNC:
		m0 = g->sync.messages;
		if (fds) {
			r = sync_set_irqs(&g->sync, set, fds);
		} else {
			struct vfio_irq_set s = *set;

			s.argsz = sizeof(s);
			r = wire_call(&g->sync, CMD_SET_IRQS, &s, sizeof(s),
				      NULL, 0);
			g->sync.messages++;
		}
		*msgs = g->sync.messages - m0;
		return r;
	default:
		return -EINVAL;
	}
}

static const struct vfio_irq_set msix_off = {
	.argsz = sizeof(struct vfio_irq_set),
	.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	.index = VFIO_PCI_MSIX_IRQ_INDEX,
};

/* (Filled in place: a struct with a flexible array is no value to pass.) */
static void msix_assign(struct vfio_irq_set *s, unsigned int n)
{
	*s = msix_off;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->count = n;
}

/* Untimed: after way @w assigned @n eventfds, a loopback SET_IRQS of the
 * last vector must signal our eventfd for it, whichever process holds the
 * device. */
static int check_delivery(struct rig *g, enum bench_vfu_way w, unsigned int n,
			  char *why, size_t len)
{
	struct vfio_irq_set fire = msix_off;
	uint64_t cnt, msgs;
	int r;

	fire.start = n - 1;
	fire.count = 1;
	(void)!read(g->efd[n - 1], &cnt, sizeof(cnt));
	r = set_irqs_way(g, w, &fire, NULL, &msgs);
	if (r)
		return bench_say(why, len, r, "%s: firing vector %u of %u: %s",
			   way_name[w], n - 1, n, strerror(-r));
	if (read(g->efd[n - 1], &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return bench_say(why, len, -EIO, "%s: vector %u of %u fired but its "
			   "eventfd was not signalled: the eventfds did not "
			   "reach the device", way_name[w], n - 1, n);
	return 0;
}

struct irq_samples {
	uint64_t *assign, *deassign;    /* [layout][rep], ns */
	uint64_t msgs;
};

static int assign_once(struct rig *g, enum bench_vfu_way w, unsigned int n,
		       uint64_t *t_assign, uint64_t *t_deassign, uint64_t *msgs,
		       char *why, size_t len)
{
	struct vfio_irq_set set;
	uint64_t t0, t1, t2, m;
	int r;

	msix_assign(&set, n);
	t0 = bench_now_ns();
	r = set_irqs_way(g, w, &set, g->efd, msgs);
	t1 = bench_now_ns();
	if (r)
		return bench_say(why, len, r, "%s: SET_IRQS of %u eventfds: %s",
			   way_name[w], n, strerror(-r));
	r = set_irqs_way(g, w, &msix_off, NULL, &m);
	t2 = bench_now_ns();
	if (r)
		return bench_say(why, len, r, "%s: de-assigning %u eventfds: %s",
			   way_name[w], n, strerror(-r));
	if (t_assign)
		*t_assign = t1 - t0;
	if (t_deassign)
		*t_deassign = t2 - t1;
	return 0;
}

/* Untimed, once per N: every way's eventfds must reach the device. */
static int irqs_check(struct rig *g, unsigned int n, char *why, size_t len)
{
	struct vfio_irq_set set;
	unsigned int w;
	uint64_t msgs;
	int r = 0;

	msix_assign(&set, n);
	for (w = 0; w < BENCH_VFU_WAYS && !r; w++) {
		r = set_irqs_way(g, (enum bench_vfu_way)w, &set, g->efd, &msgs);
		if (r)
			return bench_say(why, len, r, "%s: SET_IRQS of %u eventfds: "
				   "%s", way_name[w], n, strerror(-r));
		r = check_delivery(g, (enum bench_vfu_way)w, n, why, len);
		if (!r)
			r = set_irqs_way(g, (enum bench_vfu_way)w, &msix_off,
					 NULL, &msgs);
		if (r)
			bench_say(why, len, r, "%s: de-assigning %u eventfds: %s",
			    way_name[w], n, strerror(-r));
	}
	return r;
}

static void irqs_fold(struct irq_samples *s, unsigned int l, unsigned int n,
		      unsigned int kept, unsigned int reps,
		      struct bench_vfu_irqs *out)
{
	struct bench_vfu_way_result *in = &out->way[BENCH_VFU_INPROC];
	struct bench_vfu_way_result *pi = &out->way[BENCH_VFU_PIPELINED];
	struct bench_vfu_way_result *sy = &out->way[BENCH_VFU_SYNC];
	struct bench_vfu_way_result *wi = &out->way[BENCH_VFU_WIDE];
	unsigned int w;

	out->fds = n;
	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		stat_of(s[w].assign + (size_t)l * reps, kept,
			&out->way[w].assign);
		stat_of(s[w].deassign + (size_t)l * reps, kept,
			&out->way[w].deassign);
		out->way[w].messages = (unsigned int)s[w].msgs;
	}
	out->socket_overhead_pct = (pi->assign.p50_us / in->assign.p50_us - 1) *
				   100;
	out->wide_overhead_pct = (wi->assign.p50_us / in->assign.p50_us - 1) *
				 100;
	out->sync_over_pipelined = sy->assign.p50_us / pi->assign.p50_us;
}

/* @reps per placement, the placements taking turns every @chunk, the
 * ways in a shuffled order within each repetition. */
static int measure_irqs_size(struct rig *g, struct placement *pl,
			     unsigned int n, unsigned int reps,
			     unsigned int chunk, struct bench_vfu_result *res,
			     unsigned int idx, char *why, size_t len)
{
	struct irq_samples s[BENCH_VFU_WAYS] = { { 0 } };
	unsigned int kept[BENCH_VFU_LAYOUTS] = { 0 };
	unsigned int ord[BENCH_VFU_WAYS];
	unsigned int c, l, i, k, w;
	uint64_t msgs;
	int r = 0;

	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		s[w].assign = calloc((size_t)BENCH_VFU_LAYOUTS * reps,
				     sizeof(uint64_t));
		s[w].deassign = calloc((size_t)BENCH_VFU_LAYOUTS * reps,
				       sizeof(uint64_t));
		if (!s[w].assign || !s[w].deassign) {
			r = bench_say(why, len, -ENOMEM, "out of memory");
			goto out;
		}
	}
	r = irqs_check(g, n, why, len);
	for (c = 0; !r && c < reps / chunk * BENCH_VFU_LAYOUTS; c++) {
		l = c % BENCH_VFU_LAYOUTS;
		if (!place(g, pl, l))
			continue;
		for (w = 0; w < BENCH_VFU_WAYS && !r; w++)
			for (k = 0; k < IRQ_WARMUP && !r; k++)
				r = assign_once(g, (enum bench_vfu_way)w, n,
						NULL, NULL, &msgs, why, len);
		for (i = 0; i < chunk && !r; i++) {
			size_t at = (size_t)l * reps + kept[l] + i;

			for (k = 0; k < BENCH_VFU_WAYS; k++)
				ord[k] = k;
			shuffle(&g->order, ord, BENCH_VFU_WAYS);
			for (k = 0; k < BENCH_VFU_WAYS && !r; k++) {
				w = ord[k];
				r = assign_once(g, (enum bench_vfu_way)w, n,
						&s[w].assign[at],
						&s[w].deassign[at], &msgs,
						why, len);
				/* A count, not noise: the largest. */
				if (msgs > s[w].msgs)
					s[w].msgs = msgs;
			}
		}
		kept[l] += chunk;
	}
	if (r)
		goto out;
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++)
		irqs_fold(s, l, n, pl->ok[l] ? kept[l] : 0, reps,
			  &res->irqs[l][idx]);
out:
	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		free(s[w].assign);
		free(s[w].deassign);
	}
	return r;
}

/* ---- 3. per-eventfd costs ----------------------------------------------- */

/* The device model's own work per eventfd (src/eventfd.c does it through
 * the library's internal helpers; these are the same system calls). */
static int check_dup(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[40], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n != (ssize_t)sizeof(want) - 1 || memcmp(link, want, (size_t)n))
		return -EINVAL;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return n < 0 ? -errno : (int)n;
}

/* Pass @n eventfds through a socket pair, @per per message, receive and
 * close them. */
static int scm_pass(const int sv[2], const int *fds, unsigned int n,
		    unsigned int per)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(WIDE_FDS * sizeof(int))];
	} ctl;
	unsigned int i, k;
	size_t j, got;
	char b = 0;

	for (i = 0; i < n; i += k) {
		struct iovec iov = { .iov_base = &b, .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf };
		struct cmsghdr *c;

		k = n - i < per ? n - i : per;
		memset(&ctl, 0, sizeof(ctl));
		m.msg_controllen = CMSG_SPACE(k * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(c), fds + i, k * sizeof(int));
		if (sendmsg(sv[0], &m, MSG_NOSIGNAL) != 1)
			return -errno;
		m.msg_controllen = sizeof(ctl.buf);
		if (recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC) != 1)
			return -errno;
		c = CMSG_FIRSTHDR(&m);
		if (!c || c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_RIGHTS)
			return -EPROTO;
		/* Whatever came is ours to close, even a short count. */
		got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (j = 0; j < got; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(fd));
			close(fd);
		}
		if (got != k)
			return -EPROTO;
	}
	return 0;
}

static int measure_perfd(struct rig *g, unsigned int reps,
			 struct bench_vfu_perfd *pf, char *why, size_t len)
{
	const unsigned int n = g->nefd;
	double tok[PERFD_REPS], chk[PERFD_REPS], scm[PERFD_REPS];
	double wide[PERFD_REPS];
	int *dups = calloc(n, sizeof(int));
	int sv[2] = { -1, -1 };
	unsigned int k, i;
	uint64_t token, t0;
	int r = 0;

	if (!dups)
		return bench_say(why, len, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		free(dups);
		return bench_say(why, len, -errno, "socketpair: %s", strerror(errno));
	}
	for (k = 0; k < reps && !r; k++) {
		t0 = bench_now_ns();
		for (i = 0; i < n && !r; i++)
			r = irqlink_bypass_token_from_fd(g->efd[i], &token);
		tok[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		if (r) {
			bench_say(why, len, r, "eventfd identities are not readable "
			    "from /proc: %s", strerror(-r));
			break;
		}

		t0 = bench_now_ns();
		for (i = 0; i < n; i++)
			dups[i] = check_dup(g->efd[i]);
		for (i = 0; i < n; i++)
			if (dups[i] >= 0)
				close(dups[i]);
			else if (!r)
				r = dups[i];
		chk[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		if (r) {
			bench_say(why, len, r, "checking and duplicating an eventfd: "
			    "%s", strerror(-r));
			break;
		}

		t0 = bench_now_ns();
		r = scm_pass(sv, g->efd, n, SYNC_MAX_FDS);
		scm[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		t0 = bench_now_ns();
		if (!r)
			r = scm_pass(sv, g->efd, n, WIDE_FDS);
		wide[k] = (double)(bench_now_ns() - t0) / 1e3 / n;
		if (r)
			bench_say(why, len, r, "passing eventfds over a socket: %s",
			    strerror(-r));
	}
	close(sv[0]);
	close(sv[1]);
	free(dups);
	if (r)
		return r;
	pf->token_us = bench_median(tok, reps);
	pf->check_dup_us = bench_median(chk, reps);
	pf->scm_us = bench_median(scm, reps);
	pf->scm_wide_us = bench_median(wide, reps);
	return 0;
}

/* ---- the run ------------------------------------------------------------ */

int bench_vfu_run(const struct bench_vfu_cfg *cfg,
		  struct bench_vfu_result **out, char *why, size_t whylen)
{
	const unsigned int *reps, *chunk;
	struct bench_vfu_result *res;
	struct bench_vfu_irqs *big;
	struct placement pl;
	struct rlimit old;
	bool raised = false;
	struct rig *g;
	unsigned int i, l;
	int r;

	if (why && whylen)
		why[0] = '\0';
	if (!out)
		return bench_say(why, whylen, -EINVAL, "no place for the results");
	*out = NULL;
	if (!cfg)
		return bench_say(why, whylen, -EINVAL, "no configuration");
	res = calloc(1, sizeof(*res));
	g = calloc(1, sizeof(*g));
	if (!res || !g) {
		free(res);
		free(g);
		return bench_say(why, whylen, -ENOMEM, "out of memory");
	}
	res->quick = cfg->quick;
	reps = cfg->quick ? irq_reps_q : irq_reps;
	chunk = cfg->quick ? irq_chunk_q : irq_chunk;
	placement_init(&pl);

	r = fd_budget(&old, &raised, why, whylen);
	if (!r)
		r = rig_open(g, why, whylen);
	if (r)
		goto out;
	res->max_msg_fds = g->sync.granted;
	r = measure_rt(g, &pl, cfg->quick, res, why, whylen);
	for (i = 0; !r && i < BENCH_VFU_IRQ_SIZES; i++)
		r = measure_irqs_size(g, &pl, irq_fds[i], reps[i], chunk[i],
				      res, i, why, whylen);
	if (!r) {
		res->nirqs = BENCH_VFU_IRQ_SIZES;
		r = measure_perfd(g, cfg->quick ? PERFD_REPS_Q : PERFD_REPS,
				  &res->perfd, why, whylen);
	}
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++)
		res->layout_ok[l] = pl.ok[l];
	res->cpu_bench = pl.cpu_bench;
	res->cpu_device = pl.ok[BENCH_VFU_TWO_CPUS] ? pl.cpu_device : -1;
	if (!r) {
		big = &res->irqs[BENCH_VFU_ONE_CPU][res->nirqs - 1];
		res->perfd.inproc_us =
			big->way[BENCH_VFU_INPROC].assign.p50_us / big->fds;
		res->perfd.socket_extra_us =
			(big->way[BENCH_VFU_PIPELINED].assign.p50_us -
			 big->way[BENCH_VFU_INPROC].assign.p50_us) / big->fds;
	}
	rig_close(g);
out:
	placement_fini(&pl);
	if (raised)
		(void)setrlimit(RLIMIT_NOFILE, &old);
	free(g);
	if (r) {
		free(res);
		return r;
	}
	*out = res;
	return 0;
}

void bench_vfu_free(struct bench_vfu_result *r)
{
	free(r);
}

/* ---- reporting ---------------------------------------------------------- */

static void put_us(FILE *f, int width, int prec, double v)
{
	if (isnan(v))
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, prec, v);
}

static const char *const layout_key[BENCH_VFU_LAYOUTS] = {
	[BENCH_VFU_ONE_CPU] = "one_cpu",
	[BENCH_VFU_TWO_CPUS] = "two_cpus",
};

/* "every thread on CPU 0" / "device process on CPU 1, bench on CPU 0",
 * or why the placement has no figures. */
static bool layout_title(FILE *f, const struct bench_vfu_result *r,
			 unsigned int l)
{
	if (l == BENCH_VFU_ONE_CPU)
		fprintf(f, "every thread on CPU %d", r->cpu_bench);
	else if (r->cpu_device >= 0)
		fprintf(f, "device process on CPU %d, bench on CPU %d",
			r->cpu_device, r->cpu_bench);
	else
		fprintf(f, "device process on another CPU");
	if (!r->layout_ok[l])
		fprintf(f, ": not measured (no such CPU, or the system "
			"refused the placement)\n\n");
	return r->layout_ok[l];
}

static void print_rt(FILE *f, const struct bench_vfu_result *r)
{
	unsigned int i, k, l;

	for (l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		fprintf(f, "Round trip, client -> device process -> client, ");
		if (!layout_title(f, r, l) || !r->nrt)
			continue;
		fprintf(f, "\n(us, %" PRIu64 " samples per path and row, "
			"interleaved)\n", r->rt[l][0].path[0].n);
		fprintf(f, "%-12s %5s %9s  %15s  %15s  %16s  %s\n", "",
			"bytes", "wire", "irqlink p50 p99", "raw p50 p99",
			"raw-poll p50 p99", "irqlink/raw p50 (p99) /raw-poll");
		for (i = 0; i < r->nrt; i++) {
			const struct bench_vfu_rt *x = &r->rt[l][i];
			char wire[32];

			snprintf(wire, sizeof(wire), "%u/%u", x->request_bytes,
				 x->reply_bytes);
			fprintf(f, "%-12s %5u %9s ", op_name[x->op], x->bytes,
				wire);
			for (k = 0; k < BENCH_VFU_PATHS; k++) {
				put_us(f, 7, 2, x->path[k].p50_us);
				put_us(f, 7, 2, x->path[k].p99_us);
				fputc(' ', f);
			}
			fprintf(f, "   %5.2fx (%.2fx) %6.2fx\n", x->ratio_p50,
				x->ratio_p99, x->poll_ratio_p50);
		}
		fputc('\n', f);
	}
	fprintf(f, "  irqlink = irqlink_vfu_client_ops region_read/region_write "
		"of the test device's BAR4\n  through irqlink's server. raw = "
		"the same bytes each way (wire = request/reply,\n  header "
		"included) between the same two processes, blocking read and "
		"write at both ends.\n  raw-poll = the same, waiting as irqlink "
		"does: non-blocking read, then poll() (the\n  client's with a "
		"%d ms timeout, the server's untimed). Target: REGION_READ p50\n"
		"  at most 1.15x raw.\n\n", POLL_TIMEOUT_MS);
}

static void print_irqs(FILE *f, const struct bench_vfu_result *r)
{
	unsigned int i, w, l;

	for (l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		fprintf(f, "SET_IRQS of N eventfds to MSI-X, then de-assigned, ");
		if (!layout_title(f, r, l) || !r->nirqs)
			continue;
		fprintf(f, "\n(us; the server grants %u fds per message)\n",
			r->max_msg_fds);
		fprintf(f, "%6s  %-27s %5s %5s %11s %11s %14s\n", "N", "way",
			"msgs", "reps", "assign p50", "p99", "de-assign p50");
		for (i = 0; i < r->nirqs; i++) {
			const struct bench_vfu_irqs *x = &r->irqs[l][i];

			for (w = 0; w < BENCH_VFU_WAYS; w++) {
				const struct bench_vfu_way_result *y =
					&x->way[w];

				if (w == 0)
					fprintf(f, "%6u", x->fds);
				else
					fprintf(f, "%6s", "");
				fprintf(f, "  %-27s", way_name[w]);
				if (w == BENCH_VFU_INPROC)
					fprintf(f, " %5s", "-");
				else
					fprintf(f, " %5u", y->messages);
				fprintf(f, " %5" PRIu64, y->assign.n);
				put_us(f, 11, 1, y->assign.p50_us);
				put_us(f, 11, 1, y->assign.p99_us);
				put_us(f, 14, 1, y->deassign.p50_us);
				fputc('\n', f);
			}
			fprintf(f, "%6s  socket over in-process: %+.1f%% "
				"(253 per msg: %+.1f%%); synchronous / "
				"pipelined: %.2fx\n", "", x->socket_overhead_pct,
				x->wide_overhead_pct, x->sync_over_pipelined);
		}
		fputc('\n', f);
	}
	fprintf(f, "  Neither side registers bypass producers. Target: the "
		"socket adds at most 20%% for 2048.\n\n");
}

static void print_perfd(FILE *f, const struct bench_vfu_perfd *p)
{
	fprintf(f, "Per eventfd (us, median)\n");
	fprintf(f, "  fdinfo identity read (irqlink_bypass_token_from_fd)     "
		"%8.2f\n", p->token_us);
	fprintf(f, "  /proc/self/fd check + dup + close (the device model's)  "
		"%8.2f\n", p->check_dup_us);
	fprintf(f, "  SCM_RIGHTS pass + receive + close, 16 per message       "
		"%8.2f\n", p->scm_us);
	fprintf(f, "  SCM_RIGHTS pass + receive + close, 253 per message      "
		"%8.2f\n", p->scm_wide_us);
	fprintf(f, "  in-process SET_IRQS of 2048, per fd (one CPU)           "
		"%8.2f\n", p->inproc_us);
	fprintf(f, "  the socket's extra per fd (pipelined - in-process)      "
		"%8.2f\n", p->socket_extra_us);
}

void bench_vfu_print(FILE *f, const struct bench_vfu_result *r)
{
	if (!f || !r)
		return;
	fprintf(f, "== vfio-user, device in a child process%s ==\n\n",
		r->quick ? " (quick)" : "");
	print_rt(f, r);
	print_irqs(f, r);
	print_perfd(f, &r->perfd);
}

static struct json_object *json_stat(const struct bench_vfu_stat *s)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "n", json_object_new_int64((int64_t)s->n));
	json_object_object_add(o, "p50_us", bench_json_num(s->p50_us));
	json_object_object_add(o, "p99_us", bench_json_num(s->p99_us));
	json_object_object_add(o, "min_us", bench_json_num(s->min_us));
	return o;
}

static const char *const path_key[BENCH_VFU_PATHS] = {
	[BENCH_VFU_IRQLINK] = "irqlink",
	[BENCH_VFU_RAW] = "raw",
	[BENCH_VFU_RAW_POLL] = "raw_poll",
};

static struct json_object *json_rt(const struct bench_vfu_rt *x)
{
	struct json_object *o = json_object_new_object();
	unsigned int k;

	if (!o)
		return NULL;
	json_object_object_add(o, "op", json_object_new_string(op_name[x->op]));
	json_object_object_add(o, "bytes", json_object_new_int64(x->bytes));
	json_object_object_add(o, "request_bytes", json_object_new_int64(x->request_bytes));
	json_object_object_add(o, "reply_bytes", json_object_new_int64(x->reply_bytes));
	for (k = 0; k < BENCH_VFU_PATHS; k++)
		json_object_object_add(o, path_key[k], json_stat(&x->path[k]));
	json_object_object_add(o, "ratio_p50", bench_json_num(x->ratio_p50));
	json_object_object_add(o, "ratio_p99", bench_json_num(x->ratio_p99));
	json_object_object_add(o, "poll_ratio_p50", bench_json_num(x->poll_ratio_p50));
	return o;
}

static struct json_object *json_irqs(const struct bench_vfu_irqs *x)
{
	struct json_object *o = json_object_new_object();
	unsigned int w;

	if (!o)
		return NULL;
	json_object_object_add(o, "fds", json_object_new_int64(x->fds));
	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		struct json_object *y = json_object_new_object();

		if (!y)
			continue;
		json_object_object_add(y, "assign", json_stat(&x->way[w].assign));
		json_object_object_add(y, "deassign", json_stat(&x->way[w].deassign));
		json_object_object_add(y, "messages", json_object_new_int64(x->way[w].messages));
		json_object_object_add(o, way_key[w], y);
	}
	json_object_object_add(o, "socket_overhead_pct", bench_json_num(x->socket_overhead_pct));
	json_object_object_add(o, "wide_overhead_pct", bench_json_num(x->wide_overhead_pct));
	json_object_object_add(o, "sync_over_pipelined", bench_json_num(x->sync_over_pipelined));
	return o;
}

struct json_object *bench_vfu_json(const struct bench_vfu_result *r)
{
	struct json_object *o, *rt, *irqs, *pf;
	unsigned int i, l;

	if (!r)
		return NULL;
	o = json_object_new_object();
	rt = json_object_new_object();
	irqs = json_object_new_object();
	pf = json_object_new_object();
	if (!o || !rt || !irqs || !pf) {
		json_object_put(o);
		json_object_put(rt);
		json_object_put(irqs);
		json_object_put(pf);
		return NULL;
	}
	json_object_object_add(o, "quick", json_object_new_boolean(r->quick));
	json_object_object_add(o, "device", json_object_new_string("child process"));
	json_object_object_add(o, "cpu_bench", json_object_new_int(r->cpu_bench));
	json_object_object_add(o, "cpu_device", json_object_new_int(r->cpu_device));
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		struct json_object *a = json_object_new_array();
		struct json_object *b = json_object_new_array();

		if (!a || !b || !r->layout_ok[l]) {
			/* null: this placement was not measured. */
			json_object_put(a);
			json_object_put(b);
			json_object_object_add(rt, layout_key[l], NULL);
			json_object_object_add(irqs, layout_key[l], NULL);
			continue;
		}
		for (i = 0; i < r->nrt; i++)
			json_object_array_add(a, json_rt(&r->rt[l][i]));
		for (i = 0; i < r->nirqs; i++)
			json_object_array_add(b, json_irqs(&r->irqs[l][i]));
		json_object_object_add(rt, layout_key[l], a);
		json_object_object_add(irqs, layout_key[l], b);
	}
	json_object_object_add(o, "round_trips", rt);
	json_object_object_add(o, "max_msg_fds", json_object_new_int64(r->max_msg_fds));
	json_object_object_add(o, "set_irqs", irqs);
	json_object_object_add(pf, "token_us", bench_json_num(r->perfd.token_us));
	json_object_object_add(pf, "check_dup_us", bench_json_num(r->perfd.check_dup_us));
	json_object_object_add(pf, "scm_rights_us", bench_json_num(r->perfd.scm_us));
	json_object_object_add(pf, "scm_rights_253_us", bench_json_num(r->perfd.scm_wide_us));
	json_object_object_add(pf, "in_process_us", bench_json_num(r->perfd.inproc_us));
	json_object_object_add(pf, "socket_extra_us", bench_json_num(r->perfd.socket_extra_us));
	json_object_object_add(o, "per_fd", pf);
	return o;
}
