/*
 * The lock broker (docs/locks.md): how a job's scripts take the file backend's locks. The lock
 * store is berth's alone; for each stage, `berth run` serves a socket in the job's workspace
 * from a process of its own, which takes a lock for the script's `berth lock` or `berth werf`
 * and hands the ticket's descriptor over the socket. A job never writes a file root opens, and
 * the broker knows the job from the runner's response file, not from what the script says.
 */
#ifndef LOCK_BROKER_H
#define LOCK_BROKER_H

#include "context.h"
#include "lock.h"

#include <sys/types.h>
#include <sys/un.h>

/* The socket, in the job's workspace: the scripts' berth finds it through BERTH_JOB_DIR. */
#define LOCK_BROKER_SOCKET "lock.sock"

struct lock_broker {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int life; /* while this write end is open, the broker serves; its waits end with it */
};

/*
 * Serves the job of `ctx` to the scripts of uid `peer` (its job user's, or berth's own) until
 * lock_broker_stop. 0, or -1 after reporting.
 */
int lock_broker_start(struct lock_broker *b, const struct context *ctx, uid_t peer);
/* Ends it and every wait it has; locks it handed over stay with their holders. */
void lock_broker_stop(struct lock_broker *b);

/* The client, for `berth lock`, `berth werf` and `berth locks` in a job's scripts. */
extern const struct lock_backend lock_broker;

#endif
