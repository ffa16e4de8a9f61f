/* SPDX-License-Identifier: MIT */
/*
 * The test guest's extension: a small PCI driver (guest/guest_pci.c) and an
 * INTx interrupt handler (guest/guest_isr.S), and the part of the shared
 * page they use (struct kg_ext at KG_SH_EXT).
 *
 * The driver is generic: it enumerates bus 0 through configuration
 * mechanism #1 (ports 0xCF8/0xCFC), sizes and assigns every BAR, and
 * programs the IOAPIC, MSI and MSI-X as the host asks through mailbox
 * commands (KG_CMD_PCI_*, numbered from KG_CMD_EXT_FIRST). It knows no
 * device: the host tells it which register asks the device for an
 * interrupt (struct kg_ext_run) and which one holds the INTx status.
 *
 * Included by C (host and guest) and by the guest's assembly: the
 * structures are hidden from the assembler, and every offset the assembly
 * uses is a #define that the C side checks with a static assert.
 */
#ifndef IRQLINK_KG_EXT_H
#define IRQLINK_KG_EXT_H

#include "kg_abi.h"

/* ---- Mailbox commands (arguments arg0, arg1, arg2 -> result) ----------- */
/* Enumerate bus 0, size and assign every BAR (memory from arg0, default
 * KG_PCI_MMIO_BASE; I/O from arg1, default KG_PCI_IO_BASE), enable memory
 * and I/O decoding and bus mastering. -> number of functions found (their
 * guest view is in kg_ext.fn[]). */
#define KG_CMD_PCI_SCAN      16
/* Config read: arg0 = bdf << 16 | offset, arg2 = size 1/2/4 -> value. */
#define KG_CMD_PCI_CFG_READ  17
/* Config write: arg0 = bdf << 16 | offset, arg1 = value, arg2 = size. */
#define KG_CMD_PCI_CFG_WRITE 18
/* INTx: arg0 = function index, arg1 = vector, arg2 = IOAPIC pin, or
 * KG_PCI_PIN_FROM_LINE to use the function's Interrupt Line register.
 * Programs the pin level-triggered to APIC ID 0 (unmasked) and installs
 * the INTx handler on the vector (see kg_ext.intx_*). -> the pin used. */
#define KG_CMD_PCI_INTX      19
/* MSI: arg0 = function index, arg1 = first vector (aligned to the count),
 * arg2 = vector count (power of two) | dest APIC ID << 16 |
 * KG_PCI_MASKED. Count 0 disables MSI. -> 0, or -1 (no capability,
 * count above what it offers, misaligned vector). */
#define KG_CMD_PCI_MSI       20
/* MSI-X: as KG_CMD_PCI_MSI, with arg1 = first vector | span << 16: table
 * entry i gets vector + i % span (span 0 = count: a vector each; a table
 * of 2048 entries must share the 0x20-0xee vectors), unmasked unless
 * KG_PCI_MASKED. MSI-X is enabled with the Function Mask set while the
 * table is written, then the Function Mask is cleared: the way a driver
 * enables many vectors at once. Count 0 disables MSI-X. */
#define KG_CMD_PCI_MSIX      21
/* Mask bit: arg0 = function index | KG_PCI_KIND_MSI or _MSIX, arg1 =
 * vector index (KG_PCI_FUNCTION_MASK: the MSI-X Function Mask),
 * arg2 = 1 mask, 0 unmask. -> 0 or -1. */
#define KG_CMD_PCI_MASK      22
/* Run the scenario in kg_ext.run (see struct kg_ext_run). -> interrupts
 * received, or -1 for a bad request. */
#define KG_CMD_PCI_RUN       23
/* Never answer: cli; hlt forever (tests a host's timeout). */
#define KG_CMD_HANG          24
/* Wait (sti; hlt) until count[arg0] >= arg1 or arg2 ms pass. -> count. */
#define KG_CMD_WAIT          25

#define KG_PCI_PIN_FROM_LINE 0xff
#define KG_PCI_MASKED        (1u << 24)
#define KG_PCI_KIND_MSI      0x100
#define KG_PCI_KIND_MSIX     0x200
#define KG_PCI_FUNCTION_MASK 0xffff

/* Where KG_CMD_PCI_SCAN puts BARs by default: below the IOAPIC, far above
 * RAM, inside the 4 GiB identity map. */
#define KG_PCI_MMIO_BASE     0xc0000000
#define KG_PCI_IO_BASE       0xc000

/* Vector of the guest's 1 ms LAPIC timer, armed only while a command waits
 * for interrupts (KG_CMD_PCI_RUN, KG_CMD_WAIT) so a lost one times out. */
#define KG_TIMER_VECTOR      0xef

/* The INTx handler writes this port (after its LAPIC EOI) so the host knows
 * the guest is done with the interrupt; see guest_isr.S for why. */
#define KG_PORT_INTX_EOI     0x512

/* ---- struct kg_ext offsets used by the assembly ------------------------ */
#define KG_EXT_INTX_VECTOR       0x00 /* u32 vector the INTx handler owns */
#define KG_EXT_INTX_STATUS_GPA   0x08 /* u64 status register (0: none) */
#define KG_EXT_INTX_ACK_GPA      0x10 /* u64 ack register (0: do not ack) */
#define KG_EXT_INTX_CLAIMED      0x18 /* u64 handler runs that saw status */
#define KG_EXT_INTX_SPURIOUS     0x20 /* u64 handler runs with status 0 */
#define KG_EXT_INTX_LAST_STATUS  0x28 /* u32 status read by the last run */

