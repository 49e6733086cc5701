#include "registry/registry.h"

#include "base/base64.h"
#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TOKEN_MAX_BODY (1 << 20)

/* Reads a token or a quoted-string at *p into out (size n); 0 or -1. */
static int read_value(const char **p, char *out, size_t n)
{
	const char *s = *p;
	size_t len = 0;

	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			if (len + 1 >= n)
				return -1;
			out[len++] = *s;
		}
		if (*s != '"')
			return -1;
		s++;
	} else {
		for (; *s && *s != ',' && *s != ' ' && *s != '\t'; s++) {
			if (len + 1 >= n)
				return -1;
			out[len++] = *s;
		}
	}
	out[len] = '\0';
	*p = s;
	return 0;
}

int registry_parse_challenge(const char *header, struct challenge *ch)
{
	const char *p = header;
	size_t n;

	memset(ch, 0, sizeof(*ch));
	while (*p == ' ')
		p++;
	n = strcspn(p, " \t");
	if (n == 0 || n >= sizeof(ch->scheme))
		return -1;
	for (size_t i = 0; i < n; i++)
		ch->scheme[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
	p += n;
	while (*p) {
		char name[32], junk[1024], *out = junk;
		size_t size = sizeof(junk);

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "=, \t");
		if (p[n] != '=' || n == 0 || n >= sizeof(name))
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		p += n + 1;
		if (!strcasecmp(name, "realm"))
			out = ch->realm, size = sizeof(ch->realm);
		else if (!strcasecmp(name, "service"))
			out = ch->service, size = sizeof(ch->service);
		else if (!strcasecmp(name, "scope"))
			out = ch->scope, size = sizeof(ch->scope);
		if (read_value(&p, out, size) < 0)
			return -1;
	}
	if (!strcmp(ch->scheme, "basic"))
		return 0;
	if (!strcmp(ch->scheme, "bearer") && ch->realm[0])
		return 0;
	return -1;
}

long registry_retry_after(const char *value, time_t now)
{
	char *end;
	long n;
	time_t when;

	if (!value || !*value)
		return -1;
	if (*value >= '0' && *value <= '9') {
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno || *end)
			return -1;
		return n;
	}
	when = (time_t)http_parse_date(value);
	if (when == (time_t)-1)
		return -1;
	return when > now ? (long)(when - now) : 0;
}

/* "Basic base64(user:password)" or the bare base64 when `bare`. */
static int basic_credentials(const char *user, const struct secret *password, int bare,
			     struct secret *out)
{
	size_t ulen = strlen(user), n = ulen + 1 + password->len;
	unsigned char *plain = malloc(n + 1);
	char *enc;
	int ret;

	if (!plain)
		return error("out of memory");
	/* "user:password", not a C string: its length is n. */
	memcpy(plain, user, ulen); // NOLINT(bugprone-not-null-terminated-result)
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, password->data, password->len);
	enc = base64_encode(plain, n);
	explicit_bzero(plain, n + 1);
	free(plain);
	if (!enc)
		return error("out of memory");
	if (bare) {
		secret_adopt(out, (unsigned char *)enc, strlen(enc));
		return 0;
	}
	ret = secret_printf(out, "Basic %s", enc);
	explicit_bzero(enc, strlen(enc));
	free(enc);
	return ret;
}

struct attempt {
	struct http_client *c;
	const struct registry_login *l;
	long waited; /* seconds slept for Retry-After so far */
};

/*
 * One request, repeated while the registry answers 429 or 503 with a wait we can afford.
 * 0 with an answer, or -1 (reported: a system failure).
 */
static int request(struct attempt *a, const char *url, const struct secret *auth, size_t max_body,
		   struct http_response *res)
{
	struct http_request req;
	char why[HTTP_ERROR_SIZE];

	memset(&req, 0, sizeof(req));
	req.url = url;
	req.authorization = auth;
	req.tls.ca_file = a->l->ca_file;
	req.timeout = a->l->timeout;
	req.max_body = max_body;

	for (;;) {
		long wait;
		long long left_ms;
		int got = http_do(a->c, &req, res, why, sizeof(why));

		if (got == HTTP_TLS_REJECTED)
			return error("registry %s: TLS failed: %s; check its certificate, and the "
				     "registry's ca_file in berth's settings",
				     a->l->host, why);
		if (got < 0)
			return error(
				"cannot reach registry %s (from %s): %s; check the host name and "
				"that this runner can reach it",
				a->l->host, a->l->origin, why);
		if (res->status != 429 && res->status != 503)
			return 0;
		/* At least a second: "Retry-After: 0" or a past date must not become a busy loop.
		 */
		wait = registry_retry_after(res->retry_after, time(NULL));
		if (wait < 1)
			wait = 1;
		/* waited <= max_wait always holds, so this cannot overflow as a sum could. */
		if (wait > (long)a->l->max_wait - a->waited) {
			error("registry %s is still busy (HTTP %ld) after %lds of waiting; it "
			      "asked for %lds more, beyond registry_max_wait",
			      a->l->host, res->status, a->waited, wait);
			http_response_release(res);
			return -1;
		}
		info("registry %s answered HTTP %ld: waiting %lds as it asks", a->l->host,
		     res->status, wait);
		http_response_release(res);
		/* The whole wait: a signal's handler may cut a sleep short. */
		for (left_ms = wait * 1000LL; left_ms > 0;)
			left_ms = clock_sleep_ms(left_ms);
		a->waited += wait;
	}
}

static enum berth_result rejected(const struct registry_login *l, long status)
{
	error("registry %s rejected the credentials for %s (HTTP %ld): check %s", l->host, l->user,
	      status, l->source);
	return BERTH_BUILD_FAILURE;
}

