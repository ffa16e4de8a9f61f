/* SPDX-License-Identifier: MIT */
/*
 * vfio-user's wire-message layer: header checks, framing a stream fed in
 * arbitrary pieces, fd accounting, sendmsg with SCM_RIGHTS over a real
 * socketpair, and the VERSION payload both ways.
 */
#include "testutil.h"

#include "vfio_user_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MSG 4096

/* One message's bytes in @out: header (size set) then @len of @payload. */
static size_t put_msg(uint8_t *out, uint16_t id, uint16_t cmd, uint32_t flags,
		      const void *payload, size_t len)
{
	struct il_vfu_hdr h = {
		.id = id, .cmd = cmd, .flags = flags,
		.size = (uint32_t)(IL_VFU_HDR_SIZE + len),
	};

	memcpy(out, &h, sizeof(h));
	if (len)
		memcpy(out + sizeof(h), payload, len);
	return sizeof(h) + len;
}

static void test_hdr_check(void **state)
{
	struct il_vfu_hdr h = { .id = 7, .cmd = IL_VFU_CMD_VERSION, .size = 16 };

	(void)state;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), 0);
	h.size = 15;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), -EINVAL);
	h.size = 0;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), -EINVAL);
	h.size = MAX_MSG;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), 0);
	h.size = MAX_MSG + 1;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), -EMSGSIZE);
	h.size = UINT32_MAX;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), -EMSGSIZE);

	h.size = 16;
	h.flags = 2;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), -EINVAL);
	h.flags = IL_VFU_F_TYPE_MASK | IL_VFU_F_NO_REPLY;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), -EINVAL);
	h.flags = IL_VFU_F_TYPE_COMMAND | IL_VFU_F_NO_REPLY;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), 0);

	/* The spec: an error reply may carry error 0, and must be accepted. */
	h.flags = IL_VFU_F_TYPE_REPLY | IL_VFU_F_ERROR;
	h.error = 0;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), 0);
	h.error = EINVAL;
	assert_int_equal(il_vfu_hdr_check(&h, MAX_MSG), 0);
}

static void expect_msg(const struct il_vfu_msg *m, uint16_t id, uint16_t cmd,
		       uint32_t flags, const void *payload, size_t len)
{
	assert_int_equal(m->hdr.id, id);
	assert_int_equal(m->hdr.cmd, cmd);
	assert_int_equal(m->hdr.flags, flags);
	assert_int_equal(m->hdr.size, IL_VFU_HDR_SIZE + len);
	assert_int_equal(m->len, len);
	if (len)
		assert_memory_equal(m->payload, payload, len);
}

static void test_rx_byte_at_a_time(void **state)
{
	static const char payload[] = "one byte at a time";
	uint8_t wire[64];
	size_t n = put_msg(wire, 3, IL_VFU_CMD_REGION_WRITE, 0, payload,
			   sizeof(payload));
	struct il_vfu_rx rx;
	struct il_vfu_msg m;
	size_t i, used;

	(void)state;
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, 4), 0);
	assert_int_equal(il_vfu_rx_take(&rx, &m), -EAGAIN);
	for (i = 0; i < n; i++) {
		/* The header first, then exactly the declared rest. */
		assert_int_equal(il_vfu_rx_want(&rx),
				 i < IL_VFU_HDR_SIZE ? IL_VFU_HDR_SIZE - i : n - i);
		assert_int_equal(il_vfu_rx_feed(&rx, wire + i, 1, &used),
				 i + 1 == n ? 1 : 0);
		assert_int_equal(used, 1);
	}
	assert_int_equal(il_vfu_rx_want(&rx), 0);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, 1, &used), -EBUSY);
	assert_int_equal(used, 0);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 3, IL_VFU_CMD_REGION_WRITE, 0, payload, sizeof(payload));
	assert_int_equal(m.nfds, 0);
	assert_int_equal(il_vfu_rx_take(&rx, &m), -EAGAIN);
	assert_int_equal(il_vfu_rx_want(&rx), IL_VFU_HDR_SIZE);
	il_vfu_rx_fini(&rx);
}

