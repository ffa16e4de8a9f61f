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
 *   device INTx, MSI/MSI-X -> model -> trigger eventfd -> consumer: the
 *                          bypass manager pairs the device's producer with
 *                          it and it delivers in-kernel (irqfd), or the
 *                          relay does (config.delivery)
 *   INTx acknowledgement -> the glue's EOI policy (<irqlink/eoi.h>)
 *
 * The device is either the in-process test device or one in another
 * process (config.remote: a vfio-user server such as irqlink-devd). The
 * remote one plugs into the same device-ops seam through the vfio-user
 * client, whose proxy producers stand in for the model that now lives in
 * the server; its doorbell ioeventfds and unmask eventfds are served over
 * there, so the device thread below only has the glue's work to do.
 *
 * The device thread replaces testdev_start(): it serves the doorbell
 * eventfd, one command per counted write (testdev_reg_write(DOORBELL)),
 * and stamps each command with the TSC just before it raises -- the start
 * of the device-raise-to-guest-ISR latency the demo reports (the guest's
 * TSC is the host's on this KVM). It also processes the device model's
 * unmask events as soon as they are ready (RESAMPLEFD: the resamplefd is
 * the unmask eventfd) and the glue's INTx work (BAR_ACCESS: a fire to note,
 * the ack timer). No timer here unmasks anything: the only timer-driven
 * unmask is the glue's, counted as a guest that did not acknowledge.
 *
 * Teardown runs in reverse: stop the vCPUs (no more exits into the glue),
 * stop the device thread, destroy the glue (its consumers detach irqfds,
 * routes and relay entries; ioeventfds go), the device, the relay, the
 * bypass manager, the guest, then the VM.
 */
#include "vm_machine.h"
#include "vm_eoi_probe.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
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

static void serve_doorbell(struct vm_dev *d)
{
	uint64_t n, seq;

	if (read(testdev_doorbell_fd(d->td), &n, sizeof(n)) != sizeof(n))
		return; /* EAGAIN: another wakeup took it */
	while (n--) {
		seq = __atomic_load_n(&d->raises, __ATOMIC_RELAXED);
		__atomic_store_n(&d->raise_tsc[seq % VM_RAISE_RING], __rdtsc(),
				 __ATOMIC_RELAXED);
		testdev_reg_write(d->td, TESTDEV_REG_DOORBELL, 1);
		__atomic_store_n(&d->raises, seq + 1, __ATOMIC_RELEASE);
	}
}

/* ERR stops the VM: whatever the device did may already be visible to
 * the guest, and QEMU stops rather than let it run on. REQ is counted. */
static void serve_errreq(struct vm_machine *m, struct vm_dev *d)
{
	uint64_t err = 0, req = 0;

	(void)irqlink_pci_errreq_take(d->pci, &err, &req);
	__atomic_fetch_add(&m->reqs, req, __ATOMIC_RELAXED);
	if (!err)
		return;
	__atomic_fetch_add(&m->errs, err, __ATOMIC_RELEASE);
	pthread_mutex_lock(&m->stop_lock);
	kg_stop(m->g);
	pthread_mutex_unlock(&m->stop_lock);
}

/* What the device thread watches of one device. A remote device serves
 * its doorbell and unmask events in its own process, and a negative fd
 * is one poll ignores. */
enum { W_DOORBELL, W_MODEL, W_GLUE, W_ERR, W_REQ, W_CLIENT, W_PER_DEV };

static void watch(struct vm_dev *d, struct pollfd *p)
{
	bool dma = __atomic_load_n(&d->doorbell_mapped, __ATOMIC_ACQUIRE);
	int fds[W_PER_DEV] = {
		[W_DOORBELL] = d->td ? testdev_doorbell_fd(d->td) : -1,
		[W_MODEL] = d->td ? irqlink_dev_poll_fd(testdev_irq(d->td)) : -1,
		/* -ENOENT (no INTx work under this policy) is ignored too. */
		[W_GLUE] = irqlink_pci_poll_fd(d->pci),
		[W_ERR] = irqlink_pci_errreq_fd(d->pci, VFIO_PCI_ERR_IRQ_INDEX),
		[W_REQ] = irqlink_pci_errreq_fd(d->pci, VFIO_PCI_REQ_IRQ_INDEX),
		[W_CLIENT] = d->vfu && !d->down ? irqlink_vfu_client_fd(d->vfu)
					       : -1,
	};

	for (int i = 0; i < W_PER_DEV; i++)
		p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	/* The server's socket: always for POLLHUP (it went away), which
	 * needs no event asked; for POLLIN only while the doorbell window
	 * is mapped, because only then does the server send requests
	 * nobody else reads -- otherwise every reply to a vCPU would wake
	 * this thread too. */
	p[W_CLIENT].events = dma ? POLLIN : 0;
}

