/* SPDX-License-Identifier: MIT */
/*
 * The test guest's PCI driver: runs inside the guest, in ring 0, called
 * from the mailbox loop of guest.S for commands from KG_CMD_EXT_FIRST on.
 *
 * Theory of operation. Built freestanding (no libc, no SSE, no red zone)
 * and linked into the same flat image as guest.S. Every command runs with
 * interrupts off, as the mailbox does; the ones that wait for interrupts
 * (a scenario run, a wait) open a window with `sti; hlt` -- the sti shadow
 * covers the hlt, so an interrupt that arrives between the check and the
 * halt still wakes it -- and arm a 1 ms periodic LAPIC timer for the
 * duration, so that waiting for an interrupt that never comes ends in a
 * timeout instead of a hang.
 *
 * On kvm_pvm each ring-0 instruction is emulated (about 0.5-1 us), so the
 * code is compiled for size and kept out of loops where it can: the
 * enumeration is a few thousand instructions and dozens of port exits;
 * the per-interrupt path of a run is one register write and a halt.
 *
 * PCI configuration mechanism #1: the address (enable bit, bus, device,
 * function, dword register) goes to port 0xCF8 as a dword, the data moves
 * through 0xCFC-0xCFF at the byte offset within the dword.
 */
#include "kg_ext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHARED(off) ((volatile void *)(uintptr_t)(KG_SHARED_GPA + (off)))

static volatile struct kg_ext *const ext =
	(volatile struct kg_ext *)(uintptr_t)(KG_SHARED_GPA + KG_SH_EXT);
static volatile uint64_t *const count =
	(volatile uint64_t *)(uintptr_t)(KG_SHARED_GPA + KG_SH_COUNT);

extern char kg_intx_isr[];

/* The compiler may emit calls to these for struct copies and zeroing. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

/* ---- port and MMIO access ---------------------------------------------- */

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void mmio_write(uint64_t gpa, uint64_t v, uint32_t size)
{
	volatile void *p = (volatile void *)(uintptr_t)gpa;

	switch (size) {
	case 1: *(volatile uint8_t *)p = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)p = (uint16_t)v; break;
	case 4: *(volatile uint32_t *)p = (uint32_t)v; break;
	default: *(volatile uint64_t *)p = v; break;
	}
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	/* lfence: the stamp may not be taken before earlier accesses end. */
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

static inline uint32_t mmio_read32(uint64_t gpa)
{
	return *(volatile uint32_t *)(uintptr_t)gpa;
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(KG_LAPIC_GPA + reg) = v;
}

static inline void ioapic_write(uint32_t index, uint32_t v)
{
	volatile uint32_t *base = (volatile uint32_t *)(uintptr_t)KG_IOAPIC_GPA;

	base[0] = index;     /* IOREGSEL */
	base[4] = v;         /* IOWIN at +0x10 */
}

/* ---- configuration mechanism #1 ---------------------------------------- */

static uint32_t cfg_read(uint32_t bdf, uint32_t off, uint32_t size)
{
	outl(0xcf8, 0x80000000u | bdf << 8 | (off & 0xfc));
	switch (size) {
	case 1: return inb((uint16_t)(0xcfc + (off & 3)));
	case 2: return inw((uint16_t)(0xcfc + (off & 2)));
	default: return inl(0xcfc);
	}
}

static void cfg_write(uint32_t bdf, uint32_t off, uint32_t v, uint32_t size)
{
	outl(0xcf8, 0x80000000u | bdf << 8 | (off & 0xfc));
	switch (size) {
	case 1: outb((uint16_t)(0xcfc + (off & 3)), (uint8_t)v); break;
	case 2: outw((uint16_t)(0xcfc + (off & 2)), (uint16_t)v); break;
	default: outl(0xcfc, v); break;
	}
}

/* ---- enumeration -------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Size BAR i the way an OS does: with decoding off, write all ones, read
 * back the bits that stuck, restore. Then place it at the next aligned
 * address of its space. Returns how many BAR registers it used (2 for a
 * 64-bit BAR). */
