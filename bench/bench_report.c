/* SPDX-License-Identifier: MIT */
/*
 * What a run found: a table for people, JSON (json-c) for machines, and
 * gnuplot plots. Every irqlink row is shown beside its baseline from the
 * same run and regime, with the ratio and the difference of the medians:
 * on a shared machine those hold where absolute figures move.
 */
#include "bench.h"
#include "bench_scale.h"
#include "bench_vfu.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const struct bench_result *row(const struct bench_report *r, size_t i,
				      int g)
{
	return &r->res[i * BENCH_NREGIMES + g];
}

/* The report's sections: the JSON's "group", the plots' files. */
enum plot_group { PLOT_PATHS, PLOT_RELAY, PLOT_VM, NPLOTS };

static const char *const plot_file[NPLOTS] = { "paths", "relay", "vm" };
static const char *const plot_title[NPLOTS] = {
	"interrupt and doorbell paths",
	"relays and their in-kernel floor (trigger thread yields)",
	"irqlink-vm machine rows and raw KVM behind a device thread (yield)",
};

static enum plot_group plot_group(const struct bench_path *p)
{
	if (p->plot == BENCH_PLOT_VM)
		return PLOT_VM;
	return p->wait == BENCH_WAIT_YIELD ? PLOT_RELAY : PLOT_PATHS;
}

static bool is_relay_group(const struct bench_path *p)
{
	return plot_group(p) == PLOT_RELAY;
}

static const struct bench_result *baseline(const struct bench_report *r,
					   size_t i, int g)
{
	const char *b = bench_path_at(i)->baseline;
	int k = b ? bench_path_index(b) : -1;
	const struct bench_result *o;

	if (k < 0)
		return NULL;
	o = row(r, (size_t)k, g);
	return o->ran && !o->err ? o : NULL;
}

static const char *wait_name(enum bench_wait w)
{
	return w == BENCH_WAIT_YIELD ? "yield" : "spin";
}

