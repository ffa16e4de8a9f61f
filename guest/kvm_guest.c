/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the KVM test guest (guest/guest.S).
 *
 * Theory of operation. kg_create() lays out the guest-physical memory of
 * guest/kg_abi.h in one anonymous mapping (memslot 0), copies the embedded
 * guest image to KG_IMAGE_GPA, builds identity page tables and puts vCPU 0
 * straight into 64-bit long mode with KVM_SET_SREGS: on the kvm_pvm module
 * ring-0 code is emulated and 32-bit protected mode cannot iret, so the
 * guest never runs the usual real-mode-to-long-mode climb.
 *
 * Every vCPU runs on its own thread in a KVM_RUN loop; vCPUs beyond 0
 * (kg_create_opts()) enter the same image with their index in %rdi, are
 * made runnable directly (no INIT/SIPI) and only take interrupts. With
 * the in-kernel irqchip, HLT, LAPIC and IOAPIC accesses never leave the
 * kernel, so the loop only sees the guest's port reports (ready,
 * exception), other port I/O and userspace MMIO (handed to the caller's
 * handlers) and failures; every exit is counted by reason for tests to
 * assert on.
 * kg_stop() sets kvm_run.immediate_exit before it sends SIGUSR1 (handler
 * without SA_RESTART): a signal that lands while the thread is between its
 * stop check and the KVM_RUN ioctl is then not lost, because KVM_RUN sees
 * immediate_exit and returns EINTR at once.
 *
 * The host talks to the running guest only through the shared page: counts
 * and timestamps are read with acquire loads; mailbox commands are written
 * first and published by a release store of seq, and KVM_SIGNAL_MSI on
 * KG_WAKE_VECTOR wakes the halted guest (an MSI needs no routing entry, so
 * it works whatever GSI table a test installs).
 */
#include "kvm_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The flat guest binary, embedded by guest/image.S. */
extern const uint8_t kg_guest_image[];
extern const uint8_t kg_guest_image_end[];

_Static_assert(offsetof(struct kg_shared, count) == KG_SH_COUNT, "abi");
_Static_assert(offsetof(struct kg_shared, last_tsc) == KG_SH_LAST_TSC, "abi");
_Static_assert(offsetof(struct kg_shared, hold_eoi) == KG_SH_HOLD, "abi");
_Static_assert(offsetof(struct kg_shared, ready) == KG_SH_READY, "abi");
_Static_assert(offsetof(struct kg_shared, ring_head) == KG_SH_RING_HEAD, "abi");
_Static_assert(offsetof(struct kg_shared, exc_valid) == KG_SH_EXC_VALID, "abi");
_Static_assert(offsetof(struct kg_shared, exc_vector) == KG_SH_EXC_VECTOR, "abi");
_Static_assert(offsetof(struct kg_shared, exc_error) == KG_SH_EXC_ERROR, "abi");
_Static_assert(offsetof(struct kg_shared, exc_rip) == KG_SH_EXC_RIP, "abi");
_Static_assert(offsetof(struct kg_shared, exc_cr2) == KG_SH_EXC_CR2, "abi");
_Static_assert(offsetof(struct kg_shared, spin_stop) == KG_SH_SPIN_STOP, "abi");
_Static_assert(offsetof(struct kg_shared, spinning) == KG_SH_SPINNING, "abi");
_Static_assert(offsetof(struct kg_shared, spin_loops) == KG_SH_SPIN_LOOPS, "abi");
_Static_assert(offsetof(struct kg_shared, mb_seq) == KG_SH_MB_SEQ, "abi");
_Static_assert(offsetof(struct kg_shared, mb_ack) == KG_SH_MB_ACK, "abi");
_Static_assert(offsetof(struct kg_shared, mb_cmd) == KG_SH_MB_CMD, "abi");
_Static_assert(offsetof(struct kg_shared, mb_arg0) == KG_SH_MB_ARG0, "abi");
_Static_assert(offsetof(struct kg_shared, mb_arg1) == KG_SH_MB_ARG1, "abi");
_Static_assert(offsetof(struct kg_shared, mb_arg2) == KG_SH_MB_ARG2, "abi");
_Static_assert(offsetof(struct kg_shared, mb_result) == KG_SH_MB_RESULT, "abi");
_Static_assert(offsetof(struct kg_shared, ring) == KG_SH_RING, "abi");
_Static_assert(sizeof(struct kg_shared) <= KG_SHARED_SIZE, "abi");