static unsigned int assign_bar(uint32_t bdf, unsigned int i,
			       volatile struct kg_ext_bar *bar,
			       uint64_t *mmio_next, uint64_t *io_next)
{
	uint32_t off = 0x10 + 4 * i;
	uint32_t orig = cfg_read(bdf, off, 4), lo, hi = 0;
	uint64_t mask, size, addr;
	bool is64;

	cfg_write(bdf, off, 0xffffffff, 4);
	lo = cfg_read(bdf, off, 4);
	cfg_write(bdf, off, orig, 4);
	bar->size = 0;
	bar->flags = 0;
	if (lo == 0 || lo == 0xffffffff)
		return 1;

	if (lo & 1) {
		mask = (lo & ~3u) | 0xffff0000u;
		size = (uint32_t)~mask + 1;
		addr = align_up(*io_next, size);
		*io_next = addr + size;
		cfg_write(bdf, off, (uint32_t)addr, 4);
		bar->flags = KG_BAR_IO;
		bar->addr = addr;
		bar->size = size;
		return 1;
	}

	is64 = ((lo >> 1) & 3) == 2 && i < 5;
	mask = lo & ~0xfu;
	if (is64) {
		uint32_t orig_hi = cfg_read(bdf, off + 4, 4);

		cfg_write(bdf, off + 4, 0xffffffff, 4);
		hi = cfg_read(bdf, off + 4, 4);
		cfg_write(bdf, off + 4, orig_hi, 4);
		mask |= (uint64_t)hi << 32;
	} else {
		mask |= 0xffffffff00000000ull;
	}
	size = ~mask + 1;
	addr = align_up(*mmio_next, size);
	*mmio_next = addr + size;
	cfg_write(bdf, off, (uint32_t)addr, 4);
	if (is64)
		cfg_write(bdf, off + 4, (uint32_t)(addr >> 32), 4);
	bar->flags = (is64 ? KG_BAR_64 : 0) | ((lo & 8) ? KG_BAR_PREFETCH : 0);
	bar->addr = addr;
	bar->size = size;
	return is64 ? 2 : 1;
}

static void find_caps(uint32_t bdf, volatile struct kg_ext_fn *f)
{
	uint32_t ptr;
	int guard = 48;

	f->msi_cap = f->msix_cap = f->pcie_cap = 0;
	if (!(cfg_read(bdf, 0x06, 2) & 0x10))
		return;
	ptr = cfg_read(bdf, 0x34, 1) & 0xfc;
	while (ptr >= 0x40 && guard--) {
		uint32_t hdr = cfg_read(bdf, ptr, 2);

		switch (hdr & 0xff) {
		case 0x05: f->msi_cap = (uint8_t)ptr; break;
		case 0x10: f->pcie_cap = (uint8_t)ptr; break;
		case 0x11: f->msix_cap = (uint8_t)ptr; break;
		}
		ptr = (hdr >> 8) & 0xfc;
	}
	if (f->msi_cap)
		f->msi_ctrl = (uint16_t)cfg_read(bdf, f->msi_cap + 2, 2);
	if (f->msix_cap) {
		f->msix_ctrl = (uint16_t)cfg_read(bdf, f->msix_cap + 2, 2);
		f->msix_table = cfg_read(bdf, f->msix_cap + 4, 4);
		f->msix_pba = cfg_read(bdf, f->msix_cap + 8, 4);
	}
}

static void probe_fn(uint32_t bdf, uint32_t id, uint64_t *mmio_next,
		     uint64_t *io_next)
{
	volatile struct kg_ext_fn *f = &ext->fn[ext->nfn];
	uint32_t cmd;

	f->bdf = bdf;
	f->vendor = (uint16_t)id;
	f->device = (uint16_t)(id >> 16);
	f->class_rev = cfg_read(bdf, 0x08, 4);
	f->header_type = (uint8_t)cfg_read(bdf, 0x0e, 1);
	/* Decoding off while BARs are sized and moved. */
	cmd = cfg_read(bdf, 0x04, 2);
	cfg_write(bdf, 0x04, cmd & ~7u, 2);
	for (unsigned int i = 0; i < 6; i++) {
		f->bar[i].size = 0;
		f->bar[i].flags = 0;
		f->bar[i].addr = 0;
	}
	if ((f->header_type & 0x7f) == 0) {
		for (unsigned int i = 0; i < 6;)
			i += assign_bar(bdf, i, &f->bar[i], mmio_next, io_next);
	}
	f->irq_pin = (uint8_t)cfg_read(bdf, 0x3d, 1);
	f->irq_line = (uint8_t)cfg_read(bdf, 0x3c, 1);
	find_caps(bdf, f);
	/* Memory and I/O decoding, bus mastering (for MSI writes). */
	cfg_write(bdf, 0x04, (cmd & ~7u) | 7u, 2);
	ext->nfn++;
}

