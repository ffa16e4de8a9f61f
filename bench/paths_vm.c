/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm's machine (tools/vm_machine.h) as a path: the guest found the
 * test device on its PCI bus and programmed its interrupt through the PCI
 * glue, which paired the device's producer with a consumer through the
 * bypass manager, exactly as `irqlink-vm demo` runs it.
 *
 * The trigger rings the device's doorbell by writing the doorbell eventfd,
 * as KVM does on the guest's doorbell write (ioeventfd); the machine's
 * device thread, or the device's own process over vfio-user, wakes and
 * raises the interrupt. So each row is compared with the raw device-thread
 * row of the same shape (paths_device_thread.c), and all of them wait by
 * yielding: the device's side runs on the trigger CPU.
 *
 * Rows: MSI through the in-kernel path, MSI-X by the device's DMA write
 * into the MSI doorbell window (KVM_SIGNAL_MSI of the guest's message),
 * INTx under the BAR-access and guest-port EOI policies (the full cycle:
 * the sample ends when the device has been unmasked), and MSI from a
 * device in its own process (irqlink-devd) over vfio-user, whose doorbell
 * is the eventfd the server gave for REGION_IO_FDS. The doorbell rows
 * begin one step earlier, at the guest's own write to the device's
 * doorbell register, with the device in-process and over vfio-user, each
 * with its doorbell an ioeventfd and trapped (vm_machine's doorbells_trap:
 * an exit, and for the remote device a REGION_WRITE message).
 *
 * The INTx rows' guest does a driver's work in its handler -- it reads
 * STATUS and writes it back, two BAR accesses that exit to user space,
 * and under guest-port writes the EOI port too -- where the raw row's
 * guest only EOIs: their difference is what a real INTx cycle costs on
 * top of KVM's, the guest's accesses included. The resamplefd policy is
 * the irqlink-intx row: on a KVM that EOIs at injection, as kvm_pvm does,
 * it unmasks the test device while its line is still up
 * (<irqlink/eoi.h>), and the row would count extra interrupts.
 */
#include "bench.h"

#include "vm_machine.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VM_ROW_VECTOR 0x50
#define DEVD_START_MS 5000

struct bench_vm {
	struct vm_machine *m;
	struct vm_dev *d;
	pid_t devd;
	char dir[64];
	char sock[96];
	/* An INTx sample's split: the doorbell commands run before it, and
	 * when the trigger thread first saw the guest's acknowledgement
	 * (the line low again after the raise). */
	uint64_t raises0, t_ack;
};

/* irqlink-devd: named by IRQLINK_DEVD (the tests set it), else beside
 * the bench (installed), else in the build tree's tools/. */
static int find_devd(char *out, size_t len)
{
	static const char *const rel[] = { "/irqlink-devd",
					   "/../tools/irqlink-devd" };
	const char *env = getenv("IRQLINK_DEVD");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	if (!(slash = strrchr(self, '/')))
		return -ENOENT;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(out, len, "%s%s", self, rel[i]) >= len)
			return -ENAMETOOLONG;
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

/* The device process, started from the trigger CPU (it inherits it). */
static int start_devd(struct run *r, struct bench_vm *v)
{
	char bin[PATH_MAX];
	struct stat st;
	int err = find_devd(bin, sizeof(bin));

	if (err)
		return bench_why(r, err, "irqlink-devd not found (set "
				 "IRQLINK_DEVD): %s", strerror(-err));
	snprintf(v->dir, sizeof(v->dir), "/tmp/irqlink-bench-XXXXXX");
	if (!mkdtemp(v->dir)) {
		v->dir[0] = '\0';
		return bench_why(r, -errno, "mkdtemp: %s", strerror(errno));
	}
	snprintf(v->sock, sizeof(v->sock), "%s/dev.sock", v->dir);
	v->devd = fork();
	if (v->devd < 0)
		return bench_why(r, -errno, "fork: %s", strerror(errno));
	if (v->devd == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, "irqlink-devd", "-q", "--msix", "1", v->sock,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < DEVD_START_MS && stat(v->sock, &st); i++)
		usleep(1000);
	if (stat(v->sock, &st))
		return bench_why(r, -ETIMEDOUT, "%s did not create %s in %d ms",
				 bin, v->sock, DEVD_START_MS);
	return 0;
}

void bench_vm_teardown(struct run *r)
{
	struct bench_vm *v = r->vmrow;
	int status;

	if (!v)
		return;
	vm_machine_destroy(v->m);
	r->g = NULL;            /* the machine's, gone with it */
	if (v->devd > 0) {
		kill(v->devd, SIGTERM);
		while (waitpid(v->devd, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (v->sock[0])
		unlink(v->sock);
	if (v->dir[0])
		rmdir(v->dir);
	free(v);
	r->vmrow = NULL;
}

/* The eventfd the device's doorbell register signals: the in-process
 * device's own, or the one its server gave for REGION_IO_FDS. */
static int doorbell_fd(struct run *r, struct vm_dev *d)
{
	struct irqlink_pci_ioeventfd io[8];
	int n;

	if (d->td)
		return testdev_doorbell_fd(d->td);
	n = d->ops->get_ioeventfds ? d->ops->get_ioeventfds(d->opaque, io, 8)
				   : -ENOENT;
	for (int i = 0; i < n && i < 8; i++)
		if (io[i].region == VFIO_PCI_BAR0_REGION_INDEX &&
		    io[i].offset == TESTDEV_REG_DOORBELL)
			return io[i].fd;
	return bench_why(r, n < 0 ? n : -ENOENT, "the device lists no "
			 "doorbell eventfd (%d)", n);
}

/*
 * The machine, its vCPU on the vCPU CPU and everything else (relay,
 * device thread, device process) on the trigger CPU, as every other row.
 * The vCPU and device threads start in vm_machine_boot(), from the
 * calling thread's CPU; the device thread is moved afterwards.
 */
static int machine(struct run *r, struct vm_machine_config *cfg,
		   bool remote)
{
	struct bench_vm *v = calloc(1, sizeof(*v));
	cpu_set_t set;
	int err, fd;

	if (!v)
		return bench_why(r, -ENOMEM, "out of memory");
	r->vmrow = v;
	if (remote) {
		if ((err = start_devd(r, v)))
			return err;
		cfg->remote = v->sock;
	}
	if ((err = vm_machine_create(cfg, &v->m, r->res->why,
				     sizeof(r->res->why))))
		return err;
	if ((err = bench_pin_self(r->cfg->cpu_vcpu)))
		return bench_why(r, err, "pin to CPU %d: %s", r->cfg->cpu_vcpu,
				 strerror(-err));
	err = vm_machine_boot(v->m, r->res->why, sizeof(r->res->why));
	bench_pin_self(r->cfg->cpu_trigger);
	if (err)
		return err;
	r->g = v->m->g;
	v->d = &v->m->dev[0];
	CPU_ZERO(&set);
	CPU_SET(r->cfg->cpu_trigger, &set);
	if ((err = -pthread_setaffinity_np(v->m->thread, sizeof(set), &set)))
		return bench_why(r, err, "pin the device thread: %s",
				 strerror(-err));
	if ((fd = doorbell_fd(r, v->d)) < 0)
		return fd;
	if ((r->efd = dup(fd)) < 0)
		return bench_why(r, -errno, "dup: %s", strerror(errno));
	return 0;
}

static int guest_error(struct run *r, int err, const char *what)
{
	char buf[160];

	return bench_why(r, err, "%s: %s", what, vm_machine_strerror(
				 r->vmrow->m, err, buf, sizeof(buf)));
}

static int msi_row(struct run *r, struct vm_machine_config *cfg,
		   bool remote)
{
	struct bench_vm *v;
	int err;

	if ((err = machine(r, cfg, remote)))
		return err;
	v = r->vmrow;
	r->vector = VM_ROW_VECTOR;
	if ((err = kg_pci_msi(r->g, (unsigned int)v->d->fn, r->vector, 1, 0,
			      false)))
		return guest_error(r, err, "the guest's MSI enable");
	if ((err = vm_dev_command(v->m, v->d, VFIO_PCI_MSI_IRQ_INDEX)))
		return guest_error(r, err, "the guest's device command");
	r->expected = kg_shared(r->g)->count[r->vector];
	return 0;
}

static int setup_msi(struct run *r)
{
	struct vm_machine_config cfg = { .msix_vectors = 1 };

	return msi_row(r, &cfg, false);
}

static int setup_remote_msi(struct run *r)
{
	struct vm_machine_config cfg = { 0 };

	return msi_row(r, &cfg, true);
}

/* MSI-X off while the VMM maps the window (the device refuses the mode
 * change otherwise), then the guest enables its one entry. */
static int setup_msix_dma(struct run *r)
{
	struct vm_machine_config cfg = { .msix_vectors = 1 };
	struct bench_vm *v;
	unsigned int fn;
	int err;

	if ((err = machine(r, &cfg, false)))
		return err;
	v = r->vmrow;
	fn = (unsigned int)v->d->fn;
	if ((err = vm_dev_set_msix_dma(v->d, true, r->res->why,
				       sizeof(r->res->why))))
		return err;
	r->vector = VM_ROW_VECTOR;
	if ((err = kg_pci_msix(r->g, fn, r->vector, 1, 0, false)))
		return guest_error(r, err, "the guest's MSI-X enable");
	if ((err = vm_dev_command(v->m, v->d, VFIO_PCI_MSIX_IRQ_INDEX)))
		return guest_error(r, err, "the guest's device command");
	r->expected = kg_shared(r->g)->count[r->vector];
	return 0;
}

/* The guest's INTx handler reads STATUS and writes it back (W1C), which
 * lowers the line: the acknowledgement the BAR-access policy infers. */
static int intx_row(struct run *r, enum irqlink_eoi_policy eoi)
{
	struct vm_machine_config cfg = { .msix_vectors = 1, .eoi = eoi };
	struct bench_vm *v;
	uint64_t status;
	unsigned int pin;
	int err;

	if ((err = machine(r, &cfg, false)))
		return err;
	v = r->vmrow;
	status = vm_dev_reg_gpa(v->d, TESTDEV_REG_STATUS);
	r->vector = VM_ROW_VECTOR;
	if ((err = kg_pci_intx(r->g, (unsigned int)v->d->fn, r->vector,
			       KG_PCI_PIN_FROM_LINE, status, status, &pin)))
		return guest_error(r, err, "the guest's INTx setup");
	if ((err = vm_dev_command(v->m, v->d, VFIO_PCI_INTX_IRQ_INDEX)))
		return guest_error(r, err, "the guest's device command");
	r->expected = kg_shared(r->g)->count[r->vector];
	r->unmasks = testdev_reg_read(v->d->td, TESTDEV_REG_UNMASKS);
	return 0;
}

static int setup_intx_bar_access(struct run *r)
{
	return intx_row(r, IRQLINK_EOI_BAR_ACCESS);
}

static int setup_intx_guest_port(struct run *r)
{
	return intx_row(r, IRQLINK_EOI_GUEST_PORT);
}

static int device_unmasked(struct run *r)
{
	struct bench_vm *v = r->vmrow;
	struct testdev *td = v->d->td;
	uint64_t n = testdev_reg_read(td, TESTDEV_REG_UNMASKS);

	if (!v->t_ack && vm_dev_raises(v->d) > v->raises0 &&
	    !(testdev_reg_read(td, TESTDEV_REG_STATUS) & TESTDEV_STATUS_INTX))
		v->t_ack = bench_tsc();
	if (n > r->unmasks)
		return bench_why(r, -EOVERFLOW, "%" PRIu64 " unmasks, expected %"
				 PRIu64, n, r->unmasks);
	return n == r->unmasks;
}

static uint64_t span(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

/*
 * Where a full INTx cycle goes: the device thread's wake-up and raise,
 * raise to ISR entry, ISR entry to the acknowledgement (the guest's
 * STATUS write lowered the line; as this thread saw it, so up to a poll
 * late), and from there to the unmask the EOI policy made.
 */
static int sample_intx(struct run *r, uint64_t *lat, uint64_t *isr)
{
	struct bench_vm *v = r->vmrow;
	uint64_t t0 = bench_tsc(), raise, t_isr, t_end;
	int err;

	v->raises0 = vm_dev_raises(v->d);
	v->t_ack = 0;
	r->unmasks++;
	if ((err = bench_sample_efd_cycle(r, device_unmasked, lat, isr)))
		return err;
	raise = vm_dev_raise_tsc(v->d, v->raises0);
	t_isr = t0 + *isr;
	t_end = t0 + *lat;
	if (!v->t_ack || v->t_ack > t_end)
		v->t_ack = t_end;
	r->part[0] = span(t0, raise);
	r->part[1] = span(raise, t_isr);
	r->part[2] = span(t_isr, v->t_ack);
	r->part[3] = span(v->t_ack, t_end);
	return 0;
}

/* The guest rings the device's doorbell register itself (its timed
 * write, bench_db_install()): the KVM_IOEVENTFD the glue registered for
 * the device's doorbell eventfd takes it. */
static int doorbell_row(struct run *r, bool remote, bool trap)
{
	struct vm_machine_config cfg = { .msix_vectors = 1,
					 .doorbells_trap = trap };
	int err = msi_row(r, &cfg, remote);

	if (!err)
		err = bench_db_install(r, vm_dev_reg_gpa(r->vmrow->d,
							  TESTDEV_REG_DOORBELL));
	return err;
}

static int setup_doorbell(struct run *r)
{
	return doorbell_row(r, false, false);
}

static int setup_remote_doorbell(struct run *r)
{
	return doorbell_row(r, true, false);
}

static int setup_doorbell_exit(struct run *r)
{
	return doorbell_row(r, false, true);
}

static int setup_remote_doorbell_msg(struct run *r)
{
	return doorbell_row(r, true, true);
}

#define INTX_PARTS { "device thread", "to ISR entry", "ISR to ack", \
		     "ack to unmask" }

const struct bench_path bench_paths_vm[] = {
	{ "vm-msi/yield", "kvm-dev-msi/yield",
	  "irqlink-vm: doorbell -> device thread -> test device -> consumer "
	  "paired by the bypass manager (in-kernel irqfd on the route the "
	  "guest's MSI programmed) -> ISR",
	  setup_msi, bench_sample_efd_isr, false, BENCH_WAIT_YIELD, NULL, NULL,
	  { NULL }, BENCH_PLOT_VM },
	{ "vm-msix-dma/yield", "kvm-dev-signal-msi/yield",
	  "irqlink-vm: doorbell -> device thread -> the device's DMA write "
	  "into the MSI doorbell window (IOVA) -> KVM_SIGNAL_MSI -> ISR",
	  setup_msix_dma, bench_sample_efd_isr, false, BENCH_WAIT_YIELD, NULL,
	  NULL, { NULL }, BENCH_PLOT_VM },
	{ "vm-intx-bar-access/yield", "kvm-dev-intx-ack/yield",
	  "irqlink-vm, EOI policy bar-access: doorbell -> device thread -> "
	  "INTx by the relay -> ISR -> STATUS write traps -> glue unmasks the "
	  "device (full INTx cycle)",
	  setup_intx_bar_access, sample_intx, true, BENCH_WAIT_YIELD, NULL,
	  NULL, INTX_PARTS, BENCH_PLOT_VM },
	{ "vm-intx-guest-port/yield", "kvm-dev-intx-port/yield",
	  "irqlink-vm, EOI policy guest-port: doorbell -> device thread -> "
	  "in-kernel INTx -> ISR -> the guest's EOI port write -> glue "
	  "unmasks the device (full INTx cycle)",
	  setup_intx_guest_port, sample_intx, true, BENCH_WAIT_YIELD, NULL,
	  NULL, INTX_PARTS, BENCH_PLOT_VM },
	{ "vm-remote-msi/yield", "kvm-devproc-msi/yield",
	  "irqlink-vm with irqlink-devd over vfio-user: REGION_IO_FDS "
	  "doorbell -> the device's process -> its MSI eventfd (an irqfd "
	  "the glue's consumer set up) -> ISR",
	  setup_remote_msi, bench_sample_efd_isr, false, BENCH_WAIT_YIELD,
	  NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "vm-doorbell/yield", "kvm-doorbell-thread/yield",
	  "irqlink-vm: guest write to the device's doorbell register -> "
	  "ioeventfd the glue registered -> device thread -> MSI -> ISR "
	  "(guest TSC to guest TSC)",
	  setup_doorbell, bench_sample_doorbell_msi, false, BENCH_WAIT_YIELD,
	  NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "vm-remote-doorbell/yield", "kvm-doorbell-proc/yield",
	  "vm-doorbell/yield with irqlink-devd over vfio-user: the ioeventfd "
	  "is the eventfd the server gave for REGION_IO_FDS",
	  setup_remote_doorbell, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "vm-doorbell-exit/yield", "kvm-doorbell-exit/yield",
	  "vm-doorbell/yield with doorbells_trap: the write exits to the "
	  "vCPU thread, which runs the device's register write",
	  setup_doorbell_exit, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
	{ "vm-remote-doorbell-msg/yield", "kvm-doorbell-msg/yield",
	  "vm-remote-doorbell/yield with doorbells_trap: the write exits "
	  "and becomes a REGION_WRITE message, answered after the device ran "
	  "it",
	  setup_remote_doorbell_msg, bench_sample_doorbell_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL, { NULL }, BENCH_PLOT_VM },
};
const size_t bench_paths_vm_n = sizeof(bench_paths_vm) / sizeof(bench_paths_vm[0]);