static void test_rx_two_in_one_feed(void **state)
{
	static const uint8_t p1[] = { 1, 2, 3, 4, 5 };
	uint8_t wire[128];
	size_t n1 = put_msg(wire, 1, IL_VFU_CMD_DEVICE_GET_INFO, 0, p1, sizeof(p1));
	size_t n2 = put_msg(wire + n1, 1, IL_VFU_CMD_DEVICE_RESET,
			    IL_VFU_F_TYPE_REPLY, NULL, 0);
	struct il_vfu_rx rx;
	struct il_vfu_msg m;
	size_t used;

	(void)state;
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, 1), 0);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, n1 + n2, &used), 1);
	assert_int_equal(used, n1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 1, IL_VFU_CMD_DEVICE_GET_INFO, 0, p1, sizeof(p1));
	assert_int_equal(il_vfu_rx_feed(&rx, wire + n1, n2, &used), 1);
	assert_int_equal(used, n2);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 1, IL_VFU_CMD_DEVICE_RESET, IL_VFU_F_TYPE_REPLY, NULL, 0);
	il_vfu_rx_fini(&rx);
}

static void test_rx_oversize_then_reset(void **state)
{
	uint8_t wire[64];
	struct il_vfu_hdr h = { .id = 9, .cmd = IL_VFU_CMD_REGION_WRITE,
				.size = MAX_MSG + 1 };
	struct il_vfu_rx rx;
	struct il_vfu_msg m;
	size_t used, n;

	(void)state;
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, 1), 0);
	memcpy(wire, &h, sizeof(h));
	memset(wire + sizeof(h), 0xab, 8);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, sizeof(h) + 8, &used),
			 -EMSGSIZE);
	assert_int_equal(used, IL_VFU_HDR_SIZE);
	/* Framing is lost: the error sticks until reset. */
	assert_int_equal(il_vfu_rx_feed(&rx, wire + used, 8, &used), -EMSGSIZE);
	assert_int_equal(used, 0);
	assert_int_equal(il_vfu_rx_want(&rx), 0);
	assert_int_equal(il_vfu_rx_take(&rx, &m), -EAGAIN);

	il_vfu_rx_reset(&rx);
	n = put_msg(wire, 10, IL_VFU_CMD_VERSION, 0, "ok", 2);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, n, &used), 1);
	assert_int_equal(used, n);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 10, IL_VFU_CMD_VERSION, 0, "ok", 2);

	h.size = 8;     /* below the header's own size */
	memcpy(wire, &h, sizeof(h));
	assert_int_equal(il_vfu_rx_feed(&rx, wire, sizeof(h), &used), -EINVAL);
	il_vfu_rx_fini(&rx);
	assert_int_equal(il_vfu_rx_init(&rx, IL_VFU_HDR_SIZE - 1, 1), -EINVAL);
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, IL_VFU_MAX_FDS + 1), -EINVAL);
}

