/* SPDX-License-Identifier: MIT */
/*
 * Raw KVM with a device thread: the baselines of irqlink-vm's rows
 * (paths_vm.c).
 *
 * An emulated device waits for its doorbell -- the eventfd KVM signals when
 * the guest writes the doorbell register -- on a thread of its own, and
 * raises its interrupt from there. These rows build that with ioctls only: a
 * thread (or, for a device in a process of its own, a forked child) blocked
 * in poll() on the doorbell eventfd, which on each signal writes an MSI
 * irqfd's eventfd, calls KVM_SIGNAL_MSI, or writes a level irqfd whose
 * resamplefd the trigger thread then reads (the full INTx cycle). The
 * trigger thread rings the doorbell by writing that eventfd (r->efd), as
 * KVM would on the guest's write, so the samplers of paths_kvm.c serve
 * unchanged. The device's side shares the trigger CPU, so these rows and
 * the irqlink-vm rows they are compared with wait by yielding.
 */
#include "bench.h"

#include "kvm_guest_pci.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct bench_devthread {
	int doorbell;      /* ours; the trigger writes a duplicate */
	int out;           /* the irqfd's eventfd, or -1: KVM_SIGNAL_MSI */
	int stop;          /* eventfd: the loop returns when signalled */
	int vm_fd;
	struct kvm_msi msi;
	pthread_t thread;
	bool thread_live;
	pid_t child;       /* > 0: the loop runs in this process */
	int sock;          /* message rows: our end of the socket pair */
	/* Driver rows: the device's STATUS (1 while its line is up) and
	 * unmasks live here, read and written on the vCPU thread; the unmask
	 * is the guest's STATUS write (@ack_unmasks) or its port write. */
	bool ack_unmasks;
	uint32_t status;   /* atomic */
	uint64_t unmasks;  /* atomic */
};

/* Only poll, read, write and ioctl: it also runs in a child forked from
 * a threaded process, where nothing else is safe. */
static void device_loop(const struct bench_devthread *d)
{
	struct pollfd p[2] = { { .fd = d->doorbell, .events = POLLIN },
			       { .fd = d->stop, .events = POLLIN } };
	uint64_t n, one = 1;

	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return;
		if (read(d->doorbell, &n, sizeof(n)) != sizeof(n))
			continue;
		while (n--) {
			__atomic_store_n((uint32_t *)&d->status, 1,
					 __ATOMIC_RELEASE);
			if (d->out >= 0)
				(void)!write(d->out, &one, sizeof(one));
			else
				(void)ioctl(d->vm_fd, KVM_SIGNAL_MSI, &d->msi);
		}
	}
}

static void *device_thread(void *arg)
{
	device_loop(arg);
	return NULL;
}

void bench_devthread_destroy(struct bench_devthread *d)
{
	int status;

	if (!d)
		return;
	if (d->stop >= 0)
		bench_signal(d->stop);
	if (d->thread_live)
		pthread_join(d->thread, NULL);
	if (d->child > 0)
		while (waitpid(d->child, &status, 0) < 0 && errno == EINTR)
			;
	if (d->doorbell >= 0)
		close(d->doorbell);
	if (d->out >= 0)
		close(d->out);
	if (d->stop >= 0)
		close(d->stop);
	if (d->sock >= 0)
		close(d->sock);
	free(d);
}

/*
 * Put a device thread between the trigger and the path the raw setup
 * built: the path's own eventfd (r->efd; none for KVM_SIGNAL_MSI) becomes
 * the device's output, and r->efd the doorbell. Created from the trigger
 * CPU, the thread (or child) inherits its affinity.
 */
