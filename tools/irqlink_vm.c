/* SPDX-License-Identifier: MIT */
/*
 * irqlink-vm: irqlink's small VMM. Boots the test guest (guest/) in a KVM VM
 * with the test PCI device (devices/testdev) on bus 0 -- in this process,
 * or in its own over vfio-user (--device vfio-user:SOCKET, irqlink-devd)
 * -- and drives the device's interrupts into the guest through irqlink.
 *
 * The machine is vm_machine.c (VM, vCPU threads, device, glue) and
 * vm_bus.c (PCI config mechanism #1, BAR dispatch). This file is the
 * command line and the demo: for each interrupt path the guest's own PCI
 * driver programs the device (INTx on its IOAPIC pin, MSI, MSI-X) and asks
 * it, through its BAR0 registers and the doorbell, for one interrupt at a
 * time. Latency is device raise -> guest ISR entry: the device thread reads
 * the TSC just before raising, the guest's ISR reads it first thing on
 * entry; on this KVM the guest TSC is the host TSC.
 *
 * Every wait has a timeout, so a guest that faults or stops answering ends
 * the run with a message and exit status 1, never a hang.
 */
#include "vm_machine.h"

#include <pthread.h>
#include <time.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_RUN_FAILED 1
#define EXIT_USAGE      2

#define MAX_COUNT 100000u   /* latency samples fit in the guest's free RAM */
#define DEFAULT_MSIX 2048u

/* Guest vectors per path (0x20-0xee; MSI's block aligned to its size). */
#define VEC_INTX 0x30
#define VEC_MSI  0x40
#define VEC_MSIX 0x60
#define MSIX_SPAN 0x80      /* IDT vectors 0x60-0xdf the MSI-X entries share */
#define PATH_VECTORS 4u     /* MSI vectors the demo cycles through */

enum path { PATH_INTX, PATH_MSI, PATH_MSIX, PATH_MSIX_DMA, NPATHS };

static const char *const path_names[NPATHS] = { "intx", "msi", "msix",
						 "msix-dma" };
static const char *const path_titles[NPATHS] = { "INTx", "MSI", "MSI-X",
						  "MSI-X DMA" };

struct opts {
	const char *cmd;
	unsigned int count;
	unsigned int vcpus;
	unsigned int gsi;
	unsigned int timeout_ms;
	bool paths[NPATHS];
	const char *fault;
	enum irqlink_delivery delivery;
	enum irqlink_eoi_policy eoi;
	bool eoi_given;                 /* --eoi, else the self-test picks */
	unsigned int switch_ms;         /* 0 = no delivery switching */
	unsigned int msix_vectors;      /* MSI-X table size */
	bool msix_given;                /* --msix-vectors, else the device's */
	unsigned int msix_use;          /* --msix-use: entries exercised */
	unsigned int ndev;              /* --device given this many times */
	const char *remotes[VM_MAX_DEVICES];    /* vfio-user:PATH, or NULL */
	unsigned int nremote;
	/* Per device, once the guest enumerated it (fit_devices()). */
	unsigned int table[VM_MAX_DEVICES];     /* MSI-X table size */
	unsigned int use[VM_MAX_DEVICES];       /* entries the demo cycles */
};

struct result {
	bool ran;
	unsigned int vectors;
	uint64_t sent, received;
	int64_t lost;
	double p50_us, p99_us, max_us;
	double exits_per_irq;
	uint64_t relayed;               /* relay injections during the row */
	uint64_t timer_unmasks;
	uint64_t switches;
	const char *via;                /* what carried it, if not a consumer */
	char note[256];
};

