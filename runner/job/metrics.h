/*
 * berth.prom, node_exporter's textfile (docs/operations.md): the families of job/metrics.def.
 * Counters and histograms live in <state_dir>/metrics.json, updated under a lock (every stage
 * is a process of its own); gauges are measured each time the file is written. The file is
 * written whole and renamed into place. Labels hold stage names, results and lock-key
 * classes only: never a job id, a project or a variable's value.
 */
#ifndef METRICS_H
#define METRICS_H

#include "conf/settings.h"

#include <jansson.h>
#include <stdio.h>

/* The classes of lock keys (the key's first segment), the last one for every other key. */
enum lock_class { LOCK_CLASS_DEPLOY, LOCK_CLASS_CLEANUP, LOCK_CLASS_REGISTRY, LOCK_CLASS_OTHER };
#define LOCK_CLASSES 4
extern const char *const lock_class_names[LOCK_CLASSES];
enum lock_class lock_class_of(const char *key);

/* GitLab's failure classes, the one result vocabulary of every metric. */
enum metrics_result {
	METRICS_SUCCESS,
	METRICS_BUILD_FAILURE,
	METRICS_SYSTEM_FAILURE,
	METRICS_CANCELED
};
#define METRICS_RESULTS 4
extern const char *const metrics_result_names[METRICS_RESULTS];

/* What one command adds to the counters; zeroed (stage NULL) when it adds nothing. */
struct metrics_update {
	const char *stage; /* the stage that finished, or NULL */
	enum metrics_result result;
	double seconds;
	int waited; /* the stage waited for a lock of `lock_class`, `lock_wait` seconds */
	enum lock_class lock_class;
	double lock_wait;
	int job_done; /* cleanup of a workspace: the job ended with `job_result` */
	enum metrics_result job_result;
	double job_cpu;	    /* seconds; < 0: unknown */
	long long job_peak; /* bytes; < 0: unknown */
	int logins[METRICS_RESULTS];
	int config_failures, kubeconfig_failures;
};

/* What is true now, measured when the file is written. */
struct metrics_gauges {
	long long jobs_running, users_in_use, users_free, active, stale;
	long long holders[LOCK_CLASSES], waiters[LOCK_CLASSES];
	long long free_bytes;
	long long gc_last; /* Unix seconds, 0: never */
};

/* Adds `u` to `counters` (the parsed metrics.json). 0, or -1 when out of memory. */
int metrics_count(json_t *counters, const struct metrics_update *u);
/* The textfile: every family of metrics.def with HELP and TYPE, counters then gauges. */
void metrics_render(FILE *out, json_t *counters, const struct metrics_gauges *g);
/* Measures the gauges from the state dir, the job users' claims and the lock store. */
void metrics_measure(const struct settings *s, struct metrics_gauges *g);
/*
 * Adds `u` (NULL: nothing, gauges only, as for gc) and writes
 * <metrics_dir>/berth.prom. Does nothing without metrics_dir. Warns and returns -1 when it
 * cannot: metrics never fail a stage.
 */
int metrics_write(const struct settings *s, const struct metrics_update *u);

#endif
