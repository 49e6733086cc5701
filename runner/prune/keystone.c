#include "prune/keystone.h"

#include "prune/prune.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX (4 << 20) /* a token's body lists the catalog: some 10-100 KiB */

/* The request's body (see keystone.h) into `out`: it holds the password. 0, or -1. */
static int request_body(const struct keystone_user *u, struct secret *out)
{
	json_t *scope, *body;
	char *text;

	if (u->project_id)
		scope = json_pack("{s:s}", "id", u->project_id);
	else
		scope = json_pack("{s:s, s:{s:s}}", "name", u->project_name, "domain", "name",
				  u->domain);
	/* jansson's copies of the password are wiped when freed (secret_wipe_json_memory) */
	body = json_pack("{s:{s:{s:[s], s:{s:{s:s, s:{s:s}, s:s}}}, s:{s:o}}}", "auth", "identity",
			 "methods", "password", "password", "user", "name", u->name, "domain",
			 "name", u->domain, "password", (const char *)u->password->data, "scope",
			 "project", scope);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return -1;
	secret_adopt(out, (unsigned char *)text, strlen(text));
	return 0;
}

/* token.expires_at of the answer's body, or -1. */
static long long expiry(const struct secret *body)
{
	json_t *root = json_loadb((const char *)body->data, body->len, 0, NULL);
	long long t = prune_parse_time(
		json_string_value(json_object_get(json_object_get(root, "token"), "expires_at")));

	json_decref(root);
	return t;
}

int keystone_issue(struct http_client *http, const struct keystone_user *u,
		   struct keystone_token *out, char *why, size_t why_size)
{
	struct secret body = SECRET_INIT;
	struct http_response res = {0};
	struct http_request req = {.method = "POST", .accept = "application/json"};
	char url[1024];
	int ret = -1;

	keystone_token_release(out);
	snprintf(url, sizeof(url), "%s/auth/tokens", u->url);
	req.url = url;
	req.timeout = u->timeout;
	req.max_body = ANSWER_MAX;
	if (request_body(u, &body) < 0) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	req.body = (const char *)body.data;
	if (http_do(http, &req, &res, why, why_size) < 0) {
		secret_release(&body);
		return -1;
	}
	out->status = res.status;
	if (res.status < 200 || res.status >= 300) {
		snprintf(why, why_size, "HTTP %ld", res.status);
	} else if (!res.subject_token.data || !res.subject_token.len) {
		snprintf(why, why_size,
			 "the answer (HTTP %ld) has no X-Subject-Token header: %s is no Keystone "
			 "v3 identity API",
			 res.status, u->url);
	} else {
		out->token = res.subject_token; /* the response gives it up */
		res.subject_token.data = NULL;
		res.subject_token.len = 0;
		out->expires_at = expiry(&res.body);
		out->issued_at = (long long)time(NULL);
		ret = 0;
	}
	http_response_release(&res);
	secret_release(&body);
	return ret;
}

void keystone_token_release(struct keystone_token *t)
{
	secret_release(&t->token);
	t->expires_at = -1;
	t->issued_at = 0;
	t->status = 0;
}
