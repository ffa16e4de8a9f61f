/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's machine: builds and tears down the VM, the guest and the
 * test device, and runs the device's thread.
 *
 * Theory of operation. The pieces are wired the way a VMM wires a
 * passthrough device, with the test device standing in for the hardware:
 *
 *   guest config cycle  -> port exit -> vm_bus -> glue config space
 *   guest BAR access    -> MMIO exit -> vm_bus -> glue -> testdev BAR
 *   guest doorbell      -> KVM ioeventfd (no exit) -> device thread
 *   device INTx         -> model -> level irqfd on the IOAPIC pin
 *   guest EOI           -> resamplefd -> model's unmask (see vm_bus.c)
 *   device MSI/MSI-X    -> model -> per-vector eventfd -> irqfd on an MSI
 *                          route the glue keeps in step with the guest
 *
 * The device thread here replaces testdev_start(): it serves the doorbell
 * eventfd, one command per counted write (testdev_reg_write(DOORBELL)),
 * and stamps each command with the TSC just before it raises -- the start
 * of the device-raise-to-guest-ISR latency the demo reports (the guest's
 * TSC is the host's on this KVM). It does NOT dispatch the model's INTx
 * unmask events as soon as they are ready, because on kvm_pvm they are
 * ready before the guest has acknowledged the device (vm_bus.c explains);
 * the guest's EOI report dispatches them. Only when one stays pending for
 * grace_ms -- a guest that does not report -- does this thread dispatch
 * it, and counts it in late_unmasks.
 *
 * Teardown runs in reverse: stop the vCPUs (no more exits into the glue),
 * stop the device thread, destroy the glue (it detaches irqfds, routes and
 * ioeventfds), the device, the guest, then the VM.
 */
#include "vm_machine.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static void say(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* For a KVM without KVM_GET_TSC_KHZ: count TSC ticks over 20 ms. */
static uint32_t calibrate_tsc_khz(void)
{
	struct timespec a, b, d = { 0, 20 * 1000 * 1000 };
	uint64_t t0, t1, ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	nanosleep(&d, NULL);
	t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull +
	     (uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
	return ns ? (uint32_t)((t1 - t0) * 1000000ull / ns) : 1000000;
}

/* ---- the device thread -------------------------------------------------- */

static void serve_doorbell(struct vm_machine *m)
{
	uint64_t n, seq;

	if (read(testdev_doorbell_fd(m->td), &n, sizeof(n)) != sizeof(n))
		return; /* EAGAIN: another wakeup took it */
	while (n--) {
		seq = __atomic_load_n(&m->raises, __ATOMIC_RELAXED);
		__atomic_store_n(&m->raise_tsc[seq % VM_RAISE_RING], __rdtsc(),
				 __ATOMIC_RELAXED);
		testdev_reg_write(m->td, TESTDEV_REG_DOORBELL, 1);
		__atomic_store_n(&m->raises, seq + 1, __ATOMIC_RELEASE);
	}
}

static void *device_thread(void *arg)
{
	struct vm_machine *m = arg;
	uint64_t pending_since = 0;

	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = m->stopfd, .events = POLLIN },
			{ .fd = testdev_doorbell_fd(m->td), .events = POLLIN },
			/* While an unmask waits out its grace period the
			 * (level-triggered) poll fd is left out, or it would
			 * spin. */
			{ .fd = pending_since ? -1 :
				irqlink_dev_poll_fd(testdev_irq(m->td)),
			  .events = POLLIN },
		};
		int timeout = -1;

		if (pending_since) {
			uint64_t t = now_ms(), end = pending_since + m->grace_ms;

			timeout = t >= end ? 0 : (int)(end - t);
		}
		if (poll(fds, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents)
			break;
		if (fds[1].revents)
			serve_doorbell(m);
		if (fds[2].revents & POLLIN)
			pending_since = now_ms();
		if (pending_since && now_ms() >= pending_since + m->grace_ms) {
			/* Usually 0: the guest's EOI report got there first. */
			int r = vm_bus_intx_dispatch(&m->bus);

			if (r > 0)
				__atomic_fetch_add(&m->late_unmasks, (uint64_t)r,
						   __ATOMIC_RELAXED);
			pending_since = 0;
		}
	}
	return NULL;
}

