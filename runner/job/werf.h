/*
 * werf under berth (docs/werf.md): the environment werf gets in every stage, the real werf
 * behind berth's `werf` wrapper, and the lock a subcommand takes. Shared by the run stage,
 * `berth werf` (also when called as `werf`) and `berth dry-run`.
 */
#ifndef WERF_H
#define WERF_H

#include "base/strvec.h"
#include "conf/settings.h"
#include "conf/vars.h"

#include <stddef.h>

/* werf's home in a job: this directory in the job's tmp dir, so it goes with the workspace. */
#define WERF_HOME_DIR "werf-home"

/* Where werf keeps what it writes for one job: berth's places, whatever the job set. */
struct werf_places {
	const char *docker;	/* DOCKER_CONFIG and WERF_DOCKER_CONFIG */
	const char *kubeconfig; /* KUBECONFIG and WERF_KUBE_CONFIG (also when it does not exist) */
	const char *tmp;	/* WERF_TMP_DIR, or NULL outside a job */
	const char *home;	/* WERF_HOME, or NULL outside a job */
	const char *wrapper; /* berth's `werf` in the job, for bash (BASH_FUNC_werf%%), or NULL */
};

/*
 * Adds werf's environment to `env` (docs/werf.md): werf's `ci-env gitlab` mapping from the
 * job's variables `v` (its annotations over the job's own, the rest where neither `env` nor
 * the job sets them, as `werf ci-env` does), WERF_SYNCHRONIZATION, WERF_PARALLEL for a
 * rate-limited registry and WERF_TELEMETRY where neither sets them; the places `p`, always.
 * 0, or -1.
 */
int werf_env(struct strvec *env, const struct settings *s, const struct vars *v,
	     const struct werf_places *p);
/*
 * The werf to run, in `out`: settings werf_path when it names a file, else the first `werf` on
 * `path` that is not berth itself (the job's wrapper). 0, or -1 after saying what to install.
 */
int werf_locate(const char *werf_path, const char *path, char *out, size_t size);
/*
 * The lock a subcommand takes, in `key`; "" for none: converge and dismiss take
 * deploy/<project>/<environment>, cleanup the settings' cleanup_lock or cleanup/<host>/<registry>.
 * 0, or -1 (a build failure) after saying why.
 */
int werf_lock_key(const char *sub, const struct settings *s, const struct strvec *env, char *key,
		  size_t size);

#endif