static int add_device(struct run *r, bool own_process)
{
	struct bench_devthread *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return bench_why(r, -ENOMEM, "out of memory");
	d->out = r->efd;
	d->vm_fd = r->vm_fd;
	d->msi = bench_msi_to(r->vector);
	d->doorbell = d->stop = d->sock = -1;
	r->devthread = d;
	r->efd = -1;
	if ((d->doorbell = bench_eventfd()) < 0)
		return bench_why(r, d->doorbell, "eventfd: %s",
				 strerror(-d->doorbell));
	if ((d->stop = bench_eventfd()) < 0)
		return bench_why(r, d->stop, "eventfd: %s", strerror(-d->stop));
	if ((r->efd = dup(d->doorbell)) < 0)
		return bench_why(r, -errno, "dup: %s", strerror(errno));
	if (!own_process) {
		if ((err = -pthread_create(&d->thread, NULL, device_thread, d)))
			return bench_why(r, err, "pthread_create: %s",
					 strerror(-err));
		d->thread_live = true;
		return 0;
	}
	d->child = fork();
	if (d->child < 0)
		return bench_why(r, -errno, "fork: %s", strerror(errno));
	if (d->child == 0) {
		/* A bench that dies must not leave it behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		device_loop(d);
		_exit(0);
	}
	return 0;
}

/* A raw path of paths_kvm.c with the device's thread (or process) put in
 * front of it. */
static int behind_device(struct run *r, int (*raw)(struct run *r),
			 bool own_process)
{
	int err = raw(r);

	return err ? err : add_device(r, own_process);
}

static int setup_msi(struct run *r)
{
	return behind_device(r, bench_kvm_setup_msi_irqfd, false);
}

static int setup_signal_msi(struct run *r)
{
	return behind_device(r, bench_kvm_setup_signal_msi, false);
}

static int setup_intx(struct run *r)
{
	return behind_device(r, bench_kvm_setup_level_resample, false);
}

static int setup_msi_process(struct run *r)
{
	return behind_device(r, bench_kvm_setup_msi_irqfd, true);
}

/*
 * The guest rings the doorbell itself: its timed MMIO write at
 * BENCH_DB_GPA is a KVM_IOEVENTFD on the device's doorbell eventfd.
 */
static int guest_doorbell(struct run *r)
{
	struct kvm_ioeventfd req;
	int err;

	memset(&req, 0, sizeof(req));
	req.addr = BENCH_DB_GPA;
	req.len = 4;
	req.fd = r->devthread->doorbell;
	if (ioctl(r->vm_fd, KVM_IOEVENTFD, &req))
		return bench_why(r, -errno, "KVM_IOEVENTFD: %s",
				 strerror(errno));
	err = bench_db_install(r, BENCH_DB_GPA);
	r->vector = 0x42;       /* the MSI's, bench_kvm_setup_msi_irqfd() */
	return err;
}

static int setup_doorbell(struct run *r, bool own_process)
{
	int err = behind_device(r, bench_kvm_setup_msi_irqfd, own_process);

	return err ? err : guest_doorbell(r);
}

static int setup_doorbell_thread(struct run *r)
{
	return setup_doorbell(r, false);
}

static int setup_doorbell_process(struct run *r)
{
	return setup_doorbell(r, true);
}

/* Guest doorbell write -> ... -> the MSI's ISR entry, both guest TSCs. */
int bench_sample_doorbell_msi(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t tg;
	int err;

	(void)isr;
	r->expected++;
	if ((err = bench_db_ring(r)) || (err = bench_wait_isr(r)) ||
	    (err = bench_db_guest_tsc(r, &tg)))
		return err;
	return bench_isr_latency(r, tg, lat);
}

/*
 * The doorbell trapped instead: the guest's write exits to the vCPU
 * thread, which raises the interrupt itself, or (the message row) sends a
 * request of vfio-user's REGION_WRITE size to the device's process and
 * waits for its reply, which comes after the device raised the interrupt
 * -- what a vfio-user client does without REGION_IO_FDS.
 */
#define MSG_BYTES (16 + 16 + 4)   /* header, region access, 4 bytes */

static void exit_raise(void *opaque, uint64_t gpa, uint8_t *data,
		       uint32_t len, bool is_write)
{
	struct run *r = opaque;
	uint8_t msg[MSG_BYTES] = { 0 };
	uint64_t one = 1;

	(void)len;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	if (gpa != BENCH_DB_GPA ||
	    !__atomic_load_n(&r->exits_ready, __ATOMIC_ACQUIRE))
		return;
	if (!r->devthread) {
		(void)!write(r->efd, &one, sizeof(one));
		return;
	}
	if (send(r->devthread->sock, msg, sizeof(msg), 0) == sizeof(msg))
		(void)!recv(r->devthread->sock, msg, 16, MSG_WAITALL);
}

/* The device's process for the message row: each request raises the
 * interrupt, then is answered; the stop eventfd or end of file ends it.
 * It waits in poll(), as irqlink's server does. */
static void message_loop(int sock, int out, int stop)
{
	struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
			       { .fd = stop, .events = POLLIN } };
	uint8_t msg[MSG_BYTES];
	uint64_t one = 1;

	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents ||
		    recv(sock, msg, sizeof(msg), MSG_WAITALL) != sizeof(msg))
			return;
		(void)!write(out, &one, sizeof(one));
		if (send(sock, msg, 16, 0) != 16)
			return;
	}
}

