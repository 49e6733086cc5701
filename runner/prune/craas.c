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

#define RENEW_MARGIN_S 300 /* a token is renewed 5 minutes before it expires... */
#define RENEW_RETRY_S  10  /* ...and if Keystone fails then, tried again after this */

/* Keystone's refusal (4xx) is the credentials' fault; no answer, or a 5xx, is not. */
static enum berth_result keystone_class(long status)
{
	return status >= 400 && status < 500 ? BERTH_BUILD_FAILURE : BERTH_SYSTEM_FAILURE;
}

/* What a Keystone failure means, in the variables the user set. */
static void keystone_failure(const struct craas *c, long status, const char *why, char *out,
			     size_t size)
{
	const struct keystone_user *u = &c->user;
	const char *project = u->project_id ? u->project_id : u->project_name;

	if (status == 0)
		snprintf(out, size,
			 "cannot reach the identity API %s (setting craas_identity_url) for a "
			 "CRaaS token: %s",
			 u->url, why);
	else if (status == 401)
		snprintf(out, size,
			 "the identity API %s refused user '%s' of account %s (HTTP 401): check "
			 "the password in CRAAS_PASSWORD, and CRAAS_USERNAME and CRAAS_ACCOUNT",
			 u->url, u->name, u->domain);
	else if (status >= 400 && status < 500)
		snprintf(out, size,
			 "the identity API %s refused user '%s' of account %s a token for "
			 "project %s (HTTP %ld): check %s and that the user has a role in it",
			 u->url, u->name, u->domain, project, status,
			 u->project_id ? "CRAAS_PROJECT_ID" : "CRAAS_PROJECT_NAME");
	else if (status >= 500)
		snprintf(out, size,
			 "the identity API %s failed to issue a CRaaS token (HTTP %ld): run berth "
			 "prune again later",
			 u->url, status);
	else
		snprintf(out, size,
			 "the identity API %s (setting craas_identity_url) gave no token: %s",
			 u->url, why);
}

/*
 * A new token from Keystone in place of the old one, with token_mu held (or before the
 * workers start). 0; or -1 with `why` in the user's terms.
 */
static int issue(struct craas *c, struct http_client *http, char *why, size_t size)
{
	struct keystone_token t = {.expires_at = -1};
	char reason[HTTP_ERROR_SIZE + 160];
	long long lifetime;

	if (keystone_issue(http, &c->user, &t, reason, sizeof(reason)) < 0) {
		c->keystone_status = t.status;
		keystone_failure(c, t.status, reason, why, size);
		keystone_token_release(&t);
		return -1;
	}
	secret_release(&c->token);
	c->token = t.token;
	c->generation++;
	/* Half the lifetime of a short-lived token, so that it is not renewed at every request.
	 * An expiry already past by this machine's clock (a clock far ahead) says nothing: the
	 * 401 then tells when to renew. */
	lifetime = t.expires_at >= 0 ? t.expires_at - t.issued_at : 0;
	c->expires_at = lifetime > 0 ? t.expires_at : -1;
	c->margin = lifetime / 2 < RENEW_MARGIN_S ? lifetime / 2 : RENEW_MARGIN_S;
	return 0;
}

/*
 * A copy of the token a request carries now, and its generation; a token about to expire is
 * renewed first (when that fails, the old one serves while it lasts). 0, or -1 (memory).
 */
static int take_token(struct craas *c, struct http_client *http, struct secret *out,
		      unsigned *generation)
{
	long long now = (long long)time(NULL);
	char why[sizeof(c->renew_why)];
	int ret;

	pthread_mutex_lock(&c->token_mu);
	if (c->renewable && c->expires_at >= 0 && now >= c->expires_at - c->margin &&
	    now >= c->retry_at && issue(c, http, why, sizeof(why)) < 0)
		c->retry_at = now + RENEW_RETRY_S;
	ret = secret_set(out, (const char *)c->token.data);
	*generation = c->generation;
	pthread_mutex_unlock(&c->token_mu);
	return ret;
}

/*
 * The API refused the token of `generation` (401): a new one, unless another worker has got
 * one since. 0; or -1 with c->renew_why set.
 */
static int renew(struct craas *c, struct http_client *http, unsigned generation)
{
	int ret = 0;

	pthread_mutex_lock(&c->token_mu);
	if (c->fresh_refused)
		ret = -1; /* a token just issued was refused: another would be too */
	else if (c->generation == generation)
		ret = issue(c, http, c->renew_why, sizeof(c->renew_why));
	pthread_mutex_unlock(&c->token_mu);
	return ret;
}

/*
 * GET/DELETE/POST `path` below the API; 0 with an answer, -1 with none (`why` says). A 401 to
 * a service user's token renews it once and asks again: the answer to that stands.
 */
static int call(struct craas *c, struct http_client *http, const char *method, const char *path,
		struct http_response *res, char *why, size_t why_size)
{
	char url[1600];
	struct secret token = SECRET_INIT;
	struct http_request req = {.method = method, .url = url, .accept = "application/json"};
	unsigned generation;
	int got, renewed = 0;

	snprintf(url, sizeof(url), "%s%s", c->api, path);
	req.authorization = &token;
	req.auth_header = "X-Auth-Token";
	req.timeout = c->timeout;
	req.max_body = ANSWER_MAX;
	for (;;) {
		if (take_token(c, http, &token, &generation) < 0) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		__atomic_add_fetch(&c->requests, 1, __ATOMIC_RELAXED);
		got = http_do(http, &req, res, why, why_size);
		if (got < 0 || res->status != 401 || !c->renewable)
			break;
		if (renewed++) {
			pthread_mutex_lock(&c->token_mu);
			c->fresh_refused = 1;
			pthread_mutex_unlock(&c->token_mu);
			break;
		}
		if (renew(c, http, generation) < 0)
			break;
		http_response_release(res);
	}
	secret_release(&token);
	return got;
}