static const char *prog = "irqlink-vm";

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s [OPTIONS] COMMAND\n"
"\n"
"Boot irqlink's test guest in a KVM VM with the test PCI device on bus 0 and\n"
"drive the device's interrupts into the guest through irqlink.\n"
"\n"
"Commands:\n"
"  demo    the guest programs INTx, MSI and MSI-X (and MSI-X again, sent by\n"
"          the device's DMA into the MSI doorbell) and asks the device for one\n"
"          interrupt at a time; prints per path: sent, received, lost,\n"
"          device-raise -> guest-ISR latency (p50/p99/max), the delivery\n"
"          that carried them and how many the relay injected\n"
"  probe   boot, let the guest enumerate PCI bus 0, print what it found\n"
"\n"
"Options:\n"
"  -n, --count N       interrupts per path (demo; default 4096, so each of\n"
"                      2048 MSI-X entries fires twice; max %u)\n"
"  -p, --paths LIST    paths to run, comma-separated: intx,msi,msix,msix-dma\n"
"                      (default all). msix-dma: MSI-X as the device's own DMA\n"
"                      write into the MSI doorbell window mapped at an IOVA\n"
"                      (the ARM shape), injected with KVM_SIGNAL_MSI of the\n"
"                      guest's message whatever --delivery says\n"
"  -c, --vcpus N       vCPUs, each on its own thread (1-%u, default 1)\n"
"  -g, --gsi N         IOAPIC pin the device's INTA# is wired to (16-23,\n"
"                      default 16)\n"
"  -t, --timeout MS    longest wait for one interrupt or one guest answer\n"
"                      (default 2000)\n"
"  -d, --delivery MODE how interrupts reach KVM: auto (the bypass manager\n"
"                      pairs each device interrupt with its consumer and it\n"
"                      is delivered in-kernel; default), kernel (as auto, and\n"
"                      the run fails if any interrupt cannot be delivered\n"
"                      in-kernel), relay (the relay thread injects all)\n"
"  -e, --eoi POLICY    how the VMM learns the guest is done with an INTx:\n"
"                      resamplefd (KVM's resamplefd unmasks the device; right\n"
"                      on upstream KVM), bar-access (the relay injects INTx,\n"
"                      the guest's BAR access that clears the device's status\n"
"                      unmasks it; any guest, any KVM), guest-port (the test\n"
"                      guest reports the end of its handler on a port).\n"
"                      Default: a self-test at start-up picks resamplefd or,\n"
"                      where KVM signals the resamplefd before the guest's\n"
"                      handler runs, bar-access (guest-port with --delivery\n"
"                      kernel, which bar-access cannot use)\n"
"      --device DEV    a device on bus 0: testdev (the in-process test\n"
"                      device; default) or vfio-user:SOCKET (a device in its\n"
"                      own process, e.g. irqlink-devd SOCKET; its interrupts\n"
"                      still go straight into KVM). Repeat it for up to %u\n"
"                      devices, in slots 3, 4, ... with INTA# on pins --gsi,\n"
"                      --gsi + 1, ...; the demo runs each device's rows (INTx\n"
"                      on the first only: the test guest has one INTx handler).\n"
"                      With a remote device, latency is guest doorbell write\n"
"                      -> guest ISR entry, and the default INTx EOI policy is\n"
"                      guest-port where bar-access would be picked\n"
"      --msix-vectors N  an in-process device's MSI-X table size, 1-%u\n"
"                      (default %u); the guest enables every entry (they\n"
"                      share %u guest vectors)\n"
"      --msix-use N    MSI-X entries the demo cycles through (default: all)\n"
"      --switch-ms MS  with --delivery auto: switch every interrupt between\n"
"                      the relay and in-kernel delivery every MS ms while the\n"
"                      demo runs (nothing may be lost)\n"
"      --fault KIND    make the guest fail on purpose after boot, to show how\n"
"                      a failed run ends: exception (ud2) or hang (no answer)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 success, 1 the run failed (guest fault, timeout, lost\n"
"interrupts), 2 usage error.\n",
		prog, MAX_COUNT, KG_MAX_VCPUS, VM_MAX_DEVICES, VM_MSIX_MAX, DEFAULT_MSIX,
		MSIX_SPAN);
}

static bool parse_uint(const char *s, unsigned int lo, unsigned int hi,
		       unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return false;
	*out = (unsigned int)v;
	return true;
}

static bool parse_paths(char *list, bool *paths)
{
	char *save = NULL;

	memset(paths, 0, NPATHS * sizeof(*paths));
	for (char *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int k;

		for (k = 0; k < NPATHS; k++)
			if (!strcmp(t, path_names[k]))
				break;
		if (k == NPATHS)
			return false;
		paths[k] = true;
	}
	for (int k = 0; k < NPATHS; k++)
		if (paths[k])
			return true;
	return false;
}

