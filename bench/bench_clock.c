/* SPDX-License-Identifier: MIT */
/*
 * Time for irqlink-bench: the TSC, calibrated once, percentiles and
 * medians, and the one way its parts word an error.
 *
 * Samples are TSC differences. On these machines the guest's TSC is the
 * host's (offset 0), so a guest ISR's rdtsc and the host's rdtsc before the
 * trigger can be subtracted without any clock crossing threads.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

struct bench_clock bench_clock;

uint64_t bench_tsc(void)
{
	/* Keep the read from drifting after the trigger call's start. */
	_mm_lfence();
	return __rdtsc();
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ~100 ms against CLOCK_MONOTONIC: the rate differs between machines of
 * one kind (2.0-2.45 GHz seen), so it is never assumed. */
void bench_clock_init(void)
{
	struct timespec d = { 0, 100 * 1000 * 1000 };
	uint64_t n0, t0, n1, t1;

	if (bench_clock.tsc_hz)
		return;
	n0 = bench_now_ns();
	t0 = bench_tsc();
	nanosleep(&d, NULL);
	n1 = bench_now_ns();
	t1 = bench_tsc();
	bench_clock.tsc_hz = (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
}

double bench_cyc_to_us(uint64_t c)
{
	return (double)c * 1e6 / bench_clock.tsc_hz;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static uint64_t pct(const uint64_t *v, uint64_t n, unsigned int p)
{
	uint64_t rank = (n * p + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

void bench_stat_fill(struct bench_stat *s, uint64_t *v, uint64_t n)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	if (!n)
		return;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	s->p50 = bench_cyc_to_us(pct(v, n, 50));
	s->p99 = bench_cyc_to_us(pct(v, n, 99));
	s->min = bench_cyc_to_us(v[0]);
	s->max = bench_cyc_to_us(v[n - 1]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned int n)
{
	if (!n)
		return NAN;
	for (unsigned int i = 0; i < n; i++)
		if (isnan(v[i]))
			return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_say(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return err;
}
