/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server: the listening socket, one client connection, the
 * event loop, VERSION, and the reply to every request.
 *
 * Theory of operation: one epoll set holds the listening socket and, while
 * a client is connected, its socket (level-triggered, so "process" may stop
 * anywhere and resume on the next call). Reads take at most what the
 * current message still needs (il_vfu_rx_want()), which keeps each
 * SCM_RIGHTS fd with the message it came with; the control buffer has room
 * for the kernel's maximum so that surplus fds are received, then closed,
 * rather than silently discarded by a truncation. A message is dispatched
 * as soon as it is whole; every fd it brought is closed after its handler
 * ran, whatever the outcome, so no client can make the server hold fds.
 *
 * A header that cannot be framed (il_vfu_rx_feed() error) ends the
 * connection: after it, where the next message starts is unknowable. Every
 * other fault is an error reply on a connection that stays usable.
 */
#include "vfio_user_server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define VFU_DEFAULT_MAX_MSG_FDS 16u
/* Room for a REGION_WRITE of max_data_xfer_size and for a SET_IRQS with a
 * BOOL per MSI-X vector, whichever is larger. */
#define VFU_MSG_OVERHEAD 64u
#define VFU_MIN_MSG_SIZE 8192u
/* How long to stop accepting after the process ran out of fds. */
#define VFU_ACCEPT_BACKOFF_MS 100
/* run()'s stop_fd in the epoll set: an fd number no fd of ours can have. */
#define VFU_STOP_TAG (-2)

static void close_client(struct irqlink_vfu_server *s)
{
	if (s->cfd < 0)
		return;
	(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->cfd, NULL);
	il_vfu_requests_disconnect(s);  /* closes cfd, fails DMA waiters */
	il_vfu_rx_reset(&s->rx);
	il_vfu_device_release(s);
	il_vfu_dma_clear(&s->dma);
	s->st.disconnects++;
	s->versioned = false;
}

static int send_reply(struct irqlink_vfu_server *s, const struct il_vfu_hdr *req,
		      int err, const struct il_vfu_answer *a)
{
	struct il_vfu_hdr h = {
		.id = req->id,
		.cmd = req->cmd,
		.flags = IL_VFU_F_TYPE_REPLY | (err ? IL_VFU_F_ERROR : 0),
		.error = (uint32_t)-err,
	};

	int r;

	s->st.requests++;
	if (err)
		s->st.errors++;
	else if (req->flags & IL_VFU_F_NO_REPLY)
		return 0;       /* an error is still answered: never lost */
	pthread_mutex_lock(&s->tx_lock);
	r = il_vfu_send(s->cfd, &h, s->reply, err ? 0 : a->len,
			err ? NULL : a->fds, err ? 0 : a->nfds);
	pthread_mutex_unlock(&s->tx_lock);
	return r;
}

static int version(struct irqlink_vfu_server *s, const struct il_vfu_msg *m,
		   struct il_vfu_answer *a)
{
	struct il_vfu_caps ours = {
		.max_msg_fds = s->cfg.max_msg_fds,
		.max_data_xfer_size = s->cfg.max_data_xfer_size,
		.pgsizes = IL_VFU_DEFAULT_PGSIZES,
		.max_dma_maps = s->cfg.max_dma_maps,
		.has_max_dma_maps = true,
		.has_max_msg_fds = true,
		.has_max_data_xfer_size = true,
		.has_pgsizes = true,
	};
	uint16_t major, minor;
	int r;

	if (s->versioned || m->nfds)
		return -EINVAL;
	r = il_vfu_version_parse(m->payload, m->len, &major, &minor, &s->peer);
	if (r)
		return r;
	if (major != IL_VFU_MAJOR)
		return -ENOTSUP;
	r = il_vfu_version_build(s->reply, s->max_msg_size, IL_VFU_MAJOR,
				 minor < IL_VFU_MINOR ? minor : IL_VFU_MINOR, &ours);
	if (r < 0)
		return r;
	a->len = (size_t)r;
	s->versioned = true;
	pthread_mutex_lock(&s->req_lock);
	s->dma_chunk = s->peer.max_data_xfer_size < s->cfg.max_data_xfer_size
			       ? s->peer.max_data_xfer_size
			       : s->cfg.max_data_xfer_size;
	pthread_mutex_unlock(&s->req_lock);
	return 0;
}