static void test_rx_fds(void **state)
{
	int base = tu_open_fds();
	int e[3] = { tu_eventfd(), tu_eventfd(), tu_eventfd() };
	uint8_t wire[64];
	size_t n = put_msg(wire, 5, IL_VFU_CMD_DEVICE_SET_IRQS, 0, "x", 1);
	struct il_vfu_rx rx;
	struct il_vfu_msg m;
	size_t used;
	int x;

	(void)state;
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, 2), 0);

	/* Within max_msg_fds: they travel with the message to the caller. */
	assert_int_equal(il_vfu_rx_add_fds(&rx, e, 1), 0);
	assert_int_equal(il_vfu_rx_add_fds(&rx, e + 1, 1), 0);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, n, &used), 1);
	x = tu_eventfd();       /* not this message's: refused and closed */
	assert_int_equal(il_vfu_rx_add_fds(&rx, &x, 1), -EBUSY);
	assert_int_equal(tu_open_fds(), base + 3);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	assert_int_equal(m.nfds, 2);
	assert_int_equal(m.fds[0], e[0]);
	assert_int_equal(m.fds[1], e[1]);
	close(m.fds[0]);
	close(m.fds[1]);
	assert_int_equal(tu_open_fds(), base + 1);

	/* One beyond the limit: every fd of the message is closed, and the
	 * message is still framed but handed out as malformed. */
	e[0] = tu_eventfd();
	e[1] = tu_eventfd();
	assert_int_equal(il_vfu_rx_add_fds(&rx, e, 2), 0);
	assert_int_equal(il_vfu_rx_add_fds(&rx, e + 2, 1), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	e[0] = tu_eventfd();
	assert_int_equal(il_vfu_rx_add_fds(&rx, e, 1), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, n, &used), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), -EINVAL);
	expect_msg(&m, 5, IL_VFU_CMD_DEVICE_SET_IRQS, 0, "x", 1);
	assert_int_equal(m.nfds, 0);

	/* Three at once into a fresh message: all three closed. */
	e[0] = tu_eventfd();
	e[1] = tu_eventfd();
	e[2] = tu_eventfd();
	assert_int_equal(il_vfu_rx_add_fds(&rx, e, 3), -EINVAL);
	assert_int_equal(tu_open_fds(), base);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, n, &used), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), -EINVAL);

	/* The next message starts clean; reset and fini close what is held. */
	e[0] = tu_eventfd();
	assert_int_equal(il_vfu_rx_add_fds(&rx, e, 1), 0);
	assert_int_equal(il_vfu_rx_feed(&rx, wire, 3, &used), 0);
	il_vfu_rx_reset(&rx);
	assert_int_equal(tu_open_fds(), base);
	e[0] = tu_eventfd();
	assert_int_equal(il_vfu_rx_add_fds(&rx, e, 1), 0);
	il_vfu_rx_fini(&rx);
	assert_int_equal(tu_open_fds(), base);
}

#define BIG (4u << 20)

struct sender {
	int sock;
	const uint8_t *big;
	const int *fds;
	int r1, r2;
};

/* The sender's socket is non-blocking with a small buffer, so a BIG
 * payload goes out in many partial writes with EAGAIN between them. */
static void *send_thread(void *arg)
{
	struct sender *s = arg;
	struct il_vfu_hdr h = { .id = 42, .cmd = IL_VFU_CMD_DEVICE_SET_IRQS };
	struct il_vfu_hdr h2 = { .id = 43, .cmd = IL_VFU_CMD_DEVICE_RESET,
				 .flags = IL_VFU_F_TYPE_REPLY | IL_VFU_F_ERROR,
				 .error = ENODEV };

	s->r1 = il_vfu_send(s->sock, &h, s->big, BIG, s->fds, 3);
	s->r2 = il_vfu_send(s->sock, &h2, NULL, 0, NULL, 0);
	return NULL;
}

/* Receive one message the way a server would: never read past the
 * message being assembled, add the fds before feeding their bytes. */
static int recv_msg(int sock, struct il_vfu_rx *rx, uint8_t *chunk,
		    size_t chunk_size, size_t *nrecv_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(IL_VFU_MAX_FDS * sizeof(int))];
	} ctl;
	int r = 0;

	while (r == 0) {
		size_t want = il_vfu_rx_want(rx), used;
		struct iovec iov = { .iov_base = chunk,
				     .iov_len = want < chunk_size ? want : chunk_size };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *c;
		ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

		assert_true(n > 0);
		assert_false(m.msg_flags & MSG_CTRUNC);
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			assert_int_equal(c->cmsg_type, SCM_RIGHTS);
			assert_int_equal(il_vfu_rx_add_fds(rx, (int *)CMSG_DATA(c), k), 0);
			*nrecv_fds += k;
		}
		r = il_vfu_rx_feed(rx, chunk, (size_t)n, &used);
		assert_int_equal(used, (size_t)n);
	}
	return r;
}

