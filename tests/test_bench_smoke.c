/* SPDX-License-Identifier: MIT */
/*
 * Smoke test of irqlink-bench's measurement core: every path boots its
 * guest and gets every interrupt it sent through, for a handful of samples;
 * the routing figures count the commits they claim; usage errors exit 2.
 * No timing is asserted: this runs on a shared machine.
 *
 * The bench is one file (tools/irqlink_bench.c); it is included here
 * without its main() so the test runs exactly the code the tool runs.
 */
#define IRQLINK_BENCH_NO_MAIN
#include "../tools/irqlink_bench.c"

#include "testutil.h"

#define SAMPLES 12
#define WARMUP 3
#define ROUNDS 2

static struct bench_cfg smoke_cfg(const char *path)
{
	char *argv[] = { "irqlink-bench", "--quiet", NULL };
	struct bench_cfg cfg;

	/* The tool's own defaults (CPUs included), then tiny counts. */
	assert_int_equal(bench_parse(2, argv, &cfg), 0);
	cfg.samples = SAMPLES;
	cfg.warmup = WARMUP;
	cfg.rounds = ROUNDS;
	cfg.routes = 64;
	cfg.timeout_ms = 2000;
	cfg.path = path;
	return cfg;
}

/* Every path delivers every interrupt: warmup, measured and back-to-back
 * samples, each one seen at the path's end exactly once. */
static void test_every_path_delivers(void **state)
{
	static struct bench_result res[BENCH_NPATHS];
	struct bench_cfg cfg = smoke_cfg("all");
	const uint64_t sent = ROUNDS * WARMUP + 2 * SAMPLES;
	int fds = tu_open_fds();

	(void)state;
	bench_init();
	assert_int_equal(bench_run_paths(&cfg, res), 0);
	for (size_t i = 0; i < BENCH_NPATHS; i++) {
		const struct bench_result *r = &res[i];

		if (r->err)
			fail_msg("%s: %s", r->name, r->why);
		assert_true(r->ran);
		assert_int_equal(r->sent, sent);
		assert_int_equal(r->delivered, sent);
		assert_int_equal(r->lat.n, SAMPLES);
		assert_int_equal(r->has_isr ? r->isr.n : SAMPLES, SAMPLES);
		assert_true(r->lat.min > 0);
		assert_true(r->rate > 0);
	}
	bench_free_results(res);
	assert_int_equal(tu_open_fds(), fds);
}

/* One path selects its raw baseline too, and nothing else. */
static void test_path_brings_baseline(void **state)
{
	static struct bench_result res[BENCH_NPATHS];
	struct bench_cfg cfg = smoke_cfg("irqlink-msi-irqfd");
	int self = path_index("irqlink-msi-irqfd");
	int base = path_index("kvm-msi-irqfd");

	(void)state;
	assert_true(self >= 0 && base >= 0);
	bench_init();
	assert_int_equal(bench_run_paths(&cfg, res), 0);
	for (int i = 0; i < (int)BENCH_NPATHS; i++)
		assert_int_equal(res[i].ran, i == self || i == base);
	assert_int_equal(res[self].delivered, res[self].sent);
	assert_int_equal(res[base].delivered, res[base].sent);
	bench_free_results(res);
}

/* Batched: one commit for all routes; per vector: one commit each. */
static void test_routing_commits(void **state)
{
	struct bench_cfg cfg = smoke_cfg("routing");
	struct bench_routing rt;

	(void)state;
	assert_int_equal(bench_routing(&cfg, &rt), 0);
	assert_int_equal(rt.batched_commits, 1);
	assert_int_equal(rt.batched_routes, 64);
	assert_int_equal(rt.per_vector_commits, 64);
	assert_int_equal(rt.per_vector_routes, 64);
}

static int parse(int argc, char **argv)
{
	struct bench_cfg cfg;

	return bench_parse(argc, argv, &cfg);
}

/* Usage errors are exit code 2 and run nothing. */
static void test_usage_errors(void **state)
{
	char *zero[] = { "b", "--samples", "0", NULL };
	char *neg[] = { "b", "--warmup", "-1", NULL };
	char *junk[] = { "b", "--samples", "12x", NULL };
	char *path[] = { "b", "--path", "no-such-path", NULL };
	char *opt[] = { "b", "--frobnicate", NULL };
	char *arg[] = { "b", "stray", NULL };
	char *cpu[] = { "b", "--cpu-vcpu", "100000", NULL };
	char *routes[] = { "b", "--routes", "5000", NULL };
	char *missing[] = { "b", "--samples", NULL };
	char *good[] = { "b", "--samples", "5", "--path", "kvm-signal-msi",
			 "--json", NULL };

	(void)state;
	assert_int_equal(parse(3, zero), 2);
	assert_int_equal(parse(3, neg), 2);
	assert_int_equal(parse(3, junk), 2);
	assert_int_equal(parse(3, path), 2);
	assert_int_equal(parse(2, opt), 2);
	assert_int_equal(parse(2, arg), 2);
	assert_int_equal(parse(3, cpu), 2);
	assert_int_equal(parse(3, routes), 2);
	assert_int_equal(parse(2, missing), 2);
	assert_int_equal(parse(6, good), 0);
	assert_int_equal(bench_main(3, zero), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_routing_commits),
		cmocka_unit_test(test_path_brings_baseline),
		cmocka_unit_test(test_every_path_delivers),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
