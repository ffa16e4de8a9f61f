/* SPDX-License-Identifier: MIT */
/*
 * The machine a run measured, read at run time: machines of one kind
 * differ (CPU model, TSC rate), and a report that names another machine's
 * figures would be worse than none.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The vCPU's TSC frequency as KVM reports it, as a cross-check of the
 * calibration. A vCPU ioctl: done on a guest that is not running. */
static double kvm_tsc_mhz(void)
{
	struct kg_guest *g;
	int vm = kg_vm_create(), khz = -1;

	if (vm < 0)
		return 0;
	if (!kg_create(vm, &g)) {
		khz = ioctl(kg_vcpu_fd(g), KVM_GET_TSC_KHZ, 0);
		kg_destroy(g);
	}
	close(vm);
	return khz > 0 ? khz / 1e3 : 0;
}

void bench_machine_read(struct bench_machine *m)
{
	static const char *const mods[] = { "kvm_pvm", "kvm_intel", "kvm_amd" };
	struct utsname u;
	char line[256];
	FILE *f;

	memset(m, 0, sizeof(*m));
	m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(m->cpu, sizeof(m->cpu), "unknown");
	if ((f = fopen("/proc/cpuinfo", "re"))) {
		while (fgets(line, sizeof(line), f)) {
			char *c = strchr(line, ':');

			if (strncmp(line, "model name", 10) || !c)
				continue;
			c += 1 + (c[1] == ' ');
			c[strcspn(c, "\n")] = 0;
			snprintf(m->cpu, sizeof(m->cpu), "%s", c);
			break;
		}
		fclose(f);
	}
	if (!uname(&u))
		snprintf(m->kernel, sizeof(m->kernel), "%s", u.release);
	snprintf(m->kvm, sizeof(m->kvm), "unknown");
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(line, sizeof(line), "/sys/module/%s", mods[i]);
		if (!access(line, F_OK)) {
			snprintf(m->kvm, sizeof(m->kvm), "%s", mods[i]);
			break;
		}
	}
	m->halt_poll_ns = -1;
	if ((f = fopen("/sys/module/kvm/parameters/halt_poll_ns", "re"))) {
		if (fscanf(f, "%ld", &m->halt_poll_ns) != 1)
			m->halt_poll_ns = -1;
		fclose(f);
	}
	m->tsc_mhz = bench_clock.tsc_hz / 1e6;
	m->kvm_tsc_mhz = kvm_tsc_mhz();
}