#define KG_EXIT_SLOTS 64
#define KG_MEM_SLOT 0

struct kg_guest;

/* One vCPU and its thread. vCPU 0 (the BSP) runs the guest's setup and
 * mailbox; the others (APs) enter the image with %rdi = their index, load
 * the BSP's IDT, enable their LAPIC and idle (guest.S, ap_start). */
struct kg_vcpu {
	struct kg_guest *g;
	unsigned int idx;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_live;  /* created and not yet joined */
};

struct kg_guest {
	int vm_fd;   /* our dup of the caller's VM fd */
	int vcpu_fd; /* vCPU 0's, == vcpu[0].fd */
	struct kvm_run *run; /* vCPU 0's, == vcpu[0].run */
	size_t run_size;
	uint8_t *mem;
	int mem_fd;  /* the memfd behind mem: a device in another process maps it */
	volatile struct kg_shared *sh;

	unsigned int nvcpus;
	struct kg_vcpu vcpu[KG_MAX_VCPUS];
	bool aps_booted;   /* the APs reported in once */
	int failing;       /* atomic: the first failure owns why[] */
	int stop;          /* atomic: asks the vCPU threads to leave their loop */
	int booted;        /* atomic: the KG_PORT_READY exit was handled */
	uint64_t entries;  /* atomic: KVM_RUN calls so far, see sync_vcpu() */
	int state;         /* atomic enum kg_state */
	char why[192];     /* written before state turns EXCEPTION/FAILED */

	uint64_t exits[KG_EXIT_SLOTS]; /* atomic counters */

	pthread_mutex_t mb_lock;
	uint32_t mb_seq;
	bool spinning;     /* under mb_lock: kg_spin_start() succeeded */