static void test_send_recv_socketpair(void **state)
{
	int base = tu_open_fds();
	int sv[2], e[3] = { tu_eventfd(), tu_eventfd(), tu_eventfd() };
	int sndbuf = 4096;
	uint8_t *big = malloc(BIG), *chunk = malloc(64 << 10);
	struct sender s = { .big = big, .fds = e };
	struct il_vfu_rx rx;
	struct il_vfu_msg m;
	size_t i, nrecv_fds = 0;
	pthread_t t;

	(void)state;
	assert_non_null(big);
	assert_non_null(chunk);
	for (i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 7 + i / 4096);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(il_vfu_rx_init(&rx, IL_VFU_HDR_SIZE + BIG, 3), 0);
	s.sock = sv[0];
	assert_int_equal(pthread_create(&t, NULL, send_thread, &s), 0);

	assert_int_equal(recv_msg(sv[1], &rx, chunk, 64 << 10, &nrecv_fds), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 42, IL_VFU_CMD_DEVICE_SET_IRQS, 0, big, BIG);
	assert_int_equal(m.nfds, 3);
	/* Each received fd is the sender's eventfd, in order. */
	for (i = 0; i < 3; i++) {
		tu_signal(m.fds[i]);
		assert_int_equal(tu_count(e[i]), 1);
		close(m.fds[i]);
	}

	assert_int_equal(recv_msg(sv[1], &rx, chunk, 64 << 10, &nrecv_fds), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 43, IL_VFU_CMD_DEVICE_RESET,
		   IL_VFU_F_TYPE_REPLY | IL_VFU_F_ERROR, NULL, 0);
	assert_int_equal(m.hdr.error, ENODEV);
	assert_int_equal(m.nfds, 0);
	/* The fds went once, with the first chunk only. */
	assert_int_equal(nrecv_fds, 3);

	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.r1, 0);
	assert_int_equal(s.r2, 0);
	assert_int_equal(il_vfu_send(sv[0], &m.hdr, NULL, 0, e,
				     IL_VFU_MAX_FDS + 1), -EINVAL);
	close(sv[1]);
	/* A gone peer is -EPIPE, with no SIGPIPE to kill the test. */
	assert_int_equal(il_vfu_send(sv[0], &m.hdr, "x", 1, NULL, 0), -EPIPE);
	close(sv[0]);
	il_vfu_rx_fini(&rx);
	for (i = 0; i < 3; i++)
		close(e[i]);
	free(big);
	free(chunk);
	assert_int_equal(tu_open_fds(), base);
}

/* One message, whole, as il_vfu_send() frames it: fds on its first
 * bytes. */
static void send_msg(int sock, uint16_t id, uint16_t cmd, const char *payload,
		     const int *fds, size_t nfds)
{
	struct il_vfu_hdr h = { .id = id, .cmd = cmd };

	assert_int_equal(il_vfu_send(sock, &h, payload,
				     payload ? strlen(payload) : 0, fds, nfds),
			 0);
}

/* One recvmsg() takes A, and B with the fds sent with it (Linux ends the
 * read there); both come out of the receiver with the right fds, B's
 * without another read; C, behind the fds, needs one. */
