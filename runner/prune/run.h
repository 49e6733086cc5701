/*
 * `berth prune`'s run (docs/prune.md): every repository given, its tags read, decided, printed
 * and deleted by digest, then the summary and the report. cmd/prune.c turns the settings and
 * the command line into struct prune_options.
 */
#ifndef PRUNE_RUN_H
#define PRUNE_RUN_H

#include "base/berth.h"
#include "base/strvec.h"
#include "prune/prune.h"

struct settings;

struct prune_options {
	/* compiled; the run points its cluster at the images it finds, and back to NULL */
	struct prune_policy policy;
	struct strvec repos; /* HOST/PATH, or HOST/REGISTRY[/REPO] on a CRaaS host */
	const char *cluster; /* the KUBECONFIG whose images stay; NULL: no such check */
	const char *report;  /* where the JSON report goes; NULL: nowhere */
	long parallel, max_rps;
	int dry_run, gc;
};

/*
 * Prunes every repository of `o` with the settings `s`: BERTH_OK; BERTH_BUILD_FAILURE when a
 * repository cannot be pruned for the user's reason (a bad name, a tag that could not go);
 * BERTH_SYSTEM_FAILURE when berth or a registry failed. Every failure is reported.
 */
enum berth_result prune_run(const struct settings *s, struct prune_options *o);

#endif
