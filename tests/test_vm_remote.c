/* SPDX-License-Identifier: MIT */
/*
 * The test device in its own process (irqlink-devd, over vfio-user)
 * attached to irqlink-vm's machine, with the guest counting what arrives:
 *
 *   - MSI-X, MSI and INTx (GUEST_PORT EOI): every interrupt the guest asks
 *     for through the doorbell arrives exactly once;
 *   - no process in the path: the relay injected nothing, every vector is
 *     in-kernel (the client's proxy producers paired with the consumers),
 *     and the doorbell never left KVM (no MMIO exit for it);
 *   - MSI-X at 2048 vectors, every one fired twice;
 *   - the server going away mid-run leaves the VMM standing: ops fail with
 *     -ENOTCONN and the machine tears down with no fd left behind;
 *   - a server that crashes and is restarted on the same path: the VMM
 *     reconnects, gives the new device what the guest had programmed
 *     (MSI-X enabled with the same eventfds, the guest's mask bits, the
 *     command register, guest RAM's DMA map) and every interrupt raised
 *     after it arrives, in-kernel;
 *   - several devices on one VM, in-process and remote mixed, each in its
 *     own slot on its own pin: each one's interrupts arrive exactly, on
 *     its own vectors, through one bypass manager.
 *
 * IRQLINK_DEVD names the irqlink-devd binary (tests/meson.build sets it).
 */
#include "vm_fixture.h"

#include <irqlink/vfio_user_client.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#define VEC_MSI  0x40
#define VEC_MSIX 0x70

static struct vm_machine *boot_remote(struct vm_fx *f, struct devd *d,
				      unsigned int msix)
{
	struct vm_machine_config cfg = { .remote = d->path,
					 .eoi = IRQLINK_EOI_GUEST_PORT,
					 .msix_vectors = msix };

	return vm_fx_boot(f, &cfg);
}

/* The proof that no process carried an interrupt: the relay did nothing
 * and every live sink is in-kernel. */
static void no_process_in_path(struct vm_machine *m, uint64_t relayed0,
			       unsigned int live)
{
	struct irqlink_pci_stats p = pstats(m);

	assert_int_equal(relay_injections(m) - relayed0, 0);
	assert_int_equal(p.in_kernel, live);
	assert_int_equal(p.relayed, 0);
	assert_int_equal(p.errors, 0);
}

