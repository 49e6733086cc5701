/*
 * `berth prune` (docs/prune.md): the settings' keep policies and pace, the flags on top, the
 * repositories; prune/run.c does the pruning.
 */
#include "cmd/commands.h"
#include "base/log.h"
#include "conf/settings.h"
#include "prune/run.h"

#include <stdlib.h>
#include <string.h>

/* What the command line and the settings make of a prune. */
struct flags {
	struct settings s;
	struct prune_options o;
	int no_cluster;
};

/* The value of option `flag`, when given, into *out: a whole number from `min` to 1000000. */
static enum berth_result number(const struct args *a, const char *flag, long min, long *out)
{
	const char *v = args_value(a, flag);
	char *end;
	long n;

	if (!v)
		return BERTH_OK;
	n = strtol(v, &end, 10);
	if (!*v || *end || n < min || n > 1000000)
		return args_error(a, "%s needs a whole number from %ld to 1000000, not '%s'", flag,
				  min, v);
	*out = n;
	return BERTH_OK;
}

/* The flags, on top of the settings' policies. */
static enum berth_result take_options(struct flags *f, const struct args *a)
{
	const char *v, *age = args_value(a, "--keep-younger");
	enum berth_result r;
	size_t pos = 0;
	long seconds;

	f->o.dry_run = args_flag(a, "--dry-run");
	f->no_cluster = args_flag(a, "--no-cluster");
	f->o.gc = args_flag(a, "--gc");
	f->o.report = args_value(a, "--report");
	f->o.cluster = args_value(a, "--cluster");
	while ((v = args_next(a, "--keep-tag", &pos)))
		if (strvec_push(&f->o.policy.keep_tags, v) < 0)
			return BERTH_SYSTEM_FAILURE;
	if ((r = number(a, "--keep-newest", 0, &f->o.policy.keep_newest)) != BERTH_OK ||
	    (r = number(a, "--parallel", 1, &f->o.parallel)) != BERTH_OK ||
	    (r = number(a, "--max-rps", 0, &f->o.max_rps)) != BERTH_OK)
		return r;
	if (age && settings_parse_age(age, &seconds) < 0)
		return args_error(a,
				  "--keep-younger needs an age such as 90m, 36h, 14d or 2w, not "
				  "'%s'",
				  age);
	if (age)
		f->o.policy.keep_younger = seconds;
	if (f->o.cluster && f->no_cluster)
		return args_error(a, "--cluster and --no-cluster contradict each other");
	return BERTH_OK;
}

/* The settings' policies, then the flags on top, then the repositories. */
static enum berth_result parse_options(struct flags *f, const struct args *a)
{
	enum berth_result r;
	size_t k;
	int i;

	for (k = 0; k < f->s.prune_keep_tags.nr; k++)
		if (strvec_push(&f->o.policy.keep_tags, f->s.prune_keep_tags.v[k]) < 0)
			return BERTH_SYSTEM_FAILURE;
	f->o.policy.keep_newest = f->s.prune_keep_newest;
	f->o.policy.keep_younger = f->s.prune_keep_younger;
	f->o.parallel = f->s.prune_parallel;
	f->o.max_rps = f->s.prune_max_rps;
	r = take_options(f, a);
	for (i = 0; r == BERTH_OK && i < a->nr_operand; i++)
		if (strvec_push(&f->o.repos, a->operand[i]) < 0)
			r = BERTH_SYSTEM_FAILURE;
	if (r != BERTH_OK)
		return r;
	if (!prune_policy_any(&f->o.policy))
		return args_error(a, "no keep policy (--keep-tag, --keep-newest, --keep-younger "
				     "or the settings' prune_keep_*): berth prune would delete "
				     "every tag");
	if (!f->o.cluster && !f->no_cluster)
		f->o.cluster = getenv("KUBECONFIG");
	if (!f->no_cluster && (!f->o.cluster || !*f->o.cluster))
		return args_error(a, "no cluster to check for images in use: give --cluster "
				     "KUBECONFIG, set KUBECONFIG, or --no-cluster to prune "
				     "without that check");
	return prune_policy_compile(&f->o.policy) < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
}

enum berth_result cmd_prune(const struct args *a, const char *settings_file, int *exit_status)
{
	struct flags f;
	enum berth_result r;

	(void)exit_status;
	memset(&f, 0, sizeof(f));
	r = settings_load(&f.s, settings_file) < 0 ? BERTH_SYSTEM_FAILURE : parse_options(&f, a);
	if (r == BERTH_OK)
		r = prune_run(&f.s, &f.o);
	prune_policy_release(&f.o.policy);
	strvec_clear(&f.o.repos);
	settings_release(&f.s);
	return r;
}