	kg_mmio_fn mmio_fn;
	void *mmio_opaque;
	kg_pio_fn pio_fn;
	void *pio_opaque;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Back off while polling shared memory: yield first (cheap, answers within
 * microseconds when the vCPU is on the other CPU), then sleep so a waiting
 * test does not take a CPU from the vCPU on a 2-core machine. */
static void poll_pause(unsigned int *spins)
{
	if ((*spins)++ < 200) {
		sched_yield();
	} else {
		struct timespec ts = { 0, 50 * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void set_state(struct kg_guest *g, enum kg_state s)
{
	__atomic_store_n(&g->state, (int)s, __ATOMIC_RELEASE);
}

static void fail(struct kg_guest *g, enum kg_state s, const char *fmt, ...)
{
	va_list ap;

	/* With several vCPUs, the first one to fail tells the story. */
	if (__atomic_exchange_n(&g->failing, 1, __ATOMIC_ACQ_REL))
		return;
	va_start(ap, fmt);
	vsnprintf(g->why, sizeof(g->why), fmt, ap);
	va_end(ap);
	set_state(g, s);
}

static const char *exception_name(uint64_t v)
{
	static const char *const names[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
		"#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
		"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
		"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
	};

	return v < 32 ? names[v] : "#?";
}

/* ---- the vCPU thread -------------------------------------------------- */

static void kick_handler(int sig)
{
	(void)sig; /* only here to interrupt KVM_RUN */
}

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(SIGUSR1, &sa, NULL);
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void count_exit(struct kg_guest *g, uint32_t reason)
{
	if (reason >= KG_EXIT_SLOTS)
		reason = KG_EXIT_SLOTS - 1;
	__atomic_fetch_add(&g->exits[reason], 1, __ATOMIC_RELAXED);
}

static uint64_t vcpu_rip(struct kg_vcpu *v)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return ~0ull;
	return regs.rip;
}

/* Handles one port exit. Returns false when the run must end. */
static bool handle_io(struct kg_guest *g, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if (run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == KG_PORT_EXCEPTION) {
		volatile struct kg_shared *sh = g->sh;

		fail(g, KG_EXCEPTION,
		     "guest exception %s (vector %llu) at rip 0x%llx, error 0x%llx, cr2 0x%llx",
		     exception_name(sh->exc_vector),
		     (unsigned long long)sh->exc_vector,
		     (unsigned long long)sh->exc_rip,
		     (unsigned long long)sh->exc_error,
		     (unsigned long long)sh->exc_cr2);
		return false;
	}
	/* kg_start() waits for this exit rather than the guest's ready flag,
	 * so the exit counts are settled when it returns. */
	if (run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == KG_PORT_READY) {
		__atomic_store_n(&g->booted, 1, __ATOMIC_RELEASE);
		return true;
	}
	if (g->pio_fn) {
		g->pio_fn(g->pio_opaque, run->io.port, data, run->io.size,
			  run->io.count, run->io.direction == KVM_EXIT_IO_OUT);
		return true;
	}
	/* Other ports: writes are dropped, reads float high. */
	if (run->io.direction == KVM_EXIT_IO_IN)
		memset(data, 0xff, (size_t)run->io.size * run->io.count);
	return true;
}

static void handle_mmio(struct kg_guest *g, struct kvm_run *run)
{

	/* The guest touches MMIO when a mailbox command tells it to. Acquiring
	 * the seq the host published orders what the caller did before the
	 * command before this handler, for tools that cannot see the guest
	 * (cf. sync_vcpu()). */
	(void)__atomic_load_n(&g->sh->mb_seq, __ATOMIC_ACQUIRE);
	if (g->mmio_fn)
		g->mmio_fn(g->mmio_opaque, run->mmio.phys_addr, run->mmio.data,
			   run->mmio.len, run->mmio.is_write);
	else if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
}

static void *vcpu_thread(void *arg)
{
	struct kg_vcpu *v = arg;
	struct kg_guest *g = v->g;
	struct kvm_run *run = v->run;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		/* Publishes everything exit handling did (see sync_vcpu()). */
		__atomic_fetch_add(&g->entries, 1, __ATOMIC_RELEASE);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				count_exit(g, KVM_EXIT_INTR);
				continue; /* the loop condition decides */
			}
			fail(g, KG_FAILED, "KVM_RUN: %s", strerror(errno));
			return NULL;
		}
		count_exit(g, run->exit_reason);
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (!handle_io(g, run))
				return NULL;
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(g, run);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			fail(g, KG_FAILED,
			     "guest shutdown (triple fault) near rip 0x%llx",
			     (unsigned long long)vcpu_rip(v));
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			fail(g, KG_FAILED,
			     "KVM internal error, suberror %u, rip 0x%llx",
			     run->internal.suberror,
			     (unsigned long long)vcpu_rip(v));
			return NULL;
		case KVM_EXIT_FAIL_ENTRY:
			fail(g, KG_FAILED, "VM entry failed, reason 0x%llx",
			     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			return NULL;
		case KVM_EXIT_HLT:
			fail(g, KG_FAILED,
			     "HLT exit: the VM has no in-kernel irqchip");
			return NULL;
		default:
			fail(g, KG_FAILED, "unexpected exit reason %u at rip 0x%llx",
			     run->exit_reason, (unsigned long long)vcpu_rip(v));
			return NULL;
		}
	}
	return NULL;
}

/* ---- creation ---------------------------------------------------------- */

int kg_vm_create(void)
{
	int kvm, vm, err;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return -errno;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	err = -errno;
	close(kvm);
	if (vm < 0)
		return err;
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		err = -errno;
		close(vm);
		return err;
	}
	return vm;
}

