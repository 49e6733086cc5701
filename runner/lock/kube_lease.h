/*
 * The Lease objects of the kubernetes lock backend (lock/kube.c) and the rules on them that
 * need no server: a Lease naming this process, who a Lease names, the queue's order, and when
 * a waiter may call a Lease dead. Internal to the backend; a header of its own so that unit
 * tests reach it.
 */
#ifndef LOCK_KUBE_LEASE_H
#define LOCK_KUBE_LEASE_H

#include "lock/lock.h"

#include <jansson.h>
#include <stddef.h>

#define LEASE_ANNOTATION "berth.io/"
#define LEASE_LABEL_LOCK "berth.io/lock"
#define LEASE_LABEL_ROLE "berth.io/role"
#define LEASE_MANAGED_BY "app.kubernetes.io/managed-by"
#define LEASE_NAME_SIZE	 96

/* When a waiter first saw an object's current version: the clock that decides staleness. */
struct lease_sighting {
	char name[LEASE_NAME_SIZE];
	char version[64];
	long long since_ms;
};

/* One Lease of a lock as a LIST shows it. */
struct lease_item {
	json_t *obj; /* borrowed from the list */
	const char *name;
	const char *holder; /* spec.holderIdentity, NULL or "" when free */
	unsigned long long ticket;
	unsigned duration;
	long long unchanged_ms; /* how long this waiter has seen it as it is */
};

/* One Lease of any lock, for `berth locks`. */
struct lease_listed {
	const char *hash;
	int is_lock;
	unsigned long long ticket;
	json_t *obj;
};

/*
 * A new Lease `name` in namespace `ns` for lock `l` (its key's hash `hash`), with `role` "lock"
 * or "ticket", held by `l->me` for the settings' lease duration. NULL when out of memory.
 */
json_t *lease_new(const struct lock *l, const char *ns, const char *hash, const char *name,
		  const char *role);
/* Makes `obj` name `l->me` as its holder, acquired and renewed now. */
void lease_set_owner(json_t *obj, const struct lock *l);
/* A number as the string an annotation holds. */
json_t *lease_number(long long v);
/* A MicroTime of now: RFC 3339 with exactly six fractional digits, as the API server wants. */
void lease_microtime(char *buf, size_t size);

/* obj[part][name] as a string, or NULL. */
const char *lease_field(json_t *obj, const char *part, const char *name);
/* berth's annotation `name` on `obj`, or NULL. */
const char *lease_annotation(json_t *obj, const char *name);
/* The "lock" or "ticket" label, or NULL. */
const char *lease_role(json_t *obj);
/* Who `obj` names, from its annotations ("-" for what is missing). */
void lease_owner(json_t *obj, struct lock_owner *o);
/* 1 when `obj` has a holder and names process `me` (its host and pid). */
int lease_is_ours(json_t *obj, const struct lock_owner *me);
/* "job 42 (group/app) on host since ..." for `obj`, or "nobody" when NULL. */
void lease_describe(json_t *obj, char *buf, size_t size);

/*
 * Fills `it` from a listed Lease, and notes in `now_seen` since when this waiter has seen it
 * at its resourceVersion: from `seen` (the last look's sightings, `nr_seen` of them), else
 * `now`. A Lease without a sane leaseDurationSeconds (1 to 3600) gets `fallback`.
 */
void lease_sight(json_t *obj, unsigned fallback, const struct lease_sighting *seen, size_t nr_seen,
		 long long now, struct lease_item *it, struct lease_sighting *now_seen);
/* 1 when this waiter has seen `it` unchanged for its whole duration: nobody renews it. */
int lease_dead(const struct lease_item *it);
/* qsort orders: a lock's queue by ticket; all Leases by lock, its own Lease first, then ticket. */
int lease_by_ticket(const void *a, const void *b);
int lease_by_lock_then_ticket(const void *a, const void *b);

#endif
