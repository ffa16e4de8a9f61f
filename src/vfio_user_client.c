/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client (<irqlink/vfio_user_client.h>): the connection,
 * request/reply with server requests answered in between, and the device
 * ops over messages.
 *
 * Theory of operation: one request is in flight at a time under the
 * client's mutex, except that SET_IRQS sends all its chunks before it
 * waits; the server answers in order, so replies are awaited in the order
 * of their ids and any other reply is stale (one that timed out earlier).
 * The socket is non-blocking; waiting is poll() with the time left, then
 * one read that takes the whole reply (and whatever came behind it). The
 * poll comes first unless the last read may have left bytes behind: just
 * after a request the reply is rarely there yet, and a read that finds
 * nothing costs as much as the poll that must follow it. (A blocking read
 * with SO_RCVTIMEO would save the poll, but arming its timer on every
 * wait measured slower than poll()'s.)
 */
#include <irqlink/vfio_user_client.h>

#include "eventfd.h"
#include "vfio_user_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/vfio.h>

#define DEFAULT_MAX_MSG_FDS 16u
#define DEFAULT_TIMEOUT_MS  5000u
/* Our receive limit: a REGION_READ reply of the largest transfer we ask. */
#define XFER_MAX            (1u << 20)
#define MAX_MSG_SIZE        (XFER_MAX + 4096u)
/* Interrupt indexes whose triggers get proxy producers: INTx, MSI, MSI-X
 * (ERR and REQ go to the VMM, never to a consumer). */
#define PROXY_INDEXES       3u

struct proxy {
	struct irqlink_bypass_producer bp;
	bool registered;
};

struct proxies {
	struct proxy *p;        /* count entries, allocated on first use */
	uint32_t count;         /* the index's GET_IRQ_INFO count */
};

/* A DMA_MAP range of ours, so that the server's DMA_READ / DMA_WRITE of
 * it can be answered: through @fn for a range without an fd, through our
 * dup of the fd otherwise. */
struct dma_range {
	uint64_t iova, size;
	uint32_t flags;         /* VFIO_DMA_MAP_FLAG_READ / _WRITE */
	int fd;                 /* ours, or -1 */
	uint64_t offset;
	irqlink_vfu_dma_fn fn;
	void *opaque;
};

/* Where a region may be mapped, as the server's last REGION_INFO said:
 * its fd (ours) and the sparse areas. */
struct region_map {
	int fd;                 /* -1: not mappable */
	uint64_t fd_offset;
	uint32_t nareas;
	struct vfio_region_sparse_mmap_area areas[IRQLINK_PCI_MMAP_AREAS];
};

/* A REGION_INFO reply with the sparse mmap capability of the most areas
 * we take. */
#define REGION_INFO_MAX (IL_VFU_REGION_INFO_SIZE + \
	sizeof(struct vfio_region_info_cap_sparse_mmap) + \
	IRQLINK_PCI_MMAP_AREAS * sizeof(struct vfio_region_sparse_mmap_area))

struct irqlink_vfu_client {
	struct irqlink_vfu_client_config cfg;
	char *path;             /* ours: reconnect dials it again */
	int sock;
	pthread_mutex_t lock;
	uint16_t next_id;
	bool gone;              /* the server closed the connection */
	struct il_vfu_caps server;      /* what the server accepts */
	struct il_vfu_rx rx;
	uint8_t *buf;           /* a request payload: MAX_MSG_SIZE bytes */
	uint8_t *sbuf;          /* a reply to the server: MAX_MSG_SIZE bytes */
	uint32_t num_regions, num_irqs;
	struct proxies proxy[PROXY_INDEXES];
	bool enabled[PROXY_INDEXES];    /* by our SET_IRQS, as vfio counts */
	struct irqlink_pci_ioeventfd *doorbells;
	size_t ndoorbells;
	struct dma_range *dma;
	size_t ndma;
	struct region_map map[VFIO_PCI_NUM_REGIONS];
	struct irqlink_vfu_client_stats st;
};

/* ---- request and reply -------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* When a request sent now times out. */
static int64_t deadline(const struct irqlink_vfu_client *c)
{
	return now_ns() + (int64_t)c->cfg.timeout_ms * 1000000;
}

/* Wait for @sock to be readable, at most @left_ns, rounded up to poll()'s
 * milliseconds so that a wait never ends before its time. */
static int wait_readable(int sock, int64_t left_ns)
{
	struct pollfd pf = { .fd = sock, .events = POLLIN };
	int64_t ms = left_ns > 0 ? (left_ns + 999999) / 1000000 : 0;

	if (poll(&pf, 1, ms > INT_MAX ? INT_MAX : (int)ms) < 0 &&
	    errno != EINTR)
		return -errno;
	return 0;
}

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* The one range holding all of [addr, addr + count), or NULL. */
static const struct dma_range *dma_find(const struct irqlink_vfu_client *c,
					uint64_t addr, uint64_t count)
{
	for (size_t i = 0; i < c->ndma; i++) {
		const struct dma_range *d = &c->dma[i];

		if (addr >= d->iova && addr - d->iova < d->size &&
		    count <= d->size - (addr - d->iova))
			return d;
	}
	return NULL;
}

/* Do the server's DMA_READ (into c->sbuf after the echo) or DMA_WRITE.
 * Returns the reply's payload length, or -errno for an error reply. */