/* Returns 0 to run, or the exit status to leave with. */
static int parse(int argc, char **argv, struct opts *o)
{
	enum { OPT_FAULT = 256, OPT_SWITCH, OPT_MSIX, OPT_MSIX_USE, OPT_DEVICE };
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "msix-vectors", required_argument, NULL, OPT_MSIX },
		{ "msix-use", required_argument, NULL, OPT_MSIX_USE },
		{ "delivery", required_argument, NULL, 'd' },
		{ "eoi", required_argument, NULL, 'e' },
		{ "switch-ms", required_argument, NULL, OPT_SWITCH },
		{ "count", required_argument, NULL, 'n' },
		{ "paths", required_argument, NULL, 'p' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "gsi", required_argument, NULL, 'g' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fault", required_argument, NULL, OPT_FAULT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *why;
	int c;

	*o = (struct opts){
		.count = 4096, .vcpus = 1, .gsi = VM_DEFAULT_GSI,
		.timeout_ms = 2000, .paths = { true, true, true, true },
		.msix_vectors = DEFAULT_MSIX,
	};
	while ((c = getopt_long(argc, argv, "n:p:c:g:t:d:e:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'd':
			if (irqlink_delivery_parse(optarg, &o->delivery)) {
				fprintf(stderr, "%s: --delivery takes auto, kernel "
					"or relay, not '%s'\n", prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'e':
			if (irqlink_eoi_policy_parse(optarg, &o->eoi)) {
				fprintf(stderr, "%s: --eoi takes resamplefd, "
					"bar-access or guest-port, not '%s'\n",
					prog, optarg);
				return EXIT_USAGE;
			}
			o->eoi_given = true;
			break;
		case OPT_DEVICE:
			if (o->ndev == VM_MAX_DEVICES) {
				fprintf(stderr, "%s: at most %u --device\n", prog,
					VM_MAX_DEVICES);
				return EXIT_USAGE;
			}
			if (!strncmp(optarg, "vfio-user:", 10) && optarg[10]) {
				o->remotes[o->ndev++] = optarg + 10;
				o->nremote++;
			} else if (!strcmp(optarg, "testdev")) {
				o->remotes[o->ndev++] = NULL;
			} else {
				fprintf(stderr, "%s: --device takes testdev or "
					"vfio-user:SOCKET, not '%s'\n", prog,
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_MSIX:
		case OPT_MSIX_USE:
			if (c == OPT_MSIX)
				o->msix_given = true;
			if (!parse_uint(optarg, 1, VM_MSIX_MAX,
					c == OPT_MSIX ? &o->msix_vectors
						      : &o->msix_use)) {
				fprintf(stderr, "%s: --%s must be 1-%u, not '%s'\n",
					prog, c == OPT_MSIX ? "msix-vectors" :
					"msix-use", VM_MSIX_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_SWITCH:
			if (!parse_uint(optarg, 1, 60000, &o->switch_ms)) {
				fprintf(stderr, "%s: --switch-ms must be 1-60000, "
					"not '%s'\n", prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			if (!parse_uint(optarg, 1, MAX_COUNT, &o->count)) {
				fprintf(stderr, "%s: --count must be 1-%u, not '%s'\n",
					prog, MAX_COUNT, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'p':
			if (!parse_paths(optarg, o->paths)) {
				fprintf(stderr, "%s: --paths takes a comma-separated "
					"list of intx, msi, msix\n", prog);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			if (!parse_uint(optarg, 1, KG_MAX_VCPUS, &o->vcpus)) {
				fprintf(stderr, "%s: --vcpus must be 1-%u, not '%s'\n",
					prog, KG_MAX_VCPUS, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'g':
			if (!parse_uint(optarg, 16, 23, &o->gsi)) {
				fprintf(stderr, "%s: --gsi must be an IOAPIC pin "
					"16-23 (pins below 16 are shared with the "
					"PIC), not '%s'\n", prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (!parse_uint(optarg, 10, 600000, &o->timeout_ms)) {
				fprintf(stderr, "%s: --timeout must be 10-600000 ms, "
					"not '%s'\n", prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_FAULT:
			if (strcmp(optarg, "exception") && strcmp(optarg, "hang")) {
				fprintf(stderr, "%s: --fault takes 'exception' or "
					"'hang', not '%s'\n", prog, optarg);
				return EXIT_USAGE;
			}
			o->fault = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}
	if (o->eoi_given && irqlink_eoi_check(o->eoi, o->delivery, &why)) {
		fprintf(stderr, "%s: --eoi %s with --delivery %s: %s\n", prog,
			irqlink_eoi_policy_name(o->eoi),
			irqlink_delivery_name(o->delivery), why);
		return EXIT_USAGE;
	}
	if (o->switch_ms && o->delivery != IRQLINK_DELIVERY_AUTO) {
		fprintf(stderr, "%s: --switch-ms switches between the relay and "
			"in-kernel delivery, so it needs --delivery auto\n", prog);
		return EXIT_USAGE;
	}
	if (!o->ndev)
		o->ndev = 1;            /* the in-process test device */
	if (o->nremote && o->nremote == o->ndev && o->msix_given) {
		fprintf(stderr, "%s: --msix-vectors sizes the in-process device; "
			"a vfio-user device has its own table (irqlink-devd "
			"--msix)\n", prog);
		return EXIT_USAGE;
	}
	if (o->gsi + o->ndev - 1 > 23) {
		fprintf(stderr, "%s: %u devices take IOAPIC pins %u-%u, past "
			"23: give a lower --gsi\n", prog, o->ndev, o->gsi,
			o->gsi + o->ndev - 1);
		return EXIT_USAGE;
	}
	if (o->msix_use > o->msix_vectors && o->nremote < o->ndev) {
		fprintf(stderr, "%s: --msix-use %u is more than the table's %u "
			"entries\n", prog, o->msix_use, o->msix_vectors);
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given (demo or probe)\n"
			"Try '%s --help'.\n", prog, prog);
		return EXIT_USAGE;
	}
	o->cmd = argv[optind++];
	if (strcmp(o->cmd, "demo") && strcmp(o->cmd, "probe")) {
		fprintf(stderr, "%s: unknown command '%s' (demo or probe)\n",
			prog, o->cmd);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

/* Reports a failed kg_* call and returns the exit status for it. */
static int failed(struct vm_machine *m, const char *what, int err)
{
	char why[256];

	fprintf(stderr, "%s: %s: %s\n", prog, what,
		vm_machine_strerror(m, err, why, sizeof(why)));
	return EXIT_RUN_FAILED;
}

/* ---- probe ------------------------------------------------------------------ */

static void print_size(uint64_t size)
{
	if (size >= (1u << 20) && !(size & ((1u << 20) - 1)))
		printf("%lluM", (unsigned long long)(size >> 20));
	else if (size >= 1024 && !(size & 1023))
		printf("%lluK", (unsigned long long)(size >> 10));
	else
		printf("%llu", (unsigned long long)size);
}

static int probe(struct vm_machine *m)
{
	volatile struct kg_ext *e = kg_ext(m->g);

	for (uint32_t i = 0; i < e->nfn; i++) {
		volatile struct kg_ext_fn *f = &e->fn[i];

		printf("%02x:%02x.%x %04x:%04x class %06x\n", f->bdf >> 8,
		       (f->bdf >> 3) & 0x1f, f->bdf & 7, f->vendor, f->device,
		       f->class_rev >> 8);
		for (int b = 0; b < 6; b++) {
			if (!f->bar[b].size)
				continue;
			printf("  BAR%d %s%s at 0x%llx [", b,
			       f->bar[b].flags & KG_BAR_IO ? "I/O" : "memory",
			       f->bar[b].flags & KG_BAR_64 ? " 64-bit" : "",
			       (unsigned long long)f->bar[b].addr);
			print_size(f->bar[b].size);
			printf("]\n");
		}
		if (f->irq_pin)
			printf("  INT%c# -> IOAPIC pin %u (Interrupt Line)\n",
			       'A' + f->irq_pin - 1, f->irq_line);
		if (f->msi_cap)
			printf("  MSI at 0x%02x: up to %u vectors%s%s\n",
			       f->msi_cap, 1u << ((f->msi_ctrl >> 1) & 7),
			       f->msi_ctrl & 0x80 ? ", 64-bit" : "",
			       f->msi_ctrl & 0x100 ? ", per-vector mask" : "");
		if (f->msix_cap)
			printf("  MSI-X at 0x%02x: %u vectors, table BAR%u+0x%x, "
			       "PBA BAR%u+0x%x\n", f->msix_cap,
			       (f->msix_ctrl & 0x7ff) + 1, f->msix_table & 7,
			       f->msix_table & ~7u, f->msix_pba & 7,
			       f->msix_pba & ~7u);
		if (f->pcie_cap)
			printf("  PCI Express at 0x%02x\n", f->pcie_cap);
	}
	return 0;
}

/* ---- demo ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t user_exits(struct vm_machine *m)
{
	return kg_exits(m->g, KVM_EXIT_IO) + kg_exits(m->g, KVM_EXIT_MMIO);
}

static uint64_t relay_injections(struct vm_machine *m)
{
	struct irqlink_relay_stats st;

	if (irqlink_relay_get_stats(m->relay, &st))
		return 0;
	return st.injections;
}

/* --switch-ms: while a row runs, every interrupt of the device is moved
 * between the relay and in-kernel delivery, through the glue's API (each
 * consumer switches losslessly). */
struct switcher {
	struct vm_machine *m;
	unsigned int ms;
	pthread_t thread;
	bool live;
	_Atomic bool stop;
	uint64_t switches;
	int err;
};

static void *switch_thread(void *arg)
{
	struct switcher *sw = arg;
	struct timespec d = { sw->ms / 1000, (long)(sw->ms % 1000) * 1000000L };
	bool relay = false;
	int r;

	while (!sw->stop) {
		nanosleep(&d, NULL);
		relay = !relay;
		r = irqlink_pci_set_delivery(sw->m->dev->pci, relay ?
				IRQLINK_DELIVERY_RELAY : IRQLINK_DELIVERY_AUTO);
		if (r && !sw->err)
			sw->err = r;
		sw->switches++;
	}
	if (relay)
		(void)irqlink_pci_set_delivery(sw->m->dev->pci, IRQLINK_DELIVERY_AUTO);
	return NULL;
}

static void switcher_start(struct switcher *sw, struct vm_machine *m,
			   unsigned int ms)
{
	memset(sw, 0, sizeof(*sw));
	sw->m = m;
	sw->ms = ms;
	if (ms)
		sw->live = pthread_create(&sw->thread, NULL, switch_thread,
					  sw) == 0;
}

static void switcher_stop(struct switcher *sw)
{
	if (!sw->live)
		return;
	sw->stop = true;
	pthread_join(sw->thread, NULL);
	sw->live = false;
}

/* One path's run: @count interrupts, one at a time, cycling @nvec sources
 * (the device's VECTOR register selects which) that share the guest
 * vectors @vector.. @vector + @vspan - 1 (@vspan 0 = @nvec, one each). */
static int measure(struct vm_machine *m, struct vm_dev *d, const struct opts *o,
		   unsigned int vector, unsigned int nvec, unsigned int vspan,
		   struct result *res)
{
	unsigned int span = vspan && vspan < nvec ? vspan : nvec;
	struct kg_ext_run req = {
		.kick_gpa = vm_dev_reg_gpa(d, TESTDEV_REG_DOORBELL),
		.kick_value = 1,
		.kick_size = 4,
		.sel_gpa = nvec > 1 ? vm_dev_reg_gpa(d, TESTDEV_REG_VECTOR) : 0,
		.samples_gpa = KG_FREE_GPA,
		.count = o->count,
		.vector = vector,
		.nvec = nvec,
		.vspan = span,
		.timeout_ms = o->timeout_ms,
		/* A remote device stamps its raise in another process: time
		 * the whole request (doorbell write -> ISR) instead. */
		.flags = d->td ? 0 : KG_RUN_FROM_KICK,
	};
	uint64_t before[256] = { 0 }, seq0, raised0, exits0, *lat;
	const uint64_t *samples;
	uint32_t done = 0, nlat = 0;
	int err;
	struct switcher sw;
	uint64_t relayed0, timer0;

	for (unsigned int v = 0; v < span; v++)
		before[v] = kg_count(m->g, vector + v);
	seq0 = vm_dev_raises(d);
	raised0 = vm_dev_reg(d, TESTDEV_REG_RAISED);
	exits0 = user_exits(m);
	relayed0 = relay_injections(m);
	timer0 = vm_machine_timer_unmasks(m);

	switcher_start(&sw, m, o->switch_ms);
	err = kg_pci_run(m->g, &req, &done);
	switcher_stop(&sw);
	if (err)
		return err;
	/* Give a late or duplicate delivery time to show up in the counts. */
	usleep(20 * 1000);
	res->relayed = relay_injections(m) - relayed0;
	res->timer_unmasks = vm_machine_timer_unmasks(m) - timer0;
	res->switches = sw.switches;
	if (sw.err)
		snprintf(res->note, sizeof(res->note),
			 "a delivery switch failed: %s", strerror(-sw.err));

	res->ran = true;
	res->vectors = nvec;
	res->sent = vm_dev_reg(d, TESTDEV_REG_RAISED) - raised0;
	for (unsigned int v = 0; v < span; v++)
		res->received += kg_count(m->g, vector + v) - before[v];
	res->lost = (int64_t)res->sent - (int64_t)res->received;
	res->exits_per_irq = done ? (double)(user_exits(m) - exits0) / done : 0;

	samples = kg_mem(m->g, KG_FREE_GPA, (size_t)o->count * 8);
	lat = calloc(done ? done : 1, sizeof(*lat));
	if (!lat || !samples) {
		free(lat);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < done; i++) {
		uint64_t isr = __atomic_load_n(&samples[i], __ATOMIC_RELAXED);
		uint64_t raise = d->td ? vm_dev_raise_tsc(d, seq0 + i) : 0;

		if (!d->td)
			lat[nlat++] = isr;      /* already kick -> ISR */
		else if (raise && isr > raise)
			lat[nlat++] = isr - raise;
	}
	if (nlat) {
		double tick_us = 1000.0 / m->tsc_khz;

		qsort(lat, nlat, sizeof(*lat), cmp_u64);
		res->p50_us = (double)lat[nlat / 2] * tick_us;
		res->p99_us = (double)lat[(uint64_t)nlat * 99 / 100] * tick_us;
		res->max_us = (double)lat[nlat - 1] * tick_us;
	}
	free(lat);
	if (done < o->count && !res->note[0])
		snprintf(res->note, sizeof(res->note),
			 "interrupt %u of %u never came (waited %u ms)",
			 done + 1, o->count, o->timeout_ms);
	return 0;
}

static int run_intx(struct vm_machine *m, struct vm_dev *d, const struct opts *o,
		    struct result *res)
{
	volatile struct kg_ext *e = kg_ext(m->g);
	uint64_t status = vm_dev_reg_gpa(d, TESTDEV_REG_STATUS);
	uint64_t claimed0 = e->intx_claimed, spurious0 = e->intx_spurious;
	uint32_t unmasks0;
	unsigned int pin;
	int err;

	/* The driver takes the pin from Interrupt Line (the VMM put the GSI
	 * there) and acks by writing STATUS back (W1C). */
	err = kg_pci_intx(m->g, (unsigned int)d->fn, VEC_INTX,
			  KG_PCI_PIN_FROM_LINE, status, status, &pin);
	if (err)
		return err;
	if (pin != d->intx_gsi) {
		snprintf(res->note, sizeof(res->note),
			 "guest read pin %u from Interrupt Line, not %u", pin,
			 d->intx_gsi);
		return -EPROTO;
	}
	err = vm_dev_command(m, d, VFIO_PCI_INTX_IRQ_INDEX);
	if (err)
		return err;
	unmasks0 = vm_dev_reg(d, TESTDEV_REG_UNMASKS);
	err = measure(m, d, o, VEC_INTX, 1, 0, res);
	if (err)
		return err;
	if (!res->note[0])
		snprintf(res->note, sizeof(res->note),
			 "claimed %llu, spurious %llu, device unmasks %llu, "
			 "timer unmasks %llu (EOI policy %s)",
			 (unsigned long long)(e->intx_claimed - claimed0),
			 (unsigned long long)(e->intx_spurious - spurious0),
			 (unsigned long long)(vm_dev_reg(d,
					TESTDEV_REG_UNMASKS) - unmasks0),
			 (unsigned long long)res->timer_unmasks,
			 irqlink_eoi_policy_name(m->eoi));
	return 0;
}

static int run_msi(struct vm_machine *m, struct vm_dev *d, const struct opts *o,
		   struct result *res, bool msix)
{
	unsigned int fn = (unsigned int)d->fn;
	int err;

	/* One of MSI and MSI-X at a time, as on hardware. The whole MSI-X
	 * table is enabled, its entries sharing the guest's vectors. */
	err = msix ? kg_pci_msi(m->g, fn, 0, 0, 0, false)
		   : kg_pci_msix(m->g, fn, 0, 0, 0, false);
	if (!err)
		err = msix ? kg_pci_msix_shared(m->g, fn, VEC_MSIX, MSIX_SPAN,
						o->table[d->index], 0, false)
			   : kg_pci_msi(m->g, fn, VEC_MSI, PATH_VECTORS, 0, false);
	if (!err)
		err = vm_dev_command(m, d, msix ? VFIO_PCI_MSIX_IRQ_INDEX
					  : VFIO_PCI_MSI_IRQ_INDEX);
	if (err)
		return err;
	if (msix)
		return measure(m, d, o, VEC_MSIX, o->use[d->index], MSIX_SPAN,
			       res);
	return measure(m, d, o, VEC_MSI, PATH_VECTORS, 0, res);
}

/* MSI-X through the doorbell: the guest turns MSI-X off, the VMM maps
 * the window and programs the device's own table, then the MSI-X row
 * runs; the doorbell's count says how many it injected. */
static int run_msix_dma(struct vm_machine *m, struct vm_dev *d, const struct opts *o,
			struct result *res)
{
	struct irqlink_msi_doorbell_stats s0, s1;
	unsigned int fn = (unsigned int)d->fn;
	uint32_t dmas0;
	char why[200];
	int err;

	err = kg_pci_msi(m->g, fn, 0, 0, 0, false);
	if (!err)
		err = kg_pci_msix(m->g, fn, 0, 0, 0, false);
	if (err)
		return err;
	err = vm_dev_set_msix_dma(d, true, why, sizeof(why));
	if (err) {
		snprintf(res->note, sizeof(res->note), "%s", why);
		return -EPROTO;
	}
	(void)irqlink_msi_doorbell_get_stats(d->doorbell, &s0);
	dmas0 = vm_dev_reg(d, TESTDEV_REG_DMAS);
	err = run_msi(m, d, o, res, true);
	(void)irqlink_msi_doorbell_get_stats(d->doorbell, &s1);
	res->via = "doorbell";
	if (!err && !res->note[0])
		snprintf(res->note, sizeof(res->note),
			 "device DMA writes %u; doorbell (IOVA 0x%x) injected "
			 "%llu, refused %llu: KVM_SIGNAL_MSI of the guest's "
			 "message", vm_dev_reg(d, TESTDEV_REG_DMAS) -
			 dmas0, VM_MSI_DOORBELL_IOVA,
			 (unsigned long long)(s1.injected - s0.injected),
			 (unsigned long long)(s1.refused + s1.no_message -
					      s0.refused - s0.no_message));
	if (!err)
		err = kg_pci_msix(m->g, fn, 0, 0, 0, false);
	if (!err && vm_dev_set_msix_dma(d, false, why, sizeof(why))) {
		snprintf(res->note, sizeof(res->note), "%s", why);
		return -EPROTO;
	}
	return err;
}

/* What carried a row's interrupts, from the relay's count. */
static const char *carried_by(const struct result *r)
{
	if (r->via)
		return r->via;
	if (!r->relayed)
		return "kernel";
	return r->relayed >= r->received ? "relay" : "mixed";
}

/* A row's name: the path, and which device when there are several. */
static const char *row_title(const struct opts *o, unsigned int dev,
			     int path, char *buf, size_t len)
{
	if (o->ndev == 1)
		return path_titles[path];
	snprintf(buf, len, "%u:%s", dev, path_titles[path]);
	return buf;
}

static int demo(struct vm_machine *m, const struct opts *o)
{
	struct irqlink_pci_stats ps;
	struct result (*res)[NPATHS];
	bool bad = false;
	char title[32];
	int err = 0;

	res = calloc(m->ndev, sizeof(*res));
	if (!res)
		return failed(m, "demo", -ENOMEM);
	printf("irqlink-vm demo: %u vCPU%s, %u interrupts per path\n",
	       o->vcpus, o->vcpus == 1 ? "" : "s", o->count);
	for (unsigned int k = 0; k < m->ndev; k++) {
		struct vm_dev *d = &m->dev[k];

		char who[16] = "";

		if (m->ndev > 1)
			snprintf(who, sizeof(who), "%u: ", k);
		printf("%stest device %04x:%04x at 00:%02x.0 (%s%s), BAR0 "
		       "0x%llx, INTA# -> GSI %u\n", who, TESTDEV_VENDOR_ID,
		       TESTDEV_DEVICE_ID,
		       d->slot, d->remote ? "vfio-user, in its own process at "
					  : "in-process",
		       d->remote ? d->remote : "",
		       (unsigned long long)d->bar0, d->intx_gsi);
	}
	printf("delivery %s; INTx EOI policy %s (%s)%s\n",
	       irqlink_delivery_name(m->delivery),
	       irqlink_eoi_policy_name(m->eoi), !m->eoi_probed ? "--eoi" :
	       m->eoi_no_line_state ? "self-test: this KVM signals the "
	       "resamplefd early, and a vfio-user device cannot report its line "
	       "for bar-access" :
	       m->eoi_early ? "self-test: this KVM signals the resamplefd "
	       "before the guest's handler runs" : "self-test: the resamplefd "
	       "waits for the guest's EOI",
	       o->switch_ms ? "; switching relay <-> in-kernel while it runs"
			    : "");
	if (m->ndev > 1 && o->paths[PATH_INTX])
		printf("INTx on device 0 only: the test guest has one INTx "
		       "handler\n");
	fflush(stdout);
	for (unsigned int k = 0; k < m->ndev && !err; k++) {
		struct vm_dev *d = &m->dev[k];

		for (int p = 0; p < NPATHS && !err; p++) {
			struct result *r = &res[k][p];

			if (!o->paths[p] || (p == PATH_INTX && k))
				continue;
			if (p == PATH_INTX)
				err = run_intx(m, d, o, r);
			else if (p == PATH_MSIX_DMA)
				err = run_msix_dma(m, d, o, r);
			else
				err = run_msi(m, d, o, r, p == PATH_MSIX);
			if (err) {
				char what[64];

				snprintf(what, sizeof(what), "%s path",
					 row_title(o, k, p, title,
						   sizeof(title)));
				if (err == -EPROTO) {
					fprintf(stderr, "%s: %s: %s\n", prog,
						what, r->note);
					free(res);
					return EXIT_RUN_FAILED;
				}
				free(res);
				return failed(m, what, err);
			}
		}
	}

	printf("\n%-11s %7s %8s %8s %5s %7s %7s %8s %-8s %8s %9s\n", "path",
	       "vectors", "sent", "received", "lost", "p50 us", "p99 us",
	       "max us", "delivery", "relayed", "exits/irq");
	for (unsigned int k = 0; k < m->ndev; k++) {
		for (int p = 0; p < NPATHS; p++) {
			struct result *r = &res[k][p];
			const char *t = row_title(o, k, p, title, sizeof(title));

			if (!r->ran)
				continue;
			printf("%-11s %7u %8llu %8llu %5lld %7.1f %7.1f %8.1f "
			       "%-8s %8llu %9.1f\n", t, r->vectors,
			       (unsigned long long)r->sent,
			       (unsigned long long)r->received,
			       (long long)r->lost, r->p50_us, r->p99_us,
			       r->max_us, carried_by(r),
			       (unsigned long long)r->relayed,
			       r->exits_per_irq);
			if (r->lost || r->received != o->count)
				bad = true;
			if (o->delivery == IRQLINK_DELIVERY_KERNEL &&
			    r->relayed) {
				fprintf(stderr, "%s: %s: --delivery kernel, but "
					"the relay injected %llu interrupts\n",
					prog, t, (unsigned long long)r->relayed);
				bad = true;
			}
			if (r->timer_unmasks) {
				fprintf(stderr, "%s: %s: %llu INTx unmask(s) came "
					"from the acknowledgement timer: the "
					"guest did not acknowledge in time\n",
					prog, t,
					(unsigned long long)r->timer_unmasks);
				bad = true;
			}
		}
	}
	printf("\n");
	if (vm_machine_reqs(m))
		printf("note: a device asked %llu time(s) to be given back "
		       "(REQ)\n", (unsigned long long)vm_machine_reqs(m));
	for (unsigned int k = 0; k < m->ndev; k++) {
		struct vm_dev *d = &m->dev[k];

		if (vm_dev_disconnects(d))
			printf("note: device %u's server went away %llu time(s) "
			       "and came back %llu time(s), each time given "
			       "what the guest had programmed\n", k,
			       (unsigned long long)vm_dev_disconnects(d),
			       (unsigned long long)vm_dev_reconnects(d));
		irqlink_pci_get_stats(m->dev[k].pci, &ps);
		if (ps.no_route)
			printf("note: %llu MSI-X vectors found no free KVM route "
			       "and are relayed (KVM_SIGNAL_MSI needs none)\n",
			       (unsigned long long)ps.no_route);
		for (int p = 0; p < NPATHS; p++)
			if (res[k][p].ran && res[k][p].note[0])
				printf("%-11s %s\n",
				       row_title(o, k, p, title, sizeof(title)),
				       res[k][p].note);
	}
	free(res);
	if (o->nremote < o->ndev)
		printf("latency%s: device raise (TSC before the device's raise) "
		       "-> guest ISR entry (guest rdtsc; guest TSC == host TSC)\n",
		       o->nremote ? " (in-process devices)" : "");
	if (o->nremote)
		printf("latency%s: guest doorbell write -> guest ISR entry (guest "
		       "rdtsc both; the raise happens in the device's process)\n",
		       o->nremote < o->ndev ? " (vfio-user devices)" : "");
	printf("delivery: kernel = no relay injection in the row, relay = every "
	       "interrupt relayed, mixed = both (switching), doorbell = the "
	       "device's DMA write into the MSI doorbell window\n");
	if (bad) {
		fprintf(stderr, "%s: the run failed (see above)\n", prog);
		return EXIT_RUN_FAILED;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------------- */

/* The MSI-X rows follow the devices the guest found: a remote device's
 * table size is the server's. Returns 0 or the exit status. */
static int fit_devices(struct vm_machine *m, struct opts *o)
{
	for (unsigned int k = 0; k < m->ndev; k++) {
		volatile struct kg_ext_fn *f = &kg_ext(m->g)->fn[m->dev[k].fn];
		unsigned int table = f->msix_cap ? (f->msix_ctrl & 0x7ffu) + 1
						 : 0;

		o->table[k] = table;
		o->use[k] = o->msix_use ? o->msix_use : table;
		if (!strcmp(o->cmd, "demo") &&
		    (o->paths[PATH_MSIX] || o->paths[PATH_MSIX_DMA]) &&
		    (!table || o->use[k] > table)) {
			fprintf(stderr, "%s: device %u has %u MSI-X entries; "
				"the MSI-X row needs %u (--msix-use, or -p "
				"without msix)\n", prog, k, table,
				o->use[k] ? o->use[k] : 1);
			return EXIT_USAGE;
		}
	}
	return 0;
}

static int inject_fault(struct vm_machine *m, const struct opts *o)
{
	int err;

	if (!strcmp(o->fault, "exception")) {
		err = kg_mailbox(m->g, KG_CMD_UD2, 0, 0, 0, NULL,
				 (int)o->timeout_ms);
		return failed(m, "run ended", err ? err : -EPROTO);
	}
	err = kg_mailbox(m->g, KG_CMD_HANG, 0, 0, 0, NULL, (int)o->timeout_ms);
	if (err == -ETIMEDOUT) {
		fprintf(stderr, "%s: the guest did not answer within %u ms; "
			"giving up\n", prog, o->timeout_ms);
		return EXIT_RUN_FAILED;
	}
	return failed(m, "run ended", err ? err : -EPROTO);
}

int main(int argc, char **argv)
{
	struct vm_machine_config mc = { 0 };
	struct vm_machine *m;
	char err[256];
	struct opts o;
	int r;

	if (argv[0] && argv[0][0]) {
		const char *slash = strrchr(argv[0], '/');

		prog = slash ? slash + 1 : argv[0];
	}
	r = parse(argc, argv, &o);
	if (r)
		return r;

	mc.vcpus = o.vcpus;
	mc.intx_gsi = o.gsi;
	mc.delivery = o.delivery;
	mc.eoi = o.eoi;
	mc.eoi_probe = !o.eoi_given;
	mc.msix_vectors = o.msix_vectors;
	mc.ndevices = o.ndev;
	memcpy(mc.remotes, o.remotes, sizeof(mc.remotes));
	if (vm_machine_create(&mc, &m, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return EXIT_RUN_FAILED;
	}
	if (vm_machine_boot(m, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		vm_machine_destroy(m);
		return EXIT_RUN_FAILED;
	}
	r = fit_devices(m, &o);
	if (r)
		;
	else if (o.fault)
		r = inject_fault(m, &o);
	else if (!strcmp(o.cmd, "probe"))
		r = probe(m);
	else
		r = demo(m, &o);
	vm_machine_destroy(m);
	return r;
}
