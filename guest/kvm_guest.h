/* SPDX-License-Identifier: MIT */
/*
 * A real KVM guest for tests: boots guest/guest.S on one vCPU (or more,
 * kg_create_opts()) and counts the interrupts it actually takes, per vector,
 * with the guest TSC at ISR entry. Its PCI driver is driven through
 * guest/kvm_guest_pci.h.
 *
 * Typical use:
 *
 *	int vm = kg_vm_create();                 // VM + in-kernel irqchip
 *	struct kg_guest *g;
 *	kg_create(vm, &g);                       // memory, vCPU, image
 *	kg_start(g);                             // vCPU thread; waits for "ready"
 *	kg_program_ioapic(g, 16, 0x40, KG_EDGE); // guest programs its IOAPIC
 *	... inject with KVM_IRQ_LINE / KVM_IRQFD / KVM_SIGNAL_MSI on vm ...
 *	kg_wait_count(g, 0x40, 1, 1000);         // == 1 within 1 s
 *	kg_destroy(g);                           // closes every fd it opened
 *	close(vm);
 *
 * With the library, make the VM with irqlink_vm_create() and pass
 * irqlink_vm_fd() to kg_create() instead (test_with_irqlink_vm);
 * kg_vm_create() is the raw fallback for tests that must not depend on
 * library code.
 *
 * Guest memory map (guest-physical, identity-mapped, see guest/kg_abi.h):
 *	0x1000-0x4fff   shared page(s), struct kg_shared below
 *	0x8000-0xdfff   page tables (host-built): 2 MiB pages over 0-4 GiB
 *	0xe000 TSS, 0xf000 IDT, 0x10000 guest image, stack below 0x80000
 *	0x100000-0x1fffff free for tests (kg_mem()); RAM is memslot 0, 2 MiB
 *
 * Vectors: 0x00-0x1f are exceptions (fatal, reported); 0x20-0xef are for
 * tests; KG_WAKE_VECTOR (0xfe) is the harness's mailbox doorbell; 0xff is
 * the LAPIC spurious vector. Every vector 0x20-0xff is counted.
 *
 * The harness is test code: it installs a process-wide SIGUSR1 handler
 * (without SA_RESTART) to kick the vCPU thread out of KVM_RUN.
 */
#ifndef IRQLINK_KVM_GUEST_H
#define IRQLINK_KVM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kg_abi.h"

/* One ISR entry as the guest logged it. */
struct kg_ring_entry {
	uint64_t vector;
	uint64_t tsc;
};

/* The shared page at KG_SHARED_GPA, as the guest lays it out. Read it with
 * kg_count() or through the volatile pointer kg_shared() returns. */
struct kg_shared {
	uint64_t count[256];      /* ISR entries per vector, bumped last */
	uint64_t last_tsc[256];   /* rdtsc at the last ISR entry per vector */
	uint8_t hold_eoi[256];    /* host-set: nonzero = ISR skips its EOI */
	uint32_t ready;           /* 1 once the guest finished its setup */
	uint32_t ring_head;       /* ring entries ever written */
	uint32_t exc_valid;       /* 1 once an exception was taken */
	uint32_t pad0;
	uint64_t exc_vector;
	uint64_t exc_error;
	uint64_t exc_rip;
	uint64_t exc_cr2;
	uint32_t spin_stop;       /* host-set: leave the ring-3 spin */
	uint32_t spinning;        /* 1 while the guest spins in ring 3 */
	uint64_t spin_loops;      /* ring-3 spin iterations */
	uint32_t mb_seq;          /* host bumps to post a command */
	uint32_t mb_ack;          /* guest copies seq when done */
	uint32_t mb_cmd;
	uint32_t pad2;
	uint64_t mb_arg0;
	uint64_t mb_arg1;
	uint64_t mb_arg2;
	uint64_t mb_result;
	uint8_t pad3[KG_SH_RING - KG_SH_MB_RESULT - 8];
	struct kg_ring_entry ring[KG_RING_SIZE]; /* entry i at ring[i % size] */
};

enum kg_state {
	KG_STOPPED,   /* created, or stopped by kg_stop(): can be started */
	KG_RUNNING,   /* the vCPU thread is in its KVM_RUN loop */
	KG_EXCEPTION, /* the guest took a CPU exception; see kg_why() */
	KG_FAILED,    /* KVM_RUN failed or an unexpected exit; see kg_why() */
};

/* Flags for kg_program_ioapic(). */
#define KG_EDGE   0x0
#define KG_LEVEL  0x1 /* level-triggered (redirection bit 15) */
#define KG_MASKED 0x2 /* leave the entry masked (bit 16) */

/* Timeout the convenience calls below use for one mailbox round trip. */
#define KG_TIMEOUT_MS 5000

struct kg_guest;

