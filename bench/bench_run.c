/* SPDX-License-Identifier: MIT */
/*
 * One path's VM, guest and waits.
 *
 * Every wait polls: one interrupt is in flight at a time and the sample's
 * end is a word in guest memory or a non-blocking fd, so polling is both
 * the lowest-latency and the most honest way to see it. How it polls is
 * the row's wait strategy (bench.h): a pause loop when the trigger CPU is
 * the bench's alone, sched_yield when a relay thread shares that CPU.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <x86intrin.h>

int bench_why(struct run *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (r->res && !r->res->why[0]) {
		va_start(ap, fmt);
		vsnprintf(r->res->why, sizeof(r->res->why), fmt, ap);
		va_end(ap);
	}
	return err;
}

int bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int bench_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int bench_signal(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

struct kvm_msi bench_msi_to(unsigned int vector)
{
	struct kvm_msi m;

	memset(&m, 0, sizeof(m));
	m.address_lo = KG_LAPIC_GPA; /* destination APIC ID 0 */
	m.data = vector;             /* fixed, edge */
	return m;
}

struct kvm_irq_routing *bench_pin_routes(unsigned int extra)
{
	unsigned int n = 24 + 16 + extra, k = 0;
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
	t->nr = k;
	return t;
}

void bench_msi_route(struct kvm_irq_routing *t, uint32_t gsi,
		     unsigned int vector)
{
	struct kvm_irq_routing_entry *e = &t->entries[t->nr++];

	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = KG_LAPIC_GPA;
	e->u.msi.data = vector;
}

/* The harness creates the vCPU thread, which inherits the creating
 * thread's affinity: pin ourselves to the vCPU's CPU around kg_start(). */
int bench_guest_boot(struct run *r, int vm_fd)
{
	int err;

	err = kg_create(vm_fd, &r->g);
	if (err)
		return bench_why(r, err, "kg_create: %s", strerror(-err));
	if (r->mmio_fn)
		kg_set_mmio_handler(r->g, r->mmio_fn, r);
	if (r->pio_fn)
		kg_set_pio_handler(r->g, r->pio_fn, r);
	if ((err = bench_pin_self(r->cfg->cpu_vcpu)))
		return bench_why(r, err, "pin to CPU %d: %s", r->cfg->cpu_vcpu,
				 strerror(-err));
	err = kg_start(r->g);
	bench_pin_self(r->cfg->cpu_trigger);
	if (err)
		return bench_why(r, err, "kg_start: %s %s", strerror(-err),
				 kg_why(r->g));
	return 0;
}

int bench_raw_vm(struct run *r)
{
	r->vm_fd = kg_vm_create();
	if (r->vm_fd < 0)
		return bench_why(r, r->vm_fd, "kg_vm_create: %s",
				 strerror(-r->vm_fd));
	return bench_guest_boot(r, r->vm_fd);
}

int bench_lib_vm(struct run *r)
{
	int err = irqlink_vm_create(NULL, &r->vm);

	if (err)
		return bench_why(r, err, "irqlink_vm_create: %s",
				 strerror(-err));
	return bench_guest_boot(r, irqlink_vm_fd(r->vm));
}

int bench_program_pin(struct run *r, unsigned int pin, unsigned int vector,
		      unsigned int flags)
{
	int err = kg_program_ioapic(r->g, pin, vector, flags);

	r->pin = pin;
	r->vector = vector;
	if (err)
		return bench_why(r, err, "kg_program_ioapic: %s",
				 strerror(-err));
	return 0;
}

void bench_spin_init(struct run *r, struct bench_spin *s)
{
	s->deadline = bench_tsc() + r->timeout_cyc;
	s->n = 0;
}

int bench_spin_check(struct run *r, struct bench_spin *s, const char *what)
{
	if (r->wait == BENCH_WAIT_YIELD)
		sched_yield();
	else
		_mm_pause();
	if ((++s->n & 255) != 0)
		return 0;
	if (kg_state(r->g) != KG_RUNNING)
		return bench_why(r, -EIO, "guest died waiting for %s: %s",
				 what, kg_why(r->g));
	if (bench_tsc() > s->deadline)
		return bench_why(r, -ETIMEDOUT, "timeout (%u ms) waiting for %s",
				 r->cfg->timeout_ms, what);
	return 0;
}

int bench_wait_isr(struct run *r)
{
	volatile struct kg_shared *sh = kg_shared(r->g);
	struct bench_spin s;
	uint64_t n;
	int err;

	bench_spin_init(r, &s);
	while ((n = __atomic_load_n(&sh->count[r->vector], __ATOMIC_ACQUIRE)) <
	       r->expected)
		if ((err = bench_spin_check(r, &s, "the guest ISR")))
			return err;
	if (n != r->expected)
		return bench_why(r, -EOVERFLOW, "vector 0x%x counted %" PRIu64
				 ", expected %" PRIu64, r->vector, n,
				 r->expected);
	return 0;
}

