#include "base/clock.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

long long clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_sleep_ms(long long ms)
{
	struct timespec ts, left = {0, 0};

	if (ms <= 0)
		return 0;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (nanosleep(&ts, &left) == 0 || errno != EINTR)
		return 0;
	/* Rounded up: a caller that sleeps again must not stop a fraction of a ms early. */
	return (long long)left.tv_sec * 1000 + (left.tv_nsec + 999999L) / 1000000L;
}

long long backoff_next(struct backoff *b)
{
	b->tried++;
	if (b->tried >= b->tries)
		return -1;
	if (b->tried == 1)
		b->wait_ms = b->first_ms;
	else if (b->factor && b->wait_ms <= LLONG_MAX / b->factor)
		b->wait_ms *= b->factor;
	if (b->cap_ms && b->wait_ms > b->cap_ms)
		b->wait_ms = b->cap_ms;
	return b->wait_ms;
}