static int64_t pci_scan(uint64_t mmio_base, uint64_t io_base)
{
	uint64_t mmio_next = mmio_base ? mmio_base : KG_PCI_MMIO_BASE;
	uint64_t io_next = io_base ? io_base : KG_PCI_IO_BASE;

	ext->nfn = 0;
	for (uint32_t dev = 0; dev < 32; dev++) {
		uint32_t nfns = 1;

		for (uint32_t fn = 0; fn < nfns; fn++) {
			uint32_t bdf = dev << 3 | fn;
			uint32_t id = cfg_read(bdf, 0, 4);

			if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
				continue;
			if (fn == 0 && (cfg_read(bdf, 0x0e, 1) & 0x80))
				nfns = 8;
			if (ext->nfn < KG_EXT_MAX_FN)
				probe_fn(bdf, id, &mmio_next, &io_next);
		}
	}
	return ext->nfn;
}

/* ---- interrupts ---------------------------------------------------------- */

static void idt_set(unsigned int vector, uint64_t handler)
{
	volatile uint16_t *g = (volatile uint16_t *)(uintptr_t)
		(KG_IDT_GPA + 16 * vector);

	/* Offset 15:0, selector, attributes (0x8e: present interrupt gate),
	 * offset 31:16, offset 63:32 (0: the image is below 4 GiB). */
	g[0] = (uint16_t)handler;
	g[3] = (uint16_t)(handler >> 16);
	g[4] = 0;
	g[5] = 0;
}

static int64_t setup_intx(uint32_t idx, uint32_t vector, uint32_t pin)
{
	volatile struct kg_ext_fn *f = &ext->fn[idx];

	if (idx >= ext->nfn || vector < 0x20 || vector > 0xee)
		return -1;
	if (pin == KG_PCI_PIN_FROM_LINE)
		pin = (uint8_t)cfg_read(f->bdf, 0x3c, 1);
	if (pin >= 24)
		return -1;
	ext->intx_vector = vector;
	ext->intx_pin = pin;
	idt_set(vector, (uint64_t)(uintptr_t)kg_intx_isr);
	/* Destination (APIC ID 0) first, then level | vector, unmasked. */
	ioapic_write(0x11 + 2 * pin, 0);
	ioapic_write(0x10 + 2 * pin, 0x8000u | vector);
	return pin;
}

static uint32_t msi_mask_off(volatile struct kg_ext_fn *f, uint16_t ctrl)
{
	return f->msi_cap + ((ctrl & 0x80) ? 0x10 : 0x0c);
}

static int64_t setup_msi(uint32_t idx, uint32_t vector, uint32_t arg)
{
	volatile struct kg_ext_fn *f = &ext->fn[idx];
	uint32_t n = arg & 0xffff, dest = (arg >> 16) & 0xff, cap, mme = 0;
	uint16_t ctrl;

	if (idx >= ext->nfn || !f->msi_cap)
		return -1;
	cap = f->msi_cap;
	ctrl = (uint16_t)cfg_read(f->bdf, cap + 2, 2);
	if (n == 0) {
		cfg_write(f->bdf, cap + 2, ctrl & ~1u, 2);
		return 0;
	}
	while ((1u << mme) < n)
		mme++;
	if ((1u << mme) != n || mme > ((ctrl >> 1) & 7u) ||
	    (vector & (n - 1)) || vector < 0x20 || vector + n > 0xef)
		return -1;
	/* Program the message with MSI off, then enable it. */
	cfg_write(f->bdf, cap + 2, ctrl & ~1u, 2);
	cfg_write(f->bdf, cap + 4, KG_LAPIC_GPA | dest << 12, 4);
	if (ctrl & 0x80) {
		cfg_write(f->bdf, cap + 8, 0, 4);
		cfg_write(f->bdf, cap + 0x0c, vector, 2);
	} else {
		cfg_write(f->bdf, cap + 8, vector, 2);
	}
	if ((ctrl & 0x100) && (arg & KG_PCI_MASKED))
		cfg_write(f->bdf, msi_mask_off(f, ctrl), 0xffffffff, 4);
	else if (ctrl & 0x100)
		cfg_write(f->bdf, msi_mask_off(f, ctrl), 0, 4);
	ctrl = (uint16_t)((ctrl & ~0x70u) | mme << 4 | 1u);
	cfg_write(f->bdf, cap + 2, ctrl, 2);
	return 0;
}