static long serve_dma(struct irqlink_vfu_client *c, const struct il_vfu_msg *m)
{
	bool write = m->hdr.cmd == IL_VFU_CMD_DMA_WRITE;
	const struct dma_range *d;
	struct il_vfu_dma_rw a;
	uint8_t *data;
	ssize_t n;
	int r;

	if (m->nfds || m->len < sizeof(a))
		return -EINVAL;
	memcpy(&a, m->payload, sizeof(a));
	if (a.count > XFER_MAX || m->len != sizeof(a) + (write ? a.count : 0))
		return -EINVAL;
	d = dma_find(c, a.addr, a.count);
	/* The device's rights are what DMA_MAP granted it, as an IOMMU's. */
	if (!d || !(d->flags & (write ? VFIO_DMA_MAP_FLAG_WRITE
				      : VFIO_DMA_MAP_FLAG_READ)))
		return -EFAULT;
	data = write ? (uint8_t *)m->payload + sizeof(a) : c->sbuf + sizeof(a);
	if (d->fn) {
		r = d->fn(d->opaque, a.addr, data, (size_t)a.count, write);
		if (r)
			return r < 0 ? r : -EIO;
	} else {
		off_t at = (off_t)(d->offset + (a.addr - d->iova));

		n = write ? pwrite(d->fd, data, (size_t)a.count, at)
			  : pread(d->fd, data, (size_t)a.count, at);
		if (n != (ssize_t)a.count)
			return n < 0 ? -errno : -EFAULT;
	}
	memcpy(c->sbuf, &a, sizeof(a));
	return (long)(sizeof(a) + (write ? 0 : a.count));
}

/* A request from the server: DMA_READ / DMA_WRITE of our ranges are
 * served; any other gets ENOSYS, as QEMU's client answers them. @refuse
 * (a -errno, or 0) answers it with that error unserved: one that came with
 * more fds than we take, which the receiver has closed -- still answered,
 * or the server would wait for its timeout. The caller holds the lock and
 * closes the message's fds. */
static int answer_server(struct irqlink_vfu_client *c,
			 const struct il_vfu_msg *m, int refuse)
{
	struct il_vfu_hdr h = { .id = m->hdr.id, .cmd = m->hdr.cmd,
				.flags = IL_VFU_F_TYPE_REPLY };
	long n = refuse ? refuse : -ENOSYS;

	c->st.server_requests++;
	if (!refuse && (m->hdr.cmd == IL_VFU_CMD_DMA_READ ||
			m->hdr.cmd == IL_VFU_CMD_DMA_WRITE))
		n = serve_dma(c, m);
	if (n < 0) {
		h.flags |= IL_VFU_F_ERROR;
		h.error = (uint32_t)-n;
		c->st.server_errors++;
	}
	if (m->hdr.flags & IL_VFU_F_NO_REPLY)
		return 0;
	return il_vfu_send(c->sock, &h, c->sbuf, n > 0 ? (size_t)n : 0, NULL,
			   0);
}

/* Take what came while no reply of ours is awaited: the server's requests
 * are answered, replies are late ones. With @readable (the caller's poll
 * said so) the socket is read until a read finds it empty; without, only
 * what the receiver holds is taken: what came behind a reply, read with
 * it, which the socket's readiness no longer shows. Caller holds the
 * lock. */
static void serve_unasked(struct irqlink_vfu_client *c, bool readable)
{
	bool read = readable;

	while (!c->gone && (read || (readable ? il_vfu_rx_more(&c->rx)
					      : il_vfu_rx_held(&c->rx)))) {
		struct il_vfu_msg m;
		int r = il_vfu_rx_recv(&c->rx, c->sock, MSG_DONTWAIT);

		read = false;
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			c->gone = true;
			break;
		}
		if (!r)
			continue;       /* more needed */
		r = il_vfu_rx_take(&c->rx, &m);
		if ((m.hdr.flags & IL_VFU_F_TYPE_MASK) == IL_VFU_F_TYPE_COMMAND) {
			r = answer_server(c, &m, r);
			close_fds(m.fds, m.nfds);
			if (r)
				c->gone = true;
		} else {
			c->st.stale_replies++;
			close_fds(m.fds, m.nfds);
		}
	}
}

/* Where a reply goes: its payload (up to @cap bytes; *@len says how many
 * came) and its fds (up to @maxfds, owned by the caller after). */
struct reply {
	void *data;
	size_t cap, len;
	int *fds;
	size_t maxfds, nfds;
};

/* Wait for the reply to request @id, answering server requests meanwhile.
 * Returns 0, the reply's -error, -ETIMEDOUT, -ENOTCONN or -EPROTO. */
