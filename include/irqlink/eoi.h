/* SPDX-License-Identifier: MIT */
/*
 * INTx EOI policies and delivery modes: how a VMM learns that the guest is
 * done with a level interrupt (so the device may be unmasked), and whether
 * interrupts are delivered in the kernel or by the relay. The PCI glue
 * (<irqlink/pci.h>) applies them; the VMM chooses.
 *
 * Theory of operation
 * -------------------
 * A level INTx automasks when it fires (rule 9, docs/SEMANTICS.md): the device stays
 * masked until somebody unmasks it, and unmasking a line that is still
 * asserted fires it again. The unmask must therefore come after the guest's
 * handler has lowered the line, and every policy is a way to know when:
 *
 *   RESAMPLEFD  KVM's resampling irqfd signals its resamplefd when the
 *               guest EOIs the pin; that eventfd is the device's INTx
 *               unmask eventfd, so no process takes part in an INTx cycle.
 *               Right on upstream KVM, where the EOI is the guest's write
 *               after its handler. On a KVM that retires an interrupt when
 *               it injects it (kvm_pvm here), the resamplefd fires before
 *               the handler runs, the device unmasks with its line still
 *               up and fires again: an extra interrupt per assertion, now
 *               and then. Works with KERNEL, AUTO and RELAY delivery (the
 *               relay path still uses KVM's resampler).
 *   BAR_ACCESS  QEMU's path without in-kernel delivery: the relay
 *               receives the device's trigger and injects the INTx, and the
 *               device stays masked until the VMM infers the
 *               acknowledgement from the guest's BAR accesses: the first
 *               access after which the device's line is no longer
 *               asserted. While one is pending every guest access to the
 *               device must trap, so the doorbell ioeventfds are removed
 *               (and come back once INTx has been quiet). If no
 *               acknowledgement comes within the ack timeout the device is
 *               unmasked anyway (counted: the only timer-driven unmask,
 *               and a sign of a misbehaving guest). Right for any
 *               unmodified guest on any KVM. The injection is the relay's,
 *               so the INTx is relayed under AUTO and RELAY delivery;
 *               KERNEL delivery refuses this policy.
 *   GUEST_PORT  the guest reports the end of its handler (irqlink-vm's
 *               test guest writes an I/O port) and the VMM unmasks then.
 *               Exact, but only for a guest that knows the port. Any
 *               delivery.
 *
 * Delivery modes:
 *   AUTO    every interrupt goes through a consumer (<irqlink/consumer.h>)
 *           and the bypass manager decides: in-kernel while the device's
 *           producer is paired with it, the relay otherwise;
 *   KERNEL  as AUTO, but an interrupt that cannot be delivered in-kernel is
 *           an error the VMM sees, not a silent fallback;
 *   RELAY   the relay delivers everything (consumers forced to relay).
 */
#ifndef IRQLINK_EOI_H
#define IRQLINK_EOI_H

#ifdef __cplusplus
extern "C" {
#endif

enum irqlink_eoi_policy {
	IRQLINK_EOI_RESAMPLEFD = 0,
	IRQLINK_EOI_BAR_ACCESS,
	IRQLINK_EOI_GUEST_PORT,
};

enum irqlink_delivery {
	IRQLINK_DELIVERY_AUTO = 0,
	IRQLINK_DELIVERY_KERNEL,
	IRQLINK_DELIVERY_RELAY,
};

/* irqlink_eoi_policy_name / irqlink_delivery_name - the policy's or mode's
 * name as the tools spell it ("resamplefd", "bar-access", "guest-port";
 * "auto", "kernel", "relay"); NULL for an unknown value. */
const char *irqlink_eoi_policy_name(enum irqlink_eoi_policy policy);
const char *irqlink_delivery_name(enum irqlink_delivery delivery);

/* irqlink_eoi_policy_parse / irqlink_delivery_parse - the reverse. Return
 * 0 and *@out, or -EINVAL for an unknown name (or NULL). */
int irqlink_eoi_policy_parse(const char *name, enum irqlink_eoi_policy *out);
int irqlink_delivery_parse(const char *name, enum irqlink_delivery *out);

/*
 * irqlink_eoi_check - whether @policy can work with @delivery. Returns 0,
 * or -EINVAL for an unknown value or a combination that cannot work
 * (BAR_ACCESS needs the relay to inject INTx, so not with KERNEL);
 * *@why, if not NULL, then points at a sentence that says why (and is NULL
 * on success).
 */
int irqlink_eoi_check(enum irqlink_eoi_policy policy,
		      enum irqlink_delivery delivery, const char **why);

#ifdef __cplusplus
}
#endif

#endif
