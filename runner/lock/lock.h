/*
 * Resource-group locks (docs/locks.md): one interface, one file per backend. A lock is taken
 * for a key, waits in arrival order, and is held until the holder and everything it started
 * are gone.
 */
#ifndef LOCK_H
#define LOCK_H

#include "base/berth.h"
#include "conf/lock_key.h"
#include "conf/settings.h"
#include "conf/vars.h"

#include <jansson.h>
#include <sys/types.h>

/* Who is in a lock's queue; from the job's CI_* variables, informational only. */
struct lock_owner {
	char job[32];
	char project[256];
	char pipeline_url[512];
	char host[256];
	pid_t pid;
	long long queued;	   /* Unix seconds: when it joined the queue */
	long long since;	   /* when it took the lock; 0 while waiting */
	unsigned long long ticket; /* its place in arrival order */
};

/* One lock as a listing shows it: the holder first (when held), then the waiters in order. */
struct lock_entry {
	char key[LOCK_KEY_MAX + 1];
	struct lock_owner *owners;
	size_t nr;
	int held; /* owners[0] holds the lock */
};

struct lock {
	const struct settings *settings;
	char key[LOCK_KEY_MAX + 1];
	struct lock_owner me;
	const char *kubeconfig; /* the job's kubeconfig file, or NULL (kubernetes backend) */
	int fd;			/* file: the held ticket, inherited by the command it protects */
	void *impl;		/* kubernetes: the backend's state while queued or holding */
	/* Set by acquire: the command the lock protects must get SIGKILL if berth dies, for the
	 * lock lives only as long as berth renews it (kubernetes). proc.die_with_berth. */
	int die_with_berth;
	/* Optional: called with each "waiting for lock" line, the first as soon as the lock is
	 * found held, then every STATUS_EVERY seconds (the run stage refreshes its gauges). */
	void (*waiting)(const struct lock *l);
};

struct lock_backend {
	const char *name;
	/*
	 * Joins the queue and waits: BERTH_OK when held; after reporting, a system failure
	 * (timeout, stop, the lock service failing) or a build failure (the job's own
	 * credentials were refused).
	 */
	enum berth_result (*acquire)(struct lock *l, unsigned timeout);
	/* Lets go: 0, or -1 when the lock was lost while held (reported: the command was killed).
	 */
	int (*release)(struct lock *l);
	/* Calls `each` for every lock with a holder or waiters. */
	int (*list)(const struct settings *s, int (*each)(const struct lock_entry *, void *),
		    void *data);
};

extern const struct lock_backend lock_file;
extern const struct lock_backend lock_kube;
/* The client of the stage's lock broker, for `berth lock`, `berth werf` and `berth locks` in a
 * job's scripts (lock/broker.c). */
extern const struct lock_backend lock_broker;

/*
 * The backend the settings choose, as a job's script or a person uses it: with the file
 * backend, inside a job (BERTH_JOB_DIR set), the stage's lock broker (lock/broker.c).
 */
const struct lock_backend *lock_backend_for(const struct settings *s);
/* The backend itself, for the run stage and the broker, which own the store. */
const struct lock_backend *lock_store_for(const struct settings *s);

/* Fills `me` from the job's CI_JOB_ID, CI_PROJECT_PATH, CI_PIPELINE_URL, the host and pid. */
void lock_owner_init(struct lock_owner *me, const struct vars *v);
/* "job 42 (group/app) on host since 16:40:01" for messages. */
const char *lock_owner_describe(const struct lock_owner *o, char *buf, size_t size);

/*
 * `e` as `berth locks --json` lists it: {"key", "holder": owner or null, "waiters": [owner...]},
 * each owner {"job", "project", "pipeline_url", "host", "pid", "queued", "since", "ticket"}.
 * NULL after reporting.
 */
json_t *lock_entry_json(const struct lock_entry *e);

/*
 * Waiting: stops are caught (proc_catch_stops) and a periodic tick interrupts a backend's
 * blocking wait so it can look at proc_stop_requested() and its deadline. 0 or -1.
 */
int lock_wait_begin(void);
void lock_wait_end(void);
/*
 * From now on a hangup of `fd` (a client that left) counts as a stop to every wait: for the
 * lock broker, whose waits are on behalf of another process.
 */
void lock_wait_watch(int fd);

#endif
