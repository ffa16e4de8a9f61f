/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's EOI self-test.
 *
 * Theory of operation: the guest's ISR for the probe vector counts the
 * interrupt but skips its LAPIC EOI write (kg_hold_eoi). On upstream KVM
 * the vector then stays in service and the pin's resampler has not run, so
 * the resamplefd is still 0 once the count shows the ISR ran; a KVM that
 * retires interrupts at injection has signalled it before the ISR even
 * started. The count becomes visible only after the ISR has run, so one
 * look at the resamplefd after it decides, with no timing guess. The guest
 * then writes the EOI it held, which lets upstream KVM finish the cycle
 * before the VM goes away.
 */
#include "vm_eoi_probe.h"

#include "kvm_guest.h"

#include <irqlink/irqfd.h>
#include <irqlink/vm.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PROBE_PIN    20u
#define PROBE_VECTOR 0x70u
#define PROBE_MS     2000

int vm_eoi_probe(bool *early, char *err, size_t errlen)
{
	struct irqlink_vm *vm = NULL;
	struct kg_guest *g = NULL;
	int efd = -1, rfd = -1, r;
	struct pollfd pfd;
	const char *what;

	what = "cannot create the probe VM";
	r = irqlink_vm_create(NULL, &vm);
	if (r)
		goto out;
	what = "cannot boot the probe guest";
	r = kg_create(irqlink_vm_fd(vm), &g);
	if (!r)
		r = kg_start(g);
	if (r)
		goto out;
	what = "eventfd";
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || rfd < 0) {
		r = -errno;
		goto out;
	}
	what = "cannot set up the probe interrupt";
	r = kg_program_ioapic(g, PROBE_PIN, PROBE_VECTOR, KG_LEVEL);
	if (!r)
		r = irqlink_irqfd_attach_level(vm, efd, rfd, PROBE_PIN);
	if (r)
		goto out;
	kg_hold_eoi(g, PROBE_VECTOR, true);
	what = "the probe interrupt did not arrive";
	if (eventfd_write(efd, 1)) {
		r = -errno;
		goto out;
	}
	r = kg_wait_count(g, PROBE_VECTOR, 1, PROBE_MS);
	if (r)
		goto out;
	pfd = (struct pollfd){ .fd = rfd, .events = POLLIN };
	*early = poll(&pfd, 1, 0) == 1;
	kg_hold_eoi(g, PROBE_VECTOR, false);
	what = "the probe guest did not answer";
	r = kg_eoi(g);
out:
	if (r && err && errlen)
		snprintf(err, errlen, "EOI self-test: %s: %s", what,
			 strerror(-r));
	if (vm && efd >= 0)
		(void)irqlink_irqfd_detach(vm, efd, PROBE_PIN);
	kg_destroy(g);
	irqlink_vm_destroy(vm);
	if (efd >= 0)
		close(efd);
	if (rfd >= 0)
		close(rfd);
	return r;
}

enum irqlink_eoi_policy vm_eoi_default(bool early)
{
	return early ? IRQLINK_EOI_BAR_ACCESS : IRQLINK_EOI_RESAMPLEFD;
}
