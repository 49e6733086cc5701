#include "kube/kube.h"

#include "base/log.h"
#include "base/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KUBE_MAX_BODY (8 << 20) /* a list of every lease of a busy namespace fits */

/* What every client holds besides its kubeconfig: the bearer header and a connection. */
static int start(struct kube *k, unsigned timeout)
{
	const struct kubeconfig *c = k->config;

	k->owner = 1;
	k->timeout = timeout;
	k->bearer = calloc(1, sizeof(*k->bearer));
	if (!k->bearer)
		return error("out of memory");
	if (c->token.data && secret_printf(k->bearer, "Bearer %s", (const char *)c->token.data) < 0)
		return -1;
	return http_client_init(&k->http);
}

int kube_init(struct kube *k, const struct kubeconfig *config, const char *source, unsigned timeout)
{
	memset(k, 0, sizeof(*k));
	k->config = config;
	snprintf(k->source, sizeof(k->source), "%s", source);
	if (start(k, timeout) == 0)
		return 0;
	kube_close(k);
	return -1;
}

enum berth_result kube_open(struct kube *k, const char *path, unsigned timeout,
			    enum berth_result bad_input)
{
	struct kubeconfig *own = calloc(1, sizeof(*own));
	enum berth_result r = bad_input;

	memset(k, 0, sizeof(*k));
	if (!own) {
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	k->config = k->own = own;
	k->owner = 1;
	snprintf(k->source, sizeof(k->source), "kubeconfig '%s'", path);
	if (secret_read_file(path, 1 << 20, 0, "kubeconfig", &own->raw) < 0 ||
	    kubeconfig_parse(own, k->source, NULL) != BERTH_OK)
		goto fail;
	if (own->no_preflight) {
		error("berth cannot talk to the cluster of %s itself: %s", k->source,
		      own->no_preflight);
		goto fail;
	}
	r = BERTH_SYSTEM_FAILURE;
	if (start(k, timeout) == 0)
		return BERTH_OK;
fail:
	kube_close(k);
	return r;
}

int kube_clone(struct kube *dst, const struct kube *src, unsigned timeout)
{
	*dst = *src;
	dst->owner = 0;
	dst->timeout = timeout;
	return http_client_init(&dst->http);
}

void kube_close(struct kube *k)
{
	http_client_release(&k->http);
	if (k->owner && k->own) {
		kubeconfig_release(k->own);
		free(k->own);
	}
	if (k->owner && k->bearer) {
		secret_release(k->bearer);
		free(k->bearer);
	}
	memset(k, 0, sizeof(*k));
}

/* A failed answer's reason: the Status object's message, else the start of the body. */
static void failure_message(struct kube_reply *r, const struct secret *body)
{
	const char *msg = json_string_value(json_object_get(r->body, "message"));

	if (msg)
		snprintf(r->message, sizeof(r->message), "%s", msg);
	else if (body->len)
		snprintf(r->message, sizeof(r->message), "%.200s", (const char *)body->data);
	else
		snprintf(r->message, sizeof(r->message), "HTTP %ld", r->status);
}

int kube_call(struct kube *k, const char *method, const char *path, json_t *body, int watch,
	      struct kube_reply *r)
{
	const struct kubeconfig *c = k->config;
	struct http_response res = {0};
	struct http_request req;
	size_t n = strlen(c->server);
	char *url = NULL, *text = NULL;
	int got;

