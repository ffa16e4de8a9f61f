/* SPDX-License-Identifier: MIT */
/*
 * irqlink's KVM test guest: a few hundred instructions that count the
 * interrupts a real vCPU receives.
 *
 * Theory of operation. The harness (guest/kvm_guest.c) loads this image at
 * KG_IMAGE_GPA and enters it already in 64-bit long mode (CR0/CR4/EFER/CR3
 * and the hidden segment state come from KVM_SET_SREGS, the identity page
 * tables are built by the host). The guest makes that state its own (GDT, CS
 * reload, TSS, IDT), quiets the legacy PIC, enables the LAPIC, reports ready
 * and then idles in `sti; hlt`. On the kvm_pvm module every ring-0
 * instruction is emulated (~0.5-1 us each), so the interrupt path is kept to
 * about twenty instructions: each vector has its own inline stub, so the
 * vector is an immediate rather than something to load and index with.
 *
 * An ISR timestamps entry with rdtsc before anything else, records the
 * timestamp (per vector and in a small ring), then bumps the per-vector
 * count LAST: a host that sees count reach N also sees that interrupt's
 * timestamps (x86 stores are ordered). It then EOIs the LAPIC unless the
 * host set hold_eoi[vector], which on upstream KVM keeps the vector in
 * service until the host sends KG_CMD_EOI. (kvm_pvm retires an interrupt
 * when it injects it, so there the EOI write is redundant and holding it
 * has no effect; see test_eoi_model in tests/test_kvm_guest.c.)
 *
 * Between interrupts the idle loop checks the mailbox with interrupts off
 * and halts with `sti; hlt` (the sti shadow covers the hlt, so a wakeup
 * cannot slip in between the check and the halt). The host posts a command
 * by writing it and bumping seq, then sends KG_WAKE_VECTOR; the guest runs
 * the command and copies seq to ack.
 *
 * Commands from KG_CMD_EXT_FIRST on go to the C extension (guest_pci.c:
 * a small PCI driver), called from the mailbox loop. vCPUs other than 0
 * enter at _start too, with their index in %rdi, and after the shared
 * setup only enable their LAPIC and idle (ap_start).
 *
 * CPU exceptions are not recovered from: the stub stores vector, error
 * code, RIP and CR2 in the shared page and writes KG_PORT_EXCEPTION, which
 * ends the harness's KVM_RUN loop.
 *
 * Shared-page and MMIO addresses are used as absolute 32-bit displacements
 * only when they are below 2 GiB; the LAPIC and IOAPIC (above 2 GiB) are
 * always reached through a register, because a 32-bit absolute displacement
 * is sign-extended in 64-bit mode.
 */
#include "kg_abi.h"

#define SH(off) KG_SHARED_GPA+off

	.code64
	.section .text.entry, "ax"
	.globl _start
_start:
	lgdt	gdt_desc(%rip)
	/* Reload CS from our own GDT: a far return is the 64-bit way. */
	pushq	$0x08
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	/* vCPUs other than 0 enter with their index in %rdi (kvm_guest.c). */
	testl	%edi, %edi
	jnz	ap_start
	movq	$KG_STACK_TOP, KG_TSS_GPA+4	/* TSS.rsp0, for a later ring 3 */
	movl	$0x28, %eax
	ltr	%ax

	/* Build the IDT: 256 interrupt gates (type 0x8e, selector 0x08). RAM
	 * starts zeroed, so offset[63:32] and the reserved dword stay 0. */
	leaq	isr_table(%rip), %rsi
	movl	$KG_IDT_GPA, %edi
	xorl	%ecx, %ecx
2:	movq	(%rsi,%rcx,8), %rax
	movw	%ax, (%rdi)
	movl	$0x8e000008, %edx	/* selector 0x08, attributes 0x8e00 */
	movl	%edx, 2(%rdi)
	shrl	$16, %eax
	movw	%ax, 6(%rdi)
	addl	$16, %edi
	incl	%ecx
	cmpl	$256, %ecx
	jne	2b
	lidt	idt_desc(%rip)

	/* Mask both 8259s: every interrupt comes through the IOAPIC or MSI. */
	movb	$0xff, %al
	outb	%al, $0x21
	outb	%al, $0xa1

	/* LAPIC: software-enable (spurious vector 0xff), accept every
	 * priority, mask LINT0/LINT1. */
	movl	$KG_LAPIC_GPA, %edi
	movl	$0x1ff, 0xf0(%rdi)
	movl	$0, 0x80(%rdi)
	movl	$0x10000, 0x350(%rdi)
	movl	$0x10000, 0x360(%rdi)

	movl	$1, SH(KG_SH_READY)
	movw	$KG_PORT_READY, %dx
	outb	%al, %dx