static void test_recv_reads_ahead(void **state)
{
	int base = tu_open_fds();
	int sv[2], e[2] = { tu_eventfd(), tu_eventfd() };
	struct il_vfu_rx rx;
	struct il_vfu_msg m;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, 2), 0);
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), -EAGAIN);
	assert_false(il_vfu_rx_more(&rx));

	send_msg(sv[0], 1, IL_VFU_CMD_REGION_READ, "0123456789abcdef", NULL, 0);
	send_msg(sv[0], 2, IL_VFU_CMD_DEVICE_SET_IRQS, "xyz", e, 2);
	send_msg(sv[0], 3, IL_VFU_CMD_DEVICE_RESET, NULL, NULL, 0);
	close(e[0]);
	close(e[1]);

	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 1, IL_VFU_CMD_REGION_READ, 0, "0123456789abcdef", 16);
	assert_int_equal(m.nfds, 0);
	/* B was read with A: held, though the socket no longer shows it. */
	assert_true(il_vfu_rx_held(&rx));
	assert_true(il_vfu_rx_more(&rx));

	/* Shut the peer's writing: B must still come from what was held. */
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	assert_int_equal(il_vfu_rx_recv(&rx, -1, MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 2, IL_VFU_CMD_DEVICE_SET_IRQS, 0, "xyz", 3);
	assert_int_equal(m.nfds, 2);
	for (size_t i = 0; i < 2; i++) {
		tu_signal(m.fds[i]);
		close(m.fds[i]);
	}
	assert_false(il_vfu_rx_held(&rx));
	/* That read stopped at fds: the socket may hold more, and does. */
	assert_true(il_vfu_rx_more(&rx));
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 3, IL_VFU_CMD_DEVICE_RESET, 0, NULL, 0);
	assert_int_equal(m.nfds, 0);
	/* A short read without fds: the socket was empty. */
	assert_false(il_vfu_rx_more(&rx));
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT),
			 -ECONNRESET);

	close(sv[0]);
	close(sv[1]);
	il_vfu_rx_fini(&rx);
	assert_int_equal(tu_open_fds(), base);
}

/* A whole message, then one with an eventfd, in one read: the eventfd
 * waits with the bytes read ahead (one more fd open than @base). */
static void read_ahead_with_fd(struct il_vfu_rx *rx, int sv[2], int base)
{
	int e = tu_eventfd();

	send_msg(sv[0], 1, IL_VFU_CMD_DEVICE_RESET, NULL, NULL, 0);
	send_msg(sv[0], 2, IL_VFU_CMD_REGION_WRITE, "x", &e, 1);
	close(e);
	assert_int_equal(il_vfu_rx_recv(rx, sv[1], MSG_DONTWAIT), 1);
	assert_true(il_vfu_rx_held(rx));
	assert_int_equal(tu_open_fds(), base + 1);
}

/* A message whose start was read ahead is finished by later reads; fds
 * read ahead with a message beyond max_fds make it malformed; reset and
 * fini close fds still waiting with bytes read ahead. */
static void test_recv_ahead_partial_and_fds(void **state)
{
	int base = tu_open_fds();
	int sv[2], e[3];
	uint8_t w[256];
	size_t na = put_msg(w, 1, IL_VFU_CMD_DEVICE_RESET, 0, NULL, 0);
	size_t nb = put_msg(w + na, 2, IL_VFU_CMD_REGION_WRITE, 0,
			    "0123456789abcdefghij", 20);
	struct il_vfu_rx rx;
	struct il_vfu_msg m;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(il_vfu_rx_init(&rx, MAX_MSG, 2), 0);

	/* A and the first 10 bytes of B: B's rest comes later. */
	assert_int_equal(write(sv[0], w, na + 10), (ssize_t)(na + 10));
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 1, IL_VFU_CMD_DEVICE_RESET, 0, NULL, 0);
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 0);
	assert_false(il_vfu_rx_held(&rx));
	assert_false(il_vfu_rx_more(&rx));
	assert_int_equal(il_vfu_rx_want(&rx), IL_VFU_HDR_SIZE - 10);
	assert_int_equal(write(sv[0], w + na + 10, nb - 10),
			 (ssize_t)(nb - 10));
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 2, IL_VFU_CMD_REGION_WRITE, 0,
		   "0123456789abcdefghij", 20);

	/* A, then B with three fds where two are allowed. */
	for (size_t i = 0; i < 3; i++)
		e[i] = tu_eventfd();
	send_msg(sv[0], 1, IL_VFU_CMD_DEVICE_RESET, NULL, NULL, 0);
	send_msg(sv[0], 2, IL_VFU_CMD_REGION_WRITE, "abc", e, 3);
	for (size_t i = 0; i < 3; i++)
		close(e[i]);
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(tu_open_fds(), base + 2 + 3);
	assert_int_equal(il_vfu_rx_recv(&rx, sv[1], MSG_DONTWAIT), 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), -EINVAL);
	expect_msg(&m, 2, IL_VFU_CMD_REGION_WRITE, 0, "abc", 3);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(tu_open_fds(), base + 2);

	/* Fds waiting with bytes read ahead: reset closes them, and so does
	 * fini. */
	read_ahead_with_fd(&rx, sv, base + 2);
	il_vfu_rx_reset(&rx);
	assert_false(il_vfu_rx_held(&rx));
	assert_false(il_vfu_rx_more(&rx));
	assert_int_equal(tu_open_fds(), base + 2);
	read_ahead_with_fd(&rx, sv, base + 2);
	il_vfu_rx_fini(&rx);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(tu_open_fds(), base);
}

