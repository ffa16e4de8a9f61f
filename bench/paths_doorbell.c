/* SPDX-License-Identifier: MIT */
/*
 * Doorbells, guest -> host: a guest MMIO write seen by the host, either as
 * an ioeventfd signal (KVM completes the write in the kernel) or as a
 * user-space MMIO exit on the vCPU thread.
 *
 * The test guest has no timed MMIO write, so the bench installs a
 * ten-instruction ISR of its own that stamps the TSC right before its write;
 * the host sends that vector with KVM_SIGNAL_MSI (not timed) to ring the
 * doorbell. Latency = host TSC when the write is seen - guest TSC before
 * the write.
 */
#include "bench.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Guest-physical layout the doorbell paths add to the test guest's map:
 * the ISR's code and its three words live in the guest's free area, and
 * the doorbell (BENCH_DB_GPA, bench.h) is an address the page tables map
 * but no memslot backs, so a write there is MMIO (an exit, or an
 * ioeventfd hit).
 */
#define BENCH_DB_VECTOR     0x60
#define BENCH_DB_CODE_GPA   0x100000   /* KG_FREE_GPA */
#define BENCH_DB_SLOT_GPA   0x100800   /* u64: guest TSC right before the write */
#define BENCH_DB_COUNT_GPA  0x100808   /* u64: doorbells written, bumped last */
#define BENCH_DB_ADDR_GPA   0x100810   /* u64: where the ISR writes */
_Static_assert(BENCH_DB_CODE_GPA == KG_FREE_GPA, "doorbell ISR in the free area");

#define BENCH_STR_(x) #x
#define BENCH_STR(x) BENCH_STR_(x)

/*
 * Ring-0 guest code is emulated on kvm_pvm (~0.5-1 us an instruction), so
 * the write comes right after rdtsc and the TSC is assembled and stored only
 * afterwards: the timestamp is one instruction before the doorbell. The
 * write's address is loaded before the rdtsc, from a word the row sets:
 * this file's doorbell, or a PCI device's doorbell register (paths_vm.c).
 * Absolute 32-bit addresses are below 2 GiB (sign extension); the LAPIC
 * goes through a register. Host-side it is data (.rodata), copied into
 * guest RAM.
 */
__asm__(".pushsection .rodata.irqlink_bench_db, \"a\"\n"
	"bench_db_isr:\n"
	"	pushq	%rax\n"
	"	pushq	%rdx\n"
	"	pushq	%rcx\n"
	"	movq	" BENCH_STR(BENCH_DB_ADDR_GPA) ", %rcx\n"
	"	rdtsc\n"
	"	movl	%eax, (%rcx)\n"
	"	shlq	$32, %rdx\n"
	"	orq	%rdx, %rax\n"
	"	movq	%rax, " BENCH_STR(BENCH_DB_SLOT_GPA) "\n"
	"	incq	" BENCH_STR(BENCH_DB_COUNT_GPA) "\n"
	"	movl	$" BENCH_STR(KG_LAPIC_GPA) ", %edx\n"
	"	movl	$0, 0xb0(%rdx)\n"
	"	popq	%rcx\n"
	"	popq	%rdx\n"
	"	popq	%rax\n"
	"	iretq\n"
	"bench_db_isr_end:\n"
	".popsection\n");
extern const uint8_t bench_db_isr[], bench_db_isr_end[];

/* Runs on the vCPU thread for every userspace MMIO exit. */
static void db_mmio_exit(void *opaque, uint64_t gpa, uint8_t *data,
			 uint32_t len, bool is_write)
{
	struct run *r = opaque;
	uint64_t t = bench_tsc();

	if (gpa != BENCH_DB_GPA || !is_write) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	__atomic_store_n(&r->mmio_tsc, t, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->mmio_count, 1, __ATOMIC_RELEASE);
}