/* The server went away: the client has seen it too once it reads. */
static void lost(struct vm_dev *d)
{
	(void)irqlink_vfu_client_process(d->vfu);
	d->down = true;
	__atomic_fetch_add(&d->disconnects, 1, __ATOMIC_RELAXED);
}

static int program_table(struct vm_dev *d);
static int set_mode(struct vm_dev *d, bool on);

/* Dial a gone server again; once it is back, give the new device what the
 * old one had: the VMM's own programming of it (its MSI-X table and mode,
 * which must come before MSI-X is enabled), then the guest's (the glue). */
static void try_reconnect(struct vm_dev *d)
{
	if (irqlink_vfu_client_reconnect(d->vfu))
		return;         /* not back yet */
	d->down = false;
	if (__atomic_load_n(&d->msix_dma, __ATOMIC_ACQUIRE) &&
	    (program_table(d) || set_mode(d, true)))
		__atomic_store_n(&d->msix_dma, false, __ATOMIC_RELEASE);
	(void)irqlink_pci_device_replaced(d->pci);
	__atomic_fetch_add(&d->reconnects, 1, __ATOMIC_RELEASE);
}

static void serve(struct vm_machine *m, struct vm_dev *d,
		  const struct pollfd *p)
{
	int r;

	if (p[W_DOORBELL].revents)
		serve_doorbell(d);
	if (p[W_MODEL].revents & POLLIN)
		(void)irqlink_dev_dispatch(testdev_irq(d->td));
	if (p[W_GLUE].revents & POLLIN) {
		r = irqlink_pci_process(d->pci);
		if (r > 0)
			__atomic_fetch_add(&m->timer_unmasks, (uint64_t)r,
					   __ATOMIC_RELAXED);
	}
	if ((p[W_ERR].revents | p[W_REQ].revents) & POLLIN)
		serve_errreq(m, d);
	if (p[W_CLIENT].revents & (POLLHUP | POLLERR | POLLNVAL))
		lost(d);
	else if ((p[W_CLIENT].revents & POLLIN) &&
		 irqlink_vfu_client_process(d->vfu) == -ENOTCONN)
		lost(d);
}

