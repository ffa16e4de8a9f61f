/* SPDX-License-Identifier: MIT */
/* The token set behind "one consumer per eventfd per VM". */
#include "testutil.h"

#include "token_set.h"

#include <errno.h>

static void test_add_del_and_errors(void **state)
{
	struct il_token_set s = { 0 };

	(void)state;
	assert_int_equal(il_token_set_add(&s, 0), -EINVAL);
	assert_int_equal(il_token_set_add(&s, UINT64_MAX), -EINVAL);
	assert_int_equal(il_token_set_add(&s, 7), 0);
	assert_int_equal(il_token_set_add(&s, 7), -EBUSY);
	il_token_set_del(&s, 8);          /* absent: no-op */
	assert_int_equal(s.live, 1);
	il_token_set_del(&s, 7);
	assert_int_equal(s.live, 0);
	assert_int_equal(il_token_set_add(&s, 7), 0);
	il_token_set_free(&s);
	il_token_set_del(&s, 7);          /* empty table: no-op */
}

/* Sequential tokens (as eventfd ids are) and heavy churn: every token
 * stays findable across growth and tombstones. */
static void test_many_and_churn(void **state)
{
	struct il_token_set s = { 0 };
	const uint64_t n = 100000;

	(void)state;
	for (uint64_t t = 1; t <= n; t++)
		assert_int_equal(il_token_set_add(&s, t), 0);
	assert_int_equal(s.live, n);
	for (uint64_t t = 1; t <= n; t += 2)
		il_token_set_del(&s, t);
	for (uint64_t t = 1; t <= n; t++)
		assert_int_equal(il_token_set_add(&s, t), t % 2 ? 0 : -EBUSY);
	for (int round = 0; round < 20; round++)
		for (uint64_t t = 1; t <= 1000; t++) {
			il_token_set_del(&s, t);
			assert_int_equal(il_token_set_add(&s, t), 0);
		}
	assert_int_equal(s.live, n);
	assert_true(s.used * 2 <= s.cap);
	il_token_set_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_del_and_errors),
		cmocka_unit_test(test_many_and_churn),
	};
	return tu_run_group(tests);
}
