/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user: what the socket costs a device that lives in
 * its own process, beside the same work without irqlink (a raw socket) and
 * without the socket (in-process).
 *
 * Layout
 * ------
 * The device runs in a child process that bench_vfu_run() forks: the test
 * device (devices/testdev.h: 2048 MSI-X vectors and its 64 KiB memory BAR)
 * behind irqlink's vfio-user server, as irqlink-devd serves it (three
 * instances of both, since a server takes one client at a time). A process
 * rather than a thread because that is what vfio-user is for, and what it
 * changes is paid in deployment: every wake-up of the other end is a
 * switch to another address space, and SCM_RIGHTS installs each eventfd
 * into another process's fd table (a thread would share the client's).
 * (On these machines a plain ping-pong costs the same between two threads
 * as between two processes, so a thread would not have flattered irqlink;
 * the fd tables are the part that differs.) The client, and every timer,
 * are in the calling thread; the raw baselines run between the same two
 * processes, so they pay the same switches. No KVM is needed.
 *
 * What is measured
 * ----------------
 * 1. Round trips: REGION_READ and REGION_WRITE of 4, 64 and 4096 bytes of
 *    the device's memory BAR (BAR4: the device's work is a memcpy) through
 *    irqlink's client (irqlink_vfu_client_ops.region_read / region_write,
 *    one message each way) and irqlink's server, beside a raw AF_UNIX
 *    SOCK_STREAM ping-pong of the very same byte counts each way (a 16-byte
 *    vfio-user header and the payload, one write and one read per side)
 *    with blocking reads at both ends: the baseline the target is set
 *    against. A third path does the raw ping-pong waiting exactly as
 *    irqlink does (a non-blocking read, poll() only when it finds nothing;
 *    the client's poll() with its 5 s reply timeout, the server's untimed,
 *    as irqlink_vfu_server_run() polls), to tell how much of the
 *    difference is the way of waiting and how much the rest. The three
 *    paths alternate sample by sample, in an order shuffled afresh for
 *    every round.
 * 2. SET_IRQS of N eventfds (N = 1, 16, 2048) to the device's MSI-X index
 *    (ACTION_TRIGGER, DATA_EVENTFD, start 0), then its de-assignment
 *    (DATA_NONE, count 0: MSI-X off again, every eventfd dropped), four
 *    ways, interleaved within each repetition in a shuffled order:
 *      in-process  irqlink_dev_set_irqs_fds() on an identical test device
 *                  in this process (no socket at all).
 *      pipelined   irqlink's client: chunks of the negotiated max_msg_fds
 *                  (16, the server's default and the most QEMU accepts),
 *                  all sent before the first reply is read.
 *      synchronous the bench's own raw vfio-user client (VERSION handshake,
 *                  then SET_IRQS written by hand) against a second instance
 *                  of the same server and device in the same child (a
 *                  server serves one client at a time): one chunk of at
 *                  most 16 fds, its reply awaited with a blocking read,
 *                  then the next, as QEMU's client does. Like irqlink's
 *                  client it first enables the whole range without fds
 *                  (this server sizes an MSI-X block by the SET_IRQS that
 *                  enables it, as vfio does), so both send the same
 *                  messages and differ only in when they wait.
 *      pipelined, 253  irqlink's client against a third instance whose
 *                  server grants 253 fds per message (SCM_MAX_FD, the
 *                  most Linux passes in one): what the number of messages
 *                  costs, beside the per-eventfd price of passing them.
 *    Neither side registers bypass producers (the client has no bypass
 *    manager, the in-process device is not attached to one): with one, each
 *    side would add an fdinfo identity read and a registration per
 *    eventfd, which (3) gives the price of.
 * 3. Per-eventfd costs, to say what dominates (2): one fdinfo identity read
 *    (irqlink_bypass_token_from_fd()); the device model's own per-eventfd
 *    work (a /proc/self/fd readlink to check it is an eventfd, a
 *    close-on-exec dup, and the close at de-assignment); passing an eventfd
 *    over an AF_UNIX socket (16 or 253 per sendmsg(), received, closed).
 *
 * Placement. (1) and (2) are measured twice, the two taking turns in
 * chunks so that whatever else the machine does hits both: every thread of
 * both processes on one CPU (the bench thread's), and the device process's
 * threads on another CPU than the bench thread. Not where the scheduler
 * would put them: on these virtual machines a wake-up that crosses CPUs
 * costs tens of microseconds against a few for a switch on one CPU, and
 * the scheduler keeps a thread on one side or the other for long runs of
 * samples, so the paths (each served by its own thread) would be compared
 * on placements chosen by chance. One CPU shows the code's own cost; two
 * CPUs, a device process on a CPU of its own.
 *
 * Every time is a median and a p99 over many samples; nothing is checked
 * against a target here (the targets are the report's). Once per N, untimed,
 * each way's eventfds are seen to reach the device: the last vector, fired
 * by a loopback SET_IRQS, must signal the bench's eventfd.
 *
 * The child is made with fork(): call bench_vfu_run() while no other thread
 * of the process holds a lock the child needs (irqlink-bench runs its
 * modules one after another). It raises the soft RLIMIT_NOFILE if 2048
 * vectors need more descriptors than it allows, and puts it back.
 *
 * Self-contained: the public irqlink API, the test device (so it links
 * devices/libtestdev.a: testdev_dep in meson), json-c, libc, pthreads.
 */
#ifndef IRQLINK_BENCH_VFU_H
#define IRQLINK_BENCH_VFU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct bench_vfu_cfg {
	bool quick;             /* fewer samples for CI: seconds */
};

#define BENCH_VFU_RT_SIZES  3   /* 4, 64, 4096 bytes */
#define BENCH_VFU_IRQ_SIZES 3   /* 1, 16, 2048 eventfds */

enum bench_vfu_op {
	BENCH_VFU_READ = 0,     /* REGION_READ */
	BENCH_VFU_WRITE,        /* REGION_WRITE */
	BENCH_VFU_OPS,
};

enum bench_vfu_path {
	BENCH_VFU_IRQLINK = 0,  /* irqlink's client and server */
	BENCH_VFU_RAW,          /* raw ping-pong, blocking reads */
	BENCH_VFU_RAW_POLL,     /* raw ping-pong, irqlink's wait style */
	BENCH_VFU_PATHS,
};

/* @n samples: median, 99th percentile and fastest, in microseconds. */
struct bench_vfu_stat {
	uint64_t n;
	double p50_us, p99_us, min_us;
};

/*
 * struct bench_vfu_rt - one operation of @bytes bytes, every path.
 * @request_bytes, @reply_bytes: on the wire each way, 16-byte header
 *               included (the same for every path).
 * @path:        indexed by enum bench_vfu_path.
 * @ratio_p50, @ratio_p99: irqlink over the blocking raw ping-pong.
 * @poll_ratio_p50: irqlink over the raw ping-pong in irqlink's own wait
 *               style (the same waits, none of the rest).
 */
struct bench_vfu_rt {
	enum bench_vfu_op op;
	unsigned int bytes;
	unsigned int request_bytes, reply_bytes;
	struct bench_vfu_stat path[BENCH_VFU_PATHS];
	double ratio_p50, ratio_p99;
	double poll_ratio_p50;
};

enum bench_vfu_layout {
	BENCH_VFU_ONE_CPU = 0,  /* every thread of both processes on one CPU */
	BENCH_VFU_TWO_CPUS,     /* the device process on another CPU */
	BENCH_VFU_LAYOUTS,
};

enum bench_vfu_way {
	BENCH_VFU_INPROC = 0,   /* irqlink_dev_set_irqs_fds(), no socket */
	BENCH_VFU_PIPELINED,    /* irqlink's client */
	BENCH_VFU_SYNC,         /* one chunk, one reply, the next chunk */
	BENCH_VFU_WIDE,         /* irqlink's client, 253 fds per message */
	BENCH_VFU_WAYS,
};

/*
 * struct bench_vfu_way_result - one way of assigning N eventfds.
 * @assign:   the SET_IRQS that assigns them (all its messages and replies).
 * @deassign: the SET_IRQS that takes them back (MSI-X disabled).
 * @messages: SET_IRQS messages one assignment took (0: in-process).
 */
struct bench_vfu_way_result {
	struct bench_vfu_stat assign;
	struct bench_vfu_stat deassign;
	unsigned int messages;
};

/*
 * struct bench_vfu_irqs - SET_IRQS of @fds eventfds.
 * @way:                 indexed by enum bench_vfu_way.
 * @socket_overhead_pct: pipelined p50 over in-process p50, in percent.
 * @wide_overhead_pct:   the same for 253 fds per message.
 * @sync_over_pipelined: synchronous p50 / pipelined p50.
 */
struct bench_vfu_irqs {
	unsigned int fds;
	struct bench_vfu_way_result way[BENCH_VFU_WAYS];
	double socket_overhead_pct;
	double wide_overhead_pct;
	double sync_over_pipelined;
};

/*
 * struct bench_vfu_perfd - microseconds per eventfd, medians.
 * @token_us:     irqlink_bypass_token_from_fd() (one fdinfo read): what a
 *                bypass registration adds per eventfd, on either side.
 * @check_dup_us: readlink of /proc/self/fd/N, F_DUPFD_CLOEXEC, and close:
 *                what the device model does with each eventfd it is given
 *                and later lets go of.
 * @scm_us:       an eventfd passed over an AF_UNIX socket, 16 per
 *                sendmsg(), received and closed (one thread, no wake-up).
 * @scm_wide_us:  the same, 253 per sendmsg().
 * @inproc_us:    the in-process assignment of the most eventfds, per fd.
 * @socket_extra_us: the pipelined assignment minus the in-process one, per
 *                fd (medians of both).
 */
struct bench_vfu_perfd {
	double token_us;
	double check_dup_us;
	double scm_us;
	double scm_wide_us;
	double inproc_us;
	double socket_extra_us;
};

/*
 * struct bench_vfu_result - everything bench_vfu_run() measured.
 * @quick:       run with cfg.quick.
 * @cpu_bench:   the CPU of the bench thread (and, BENCH_VFU_ONE_CPU, of
 *               the device process); @cpu_device: the device process's in
 *               BENCH_VFU_TWO_CPUS (-1: there is no other CPU).
 * @layout_ok:   false for a placement the system refused or lacks (its
 *               figures are NaN, n 0).
 * @rt:          per placement, per operation and size.
 * @max_msg_fds: fds per message the server granted at VERSION.
 * @irqs:        per placement, per N.
 * @perfd:       its in-process and socket figures are from N = 2048 on
 *               one CPU, where the socket's work cannot overlap ours.
 */
struct bench_vfu_result {
	bool quick;
	int cpu_bench, cpu_device;
	bool layout_ok[BENCH_VFU_LAYOUTS];
	unsigned int nrt;
	struct bench_vfu_rt rt[BENCH_VFU_LAYOUTS][BENCH_VFU_OPS *
						   BENCH_VFU_RT_SIZES];
	unsigned int max_msg_fds;
	unsigned int nirqs;
	struct bench_vfu_irqs irqs[BENCH_VFU_LAYOUTS][BENCH_VFU_IRQ_SIZES];
	struct bench_vfu_perfd perfd;
};

/*
 * bench_vfu_run - measure. Returns 0 and *@out (free it with
 * bench_vfu_free()), or -errno with *@out NULL and a message in user terms
 * in @why (@whylen bytes, may be 0). Never prints, never exits (the child
 * it forks ends with _exit()).
 */
int bench_vfu_run(const struct bench_vfu_cfg *cfg,
		  struct bench_vfu_result **out, char *why, size_t whylen);

/* bench_vfu_print - the results as readable tables on @f. */
void bench_vfu_print(FILE *f, const struct bench_vfu_result *r);

/* bench_vfu_json - the results as a new json-c object (the caller owns the
 * reference), or NULL when out of memory. Figures that could not be taken
 * are null. */
struct json_object *bench_vfu_json(const struct bench_vfu_result *r);

/* bench_vfu_free - NULL is a no-op. */
void bench_vfu_free(struct bench_vfu_result *r);

#endif
