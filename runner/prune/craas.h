/*
 * Selectel CRaaS through its management API (settings `craas_api`, header X-Auth-Token with
 * the IAM token from $CRAAS_TOKEN), for `berth prune`: a registry by name, its repositories,
 * their images (digest, createdAt, tags) and deletes by digest. The registry's own Docker API
 * does not list what the panel shows (seed/README.md), so this is the way to clean it.
 */
#ifndef CRAAS_H
#define CRAAS_H

#include "prune/pool.h"
#include "prune/prune.h"

#include <pthread.h>

struct settings;

struct craas {
	char api[512];
	char registry[256]; /* its name */
	char id[128];	    /* its id */
	char host[256];
	struct secret token; /* "X-Auth-Token" value */
	unsigned timeout;
	struct prune_repo *repo; /* the repository being pruned */
	size_t *deletes;
	size_t nr_deletes;
	pthread_mutex_t mu;
	char fatal[512];
	unsigned long requests;
};

/*
 * Finds registry `name` on `host` and checks it is not collecting garbage; the token from
 * $CRAAS_TOKEN. BERTH_OK, or a failure class after reporting.
 */
enum berth_result craas_open(struct craas *c, const struct settings *s, const char *host,
			     const char *name, struct http_client *http);
void craas_close(struct craas *c);

/* The registry's repository names into `out`. */
enum berth_result craas_repositories(struct craas *c, struct http_client *http, struct strvec *out);

/* Repository `repo` (its path: REGISTRY/NAME): every image's tags, digest and createdAt. */
enum berth_result craas_list(struct craas *c, struct prune_repo *repo, struct http_client *http);

/*
 * pool step: delete item i (an index into c->deletes), each try recording its result; 409
 * (garbage collection) waits.
 */
enum pool_step craas_delete(void *c, size_t i, struct http_client *http, unsigned attempt,
			    long long *retry_after_ms);

/* Starts garbage collection (delete-untagged=true) once every delete is done. */
enum berth_result craas_collect_garbage(struct craas *c, struct http_client *http);

#endif