struct big_sender {
	int sock;
	const uint8_t *big;
	size_t len;
	int r1, r2;
};

static void *big_send_thread(void *arg)
{
	struct big_sender *s = arg;
	struct il_vfu_hdr h = { .id = 8, .cmd = IL_VFU_CMD_REGION_WRITE };
	struct il_vfu_hdr h2 = { .id = 9, .cmd = IL_VFU_CMD_DEVICE_RESET };

	s->r1 = il_vfu_send(s->sock, &h, s->big, s->len, NULL, 0);
	s->r2 = il_vfu_send(s->sock, &h2, NULL, 0, NULL, 0);
	return NULL;
}

/* A message far beyond what is read ahead, then a small one behind it:
 * both whole and in order through blocking reads. */
static void test_recv_big_then_small(void **state)
{
	const size_t len = 3 * IL_VFU_RX_AHEAD + 123;
	uint8_t *big = malloc(len);
	struct big_sender s = { .big = big, .len = len };
	struct il_vfu_rx rx;
	struct il_vfu_msg m;
	int sv[2], r, reads = 0;
	pthread_t t;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 13 + i / 251);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(il_vfu_rx_init(&rx, IL_VFU_HDR_SIZE + len, 1), 0);
	s.sock = sv[0];
	assert_int_equal(pthread_create(&t, NULL, big_send_thread, &s), 0);
	while ((r = il_vfu_rx_recv(&rx, sv[1], 0)) == 0)
		reads++;
	assert_int_equal(r, 1);
	assert_true(reads > 0);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 8, IL_VFU_CMD_REGION_WRITE, 0, big, len);
	while ((r = il_vfu_rx_recv(&rx, sv[1], 0)) == 0)
		;
	assert_int_equal(r, 1);
	assert_int_equal(il_vfu_rx_take(&rx, &m), 0);
	expect_msg(&m, 9, IL_VFU_CMD_DEVICE_RESET, 0, NULL, 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.r1, 0);
	assert_int_equal(s.r2, 0);
	close(sv[0]);
	close(sv[1]);
	il_vfu_rx_fini(&rx);
	free(big);
}

/* A VERSION payload: 1.0, then @json and, if @nul, its terminating NUL. */
static size_t version_payload(uint8_t *out, const char *json, int nul)
{
	uint16_t v[2] = { 1, 0 };
	size_t n = strlen(json) + (nul ? 1 : 0);

	memcpy(out, v, sizeof(v));
	memcpy(out + sizeof(v), json, n);
	return sizeof(v) + n;
}

static int parse_json(const char *json, struct il_vfu_caps *caps)
{
	uint8_t buf[512];
	size_t n = version_payload(buf, json, 1);
	uint16_t major = 0, minor = 0;
	int r = il_vfu_version_parse(buf, n, &major, &minor, caps);

	if (!r) {
		assert_int_equal(major, 1);
		assert_int_equal(minor, 0);
	}
	return r;
}

static void expect_default_caps(const struct il_vfu_caps *c)
{
	assert_int_equal(c->max_msg_fds, 1);
	assert_int_equal(c->max_data_xfer_size, 1048576);
	assert_int_equal(c->max_dma_maps, 65535);
	assert_int_equal(c->pgsizes, 4096);
	assert_false(c->write_multiple);
	assert_false(c->has_max_msg_fds || c->has_max_data_xfer_size ||
		     c->has_max_dma_maps || c->has_pgsizes ||
		     c->has_write_multiple);
}

