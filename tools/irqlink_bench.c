/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench: what each interrupt path costs, irqlink's beside raw KVM's.
 *
 * Theory of operation
 * -------------------
 * Every path gets its own VM and a booted test guest (guest/kvm_guest.h).
 * A sample is one interrupt: the trigger thread reads the TSC, makes the
 * trigger call, and waits (spinning, with a timeout) until the guest has
 * counted that interrupt; only then is the next one sent, so exactly one
 * interrupt is ever in flight. The guest's ISR stamps its entry with rdtsc,
 * and on this KVM the guest TSC is the host TSC (offset 0), so
 * "ISR-entry TSC minus host TSC before the trigger" is the latency, in TSC
 * cycles, without any clock crossing threads.
 *
 * Some paths end somewhere else than the ISR:
 *   - level/INTx paths end when the host has seen the EOI come back
 *     (resamplefd read, or the device model's unmask), the full INTx cycle;
 *     their ISR-entry latency is reported as a second figure;
 *   - doorbell paths run the other way: the guest writes an MMIO doorbell
 *     and the host sees it (ioeventfd read by a polling thread, or an MMIO
 *     exit). The test guest has no timed MMIO write, so the bench installs
 *     a ten-instruction ISR of its own (see "The doorbell ISR" below) that
 *     stamps the TSC right before its write; the host sends that vector with
 *     KVM_SIGNAL_MSI to ring the doorbell.
 *
 * The noise on a shared 2-core machine is larger than the differences being
 * measured, so every irqlink path runs in the same process as its raw-KVM
 * baseline, and the paths are interleaved: the samples are split into
 * rounds and each round visits every path in turn (warmup samples first,
 * discarded), so a noisy second hits all paths alike. Compare ratios within
 * one run, not absolute figures across runs.
 *
 * The vCPU thread and the trigger thread are pinned to different CPUs by
 * default: the harness creates the vCPU thread, which inherits the creating
 * thread's affinity, so the bench pins itself to the vCPU CPU around
 * kg_start() and to the trigger CPU otherwise.
 *
 * Measured samples wait --gap-us (50) before each trigger, so the guest is
 * back in `hlt` (see run_chunk()). Interrupts/s comes from a separate
 * back-to-back loop of as many interrupts: the next trigger goes out as
 * soon as the previous one was counted, still one in flight.
 *
 * Routing: enabling N MSI routes through irqlink_routes in one batch (one
 * KVM_SET_GSI_ROUTING) against one commit per route, with the commit count
 * from irqlink_routes_stats(), and a raw single KVM_SET_GSI_ROUTING of the
 * same table as the floor.
 *
 * tests/test_bench_smoke.c includes this file with IRQLINK_BENCH_NO_MAIN to
 * run the same measurement core for a few samples per path.
 */
#include <irqlink/irqlink.h>

#include "kvm_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

/* ---- The doorbell ISR -------------------------------------------------- */

/*
 * Guest-physical layout the doorbell paths add to the test guest's map:
 * the ISR's code and its two words live in the guest's free area, and the
 * doorbell is an address the identity page tables map but no memslot
 * backs, so a write there is MMIO (an exit, or an ioeventfd hit).
 */
#define BENCH_DB_VECTOR     0x60
#define BENCH_DB_GPA        0x40000000
#define BENCH_DB_CODE_GPA   0x100000   /* KG_FREE_GPA */
#define BENCH_DB_SLOT_GPA   0x100800   /* u64: guest TSC right before the write */
#define BENCH_DB_COUNT_GPA  0x100808   /* u64: doorbells written, bumped last */
_Static_assert(BENCH_DB_CODE_GPA == KG_FREE_GPA, "doorbell ISR in the free area");

#define BENCH_STR_(x) #x
#define BENCH_STR(x) BENCH_STR_(x)

/*
 * Ring-0 guest code is emulated on kvm_pvm (~0.5-1 us an instruction), so
 * the write comes right after rdtsc and the TSC is assembled and stored only
 * afterwards: the timestamp is one instruction before the doorbell. Absolute
 * 32-bit addresses are below 2 GiB (sign extension); the LAPIC goes through
 * a register. Host-side it is data (.rodata), copied into guest RAM.
 */
__asm__(".pushsection .rodata.irqlink_bench_db, \"a\"\n"
	"bench_db_isr:\n"
	"	pushq	%rax\n"
	"	pushq	%rdx\n"
	"	rdtsc\n"
	"	movl	%eax, " BENCH_STR(BENCH_DB_GPA) "\n"
	"	shlq	$32, %rdx\n"
	"	orq	%rdx, %rax\n"
	"	movq	%rax, " BENCH_STR(BENCH_DB_SLOT_GPA) "\n"
	"	incq	" BENCH_STR(BENCH_DB_COUNT_GPA) "\n"
	"	movl	$" BENCH_STR(KG_LAPIC_GPA) ", %edx\n"
	"	movl	$0, 0xb0(%rdx)\n"
	"	popq	%rdx\n"
	"	popq	%rax\n"
	"	iretq\n"
	"bench_db_isr_end:\n"
	".popsection\n");
extern const uint8_t bench_db_isr[], bench_db_isr_end[];

/* ---- Configuration and results ----------------------------------------- */

struct bench_cfg {
	unsigned int samples;    /* measured samples per path */
	unsigned int warmup;     /* discarded samples before each chunk */
	unsigned int rounds;     /* chunks per path, interleaved */
	unsigned int routes;     /* MSI routes for the routing figures */
	unsigned int timeout_ms; /* every wait */
	unsigned int gap_us;     /* idle time before each measured trigger */
	int cpu_vcpu, cpu_trigger;
	const char *path;        /* a path name, "routing", or "all" */
	bool json;
	bool quiet;              /* no progress on stderr */
};

struct bench_stat {
	uint64_t n;
	double p50, p99, min, max; /* microseconds */
};

struct bench_result {
	const char *name;
	bool ran;
	int err;                 /* 0, or the -errno the path failed with */
	char why[200];
	uint64_t sent;           /* triggers, warmup included */
	uint64_t delivered;      /* of those, seen at the end of the path */
	struct bench_stat lat;   /* the path's latency */
	bool has_isr;
	struct bench_stat isr;   /* ISR entry, for paths that end later */
	double rate;             /* interrupts/s, back to back */
	uint64_t *lat_cyc, *isr_cyc;
};

struct bench_routing {
	bool ran;
	int err;
	char why[200];
	unsigned int routes;
	double batched_ms, per_vector_ms, raw_ms;
	uint64_t batched_commits, per_vector_commits;
	uint32_t batched_routes, per_vector_routes;
};

/* ---- Per-path state ---------------------------------------------------- */

struct run {
	const struct bench_cfg *cfg;
	const struct bench_path *p;
	struct bench_result *res;
	uint64_t timeout_cyc;

	struct kg_guest *g;
	int vm_fd;                 /* raw paths: ours, from kg_vm_create() */
	struct irqlink_vm *vm;     /* irqlink paths */
	struct irqlink_dev *dev;
	struct irqlink_bypass *bypass;
	struct irqlink_relay *relay;
	int efd, rfd;              /* trigger eventfd, resamplefd */
	int lfd;                   /* relay paths: the irqfd's own eventfd */
	bool yield;                /* waits yield the CPU (a relay shares it) */
	unsigned int vector;
	unsigned int pin;
	uint32_t gsi;
	uint64_t expected;         /* guest count of `vector` after the sample */
	uint64_t unmasks;          /* device intx_unmasks after the sample */

	volatile uint64_t *db_slot, *db_count;
	uint64_t mmio_tsc, mmio_count; /* written on the vCPU thread (atomic) */
};

struct bench_path {
	const char *name;
	const char *baseline;  /* the raw-KVM path it is compared with */
	const char *what;
	int (*setup)(struct run *r);
	/* One interrupt: trigger, wait, *lat (and *isr, if has_isr) in TSC
	 * cycles. */
	int (*sample)(struct run *r, uint64_t *lat, uint64_t *isr);
	bool has_isr;
};

/* ---- Small helpers ----------------------------------------------------- */

static inline uint64_t tsc(void)
{
	/* Keep the read from drifting after the trigger call's start. */
	_mm_lfence();
	return __rdtsc();
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double g_tsc_hz;

static double cyc_to_us(uint64_t c)
{
	return (double)c * 1e6 / g_tsc_hz;
}

/* ~100 ms against CLOCK_MONOTONIC. */
static double calibrate_tsc(void)
{
	struct timespec d = { 0, 100 * 1000 * 1000 };
	uint64_t n0 = now_ns(), t0 = tsc(), n1, t1;

	nanosleep(&d, NULL);
	n1 = now_ns();
	t1 = tsc();
	return (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
}

static int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static int set_why(struct run *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_why(struct run *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (!r->res->why[0]) {
		va_start(ap, fmt);
		vsnprintf(r->res->why, sizeof(r->res->why), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* Spin-wait bookkeeping: pause between polls, and every 256 polls check
 * the deadline and that the guest is alive. */
struct spin {
	uint64_t deadline;
	unsigned int n;
};

static void spin_init(struct run *r, struct spin *s)
{
	s->deadline = tsc() + r->timeout_cyc;
	s->n = 0;
}

static int spin_check(struct run *r, struct spin *s, const char *what)
{
	if (r->yield)
		sched_yield();
	else
		_mm_pause();
	if ((++s->n & 255) != 0)
		return 0;
	if (kg_state(r->g) != KG_RUNNING)
		return set_why(r, -EIO, "guest died waiting for %s: %s", what,
			       kg_why(r->g));
	if (tsc() > s->deadline)
		return set_why(r, -ETIMEDOUT, "timeout (%u ms) waiting for %s",
			       r->cfg->timeout_ms, what);
	return 0;
}

/* Wait until the guest counted interrupt number r->expected on r->vector. */
static int wait_isr(struct run *r)
{
	volatile struct kg_shared *sh = kg_shared(r->g);
	struct spin s;
	uint64_t n;
	int err;

	spin_init(r, &s);
	while ((n = __atomic_load_n(&sh->count[r->vector], __ATOMIC_ACQUIRE)) <
	       r->expected)
		if ((err = spin_check(r, &s, "the guest ISR")))
			return err;
	if (n != r->expected)
		return set_why(r, -EOVERFLOW, "vector 0x%x counted %" PRIu64
			       ", expected %" PRIu64, r->vector, n, r->expected);
	return 0;
}

/* Latency from host t0 to the guest's ISR entry of the interrupt just
 * counted. The guest stores the timestamp before it bumps the count. */
static int isr_latency(struct run *r, uint64_t t0, uint64_t *out)
{
	uint64_t t = kg_shared(r->g)->last_tsc[r->vector];

	if (t <= t0)
		return set_why(r, -ERANGE, "guest ISR TSC %" PRIu64 " not after "
			       "host %" PRIu64 ": guest TSC offset not 0?",
			       t, t0);
	*out = t - t0;
	return 0;
}

static int eventfd_nb(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

static int efd_signal(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* Spin on a non-blocking eventfd until it reads. */
static int spin_read(struct run *r, int fd, const char *what)
{
	struct spin s;
	uint64_t v;
	int err;

	spin_init(r, &s);
	for (;;) {
		if (read(fd, &v, sizeof(v)) == sizeof(v))
			return 0;
		if (errno != EAGAIN)
			return set_why(r, -errno, "read %s: %s", what,
				       strerror(errno));
		if ((err = spin_check(r, &s, what)))
			return err;
	}
}

/* ---- Guests ------------------------------------------------------------ */

/* Boot a guest on vm_fd with its vCPU thread on cfg->cpu_vcpu. */
static int guest_boot(struct run *r, int vm_fd)
{
	int err;

	err = kg_create(vm_fd, &r->g);
	if (err)
		return set_why(r, err, "kg_create: %s", strerror(-err));
	if ((err = pin_self(r->cfg->cpu_vcpu)))
		return set_why(r, err, "pin to CPU %d: %s", r->cfg->cpu_vcpu,
			       strerror(-err));
	err = kg_start(r->g);
	pin_self(r->cfg->cpu_trigger);
	if (err)
		return set_why(r, err, "kg_start: %s %s", strerror(-err),
			       kg_why(r->g));
	return 0;
}

static int raw_vm(struct run *r)
{
	r->vm_fd = kg_vm_create();
	if (r->vm_fd < 0)
		return set_why(r, r->vm_fd, "kg_vm_create: %s",
			       strerror(-r->vm_fd));
	return guest_boot(r, r->vm_fd);
}

static int lib_vm(struct run *r)
{
	int err = irqlink_vm_create(NULL, &r->vm);

	if (err)
		return set_why(r, err, "irqlink_vm_create: %s", strerror(-err));
	return guest_boot(r, irqlink_vm_fd(r->vm));
}

static int program_pin(struct run *r, unsigned int pin, unsigned int vector,
		       unsigned int flags)
{
	int err = kg_program_ioapic(r->g, pin, vector, flags);

	r->pin = pin;
	r->vector = vector;
	if (err)
		return set_why(r, err, "kg_program_ioapic: %s", strerror(-err));
	return 0;
}

static void run_teardown(struct run *r)
{
	/* The relay first (it borrows the VM), then the device: it stops
	 * signalling before the irqfds go; then the guest (it holds a dup of
	 * the VM fd), then the VM. */
	irqlink_relay_destroy(r->relay);
	irqlink_dev_destroy(r->dev);
	kg_destroy(r->g);
	irqlink_vm_destroy(r->vm);
	irqlink_bypass_destroy(r->bypass);
	if (r->vm_fd >= 0)
		close(r->vm_fd);
	if (r->efd >= 0)
		close(r->efd);
	if (r->rfd >= 0)
		close(r->rfd);
	if (r->lfd >= 0)
		close(r->lfd);
	r->relay = NULL;
	r->dev = NULL;
	r->g = NULL;
	r->vm = NULL;
	r->bypass = NULL;
	r->vm_fd = r->efd = r->rfd = r->lfd = -1;
}

/* ---- Raw-KVM paths (no irqlink code) ------------------------------------ */

static int raw_irqfd(struct run *r, int fd, uint32_t gsi, uint32_t flags,
		     int rfd)
{
	struct kvm_irqfd req;

	memset(&req, 0, sizeof(req));
	req.fd = (uint32_t)fd;
	req.gsi = gsi;
	req.flags = flags;
	req.resamplefd = (uint32_t)rfd;
	if (ioctl(r->vm_fd, KVM_IRQFD, &req))
		return set_why(r, -errno, "KVM_IRQFD: %s", strerror(errno));
	return 0;
}

/* Trigger = one eventfd write; end = guest ISR entry. */
static int sample_efd_isr(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t t0;
	int err;

	(void)isr;
	r->expected++;
	t0 = tsc();
	if ((err = efd_signal(r->efd)))
		return set_why(r, err, "eventfd write: %s", strerror(-err));
	if ((err = wait_isr(r)))
		return err;
	return isr_latency(r, t0, lat);
}

/* KVM_IRQFD, edge, on IOAPIC pin 16. */
static int setup_kvm_irqfd_ioapic(struct run *r)
{
	int err;

	if ((err = raw_vm(r)) || (err = program_pin(r, 16, 0x40, KG_EDGE)))
		return err;
	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	return raw_irqfd(r, r->efd, 16, 0, 0);
}

/* KVM_IRQ_LINE assert then deassert on IOAPIC pin 18 (edge). */
static int setup_kvm_irq_line(struct run *r)
{
	int err;

	if ((err = raw_vm(r)) || (err = program_pin(r, 18, 0x41, KG_EDGE)))
		return err;
	return 0;
}

static int sample_kvm_irq_line(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct kvm_irq_level up = { .irq = r->pin, .level = 1 };
	struct kvm_irq_level down = { .irq = r->pin, .level = 0 };
	uint64_t t0;
	int err;

	(void)isr;
	r->expected++;
	t0 = tsc();
	if (ioctl(r->vm_fd, KVM_IRQ_LINE, &up) ||
	    ioctl(r->vm_fd, KVM_IRQ_LINE, &down))
		return set_why(r, -errno, "KVM_IRQ_LINE: %s", strerror(errno));
	if ((err = wait_isr(r)))
		return err;
	return isr_latency(r, t0, lat);
}

static struct kvm_msi msi_to(unsigned int vector)
{
	struct kvm_msi m;

	memset(&m, 0, sizeof(m));
	m.address_lo = KG_LAPIC_GPA; /* destination APIC ID 0 */
	m.data = vector;             /* fixed, edge */
	return m;
}

/* The default irqchip routes (IOAPIC pins 0-23, PIC pins 0-15) plus
 * `nmsi` MSI routes from GSI 24 up, as one table: KVM_SET_GSI_ROUTING
 * replaces the whole table, so the pins must be in it. */
static struct kvm_irq_routing *raw_table(unsigned int nmsi)
{
	unsigned int n = 24 + 16 + nmsi, k = 0;
	struct kvm_irq_routing *t;

	t = calloc(1, sizeof(*t) + n * sizeof(t->entries[0]));
	if (!t)
		return NULL;
	for (uint32_t gsi = 0; gsi < 24; gsi++, k++) {
		t->entries[k].gsi = gsi;
		t->entries[k].type = KVM_IRQ_ROUTING_IRQCHIP;
		t->entries[k].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		t->entries[k].u.irqchip.pin = gsi;
	}
	for (uint32_t gsi = 0; gsi < 16; gsi++, k++) {
		t->entries[k].gsi = gsi;
		t->entries[k].type = KVM_IRQ_ROUTING_IRQCHIP;
		t->entries[k].u.irqchip.irqchip =
			gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		t->entries[k].u.irqchip.pin = gsi % 8;
	}
	for (unsigned int i = 0; i < nmsi; i++, k++) {
		struct kvm_msi m = msi_to(0x20 + i % 0xc0);

		t->entries[k].gsi = 24 + i;
		t->entries[k].type = KVM_IRQ_ROUTING_MSI;
		t->entries[k].u.msi.address_lo = m.address_lo;
		t->entries[k].u.msi.data = m.data;
	}
	t->nr = k;
	return t;
}

/* MSI route on GSI 24 + KVM_IRQFD. */
static int setup_kvm_msi_irqfd(struct run *r)
{
	struct kvm_irq_routing *t;
	int err;

	if ((err = raw_vm(r)))
		return err;
	r->vector = 0x42;
	if (!(t = raw_table(1)))
		return set_why(r, -ENOMEM, "out of memory");
	t->entries[t->nr - 1].u.msi.data = r->vector;
	err = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) ? -errno : 0;
	free(t);
	if (err)
		return set_why(r, err, "KVM_SET_GSI_ROUTING: %s", strerror(-err));
	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	return raw_irqfd(r, r->efd, 24, 0, 0);
}

/* KVM_SIGNAL_MSI. */
static int setup_kvm_signal_msi(struct run *r)
{
	int err;

	if ((err = raw_vm(r)))
		return err;
	r->vector = 0x43;
	return 0;
}

static int sample_signal_msi(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct kvm_msi m = msi_to(r->vector);
	int vm = r->vm ? irqlink_vm_fd(r->vm) : r->vm_fd;
	uint64_t t0;
	int n, err;

	(void)isr;
	r->expected++;
	t0 = tsc();
	n = ioctl(vm, KVM_SIGNAL_MSI, &m);
	if (n != 1)
		return set_why(r, n < 0 ? -errno : -EIO,
			       "KVM_SIGNAL_MSI returned %d", n);
	if ((err = wait_isr(r)))
		return err;
	return isr_latency(r, t0, lat);
}

/* Level irqfd with resamplefd on IOAPIC pin 17; the sample ends when the
 * EOI's resample reaches the host (the full INTx cycle). */
static int setup_kvm_level_resample(struct run *r)
{
	int err;

	if ((err = raw_vm(r)) || (err = program_pin(r, 17, 0x44, KG_LEVEL)))
		return err;
	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	if ((r->rfd = eventfd_nb()) < 0)
		return set_why(r, r->rfd, "eventfd: %s", strerror(-r->rfd));
	return raw_irqfd(r, r->efd, 17, KVM_IRQFD_FLAG_RESAMPLE, r->rfd);
}

/*
 * Wait for both ends of an INTx cycle at once: the guest counting the
 * interrupt, and `cycle_done` (the resamplefd read, or the model's unmask).
 * Waiting for one and then the other would time the later of the two plus
 * the guest's ISR bookkeeping; polling both times each as it happens (on
 * kvm_pvm the EOI, and so the resample, comes at injection, before the ISR
 * has finished). *t_done gets the TSC when cycle_done first said yes.
 */
static int wait_intx_cycle(struct run *r, int (*cycle_done)(struct run *r),
			   uint64_t *t_done)
{
	volatile struct kg_shared *sh = kg_shared(r->g);
	bool isr_seen = false, done = false;
	struct spin s;
	int d, err;

	spin_init(r, &s);
	while (!isr_seen || !done) {
		if (!done) {
			if ((d = cycle_done(r)) < 0)
				return d;
			if (d) {
				*t_done = tsc();
				done = true;
			}
		}
		if (!isr_seen)
			isr_seen = __atomic_load_n(&sh->count[r->vector],
						   __ATOMIC_ACQUIRE) >=
				   r->expected;
		if (!isr_seen || !done)
			if ((err = spin_check(r, &s, done ? "the guest ISR"
					      : "the end of the INTx cycle")))
				return err;
	}
	return wait_isr(r); /* checks the count is exact */
}

static int resamplefd_read(struct run *r)
{
	uint64_t v;

	if (read(r->rfd, &v, sizeof(v)) == sizeof(v))
		return 1;
	if (errno == EAGAIN)
		return 0;
	return set_why(r, -errno, "read resamplefd: %s", strerror(errno));
}

static int sample_kvm_level_resample(struct run *r, uint64_t *lat,
				     uint64_t *isr)
{
	uint64_t t0, t1 = 0;
	int err;

	r->expected++;
	t0 = tsc();
	if ((err = efd_signal(r->efd)))
		return set_why(r, err, "eventfd write: %s", strerror(-err));
	if ((err = wait_intx_cycle(r, resamplefd_read, &t1)))
		return err;
	*lat = t1 - t0;
	return isr_latency(r, t0, isr);
}

/* ---- Doorbells (guest -> host) ------------------------------------------ */

/* Runs on the vCPU thread for every userspace MMIO exit. */
static void db_mmio_exit(void *opaque, uint64_t gpa, uint8_t *data,
			 uint32_t len, bool is_write)
{
	struct run *r = opaque;
	uint64_t t = tsc();

	if (gpa != BENCH_DB_GPA || !is_write) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	__atomic_store_n(&r->mmio_tsc, t, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->mmio_count, 1, __ATOMIC_RELEASE);
}

/*
 * Copy the doorbell ISR into guest RAM and point BENCH_DB_VECTOR's gate at it.
 * The guest built its IDT at boot and reads it again on every interrupt,
 * and nothing sends BENCH_DB_VECTOR until this returns, so rewriting a gate of
 * the running guest is safe.
 */
static int db_install(struct run *r)
{
	size_t len = (size_t)(bench_db_isr_end - bench_db_isr);
	uint8_t *code = kg_mem(r->g, BENCH_DB_CODE_GPA, len);
	uint8_t *gate = kg_mem(r->g, KG_IDT_GPA + 16 * BENCH_DB_VECTOR, 16);
	uint32_t off = BENCH_DB_CODE_GPA;

	if (!code || !gate || len > BENCH_DB_SLOT_GPA - BENCH_DB_CODE_GPA)
		return set_why(r, -EINVAL, "doorbell ISR does not fit");
	memcpy(code, bench_db_isr, len);
	r->db_slot = kg_mem(r->g, BENCH_DB_SLOT_GPA, 8);
	r->db_count = kg_mem(r->g, BENCH_DB_COUNT_GPA, 8);
	*r->db_slot = 0;
	*r->db_count = 0;
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
	r->vector = BENCH_DB_VECTOR;
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
		return set_why(r, err, "VM: %s", strerror(-err));
	err = kg_create(lib ? irqlink_vm_fd(r->vm) : r->vm_fd, &r->g);
	if (err)
		return set_why(r, err, "kg_create: %s", strerror(-err));
	/* Only while stopped; unused when the ioeventfd takes the write. */
	kg_set_mmio_handler(r->g, db_mmio_exit, r);
	if ((err = pin_self(r->cfg->cpu_vcpu)))
		return set_why(r, err, "pin: %s", strerror(-err));
	err = kg_start(r->g);
	pin_self(r->cfg->cpu_trigger);
	if (err)
		return set_why(r, err, "kg_start: %s %s", strerror(-err),
			       kg_why(r->g));
	if ((err = db_install(r)) || !ioeventfd)
		return err;

	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	memset(&req, 0, sizeof(req));
	req.addr = BENCH_DB_GPA;
	req.len = 4;
	req.fd = r->efd;
	if (lib) {
		err = irqlink_ioeventfd_register(r->vm, &req);
		if (err)
			return set_why(r, err, "irqlink_ioeventfd_register: %s",
				       strerror(-err));
	} else if (ioctl(r->vm_fd, KVM_IOEVENTFD, &req)) {
		return set_why(r, -errno, "KVM_IOEVENTFD: %s", strerror(errno));
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
static int db_ring(struct run *r)
{
	struct kvm_msi m = msi_to(BENCH_DB_VECTOR);
	int n = ioctl(kg_vm_fd(r->g), KVM_SIGNAL_MSI, &m);

	r->expected++;
	if (n != 1)
		return set_why(r, n < 0 ? -errno : -EIO,
			       "KVM_SIGNAL_MSI returned %d", n);
	return 0;
}

/*
 * Wait for the ISR to finish (its TSC is stored after the write). *t is
 * written on every path: set_why() passes its error through, so the compiler
 * cannot prove a failure return is non-zero, and a caller would otherwise
 * appear to read *t unset.
 */
static int db_guest_tsc(struct run *r, uint64_t *t)
{
	struct spin s;
	int err;

	*t = 0;
	spin_init(r, &s);
	while (__atomic_load_n(r->db_count, __ATOMIC_ACQUIRE) < r->expected)
		if ((err = spin_check(r, &s, "the doorbell ISR")))
			return err;
	if (*r->db_count != r->expected)
		return set_why(r, -EOVERFLOW, "doorbell ISR ran too often");
	*t = *r->db_slot;
	return 0;
}

/* The ioeventfd signalled, seen by a thread polling it (this one). */
static int sample_db_ioeventfd(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t t1, tg;
	int err;

	(void)isr;
	if ((err = db_ring(r)) ||
	    (err = spin_read(r, r->efd, "the ioeventfd")))
		return err;
	t1 = tsc();
	if ((err = db_guest_tsc(r, &tg)))
		return err;
	if (t1 <= tg)
		return set_why(r, -ERANGE, "ioeventfd seen before the write");
	*lat = t1 - tg;
	return 0;
}

/* The MMIO exit reached user space on the vCPU thread. */
static int sample_db_mmio_exit(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct spin s;
	uint64_t t1, tg;
	int err;

	(void)isr;
	if ((err = db_ring(r)))
		return err;
	spin_init(r, &s);
	while (__atomic_load_n(&r->mmio_count, __ATOMIC_ACQUIRE) < r->expected)
		if ((err = spin_check(r, &s, "the MMIO exit")))
			return err;
	t1 = __atomic_load_n(&r->mmio_tsc, __ATOMIC_RELAXED);
	if ((err = db_guest_tsc(r, &tg)))
		return err;
	if (t1 <= tg)
		return set_why(r, -ERANGE, "MMIO exit before the write");
	*lat = t1 - tg;
	return 0;
}

/* ---- irqlink paths ------------------------------------------------------ */

static int dev_set_efd(struct run *r, unsigned int index, uint32_t action,
		       int fd)
{
	union {
		struct vfio_irq_set s;
		uint8_t b[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} u;
	int32_t fd32 = fd;
	int err;

	memset(&u, 0, sizeof(u));
	u.s.argsz = sizeof(u.b);
	u.s.flags = VFIO_IRQ_SET_DATA_EVENTFD | action;
	u.s.index = index;
	u.s.start = 0;
	u.s.count = 1;
	memcpy(u.s.data, &fd32, sizeof(fd32));
	err = irqlink_dev_set_irqs(r->dev, &u.s);
	if (err)
		return set_why(r, err < 0 ? err : -EIO,
			       "irqlink_dev_set_irqs(index %u): %d", index, err);
	return 0;
}

/*
 * irqlink_dev_msi_fire() -> the vector's eventfd -> an edge irqfd on an MSI
 * route from irqlink_routes: the bypass configuration, where no user-space
 * hop sits between the device model and KVM. The device is attached to a
 * bypass manager as producer, as a VMM would have it.
 */
static int setup_irqlink_msi_irqfd(struct run *r)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 4 };
	struct kvm_msi m;
	int err;

	if ((err = lib_vm(r)))
		return err;
	r->vector = 0x45;
	m = msi_to(r->vector);
	if ((err = irqlink_bypass_create(&r->bypass)) ||
	    (err = irqlink_dev_create(&shape, &r->dev)) ||
	    (err = irqlink_dev_attach_bypass(r->dev, r->bypass)))
		return set_why(r, err, "device: %s", strerror(-err));
	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	if ((err = dev_set_efd(r, VFIO_PCI_MSIX_IRQ_INDEX,
			       VFIO_IRQ_SET_ACTION_TRIGGER, r->efd)))
		return err;
	if ((err = irqlink_routes_add_msi(r->vm, &m, &r->gsi)))
		return set_why(r, err, "irqlink_routes_add_msi: %s",
			       strerror(-err));
	if ((err = irqlink_irqfd_attach_edge(r->vm, r->efd, r->gsi)))
		return set_why(r, err, "irqlink_irqfd_attach_edge: %s",
			       strerror(-err));
	return 0;
}

static int sample_dev_msi(struct run *r, uint64_t *lat,
				    uint64_t *isr)
{
	uint64_t t0;
	int n, err;

	(void)isr;
	r->expected++;
	t0 = tsc();
	n = irqlink_dev_msi_fire(r->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0);
	if (n != 1)
		return set_why(r, n < 0 ? n : -EIO,
			       "irqlink_dev_msi_fire returned %d", n);
	if ((err = wait_isr(r)))
		return err;
	return isr_latency(r, t0, lat);
}

/*
 * irqlink_dev_intx_assert() -> level irqfd (IOAPIC pin 17) -> guest ->
 * EOI -> resamplefd -> the model's unmask. The bench drives the model's
 * unmask watching from its own loop (irqlink_dev_dispatch()), as the raw
 * baseline reads its resamplefd from its own loop: no third thread, which a
 * 2-core machine could only place on a CPU already busy.
 */
static int setup_irqlink_intx_resample(struct run *r)
{
	struct irqlink_dev_shape shape = { .intx_pin = true };
	int err;

	if ((err = lib_vm(r)) || (err = program_pin(r, 17, 0x46, KG_LEVEL)))
		return err;
	if ((err = irqlink_dev_create(&shape, &r->dev)))
		return set_why(r, err, "irqlink_dev_create: %s", strerror(-err));
	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	if ((r->rfd = eventfd_nb()) < 0)
		return set_why(r, r->rfd, "eventfd: %s", strerror(-r->rfd));
	if ((err = dev_set_efd(r, VFIO_PCI_INTX_IRQ_INDEX,
			       VFIO_IRQ_SET_ACTION_TRIGGER, r->efd)) ||
	    (err = dev_set_efd(r, VFIO_PCI_INTX_IRQ_INDEX,
			       VFIO_IRQ_SET_ACTION_UNMASK, r->rfd)))
		return err;
	err = irqlink_irqfd_attach_level(r->vm, r->efd, r->rfd, r->pin);
	if (err)
		return set_why(r, err, "irqlink_irqfd_attach_level: %s",
			       strerror(-err));
	return 0;
}

/* The model has carried out the unmask this cycle waits for. */
static int model_unmasked(struct run *r)
{
	struct irqlink_dev_stats st;
	int n = irqlink_dev_dispatch(r->dev);

	if (n < 0)
		return set_why(r, n, "irqlink_dev_dispatch: %s", strerror(-n));
	if (n == 0)
		return 0;
	irqlink_dev_get_stats(r->dev, &st);
	if (st.intx_unmasks > r->unmasks)
		return set_why(r, -EOVERFLOW, "%" PRIu64 " unmasks, expected %"
			       PRIu64, st.intx_unmasks, r->unmasks);
	return st.intx_unmasks == r->unmasks;
}

/*
 * The device pulses its line: assert (the model masks and signals), then
 * deassert at once, so the unmask that the EOI brings finds the line low
 * and does not fire again. The sample ends when the model has unmasked.
 */
static int sample_irqlink_intx_resample(struct run *r, uint64_t *lat,
					uint64_t *isr)
{
	uint64_t t0, t1 = 0;
	int n, err;

	r->expected++;
	r->unmasks++;
	t0 = tsc();
	n = irqlink_dev_intx_assert(r->dev);
	if (n != 1)
		return set_why(r, n < 0 ? n : -EIO,
			       "irqlink_dev_intx_assert returned %d", n);
	if ((err = irqlink_dev_intx_deassert(r->dev)))
		return set_why(r, err, "irqlink_dev_intx_deassert: %d", err);
	if ((err = wait_intx_cycle(r, model_unmasked, &t1)))
		return err;
	*lat = t1 - t0;
	return isr_latency(r, t0, isr);
}

/*
 * The user-space relay (<irqlink/relay.h>): irqlink_dev_msi_fire() -> the
 * vector's eventfd -> the relay thread (epoll wakeup, read) -> its action.
 * The relay is pinned to the trigger CPU, never the vCPU's, as relay.h
 * asks; this thread's waits then yield so the relay can run there.
 */
static int setup_relay(struct run *r, unsigned int vector, bool to_irqfd)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 4 };
	struct irqlink_relay_config rc = {
		.flags = IRQLINK_RELAY_PIN_CPU,
		.cpu = r->cfg->cpu_trigger,
	};
	struct irqlink_relay_action act;
	struct kvm_msi m;
	int err;

	if ((err = lib_vm(r)))
		return err;
	r->vector = vector;
	r->yield = true;
	m = msi_to(r->vector);
	if ((err = irqlink_dev_create(&shape, &r->dev)))
		return set_why(r, err, "irqlink_dev_create: %s", strerror(-err));
	if ((r->efd = eventfd_nb()) < 0)
		return set_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	if ((err = dev_set_efd(r, VFIO_PCI_MSIX_IRQ_INDEX,
			       VFIO_IRQ_SET_ACTION_TRIGGER, r->efd)))
		return err;
	if ((err = irqlink_relay_create(r->vm, &rc, &r->relay)))
		return set_why(r, err, "irqlink_relay_create: %s",
			       strerror(-err));
	memset(&act, 0, sizeof(act));
	if (to_irqfd) {
		/* The relay writes L, an edge irqfd on an irqlink MSI route. */
		if ((r->lfd = eventfd_nb()) < 0)
			return set_why(r, r->lfd, "eventfd: %s",
				       strerror(-r->lfd));
		if ((err = irqlink_routes_add_msi(r->vm, &m, &r->gsi)))
			return set_why(r, err, "irqlink_routes_add_msi: %s",
				       strerror(-err));
		if ((err = irqlink_irqfd_attach_edge(r->vm, r->lfd, r->gsi)))
			return set_why(r, err, "irqlink_irqfd_attach_edge: %s",
				       strerror(-err));
		act.kind = IRQLINK_RELAY_EVENTFD;
		act.target_fd = r->lfd;
	} else {
		act.kind = IRQLINK_RELAY_MSI;
		act.msi = m;
	}
	if ((err = irqlink_relay_add(r->relay, r->efd, &act)))
		return set_why(r, err, "irqlink_relay_add: %s", strerror(-err));
	return 0;
}

static int setup_relay_msi(struct run *r)
{
	return setup_relay(r, 0x47, false);
}

static int setup_relay_irqfd(struct run *r)
{
	return setup_relay(r, 0x48, true);
}

/* ---- The path table ----------------------------------------------------- */

static const struct bench_path bench_paths[] = {
	{ "kvm-irqfd-ioapic", NULL,
	  "KVM_IRQFD, edge, IOAPIC pin -> ISR entry",
	  setup_kvm_irqfd_ioapic, sample_efd_isr, false },
	{ "kvm-irq-line", NULL,
	  "KVM_IRQ_LINE assert+deassert -> ISR entry",
	  setup_kvm_irq_line, sample_kvm_irq_line, false },
	{ "kvm-msi-irqfd", NULL,
	  "MSI route + KVM_IRQFD -> ISR entry",
	  setup_kvm_msi_irqfd, sample_efd_isr, false },
	{ "kvm-signal-msi", NULL,
	  "KVM_SIGNAL_MSI -> ISR entry",
	  setup_kvm_signal_msi, sample_signal_msi, false },
	{ "kvm-level-resample", NULL,
	  "level irqfd -> ISR -> EOI -> resamplefd read (full INTx cycle)",
	  setup_kvm_level_resample, sample_kvm_level_resample, true },
	{ "kvm-ioeventfd", NULL,
	  "guest MMIO write -> KVM_IOEVENTFD eventfd read by polling thread",
	  setup_kvm_ioeventfd, sample_db_ioeventfd, false },
	{ "kvm-mmio-exit", "kvm-ioeventfd",
	  "guest MMIO write -> userspace MMIO exit (vCPU thread)",
	  setup_kvm_mmio_exit, sample_db_mmio_exit, false },
	{ "irqlink-msi-irqfd", "kvm-msi-irqfd",
	  "irqlink_dev_msi_fire -> bypass irqfd on irqlink MSI route -> ISR",
	  setup_irqlink_msi_irqfd, sample_dev_msi, false },
	{ "irqlink-intx-resample", "kvm-level-resample",
	  "irqlink_dev_intx_assert -> level irqfd -> EOI -> model unmask",
	  setup_irqlink_intx_resample, sample_irqlink_intx_resample, true },
	{ "irqlink-ioeventfd", "kvm-ioeventfd",
	  "guest MMIO write -> irqlink_ioeventfd eventfd read by polling thread",
	  setup_irqlink_ioeventfd, sample_db_ioeventfd, false },
	{ "irqlink-relay-msi", "kvm-signal-msi",
	  "irqlink_dev_msi_fire -> relay thread -> KVM_SIGNAL_MSI -> ISR",
	  setup_relay_msi, sample_dev_msi, false },
	{ "irqlink-relay-irqfd", "kvm-msi-irqfd",
	  "irqlink_dev_msi_fire -> relay thread -> irqfd write (MSI route) -> ISR",
	  setup_relay_irqfd, sample_dev_msi, false },
};
#define BENCH_NPATHS (sizeof(bench_paths) / sizeof(bench_paths[0]))

static int path_index(const char *name)
{
	for (size_t i = 0; i < BENCH_NPATHS; i++)
		if (!strcmp(bench_paths[i].name, name))
			return (int)i;
	return -1;
}

/* ---- Statistics --------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static uint64_t pct(const uint64_t *v, uint64_t n, unsigned int p)
{
	uint64_t rank = (n * p + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

static void stat_fill(struct bench_stat *s, uint64_t *v, uint64_t n)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	if (!n)
		return;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	s->p50 = cyc_to_us(pct(v, n, 50));
	s->p99 = cyc_to_us(pct(v, n, 99));
	s->min = cyc_to_us(v[0]);
	s->max = cyc_to_us(v[n - 1]);
}

/* ---- The measurement core ----------------------------------------------- */


enum chunk_mode {
	CHUNK_WARMUP,   /* checked, not kept */
	CHUNK_MEASURE,  /* latency: kept, each trigger after a gap */
	CHUNK_B2B,      /* back to back, no gap: only the loop's time counts */
};

/*
 * Run `count` samples on r. Latency samples wait cfg->gap_us before each
 * trigger: the guest's ISR tail and idle loop run in KVM's emulator (several
 * microseconds), and an interrupt sent before the guest is back in `hlt`
 * would measure that instead of the path. The gap is well inside KVM's
 * 200 us halt-polling window, so the vCPU is still polling, not asleep.
 */
static int run_chunk(struct run *r, unsigned int count, enum chunk_mode mode,
		     uint64_t *kept, uint64_t *b2b_n, uint64_t *b2b_cyc)
{
	struct bench_result *res = r->res;
	uint64_t gap = (uint64_t)(g_tsc_hz * r->cfg->gap_us / 1e6);
	uint64_t lat = 0, isr = 0, t0 = tsc();
	int err;

	for (unsigned int i = 0; i < count; i++) {
		if (mode != CHUNK_B2B && gap) {
			uint64_t until = tsc() + gap;

			while (tsc() < until)
				if (r->yield)
					sched_yield();
				else
					_mm_pause();
		}
		res->sent++;
		if ((err = r->p->sample(r, &lat, &isr)))
			return err;
		res->delivered++;
		if (mode == CHUNK_MEASURE) {
			res->lat_cyc[*kept] = lat;
			res->isr_cyc[*kept] = isr;
			(*kept)++;
		}
	}
	if (mode == CHUNK_B2B) {
		*b2b_cyc += tsc() - t0;
		*b2b_n += count;
	}
	return 0;
}

/* Which paths a --path value selects: the path and its baseline, or all. */
static void select_paths(const char *sel, bool *on)
{
	int k = path_index(sel);

	for (size_t i = 0; i < BENCH_NPATHS; i++)
		on[i] = !strcmp(sel, "all");
	if (k >= 0) {
		on[k] = true;
		if (bench_paths[k].baseline)
			on[path_index(bench_paths[k].baseline)] = true;
	}
}

static void bench_free_results(struct bench_result *res)
{
	for (size_t i = 0; i < BENCH_NPATHS; i++) {
		free(res[i].lat_cyc);
		free(res[i].isr_cyc);
		res[i].lat_cyc = res[i].isr_cyc = NULL;
	}
}

/*
 * Measure every path cfg->path selects; res[] has BENCH_NPATHS entries
 * (unselected ones have ran == false). Every path is set up first, then the
 * rounds interleave them, then all are torn down. A failing path stops
 * there with res[i].err and .why set; the others go on. The calling
 * thread's CPU affinity is restored before returning. Returns 0 if every
 * selected path delivered every sample, else the first path's error.
 */
static int bench_run_paths(const struct bench_cfg *cfg,
			   struct bench_result *res)
{
	struct run runs[BENCH_NPATHS];
	bool on[BENCH_NPATHS];
	uint64_t kept[BENCH_NPATHS] = { 0 };
	uint64_t b2b_n[BENCH_NPATHS] = { 0 }, b2b_cyc[BENCH_NPATHS] = { 0 };
	cpu_set_t saved;
	bool have_saved;
	int first = 0;

	have_saved = sched_getaffinity(0, sizeof(saved), &saved) == 0;
	pin_self(cfg->cpu_trigger);
	select_paths(cfg->path, on);
	memset(runs, 0, sizeof(runs));
	for (size_t i = 0; i < BENCH_NPATHS; i++) {
		struct run *r = &runs[i];

		memset(&res[i], 0, sizeof(res[i]));
		res[i].name = bench_paths[i].name;
		r->vm_fd = r->efd = r->rfd = r->lfd = -1;
		if (!on[i])
			continue;
		r->cfg = cfg;
		r->p = &bench_paths[i];
		r->res = &res[i];
		r->timeout_cyc = (uint64_t)(g_tsc_hz * cfg->timeout_ms / 1000);
		/* Sharing the vCPU's CPU, a spinning wait would hold off the
		 * very thread it waits for. */
		r->yield = cfg->cpu_vcpu == cfg->cpu_trigger;
		res[i].ran = true;
		res[i].has_isr = bench_paths[i].has_isr;
		res[i].lat_cyc = calloc(cfg->samples ? cfg->samples : 1, 8);
		res[i].isr_cyc = calloc(cfg->samples ? cfg->samples : 1, 8);
		if (!res[i].lat_cyc || !res[i].isr_cyc)
			res[i].err = set_why(r, -ENOMEM, "out of memory");
		else
			res[i].err = bench_paths[i].setup(r);
		if (!cfg->quiet)
			fprintf(stderr, "irqlink-bench: %-22s %s\n",
				bench_paths[i].name,
				res[i].err ? res[i].why : "booted");
	}

	for (unsigned int round = 0; round < cfg->rounds; round++) {
		for (size_t i = 0; i < BENCH_NPATHS; i++) {
			unsigned int share = cfg->samples / cfg->rounds;
			struct run *r = &runs[i];

			if (!on[i] || res[i].err)
				continue;
			if (round == cfg->rounds - 1)
				share = cfg->samples - (unsigned int)kept[i];
			res[i].err = run_chunk(r, cfg->warmup, CHUNK_WARMUP,
					       NULL, NULL, NULL);
			if (!res[i].err)
				res[i].err = run_chunk(r, share, CHUNK_MEASURE,
						       &kept[i], NULL, NULL);
			if (!res[i].err)
				res[i].err = run_chunk(r, share, CHUNK_B2B,
						       NULL, &b2b_n[i],
						       &b2b_cyc[i]);
		}
		if (!cfg->quiet)
			fprintf(stderr, "irqlink-bench: round %u/%u done\n",
				round + 1, cfg->rounds);
	}

	for (size_t i = 0; i < BENCH_NPATHS; i++) {
		if (!on[i])
			continue;
		run_teardown(&runs[i]);
		if (res[i].err && !first)
			first = res[i].err;
		stat_fill(&res[i].lat, res[i].lat_cyc, kept[i]);
		if (res[i].has_isr)
			stat_fill(&res[i].isr, res[i].isr_cyc, kept[i]);
		if (b2b_cyc[i])
			res[i].rate = (double)b2b_n[i] * g_tsc_hz /
				      (double)b2b_cyc[i];
	}
	if (have_saved)
		sched_setaffinity(0, sizeof(saved), &saved);
	return first;
}

/* ---- Routing ------------------------------------------------------------ */

static int routing_fill(struct bench_routing *rt, bool batched,
			double *ms, uint64_t *commits, uint32_t *routes)
{
	struct irqlink_routes_stats a, b;
	struct irqlink_vm *vm;
	uint64_t t0;
	uint32_t gsi;
	int err;

	if ((err = irqlink_vm_create(NULL, &vm))) {
		snprintf(rt->why, sizeof(rt->why), "irqlink_vm_create: %s",
			 strerror(-err));
		return err;
	}
	irqlink_routes_stats(vm, &a);
	t0 = now_ns();
	if (batched)
		err = irqlink_routes_begin(vm);
	for (unsigned int i = 0; !err && i < rt->routes; i++) {
		struct kvm_msi m = msi_to(0x20 + i % 0xc0);

		err = irqlink_routes_add_msi(vm, &m, &gsi);
	}
	if (batched && !err)
		err = irqlink_routes_commit(vm);
	*ms = (double)(now_ns() - t0) / 1e6;
	irqlink_routes_stats(vm, &b);
	*commits = b.commits - a.commits;
	*routes = b.committed_routes;
	irqlink_vm_destroy(vm);
	if (err)
		snprintf(rt->why, sizeof(rt->why), "%s routes: %s",
			 batched ? "batched" : "per-vector", strerror(-err));
	return err;
}

/*
 * Enable cfg->routes MSI routes (GSI 24 up) on a fresh VM three ways:
 * irqlink batched (begin, N adds, one commit), irqlink one commit per route,
 * and one raw KVM_SET_GSI_ROUTING of the same table.
 */
static int bench_routing(const struct bench_cfg *cfg, struct bench_routing *rt)
{
	struct kvm_irq_routing *t;
	uint64_t t0;
	int vm, err;

	memset(rt, 0, sizeof(*rt));
	rt->ran = true;
	rt->routes = cfg->routes;
	if ((err = routing_fill(rt, true, &rt->batched_ms,
				&rt->batched_commits, &rt->batched_routes)) ||
	    (err = routing_fill(rt, false, &rt->per_vector_ms,
				&rt->per_vector_commits,
				&rt->per_vector_routes)))
		return rt->err = err;

	vm = kg_vm_create();
	if (vm < 0) {
		snprintf(rt->why, sizeof(rt->why), "kg_vm_create: %s",
			 strerror(-vm));
		return rt->err = vm;
	}
	t = raw_table(cfg->routes);
	if (!t) {
		close(vm);
		return rt->err = -ENOMEM;
	}
	t0 = now_ns();
	err = ioctl(vm, KVM_SET_GSI_ROUTING, t) ? -errno : 0;
	rt->raw_ms = (double)(now_ns() - t0) / 1e6;
	free(t);
	close(vm);
	if (err)
		snprintf(rt->why, sizeof(rt->why), "KVM_SET_GSI_ROUTING: %s",
			 strerror(-err));
	return rt->err = err;
}

/* ---- Reporting ---------------------------------------------------------- */

struct bench_machine {
	long nproc;
	char cpu[128];
	char kernel[128];
	char kvm[32];
	double tsc_mhz;
	double kvm_tsc_mhz;   /* KVM_GET_TSC_KHZ of a vCPU, 0 if unknown */
};

static void machine_info(struct bench_machine *m)
{
	struct utsname u;
	char line[256];
	FILE *f;

	memset(m, 0, sizeof(*m));
	m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(m->cpu, sizeof(m->cpu), "unknown");
	if ((f = fopen("/proc/cpuinfo", "re"))) {
		while (fgets(line, sizeof(line), f)) {
			char *c = strchr(line, ':');

			if (strncmp(line, "model name", 10) || !c)
				continue;
			c += 1 + (c[1] == ' ');
			c[strcspn(c, "\n")] = 0;
			snprintf(m->cpu, sizeof(m->cpu), "%s", c);
			break;
		}
		fclose(f);
	}
	if (!uname(&u))
		snprintf(m->kernel, sizeof(m->kernel), "%s", u.release);
	snprintf(m->kvm, sizeof(m->kvm), "unknown");
	static const char *const mods[] = { "kvm_pvm", "kvm_intel", "kvm_amd" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "/sys/module/%s", mods[i]);
		if (!access(line, F_OK)) {
			snprintf(m->kvm, sizeof(m->kvm), "%s", mods[i]);
			break;
		}
	}
	m->tsc_mhz = g_tsc_hz / 1e6;
}

/* The vCPU's TSC frequency as KVM reports it, as a cross-check of the
 * calibration. A vCPU ioctl: done on a guest that is not running. */
static double kvm_tsc_mhz(void)
{
	struct kg_guest *g;
	int vm = kg_vm_create(), khz = -1;

	if (vm < 0)
		return 0;
	if (!kg_create(vm, &g)) {
		khz = ioctl(kg_vcpu_fd(g), KVM_GET_TSC_KHZ, 0);
		kg_destroy(g);
	}
	close(vm);
	return khz > 0 ? khz / 1e3 : 0;
}

static const struct bench_result *baseline_of(const struct bench_result *res,
					      size_t i)
{
	int b;

	if (!bench_paths[i].baseline)
		return NULL;
	b = path_index(bench_paths[i].baseline);
	return res[b].ran && !res[b].err ? &res[b] : NULL;
}

static void print_text(const struct bench_cfg *cfg,
		       const struct bench_machine *m,
		       const struct bench_result *res,
		       const struct bench_routing *rt)
{
	printf("irqlink-bench: %u samples/path in %u interleaved rounds "
	       "(+%u warmup each), %u us idle before each trigger, "
	       "vCPU on CPU %d, trigger on CPU %d\n",
	       cfg->samples, cfg->rounds, cfg->warmup, cfg->gap_us,
	       cfg->cpu_vcpu, cfg->cpu_trigger);
	printf("machine: %ld CPUs, %s, kernel %s, %s, TSC %.2f MHz "
	       "(calibrated; KVM says %.2f)\n\n", m->nproc, m->cpu, m->kernel,
	       m->kvm, m->tsc_mhz, m->kvm_tsc_mhz);
	printf("%-22s %7s %8s %8s %8s %9s %8s  %-19s %8s %8s %6s %6s\n",
	       "path", "samples", "p50 us", "p99 us", "min us", "max us",
	       "irq/s", "baseline", "b.p50", "b.p99", "x p50", "x p99");
	for (size_t i = 0; i < BENCH_NPATHS; i++) {
		const struct bench_result *r = &res[i], *b;

		if (!r->ran)
			continue;
		if (r->err) {
			printf("%-22s FAILED after %" PRIu64 "/%" PRIu64
			       ": %s\n", r->name, r->delivered, r->sent,
			       r->why);
			continue;
		}
		printf("%-22s %7" PRIu64 " %8.2f %8.2f %8.2f %9.2f %8.0f",
		       r->name, r->lat.n, r->lat.p50, r->lat.p99, r->lat.min,
		       r->lat.max, r->rate);
		b = baseline_of(res, i);
		if (b)
			printf("  %-19s %8.2f %8.2f %6.2f %6.2f", b->name,
			       b->lat.p50, b->lat.p99, r->lat.p50 / b->lat.p50,
			       r->lat.p99 / b->lat.p99);
		printf("\n");
	}
	printf("\nISR entry of the full-cycle paths (trigger -> guest ISR):\n");
	for (size_t i = 0; i < BENCH_NPATHS; i++)
		if (res[i].ran && !res[i].err && res[i].has_isr)
			printf("  %-22s p50 %.2f us, p99 %.2f us, min %.2f us\n",
			       res[i].name, res[i].isr.p50, res[i].isr.p99,
			       res[i].isr.min);
	printf("\npaths:\n");
	for (size_t i = 0; i < BENCH_NPATHS; i++)
		if (res[i].ran)
			printf("  %-22s %s\n", bench_paths[i].name,
			       bench_paths[i].what);
	if (rt->ran) {
		printf("\nrouting: enable %u MSI routes\n", rt->routes);
		if (rt->err) {
			printf("  FAILED: %s\n", rt->why);
			return;
		}
		printf("  irqlink batched (one commit): %9.2f ms, %" PRIu64
		       " commit(s), %u routes\n", rt->batched_ms,
		       rt->batched_commits, rt->batched_routes);
		printf("  irqlink commit per vector:    %9.2f ms, %" PRIu64
		       " commit(s), %u routes\n", rt->per_vector_ms,
		       rt->per_vector_commits, rt->per_vector_routes);
		printf("  raw KVM_SET_GSI_ROUTING once: %9.2f ms\n",
		       rt->raw_ms);
	}
}

static void json_stat(const char *key, const struct bench_stat *s)
{
	printf("\"%s\": {\"p50_us\": %.3f, \"p99_us\": %.3f, \"min_us\": %.3f, "
	       "\"max_us\": %.3f}", key, s->p50, s->p99, s->min, s->max);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(const struct bench_cfg *cfg,
		       const struct bench_machine *m,
		       const struct bench_result *res,
		       const struct bench_routing *rt)
{
	bool sep = false;

	printf("{\n  \"config\": {\"samples\": %u, \"warmup\": %u, "
	       "\"rounds\": %u, \"gap_us\": %u, \"cpu_vcpu\": %d, "
	       "\"cpu_trigger\": %d, \"path\": ", cfg->samples, cfg->warmup,
	       cfg->rounds, cfg->gap_us, cfg->cpu_vcpu, cfg->cpu_trigger);
	json_str(cfg->path);
	printf("},\n  \"machine\": {\"nproc\": %ld, \"cpu\": ", m->nproc);
	json_str(m->cpu);
	printf(", \"kernel\": ");
	json_str(m->kernel);
	printf(", \"kvm\": ");
	json_str(m->kvm);
	printf(", \"tsc_mhz\": %.3f, \"kvm_tsc_mhz\": %.3f},\n  \"paths\": [",
	       m->tsc_mhz, m->kvm_tsc_mhz);
	for (size_t i = 0; i < BENCH_NPATHS; i++) {
		const struct bench_result *r = &res[i], *b;

		if (!r->ran)
			continue;
		printf("%s\n    {\"name\": \"%s\", \"baseline\": ",
		       sep ? "," : "", r->name);
		sep = true;
		if (bench_paths[i].baseline)
			json_str(bench_paths[i].baseline);
		else
			printf("null");
		printf(", \"ok\": %s, \"sent\": %" PRIu64 ", \"delivered\": %"
		       PRIu64 ", \"samples\": %" PRIu64 ", \"irqs_per_s\": "
		       "%.0f, ", r->err ? "false" : "true", r->sent,
		       r->delivered, r->lat.n, r->rate);
		json_stat("latency", &r->lat);
		if (r->has_isr) {
			printf(", ");
			json_stat("isr_entry", &r->isr);
		}
		b = baseline_of(res, i);
		if (b && !r->err)
			printf(", \"ratio_p50\": %.3f, \"ratio_p99\": %.3f",
			       r->lat.p50 / b->lat.p50,
			       r->lat.p99 / b->lat.p99);
		if (r->err) {
			printf(", \"error\": ");
			json_str(r->why);
		}
		printf("}");
	}
	printf("\n  ]");
	if (rt->ran) {
		printf(",\n  \"routing\": {\"routes\": %u, \"ok\": %s, "
		       "\"batched_ms\": %.3f, \"batched_commits\": %" PRIu64
		       ", \"per_vector_ms\": %.3f, \"per_vector_commits\": %"
		       PRIu64 ", \"raw_single_ioctl_ms\": %.3f}",
		       rt->routes, rt->err ? "false" : "true", rt->batched_ms,
		       rt->batched_commits, rt->per_vector_ms,
		       rt->per_vector_commits, rt->raw_ms);
	}
	printf("\n}\n");
}

/* ---- Command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: irqlink-bench [--samples N] [--warmup N] [--rounds N]\n"
		"                     [--path NAME|all|routing] [--routes N]\n"
		"                     [--cpu-vcpu C] [--cpu-trigger C]\n"
		"                     [--gap-us N] [--timeout-ms N] [--json]\n"
		"                     [--quiet] [--list] [--help]\n"
		"Measures trigger -> guest ISR entry (or the full cycle) per\n"
		"interrupt path, each irqlink path beside its raw-KVM baseline,\n"
		"one interrupt in flight at a time; then the same number back to\n"
		"back for interrupts/s.\n"
		"Defaults: --samples 20000 --warmup 50 --rounds 40 --routes 2048\n"
		"--gap-us 50 --timeout-ms 1000 --path all; vCPU and trigger on\n"
		"the first two CPUs this process may use.\n");
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "irqlink-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool cpu_allowed(const cpu_set_t *set, int cpu)
{
	return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, set);
}

/* Parse argv into *cfg. Returns 0, 1 when it printed help/list and the
 * caller should exit 0, or 2 on a usage error (message printed). */
static int bench_parse(int argc, char **argv, struct bench_cfg *cfg)
{
	enum { OPT_SAMPLES = 256, OPT_WARMUP, OPT_ROUNDS, OPT_PATH, OPT_ROUTES,
	       OPT_VCPU, OPT_TRIGGER, OPT_TIMEOUT, OPT_GAP, OPT_JSON,
	       OPT_QUIET, OPT_LIST, OPT_HELP };
	static const struct option opts[] = {
		{ "samples", required_argument, NULL, OPT_SAMPLES },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "routes", required_argument, NULL, OPT_ROUTES },
		{ "cpu-vcpu", required_argument, NULL, OPT_VCPU },
		{ "cpu-trigger", required_argument, NULL, OPT_TRIGGER },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
		{ "gap-us", required_argument, NULL, OPT_GAP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	cpu_set_t set;
	int c, first = -1, second = -1;
	bool vset = false, tset = false;

	memset(cfg, 0, sizeof(*cfg));
	cfg->samples = 20000;
	cfg->warmup = 50;
	cfg->rounds = 40;
	cfg->routes = 2048;
	cfg->timeout_ms = 1000;
	cfg->gap_us = 50;
	cfg->path = "all";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *a = optarg;

		switch (c) {
		case OPT_SAMPLES:
			if (!parse_uint(a, 10000000, &v) || !v)
				return usage_error("bad --samples '%s' "
						   "(1..10000000)", a);
			cfg->samples = (unsigned int)v;
			break;
		case OPT_WARMUP:
			if (!parse_uint(a, 1000000, &v))
				return usage_error("bad --warmup '%s'", a);
			cfg->warmup = (unsigned int)v;
			break;
		case OPT_ROUNDS:
			if (!parse_uint(a, 1000, &v) || !v)
				return usage_error("bad --rounds '%s' (1..1000)",
						   a);
			cfg->rounds = (unsigned int)v;
			break;
		case OPT_PATH:
			if (strcmp(a, "all") && strcmp(a, "routing") &&
			    path_index(a) < 0)
				return usage_error("unknown --path '%s' "
						   "(see --list)", a);
			cfg->path = a;
			break;
		case OPT_ROUTES:
			/* 4096 entries, 40 of them the irqchip pins. */
			if (!parse_uint(a, 4096 - 40, &v) || !v)
				return usage_error("bad --routes '%s' "
						   "(1..4056)", a);
			cfg->routes = (unsigned int)v;
			break;
		case OPT_VCPU:
		case OPT_TRIGGER:
			if (!parse_uint(a, CPU_SETSIZE - 1, &v))
				return usage_error("bad CPU '%s'", a);
			if (c == OPT_VCPU) {
				cfg->cpu_vcpu = (int)v;
				vset = true;
			} else {
				cfg->cpu_trigger = (int)v;
				tset = true;
			}
			break;
		case OPT_TIMEOUT:
			if (!parse_uint(a, 600000, &v) || !v)
				return usage_error("bad --timeout-ms '%s'", a);
			cfg->timeout_ms = (unsigned int)v;
			break;
		case OPT_GAP:
			if (!parse_uint(a, 1000000, &v))
				return usage_error("bad --gap-us '%s'", a);
			cfg->gap_us = (unsigned int)v;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_QUIET:
			cfg->quiet = true;
			break;
		case OPT_LIST:
			for (size_t i = 0; i < BENCH_NPATHS; i++)
				printf("%-22s %s\n", bench_paths[i].name,
				       bench_paths[i].what);
			printf("%-22s enable --routes MSI routes, batched vs "
			       "one commit each\n", "routing");
			return 1;
		case OPT_HELP:
			usage(stdout);
			return 1;
		default:
			return usage_error("unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg->samples < cfg->rounds)
		cfg->rounds = cfg->samples;

	if (sched_getaffinity(0, sizeof(set), &set))
		CPU_ZERO(&set);
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (first < 0)
			first = i;
		else if (second < 0)
			second = i;
	}
	if (!vset)
		cfg->cpu_vcpu = first < 0 ? 0 : first;
	if (!tset)
		cfg->cpu_trigger = second >= 0 && second != cfg->cpu_vcpu
				   ? second : (first >= 0 && first !=
					       cfg->cpu_vcpu ? first
							     : cfg->cpu_vcpu);
	if (!cpu_allowed(&set, cfg->cpu_vcpu))
		return usage_error("--cpu-vcpu %d is not an allowed CPU",
				   cfg->cpu_vcpu);
	if (!cpu_allowed(&set, cfg->cpu_trigger))
		return usage_error("--cpu-trigger %d is not an allowed CPU",
				   cfg->cpu_trigger);
	return 0;
}

/* Calibrate the TSC once per process. */
static void bench_init(void)
{
	if (g_tsc_hz == 0)
		g_tsc_hz = calibrate_tsc();
}

static int bench_main(int argc, char **argv)
{
	static struct bench_result res[BENCH_NPATHS];
	struct bench_routing rt;
	struct bench_machine m;
	struct bench_cfg cfg;
	int r, err = 0;

	r = bench_parse(argc, argv, &cfg);
	if (r)
		return r == 1 ? 0 : r;
	bench_init();
	machine_info(&m);
	m.kvm_tsc_mhz = kvm_tsc_mhz();
	if (!cfg.quiet && cfg.cpu_vcpu == cfg.cpu_trigger)
		fprintf(stderr, "irqlink-bench: warning: vCPU and trigger "
			"share CPU %d; latencies will be several times "
			"higher\n", cfg.cpu_vcpu);

	memset(res, 0, sizeof(res));
	if (strcmp(cfg.path, "routing"))
		err = bench_run_paths(&cfg, res);
	memset(&rt, 0, sizeof(rt));
	if (!strcmp(cfg.path, "routing") || !strcmp(cfg.path, "all")) {
		if (!cfg.quiet)
			fprintf(stderr, "irqlink-bench: routing (%u routes)\n",
				cfg.routes);
		if (bench_routing(&cfg, &rt) && !err)
			err = rt.err;
	}
	if (cfg.json)
		print_json(&cfg, &m, res, &rt);
	else
		print_text(&cfg, &m, res, &rt);
	bench_free_results(res);
	return err ? 1 : 0;
}

#ifndef IRQLINK_BENCH_NO_MAIN
int main(int argc, char **argv)
{
	return bench_main(argc, argv);
}
#endif
