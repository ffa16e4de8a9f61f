/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's EOI self-test: does this KVM signal a level irqfd's
 * resamplefd before the guest's interrupt handler has run (vm_eoi_probe.c)?
 * Internal to irqlink-vm and its tests.
 */
#ifndef IRQLINK_TOOLS_VM_EOI_PROBE_H
#define IRQLINK_TOOLS_VM_EOI_PROBE_H

#include <irqlink/eoi.h>

#include <stdbool.h>
#include <stddef.h>

/*
 * Boot a throwaway VM with the test guest, take one level interrupt whose
 * EOI the guest holds back, and look at the resamplefd. *@early gets true
 * when KVM had already signalled it (the EOI happened at injection, as on
 * kvm_pvm), false when it waits for the guest's EOI (upstream KVM).
 * Takes a few milliseconds. Returns 0, or -errno with a reason in @err.
 */
int vm_eoi_probe(bool *early, char *err, size_t errlen);

/* The EOI policy irqlink-vm picks for that answer: RESAMPLEFD where the
 * resamplefd means "the guest is done", BAR_ACCESS where it does not. */
enum irqlink_eoi_policy vm_eoi_default(bool early);

#endif