static void test_remote_msix(void **state)
{
	const char *const args[] = { "--msix", "64", NULL };
	const uint32_t n = 4000;
	struct irqlink_vfu_client_stats cs;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint64_t r0, mmio0;

	(void)state;
	devd_start(&d, args);
	m = boot_remote(&f, &d, 64);
	assert_null(m->dev->td);
	assert_int_equal(kg_pci_msix(m->g, (unsigned int)m->dev->fn, VEC_MSIX, 4,
				     0, false), 0);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	r0 = relay_injections(m);
	mmio0 = bstats(m).bar_accesses;
	guest_run(m, VEC_MSIX, 4, n);
	for (unsigned int v = 0; v < 4; v++)
		settled(m, VEC_MSIX + v, n / 4);
	no_process_in_path(m, r0, 4);
	/* The doorbell is an ioeventfd: of the guest's 2n writes only the
	 * n vector selects trap, never the doorbell. */
	assert_int_equal(bstats(m).bar_accesses - mmio0, n);
	assert_int_equal(pstats(m).ioeventfds, 1);
	assert_int_equal(pstats(m).doorbell_traps, 0);
	assert_int_equal(irqlink_vfu_client_get_stats(m->dev->vfu, &cs), 0);
	assert_int_equal(cs.doorbells, 1);
	assert_true(cs.producers >= 4);
	assert_int_equal(cs.bypass_failures, 0);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

static void test_remote_msi(void **state)
{
	const uint32_t n = 2000;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint64_t r0;

	(void)state;
	devd_start(&d, NULL);
	m = boot_remote(&f, &d, 0);
	assert_int_equal(kg_pci_msi(m->g, (unsigned int)m->dev->fn, VEC_MSI, 4, 0,
				    false), 0);
	command(m, VFIO_PCI_MSI_IRQ_INDEX, 0, 1);
	r0 = relay_injections(m);
	guest_run(m, VEC_MSI, 4, n);
	for (unsigned int v = 0; v < 4; v++)
		settled(m, VEC_MSI + v, n / 4);
	no_process_in_path(m, r0, 4);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

static void test_remote_intx(void **state)
{
	const uint32_t n = 1000;
	volatile struct kg_ext *e;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint64_t r0;

	(void)state;
	devd_start(&d, NULL);
	m = boot_remote(&f, &d, 0);
	e = kg_ext(m->g);
	intx_on(m, true);
	command(m, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
	r0 = relay_injections(m);
	guest_run(m, VEC_INTX, 1, n);
	settled(m, VEC_INTX, n);
	/* Each one claimed by the guest's handler: none spurious. */
	assert_int_equal(e->intx_claimed, n);
	assert_int_equal(e->intx_spurious, 0);
	no_process_in_path(m, r0, 1);
	assert_int_equal(pstats(m).intx_eoi_reports, n);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

static void test_remote_msix_2048(void **state)
{
	const char *const args[] = { "--msix", "2048", NULL };
	const unsigned int nvec = 2048, span = 64;
	const uint32_t n = 2 * nvec;
	struct kg_ext_run req;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint32_t done = 0;
	uint64_t r0, before = 0;

	(void)state;
	devd_start(&d, args);
	m = boot_remote(&f, &d, nvec);
	/* 2048 entries on 64 vectors: entry i raises VEC_MSIX + i % 64. */
	assert_int_equal(kg_pci_msix_shared(m->g, (unsigned int)m->dev->fn,
					    VEC_MSIX, span, nvec, 0, false), 0);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	for (unsigned int v = 0; v < span; v++)
		before += kg_count(m->g, VEC_MSIX + v);
	r0 = relay_injections(m);
	req = (struct kg_ext_run){
		.kick_gpa = vm_dev_reg_gpa(m->dev, TESTDEV_REG_DOORBELL),
		.kick_value = 1, .kick_size = 4,
		.sel_gpa = vm_dev_reg_gpa(m->dev, TESTDEV_REG_VECTOR),
		.count = n, .vector = VEC_MSIX, .nvec = nvec, .vspan = span,
		.timeout_ms = WAIT_MS,
	};
	assert_int_equal(kg_pci_run(m->g, &req, &done), 0);
	assert_int_equal(done, n);
	for (unsigned int v = 0; v < span; v++)
		settled(m, VEC_MSIX + v, (before + n) / span);
	no_process_in_path(m, r0, nvec);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

static void test_remote_server_gone(void **state)
{
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint32_t v = 0;

	(void)state;
	devd_start(&d, NULL);
	m = boot_remote(&f, &d, 0);
	kill(d.pid, SIGKILL);
	assert_int_equal(waitpid(d.pid, NULL, 0), d.pid);
	d.pid = 0;
	unlink(d.path);
	assert_int_equal(irqlink_vfu_client_ops.region_read(m->dev->vfu,
			 VFIO_PCI_BAR0_REGION_INDEX, TESTDEV_REG_ID, &v, 4),
			 -ENOTCONN);
	/* The guest still runs; a failed BAR read reads all ones. */
	assert_int_equal(reg_r(m, TESTDEV_REG_ID), 0xffffffffu);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

/* Wait up to 5 s for @count() to reach @n. */
static uint64_t wait_for(struct vm_dev *d, uint64_t (*count)(struct vm_dev *),
			 uint64_t n)
{
	for (int i = 0; i < 5000 && count(d) < n; i++)
		tu_sleep_ms(1);
	return count(d);
}

/* The server crashes; its supervisor starts it again on the same path;
 * the VMM notices, reconnects and replays (once each). */
static void crash_and_restart(struct vm_machine *m, struct devd *d,
			      const char *const *args)
{
	struct irqlink_vfu_client_stats cs;

	kill(d->pid, SIGKILL);
	assert_int_equal(waitpid(d->pid, NULL, 0), d->pid);
	d->pid = 0;
	assert_int_equal(wait_for(m->dev, vm_dev_disconnects, 1), 1);
	assert_int_equal(vm_dev_reconnects(m->dev), 0);
	unlink(d->path);
	devd_restart(d, args);
	assert_int_equal(wait_for(m->dev, vm_dev_reconnects, 1), 1);
	assert_int_equal(irqlink_vfu_client_get_stats(m->dev->vfu, &cs), 0);
	assert_int_equal(cs.reconnects, 1);
	assert_int_equal(pstats(m).device_replays, 1);
	assert_int_equal(pstats(m).ioeventfds, 1);
	/* A new device, from reset: its command registers are the guest's
	 * to write again; what the guest programmed is there already. */
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_DONE), 0);
}

static void test_remote_restart(void **state)
{
	const char *const args[] = { "--msix", "64", NULL };
	const uint64_t gpa = KG_FREE_GPA + 0x900;
	volatile uint32_t *word;
	unsigned int fn;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint32_t held;
	uint64_t r0;

	(void)state;
	devd_start(&d, args);
	m = boot_remote(&f, &d, 64);
	fn = (unsigned int)m->dev->fn;
	assert_int_equal(kg_pci_msix(m->g, fn, VEC_MSIX, 4, 0, false), 0);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, 3, true), 0);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	guest_run(m, VEC_MSIX, 3, 300);
	crash_and_restart(m, &d, args);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	r0 = relay_injections(m);
	guest_run(m, VEC_MSIX, 3, 300);
	for (unsigned int v = 0; v < 3; v++)
		settled(m, VEC_MSIX + v, 200);
	no_process_in_path(m, r0, 4);
	/* Entry 3 is still masked: held, then exactly one on unmask. */
	held = vm_dev_reg(m->dev, TESTDEV_REG_HELD);
	command(m, VFIO_PCI_MSIX_IRQ_INDEX, 3, 2);
	reg_w(m, TESTDEV_REG_DOORBELL, 1);
	for (int i = 0; i < WAIT_MS &&
	     vm_dev_reg(m->dev, TESTDEV_REG_HELD) - held < 2; i++)
		tu_sleep_ms(1);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_HELD) - held, 2);
	settled(m, VEC_MSIX + 3, 0);
	assert_int_equal(kg_pci_mask(m->g, fn, KG_PCI_KIND_MSIX, 3, false), 0);
	assert_int_equal(kg_wait_count(m->g, VEC_MSIX + 3, 1, WAIT_MS), 0);
	settled(m, VEC_MSIX + 3, 1);

	/* Bus mastering (the command register) and guest RAM's map are
	 * back: the device writes guest memory directly. */
	word = kg_mem(m->g, gpa, 4);
	*word = 0;
	reg_w(m, TESTDEV_REG_DMA_LO, (uint32_t)gpa);
	reg_w(m, TESTDEV_REG_DMA_HI, 0);
	reg_w(m, TESTDEV_REG_DMA_DATA, 0xc0ffee11);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_DMAS), 1);
	assert_int_equal(*word, 0xc0ffee11);

	/* The memory BAR is the new server's memory, mapped anew. */
	assert_int_equal(pstats(m).mapped_areas, 1);
	assert_int_equal(kg_guest_write(m->g, kg_ext(m->g)->fn[fn].bar[
			 TESTDEV_MEM_BAR].addr + 0x2000, 0xf00dcafe, 4), 0);
	reg_w(m, TESTDEV_REG_MEM_OFF, 0x2000);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_MEM_DATA), 0xf00dcafe);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

