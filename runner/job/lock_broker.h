/*
 * The lock broker (docs/locks.md): how a job's scripts take the file backend's locks. The lock
 * store is berth's alone; for each stage, `berth run` serves a socket in the job's workspace,
 * takes a lock for the script's `berth lock` or `berth werf` in a process of its own, and
 * hands the ticket's descriptor over the socket. A job never writes a file root opens, and
 * the broker knows the job from the runner's response file, not from what the script says.
 */
#ifndef LOCK_BROKER_H
#define LOCK_BROKER_H

#include "job/context.h"
#include "lock/lock.h"

#include <sys/types.h>
#include <sys/un.h>

#define LOCK_BROKER_WAITS 16 /* requests one job may have in the broker at once */

struct lock_broker {
	const struct context *ctx;
	uid_t peer_uid;			/* whose scripts it serves */
	int listen;			/* the socket; -1 when not serving */
	int conn;			/* the request being taken */
	pid_t peer;			/* who sent it */
	pid_t waits[LOCK_BROKER_WAITS]; /* the processes serving requests, 0 for a free slot */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/*
 * Opens the socket for `ctx`'s job, for the scripts of uid `peer` (its job user's, or berth's
 * own). 0, or -1 after reporting.
 */
int lock_broker_start(struct lock_broker *b, const struct context *ctx, uid_t peer);
/* Takes one request from the socket (proc's serve hook: call it when the socket is readable). */
void lock_broker_serve(void *b);
/* Closes the socket. The processes still serving requests are the stage's leftovers. */
void lock_broker_stop(struct lock_broker *b);

#endif
