/* SPDX-License-Identifier: MIT */
/*
 * The MSI doorbell window (<irqlink/msi_doorbell.h>) against a real VM
 * whose KVM_SIGNAL_MSI calls a hook records: a write of data V injects
 * exactly the message the resolver gives for vector V, once; every other
 * write is refused with its own errno, counted, and injects nothing.
 * The VM has one vCPU whose LAPIC is still software-disabled, so KVM
 * answers every injection with 0 (taken by no vCPU), which the doorbell
 * counts as undelivered. (What a guest receives is test_vm_msi_doorbell's.)
 */
#include "testutil.h"
#include "vm_internal.h"

#include <irqlink/msi_doorbell.h>

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define IOVA 0x08000000u

struct seen {
	unsigned int calls;
	struct kvm_msi last;
	int result;             /* 0: let KVM answer; < 0: fail with it */
};

static int msi_hook(void *opaque, int fd, unsigned long req, unsigned long arg)
{
	struct seen *s = opaque;

	(void)fd;
	if (req != KVM_SIGNAL_MSI)
		return 0;
	s->calls++;
	memcpy(&s->last, (const void *)arg, sizeof(s->last));
	return s->result;
}

/* Vector v of the "guest": address 0xfee00000, data 0x40 + v; vector 7
 * has no message. */
static int resolve(void *opaque, uint32_t vector, struct kvm_msi *msg)
{
	(void)opaque;
	if (vector == 7)
		return -ENOENT;
	msg->address_lo = 0xfee00000u;
	msg->data = 0x40 + vector;
	return 0;
}

static int w32(struct irqlink_msi_doorbell *db, uint64_t iova, uint32_t v)
{
	return irqlink_msi_doorbell_write(db, iova, &v, sizeof(v));
}

static void test_doorbell(void **state)
{
	struct irqlink_msi_doorbell_config cfg = {
		.iova = IOVA, .size = 0x1000, .vectors = 16,
		.resolve = resolve,
	};
	struct irqlink_msi_doorbell_stats st;
	struct irqlink_msi_doorbell *db = NULL;
	struct irqlink_vm *vm = NULL;
	struct seen s = { .result = 0 };
	int vcpu;
	uint64_t addr, wide = 3;
	uint32_t data;
	uint8_t byte = 3;

	(void)state;
	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	vcpu = ioctl(irqlink_vm_fd(vm), KVM_CREATE_VCPU, 0);
	assert_true(vcpu >= 0);
	il_vm_kvm(vm)->hook = msi_hook;
	il_vm_kvm(vm)->opaque = &s;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &cfg, &db), 0);

	/* What the host programs: the window's first word, data = vector. */
	assert_int_equal(irqlink_msi_doorbell_message(db, 15, &addr, &data), 0);
	assert_int_equal(addr, IOVA);
	assert_int_equal(data, 15);
	assert_int_equal(irqlink_msi_doorbell_message(db, 16, &addr, &data),
			 -EINVAL);

	/* Data 3 anywhere in the window: the guest's message for 3, once. */
	assert_int_equal(w32(db, IOVA, 3), 0);
	assert_int_equal(w32(db, IOVA + 0xffc, 3), 0);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.last.address_lo, 0xfee00000u);
	assert_int_equal(s.last.data, 0x43);

	/* Refused, each with its errno, nothing injected. */
	assert_int_equal(w32(db, IOVA - 4, 3), -EFAULT);
	assert_int_equal(w32(db, IOVA + 0x1000, 3), -EFAULT);
	assert_int_equal(w32(db, IOVA + 0xffe, 3), -EFAULT); /* runs past */
	assert_int_equal(irqlink_msi_doorbell_write(db, IOVA, &byte, 1),
			 -EINVAL);
	assert_int_equal(irqlink_msi_doorbell_write(db, IOVA, &wide, 8),
			 -EINVAL);
	assert_int_equal(w32(db, IOVA + 2, 3), -EINVAL);
	assert_int_equal(w32(db, IOVA, 16), -EINVAL);       /* no vector 16 */
	assert_int_equal(irqlink_msi_doorbell_dma(db, IOVA, &data, 4, false),
			 -EFAULT);                           /* write-only */
	assert_int_equal(w32(db, IOVA, 7), -ENOENT);        /* no message */
	assert_int_equal(s.calls, 2);

	/* As a vfio-user range handler; KVM's verdicts are passed on. */
	data = 5;
	assert_int_equal(irqlink_msi_doorbell_dma(db, IOVA, &data, 4, true), 0);
	assert_int_equal(s.last.data, 0x45);
	s.result = -EINVAL;
	assert_int_equal(w32(db, IOVA, 5), -EINVAL);
	assert_int_equal(s.calls, 4);

	assert_int_equal(irqlink_msi_doorbell_get_stats(db, &st), 0);
	assert_int_equal(st.writes, 13);
	assert_int_equal(st.injected, 3);
	assert_int_equal(st.undelivered, 3);
	assert_int_equal(st.refused, 8);
	assert_int_equal(st.no_message, 1);
	assert_int_equal(st.errors, 1);
	irqlink_msi_doorbell_destroy(db);
	close(vcpu);
	irqlink_vm_destroy(vm);
}

static void test_bad_configs(void **state)
{
	struct irqlink_msi_doorbell_config good = {
		.iova = IOVA, .size = 0x1000, .vectors = 2048,
		.resolve = resolve,
	}, c;
	struct irqlink_vm_config none = { .irqchip = IRQLINK_IRQCHIP_NONE };
	struct irqlink_msi_doorbell *db = NULL;
	struct irqlink_vm *vm = NULL, *bare = NULL;
	int fds = tu_open_fds();

	(void)state;
	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	c = good;
	c.iova = IOVA + 2;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	c = good;
	c.size = 0;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	c.size = 6;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	c = good;
	c.iova = ~UINT64_C(0) - 3;
	c.size = 8;             /* wraps */
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	c = good;
	c.vectors = 0;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	c.vectors = 2049;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	c = good;
	c.resolve = NULL;
	assert_int_equal(irqlink_msi_doorbell_create(vm, &c, &db), -EINVAL);
	assert_int_equal(irqlink_msi_doorbell_create(NULL, &good, &db),
			 -EINVAL);
	assert_int_equal(irqlink_vm_create(&none, &bare), 0);
	assert_int_equal(irqlink_msi_doorbell_create(bare, &good, &db),
			 -EINVAL);
	assert_null(db);
	irqlink_msi_doorbell_destroy(NULL);
	irqlink_vm_destroy(bare);
	irqlink_vm_destroy(vm);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doorbell),
		cmocka_unit_test(test_bad_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
