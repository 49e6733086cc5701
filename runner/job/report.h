/*
 * What a stage tells the operators (docs/operations.md): one JSON line per stage in a log
 * (a file in the state dir, or syslog), and Prometheus textfile metrics (job/metrics.h) when
 * settings name a directory. Only ids, names, times and results: never a variable's value.
 */
#ifndef REPORT_H
#define REPORT_H

#include "base/berth.h"
#include "job/job.h"
#include "conf/settings.h"

enum report_event {
	REPORT_CONFIG_FAILED, /* the job's own registry variables or WERF_REPO refused */
	REPORT_KUBECONFIG_FAILED,
};

/* main: the command starts; only the runner's stages (prepare, run, cleanup) report. */
void report_begin(const char *command);
/* context_load: whose stage this is, and where to report (copied; `dir` is the workspace). */
void report_job(const struct settings *s, const struct job *job, const char *dir);
/* run: the runner's name for the stage (step_script, after_script, ...). */
void report_stage(const char *name);
/* run: the stage waited `ms` for the lock of `key`. */
void report_lock_wait(const char *key, long long ms);
/*
 * What the job's cgroup counted (run: this stage's CPU; cleanup: the whole job's), for the log
 * line and the metrics; -1 where the host cannot tell.
 */
void report_usage(long long cpu_usec, long long mem_peak);
void report_event(enum report_event e);
/* prepare: one registry login ended with `r`. */
void report_login(enum berth_result r);
/* main: the command ended; writes the log line and updates the metrics. Never fails a stage. */
void report_end(enum berth_result r, int exit_code);

#endif
