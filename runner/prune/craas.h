/*
 * Selectel CRaaS through its management API (settings `craas_api`, header X-Auth-Token with
 * a project-scoped IAM token), for `berth prune`: a registry by name, its repositories, their
 * images (digest, createdAt, tags) and deletes by digest. The registry's own Docker API does
 * not list what the panel shows (seed/README.md), so this is the way to clean it.
 *
 * The token is $CRAAS_TOKEN as it is, or one Keystone issues to a service user
 * ($CRAAS_USERNAME, $CRAAS_ACCOUNT, $CRAAS_PROJECT_ID or $CRAAS_PROJECT_NAME, $CRAAS_PASSWORD;
 * prune/keystone.h), renewed when it nears its expiry or the API answers 401.
 */
#ifndef CRAAS_H
#define CRAAS_H

#include "prune/keystone.h"
#include "prune/pool.h"
#include "prune/prune.h"

#include <pthread.h>

struct settings;

struct craas {
	char api[512];
	char registry[256]; /* its name */
	char id[128];	    /* its id */
	char host[256];
	unsigned timeout;
	/* The token, shared by the workers: each request takes a copy under token_mu, since
	 * another worker may renew it meanwhile. */
	pthread_mutex_t token_mu;
	struct secret token;  /* "X-Auth-Token" value */
	unsigned generation;  /* +1 each time a new token replaces the old */
	int renewable;	      /* a service user's: Keystone issues another */
	long long expires_at; /* Unix seconds; -1 when unknown */
	long long margin;     /* renew once less than this many seconds are left */
	long long retry_at;   /* a renewal ahead of expiry failed: not again before this */
	char renew_why[600];  /* why the last renewal after a 401 failed, or "" */
	int fresh_refused;    /* the API refused a token just renewed: no more renewals */
	long keystone_status; /* Keystone's answer to the last failed issue; 0: none */
	struct keystone_user user;
	struct secret password;
	char username[256], account[256], project_id[256], project_name[256];
	struct prune_repo *repo; /* the repository being pruned */
	size_t *deletes;
	size_t nr_deletes;
	pthread_mutex_t mu;
	char fatal[512];
	unsigned long requests;
};

/*
 * Gets the token (see above), finds registry `name` on `host` and checks it is not
 * collecting garbage. BERTH_OK, or a failure class after reporting.
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
