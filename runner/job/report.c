#include "job/report.h"

#include "base/clock.h"
#include "base/array.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/proc.h"
#include "job/metrics.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define OUTCOME "outcome" /* in the workspace: the worst result of the job's stages so far */

static struct {
	int enabled;
	char command[16];
	char stage[64];
	char job[32], project[256], workspace[PATH_MAX];
	char state_dir[PATH_MAX], metrics_dir[PATH_MAX], log[16];
	char settings_file[PATH_MAX]; /* read again for the metrics */
	char outcome[32];	      /* read when the job was found: cleanup removes the file */
	int had_workspace;	      /* cleanup counts a job only when there was one to clean up */
	long long start_ms, lock_wait_ms;
	long long cpu_usec, mem_peak; /* -1: not known */
	int waited, events[2], logins[METRICS_RESULTS];
	enum lock_class lock_class;
} rep;

void report_begin(const char *command)
{
	/* config only prints JSON, before anything exists: nothing to report. */
	static const char *const stages[] = {"prepare", "run", "cleanup"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(stages); i++)
		rep.enabled |= !strcmp(command, stages[i]);
	snprintf(rep.command, sizeof(rep.command), "%s", command);
	snprintf(rep.stage, sizeof(rep.stage), "%s", command);
	rep.start_ms = clock_now_ms();
	rep.cpu_usec = rep.mem_peak = -1;
}

void report_job(const struct settings *s, const struct job *job, const char *dir)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(rep.job, sizeof(rep.job), "%s", job->id);
	snprintf(rep.project, sizeof(rep.project), "%s",
		 job->project_path ? job->project_path : "-");
	snprintf(rep.workspace, sizeof(rep.workspace), "%s", dir);
	snprintf(rep.state_dir, sizeof(rep.state_dir), "%s", s->state_dir);
	snprintf(rep.metrics_dir, sizeof(rep.metrics_dir), "%s",
		 s->metrics_dir ? s->metrics_dir : "");
	snprintf(rep.settings_file, sizeof(rep.settings_file), "%s", s->file ? s->file : "");
	snprintf(rep.log, sizeof(rep.log), "%s", s->stage_log);
	snprintf(rep.outcome, sizeof(rep.outcome), "success");
	rep.had_workspace = access(dir, F_OK) == 0;
	f = path_join(path, sizeof(path), "%s/" OUTCOME, dir) < 0 ? NULL : fopen(path, "re");
	if (f) {
		if (!fgets(rep.outcome, sizeof(rep.outcome), f))
			snprintf(rep.outcome, sizeof(rep.outcome), "success");
		rep.outcome[strcspn(rep.outcome, "\n")] = '\0';
		fclose(f);
	}
}

void report_stage(const char *name)
{
	snprintf(rep.stage, sizeof(rep.stage), "%s", name);
}

void report_lock_wait(const char *key, long long ms)
{
	rep.lock_wait_ms += ms;
	rep.lock_class = lock_class_of(key);
	rep.waited = 1;
}

void report_usage(long long cpu_usec, long long mem_peak)
{
	rep.cpu_usec = cpu_usec;
	rep.mem_peak = mem_peak;
}

void report_event(enum report_event e)
{
	rep.events[e]++;
}

void report_login(enum berth_result r)
{
	rep.logins[r == BERTH_OK	      ? METRICS_SUCCESS
		   : r == BERTH_BUILD_FAILURE ? METRICS_BUILD_FAILURE
					      : METRICS_SYSTEM_FAILURE]++;
}

static const char *result_name(enum berth_result r)
{
	return r == BERTH_OK ? "ok" : r == BERTH_BUILD_FAILURE ? "build_failure" : "system_failure";
}

/* ---- the log ------------------------------------------------------------------------- */

