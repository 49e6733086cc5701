#include "job/metrics.h"

#include "base/array.h"
#include "base/fs.h"
#include "base/log.h"
#include "job/census.h"
#include "job/gc.h"
#include "lock/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* metrics.json's layout; a store of another format (older berths' summaries) starts afresh. */
#define STORE_FORMAT 2

const char *const lock_class_names[LOCK_CLASSES] = {"deploy", "cleanup", "registry", "other"};
const char *const metrics_result_names[METRICS_RESULTS] = {"success", "build_failure",
							   "system_failure", "canceled"};

static const struct {
	const char *name, *type, *help;
} families[] = {
#define METRIC(name, type, labels, help) {#name, #type, help},
#define BUCKETS(name, ...)
#include "job/metrics.def"
#undef METRIC
#undef BUCKETS
};

/* Each histogram's buckets, as the `le` label writes them; compared as numbers. */
#define METRIC(name, type, labels, help)
#define BUCKETS(name, ...) static const char *const name##_le[] = {__VA_ARGS__};
#include "job/metrics.def"
#undef METRIC
#undef BUCKETS

struct histogram {
	const char *family;
	const char *const *le;
	size_t nr;
};

static const struct histogram stage_duration = {"berth_stage_duration_seconds",
						berth_stage_duration_seconds_le,
						ARRAY_SIZE(berth_stage_duration_seconds_le)};
static const struct histogram lock_wait = {"berth_lock_wait_seconds", berth_lock_wait_seconds_le,
					   ARRAY_SIZE(berth_lock_wait_seconds_le)};
static const struct histogram memory_peak = {"berth_job_memory_peak_bytes",
					     berth_job_memory_peak_bytes_le,
					     ARRAY_SIZE(berth_job_memory_peak_bytes_le)};

enum lock_class lock_class_of(const char *key)
{
	size_t n = strcspn(key, "/");
	int c;

	for (c = 0; c < LOCK_CLASS_OTHER; c++)
		if (strlen(lock_class_names[c]) == n && !strncmp(key, lock_class_names[c], n))
			return (enum lock_class)c;
	return LOCK_CLASS_OTHER;
}

/* ---- counters: series name -> value in metrics.json ------------------------------------ */

static int add(json_t *all, const char *series, double by)
{
	json_t *v = json_object_get(all, series);

	if (v)
		return json_real_set(v, json_number_value(v) + by);
	return json_object_set_new(all, series, json_real(by));
}

/* A label value as a series can hold it: stage names are the runner's own words. */
static void label_value(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in && n + 1 < size; in++) {
		int plain = (*in >= 'a' && *in <= 'z') || (*in >= '0' && *in <= '9');

		if (plain)
			out[n++] = *in;
		else
			out[n++] = '_';
	}
	out[n] = '\0';
}

/*
 * Every series of the histogram with `labels` ("" or `name="value"`), created at 0 where
 * missing (in order: the buckets, +Inf, _sum, _count), then `v` observed when `observe`.
 */
static int histogram(json_t *all, const struct histogram *h, const char *labels, int observe,
		     double v)
{
	const char *sep = labels[0] ? "," : "";
	char series[256];
	size_t i;
	int ret = 0;

	for (i = 0; i <= h->nr; i++) {
		const char *le = i < h->nr ? h->le[i] : "+Inf";
		int in = observe && (i == h->nr || v <= strtod(le, NULL));

		snprintf(series, sizeof(series), "%s_bucket{%s%sle=\"%s\"}", h->family, labels, sep,
			 le);
		ret |= add(all, series, in);
	}
	snprintf(series, sizeof(series), labels[0] ? "%s_sum{%s}" : "%s_sum", h->family, labels);
	ret |= add(all, series, observe ? v : 0);
	snprintf(series, sizeof(series), labels[0] ? "%s_count{%s}" : "%s_count", h->family,
		 labels);
	ret |= add(all, series, observe);
	return ret;
}