static int setup_doorbell_exit(struct run *r, bool message)
{
	struct bench_devthread *d;
	int sv[2], err;

	r->mmio_fn = exit_raise;
	if ((err = bench_kvm_setup_msi_irqfd(r)) ||
	    (err = bench_db_install(r, BENCH_DB_GPA)))
		return err;
	r->vector = 0x42;
	if (!message) {
		__atomic_store_n(&r->exits_ready, true, __ATOMIC_RELEASE);
		return 0;
	}
	if (!(d = calloc(1, sizeof(*d))))
		return bench_why(r, -ENOMEM, "out of memory");
	d->doorbell = d->out = -1;
	r->devthread = d;
	if ((d->stop = bench_eventfd()) < 0)
		return bench_why(r, d->stop, "eventfd: %s", strerror(-d->stop));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return bench_why(r, -errno, "socketpair: %s", strerror(errno));
	d->sock = sv[0];
	d->child = fork();
	if (d->child < 0) {
		close(sv[1]);
		return bench_why(r, -errno, "fork: %s", strerror(errno));
	}
	if (d->child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		message_loop(sv[1], r->efd, d->stop);
		_exit(0);
	}
	close(sv[1]);
	__atomic_store_n(&r->exits_ready, true, __ATOMIC_RELEASE);
	return 0;
}

static int setup_doorbell_exit_thread(struct run *r)
{
	return setup_doorbell_exit(r, false);
}

static int setup_doorbell_message(struct run *r)
{
	return setup_doorbell_exit(r, true);
}

/*
 * INTx with a driver's handler: the test guest's own INTx handler (the
 * one irqlink-vm's guest runs) reads STATUS and writes it back, EOIs and
 * writes its end-of-handler port, each access an exit to the vCPU thread.
 * The device behind it is the bench's: STATUS is a word here. The device
 * thread raises the pin through a level irqfd whose resampler lowers it
 * inside the EOI, as irqlink's relay does for INTx: a KVM_IRQ_LINE pulse
 * races a KVM that EOIs at injection (kvm_pvm), which sees the pin still
 * up between the two ioctls and delivers again -- about once in 10^4
 * here. Two EOI schemes, the raw forms of irqlink's policies: *ack* -- the
 * STATUS write is the unmask, as a VMM without a resampler infers the
 * acknowledgement from the BAR access (bar-access); *port* -- the port
 * write is (guest-port). The guest is told of one PCI
 * function directly in its shared page: nothing here needs config space.
 */
#define DRIVER_STATUS_GPA (BENCH_DB_GPA + 0x1000)

static void driver_unmask(struct bench_devthread *d)
{
	__atomic_fetch_add(&d->unmasks, 1, __ATOMIC_RELEASE);
}

