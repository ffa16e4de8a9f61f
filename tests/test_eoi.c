/* SPDX-License-Identifier: MIT */
/*
 * INTx EOI policies and delivery modes (<irqlink/eoi.h>): the names the
 * tools spell, parsing them back (exact spelling only, the output left
 * alone on failure), and which policy/mode pairs irqlink_eoi_check()
 * accepts: all but BAR_ACCESS with KERNEL, which says why.
 */
#include "testutil.h"

#include <irqlink/eoi.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define N_POLICIES 3
#define N_DELIVERIES 3

static const char *const policy_names[N_POLICIES] = {
	[IRQLINK_EOI_RESAMPLEFD] = "resamplefd",
	[IRQLINK_EOI_BAR_ACCESS] = "bar-access",
	[IRQLINK_EOI_GUEST_PORT] = "guest-port",
};

static const char *const delivery_names[N_DELIVERIES] = {
	[IRQLINK_DELIVERY_AUTO] = "auto",
	[IRQLINK_DELIVERY_KERNEL] = "kernel",
	[IRQLINK_DELIVERY_RELAY] = "relay",
};

/* Names nothing may parse: empty, wrong case, the wrong separator. NULL is
 * tried separately. */
static const char *const bad_names[] = { "", "Relay", "bar_access" };

#define N_BAD (sizeof(bad_names) / sizeof(bad_names[0]))

/* Values past the last enumerator, and a negative one. */
static const int out_of_range[] = { 3, 4, 1000, -1 };

#define N_OOR (sizeof(out_of_range) / sizeof(out_of_range[0]))

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < N_POLICIES; i++)
		assert_string_equal(irqlink_eoi_policy_name(
			(enum irqlink_eoi_policy)i), policy_names[i]);
	for (int i = 0; i < N_DELIVERIES; i++)
		assert_string_equal(irqlink_delivery_name(
			(enum irqlink_delivery)i), delivery_names[i]);
	for (size_t i = 0; i < N_OOR; i++) {
		assert_null(irqlink_eoi_policy_name(
			(enum irqlink_eoi_policy)out_of_range[i]));
		assert_null(irqlink_delivery_name(
			(enum irqlink_delivery)out_of_range[i]));
	}
}

/* name -> value -> name gives back the same string, for every value. */
static void test_parse_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < N_POLICIES; i++) {
		enum irqlink_eoi_policy p = (enum irqlink_eoi_policy)99;

		assert_int_equal(irqlink_eoi_policy_parse(policy_names[i], &p),
				 0);
		assert_int_equal(p, i);
		assert_string_equal(irqlink_eoi_policy_name(p), policy_names[i]);
	}
	for (int i = 0; i < N_DELIVERIES; i++) {
		enum irqlink_delivery d = (enum irqlink_delivery)99;

		assert_int_equal(irqlink_delivery_parse(delivery_names[i], &d),
				 0);
		assert_int_equal(d, i);
		assert_string_equal(irqlink_delivery_name(d), delivery_names[i]);
	}
}

/* Unknown names (and NULL) are -EINVAL and leave *out as it was. A name of
 * the other kind is unknown too. */
static void test_parse_bad(void **state)
{
	enum irqlink_eoi_policy p = IRQLINK_EOI_GUEST_PORT;
	enum irqlink_delivery d = IRQLINK_DELIVERY_RELAY;

	(void)state;
	for (size_t i = 0; i < N_BAD; i++) {
		assert_int_equal(irqlink_eoi_policy_parse(bad_names[i], &p),
				 -EINVAL);
		assert_int_equal(irqlink_delivery_parse(bad_names[i], &d),
				 -EINVAL);
	}
	assert_int_equal(irqlink_eoi_policy_parse(NULL, &p), -EINVAL);
	assert_int_equal(irqlink_delivery_parse(NULL, &d), -EINVAL);
	assert_int_equal(irqlink_eoi_policy_parse("relay", &p), -EINVAL);
	assert_int_equal(irqlink_delivery_parse("bar-access", &d), -EINVAL);
	assert_int_equal(p, IRQLINK_EOI_GUEST_PORT);
	assert_int_equal(d, IRQLINK_DELIVERY_RELAY);
	/* No place to put the answer. */
	assert_int_equal(irqlink_eoi_policy_parse("resamplefd", NULL), -EINVAL);
	assert_int_equal(irqlink_delivery_parse("auto", NULL), -EINVAL);
}

/* All 9 pairs: only BAR_ACCESS + KERNEL is refused, with a reason naming
 * the policy; @why may be NULL either way. */
static void test_check_pairs(void **state)
{
	int refused = 0;

	(void)state;
	for (int p = 0; p < N_POLICIES; p++) {
		for (int d = 0; d < N_DELIVERIES; d++) {
			bool bad = p == IRQLINK_EOI_BAR_ACCESS &&
				   d == IRQLINK_DELIVERY_KERNEL;
			const char *why = NULL;
			int want = bad ? -EINVAL : 0;

			assert_int_equal(irqlink_eoi_check(
				(enum irqlink_eoi_policy)p,
				(enum irqlink_delivery)d, &why), want);
			assert_int_equal(irqlink_eoi_check(
				(enum irqlink_eoi_policy)p,
				(enum irqlink_delivery)d, NULL), want);
			if (bad) {
				assert_non_null(why);
				assert_non_null(strstr(why, "bar-access"));
				refused++;
			}
		}
	}
	assert_int_equal(refused, 1);
}

/* An unknown policy or mode, paired with each known one of the other
 * kind (there are as many policies as modes): -EINVAL with a reason, and
 * without one when @why is NULL. */
static void test_check_unknown(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OOR; i++) {
		for (int k = 0; k < N_POLICIES; k++) {
			enum irqlink_eoi_policy bad_p =
				(enum irqlink_eoi_policy)out_of_range[i];
			enum irqlink_delivery bad_d =
				(enum irqlink_delivery)out_of_range[i];
			const char *why = NULL;

			assert_int_equal(irqlink_eoi_check(bad_p,
				(enum irqlink_delivery)k, &why), -EINVAL);
			assert_non_null(why);
			why = NULL;
			assert_int_equal(irqlink_eoi_check(
				(enum irqlink_eoi_policy)k, bad_d, &why),
				-EINVAL);
			assert_non_null(why);
			assert_int_equal(irqlink_eoi_check(bad_p, bad_d, NULL),
					 -EINVAL);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_round_trip),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_check_pairs),
		cmocka_unit_test(test_check_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
