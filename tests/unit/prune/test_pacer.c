/*
 * The pacer on a made-up clock, against a simulated registry behind nginx's limit_req: no
 * sleeps, every millisecond of a run stepped through, the same each time (fixed jitter).
 */
#include "unit.h"

#include "prune/pacer.h"

#include <stdlib.h>
#include <string.h>

/* -- the pacer alone --------------------------------------------------------------------- */

static void test_window_starts_small_and_grows_with_successes(void **state)
{
	struct pacer p;
	int i;

	(void)state;
	pacer_init(&p, 16, 0, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pacer_acquire(&p, 0), 0);
	assert_true(pacer_acquire(&p, 0) > 0); /* 4 in flight: the window is full */
	for (i = 0; i < 4; i++)
		assert_int_equal(pacer_done(&p, PACE_OK, -1, 1, 1), 0);
	assert_int_equal(p.window, 5);
	for (i = 0; i < 200; i++) {
		assert_int_equal(pacer_acquire(&p, 2 + i), 0);
		pacer_done(&p, PACE_OK, -1, 1, 2 + i);
	}
	assert_int_equal(p.window, 16); /* never beyond --parallel */
}

static void
test_the_first_429_halves_the_window_and_guesses_a_pace_from_what_got_through(void **state)
{
	struct pacer p;
	long long t, wait;
	unsigned window;
	int i;

	(void)state;
	pacer_init(&p, 16, 0, 0);
	/* 100 answers a second got through for a second... */
	for (t = 0, i = 0; i < 100; i++, t += 10) {
		assert_int_equal(pacer_acquire(&p, t), 0);
		pacer_done(&p, PACE_OK, -1, 1, t);
	}
	assert_int_equal(pacer_acquire(&p, t), 0);
	window = p.window;
	assert_true(window > 8);
	/* ...then a 429 with Retry-After: 2 s for that request. */
	wait = pacer_done(&p, PACE_LIMITED, 2000, 1, t);
	assert_int_equal(wait, 2000);
	assert_true(p.rps > 95 && p.rps < 105); /* about 100: a guess the next 429s correct */
	assert_int_equal(p.window, window / 2);
	/* The pace now spaces requests about 10 ms apart. */
	assert_int_equal(pacer_acquire(&p, t), 0);
	wait = pacer_acquire(&p, t);
	assert_true(wait >= 9 && wait <= 12);
	/* Retry-After is capped. */
	pacer_done(&p, PACE_OK, -1, 1, t);
	assert_int_equal(pacer_acquire(&p, t + 100), 0);
	assert_int_equal(pacer_done(&p, PACE_LIMITED, 3600 * 1000, 1, t + 100), p.max_pause_ms);
}

static void test_max_rps_caps_from_the_start(void **state)
{
	struct pacer p;
	long long t = 0, sent = 0;

	(void)state;
	pacer_init(&p, 64, 20, 0);
	/* One simulated second, asking every millisecond: about 20 get through. */
	for (t = 0; t < 1000; t++) {
		if (pacer_acquire(&p, t) == 0) {
			sent++;
			pacer_done(&p, PACE_OK, -1, 1, t);
		}
	}
	assert_true(sent >= 19 && sent <= 21);
}

static void test_failures_back_off_with_jitter_up_to_8s(void **state)
{
	struct pacer p;
	long long w;
	unsigned attempt;
	int i;

	(void)state;
	pacer_init(&p, 4, 0, 0);
	for (i = 0; i < 50; i++) {
		for (attempt = 1; attempt <= 8; attempt++) {
			long long full = 250LL << (attempt - 1);

			if (full > 8000)
				full = 8000;
			assert_int_equal(pacer_acquire(&p, 0), 0);
			w = pacer_done(&p, PACE_FAILED, -1, attempt, 0);
			assert_true(w >= full / 2 && w <= full);
		}
	}
	assert_int_equal(p.window, 4); /* failures are not the registry asking to slow down */
}

/* -- the pacer against a simulated limit_req ----------------------------------------------- */

/*
 * nginx's limit_req with `nodelay` (ngx_http_limit_req_module.c): `excess` leaks at `rate` a
 * second, each request adds one, and a request that would take it over `burst` is answered 429
 * and changes nothing. From an empty bucket at most rate * t + burst + 1 pass in t seconds.
 */
struct bucket {
	double rate, burst, excess;
	long long last_ms;
	int used;
};

static int bucket_take(struct bucket *b, long long now_ms)
{
	double e = 0;

	if (b->used) {
		e = b->excess - b->rate * (double)(now_ms - b->last_ms) / 1000.0 + 1;
		if (e < 0)
			e = 0;
	}
	if (e > b->burst)
		return 0;
	b->excess = e;
	b->last_ms = now_ms;
	b->used = 1;
	return 1;
}

