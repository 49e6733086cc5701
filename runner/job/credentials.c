#include "job/credentials.h"

#include "registry/docker_config.h"
#include "kube/kubeconfig.h"
#include "base/log.h"
#include "registry/login.h"
#include "job/report.h"

static enum berth_result prepare_kubeconfig(const struct settings *s, const struct workspace *ws)
{
	struct kubeconfig k;
	enum berth_result r = kubeconfig_load(&k, &vars_runner, s);

	if (r != BERTH_OK || !k.variable)
		return r;
	if (kubeconfig_write(&k, ws->kubeconfig) < 0)
		r = BERTH_SYSTEM_FAILURE;
	else if (s->kube_preflight)
		r = kubeconfig_preflight(&k, s->kube_timeout);
	if (r == BERTH_OK)
		info("kubeconfig from %s: context '%s', cluster '%s' at %s%s", k.variable,
		     k.context, k.cluster, k.server,
		     s->kube_preflight && !k.no_preflight ? " (reachable)" : "");
	kubeconfig_release(&k);
	return r;
}

/*
 * login_all, counted: a job whose registry variables do not add up is a configuration failure,
 * not a login; each login that is tried counts with its result.
 */
static enum berth_result logins(const struct settings *s, const char *docker_dir)
{
	struct login_targets targets;
	enum berth_result r = login_targets(&targets, s, &vars_runner);
	size_t i;

	if (r != BERTH_OK)
		report_event(REPORT_CONFIG_FAILED);
	for (i = 0; r == BERTH_OK && i < targets.nr; i++) {
		r = login_target(s, &targets.t[i], docker_dir);
		report_login(r);
	}
	return r;
}

enum berth_result credentials_prepare(const struct settings *s, const struct workspace *ws)
{
	enum berth_result r = prepare_kubeconfig(s, ws);

	if (r != BERTH_OK) {
		report_event(REPORT_KUBECONFIG_FAILED);
		return r;
	}
	if (docker_config_init(ws->docker) < 0)
		return BERTH_SYSTEM_FAILURE;
	return logins(s, ws->docker);
}
