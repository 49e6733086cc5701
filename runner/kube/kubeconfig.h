/*
 * The job's kubeconfig: decoded from the first set of WERF_KUBE_CONFIG_BASE64,
 * WERF_KUBECONFIG_BASE64, KUBECONFIG_BASE64 (werf's order), inflated when gzip'd, validated,
 * written 0600 into the workspace, and checked against the cluster before scripts run.
 * Messages name the variable, field and line, never a value from the file.
 */
#ifndef KUBECONFIG_H
#define KUBECONFIG_H

#include "base/berth.h"
#include "base/secret.h"
#include "conf/settings.h"
#include "conf/vars.h"

struct kubeconfig {
	const char *variable; /* where it came from, NULL when the job has none */
	struct secret raw;    /* the decoded file */
	/* The current context, for the preflight check. */
	char *context;
	char *cluster;
	char *server;
	struct secret ca, client_cert, client_key, token;
	int insecure;
	const char *no_preflight; /* why the credentials cannot be checked here, or NULL */
};

/*
 * Reads and validates the job's kubeconfig. BERTH_OK with k->variable NULL when the job sets
 * none (a build failure instead when settings require one). Bad input is a build failure.
 */
enum berth_result kubeconfig_load(struct kubeconfig *k, const struct vars *v,
				  const struct settings *s);
/* Validates an already decoded file (for tests and kubeconfig_load). */
enum berth_result kubeconfig_parse(struct kubeconfig *k, const char *name, const char *context);
int kubeconfig_write(const struct kubeconfig *k, const char *path);
/* GET <server>/version with the kubeconfig's own credentials. */
enum berth_result kubeconfig_preflight(const struct kubeconfig *k, unsigned timeout);
void kubeconfig_release(struct kubeconfig *k);

#endif
