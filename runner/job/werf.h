/*
 * What `berth werf` gives werf (docs/werf.md): werf's `ci-env gitlab` environment mapping and
 * the lock a subcommand takes. Shared by `berth werf` and `berth dry-run`.
 */
#ifndef WERF_H
#define WERF_H

#include "conf/settings.h"
#include "base/strvec.h"

#include <stddef.h>

/*
 * Fills `env` with this process's environment and werf's mapping: what the job set itself wins,
 * but the credential paths, which are always `docker` and `kubeconfig`. 0, or -1.
 */
int werf_env(struct strvec *env, const struct settings *s, const char *docker,
	     const char *kubeconfig);
/*
 * The lock a subcommand takes, in `key`; "" for none: converge and dismiss take
 * deploy/<project>/<environment>, cleanup the settings' cleanup_lock or cleanup/<host>/<registry>.
 * 0, or -1 (a build failure) after saying why.
 */
int werf_lock_key(const char *sub, const struct settings *s, const struct strvec *env, char *key,
		  size_t size);

#endif
