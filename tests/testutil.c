/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <irqlink/device.h>
#include <irqlink/vm.h>

#include "kvm_guest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int tu_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

uint64_t tu_count(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v)) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return v;
}

void tu_signal(int efd)
{
	uint64_t one = 1;

	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
}

int tu_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

int tu_require_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	const char *req = getenv("IRQLINK_REQUIRE_KVM");

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (req && strcmp(req, "1") == 0) {
		fprintf(stderr, "FAIL: /dev/kvm: %s (IRQLINK_REQUIRE_KVM=1)\n",
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "SKIP: /dev/kvm: %s\n", strerror(errno));
	return TU_SKIP;
}

int tu_set_irqs(struct irqlink_dev *dev, uint32_t flags, uint32_t index,
		uint32_t start, uint32_t count, const void *data, size_t len)
{
	struct vfio_irq_set *s = calloc(1, sizeof(*s) + len);
	int r;

	assert_non_null(s);
	s->argsz = (uint32_t)(sizeof(*s) + len);
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (len)
		memcpy(s->data, data, len);
	r = irqlink_dev_set_irqs(dev, s);
	free(s);
	return r;
}

int tu_group_fd_check(int fds_before, int result)
{
	int after = tu_open_fds();

	if (after != fds_before) {
		fprintf(stderr, "fd leak over the group: %d -> %d\n",
			fds_before, after);
		return result ? result : 1;
	}
	return result;
}

void tu_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int tu_guest_vm_setup(void **state)
{
	struct tu_guest_vm *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = tu_open_fds();
	assert_int_equal(irqlink_vm_create(NULL, &f->vm), 0);
	assert_int_equal(kg_create(irqlink_vm_fd(f->vm), &f->g), 0);
	assert_int_equal(kg_start(f->g), 0);
	*state = f;
	return 0;
}

int tu_guest_vm_teardown(void **state)
{
	struct tu_guest_vm *f = *state;

	kg_destroy(f->g);
	irqlink_vm_destroy(f->vm);
	assert_int_equal(tu_open_fds(), f->fds_before);
	free(f);
	return 0;
}