static int dispatch(struct irqlink_vfu_server *s, const struct il_vfu_msg *m)
{
	struct il_vfu_answer a = { 0 };
	uint32_t type = m->hdr.flags & IL_VFU_F_TYPE_MASK;
	int r;

	if (type == IL_VFU_F_TYPE_REPLY && il_vfu_request_reply(s, m))
		return 0;       /* the answer to one of our DMA requests */
	if (type != IL_VFU_F_TYPE_COMMAND)
		r = -EINVAL;    /* we asked nothing: a reply is out of place */
	else if (m->hdr.cmd == IL_VFU_CMD_VERSION)
		r = version(s, m, &a);
	else if (!s->versioned)
		r = -EINVAL;
	else
		r = il_vfu_cmd_device(s, m, &a);
	return send_reply(s, &m->hdr, r, &a);
}

/* Serve a command kept while a DMA request waited; 0 or a send error. */
static int serve_deferred(struct irqlink_vfu_server *s,
			  struct il_vfu_deferred *d)
{
	struct il_vfu_msg m = { .hdr = d->hdr, .payload = d->payload,
				.len = d->len, .fds = d->fds,
				.nfds = d->nfds };
	int r;

	s->must_swap = false;   /* its bytes are in @d, not in rx */
	r = d->bad_fds ? send_reply(s, &m.hdr, -EINVAL, NULL)
		       : dispatch(s, &m);
	il_vfu_deferred_free(d);
	return r;
}

static bool client_read_locked(struct irqlink_vfu_server *s)
{
	bool polled = true;     /* epoll says readable: read at least once */

	for (;;) {
		struct il_vfu_deferred *d = il_vfu_deferred_pop(s);
		struct il_vfu_msg m;
		int r;

		if (d) {
			if (serve_deferred(s, d) || s->lost)
				return false;
			continue;
		}
		/* A read that found the socket empty already said so: epoll
		 * (level-triggered) brings us back for whatever comes next,
		 * where another read would cost a syscall to say -EAGAIN. */
		if (!polled && !il_vfu_rx_more(&s->rx))
			return true;
		polled = false;
		r = il_vfu_rx_recv(&s->rx, s->cfd, MSG_DONTWAIT);
		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			if (s->rx.err)
				s->st.framing++;
			return false;   /* gone, a socket error, or unframable */
		}
		if (!r)
			continue;
		r = il_vfu_rx_take(&s->rx, &m);
		if (r == -EINVAL) {
			/* Too many fds, already closed. */
			if (send_reply(s, &m.hdr, -EINVAL, NULL))
				return false;
			continue;
		}
		s->must_swap = true;
		r = dispatch(s, &m);
		s->must_swap = false;
		for (size_t i = 0; i < m.nfds; i++)
			close(m.fds[i]);
		if (r || s->lost)
			return false;
	}
}

/* Read what is there for the client; false when the connection ended.
 * Marked as the loop thread meanwhile, so that a device op's DMA request
 * knows to read its own reply. */
static bool client_read(struct irqlink_vfu_server *s)
{
	bool ok;

	pthread_mutex_lock(&s->req_lock);
	s->loop_thread = pthread_self();
	s->in_loop = true;
	pthread_mutex_unlock(&s->req_lock);
	ok = client_read_locked(s);
	pthread_mutex_lock(&s->req_lock);
	s->in_loop = false;
	pthread_mutex_unlock(&s->req_lock);
	return ok;
}

static bool peer_allowed(const struct irqlink_vfu_server *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!(s->cfg.flags & IRQLINK_VFU_REQUIRE_UID))
		return true;
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       cred.uid == s->cfg.peer_uid;
}

/* A client while one is served hears why it is turned away. */
static void refuse_busy(int fd)
{
	struct il_vfu_hdr h = {
		.cmd = IL_VFU_CMD_VERSION,
		.flags = IL_VFU_F_TYPE_REPLY | IL_VFU_F_ERROR,
		.error = EBUSY,
	};

	(void)il_vfu_send(fd, &h, NULL, 0, NULL, 0);
}

/* Out of fds, the connection stays in the backlog and the listening
 * socket stays readable: rather than spin on it, stop listening for a
 * while and let the timer bring it back. */
static int accept_backoff(struct irqlink_vfu_server *s)
{
	struct itimerspec in = { .it_value.tv_nsec =
					 VFU_ACCEPT_BACKOFF_MS * 1000000L };
	struct epoll_event ev = { .events = 0, .data.fd = s->lfd };

	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev) ||
	    timerfd_settime(s->tfd, 0, &in, NULL))
		return -errno;
	s->st.accept_backoffs++;
	return 0;
}

