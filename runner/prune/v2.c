#include "prune/v2.h"

#include "registry/docker_config.h"
#include "base/clock.h"
#include "base/log.h"
#include "conf/settings.h"
#include "base/sha256.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Without the OCI types an OCI manifest is 404; without Docker v2 a v2 manifest is converted to
 * schema 1 with another digest (PEERS.md). */
#define MANIFEST_TYPES                                                                             \
	"application/vnd.oci.image.manifest.v1+json, "                                             \
	"application/vnd.docker.distribution.manifest.v2+json, "                                   \
	"application/vnd.oci.image.index.v1+json, "                                                \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MANIFEST_MAX (4 << 20)
#define LIST_MAX     (16 << 20)

/* What a tag's inspection reads next: its manifest, an index's first manifest, its config. */
enum { READ_MANIFEST, READ_CHILD, READ_CONFIG };

static int split_login(struct v2 *v, struct secret *login)
{
	const char *colon = memchr(login->data, ':', login->len);
	size_t ulen = (size_t)(colon - (const char *)login->data);

	if (ulen >= sizeof(v->user))
		return error("the docker config's user name for %s is too long", v->repo->host);
	memcpy(v->user, login->data, ulen);
	v->user[ulen] = '\0';
	return secret_set(&v->password, colon + 1);
}

enum berth_result v2_open(struct v2 *v, struct prune_repo *r, const struct settings *s,
			  const char *docker_dir, struct http_client *c)
{
	const struct registry_setting *reg = settings_registry(s, r->host);
	struct secret login = SECRET_INIT;
	int found;

	memset(v, 0, sizeof(*v));
	v->repo = r;
	pthread_mutex_init(&v->mu, NULL);
	found = docker_config_get(docker_dir, r->host, &login);
	if (found < 0 || (found && split_login(v, &login) < 0)) {
		secret_release(&login);
		return BERTH_SYSTEM_FAILURE;
	}
	secret_release(&login);
	v->login = (struct registry_login){
		.host = r->host,
		.origin = "berth prune",
		.user = v->user,
		.source =
			found ? "the login in the docker config" : "no login in the docker config",
		.password = &v->password,
		.ca_file = reg ? reg->ca_file : NULL,
		.plain_http = reg ? reg->plain_http : 0,
		.timeout = s->registry_timeout,
		.max_wait = s->registry_max_wait,
	};
	snprintf(v->base, sizeof(v->base), "%s://%s/v2/%s", v->login.plain_http ? "http" : "https",
		 r->host, r->path);
	snprintf(v->scope, sizeof(v->scope), "repository:%s:pull,delete", r->path);
	v->requests++;
	return registry_authorize(c, &v->login, v->scope, &v->auth);
}

void v2_close(struct v2 *v)
{
	secret_release(&v->password);
	secret_release(&v->auth);
	free(v->configs);
	free(v->deletes);
	pthread_mutex_destroy(&v->mu);
	memset(v, 0, sizeof(*v));
}

/*
 * One request with the Authorization in force. A 401 means the token expired: authorize again
 * (once for every request that saw the old one) and let the caller try again.
 */
