/* SPDX-License-Identifier: MIT */
/* Helpers for the tests that boot irqlink-vm's machine (vm_fixture.h). */
#include "vm_fixture.h"

#include <stdlib.h>
#include <unistd.h>

struct vm_machine *vm_fx_boot(struct vm_fx *f,
			      const struct vm_machine_config *cfg)
{
	char err[256] = "";

	f->fds_before = tu_open_fds();
	if (vm_machine_create(cfg, &f->m, err, sizeof(err)) ||
	    vm_machine_boot(f->m, err, sizeof(err)))
		fail_msg("machine: %s", err);
	return f->m;
}

void vm_fx_close_static(struct vm_fx *f)
{
	/* No timer stood in for a guest's acknowledgement. */
	assert_int_equal(vm_machine_timer_unmasks(f->m), 0);
	vm_machine_destroy(f->m);
	f->m = NULL;
	assert_int_equal(tu_open_fds(), f->fds_before);
}

void vm_fx_close(struct vm_fx *f)
{
	vm_fx_close_static(f);
	free(f);
}

int vm_fx_setup(void **state, const struct vm_machine_config *cfg)
{
	struct vm_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	vm_fx_boot(f, cfg);
	*state = f;
	return 0;
}

int vm_fx_teardown(void **state)
{
	vm_fx_close(*state);
	return 0;
}

struct irqlink_pci_stats pstats(struct vm_machine *m)
{
	struct irqlink_pci_stats st;

	irqlink_pci_get_stats(m->pci, &st);
	return st;
}

uint64_t relay_injections(struct vm_machine *m)
{
	struct irqlink_relay_stats st;

	assert_int_equal(irqlink_relay_get_stats(m->relay, &st), 0);
	return st.injections;
}


void reg_w(struct vm_machine *m, uint32_t reg, uint32_t v)
{
	assert_int_equal(kg_guest_write(m->g, vm_machine_reg(m, reg), v, 4), 0);
}

uint32_t reg_r(struct vm_machine *m, uint32_t reg)
{
	uint64_t v = 0;

	assert_int_equal(kg_guest_read(m->g, vm_machine_reg(m, reg), 4, &v), 0);
	return (uint32_t)v;
}

void cfg_w(struct vm_machine *m, uint32_t off, uint32_t size,
		  uint32_t v)
{
	assert_int_equal(kg_pci_cfg_write(m->g, BDF, off, size, v), 0);
}

uint32_t cfg_r(struct vm_machine *m, uint32_t off, uint32_t size)
{
	uint32_t v = 0;

	assert_int_equal(kg_pci_cfg_read(m->g, BDF, off, size, &v), 0);
	return v;
}

/* The device's command: what DOORBELL raises. */
void command(struct vm_machine *m, uint32_t kind, uint32_t vector,
		    uint32_t count)
{
	reg_w(m, TESTDEV_REG_KIND, kind);
	reg_w(m, TESTDEV_REG_VECTOR, vector);
	reg_w(m, TESTDEV_REG_COUNT, count);
}

/* The guest asks for @count interrupts one at a time through the doorbell,
 * cycling @nvec vectors from @vector (the VECTOR register selects them when
 * nvec > 1), waiting for each before the next. */
void guest_run(struct vm_machine *m, unsigned int vector,
		      unsigned int nvec, uint32_t count)
{
	struct kg_ext_run req = {
		.kick_gpa = vm_machine_reg(m, TESTDEV_REG_DOORBELL),
		.kick_value = 1,
		.kick_size = 4,
		.sel_gpa = nvec > 1 ? vm_machine_reg(m, TESTDEV_REG_VECTOR) : 0,
		.count = count,
		.vector = vector,
		.nvec = nvec,
		.timeout_ms = WAIT_MS,
	};
	uint32_t done = 0;

	assert_int_equal(kg_pci_run(m->g, &req, &done), 0);
	assert_int_equal(done, count);
}

/* Counts must not move past @n once the source stops. */
void settled(struct vm_machine *m, unsigned int vec, uint64_t n)
{
	usleep(30 * 1000);
	assert_int_equal(kg_count(m->g, vec), n);
}

struct irqlink_dev_stats dstats(struct vm_machine *m)
{
	struct irqlink_dev_stats st;

	irqlink_dev_get_stats(testdev_irq(m->td), &st);
	return st;
}

struct vm_bus_stats bstats(struct vm_machine *m)
{
	struct vm_bus_stats st;

	vm_bus_get_stats(&m->bus, &st);
	return st;
}

void intx_on(struct vm_machine *m, bool ack)
{
	uint64_t status = vm_machine_reg(m, TESTDEV_REG_STATUS);
	unsigned int pin = 0;

	assert_int_equal(kg_pci_intx(m->g, (unsigned int)m->fn, VEC_INTX,
				     KG_PCI_PIN_FROM_LINE, status,
				     ack ? status : 0, &pin), 0);
	assert_int_equal(pin, m->intx_gsi);
}

