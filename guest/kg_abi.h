/* SPDX-License-Identifier: MIT */
/*
 * The contract between the KVM test guest (guest/guest.S) and its
 * harness (guest/kvm_guest.c): guest-physical memory map, the layout of the
 * shared page, mailbox commands and the I/O ports the guest reports on.
 *
 * Plain #defines only: this header is included by the guest's assembly as
 * well as by C. guest/kvm_guest.h mirrors the shared page as a struct and
 * static-asserts every offset below.
 */
#ifndef IRQLINK_KG_ABI_H
#define IRQLINK_KG_ABI_H

/* ---- Guest-physical memory map (one RAM slot at GPA 0, 2 MiB) ---------- */
#define KG_RAM_SIZE        0x200000  /* 2 MiB of RAM, memslot 0 at GPA 0 */
#define KG_SHARED_GPA      0x1000    /* shared page(s): see offsets below */
#define KG_SHARED_SIZE     0x4000    /* 0x1000-0x4fff */
#define KG_PML4_GPA        0x8000    /* host-built identity page tables: */
#define KG_PDPT_GPA        0x9000    /*   PML4, one PDPT, */
#define KG_PD_GPA          0xa000    /*   four PDs (0xa000-0xdfff), 2 MiB pages */
#define KG_TSS_GPA         0xe000    /* 64-bit TSS (guest fills rsp0) */
#define KG_IDT_GPA         0xf000    /* 256 16-byte gates, built by the guest */
#define KG_IMAGE_GPA       0x10000   /* guest image load address and entry */
#define KG_IMAGE_MAX       0x50000   /* image must end below 0x60000 */
#define KG_STACK_TOP       0x80000   /* ring-0 stack grows down from here */
#define KG_USER_STACK_TOP  0x62000   /* ring-3 stack (below the APs' stacks) */
#define KG_FREE_GPA        0x100000  /* 0x100000-0x1fffff: free for tests */

/* vCPUs 1.. (APs, kg_create_opts()) each get an 8 KiB stack below the
 * BSP's 64 KiB. */
#define KG_MAX_VCPUS       8
#define KG_AP_STACK_TOP(n) (KG_STACK_TOP - 0x10000 - ((n) - 1) * 0x2000)

#define KG_LAPIC_GPA       0xfee00000
#define KG_IOAPIC_GPA      0xfec00000

/* ---- Shared page offsets (from KG_SHARED_GPA) ------------------------- */
#define KG_SH_COUNT        0x0000    /* u64 count[256]: ISR entries per vector */
#define KG_SH_LAST_TSC     0x0800    /* u64 last_tsc[256]: rdtsc at last ISR entry */
#define KG_SH_HOLD         0x1000    /* u8 hold_eoi[256]: nonzero = ISR skips EOI */
#define KG_SH_READY        0x1100    /* u32: 1 once setup is done */
#define KG_SH_RING_HEAD    0x1104    /* u32: entries ever written to ring */
#define KG_SH_EXC_VALID    0x1108    /* u32: 1 once an exception was taken */
#define KG_SH_EXC_VECTOR   0x1110    /* u64 */
#define KG_SH_EXC_ERROR    0x1118    /* u64 error code (0 if none) */
#define KG_SH_EXC_RIP      0x1120    /* u64 */
#define KG_SH_EXC_CR2      0x1128    /* u64 */
#define KG_SH_SPIN_STOP    0x1130    /* u32 host: nonzero = leave the ring-3 spin */
#define KG_SH_SPINNING     0x1134    /* u32 guest: 1 while in the ring-3 spin */
#define KG_SH_SPIN_LOOPS   0x1138    /* u64 guest: ring-3 spin iterations */
#define KG_SH_MB_SEQ       0x1140    /* u32 host: bumped to post a command */
#define KG_SH_MB_ACK       0x1144    /* u32 guest: = seq once it is done */
#define KG_SH_MB_CMD       0x1148    /* u32 */
#define KG_SH_MB_ARG0      0x1150    /* u64 */
#define KG_SH_MB_ARG1      0x1158    /* u64 */
#define KG_SH_MB_ARG2      0x1160    /* u64 */
#define KG_SH_MB_RESULT    0x1168    /* u64 */
#define KG_SH_RING         0x2000    /* {u64 vector, u64 tsc} ring[KG_RING_SIZE] */
#define KG_RING_SIZE       256
/* 0x3000-0x4fff: extensions (guest/kg_ext.h) */
#define KG_SH_AP_READY     0x3000    /* u32: APs that finished their setup */
#define KG_SH_EXT          0x3040    /* struct kg_ext, see guest/kg_ext.h */

/* ---- Mailbox commands ------------------------------------------------- */
#define KG_CMD_NOP         0  /* just ack */
#define KG_CMD_IOAPIC      1  /* arg0 pin, arg1 redirection low dword, arg2 high dword */
#define KG_CMD_WRITE       2  /* arg0 address, arg1 value, arg2 size 1/2/4/8 */
#define KG_CMD_READ        3  /* arg0 address, arg2 size 1/2/4/8 -> result */
#define KG_CMD_EOI         4  /* write the LAPIC EOI register once */
#define KG_CMD_UD2         5  /* execute ud2 (raises #UD, never acks) */
/* Ack, then spin in ring 3 with interrupts on until the host sets
 * spin_stop; the guest then returns to its ring-0 idle loop and mailbox.
 * Ring 3 runs natively on kvm_pvm, so a vCPU spinning there takes an
 * interrupt without the wake-up of a halted one. */
#define KG_CMD_SPIN        6
/* Commands from KG_CMD_EXT_FIRST on are run by the guest's C extension
 * (guest/kg_ext.h lists them); unknown ones still answer -1. */
#define KG_CMD_EXT_FIRST   16

/* Vector the host sends (KVM_SIGNAL_MSI) to wake the guest for a command.
 * It is above every vector a test may hold without EOI (< 0xf0), so the
 * LAPIC delivers it even while such a vector is in service. */
#define KG_WAKE_VECTOR     0xfe

/* ---- I/O ports the guest writes (ring 0 `out`, seen as KVM_EXIT_IO) --- */
#define KG_PORT_READY      0x510  /* setup done */
#define KG_PORT_EXCEPTION  0x511  /* exception: details in the shared page */

#endif
