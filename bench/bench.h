/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench's parts, shared between its files.
 *
 * A *path* is one way of getting an interrupt (or a doorbell) from its
 * source to its end: raw KVM ioctls, irqlink's consumer, a relay. A *row*
 * is a path measured in one *regime*: the guest halted between interrupts
 * (`sti; hlt`, so each interrupt first wakes the vCPU) or running (spinning
 * in ring 3, kg_spin_start()). Each path has its own VM and guest; the two
 * regimes take turns on that guest.
 *
 * Files: bench_clock.c (TSC, statistics), bench_run.c (a path's VM, guest
 * and waits), paths_kvm.c (raw KVM and the naive relay: the baselines),
 * paths_irqlink.c (irqlink's paths), paths_many.c (many vectors and
 * devices), paths_doorbell.c (guest -> host), paths_device_thread.c (raw
 * KVM behind a device thread) and paths_vm.c (irqlink-vm's machine),
 * bench_latency.c (the interleaved measurement), bench_scale.c (cost as
 * the work grows), bench_machine.c, bench_report.c (table, JSON, plots),
 * bench_cli.c (the command line) and irqlink_bench.c (main).
 */
#ifndef IRQLINK_BENCH_H
#define IRQLINK_BENCH_H

#include <irqlink/irqlink.h>

#include "kvm_guest.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

/* Parts a path may split its latency into (where the time goes). */
#define BENCH_MAX_PARTS 4

enum bench_regime {
	BENCH_HALTED = 0,  /* guest in `sti; hlt` between interrupts */
	BENCH_RUNNING,     /* guest spinning in ring 3, interrupts on */
	BENCH_NREGIMES,
};

/* How the trigger thread waits for the end of a sample. A row and its
 * baseline always wait the same way. */
enum bench_wait {
	BENCH_WAIT_SPIN = 0, /* pause in a loop: the trigger CPU is ours */
	BENCH_WAIT_YIELD,    /* sched_yield in a loop: a relay thread shares
			      * the trigger CPU and must get to run */
};

struct bench_cfg {
	unsigned int samples;    /* measured samples per row */
	unsigned int warmup;     /* discarded samples before each chunk */
	unsigned int rounds;     /* chunks per row, interleaved */
	unsigned int timeout_ms; /* every wait */
	unsigned int gap_us;     /* idle time before each measured trigger */
	int cpu_vcpu, cpu_trigger;
	int cpu_relay;           /* the relay rows' relay threads */
	bool regime[BENCH_NREGIMES]; /* which regimes to measure */
	const char *path;        /* a path name, "all", "latency", "scale" or
				  * "vfio-user" */
	const char *plots;       /* directory for gnuplot plots, or NULL */
	bool json;
	bool quick;
	bool quiet;              /* no progress on stderr */
};

struct bench_stat {
	uint64_t n;
	double p50, p99, min, max; /* microseconds */
};

/* One row: a path in a regime. */
struct bench_result {
	bool ran;
	int err;                 /* 0, or the -errno the row failed with */
	char why[200];
	uint64_t sent;           /* triggers, warmup included */
	uint64_t delivered;      /* of those, seen at the end of the path */
	uint64_t kept;           /* measured samples so far */
	uint64_t b2b_n, b2b_cyc; /* the back-to-back loop */
	struct bench_stat lat;   /* the path's latency */
	struct bench_stat isr;   /* ISR entry, for paths that end later */
	double rate;             /* interrupts/s, back to back */
	uint64_t *lat_cyc, *isr_cyc; /* sorted once the run is over */
	struct bench_stat part[BENCH_MAX_PARTS];
	uint64_t *part_cyc[BENCH_MAX_PARTS];
};

struct bench_path;

/* One path's live state. */
struct run {
	const struct bench_cfg *cfg;
	const struct bench_path *p;
	struct bench_result *res; /* the row being measured now */
	uint64_t timeout_cyc;
	enum bench_wait wait;

	struct kg_guest *g;
	int vm_fd;                 /* raw paths: ours, from kg_vm_create() */
	struct irqlink_vm *vm;     /* irqlink paths */
	struct irqlink_dev *dev;
	struct irqlink_bypass *bypass;
	struct irqlink_relay *relay;
	struct irqlink_consumer *cons;
	struct bench_naive_relay *naive;
	struct bench_many *many;   /* paths_many.c */
	struct bench_devthread *devthread; /* paths_device_thread.c */
	struct bench_vm *vmrow;    /* paths_vm.c: irqlink-vm's machine */
	int efd, rfd;              /* trigger eventfd, resamplefd/unmask */
	unsigned int vector;
	unsigned int pin;
	uint64_t expected;         /* guest count of `vector` after the sample */
	uint64_t unmasks;          /* device intx_unmasks after the sample */
	uint64_t part[BENCH_MAX_PARTS]; /* the sample's parts, if the path has */

	volatile uint64_t *db_slot, *db_count;
	uint64_t db_expected;      /* doorbells rung so far */
	uint64_t mmio_tsc, mmio_count; /* written on the vCPU thread (atomic) */
	kg_mmio_fn mmio_fn;        /* if set before the guest boots: its MMIO
				    * exits, with the run as opaque */
	kg_pio_fn pio_fn;          /* and its port I/O exits */
	bool exits_ready;          /* atomic: set (release) once setup is done;
				    * the handlers read the run only after
				    * seeing it (acquire) */
};

/* Which latency plot a path is drawn in. */
enum bench_plot {
	BENCH_PLOT_BY_WAIT = 0, /* spin: interrupt and doorbell paths;
				 * yield: relays and their floor */
	BENCH_PLOT_VM,          /* irqlink-vm's machine and its baselines */
};

struct bench_path {
	const char *name;
	const char *baseline;  /* the path it is compared with, or NULL */
	const char *what;
	int (*setup)(struct run *r);
	/* One interrupt: trigger, wait, *lat (and *isr, if has_isr) in TSC
	 * cycles. */
	int (*sample)(struct run *r, uint64_t *lat, uint64_t *isr);
	bool has_isr;
	enum bench_wait wait;
	/* Optional: take the path's helpers out of the way between its
	 * visits, and bring them back (untimed). A busy-polling relay spins
	 * on the trigger CPU and would tax every other row's measurement. */
	void (*park)(struct run *r);
	int (*resume)(struct run *r);
	/* Names of the parts the sample fills in r->part[] (up to a NULL),
	 * each measured from where the one before ends unless its name
	 * says otherwise. */
	const char *parts[BENCH_MAX_PARTS];
	enum bench_plot plot;
};

/* ---- bench_clock.c ------------------------------------------------------ */

/* The TSC rate, calibrated once per process by bench_clock_init(). */
struct bench_clock {
	double tsc_hz;
};
extern struct bench_clock bench_clock;
void bench_clock_init(void);
uint64_t bench_tsc(void);
uint64_t bench_now_ns(void);
double bench_cyc_to_us(uint64_t c);
/* Median of v[0..n) (sorts it); NAN if n is 0 or any value is NAN: a
 * figure not seen in one repetition is unknown rather than biased. */
double bench_median(double *v, unsigned int n);
/* Write the message into why[len] (if len) and return err. */
int bench_say(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* bench_limits.c: raise the soft RLIMIT_NOFILE to @need if it is lower
 * (@what needs them, for the message). *@old (if not NULL) gets the limit
 * as it was, to put back. Returns 0 or -errno with why[len] filled. */
int bench_nofile_room(rlim_t need, const char *what, struct rlimit *old,
		      char *why, size_t len);
/* Sort v[0..n) and fill *s (microseconds). */
void bench_stat_fill(struct bench_stat *s, uint64_t *v, uint64_t n);

/* ---- bench_run.c: a path's VM, guest and waits -------------------------- */

int bench_why(struct run *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int bench_pin_self(int cpu);
int bench_eventfd(void);
int bench_signal(int fd);
struct kvm_msi bench_msi_to(unsigned int vector);
/* A routing table with the irqchip pins (IOAPIC 0-23, PIC 0-15) and room
 * for @extra more entries: KVM_SET_GSI_ROUTING replaces the whole table,
 * so the pins must be in every table. NULL when out of memory. */
struct kvm_irq_routing *bench_pin_routes(unsigned int extra);
/* Append an MSI route to APIC 0, @vector, fixed, edge. */
void bench_msi_route(struct kvm_irq_routing *t, uint32_t gsi,
		    unsigned int vector);
int bench_raw_vm(struct run *r);
int bench_lib_vm(struct run *r);
int bench_guest_boot(struct run *r, int vm_fd);
int bench_program_pin(struct run *r, unsigned int pin, unsigned int vector,
		      unsigned int flags);
/* Wait, the row's way, for one poll; every 256 polls check the deadline
 * and that the guest is alive. */
struct bench_spin {
	uint64_t deadline;
	unsigned int n;
};
void bench_spin_init(struct run *r, struct bench_spin *s);
int bench_spin_check(struct run *r, struct bench_spin *s, const char *what);
/* Wait until the guest counted interrupt r->expected on r->vector. */
int bench_wait_isr(struct run *r);
/* Latency from t0 to the ISR entry of the interrupt just counted. */
int bench_isr_latency(struct run *r, uint64_t t0, uint64_t *out);
int bench_spin_read(struct run *r, int fd, const char *what);
/* Both ends of an INTx cycle at once (see bench_run.c). */
int bench_wait_intx_cycle(struct run *r, int (*cycle_done)(struct run *r),
			  uint64_t *t_done);
/* Trigger = one eventfd write on r->efd; end = guest ISR entry. */
int bench_sample_efd_isr(struct run *r, uint64_t *lat, uint64_t *isr);
/* Trigger = one eventfd write on r->efd; end = the INTx cycle's end
 * (cycle_done, see bench_wait_intx_cycle()), ISR entry in *isr. */
int bench_sample_efd_cycle(struct run *r, int (*cycle_done)(struct run *r),
			   uint64_t *lat, uint64_t *isr);
/* Trigger = KVM_SIGNAL_MSI of r->vector, through irqlink_vm_signal_msi()
 * on an irqlink VM, the raw ioctl otherwise; end = ISR entry. */
int bench_sample_signal_msi(struct run *r, uint64_t *lat, uint64_t *isr);
/* Trigger = irqlink_dev_msi_fire(MSI-X vector 0); end = ISR entry. */
int bench_sample_dev_msi(struct run *r, uint64_t *lat, uint64_t *isr);
void bench_run_teardown(struct run *r);

/* ---- The paths ----------------------------------------------------------- */

extern const struct bench_path bench_paths_kvm[];
extern const size_t bench_paths_kvm_n;
extern const struct bench_path bench_paths_irqlink[];
extern const size_t bench_paths_irqlink_n;
extern const struct bench_path bench_paths_doorbell[];
extern const size_t bench_paths_doorbell_n;
/* The guest's timed doorbell (paths_doorbell.c): an ISR that stamps the
 * TSC and writes 4 bytes at @target (guest-physical, MMIO) installed in
 * r->g; bench_db_ring() runs it (KVM_SIGNAL_MSI, untimed);
 * bench_db_guest_tsc() waits until it has run and gives the guest's TSC
 * right before its write. */
int bench_db_install(struct run *r, uint64_t target);
/* An address the guest's page tables map and no memslot backs: the raw
 * rows' doorbell. */
#define BENCH_DB_GPA 0x40000000
int bench_db_ring(struct run *r);
int bench_db_guest_tsc(struct run *r, uint64_t *t);
extern const struct bench_path bench_paths_many[];
extern const size_t bench_paths_many_n;
void bench_many_destroy(struct bench_many *m);
extern const struct bench_path bench_paths_device_thread[];
extern const size_t bench_paths_device_thread_n;
void bench_devthread_destroy(struct bench_devthread *d);
/* Trigger = the guest's timed doorbell write (bench_db_install()); end =
 * the ISR entry of the MSI on r->vector that the device raised for it. */
int bench_sample_doorbell_msi(struct run *r, uint64_t *lat, uint64_t *isr);
extern const struct bench_path bench_paths_vm[];
extern const size_t bench_paths_vm_n;
/* Destroys the machine and its guest (r->g) and stops its device
 * process. */
void bench_vm_teardown(struct run *r);
/* Raw setups and samplers of paths_kvm.c that the device-thread rows
 * reuse. */
int bench_kvm_setup_msi_irqfd(struct run *r);
int bench_kvm_setup_signal_msi(struct run *r);
int bench_kvm_setup_level_resample(struct run *r);
int bench_kvm_sample_level_resample(struct run *r, uint64_t *lat,
				    uint64_t *isr);
/* The naive relay (paths_kvm.c): torn down by bench_run_teardown(). */
void bench_naive_relay_destroy(struct bench_naive_relay *n);

/* ---- bench_latency.c ------------------------------------------------------ */

/* Every path, in report order. */
size_t bench_npaths(void);
const struct bench_path *bench_path_at(size_t i);
int bench_path_index(const char *name);
extern const char *const bench_regime_name[BENCH_NREGIMES];

/*
 * Measure every row cfg->path selects into res[path * BENCH_NREGIMES +
 * regime] (bench_npaths() * BENCH_NREGIMES entries; rows not selected have
 * ran == false). A path whose setup fails is reported FAILED and the others
 * go on; so does a row that loses an interrupt. Returns 0 if every selected
 * row delivered every sample, else the first row's error.
 */
int bench_latency_run(const struct bench_cfg *cfg, struct bench_result *res);
void bench_latency_free(struct bench_result *res);

/* ---- bench_machine.c ------------------------------------------------------ */

struct bench_machine {
	long nproc;
	char cpu[128];
	char kernel[128];
	char kvm[32];
	double tsc_mhz;
	double kvm_tsc_mhz;   /* KVM_GET_TSC_KHZ of a vCPU, 0 if unknown */
	long halt_poll_ns;    /* kvm's halt_poll_ns, -1 if unknown: within
			       * it a halted vCPU polls instead of sleeping */
};
void bench_machine_read(struct bench_machine *m);

/* ---- bench_report.c ------------------------------------------------------- */

struct bench_scale_result;
struct bench_vfu_result;
struct bench_report {
	const struct bench_cfg *cfg;
	const struct bench_machine *m;
	const struct bench_result *res;  /* NULL if no latency rows ran */
	const struct bench_scale_result *scale; /* NULL if not run */
	const struct bench_vfu_result *vfu;     /* NULL if not run */
	double seconds;
};
void bench_report_text(FILE *f, const struct bench_report *r);
struct json_object *bench_report_json(const struct bench_report *r);
/* A JSON number, or NULL (JSON null) for NAN: a figure not measured.
 * json-c would write NaN as a bare token, which is not JSON. */
struct json_object *bench_json_num(double v);
/* gnuplot data and scripts into cfg->plots, then gnuplot itself. Returns
 * 0 or -errno with why filled. */
int bench_report_plots(const struct bench_report *r, char *why, size_t len);

/* ---- bench_cli.c ----------------------------------------------------------- */

void bench_usage(FILE *f);
/* Parse argv into *cfg. Returns 0, 1 when it printed help or the list
 * (exit 0), or 2 on a usage error (message printed). */
int bench_parse(int argc, char **argv, struct bench_cfg *cfg);
/* The whole tool; returns its exit status. */
int bench_main(int argc, char **argv);

#endif