static int accept_resume(struct irqlink_vfu_server *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->lfd };
	uint64_t n;

	if (read(s->tfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	return epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev) ? -errno : 0;
}

static int accept_client(struct irqlink_vfu_server *s)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			return accept_backoff(s);
		return errno == EAGAIN || errno == EINTR ||
		       errno == ECONNABORTED ? 0 : -errno;
	}
	if (s->cfd >= 0 || !peer_allowed(s, fd)) {
		if (s->cfd >= 0)
			refuse_busy(fd);
		close(fd);
		s->st.refused++;
		return 0;
	}
	ev.data.fd = fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		s->st.refused++;
		return 0;
	}
	pthread_mutex_lock(&s->tx_lock);
	pthread_mutex_lock(&s->req_lock);
	s->cfd = fd;
	pthread_mutex_unlock(&s->req_lock);
	pthread_mutex_unlock(&s->tx_lock);
	s->st.clients++;
	return 0;
}

static int handle_events(struct irqlink_vfu_server *s,
			 const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == s->lfd || ev[i].data.fd == s->tfd) {
			int r = ev[i].data.fd == s->lfd ? accept_client(s)
							: accept_resume(s);

			if (r)
				return r;
		} else if (ev[i].data.fd == s->cfd && !client_read(s)) {
			close_client(s);
		}
	}
	return 0;
}

int irqlink_vfu_server_process(struct irqlink_vfu_server *s)
{
	struct epoll_event ev[3];
	int n;

	if (!s)
		return -EINVAL;
	n = epoll_wait(s->epfd, ev, 3, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return handle_events(s, ev, n);
}

/* run()'s wait when @stop_fd cannot join the epoll set (poll() still
 * takes it: a regular file, say, is always readable to it). */
static int run_polling(struct irqlink_vfu_server *s, int stop_fd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = s->epfd, .events = POLLIN },
				       { .fd = stop_fd, .events = POLLIN } };
		int r;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return 0;
		r = irqlink_vfu_server_process(s);
		if (r)
			return r;
	}
}

static int run_epoll(struct irqlink_vfu_server *s)
{
	for (;;) {
		struct epoll_event ev[4];      /* lfd, tfd, cfd, stop */
		int n = epoll_wait(s->epfd, ev, 4, -1), r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == VFU_STOP_TAG)
				return 0;
		r = handle_events(s, ev, n);
		if (r)
			return r;
	}
}

int irqlink_vfu_server_run(struct irqlink_vfu_server *s, int stop_fd)
{
	struct epoll_event sev = { .events = EPOLLIN,
				   .data.fd = VFU_STOP_TAG };
	int r;

	if (!s)
		return -EINVAL;
	/* In the epoll set while we run, so that one epoll_wait() per wake
	 * serves both, rather than a poll() of the set and then an
	 * epoll_wait() of it. */
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, stop_fd, &sev))
		return run_polling(s, stop_fd);
	r = run_epoll(s);
	(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	return r;
}

static int check_config(const struct irqlink_vfu_server_config *cfg)
{
	const struct irqlink_pci_ops *o = cfg->ops;

	if (!cfg->path || !o || !o->get_region_info || !o->region_read ||
	    !o->region_write || !o->get_irq_info || !o->set_irqs)
		return -EINVAL;
	if (cfg->flags & ~IRQLINK_VFU_REQUIRE_UID ||
	    cfg->max_msg_fds > IL_VFU_MAX_FDS)
		return -EINVAL;
	if (strlen(cfg->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -EINVAL;
	return 0;
}

static int listen_at(struct irqlink_vfu_server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	mode_t old;
	int r;

	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0)
		return -errno;
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	/* Created 0600 from the start: no window in which another user could
	 * connect before a chmod. umask is per process, so this is the one
	 * place the library touches process state, and it puts it back. */
	old = umask(0177);
	r = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (r == -EADDRINUSE)
		r = -EEXIST;
	if (r)
		return r;
	if (listen(s->lfd, 4)) {
		r = -errno;
		unlink(s->path);
		return r;
	}
	ev.data.fd = s->lfd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev)) {
		r = -errno;
		unlink(s->path);
		return r;
	}
	return 0;
}

