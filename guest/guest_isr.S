/* SPDX-License-Identifier: MIT */
/*
 * The INTx interrupt handler of the test guest's PCI driver.
 *
 * Theory of operation. KG_CMD_PCI_INTX points the IDT gate of the INTx
 * vector here instead of at the generic counting stub (guest.S). Like that
 * stub it timestamps entry with rdtsc first and logs vector and timestamp;
 * then it does what a driver's handler for a level-triggered, possibly
 * shared line does: read the device's status register (an MMIO exit to the
 * VMM), and if an interrupt is flagged, write the status back to the ack
 * register (W1C: the device drops its line). A status of 0 is an interrupt
 * this device did not raise (spurious) and is counted as such. Then EOI.
 *
 * After the EOI it writes KG_PORT_INTX_EOI: one more exit, so the VMM can
 * process the device's INTx unmask at the point where the guest is really
 * done. On upstream KVM the resamplefd fires at the guest's EOI write, so
 * that is the same point. kvm_pvm retires a level interrupt when it
 * injects it -- EOI broadcast and resamplefd signal happen before this
 * handler runs (tests/test_kvm_guest.c, test_eoi_model) -- so a device
 * unmask taken straight from the resamplefd would race the status ack
 * below and re-fire a line that is about to drop. The VMM therefore takes
 * the unmask from the resamplefd only when this port says the handler is
 * through (tools/vm_intx.c).
 *
 * The per-vector count is bumped last, after the port exit has been
 * handled: a host that sees count N also sees the Nth unmask processed.
 * Ring 0 is emulated instruction by instruction on kvm_pvm, so this stays
 * short: three MMIO/port exits and about twenty-five instructions.
 */
#include "kg_ext.h"

#define SH(off) KG_SHARED_GPA+off
#define EXT(off) KG_SHARED_GPA+KG_SH_EXT+off

	.code64
	.section .text.isr, "ax"
	.balign 16
	.globl kg_intx_isr
kg_intx_isr:
	pushq	%rax
	pushq	%rdx
	pushq	%rcx
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movl	EXT(KG_EXT_INTX_VECTOR), %ecx
	movq	%rax, SH(KG_SH_LAST_TSC)(,%rcx,8)
	movl	SH(KG_SH_RING_HEAD), %edx
	andl	$(KG_RING_SIZE-1), %edx
	shll	$4, %edx
	movq	%rcx, SH(KG_SH_RING)(%rdx)
	movq	%rax, SH(KG_SH_RING)+8(%rdx)
	incl	SH(KG_SH_RING_HEAD)

	movq	EXT(KG_EXT_INTX_STATUS_GPA), %rdx
	testq	%rdx, %rdx
	jz	3f
	movl	(%rdx), %eax
	movl	%eax, EXT(KG_EXT_INTX_LAST_STATUS)
	testl	%eax, %eax
	jz	2f
	incq	EXT(KG_EXT_INTX_CLAIMED)
	movq	EXT(KG_EXT_INTX_ACK_GPA), %rdx
	testq	%rdx, %rdx
	jz	3f
	movl	%eax, (%rdx)
	jmp	3f
2:	incq	EXT(KG_EXT_INTX_SPURIOUS)
3:	movl	$KG_LAPIC_GPA, %edx
	movl	$0, 0xb0(%rdx)
	movw	$KG_PORT_INTX_EOI, %dx
	outb	%al, %dx
	incq	SH(KG_SH_COUNT)(,%rcx,8)
	popq	%rcx
	popq	%rdx
	popq	%rax
	iretq

	.section .note.GNU-stack, "", @progbits