/* A remote device's memory BAR: the server's memfd, mapped here and given
 * to the guest, so its accesses reach the other process's memory with no
 * exit, hence no message. */
static void test_remote_mem_bar(void **state)
{
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;

	(void)state;
	devd_start(&d, NULL);
	m = boot_remote(&f, &d, 0);
	mem_bar_direct(m);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

/* INTx across a restart: the new device gets the trigger again, and the
 * guest's end-of-handler reports keep unmasking it. */
static void test_remote_restart_intx(void **state)
{
	volatile struct kg_ext *e;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;
	uint64_t r0;

	(void)state;
	devd_start(&d, NULL);
	m = boot_remote(&f, &d, 0);
	e = kg_ext(m->g);
	intx_on(m, true);
	command(m, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
	guest_run(m, VEC_INTX, 1, 200);
	crash_and_restart(m, &d, NULL);
	command(m, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
	r0 = relay_injections(m);
	guest_run(m, VEC_INTX, 1, 200);
	settled(m, VEC_INTX, 400);
	assert_int_equal(e->intx_claimed, 400);
	assert_int_equal(e->intx_spurious, 0);
	no_process_in_path(m, r0, 1);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

/* The device as a bus master: guest RAM is shared by fd (DMA_MAP), so its
 * write lands in guest memory with no message; outside the map it is
 * refused and counted, and memory is untouched. */
static void test_remote_dma(void **state)
{
	const uint64_t gpa = KG_FREE_GPA + 0x800, outside = KG_RAM_SIZE + 0x1000;
	volatile uint32_t *word;
	struct devd d;
	struct vm_fx f;
	struct vm_machine *m;

	(void)state;
	devd_start(&d, NULL);
	m = boot_remote(&f, &d, 0);
	word = kg_mem(m->g, gpa, 4);
	assert_non_null(word);
	*word = 0;
	assert_int_equal(kg_guest_write(m->g, vm_dev_reg_gpa(m->dev,
			 TESTDEV_REG_DMA_LO), (uint32_t)gpa, 4), 0);
	assert_int_equal(kg_guest_write(m->g, vm_dev_reg_gpa(m->dev,
			 TESTDEV_REG_DMA_HI), 0, 4), 0);
	assert_int_equal(kg_guest_write(m->g, vm_dev_reg_gpa(m->dev,
			 TESTDEV_REG_DMA_DATA), 0xfeedf00d, 4), 0);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_DMAS), 1);
	assert_int_equal(*word, 0xfeedf00d);

	assert_int_equal(kg_guest_write(m->g, vm_dev_reg_gpa(m->dev,
			 TESTDEV_REG_DMA_LO), (uint32_t)outside, 4), 0);
	assert_int_equal(kg_guest_write(m->g, vm_dev_reg_gpa(m->dev,
			 TESTDEV_REG_DMA_DATA), 0x1234, 4), 0);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_DMAS), 1);
	assert_int_equal(vm_dev_reg(m->dev, TESTDEV_REG_DMA_ERRORS), 1);
	assert_int_equal(*word, 0xfeedf00d);
	vm_fx_close_static(&f);
	devd_stop(&d);
}