static int by_result(json_t *all, const char *family, int result, double by)
{
	char series[128];

	snprintf(series, sizeof(series), "%s{result=\"%s\"}", family, metrics_result_names[result]);
	return add(all, series, by);
}

/* The series whose absence would read as "never happened" are there from the start, at 0. */
static int zeroes(json_t *all)
{
	char labels[64];
	int ret = 0, i;

	for (i = 0; i < METRICS_RESULTS; i++)
		ret |= by_result(all, "berth_jobs_total", i, 0);
	for (i = 0; i < METRICS_CANCELED; i++)
		ret |= by_result(all, "berth_registry_logins_total", i, 0);
	ret |= add(all, "berth_config_failures_total", 0);
	ret |= add(all, "berth_kubeconfig_failures_total", 0);
	for (i = 0; i < LOCK_CLASSES; i++) {
		snprintf(labels, sizeof(labels), "class=\"%s\"", lock_class_names[i]);
		ret |= histogram(all, &lock_wait, labels, 0, 0);
	}
	ret |= add(all, "berth_job_cpu_seconds_total", 0);
	ret |= histogram(all, &memory_peak, "", 0, 0);
	return ret;
}

static int count_stage(json_t *all, const struct metrics_update *u)
{
	char stage[64], labels[128], series[256];
	int ret;

	label_value(u->stage, stage, sizeof(stage));
	snprintf(series, sizeof(series), "berth_stages_total{stage=\"%s\",result=\"%s\"}", stage,
		 metrics_result_names[u->result]);
	ret = add(all, series, 1);
	snprintf(labels, sizeof(labels), "stage=\"%s\"", stage);
	ret |= histogram(all, &stage_duration, labels, 1, u->seconds);
	if (u->waited) {
		snprintf(labels, sizeof(labels), "class=\"%s\"", lock_class_names[u->lock_class]);
		ret |= histogram(all, &lock_wait, labels, 1, u->lock_wait);
	}
	return ret;
}

static int count_job(json_t *all, const struct metrics_update *u)
{
	int ret = by_result(all, "berth_jobs_total", u->job_result, 1);

	if (u->job_cpu >= 0)
		ret |= add(all, "berth_job_cpu_seconds_total", u->job_cpu);
	if (u->job_peak >= 0)
		ret |= histogram(all, &memory_peak, "", 1, (double)u->job_peak);
	return ret;
}

int metrics_count(json_t *all, const struct metrics_update *u)
{
	int ret = zeroes(all), i;

	if (u && u->stage)
		ret |= count_stage(all, u);
	if (u && u->job_done)
		ret |= count_job(all, u);
	for (i = 0; u && i < METRICS_RESULTS; i++)
		if (u->logins[i])
			ret |= by_result(all, "berth_registry_logins_total", i, u->logins[i]);
	if (u) {
		ret |= add(all, "berth_config_failures_total", u->config_failures);
		ret |= add(all, "berth_kubeconfig_failures_total", u->kubeconfig_failures);
	}
	return ret ? error("out of memory") : 0;
}

/* ---- the textfile ---------------------------------------------------------------------- */

/* 1 when `series` belongs to `family`: its name, or for a histogram one of its three parts. */
static int of_family(const char *series, const char *family, int is_histogram)
{
	static const char *const parts[] = {"_bucket", "_sum", "_count"};
	size_t n = strlen(family), i;

	if (strncmp(series, family, n) != 0)
		return 0;
	series += n;
	if (!is_histogram)
		return !*series || *series == '{';
	for (i = 0; i < ARRAY_SIZE(parts); i++) {
		size_t m = strlen(parts[i]);

		if (!strncmp(series, parts[i], m) && (!series[m] || series[m] == '{'))
			return 1;
	}
	return 0;
}

static void by_class(FILE *out, const char *family, const long long *v)
{
	int c;

	for (c = 0; c < LOCK_CLASSES; c++)
		fprintf(out, "%s{class=\"%s\"} %lld\n", family, lock_class_names[c], v[c]);
}

