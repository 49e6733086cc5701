/*
 * OpenStack Keystone v3 password authentication with project scope, the way a service user
 * gets a Selectel IAM token (CRaaS's X-Auth-Token) for `berth prune` (docs/prune.md):
 *
 *   POST {url}/auth/tokens
 *   {"auth": {"identity": {"methods": ["password"],
 *                          "password": {"user": {"name": U, "domain": {"name": D},
 *                                                "password": P}}},
 *             "scope": {"project": {"id": ID}}}}      (or {"name": N, "domain": {"name": D}})
 *
 * answered 201 with the token in the X-Subject-Token header and its expiry in the body's
 * token.expires_at; 401 when the credentials are wrong. From the OpenStack Identity API v3
 * reference, "Password authentication with scoped authorization"
 * (https://docs.openstack.org/api-ref/identity/v3/#password-authentication-with-scoped-authorization)
 * and Selectel's "Request authentication" (https://docs.selectel.ru/en/api/authorization/):
 * the user's domain is the account's number, the URL https://cloud.api.selcloud.ru/identity/v3,
 * a token lives 24 hours.
 */
#ifndef KEYSTONE_H
#define KEYSTONE_H

#include "base/http.h"
#include "base/secret.h"

struct keystone_user {
	const char *url;	  /* the identity API v3, without /auth/tokens */
	const char *name;	  /* the user's name */
	const char *domain;	  /* its domain's name (Selectel: the account number) */
	const char *project_id;	  /* the scope: a project by id, */
	const char *project_name; /* or by name in `domain` */
	const struct secret *password;
	unsigned timeout; /* seconds for the request */
};

struct keystone_token {
	struct secret token;  /* X-Subject-Token */
	long long expires_at; /* Unix seconds; -1 when the answer did not say */
	long long issued_at;  /* Unix seconds, by this machine's clock */
	long status;	      /* Keystone's HTTP status; 0 when no answer came */
};

/*
 * A new token for `u` into `out` (whose old token is wiped): 0; or -1 with why (which never
 * holds the password or a token) and out->status saying whether and how Keystone answered.
 * Prints nothing: prune's workers call it to renew a token.
 */
int keystone_issue(struct http_client *http, const struct keystone_user *u,
		   struct keystone_token *out, char *why, size_t why_size);
void keystone_token_release(struct keystone_token *t);

#endif
