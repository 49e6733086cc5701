/*
 * How fast `berth prune` may talk to a registry: a window of requests in flight that grows
 * while requests succeed and halves at the first 429; after it, a pace in requests per second
 * measured between 429s (the model is in pacer.c); Retry-After for the request it answered;
 * backoff with jitter for 5xx answers and broken connections. Pure logic on a caller's clock, so
 * the tests drive it with made-up times; prune/pool.c puts it around real requests.
 */
#ifndef PACER_H
#define PACER_H

/* What became of one request. */
enum pace_outcome {
	PACE_OK,      /* an answer the caller can use (any status but those below) */
	PACE_LIMITED, /* 429: too fast */
	PACE_FAILED,  /* 5xx, a reset connection, a timeout: try again later */
	PACE_WAIT,    /* not now, for a reason other than speed (CRaaS: garbage collection) */
};

#define PACE_HISTORY 64 /* answers remembered: the progress line's rate, the first 429's guess */

struct pacer {
	/* limits from the settings or flags */
	unsigned max_window; /* --parallel */
	double max_rps;	     /* --max-rps; 0: none */
	long long max_pause_ms;

	unsigned window;    /* requests allowed in flight now */
	unsigned in_flight; /* requests started and not done */
	unsigned grown;	    /* successes since the window last grew */
	double rps;	    /* the pace since the first 429; 0: none yet */
	int held;	    /* a request is waiting for the pace */
	long long grown_ms; /* since when that counts for its growth */
	double next_ms;	    /* when the pace allows the next request (ms) */

	unsigned long long started, oks; /* requests started, successful answers, so far */
	long long first_ms;		 /* when the first request started */
	/* 429s: the first and the last (when, and the successes by then); the stretches between
	 * close ones, added up (their length, the successes in them); whether any came after the
	 * first's bunch, and the first at all. */
	long long first_limited_ms, last_limited_ms, run_ms;
	unsigned long long first_oks, last_oks, run_oks;
	int limited, limited_ever;
	double measured; /* r as last measured between close 429s; 0: not yet */

	long long ok_ms[PACE_HISTORY]; /* times of the last successful answers (a ring) */
	unsigned ok_next, ok_count;
};

void pacer_init(struct pacer *p, unsigned max_window, double max_rps, long long now_ms);

/*
 * May a request start at `now_ms`? 0: yes, and it counts as in flight. Otherwise how many ms
 * to wait before asking again (at least 1).
 */
long long pacer_acquire(struct pacer *p, long long now_ms);

/*
 * A request that pacer_acquire let start has ended. `retry_after_ms` is the registry's
 * Retry-After for a 429 (-1 when it gave none), or the wait for PACE_WAIT. Returns how many ms
 * this request should wait before its next try (`attempt` counts its tries, from 1); 0 for
 * PACE_OK.
 */
long long pacer_done(struct pacer *p, enum pace_outcome outcome, long long retry_after_ms,
		     unsigned attempt, long long now_ms);

/* Successful answers per second over the recent history (0 when too few to tell). */
double pacer_rate(const struct pacer *p, long long now_ms);

#endif
