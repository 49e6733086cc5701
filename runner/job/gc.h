/*
 * `berth gc` (docs/gc.md): removes the workspaces of jobs whose cleanup never ran (a runner
 * killed, a VM rebooted mid-job), wiping their credentials first. A workspace goes when no
 * stage has started in it for `gc_age` (the state record's time, which every `berth run`
 * refreshes) and no process carries its BERTH_JOB_DIR.
 */
#ifndef GC_H
#define GC_H

#include "conf/settings.h"
#include "base/cgroup.h"

#include <stdio.h>

/*
 * One line per workspace removed (or, with dry_run, that would be). The count, or -1. A run
 * that is not a dry run and removed every stale workspace it found records its time
 * (gc_last_success) and refreshes the metrics.
 */
int gc_run(const struct settings *s, FILE *out, int dry_run);
/* Unix time of the last successful gc, from <state_dir>/gc.last; 0: never. */
long long gc_last_success(const struct settings *s);

#endif
