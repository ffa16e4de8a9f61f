/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench's command line: options, the check that KVM can be used
 * at all, and the order of the parts.
 */
#include "bench.h"
#include "bench_scale.h"
#include "bench_vfu.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: irqlink-bench [--quick] [--path NAME|all|latency|scale]\n"
		"                     [--regime halted|running|both]\n"
		"                     [--samples N] [--warmup N] [--rounds N]\n"
		"                     [--gap-us N] [--timeout-ms N]\n"
		"                     [--cpu-vcpu C] [--cpu-trigger C] [--cpu-relay C]\n"
		"                     [--json] [--plots DIR] [--quiet] [--list]\n"
		"Measures each interrupt path from its trigger to the guest's ISR\n"
		"entry (or the end of its cycle), one interrupt in flight, in two\n"
		"regimes: the vCPU halted between interrupts and the vCPU running;\n"
		"every irqlink path beside its raw-KVM baseline from the same run.\n"
		"Then the cost of setting interrupts up as their number grows, and\n"
		"vfio-user's messages beside a raw socket and in-process calls.\n"
		"Defaults: --path all --regime both --samples 20000 --warmup 50\n"
		"--rounds 40 --gap-us 50 --timeout-ms 1000; vCPU and trigger on\n"
		"the first two CPUs this process may use, the relay rows' relays\n"
		"on the trigger's. --quick: 400 samples in\n"
		"4 rounds and the small sizes of the scale part (seconds).\n"
		"Exit status: 0 all delivered, 1 a path failed or the run could\n"
		"not start, 2 usage.\n");
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "irqlink-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(irqlink-bench --help for the options)\n");
	return 2;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool cpu_allowed(const cpu_set_t *set, int cpu)
{
	return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, set);
}

static void list_paths(void)
{
	for (size_t i = 0; i < bench_npaths(); i++)
		printf("%-28s %s\n", bench_path_at(i)->name,
		       bench_path_at(i)->what);
	printf("%-28s %s\n", "scale", "MSI-X enable, mask/unmask and the "
	       "bypass manager as their size grows");
	printf("%-28s %s\n", "vfio-user", "REGION_READ/WRITE and SET_IRQS "
	       "over vfio-user beside a raw socket and in-process");
}

/* Parse argv into *cfg. Returns 0, 1 when it printed help/list and the
 * caller should exit 0, or 2 on a usage error (message printed). */
