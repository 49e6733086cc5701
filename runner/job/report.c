#include "job/report.h"

#include "base/clock.h"
#include "base/array.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/proc.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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
	char outcome[32];  /* read when the job was found: cleanup removes the file */
	int had_workspace; /* cleanup counts a job only when there was one to clean up */
	long long start_ms, lock_wait_ms;
	long long cpu_usec, mem_peak; /* -1: not known */
	int waited, events[2];
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

void report_lock_wait(long long ms)
{
	rep.lock_wait_ms += ms;
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

/* ---- metrics ------------------------------------------------------------------------- */

static const struct {
	const char *name, *type, *help;
} families[] = {
	{"berth_stages_total", "counter", "Stages berth ran, by stage and result."},
	{"berth_stage_duration_seconds", "summary", "Time berth's stages took, by stage."},
	{"berth_jobs_total", "counter",
	 "Job attempts cleaned up, by the worst result of their stages."},
	{"berth_lock_wait_seconds", "summary", "Time stages waited for a resource-group lock."},
	{"berth_registry_login_failures_total", "counter", "Registry logins that failed."},
	{"berth_kubeconfig_failures_total", "counter", "Job kubeconfigs refused or unusable."},
	{"berth_stage_cpu_seconds", "summary", "CPU time of stages' processes, by stage."},
	{"berth_job_cpu_seconds", "summary", "CPU time of jobs' processes, counted at cleanup."},
	{"berth_job_memory_peak_bytes", "summary", "Peak memory of jobs, counted at cleanup."},
};

/* A label value as a Prometheus series can hold it: stage names are the runner's own words. */
static void label(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in && n + 1 < size; in++) {
		int ok = (*in >= 'a' && *in <= 'z') || (*in >= '0' && *in <= '9') || *in == '_';

		if (ok)
			out[n++] = *in;
		else
			out[n++] = '_';
	}
	out[n] = '\0';
}

static void add(json_t *all, const char *series, double by)
{
	json_object_set_new(all, series,
			    json_real(json_number_value(json_object_get(all, series)) + by));
}

/* The cgroup's counts: a run stage's CPU; at cleanup, the job's CPU and peak memory. */
static void usage(json_t *all, const char *stage)
{
	char series[256];
	int job = !strcmp(rep.command, "cleanup");

	if (rep.cpu_usec >= 0 && job) {
		add(all, "berth_job_cpu_seconds_sum", (double)rep.cpu_usec / 1e6);
		add(all, "berth_job_cpu_seconds_count", 1);
	} else if (rep.cpu_usec >= 0) {
		snprintf(series, sizeof(series), "berth_stage_cpu_seconds_sum{stage=\"%s\"}",
			 stage);
		add(all, series, (double)rep.cpu_usec / 1e6);
		snprintf(series, sizeof(series), "berth_stage_cpu_seconds_count{stage=\"%s\"}",
			 stage);
		add(all, series, 1);
	}
	if (rep.mem_peak >= 0 && job) {
		add(all, "berth_job_memory_peak_bytes_sum", (double)rep.mem_peak);
		add(all, "berth_job_memory_peak_bytes_count", 1);
	}
}

static void count(json_t *all, enum berth_result r, long long ms)
{
	char stage[64], series[256];

	label(rep.stage, stage, sizeof(stage));
	snprintf(series, sizeof(series), "berth_stages_total{stage=\"%s\",result=\"%s\"}", stage,
		 result_name(r));
	add(all, series, 1);
	snprintf(series, sizeof(series), "berth_stage_duration_seconds_sum{stage=\"%s\"}", stage);
	add(all, series, (double)ms / 1000);
	snprintf(series, sizeof(series), "berth_stage_duration_seconds_count{stage=\"%s\"}", stage);
	add(all, series, 1);
	if (rep.waited) {
		add(all, "berth_lock_wait_seconds_sum", (double)rep.lock_wait_ms / 1000);
		add(all, "berth_lock_wait_seconds_count", 1);
	}
	if (!strcmp(rep.command, "cleanup") && rep.had_workspace) {
		snprintf(series, sizeof(series), "berth_jobs_total{result=\"%s\"}", rep.outcome);
		add(all, series, 1);
	}
	usage(all, stage);
	add(all, "berth_registry_login_failures_total", rep.events[REPORT_LOGIN_FAILED]);
	add(all, "berth_kubeconfig_failures_total", rep.events[REPORT_KUBECONFIG_FAILED]);
}