/* irqlink-vm --device vfio-user:PATH, as a user runs it: every row exact
 * and in-kernel, INTx on the guest's report (bar-access needs a line
 * state vfio-user does not carry), and clear refusals. */
static void test_remote_cli(void **state)
{
	static const char *const bad[] = { "--device", "pci:3", "demo", NULL };
	static const char *const nine[] = {
		"--device", "testdev", "--device", "testdev", "--device",
		"testdev", "--device", "testdev", "--device", "testdev",
		"--device", "testdev", "--device", "testdev", "--device",
		"testdev", "--device", "testdev", "demo", NULL };
	static const char *const pins[] = { "--device", "testdev", "--device",
					    "testdev", "-g", "23", "demo",
					    NULL };
	static const char *const sized[] = { "--device", "vfio-user:/x",
					     "--msix-vectors", "8", "demo",
					     NULL };
	static const char *const absent[] = {
		"--device", "vfio-user:/nonexistent/dev.sock", "probe", NULL };
	const char *const args[] = { "--msix", "16", NULL };
	char dev[300], out[8192];
	struct devd d;

	(void)state;
	assert_int_equal(run_vm(bad, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "--device takes testdev or vfio-user:"));
	assert_int_equal(run_vm(nine, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "at most 8 --device"));
	assert_int_equal(run_vm(pins, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "IOAPIC pins 23-24, past 23"));
	assert_int_equal(run_vm(sized, out, sizeof(out), 10), 2);
	assert_non_null(strstr(out, "has its own table"));
	assert_int_equal(run_vm(absent, out, sizeof(out), 30), 1);
	assert_non_null(strstr(out, "is irqlink-devd running there?"));

	devd_start(&d, args);
	snprintf(dev, sizeof(dev), "vfio-user:%s", d.path);
	{
		const char *const demo[] = { "--device", dev, "-n", "400",
					     "demo", NULL };

		assert_int_equal(run_vm(demo, out, sizeof(out), 120), 0);
	}
	assert_non_null(strstr(out, "vfio-user, in its own process"));
	assert_non_null(strstr(out, "INTx EOI policy guest-port"));
	demo_row(out, "INTx", 400);
	demo_row(out, "MSI", 400);
	demo_row(out, "MSI-X", 400);
	/* The device's DMA writes arrive as DMA_WRITE messages, which the
	 * VMM answers with KVM_SIGNAL_MSI of the guest's message. */
	demo_row(out, "MSI-X DMA", 400);
	assert_non_null(strstr(out, "device DMA writes 400; doorbell (IOVA "
				    "0x8000000) injected 400, refused 0"));
	assert_non_null(strstr(out, "spurious 0"));
	assert_null(strstr(out, "relay   "));

	/* With an in-process device beside it: each device's rows. */
	{
		const char *const two[] = { "--device", "testdev", "--device",
					    dev, "--msix-vectors", "32", "-n",
					    "200", "demo", NULL };

		assert_int_equal(run_vm(two, out, sizeof(out), 120), 0);
	}
	assert_non_null(strstr(out, "0: test device 1b36:11c0 at 00:03.0 "
				    "(in-process)"));
	assert_non_null(strstr(out, "1: test device 1b36:11c0 at 00:04.0 "
				    "(vfio-user"));
	assert_non_null(strstr(out, "INTA# -> GSI 17"));
	demo_row(out, "0:INTx", 200);
	demo_row(out, "0:MSI-X", 200);
	demo_row(out, "0:MSI-X DMA", 200);
	demo_row(out, "1:MSI", 200);
	demo_row(out, "1:MSI-X", 200);
	demo_row(out, "1:MSI-X DMA", 200);
	assert_null(strstr(out, "1:INTx"));
	devd_stop(&d);
}

