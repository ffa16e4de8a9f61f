/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the tests that boot irqlink-vm's machine (tools/vm_machine.c)
 * in-process: the guest's own PCI driver does the device work, as a driver
 * would, and these wrap the common steps with exact assertions.
 */
#ifndef IRQLINK_TESTS_VM_FIXTURE_H
#define IRQLINK_TESTS_VM_FIXTURE_H

#include "testutil.h"
#include "vm_machine.h"

#include <sys/types.h>

#define WAIT_MS 2000
#define BDF (VM_TESTDEV_SLOT << 3)
#define VEC_INTX 0x30  /* the guest's INTx vector (intx_on()) */

struct vm_fx {
	int fds_before;
	struct vm_machine *m;
};

/* Build and boot a machine with @cfg (NULL = defaults); fails the test
 * with the machine's own message otherwise. */
struct vm_machine *vm_fx_boot(struct vm_fx *f,
			      const struct vm_machine_config *cfg);
/* cmocka setup: *@state = a calloc'd fixture booted with @cfg. */
int vm_fx_setup(void **state, const struct vm_machine_config *cfg);
/* cmocka teardown of vm_fx_setup(): vm_fx_close(*state). */
int vm_fx_teardown(void **state);
/* Tear down: no timer-driven INTx unmask happened, no fd leaked. Frees
 * @f (vm_fx_close) or not (vm_fx_close_static). */
void vm_fx_close(struct vm_fx *f);
void vm_fx_close_static(struct vm_fx *f);

/* BAR0 register @reg, from the guest (one MMIO exit each). */
void reg_w(struct vm_machine *m, uint32_t reg, uint32_t v);
uint32_t reg_r(struct vm_machine *m, uint32_t reg);
/* Config cycles of the guest to the test device. */
void cfg_w(struct vm_machine *m, uint32_t off, uint32_t size, uint32_t v);
uint32_t cfg_r(struct vm_machine *m, uint32_t off, uint32_t size);
/* The device's command: what DOORBELL raises (of the first device, or of
 * @d), written by the guest. */
void command(struct vm_machine *m, uint32_t kind, uint32_t vector,
	     uint32_t count);
void dev_command(struct vm_dev *d, uint32_t kind, uint32_t vector,
		 uint32_t count);
/* The guest asks for @count interrupts one at a time through the doorbell
 * (of the first device, or of @d), cycling @nvec vectors from @vector,
 * waiting for each before the next. */
void guest_run(struct vm_machine *m, unsigned int vector, unsigned int nvec,
	       uint32_t count);
void dev_guest_run(struct vm_dev *d, unsigned int vector, unsigned int nvec,
		   uint32_t count);
/* Counts must not move past @n once the source stops. */
void settled(struct vm_machine *m, unsigned int vec, uint64_t n);
struct irqlink_dev_stats dstats(struct vm_machine *m);
struct vm_bus_stats bstats(struct vm_machine *m);
struct irqlink_pci_stats pstats(struct vm_machine *m);
uint64_t relay_injections(struct vm_machine *m);
/* The guest's INTx handler on its IOAPIC pin; @ack: it writes the status
 * back to acknowledge. */
void intx_on(struct vm_machine *m, bool ack);

/* The test device's memory BAR (BAR4) as the guest reaches it: stores and
 * loads in its mappable area with no exit, the same bytes as the device's
 * (MEM_OFF/MEM_DATA), its first page trapping, the area following the BAR
 * when the guest moves it and gone while memory decoding is off. */
void mem_bar_direct(struct vm_machine *m);

/* Finds the demo's table row for @path (its title: "INTx", "MSI-X DMA")
 * in @out and checks sent == received == @n, lost 0. */
void demo_row(const char *out, const char *path, unsigned int n);

/* irqlink-devd (the test device in its own process, IRQLINK_DEVD names
 * the binary; tests/meson.build sets it) on a socket in a fresh temporary
 * directory. */
struct devd {
	char dir[64], path[96];
	pid_t pid;
};
/* Start it with @args (NULL-terminated, before the socket path) and wait
 * for its socket; it dies with the test. */
void devd_start(struct devd *d, const char *const *args);
/* Start it again at the same path (its last one is gone, and so is its
 * socket file), as a supervisor restarts a crashed server. */
void devd_restart(struct devd *d, const char *const *args);
/* Stop it with SIGTERM: it must exit 0 and remove its socket. */
void devd_stop(struct devd *d);

/* Runs the irqlink-vm binary of this build tree with @args (at most 30),
 * for at most @limit_s seconds (killed and failed if longer: it must
 * never hang). Returns its exit status; stdout and stderr go to @out. */
int run_vm(const char *const *args, char *out, size_t outlen, int limit_s);

#endif
