/*
 * The job's CI/CD variables. The runner hands them to its stages as CUSTOM_ENV_<NAME>; inside a
 * job script (and for people) they are plain <NAME>. Commands pick the view that fits who
 * calls them.
 */
#ifndef VARS_H
#define VARS_H

struct vars {
	const char *prefix; /* how the environment spells the variables; never in messages */
	const char *kind;   /* what a user calls them, for messages: "CI/CD variable" */
};

/*
 * The one variable berth adds to a job's environment: "NAME=<workspace>" marks every process
 * of the job, for cleanup, and tells berth in the job's scripts where its workspace is.
 */
#define JOB_MARKER "BERTH_JOB_DIR"

extern const struct vars vars_runner; /* CUSTOM_ENV_<NAME>: config, prepare, cleanup */
extern const struct vars vars_script; /* <NAME>: login, logout, kubeconfig */

/* The variable's value, or NULL when unset. An empty value counts as unset. */
const char *vars_get(const struct vars *v, const char *name);
/* The name as the caller's environment spells it ("CUSTOM_ENV_WERF_REPO"), for lookups only:
 * messages name what the user set, `name` and `v->kind`. */
const char *vars_spelling(const struct vars *v, const char *name);

#endif
