#include "prune/pacer.h"

#include <stdlib.h>

/*
 * The model. A registry's rate limit is a token bucket, as nginx's limit_req is: its excess
 * drains at r a second, each request let through adds one, and a request that would take it
 * over b (the burst) is answered 429 and adds nothing. So:
 * - From an empty bucket at most r * t + b + 1 requests pass in t seconds. The first 429 comes
 *   once a client has used the burst, often among its first requests (the listing before them
 *   may have used it), and what passed before it says little about r.
 * - At a 429 the bucket is full, and it can get no fuller. Between two 429s t seconds apart at
 *   most r * t requests pass: what passed is a lower bound of r. It is r itself when the bucket
 *   stayed full between them, as it does when they are close (DENSE_MS): the client was asking
 *   faster than r all along.
 * - A pace over r shows only once the excess has filled the bucket again: the further under r
 *   the pace was, and the slower it grows, the later. So 429s come late and in bunches.
 * - Each 429 costs its request Retry-After (1 s from nginx): a pace far over r soon has every
 *   worker waiting, the bucket drains, and the run slumps; a 429 near the end of a phase of
 *   the run delays the next. The pace must find r, not just stay over it.
 * Hence the pace:
 * - At the first 429, a guess (what got through lately, or the rate requests were started),
 *   growing fast (GROW_FAST) until a 429 that is not of the first one's bunch (DENSE_MS): then
 *   the middle of what got through since the first (a lower bound of r) and the pace (over r).
 * - r is measured over the stretches between close 429s, added up until they span MEASURE_MS:
 *   no short window and no lull sets the pace. Once measured, the pace probes slowly (PROBE)
 *   and no further than ABOVE over it, so 429s stay few.
 * - A 429 after a quiet stretch: the pace is just over r, cut it a little (CUT), though not
 *   under what got through since the last 429 (a lower bound of r).
 * - No 429 for QUIET_MS: the limit may have risen; the pace seeks it as when not measured yet
 *   (SEEK), and the next 429s measure it again.
 * The pace grows only over time some request spent waiting for it (idle time is no evidence
 * that more would pass), and not right after a 429 (DENSE_MS), when it is over r.
 */
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS	 8000
#define ABOVE		 1.05 /* how far over the measured r the pace probes */
#define CUT		 0.95 /* a 429 after a quiet stretch: the pace, of the pace that got it */
#define DENSE_MS	 500  /* 429s no further apart: the bucket stayed full between them */
#define GROW_FAST	 2.0  /* a second's growth from the first 429 to the next (e^2: 7x) */
#define MEASURE_MS	 1000 /* the stretches between close 429s that measure r, in all */
#define MIN_RPS		 0.2
#define MIN_SPAN_MS	 250  /* a burst measured over less counts as spread over this */
#define PROBE		 0.03 /* a second's growth once r is measured */
#define QUIET_MS	 5000 /* without a 429 for this long, r may have risen */
#define RATE_WINDOW_MS	 500  /* the progress line's rate, and the first guess */
#define SEEK		 0.1  /* a second's growth while r is not measured */
#define WAIT_FULL_MS	 5    /* a full window waits for an answer; the pool wakes it sooner */

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

/* Grows the pace for the time a request has waited for it, since it last grew. */
static void grow(struct pacer *p, long long now_ms)
{
	long long elapsed = now_ms - p->grown_ms, quiet = now_ms - p->last_limited_ms;
	int measured = p->measured > 0 && quiet < QUIET_MS;
	double per_second = !p->limited ? GROW_FAST : measured ? PROBE : SEEK;

	p->grown_ms = now_ms;
	if (!p->held || p->rps <= 0 || elapsed <= 0 || (p->limited && quiet < DENSE_MS))
		return;
	if (elapsed > 1000)
		elapsed = 1000;
	p->rps *= 1.0 + per_second * (double)elapsed / 1000.0;
	if (measured && p->rps > ABOVE * p->measured)
		p->rps = ABOVE * p->measured;
}

