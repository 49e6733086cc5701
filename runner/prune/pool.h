/*
 * Workers for `berth prune`: up to `parallel` threads, each with its own HTTP client (its own
 * kept-alive connection), take items in order and make one request at a time for them, each
 * request let through by the shared pacer (prune/pacer.h). An item may need several requests
 * (a manifest, then its config); a request that fails is tried again as the pacer says.
 */
#ifndef POOL_H
#define POOL_H

#include "base/http.h"
#include "prune/pacer.h"

#include <pthread.h>
#include <stddef.h>

#define POOL_MAX_ATTEMPTS 6
#define POOL_MAX_WAITS	  300

enum pool_step {
	STEP_DONE,    /* the item is finished (well or not: the step recorded it) */
	STEP_MORE,    /* one request done; the item needs another */
	STEP_LIMITED, /* 429: *retry_after_ms says when (-1: not said) */
	STEP_RETRY,   /* 5xx, a broken connection, a timeout: try again */
	STEP_WAIT,    /* not now (CRaaS garbage collection): again after *retry_after_ms,
			 not counted as a try, at most POOL_MAX_WAITS times */
	STEP_ABORT,   /* nothing more should be tried at all (the step said why) */
};

struct pool {
	struct pacer pacer; /* shared by every run of the pool: what it learnt stays */
	unsigned parallel;
	/* One request for item `i`, its `attempt`-th try (from 1). */
	enum pool_step (*step)(void *ctx, size_t i, struct http_client *c, unsigned attempt,
			       long long *retry_after_ms);
	/* The item's requests failed POOL_MAX_ATTEMPTS times (steps record each failure). */
	void (*give_up)(void *ctx, size_t i);
	/* Called every 2 s from the waiting thread, with the pacer locked. */
	void (*progress)(void *ctx, const struct pacer *p, long long now_ms);
	void *ctx;
	int aborted; /* a step said STEP_ABORT, or berth was asked to stop */
};

void pool_init(struct pool *p, unsigned parallel, double max_rps);
/*
 * For a step whose answer means nothing more should be tried: records why in `reason` (size
 * `size`, guarded by `mu`; the first reason wins) and returns STEP_ABORT.
 */
enum pool_step pool_abort(pthread_mutex_t *mu, char *reason, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Runs the step over items 0..n-1. 0, or -1 when the workers could not start (reported). */
int pool_run(struct pool *p, size_t n);

#endif