static void driver_mmio(void *opaque, uint64_t gpa, uint8_t *data,
			uint32_t len, bool is_write)
{
	struct run *r = opaque;
	struct bench_devthread *d;
	uint32_t v = 0;

	if (gpa != DRIVER_STATUS_GPA || len != 4 ||
	    !__atomic_load_n(&r->exits_ready, __ATOMIC_ACQUIRE)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	d = r->devthread;
	if (!is_write) {
		v = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
		memcpy(data, &v, 4);
		return;
	}
	memcpy(&v, data, 4);
	if (!(v & 1))
		return;
	__atomic_store_n(&d->status, 0, __ATOMIC_RELEASE);
	if (d->ack_unmasks)
		driver_unmask(d);
}

static void driver_pio(void *opaque, uint16_t port, uint8_t *data,
		       uint32_t size, uint32_t count, bool is_write)
{
	struct run *r = opaque;

	if (!is_write) {
		memset(data, 0xff, (size_t)size * count);
		return;
	}
	if (port == KG_PORT_INTX_EOI &&
	    __atomic_load_n(&r->exits_ready, __ATOMIC_ACQUIRE) &&
	    !r->devthread->ack_unmasks)
		driver_unmask(r->devthread);
}

static int driver_unmasked(struct run *r)
{
	uint64_t n = __atomic_load_n(&r->devthread->unmasks, __ATOMIC_ACQUIRE);

	if (n > r->unmasks)
		return bench_why(r, -EOVERFLOW, "%" PRIu64 " unmasks, expected %"
				 PRIu64, n, r->unmasks);
	return n == r->unmasks;
}

static int setup_driver(struct run *r, bool ack_unmasks)
{
	volatile struct kg_ext *e;
	int err;

	r->mmio_fn = driver_mmio;
	r->pio_fn = driver_pio;
	/* Pin 17, vector 0x44: the level irqfd and its resamplefd (left to
	 * fill: the unmask is the guest's STATUS or port write). */
	if ((err = behind_device(r, bench_kvm_setup_level_resample, false)))
		return err;
	r->devthread->ack_unmasks = ack_unmasks;
	e = kg_ext(r->g);
	e->fn[0].bdf = 0;
	e->nfn = 1;
	/* Before the handler is installed: it reads the run from here on. */
	__atomic_store_n(&r->exits_ready, true, __ATOMIC_RELEASE);
	if ((err = kg_pci_intx(r->g, 0, r->vector, r->pin, DRIVER_STATUS_GPA,
			       DRIVER_STATUS_GPA, NULL)))
		return bench_why(r, err, "the guest's INTx setup: %s",
				 strerror(-err));
	return 0;
}

static int setup_driver_ack(struct run *r)
{
	return setup_driver(r, true);
}

static int setup_driver_port(struct run *r)
{
	return setup_driver(r, false);
}

static int sample_driver(struct run *r, uint64_t *lat, uint64_t *isr)
{
	r->unmasks++;
	return bench_sample_efd_cycle(r, driver_unmasked, lat, isr);
}

const struct bench_path bench_paths_device_thread[] = {
	{ "kvm-dev-msi/yield", NULL,
	  "doorbell eventfd -> device thread (poll, read) -> eventfd write "
	  "-> MSI irqfd -> ISR",
	  setup_msi, bench_sample_efd_isr, false, BENCH_WAIT_YIELD, NULL, NULL,
	  { NULL }, BENCH_PLOT_VM },
	{ "kvm-dev-signal-msi/yield", NULL,
	  "doorbell eventfd -> device thread -> KVM_SIGNAL_MSI -> ISR",
	  setup_signal_msi, bench_sample_efd_isr, false, BENCH_WAIT_YIELD, NULL,
	  NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-dev-intx/yield", NULL,
	  "doorbell eventfd -> device thread -> level irqfd -> ISR -> EOI -> "
	  "resamplefd read (full INTx cycle)",
	  setup_intx, bench_kvm_sample_level_resample, true, BENCH_WAIT_YIELD,
	  NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-dev-intx-ack/yield", NULL,
	  "doorbell eventfd -> device thread -> level irqfd -> the guest's "
	  "INTx handler -> its STATUS write exits = unmask (full cycle, raw "
	  "bar-access)",
	  setup_driver_ack, sample_driver, true, BENCH_WAIT_YIELD, NULL,
	  NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-dev-intx-port/yield", NULL,
	  "doorbell eventfd -> device thread -> level irqfd -> the guest's "
	  "INTx handler (STATUS read and write exit) -> EOI -> its port write "
	  "exits = unmask (full cycle, raw guest-port)",
	  setup_driver_port, sample_driver, true, BENCH_WAIT_YIELD, NULL,
	  NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-devproc-msi/yield", NULL,
	  "kvm-dev-msi/yield with the device thread in a forked process",
	  setup_msi_process, bench_sample_efd_isr, false, BENCH_WAIT_YIELD,
	  NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-doorbell-thread/yield", NULL,
	  "guest MMIO write -> KVM_IOEVENTFD -> device thread -> MSI irqfd "
	  "-> ISR (guest TSC to guest TSC)",
	  setup_doorbell_thread, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-doorbell-proc/yield", NULL,
	  "kvm-doorbell-thread/yield with the device thread in a forked "
	  "process",
	  setup_doorbell_process, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-doorbell-exit/yield", NULL,
	  "guest MMIO write -> user-space exit: the vCPU thread writes the "
	  "MSI irqfd -> ISR (guest TSC to guest TSC)",
	  setup_doorbell_exit_thread, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "kvm-doorbell-msg/yield", NULL,
	  "guest MMIO write -> user-space exit -> a 36-byte request over "
	  "AF_UNIX to a forked process, which writes the MSI irqfd and "
	  "answers -> ISR",
	  setup_doorbell_message, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
};
const size_t bench_paths_device_thread_n =
	sizeof(bench_paths_device_thread) / sizeof(bench_paths_device_thread[0]);