/* Optional handler for userspace MMIO exits (addresses no memslot and no
 * in-kernel device claims). Called on the vCPU thread; for a read it fills
 * data[0..len). Without one, writes are dropped and reads return all ones. */
typedef void (*kg_mmio_fn)(void *opaque, uint64_t gpa, uint8_t *data,
			   uint32_t len, bool is_write);

/* Optional handler for port I/O exits on ports other than the guest's own
 * reports (KG_PORT_READY, KG_PORT_EXCEPTION). Called on the thread of the
 * vCPU that exited (any vCPU with kg_create_opts()); data holds
 * size * count bytes, to be filled for a read (is_write false). Without
 * one, writes are dropped and reads return all ones. */
typedef void (*kg_pio_fn)(void *opaque, uint16_t port, uint8_t *data,
			  uint32_t size, uint32_t count, bool is_write);

/* Options for kg_create_opts(); zeroed = kg_create()'s defaults. */
struct kg_options {
	unsigned int vcpus; /* 0 or 1: vCPU 0 only; at most KG_MAX_VCPUS */
};

/* Open /dev/kvm, KVM_CREATE_VM and KVM_CREATE_IRQCHIP (IOAPIC + PIC + LAPIC
 * in the kernel). Returns the VM fd, which the caller owns and closes, or
 * -errno. /dev/kvm is not kept open. */
int kg_vm_create(void);

/* Build a guest on vm_fd (borrowed: the guest keeps its own dup): 2 MiB of
 * RAM in memslot 0 at GPA 0, the guest image, page tables, vCPU 0 with
 * supported CPUID and long-mode registers. The vCPU does not run until
 * kg_start(). Returns 0 and *out, or -errno (nothing left open). */
int kg_create(int vm_fd, struct kg_guest **out);

/* kg_create() with options. With vcpus > 1, vCPUs 1.. (APs, APIC IDs =
 * their index) each get a thread too; kg_start() starts them once vCPU 0
 * is ready and waits until they report in (shared word KG_SH_AP_READY).
 * APs only take interrupts (counted in the same shared page): the mailbox
 * runs on vCPU 0. MMIO and port handlers may be called from any vCPU
 * thread. Returns as kg_create(), or -EINVAL for too many vCPUs. */
int kg_create_opts(int vm_fd, const struct kg_options *opts,
		   struct kg_guest **out);

/* Start (or restart after kg_stop()) the vCPU thread. The first start waits
 * up to KG_TIMEOUT_MS for the guest's ready report (its port exit has been
 * handled and counted when this returns). Returns 0, -EBUSY if
 * already running, -EIO if the guest is dead (kg_why() says why),
 * -ETIMEDOUT, or -errno from pthread_create. */
int kg_start(struct kg_guest *g);

/* Stop the vCPU thread: immediate_exit + SIGUSR1 make KVM_RUN return EINTR,
 * then join. Guest state (registers, LAPIC, pending interrupts) is kept in
 * KVM, so kg_start() resumes it; while stopped, vCPU ioctls on
 * kg_vcpu_fd() do not block. Returns 0 (also if not running). */
int kg_stop(struct kg_guest *g);

/* Stop, then release everything kg_create() made: vCPU fd and run mapping,
 * the memslot and RAM, the VM fd dup. NULL is fine. */
void kg_destroy(struct kg_guest *g);

enum kg_state kg_state(struct kg_guest *g);

/* Why the run ended (KG_EXCEPTION/KG_FAILED), e.g.
 * "guest exception #UD at rip 0x10123"; "" otherwise. */
const char *kg_why(struct kg_guest *g);

/* The shared page (counts, timestamps, ring, exception info, mailbox). */
volatile struct kg_shared *kg_shared(struct kg_guest *g);

/* Host pointer to guest-physical [gpa, gpa+len) in RAM, or NULL. */
void *kg_mem(struct kg_guest *g, uint64_t gpa, size_t len);

/* Borrowed fds: valid until kg_destroy(). Do not close them. */
/* The memfd of guest RAM (offset = guest-physical address, KG_RAM_SIZE
 * long): what a VMM shares with a device in another process. */
int kg_mem_fd(struct kg_guest *g);
int kg_vm_fd(struct kg_guest *g);
int kg_vcpu_fd(struct kg_guest *g);
/* vCPU @idx's fd (0 = kg_vcpu_fd()), or -EINVAL. */
int kg_vcpu_fd_n(struct kg_guest *g, unsigned int idx);
/* Number of vCPUs. */
unsigned int kg_vcpus(struct kg_guest *g);

/* Interrupts the guest took on `vector` since boot. */
uint64_t kg_count(struct kg_guest *g, unsigned int vector);

