/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server's private state, shared by its connection handling
 * (vfio_user_server.c) and its device commands (vfio_user_server_cmds.c).
 */
#ifndef IRQLINK_SRC_VFIO_USER_SERVER_INTERNAL_H
#define IRQLINK_SRC_VFIO_USER_SERVER_INTERNAL_H

#include <irqlink/vfio_user_server.h>

#include <pthread.h>
#include <sys/un.h>

#include "vfio_user_dma.h"
#include "vfio_user_msg.h"

/* A DMA_READ/DMA_WRITE request waiting for its reply. */
struct il_vfu_pending {
	bool used, done;
	uint16_t id, cmd;
	uint64_t addr;
	void *buf;              /* DMA_READ: where the reply's data goes */
	size_t len;
	int err;
};

#define IL_VFU_MAX_PENDING  16u
/* Client commands the loop thread keeps while it waits for a DMA reply. */
#define IL_VFU_MAX_DEFERRED 64u

/* A client command received during such a wait, handled after it. */
struct il_vfu_deferred {
	struct il_vfu_deferred *next;
	struct il_vfu_hdr hdr;
	bool bad_fds;           /* came with too many fds (already closed) */
	size_t len, nfds;
	int *fds;               /* nfds of them, ours */
	uint8_t *payload;       /* len bytes */
};

struct irqlink_vfu_server {
	struct irqlink_vfu_server_config cfg;   /* path points at @path */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;                /* listening socket */
	int epfd;               /* lfd and, while connected, cfd */
	int cfd;                /* the client, -1 when none */
	int tfd;                /* re-arms lfd after an accept back-off */
	bool versioned;         /* VERSION done on this connection */
	struct il_vfu_caps peer; /* what the client negotiated */
	struct il_vfu_rx rx;
	struct il_vfu_dma dma;  /* the client's DMA_MAP ranges */
	size_t max_msg_size;
	uint8_t *reply;         /* a reply payload: max_msg_size bytes */
	struct irqlink_vfu_server_stats st;     /* dma_* and deferred: req_lock */

	/* Sends on cfd come from the loop (replies) and from any thread doing
	 * DMA (requests): tx_lock keeps each message whole and cfd stable. */
	pthread_mutex_t tx_lock;
	pthread_mutex_t req_lock;
	pthread_cond_t req_cond;        /* a pending request completed */
	struct il_vfu_pending pend[IL_VFU_MAX_PENDING];
	uint16_t next_req_id;
	uint64_t conn;                  /* connection number, for waiters */
	bool in_loop;                   /* loop_thread is in client_read */
	pthread_t loop_thread;
	/* Set by a wait on the loop thread that found the client gone. */
	bool lost;
	/* Largest DMA request the client takes; 0 before VERSION. */
	uint64_t dma_chunk;
	/* rx's other storage: where a waiting handler's own request stays.
	 * @must_swap: the message being served lives in rx's storage. */
	struct il_vfu_rx rx_spare;
	bool must_swap;
	struct il_vfu_deferred *dq_head, **dq_tail;
	size_t dq_len;
};

/* The DMA requests (vfio_user_server_requests.c). */
int il_vfu_requests_init(struct irqlink_vfu_server *s);
void il_vfu_requests_fini(struct irqlink_vfu_server *s);
/* DMA_READ (@write false) or DMA_WRITE of [@iova, @iova + @len) to the
 * client; the errors of irqlink_vfu_server_dma_read(). */
int il_vfu_request_dma(struct irqlink_vfu_server *s, uint64_t iova,
		       void *buf, size_t len, bool write);
/* A reply from the client: completes the matching pending request and
 * returns true, or false when it answers nothing we asked. */
bool il_vfu_request_reply(struct irqlink_vfu_server *s,
			  const struct il_vfu_msg *m);
/* The connection ended: fail every pending request with -ENOTCONN and drop
 * the commands kept for later. */
void il_vfu_requests_disconnect(struct irqlink_vfu_server *s);
/* The next kept command, or NULL; the caller frees it with
 * il_vfu_deferred_free() after handling it. */
struct il_vfu_deferred *il_vfu_deferred_pop(struct irqlink_vfu_server *s);
void il_vfu_deferred_free(struct il_vfu_deferred *d);

/* A request's answer: a payload in s->reply of @len bytes (0 = none) and
 * fds to send with it (borrowed: the device's own), or an error. */
struct il_vfu_answer {
	size_t len;
	int fds[IL_VFU_MAX_FDS];
	size_t nfds;
};

/* The device commands. Each checks @m in full and returns 0 with the
 * answer filled, or -errno for an error reply. */
int il_vfu_cmd_device(struct irqlink_vfu_server *s, const struct il_vfu_msg *m,
		      struct il_vfu_answer *a);

/* Drop what a client set up at the device: every interrupt index off, then
 * a reset if the device has one. */
void il_vfu_device_release(struct irqlink_vfu_server *s);

#endif