void bench_report_text(FILE *f, const struct bench_report *r)
{
	const struct bench_cfg *cfg = r->cfg;
	const struct bench_machine *m = r->m;

	fprintf(f, "irqlink-bench: %u samples/row in %u interleaved rounds "
		"(+%u warmup each), %u us idle before each measured trigger, "
		"vCPU on CPU %d, trigger on CPU %d, relays on CPU %d; %.0f s\n",
		cfg->samples, cfg->rounds, cfg->warmup, cfg->gap_us,
		cfg->cpu_vcpu, cfg->cpu_trigger, cfg->cpu_relay, r->seconds);
	fprintf(f, "machine: %ld CPUs, %s, kernel %s, %s, TSC %.2f MHz "
		"(calibrated; KVM says %.2f), halt_poll_ns %ld\n", m->nproc,
		m->cpu, m->kernel, m->kvm, m->tsc_mhz, m->kvm_tsc_mhz,
		m->halt_poll_ns);
	for (int g = 0; r->res && g < BENCH_NREGIMES; g++) {
		if (!cfg->regime[g])
			continue;
		fprintf(f, "\nvCPU %s between interrupts (%s); microseconds\n",
			bench_regime_name[g], g == BENCH_HALTED ?
			"the guest idles in sti; hlt" :
			"the guest spins in ring 3");
		fprintf(f, "%-28s %5s %6s %7s %7s %8s %7s  %-25s %7s %6s %7s\n",
			"path", "wait", "n", "p50", "p99", "max", "irq/s",
			"baseline", "b.p50", "x p50", "+p50");
		for (size_t i = 0; i < bench_npaths(); i++) {
			const struct bench_path *p = bench_path_at(i);
			const struct bench_result *o = row(r, i, g), *b;

			if (!o->ran)
				continue;
			if (o->err) {
				fprintf(f, "%-28s FAILED after %" PRIu64 " of %"
					PRIu64 " delivered: %s\n", p->name,
					o->delivered, o->sent, o->why);
				continue;
			}
			fprintf(f, "%-28s %5s %6" PRIu64 " %7.2f %7.2f %8.1f "
				"%7.0f", p->name, wait_name(p->wait), o->lat.n,
				o->lat.p50, o->lat.p99, o->lat.max, o->rate);
			if ((b = baseline(r, i, g)))
				fprintf(f, "  %-25s %7.2f %6.2f %+7.2f",
					p->baseline, b->lat.p50,
					o->lat.p50 / b->lat.p50,
					o->lat.p50 - b->lat.p50);
			fprintf(f, "\n");
		}
		for (size_t i = 0; i < bench_npaths(); i++) {
			const struct bench_path *p = bench_path_at(i);
			const struct bench_result *o = row(r, i, g);

			if (!o->ran || o->err || !p->parts[0])
				continue;
			fprintf(f, "  %s, where the time goes (p50):", p->name);
			for (int k = 0; k < BENCH_MAX_PARTS && p->parts[k]; k++)
				fprintf(f, "%s %s %.2f", k ? "," : "",
					p->parts[k], o->part[k].p50);
			fprintf(f, "\n");
		}
		for (size_t i = 0; i < bench_npaths(); i++) {
			const struct bench_result *o = row(r, i, g);

			if (o->ran && !o->err && bench_path_at(i)->has_isr)
				fprintf(f, "  %s: guest ISR entry p50 %.2f, "
					"p99 %.2f\n", bench_path_at(i)->name,
					o->isr.p50, o->isr.p99);
		}
	}
	if (r->res) {
		fprintf(f, "\npaths:\n");
		for (size_t i = 0; i < bench_npaths(); i++)
			if (row(r, i, 0)->ran || row(r, i, 1)->ran)
				fprintf(f, "  %-28s %s\n",
					bench_path_at(i)->name,
					bench_path_at(i)->what);
	}
	if (r->scale) {
		fprintf(f, "\n");
		bench_scale_print(f, r->scale);
	}
	if (r->vfu) {
		fprintf(f, "\n");
		bench_vfu_print(f, r->vfu);
	}
}

struct json_object *bench_json_num(double v)
{
	return isnan(v) ? NULL : json_object_new_double(v);
}

static struct json_object *jstat(const struct bench_stat *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "p50_us", json_object_new_double(s->p50));
	json_object_object_add(o, "p99_us", json_object_new_double(s->p99));
	json_object_object_add(o, "min_us", json_object_new_double(s->min));
	json_object_object_add(o, "max_us", json_object_new_double(s->max));
	return o;
}

#define JADD(o, k, v) json_object_object_add((o), (k), (v))

struct json_object *bench_report_json(const struct bench_report *r)
{
	const struct bench_cfg *cfg = r->cfg;
	const struct bench_machine *m = r->m;
	struct json_object *top = json_object_new_object();
	struct json_object *c = json_object_new_object();
	struct json_object *mj = json_object_new_object();
	struct json_object *rows = json_object_new_array();

