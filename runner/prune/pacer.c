#include "prune/pacer.h"

#include <stdlib.h>

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS	 8000
#define CUT		 0.9 /* the pace after a 429, of the rate the registry let through */
#define GROW_FAST	 1.0 /* a second's growth of the pace below the rate learnt: doubling */
#define GROW_SLOW	 0.1 /* above it, probing for more: 10% a second */
#define MIN_SPAN_MS	 250 /* a burst measured over less counts as spread over this */
#define RATE_WINDOW_MS	 500 /* the rate that got through: answers this recent */
#define WAIT_FULL_MS	 5   /* a full window waits for an answer; the pool wakes it sooner */

void pacer_init(struct pacer *p, unsigned max_window, double max_rps, long long now_ms)
{
	*p = (struct pacer){0};
	p->max_window = max_window ? max_window : 1;
	p->max_rps = max_rps;
	p->max_pause_ms = 60000;
	/* Start small and grow: a registry that limits answers 429 before a big window fills. */
	p->window = p->max_window < 4 ? p->max_window : 4;
	p->next_ms = (double)now_ms;
}

/* The pace in force: the learnt one, capped by --max-rps; 0 when there is none. */
static double pace(const struct pacer *p)
{
	if (p->rps > 0 && p->max_rps > 0)
		return p->rps < p->max_rps ? p->rps : p->max_rps;
	return p->rps > 0 ? p->rps : p->max_rps;
}

long long pacer_acquire(struct pacer *p, long long now_ms)
{
	double rate = pace(p), interval;

	if (p->in_flight >= p->window)
		return WAIT_FULL_MS;
	if (rate > 0) {
		interval = 1000.0 / rate;
		if ((double)now_ms < p->next_ms)
			return (long long)(p->next_ms - (double)now_ms) + 1;
		/* Late by less than one interval: keep to the grid, or the pace drifts down. Later
		 * than that (idle): start afresh, with no burst of saved-up slots. */
		if (p->next_ms < (double)now_ms - interval)
			p->next_ms = (double)now_ms;
		p->next_ms += interval;
	}
	p->in_flight++;
	return 0;
}

double pacer_rate(const struct pacer *p, long long now_ms)
{
	long long oldest = now_ms;
	unsigned i, n = 0;

	/* The answers of the last RATE_WINDOW_MS: what the registry lets through now. */
	for (i = 0; i < p->ok_count; i++) {
		long long t = p->ok_ms[(p->ok_next + PACE_HISTORY - 1 - i) % PACE_HISTORY];

		if (now_ms - t > RATE_WINDOW_MS)
			break;
		oldest = t;
		n++;
	}
	if (n < 2)
		return 0;
	/* A burst (a limiter's allowance used at once) must not read as a huge rate. */
	return (double)n * 1000.0 /
	       (double)(now_ms - oldest < MIN_SPAN_MS ? MIN_SPAN_MS : now_ms - oldest);
}

/*
 * The pace grows with time, not with answers: a registry that answers slowly (a loaded
 * machine) would otherwise keep a pace it set low for as long as it stays slow.
 */
static void grow(struct pacer *p, long long now_ms)
{
	double per_second = p->learnt > 0 && p->rps >= p->learnt ? GROW_SLOW : GROW_FAST;
	long long elapsed = now_ms - p->grown_ms;

	if (elapsed <= 0)
		return;
	if (elapsed > 1000)
		elapsed = 1000; /* idle time is no evidence that more would pass */
	p->rps *= 1.0 + per_second * (double)elapsed / 1000.0;
	p->grown_ms = now_ms;
}

static void succeeded(struct pacer *p, long long now_ms)
{
	p->ok_ms[p->ok_next] = now_ms;
	p->ok_next = (p->ok_next + 1) % PACE_HISTORY;
	if (p->ok_count < PACE_HISTORY)
		p->ok_count++;
	if (++p->grown >= p->window) {
		p->grown = 0;
		if (p->window < p->max_window)
			p->window++;
	}
	if (p->rps > 0)
		grow(p, now_ms);
}

/*
 * 429: halve the window, and pace at 90% of what got through: the rate learnt. Too few answers
 * to tell (a limiter that said no at once): halve the pace, or start from 2 a second, and grow
 * fast until the next 429 tells.
 */
static void limited(struct pacer *p, long long now_ms)
{
	double through = pacer_rate(p, now_ms);

	p->window = p->window > 1 ? p->window / 2 : 1;
	p->grown = 0;
	if (through > 0) {
		p->learnt = CUT * through;
		if (p->rps <= 0 || p->learnt < p->rps)
			p->rps = p->learnt;
	} else {
		p->rps = p->rps > 0 ? p->rps / 2 : 2.0;
	}
	if (p->rps < 0.2)
		p->rps = 0.2;
	p->grown_ms = now_ms;
}

/* 250 ms doubling per attempt up to 8 s, each between half and all of it (jitter). */
static long long backoff(unsigned attempt)
{
	long long ms = BACKOFF_FIRST_MS;

	while (attempt-- > 1 && ms < BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	return ms / 2 + (long long)(random() % (ms / 2 + 1));
}

long long pacer_done(struct pacer *p, enum pace_outcome outcome, long long retry_after_ms,
		     unsigned attempt, long long now_ms)
{
	if (p->in_flight)
		p->in_flight--;
	switch (outcome) {
	case PACE_OK:
		succeeded(p, now_ms);
		return 0;
	case PACE_LIMITED:
		limited(p, now_ms);
		/* The registry's word for this request; without one, the backoff. */
		if (retry_after_ms < 0)
			return backoff(attempt);
		return retry_after_ms > p->max_pause_ms ? p->max_pause_ms : retry_after_ms;
	case PACE_FAILED:
		return backoff(attempt);
	case PACE_WAIT:
		return retry_after_ms;
	}
	return 0;
}
