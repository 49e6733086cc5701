/* ARRAY_SIZE and ALLOC_GROW: growth keeps the elements, is amortized, refuses overflow intact. */
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_array_size(void **state)
{
	int four[4];
	struct {
		char c[3];
	} two[2];

	(void)state;
	assert_int_equal(ARRAY_SIZE(four), 4);
	assert_int_equal(ARRAY_SIZE(two), 2);
}

static void test_grow_keeps_elements(void **state)
{
	size_t nr = 0, alloc = 0, growths = 0, last = 0, i;
	int *v = NULL;

	(void)state;
	for (i = 0; i < 10000; i++) {
		assert_int_equal(ALLOC_GROW(v, nr + 1, alloc), 0);
		assert_true(alloc >= nr + 1);
		if (alloc != last)
			growths++, last = alloc;
		v[nr++] = (int)i;
	}
	for (i = 0; i < nr; i++)
		assert_int_equal(v[i], (int)i);
	assert_true(growths < 30); /* geometric, not one realloc per element */
	free(v);
}

static void test_enough_room_is_a_no_op(void **state)
{
	size_t alloc = 0, none = 0;
	char *v = NULL, *before;

	(void)state;
	assert_int_equal(ALLOC_GROW(v, none, alloc), 0);
	assert_null(v);
	assert_int_equal(ALLOC_GROW(v, 5, alloc), 0);
	before = v;
	assert_int_equal(ALLOC_GROW(v, alloc, alloc), 0);
	assert_ptr_equal(v, before);
	free(v);
}

/* A count whose bytes overflow size_t: -1, reported, the old array and its capacity intact. */
static void test_overflow_leaves_the_array(void **state)
{
	struct big {
		char bytes[64];
	} *v = NULL;
	size_t alloc = 0, old_alloc;
	struct big *old;
	char msg[256];
	int saved;
	FILE *tmp;

	(void)state;
	assert_int_equal(ALLOC_GROW(v, 3, alloc), 0);
	memset(v, 'k', 3 * sizeof(*v));
	old = v;
	old_alloc = alloc;
	tmp = capture_begin(&saved);
	assert_int_equal(ALLOC_GROW(v, SIZE_MAX / sizeof(*v) + 1, alloc), -1);
	assert_int_equal(ALLOC_GROW(v, SIZE_MAX, alloc), -1);
	capture_end(tmp, saved, msg, sizeof(msg));
	assert_non_null(strstr(msg, "berth: error: out of memory"));
	assert_ptr_equal(v, old);
	assert_int_equal(alloc, old_alloc);
	assert_int_equal(v[2].bytes[63], 'k');
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_size),
		cmocka_unit_test(test_grow_keeps_elements),
		cmocka_unit_test(test_enough_room_is_a_no_op),
		cmocka_unit_test(test_overflow_leaves_the_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