static void test_version_qemu_proposal(void **state)
{
	struct il_vfu_caps c;

	(void)state;
	assert_int_equal(parse_json("{\"capabilities\":{\"max_msg_fds\":16,"
				    "\"max_data_xfer_size\":1048576,"
				    "\"max_dma_maps\":65535,\"pgsizes\":4096}}",
				    &c), 0);
	assert_int_equal(c.max_msg_fds, 16);
	assert_int_equal(c.max_data_xfer_size, 1048576);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_int_equal(c.pgsizes, 4096);
	assert_true(c.has_max_msg_fds && c.has_max_data_xfer_size &&
		    c.has_max_dma_maps && c.has_pgsizes);
	assert_false(c.has_write_multiple);
	assert_false(c.write_multiple);
}

static void test_version_unknown_ignored(void **state)
{
	struct il_vfu_caps c;

	(void)state;
	assert_int_equal(parse_json(
		" {\"vendor\":\"x\",\"capabilities\":{\"max_msg_fds\":8,"
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1048576},"
		"\"twin_socket\":{\"supported\":true,\"fd_index\":0},"
		"\"frobnicate\":[1,\"two\",null],\"write_multiple\":true}} \n",
		&c), 0);
	assert_int_equal(c.max_msg_fds, 8);
	assert_true(c.has_max_msg_fds);
	assert_true(c.write_multiple);
	assert_true(c.has_write_multiple);
	assert_false(c.has_pgsizes || c.has_max_dma_maps ||
		     c.has_max_data_xfer_size);
	assert_int_equal(c.pgsizes, 4096);
}

static void test_version_defaults(void **state)
{
	struct il_vfu_caps c;
	uint16_t major, minor;
	uint16_t bare[2] = { 1, 2 };

	(void)state;
	assert_int_equal(parse_json("{\"capabilities\":{\"pgsizes\":8192}}", &c), 0);
	assert_int_equal(c.max_msg_fds, 1);
	assert_false(c.has_max_msg_fds);
	assert_int_equal(c.pgsizes, 8192);

	assert_int_equal(parse_json("{\"capabilities\":{}}", &c), 0);
	expect_default_caps(&c);
	assert_int_equal(parse_json("{}", &c), 0);
	expect_default_caps(&c);
	/* The version data is optional in the spec. */
	assert_int_equal(il_vfu_version_parse(bare, sizeof(bare), &major, &minor,
					      &c), 0);
	assert_int_equal(major, 1);
	assert_int_equal(minor, 2);
	expect_default_caps(&c);
}

static void test_version_bad(void **state)
{
	static const char *const bad[] = {
		/* wrong types */
		"{\"capabilities\":{\"max_msg_fds\":\"16\"}}",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_msg_fds\":1.5}}",
		"{\"capabilities\":{\"max_msg_fds\":4294967296}}",
		"{\"capabilities\":{\"max_dma_maps\":null}}",
		"{\"capabilities\":{\"pgsizes\":true}}",
		"{\"capabilities\":{\"max_data_xfer_size\":{}}}",
		"{\"capabilities\":{\"write_multiple\":1}}",
		"{\"capabilities\":[]}",
		"{\"capabilities\":7}",
		/* not one object */
		"[1,2]",
		"\"capabilities\"",
		"5",
		"null",
		"",
		"{\"capabilities\":{}",
		"{} {}",
		"{}x",
	};
	struct il_vfu_caps c;
	uint8_t buf[128];
	uint16_t major, minor;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_json(bad[i], &c), -EINVAL);

	n = version_payload(buf, "{}", 0);
	assert_int_equal(il_vfu_version_parse(buf, n, &major, &minor, &c), -EINVAL);
	n = version_payload(buf, "{}", 1);
	buf[n - 2] = '\0';      /* a NUL inside the text */
	assert_int_equal(il_vfu_version_parse(buf, n, &major, &minor, &c), -EINVAL);
	assert_int_equal(il_vfu_version_parse(buf, 3, &major, &minor, &c), -EINVAL);
}

