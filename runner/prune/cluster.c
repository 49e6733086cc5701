#include "prune/cluster.h"

#include "kube/kube.h"
#include "base/array.h"
#include "base/http.h"
#include "base/log.h"
#include "conf/reference.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INPUT_MAX 512 /* longer than any reference a runtime accepts (name 255, tag, digest) */
#define PAGE_SIZE 500
#define MIN_PAGE  10
#define ATTEMPTS  3 /* tries of one page while the server fails or does not answer */
#define RESTARTS  3 /* lists of one kind begun again after their continue token expired */
#define NEED_RBAC                                                                                  \
	"list on pods, deployments, statefulsets, daemonsets, replicasets, jobs and cronjobs "     \
	"in all namespaces (a ClusterRole bound by a ClusterRoleBinding)"

/* ---- References -------------------------------------------------------------------------- */

/* Kubelets report imageIDs with the runtime's scheme in front. */
static const char *strip_scheme(const char *s)
{
	static const char *const schemes[] = {"docker-pullable://", "docker://"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(schemes); i++)
		if (!strncmp(s, schemes[i], strlen(schemes[i])))
			return s + strlen(schemes[i]);
	return s;
}

/* An image id ("sha256:<hex>", or the bare hex a runtime also accepts) names no repository. */
static int is_image_id(const char *s)
{
	if (!strncmp(s, "sha256:", 7))
		return 1;
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The length of the registry host `s` starts with, 0 when it names none (Docker Hub then). */
static size_t host_length(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : 0;

	if (n &&
	    (memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !strncmp(s, "localhost", 9))))
		return n;
	return 0;
}

static int is_docker_hub(const char *host, size_t n)
{
	static const char *const names[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (n == strlen(names[i]) && !strncasecmp(host, names[i], n))
			return 1;
	return 0;
}

int image_ref_parse(const char *s, struct image_ref *out)
{
	char full[INPUT_MAX + 32];
	struct reference ref;
	const char *name = strip_scheme(s), *rest;
	char why[128];
	size_t host = 0, i;

	memset(out, 0, sizeof(*out));
	if (strlen(s) > INPUT_MAX || is_image_id(name))
		return -1;
	host = host_length(name);
	rest = host ? name + host + 1 : name;
	if (host && !is_docker_hub(name, host))
		snprintf(full, sizeof(full), "%s", name);
	else /* a Docker Hub name of one component is an official image's */
		snprintf(full, sizeof(full), "docker.io/%s%s", strchr(rest, '/') ? "" : "library/",
			 rest);
	if (reference_parse(full, &ref, why, sizeof(why)) < 0)
		return -1;
	for (i = 0; ref.host[i]; i++)
		out->host[i] = (char)tolower((unsigned char)ref.host[i]);
	memcpy(out->path, ref.path, sizeof(out->path));
	memcpy(out->digest, ref.digest, sizeof(out->digest));
	snprintf(out->tag, sizeof(out->tag), "%s", *ref.tag || *ref.digest ? ref.tag : "latest");
	return 0;
}

static int same_ref(const struct image_ref *a, const struct image_ref *b)
{
	return !strcmp(a->host, b->host) && !strcmp(a->path, b->path) && !strcmp(a->tag, b->tag) &&
	       !strcmp(a->digest, b->digest);
}

/* Appends `ref` unless an equal one is there: the first object to use it keeps `where`. */
static int refs_add(struct image_refs *refs, const struct image_ref *ref)
{
	size_t i;

	for (i = 0; i < refs->nr; i++)
		if (same_ref(&refs->v[i], ref))
			return 0;
	if (refs->nr == refs->alloc) {
		size_t alloc = refs->alloc ? 2 * refs->alloc : 64;
		struct image_ref *v = realloc(refs->v, alloc * sizeof(*v));

		if (!v)
			return error("out of memory");
		refs->v = v;
		refs->alloc = alloc;
	}
	refs->v[refs->nr++] = *ref;
	return 0;
}

/* Hosts compare as image_ref_parse leaves them: lowercase, Docker Hub by one name. */
static int same_host(const char *ref_host, const char *host)
{
	if (is_docker_hub(host, strlen(host)))
		return !strcmp(ref_host, "docker.io");
	return !strcasecmp(ref_host, host);
}

const struct image_ref *image_refs_find(const struct image_refs *refs, const char *host,
					const char *path, const char *tag, const char *digest)
{
	size_t i;

	for (i = 0; i < refs->nr; i++) {
		const struct image_ref *r = &refs->v[i];

		if (!same_host(r->host, host) || strcmp(r->path, path) != 0)
			continue;
		if ((tag && *tag && !strcmp(r->tag, tag)) ||
		    (digest && *digest && !strcmp(r->digest, digest)))
			return r;
	}
	return NULL;
}

void image_refs_release(struct image_refs *refs)
{
	free(refs->v);
	memset(refs, 0, sizeof(*refs));
}

/* ---- The cluster ------------------------------------------------------------------------- */

static const char *const pod_spec[] = {"spec", NULL};
static const char *const template_spec[] = {"spec", "template", "spec", NULL};
static const char *const cronjob_spec[] = {"spec", "jobTemplate", "spec", "template", "spec", NULL};

struct kind {
	const char *name;	 /* "Deployment", for `where` */
	const char *plural;	 /* for messages */
	const char *path;	 /* the list across all namespaces */
	const char *older;	 /* the list in the version to try when the server lacks `path` */
	const char *const *spec; /* the keys from an object to its pod spec */
};

static const struct kind kinds[] = {
	{"Pod", "pods", "/api/v1/pods", NULL, pod_spec},
	{"Deployment", "deployments", "/apis/apps/v1/deployments", NULL, template_spec},
	{"StatefulSet", "statefulsets", "/apis/apps/v1/statefulsets", NULL, template_spec},
	{"DaemonSet", "daemonsets", "/apis/apps/v1/daemonsets", NULL, template_spec},
	{"ReplicaSet", "replicasets", "/apis/apps/v1/replicasets", NULL, template_spec},
	{"Job", "jobs", "/apis/batch/v1/jobs", NULL, template_spec},
	/* batch/v1 CronJobs came with Kubernetes 1.21; older servers only have v1beta1. */
	{"CronJob", "cronjobs", "/apis/batch/v1/cronjobs", "/apis/batch/v1beta1/cronjobs",
	 cronjob_spec},
};

struct lister {
	struct kube api;
	struct image_refs *out;
	const struct kind *kind;
	const char *path; /* kind->path, or kind->older */
	size_t limit;	  /* objects per page */
};

/* An image string for a message: capped, and nothing a terminal would act on. */
static void printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = '\0';
}