static int call(struct v2 *v, struct http_client *c, const char *method, const char *url,
		const char *accept, size_t max_body, struct http_response *res, char *why,
		size_t why_size)
{
	struct http_request req = {.method = method, .url = url, .accept = accept};
	struct secret auth = SECRET_INIT;
	unsigned generation;
	int got;

	pthread_mutex_lock(&v->mu);
	v->requests++;
	generation = v->auth_generation;
	if (v->auth.data && secret_set(&auth, (const char *)v->auth.data) < 0) {
		pthread_mutex_unlock(&v->mu);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	pthread_mutex_unlock(&v->mu);
	req.authorization = auth.data ? &auth : NULL;
	req.tls.ca_file = v->login.ca_file;
	req.timeout = v->login.timeout;
	req.max_body = max_body;
	got = http_do(c, &req, res, why, why_size);
	secret_release(&auth);
	if (got == 0 && res->status == 401) {
		pthread_mutex_lock(&v->mu);
		if (generation == v->auth_generation) {
			v->requests++;
			if (registry_authorize(c, &v->login, v->scope, &v->auth) == BERTH_OK)
				v->auth_generation++;
		}
		pthread_mutex_unlock(&v->mu);
	}
	return got;
}

/* The class of an answer that is not the step's own business: limits, failures, auth. */
static enum pool_step transient(struct v2 *v, int got, const struct http_response *res,
				const char *why, long long *retry_after_ms)
{
	long wait;

	if (got == HTTP_TLS_REJECTED)
		return pool_abort(&v->mu, v->fatal, sizeof(v->fatal),
				  "registry %s: TLS failed: %s; check its certificate and its "
				  "ca_file in berth's settings",
				  v->repo->host, why);
	if (got < 0 || res->status >= 500 || res->status == 401) {
		wait = res && got == 0 ? registry_retry_after(res->retry_after, time(NULL)) : -1;
		if (got == 0 && res->status == 503 && wait >= 0) {
			*retry_after_ms = wait * 1000;
			return STEP_LIMITED;
		}
		return STEP_RETRY;
	}
	if (res->status == 429) {
		wait = registry_retry_after(res->retry_after, time(NULL));
		*retry_after_ms = wait >= 0 ? wait * 1000 : -1;
		return STEP_LIMITED;
	}
	return STEP_DONE;
}

static void note_error(struct prune_tag *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_error(struct prune_tag *t, const char *fmt, ...)
{
	char buf[PRUNE_RESULT_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(t->error);
	t->error = strdup(buf);
}

/* "sha256:<64 hex>" */
static int valid_digest(const char *d)
{
	return d && strlen(d) == 71 && !strncmp(d, "sha256:", 7) &&
	       strspn(d + 7, "0123456789abcdef") == 64;
}

/* A manifest's digest: the registry's header, or the hash of the bytes it sent. */
static void manifest_digest(const struct http_response *res, char *out, size_t size)
{
	char hex[SHA256_HEX_SIZE];

	if (valid_digest(res->digest)) {
		snprintf(out, size, "%s", res->digest);
		return;
	}
	sha256_hex(res->body.data, res->body.len, hex);
	snprintf(out, size, "sha256:%s", hex);
}

/* What to read after a manifest: its config, or an index's first manifest. */
static int next_of_manifest(struct prune_tag *t, const struct http_response *res, int *state)
{
	json_t *root = json_loadb((const char *)res->body.data, res->body.len, 0, NULL);
	const char *d =
		json_string_value(json_object_get(json_object_get(root, "config"), "digest"));
	json_t *first = json_array_get(json_object_get(root, "manifests"), 0);

	if (!d && first) {
		d = json_string_value(json_object_get(first, "digest"));
		*state = READ_CHILD;
	} else {
		*state = READ_CONFIG;
	}
	free(t->config);
	t->config = valid_digest(d) ? strdup(d) : NULL;
	json_decref(root);
	return t->config ? 0 : -1;
}

/* 1 with a config digest's creation time in *created when another tag read it already. */
static int cached_created(struct v2 *v, const char *digest, long long *created)
{
	int found = 0;
	size_t i;

	pthread_mutex_lock(&v->mu);
	for (i = 0; i < v->nr_configs; i++)
		if (!strcmp(v->configs[i].digest, digest)) {
			*created = v->configs[i].created;
			found = 1;
		}
	pthread_mutex_unlock(&v->mu);
	return found;
}

static void cache_created(struct v2 *v, const char *digest, long long created)
{
	struct v2_config *grown;

	pthread_mutex_lock(&v->mu);
	grown = realloc(v->configs, (v->nr_configs + 1) * sizeof(*v->configs));
	if (grown) {
		v->configs = grown;
		snprintf(grown[v->nr_configs].digest, sizeof(grown->digest), "%s", digest);
		grown[v->nr_configs++].created = created;
	}
	pthread_mutex_unlock(&v->mu);
}

static long long created_of(const struct http_response *res)
{
	json_t *root = json_loadb((const char *)res->body.data, res->body.len, 0, NULL);
	long long t = prune_parse_time(json_string_value(json_object_get(root, "created")));

	json_decref(root);
	return t;
}

/* The tag's manifest: its digest, and what to read next for its creation time. */
static enum pool_step read_manifest(struct v2 *v, struct prune_tag *t, struct http_client *c,
				    int *state, long long *retry_after_ms)
{
	struct http_response res = {0};
	char url[1200], why[HTTP_ERROR_SIZE], *ref = *state == READ_CHILD ? t->config : t->tag;
	enum pool_step s;
	int got;

	snprintf(url, sizeof(url), "%s/manifests/%s", v->base, ref);
	got = call(v, c, v->need_created ? "GET" : "HEAD", url, MANIFEST_TYPES, MANIFEST_MAX, &res,
		   why, sizeof(why));
	s = transient(v, got, &res, why, retry_after_ms);
	if (s != STEP_DONE) {
		if (got < 0)
			note_error(t, "cannot reach the registry: %s", why);
		http_response_release(&res);
		return s;
	}
	if (res.status == 404) {
		note_error(t, "the tag is gone");
	} else if (res.status != 200) {
		note_error(t, "its manifest answered HTTP %ld", res.status);
	} else if (*state == READ_MANIFEST && !v->need_created && !valid_digest(res.digest)) {
		note_error(t, "the registry sent no Docker-Content-Digest");
	} else {
		if (*state == READ_MANIFEST)
			manifest_digest(&res, t->digest, sizeof(t->digest));
		if (v->need_created && next_of_manifest(t, &res, state) < 0)
			note_error(t, "its manifest names no config");
		else if (v->need_created)
			s = STEP_MORE;
	}
	http_response_release(&res);
	return s;
}

static enum pool_step read_config(struct v2 *v, struct prune_tag *t, struct http_client *c,
				  long long *retry_after_ms)
{
	struct http_response res = {0};
	char url[1200], why[HTTP_ERROR_SIZE];
	enum pool_step s;
	int got;

	if (cached_created(v, t->config, &t->created))
		return STEP_DONE;
	snprintf(url, sizeof(url), "%s/blobs/%s", v->base, t->config);
	got = call(v, c, "GET", url, NULL, MANIFEST_MAX, &res, why, sizeof(why));
	s = transient(v, got, &res, why, retry_after_ms);
	if (s == STEP_DONE && res.status == 200) {
		t->created = created_of(&res);
		cache_created(v, t->config, t->created);
	}
	http_response_release(&res);
	return s;
}

enum pool_step v2_inspect(void *arg, size_t i, struct http_client *c, unsigned attempt,
			  long long *retry_after_ms)
{
	struct v2 *v = arg;
	struct prune_tag *t = &v->repo->tags[i];

	(void)attempt;
	if (t->stage == READ_CONFIG)
		return read_config(v, t, c, retry_after_ms);
	return read_manifest(v, t, c, &t->stage, retry_after_ms);
}

void v2_give_up_inspect(void *arg, size_t i)
{
	struct v2 *v = arg;
	struct prune_tag *t = &v->repo->tags[i];

	if (!t->error)
		note_error(t, "the registry kept failing");
}

enum pool_step v2_delete(void *arg, size_t i, struct http_client *c, unsigned attempt,
			 long long *retry_after_ms)
{
	struct v2 *v = arg;
	struct prune_tag *t = &v->repo->tags[v->deletes[i]];
	struct http_response res = {0};
	char url[1200], why[HTTP_ERROR_SIZE], result[PRUNE_RESULT_SIZE];
	enum pool_step s;
	int got;

	(void)attempt;
	snprintf(url, sizeof(url), "%s/manifests/%s", v->base, t->digest);
	got = call(v, c, "DELETE", url, NULL, 64 << 10, &res, why, sizeof(why));
	s = transient(v, got, &res, why, retry_after_ms);
	snprintf(result, sizeof(result), "failed: %s", got < 0 ? why : "the registry kept failing");
	if (s == STEP_DONE && (res.status == 202 || res.status == 200))
		snprintf(result, sizeof(result), "deleted");
	else if (s == STEP_DONE && res.status == 404)
		snprintf(result, sizeof(result), "already gone");
	else if (s == STEP_DONE && res.status == 405)
		s = pool_abort(&v->mu, v->fatal, sizeof(v->fatal),
			       "registry %s does not allow deletes (HTTP 405 UNSUPPORTED): enable "
			       "them in its configuration (distribution: storage.delete.enabled: "
			       "true, or REGISTRY_STORAGE_DELETE_ENABLED=true)",
			       v->repo->host);
	else if (s == STEP_DONE && http_status_result(res.status) == BERTH_BUILD_FAILURE)
		s = pool_abort(&v->mu, v->fatal, sizeof(v->fatal),
			       "registry %s refused to delete from %s (HTTP %ld): the login for %s "
			       "needs delete permission there",
			       v->repo->host, v->repo->path, res.status, v->user);
	else if (s == STEP_DONE)
		snprintf(result, sizeof(result), "failed: HTTP %ld", res.status);
	if (s == STEP_ABORT)
		snprintf(result, sizeof(result), "failed: %s", v->fatal);
	/* A retry may follow: the last try's result stands. */
	prune_set_result(v->repo, t->digest, result);
	http_response_release(&res);
	return s;
}

/* The next page from a Link header: `<PATH?last=..&n=..>; rel="next"`, relative to the host. */
static int next_page(const struct v2 *v, const char *link, char *url, size_t size)
{
	const char *open = link ? strchr(link, '<') : NULL,
		   *close = open ? strchr(open, '>') : NULL;

	if (!close || !strstr(close, "rel=\"next\"") || open[1] != '/')
		return 0;
	snprintf(url, size, "%s://%s%.*s", v->login.plain_http ? "http" : "https", v->repo->host,
		 (int)(close - open - 1), open + 1);
	return 1;
}

static int add_tags(struct v2 *v, const struct http_response *res)
{
	json_t *root = json_loadb((const char *)res->body.data, res->body.len, 0, NULL), *tag;
	json_t *tags = json_object_get(root, "tags");
	size_t i;
	int ret = root ? 0
		       : error("registry %s: tags/list of %s is not JSON", v->repo->host,
			       v->repo->path);

	json_array_foreach(tags, i, tag)
	{
		if (json_is_string(tag) && !prune_repo_add(v->repo, json_string_value(tag)))
			ret = -1;
	}
	json_decref(root);
	return ret;
}

/* One page of tags/list, tried again on limits and failures like a pooled request. */
static int fetch_page(struct v2 *v, struct http_client *c, const char *url,
		      struct http_response *res)
{
	char why[HTTP_ERROR_SIZE];
	unsigned attempt;

	for (attempt = 1; attempt <= POOL_MAX_ATTEMPTS; attempt++) {
		long long wait = -1;
		int got = call(v, c, "GET", url, NULL, LIST_MAX, res, why, sizeof(why));
		enum pool_step s = transient(v, got, res, why, &wait);

		if (s == STEP_DONE)
			return 0;
		if (s == STEP_ABORT)
			return error("%s", v->fatal);
		http_response_release(res);
		if (attempt == POOL_MAX_ATTEMPTS)
			return error("registry %s: cannot list the tags of %s: %s", v->repo->host,
				     v->repo->path, got < 0 ? why : "it kept failing");
		wait = wait < 0 ? 500LL * attempt : wait;
		clock_sleep_ms(wait);
	}
	return -1;
}

enum berth_result v2_list(struct v2 *v, struct http_client *c)
{
	char url[1400];
	int more = 1, pages = 0;

	snprintf(url, sizeof(url), "%s/tags/list?n=1000", v->base);
	while (more && pages++ < 10000) {
		struct http_response res = {0};

		if (fetch_page(v, c, url, &res) < 0)
			return BERTH_SYSTEM_FAILURE;
		if (res.status == 404) {
			http_response_release(&res);
			error("registry %s has no repository %s: check the name", v->repo->host,
			      v->repo->path);
			return BERTH_BUILD_FAILURE;
		}
		if (res.status != 200 || add_tags(v, &res) < 0) {
			if (res.status != 200)
				error("registry %s answered HTTP %ld to tags/list of %s",
				      v->repo->host, res.status, v->repo->path);
			http_response_release(&res);
			return BERTH_SYSTEM_FAILURE;
		}
		more = next_page(v, res.link, url, sizeof(url));
		http_response_release(&res);
	}
	return BERTH_OK;
}