enum worker_state { IDLE, WANT, IN_FLIGHT, BACKING_OFF };

struct worker {
	enum worker_state state;
	long long at; /* when the answer comes, or the backoff ends */
	int ok;	      /* the answer the registry gave */
	unsigned attempt;
};

#define WORKERS 16
#define MAX_OKS 8192

/* One prune run: WORKERS workers, each taking the next item and asking until it succeeds. */
struct sim {
	struct pacer p;
	struct bucket b;
	struct worker w[WORKERS];
	long long now, latency_ms, stall_from, stall_to, stall_ms;
	unsigned long seed;
	long long first_limited; /* -1: none yet */
	unsigned requests, limited, oks;
	int burst_used;
	long long ok_at[MAX_OKS]; /* when the registry let each request through */
};

static void sim_init(struct sim *s, double rate, double burst)
{
	memset(s, 0, sizeof(*s));
	s->b = (struct bucket){.rate = rate, .burst = burst};
	s->latency_ms = 40;
	s->first_limited = -1;
	s->seed = 12345;
	pacer_init(&s->p, WORKERS, 0, 0);
}

/* Requests before the pool's (berth lists the tags first) have used the burst. */
static void use_burst(struct sim *s)
{
	while (bucket_take(&s->b, s->now))
		;
	s->burst_used = 1;
}

/* An answer's time: the latency, 0-99 ms of jitter, or the stall's latency within it. */
static long long answer_ms(struct sim *s)
{
	s->seed = s->seed * 1103515245UL + 12345UL;
	if (s->now >= s->stall_from && s->now < s->stall_to)
		return s->stall_ms;
	return s->latency_ms + (long long)((s->seed >> 16) % 100);
}

/* One worker's millisecond. */
static void step(struct sim *s, struct worker *w, size_t *left)
{
	if (w->state == IN_FLIGHT && s->now >= w->at) {
		long long delay = pacer_done(&s->p, w->ok ? PACE_OK : PACE_LIMITED,
					     w->ok ? -1 : 1000, w->attempt, s->now);

		w->state = w->ok ? IDLE : BACKING_OFF;
		w->at = s->now + delay;
		w->attempt++;
	}
	if (w->state == BACKING_OFF && s->now >= w->at)
		w->state = WANT;
	if (w->state == IDLE && *left) {
		(*left)--;
		w->state = WANT;
		w->attempt = 1;
	}
	if (w->state == WANT && pacer_acquire(&s->p, s->now) == 0) {
		w->ok = bucket_take(&s->b, s->now);
		s->requests++;
		if (w->ok) {
			assert_true(s->oks < MAX_OKS);
			s->ok_at[s->oks++] = s->now;
		} else {
			s->limited++;
			if (s->first_limited < 0)
				s->first_limited = s->now;
		}
		w->state = IN_FLIGHT;
		/* nginx answers a 429 itself, at once; the registry takes its time */
		w->at = s->now + (w->ok ? answer_ms(s) : 2);
	}
}

/* Runs `items` to the end from the current time; returns how long it took (ms). */
static long long sim_run(struct sim *s, size_t items)
{
	long long start = s->now;
	int busy = 1;
	unsigned i;

	while (items || busy) {
		busy = 0;
		for (i = 0; i < WORKERS; i++) {
			step(s, &s->w[i], &items);
			busy |= s->w[i].state != IDLE;
		}
		s->now++;
		assert_true(s->now - start < 3600 * 1000);
	}
	return s->now - start;
}

/* The fewest requests the registry let through in any second from `from_ms` to `to_ms`. */
static unsigned least_in_a_second(const struct sim *s, long long from_ms, long long to_ms)
{
	unsigned least = ~0U, i, n;
	long long t;

	for (t = from_ms; t + 1000 <= to_ms; t += 50) {
		for (i = 0, n = 0; i < s->oks; i++)
			n += s->ok_at[i] >= t && s->ok_at[i] < t + 1000;
		if (n < least)
			least = n;
	}
	return least;
}

/* A time as a multiple of the ideal: `n` requests at the bucket's rate, its burst free unless
 * used before. */
static double of_ideal(const struct sim *s, long long ms, unsigned n)
{
	double free = s->burst_used ? 0 : s->b.burst + 1;

	return (double)ms / 1000.0 / (((double)n - free) / s->b.rate);
}

