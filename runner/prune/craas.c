#include "prune/craas.h"

#include "base/log.h"
#include "registry/registry.h"
#include "conf/settings.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX (32 << 20)
#define GC_WAIT_MS 2000 /* a delete answered 409: garbage collection runs; look again then */

/* GET/DELETE/POST `path` below the API; 0 with an answer, -1 with none (`why` says). */
static int call(struct craas *c, struct http_client *http, const char *method, const char *path,
		struct http_response *res, char *why, size_t why_size)
{
	char url[1600];
	struct http_request req = {.method = method, .url = url, .accept = "application/json"};

	snprintf(url, sizeof(url), "%s%s", c->api, path);
	req.authorization = &c->token;
	req.auth_header = "X-Auth-Token";
	req.timeout = c->timeout;
	req.max_body = ANSWER_MAX;
	__atomic_add_fetch(&c->requests, 1, __ATOMIC_RELAXED);
	return http_do(http, &req, res, why, why_size);
}

/* A GET whose answer must be a JSON array, into *list; the class of failure after reporting. */
static enum berth_result get_list(struct craas *c, struct http_client *http, const char *path,
				  json_t **list)
{
	struct http_response res = {0};
	char why[HTTP_ERROR_SIZE];
	enum berth_result r = BERTH_SYSTEM_FAILURE;

	*list = NULL;
	if (call(c, http, "GET", path, &res, why, sizeof(why)) < 0) {
		error("cannot reach the CRaaS API %s: %s", c->api, why);
	} else if (http_status_result(res.status) == BERTH_BUILD_FAILURE) {
		error("the CRaaS API %s refused the token in CRAAS_TOKEN (HTTP %ld): it must be a "
		      "project-scoped IAM token of the project that holds registry %s",
		      c->api, res.status, c->registry);
		r = BERTH_BUILD_FAILURE;
	} else if (res.status != 200) {
		error("the CRaaS API %s answered HTTP %ld to GET %s", c->api, res.status, path);
	} else if (!(*list = json_loadb((const char *)res.body.data, res.body.len, 0, NULL)) ||
		   !json_is_array(*list)) {
		error("the CRaaS API %s sent no JSON list for GET %s", c->api, path);
		json_decref(*list);
		*list = NULL;
	} else {
		r = BERTH_OK;
	}
	http_response_release(&res);
	return r;
}

static enum berth_result find_registry(struct craas *c, struct http_client *http)
{
	json_t *list, *reg;
	enum berth_result r = get_list(c, http, "/registries", &list);
	const char *status = NULL;
	size_t i;

	json_array_foreach(list, i, reg)
	{
		const char *name = json_string_value(json_object_get(reg, "name"));
		const char *id = json_string_value(json_object_get(reg, "id"));

		if (name && id && !strcmp(name, c->registry)) {
			snprintf(c->id, sizeof(c->id), "%s", id);
			status = json_string_value(json_object_get(reg, "status"));
			break;
		}
	}
	if (list && !c->id[0]) {
		error("CRaaS has no registry '%s' in the token's project: check the name",
		      c->registry);
		r = BERTH_BUILD_FAILURE;
	} else if (list && status && !strcmp(status, "GARBAGE_COLLECTION")) {
		error("CRaaS registry '%s' is in status GARBAGE_COLLECTION: deletes would fail "
		      "while garbage collection runs; run berth prune again when it is done",
		      c->registry);
		r = BERTH_SYSTEM_FAILURE;
	}
	json_decref(list);
	return r;
}

enum berth_result craas_open(struct craas *c, const struct settings *s, const char *host,
			     const char *name, struct http_client *http)
{
	const char *token = getenv("CRAAS_TOKEN");

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	snprintf(c->api, sizeof(c->api), "%s", s->craas_api);
	snprintf(c->registry, sizeof(c->registry), "%s", name);
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->timeout = s->registry_timeout;
	if (!token || !*token) {
		error("pruning CRaaS registry %s/%s needs its API token: set CRAAS_TOKEN to a "
		      "project-scoped IAM token (the X-Auth-Token of %s)",
		      host, name, c->api);
		return BERTH_BUILD_FAILURE;
	}
	if (secret_set(&c->token, token) < 0)
		return BERTH_SYSTEM_FAILURE;
	return find_registry(c, http);
}

void craas_close(struct craas *c)
{
	secret_release(&c->token);
	free(c->deletes);
	pthread_mutex_destroy(&c->mu);
}

enum berth_result craas_repositories(struct craas *c, struct http_client *http, struct strvec *out)
{
	char path[512];
	enum berth_result r;
	json_t *list, *repo;
	size_t i;

	snprintf(path, sizeof(path), "/registries/%s/repositories", c->id);
	r = get_list(c, http, path, &list);
	json_array_foreach(list, i, repo)
	{
		const char *name = json_string_value(json_object_get(repo, "name"));

		if (name && strvec_push(out, name) < 0)
			r = BERTH_SYSTEM_FAILURE;
	}
	json_decref(list);
	return r;
}