int irqlink_vfu_server_create(const struct irqlink_vfu_server_config *cfg,
			      struct irqlink_vfu_server **out)
{
	struct epoll_event tev = { .events = EPOLLIN };
	struct irqlink_vfu_server *s;
	int r;

	if (!cfg || !out)
		return -EINVAL;
	r = check_config(cfg);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	memcpy(s->path, cfg->path, strlen(cfg->path) + 1);
	s->cfg.path = s->path;
	if (!s->cfg.max_msg_fds)
		s->cfg.max_msg_fds = VFU_DEFAULT_MAX_MSG_FDS;
	if (!s->cfg.max_dma_maps)
		s->cfg.max_dma_maps = IL_VFU_DEFAULT_MAX_DMA_MAPS;
	if (!s->cfg.max_data_xfer_size)
		s->cfg.max_data_xfer_size = IL_VFU_DEFAULT_MAX_DATA_XFER_SIZE;
	s->max_msg_size = (size_t)s->cfg.max_data_xfer_size + VFU_MSG_OVERHEAD;
	if (s->max_msg_size < VFU_MIN_MSG_SIZE)
		s->max_msg_size = VFU_MIN_MSG_SIZE;
	s->lfd = s->cfd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		r = -errno;
		goto fail;
	}
	r = il_vfu_dma_init(&s->dma, s->cfg.max_dma_maps);
	if (r)
		goto fail_dma;
	r = il_vfu_rx_init(&s->rx, s->max_msg_size, s->cfg.max_msg_fds);
	if (r)
		goto fail_rx;
	r = il_vfu_requests_init(s);
	if (r)
		goto fail_requests;
	s->reply = malloc(s->max_msg_size);
	if (!s->reply) {
		r = -ENOMEM;
		goto fail_reply;
	}
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->tfd < 0) {
		r = -errno;
		goto fail_timer;
	}
	tev.data.fd = s->tfd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &tev)) {
		r = -errno;
		goto fail_listen;
	}
	r = listen_at(s);
	if (r)
		goto fail_listen;
	*out = s;
	return 0;

fail_listen:
	if (s->lfd >= 0)
		close(s->lfd);
	close(s->tfd);
fail_timer:
	free(s->reply);
fail_reply:
	il_vfu_requests_fini(s);
fail_requests:
	il_vfu_rx_fini(&s->rx);
fail_rx:
	il_vfu_dma_fini(&s->dma);
fail_dma:
	close(s->epfd);
fail:
	free(s);
	return r;
}

void irqlink_vfu_server_destroy(struct irqlink_vfu_server *s)
{
	if (!s)
		return;
	close_client(s);
	close(s->lfd);
	close(s->tfd);
	unlink(s->path);
	close(s->epfd);
	il_vfu_requests_fini(s);
	il_vfu_rx_fini(&s->rx);
	il_vfu_dma_fini(&s->dma);
	free(s->reply);
	free(s);
}

int irqlink_vfu_server_dma_read(struct irqlink_vfu_server *s, uint64_t iova,
				void *buf, size_t len)
{
	int r;

	if (!s || (!buf && len))
		return -EINVAL;
	r = il_vfu_dma_access(&s->dma, iova, buf, len, false);
	return r == -EOPNOTSUPP ? il_vfu_request_dma(s, iova, buf, len, false)
				: r;
}

int irqlink_vfu_server_dma_write(struct irqlink_vfu_server *s, uint64_t iova,
				 const void *buf, size_t len)
{
	int r;

	if (!s || (!buf && len))
		return -EINVAL;
	r = il_vfu_dma_access(&s->dma, iova, (void *)buf, len, true);
	return r == -EOPNOTSUPP
		       ? il_vfu_request_dma(s, iova, (void *)buf, len, true)
		       : r;
}

int irqlink_vfu_server_fd(struct irqlink_vfu_server *s)
{
	return s ? s->epfd : -EINVAL;
}

bool irqlink_vfu_server_connected(struct irqlink_vfu_server *s)
{
	return s && s->cfd >= 0;
}

int irqlink_vfu_server_get_stats(struct irqlink_vfu_server *s,
				 struct irqlink_vfu_server_stats *st)
{
	if (!s || !st)
		return -EINVAL;
	pthread_mutex_lock(&s->req_lock);
	*st = s->st;
	pthread_mutex_unlock(&s->req_lock);
	return 0;
}
