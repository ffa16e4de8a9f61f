/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <irqlink/device.h>
#include <irqlink/vm.h>

#include "kvm_guest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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

/* ---- the hang watchdog ----------------------------------------------------
 *
 * meson kills a test that outlives its timeout with SIGTERM, and a killed
 * test says nothing about where it stood. With IRQLINK_TEST_WATCHDOG=<s>
 * (tests/meson.build sets it a little under each timeout), a thread of the
 * test's own prints every thread's stack through gdb when that time is up,
 * then aborts, so a hang in CI leaves its cause in the log. */
static void *watchdog(void *arg)
{
	unsigned int secs = (unsigned int)(uintptr_t)arg;
	struct timespec ts = { .tv_sec = secs };
	char pid[16];
	pid_t child;

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
	fprintf(stderr, "\nWATCHDOG: still running after %u s; every "
		"thread's stack follows, then abort()\n", secs);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	child = fork();
	if (child == 0) {
		sigset_t none;

		/* gdb needs the signals this thread blocks (SIGCHLD). */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)dup2(STDERR_FILENO, STDOUT_FILENO);
		execlp("gdb", "gdb", "-p", pid, "-batch", "-nx",
		       "-ex", "thread apply all bt", (char *)NULL);
		fprintf(stderr, "WATCHDOG: gdb: %s\n", strerror(errno));
		_exit(127);
	}
	if (child > 0) {
		/* Yama's ptrace_scope=1 lets only a named tracer attach. */
		(void)prctl(PR_SET_PTRACER, (unsigned long)child, 0, 0, 0);
		(void)waitpid(child, NULL, 0);
	}
	abort();
	return NULL;
}

__attribute__((constructor)) static void watchdog_start(void)
{
	const char *s = getenv("IRQLINK_TEST_WATCHDOG");
	unsigned long secs;
	pthread_attr_t a;
	pthread_t t;
	sigset_t all, old;

	if (!s || (secs = strtoul(s, NULL, 10)) == 0)
		return;
	/* The watchdog takes no signal meant for the test's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, watchdog, (void *)(uintptr_t)secs))
		fprintf(stderr, "WATCHDOG: not started\n");
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
