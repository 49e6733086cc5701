/* Job identity: validation rules, and where each value may come from. */
#include "unit.h"

#include "job/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_ids(void **state)
{
	static const struct {
		const char *id;
		int ok;
	} cases[] = {
		{"1", 1},
		{"123456789", 1},
		{"1234567890123456789", 1},
		{"12345678901234567890", 0},
		{"", 0},
		{"12a", 0},
		{"-1", 0},
		{" 1", 0},
		{"1/2", 0},
		{"..", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(job_valid_id(cases[i].id), cases[i].ok ? 0 : -1);
}

static void test_project_paths(void **state)
{
	static const struct {
		const char *path;
		int ok;
	} cases[] = {
		{"group/project", 1},
		{"a/b/c/d", 1},
		{"my.group/my-proj_1", 1},
		{"p", 0},
		{"", 0},
		{"/group/p", 0},
		{"group/", 0},
		{"a//b", 0},
		{"a/../etc", 0},
		{"..", 0},
		{"a/.hidden", 0},
		{"a/-x", 0},
		{"a/b c", 0},
		{"a/b\nc", 0},
		{"a\\b", 0},
		{"grp/../../etc", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(job_valid_project_path(cases[i].path), cases[i].ok ? 0 : -1);
}

static char response_file[64];

static void write_response(const char *json)
{
	FILE *f;

	strcpy(response_file, "/tmp/berth-test-job-XXXXXX");
	close(mkstemp(response_file));
	f = fopen(response_file, "w");
	fputs(json, f);
	fclose(f);
	setenv("JOB_RESPONSE_FILE", response_file, 1);
}

static int clear_env(void **state)
{
	(void)state;
	unsetenv("JOB_RESPONSE_FILE");
	unsetenv("CUSTOM_ENV_CI_JOB_ID");
	unsetenv("CUSTOM_ENV_CI_PROJECT_ID");
	unsetenv("CUSTOM_ENV_CI_PROJECT_PATH");
	if (response_file[0])
		unlink(response_file);
	response_file[0] = '\0';
	return 0;
}

static void test_response_file_wins(void **state)
{
	struct job job;

	(void)state;
	write_response("{\"id\": 501, \"job_info\": {\"project_id\": 7, "
		       "\"project_full_path\": \"grp/app\"}}");
	setenv("CUSTOM_ENV_CI_JOB_ID", "999", 1);
	setenv("CUSTOM_ENV_CI_PROJECT_PATH", "evil/path", 1);
	assert_int_equal(job_load(&job), BERTH_OK);
	assert_string_equal(job.id, "501");
	assert_string_equal(job.project_id, "7");
	assert_string_equal(job.project_path, "grp/app");
	job_release(&job);
}

static void test_env_fallback_is_build_failure_when_bad(void **state)
{
	struct job job;

	(void)state;
	setenv("CUSTOM_ENV_CI_JOB_ID", "42", 1);
	setenv("CUSTOM_ENV_CI_PROJECT_PATH", "grp/app", 1);
	assert_int_equal(job_load(&job), BERTH_OK);
	assert_string_equal(job.id, "42");
	assert_null(job.project_id);
	job_release(&job);
	setenv("CUSTOM_ENV_CI_PROJECT_PATH", "../../etc", 1);
	assert_int_equal(job_load(&job), BERTH_BUILD_FAILURE);
	assert_null(job.id);
	setenv("CUSTOM_ENV_CI_PROJECT_PATH", "grp/app", 1);
	setenv("CUSTOM_ENV_CI_JOB_ID", "12a", 1);
	assert_int_equal(job_load(&job), BERTH_BUILD_FAILURE);
	setenv("CUSTOM_ENV_CI_JOB_ID", "", 1);
	assert_int_equal(job_load(&job), BERTH_BUILD_FAILURE);
}

static void test_bad_response_is_system_failure(void **state)
{
	static const char *bad[] = {
		"not json",
		"[1, 2]",
		"{\"id\": \"abc\"}",
		"{\"id\": -5}",
		"{\"id\": 1, \"job_info\": {\"project_full_path\": \"grp/../../etc\"}}",
		"{\"id\": 1, \"job_info\": {\"project_id\": \"7\"}}",
		"{\"id\": 1, \"id\": 2}",
		"{\"job_info\": {\"project_id\": 7}}",
		"{\"id\": null}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct job job;

		write_response(bad[i]);
		assert_int_equal(job_load(&job), BERTH_SYSTEM_FAILURE);
		clear_env(state);
	}
	setenv("JOB_RESPONSE_FILE", "/nonexistent/response.json", 1);
	{
		struct job job;

		assert_int_equal(job_load(&job), BERTH_SYSTEM_FAILURE);
	}
}

static void test_response_without_id_ignores_env(void **state)
{
	struct job job;

	(void)state;
	write_response("{\"job_info\": {\"project_id\": 7, \"project_full_path\": \"g/p\"}}");
	setenv("CUSTOM_ENV_CI_JOB_ID", "42", 1);
	assert_int_equal(job_load(&job), BERTH_SYSTEM_FAILURE);
	assert_null(job.id);
}

static void test_no_identity_at_all(void **state)
{
	struct job job;

	(void)state;
	assert_int_equal(job_load(&job), BERTH_SYSTEM_FAILURE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_project_paths),
		cmocka_unit_test_setup_teardown(test_response_file_wins, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_env_fallback_is_build_failure_when_bad,
						clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_bad_response_is_system_failure, clear_env,
						clear_env),
		cmocka_unit_test_setup_teardown(test_response_without_id_ignores_env, clear_env,
						clear_env),
		cmocka_unit_test_setup_teardown(test_no_identity_at_all, clear_env, clear_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
