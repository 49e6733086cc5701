/*
 * Logging in to a container registry the way `docker login` does, so a job's credentials are
 * known good before its scripts run: GET /v2/, then the challenge it answers with (Basic, or a
 * Bearer token from the realm), honouring 429/503 Retry-After within a bounded wait.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include "base/berth.h"
#include "base/http.h"
#include "base/secret.h"

#include <time.h>

struct registry_login {
	const char *host;   /* "registry.example.com:5000" */
	const char *origin; /* where the host came from ("WERF_REPO"), for messages */
	const char *user;
	const char *source; /* where the credentials came from ("WERF_USERNAME and ..."), too */
	const struct secret *password;
	const char *ca_file; /* trust this bundle for the host, or NULL */
	int plain_http;
	unsigned timeout;  /* seconds per request */
	unsigned max_wait; /* seconds of Retry-After waits in all */
};

/*
 * Logs in. On success fills `auth` with base64("user:password") for config.json. Wrong
 * credentials: build failure; unreachable or misbehaving registry: system failure. The message
 * names the host and user, never the password.
 */
enum berth_result registry_login(struct http_client *c, const struct registry_login *l,
				 struct secret *auth);

/*
 * The Authorization header value that works on the registry for `scope` (e.g.
 * "repository:group/app:pull,delete"; NULL: the login's own): "Basic ...", "Bearer <token
 * for the scope>", or nothing (an open registry: `authorization` left empty). Classes and
 * messages as registry_login's.
 */
enum berth_result registry_authorize(struct http_client *c, const struct registry_login *l,
				     const char *scope, struct secret *authorization);

/* A parsed WWW-Authenticate challenge. */
struct challenge {
	char scheme[16]; /* "basic" or "bearer", lowercased */
	char realm[1024];
	char service[256];
	char scope[512];
};

/* 0 when `header` is a Basic or Bearer challenge (Bearer needs a realm), else -1. */
int registry_parse_challenge(const char *header, struct challenge *ch);
/*
 * Seconds to wait from a Retry-After value (delta-seconds or an HTTP date, relative to `now`);
 * -1 when it cannot be read.
 */
long registry_retry_after(const char *value, time_t now);

#endif