static uint64_t msix_table_gpa(volatile struct kg_ext_fn *f)
{
	uint32_t t = f->msix_table;

	return f->bar[t & 7].addr + (t & ~7u);
}

static int64_t setup_msix(uint32_t idx, uint32_t varg, uint32_t arg)
{
	volatile struct kg_ext_fn *f = &ext->fn[idx];
	uint32_t n = arg & 0xffff, dest = (arg >> 16) & 0xff, cap;
	uint32_t vector = varg & 0xff, span = varg >> 16;
	uint16_t ctrl;
	uint64_t table;

	if (idx >= ext->nfn || !f->msix_cap)
		return -1;
	cap = f->msix_cap;
	ctrl = (uint16_t)cfg_read(f->bdf, cap + 2, 2);
	if (n == 0) {
		cfg_write(f->bdf, cap + 2, ctrl & ~0xc000u, 2);
		return 0;
	}
	if (!span)
		span = n;
	if (n > (ctrl & 0x7ffu) + 1u || vector < 0x20 || vector + span > 0xef)
		return -1;
	table = msix_table_gpa(f);
	/* Enabled with the Function Mask set while the table is written,
	 * then unmasked as a whole. */
	cfg_write(f->bdf, cap + 2, ctrl | 0xc000u, 2);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = table + 16 * i;

		mmio_write(e + 0, KG_LAPIC_GPA | dest << 12, 4);
		mmio_write(e + 4, 0, 4);
		mmio_write(e + 8, vector + i % span, 4);
		mmio_write(e + 12, (arg & KG_PCI_MASKED) ? 1 : 0, 4);
	}
	cfg_write(f->bdf, cap + 2, (ctrl & ~0x4000u) | 0x8000u, 2);
	return 0;
}

static int64_t set_mask(uint32_t arg0, uint32_t vec, uint32_t mask)
{
	uint32_t idx = arg0 & 0xff;
	volatile struct kg_ext_fn *f = &ext->fn[idx];

	if (idx >= ext->nfn)
		return -1;
	if (arg0 & KG_PCI_KIND_MSI) {
		uint16_t ctrl;
		uint32_t off, bits;

		if (!f->msi_cap || vec >= 32)
			return -1;
		ctrl = (uint16_t)cfg_read(f->bdf, f->msi_cap + 2, 2);
		if (!(ctrl & 0x100))
			return -1;
		off = msi_mask_off(f, ctrl);
		bits = cfg_read(f->bdf, off, 4);
		bits = mask ? bits | 1u << vec : bits & ~(1u << vec);
		cfg_write(f->bdf, off, bits, 4);
		return 0;
	}
	if (arg0 & KG_PCI_KIND_MSIX) {
		uint16_t ctrl;

		if (!f->msix_cap)
			return -1;
		ctrl = (uint16_t)cfg_read(f->bdf, f->msix_cap + 2, 2);
		if (vec == KG_PCI_FUNCTION_MASK) {
			ctrl = mask ? ctrl | 0x4000u : ctrl & ~0x4000u;
			cfg_write(f->bdf, f->msix_cap + 2, ctrl, 2);
			return 0;
		}
		if (vec > (ctrl & 0x7ffu))
			return -1;
		mmio_write(msix_table_gpa(f) + 16 * vec + 12, mask ? 1 : 0, 4);
		return 0;
	}
	return -1;
}

/* ---- waiting ------------------------------------------------------------- */

/* 1 ms periodic LAPIC timer (KVM's APIC bus runs at 1 GHz; divide by 1). */
static void timer_on(void)
{
	lapic_write(0x3e0, 0xb);
	lapic_write(0x320, 0x20000u | KG_TIMER_VECTOR);
	lapic_write(0x380, 1000000);
}

