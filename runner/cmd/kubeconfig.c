/*
 * `berth kubeconfig [-o FILE] [--no-preflight]`, for job scripts and people: decodes and checks
 * the kubeconfig in WERF_KUBE_CONFIG_BASE64 / WERF_KUBECONFIG_BASE64 / KUBECONFIG_BASE64, and
 * writes it 0600 to FILE. It never prints the file: stdout ends up in job logs.
 */
#include "cmd/commands.h"
#include "kube/kubeconfig.h"
#include "base/log.h"

#include <string.h>

enum berth_result cmd_kubeconfig(const struct args *a, const char *settings_file, int *exit_status)
{
	const char *output = args_value(a, "--output");
	struct kubeconfig k;
	struct settings s;
	enum berth_result r;
	int preflight = !args_flag(a, "--no-preflight");

	(void)exit_status;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	s.kubeconfig_required = 1; /* asking for it without one is an error */
	r = kubeconfig_load(&k, &vars_script, &s);
	if (r == BERTH_OK && preflight && s.kube_preflight)
		r = kubeconfig_preflight(&k, s.kube_timeout);
	if (r == BERTH_OK && output && kubeconfig_write(&k, output) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK)
		info("kubeconfig from %s is valid: context '%s', cluster '%s' at %s%s%s",
		     k.variable, k.context, k.cluster, k.server, output ? "; written to " : "",
		     output ? output : "");
	kubeconfig_release(&k);
	settings_release(&s);
	return r;
}