/* The repository's name in the API: its path without the registry's name. */
static char *api_repo(const struct prune_repo *r)
{
	const char *slash = strchr(r->path, '/');

	return http_escape(slash ? slash + 1 : r->path);
}

static int add_image(struct prune_repo *r, json_t *image)
{
	const char *digest = json_string_value(json_object_get(image, "digest"));
	long long created =
		prune_parse_time(json_string_value(json_object_get(image, "createdAt")));
	json_t *tags = json_object_get(image, "tags"), *tag;
	size_t i;

	if (!digest || strlen(digest) >= sizeof(r->tags->digest))
		return 0; /* nothing berth could delete */
	json_array_foreach(tags, i, tag)
	{
		struct prune_tag *t;

		if (!json_is_string(tag))
			continue;
		t = prune_repo_add(r, json_string_value(tag));
		if (!t)
			return -1;
		snprintf(t->digest, sizeof(t->digest), "%s", digest);
		t->created = created;
	}
	return 0;
}

enum berth_result craas_list(struct craas *c, struct prune_repo *repo, struct http_client *http)
{
	char path[1024], *name = api_repo(repo);
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	json_t *list, *image;
	size_t i;

	c->repo = repo;
	if (!name)
		return error("out of memory"), r;
	snprintf(path, sizeof(path), "/registries/%s/repositories/%s/images", c->id, name);
	free(name);
	r = get_list(c, http, path, &list);
	json_array_foreach(list, i, image)
	{
		if (add_image(repo, image) < 0)
			r = BERTH_SYSTEM_FAILURE;
	}
	json_decref(list);
	return r;
}

enum pool_step craas_delete(void *arg, size_t i, struct http_client *http, unsigned attempt,
			    long long *retry_after_ms)
{
	struct craas *c = arg;
	struct prune_tag *t = &c->repo->tags[c->deletes[i]];
	struct http_response res = {0};
	char path[1200], why[HTTP_ERROR_SIZE], result[PRUNE_RESULT_SIZE], *name = api_repo(c->repo);
	enum pool_step s = STEP_DONE;
	int got;

	(void)attempt;
	if (!name)
		return pool_abort(&c->mu, c->fatal, sizeof(c->fatal), "out of memory");
	snprintf(path, sizeof(path), "/registries/%s/repositories/%s/%s", c->id, name, t->digest);
	free(name);
	got = call(c, http, "DELETE", path, &res, why, sizeof(why));
	snprintf(result, sizeof(result), "failed: %s", got < 0 ? why : "the API kept failing");
	if (got < 0 || res.status >= 500) {
		s = STEP_RETRY;
	} else if (res.status == 429 || res.status == 409) {
		/* 409: garbage collection started meanwhile; it ends, and the delete can go. That
		 * is no rate limit: the pace stays. */
		long wait = registry_retry_after(res.retry_after, time(NULL));

		*retry_after_ms = wait >= 0 ? wait * 1000 : res.status == 409 ? GC_WAIT_MS : -1;
		s = res.status == 409 ? STEP_WAIT : STEP_LIMITED;
	} else if (res.status == 200 || res.status == 202 || res.status == 204) {
		snprintf(result, sizeof(result), "deleted");
	} else if (res.status == 404) {
		snprintf(result, sizeof(result), "already gone");
	} else if (http_status_result(res.status) == BERTH_BUILD_FAILURE) {
		s = pool_abort(
			&c->mu, c->fatal, sizeof(c->fatal),
			"the CRaaS API refused to delete from registry %s (HTTP %ld): the token "
			"in CRAAS_TOKEN needs a role that may delete images",
			c->registry, res.status);
		snprintf(result, sizeof(result), "failed: %s", c->fatal);
	} else {
		snprintf(result, sizeof(result), "failed: HTTP %ld", res.status);
	}
	prune_set_result(c->repo, t->digest, result);
	http_response_release(&res);
	return s;
}

enum berth_result craas_collect_garbage(struct craas *c, struct http_client *http)
{
	struct http_response res = {0};
	char path[512], why[HTTP_ERROR_SIZE];
	enum berth_result r = BERTH_SYSTEM_FAILURE;

	snprintf(path, sizeof(path), "/registries/%s/garbage-collection?delete-untagged=true",
		 c->id);
	if (call(c, http, "POST", path, &res, why, sizeof(why)) < 0)
		error("cannot start garbage collection on CRaaS registry %s: %s", c->registry, why);
	else if (http_status_result(res.status) != BERTH_OK)
		error("CRaaS registry %s refused to start garbage collection (HTTP %ld)",
		      c->registry, res.status);
	else
		r = BERTH_OK;
	if (r == BERTH_OK)
		info("garbage collection started on CRaaS registry %s: pushes to it are unsafe "
		     "until it ends",
		     c->registry);
	http_response_release(&res);
	return r;
}