/* Poll until count[vector] reaches `expected` or timeout_ms passes.
 * Returns 0 when it equals expected, -EOVERFLOW if it went past it,
 * -ETIMEDOUT, -EIO if the guest died meanwhile, -ESRCH if the guest is
 * stopped (the count cannot move), -EINVAL for a bad vector. */
int kg_wait_count(struct kg_guest *g, unsigned int vector, uint64_t expected,
		  int timeout_ms);

/* Exits from KVM_RUN to this harness with exit_reason `reason` (KVM_EXIT_*;
 * a KVM_RUN that fails with EINTR counts as KVM_EXIT_INTR), all vCPUs. */
uint64_t kg_exits(struct kg_guest *g, unsigned int reason);

/* Post one mailbox command (KG_CMD_*, see guest/kg_abi.h), wake the guest
 * with KVM_SIGNAL_MSI on KG_WAKE_VECTOR, and wait for its ack. The guest
 * may see the command before it takes the wake interrupt, and two wakes
 * can merge in the LAPIC, so count[KG_WAKE_VECTOR] is not one per command. *result (if
 * non-NULL) gets the guest's result word (-1 = bad command). Returns 0,
 * -ETIMEDOUT (the guest is then unusable), -EIO if the guest died (e.g.
 * KG_CMD_UD2), -ESRCH if it is not running, or -errno from
 * KVM_SIGNAL_MSI. Serialized: one command at a time per guest. */
int kg_mailbox(struct kg_guest *g, uint32_t cmd, uint64_t arg0, uint64_t arg1,
	       uint64_t arg2, uint64_t *result, int timeout_ms);

/* kg_mailbox() for a long command: timeout_ms counts from the last change
 * of *progress, a word in guest memory (e.g. in kg_shared()) that the
 * command advances as it works. A command that keeps moving is waited
 * for; one that stalls for timeout_ms fails with -ETIMEDOUT. */
int kg_mailbox_progress(struct kg_guest *g, uint32_t cmd, uint64_t arg0,
			uint64_t arg1, uint64_t arg2, uint64_t *result,
			int timeout_ms, const volatile uint32_t *progress);

/* Have the guest program IOAPIC pin (0-23) to deliver `vector` to APIC ID 0,
 * flags KG_EDGE / KG_LEVEL, optionally KG_MASKED. Returns as kg_mailbox(),
 * or -EINVAL. */
int kg_program_ioapic(struct kg_guest *g, unsigned int pin,
		      unsigned int vector, unsigned int flags);

/* Guest-side MMIO of size 1/2/4/8 at any mapped address (0-4 GiB), done by
 * the guest in ring 0 (so it exits or hits an ioeventfd like a driver's
 * access would). Return as kg_mailbox(), -EINVAL for a bad size. */
int kg_guest_write(struct kg_guest *g, uint64_t gpa, uint64_t value,
		   unsigned int size);
int kg_guest_read(struct kg_guest *g, uint64_t gpa, unsigned int size,
		  uint64_t *value);

/* Hold the EOI of `vector` (< 0xf0): its ISR counts it but skips the
 * LAPIC EOI write until kg_eoi(). On upstream KVM that keeps the vector in
 * service (and a level pin's remote IRR set). On kvm_pvm it changes
 * nothing: KVM retires an interrupt when it injects it, EOI broadcast and
 * resample included (test_eoi_model) -- stop the vCPU (kg_stop()) to keep
 * the guest from acknowledging interrupts instead. */
void kg_hold_eoi(struct kg_guest *g, unsigned int vector, bool hold);

/* Regimes. By default the guest idles in `sti; hlt`, so an interrupt
 * first wakes a halted vCPU (~20 us on kvm_pvm, far more than the
 * interrupt path itself). kg_spin_start() has it spin in ring 3 with
 * interrupts enabled instead (ring 3 runs natively there): an interrupt
 * then finds the vCPU running. While it spins the guest reads no mailbox,
 * so every other command returns -EBUSY until kg_spin_stop(), which
 * returns once the guest is back in its ring-0 idle loop. ISRs run as
 * usual in either regime. Both return as kg_mailbox(); kg_spin_start()
 * returns -EBUSY if already spinning, kg_spin_stop() 0 if not. */
int kg_spin_start(struct kg_guest *g);
int kg_spin_stop(struct kg_guest *g);
bool kg_spinning(struct kg_guest *g);

/* Have the guest write its LAPIC EOI register once: retires the highest
 * vector in service, if any. */
int kg_eoi(struct kg_guest *g);

/* Install (or clear, fn NULL) the MMIO-exit handler. Call while stopped. */
void kg_set_mmio_handler(struct kg_guest *g, kg_mmio_fn fn, void *opaque);

/* Install (or clear, fn NULL) the port I/O handler. Call while stopped. */
void kg_set_pio_handler(struct kg_guest *g, kg_pio_fn fn, void *opaque);

#endif
