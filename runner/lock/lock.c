#include "lock/lock.h"

#include "base/log.h"
#include "base/proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const struct lock_backend *lock_store_for(const struct settings *s)
{
	return !strcmp(s->lock_backend, "kubernetes") ? &lock_kube : &lock_file;
}

const struct lock_backend *lock_backend_for(const struct settings *s)
{
	/* In a job's scripts the store is out of reach: the stage's broker takes their locks. */
	if (lock_store_for(s) == &lock_file && getenv(JOB_MARKER))
		return &lock_broker;
	return lock_store_for(s);
}

static void copy_var(char *dst, size_t size, const struct vars *v, const char *name)
{
	const char *value = vars_get(v, name);

	snprintf(dst, size, "%s", value ? value : "-");
}

void lock_owner_init(struct lock_owner *me, const struct vars *v)
{
	memset(me, 0, sizeof(*me));
	copy_var(me->job, sizeof(me->job), v, "CI_JOB_ID");
	copy_var(me->project, sizeof(me->project), v, "CI_PROJECT_PATH");
	copy_var(me->pipeline_url, sizeof(me->pipeline_url), v, "CI_PIPELINE_URL");
	if (gethostname(me->host, sizeof(me->host)) < 0)
		snprintf(me->host, sizeof(me->host), "-");
	me->host[sizeof(me->host) - 1] = '\0';
	me->pid = getpid();
	me->queued = (long long)time(NULL);
}

const char *lock_owner_describe(const struct lock_owner *o, char *buf, size_t size)
{
	char when[32] = "-";
	time_t t = (time_t)(o->since ? o->since : o->queued);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, size, "job %s (project %s, pipeline %s) on %s, pid %d, %s %s", o->job,
		 o->project, o->pipeline_url, o->host, (int)o->pid,
		 o->since ? "since" : "queued at", when);
	return buf;
}

static json_t *owner_json(const struct lock_owner *o)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I}", "job", o->job, "project",
			 o->project, "pipeline_url", o->pipeline_url, "host", o->host, "pid",
			 (int)o->pid, "queued", (json_int_t)o->queued, "since",
			 (json_int_t)o->since, "ticket", (json_int_t)o->ticket);
}

json_t *lock_entry_json(const struct lock_entry *e)
{
	json_t *waiters = json_array(), *entry;
	size_t i;

	for (i = e->held ? 1 : 0; i < e->nr; i++)
		json_array_append_new(waiters, owner_json(&e->owners[i]));
	entry = json_pack("{s:s, s:o, s:o}", "key", e->key, "holder",
			  e->held ? owner_json(&e->owners[0]) : json_null(), "waiters", waiters);
	if (!entry)
		error("cannot list lock '%s' as JSON: a holder's job, project or pipeline is not "
		      "valid UTF-8",
		      e->key);
	return entry;
}

/*
 * A blocking flock must notice a stop or a deadline: SIGALRM, installed without SA_RESTART,
 * interrupts it every 200 ms. Stops themselves are caught by proc_catch_stops.
 */
static struct sigaction saved_alrm;
static int watched = -1;

/* A hangup of the watched descriptor is a stop: raise is async-signal-safe, and so is poll. */
static void on_tick(int sig)
{
	struct pollfd pfd = {watched, POLLRDHUP, 0};
	int saved = errno;

	(void)sig;
	if (watched >= 0 && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR)))
		raise(SIGTERM);
	errno = saved;
}

void lock_wait_watch(int fd)
{
	watched = fd;
}

int lock_wait_begin(void)
{
	struct sigaction sa;
	struct itimerval tick = {{0, 200000}, {0, 200000}};

	if (proc_catch_stops() < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_tick;
	sigaction(SIGALRM, &sa, &saved_alrm);
	setitimer(ITIMER_REAL, &tick, NULL);
	return 0;
}

void lock_wait_end(void)
{
	struct itimerval off = {{0, 0}, {0, 0}};

	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &saved_alrm, NULL);
}