long long pacer_acquire(struct pacer *p, long long now_ms)
{
	double rate = pace(p), interval;

	if (p->in_flight >= p->window)
		return WAIT_FULL_MS;
	if (rate > 0) {
		interval = 1000.0 / rate;
		if ((double)now_ms < p->next_ms) {
			if (!p->held)
				p->grown_ms = now_ms; /* growth counts from here */
			p->held = 1;
			return (long long)(p->next_ms - (double)now_ms) + 1;
		}
		grow(p, now_ms);
		p->held = 0;
		/* Late by less than one interval: keep to the grid, or the pace drifts down. Later
		 * than that (idle): start afresh, with no burst of saved-up slots. */
		if (p->next_ms < (double)now_ms - interval)
			p->next_ms = (double)now_ms;
		p->next_ms += interval;
	}
	if (!p->started++)
		p->first_ms = now_ms;
	p->in_flight++;
	return 0;
}

double pacer_rate(const struct pacer *p, long long now_ms)
{
	long long oldest = now_ms;
	unsigned i, n = 0;

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

static void succeeded(struct pacer *p, long long now_ms)
{
	p->oks++;
	p->ok_ms[p->ok_next] = now_ms;
	p->ok_next = (p->ok_next + 1) % PACE_HISTORY;
	if (p->ok_count < PACE_HISTORY)
		p->ok_count++;
	if (++p->grown >= p->window) {
		p->grown = 0;
		if (p->window < p->max_window)
			p->window++;
	}
}

/*
 * The first 429: halve the window; pace at what got through lately, or when too few answers
 * tell (the requests before the pool's used the burst), at the rate requests were started: a
 * guess that grows fast until the next 429.
 */
static void first_limited(struct pacer *p, long long now_ms)
{
	long long span = now_ms - p->first_ms;

	p->window = p->window > 1 ? p->window / 2 : 1;
	p->grown = 0;
	p->rps = pacer_rate(p, now_ms);
	if (p->rps <= 0)
		p->rps = (double)p->started * 1000.0 /
			 (double)(span < MIN_SPAN_MS ? MIN_SPAN_MS : span);
	p->limited_ever = 1;
	p->first_limited_ms = now_ms;
	p->first_oks = p->oks;
}

/*
 * A later 429. The first ends the fast growth, unless it is of the first one's bunch
 * (DENSE_MS): r is between what got through since the first (the bucket was full at both) and
 * the pace now, which is over it; start from the middle. Then: close to the one before
 * (DENSE_MS), the bucket stayed full between them: what got through meanwhile is r's work,
 * added up until it spans MEASURE_MS, which measures r. After a quiet stretch, the pace is just
 * over r: cut it a little, though not under what got through since the last 429 when that
 * spans MEASURE_MS.
 */
static void limited(struct pacer *p, long long now_ms)
{
	long long gap = now_ms - p->last_limited_ms, since_first = now_ms - p->first_limited_ms;
	unsigned long long oks = p->oks - p->last_oks;

	if (!p->limited) {
		if (since_first <= DENSE_MS)
			return;
		p->limited = 1;
		p->rps = (p->rps + (double)(p->oks - p->first_oks) * 1000.0 / (double)since_first) /
			 2;
	} else if (gap <= DENSE_MS) {
		p->run_ms += gap;
		p->run_oks += oks;
		if (p->run_ms < MEASURE_MS)
			return;
		p->rps = p->measured = (double)p->run_oks * 1000.0 / (double)p->run_ms;
		p->run_ms = 0;
		p->run_oks = 0;
	} else {
		double through = gap >= MEASURE_MS ? (double)oks * 1000.0 / (double)gap : 0;

		p->rps = CUT * p->rps > through ? CUT * p->rps : through;
		if (gap >= QUIET_MS)
			p->measured = 0; /* the limit may have risen: measure it again */
	}
	if (p->rps < MIN_RPS)
		p->rps = MIN_RPS;
}

static void over(struct pacer *p, long long now_ms)
{
	if (p->limited_ever)
		limited(p, now_ms);
	else
		first_limited(p, now_ms);
	p->last_limited_ms = p->grown_ms = now_ms;
	p->last_oks = p->oks;
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
		over(p, now_ms);
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