	JADD(c, "samples", json_object_new_int64(cfg->samples));
	JADD(c, "warmup", json_object_new_int64(cfg->warmup));
	JADD(c, "rounds", json_object_new_int64(cfg->rounds));
	JADD(c, "gap_us", json_object_new_int64(cfg->gap_us));
	JADD(c, "cpu_vcpu", json_object_new_int(cfg->cpu_vcpu));
	JADD(c, "cpu_trigger", json_object_new_int(cfg->cpu_trigger));
	JADD(c, "cpu_relay", json_object_new_int(cfg->cpu_relay));
	JADD(c, "path", json_object_new_string(cfg->path));
	JADD(c, "quick", json_object_new_boolean(cfg->quick));
	JADD(top, "config", c);
	JADD(mj, "nproc", json_object_new_int64(m->nproc));
	JADD(mj, "cpu", json_object_new_string(m->cpu));
	JADD(mj, "kernel", json_object_new_string(m->kernel));
	JADD(mj, "kvm", json_object_new_string(m->kvm));
	JADD(mj, "tsc_mhz", json_object_new_double(m->tsc_mhz));
	JADD(mj, "kvm_tsc_mhz", json_object_new_double(m->kvm_tsc_mhz));
	JADD(mj, "halt_poll_ns", json_object_new_int64(m->halt_poll_ns));
	JADD(top, "machine", mj);
	JADD(top, "seconds", json_object_new_double(r->seconds));
	for (size_t i = 0; r->res && i < bench_npaths(); i++) {
		const struct bench_path *p = bench_path_at(i);

		for (int g = 0; g < BENCH_NREGIMES; g++) {
			const struct bench_result *o = row(r, i, g), *b;
			struct json_object *j;

			if (!o->ran)
				continue;
			j = json_object_new_object();
			JADD(j, "path", json_object_new_string(p->name));
			JADD(j, "regime",
			     json_object_new_string(bench_regime_name[g]));
			JADD(j, "wait",
			     json_object_new_string(wait_name(p->wait)));
			JADD(j, "group", json_object_new_string(
					    plot_file[plot_group(p)]));
			JADD(j, "what", json_object_new_string(p->what));
			JADD(j, "baseline", p->baseline ?
			     json_object_new_string(p->baseline) : NULL);
			JADD(j, "ok", json_object_new_boolean(!o->err));
			JADD(j, "sent", json_object_new_int64((int64_t)o->sent));
			JADD(j, "delivered",
			     json_object_new_int64((int64_t)o->delivered));
			JADD(j, "samples",
			     json_object_new_int64((int64_t)o->lat.n));
			JADD(j, "irqs_per_s", json_object_new_double(o->rate));
			JADD(j, "latency", jstat(&o->lat));
			if (p->has_isr)
				JADD(j, "isr_entry", jstat(&o->isr));
			if (p->parts[0]) {
				struct json_object *pj = json_object_new_array();

				for (int k = 0; k < BENCH_MAX_PARTS &&
				     p->parts[k]; k++) {
					struct json_object *x = jstat(&o->part[k]);

					JADD(x, "name",
					     json_object_new_string(p->parts[k]));
					json_object_array_add(pj, x);
				}
				JADD(j, "parts", pj);
			}
			if (!o->err && (b = baseline(r, i, g))) {
				JADD(j, "ratio_p50", json_object_new_double(
					     o->lat.p50 / b->lat.p50));
				JADD(j, "ratio_p99", json_object_new_double(
					     o->lat.p99 / b->lat.p99));
				JADD(j, "delta_p50_us", json_object_new_double(
					     o->lat.p50 - b->lat.p50));
			}
			if (o->err)
				JADD(j, "error", json_object_new_string(o->why));
			json_object_array_add(rows, j);
		}
	}
	JADD(top, "rows", rows);
	if (r->scale)
		JADD(top, "scale", bench_scale_json(r->scale));
	if (r->vfu)
		JADD(top, "vfio_user", bench_vfu_json(r->vfu));
	return top;
}

/* ---- Plots ------------------------------------------------------------------ */

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "we")))
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* One CDF data file per row: about 400 points of the sorted samples. */
static int cdf_data(const struct bench_report *r, size_t i, int g,
		    const char *dir)
{
	const struct bench_result *o = row(r, i, g);
	char path[4096], name[128];
	uint64_t step;
	FILE *f;

	snprintf(name, sizeof(name), "%s-%s.dat", bench_path_at(i)->name,
		 bench_regime_name[g]);
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '_';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "we")))
		return -errno;
	step = o->kept / 400 ? o->kept / 400 : 1;
	for (uint64_t k = 0; k < o->kept; k += step)
		fprintf(f, "%.3f %.5f\n", bench_cyc_to_us(o->lat_cyc[k]),
			(double)(k + 1) / (double)o->kept);
	fprintf(f, "%.3f 1\n", bench_cyc_to_us(o->lat_cyc[o->kept - 1]));
	return fclose(f) ? -errno : 0;
}

