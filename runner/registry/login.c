#include "registry/login.h"

#include "registry/docker_config.h"
#include "base/log.h"
#include "conf/reference.h"
#include "registry/registry.h"

#include <stdio.h>
#include <string.h>

struct login_target *login_find(struct login_targets *out, const char *host)
{
	size_t i;

	for (i = 0; i < out->nr; i++)
		if (!strcmp(out->t[i].host, host))
			return &out->t[i];
	return NULL;
}

/*
 * Adds host with credentials from the variables `user_var`/`pass_var`, unless it is there.
 * Variables the user sets must come in pairs (`strict`); GitLab's predefined CI_REGISTRY_*
 * ones just mean "no login" when one is missing.
 */
static enum berth_result add(struct login_targets *out, const struct settings *s,
			     const struct vars *v, const char *host, const char *origin,
			     const char *user_var, const char *pass_var, int strict)
{
	const char *user = vars_get(v, user_var), *password = vars_get(v, pass_var);
	struct login_target *t;

	if (login_find(out, host))
		return BERTH_OK;
	if (!strict && (!user || !password))
		return BERTH_OK;
	if (!user != !password) {
		error("%s %s is set but %s is not: set both, or neither", v->kind,
		      user ? user_var : pass_var, user ? pass_var : user_var);
		return BERTH_BUILD_FAILURE;
	}
	if (!user)
		return BERTH_OK;
	if (out->nr == LOGIN_MAX_TARGETS) {
		error("more than %d registries to log in to", LOGIN_MAX_TARGETS);
		return BERTH_BUILD_FAILURE;
	}
	t = &out->t[out->nr++];
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->user = user;
	t->password = password;
	snprintf(t->source, sizeof(t->source), "%s and %s", user_var, pass_var);
	t->origin = origin;
	t->opts = settings_registry(s, host);
	return BERTH_OK;
}

/* WERF_REPO must be a repository, and on CRaaS not the registry's root. */
static enum berth_result check_werf_repo(const struct settings *s, const char *repo,
					 struct reference *ref)
{
	char why[128];

	if (reference_parse(repo, ref, why, sizeof(why)) < 0) {
		error("WERF_REPO '%s' is not a valid repository: %s", repo, why);
		return BERTH_BUILD_FAILURE;
	}
	if (ref->tag[0] || ref->digest[0]) {
		error("WERF_REPO '%s' names an image, not a repository: drop the tag or digest",
		      repo);
		return BERTH_BUILD_FAILURE;
	}
	if (settings_is_craas(s, ref->host) && ref->components < 2) {
		error("WERF_REPO '%s' puts images at the root of CRaaS registry '%s', where the "
		      "CRaaS API and panel never show them and cannot delete them: use "
		      "%s/%s/<project>, e.g. ${SEL_REGISTRY_DOMAIN}/${SEL_REGISTRY}/${CI_PROJECT_PATH}",
		      repo, ref->path, ref->host, ref->path);
		return BERTH_BUILD_FAILURE;
	}
	return BERTH_OK;
}

static enum berth_result werf_repo_target(struct login_targets *out, const struct settings *s,
					  const struct vars *v)
{
	const char *repo = vars_get(v, "WERF_REPO"), *ci = vars_get(v, "CI_REGISTRY");
	const struct registry_setting *declared;
	struct reference ref;
	enum berth_result r;

	if (!repo)
		return BERTH_OK;
	r = check_werf_repo(s, repo, &ref);
	if (r != BERTH_OK)
		return r;
	if (vars_get(v, "WERF_USERNAME") || vars_get(v, "WERF_PASSWORD"))
		return add(out, s, v, ref.host, "WERF_REPO", "WERF_USERNAME", "WERF_PASSWORD", 1);
	declared = settings_registry(s, ref.host);
	if (declared && declared->username_variable && vars_get(v, declared->username_variable))
		return add(out, s, v, ref.host, "WERF_REPO", declared->username_variable,
			   declared->password_variable, 1);
	if (ci && !strcmp(ci, ref.host) && vars_get(v, "CI_REGISTRY_USER") &&
	    vars_get(v, "CI_REGISTRY_PASSWORD"))
		return add(out, s, v, ref.host, "WERF_REPO", "CI_REGISTRY_USER",
			   "CI_REGISTRY_PASSWORD", 0);
	error("WERF_REPO is on registry %s, but the job has no credentials for it: set "
	      "WERF_USERNAME and WERF_PASSWORD in the project's CI/CD variables (for Selectel "
	      "CRaaS: user 'token' and a registry token from the panel)",
	      ref.host);
	return BERTH_BUILD_FAILURE;
}

enum berth_result login_targets(struct login_targets *out, const struct settings *s,
				const struct vars *v)
{
	const char *ci = vars_get(v, "CI_REGISTRY");
	enum berth_result r;
	size_t i;

	memset(out, 0, sizeof(*out));
	r = werf_repo_target(out, s, v);
	if (r == BERTH_OK && ci) {
		if (reference_valid_host(ci) < 0) {
			error("CI_REGISTRY '%s' is not a registry host", ci);
			return BERTH_BUILD_FAILURE;
		}
		r = add(out, s, v, ci, "CI_REGISTRY", "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD",
			0);
	}
	for (i = 0; r == BERTH_OK && i < s->nr_registries; i++)
		if (s->registries[i].username_variable)
			r = add(out, s, v, s->registries[i].host,
				"the registries in berth's settings",
				s->registries[i].username_variable,
				s->registries[i].password_variable, 1);
	return r;
}

enum berth_result login_target(const struct settings *s, const struct login_target *t,
			       const char *docker_dir)
{
	struct secret password = SECRET_INIT, auth = SECRET_INIT;
	struct registry_login l = {t->host,
				   t->origin,
				   t->user,
				   t->source,
				   &password,
				   t->opts ? t->opts->ca_file : NULL,
				   t->opts ? t->opts->plain_http : 0,
				   s->registry_timeout,
				   s->registry_max_wait};
	struct http_client c = {NULL};
	enum berth_result r = BERTH_SYSTEM_FAILURE;

	if (secret_set(&password, t->password) == 0 && http_client_init(&c) == 0) {
		r = registry_login(&c, &l, &auth);
		if (r == BERTH_OK && docker_config_set(docker_dir, t->host, &auth) < 0)
			r = BERTH_SYSTEM_FAILURE;
	}
	if (r == BERTH_OK)
		info("logged in to registry %s as %s (credentials from %s)", t->host, t->user,
		     t->source);
	http_client_release(&c);
	secret_release(&auth);
	secret_release(&password);
	return r;
}

enum berth_result login_all(const struct settings *s, const struct vars *v, const char *docker_dir)
{
	struct login_targets targets;
	enum berth_result r = login_targets(&targets, s, v);
	size_t i;

	for (i = 0; r == BERTH_OK && i < targets.nr; i++)
		r = login_target(s, &targets.t[i], docker_dir);
	return r;
}
