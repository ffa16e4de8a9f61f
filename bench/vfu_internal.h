/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user: what its files share among themselves and with
 * nothing else (bench_vfu.h is the interface).
 */
#ifndef IRQLINK_BENCH_VFU_INTERNAL_H
#define IRQLINK_BENCH_VFU_INTERNAL_H

#include "bench_vfu.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vfio.h>

/* QEMU's client takes at most 16 fds per message, and so asks no more. */
#define SYNC_MAX_FDS   16u
#define WIDE_FDS       253u     /* SCM_MAX_FD */
#define MSG_CAP        8192u                /* the largest is 16+16+4096 */

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

/* ---- raw stream I/O (vfu_wire.c) ---------------------------------------- */

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

int vfu_send_all(int fd, const void *buf, size_t len, enum wait_style ws);
ssize_t vfu_recv_msg(int fd, uint8_t *buf, size_t cap, enum wait_style ws);

static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the device process (vfu_device_proc.c) ----------------------------- */

/* The device process's servers, one client each. */
enum server_id {
	SRV_PIPELINED = 0,      /* irqlink's client: round trips, SET_IRQS */
	SRV_SYNC,               /* the bench's synchronous raw client */
	SRV_WIDE,               /* irqlink's client, 253 fds per message */
	NSERVERS,
};

/* The raw ping-pongs, one socket pair and server thread each (a server
 * thread shared by two paths would be found awake by whichever follows
 * the other), indexed by enum bench_vfu_path - BENCH_VFU_RAW. */
#define NRAW (BENCH_VFU_PATHS - BENCH_VFU_RAW)

struct devproc {
	pid_t pid;
	char dir[64];
	char path[NSERVERS][sizeof(((struct sockaddr_un *)0)->sun_path)];
	int raw[NRAW];          /* our ends of the raw ping-pongs */
	int stop;               /* closing it stops the child */
	int report;             /* the child's start report; EOF at its exit */
};

int vfu_devproc_start(struct devproc *dp, char *why, size_t len);
void vfu_devproc_stop(struct devproc *dp);

/* ---- the bench's synchronous vfio-user client (vfu_raw_client.c) -------- */

struct sync_client {
	int sock;
	uint16_t id;
	unsigned int granted;   /* max_msg_fds from the server's VERSION */
	unsigned int per;       /* fds per message: the grant, at most 16 */
	uint64_t messages;      /* SET_IRQS messages sent */
};

int vfu_sync_connect(struct sync_client *s, const char *path, char *why,
		     size_t len);
int vfu_sync_set_irqs(struct sync_client *s, const struct vfio_irq_set *set,
		      const int *fds);
int vfu_wire_call(struct sync_client *s, uint16_t cmd, const void *payload,
		  size_t len, const int *fds, size_t nfds);

/* ---- names, for the tables and the errors alike (vfu_report.c) ---------- */

extern const char *const vfu_op_name[BENCH_VFU_OPS];
extern const char *const vfu_way_name[BENCH_VFU_WAYS];

#endif