/* The gauge `family`'s samples; 0 when `family` is not a gauge. */
static int gauge(FILE *out, const char *family, const struct metrics_gauges *g)
{
	if (!strcmp(family, "berth_build_info"))
		fprintf(out, "%s{version=\"%s\"} 1\n", family, BERTH_VERSION);
	else if (!strcmp(family, "berth_jobs_running"))
		fprintf(out, "%s %lld\n", family, g->jobs_running);
	else if (!strcmp(family, "berth_job_users"))
		fprintf(out, "%s{state=\"in_use\"} %lld\n%s{state=\"free\"} %lld\n", family,
			g->users_in_use, family, g->users_free);
	else if (!strcmp(family, "berth_workspaces"))
		fprintf(out, "%s{state=\"active\"} %lld\n%s{state=\"stale\"} %lld\n", family,
			g->active, family, g->stale);
	else if (!strcmp(family, "berth_lock_holders"))
		by_class(out, family, g->holders);
	else if (!strcmp(family, "berth_lock_waiters"))
		by_class(out, family, g->waiters);
	else if (!strcmp(family, "berth_state_dir_free_bytes"))
		fprintf(out, "%s %lld\n", family, g->free_bytes);
	else if (!strcmp(family, "berth_gc_last_success_timestamp_seconds"))
		fprintf(out, "%s %lld\n", family, g->gc_last);
	else
		return 0;
	return 1;
}

void metrics_render(FILE *out, json_t *counters, const struct metrics_gauges *g)
{
	const char *series;
	json_t *value;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(families); i++) {
		int is_histogram = !strcmp(families[i].type, "histogram");

		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", families[i].name, families[i].help,
			families[i].name, families[i].type);
		if (!strcmp(families[i].type, "gauge") && gauge(out, families[i].name, g))
			continue;
		json_object_foreach(counters, series, value)
		{
			if (of_family(series, families[i].name, is_histogram))
				fprintf(out, "%s %.15g\n", series, json_number_value(value));
		}
	}
}

/* ---- gauges ---------------------------------------------------------------------------- */

/* A workspace's job runs while its cgroup is there, or without one, while its processes are. */
static int running(const struct census_job *j)
{
	return j->cgroup[0] ? access(j->cgroup, F_OK) == 0 : j->processes != 0;
}

/* The lock a stage record says the job holds or waits for (the kubernetes backend's gauges). */
static void count_recorded_lock(const struct census_job *j, struct metrics_gauges *g)
{
	enum lock_class c;

	if (!j->running || !j->stage.lock[0])
		return;
	c = lock_class_of(j->stage.lock);
	g->holders[c] += j->stage.holding;
	g->waiters[c] += !j->stage.holding;
}

static void measure_workspaces(const struct settings *s, struct metrics_gauges *g,
			       int locks_from_records)
{
	struct census_job *jobs;
	size_t nr, i, u;

	if (census_jobs(s, &jobs, &nr) < 0)
		return;
	for (i = 0; i < nr; i++) {
		g->stale += jobs[i].stale;
		g->active += !jobs[i].stale;
		g->jobs_running += running(&jobs[i]);
		if (locks_from_records)
			count_recorded_lock(&jobs[i], g);
	}
	/* a user counts once, however many workspaces name it */
	for (u = 0; u < s->job_users.nr; u++)
		for (i = 0; i < nr; i++)
			if (!strcmp(jobs[i].user, s->job_users.v[u])) {
				g->users_in_use++;
				break;
			}
	g->users_free = (long long)s->job_users.nr - g->users_in_use;
	free(jobs);
}

static int count_locks(const struct lock_entry *e, void *data)
{
	struct metrics_gauges *g = data;
	enum lock_class c = lock_class_of(e->key);

	g->holders[c] += e->held;
	g->waiters[c] += (long long)e->nr - e->held;
	return 0;
}

