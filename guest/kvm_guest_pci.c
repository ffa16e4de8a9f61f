/* SPDX-License-Identifier: MIT */
/*
 * Host side of the test guest's PCI driver: each call posts one extension
 * command (guest/kg_ext.h) and maps the guest's -1 to -EINVAL.
 */
#include "kvm_guest_pci.h"

#include <errno.h>
#include <string.h>

volatile struct kg_ext *kg_ext(struct kg_guest *g)
{
	return (volatile struct kg_ext *)((volatile uint8_t *)kg_shared(g) +
					  KG_SH_EXT);
}

static int ext_cmd(struct kg_guest *g, uint32_t cmd, uint64_t a0, uint64_t a1,
		   uint64_t a2, uint64_t *result, int timeout_ms)
{
	uint64_t r = 0;
	int err = kg_mailbox(g, cmd, a0, a1, a2, &r, timeout_ms);

	if (err)
		return err;
	if ((int64_t)r < 0)
		return -EINVAL;
	if (result)
		*result = r;
	return 0;
}

int kg_pci_scan(struct kg_guest *g, unsigned int *nfn)
{
	uint64_t r;
	/* Sizing six BARs is ~30 config cycles, two port exits each. */
	int err = ext_cmd(g, KG_CMD_PCI_SCAN, 0, 0, 0, &r, 4 * KG_TIMEOUT_MS);

	if (!err && nfn)
		*nfn = (unsigned int)r;
	return err;
}

int kg_pci_cfg_read(struct kg_guest *g, uint32_t bdf, uint32_t offset,
		    uint32_t size, uint32_t *value)
{
	uint64_t r;
	int err;

	if (offset > 0xff || (size != 1 && size != 2 && size != 4))
		return -EINVAL;
	err = ext_cmd(g, KG_CMD_PCI_CFG_READ, (uint64_t)bdf << 16 | offset, 0,
		      size, &r, KG_TIMEOUT_MS);
	if (!err && value)
		*value = (uint32_t)r;
	return err;
}

int kg_pci_cfg_write(struct kg_guest *g, uint32_t bdf, uint32_t offset,
		     uint32_t size, uint32_t value)
{
	if (offset > 0xff || (size != 1 && size != 2 && size != 4))
		return -EINVAL;
	return ext_cmd(g, KG_CMD_PCI_CFG_WRITE, (uint64_t)bdf << 16 | offset,
		       value, size, NULL, KG_TIMEOUT_MS);
}

int kg_pci_intx(struct kg_guest *g, unsigned int fn, unsigned int vector,
		unsigned int pin, uint64_t status_gpa, uint64_t ack_gpa,
		unsigned int *pin_used)
{
	volatile struct kg_ext *e = kg_ext(g);
	uint64_t r;
	int err;

	/* Read by the handler only, which cannot run before the command
	 * below installs it; the mailbox's release store publishes these. */
	e->intx_status_gpa = status_gpa;
	e->intx_ack_gpa = ack_gpa;
	err = ext_cmd(g, KG_CMD_PCI_INTX, fn, vector, pin, &r, KG_TIMEOUT_MS);
	if (!err && pin_used)
		*pin_used = (unsigned int)r;
	return err;
}

static int msi_common(struct kg_guest *g, uint32_t cmd, unsigned int fn,
		      unsigned int vector, unsigned int count,
		      unsigned int dest, bool masked)
{
	uint64_t arg = (count & 0xffff) | (uint64_t)(dest & 0xff) << 16 |
		       (masked ? KG_PCI_MASKED : 0);

	/* An MSI-X table of n entries is 4n MMIO exits. */
	return ext_cmd(g, cmd, fn, vector, arg, NULL, 4 * KG_TIMEOUT_MS);
}

int kg_pci_msi(struct kg_guest *g, unsigned int fn, unsigned int vector,
	       unsigned int count, unsigned int dest, bool masked)
{
	return msi_common(g, KG_CMD_PCI_MSI, fn, vector, count, dest, masked);
}

int kg_pci_msix(struct kg_guest *g, unsigned int fn, unsigned int vector,
		unsigned int count, unsigned int dest, bool masked)
{
	return msi_common(g, KG_CMD_PCI_MSIX, fn, vector, count, dest, masked);
}

int kg_pci_msix_shared(struct kg_guest *g, unsigned int fn,
		       unsigned int vector, unsigned int span,
		       unsigned int count, unsigned int dest, bool masked)
{
	if (vector > 0xff || span > 0xff)
		return -EINVAL;
	return msi_common(g, KG_CMD_PCI_MSIX, fn, vector | span << 16, count,
			  dest, masked);
}

int kg_pci_mask(struct kg_guest *g, unsigned int fn, unsigned int kind,
		unsigned int vector, bool mask)
{
	return ext_cmd(g, KG_CMD_PCI_MASK, (fn & 0xff) | kind, vector,
		       mask ? 1 : 0, NULL, KG_TIMEOUT_MS);
}

int kg_pci_run(struct kg_guest *g, const struct kg_ext_run *req,
	       uint32_t *done)
{
	volatile struct kg_ext *e = kg_ext(g);
	uint32_t per = req->timeout_ms ? req->timeout_ms : 1000;
	uint64_t limit = (uint64_t)per + KG_TIMEOUT_MS;
	uint64_t r = 0;
	int err;

	if (req->flags & ~KG_RUN_FROM_KICK)
		return -EINVAL;
	if (req->samples_gpa &&
	    (req->samples_gpa < KG_FREE_GPA ||
	     !kg_mem(g, req->samples_gpa, (size_t)req->count * 8)))
		return -EINVAL;
	e->run.kick_gpa = req->kick_gpa;
	e->run.kick_value = req->kick_value;
	e->run.sel_gpa = req->sel_gpa;
	e->run.sel_value = req->sel_value;
	e->run.samples_gpa = req->samples_gpa;
	e->run.kick_size = req->kick_size;
	e->run.count = req->count;
	e->run.vector = req->vector;
	e->run.nvec = req->nvec;
	e->run.vspan = req->vspan;
	e->run.timeout_ms = req->timeout_ms;
	e->run.flags = req->flags;
	e->run.done = 0;
	/* The guest bumps run.done per interrupt: wait while it moves. */
	err = kg_mailbox_progress(g, KG_CMD_PCI_RUN, 0, 0, 0, &r,
				  limit > 0x7fffffff ? 0x7fffffff : (int)limit,
				  &e->run.done);
	if (!err && (int64_t)r < 0)
		err = -EINVAL;
	if (!err && done)
		*done = (uint32_t)r;
	return err;
}

int kg_guest_wait(struct kg_guest *g, unsigned int vector, uint64_t target,
		  unsigned int ms, uint64_t *count)
{
	uint64_t r;
	int err = ext_cmd(g, KG_CMD_WAIT, vector, target, ms, &r,
			  (int)ms + 2 * KG_TIMEOUT_MS);

	if (!err && count)
		*count = r;
	return err;
}