/* Up to 8 devices on one VM: in-process and remote mixed, each in its own
 * slot with its own pin (Interrupt Line) and BAR0, and each one's MSI-X
 * arriving exactly, on its own guest vectors, all in-kernel. */
static void test_many_devices(void **state)
{
	const char *const args[] = { "--msix", "16", NULL };
	struct vm_machine_config cfg = { .eoi = IRQLINK_EOI_GUEST_PORT,
					 .msix_vectors = 16, .ndevices = 4,
					 .intx_gsi = 18 };
	const uint32_t n = 400;
	struct devd d[2];
	struct vm_fx f;
	struct vm_machine *m;
	uint64_t r0;

	(void)state;
	devd_start(&d[0], args);
	devd_start(&d[1], args);
	cfg.remotes[1] = d[0].path;
	cfg.remotes[3] = d[1].path;
	m = vm_fx_boot(&f, &cfg);
	assert_int_equal(m->ndev, 4);
	for (unsigned int k = 0; k < 4; k++) {
		struct vm_dev *dev = &m->dev[k];
		volatile struct kg_ext_fn *fn = &kg_ext(m->g)->fn[dev->fn];

		assert_int_equal(dev->slot, VM_TESTDEV_SLOT + k);
		assert_int_equal(fn->bdf, dev->slot << 3);
		assert_int_equal(fn->irq_line, 18 + k);
		assert_true(dev->td ? !dev->vfu : !!dev->vfu);
		assert_int_equal(!!dev->vfu, k == 1 || k == 3);
		for (unsigned int j = 0; j < k; j++)
			assert_true(dev->bar0 != m->dev[j].bar0);
		assert_int_equal(kg_pci_msix(m->g, (unsigned int)dev->fn,
					     VEC_MSIX + 4 * k, 4, 0, false), 0);
		dev_command(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1);
	}
	r0 = relay_injections(m);
	for (unsigned int k = 0; k < 4; k++)
		dev_guest_run(&m->dev[k], VEC_MSIX + 4 * k, 4, n);
	for (unsigned int v = 0; v < 16; v++)
		settled(m, VEC_MSIX + v, n / 4);
	assert_int_equal(relay_injections(m) - r0, 0);
	for (unsigned int k = 0; k < 4; k++) {
		struct irqlink_pci_stats ps;

		irqlink_pci_get_stats(m->dev[k].pci, &ps);
		assert_int_equal(ps.in_kernel, 4);
		assert_int_equal(ps.relayed, 0);
		assert_int_equal(vm_dev_reg(&m->dev[k], TESTDEV_REG_RAISED), n);
	}
	vm_fx_close_static(&f);
	devd_stop(&d[1]);
	devd_stop(&d[0]);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_msix),
		cmocka_unit_test(test_remote_msi),
		cmocka_unit_test(test_remote_intx),
		cmocka_unit_test(test_remote_msix_2048),
		cmocka_unit_test(test_remote_server_gone),
		cmocka_unit_test(test_remote_dma),
		cmocka_unit_test(test_remote_mem_bar),
		cmocka_unit_test(test_remote_restart),
		cmocka_unit_test(test_remote_restart_intx),
		cmocka_unit_test(test_remote_cli),
		cmocka_unit_test(test_many_devices),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