void metrics_measure(const struct settings *s, struct metrics_gauges *g)
{
	const struct lock_backend *b = lock_store_for(s);
	struct statvfs fs;

	memset(g, 0, sizeof(*g));
	/* The file backend's store is this host's: read it. The kubernetes backend's is the
	 * cluster's, a request away: a stage does not wait on the network for a gauge, so this
	 * runner's stage records say what its jobs hold and wait for (summed over the runners,
	 * the cluster's queue). */
	measure_workspaces(s, g, b != &lock_file);
	if (b == &lock_file)
		b->list(s, count_locks, g);
	if (statvfs(s->state_dir, &fs) == 0)
		g->free_bytes = (long long)fs.f_bavail * (long long)fs.f_frsize;
	g->gc_last = gc_last_success(s);
}

/* ---- the files ------------------------------------------------------------------------- */

static int publish(const char *dir, json_t *counters, const struct metrics_gauges *g)
{
	char tmp[PATH_MAX + 32], final[PATH_MAX + 16];
	FILE *f;
	int fd;

	if (path_join(tmp, sizeof(tmp), "%s/.berth.prom.XXXXXX", dir) < 0 ||
	    path_join(final, sizeof(final), "%s/berth.prom", dir) < 0)
		return -1;
	fd = mkstemp(tmp);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		warning("cannot write metrics into '%s': %s: create it, or drop metrics_dir from "
			"the settings",
			dir, strerror(e));
		return -1;
	}
	metrics_render(f, counters, g);
	/* node_exporter reads the directory at any time: a whole file, renamed into place. */
	if (fchmod(fd, 0644) < 0 || fclose(f) != 0 || rename(tmp, final) < 0) {
		unlink(tmp);
		warning("cannot publish metrics into '%s': %s", final, strerror(errno));
		return -1;
	}
	return 0;
}

/* The counters of metrics.json, or a new set when there is none (or one of another format). */
static json_t *load_store(const char *path)
{
	json_t *all = json_load_file(path, 0, NULL), *series;

	if (json_integer_value(json_object_get(all, "format")) == STORE_FORMAT &&
	    json_is_object(series = json_object_get(all, "series"))) {
		json_incref(series);
		json_decref(all);
		return series;
	}
	json_decref(all);
	return json_object();
}

static int save_store(const char *dir, json_t *series)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	json_t *all = json_pack("{s:i, s:O}", "format", STORE_FORMAT, "series", series);
	int ret = -1;

	if (all && path_join(path, sizeof(path), "%s/metrics.json", dir) == 0 &&
	    path_join(tmp, sizeof(tmp), "%s/.metrics.json.tmp", dir) == 0 &&
	    json_dump_file(all, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0)
		ret = 0;
	else
		warning("cannot save the metrics in '%s/metrics.json'", dir);
	json_decref(all);
	return ret;
}

int metrics_write(const struct settings *s, const struct metrics_update *u)
{
	char lock[PATH_MAX + 16], store[PATH_MAX + 16];
	struct metrics_gauges g;
	json_t *counters = NULL;
	int fd, ret = -1;

	if (!s->metrics_dir)
		return 0;
	if (path_join(lock, sizeof(lock), "%s/.metrics.lock", s->state_dir) < 0 ||
	    path_join(store, sizeof(store), "%s/metrics.json", s->state_dir) < 0)
		return -1;
	/* Every stage is its own process: the counters live in one file, updated under a lock. */
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		warning("cannot lock the metrics in '%s': %s", s->state_dir, strerror(errno));
		goto out;
	}
	counters = load_store(store);
	if (!counters || metrics_count(counters, u) < 0 || save_store(s->state_dir, counters) < 0)
		goto out;
	metrics_measure(s, &g);
	ret = publish(s->metrics_dir, counters, &g);
out:
	json_decref(counters);
	if (fd >= 0)
		close(fd);
	return ret;
}
