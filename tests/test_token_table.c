/* SPDX-License-Identifier: MIT */
/*
 * The token table behind the bypass manager, a VM's consumer claims, irqfd
 * records and relay entries. The tests look at the slots (an internal
 * header) only to check the layout: where an entry landed, how long probe
 * runs are, that a reserved insert does not resize.
 */
#include "testutil.h"

#include "token_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Every entry in a slot is found from its home, and count is right. */
static void assert_consistent(const struct il_token_table *t)
{
	size_t i, used = 0;

	for (i = 0; i < t->cap; i++) {
		if (!t->slots[i].token)
			continue;
		used++;
		assert_ptr_equal(il_token_table_find(t, t->slots[i].token),
				 t->slots[i].ptr);
	}
	assert_int_equal(used, il_token_table_count(t));
	assert_true((used + 1) * 10 <= t->cap * 7 || !t->cap);
}

/* The longest run of occupied slots, wrapping around. */
static size_t longest_run(const struct il_token_table *t)
{
	size_t i, run = 0, best = 0;

	for (i = 0; i < 2 * t->cap; i++) {
		run = t->slots[i & (t->cap - 1)].token ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

static void test_insert_find_remove_and_errors(void **state)
{
	struct il_token_table t;
	int a, b;

	(void)state;
	il_token_table_init(&t);
	assert_null(il_token_table_find(&t, 7));        /* nothing allocated */
	assert_null(il_token_table_remove(&t, 7));
	assert_int_equal(il_token_table_count(&t), 0);

	assert_int_equal(il_token_table_insert(&t, 0, &a), -EINVAL);
	assert_int_equal(il_token_table_insert(&t, 7, NULL), -EINVAL);
	assert_int_equal(il_token_table_count(&t), 0);
	assert_int_equal(il_token_table_insert(&t, 7, &a), 0);
	assert_int_equal(il_token_table_insert(&t, 7, &b), -EBUSY);
	assert_ptr_equal(il_token_table_find(&t, 7), &a); /* first one kept */
	assert_null(il_token_table_find(&t, 0));
	assert_null(il_token_table_find(&t, 8));
	assert_null(il_token_table_remove(&t, 8));       /* absent: no-op */
	assert_null(il_token_table_remove(&t, 0));
	assert_int_equal(il_token_table_count(&t), 1);

	/* No token value is set aside (there are no tombstones). */
	assert_int_equal(il_token_table_insert(&t, UINT64_MAX, &b), 0);
	assert_ptr_equal(il_token_table_find(&t, UINT64_MAX), &b);

	assert_ptr_equal(il_token_table_remove(&t, 7), &a);
	assert_null(il_token_table_find(&t, 7));
	assert_null(il_token_table_remove(&t, 7));       /* already gone */
	assert_int_equal(il_token_table_count(&t), 1);
	assert_int_equal(il_token_table_insert(&t, 7, &b), 0);
	assert_ptr_equal(il_token_table_find(&t, 7), &b);
	assert_consistent(&t);

	il_token_table_fini(&t);
	assert_int_equal(il_token_table_count(&t), 0);
	assert_null(il_token_table_find(&t, 7));         /* empty again */
	assert_null(il_token_table_remove(&t, 7));
	il_token_table_fini(&t);                         /* twice is fine */

	/* A zeroed struct is an empty table too. */
	t = (struct il_token_table){ 0 };
	assert_int_equal(il_token_table_insert(&t, 1, &a), 0);
	il_token_table_fini(&t);
}

/* After a reserve, the insert never resizes, so it cannot run out of
 * memory: at every size, and with removals (and shrinks) in between. */
static void test_reserve_then_insert(void **state)
{
	struct il_token_table t;
	struct il_token_slot *slots;
	size_t cap;
	int v;

	(void)state;
	il_token_table_init(&t);
	for (uint64_t tok = 1; tok <= 5000; tok++) {
		assert_int_equal(il_token_table_reserve(&t), 0);
		assert_int_equal(il_token_table_reserve(&t), 0); /* idempotent */
		slots = t.slots;
		cap = t.cap;
		assert_int_equal(il_token_table_insert(&t, tok, &v), 0);
		assert_ptr_equal(t.slots, slots);
		assert_int_equal(t.cap, cap);
	}
	assert_consistent(&t);

	/* Reserve, then remove most entries (the table shrinks under us),
	 * then insert: the room is still there. */
	assert_int_equal(il_token_table_reserve(&t), 0);
	cap = t.cap;
	for (uint64_t tok = 1; tok <= 4990; tok++)
		assert_ptr_equal(il_token_table_remove(&t, tok), &v);
	assert_true(t.cap < cap);
	slots = t.slots;
	cap = t.cap;
	assert_int_equal(il_token_table_insert(&t, 1, &v), 0);
	assert_ptr_equal(t.slots, slots);
	assert_int_equal(t.cap, cap);
	assert_consistent(&t);
	il_token_table_fini(&t);
}

/* Eventfd ids are sequential, and bypass tokens may differ only in their
 * high bits: both kinds spread, so probe runs stay short. */
static void test_many_tokens(void **state)
{
	const size_t n = 100000, nhigh = 4095;  /* 4096 << 52 would wrap */
	uint64_t *tok = malloc((n + 3 * nhigh) * sizeof(*tok));
	struct il_token_table t;
	size_t i, m = 0;

	(void)state;
	assert_non_null(tok);
	for (i = 1; i <= n; i++)
		tok[m++] = i;
	for (i = 1; i <= nhigh; i++) {
		tok[m++] = (uint64_t)i << 40;                 /* only high bits */
		tok[m++] = ((uint64_t)i << 52) | 1;           /* top 12 bits */
		tok[m++] = UINT64_MAX - ((uint64_t)i << 48);  /* high bits clear */
	}

	/* The high-bit tokens alone: an unmixed mask would put them all in
	 * one slot's run. */
	il_token_table_init(&t);
	for (i = n; i < m; i++)
		assert_int_equal(il_token_table_insert(&t, tok[i], &tok[i]), 0);
	assert_true(longest_run(&t) < 64);
	assert_consistent(&t);
	il_token_table_fini(&t);

	/* The small sequential ones alone. */
	for (i = 0; i < 4096; i++)
		assert_int_equal(il_token_table_insert(&t, tok[i], &tok[i]), 0);
	assert_true(longest_run(&t) < 64);
	il_token_table_fini(&t);

	/* All of them together. */
	for (i = 0; i < m; i++)
		assert_int_equal(il_token_table_insert(&t, tok[i], &tok[i]), 0);
	assert_int_equal(il_token_table_count(&t), m);
	for (i = 0; i < m; i++)
		assert_ptr_equal(il_token_table_find(&t, tok[i]), &tok[i]);
	for (i = 0; i < m; i++)
		assert_int_equal(il_token_table_insert(&t, tok[i], &tok[i]),
				 -EBUSY);
	assert_null(il_token_table_find(&t, n + 1));
	assert_null(il_token_table_find(&t, (uint64_t)(nhigh + 1) << 40));
	assert_consistent(&t);

	/* Remove every third one: the rest stay findable. */
	for (i = 0; i < m; i += 3)
		assert_ptr_equal(il_token_table_remove(&t, tok[i]), &tok[i]);
	for (i = 0; i < m; i++)
		assert_ptr_equal(il_token_table_find(&t, tok[i]),
				 i % 3 ? &tok[i] : NULL);
	assert_consistent(&t);
	il_token_table_fini(&t);
	free(tok);
}

/* The slot @token lands in when alone in a 16-slot table: its home. */
static size_t home16(uint64_t token)
{
	struct il_token_table t;
	size_t i, home = SIZE_MAX;
	int v;

	il_token_table_init(&t);
	assert_int_equal(il_token_table_insert(&t, token, &v), 0);
	assert_int_equal(t.cap, 16);
	for (i = 0; i < t.cap; i++)
		if (t.slots[i].token == token)
			home = i;
	il_token_table_fini(&t);
	return home;
}

/* The first token > @after whose home in a 16-slot table is @home. */
static uint64_t token_at(size_t home, uint64_t after)
{
	uint64_t tok = after + 1;

	while (home16(tok) != home)
		tok++;
	return tok;
}

/*
 * Backward shift on a full probe run that wraps around the end of the
 * table, with an entry sitting at its own home inside the run (it must not
 * move back past its home) and one displaced beyond it (it must):
 *   slot 14 a1, 15 a2, 0 a3   home 14
 *   slot 1  e                 home 1
 *   slot 2  f                 home 0
 *   slot 3  g                 home 15
 *   slot 4  h                 home 3
 * Removing any one entry, or all of them in either order, keeps every
 * other entry findable and the run without holes.
 */
static void test_backward_shift(void **state)
{
	uint64_t tok[7];
	const size_t homes[7] = { 14, 14, 14, 1, 0, 15, 3 };
	const size_t slots[7] = { 14, 15, 0, 1, 2, 3, 4 };
	struct il_token_table t;
	size_t i, j, k;

	(void)state;
	for (i = 0; i < 7; i++)
		tok[i] = token_at(homes[i], i ? tok[i - 1] : 0);

	for (k = 0; k <= 7 + 1; k++) {
		il_token_table_init(&t);
		for (i = 0; i < 7; i++)
			assert_int_equal(il_token_table_insert(&t, tok[i],
							       &tok[i]), 0);
		assert_int_equal(t.cap, 16);
		for (i = 0; i < 7; i++)
			assert_int_equal(t.slots[slots[i]].token, tok[i]);

		if (k < 7) {
			/* Remove just tok[k]. */
			assert_ptr_equal(il_token_table_remove(&t, tok[k]),
					 &tok[k]);
			for (i = 0; i < 7; i++)
				assert_ptr_equal(il_token_table_find(&t, tok[i]),
						 i == k ? NULL : &tok[i]);
			/* The run 14..3 closed up: six slots, no hole. */
			for (i = 0; i < 6; i++)
				assert_int_not_equal(
					t.slots[(14 + i) & 15].token, 0);
			assert_int_equal(t.slots[4].token, 0);
			/* e never moves before its home. */
			if (k != 3)
				assert_int_equal(t.slots[1].token, tok[3]);
		} else {
			/* Remove all: forwards, then (k == 8) backwards. */
			bool gone[7] = { false };

			for (j = 0; j < 7; j++) {
				size_t r = k == 7 ? j : 6 - j;

				assert_ptr_equal(il_token_table_remove(&t, tok[r]),
						 &tok[r]);
				gone[r] = true;
				assert_consistent(&t);
				for (i = 0; i < 7; i++)
					assert_ptr_equal(
						il_token_table_find(&t, tok[i]),
						gone[i] ? NULL : &tok[i]);
			}
			assert_int_equal(il_token_table_count(&t), 0);
		}
		assert_consistent(&t);
		il_token_table_fini(&t);
	}
}

/* After a burst the table gives memory back, keeping what is left. */
static void test_shrink(void **state)
{
	struct il_token_table t;
	size_t big;
	int v[10];

	(void)state;
	il_token_table_init(&t);
	for (uint64_t tok = 1; tok <= 20000; tok++)
		assert_int_equal(il_token_table_insert(&t, tok,
						       &v[tok % 10]), 0);
	big = t.cap;
	assert_true(big >= 20000 * 10 / 7);
	for (uint64_t tok = 1; tok <= 20000; tok++)
		if (tok % 2000)
			assert_ptr_equal(il_token_table_remove(&t, tok),
					 &v[tok % 10]);
	assert_int_equal(il_token_table_count(&t), 10);
	assert_true(t.cap <= 128);
	assert_true(t.cap >= 16);
	for (uint64_t tok = 2000; tok <= 20000; tok += 2000)
		assert_ptr_equal(il_token_table_find(&t, tok), &v[0]);
	assert_consistent(&t);

	/* Never below the minimum, even when empty. */
	for (uint64_t tok = 2000; tok <= 20000; tok += 2000)
		assert_ptr_equal(il_token_table_remove(&t, tok), &v[0]);
	assert_int_equal(il_token_table_count(&t), 0);
	assert_int_equal(t.cap, 16);
	il_token_table_fini(&t);
}

/* Heavy churn at one size: every token stays findable and the load bound
 * holds (no tombstones to pile up). */
static void test_churn(void **state)
{
	struct il_token_table t;
	const uint64_t n = 100000;
	int v;

	(void)state;
	il_token_table_init(&t);
	for (uint64_t tok = 1; tok <= n; tok++)
		assert_int_equal(il_token_table_insert(&t, tok, &v), 0);
	for (uint64_t tok = 1; tok <= n; tok += 2)
		assert_ptr_equal(il_token_table_remove(&t, tok), &v);
	for (uint64_t tok = 1; tok <= n; tok++)
		assert_int_equal(il_token_table_insert(&t, tok, &v),
				 tok % 2 ? 0 : -EBUSY);
	for (int round = 0; round < 20; round++)
		for (uint64_t tok = 1; tok <= 1000; tok++) {
			assert_ptr_equal(il_token_table_remove(&t, tok), &v);
			assert_int_equal(il_token_table_insert(&t, tok, &v), 0);
		}
	assert_int_equal(il_token_table_count(&t), n);
	assert_consistent(&t);
	il_token_table_fini(&t);
}

struct drain_state {
	struct il_token_table *t;
	unsigned *seen;
	size_t calls;
};

static void count_entry(uint64_t token, void *ptr, void *opaque)
{
	struct drain_state *d = opaque;
	unsigned *seen = ptr;

	/* The table is already empty while the entries are handed out. */
	assert_int_equal(il_token_table_count(d->t), 0);
	assert_null(il_token_table_find(d->t, token));
	assert_ptr_equal(seen, &d->seen[token]);
	(*seen)++;
	d->calls++;
}

static void test_drain(void **state)
{
	const size_t n = 3000;
	struct il_token_table t;
	struct drain_state d = { .t = &t };
	size_t i;

	(void)state;
	d.seen = calloc(n + 1, sizeof(*d.seen));
	assert_non_null(d.seen);

	il_token_table_init(&t);
	il_token_table_drain(&t, count_entry, &d);       /* empty: no calls */
	assert_int_equal(d.calls, 0);

	for (i = 1; i <= n; i++)
		assert_int_equal(il_token_table_insert(&t, i, &d.seen[i]), 0);
	for (i = 1; i <= n; i += 4)                      /* some gone first */
		assert_ptr_equal(il_token_table_remove(&t, i), &d.seen[i]);
	il_token_table_drain(&t, count_entry, &d);
	assert_int_equal(d.calls, n - (n + 3) / 4);
	for (i = 1; i <= n; i++)
		assert_int_equal(d.seen[i], i % 4 == 1 ? 0 : 1);

	/* Drained means as after init: reusable, nothing left to free. */
	assert_int_equal(il_token_table_count(&t), 0);
	assert_null(t.slots);
	assert_int_equal(t.cap, 0);
	assert_int_equal(il_token_table_insert(&t, 5, &d.seen[5]), 0);
	il_token_table_fini(&t);
	free(d.seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_find_remove_and_errors),
		cmocka_unit_test(test_reserve_then_insert),
		cmocka_unit_test(test_many_tokens),
		cmocka_unit_test(test_backward_shift),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_drain),
	};
	return tu_run_group(tests);
}
