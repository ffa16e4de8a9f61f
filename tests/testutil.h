/* SPDX-License-Identifier: MIT */
/* Helpers shared by the tests. */
#ifndef IRQLINK_TESTUTIL_H
#define IRQLINK_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* A fresh non-blocking eventfd; fails the test if it cannot be made. */
int tu_eventfd(void);

/* Read and reset an eventfd's counter: the number of signals since the last
 * read (0 if none). The fd must be non-blocking (tu_eventfd() makes it so). */
uint64_t tu_count(int efd);

/* Signal an eventfd once. */
void tu_signal(int efd);

/* Number of open fds in this process. */
int tu_open_fds(void);

struct irqlink_dev;

/* SET_IRQS in the kernel ioctl layout: the header followed by @len bytes
 * of @data (u8 per vector for BOOL, s32 per vector for EVENTFD), argsz
 * covering both. Returns irqlink_dev_set_irqs()'s result. */
int tu_set_irqs(struct irqlink_dev *dev, uint32_t flags, uint32_t index,
		uint32_t start, uint32_t count, const void *data, size_t len);

/* Run a cmocka group, then fail it if the process's open fd count changed
 * over the whole group: cmocka 1.1.5 exits 0 when a group teardown fails,
 * so that check cannot live in a teardown. */
#define tu_run_group(tests) \
	tu_group_fd_check(tu_open_fds(), cmocka_run_group_tests(tests, NULL, NULL))
int tu_group_fd_check(int fds_before, int result);

/* Sleep @ms milliseconds (a settle period; never a wait for an event:
 * waits poll for their condition with a timeout). */
void tu_sleep_ms(int ms);

struct irqlink_vm;
struct kg_guest;

/* A cmocka fixture: a VM with the full in-kernel irqchip made by
 * irqlink_vm_create() and the test guest booted on it. Teardown destroys
 * both and asserts the process has exactly the fds it had before setup. */
struct tu_guest_vm {
	int fds_before;
	struct irqlink_vm *vm;
	struct kg_guest *g;
};
int tu_guest_vm_setup(void **state);
int tu_guest_vm_teardown(void **state);

/* Exit code meson understands as "skipped". */
#define TU_SKIP 77

/* Returns 0 if /dev/kvm can be opened. Otherwise prints why and returns
 * TU_SKIP, or 1 (a failure) when IRQLINK_REQUIRE_KVM=1 is set. */
int tu_require_kvm(void);

#endif
