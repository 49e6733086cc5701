/*
 * The clock and sleeping: a monotonic millisecond clock (deadlines and durations never follow
 * the wall clock's jumps), a sleep a signal can cut short, and the waits between tries of a
 * request that failed.
 */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
long long clock_now_ms(void);

/*
 * Sleeps `ms` milliseconds. A signal whose handler runs ends the sleep early, so that a caller
 * waiting in a loop sees a stop at once; the milliseconds left are returned (0 when it slept
 * the whole time). A caller that must sleep the whole time calls again with what is left.
 */
long long clock_sleep_ms(long long ms);

/*
 * The waits between tries of one request: `first_ms` before the second try, each next wait
 * `factor` times the last, none longer than `cap_ms` (0: no cap), `tries` tries in all.
 * Initialize with BACKOFF_INIT; `tried` counts the tries made, for messages.
 */
struct backoff {
	long long first_ms;
	unsigned factor;
	long long cap_ms;
	unsigned tries;
	unsigned tried;
	long long wait_ms; /* the next wait */
};

#define BACKOFF_INIT(first_ms, factor, cap_ms, tries)                                              \
	{                                                                                          \
		(first_ms), (factor), (cap_ms), (tries), 0, 0                                      \
	}

/* Counts a try that failed: the milliseconds to wait before the next one, or -1 when it was the
 * last try allowed. */
long long backoff_next(struct backoff *b);

#endif