idle:
	cli
	movl	SH(KG_SH_MB_SEQ), %eax
	cmpl	SH(KG_SH_MB_ACK), %eax
	jne	mailbox
	sti
	hlt
	jmp	idle

/* A command is pending; %eax holds the seq to acknowledge. Interrupts are
 * off while it runs and are taken at the next `sti`. */
mailbox:
	movl	%eax, %ebx
	movq	$0, SH(KG_SH_MB_RESULT)
	movl	SH(KG_SH_MB_CMD), %ecx
	movq	SH(KG_SH_MB_ARG0), %rdi
	movq	SH(KG_SH_MB_ARG1), %rsi
	movq	SH(KG_SH_MB_ARG2), %rdx
	cmpl	$KG_CMD_IOAPIC, %ecx
	je	cmd_ioapic
	cmpl	$KG_CMD_WRITE, %ecx
	je	cmd_write
	cmpl	$KG_CMD_READ, %ecx
	je	cmd_read
	cmpl	$KG_CMD_EOI, %ecx
	je	cmd_eoi
	cmpl	$KG_CMD_UD2, %ecx
	je	cmd_ud2
	cmpl	$KG_CMD_SPIN, %ecx
	je	cmd_spin
	cmpl	$KG_CMD_NOP, %ecx
	je	mb_done
	/* The C extension (guest_pci.c) takes the rest, unknown ones included:
	 * kg_ext_command(arg0, arg1, arg2, cmd) returns the result word.
	 * %ebx (the seq) is callee-saved; the stack is 16-byte aligned. */
	cmpl	$KG_CMD_EXT_FIRST, %ecx
	jb	mb_bad
	call	kg_ext_command
	movq	%rax, SH(KG_SH_MB_RESULT)
	jmp	mb_done
mb_bad:
	movq	$-1, SH(KG_SH_MB_RESULT)
mb_done:
	movl	%ebx, SH(KG_SH_MB_ACK)
	jmp	idle

/* Redirection entry n is IOAPIC register 0x10+2n (low) / 0x11+2n (high).
 * The high dword (destination) goes first so the entry is never live with
 * a stale destination; the low dword carries the mask bit. */
cmd_ioapic:
	movl	$KG_IOAPIC_GPA, %r8d
	leal	0x11(%rdi,%rdi), %eax
	movl	%eax, (%r8)
	movl	%edx, 0x10(%r8)
	decl	%eax
	movl	%eax, (%r8)
	movl	%esi, 0x10(%r8)
	jmp	mb_done

cmd_write:
	cmpl	$8, %edx
	je	3f
	cmpl	$4, %edx
	je	4f
	cmpl	$2, %edx
	je	5f
	cmpl	$1, %edx
	jne	mb_bad
	movb	%sil, (%rdi)
	jmp	mb_done
3:	movq	%rsi, (%rdi)
	jmp	mb_done
4:	movl	%esi, (%rdi)
	jmp	mb_done
5:	movw	%si, (%rdi)
	jmp	mb_done

cmd_read:
	cmpl	$8, %edx
	je	3f
	cmpl	$4, %edx
	je	4f
	cmpl	$2, %edx
	je	5f
	cmpl	$1, %edx
	jne	mb_bad
	movzbl	(%rdi), %eax
	jmp	6f
3:	movq	(%rdi), %rax
	jmp	6f
4:	movl	(%rdi), %eax
	jmp	6f
5:	movzwl	(%rdi), %eax
6:	movq	%rax, SH(KG_SH_MB_RESULT)
	jmp	mb_done

cmd_eoi:
	movl	$KG_LAPIC_GPA, %r8d
	movl	$0, 0xb0(%r8)
	jmp	mb_done

cmd_ud2:
	ud2

/* Ack first (the host's kg_spin_start() returns), then iretq to ring 3
 * with IF set. The ring-0 frames on this stack are abandoned: ring 3
 * comes back only through spin_exit's #UD, which restarts the idle loop
 * on a fresh stack. Interrupts taken in ring 3 enter on TSS.rsp0, the
 * same stack top, and return to the spin. */
cmd_spin:
	movl	$1, SH(KG_SH_SPINNING)
	movl	%ebx, SH(KG_SH_MB_ACK)
	movl	$0x1b, %eax
	movl	%eax, %ds
	movl	%eax, %es
	pushq	$0x1b			/* SS: ring-3 data */
	pushq	$KG_USER_STACK_TOP
	pushq	$0x202			/* RFLAGS: IF */
	pushq	$0x23			/* CS: ring-3 code */
	leaq	user_spin(%rip), %rax
	pushq	%rax
	iretq

/* Ring 3: native speed on kvm_pvm. `ud2` is the only way back (in/out
 * and `int n` fault differently from ring 3), recognised by its RIP. */
