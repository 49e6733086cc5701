/*
 * Which registries a job logs in to, and with what: the host of WERF_REPO (WERF_USERNAME and
 * WERF_PASSWORD), CI_REGISTRY (CI_REGISTRY_USER and CI_REGISTRY_PASSWORD), and registries the
 * settings declare with the variables that hold their credentials.
 */
#ifndef LOGIN_H
#define LOGIN_H

#include "base/berth.h"
#include "conf/settings.h"
#include "conf/vars.h"

#define LOGIN_MAX_TARGETS 16

struct login_target {
	char host[256];
	const char *user;     /* values from the environment: never copied, never printed */
	const char *password; /* (the user name is printed) */
	char source[128];     /* the variables holding the credentials, for messages */
	const char *origin;   /* why berth logs in there: "WERF_REPO", "CI_REGISTRY", ... */
	const struct registry_setting *opts; /* TLS options declared for the host, or NULL */
};

struct login_targets {
	struct login_target t[LOGIN_MAX_TARGETS];
	size_t nr;
};

/* The target for `host`, or NULL. */
struct login_target *login_find(struct login_targets *targets, const char *host);
/* Collects the targets. A bad WERF_REPO or half-set credentials: build failure. */
enum berth_result login_targets(struct login_targets *out, const struct settings *s,
				const struct vars *v);
/* Logs in to one target and stores the result in `docker_dir`/config.json. */
enum berth_result login_target(const struct settings *s, const struct login_target *t,
			       const char *docker_dir);
/* Every target, in order; stops at the first failure. */
enum berth_result login_all(const struct settings *s, const struct vars *v, const char *docker_dir);

#endif