static void log_line(enum berth_result r, int exit_code, long long ms)
{
	char when[32], path[PATH_MAX + 16], *text;
	time_t now = time(NULL);
	struct tm tm;
	json_t *line;
	int fd;

	if (!strcmp(rep.log, "off"))
		return;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:I}", "time", when, "job",
			 rep.job, "project", rep.project, "command", rep.command, "stage",
			 rep.stage, "duration_ms", (json_int_t)ms, "result", result_name(r),
			 "exit_code", exit_code, "lock_wait_ms", (json_int_t)rep.lock_wait_ms);
	if (line && rep.cpu_usec >= 0)
		json_object_set_new(line, "cpu_seconds", json_real((double)rep.cpu_usec / 1e6));
	if (line && rep.mem_peak >= 0)
		json_object_set_new(line, "memory_peak_bytes", json_integer(rep.mem_peak));
	text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	if (!text)
		return;
	if (!strcmp(rep.log, "syslog")) {
		openlog("berth", LOG_PID, LOG_DAEMON);
		syslog(LOG_INFO, "%s", text);
		closelog();
	} else {
		fd = path_join(path, sizeof(path), "%s/stages.log", rep.state_dir) < 0
			     ? -1
			     : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		/* One write with O_APPEND: concurrent stages never interleave inside a line. */
		if (fd < 0 || dprintf(fd, "%s\n", text) < 0)
			warning("cannot append to the stage log '%s'", path);
		if (fd >= 0)
			close(fd);
	}
	free(text);
}

/* ---- metrics (job/metrics.c) ---------------------------------------------------------- */

/* A stage's result in GitLab's failure classes: a stage the runner stopped was canceled. */
static enum metrics_result metrics_result(enum berth_result r)
{
	if (proc_stop_requested())
		return METRICS_CANCELED;
	return r == BERTH_OK		  ? METRICS_SUCCESS
	       : r == BERTH_BUILD_FAILURE ? METRICS_BUILD_FAILURE
					  : METRICS_SYSTEM_FAILURE;
}

static enum metrics_result outcome_result(void)
{
	int i;

	for (i = 0; i < METRICS_RESULTS; i++)
		if (!strcmp(rep.outcome, metrics_result_names[i]))
			return (enum metrics_result)i;
	return METRICS_BUILD_FAILURE; /* an older berth's "failed" */
}

/*
 * The settings are read again: the command's own copy is released before main reports, and
 * metrics need more of them (state dir, job users, gc_age, the lock store) than the log does.
 */
static void metrics(enum berth_result r, long long ms)
{
	struct metrics_update u;
	struct settings s;
	int i;

	if (!rep.metrics_dir[0])
		return;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, rep.settings_file) < 0) {
		warning("metrics not written: the settings '%s' cannot be read again",
			rep.settings_file);
		return;
	}
	memset(&u, 0, sizeof(u));
	u.stage = rep.stage;
	u.result = metrics_result(r);
	u.seconds = (double)ms / 1000;
	u.waited = rep.waited;
	u.lock_class = rep.lock_class;
	u.lock_wait = (double)rep.lock_wait_ms / 1000;
	if (!strcmp(rep.command, "cleanup") && rep.had_workspace) {
		u.job_done = 1;
		u.job_result = outcome_result();
		u.job_cpu = rep.cpu_usec >= 0 ? (double)rep.cpu_usec / 1e6 : -1;
		u.job_peak = rep.mem_peak;
	}
	for (i = 0; i < METRICS_RESULTS; i++)
		u.logins[i] = rep.logins[i];
	u.config_failures = rep.events[REPORT_CONFIG_FAILED];
	u.kubeconfig_failures = rep.events[REPORT_KUBECONFIG_FAILED];
	metrics_write(&s, &u);
	settings_release(&s);
}

/*
 * The job's worst result so far, for berth_jobs_total when cleanup comes: canceled over a
 * system failure over a build failure. after_script's failures do not fail a job on GitLab
 * either.
 */
static void remember_outcome(enum berth_result r)
{
	enum metrics_result now = metrics_result(r);
	char path[PATH_MAX + 16];
	FILE *f;

	if (now == METRICS_SUCCESS || !strcmp(rep.stage, "after_script") || !rep.workspace[0] ||
	    (strcmp(rep.outcome, "success") != 0 && outcome_result() >= now) ||
	    path_join(path, sizeof(path), "%s/" OUTCOME, rep.workspace) < 0)
		return;
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%s\n", metrics_result_names[now]);
		fclose(f);
	}
}

void report_end(enum berth_result r, int exit_code)
{
	long long ms = clock_now_ms() - rep.start_ms;

	if (!rep.enabled || !rep.job[0])
		return;
	log_line(r, exit_code, ms);
	metrics(r, ms);
	if (strcmp(rep.command, "cleanup") != 0)
		remember_outcome(r);
}
