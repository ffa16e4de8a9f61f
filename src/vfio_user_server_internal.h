/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server's private state, shared by its connection handling
 * (vfio_user_server.c) and its device commands (vfio_user_server_cmds.c).
 */
#ifndef IRQLINK_SRC_VFIO_USER_SERVER_INTERNAL_H
#define IRQLINK_SRC_VFIO_USER_SERVER_INTERNAL_H

#include <irqlink/vfio_user_server.h>

#include <sys/un.h>

#include "vfio_user_dma.h"
#include "vfio_user_msg.h"

struct irqlink_vfu_server {
	struct irqlink_vfu_server_config cfg;   /* path points at @path */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;                /* listening socket */
	int epfd;               /* lfd and, while connected, cfd */
	int cfd;                /* the client, -1 when none */
	bool versioned;         /* VERSION done on this connection */
	struct il_vfu_caps peer; /* what the client negotiated */
	struct il_vfu_rx rx;
	struct il_vfu_dma dma;  /* the client's DMA_MAP ranges */
	size_t max_msg_size;
	uint8_t *reply;         /* a reply payload: max_msg_size bytes */
	struct irqlink_vfu_server_stats st;
};

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