static bool plotted(const struct bench_path *p, const struct bench_result *o,
		    int grp)
{
	return o->ran && !o->err && o->kept &&
	       plot_group(p) == (enum plot_group)grp;
}

/* Rows plot @grp would draw in regime @g: none, no plot (an empty PNG
 * would be left otherwise). */
static size_t group_rows(const struct bench_report *r, int grp, int g)
{
	size_t n = 0;

	for (size_t i = 0; i < bench_npaths(); i++)
		n += plotted(bench_path_at(i), row(r, i, g), grp);
	return n;
}

/* The gnuplot script: one CDF per regime for each plot group, and the
 * relay group's medians side by side. */
static int plot_script(const struct bench_report *r, const char *dir)
{
	size_t cap = 65536, len = 0;
	char *s = malloc(cap);
	bool relays = false;
	int err;

#define OUT(...) (len += (size_t)snprintf(s + len, len < cap ? cap - len : 0, \
					   __VA_ARGS__))
	if (!s)
		return -ENOMEM;
	OUT("set terminal pngcairo size 1000,650 noenhanced\n"
	    "set logscale x\nset xlabel 'latency (us), log scale'\n"
	    "set ylabel 'fraction of samples'\nset key bottom right\n"
	    "set grid\nset yrange [0:1]\n");
	for (int grp = 0; grp < NPLOTS; grp++)
		for (int g = 0; g < BENCH_NREGIMES; g++) {
			bool first = true;

			if (!r->cfg->regime[g] || !group_rows(r, grp, g))
				continue;
			OUT("set output 'cdf-%s-%s.png'\nset title '%s, vCPU %s'"
			    "\n", plot_file[grp], bench_regime_name[g],
			    plot_title[grp], bench_regime_name[g]);
			for (size_t i = 0; i < bench_npaths(); i++) {
				const struct bench_path *p = bench_path_at(i);
				const struct bench_result *o = row(r, i, g);
				char name[128];

				if (!plotted(p, o, grp))
					continue;
				snprintf(name, sizeof(name), "%s-%s.dat",
					 p->name, bench_regime_name[g]);
				for (char *c = name; *c; c++)
					if (*c == '/')
						*c = '_';
				/* Raw rows (no baseline of their own) dashed,
				 * so a row and its baseline read apart. */
				OUT("%s'%s' using 1:2 with lines lw 2 dt %d "
				    "title '%s'", first ? "plot " : ", ", name,
				    p->baseline ? 1 : 2, p->name);
				first = false;
			}
			OUT("\n");
		}
	/* gnuplot refuses a histogram of no rows (--path of another kind). */
	for (size_t i = 0; i < bench_npaths() && !relays; i++)
		relays = is_relay_group(bench_path_at(i)) &&
			 (row(r, i, BENCH_HALTED)->ran ||
			  row(r, i, BENCH_RUNNING)->ran);
	if (relays)
		OUT("unset logscale x\nset xlabel ''\nset ylabel 'p50 (us)'\n"
		    "set yrange [0:*]\nset style data histogram\n"
		    "set style histogram clustered gap 1\n"
		    "set style fill solid 0.8\n"
		    "set xtics rotate by -30\nset key top left\n"
		    "set output 'relay-p50.png'\n"
		    "set title 'relay vs in-kernel: p50 (trigger thread "
		    "yields)'\n"
		    "plot 'relay-p50.dat' using 2:xtic(1) title 'halted', "
		    "'' using 3 title 'running'\n");
	if (len >= cap) {
		free(s);
		return -E2BIG;
	}
	err = write_file(dir, "plots.gp", s);
	len = 0;
	OUT("# path halted_p50_us running_p50_us\n");
	for (size_t i = 0; i < bench_npaths(); i++) {
		const struct bench_path *p = bench_path_at(i);
		const struct bench_result *h = row(r, i, BENCH_HALTED);
		const struct bench_result *u = row(r, i, BENCH_RUNNING);

		if (!is_relay_group(p) || (!h->ran && !u->ran))
			continue;
		OUT("%s %.3f %.3f\n", p->name, h->ran && !h->err ? h->lat.p50 : 0,
		    u->ran && !u->err ? u->lat.p50 : 0);
	}
	if (!err)
		err = len < cap ? write_file(dir, "relay-p50.dat", s) : -E2BIG;
	free(s);
	return err;
