/* SPDX-License-Identifier: MIT */
/*
 * irqlink's paths, each built the way a VMM builds it: the device model is
 * attached to a bypass manager as producer, and the interrupt reaches KVM
 * through a consumer that the manager pairs with it. The consumer itself
 * picks the path: in-kernel (an irqfd on the device's own eventfd) unless
 * forced onto the relay, and the setup checks it took the path the row
 * claims.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

/* The device model with one trigger eventfd on @index (and, for INTx, the
 * unmask eventfd r->rfd), attached to a new bypass manager. */
static int device(struct run *r, unsigned int index)
{
	struct irqlink_dev_shape shape = { .msix_vectors = 1 };
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = index, .start = 0, .count = 1,
	};
	int32_t fd32;
	int err;

	if (index == VFIO_PCI_INTX_IRQ_INDEX) {
		shape.msix_vectors = 0;
		shape.intx_pin = true;
	}
	if ((err = irqlink_bypass_create(&r->bypass)) ||
	    (err = irqlink_dev_create(&shape, &r->dev)) ||
	    (err = irqlink_dev_attach_bypass(r->dev, r->bypass)))
		return bench_why(r, err, "device: %s", strerror(-err));
	if ((r->efd = bench_eventfd()) < 0)
		return bench_why(r, r->efd, "eventfd: %s", strerror(-r->efd));
	fd32 = r->efd;
	if ((err = irqlink_dev_set_irqs_fds(r->dev, &set, &fd32, 1)))
		return bench_why(r, err < 0 ? err : -EIO,
				 "irqlink_dev_set_irqs_fds: %d", err);
	if (index != VFIO_PCI_INTX_IRQ_INDEX)
		return 0;
	if ((r->rfd = bench_eventfd()) < 0)
		return bench_why(r, r->rfd, "eventfd: %s", strerror(-r->rfd));
	set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK;
	fd32 = r->rfd;
	if ((err = irqlink_dev_set_irqs_fds(r->dev, &set, &fd32, 1)))
		return bench_why(r, err < 0 ? err : -EIO,
				 "irqlink_dev_set_irqs_fds(unmask): %d", err);
	return 0;
}

static int consumer(struct run *r, const struct irqlink_consumer_config *cc,
		    enum irqlink_consumer_path want)
{
	int err = irqlink_consumer_create(r->vm, r->relay, r->bypass, cc,
					  &r->cons);

	if (err)
		return bench_why(r, err, "irqlink_consumer_create: %s",
				 strerror(-err));
	if (irqlink_consumer_path(r->cons) != want)
		return bench_why(r, -EPROTO, "the consumer took the %s path, "
				 "the row measures the %s path",
				 want == IRQLINK_PATH_BYPASS ? "relay"
							     : "in-kernel",
				 want == IRQLINK_PATH_BYPASS ? "in-kernel"
							     : "relay");
	return 0;
}

/* The relay every consumer needs for its relay side: pinned to
 * --cpu-relay, the trigger's CPU unless told otherwise
 * (<irqlink/relay.h> advises against the vCPU's). */
static int relay(struct run *r, uint32_t flags)
{
	struct irqlink_relay_config rc = {
		.flags = IRQLINK_RELAY_PIN_CPU | flags,
		.cpu = r->cfg->cpu_relay,
	};
	int err = irqlink_relay_create(r->vm, &rc, &r->relay);

	if (err)
		return bench_why(r, err, "irqlink_relay_create: %s",
				 strerror(-err));
	return 0;
}

static int setup_msi(struct run *r, unsigned int vector, bool force_relay,
		     uint32_t relay_flags)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_MSI,
		.force_relay = force_relay,
	};
	int err;

	if ((err = bench_lib_vm(r)) || (err = relay(r, relay_flags)) ||
	    (err = device(r, VFIO_PCI_MSIX_IRQ_INDEX)))
		return err;
	r->vector = vector;
	cc.trigger_fd = r->efd;
	cc.msi = bench_msi_to(vector);
	return consumer(r, &cc, force_relay ? IRQLINK_PATH_RELAY
					    : IRQLINK_PATH_BYPASS);
}

static int setup_msi_kernel(struct run *r)
{
	return setup_msi(r, 0x45, false, 0);
}

static int setup_msi_relay(struct run *r)
{
	return setup_msi(r, 0x47, true, 0);
}

static int setup_msi_relay_busy(struct run *r)
{
	return setup_msi(r, 0x48, true, IRQLINK_RELAY_BUSY_POLL);
}

/* Between its visits the busy relay goes (with its consumer, which holds
 * it); the device and its eventfd stay. */
static void park_relay(struct run *r)
{
	irqlink_consumer_destroy(r->cons);
	irqlink_relay_destroy(r->relay);
	r->cons = NULL;
	r->relay = NULL;
}

static int resume_relay_busy(struct run *r)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_MSI,
		.force_relay = true,
		.trigger_fd = r->efd,
		.msi = bench_msi_to(r->vector),
	};
	int err;

	if ((err = relay(r, IRQLINK_RELAY_BUSY_POLL)))
		return err;
	return consumer(r, &cc, IRQLINK_PATH_RELAY);
}