static void test_version_round_trip(void **state)
{
	struct il_vfu_caps in = {
		.max_msg_fds = 16, .max_data_xfer_size = 64u << 20,
		.max_dma_maps = 1024, .pgsizes = 0xfffffffffffff000ull,
		.write_multiple = true,
		.has_max_msg_fds = true, .has_max_data_xfer_size = true,
		.has_max_dma_maps = true, .has_pgsizes = true,
		.has_write_multiple = true,
	}, out, none = { 0 };
	uint8_t buf[512];
	uint16_t major, minor;
	int n;

	(void)state;
	n = il_vfu_version_build(buf, sizeof(buf), 1, 3, &in);
	assert_true(n > 4);
	assert_int_equal(buf[n - 1], '\0');
	assert_int_equal(strlen((char *)buf + 4) + 5, n);
	assert_int_equal(il_vfu_version_parse(buf, n, &major, &minor, &out), 0);
	assert_int_equal(major, 1);
	assert_int_equal(minor, 3);
	assert_int_equal(out.max_msg_fds, in.max_msg_fds);
	assert_int_equal(out.max_data_xfer_size, in.max_data_xfer_size);
	assert_int_equal(out.max_dma_maps, in.max_dma_maps);
	assert_int_equal(out.pgsizes, in.pgsizes);
	assert_true(out.write_multiple);
	assert_true(out.has_max_msg_fds && out.has_max_data_xfer_size &&
		    out.has_max_dma_maps && out.has_pgsizes &&
		    out.has_write_multiple);

	/* Only what has_* selects is sent. */
	in.has_pgsizes = false;
	in.has_write_multiple = false;
	n = il_vfu_version_build(buf, sizeof(buf), 1, 0, &in);
	assert_int_equal(il_vfu_version_parse(buf, n, &major, &minor, &out), 0);
	assert_false(out.has_pgsizes || out.has_write_multiple);
	assert_int_equal(out.pgsizes, 4096);
	assert_false(out.write_multiple);
	assert_int_equal(out.max_msg_fds, 16);

	n = il_vfu_version_build(buf, sizeof(buf), 1, 0, &none);
	assert_int_equal(il_vfu_version_parse(buf, n, &major, &minor, &out), 0);
	expect_default_caps(&out);
}

static void test_version_build_nospc(void **state)
{
	struct il_vfu_caps c = { .max_msg_fds = 8, .has_max_msg_fds = true };
	uint8_t buf[256];
	int n = il_vfu_version_build(buf, sizeof(buf), 1, 0, &c);

	(void)state;
	assert_true(n > 4);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(il_vfu_version_build(buf, n - 1, 1, 0, &c), -ENOSPC);
	assert_int_equal(il_vfu_version_build(buf, 0, 1, 0, &c), -ENOSPC);
	assert_int_equal(buf[0], 0x5a);
	assert_int_equal(il_vfu_version_build(buf, n, 1, 0, &c), n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_check),
		cmocka_unit_test(test_rx_byte_at_a_time),
		cmocka_unit_test(test_rx_two_in_one_feed),
		cmocka_unit_test(test_rx_oversize_then_reset),
		cmocka_unit_test(test_rx_fds),
		cmocka_unit_test(test_send_recv_socketpair),
		cmocka_unit_test(test_recv_reads_ahead),
		cmocka_unit_test(test_recv_ahead_partial_and_fds),
		cmocka_unit_test(test_recv_big_then_small),
		cmocka_unit_test(test_version_qemu_proposal),
		cmocka_unit_test(test_version_unknown_ignored),
		cmocka_unit_test(test_version_defaults),
		cmocka_unit_test(test_version_bad),
		cmocka_unit_test(test_version_round_trip),
		cmocka_unit_test(test_version_build_nospc),
	};

	return tu_run_group(tests);
}