/*
 * One image of an object. A string that is no reference is skipped with a warning rather than
 * failing the listing: one odd workload must not stop every prune. Empty imageIDs (not pulled
 * yet) and bare image ids name no repository, so there is nothing to warn about.
 */
static int add_image(struct lister *l, const char *image, const char *where, int is_status)
{
	struct image_ref ref;
	char shown[200];

	if (!image || !*image)
		return 0;
	if (image_ref_parse(image, &ref) < 0) {
		if (!is_status || !is_image_id(strip_scheme(image))) {
			printable(image, shown, sizeof(shown));
			warning("skipping image '%s' of %s: it is not an image reference", shown,
				where);
		}
		return 0;
	}
	snprintf(ref.where, sizeof(ref.where), "%s", where);
	return refs_add(l->out, &ref);
}

static int add_list(struct lister *l, json_t *list, const char *field, const char *where,
		    int is_status)
{
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item)
	{
		if (add_image(l, json_string_value(json_object_get(item, field)), where,
			      is_status) < 0)
			return -1;
	}
	return 0;
}

static int scan_object(struct lister *l, json_t *obj)
{
	static const char *const containers[] = {"containers", "initContainers",
						 "ephemeralContainers"};
	static const char *const statuses[] = {"containerStatuses", "initContainerStatuses",
					       "ephemeralContainerStatuses"};
	json_t *meta = json_object_get(obj, "metadata"), *spec = obj;
	json_t *status = json_object_get(obj, "status");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *const *key;
	char where[160];
	size_t i;

	snprintf(where, sizeof(where), "%s/%s/%s", ns ? ns : "", l->kind->name, name ? name : "?");
	for (key = l->kind->spec; *key; key++)
		spec = json_object_get(spec, *key);
	for (i = 0; i < ARRAY_SIZE(containers); i++)
		if (add_list(l, json_object_get(spec, containers[i]), "image", where, 0) < 0)
			return -1;
	/* What Pods run, by digest: a tag moved since still leaves its old image in use. */
	for (i = 0; l->kind->spec == pod_spec && i < ARRAY_SIZE(statuses); i++)
		if (add_list(l, json_object_get(status, statuses[i]), "imageID", where, 1) < 0)
			return -1;
	l->out->objects++;
	return 0;
}

static char *page_path(const struct lister *l, const char *cont)
{
	char *escaped = cont ? http_escape(cont) : NULL, *path = NULL;

	if (cont && !escaped)
		return NULL;
	if (asprintf(&path, "%s?limit=%zu%s%s", l->path, l->limit, cont ? "&continue=" : "",
		     cont ? escaped : "") < 0)
		path = NULL;
	free(escaped);
	return path;
}

/*
 * One page, asked again while the server fails (5xx, 429) or does not answer, and with fewer
 * objects while a page is larger than kube.c reads (Pods with big specs). 0 with an answer the
 * caller judges; below 0 with none, r->message saying why, *tried how many tries were made.
 */
static int get_page(struct lister *l, const char *cont, struct kube_reply *r, unsigned *tried)
{
	for (;;) {
		struct backoff b = BACKOFF_INIT(500, 2, 0, ATTEMPTS);
		char *path = page_path(l, cont);
		int got;

		if (!path) {
			memset(r, 0, sizeof(*r));
			snprintf(r->message, sizeof(r->message), "out of memory");
			return -1;
		}
		got = kube_call_retry(&l->api, &b, "GET", path, NULL, r);
		free(path);
		*tried = b.tried;
		if (got != HTTP_TOO_LARGE || l->limit <= MIN_PAGE)
			return got;
		l->limit /= 2;
	}
}