/* Identity map 0-4 GiB with 2 MiB pages. The user bit is set at every level
 * so ring-3 code (long loops run natively there on kvm_pvm) can reach the
 * shared page, the LAPIC and device BARs. */
static void build_page_tables(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + KG_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + KG_PDPT_GPA);
	const uint64_t prw_us = 0x7, ps = 0x80;

	pml4[0] = KG_PDPT_GPA | prw_us;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t *pd = (uint64_t *)(mem + KG_PD_GPA + i * 0x1000);

		pdpt[i] = (KG_PD_GPA + i * 0x1000) | prw_us;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i << 30) | (j << 21)) | prw_us | ps;
	}
}

static int set_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int nent = 64, err;

	/* KVM refuses EFER.LME unless the guest's CPUID has long mode. */
	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) +
				  nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = nent;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		err = -errno;
		if (err != -E2BIG || nent >= 4096) {
			free(cpuid);
			return err;
		}
		nent *= 2;
	}
	err = ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	free(cpuid);
	return err;
}

/* Enter the image in 64-bit long mode. vCPU 0 gets %rdi = 0 and the top of
 * the stack area; AP n gets %rdi = n and its own stack (KG_AP_STACK_TOP). */
static int set_long_mode(int vcpu, unsigned int idx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x08,
		.type = 0xb, .present = 1, .dpl = 0, .db = 0, .s = 1,
		.l = 1, .g = 1,
	};
	struct kvm_segment data = code;

	data.selector = 0x10;
	data.type = 0x3;
	data.db = 1;
	data.l = 0;

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cr0 = 0x80000011; /* PG | ET | PE */
	sregs.cr4 = 0x20;       /* PAE */
	sregs.efer = 0x500;     /* LME | LMA */
	sregs.cr3 = KG_PML4_GPA;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rip = KG_IMAGE_GPA;
	regs.rsp = idx ? KG_AP_STACK_TOP(idx) : KG_STACK_TOP;
	regs.rdi = idx;
	regs.rflags = 0x2; /* interrupts off until the IDT is up */
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return -errno;
	if (idx) {
		/* With the in-kernel irqchip an AP waits for INIT/SIPI; this
		 * one is already in long mode and just has to run. */
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		if (ioctl(vcpu, KVM_SET_MP_STATE, &mp) < 0)
			return -errno;
	}
	return 0;
}

static int vcpu_create(struct kg_guest *g, int kvm, unsigned int idx)
{
	struct kg_vcpu *v = &g->vcpu[idx];
	int err;

	v->g = g;
	v->idx = idx;
	v->fd = ioctl(g->vm_fd, KVM_CREATE_VCPU, (unsigned long)idx);
	if (v->fd < 0) {
		err = -errno;
		v->fd = -1;
		return err;
	}
	v->run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		err = -errno;
		goto err_fd;
	}
	err = set_cpuid(kvm, v->fd);
	if (err)
		goto err_run;
	err = set_long_mode(v->fd, idx);
	if (err)
		goto err_run;
	return 0;

err_run:
	munmap(v->run, g->run_size);
err_fd:
	close(v->fd);
	v->fd = -1;
	v->run = NULL;
	return err;
}

static void vcpu_release(struct kg_guest *g, struct kg_vcpu *v)
{
	if (v->fd < 0)
		return;
	munmap(v->run, g->run_size);
	close(v->fd);
	v->fd = -1;
	v->run = NULL;
}

int kg_create(int vm_fd, struct kg_guest **out)
{
	return kg_create_opts(vm_fd, NULL, out);
}

int kg_create_opts(int vm_fd, const struct kg_options *opts,
		   struct kg_guest **out)
{
	size_t image_size = (size_t)(kg_guest_image_end - kg_guest_image);
	struct kvm_userspace_memory_region region;
	unsigned int nvcpus = opts && opts->vcpus ? opts->vcpus : 1;
	struct kg_guest *g;
	int kvm, size, err;

