#include "prune/pool.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/proc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_EVERY_MS 2000

struct run {
	struct pool *pool;
	pthread_mutex_t mu;
	pthread_cond_t changed; /* an answer came, or an item finished */
	size_t next, n, finished;
};

void pool_init(struct pool *p, unsigned parallel, double max_rps)
{
	memset(p, 0, sizeof(*p));
	p->parallel = parallel ? parallel : 1;
	pacer_init(&p->pacer, p->parallel, max_rps, clock_now_ms());
}

enum pool_step pool_abort(pthread_mutex_t *mu, char *reason, size_t size, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(mu);
	if (!reason[0]) {
		va_start(ap, fmt);
		vsnprintf(reason, size, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(mu);
	return STEP_ABORT;
}

/* An absolute CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait. */
static struct timespec after_ms(long long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void wait_ms(struct run *r, long long ms)
{
	struct timespec until = after_ms(ms);

	pthread_cond_timedwait(&r->changed, &r->mu, &until);
}

static int stopping(struct run *r)
{
	if (proc_stop_requested())
		r->pool->aborted = 1;
	return r->pool->aborted;
}

/* Waits (locked) until the pacer lets a request start; 0, or -1 when the run stops. */
static int acquire(struct run *r)
{
	long long wait;

	while (!stopping(r) && (wait = pacer_acquire(&r->pool->pacer, clock_now_ms())) > 0)
		wait_ms(r, wait);
	return r->pool->aborted ? -1 : 0;
}

/* Sleeps `ms` (unlocked in effect: the wait lets the lock go) unless the run stops. */
static void back_off(struct run *r, long long ms)
{
	long long until = clock_now_ms() + ms;

	while (!stopping(r) && clock_now_ms() < until)
		wait_ms(r, until - clock_now_ms());
}

static enum pace_outcome outcome_of(enum pool_step s)
{
	switch (s) {
	case STEP_LIMITED:
		return PACE_LIMITED;
	case STEP_RETRY:
		return PACE_FAILED;
	case STEP_WAIT:
		return PACE_WAIT;
	default:
		return PACE_OK;
	}
}

/* Every request item `i` needs, each through the pacer; called and returning locked. */
static void work_on(struct run *r, size_t i, struct http_client *c)
{
	struct pool *p = r->pool;
	unsigned attempt = 1, waits = 0;

	for (;;) {
		enum pool_step s;
		long long retry_after = -1, delay;

		if (acquire(r) < 0)
			return;
		pthread_mutex_unlock(&r->mu);
		s = p->step(p->ctx, i, c, attempt, &retry_after);
		pthread_mutex_lock(&r->mu);
		delay = pacer_done(&p->pacer, outcome_of(s), retry_after, attempt, clock_now_ms());
		pthread_cond_broadcast(&r->changed);
		if (s == STEP_ABORT)
			p->aborted = 1;
		if (s == STEP_DONE || s == STEP_ABORT)
			return;
		if (s == STEP_MORE) {
			attempt = 1;
			continue;
		}
		if (s == STEP_WAIT ? ++waits > POOL_MAX_WAITS : attempt++ >= POOL_MAX_ATTEMPTS) {
			p->give_up(p->ctx, i);
			return;
		}
		back_off(r, delay);
	}
}

static void *worker(void *arg)
{
	struct run *r = arg;
	struct http_client c;
	int ok = http_client_init(&c) == 0;

	pthread_mutex_lock(&r->mu);
	if (!ok)
		r->pool->aborted = 1; /* reported; the others stop too rather than wait forever */
	while (ok && !stopping(r) && r->next < r->n) {
		size_t i = r->next++;

		work_on(r, i, &c);
		r->finished++;
		pthread_cond_broadcast(&r->changed);
	}
	pthread_mutex_unlock(&r->mu);
	if (ok)
		http_client_release(&c);
	return NULL;
}

static int init_run(struct run *r, struct pool *p, size_t n)
{
	pthread_condattr_t attr;

	memset(r, 0, sizeof(*r));
	r->pool = p;
	r->n = n;
	if (pthread_mutex_init(&r->mu, NULL) || pthread_condattr_init(&attr) ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&r->changed, &attr))
		return error("cannot set up the prune workers");
	pthread_condattr_destroy(&attr);
	return 0;
}

/* Waits for the workers, printing progress; the workers end when the items do. */
static void watch(struct run *r, size_t started)
{
	struct pool *p = r->pool;
	long long next = clock_now_ms() + PROGRESS_EVERY_MS;

	pthread_mutex_lock(&r->mu);
	while (r->finished < started && !(stopping(r) && r->finished >= r->next)) {
		long long now = clock_now_ms();

		if (now >= next) {
			if (p->progress)
				p->progress(p->ctx, &p->pacer, now);
			next = now + PROGRESS_EVERY_MS;
		}
		wait_ms(r, next - now < 200 ? next - now : 200);
	}
	pthread_mutex_unlock(&r->mu);
}

int pool_run(struct pool *p, size_t n)
{
	unsigned i, count = p->parallel < n ? p->parallel : (unsigned)n;
	pthread_t *threads;
	struct run r;
	int ret = 0;

	if (!n)
		return 0;
	if (init_run(&r, p, n) < 0)
		return -1;
	threads = calloc(count, sizeof(*threads));
	for (i = 0; threads && i < count; i++)
		if (pthread_create(&threads[i], NULL, worker, &r) != 0)
			break;
	if (i == 0)
		ret = error("cannot start the prune workers: %s", strerror(errno));
	else
		watch(&r, n);
	while (i-- > 0)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_cond_destroy(&r.changed);
	pthread_mutex_destroy(&r.mu);
	return ret;
}
