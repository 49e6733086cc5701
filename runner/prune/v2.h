/*
 * A repository on a registry with the Docker Registry API v2, for `berth prune`: its tags
 * (GET tags/list, following Link), each tag's digest and creation time (GET the manifest, an
 * index's first manifest, the config blob's `created`), and deletes by digest. Credentials
 * are the docker config's login for the host, authorized as `berth login` does, with a Bearer
 * token for scope repository:PATH:pull,delete.
 */
#ifndef V2_H
#define V2_H

#include "prune/pool.h"
#include "prune/prune.h"
#include "registry/registry.h"

#include <pthread.h>

struct settings;

struct v2_config {
	char digest[80];
	long long created;
};

struct v2 {
	struct prune_repo *repo;
	struct registry_login login;
	struct secret password;
	char user[256];
	char base[700]; /* "https://HOST/v2/PATH" */
	char scope[600];
	int need_created;

	pthread_mutex_t mu; /* guards what follows */
	struct secret auth; /* the Authorization in use; empty for an open registry */
	unsigned auth_generation;
	struct v2_config *configs; /* creation times read, by config digest */
	size_t nr_configs, alloc_configs;
	char fatal[512]; /* why the run stopped (STEP_ABORT), or "" */
	unsigned long requests;

	size_t *deletes; /* prune_plan_deletes: one tag per digest to delete */
	size_t nr_deletes;
};

/*
 * Reads the login for the repository's host from the docker config dir `docker_dir` and
 * authorizes. BERTH_OK, or a failure class after reporting.
 */
enum berth_result v2_open(struct v2 *v, struct prune_repo *r, const struct settings *s,
			  const char *docker_dir, struct http_client *c);
void v2_close(struct v2 *v);

/* The repository's tags into v->repo (no digests yet). */
enum berth_result v2_list(struct v2 *v, struct http_client *c);

/*
 * pool steps: read tag i's digest (and creation time when need_created); delete item i, whose
 * every try records its result on the digest's tags.
 */
enum pool_step v2_inspect(void *v, size_t i, struct http_client *c, unsigned attempt,
			  long long *retry_after_ms);
enum pool_step v2_delete(void *v, size_t i, struct http_client *c, unsigned attempt,
			 long long *retry_after_ms);
void v2_give_up_inspect(void *v, size_t i);

#endif
