/* The monotonic clock, a sleep a signal cuts short, and the waits of struct backoff. */
#include "unit.h"

#include "base/clock.h"

#include <signal.h>
#include <string.h>
#include <sys/time.h>

/* The waits backoff_next gives until it says no more tries (-1), into `got`. */
static size_t waits(struct backoff *b, long long *got, size_t max)
{
	size_t n = 0;
	long long w;

	while ((w = backoff_next(b)) >= 0) {
		assert_true(n < max);
		got[n++] = w;
	}
	return n;
}

static void test_backoff_doubles_until_the_last_try(void **state)
{
	struct backoff b = BACKOFF_INIT(500, 2, 0, 5);
	static const long long want[] = {500, 1000, 2000, 4000};
	long long got[8];

	(void)state;
	assert_int_equal(waits(&b, got, ARRAY_SIZE(got)), ARRAY_SIZE(want));
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(b.tried, 5);
	assert_int_equal(backoff_next(&b), -1); /* and stays done */
}

static void test_backoff_is_capped(void **state)
{
	struct backoff b = BACKOFF_INIT(300, 3, 2000, 6);
	static const long long want[] = {300, 900, 2000, 2000, 2000};
	long long got[8];

	(void)state;
	assert_int_equal(waits(&b, got, ARRAY_SIZE(got)), ARRAY_SIZE(want));
	assert_memory_equal(got, want, sizeof(want));
}

static void test_backoff_of_one_try_never_waits(void **state)
{
	struct backoff one = BACKOFF_INIT(500, 2, 0, 1), none = BACKOFF_INIT(500, 2, 0, 0);

	(void)state;
	assert_int_equal(backoff_next(&one), -1);
	assert_int_equal(one.tried, 1);
	assert_int_equal(backoff_next(&none), -1);
}

static void test_backoff_without_a_cap_does_not_overflow(void **state)
{
	struct backoff b = BACKOFF_INIT(1LL << 40, 1 << 20, 0, 10);
	long long got[16];
	size_t i, n;

	(void)state;
	n = waits(&b, got, ARRAY_SIZE(got));
	assert_int_equal(n, 9);
	for (i = 1; i < n; i++)
		assert_true(got[i] >= got[i - 1]);
}

static void test_sleep_sleeps_the_whole_time(void **state)
{
	long long start = clock_now_ms();

	(void)state;
	assert_int_equal(clock_sleep_ms(30), 0);
	assert_true(clock_now_ms() - start >= 30);
	assert_int_equal(clock_sleep_ms(0), 0);
	assert_int_equal(clock_sleep_ms(-5), 0);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A handled signal ends the sleep and what was left comes back; the rest can be slept. */
static void test_a_signal_ends_the_sleep_early(void **state)
{
	struct sigaction sa, old;
	struct itimerval t;
	long long start = clock_now_ms(), left;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	memset(&t, 0, sizeof(t));
	t.it_value.tv_usec = 20000;
	assert_int_equal(setitimer(ITIMER_REAL, &t, NULL), 0);
	left = clock_sleep_ms(10000);
	assert_true(left > 0 && left < 10000);
	assert_true(clock_now_ms() - start < 10000);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_until_the_last_try),
		cmocka_unit_test(test_backoff_is_capped),
		cmocka_unit_test(test_backoff_of_one_try_never_waits),
		cmocka_unit_test(test_backoff_without_a_cap_does_not_overflow),
		cmocka_unit_test(test_sleep_sleeps_the_whole_time),
		cmocka_unit_test(test_a_signal_ends_the_sleep_early),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
