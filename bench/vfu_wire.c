/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user: the raw stream I/O, shared by both ends of the
 * raw ping-pongs and by the bench's own client.
 *
 * The raw ping-pongs are floors, not strawmen: the client writes the
 * request in one call and reads the reply, the server reads what is there
 * in one call and writes the reply in one (blocking, or non-blocking with
 * poll() for the raw-poll path). It reads greedily, more than one
 * message if more were there, because the ping-pong is strict: the peer
 * never sends before it has our reply. irqlink cannot do that, since it must
 * keep SCM_RIGHTS fds with the message they came with, so it reads a
 * header first; that is part of what the ratio measures.
 */
#include "vfu_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

/* All of @len bytes; a non-blocking style polls when the socket is full. */
int vfu_send_all(int fd, const void *buf, size_t len, enum wait_style ws)
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
ssize_t vfu_recv_msg(int fd, uint8_t *buf, size_t cap, enum wait_style ws)
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
