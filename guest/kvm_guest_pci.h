/* SPDX-License-Identifier: MIT */
/*
 * Host side of the test guest's PCI driver (guest/guest_pci.c): typed
 * wrappers around the extension's mailbox commands (guest/kg_ext.h) and a
 * view of its shared memory.
 *
 * The guest does the PCI work itself -- configuration cycles through ports
 * 0xCF8/0xCFC, BAR sizing, IOAPIC/MSI/MSI-X programming -- so each call
 * below causes the exits a real driver would (the VMM sees them through
 * kg_set_pio_handler() and kg_set_mmio_handler()). Every call is one
 * kg_mailbox() round trip and returns as it does (0, -ETIMEDOUT, -EIO,
 * -ESRCH), or -EINVAL when the guest refused the request (its result -1).
 */
#ifndef IRQLINK_KVM_GUEST_PCI_H
#define IRQLINK_KVM_GUEST_PCI_H

#include "kvm_guest.h"
#include "kg_ext.h"

/* The extension's shared memory (function table, INTx counters, run). */
volatile struct kg_ext *kg_ext(struct kg_guest *g);

/* Enumerate bus 0 and assign BARs from the default windows; *nfn (if not
 * NULL) gets the number of functions, described in kg_ext(g)->fn[]. */
int kg_pci_scan(struct kg_guest *g, unsigned int *nfn);

/* Guest config cycles to bus 0 function @bdf (dev << 3 | fn). */
int kg_pci_cfg_read(struct kg_guest *g, uint32_t bdf, uint32_t offset,
		    uint32_t size, uint32_t *value);
int kg_pci_cfg_write(struct kg_guest *g, uint32_t bdf, uint32_t offset,
		     uint32_t size, uint32_t value);

/* INTx of function @fn on IOAPIC @pin (KG_PCI_PIN_FROM_LINE: the
 * Interrupt Line register), level-triggered, @vector, handled by the
 * guest's INTx handler, which reads the 4-byte status register at
 * @status_gpa (0: none) and, if @ack_gpa is not 0, writes the status back
 * there. *pin_used (if not NULL) gets the pin. */
int kg_pci_intx(struct kg_guest *g, unsigned int fn, unsigned int vector,
		unsigned int pin, uint64_t status_gpa, uint64_t ack_gpa,
		unsigned int *pin_used);

/* MSI / MSI-X of function @fn: @count vectors from @vector (0 disables),
 * to APIC ID @dest; @masked starts every vector masked. */
int kg_pci_msi(struct kg_guest *g, unsigned int fn, unsigned int vector,
	       unsigned int count, unsigned int dest, bool masked);
int kg_pci_msix(struct kg_guest *g, unsigned int fn, unsigned int vector,
		unsigned int count, unsigned int dest, bool masked);
/* MSI-X with entries sharing vectors: entry i gets @vector + i % @span
 * (a table of up to 2048 entries on the 0x20-0xee vectors). */
int kg_pci_msix_shared(struct kg_guest *g, unsigned int fn,
		       unsigned int vector, unsigned int span,
		       unsigned int count, unsigned int dest, bool masked);

/* Set (@mask true) or clear a mask bit: @kind KG_PCI_KIND_MSI or
 * KG_PCI_KIND_MSIX, @vector the vector index, or KG_PCI_FUNCTION_MASK for
 * the MSI-X Function Mask. */
int kg_pci_mask(struct kg_guest *g, unsigned int fn, unsigned int kind,
		unsigned int vector, bool mask);

/* Run @req (struct kg_ext_run; its done/timed_out are ignored) in the
 * guest; waits while the guest makes progress, and gives up (-ETIMEDOUT)
 * when no interrupt arrives for the per-interrupt timeout plus
 * KG_TIMEOUT_MS. *done (if not NULL) gets the interrupts that
 * arrived; a guest-side timeout is not an error here (compare *done with
 * req->count). -EINVAL also when samples_gpa is set but count samples do
 * not fit in RAM from KG_FREE_GPA on. */
int kg_pci_run(struct kg_guest *g, const struct kg_ext_run *req,
	       uint32_t *done);

/* Have the guest halt until count[@vector] reaches @target, up to @ms
 * milliseconds (guest timer); *count gets the count it saw. */
int kg_guest_wait(struct kg_guest *g, unsigned int vector, uint64_t target,
		  unsigned int ms, uint64_t *count);

#endif