/* ---- building ----------------------------------------------------------- */

int vm_machine_create(const struct vm_machine_config *cfg,
		      struct vm_machine **out, char *err, size_t errlen)
{
	struct vm_machine_config def = { 0 };
	struct testdev_config dc = {
		.intx = true,
		.msi_vectors = VM_MSI_VECTORS,
		.msix_vectors = VM_MSIX_VECTORS,
	};
	struct irqlink_pci_config pc = { .ops = &testdev_pci_ops };
	struct kg_options ko = { 0 };
	struct vm_machine *m;
	int r;

	*out = NULL;
	if (!cfg)
		cfg = &def;
	if (cfg->vcpus > KG_MAX_VCPUS ||
	    (cfg->intx_gsi && (cfg->intx_gsi < 16 || cfg->intx_gsi > 23))) {
		say(err, errlen, "bad machine config: vcpus 1-%u, INTx GSI 16-23",
		    KG_MAX_VCPUS);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		say(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->fn = -1;
	m->stopfd = -1;
	m->intx_gsi = cfg->intx_gsi ? cfg->intx_gsi : VM_DEFAULT_GSI;
	m->grace_ms = cfg->grace_ms ? cfg->grace_ms : 100;
	m->raise_tsc = calloc(VM_RAISE_RING, sizeof(*m->raise_tsc));
	if (!m->raise_tsc) {
		r = -ENOMEM;
		say(err, errlen, "out of memory");
		goto err_free;
	}

	r = irqlink_vm_create(NULL, &m->vm);
	if (r) {
		say(err, errlen, "cannot create the VM: %s%s", strerror(-r),
		    r == -ENOENT || r == -EACCES ? " (is /dev/kvm there?)" : "");
		goto err_free;
	}
	ko.vcpus = cfg->vcpus;
	r = kg_create_opts(irqlink_vm_fd(m->vm), &ko, &m->g);
	if (r) {
		say(err, errlen, "cannot create the guest: %s", strerror(-r));
		goto err_vm;
	}
	kg_set_pio_handler(m->g, vm_bus_pio, &m->bus);
	kg_set_mmio_handler(m->g, vm_bus_mmio, &m->bus);
	/* A vCPU ioctl: ask before the vCPU runs (it would block after). */
	r = ioctl(kg_vcpu_fd(m->g), KVM_GET_TSC_KHZ, 0);
	m->tsc_khz = r > 0 ? (uint32_t)r : calibrate_tsc_khz();

	r = testdev_create(&dc, &m->td);
	if (r) {
		say(err, errlen, "cannot create the test device: %s",
		    strerror(-r));
		goto err_guest;
	}
	pc.opaque = m->td;
	pc.vm = m->vm;
	r = irqlink_pci_create(&pc, &m->pci);
	if (r) {
		say(err, errlen, "cannot present the device on PCI: %s",
		    strerror(-r));
		goto err_dev;
	}
	r = vm_bus_attach(&m->bus, VM_TESTDEV_SLOT, m->pci, testdev_irq(m->td));
	if (r) {
		say(err, errlen, "cannot attach the device: %s", strerror(-r));
		goto err_pci;
	}
	/* INTA# to its IOAPIC pin: a level irqfd plus resamplefd. Then do what
	 * firmware does and write the pin into Interrupt Line, which is how
	 * the guest learns it. */
	r = irqlink_pci_intx_route(m->pci, m->intx_gsi);
	if (!r)
		r = irqlink_pci_config_write(m->pci, 0x3c, 1, m->intx_gsi);
	if (r) {
		say(err, errlen, "cannot wire INTx to GSI %u: %s", m->intx_gsi,
		    strerror(-r));
		goto err_pci;
	}
	m->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stopfd < 0) {
		r = -errno;
		say(err, errlen, "eventfd: %s", strerror(-r));
		goto err_pci;
	}
	*out = m;
	return 0;

err_pci:
	irqlink_pci_destroy(m->pci);
err_dev:
	testdev_destroy(m->td);
err_guest:
	kg_destroy(m->g);
err_vm:
	irqlink_vm_destroy(m->vm);
err_free:
	free(m->raise_tsc);
	free(m);
	return r;
}

int vm_machine_boot(struct vm_machine *m, char *err, size_t errlen)
{
	volatile struct kg_ext *e;
	char why[256];
	unsigned int n;
	int r;

	r = kg_start(m->g);
	if (r) {
		say(err, errlen, "guest did not boot: %s",
		    vm_machine_strerror(m, r, why, sizeof(why)));
		return r;
	}
	r = -pthread_create(&m->thread, NULL, device_thread, m);
	if (r) {
		say(err, errlen, "cannot start the device thread: %s",
		    strerror(-r));
		return r;
	}
	m->thread_live = true;

	r = kg_pci_scan(m->g, &n);
	if (r) {
		say(err, errlen, "PCI enumeration failed: %s",
		    vm_machine_strerror(m, r, why, sizeof(why)));
		return r;
	}
	e = kg_ext(m->g);
	for (unsigned int i = 0; i < n; i++) {
		if (e->fn[i].bdf == VM_TESTDEV_SLOT << 3 &&
		    e->fn[i].vendor == TESTDEV_VENDOR_ID &&
		    e->fn[i].device == TESTDEV_DEVICE_ID) {
			m->fn = (int)i;
			m->bar0 = e->fn[i].bar[0].addr;
		}
	}
	if (m->fn < 0 || !m->bar0) {
		say(err, errlen, "the guest did not find the test device "
		    "(%u functions on bus 0)", n);
		return -ENODEV;
	}
	return 0;
}

void vm_machine_destroy(struct vm_machine *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (m->g)
		kg_stop(m->g);
	if (m->thread_live) {
		if (write(m->stopfd, &one, sizeof(one)) == sizeof(one))
			pthread_join(m->thread, NULL);
		m->thread_live = false;
	}
	irqlink_pci_destroy(m->pci);
	testdev_destroy(m->td);
	kg_destroy(m->g);
	irqlink_vm_destroy(m->vm);
	if (m->stopfd >= 0)
		close(m->stopfd);
	free(m->raise_tsc);
	free(m);
}

/* ---- observing ------------------------------------------------------------ */

uint64_t vm_machine_raise_tsc(struct vm_machine *m, uint64_t seq)
{
	uint64_t done = __atomic_load_n(&m->raises, __ATOMIC_ACQUIRE);

	if (seq >= done || done - seq > VM_RAISE_RING)
		return 0;
	return __atomic_load_n(&m->raise_tsc[seq % VM_RAISE_RING],
			       __ATOMIC_RELAXED);
}

uint64_t vm_machine_raises(struct vm_machine *m)
{
	return __atomic_load_n(&m->raises, __ATOMIC_ACQUIRE);
}

uint64_t vm_machine_late_unmasks(struct vm_machine *m)
{
	return __atomic_load_n(&m->late_unmasks, __ATOMIC_RELAXED);
}

const char *vm_machine_strerror(struct vm_machine *m, int err, char *buf,
				size_t len)
{
	if (kg_state(m->g) == KG_EXCEPTION || kg_state(m->g) == KG_FAILED)
		snprintf(buf, len, "%s", kg_why(m->g));
	else if (err == -ETIMEDOUT)
		snprintf(buf, len, "the guest did not answer in time (hung?)");
	else
		snprintf(buf, len, "%s", strerror(-err));
	return buf;
}