	*out = NULL;
	if (nvcpus > KG_MAX_VCPUS)
		return -EINVAL;
	if (image_size == 0 || image_size > KG_IMAGE_MAX)
		return -E2BIG;
	pthread_once(&kick_once, install_kick_handler);

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->vcpu_fd = -1;
	g->nvcpus = nvcpus;
	for (unsigned int i = 0; i < KG_MAX_VCPUS; i++)
		g->vcpu[i].fd = -1;
	pthread_mutex_init(&g->mb_lock, NULL);

	g->vm_fd = fcntl(vm_fd, F_DUPFD_CLOEXEC, 0);
	if (g->vm_fd < 0) {
		err = -errno;
		goto err_free;
	}

	/* RAM is a memfd so that it can be shared: vfio-user's DMA_MAP hands
	 * it to a device in another process, which then reads and writes
	 * guest memory directly. */
	g->mem_fd = memfd_create("irqlink-guest-ram", MFD_CLOEXEC);
	if (g->mem_fd < 0) {
		err = -errno;
		goto err_vm;
	}
	if (ftruncate(g->mem_fd, KG_RAM_SIZE)) {
		err = -errno;
		goto err_memfd;
	}
	g->mem = mmap(NULL, KG_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->mem_fd, 0);
	if (g->mem == MAP_FAILED) {
		err = -errno;
		goto err_memfd;
	}
	memcpy(g->mem + KG_IMAGE_GPA, kg_guest_image, image_size);
	build_page_tables(g->mem);
	g->sh = (volatile struct kg_shared *)(g->mem + KG_SHARED_GPA);

	memset(&region, 0, sizeof(region));
	region.slot = KG_MEM_SLOT;
	region.guest_phys_addr = 0;
	region.memory_size = KG_RAM_SIZE;
	region.userspace_addr = (uintptr_t)g->mem;
	if (ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		err = -errno;
		goto err_mem;
	}

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		err = -errno;
		goto err_slot;
	}
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0) {
		err = -errno;
		goto err_kvm;
	}
	g->run_size = (size_t)size;
	for (unsigned int i = 0; i < nvcpus; i++) {
		err = vcpu_create(g, kvm, i);
		if (err)
			goto err_vcpus;
	}
	g->vcpu_fd = g->vcpu[0].fd;
	g->run = g->vcpu[0].run;
	close(kvm);

	set_state(g, KG_STOPPED);
	*out = g;
	return 0;

err_vcpus:
	for (unsigned int i = nvcpus; i-- > 0;)
		vcpu_release(g, &g->vcpu[i]);
err_kvm:
	close(kvm);
err_slot:
	region.memory_size = 0;
	ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
err_mem:
	munmap(g->mem, KG_RAM_SIZE);
err_memfd:
	close(g->mem_fd);
err_vm:
	close(g->vm_fd);
err_free:
	pthread_mutex_destroy(&g->mb_lock);
	free(g);
	return err;
}

/* ---- running ----------------------------------------------------------- */

/* The guest's answers (an ack, a count) reach the host through guest
 * memory, which tools like ThreadSanitizer cannot see. Anything the guest
 * wrote after an exit was handled was written after the vCPU thread went
 * back into KVM_RUN, i.e. after its release increment of `entries`; this
 * acquire makes that exit handling (e.g. an MMIO handler's writes) visible
 * to the caller in a way such tools understand. */
static void sync_vcpu(struct kg_guest *g)
{
	(void)__atomic_load_n(&g->entries, __ATOMIC_ACQUIRE);
}

static bool dead(struct kg_guest *g)
{
	int s = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);

	return s == KG_EXCEPTION || s == KG_FAILED;
}

static int start_vcpu(struct kg_vcpu *v)
{
	int err;

	v->run->immediate_exit = 0;
	err = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (err)
		return -err;
	v->thread_live = true;
	return 0;
}