#undef OUT
}

/* MSI-X enable cost against the vector count, each way of enabling: a
 * script of its own, run after plots.gp. */
static int scale_plot(const struct bench_scale_result *sc, const char *dir)
{
	static const char *const way[] = { "glue", "batched", "per-vector" };
	char path[4096];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/scale-enable.dat", dir);
	if (!(f = fopen(path, "we")))
		return -errno;
	fprintf(f, "# vectors");
	for (int w = 0; w < BENCH_SCALE_WAYS; w++)
		fprintf(f, " %s_ms", way[w]);
	fprintf(f, "\n");
	for (unsigned int k = 0; k < sc->nenable; k++) {
		fprintf(f, "%u", sc->enable[k].vectors);
		for (int w = 0; w < BENCH_SCALE_WAYS; w++)
			fprintf(f, " %.4f", sc->enable[k].way[w].total_ms);
		fprintf(f, "\n");
	}
	if (fclose(f))
		return -errno;
	err = write_file(dir, "scale.gp",
		"set terminal pngcairo size 1000,650 noenhanced\n"
		"set output 'scale-enable.png'\n"
		"set title 'MSI-X enable: whole enable time against vectors'\n"
		"set logscale xy\nset grid\nset key top left\n"
		"set xlabel 'vectors'\nset ylabel 'ms, log scale'\n"
		"plot 'scale-enable.dat' using 1:2 with linespoints lw 2 "
		"title 'irqlink PCI glue (one commit)', "
		"'' using 1:3 with linespoints lw 2 title 'consumers, one batch', "
		"'' using 1:4 with linespoints lw 2 "
		"title 'consumers, one commit per vector'\n");
	return err;
}

extern char **environ;

static int gnuplot(const char *dir, const char *script, char *why,
		   size_t len)
{
	char *argv[] = { "gnuplot", (char *)script, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err, st;

	if ((err = posix_spawn_file_actions_init(&fa)))
		return -err;
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	err = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		snprintf(why, len, "cannot run gnuplot (%s): install it with "
			 "apt-get install gnuplot-nox", strerror(err));
		return -err;
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(why, len, "gnuplot failed on %s/%s", dir, script);
		return -EIO;
	}
	return 0;
}

int bench_report_plots(const struct bench_report *r, char *why, size_t len)
{
	const char *dir = r->cfg->plots;
	int err;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = -errno;
		snprintf(why, len, "cannot make %s: %s", dir, strerror(-err));
		return err;
	}
	for (size_t i = 0; r->res && i < bench_npaths(); i++)
		for (int g = 0; g < BENCH_NREGIMES; g++) {
			const struct bench_result *o = row(r, i, g);

			if (o->ran && !o->err && o->kept &&
			    (err = cdf_data(r, i, g, dir))) {
				snprintf(why, len, "writing to %s: %s", dir,
					 strerror(-err));
				return err;
			}
		}
	if (r->res && (err = plot_script(r, dir))) {
		snprintf(why, len, "writing to %s: %s", dir, strerror(-err));
		return err;
	}
	if (r->scale && (err = scale_plot(r->scale, dir))) {
		snprintf(why, len, "writing to %s: %s", dir, strerror(-err));
		return err;
	}
	if (r->res && (err = gnuplot(dir, "plots.gp", why, len)))
		return err;
	if (r->scale && (err = gnuplot(dir, "scale.gp", why, len)))
		return err;
	return 0;
}
