/* SPDX-License-Identifier: MIT */
/*
 * Guest memory slots (<irqlink/memslot.h>) on a real VM: ids from the top
 * of KVM's range down, KVM's own refusals passed on, teardown with slots
 * still held. What a guest reaches through one is test_vm_remote's and
 * test_vm_e2e's (a directly mapped BAR).
 */
#include "testutil.h"

#include <irqlink/memslot.h>

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

static void test_memslots(void **state)
{
	int fds = tu_open_fds();
	struct irqlink_vm *vm = NULL;
	uint8_t *mem;
	int top, a, b;

	(void)state;
	assert_int_equal(irqlink_vm_create(NULL, &vm), 0);
	top = ioctl(irqlink_vm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	assert_true(top > 2);
	mem = mmap(NULL, 0x3000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);

	a = irqlink_memslot_map(vm, 0x80000000, 0x1000, mem);
	assert_int_equal(a, top - 1);
	b = irqlink_memslot_map(vm, 0x80002000, 0x2000, mem + 0x1000);
	assert_int_equal(b, top - 2);
	assert_int_equal(irqlink_memslot_count(vm), 2);
	/* KVM's answer for an overlap; ours for what is not page-aligned. */
	assert_int_equal(irqlink_memslot_map(vm, 0x80003000, 0x1000, mem),
			 -EEXIST);
	assert_int_equal(irqlink_memslot_map(vm, 0x80010800, 0x1000, mem),
			 -EINVAL);
	assert_int_equal(irqlink_memslot_map(vm, 0x80010000, 0x800, mem),
			 -EINVAL);
	assert_int_equal(irqlink_memslot_map(vm, 0x80010000, 0x1000, mem + 1),
			 -EINVAL);
	assert_int_equal(irqlink_memslot_map(vm, 0x80010000, 0, mem), -EINVAL);
	assert_int_equal(irqlink_memslot_unmap(vm, 0), -ENOENT);
	assert_int_equal(irqlink_memslot_unmap(vm, -1), -ENOENT);

	/* A freed id is the first taken again. */
	assert_int_equal(irqlink_memslot_unmap(vm, a), 0);
	assert_int_equal(irqlink_memslot_unmap(vm, a), -ENOENT);
	assert_int_equal(irqlink_memslot_count(vm), 1);
	assert_int_equal(irqlink_memslot_map(vm, 0x90000000, 0x1000, mem), a);
	assert_int_equal(irqlink_memslot_count(vm), 2);
	/* Destroy with both held: it removes them. */
	irqlink_vm_destroy(vm);
	munmap(mem, 0x3000);
	assert_int_equal(tu_open_fds(), fds);
}

int main(void)
{
	int r = tu_require_kvm();

	if (r)
		return r;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memslots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
