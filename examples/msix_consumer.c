/* SPDX-License-Identifier: MIT */
/*
 * An MSI-X device whose vectors reach KVM with no process in between, built
 * from the installed API alone: a VM, a relay, a bypass manager, a device
 * attached to the manager as producer, and one consumer per vector. CI
 * builds it against a staged install and runs it, so the wiring the README
 * describes is known to work end to end, not just to compile.
 *
 * There is no vCPU: KVM takes each MSI from the eventfd and finds no LAPIC
 * to deliver it to. That is fine here; what the program shows and checks is
 * that every vector is on the bypass path and that the relay never had to
 * touch one.
 *
 * Exit status: 0 ok, 1 failure, 77 no /dev/kvm (the test-suite convention
 * for "skipped").
 */
#include <irqlink/irqlink.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NVEC 4u

/*
 * x86 MSI: the address selects the destination LAPIC (ID in bits 19:12),
 * the data the IDT vector. Distinct vectors so that a guest, had it a vCPU,
 * could tell the device's interrupts apart.
 */
#define MSI_ADDR 0xfee00000u
#define MSI_FIRST_VECTOR 0x40u

struct app {
	struct irqlink_vm *vm;
	struct irqlink_relay *relay;
	struct irqlink_bypass *bypass;
	struct irqlink_dev *dev;
	struct irqlink_consumer *cons[NVEC];
	int efd[NVEC];
};

static int fail(const char *what, int r)
{
	fprintf(stderr, "msix_consumer: %s: %s\n", what, strerror(-r));
	return 1;
}

static const char *path_name(enum irqlink_consumer_path p)
{
	return p == IRQLINK_PATH_BYPASS ? "bypass" : "relay";
}

static int setup_device(struct app *a)
{
	struct irqlink_dev_shape shape = { .msix_vectors = NVEC };
	/* Eventfds out of band: argsz covers the header only. */
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.start = 0,
		.count = NVEC,
	};
	unsigned int i;
	int r;

	r = irqlink_dev_create(&shape, &a->dev);
	if (r)
		return fail("irqlink_dev_create", r);
	/*
	 * Attach before any trigger exists: the device then registers each
	 * eventfd with the manager as SET_IRQS installs it, so no vector is
	 * ever live without its producer.
	 */
	r = irqlink_dev_attach_bypass(a->dev, a->bypass);
	if (r)
		return fail("irqlink_dev_attach_bypass", r);
	for (i = 0; i < NVEC; i++) {
		a->efd[i] = eventfd(0, EFD_CLOEXEC);
		if (a->efd[i] < 0)
			return fail("eventfd", -errno);
	}
	/*
	 * Every vector in the call that enables MSI-X: without msix_dynamic
	 * the enabled block cannot grow later (NORESIZE, as in vfio).
	 */
	r = irqlink_dev_set_irqs_fds(a->dev, &set, a->efd, NVEC);
	if (r > 0) {
		fprintf(stderr, "msix_consumer: the host backs only %d vectors\n",
			r);
		return 1;
	}
	if (r)
		return fail("irqlink_dev_set_irqs_fds", r);
	return 0;
}

static int setup_consumers(struct app *a)
{
	unsigned int i;
	int r;

	/*
	 * Each KVM_SET_GSI_ROUTING replaces the whole table and re-resolves
	 * every irqfd, so N routes set one by one cost O(N^2): stage them all
	 * and commit once. Until that commit the routes are not in KVM, and an
	 * irqfd on a GSI without a route loses its signals, so the consumers
	 * stay on the relay for now.
	 */
	r = irqlink_routes_begin(a->vm);
	if (r)
		return fail("irqlink_routes_begin", r);
	for (i = 0; i < NVEC; i++) {
		struct irqlink_consumer_config cfg = {
			.kind = IRQLINK_CONSUMER_MSI,
			.trigger_fd = a->efd[i],
			.msi = {
				.address_lo = MSI_ADDR,
				.data = MSI_FIRST_VECTOR + i,
			},
		};

		r = irqlink_consumer_create(a->vm, a->relay, a->bypass, &cfg,
					    &a->cons[i]);
		if (r) {
			/* Drop the staged routes and close the batch. */
			irqlink_routes_abort(a->vm);
			return fail("irqlink_consumer_create", r);
		}
	}
	r = irqlink_routes_commit(a->vm);
	if (r) {
		irqlink_routes_abort(a->vm);
		return fail("irqlink_routes_commit", r);
	}
	/* The routes are live now; nothing else would re-apply the path rule.
	 * All at once: the relay thread lets go of every E in one round trip
	 * instead of one per vector. */
	r = irqlink_consumer_refresh_many(a->cons, NVEC);
	if (r)
		return fail("irqlink_consumer_refresh_many", r);
	return 0;
}