static void *device_thread(void *arg)
{
	struct vm_machine *m = arg;
	struct pollfd p[VM_MAX_DEVICES * W_PER_DEV + 2];
	const unsigned int stop = m->ndev * W_PER_DEV, kicked = stop + 1;
	uint64_t n;

	for (;;) {
		bool down = false;

		for (unsigned int i = 0; i < m->ndev; i++) {
			watch(&m->dev[i], &p[i * W_PER_DEV]);
			down |= m->dev[i].down;
		}
		p[stop] = (struct pollfd){ .fd = m->stopfd, .events = POLLIN };
		p[kicked] = (struct pollfd){ .fd = m->kickfd, .events = POLLIN };
		if (poll(p, kicked + 1, down ? (int)VM_RECONNECT_MS : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[stop].revents)
			break;
		for (unsigned int i = 0; i < m->ndev; i++)
			serve(m, &m->dev[i], &p[i * W_PER_DEV]);
		if (p[kicked].revents & POLLIN)
			(void)!read(m->kickfd, &n, sizeof(n));
		for (unsigned int i = 0; down && i < m->ndev; i++)
			if (m->dev[i].down)
				try_reconnect(&m->dev[i]);
	}
	return NULL;
}

/* ---- building ----------------------------------------------------------- */

/* What to tell a person whose VM could not be created. */
static void say_vm_error(char *err, size_t errlen, int r)
{
	if (r == -ENOENT)
		say(err, errlen, "cannot create the VM: /dev/kvm does not exist "
		    "(KVM is not available on this machine: load the kvm "
		    "module, or enable virtualization)");
	else if (r == -EACCES || r == -EPERM)
		say(err, errlen, "cannot create the VM: no permission to open "
		    "/dev/kvm (add your user to the group that owns it, "
		    "usually 'kvm': sudo usermod -aG kvm $USER, then log in "
		    "again; or run as root)");
	else
		say(err, errlen, "cannot create the VM: %s", strerror(-r));
}

/* Each MSI-X vector in use holds a handful of fds: the glue's eventfd and
 * the dups kept by the device model, the consumer, its relay entry and its
 * irqfd record. */
#define FDS_PER_VECTOR 6u
#define FDS_BASE       256u

/* Raise the soft RLIMIT_NOFILE as far as the device needs (up to the hard
 * limit), or say why it cannot be. */
static int fd_limit(unsigned int vectors, char *err, size_t errlen)
{
	rlim_t need = FDS_BASE + (rlim_t)vectors * FDS_PER_VECTOR;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		say(err, errlen, "MSI-X tables of %u vectors in all need about "
		    "%llu file descriptors, and RLIMIT_NOFILE allows at most %llu "
		    "(raise the hard limit: ulimit -Hn, or limits.conf)",
		    vectors, (unsigned long long)need,
		    (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		say(err, errlen, "cannot raise RLIMIT_NOFILE to %llu: %s",
		    (unsigned long long)need, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The EOI policy: the configured one, or the self-test's answer. */
static int pick_eoi(struct vm_machine *m, const struct vm_machine_config *cfg,
		    bool remote, char *err, size_t errlen)
{
	const char *why;
	int r;

	m->eoi = cfg->eoi;
	if (cfg->eoi_probe) {
		r = vm_eoi_probe(&m->eoi_early, err, errlen);
		if (r)
			return r;
		m->eoi_probed = true;
		m->eoi = vm_eoi_default(m->eoi_early);
		/* Under KERNEL delivery the relay may not inject INTx; the
		 * guest's own report is then the exact choice. */
		if (m->eoi == IRQLINK_EOI_BAR_ACCESS &&
		    m->delivery == IRQLINK_DELIVERY_KERNEL)
			m->eoi = IRQLINK_EOI_GUEST_PORT;
		/* vfio-user carries no line state (ops->intx_asserted), so
		 * BAR_ACCESS could not tell the ISR's status read from the
		 * write that acknowledges: each read would unmask a line
		 * still up and fire again. The guest's report is exact. */
		if (m->eoi == IRQLINK_EOI_BAR_ACCESS && remote) {
			m->eoi = IRQLINK_EOI_GUEST_PORT;
			m->eoi_no_line_state = true;
		}
	}
	if (irqlink_eoi_check(m->eoi, m->delivery, &why)) {
		say(err, errlen, "--eoi %s with --delivery %s: %s",
		    irqlink_eoi_policy_name(m->eoi) ?: "?",
		    irqlink_delivery_name(m->delivery) ?: "?", why);
		return -EINVAL;
	}
	return 0;
}

/* ---- the device's bus: guest RAM and the MSI doorbell window ----------- */

static bool in_window(uint64_t addr, size_t len)
{
	return addr >= VM_MSI_DOORBELL_IOVA &&
	       addr - VM_MSI_DOORBELL_IOVA < VM_MSI_DOORBELL_SIZE &&
	       len <= VM_MSI_DOORBELL_SIZE - (addr - VM_MSI_DOORBELL_IOVA);
}

/* The in-process device's bus writes, as an IOMMU would map them for it:
 * guest RAM at IOVA == guest-physical address, and the doorbell window
 * while it is mapped. Anything else is refused, never dropped. */
static int local_dma_write(void *opaque, uint64_t addr, const void *buf,
			   size_t len)
{
	struct vm_dev *d = opaque;
	void *p;

	if (__atomic_load_n(&d->doorbell_mapped, __ATOMIC_ACQUIRE) &&
	    in_window(addr, len))
		return irqlink_msi_doorbell_write(d->doorbell, addr, buf, len);
	if (addr >= KG_RAM_SIZE || len > KG_RAM_SIZE - addr)
		return -EFAULT;
	p = kg_mem(d->m->g, addr, len);
	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

/* The doorbell injects the message the guest gave the vector. No glue
 * lock: this may run inside a glue op (an unmask that replays). */
static int doorbell_resolve(void *opaque, uint32_t vector, struct kvm_msi *msg)
{
	struct vm_dev *d = opaque;

	if (!d->pci)
		return -ENOENT;
	return irqlink_pci_guest_msi(d->pci, VFIO_PCI_MSIX_IRQ_INDEX, vector,
				     msg);
}

static int make_doorbell(struct vm_dev *d, char *err, size_t errlen)
{
	struct vfio_irq_info info = { .argsz = sizeof(info),
				      .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct irqlink_msi_doorbell_config dc = {
		.iova = VM_MSI_DOORBELL_IOVA,
		.size = VM_MSI_DOORBELL_SIZE,
		.resolve = doorbell_resolve,
		.opaque = d,
	};
	int r = d->ops->get_irq_info(d->opaque, &info);

	if (r || !info.count)
		return 0;       /* no MSI-X: nothing to ring */
	dc.vectors = info.count;
	r = irqlink_msi_doorbell_create(d->m->vm, &dc, &d->doorbell);
	if (r) {
		say(err, errlen, "cannot create the MSI doorbell: %s",
		    strerror(-r));
		return r;
	}
	d->doorbell_vectors = info.count;
	return 0;
}

static void kick(struct vm_machine *m)
{
	uint64_t one = 1;

	(void)!write(m->kickfd, &one, sizeof(one));
}

static int map_window(struct vm_dev *d)
{
	int r = 0;

	if (__atomic_load_n(&d->doorbell_mapped, __ATOMIC_ACQUIRE))
		return 0;
	if (d->vfu)
		r = irqlink_vfu_client_dma_map_handler(d->vfu,
				VM_MSI_DOORBELL_IOVA, VM_MSI_DOORBELL_SIZE,
				VFIO_DMA_MAP_FLAG_WRITE, irqlink_msi_doorbell_dma,
				d->doorbell);
	if (r)
		return r;
	__atomic_store_n(&d->doorbell_mapped, true, __ATOMIC_RELEASE);
	kick(d->m);
	return 0;
}

int vm_dev_unmap_doorbell(struct vm_dev *d)
{
	int r = 0;

	if (!__atomic_load_n(&d->doorbell_mapped, __ATOMIC_ACQUIRE))
		return 0;
	if (d->vfu)
		r = irqlink_vfu_client_dma_unmap(d->vfu, VM_MSI_DOORBELL_IOVA,
						 VM_MSI_DOORBELL_SIZE);
	if (r)
		return r;
	__atomic_store_n(&d->doorbell_mapped, false, __ATOMIC_RELEASE);
	kick(d->m);
	return 0;
}

/* Every entry of the device's own table gets the doorbell's message, as
 * the host kernel programs a physical device's table: a few entries per
 * region write, so a remote device with 2048 takes 8 messages. */
#define TABLE_CHUNK 256u

static int program_table(struct vm_dev *d)
{
	uint8_t buf[TABLE_CHUNK * 16];

	for (uint32_t v = 0; v < d->doorbell_vectors; v += TABLE_CHUNK) {
		uint32_t n = d->doorbell_vectors - v < TABLE_CHUNK ?
			     d->doorbell_vectors - v : TABLE_CHUNK;
		int r;

		memset(buf, 0, sizeof(buf));
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *e = buf + i * 16;
			uint64_t addr;
			uint32_t data;

			r = irqlink_msi_doorbell_message(d->doorbell, v + i,
							 &addr, &data);
			if (r)
				return r;
			for (unsigned int b = 0; b < 8; b++)
				e[b] = (uint8_t)(addr >> (8 * b));
			for (unsigned int b = 0; b < 4; b++)
				e[8 + b] = (uint8_t)(data >> (8 * b));
		}
		r = d->ops->region_write(d->opaque, TESTDEV_MSIX_BAR,
					 (uint64_t)v * 16, buf, (size_t)n * 16);
		if (r)
			return r;
	}
	return 0;
}

static int set_mode(struct vm_dev *d, bool on)
{
	uint32_t v = on;
	int r = d->ops->region_write(d->opaque, VFIO_PCI_BAR0_REGION_INDEX,
				     TESTDEV_REG_MSIX_DMA, &v, sizeof(v));

	if (r)
		return r;
	return vm_dev_reg(d, TESTDEV_REG_MSIX_DMA) == v ? 0 : -EBUSY;
}

int vm_dev_set_msix_dma(struct vm_dev *d, bool on, char *err, size_t errlen)
{
	int r;

	if (!d->doorbell) {
		say(err, errlen, "the device has no MSI-X to send by DMA");
		return -ENODEV;
	}
	if (!on) {
		__atomic_store_n(&d->msix_dma, false, __ATOMIC_RELEASE);
		r = set_mode(d, false);
		if (!r)
			r = vm_dev_unmap_doorbell(d);
		if (r)
			say(err, errlen, "cannot turn MSI-X by DMA off: %s",
			    r == -EBUSY ? "the guest has MSI-X enabled" :
			    strerror(-r));
		return r;
	}
	r = map_window(d);
	if (r) {
		say(err, errlen, "cannot map the MSI doorbell window at IOVA "
		    "0x%x for the device: %s", VM_MSI_DOORBELL_IOVA,
		    strerror(-r));
		return r;
	}
	r = program_table(d);
	if (!r)
		r = set_mode(d, true);
	if (!r)
		__atomic_store_n(&d->msix_dma, true, __ATOMIC_RELEASE);
	if (r) {
		(void)vm_dev_unmap_doorbell(d);
		say(err, errlen, "cannot switch the device to MSI-X by DMA: %s",
		    r == -EBUSY ? "the guest has MSI-X enabled, or the device "
		    "cannot master the bus" : strerror(-r));
	}
	return r;
}

/* The in-process test device, the producer of its own interrupts: every
 * trigger it is given is offered to the manager, which pairs it with the
 * glue's consumer on the same eventfd. */
static int attach_local(struct vm_dev *d, const struct testdev_config *dc,
			struct irqlink_pci_config *pc, char *err,
			size_t errlen)
{
	int r = testdev_create(dc, &d->td);

	if (r) {
		say(err, errlen, "cannot create the test device: %s",
		    strerror(-r));
		return r;
	}
	r = irqlink_dev_attach_bypass(testdev_irq(d->td), d->m->bypass);
	if (r) {
		say(err, errlen, "cannot attach the device to the bypass "
		    "manager: %s", strerror(-r));
		testdev_destroy(d->td);
		d->td = NULL;
		return r;
	}
	pc->ops = d->ops = &testdev_pci_ops;
	pc->opaque = d->opaque = d->td;
	return 0;
}

/* A device in another process: the client stands in for its model as
 * the producer (proxy producers on the same manager). */
static int attach_remote(struct vm_dev *d, const char *path,
			 struct irqlink_pci_config *pc, char *err,
			 size_t errlen)
{
	struct irqlink_vfu_client_config cc = { .path = path,
						.bypass = d->m->bypass };
	int r = irqlink_vfu_client_connect(&cc, &d->vfu);

	if (r) {
		say(err, errlen, "cannot attach the vfio-user device at %s: "
		    "%s%s", path, strerror(-r), r == -ENOENT ||
		    r == -ECONNREFUSED ? " (is irqlink-devd running there?)"
		    : r == -EBUSY ? " (the server has another client)" : "");
		return r;
	}
	/* Guest RAM is a memfd: mapped by fd, the device reads and writes it
	 * directly, as a bus master would, with no message per access. */
	r = irqlink_vfu_client_dma_map(d->vfu, 0, KG_RAM_SIZE,
				       VFIO_DMA_MAP_FLAG_READ |
				       VFIO_DMA_MAP_FLAG_WRITE,
				       kg_mem_fd(d->m->g), 0);
	if (r) {
		say(err, errlen, "cannot share guest RAM with the vfio-user "
		    "device at %s: %s", path, strerror(-r));
		irqlink_vfu_client_destroy(d->vfu);
		d->vfu = NULL;
		return r;
	}
	pc->ops = d->ops = &irqlink_vfu_client_ops;
	pc->opaque = d->opaque = d->vfu;
	return 0;
}

static void detach_device(struct vm_dev *d)
{
	if (d->td) {
		irqlink_dev_attach_bypass(testdev_irq(d->td), NULL);
		testdev_destroy(d->td);
		d->td = NULL;
	}
	irqlink_vfu_client_destroy(d->vfu);
	d->vfu = NULL;
}

/* Device @d from nothing to wired on the bus: the device (in-process or
 * remote), its doorbell window, its glue in its slot, INTA# on its pin. */
static int add_device(struct vm_machine *m, struct vm_dev *d,
		      const struct vm_machine_config *cfg, char *err,
		      size_t errlen)
{
	struct testdev_config dc = {
		.intx = true,
		.msi_vectors = VM_MSI_VECTORS,
		.msix_vectors = m->msix_vectors,
		.dma_write = local_dma_write,
		.dma_opaque = d,
		.mem_bar = true,
	};
	struct irqlink_pci_config pc = {
		.vm = m->vm,
		.relay = m->relay,
		.bypass = m->bypass,
		.delivery = m->delivery,
		.intx_eoi = m->eoi,
		.intx_ack_timeout_ms = cfg->ack_timeout_ms,
	};
	int r;

	d->raise_tsc = calloc(VM_RAISE_RING, sizeof(*d->raise_tsc));
	if (!d->raise_tsc) {
		say(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = d->remote ? attach_remote(d, d->remote, &pc, err, errlen)
		      : attach_local(d, &dc, &pc, err, errlen);
	if (r)
		return r;
	r = make_doorbell(d, err, errlen);
	if (r)
		return r;
	if (cfg->doorbells_trap) {
		/* The glue registers what get_ioeventfds lists; listing
		 * nothing leaves every doorbell write to the bus. */
		d->trap_ops = *d->ops;
		d->trap_ops.get_ioeventfds = NULL;
		pc.ops = &d->trap_ops;
	}
	r = irqlink_pci_create(&pc, &d->pci);
	if (r) {
		say(err, errlen, "cannot present device %u on PCI: %s",
		    d->index, strerror(-r));
		return r;
	}
	r = vm_bus_attach(&m->bus, d->slot, d->pci);
	if (r) {
		say(err, errlen, "cannot attach device %u: %s", d->index,
		    strerror(-r));
		return r;
	}
	/* INTA# to its IOAPIC pin, wired for the EOI policy. Then do what
	 * firmware does and write the pin into Interrupt Line, which is how
	 * the guest learns it. */
	r = irqlink_pci_intx_route(d->pci, d->intx_gsi);
	if (!r)
		r = irqlink_pci_config_write(d->pci, 0x3c, 1, d->intx_gsi);
	if (r)
		say(err, errlen, "cannot wire INTx to GSI %u: %s%s", d->intx_gsi,
		    strerror(-r), r == -EOPNOTSUPP ?
		    " (--delivery kernel: INTx could not be delivered "
		    "in-kernel)" : "");
	return r;
}

/* Every device, in reverse: the glue (its consumers detach irqfds,
 * routes and relay entries; ioeventfds go), then the device; after it
 * nothing writes the doorbell. */
static void remove_devices(struct vm_machine *m)
{
	for (unsigned int i = m->ndev; i-- > 0;) {
		struct vm_dev *d = &m->dev[i];

		irqlink_pci_destroy(d->pci);
		d->pci = NULL;
		detach_device(d);
		irqlink_msi_doorbell_destroy(d->doorbell);
		d->doorbell = NULL;
		free(d->raise_tsc);
		d->raise_tsc = NULL;
	}
}

static bool any_remote(const struct vm_machine_config *cfg)
{
	if (!cfg->ndevices)
		return cfg->remote != NULL;
	for (unsigned int i = 0; i < cfg->ndevices; i++)
		if (cfg->remotes[i])
			return true;
	return false;
}

int vm_machine_create(const struct vm_machine_config *cfg,
		      struct vm_machine **out, char *err, size_t errlen)
{
	struct vm_machine_config def = { 0 };
	struct irqlink_relay_config rc = { 0 };
	struct kg_options ko = { 0 };
	struct vm_machine *m;
	unsigned int ndev, gsi, vectors = 0;
	int r;

	*out = NULL;
	if (!cfg)
		cfg = &def;
	ndev = cfg->ndevices ? cfg->ndevices : 1;
	gsi = cfg->intx_gsi ? cfg->intx_gsi : VM_DEFAULT_GSI;
	if (cfg->vcpus > KG_MAX_VCPUS ||
	    (cfg->intx_gsi && (cfg->intx_gsi < 16 || cfg->intx_gsi > 23)) ||
	    cfg->msix_vectors > VM_MSIX_MAX ||
	    cfg->ndevices > VM_MAX_DEVICES ||
	    !irqlink_delivery_name(cfg->delivery) ||
	    !irqlink_eoi_policy_name(cfg->eoi)) {
		say(err, errlen, "bad machine config: vcpus 1-%u, INTx GSI 16-23, "
		    "MSI-X vectors 1-%u, 1-%u devices, a known delivery mode "
		    "and EOI policy", KG_MAX_VCPUS, VM_MSIX_MAX,
		    VM_MAX_DEVICES);
		return -EINVAL;
	}
	if (gsi + ndev - 1 > 23) {
		say(err, errlen, "%u devices need IOAPIC pins %u-%u, and the "
		    "last pin is 23 (a lower --gsi, or fewer devices)", ndev,
		    gsi, gsi + ndev - 1);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		say(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->stopfd = m->kickfd = -1;
	pthread_mutex_init(&m->stop_lock, NULL);
	m->intx_gsi = gsi;
	m->delivery = cfg->delivery;
	m->msix_vectors = cfg->msix_vectors ? cfg->msix_vectors : VM_MSIX_VECTORS;
	for (unsigned int i = 0; i < ndev; i++) {
		struct vm_dev *d = &m->dev[i];

		d->m = m;
		d->index = i;
		d->slot = VM_TESTDEV_SLOT + i;
		d->intx_gsi = gsi + i;
		d->fn = -1;
		d->remote = cfg->ndevices ? cfg->remotes[i] : cfg->remote;
	}
	r = pick_eoi(m, cfg, any_remote(cfg), err, errlen);
	if (r)
		goto err_free;

	r = irqlink_vm_create(NULL, &m->vm);
	if (r) {
		say_vm_error(err, errlen, r);
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

	r = irqlink_bypass_create(&m->bypass);
	if (r) {
		say(err, errlen, "cannot create the bypass manager: %s",
		    strerror(-r));
		goto err_guest;
	}
	if (cfg->relay_busy_poll)
		rc.flags |= IRQLINK_RELAY_BUSY_POLL;
	r = irqlink_relay_create(m->vm, &rc, &m->relay);
	if (r) {
		say(err, errlen, "cannot start the relay: %s", strerror(-r));
		goto err_bypass;
	}
	for (m->ndev = 0; m->ndev < ndev; m->ndev++) {
		r = add_device(m, &m->dev[m->ndev], cfg, err, errlen);
		if (r) {
			m->ndev++;      /* remove what it built, too */
			goto err_devices;
		}
		/* Vectors take their fds when the guest unmasks them, so
		 * the limit can follow the tables as the devices report
		 * them (a remote one's is the server's). */
		vectors += m->dev[m->ndev].doorbell_vectors;
	}
	r = fd_limit(vectors, err, errlen);
	if (r)
		goto err_devices;
	m->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stopfd < 0 || m->kickfd < 0) {
		r = -errno;
		say(err, errlen, "eventfd: %s", strerror(-r));
		goto err_devices;
	}
	*out = m;
	return 0;

err_devices:
	remove_devices(m);
	irqlink_relay_destroy(m->relay);
err_bypass:
	irqlink_bypass_destroy(m->bypass);
err_guest:
	kg_destroy(m->g);
err_vm:
	irqlink_vm_destroy(m->vm);
err_free:
	if (m->stopfd >= 0)
		close(m->stopfd);
	if (m->kickfd >= 0)
		close(m->kickfd);
	pthread_mutex_destroy(&m->stop_lock);
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
	for (unsigned int k = 0; k < m->ndev; k++) {
		struct vm_dev *d = &m->dev[k];

		for (unsigned int i = 0; i < n; i++) {
			if (e->fn[i].bdf == d->slot << 3 &&
			    e->fn[i].vendor == TESTDEV_VENDOR_ID &&
			    e->fn[i].device == TESTDEV_DEVICE_ID) {
				d->fn = (int)i;
				d->bar0 = e->fn[i].bar[0].addr;
			}
		}
		if (d->fn < 0 || !d->bar0) {
			say(err, errlen, "the guest did not find test device "
			    "%u in slot %u (%u functions on bus 0)", k,
			    d->slot, n);
			return -ENODEV;
		}
	}
	return 0;
}

void vm_machine_destroy(struct vm_machine *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	pthread_mutex_lock(&m->stop_lock);
	if (m->g)
		kg_stop(m->g);
	pthread_mutex_unlock(&m->stop_lock);
	if (m->thread_live) {
		if (write(m->stopfd, &one, sizeof(one)) == sizeof(one))
			pthread_join(m->thread, NULL);
		m->thread_live = false;
	}
	remove_devices(m);
	irqlink_relay_destroy(m->relay);
	irqlink_bypass_destroy(m->bypass);
	kg_destroy(m->g);
	irqlink_vm_destroy(m->vm);
	if (m->stopfd >= 0)
		close(m->stopfd);
	if (m->kickfd >= 0)
		close(m->kickfd);
	pthread_mutex_destroy(&m->stop_lock);
	free(m);
}

/* ---- observing ------------------------------------------------------------ */

uint64_t vm_dev_raise_tsc(struct vm_dev *d, uint64_t seq)
{
	uint64_t done = __atomic_load_n(&d->raises, __ATOMIC_ACQUIRE);

	if (seq >= done || done - seq > VM_RAISE_RING)
		return 0;
	return __atomic_load_n(&d->raise_tsc[seq % VM_RAISE_RING],
			       __ATOMIC_RELAXED);
}

uint64_t vm_dev_raises(struct vm_dev *d)
{
	return __atomic_load_n(&d->raises, __ATOMIC_ACQUIRE);
}

uint64_t vm_dev_disconnects(struct vm_dev *d)
{
	return __atomic_load_n(&d->disconnects, __ATOMIC_ACQUIRE);
}

uint64_t vm_dev_reconnects(struct vm_dev *d)
{
	return __atomic_load_n(&d->reconnects, __ATOMIC_ACQUIRE);
}

uint64_t vm_machine_timer_unmasks(struct vm_machine *m)
{
	return __atomic_load_n(&m->timer_unmasks, __ATOMIC_RELAXED);
}

uint64_t vm_machine_errs(struct vm_machine *m)
{
	return __atomic_load_n(&m->errs, __ATOMIC_ACQUIRE);
}

uint32_t vm_dev_reg(struct vm_dev *d, uint32_t reg)
{
	uint32_t v = 0;

	if (d->td)
		return testdev_reg_read(d->td, reg);
	if (irqlink_vfu_client_ops.region_read(d->vfu,
			VFIO_PCI_BAR0_REGION_INDEX, reg, &v, sizeof(v)))
		return 0;
	return v;
}

int vm_dev_command(struct vm_machine *m, struct vm_dev *d, uint32_t kind)
{
	int err = kg_guest_write(m->g, vm_dev_reg_gpa(d, TESTDEV_REG_KIND),
				 kind, 4);

	if (!err)
		err = kg_guest_write(m->g, vm_dev_reg_gpa(d, TESTDEV_REG_VECTOR),
				     0, 4);
	if (!err)
		err = kg_guest_write(m->g, vm_dev_reg_gpa(d, TESTDEV_REG_COUNT),
				     1, 4);
	return err;
}

uint64_t vm_machine_reqs(struct vm_machine *m)
{
	return __atomic_load_n(&m->reqs, __ATOMIC_RELAXED);
}

const char *vm_machine_strerror(struct vm_machine *m, int err, char *buf,
				size_t len)
{
	if (vm_machine_errs(m))
		snprintf(buf, len, "the device reported an error (ERR), so the "
			 "VM was stopped");
	else if (kg_state(m->g) == KG_EXCEPTION || kg_state(m->g) == KG_FAILED)
		snprintf(buf, len, "%s", kg_why(m->g));
	else if (err == -ETIMEDOUT)
		snprintf(buf, len, "the guest did not answer in time (hung?)");
	else
		snprintf(buf, len, "%s", strerror(-err));
	return buf;
}
