/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server's own requests to the client: DMA_READ and
 * DMA_WRITE for ranges the client mapped without an fd.
 *
 * Theory of operation: a request takes a pending slot (its id, where a
 * DMA_READ's data goes), is sent under tx_lock, and waits for the loop to
 * complete the slot when the reply comes. The loop thread cannot wait for
 * itself, so a device op doing DMA on it reads the socket in place: a
 * reply completes whichever slot it names, and a client command arriving
 * meanwhile is copied aside and handled, in order, once the op is done
 * (client_read() takes kept commands before reading more). The message
 * the op is serving lives in the receiver's storage, so that storage is
 * swapped for a spare one before the first read: the op's request stays
 * intact while the receiver takes the next messages.
 *
 * A request outlives nothing: a timeout frees its slot (a late reply then
 * answers nothing and is refused as any unasked reply is), and a
 * disconnect fails every pending slot with -ENOTCONN.
 */
#include "vfio_user_server_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DMA_TIMEOUT_MS 5000u

int il_vfu_requests_init(struct irqlink_vfu_server *s)
{
	pthread_condattr_t ca;
	int r;

	if (!s->cfg.dma_timeout_ms)
		s->cfg.dma_timeout_ms = DEFAULT_DMA_TIMEOUT_MS;
	r = il_vfu_rx_init(&s->rx_spare, s->max_msg_size, s->cfg.max_msg_fds);
	if (r)
		return r;
	pthread_mutex_init(&s->tx_lock, NULL);
	pthread_mutex_init(&s->req_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->req_cond, &ca);
	pthread_condattr_destroy(&ca);
	s->dq_tail = &s->dq_head;
	return 0;
}

void il_vfu_deferred_free(struct il_vfu_deferred *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nfds; i++)
		close(d->fds[i]);
	free(d);
}

void il_vfu_requests_fini(struct irqlink_vfu_server *s)
{
	il_vfu_requests_disconnect(s);
	pthread_cond_destroy(&s->req_cond);
	pthread_mutex_destroy(&s->req_lock);
	pthread_mutex_destroy(&s->tx_lock);
	il_vfu_rx_fini(&s->rx_spare);
}

void il_vfu_requests_disconnect(struct irqlink_vfu_server *s)
{
	struct il_vfu_deferred *d, *next;

	/* Under both locks, with cfd: a requester checks either. */
	pthread_mutex_lock(&s->tx_lock);
	pthread_mutex_lock(&s->req_lock);
	if (s->cfd >= 0)
		close(s->cfd);
	s->cfd = -1;
	s->conn++;
	s->dma_chunk = 0;
	for (size_t i = 0; i < IL_VFU_MAX_PENDING; i++) {
		if (s->pend[i].used && !s->pend[i].done) {
			s->pend[i].done = true;
			s->pend[i].err = -ENOTCONN;
		}
	}
	pthread_cond_broadcast(&s->req_cond);
	pthread_mutex_unlock(&s->req_lock);
	pthread_mutex_unlock(&s->tx_lock);
	/* Kept commands are the loop thread's alone. */
	for (d = s->dq_head; d; d = next) {
		next = d->next;
		il_vfu_deferred_free(d);
	}
	s->dq_head = NULL;
	s->dq_tail = &s->dq_head;
	s->dq_len = 0;
	s->lost = false;
	il_vfu_rx_reset(&s->rx_spare);
}

struct il_vfu_deferred *il_vfu_deferred_pop(struct irqlink_vfu_server *s)
{
	struct il_vfu_deferred *d = s->dq_head;

	if (d) {
		s->dq_head = d->next;
		if (!s->dq_head)
			s->dq_tail = &s->dq_head;
		s->dq_len--;
	}
	return d;
}

/* Keep a client command for after the wait; its fds become the entry's. */
static int defer(struct irqlink_vfu_server *s, const struct il_vfu_msg *m,
		 bool bad_fds)
{
	struct il_vfu_deferred *d;

	d = malloc(sizeof(*d) + m->nfds * sizeof(int) + m->len);
	if (!d)
		return -ENOMEM;
	d->next = NULL;
	d->hdr = m->hdr;
	d->bad_fds = bad_fds;
	d->len = m->len;
	d->nfds = m->nfds;
	d->fds = (int *)(d + 1);
	d->payload = (uint8_t *)(d->fds + m->nfds);
	if (m->nfds)
		memcpy(d->fds, m->fds, m->nfds * sizeof(int));
	if (m->len)
		memcpy(d->payload, m->payload, m->len);
	*s->dq_tail = d;
	s->dq_tail = &d->next;
	s->dq_len++;
	pthread_mutex_lock(&s->req_lock);
	s->st.deferred++;
	pthread_mutex_unlock(&s->req_lock);
	return 0;
}