static int wait_reply(struct irqlink_vfu_client *c, uint16_t id,
		      uint16_t cmd, struct reply *out, int64_t until)
{
	for (;;) {
		struct il_vfu_msg m;
		int r;

		if (!il_vfu_rx_more(&c->rx)) {
			r = wait_readable(c->sock, until - now_ns());
			if (r)
				return r;
		}
		r = il_vfu_rx_recv(&c->rx, c->sock, MSG_DONTWAIT);
		if (r == -EAGAIN || r == 0) {
			if (until - now_ns() <= 0) {
				c->st.timeouts++;
				return -ETIMEDOUT;
			}
			continue;
		}
		if (r < 0) {
			/* Closed, or a stream we can no longer frame. */
			c->gone = true;
			return -ENOTCONN;
		}
		r = il_vfu_rx_take(&c->rx, &m);
		if ((m.hdr.flags & IL_VFU_F_TYPE_MASK) == IL_VFU_F_TYPE_COMMAND) {
			/* -EINVAL: it came with more fds than we take. */
			close_fds(m.fds, m.nfds);
			if (answer_server(c, &m, r)) {
				c->gone = true;
				return -ENOTCONN;
			}
			continue;
		}
		if (r == -EINVAL) {
			/* A reply with more fds than we take (closed). */
			if (m.hdr.id == id)
				return -EPROTO;
			c->st.stale_replies++;
			continue;
		}
		if (m.hdr.id != id || m.hdr.cmd != cmd) {
			c->st.stale_replies++;
			close_fds(m.fds, m.nfds);
			continue;
		}
		if (m.hdr.flags & IL_VFU_F_ERROR) {
			close_fds(m.fds, m.nfds);
			c->st.errors++;
			/* Error 0 is allowed on the wire; it is still a
			 * failure. */
			return m.hdr.error ? -(int)m.hdr.error : -EIO;
		}
		if (out) {
			size_t n = m.len < out->cap ? m.len : out->cap;
			size_t k = m.nfds < out->maxfds ? m.nfds : out->maxfds;

			/* A reply may carry no payload or no fds, and a
			 * caller that expects none passes NULL buffers. */
			if (n)
				memcpy(out->data, m.payload, n);
			out->len = m.len;
			if (k)
				memcpy(out->fds, m.fds, k * sizeof(int));
			out->nfds = k;
			close_fds(m.fds + k, m.nfds - k);
		} else {
			close_fds(m.fds, m.nfds);
		}
		return 0;
	}
}

static int send_req(struct irqlink_vfu_client *c, uint16_t cmd,
		    const void *req, size_t len, const int *fds, size_t nfds,
		    uint16_t *id)
{
	struct il_vfu_hdr h = { .cmd = cmd, .flags = IL_VFU_F_TYPE_COMMAND };
	int r;

	if (c->gone)
		return -ENOTCONN;
	h.id = *id = c->next_id++;
	r = il_vfu_send(c->sock, &h, req, len, fds, nfds);
	if (r) {
		c->gone = true;
		return -ENOTCONN;
	}
	c->st.requests++;
	return 0;
}

/* One request, one reply; caller holds the lock. */
static int call_locked(struct irqlink_vfu_client *c, uint16_t cmd,
		       const void *req, size_t len, const int *fds,
		       size_t nfds, struct reply *out)
{
	uint16_t id;
	int r = send_req(c, cmd, req, len, fds, nfds, &id);

	if (r)
		return r;
	r = wait_reply(c, id, cmd, out, deadline(c));
	serve_unasked(c, false);
	return r;
}

static int call(struct irqlink_vfu_client *c, uint16_t cmd, const void *req,
		size_t len, struct reply *out)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = call_locked(c, cmd, req, len, NULL, 0, out);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ---- the device ops ----------------------------------------------------- */

static void map_drop(struct region_map *m)
{
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

/* Keep where region @ri may be mapped, from a reply of @len bytes at @buf
 * with @fd (ours now, or -1): the sparse areas if the capability is there
 * and sane, else the whole region. Anything odd: not mappable. */
static void map_take(struct irqlink_vfu_client *c,
		     const struct vfio_region_info *ri, const uint8_t *buf,
		     size_t len, int fd)
{
	struct region_map *m = &c->map[ri->index];
	struct vfio_region_info_cap_sparse_mmap cap;

	map_drop(m);
	if (fd < 0 || !(ri->flags & VFIO_REGION_INFO_FLAG_MMAP))
		goto none;
	m->fd_offset = ri->offset;
	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS)) {
		m->nareas = 1;
		m->areas[0].size = ri->size;
		m->fd = fd;
		return;
	}
	if (ri->cap_offset < IL_VFU_REGION_INFO_SIZE ||
	    ri->cap_offset > len || len - ri->cap_offset < sizeof(cap))
		goto none;
	memcpy(&cap, buf + ri->cap_offset, sizeof(cap));
	if (cap.header.id != VFIO_REGION_INFO_CAP_SPARSE_MMAP ||
	    !cap.nr_areas || cap.nr_areas > IRQLINK_PCI_MMAP_AREAS ||
	    (len - ri->cap_offset - sizeof(cap)) / sizeof(m->areas[0]) <
	    cap.nr_areas)
		goto none;
	memcpy(m->areas, buf + ri->cap_offset + sizeof(cap),
	       cap.nr_areas * sizeof(m->areas[0]));
	for (uint32_t i = 0; i < cap.nr_areas; i++)
		if (m->areas[i].offset > ri->size ||
		    m->areas[i].size > ri->size - m->areas[i].offset)
			goto none;
	m->nareas = cap.nr_areas;
	m->fd = fd;
	return;
none:
	map_drop(m);
	if (fd >= 0)
		close(fd);
}

