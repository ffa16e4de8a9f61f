/* SPDX-License-Identifier: MIT */
/*
 * The unmask watcher: what the kernel's virqfd does for vfio, in user space.
 *
 * Theory of operation: a KVM resampling irqfd signals its resamplefd when
 * the guest EOIs a level interrupt; registered as the INTx unmask eventfd,
 * each signal must unmask the device. The model keeps those fds in an epoll
 * set of its own. Events carry a token rather than an fd number, because fd
 * numbers are reused: when an unmask fd is removed after epoll_wait returned
 * but before the event is handled, the token no longer matches and the
 * event is dropped instead of reading a closed (or recycled) fd.
 *
 * The epoll fd is pollable, so a caller can drive the watcher from its own
 * loop; or the model runs one thread per device that blocks in epoll_wait
 * and is stopped through a private eventfd (token 0).
 */
#include "device_internal.h"
#include "eventfd.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define STOP_TOKEN 0
#define MAX_EVENTS 8

int il_watcher_init(struct irqlink_dev *dev)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = STOP_TOKEN };

	dev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dev->epfd < 0)
		return -errno;
	dev->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->stopfd < 0 ||
	    epoll_ctl(dev->epfd, EPOLL_CTL_ADD, dev->stopfd, &ev) < 0) {
		int r = -errno;

		if (dev->stopfd >= 0)
			close(dev->stopfd);
		close(dev->epfd);
		dev->epfd = dev->stopfd = -1;
		return r;
	}
	return 0;
}

void il_watcher_fini(struct irqlink_dev *dev)
{
	irqlink_dev_watcher_stop(dev);
	if (dev->stopfd >= 0)
		close(dev->stopfd);
	if (dev->epfd >= 0)
		close(dev->epfd);
}

int il_watcher_add(struct irqlink_dev *dev, int fd, uint64_t token)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };

	return epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void il_watcher_del(struct irqlink_dev *dev, int fd)
{
	/* Cannot fail for an fd we added and still hold open. */
	epoll_ctl(dev->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int irqlink_dev_poll_fd(struct irqlink_dev *dev)
{
	return dev->epfd;
}

/* Handle up to MAX_EVENTS ready events. Returns unmasks done, or -errno;
 * *stop is set when the stop eventfd fired. */
static int dispatch(struct irqlink_dev *dev, int timeout_ms, bool *stop)
{
	struct epoll_event ev[MAX_EVENTS];
	int n, i, done = 0;

	n = epoll_wait(dev->epfd, ev, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (ev[i].data.u64 == STOP_TOKEN)
			*stop = true;
		else
			done += il_intx_unmask_event(dev, ev[i].data.u64);
	}
	return done;
}

int irqlink_dev_dispatch(struct irqlink_dev *dev)
{
	bool stop = false;
	int total = 0, r;

	/* Loop until nothing is ready, so one readable poll fd is one call. */
	do {
		r = dispatch(dev, 0, &stop);
		if (r < 0)
			return r;
		total += r;
	} while (r > 0);
	return total;
}

static void *watcher_main(void *arg)
{
	struct irqlink_dev *dev = arg;
	bool stop = false;

	while (!stop) {
		if (dispatch(dev, -1, &stop) < 0)
			break; /* only EBADF/EINVAL: the epoll fd is gone */
	}
	return NULL;
}

int irqlink_dev_watcher_start(struct irqlink_dev *dev)
{
	int r;

	pthread_mutex_lock(&dev->ctl);
	if (dev->thread_running) {
		pthread_mutex_unlock(&dev->ctl);
		return -EALREADY;
	}
	r = -pthread_create(&dev->thread, NULL, watcher_main, dev);
	dev->thread_running = r == 0;
	pthread_mutex_unlock(&dev->ctl);
	return r;
}

int irqlink_dev_watcher_stop(struct irqlink_dev *dev)
{
	pthread_t t;

	pthread_mutex_lock(&dev->ctl);
	if (!dev->thread_running) {
		pthread_mutex_unlock(&dev->ctl);
		return -ENOENT;
	}
	dev->thread_running = false;
	t = dev->thread;
	il_eventfd_signal(dev->stopfd);
	pthread_mutex_unlock(&dev->ctl);
	/* Joined without ctl held: the watcher never takes ctl, but the
	 * caller's other control calls should not wait behind the join. */
	pthread_join(t, NULL);
	/* Leave the poll fd quiet for a caller who drives dispatch itself. */
	uint64_t v;
	il_eventfd_take(dev->stopfd, &v);
	return 0;
}