#define KG_EXT_MAX_FN 8

#ifndef __ASSEMBLER__
#include <stdint.h>

/* kg_ext_bar.flags */
#define KG_BAR_IO       0x1
#define KG_BAR_64       0x2
#define KG_BAR_PREFETCH 0x4

struct kg_ext_bar {
	uint64_t addr;   /* as assigned by the guest */
	uint64_t size;   /* 0 = not implemented (or upper half of a 64-bit BAR) */
	uint32_t flags;  /* KG_BAR_* */
	uint32_t pad;
};

/* One function as the guest found it. */
struct kg_ext_fn {
	uint32_t bdf;          /* bus << 8 | dev << 3 | fn */
	uint16_t vendor, device;
	uint32_t class_rev;    /* config dword 0x08 */
	uint8_t header_type;
	uint8_t irq_pin;       /* Interrupt Pin (1 = INTA#), 0 = none */
	uint8_t irq_line;      /* Interrupt Line as the guest read it */
	uint8_t msi_cap;       /* capability offsets, 0 = absent */
	uint8_t msix_cap;
	uint8_t pcie_cap;
	uint16_t msi_ctrl;     /* Message Control at scan time */
	uint16_t msix_ctrl;
	uint16_t pad;
	uint32_t msix_table;   /* MSI-X Table Offset/BIR dword */
	uint32_t msix_pba;     /* MSI-X PBA Offset/BIR dword */
	struct kg_ext_bar bar[6];
};

/* KG_CMD_PCI_RUN: ask the device for `count` interrupts, one at a time,
 * each acknowledged before the next is asked for. For i = 0..count-1 the
 * guest
 *   - if sel_gpa is not 0, writes sel_value + i % nvec to it (4 bytes):
 *     e.g. the device register that selects the vector;
 *   - writes kick_value to kick_gpa (kick_size bytes): the request;
 *   - halts until vector + (i % nvec) % vspan has counted one more
 *     interrupt, at most timeout_ms (a timeout ends the run); vspan 0 =
 *     nvec (each selected source has a vector of its own);
 *   - if samples_gpa is not 0, stores that vector's ISR-entry TSC
 *     (last_tsc) at samples_gpa + 8 * i (guest RAM); with
 *     KG_RUN_FROM_KICK in flags, minus the TSC it read just before the
 *     kick: the whole request -> interrupt time, for a device whose raise
 *     the host cannot stamp (one in another process).
 * Vectors must lie in 0x20-0xee. The result is the number of interrupts
 * that arrived (also in `done`); `timed_out` says whether one did not. */
struct kg_ext_run {
	uint64_t kick_gpa;
	uint64_t kick_value;
	uint64_t sel_gpa;
	uint64_t sel_value;
	uint64_t samples_gpa;
	uint32_t kick_size;    /* 1, 2, 4 or 8 */
	uint32_t count;
	uint32_t vector;
	uint32_t nvec;         /* 0 = 1 */
	uint32_t timeout_ms;   /* per interrupt; 0 = 1000 */
	uint32_t done;         /* guest: interrupts that arrived */
	uint32_t timed_out;    /* guest: 1 if the run ended on a timeout */
	uint32_t vspan;        /* vectors the sources share; 0 = nvec */
	uint32_t flags;        /* KG_RUN_* */
	uint32_t reserved;
};

#define KG_RUN_FROM_KICK 0x1u

/* The extension's shared memory, at KG_SHARED_GPA + KG_SH_EXT. */
struct kg_ext {
	uint32_t intx_vector;
	uint32_t intx_pin;
	uint64_t intx_status_gpa;  /* host-set, 4-byte status register */
	uint64_t intx_ack_gpa;     /* host-set: handler writes status back */
	uint64_t intx_claimed;
	uint64_t intx_spurious;
	uint32_t intx_last_status;
	uint32_t nfn;              /* functions found by KG_CMD_PCI_SCAN */
	struct kg_ext_run run;
	struct kg_ext_fn fn[KG_EXT_MAX_FN];
};

_Static_assert(__builtin_offsetof(struct kg_ext, intx_vector) ==
	       KG_EXT_INTX_VECTOR, "abi");
_Static_assert(__builtin_offsetof(struct kg_ext, intx_status_gpa) ==
	       KG_EXT_INTX_STATUS_GPA, "abi");
_Static_assert(__builtin_offsetof(struct kg_ext, intx_ack_gpa) ==
	       KG_EXT_INTX_ACK_GPA, "abi");
_Static_assert(__builtin_offsetof(struct kg_ext, intx_claimed) ==
	       KG_EXT_INTX_CLAIMED, "abi");
_Static_assert(__builtin_offsetof(struct kg_ext, intx_spurious) ==
	       KG_EXT_INTX_SPURIOUS, "abi");
_Static_assert(__builtin_offsetof(struct kg_ext, intx_last_status) ==
	       KG_EXT_INTX_LAST_STATUS, "abi");
_Static_assert(KG_SH_EXT + sizeof(struct kg_ext) <= KG_SHARED_SIZE, "abi");

#endif /* __ASSEMBLER__ */

#endif