/* Whose token the API refused, for its message. */
static void token_owner(struct craas *c, char *out, size_t size)
{
	char why[sizeof(c->renew_why)];

	pthread_mutex_lock(&c->token_mu);
	snprintf(why, sizeof(why), "%s", c->renew_why);
	pthread_mutex_unlock(&c->token_mu);
	if (!c->renewable)
		snprintf(out, size, "the token in CRAAS_TOKEN");
	else if (why[0])
		snprintf(out, size, "its token (expired or revoked; no new one came: %s)", why);
	else
		snprintf(out, size, "the token Keystone issued to user '%s' (project %s)",
			 c->username, c->project_id[0] ? c->project_id : c->project_name);
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
		char owner[sizeof(c->renew_why) + 64];

		token_owner(c, owner, sizeof(owner));
		error("the CRaaS API %s refused %s (HTTP %ld): it must be a project-scoped IAM "
		      "token of the project that holds registry %s",
		      c->api, owner, res.status, c->registry);
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

/* $name into `out`: 1 when set, 0 when unset or empty, -1 (reported) when too long. */
static int from_env(const char *name, char *out, size_t size)
{
	const char *v = getenv(name);

	out[0] = '\0';
	if (!v || !*v)
		return 0;
	if (strlen(v) >= size)
		return error("%s is longer than %zu bytes", name, size - 1);
	memcpy(out, v, strlen(v) + 1);
	return 1;
}

/* A service user's credentials from the environment (docs/prune.md); BERTH_OK or a class. */
static enum berth_result service_user(struct craas *c, const struct settings *s)
{
	int user = from_env("CRAAS_USERNAME", c->username, sizeof(c->username));
	int account = from_env("CRAAS_ACCOUNT", c->account, sizeof(c->account));
	int id = from_env("CRAAS_PROJECT_ID", c->project_id, sizeof(c->project_id));
	int name = from_env("CRAAS_PROJECT_NAME", c->project_name, sizeof(c->project_name));

	if (user < 0 || account < 0 || id < 0 || name < 0)
		return BERTH_BUILD_FAILURE;
	if (!user || !account || id + name != 1) {
		error("CRAAS_PASSWORD is set: a CRaaS token for its service user also needs "
		      "CRAAS_USERNAME (the user's name), CRAAS_ACCOUNT (the account number) and "
		      "one of CRAAS_PROJECT_ID and CRAAS_PROJECT_NAME (the project that holds "
		      "registry %s)%s",
		      c->registry, id && name ? ": both project variables are set" : "");
		return BERTH_BUILD_FAILURE;
	}
	if (secret_set(&c->password, getenv("CRAAS_PASSWORD")) < 0)
		return BERTH_SYSTEM_FAILURE;
	c->user = (struct keystone_user){.url = s->craas_identity_url,
					 .name = c->username,
					 .domain = c->account,
					 .project_id = id ? c->project_id : NULL,
					 .project_name = name ? c->project_name : NULL,
					 .password = &c->password,
					 .timeout = s->registry_timeout};
	c->renewable = 1;
	return BERTH_OK;
}

/* CRAAS_TOKEN as it is, or a service user's first token from Keystone. */
static enum berth_result first_token(struct craas *c, const struct settings *s,
				     struct http_client *http)
{
	const char *token = getenv("CRAAS_TOKEN"), *password = getenv("CRAAS_PASSWORD");
	char why[sizeof(c->renew_why)];
	enum berth_result r;

	if (token && *token && password && *password) {
		error("both CRAAS_TOKEN and CRAAS_PASSWORD are set: unset CRAAS_TOKEN to have berth "
		      "get (and renew) the CRaaS token for the service user, or CRAAS_PASSWORD to "
		      "use the token as it is");
		return BERTH_BUILD_FAILURE;
	}
	if (token && *token)
		return secret_set(&c->token, token) < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
	if (!password || !*password) {
		error("pruning CRaaS registry %s/%s needs its API token: set CRAAS_TOKEN to a "
		      "project-scoped IAM token (the X-Auth-Token of %s), or CRAAS_USERNAME, "
		      "CRAAS_ACCOUNT, CRAAS_PROJECT_ID and CRAAS_PASSWORD to a service user's "
		      "credentials",
		      c->host, c->registry, c->api);
		return BERTH_BUILD_FAILURE;
	}
	r = service_user(c, s);
	if (r != BERTH_OK)
		return r;
	if (issue(c, http, why, sizeof(why)) == 0)
		return BERTH_OK;
	error("%s", why);
	return keystone_class(c->keystone_status);
}

enum berth_result craas_open(struct craas *c, const struct settings *s, const char *host,
			     const char *name, struct http_client *http)
{
	enum berth_result r;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->token_mu, NULL);
	c->expires_at = -1;
	snprintf(c->api, sizeof(c->api), "%s", s->craas_api);
	snprintf(c->registry, sizeof(c->registry), "%s", name);
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->timeout = s->registry_timeout;
	r = first_token(c, s, http);
	return r == BERTH_OK ? find_registry(c, http) : r;
}

void craas_close(struct craas *c)
{
	secret_release(&c->token);
	secret_release(&c->password);
	free(c->deletes);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->token_mu);
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
	if (!name) {
		error("out of memory");
		return r;
	}
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
		char owner[sizeof(c->renew_why) + 64];

		token_owner(c, owner, sizeof(owner));
		s = pool_abort(&c->mu, c->fatal, sizeof(c->fatal),
			       "the CRaaS API refused to delete from registry %s (HTTP %ld): %s "
			       "needs a role that may delete images",
			       c->registry, res.status, owner);
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
