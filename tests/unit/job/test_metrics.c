/* berth.prom's text: what an update adds to the counters, and how the families are written. */
#include "unit.h"

#include "job/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file for `counters` and `g`, in a buffer the caller frees. */
static char *render(json_t *counters, const struct metrics_gauges *g)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	metrics_render(f, counters, g);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* The file after `u` alone, without gauges. */
static char *counted(const struct metrics_update *u)
{
	struct metrics_gauges g = {0};
	json_t *all = json_object();
	char *text;

	assert_int_equal(metrics_count(all, u), 0);
	text = render(all, &g);
	json_decref(all);
	return text;
}

static void assert_line(const char *text, const char *line)
{
	char *want = NULL;

	assert_true(asprintf(&want, "\n%s\n", line) > 0);
	if (!strstr(text, want))
		fail_msg("no line '%s' in:\n%s", line, text);
	free(want);
}

static void test_lock_classes(void **state)
{
	static const struct {
		const char *key;
		enum lock_class c;
	} cases[] = {
		{"deploy/1000/production", LOCK_CLASS_DEPLOY},
		{"cleanup/cr.selcloud.ru/reg", LOCK_CLASS_CLEANUP},
		{"registry/cr.selcloud.ru", LOCK_CLASS_REGISTRY},
		{"deployment/x", LOCK_CLASS_OTHER},
		{"deplo/x", LOCK_CLASS_OTHER},
		{"deploy", LOCK_CLASS_DEPLOY},
		{"", LOCK_CLASS_OTHER},
		{"mine", LOCK_CLASS_OTHER},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(lock_class_of(cases[i].key), cases[i].c);
}

/* A stage of 0.3 s is in every bucket from 0.5 up; a wait of 2 s from 5 up. */
static void test_histograms_are_cumulative(void **state)
{
	struct metrics_update u = {.stage = "step_script",
				   .result = METRICS_BUILD_FAILURE,
				   .seconds = 0.3,
				   .waited = 1,
				   .lock_class = LOCK_CLASS_DEPLOY,
				   .lock_wait = 2};
	struct metrics_gauges g = {0};
	json_t *all = json_object();
	char *text;

	(void)state;
	assert_int_equal(metrics_count(all, &u), 0);
	u.seconds = 0.05;
	u.waited = 0;
	assert_int_equal(metrics_count(all, &u), 0);
	text = render(all, &g);
	assert_line(text, "berth_stages_total{stage=\"step_script\",result=\"build_failure\"} 2");
	assert_line(text,
		    "berth_stage_duration_seconds_bucket{stage=\"step_script\",le=\"0.1\"} 1");
	assert_line(text,
		    "berth_stage_duration_seconds_bucket{stage=\"step_script\",le=\"0.5\"} 2");
	assert_line(text,
		    "berth_stage_duration_seconds_bucket{stage=\"step_script\",le=\"+Inf\"} 2");
	assert_line(text, "berth_stage_duration_seconds_sum{stage=\"step_script\"} 0.35");
	assert_line(text, "berth_stage_duration_seconds_count{stage=\"step_script\"} 2");
	assert_line(text, "berth_lock_wait_seconds_bucket{class=\"deploy\",le=\"1\"} 0");
	assert_line(text, "berth_lock_wait_seconds_bucket{class=\"deploy\",le=\"5\"} 1");
	assert_line(text, "berth_lock_wait_seconds_count{class=\"deploy\"} 1");
	/* the classes nothing waited for are there, at 0 */
	assert_line(text, "berth_lock_wait_seconds_bucket{class=\"other\",le=\"+Inf\"} 0");
	assert_line(text, "berth_lock_wait_seconds_count{class=\"registry\"} 0");
	free(text);
	json_decref(all);
}

static void test_jobs_logins_and_failures(void **state)
{
	struct metrics_update u = {.stage = "cleanup",
				   .job_done = 1,
				   .job_result = METRICS_CANCELED,
				   .job_cpu = 1.5,
				   .job_peak = 100ll << 20,
				   .logins = {2, 0, 1, 0},
				   .config_failures = 1};
	char *text = counted(&u);

	(void)state;
	assert_line(text, "berth_jobs_total{result=\"canceled\"} 1");
	assert_line(text, "berth_jobs_total{result=\"success\"} 0");
	assert_line(text, "berth_registry_logins_total{result=\"success\"} 2");
	assert_line(text, "berth_registry_logins_total{result=\"system_failure\"} 1");
	assert_line(text, "berth_config_failures_total 1");
	assert_line(text, "berth_kubeconfig_failures_total 0");
	assert_line(text, "berth_job_cpu_seconds_total 1.5");
	assert_line(text, "berth_job_memory_peak_bytes_bucket{le=\"67108864\"} 0");
	assert_line(text, "berth_job_memory_peak_bytes_bucket{le=\"268435456\"} 1");
	assert_line(text, "berth_job_memory_peak_bytes_sum 104857600");
	free(text);
}

/* Stage names come from the runner: only [a-z0-9_] reaches a label. */
static void test_stage_labels_are_plain(void **state)
{
	struct metrics_update u = {.stage = "step_\"x\"}\nY", .seconds = 1};
	char *text = counted(&u);

	(void)state;
	assert_line(text, "berth_stages_total{stage=\"step__x____\",result=\"success\"} 1");
	free(text);
}

static void test_gauges_and_families(void **state)
{
	struct metrics_gauges g = {.jobs_running = 2,
				   .users_in_use = 2,
				   .users_free = 1,
				   .active = 2,
				   .stale = 1,
				   .holders = {1, 0, 0, 0},
				   .waiters = {3, 0, 0, 1},
				   .free_bytes = 123456789012ll,
				   .gc_last = 1700000000};
	json_t *all = json_object();
	const char *p;
	char *text;
	int types = 0;

	(void)state;
	text = render(all, &g);
	assert_true(!strncmp(text, "# HELP berth_build_info ", 24));
	assert_line(text, "berth_build_info{version=\"" BERTH_VERSION "\"} 1");
	assert_line(text, "berth_jobs_running 2");
	assert_line(text, "berth_job_users{state=\"in_use\"} 2");
	assert_line(text, "berth_job_users{state=\"free\"} 1");
	assert_line(text, "berth_workspaces{state=\"stale\"} 1");
	assert_line(text, "berth_lock_holders{class=\"deploy\"} 1");
	assert_line(text, "berth_lock_waiters{class=\"deploy\"} 3");
	assert_line(text, "berth_lock_waiters{class=\"other\"} 1");
	assert_line(text, "berth_state_dir_free_bytes 123456789012");
	assert_line(text, "berth_gc_last_success_timestamp_seconds 1700000000");
	assert_line(text, "# TYPE berth_stage_duration_seconds histogram");
	assert_line(text, "# TYPE berth_jobs_total counter");
	for (p = text; (p = strstr(p, "# TYPE ")); p++)
		types++;
	assert_int_equal(types, 17); /* metrics19: every family, each once */
	free(text);
	json_decref(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_classes),
		cmocka_unit_test(test_histograms_are_cumulative),
		cmocka_unit_test(test_jobs_logins_and_failures),
		cmocka_unit_test(test_stage_labels_are_plain),
		cmocka_unit_test(test_gauges_and_families),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