/* GET realm?service=...&scope=...&account=user with Basic credentials: the bearer token. */
static enum berth_result fetch_token(struct attempt *a, const struct challenge *ch,
				     const struct secret *basic, struct secret *bearer)
{
	const struct registry_login *l = a->l;
	struct http_response res = {0};
	char *url = NULL, *service = http_escape(ch->service), *scope = http_escape(ch->scope),
	     *account = http_escape(l->user);
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	json_t *root = NULL;
	const char *token;

	if (!service || !scope || !account ||
	    asprintf(&url, "%s%sservice=%s%s%s&account=%s", ch->realm,
		     strchr(ch->realm, '?') ? "&" : "?", service, *scope ? "&scope=" : "", scope,
		     account) < 0) {
		url = NULL;
		error("out of memory");
		goto out;
	}
	if (request(a, url, basic, TOKEN_MAX_BODY, &res) < 0)
		goto out;
	if (http_status_result(res.status) == BERTH_BUILD_FAILURE) {
		r = rejected(l, res.status);
	} else if (res.status != 200) {
		error("registry %s: its token service answered HTTP %ld", l->host, res.status);
	} else if (!(root = json_loadb((const char *)res.body.data, res.body.len, 0, NULL)) ||
		   !((token = json_string_value(json_object_get(root, "token"))) ||
		     (token = json_string_value(json_object_get(root, "access_token"))))) {
		error("registry %s: its token service sent no 'token' or 'access_token'", l->host);
	} else if (secret_printf(bearer, "Bearer %s", token) == 0) {
		r = BERTH_OK;
	}
	json_decref(root);
	http_response_release(&res);
out:
	free(service);
	free(scope);
	free(account);
	free(url);
	return r;
}

/* The realm receives the password: never over plain HTTP unless the registry itself is. */
static int realm_allowed(const struct registry_login *l, const char *realm)
{
	if (!strncmp(realm, "https://", 8))
		return 0;
	if (!strncmp(realm, "http://", 7) && l->plain_http)
		return 0;
	return error("registry %s sends credentials to token realm '%s', which is not https: "
		     "refusing to send the password there",
		     l->host, realm);
}

/*
 * The registry answered /v2/ with 401 and this challenge: prove the credentials, and keep the
 * Authorization that worked (Basic, or a Bearer token for `scope`) in `used`.
 */
static enum berth_result answer_challenge(struct attempt *a, const char *url, struct challenge *ch,
					  const struct secret *basic, const char *scope,
					  struct secret *used)
{
	struct secret bearer = SECRET_INIT;
	const struct secret *auth = basic;
	struct http_response res = {0};
	enum berth_result r;

	if (!strcmp(ch->scheme, "bearer")) {
		if (realm_allowed(a->l, ch->realm) < 0)
			return BERTH_SYSTEM_FAILURE;
		if (scope)
			snprintf(ch->scope, sizeof(ch->scope), "%s", scope);
		r = fetch_token(a, ch, basic, &bearer);
		if (r != BERTH_OK)
			return r;
		auth = &bearer;
	}
	if (request(a, url, auth, 64 << 10, &res) < 0) {
		r = BERTH_SYSTEM_FAILURE;
	} else if (res.status == 200) {
		r = secret_set(used, (const char *)auth->data) < 0 ? BERTH_SYSTEM_FAILURE
								   : BERTH_OK;
	} else if (http_status_result(res.status) == BERTH_BUILD_FAILURE) {
		r = rejected(a->l, res.status);
	} else {
		error("registry %s answered HTTP %ld to an authenticated GET /v2/", a->l->host,
		      res.status);
		r = BERTH_SYSTEM_FAILURE;
	}
	http_response_release(&res);
	secret_release(&bearer);
	return r;
}

enum berth_result registry_authorize(struct http_client *c, const struct registry_login *l,
				     const char *scope, struct secret *authorization)
{
	struct attempt a = {c, l, 0};
	struct secret basic = SECRET_INIT;
	struct http_response res = {0};
	struct challenge ch;
	char *url = NULL;
	enum berth_result r = BERTH_SYSTEM_FAILURE;

	secret_release(authorization);
	if (asprintf(&url, "%s://%s/v2/", l->plain_http ? "http" : "https", l->host) < 0) {
		error("out of memory");
		return r;
	}
	if (basic_credentials(l->user, l->password, 0, &basic) < 0 ||
	    request(&a, url, NULL, 64 << 10, &res) < 0)
		goto out;
	if (res.status == 200) {
		r = BERTH_OK; /* an open registry: no Authorization at all */
	} else if (res.status != 401) {
		error("registry %s (from %s) answered HTTP %ld to GET /v2/: %s", l->host, l->origin,
		      res.status,
		      res.status < 500 ? "it is not a container registry; check the host"
				       : "the registry is failing");
		/* A 4xx: the name points at something that is no registry, the input's fault. */
		if (res.status >= 400 && res.status < 500)
			r = BERTH_BUILD_FAILURE;
	} else if (!res.www_authenticate ||
		   registry_parse_challenge(res.www_authenticate, &ch) < 0) {
		error("registry %s asked for credentials with a challenge berth does not "
		      "understand (Basic and Bearer are supported)",
		      l->host);
	} else {
		r = answer_challenge(&a, url, &ch, &basic, scope, authorization);
	}
out:
	http_response_release(&res);
	secret_release(&basic);
	free(url);
	return r;
}

enum berth_result registry_login(struct http_client *c, const struct registry_login *l,
				 struct secret *auth)
{
	struct secret used = SECRET_INIT;
	enum berth_result r = registry_authorize(c, l, NULL, &used);

	secret_release(&used);
	if (r == BERTH_OK && basic_credentials(l->user, l->password, 1, auth) < 0)
		r = BERTH_SYSTEM_FAILURE;
	return r;
}