int bench_parse(int argc, char **argv, struct bench_cfg *cfg)
{
	enum { OPT_SAMPLES = 256, OPT_WARMUP, OPT_ROUNDS, OPT_PATH, OPT_REGIME,
	       OPT_VCPU, OPT_TRIGGER, OPT_RELAY, OPT_TIMEOUT, OPT_GAP, OPT_JSON,
	       OPT_PLOTS, OPT_QUICK, OPT_QUIET, OPT_LIST, OPT_HELP };
	static const struct option opts[] = {
		{ "samples", required_argument, NULL, OPT_SAMPLES },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "regime", required_argument, NULL, OPT_REGIME },
		{ "cpu-vcpu", required_argument, NULL, OPT_VCPU },
		{ "cpu-trigger", required_argument, NULL, OPT_TRIGGER },
		{ "cpu-relay", required_argument, NULL, OPT_RELAY },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
		{ "gap-us", required_argument, NULL, OPT_GAP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "plots", required_argument, NULL, OPT_PLOTS },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool vset = false, tset = false, sset = false, rset = false;
	bool wset = false;
	unsigned long v;
	cpu_set_t set;
	int c, first = -1, second = -1;

	memset(cfg, 0, sizeof(*cfg));
	cfg->samples = 20000;
	cfg->warmup = 50;
	cfg->rounds = 40;
	cfg->timeout_ms = 1000;
	cfg->gap_us = 50;
	cfg->path = "all";
	cfg->cpu_relay = -1;    /* the trigger's */
	cfg->regime[BENCH_HALTED] = cfg->regime[BENCH_RUNNING] = true;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *a = optarg;

		switch (c) {
		case OPT_SAMPLES:
			if (!parse_uint(a, 10000000, &v) || !v)
				return usage_error("bad --samples '%s' "
						   "(1..10000000)", a);
			cfg->samples = (unsigned int)v;
			sset = true;
			break;
		case OPT_WARMUP:
			if (!parse_uint(a, 1000000, &v))
				return usage_error("bad --warmup '%s'", a);
			cfg->warmup = (unsigned int)v;
			wset = true;
			break;
		case OPT_ROUNDS:
			if (!parse_uint(a, 1000, &v) || !v)
				return usage_error("bad --rounds '%s' (1..1000)",
						   a);
			cfg->rounds = (unsigned int)v;
			rset = true;
			break;
		case OPT_PATH:
			if (strcmp(a, "all") && strcmp(a, "latency") &&
			    strcmp(a, "scale") && strcmp(a, "vfio-user") &&
			    bench_path_index(a) < 0)
				return usage_error("unknown --path '%s' "
						   "(irqlink-bench --list)", a);
			cfg->path = a;
			break;
		case OPT_REGIME:
			if (!strcmp(a, "both")) {
				cfg->regime[BENCH_HALTED] = true;
				cfg->regime[BENCH_RUNNING] = true;
			} else if (!strcmp(a, "halted") ||
				   !strcmp(a, "running")) {
				bool h = !strcmp(a, "halted");

				cfg->regime[BENCH_HALTED] = h;
				cfg->regime[BENCH_RUNNING] = !h;
			} else {
				return usage_error("bad --regime '%s' (halted, "
						   "running or both)", a);
			}
			break;
		case OPT_VCPU:
		case OPT_TRIGGER:
		case OPT_RELAY:
			if (!parse_uint(a, CPU_SETSIZE - 1, &v))
				return usage_error("bad CPU '%s'", a);
			if (c == OPT_VCPU) {
				cfg->cpu_vcpu = (int)v;
				vset = true;
			} else if (c == OPT_TRIGGER) {
				cfg->cpu_trigger = (int)v;
				tset = true;
			} else {
				cfg->cpu_relay = (int)v;
			}
			break;
		case OPT_TIMEOUT:
			if (!parse_uint(a, 600000, &v) || !v)
				return usage_error("bad --timeout-ms '%s'", a);
			cfg->timeout_ms = (unsigned int)v;
			break;
		case OPT_GAP:
			if (!parse_uint(a, 1000000, &v))
				return usage_error("bad --gap-us '%s'", a);
			cfg->gap_us = (unsigned int)v;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_PLOTS:
			if (!*a)
				return usage_error("empty --plots directory");
			cfg->plots = a;
			break;
		case OPT_QUICK:
			cfg->quick = true;
			break;
		case OPT_QUIET:
			cfg->quiet = true;
			break;
		case OPT_LIST:
			list_paths();
			return 1;
		case OPT_HELP:
			bench_usage(stdout);
			return 1;
		default:
			return usage_error("unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg->quick) {
		if (!sset)
			cfg->samples = 400;
		if (!rset)
			cfg->rounds = 4;
		if (!wset)
			cfg->warmup = 10;
	}
	if (cfg->samples < cfg->rounds)
		cfg->rounds = cfg->samples;

	if (sched_getaffinity(0, sizeof(set), &set))
		CPU_ZERO(&set);
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (first < 0)
			first = i;
		else if (second < 0)
			second = i;
	}
	if (!vset)
		cfg->cpu_vcpu = first < 0 ? 0 : first;
	if (!tset)
		cfg->cpu_trigger = second >= 0 && second != cfg->cpu_vcpu
				   ? second : (first >= 0 && first !=
					       cfg->cpu_vcpu ? first
							     : cfg->cpu_vcpu);
	if (!cpu_allowed(&set, cfg->cpu_vcpu))
		return usage_error("--cpu-vcpu %d is not an allowed CPU",
				   cfg->cpu_vcpu);
	if (!cpu_allowed(&set, cfg->cpu_trigger))
		return usage_error("--cpu-trigger %d is not an allowed CPU",
				   cfg->cpu_trigger);
	if (cfg->cpu_relay < 0)
		cfg->cpu_relay = cfg->cpu_trigger;
	if (!cpu_allowed(&set, cfg->cpu_relay))
		return usage_error("--cpu-relay %d is not an allowed CPU",
				   cfg->cpu_relay);
	return 0;
}

