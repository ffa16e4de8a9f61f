/* SPDX-License-Identifier: MIT */
/*
 * Smoke test of irqlink-bench: every row (every path in both regimes)
 * boots its guest and gets every interrupt it sent through, for a handful
 * of samples; a path brings its chain of baselines and nothing else; the
 * JSON report has a row for each; the scale part counts the routing
 * commits it claims; usage errors exit 2. No timing is asserted: this runs
 * on a shared machine. It links the bench's own library, so it runs
 * exactly the code the tool runs.
 */
#include "bench.h"
#include "bench_scale.h"
#include "bench_vfu.h"

#include "testutil.h"

#include <string.h>

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
	cfg.timeout_ms = 2000;
	cfg.path = path;
	return cfg;
}

static struct bench_result *results(void)
{
	struct bench_result *res = calloc(bench_npaths() * BENCH_NREGIMES,
					  sizeof(*res));

	assert_non_null(res);
	return res;
}

static void results_free(struct bench_result *res)
{
	bench_latency_free(res);
	free(res);
}

/* Every row delivers every interrupt: warmup, measured and back-to-back
 * samples, each one seen at the path's end exactly once; and the JSON
 * report says so row by row. */
static void test_every_row_delivers(void **state)
{
	struct bench_cfg cfg = smoke_cfg("latency");
	struct bench_result *res = results();
	const uint64_t sent = ROUNDS * WARMUP + 2 * SAMPLES;
	struct bench_machine m = { .nproc = 2 };
	struct bench_report rep = { .cfg = &cfg, .m = &m, .res = res };
	struct json_object *j, *rows;
	int fds = tu_open_fds();

	(void)state;
	bench_clock_init();
	assert_int_equal(bench_latency_run(&cfg, res), 0);
	for (size_t i = 0; i < bench_npaths(); i++) {
		const struct bench_path *p = bench_path_at(i);

		for (int g = 0; g < BENCH_NREGIMES; g++) {
			const struct bench_result *r =
				&res[i * BENCH_NREGIMES + g];

			if (r->err)
				fail_msg("%s (%s): %s", p->name,
					 bench_regime_name[g], r->why);
			assert_true(r->ran);
			assert_int_equal(r->sent, sent);
			assert_int_equal(r->delivered, sent);
			assert_int_equal(r->lat.n, SAMPLES);
			assert_int_equal(p->has_isr ? r->isr.n : SAMPLES,
					 SAMPLES);
			assert_true(r->lat.min > 0);
			assert_true(r->rate > 0);
		}
	}
	assert_int_equal(tu_open_fds(), fds);

	j = bench_report_json(&rep);
	assert_true(json_object_object_get_ex(j, "rows", &rows));
	assert_int_equal(json_object_array_length(rows),
			 bench_npaths() * BENCH_NREGIMES);
	for (size_t k = 0; k < json_object_array_length(rows); k++) {
		struct json_object *o = json_object_array_get_idx(rows, k), *v;

		assert_true(json_object_object_get_ex(o, "ok", &v));
		assert_true(json_object_get_boolean(v));
		assert_true(json_object_object_get_ex(o, "delivered", &v));
		assert_int_equal(json_object_get_int64(v), sent);
	}
	json_object_put(j);
	results_free(res);
}

/* A path selects its baseline, the baseline's baseline, and nothing else;
 * --regime running measures only that regime. */
static void test_path_brings_baselines(void **state)
{
	char *argv[] = { "b", "--quiet", "--regime", "running", NULL };
	struct bench_cfg cfg;
	struct bench_result *res = results();
	int relay = bench_path_index("irqlink-relay/yield");
	int naive = bench_path_index("naive-relay/yield");
	int floor = bench_path_index("kvm-signal-msi/yield");

	(void)state;
	assert_true(relay >= 0 && naive >= 0 && floor >= 0);
	assert_int_equal(bench_parse(4, argv, &cfg), 0);
	cfg.samples = SAMPLES;
	cfg.warmup = WARMUP;
	cfg.rounds = ROUNDS;
	cfg.path = "irqlink-relay/yield";
	bench_clock_init();
	assert_int_equal(bench_latency_run(&cfg, res), 0);
	for (int i = 0; i < (int)bench_npaths(); i++) {
		bool on = i == relay || i == naive || i == floor;

		assert_false(res[i * BENCH_NREGIMES + BENCH_HALTED].ran);
		assert_int_equal(res[i * BENCH_NREGIMES + BENCH_RUNNING].ran,
				 on);
		if (on)
			assert_int_equal(
				res[i * BENCH_NREGIMES + BENCH_RUNNING].delivered,
				res[i * BENCH_NREGIMES + BENCH_RUNNING].sent);
	}
	results_free(res);
}

/* The quick scale run: enabling through the glue costs exactly one
 * routing commit at every size, one commit per vector costs N. */