static uint32_t aps_ready(struct kg_guest *g)
{
	const volatile uint32_t *p =
		(const volatile uint32_t *)(g->mem + KG_SHARED_GPA +
					    KG_SH_AP_READY);

	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

int kg_start(struct kg_guest *g)
{
	unsigned int spins = 0;
	uint64_t deadline;
	int err;

	if (dead(g))
		return -EIO;
	if (g->vcpu[0].thread_live)
		return -EBUSY;
	__atomic_store_n(&g->stop, 0, __ATOMIC_RELAXED);
	set_state(g, KG_RUNNING);
	err = start_vcpu(&g->vcpu[0]);
	if (err) {
		set_state(g, KG_STOPPED);
		return err;
	}

	deadline = now_ms() + KG_TIMEOUT_MS;
	while (!__atomic_load_n(&g->booted, __ATOMIC_ACQUIRE)) {
		if (dead(g))
			return -EIO;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		poll_pause(&spins);
	}
	/* APs load the IDT the BSP built, so they start once it is ready. */
	for (unsigned int i = 1; i < g->nvcpus; i++) {
		err = start_vcpu(&g->vcpu[i]);
		if (err)
			return err;
	}
	while (!g->aps_booted && aps_ready(g) < g->nvcpus - 1) {
		if (dead(g))
			return -EIO;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		poll_pause(&spins);
	}
	g->aps_booted = true;
	return 0;
}

int kg_stop(struct kg_guest *g)
{
	__atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < g->nvcpus; i++) {
		struct kg_vcpu *v = &g->vcpu[i];

		if (!v->thread_live)
			continue;
		/* Covers a kick that lands before the thread enters KVM_RUN. */
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, SIGUSR1);
	}
	for (unsigned int i = 0; i < g->nvcpus; i++) {
		struct kg_vcpu *v = &g->vcpu[i];

		if (!v->thread_live)
			continue;
		pthread_join(v->thread, NULL);
		v->thread_live = false;
		v->run->immediate_exit = 0;
	}
	if (!dead(g))
		set_state(g, KG_STOPPED);
	return 0;
}

void kg_destroy(struct kg_guest *g)
{
	struct kvm_userspace_memory_region region;

	if (!g)
		return;
	kg_stop(g);
	for (unsigned int i = g->nvcpus; i-- > 0;)
		vcpu_release(g, &g->vcpu[i]);
	/* Drop the memslot before unmapping its memory: the caller's VM may
	 * live on (irqfds, routes) after this guest is gone. */
	memset(&region, 0, sizeof(region));
	region.slot = KG_MEM_SLOT;
	ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	munmap(g->mem, KG_RAM_SIZE);
	close(g->mem_fd);
	close(g->vm_fd);
	pthread_mutex_destroy(&g->mb_lock);
	free(g);
}

/* ---- observing --------------------------------------------------------- */

enum kg_state kg_state(struct kg_guest *g)
{
	return (enum kg_state)__atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
}

const char *kg_why(struct kg_guest *g)
{
	return dead(g) ? g->why : "";
}

volatile struct kg_shared *kg_shared(struct kg_guest *g)
{
	return g->sh;
}

void *kg_mem(struct kg_guest *g, uint64_t gpa, size_t len)
{
	if (gpa > KG_RAM_SIZE || len > KG_RAM_SIZE - gpa)
		return NULL;
	return g->mem + gpa;
}

int kg_mem_fd(struct kg_guest *g)
{
	return g->mem_fd;
}

int kg_vm_fd(struct kg_guest *g)
{
	return g->vm_fd;
}

int kg_vcpu_fd(struct kg_guest *g)
{
	return g->vcpu_fd;
}

unsigned int kg_vcpus(struct kg_guest *g)
{
	return g->nvcpus;
}

int kg_vcpu_fd_n(struct kg_guest *g, unsigned int idx)
{
	return idx < g->nvcpus ? g->vcpu[idx].fd : -EINVAL;
}