/* Can this process use KVM at all? Said in the user's terms, once,
 * before anything is measured. */
static int kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT)
		fprintf(stderr, "irqlink-bench: there is no /dev/kvm: this "
			"machine offers no KVM (load kvm_intel or kvm_amd, or "
			"run on a host with virtualization enabled)\n");
	else if (errno == EACCES || errno == EPERM)
		fprintf(stderr, "irqlink-bench: may not open /dev/kvm: add "
			"your user to the kvm group (and log in again), or run "
			"as root\n");
	else
		fprintf(stderr, "irqlink-bench: cannot open /dev/kvm: %s\n",
			strerror(errno));
	return -1;
}

/* Which parts a --path runs: "all" every one, a part's name that part,
 * a path name (or "latency") the latency part. */
static bool wants(const struct bench_cfg *cfg, const char *part)
{
	if (!strcmp(cfg->path, "all") || !strcmp(cfg->path, part))
		return true;
	return !strcmp(part, "latency") && strcmp(cfg->path, "scale") &&
	       strcmp(cfg->path, "vfio-user");
}

int bench_main(int argc, char **argv)
{
	struct bench_scale_cfg scfg = { 0 };
	struct bench_scale_result *scale = NULL;
	struct bench_vfu_cfg vcfg = { 0 };
	struct bench_vfu_result *vfu = NULL;
	struct bench_result *res = NULL;
	struct bench_machine m;
	struct bench_report rep;
	struct bench_cfg cfg;
	uint64_t t0;
	char why[256] = "";
	int r, failed = 0;

	r = bench_parse(argc, argv, &cfg);
	if (r)
		return r == 1 ? 0 : r;
	if (kvm_usable())
		return 1;
	bench_clock_init();
	bench_machine_read(&m);
	if (!cfg.quiet && cfg.cpu_vcpu == cfg.cpu_trigger)
		fprintf(stderr, "irqlink-bench: warning: vCPU and trigger "
			"share CPU %d; latencies will be several times "
			"higher\n", cfg.cpu_vcpu);
	t0 = bench_now_ns();
	if (wants(&cfg, "latency")) {
		res = calloc(bench_npaths() * BENCH_NREGIMES, sizeof(*res));
		if (!res) {
			fprintf(stderr, "irqlink-bench: out of memory\n");
			return 1;
		}
		failed |= bench_latency_run(&cfg, res) != 0;
	}
	if (wants(&cfg, "scale")) {
		if (!cfg.quiet)
			fprintf(stderr, "irqlink-bench: scale%s\n",
				cfg.quick ? " (quick sizes)" : "");
		scfg.quick = cfg.quick;
		if (bench_scale_run(&scfg, &scale, why, sizeof(why))) {
			fprintf(stderr, "irqlink-bench: scale: %s\n", why);
			failed = 1;
		}
	}
	/* Last: it forks the device's process, which is safe only while no
	 * other thread of ours (relays, vCPUs) is alive. */
	if (wants(&cfg, "vfio-user")) {
		if (!cfg.quiet)
			fprintf(stderr, "irqlink-bench: vfio-user%s\n",
				cfg.quick ? " (quick)" : "");
		vcfg.quick = cfg.quick;
		if (bench_vfu_run(&vcfg, &vfu, why, sizeof(why))) {
			fprintf(stderr, "irqlink-bench: vfio-user: %s\n", why);
			failed = 1;
		}
	}
	rep = (struct bench_report){ .cfg = &cfg, .m = &m, .res = res,
				     .scale = scale, .vfu = vfu,
				     .seconds = (double)(bench_now_ns() - t0) /
						1e9 };
	if (cfg.json) {
		struct json_object *j = bench_report_json(&rep);

		printf("%s\n", json_object_to_json_string_ext(j,
		       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		bench_report_text(stdout, &rep);
	}
	if (cfg.plots && bench_report_plots(&rep, why, sizeof(why))) {
		fprintf(stderr, "irqlink-bench: plots: %s\n", why);
		failed = 1;
	}
	if (res)
		bench_latency_free(res);
	free(res);
	bench_scale_free(scale);
	bench_vfu_free(vfu);
	return failed ? 1 : 0;
}