static int fire_and_check(struct app *a)
{
	struct irqlink_relay_stats st;
	unsigned int i;
	int r, bad = 0;

	for (i = 0; i < NVEC; i++) {
		r = irqlink_dev_msi_fire(a->dev, VFIO_PCI_MSIX_IRQ_INDEX, i);
		if (r < 0)
			return fail("irqlink_dev_msi_fire", r);
		/* 0 would mean masked or dropped: the wiring is wrong. */
		if (r != 1) {
			fprintf(stderr, "msix_consumer: vector %u not signalled\n",
				i);
			return 1;
		}
	}
	for (i = 0; i < NVEC; i++) {
		enum irqlink_consumer_path p = irqlink_consumer_path(a->cons[i]);

		printf("vector %u: gsi %u, path %s\n", i,
		       (unsigned int)irqlink_consumer_gsi(a->cons[i]),
		       path_name(p));
		if (p != IRQLINK_PATH_BYPASS)
			bad = 1;
	}
	/*
	 * On bypass the relay has these sources paused, so its counters are
	 * final. Injections alone would prove little without a vCPU: a relayed
	 * MSI then fails (KVM_SIGNAL_MSI -EPERM) and counts as an inject error
	 * instead. Source reads say whether the relay saw a vector at all.
	 */
	r = irqlink_relay_get_stats(a->relay, &st);
	if (r)
		return fail("irqlink_relay_get_stats", r);
	printf("relay: %llu injections, %llu source reads\n",
	       (unsigned long long)st.injections,
	       (unsigned long long)st.events);
	if (bad) {
		fprintf(stderr, "msix_consumer: a vector is not on bypass\n");
		return 1;
	}
	if (st.injections || st.events) {
		fprintf(stderr, "msix_consumer: the relay handled a vector; "
			"delivery should be in-kernel\n");
		return 1;
	}
	return 0;
}

static int run(struct app *a)
{
	/* The default, spelled out: a consumer needs an in-kernel irqchip. */
	struct irqlink_vm_config vcfg = { .irqchip = IRQLINK_IRQCHIP_FULL };
	int r;

	r = irqlink_vm_create(&vcfg, &a->vm);
	if (r)
		return fail("irqlink_vm_create", r);
	/* Every consumer needs one, as its fallback path. */
	r = irqlink_relay_create(a->vm, NULL, &a->relay);
	if (r)
		return fail("irqlink_relay_create", r);
	r = irqlink_bypass_create(&a->bypass);
	if (r)
		return fail("irqlink_bypass_create", r);
	if ((r = setup_device(a)) || (r = setup_consumers(a)))
		return r;
	return fire_and_check(a);
}

/*
 * Reverse order of creation, because each object borrows the ones made
 * before it: consumers borrow the VM, relay and manager; the device's
 * attachment needs the manager alive; the relay borrows the VM. Every
 * destroy takes NULL, so this also undoes a run that failed halfway.
 */
static void teardown(struct app *a)
{
	unsigned int i;

	for (i = 0; i < NVEC; i++)
		irqlink_consumer_destroy(a->cons[i]);
	irqlink_dev_destroy(a->dev);
	irqlink_bypass_destroy(a->bypass);
	irqlink_relay_destroy(a->relay);
	irqlink_vm_destroy(a->vm);
	/* Ours to close: the library kept its own duplicates. */
	for (i = 0; i < NVEC; i++)
		if (a->efd[i] >= 0)
			close(a->efd[i]);
}

int main(void)
{
	struct app a = { 0 };
	unsigned int i;
	int fd, rc;

	/* Tell "no KVM here" apart from a failure of the wiring. */
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "msix_consumer: cannot open /dev/kvm (%s); "
			"skipping\n", strerror(errno));
		return 77;
	}
	close(fd);

	for (i = 0; i < NVEC; i++)
		a.efd[i] = -1;
	rc = run(&a);
	teardown(&a);
	if (!rc)
		puts("ok");
	return rc;
}
