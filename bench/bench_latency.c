/* SPDX-License-Identifier: MIT */
/*
 * The latency measurement: every selected path, in both regimes,
 * interleaved.
 *
 * The noise on a shared 2-core machine is larger than the differences
 * being measured, so every path is set up first (its own VM and guest),
 * the samples are split into rounds, and each round visits every row in
 * turn: a path in the halted regime, then the same path with its guest
 * spinning in ring 3. Each visit warms up (discarded), measures, then runs
 * the same count back to back for interrupts/s. A noisy second hits all
 * rows alike, so ratios within one run hold where absolute figures move.
 *
 * Measured samples wait cfg->gap_us before each trigger (the row's way):
 * the guest's ISR tail and idle loop run in KVM's instruction emulator on
 * kvm_pvm, so an interrupt sent as soon as the count moves would time the
 * end of the previous ISR instead of the path. The back-to-back loop has
 * no gap: the next trigger goes out as soon as the previous one was
 * counted, still one in flight.
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

const char *const bench_regime_name[BENCH_NREGIMES] = { "halted",
							  "running" };

static const struct {
	const struct bench_path *p;
	const size_t *n;
} groups[] = {
	{ bench_paths_kvm, &bench_paths_kvm_n },
	{ bench_paths_irqlink, &bench_paths_irqlink_n },
	{ bench_paths_many, &bench_paths_many_n },
	{ bench_paths_doorbell, &bench_paths_doorbell_n },
	{ bench_paths_device_thread, &bench_paths_device_thread_n },
	{ bench_paths_vm, &bench_paths_vm_n },
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

size_t bench_npaths(void)
{
	size_t n = 0;

	for (size_t k = 0; k < NGROUPS; k++)
		n += *groups[k].n;
	return n;
}

const struct bench_path *bench_path_at(size_t i)
{
	for (size_t k = 0; k < NGROUPS; k++) {
		if (i < *groups[k].n)
			return &groups[k].p[i];
		i -= *groups[k].n;
	}
	return NULL;
}

int bench_path_index(const char *name)
{
	for (size_t i = 0; i < bench_npaths(); i++)
		if (!strcmp(bench_path_at(i)->name, name))
			return (int)i;
	return -1;
}

/* A path, its baseline, the baseline's baseline...; or every path. */
static void select_paths(const char *sel, bool *on)
{
	bool all = !strcmp(sel, "all") || !strcmp(sel, "latency");
	int k = bench_path_index(sel);

	for (size_t i = 0; i < bench_npaths(); i++)
		on[i] = all;
	while (k >= 0) {
		const char *b = bench_path_at((size_t)k)->baseline;

		on[k] = true;
		k = b ? bench_path_index(b) : -1;
	}
}

enum chunk_mode {
	CHUNK_WARMUP,   /* checked, not kept */
	CHUNK_MEASURE,  /* latency: kept, each trigger after a gap */
	CHUNK_B2B,      /* back to back, no gap: only the loop's time counts */
};

static int run_chunk(struct run *r, unsigned int count, enum chunk_mode mode)
{
	struct bench_result *res = r->res;
	uint64_t gap = (uint64_t)(bench_clock.tsc_hz * r->cfg->gap_us / 1e6);
	uint64_t lat = 0, isr = 0, t0 = bench_tsc();
	int err;

	for (unsigned int i = 0; i < count; i++) {
		if (mode != CHUNK_B2B && gap) {
			uint64_t until = bench_tsc() + gap;

			while (bench_tsc() < until)
				if (r->wait == BENCH_WAIT_YIELD)
					sched_yield();
				else
					_mm_pause();
		}
		res->sent++;
		if ((err = r->p->sample(r, &lat, &isr)))
			return err;
		res->delivered++;
		if (mode == CHUNK_MEASURE) {
			res->lat_cyc[res->kept] = lat;
			res->isr_cyc[res->kept] = isr;
			for (int k = 0; k < BENCH_MAX_PARTS &&
			     r->p->parts[k]; k++)
				res->part_cyc[k][res->kept] = r->part[k];
			res->kept++;
		}
	}
	if (mode == CHUNK_B2B) {
		res->b2b_cyc += bench_tsc() - t0;
		res->b2b_n += count;
	}
	return 0;
}

/* One visit of a row: its share of warmup, measured and back-to-back
 * samples, in its regime. */
static int visit(struct run *r, enum bench_regime g, unsigned int share)
{
	const struct bench_cfg *cfg = r->cfg;
	int err, stop;

	if (r->p->resume && (err = r->p->resume(r)))
		return err;
	if (g == BENCH_RUNNING && (err = kg_spin_start(r->g)))
		return bench_why(r, err, "the guest would not spin in ring 3: "
				 "%s", strerror(-err));
	err = run_chunk(r, cfg->warmup, CHUNK_WARMUP);
	if (!err)
		err = run_chunk(r, share, CHUNK_MEASURE);
	if (!err)
		err = run_chunk(r, share, CHUNK_B2B);
	if (g == BENCH_RUNNING && (stop = kg_spin_stop(r->g)) && !err)
		err = bench_why(r, stop, "the guest would not stop spinning: "
				"%s", strerror(-stop));
	if (r->p->park)
		r->p->park(r);
	return err;
}

static void progress(const struct bench_cfg *cfg, unsigned int done,
		     uint64_t t0)
{
	double el = (double)(bench_now_ns() - t0) / 1e9;
	double eta = el / done * (cfg->rounds - done);

	if (cfg->quiet)
		return;
	fprintf(stderr, "\rirqlink-bench: round %u/%u, %.0f s, about %.0f s "
		"to go   ", done, cfg->rounds, el, eta);
	if (done == cfg->rounds)
		fprintf(stderr, "\n");
}