	memset(r, 0, sizeof(*r));
	while (n && c->server[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s%s", (int)n, c->server, path) < 0 ||
	    (body && !(text = json_dumps(body, JSON_COMPACT)))) {
		free(url);
		snprintf(r->message, sizeof(r->message), "out of memory");
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.authorization = k->bearer->data ? k->bearer : NULL;
	req.tls.ca_pem = &c->ca;
	req.tls.client_cert = &c->client_cert;
	req.tls.client_key = &c->client_key;
	req.tls.insecure = c->insecure;
	req.timeout = k->timeout;
	req.timeout_ms = k->timeout_ms;
	req.max_body = KUBE_MAX_BODY;
	req.body = text;
	req.accept = "application/json";
	req.first_line = watch;
	got = http_do(&k->http, &req, &res, r->message, sizeof(r->message));
	free(url);
	free(text);
	if (got < 0)
		return got;
	r->status = res.status;
	if (res.body.len)
		r->body = json_loadb((const char *)res.body.data, res.body.len,
				     JSON_DISABLE_EOF_CHECK, NULL);
	if (http_status_result(r->status) != BERTH_OK)
		failure_message(r, &res.body);
	http_response_release(&res);
	return 0;
}

void kube_reply_release(struct kube_reply *r)
{
	json_decref(r->body);
	r->body = NULL;
}

/* Segment `i` of `path` ("" when there are fewer), up to the query. */
static void segment(const char *path, int i, char *buf, size_t size)
{
	const char *p = path;
	size_t n;

	for (;;) {
		p += strspn(p, "/");
		n = strcspn(p, "/?");
		if (i-- == 0 || !n || p[n] == '?')
			break;
		p += n;
	}
	snprintf(buf, size, "%.*s", i < 0 ? (int)n : 0, p);
}

/* The verb of a request on a named object or on a collection (Kubernetes' RequestInfo). */
static const char *verb_of(const char *method, const char *query, int named)
{
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
		if (query && (strstr(query, "watch=1") || strstr(query, "watch=true")))
			return "watch";
		return named ? "get" : "list";
	}
	if (!strcmp(method, "POST"))
		return "create";
	if (!strcmp(method, "PUT"))
		return "update";
	if (!strcmp(method, "PATCH"))
		return "patch";
	if (!strcmp(method, "DELETE"))
		return named ? "delete" : "deletecollection";
	return method;
}

void kube_rbac_of(const char *method, const char *path, struct kube_rbac *out)
{
	char first[16], group[64] = "", resource[64], name[256];
	int at = 2; /* /api/v1/... ; /apis/GROUP/VERSION/... */

	memset(out, 0, sizeof(*out));
	segment(path, 0, first, sizeof(first));
	if (!strcmp(first, "apis")) {
		segment(path, 1, group, sizeof(group));
		at = 3;
	} else if (strcmp(first, "api") != 0) { /* /version, /healthz: not a resource */
		snprintf(out->verb, sizeof(out->verb), "%s", verb_of(method, NULL, 1));
		snprintf(out->resource, sizeof(out->resource), "%.*s", (int)strcspn(path, "?"),
			 path);
		return;
	}
	segment(path, at, resource, sizeof(resource));
	segment(path, at + 2, name, sizeof(name));
	if (!strcmp(resource, "namespaces") && *name) { /* namespaces/NS/RESOURCE[/NAME] */
		segment(path, at + 1, out->ns, sizeof(out->ns));
		segment(path, at + 2, resource, sizeof(resource));
		segment(path, at + 3, name, sizeof(name));
	} else {
		segment(path, at + 1, name, sizeof(name));
	}
	snprintf(out->verb, sizeof(out->verb), "%s", verb_of(method, strchr(path, '?'), *name));
	snprintf(out->resource, sizeof(out->resource), "%s%s%s", resource, *group ? "." : "",
		 group);
}

int kube_status_transient(long status)
{
	return status >= 500 || status == 429;
}

/* A failed try that another may mend: no answer came, or a transient one. */
static int worth_again(int got)
{
	return got != HTTP_TLS_REJECTED && got != HTTP_TOO_LARGE;
}

int kube_call_retry(struct kube *k, struct backoff *b, const char *method, const char *path,
		    json_t *body, struct kube_reply *r)
{
	for (;;) {
		int got = kube_call(k, method, path, body, 0, r);
		long long wait;

		if (got == 0 && !kube_status_transient(r->status))
			return 0;
		wait = backoff_next(b); /* counts the failed try, for the caller's message */
		if (wait < 0 || !worth_again(got) || proc_stop_requested())
			return got;
		if (got == 0)
			kube_reply_release(r); /* r->message stays, for a stop's report */
		clock_sleep_ms(wait);
		if (proc_stop_requested())
			return -1;
	}
}