/*
 * INTx in-kernel: the consumer's level irqfd on pin 17 has the device's
 * unmask eventfd as its resamplefd, so the EOI unmasks the device with no
 * process in between. The bench runs the model's unmask watching from its
 * own loop (irqlink_dev_dispatch()), as the raw baseline reads its
 * resamplefd from its own loop: no third thread on a 2-core machine.
 */
static int setup_intx(struct run *r)
{
	struct irqlink_consumer_config cc = {
		.kind = IRQLINK_CONSUMER_INTX,
		.gsi = 17,
	};
	int err;

	if ((err = bench_lib_vm(r)) || (err = relay(r, 0)) ||
	    (err = bench_program_pin(r, 17, 0x46, KG_LEVEL)) ||
	    (err = device(r, VFIO_PCI_INTX_IRQ_INDEX)))
		return err;
	cc.trigger_fd = r->efd;
	cc.unmask_fd = r->rfd;
	return consumer(r, &cc, IRQLINK_PATH_BYPASS);
}

/* The model has carried out the unmask this cycle waits for. */
static int model_unmasked(struct run *r)
{
	struct irqlink_dev_stats st;
	int n = irqlink_dev_dispatch(r->dev);

	if (n < 0)
		return bench_why(r, n, "irqlink_dev_dispatch: %s",
				 strerror(-n));
	if (n == 0)
		return 0;
	irqlink_dev_get_stats(r->dev, &st);
	if (st.intx_unmasks > r->unmasks)
		return bench_why(r, -EOVERFLOW, "%" PRIu64 " unmasks, expected %"
				 PRIu64, st.intx_unmasks, r->unmasks);
	return st.intx_unmasks == r->unmasks;
}

/*
 * The device pulses its line: assert (the model masks and signals), then
 * deassert at once, so the unmask that the EOI brings finds the line low
 * and does not fire again. The sample ends when the model has unmasked.
 */
static int sample_intx(struct run *r, uint64_t *lat, uint64_t *isr)
{
	uint64_t t0, t1 = 0;
	int n, err;

	r->expected++;
	r->unmasks++;
	t0 = bench_tsc();
	n = irqlink_dev_intx_assert(r->dev);
	if (n != 1)
		return bench_why(r, n < 0 ? n : -EIO,
				 "irqlink_dev_intx_assert returned %d", n);
	if ((err = irqlink_dev_intx_deassert(r->dev)))
		return bench_why(r, err, "irqlink_dev_intx_deassert: %d", err);
	if ((err = bench_wait_intx_cycle(r, model_unmasked, &t1)))
		return err;
	*lat = t1 - t0;
	return bench_isr_latency(r, t0, isr);
}

/* irqlink_vm_signal_msi(): the library's KVM_SIGNAL_MSI. */
static int setup_signal_msi(struct run *r)
{
	int err;

	if ((err = bench_lib_vm(r)))
		return err;
	r->vector = 0x4a;
	return 0;
}

const struct bench_path bench_paths_irqlink[] = {
	{ "irqlink-msi", "kvm-msi-irqfd",
	  "irqlink_dev_msi_fire -> consumer paired by the bypass manager "
	  "(in-kernel irqfd on an irqlink MSI route) -> ISR",
	  setup_msi_kernel, bench_sample_dev_msi, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-intx", "kvm-level-resample",
	  "irqlink_dev_intx_assert -> consumer's level irqfd -> EOI -> "
	  "resamplefd = device unmask (full INTx cycle)",
	  setup_intx, sample_intx, true, BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-signal-msi", "kvm-signal-msi",
	  "irqlink_vm_signal_msi -> ISR",
	  setup_signal_msi, bench_sample_signal_msi, false,
	  BENCH_WAIT_SPIN, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-msi/yield", "kvm-msi-irqfd/yield",
	  "irqlink-msi, the trigger thread yielding while it waits",
	  setup_msi_kernel, bench_sample_dev_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-relay/yield", "naive-relay/yield",
	  "irqlink_dev_msi_fire -> consumer forced to the relay (blocking, "
	  "pinned to the trigger CPU) -> KVM_SIGNAL_MSI -> ISR",
	  setup_msi_relay, bench_sample_dev_msi, false,
	  BENCH_WAIT_YIELD, NULL, NULL,
	  { NULL }, BENCH_PLOT_BY_WAIT },
	{ "irqlink-relay-busy/yield", "naive-relay/yield",
	  "irqlink-relay with IRQLINK_RELAY_BUSY_POLL",
	  setup_msi_relay_busy, bench_sample_dev_msi, false, BENCH_WAIT_YIELD,
	  park_relay, resume_relay_busy, { NULL }, BENCH_PLOT_BY_WAIT },
};
const size_t bench_paths_irqlink_n =
	sizeof(bench_paths_irqlink) / sizeof(bench_paths_irqlink[0]);