static int op_get_region_info(void *opaque, struct vfio_region_info *info)
{
	struct irqlink_vfu_client *c = opaque;
	struct vfio_region_info req = { .argsz = REGION_INFO_MAX,
					.index = info->index };
	uint8_t buf[REGION_INFO_MAX];
	struct vfio_region_info ri;
	int fd = -1;
	struct reply rep = { .data = buf, .cap = sizeof(buf), .fds = &fd,
			     .maxfds = 1 };
	int r;

	if (info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	r = call_locked(c, IL_VFU_CMD_DEVICE_GET_REGION_INFO, &req,
			IL_VFU_REGION_INFO_SIZE, NULL, 0, &rep);
	if (!r && rep.len < IL_VFU_REGION_INFO_SIZE)
		r = -EPROTO;
	if (!r) {
		memcpy(&ri, buf, IL_VFU_REGION_INFO_SIZE);
		if (ri.index != info->index)
			r = -EPROTO;
	}
	if (r) {
		if (rep.nfds)
			close(fd);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	map_take(c, &ri, buf, rep.len < sizeof(buf) ? rep.len : sizeof(buf),
		 rep.nfds ? fd : -1);
	info->flags = ri.flags & ~(uint32_t)VFIO_REGION_INFO_FLAG_CAPS;
	if (c->map[ri.index].fd < 0)
		info->flags &= ~(uint32_t)VFIO_REGION_INFO_FLAG_MMAP;
	info->size = ri.size;
	info->offset = ri.offset;
	info->cap_offset = 0;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* The fd stays ours: valid until the region is asked about again, a
 * reconnect, or destroy. */
static int op_get_region_mmap(void *opaque, uint32_t region,
			      struct irqlink_pci_region_mmap *out)
{
	struct irqlink_vfu_client *c = opaque;
	const struct region_map *m;
	int r = -ENOENT;

	if (region >= VFIO_PCI_NUM_REGIONS)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	m = &c->map[region];
	if (m->fd >= 0) {
		out->fd = m->fd;
		out->fd_offset = m->fd_offset;
		out->nareas = m->nareas;
		for (uint32_t i = 0; i < m->nareas; i++) {
			out->areas[i].offset = m->areas[i].offset;
			out->areas[i].size = m->areas[i].size;
		}
		r = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int region_rw(struct irqlink_vfu_client *c, uint32_t region,
		     uint64_t offset, void *data, size_t len, bool write)
{
	struct il_vfu_region_access ra = { .offset = offset, .region = region,
					   .count = (uint32_t)len };
	struct reply rep = { .data = c->buf, .cap = MAX_MSG_SIZE };
	int r;

	if (len > XFER_MAX || len > c->server.max_data_xfer_size)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	memcpy(c->buf, &ra, sizeof(ra));
	if (write && len)
		memcpy(c->buf + sizeof(ra), data, len);
	r = call_locked(c, write ? IL_VFU_CMD_REGION_WRITE
				 : IL_VFU_CMD_REGION_READ,
			c->buf, sizeof(ra) + (write ? len : 0), NULL, 0, &rep);
	if (!r && !write) {
		if (rep.len != sizeof(ra) + len)
			r = -EPROTO;
		else if (len)
			memcpy(data, c->buf + sizeof(ra), len);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int op_region_read(void *opaque, uint32_t region, uint64_t offset,
			  void *data, size_t len)
{
	return region_rw(opaque, region, offset, data, len, false);
}

static int op_region_write(void *opaque, uint32_t region, uint64_t offset,
			   const void *data, size_t len)
{
	return region_rw(opaque, region, offset, (void *)data, len, true);
}

static int op_get_irq_info(void *opaque, struct vfio_irq_info *info)
{
	struct irqlink_vfu_client *c = opaque;
	struct vfio_irq_info req = { .argsz = sizeof(req),
				     .index = info->index };
	struct vfio_irq_info ri = { 0 };
	struct reply rep = { .data = &ri, .cap = sizeof(ri) };
	int r = call(c, IL_VFU_CMD_DEVICE_GET_IRQ_INFO, &req, sizeof(req),
		     &rep);

	if (r)
		return r;
	if (rep.len < sizeof(ri) || ri.index != info->index)
		return -EPROTO;
	info->flags = ri.flags;
	info->count = ri.count;
	return 0;
}

/* ---- proxy producers ---------------------------------------------------- */

static struct proxy *proxy_slot(struct irqlink_vfu_client *c, uint32_t index,
				uint32_t vector)
{
	struct proxies *q;

	if (!c->cfg.bypass || index >= PROXY_INDEXES)
		return NULL;
	q = &c->proxy[index];
	if (vector >= q->count)
		return NULL;
	if (!q->p) {
		q->p = calloc(q->count, sizeof(*q->p));
		if (!q->p)
			return NULL;
	}
	return &q->p[vector];
}

static void proxy_drop(struct irqlink_vfu_client *c, struct proxy *p)
{
	if (!p || !p->registered)
		return;
	(void)irqlink_bypass_unregister_producer(c->cfg.bypass, &p->bp);
	p->registered = false;
	c->st.producers--;
}

static void proxy_set(struct irqlink_vfu_client *c, uint32_t index,
		      uint32_t vector, int fd)
{
	struct proxy *p = proxy_slot(c, index, vector);
	uint64_t token;

	if (!p)
		return;
	proxy_drop(c, p);
	if (fd < 0)
		return;
	if (il_eventfd_token(fd, &token)) {
		c->st.bypass_failures++;
		return;
	}
	/* No stop/start: see the header. */
	p->bp = (struct irqlink_bypass_producer){ .token = token,
						  .opaque = c };
	if (irqlink_bypass_register_producer(c->cfg.bypass, &p->bp)) {
		c->st.bypass_failures++;
		return;
	}
	p->registered = true;
	c->st.producers++;
}

static void proxy_drop_range(struct irqlink_vfu_client *c, uint32_t index,
			     uint32_t start, uint32_t count)
{
	struct proxies *q;

	if (index >= PROXY_INDEXES)
		return;
	q = &c->proxy[index];
	for (uint32_t v = start; q->p && v < q->count && v - start < count;
	     v++)
		proxy_drop(c, &q->p[v]);
}

/* ---- SET_IRQS ----------------------------------------------------------- */

/* One SET_IRQS message of @set (and @n BOOL bytes or fds), sent. */
static int send_set(struct irqlink_vfu_client *c, const struct vfio_irq_set *set,
		    const uint8_t *bools, const int *fds, size_t nfds,
		    uint16_t *id)
{
	struct vfio_irq_set h = *set;
	size_t n = bools ? set->count : 0;

	h.argsz = (uint32_t)(sizeof(h) + n);
	memcpy(c->buf, &h, sizeof(h));
	if (n)
		memcpy(c->buf + sizeof(h), bools, n);
	c->st.set_irqs_messages++;
	return send_req(c, IL_VFU_CMD_DEVICE_SET_IRQS, c->buf, sizeof(h) + n,
			fds, nfds, id);
}

/* DATA_EVENTFD with fds: chunks of valid fds (at most the server's
 * max_msg_fds each) and runs of -1 (no fds: de-assign), all sent, then
 * every reply collected. Caller holds the lock. */
static int set_eventfds(struct irqlink_vfu_client *c,
			const struct vfio_irq_set *set, const int *fds)
{
	uint32_t per = c->server.max_msg_fds ? c->server.max_msg_fds : 1;
	uint32_t nchunks = 0, i = 0;
	uint16_t first = 0, id;
	bool enable = false;
	int err = 0, r;

	if (per > IL_VFU_MAX_FDS)
		per = IL_VFU_MAX_FDS;
	/* vfio sizes an MSI/MSI-X block by the SET_IRQS that enables it, and
	 * a later one may not grow it (NORESIZE): a range that takes several
	 * messages is first enabled whole, with no eventfd assigned, which
	 * is where one message would have left it before its vectors. */
	if (set->index < PROXY_INDEXES && !c->enabled[set->index] &&
	    set->count > per) {
		struct vfio_irq_set whole = *set;

		r = send_set(c, &whole, NULL, NULL, 0, &id);
		if (r)
			return r;
		first = id;
		nchunks = 1;
		enable = true;
	}
	while (i < set->count) {
		struct vfio_irq_set part = *set;
		bool valid = fds[i] >= 0;
		uint32_t n = 1;

		while (i + n < set->count && (fds[i + n] >= 0) == valid &&
		       (!valid || n < per))
			n++;
		part.start = set->start + i;
		part.count = n;
		r = send_set(c, &part, NULL, valid ? fds + i : NULL,
			     valid ? n : 0, &id);
		if (r) {
			err = r;
			break;
		}
		if (!nchunks++)
			first = id;
		i += n;
	}
	/* Every chunk sent gets its reply collected, in order. */
	for (uint32_t k = 0; k < nchunks; k++) {
		r = wait_reply(c, (uint16_t)(first + k),
			       IL_VFU_CMD_DEVICE_SET_IRQS, NULL, deadline(c));
		if (r && !err)
			err = r;
		if (r == -ENOTCONN || r == -ETIMEDOUT)
			break;
	}
	if (err && !c->gone) {
		struct vfio_irq_set off = *set;

		/* Never half a range: de-assign all of it, and disable an
		 * index this call enabled, as vfio undoes a failed block. */
		off.flags = (set->flags & ~VFIO_IRQ_SET_DATA_TYPE_MASK) |
			    VFIO_IRQ_SET_DATA_EVENTFD;
		if (enable) {
			off.flags = VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER;
			off.start = off.count = 0;
		}
		if (!send_set(c, &off, NULL, NULL, 0, &id))
			(void)wait_reply(c, id, IL_VFU_CMD_DEVICE_SET_IRQS,
					 NULL, deadline(c));
	}
	return err;
}

static int op_set_irqs(void *opaque, const struct vfio_irq_set *set,
		       const int *fds, size_t nfds)
{
	struct irqlink_vfu_client *c = opaque;
	uint32_t data = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	bool trigger = action == VFIO_IRQ_SET_ACTION_TRIGGER;
	uint16_t id;
	int r;

	if (data == VFIO_IRQ_SET_DATA_BOOL &&
	    set->count > MAX_MSG_SIZE - sizeof(*set))
		return -EINVAL;
	if (nfds && (data != VFIO_IRQ_SET_DATA_EVENTFD || nfds != set->count))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (nfds) {
		r = set_eventfds(c, set, fds);
	} else {
		r = send_set(c, set, data == VFIO_IRQ_SET_DATA_BOOL ?
			     (const uint8_t *)(set + 1) : NULL, NULL, 0, &id);
		if (!r)
			r = wait_reply(c, id, IL_VFU_CMD_DEVICE_SET_IRQS, NULL,
				       deadline(c));
	}
	serve_unasked(c, false);
	/* A failure leaves the index as it was (set_eventfds() undoes an
	 * enable of its own). */
	if (!r && trigger && set->index < PROXY_INDEXES) {
		if (data == VFIO_IRQ_SET_DATA_EVENTFD)
			c->enabled[set->index] = true;
		else if (data == VFIO_IRQ_SET_DATA_NONE && !set->count)
			c->enabled[set->index] = false;
	}
	/* What the device holds now decides the proxies. */
	if (trigger && data == VFIO_IRQ_SET_DATA_EVENTFD) {
		for (uint32_t v = 0; v < set->count; v++)
			if (r || !nfds)
				proxy_drop_range(c, set->index,
						 set->start + v, 1);
			else
				proxy_set(c, set->index, set->start + v,
					  fds[v]);
	} else if (!r && trigger && data == VFIO_IRQ_SET_DATA_NONE &&
		   !set->count) {
		proxy_drop_range(c, set->index, 0, UINT32_MAX);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int op_get_ioeventfds(void *opaque, struct irqlink_pci_ioeventfd *out,
			     size_t max)
{
	struct irqlink_vfu_client *c = opaque;
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->ndoorbells;
	if (n && max)
		memcpy(out, c->doorbells, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&c->lock);
	return (int)n;
}

const struct irqlink_pci_ops irqlink_vfu_client_ops = {
	.get_region_info = op_get_region_info,
	.region_read = op_region_read,
	.region_write = op_region_write,
	.get_irq_info = op_get_irq_info,
	.set_irqs = op_set_irqs,
	.get_ioeventfds = op_get_ioeventfds,
	.get_region_mmap = op_get_region_mmap,
};

/* ---- connecting --------------------------------------------------------- */

static int negotiate(struct irqlink_vfu_client *c)
{
	struct il_vfu_caps ours = {
		.max_msg_fds = c->cfg.max_msg_fds, .has_max_msg_fds = true,
		.max_data_xfer_size = XFER_MAX,
		.has_max_data_xfer_size = true,
	};
	struct reply rep = { .data = c->buf, .cap = MAX_MSG_SIZE };
	uint16_t major, minor;
	int len, r;

	len = il_vfu_version_build(c->buf, MAX_MSG_SIZE, IL_VFU_MAJOR,
				   IL_VFU_MINOR, &ours);
	if (len < 0)
		return len;
	r = call_locked(c, IL_VFU_CMD_VERSION, c->buf, (size_t)len, NULL, 0,
			&rep);
	if (r)
		return r;
	if (rep.len > MAX_MSG_SIZE ||
	    il_vfu_version_parse(c->buf, rep.len, &major, &minor, &c->server) ||
	    major != IL_VFU_MAJOR || minor > IL_VFU_MINOR)
		return -EPROTO;
	return 0;
}

static int device_info(struct irqlink_vfu_client *c)
{
	struct il_vfu_device_info info = { .argsz = sizeof(info) };
	struct reply rep = { .data = &info, .cap = sizeof(info) };
	int r = call_locked(c, IL_VFU_CMD_DEVICE_GET_INFO, &info, sizeof(info),
			    NULL, 0, &rep);

	if (r)
		return r;
	if (rep.len < sizeof(info) || !(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return -EPROTO;
	c->num_regions = info.num_regions;
	c->num_irqs = info.num_irqs;
	return 0;
}

static int irq_counts(struct irqlink_vfu_client *c)
{
	for (uint32_t i = 0; i < PROXY_INDEXES && i < c->num_irqs; i++) {
		struct vfio_irq_info info = { .argsz = sizeof(info),
					      .index = i };
		struct reply rep = { .data = &info, .cap = sizeof(info) };
		int r = call_locked(c, IL_VFU_CMD_DEVICE_GET_IRQ_INFO, &info,
				    sizeof(info), NULL, 0, &rep);

		if (r)
			return r;
		c->proxy[i].count = info.count;
	}
	return 0;
}

/* Keep one BAR's doorbells: the sub-regions and the fds they index. */
static int bar_doorbells(struct irqlink_vfu_client *c, uint32_t bar)
{
	uint32_t req[4] = { MAX_MSG_SIZE, 0, bar, 0 };
	int fds[IL_VFU_MAX_FDS];
	struct reply rep = { .data = c->buf, .cap = MAX_MSG_SIZE, .fds = fds,
			     .maxfds = IL_VFU_MAX_FDS };
	uint32_t count;
	struct irqlink_pci_ioeventfd *grown;
	int r = call_locked(c, IL_VFU_CMD_DEVICE_GET_REGION_IO_FDS, req,
			    sizeof(req), NULL, 0, &rep);

	if (r)
		/* A region without doorbells may be refused outright. */
		return r == -EINVAL || r == -ENOSYS ? 0 : r;
	memcpy(req, c->buf, sizeof(req));
	count = req[3];
	r = -EPROTO;
	if (rep.len < sizeof(req) || rep.len > MAX_MSG_SIZE ||
	    (rep.len - sizeof(req)) / sizeof(struct il_vfu_io_fd) < count)
		goto out;
	if (count) {
		grown = realloc(c->doorbells, (c->ndoorbells + count) *
				sizeof(*grown));
		if (!grown) {
			r = -ENOMEM;
			goto out;
		}
		c->doorbells = grown;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct il_vfu_io_fd io;
		struct irqlink_pci_ioeventfd *e;
		int fd;

		memcpy(&io, c->buf + sizeof(req) + i * sizeof(io), sizeof(io));
		if (io.fd_index >= rep.nfds ||
		    io.type != IL_VFU_IO_FD_TYPE_IOEVENTFD)
			goto out;
		/* Each entry its own fd, so each is closed once. */
		fd = il_eventfd_dup(fds[io.fd_index]);
		if (fd < 0) {
			r = fd;
			goto out;
		}
		e = &c->doorbells[c->ndoorbells++];
		*e = (struct irqlink_pci_ioeventfd){
			.region = bar, .offset = io.offset,
			.size = (uint32_t)io.size, .fd = fd,
			.flags = io.flags & KVM_IOEVENTFD_FLAG_DATAMATCH ?
				 IRQLINK_PCI_IOEVENTFD_DATAMATCH : 0,
			.datamatch = io.datamatch,
		};
		c->st.doorbells++;
	}
	r = 0;
out:
	close_fds(fds, rep.nfds);
	return r;
}

static int doorbells(struct irqlink_vfu_client *c)
{
	for (uint32_t bar = VFIO_PCI_BAR0_REGION_INDEX;
	     bar <= VFIO_PCI_BAR5_REGION_INDEX; bar++) {
		int r = bar_doorbells(c, bar);

		if (r)
			return r;
	}
	return 0;
}

/* The device's interrupt counts must be the ones the proxies and the glue
 * were sized by: a server that came back with another shape is another
 * device. */
static int same_device(struct irqlink_vfu_client *c, const uint32_t *counts)
{
	for (uint32_t i = 0; i < PROXY_INDEXES; i++)
		if (c->proxy[i].count != counts[i])
			return -EPROTO;
	return 0;
}

/* Everything a new connection asks before the device is usable; with
 * @expect (a reconnect), the interrupt counts it must still have. Caller
 * holds the lock. */
static int handshake(struct irqlink_vfu_client *c, const uint32_t *expect)
{
	int r = negotiate(c);

	if (!r)
		r = device_info(c);
	if (!r)
		r = irq_counts(c);
	if (!r && expect)
		r = same_device(c, expect);
	if (!r)
		r = doorbells(c);
	return r;
}

static int dial(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -EINVAL;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A local stream socket connects at once or not at all. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = -errno;

		close(fd);
		return e == -EAGAIN ? -ECONNREFUSED : e;
	}
	return fd;
}

void irqlink_vfu_client_destroy(struct irqlink_vfu_client *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < PROXY_INDEXES; i++) {
		proxy_drop_range(c, i, 0, UINT32_MAX);
		free(c->proxy[i].p);
	}
	for (size_t i = 0; i < c->ndoorbells; i++)
		close(c->doorbells[i].fd);
	free(c->doorbells);
	if (c->sock >= 0)
		close(c->sock);
	for (size_t i = 0; i < c->ndma; i++)
		if (c->dma[i].fd >= 0)
			close(c->dma[i].fd);
	free(c->dma);
	for (size_t i = 0; i < VFIO_PCI_NUM_REGIONS; i++)
		map_drop(&c->map[i]);
	free(c->path);
	il_vfu_rx_fini(&c->rx);
	free(c->buf);
	free(c->sbuf);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int irqlink_vfu_client_connect(const struct irqlink_vfu_client_config *cfg,
			       struct irqlink_vfu_client **out)
{
	struct irqlink_vfu_client *c;
	int r;

	if (!cfg || !cfg->path || !out || cfg->flags ||
	    cfg->max_msg_fds > IL_VFU_MAX_FDS)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->cfg.path = NULL;     /* the caller's string: ours is c->path */
	if (!c->cfg.max_msg_fds)
		c->cfg.max_msg_fds = DEFAULT_MAX_MSG_FDS;
	if (!c->cfg.timeout_ms)
		c->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
	c->sock = -1;
	for (size_t i = 0; i < VFIO_PCI_NUM_REGIONS; i++)
		c->map[i].fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->buf = malloc(MAX_MSG_SIZE);
	c->sbuf = malloc(MAX_MSG_SIZE);
	c->path = strdup(cfg->path);
	r = c->buf && c->sbuf && c->path ?
		il_vfu_rx_init(&c->rx, MAX_MSG_SIZE, c->cfg.max_msg_fds) :
		-ENOMEM;
	if (r) {
		free(c->buf);
		free(c->sbuf);
		free(c->path);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return r;
	}
	c->sock = dial(cfg->path);
	if (c->sock < 0) {
		r = c->sock;
		goto fail;
	}
	pthread_mutex_lock(&c->lock);
	r = handshake(c, NULL);
	pthread_mutex_unlock(&c->lock);
	if (r)
		goto fail;
	*out = c;
	return 0;
fail:
	irqlink_vfu_client_destroy(c);
	return r;
}

/* ---- the rest of the API ------------------------------------------------ */

static int dma_map(struct irqlink_vfu_client *c, uint64_t iova,
		   uint64_t size, uint32_t flags, int fd, uint64_t offset,
		   irqlink_vfu_dma_fn fn, void *opaque)
{
	struct il_vfu_dma_map d = { .argsz = sizeof(d), .flags = flags,
				    .offset = offset, .address = iova,
				    .size = size };
	struct dma_range *n;
	int own = -1, r;

	if (!c)
		return -EINVAL;
	if (fd >= 0) {
		own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (own < 0)
			return -errno;
	}
	pthread_mutex_lock(&c->lock);
	/* Room first: a range the server has must be one we can serve. */
	n = realloc(c->dma, (c->ndma + 1) * sizeof(*n));
	if (!n) {
		r = -ENOMEM;
		goto out;
	}
	c->dma = n;
	r = call_locked(c, IL_VFU_CMD_DMA_MAP, &d, sizeof(d),
			fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, NULL);
	if (!r) {
		c->dma[c->ndma++] = (struct dma_range){
			.iova = iova, .size = size, .flags = flags, .fd = own,
			.offset = offset, .fn = fn, .opaque = opaque };
		own = -1;
	}
out:
	pthread_mutex_unlock(&c->lock);
	if (own >= 0)
		close(own);
	return r;
}

int irqlink_vfu_client_dma_map(struct irqlink_vfu_client *c, uint64_t iova,
			       uint64_t size, uint32_t flags, int fd,
			       uint64_t offset)
{
	return dma_map(c, iova, size, flags, fd, offset, NULL, NULL);
}

int irqlink_vfu_client_dma_map_handler(struct irqlink_vfu_client *c,
				       uint64_t iova, uint64_t size,
				       uint32_t flags, irqlink_vfu_dma_fn fn,
				       void *opaque)
{
	if (!fn)
		return -EINVAL;
	return dma_map(c, iova, size, flags, -1, 0, fn, opaque);
}

int irqlink_vfu_client_dma_unmap(struct irqlink_vfu_client *c, uint64_t iova,
				 uint64_t size)
{
	struct il_vfu_dma_unmap d = { .argsz = sizeof(d), .address = iova,
				      .size = size };
	int r;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	r = call_locked(c, IL_VFU_CMD_DMA_UNMAP, &d, sizeof(d), NULL, 0, NULL);
	/* Once the server has let go, so do we: later requests for the
	 * range are refused. */
	for (size_t i = 0; !r && i < c->ndma; i++) {
		if (c->dma[i].iova == iova && c->dma[i].size == size) {
			if (c->dma[i].fd >= 0)
				close(c->dma[i].fd);
			c->dma[i] = c->dma[--c->ndma];
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int irqlink_vfu_client_fd(struct irqlink_vfu_client *c)
{
	int fd;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	fd = c->sock;
	pthread_mutex_unlock(&c->lock);
	return fd;
}

bool irqlink_vfu_client_connected(struct irqlink_vfu_client *c)
{
	bool up;

	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	up = !c->gone;
	pthread_mutex_unlock(&c->lock);
	return up;
}

/* ---- reconnecting --------------------------------------------------------- */

/* Every range we had mapped, again: fd-backed ones with our dup. */
static int remap(struct irqlink_vfu_client *c)
{
	for (size_t i = 0; i < c->ndma; i++) {
		const struct dma_range *d = &c->dma[i];
		struct il_vfu_dma_map m = { .argsz = sizeof(m),
					    .flags = d->flags,
					    .offset = d->offset,
					    .address = d->iova,
					    .size = d->size };
		int r = call_locked(c, IL_VFU_CMD_DMA_MAP, &m, sizeof(m),
				    d->fd >= 0 ? &d->fd : NULL,
				    d->fd >= 0 ? 1 : 0, NULL);

		if (r)
			return r;
	}
	return 0;
}

static void drop_doorbells(struct irqlink_vfu_client *c)
{
	for (size_t i = 0; i < c->ndoorbells; i++)
		close(c->doorbells[i].fd);
	free(c->doorbells);
	c->doorbells = NULL;
	c->ndoorbells = 0;
}

int irqlink_vfu_client_reconnect(struct irqlink_vfu_client *c)
{
	uint32_t counts[PROXY_INDEXES];
	int sock, r;

	if (!c)
		return -EINVAL;
	if (irqlink_vfu_client_connected(c))
		return -EISCONN;
	/* Outside the lock: a server not back yet costs no caller a wait. */
	sock = dial(c->path);
	if (sock < 0)
		return sock;
	pthread_mutex_lock(&c->lock);
	if (!c->gone) {
		pthread_mutex_unlock(&c->lock);
		close(sock);
		return -EISCONN;
	}
	close(c->sock);
	c->sock = sock;
	c->gone = false;
	il_vfu_rx_reset(&c->rx);
	/* A fresh device: nothing enabled, no doorbells of the old one. The
	 * glue's ioeventfds keep their own references to the old eventfds
	 * until it takes the new ones (irqlink_pci_device_replaced()). */
	memset(c->enabled, 0, sizeof(c->enabled));
	drop_doorbells(c);
	/* The old server's memory: a new REGION_INFO tells the new one's. */
	for (size_t i = 0; i < VFIO_PCI_NUM_REGIONS; i++)
		map_drop(&c->map[i]);
	for (uint32_t i = 0; i < PROXY_INDEXES; i++)
		counts[i] = c->proxy[i].count;
	r = handshake(c, counts);
	if (!r)
		r = remap(c);
	if (r) {
		/* Half restored is not restored: gone again, and the caller
		 * may try later. The counts stay what the glue knows. */
		for (uint32_t i = 0; i < PROXY_INDEXES; i++)
			c->proxy[i].count = counts[i];
		drop_doorbells(c);
		c->gone = true;
	} else {
		c->st.reconnects++;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int irqlink_vfu_client_process(struct irqlink_vfu_client *c)
{
	int r;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	serve_unasked(c, true);
	r = c->gone ? -ENOTCONN : 0;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int irqlink_vfu_client_reset(struct irqlink_vfu_client *c)
{
	if (!c)
		return -EINVAL;
	return call(c, IL_VFU_CMD_DEVICE_RESET, NULL, 0, NULL);
}

int irqlink_vfu_client_get_stats(struct irqlink_vfu_client *c,
				 struct irqlink_vfu_client_stats *st)
{
	if (!c || !st)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