uint64_t kg_count(struct kg_guest *g, unsigned int vector)
{
	if (vector > 255)
		return 0;
	return __atomic_load_n(&g->sh->count[vector], __ATOMIC_ACQUIRE);
}

int kg_wait_count(struct kg_guest *g, unsigned int vector, uint64_t expected,
		  int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	unsigned int spins = 0;
	uint64_t n;

	if (vector > 255)
		return -EINVAL;
	for (;;) {
		n = kg_count(g, vector);
		if (n >= expected) {
			sync_vcpu(g);
			return n == expected ? 0 : -EOVERFLOW;
		}
		if (dead(g))
			return -EIO;
		if (kg_state(g) == KG_STOPPED)
			return -ESRCH;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll_pause(&spins);
	}
}

uint64_t kg_exits(struct kg_guest *g, unsigned int reason)
{
	if (reason >= KG_EXIT_SLOTS)
		return 0;
	return __atomic_load_n(&g->exits[reason], __ATOMIC_RELAXED);
}

/* ---- the mailbox ------------------------------------------------------- */

static int wake(struct kg_guest *g)
{
	struct kvm_msi msi;

	memset(&msi, 0, sizeof(msi));
	msi.address_lo = KG_LAPIC_GPA; /* destination APIC ID 0 */
	msi.data = KG_WAKE_VECTOR;     /* fixed, edge */
	return ioctl(g->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

/* With @progress, the deadline moves out whenever that guest word changes. */
/* One command, with g->mb_lock held. */
static int mailbox_locked(struct kg_guest *g, uint32_t cmd, uint64_t arg0,
			  uint64_t arg1, uint64_t arg2, uint64_t *result,
			  int timeout_ms, const volatile uint32_t *progress)
{
	volatile struct kg_shared *sh = g->sh;
	unsigned int spins = 0;
	uint64_t deadline, wait = (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	uint32_t seq, seen = 0;
	int err = 0;

	if (dead(g))
		return -EIO;
	if (kg_state(g) != KG_RUNNING)
		return -ESRCH;

	sh->mb_cmd = cmd;
	sh->mb_arg0 = arg0;
	sh->mb_arg1 = arg1;
	sh->mb_arg2 = arg2;
	seq = ++g->mb_seq;
	/* Publish: the guest reads the arguments only after it sees seq. */
	__atomic_store_n(&sh->mb_seq, seq, __ATOMIC_RELEASE);
	err = wake(g);
	if (err)
		return err;

	deadline = now_ms() + wait;
	if (progress)
		seen = *progress;
	while (__atomic_load_n(&sh->mb_ack, __ATOMIC_ACQUIRE) != seq) {
		if (dead(g))
			return -EIO;
		if (progress && *progress != seen) {
			seen = *progress;
			deadline = now_ms() + wait;
		}
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll_pause(&spins);
	}
	sync_vcpu(g);
	if (result)
		*result = sh->mb_result;
	return 0;
}

static int mailbox(struct kg_guest *g, uint32_t cmd, uint64_t arg0,
		   uint64_t arg1, uint64_t arg2, uint64_t *result,
		   int timeout_ms, const volatile uint32_t *progress)
{
	int err = -EBUSY;

	pthread_mutex_lock(&g->mb_lock);
	/* A spinning guest reads no mailbox: the command would only time
	 * out. */
	if (!g->spinning)
		err = mailbox_locked(g, cmd, arg0, arg1, arg2, result,
				     timeout_ms, progress);
	pthread_mutex_unlock(&g->mb_lock);
	return err;
}

int kg_spin_start(struct kg_guest *g)
{
	int err = -EBUSY;

	pthread_mutex_lock(&g->mb_lock);
	if (!g->spinning) {
		__atomic_store_n(&g->sh->spin_stop, 0, __ATOMIC_RELEASE);
		err = mailbox_locked(g, KG_CMD_SPIN, 0, 0, 0, NULL,
				     KG_TIMEOUT_MS, NULL);
		g->spinning = !err;
	}
	pthread_mutex_unlock(&g->mb_lock);
	return err;
}

int kg_spin_stop(struct kg_guest *g)
{
	int err = 0;

	pthread_mutex_lock(&g->mb_lock);
	if (g->spinning) {
		__atomic_store_n(&g->sh->spin_stop, 1, __ATOMIC_RELEASE);
		/* Acked only once the guest is back in its ring-0 loop. */
		err = mailbox_locked(g, KG_CMD_NOP, 0, 0, 0, NULL,
				     KG_TIMEOUT_MS, NULL);
		g->spinning = err != 0;
	}
	pthread_mutex_unlock(&g->mb_lock);
	return err;
}

bool kg_spinning(struct kg_guest *g)
{
	bool on;

	pthread_mutex_lock(&g->mb_lock);
	on = g->spinning;
	pthread_mutex_unlock(&g->mb_lock);
	return on;
}

int kg_mailbox(struct kg_guest *g, uint32_t cmd, uint64_t arg0, uint64_t arg1,
	       uint64_t arg2, uint64_t *result, int timeout_ms)
{
	return mailbox(g, cmd, arg0, arg1, arg2, result, timeout_ms, NULL);
}

int kg_mailbox_progress(struct kg_guest *g, uint32_t cmd, uint64_t arg0,
			uint64_t arg1, uint64_t arg2, uint64_t *result,
			int timeout_ms, const volatile uint32_t *progress)
{
	return mailbox(g, cmd, arg0, arg1, arg2, result, timeout_ms, progress);
}

int kg_program_ioapic(struct kg_guest *g, unsigned int pin,
		      unsigned int vector, unsigned int flags)
{
	uint32_t low = vector;

	if (pin >= 24 || vector < 0x10 || vector > 0xff ||
	    (flags & ~(KG_LEVEL | KG_MASKED)))
		return -EINVAL;
	if (flags & KG_LEVEL)
		low |= 1u << 15;
	if (flags & KG_MASKED)
		low |= 1u << 16;
	/* Fixed delivery, physical destination mode, APIC ID 0. */
	return kg_mailbox(g, KG_CMD_IOAPIC, pin, low, 0, NULL, KG_TIMEOUT_MS);
}

static bool good_size(unsigned int size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

int kg_guest_write(struct kg_guest *g, uint64_t gpa, uint64_t value,
		   unsigned int size)
{
	if (!good_size(size))
		return -EINVAL;
	return kg_mailbox(g, KG_CMD_WRITE, gpa, value, size, NULL,
			  KG_TIMEOUT_MS);
}

int kg_guest_read(struct kg_guest *g, uint64_t gpa, unsigned int size,
		  uint64_t *value)
{
	if (!good_size(size))
		return -EINVAL;
	return kg_mailbox(g, KG_CMD_READ, gpa, 0, size, value, KG_TIMEOUT_MS);
}

void kg_hold_eoi(struct kg_guest *g, unsigned int vector, bool hold)
{
	/* A held vector >= 0xf0 would shadow KG_WAKE_VECTOR's priority class
	 * and the mailbox would stop working. */
	if (vector < 0xf0)
		__atomic_store_n(&g->sh->hold_eoi[vector], hold ? 1 : 0,
				 __ATOMIC_RELEASE);
}

int kg_eoi(struct kg_guest *g)
{
	return kg_mailbox(g, KG_CMD_EOI, 0, 0, 0, NULL, KG_TIMEOUT_MS);
}

void kg_set_mmio_handler(struct kg_guest *g, kg_mmio_fn fn, void *opaque)
{
	g->mmio_fn = fn;
	g->mmio_opaque = opaque;
}

void kg_set_pio_handler(struct kg_guest *g, kg_pio_fn fn, void *opaque)
{
	g->pio_fn = fn;
	g->pio_opaque = opaque;
}