/* Reports credentials the server refused (401 or 403): which fix the message names. */
static enum berth_result refused(const struct lister *l, const struct kube_reply *r)
{
	const char *server = l->api.config->server, *what = l->kind->plural;

	if (r->status == 401)
		error("the Kubernetes API at %s did not accept the credentials of %s listing %s "
		      "(HTTP 401: %s): renew its token or certificate; prune needs " NEED_RBAC,
		      server, l->api.source, what, r->message);
	else
		error("the Kubernetes API at %s refused to list %s in all namespaces for %s (HTTP "
		      "%ld: %s): prune needs " NEED_RBAC,
		      server, what, l->api.source, r->status, r->message);
	return BERTH_BUILD_FAILURE;
}

/* Reports a page that came without a list; the class of failure. */
static enum berth_result failed(const struct lister *l, const struct kube_reply *r, int got,
				unsigned tried)
{
	const char *server = l->api.config->server, *what = l->kind->plural;

	if (got < 0) {
		error("cannot list %s in the cluster of %s: no answer from the Kubernetes API at %s "
		      "after %u tries: %s; prune deletes nothing without the cluster's images: check "
		      "that the API server is up and reachable from this host",
		      what, l->api.source, server, tried, r->message);
		return BERTH_SYSTEM_FAILURE;
	}
	if (http_status_result(r->status) == BERTH_BUILD_FAILURE)
		return refused(l, r);
	if (kube_status_transient(r->status)) {
		error("the Kubernetes API at %s failed %u times to list %s (%s): HTTP %ld: %s; prune "
		      "deletes nothing without the cluster's images: run it again when the API "
		      "server is healthy",
		      server, tried, what, l->path, r->status, r->message);
		return BERTH_SYSTEM_FAILURE;
	}
	if (r->status == 404) {
		error("the Kubernetes API at %s has no %s (HTTP 404 for %s): check that the server "
		      "of %s is a Kubernetes API server",
		      server, what, l->path, l->api.source);
		return BERTH_BUILD_FAILURE;
	}
	if (http_status_result(r->status) != BERTH_OK)
		error("cannot list %s in the cluster of %s: the Kubernetes API at %s answered HTTP "
		      "%ld: %s",
		      what, l->api.source, server, r->status, r->message);
	else
		error("cannot list %s in the cluster of %s: the Kubernetes API at %s answered HTTP "
		      "%ld without a list",
		      what, l->api.source, server, r->status);
	return BERTH_SYSTEM_FAILURE;
}

/* Scans one page's objects; *cont becomes the next page's token, NULL after the last page. */
static int read_page(struct lister *l, json_t *list, char **cont)
{
	const char *next =
		json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
	json_t *obj;
	size_t i;

	json_array_foreach(json_object_get(list, "items"), i, obj)
	{
		if (scan_object(l, obj) < 0)
			return -1;
	}
	if (next && *next && *cont && !strcmp(next, *cont))
		return error("the Kubernetes API at %s gave the same continue token twice for %s",
			     l->api.config->server, l->kind->plural);
	free(*cont);
	*cont = next && *next ? strdup(next) : NULL;
	if (next && *next && !*cont)
		return error("out of memory");
	return 0;
}

static int is_list(int got, const struct kube_reply *r)
{
	return got == 0 && r->status < 300 && json_is_array(json_object_get(r->body, "items"));
}

static enum berth_result list_kind(struct lister *l, const struct kind *kind)
{
	enum berth_result r = BERTH_OK;
	size_t objects = l->out->objects;
	char *cont = NULL;
	int restarts = 0, again = 1;

	l->kind = kind;
	l->path = kind->path;
	l->limit = PAGE_SIZE;
	while (again) {
		struct kube_reply reply;
		unsigned tried = 0;
		int got = get_page(l, cont, &reply, &tried);

		again = 0;
		if (got == 0 && reply.status == 404 && !cont && kind->older &&
		    l->path != kind->older) {
			l->path = kind->older;
			again = 1;
		} else if (got == 0 && reply.status == 410 && cont && restarts++ < RESTARTS) {
			/* The token expired (etcd compacted its revision): list from the start. */
			free(cont);
			cont = NULL;
			l->out->objects = objects;
			again = 1;
		} else if (!is_list(got, &reply)) {
			r = failed(l, &reply, got, tried);
		} else if (read_page(l, reply.body, &cont) < 0) {
			r = BERTH_SYSTEM_FAILURE;
		} else {
			again = cont != NULL;
		}
		kube_reply_release(&reply);
	}
	free(cont);
	return r;
}

enum berth_result cluster_images(const char *path, unsigned timeout, struct image_refs *out)
{
	struct lister l;
	enum berth_result r;
	size_t i;

	memset(&l, 0, sizeof(l));
	l.out = out;
	r = kube_open(&l.api, path, timeout, BERTH_BUILD_FAILURE);
	if (r != BERTH_OK)
		return r;
	for (i = 0; r == BERTH_OK && i < ARRAY_SIZE(kinds); i++)
		r = list_kind(&l, &kinds[i]);
	kube_close(&l.api);
	return r;
}
