#include "kube/kube.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KUBE_MAX_BODY (8 << 20) /* a list of every lease of a busy namespace fits */

enum berth_result kube_open(struct kube *k, const char *path, unsigned timeout,
			    enum berth_result bad_input)
{
	enum berth_result r;

	memset(k, 0, sizeof(*k));
	k->owner = 1;
	k->timeout = timeout;
	snprintf(k->source, sizeof(k->source), "kubeconfig '%s'", path);
	k->config = calloc(1, sizeof(*k->config));
	k->bearer = calloc(1, sizeof(*k->bearer));
	if (!k->config || !k->bearer) {
		kube_close(k);
		return error("out of memory"), BERTH_SYSTEM_FAILURE;
	}
	if (secret_read_file(path, 1 << 20, 0, "kubeconfig", &k->config->raw) < 0) {
		kube_close(k);
		return bad_input;
	}
	r = kubeconfig_parse(k->config, k->source, NULL);
	if (r == BERTH_OK && k->config->no_preflight) {
		error("berth cannot talk to the cluster of %s itself: %s", k->source,
		      k->config->no_preflight);
		r = bad_input;
	} else if (r != BERTH_OK) {
		r = bad_input;
	}
	if (r == BERTH_OK && k->config->token.data &&
	    secret_printf(k->bearer, "Bearer %s", (const char *)k->config->token.data) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK && http_client_init(&k->http) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r != BERTH_OK)
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
	if (k->owner && k->config) {
		kubeconfig_release(k->config);
		free(k->config);
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
	req.authorization = k->bearer && k->bearer->data ? k->bearer : NULL;
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
		return -1;
	r->status = res.status;
	if (res.body.len)
		r->body = json_loadb((const char *)res.body.data, res.body.len,
				     JSON_DISABLE_EOF_CHECK, NULL);
	if (r->status >= 300)
		failure_message(r, &res.body);
	http_response_release(&res);
	return 0;
}

void kube_reply_release(struct kube_reply *r)
{
	json_decref(r->body);
	r->body = NULL;
}