/* Every row of a path that has not failed yet fails with `why`. */
static void path_failed(struct bench_result *rows, int err, const char *why)
{
	for (int g = 0; g < BENCH_NREGIMES; g++) {
		struct bench_result *o = &rows[g];

		if (!o->ran || o->err)
			continue;
		o->err = err;
		snprintf(o->why, sizeof(o->why), "%s", why);
	}
}

void bench_latency_free(struct bench_result *res)
{
	for (size_t i = 0; i < bench_npaths() * BENCH_NREGIMES; i++) {
		free(res[i].lat_cyc);
		free(res[i].isr_cyc);
		res[i].lat_cyc = res[i].isr_cyc = NULL;
		for (int k = 0; k < BENCH_MAX_PARTS; k++) {
			free(res[i].part_cyc[k]);
			res[i].part_cyc[k] = NULL;
		}
	}
}

int bench_latency_run(const struct bench_cfg *cfg, struct bench_result *res)
{
	size_t np = bench_npaths();
	struct run *runs = calloc(np, sizeof(*runs));
	bool *on = calloc(np, sizeof(*on));
	uint64_t t0 = bench_now_ns();
	cpu_set_t saved;
	bool have_saved;
	int first = 0;

	if (!runs || !on) {
		free(runs);
		free(on);
		return -ENOMEM;
	}
	have_saved = sched_getaffinity(0, sizeof(saved), &saved) == 0;
	bench_pin_self(cfg->cpu_trigger);
	select_paths(cfg->path, on);
	memset(res, 0, np * BENCH_NREGIMES * sizeof(*res));
	for (size_t i = 0; i < np; i++) {
		struct bench_result *rows = &res[i * BENCH_NREGIMES];
		struct run *r = &runs[i];
		int err = 0;

		r->vm_fd = r->efd = r->rfd = -1;
		if (!on[i])
			continue;
		r->cfg = cfg;
		r->p = bench_path_at(i);
		r->wait = r->p->wait;
		r->timeout_cyc = (uint64_t)(bench_clock.tsc_hz *
					    cfg->timeout_ms / 1000);
		r->res = &rows[0];
		for (int g = 0; g < BENCH_NREGIMES; g++) {
			if (!cfg->regime[g])
				continue;
			rows[g].ran = true;
			rows[g].lat_cyc = calloc(cfg->samples, 8);
			rows[g].isr_cyc = calloc(cfg->samples, 8);
			if (!rows[g].lat_cyc || !rows[g].isr_cyc)
				err = -ENOMEM;
			for (int k = 0; k < BENCH_MAX_PARTS &&
			     r->p->parts[k]; k++)
				if (!(rows[g].part_cyc[k] =
				      calloc(cfg->samples, 8)))
					err = -ENOMEM;
		}
		err = err ? bench_why(r, err, "out of memory") : r->p->setup(r);
		if (!err && r->p->park)
			r->p->park(r);
		if (err) {
			char why[sizeof(rows[0].why)];

			memcpy(why, rows[0].why, sizeof(why));
			rows[0].err = 0;
			path_failed(rows, err, why);
		}
		if (!cfg->quiet)
			fprintf(stderr, "irqlink-bench: %-28s %s\n", r->p->name,
				err ? rows[0].why : "ready");
	}

	for (unsigned int round = 0; round < cfg->rounds; round++) {
		for (size_t i = 0; i < np; i++) {
			struct bench_result *rows = &res[i * BENCH_NREGIMES];
			struct run *r = &runs[i];

			for (int g = 0; on[i] && g < BENCH_NREGIMES; g++) {
				unsigned int share = cfg->samples / cfg->rounds;

				if (!rows[g].ran || rows[g].err)
					continue;
				if (round == cfg->rounds - 1)
					share = cfg->samples -
						(unsigned int)rows[g].kept;
				r->res = &rows[g];
				rows[g].err = visit(r, (enum bench_regime)g,
						    share);
				if (rows[g].err) {
					char why[sizeof(rows[g].why)];

					snprintf(why, sizeof(why), "not run: "
						 "the %s row failed first",
						 bench_regime_name[g]);
					path_failed(rows, rows[g].err, why);
				}
			}
		}
		progress(cfg, round + 1, t0);
	}

	for (size_t i = 0; i < np; i++) {
		if (!on[i])
			continue;
		bench_run_teardown(&runs[i]);
		for (int g = 0; g < BENCH_NREGIMES; g++) {
			struct bench_result *o = &res[i * BENCH_NREGIMES + g];

			if (!o->ran)
				continue;
			if (o->err && !first)
				first = o->err;
			bench_stat_fill(&o->lat, o->lat_cyc, o->kept);
			if (bench_path_at(i)->has_isr)
				bench_stat_fill(&o->isr, o->isr_cyc, o->kept);
			for (int k = 0; k < BENCH_MAX_PARTS; k++)
				if (o->part_cyc[k])
					bench_stat_fill(&o->part[k],
							o->part_cyc[k], o->kept);
			if (o->b2b_cyc)
				o->rate = (double)o->b2b_n * bench_clock.tsc_hz /
					  (double)o->b2b_cyc;
		}
	}
	if (have_saved)
		sched_setaffinity(0, sizeof(saved), &saved);
	free(runs);
	free(on);
	return first;
}
