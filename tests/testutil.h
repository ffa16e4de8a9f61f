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

/* Exit code meson understands as "skipped". */
#define TU_SKIP 77

/* Returns 0 if /dev/kvm can be opened. Otherwise prints why and returns
 * TU_SKIP, or 1 (a failure) when IRQLINK_REQUIRE_KVM=1 is set. */
int tu_require_kvm(void);

#endif