static void test_a_short_run_converges_within_2s_of_the_first_429(void **state)
{
	static const long long latencies[] = {10, 40, 100};
	static struct sim s;
	unsigned i, seed, least;
	long long took;

	(void)state;
	/* The case: 30 r/s, burst 5, about 450 requests, the burst used by the listing
	 * before them, so that the pool's first requests are answered 429. From 2 s after that
	 * until the last second, every second lets 27 or more through. A registry that answers in
	 * 10-110, 40-140 and 100-200 ms, each with three draws of the jitter. */
	for (i = 0; i < ARRAY_SIZE(latencies); i++) {
		for (seed = 1; seed <= 3; seed++) {
			sim_init(&s, 30, 5);
			s.latency_ms = latencies[i];
			s.seed = seed;
			use_burst(&s);
			took = sim_run(&s, 450);
			least = least_in_a_second(&s, s.first_limited + 2000, s.now - 1000);
			print_message("short run, %lld ms: %lld ms = %.3fx the ideal, %u requests, "
				      "%u answered 429, first at %lld ms; from 2 s after it at "
				      "least %u a second\n",
				      s.latency_ms, took, of_ideal(&s, took, s.oks), s.requests,
				      s.limited, s.first_limited, least);
			assert_true(s.first_limited >= 0 && s.first_limited < 100);
			assert_true(least >= 27);
			assert_true(of_ideal(&s, took, s.oks) <= 1.10);
			assert_true(s.limited <= s.requests / 10); /* riding the limit */
		}
	}
}

static void test_a_long_run_holds_the_limit(void **state)
{
	static struct sim s;
	long long took;
	unsigned least;

	(void)state;
	sim_init(&s, 30, 5);
	took = sim_run(&s, 2000);
	least = least_in_a_second(&s, 2000, s.now - 1000);
	print_message("long run: %lld ms = %.3fx the ideal, %u requests, %u answered 429, "
		      "from 2 s in at least %u a second\n",
		      took, of_ideal(&s, took, s.oks), s.requests, s.limited, least);
	assert_true(least >= 27);
	assert_true(of_ideal(&s, took, s.oks) <= 1.03);
	assert_true(s.limited <= s.requests / 20);
}

static void test_a_stall_does_not_set_the_pace(void **state)
{
	static struct sim s;
	long long took;
	unsigned least;

	(void)state;
	/* The registry answers in 700 ms for a second, 8 s in: a lull in what gets through. */
	sim_init(&s, 30, 5);
	s.stall_from = 8000;
	s.stall_to = 9000;
	s.stall_ms = 700;
	took = sim_run(&s, 1200);
	least = least_in_a_second(&s, 11000, s.now - 1000);
	print_message("stall: %lld ms, %u requests, %u answered 429, from 2 s after it at least "
		      "%u a second\n",
		      took, s.requests, s.limited, least);
	assert_true(least >= 27);
	/* The stall costs about its second and the pace it interrupted, no more. */
	assert_true(of_ideal(&s, took - 1000, s.oks) <= 1.04);
}

/*
 * The registry's limit becomes `rate` and `items` more requests run: `least` gets the fewest
 * let through in any second from `settle_ms` after the change, `limited` the 429s since it.
 */
static void change_limit(struct sim *s, double rate, size_t items, long long settle_ms,
			 unsigned *least, unsigned *limited)
{
	long long from = s->now;
	unsigned before = s->limited;

	s->b.rate = rate;
	sim_run(s, items);
	*least = least_in_a_second(s, from + settle_ms, s->now - 1000);
	*limited = s->limited - before;
	print_message("limit now %.0f: from %lld ms after at least %u a second, %u answered 429\n",
		      rate, settle_ms, *least, *limited);
}

static void test_a_limit_that_changes_mid_run_is_followed(void **state)
{
	static struct sim s;
	unsigned limited, least;

	(void)state;
	sim_init(&s, 30, 5);
	sim_run(&s, 300); /* 10 s at 30 r/s */
	/* The registry halves its limit: the pace follows within 2 s, with few 429s. */
	change_limit(&s, 15, 300, 2000, &least, &limited);
	assert_true(least >= 13);
	assert_true(limited <= 30);
	/* It doubles back: the pace finds the new limit within 15 s. It probes no further than 5%
	 * over the limit it measured until 5 s pass without a 429, then grows 10% a second. */
	change_limit(&s, 30, 750, 15000, &least, &limited);
	assert_true(least >= 27);
	assert_true(limited <= 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_starts_small_and_grows_with_successes),
		cmocka_unit_test(
			test_the_first_429_halves_the_window_and_guesses_a_pace_from_what_got_through),
		cmocka_unit_test(test_max_rps_caps_from_the_start),
		cmocka_unit_test(test_failures_back_off_with_jitter_up_to_8s),
		cmocka_unit_test(test_a_short_run_converges_within_2s_of_the_first_429),
		cmocka_unit_test(test_a_long_run_holds_the_limit),
		cmocka_unit_test(test_a_stall_does_not_set_the_pace),
		cmocka_unit_test(test_a_limit_that_changes_mid_run_is_followed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