/*
 * Copy the doorbell ISR into guest RAM, aim its write at @target and point
 * BENCH_DB_VECTOR's gate at it.
 * The guest built its IDT at boot and reads it again on every interrupt,
 * and nothing sends BENCH_DB_VECTOR until this returns, so rewriting a gate of
 * the running guest is safe.
 */
int bench_db_install(struct run *r, uint64_t target)
{
	uint64_t *addr = kg_mem(r->g, BENCH_DB_ADDR_GPA, 8);
	size_t len = (size_t)(bench_db_isr_end - bench_db_isr);
	uint8_t *code = kg_mem(r->g, BENCH_DB_CODE_GPA, len);
	uint8_t *gate = kg_mem(r->g, KG_IDT_GPA + 16 * BENCH_DB_VECTOR, 16);
	uint32_t off = BENCH_DB_CODE_GPA;

	if (!code || !gate || !addr ||
	    len > BENCH_DB_SLOT_GPA - BENCH_DB_CODE_GPA)
		return bench_why(r, -EINVAL, "doorbell ISR does not fit");
	memcpy(code, bench_db_isr, len);
	r->db_slot = kg_mem(r->g, BENCH_DB_SLOT_GPA, 8);
	r->db_count = kg_mem(r->g, BENCH_DB_COUNT_GPA, 8);
	*r->db_slot = 0;
	*r->db_count = 0;
	*addr = target;
	r->db_expected = 0;
	memset(gate, 0, 16);
	gate[0] = off & 0xff;
	gate[1] = (off >> 8) & 0xff;
	gate[2] = 0x08;          /* ring-0 code selector */
	gate[5] = 0x8e;          /* present, DPL 0, interrupt gate */
	gate[6] = (off >> 16) & 0xff;
	gate[7] = (off >> 24) & 0xff;
	/* The guest runs this code only after a later KVM_SIGNAL_MSI, a
	 * syscall, and x86 keeps stores in order: the compiler is the only
	 * thing that could move them, and this stops it. */
	__asm__ volatile("" ::: "memory");
	return 0;
}

static int db_setup(struct run *r, bool lib, bool ioeventfd)
{
	struct kvm_ioeventfd req;
	int err;

	if (lib)
		err = irqlink_vm_create(NULL, &r->vm);
	else
		err = (r->vm_fd = kg_vm_create()) < 0 ? r->vm_fd : 0;
	if (err)
		return bench_why(r, err, "VM: %s", strerror(-err));
	err = kg_create(lib ? irqlink_vm_fd(r->vm) : r->vm_fd, &r->g);
	if (err)
		return bench_why(r, err, "kg_create: %s", strerror(-err));
	/* Only while stopped; unused when the ioeventfd takes the write. */
	kg_set_mmio_handler(r->g, db_mmio_exit, r);
	if ((err = bench_pin_self(r->cfg->cpu_vcpu)))
		return bench_why(r, err, "pin: %s", strerror(-err));
	err = kg_start(r->g);
	bench_pin_self(r->cfg->cpu_trigger);
	if (err)
		return bench_why(r, err, "kg_start: %s %s", strerror(-err),
			       kg_why(r->g));
	r->vector = BENCH_DB_VECTOR;
	if ((err = bench_db_install(r, BENCH_DB_GPA)) || !ioeventfd)
		return err;

	if ((r->efd = bench_eventfd()) < 0)
		return bench_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	memset(&req, 0, sizeof(req));
	req.addr = BENCH_DB_GPA;
	req.len = 4;
	req.fd = r->efd;
	if (lib) {
		err = irqlink_ioeventfd_register(r->vm, &req);
		if (err)
			return bench_why(r, err, "irqlink_ioeventfd_register: %s",
				       strerror(-err));
	} else if (ioctl(r->vm_fd, KVM_IOEVENTFD, &req)) {
		return bench_why(r, -errno, "KVM_IOEVENTFD: %s", strerror(errno));
	}
	return 0;
}

static int setup_kvm_ioeventfd(struct run *r)
{
	return db_setup(r, false, true);
}