static void test_scale_commits(void **state)
{
	struct bench_scale_cfg cfg = { .quick = true };
	struct bench_scale_result *r = NULL;
	char why[256] = "";

	(void)state;
	if (bench_scale_run(&cfg, &r, why, sizeof(why)))
		fail_msg("bench_scale_run: %s", why);
	assert_true(r->nenable >= 2);
	for (unsigned int k = 0; k < r->nenable; k++) {
		const struct bench_scale_enable *e = &r->enable[k];

		assert_int_equal(e->way[BENCH_SCALE_GLUE].commits_max, 1);
		assert_int_equal(e->way[BENCH_SCALE_BATCHED].commits_max, 1);
		assert_int_equal(e->way[BENCH_SCALE_PER_VECTOR].commits_min,
				 e->vectors);
		assert_int_equal(e->way[BENCH_SCALE_GLUE].in_kernel_min,
				 e->vectors);
	}
	assert_int_equal(r->mask.pair_commits, 0);
	bench_scale_free(r);
}

/* Messages a SET_IRQS of @n eventfds takes at @per fds a message: one, or
 * the whole range enabled first and then a chunk per message. */
static unsigned int set_irqs_messages(unsigned int n, unsigned int per)
{
	return n <= per ? 1 : 1 + (n + per - 1) / per;
}

/* The quick vfio-user run: every round trip measured; SET_IRQS takes the
 * messages its chunking says, pipelined or synchronous; no fd left
 * behind. */
static void test_vfio_user_messages(void **state)
{
	struct bench_vfu_cfg cfg = { .quick = true };
	struct bench_vfu_result *r = NULL;
	char why[256] = "";
	int fds = tu_open_fds();

	(void)state;
	if (bench_vfu_run(&cfg, &r, why, sizeof(why)))
		fail_msg("bench_vfu_run: %s", why);
	assert_int_equal(r->max_msg_fds, 16);
	for (int l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		if (!r->layout_ok[l])
			continue;
		for (unsigned int k = 0; k < r->nrt; k++)
			assert_true(r->rt[l][k].path[BENCH_VFU_IRQLINK].n > 0);
		for (unsigned int k = 0; k < r->nirqs; k++) {
			const struct bench_vfu_irqs *x = &r->irqs[l][k];

			assert_int_equal(x->way[BENCH_VFU_PIPELINED].messages,
					 set_irqs_messages(x->fds, 16));
			assert_int_equal(x->way[BENCH_VFU_SYNC].messages,
					 set_irqs_messages(x->fds, 16));
			assert_int_equal(x->way[BENCH_VFU_WIDE].messages,
					 set_irqs_messages(x->fds, 253));
		}
	}
	bench_vfu_free(r);
	assert_int_equal(tu_open_fds(), fds);
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
	char *regime[] = { "b", "--regime", "sleepy", NULL };
	char *opt[] = { "b", "--frobnicate", NULL };
	char *arg[] = { "b", "stray", NULL };
	char *cpu[] = { "b", "--cpu-vcpu", "100000", NULL };
	char *relay_cpu[] = { "b", "--cpu-relay", "100000", NULL };
	char *plots[] = { "b", "--plots", "", NULL };
	char *missing[] = { "b", "--samples", NULL };
	char *good[] = { "b", "--samples", "5", "--path", "kvm-signal-msi",
			 "--json", NULL };
	char *quick[] = { "b", "--quick", NULL };
	struct bench_cfg cfg;

	(void)state;
	assert_int_equal(parse(3, zero), 2);
	assert_int_equal(parse(3, neg), 2);
	assert_int_equal(parse(3, junk), 2);
	assert_int_equal(parse(3, path), 2);
	assert_int_equal(parse(3, regime), 2);
	assert_int_equal(parse(2, opt), 2);
	assert_int_equal(parse(2, arg), 2);
	assert_int_equal(parse(3, cpu), 2);
	assert_int_equal(parse(3, relay_cpu), 2);
	assert_int_equal(parse(3, plots), 2);
	assert_int_equal(parse(2, missing), 2);
	assert_int_equal(parse(6, good), 0);
	/* The relays follow the trigger unless told otherwise. */
	assert_int_equal(bench_parse(6, good, &cfg), 0);
	assert_int_equal(cfg.cpu_relay, cfg.cpu_trigger);
	assert_int_equal(bench_parse(2, quick, &cfg), 0);
	assert_true(cfg.quick);
	assert_true(cfg.samples < 20000);
	assert_int_equal(bench_main(3, zero), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_scale_commits),
		cmocka_unit_test(test_vfio_user_messages),
		cmocka_unit_test(test_path_brings_baselines),
		cmocka_unit_test(test_every_row_delivers),
	};
	int r = tu_require_kvm();

	if (r)
		return r;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