bool il_vfu_request_reply(struct irqlink_vfu_server *s,
			  const struct il_vfu_msg *m)
{
	struct il_vfu_pending *p = NULL;
	struct il_vfu_dma_rw a;

	if (m->hdr.cmd != IL_VFU_CMD_DMA_READ &&
	    m->hdr.cmd != IL_VFU_CMD_DMA_WRITE)
		return false;
	pthread_mutex_lock(&s->req_lock);
	for (size_t i = 0; i < IL_VFU_MAX_PENDING; i++) {
		struct il_vfu_pending *q = &s->pend[i];

		if (q->used && !q->done && q->id == m->hdr.id &&
		    q->cmd == m->hdr.cmd) {
			p = q;
			break;
		}
	}
	if (!p) {
		pthread_mutex_unlock(&s->req_lock);
		return false;
	}
	if (m->hdr.flags & IL_VFU_F_ERROR) {
		p->err = m->hdr.error ? -(int)m->hdr.error : -EIO;
	} else if (m->nfds || m->len < sizeof(a)) {
		p->err = -EPROTO;
	} else {
		memcpy(&a, m->payload, sizeof(a));
		if (a.addr != p->addr || a.count != p->len)
			p->err = -EPROTO;
		else if (p->cmd == IL_VFU_CMD_DMA_READ &&
			 m->len != sizeof(a) + p->len)
			p->err = -EPROTO;
		else if (p->cmd == IL_VFU_CMD_DMA_READ && p->len)
			memcpy(p->buf, m->payload + sizeof(a), p->len);
	}
	p->done = true;
	pthread_cond_broadcast(&s->req_cond);
	pthread_mutex_unlock(&s->req_lock);
	return true;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static bool slot_done(struct irqlink_vfu_server *s, struct il_vfu_pending *p)
{
	bool done;

	pthread_mutex_lock(&s->req_lock);
	done = p->done;
	pthread_mutex_unlock(&s->req_lock);
	return done;
}

/* On the loop thread: read the socket until @p is answered. */
static int wait_in_loop(struct irqlink_vfu_server *s, struct il_vfu_pending *p,
			int64_t deadline)
{
	if (s->must_swap) {
		if (il_vfu_rx_swap_storage(&s->rx, &s->rx_spare))
			return -EBUSY;
		s->must_swap = false;
	}
	while (!slot_done(s, p)) {
		struct pollfd pf = { .fd = s->cfd, .events = POLLIN };
		struct il_vfu_msg m;
		int64_t left;
		int r;

		if (s->dq_len >= IL_VFU_MAX_DEFERRED)
			return -EBUSY;
		r = il_vfu_rx_recv(&s->rx, s->cfd, MSG_DONTWAIT);
		if (r == 0)
			continue;
		if (r == -EAGAIN) {
			left = deadline - now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
			if (poll(&pf, 1, (int)(left / 1000000) + 1) < 0 &&
			    errno != EINTR)
				return -errno;
			continue;
		}
		if (r < 0) {
			if (s->rx.err)
				s->st.framing++;
			s->lost = true;
			return -ENOTCONN;
		}
		r = il_vfu_rx_take(&s->rx, &m);
		if (r == 0 && (m.hdr.flags & IL_VFU_F_TYPE_MASK) ==
			      IL_VFU_F_TYPE_REPLY &&
		    il_vfu_request_reply(s, &m))
			continue;
		if (defer(s, &m, r == -EINVAL)) {
			for (size_t i = 0; i < m.nfds; i++)
				close(m.fds[i]);
			s->lost = true;   /* a command lost: the stream is */
			return -ENOMEM;
		}
	}
	return 0;
}

/* Elsewhere: the loop completes @p; wait for it. */
static int wait_for_loop(struct irqlink_vfu_server *s, struct il_vfu_pending *p,
			 int64_t deadline)
{
	struct timespec ts = { .tv_sec = deadline / 1000000000,
			       .tv_nsec = deadline % 1000000000 };
	bool done;
	int r = 0;

	pthread_mutex_lock(&s->req_lock);
	while (!p->done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&s->req_cond, &s->req_lock, &ts);
	done = p->done;
	pthread_mutex_unlock(&s->req_lock);
	return done ? 0 : -ETIMEDOUT;
}

static struct il_vfu_pending *take_slot(struct irqlink_vfu_server *s,
					uint16_t cmd, uint64_t addr, void *buf,
					size_t len, uint64_t *conn)
{
	if (s->cfd < 0)
		return NULL;
	for (size_t i = 0; i < IL_VFU_MAX_PENDING; i++) {
		struct il_vfu_pending *p = &s->pend[i];

		if (!p->used) {
			*p = (struct il_vfu_pending){
				.used = true, .id = s->next_req_id++,
				.cmd = cmd, .addr = addr, .buf = buf,
				.len = len,
			};
			*conn = s->conn;
			return p;
		}
	}
	return NULL;
}

/* One request of at most the client's max_data_xfer_size. */
static int request_one(struct irqlink_vfu_server *s, uint64_t iova,
		       uint8_t *buf, size_t len, bool write)
{
	uint16_t cmd = write ? IL_VFU_CMD_DMA_WRITE : IL_VFU_CMD_DMA_READ;
	int64_t deadline = now_ns() +
			   (int64_t)s->cfg.dma_timeout_ms * 1000000;
	struct il_vfu_dma_rw a = { .addr = iova, .count = len };
	struct il_vfu_hdr h = { .cmd = cmd, .flags = IL_VFU_F_TYPE_COMMAND };
	size_t plen = sizeof(a) + (write ? len : 0);
	uint8_t small[sizeof(a) + 64], *payload = small;
	struct il_vfu_pending *p;
	bool on_loop;
	uint64_t conn;
	int r;

	if (plen > sizeof(small)) {
		payload = malloc(plen);
		if (!payload)
			return -ENOMEM;
	}
	memcpy(payload, &a, sizeof(a));
	if (write && len)
		memcpy(payload + sizeof(a), buf, len);

	pthread_mutex_lock(&s->req_lock);
	on_loop = pthread_equal(s->loop_thread, pthread_self());
	if (on_loop && !s->in_loop) {
		/* The loop's own thread, between two process() calls: the
		 * reply would arrive at a loop that cannot run. Say so now
		 * rather than after the timeout. */
		pthread_mutex_unlock(&s->req_lock);
		r = -EDEADLK;
		goto out;
	}
	p = take_slot(s, cmd, iova, buf, len, &conn);
	if (p) {
		h.id = p->id;
		s->st.dma_requests++;
	}
	r = s->cfd < 0 ? -ENOTCONN : -EBUSY;
	pthread_mutex_unlock(&s->req_lock);
	if (!p)
		goto out;

	pthread_mutex_lock(&s->tx_lock);
	r = s->cfd < 0 || conn != s->conn
		    ? -ENOTCONN
		    : il_vfu_send(s->cfd, &h, payload, plen, NULL, 0);
	pthread_mutex_unlock(&s->tx_lock);
	if (r)
		r = -ENOTCONN;
	else if (on_loop)
		r = wait_in_loop(s, p, deadline);
	else
		r = wait_for_loop(s, p, deadline);

	pthread_mutex_lock(&s->req_lock);
	if (!r)
		r = p->err;
	if (r)
		s->st.dma_failures++;
	p->used = false;
	pthread_mutex_unlock(&s->req_lock);
out:
	if (payload != small)
		free(payload);
	return r;
}

int il_vfu_request_dma(struct irqlink_vfu_server *s, uint64_t iova,
		       void *buf, size_t len, bool write)
{
	uint8_t *p = buf;
	uint64_t chunk;

	pthread_mutex_lock(&s->req_lock);
	chunk = s->dma_chunk;
	pthread_mutex_unlock(&s->req_lock);
	if (!chunk)
		return -ENOTCONN;       /* no client, or no VERSION yet */
	while (len) {
		size_t n = len < chunk ? len : (size_t)chunk;
		int r = request_one(s, iova, p, n, write);

		if (r)
			return r;
		p += n;
		iova += n;
		len -= n;
	}
	return 0;
}