/* node_exporter's textfile format: HELP and TYPE once per family, then its series. */
static void render(json_t *all, FILE *out)
{
	const char *series;
	json_t *value;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(families); i++) {
		size_t n = strlen(families[i].name);

		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", families[i].name, families[i].help,
			families[i].name, families[i].type);
		json_object_foreach(all, series, value)
		{
			if (strncmp(series, families[i].name, n) != 0 ||
			    !strchr("{_", series[n] ? series[n] : '{'))
				continue;
			fprintf(out, "%s %.9g\n", series, json_number_value(value));
		}
	}
}

static int publish(json_t *all)
{
	char tmp[PATH_MAX + 32], final[PATH_MAX + 16];
	FILE *f;
	int fd;

	if (path_join(tmp, sizeof(tmp), "%s/.berth.prom.XXXXXX", rep.metrics_dir) < 0 ||
	    path_join(final, sizeof(final), "%s/berth.prom", rep.metrics_dir) < 0)
		return -1;
	fd = mkstemp(tmp);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		warning("cannot write metrics into '%s'", rep.metrics_dir);
		return -1;
	}
	render(all, f);
	/* node_exporter reads the directory at any time: a whole file, renamed into place. */
	if (fchmod(fd, 0644) < 0 || fclose(f) != 0 || rename(tmp, final) < 0) {
		unlink(tmp);
		warning("cannot publish metrics into '%s'", final);
		return -1;
	}
	return 0;
}

static void metrics(enum berth_result r, long long ms)
{
	char lock[PATH_MAX + 16], store[PATH_MAX + 16], tmp[PATH_MAX + 32];
	json_t *all;
	int fd;

	if (!rep.metrics_dir[0])
		return;
	if (path_join(lock, sizeof(lock), "%s/.metrics.lock", rep.state_dir) < 0 ||
	    path_join(store, sizeof(store), "%s/metrics.json", rep.state_dir) < 0 ||
	    path_join(tmp, sizeof(tmp), "%s/.metrics.json.tmp", rep.state_dir) < 0)
		return;
	/* Every stage is its own process: the counters live in one file, updated under a lock. */
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		warning("cannot lock the metrics in '%s'", rep.state_dir);
		if (fd >= 0)
			close(fd);
		return;
	}
	all = json_load_file(store, 0, NULL);
	if (!json_is_object(all)) {
		json_decref(all);
		all = json_object();
	}
	count(all, r, ms);
	if (json_dump_file(all, tmp, JSON_COMPACT) == 0 && rename(tmp, store) == 0)
		publish(all);
	else
		warning("cannot save the metrics in '%s'", store);
	json_decref(all);
	close(fd);
}

/* The job's worst result so far, for berth_jobs_total when cleanup comes. after_script's
 * failures do not fail a job on GitLab either. */
static void remember_outcome(enum berth_result r)
{
	char path[PATH_MAX + 16];
	FILE *f;

	if (r == BERTH_OK || !strcmp(rep.stage, "after_script") || !rep.workspace[0] ||
	    !strcmp(rep.outcome, "system_failure") ||
	    path_join(path, sizeof(path), "%s/" OUTCOME, rep.workspace) < 0)
		return;
	f = fopen(path, "we");
	if (f) {
		fputs(r == BERTH_BUILD_FAILURE ? "failed\n" : "system_failure\n", f);
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