user_spin:
	incq	SH(KG_SH_SPIN_LOOPS)
	pause
	cmpl	$0, SH(KG_SH_SPIN_STOP)
	je	user_spin
spin_exit:
	ud2

/* vCPUs 1..: the BSP built the IDT before the host started us. Enable our
 * own LAPIC as the BSP did, report in, then only take interrupts. */
ap_start:
	lidt	idt_desc(%rip)
	movl	$KG_LAPIC_GPA, %r8d
	movl	$0x1ff, 0xf0(%r8)
	movl	$0, 0x80(%r8)
	movl	$0x10000, 0x350(%r8)
	movl	$0x10000, 0x360(%r8)
	lock incl	SH(KG_SH_AP_READY)
ap_idle:
	sti
	hlt
	jmp	ap_idle

/* ---- Exceptions (vectors 0-31): report and stop ----------------------- */

/* Stack on entry: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
exc_common:
	cmpq	$6, (%rsp)
	jne	1f
	leaq	spin_exit(%rip), %rax
	cmpq	%rax, 16(%rsp)
	jne	1f
	/* The ring-3 spin asked to come home: back to the idle loop, on a
	 * fresh ring-0 stack with our own data segments. */
	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movq	$KG_STACK_TOP, %rsp
	movl	$0, SH(KG_SH_SPINNING)
	jmp	idle
1:	movq	(%rsp), %rax
	movq	%rax, SH(KG_SH_EXC_VECTOR)
	movq	8(%rsp), %rax
	movq	%rax, SH(KG_SH_EXC_ERROR)
	movq	16(%rsp), %rax
	movq	%rax, SH(KG_SH_EXC_RIP)
	movq	%cr2, %rax
	movq	%rax, SH(KG_SH_EXC_CR2)
	movl	$1, SH(KG_SH_EXC_VALID)
	movw	$KG_PORT_EXCEPTION, %dx
	outb	%al, %dx
2:	cli
	hlt
	jmp	2b

/* Vectors that push an error code themselves; the others push a 0 so the
 * frame has one layout. */
.macro EXC vec
	.balign 16
1:
	.if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
	jmp	exc_common
	.pushsection .rodata.isr_table, "a"
	.quad	1b
	.popsection
.endm

/* ---- Interrupts (vectors 32-255) ------------------------------------- */

.macro ISR vec
	.balign 16
1:
	pushq	%rax
	pushq	%rdx
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, SH(KG_SH_LAST_TSC)+8*\vec
	movl	SH(KG_SH_RING_HEAD), %edx
	andl	$(KG_RING_SIZE-1), %edx
	shll	$4, %edx
	movq	$\vec, SH(KG_SH_RING)(%rdx)
	movq	%rax, SH(KG_SH_RING)+8(%rdx)
	incl	SH(KG_SH_RING_HEAD)
	incq	SH(KG_SH_COUNT)+8*\vec
	/* 0xff is the LAPIC's spurious vector: it is not in service, and an
	 * EOI would retire some other (possibly held) vector. */
	.if \vec != 0xff
	cmpb	$0, SH(KG_SH_HOLD)+\vec
	jne	2f
	movl	$KG_LAPIC_GPA, %edx
	movl	$0, 0xb0(%rdx)
2:
	.endif
	popq	%rdx
	popq	%rax
	iretq
	.pushsection .rodata.isr_table, "a"
	.quad	1b
	.popsection
.endm

	.section .text.isr, "ax"
	.pushsection .rodata.isr_table, "a"
	.balign 8
isr_table:
	.popsection
	.altmacro
	.set	vec, 0
	.rept	32
	EXC	%vec
	.set	vec, vec+1
	.endr
	.rept	224
	ISR	%vec
	.set	vec, vec+1
	.endr
	.noaltmacro

/* ---- Descriptor tables ------------------------------------------------ */

	.section .rodata
	.balign 16
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08 ring-0 code, L=1 */
	.quad	0x00cf92000000ffff	/* 0x10 ring-0 data */
	.quad	0x00cff2000000ffff	/* 0x18 ring-3 data */
	.quad	0x00affa000000ffff	/* 0x20 ring-3 code, L=1 */
	/* 0x28 64-bit TSS (type 9, present), limit 0x67, base KG_TSS_GPA */
	.quad	0x67 | ((KG_TSS_GPA & 0xffffff) << 16) | (0x89 << 40) | (((KG_TSS_GPA >> 24) & 0xff) << 56)
	.quad	0
gdt_end:
	.balign 8
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt
	.balign 8
idt_desc:
	.word	256 * 16 - 1
	.quad	KG_IDT_GPA

	.section .note.GNU-stack, "", @progbits