static int setup_kvm_mmio_exit(struct run *r)
{
	return db_setup(r, false, false);
}

static int setup_irqlink_ioeventfd(struct run *r)
{
	return db_setup(r, true, true);
}

/* Ring the doorbell: KVM_SIGNAL_MSI runs the doorbell ISR (not timed). */
int bench_db_ring(struct run *r)
{
	struct kvm_msi m = bench_msi_to(BENCH_DB_VECTOR);
	int n = ioctl(kg_vm_fd(r->g), KVM_SIGNAL_MSI, &m);

	r->db_expected++;
	if (n != 1)
		return bench_why(r, n < 0 ? -errno : -EIO,
			       "KVM_SIGNAL_MSI returned %d", n);
	return 0;
}

/*
 * Wait for the ISR to finish (its TSC is stored after the write). *t is
 * written on every path: bench_why() passes its error through, so the compiler
 * cannot prove a failure return is non-zero, and a caller would otherwise
 * appear to read *t unset.
 */
int bench_db_guest_tsc(struct run *r, uint64_t *t)
{
	struct bench_spin s;
	int err;

	*t = 0;
	bench_spin_init(r, &s);
	while (__atomic_load_n(r->db_count, __ATOMIC_ACQUIRE) < r->db_expected)
		if ((err = bench_spin_check(r, &s, "the doorbell ISR")))
			return err;
	if (*r->db_count != r->db_expected)
		return bench_why(r, -EOVERFLOW, "doorbell ISR ran too often");
	*t = *r->db_slot;
	return 0;
}

/* The ioeventfd signalled, seen by a thread polling it (this one). */
static int sample_db_ioeventfd(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t t1, tg;
	int err;

	(void)isr;
	if ((err = bench_db_ring(r)) ||
	    (err = bench_spin_read(r, r->efd, "the ioeventfd")))
		return err;
	t1 = bench_tsc();
	if ((err = bench_db_guest_tsc(r, &tg)))
		return err;
	if (t1 <= tg)
		return bench_why(r, -ERANGE, "ioeventfd seen before the write");
	*lat = t1 - tg;
	return 0;
}

/* The MMIO exit reached user space on the vCPU thread. */
static int sample_db_mmio_exit(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct bench_spin s;
	uint64_t t1, tg;
	int err;

	(void)isr;
	if ((err = bench_db_ring(r)))
		return err;
	bench_spin_init(r, &s);
	while (__atomic_load_n(&r->mmio_count, __ATOMIC_ACQUIRE) <
	       r->db_expected)
		if ((err = bench_spin_check(r, &s, "the MMIO exit")))
			return err;
	t1 = __atomic_load_n(&r->mmio_tsc, __ATOMIC_RELAXED);
	if ((err = bench_db_guest_tsc(r, &tg)))
		return err;
	if (t1 <= tg)
		return bench_why(r, -ERANGE, "MMIO exit before the write");
	*lat = t1 - tg;
	return 0;
}

const struct bench_path bench_paths_doorbell[] = {
	{ "kvm-ioeventfd", NULL,
	  "guest MMIO write -> KVM_IOEVENTFD eventfd read by a polling thread",
	  setup_kvm_ioeventfd, sample_db_ioeventfd, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "kvm-mmio-exit", "kvm-ioeventfd",
	  "guest MMIO write -> user-space MMIO exit (vCPU thread)",
	  setup_kvm_mmio_exit, sample_db_mmio_exit, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-ioeventfd", "kvm-ioeventfd",
	  "guest MMIO write -> irqlink_ioeventfd_register eventfd read by a "
	  "polling thread",
	  setup_irqlink_ioeventfd, sample_db_ioeventfd, false,
	  BENCH_WAIT_SPIN, NULL, NULL, { NULL }, BENCH_PLOT_BY_WAIT },
};
const size_t bench_paths_doorbell_n =
	sizeof(bench_paths_doorbell) / sizeof(bench_paths_doorbell[0]);