static void timer_off(void)
{
	lapic_write(0x380, 0);
	lapic_write(0x320, 0x10000u | KG_TIMER_VECTOR);
}

/* Halt until count[vector] reaches `target` or `ms` timer ticks pass.
 * Called with interrupts off; returns with them off. */
static bool wait_for(uint32_t vector, uint64_t target, uint32_t ms)
{
	uint64_t end = count[KG_TIMER_VECTOR] + ms + 1;

	while (count[vector] < target) {
		if (count[KG_TIMER_VECTOR] >= end)
			return false;
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
	return true;
}

static int64_t run(void)
{
	volatile struct kg_ext_run *r = &ext->run;
	volatile uint64_t *samples =
		(volatile uint64_t *)(uintptr_t)r->samples_gpa;
	volatile uint64_t *last_tsc =
		(volatile uint64_t *)(uintptr_t)(KG_SHARED_GPA + KG_SH_LAST_TSC);
	uint32_t nvec = r->nvec ? r->nvec : 1;
	uint32_t span = r->vspan && r->vspan < nvec ? r->vspan : nvec;
	uint32_t ms = r->timeout_ms ? r->timeout_ms : 1000;
	uint32_t n = r->count, size = r->kick_size;
	bool from_kick = r->flags & KG_RUN_FROM_KICK;

	r->done = 0;
	r->timed_out = 0;
	if (r->vector < 0x20 || r->vector + span > 0xef ||
	    (size != 1 && size != 2 && size != 4 && size != 8))
		return -1;
	timer_on();
	for (uint32_t i = 0, v = 0; i < n; i++) {
		uint32_t vec = r->vector + v % span;
		uint64_t target = count[vec] + 1;

		uint64_t kick;

		if (r->sel_gpa)
			mmio_write(r->sel_gpa, r->sel_value + v, 4);
		kick = from_kick ? rdtsc() : 0;
		mmio_write(r->kick_gpa, r->kick_value, size);
		if (!wait_for(vec, target, ms)) {
			r->timed_out = 1;
			break;
		}
		if (samples)
			samples[i] = last_tsc[vec] - kick;
		r->done = i + 1;
		if (++v == nvec)
			v = 0;
	}
	timer_off();
	return r->done;
}

static int64_t wait_cmd(uint64_t vector, uint64_t target, uint64_t ms)
{
	if (vector > 0xff)
		return -1;
	timer_on();
	wait_for((uint32_t)vector, target, (uint32_t)ms);
	timer_off();
	return (int64_t)count[vector];
}

/* ---- the mailbox entry ---------------------------------------------------- */

int64_t kg_ext_command(uint64_t a0, uint64_t a1, uint64_t a2, uint32_t cmd);

int64_t kg_ext_command(uint64_t a0, uint64_t a1, uint64_t a2, uint32_t cmd)
{
	switch (cmd) {
	case KG_CMD_PCI_SCAN:
		return pci_scan(a0, a1);
	case KG_CMD_PCI_CFG_READ:
		if (a2 != 1 && a2 != 2 && a2 != 4)
			return -1;
		return cfg_read((uint32_t)(a0 >> 16), a0 & 0xff, (uint32_t)a2);
	case KG_CMD_PCI_CFG_WRITE:
		if (a2 != 1 && a2 != 2 && a2 != 4)
			return -1;
		cfg_write((uint32_t)(a0 >> 16), a0 & 0xff, (uint32_t)a1,
			  (uint32_t)a2);
		return 0;
	case KG_CMD_PCI_INTX:
		return setup_intx((uint32_t)a0, (uint32_t)a1, (uint32_t)a2);
	case KG_CMD_PCI_MSI:
		return setup_msi((uint32_t)a0, (uint32_t)a1, (uint32_t)a2);
	case KG_CMD_PCI_MSIX:
		return setup_msix((uint32_t)a0, (uint32_t)a1, (uint32_t)a2);
	case KG_CMD_PCI_MASK:
		return set_mask((uint32_t)a0, (uint32_t)a1, (uint32_t)a2);
	case KG_CMD_PCI_RUN:
		return run();
	case KG_CMD_HANG:
		for (;;)
			__asm__ volatile("cli; hlt");
	case KG_CMD_WAIT:
		return wait_cmd(a0, a1, a2);
	default:
		return -1;
	}
}