/* The guest stores the timestamp before it bumps the count. */
int bench_isr_latency(struct run *r, uint64_t t0, uint64_t *out)
{
	uint64_t t = kg_shared(r->g)->last_tsc[r->vector];

	if (t <= t0)
		return bench_why(r, -ERANGE, "guest ISR TSC %" PRIu64 " not "
				 "after host %" PRIu64 ": guest TSC offset not "
				 "0?", t, t0);
	*out = t - t0;
	return 0;
}

int bench_spin_read(struct run *r, int fd, const char *what)
{
	struct bench_spin s;
	uint64_t v;
	int err;

	bench_spin_init(r, &s);
	for (;;) {
		if (read(fd, &v, sizeof(v)) == sizeof(v))
			return 0;
		if (errno != EAGAIN)
			return bench_why(r, -errno, "read %s: %s", what,
					 strerror(errno));
		if ((err = bench_spin_check(r, &s, what)))
			return err;
	}
}

/*
 * Wait for both ends of an INTx cycle at once: the guest counting the
 * interrupt, and `cycle_done` (the resamplefd read, or the model's unmask).
 * Waiting for one and then the other would time the later of the two plus
 * the guest's ISR bookkeeping; polling both times each as it happens (on
 * kvm_pvm the EOI, and so the resample, comes at injection, before the ISR
 * has finished). *t_done gets the TSC when cycle_done first said yes.
 */
int bench_wait_intx_cycle(struct run *r, int (*cycle_done)(struct run *r),
			  uint64_t *t_done)
{
	volatile struct kg_shared *sh = kg_shared(r->g);
	bool isr_seen = false, done = false;
	struct bench_spin s;
	int d, err;

	bench_spin_init(r, &s);
	while (!isr_seen || !done) {
		if (!done) {
			if ((d = cycle_done(r)) < 0)
				return d;
			if (d) {
				*t_done = bench_tsc();
				done = true;
			}
		}
		if (!isr_seen)
			isr_seen = __atomic_load_n(&sh->count[r->vector],
						   __ATOMIC_ACQUIRE) >=
				   r->expected;
		if (!isr_seen || !done)
			if ((err = bench_spin_check(r, &s, done ?
				"the guest ISR" : "the end of the INTx cycle")))
				return err;
	}
	return bench_wait_isr(r); /* checks the count is exact */
}

int bench_sample_efd_isr(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t t0;
	int err;

	(void)isr;
	r->expected++;
	t0 = bench_tsc();
	if ((err = bench_signal(r->efd)))
		return bench_why(r, err, "eventfd write: %s", strerror(-err));
	if ((err = bench_wait_isr(r)))
		return err;
	return bench_isr_latency(r, t0, lat);
}

int bench_sample_efd_cycle(struct run *r, int (*cycle_done)(struct run *r),
			   uint64_t *lat, uint64_t *isr)
{
	uint64_t t0, t1 = 0;
	int err;

	r->expected++;
	t0 = bench_tsc();
	if ((err = bench_signal(r->efd)))
		return bench_why(r, err, "eventfd write: %s", strerror(-err));
	if ((err = bench_wait_intx_cycle(r, cycle_done, &t1)))
		return err;
	*lat = t1 - t0;
	return bench_isr_latency(r, t0, isr);
}

int bench_sample_signal_msi(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct kvm_msi m = bench_msi_to(r->vector);
	uint64_t t0;
	int n, err;

	(void)isr;
	r->expected++;
	t0 = bench_tsc();
	if (r->vm)
		n = irqlink_vm_signal_msi(r->vm, &m);
	else
		n = ioctl(r->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -errno : 1;
	if (n != 1)
		return bench_why(r, n < 0 ? n : -EIO,
				 "KVM_SIGNAL_MSI returned %d", n);
	if ((err = bench_wait_isr(r)))
		return err;
	return bench_isr_latency(r, t0, lat);
}

int bench_sample_dev_msi(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t t0;
	int n, err;

	(void)isr;
	r->expected++;
	t0 = bench_tsc();
	n = irqlink_dev_msi_fire(r->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0);
	if (n != 1)
		return bench_why(r, n < 0 ? n : -EIO,
				 "irqlink_dev_msi_fire returned %d", n);
	if ((err = bench_wait_isr(r)))
		return err;
	return bench_isr_latency(r, t0, lat);
}

void bench_run_teardown(struct run *r)
{
	/* Injectors first (they borrow the VM and read the device's
	 * eventfds), then the device, so it stops signalling before the
	 * irqfds go; then the guest (it holds a dup of the VM fd), then the
	 * VM. A machine row's machine goes first and whole. */
	bench_vm_teardown(r);
	bench_devthread_destroy(r->devthread);
	bench_naive_relay_destroy(r->naive);
	bench_many_destroy(r->many);
	irqlink_consumer_destroy(r->cons);
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
	r->naive = NULL;
	r->many = NULL;
	r->devthread = NULL;
	r->cons = NULL;
	r->relay = NULL;
	r->dev = NULL;
	r->g = NULL;
	r->vm = NULL;
	r->bypass = NULL;
	r->vm_fd = r->efd = r->rfd = -1;
}
