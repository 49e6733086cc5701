/* The stage environment and the string vectors it is built from. */
#include "unit.h"

#include "job/env.h"
#include "conf/settings.h"
#include "conf/vars.h"
#include "base/array.h"
#include "base/strvec.h"
#include "job/workspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_strvec_setenv_replaces(void **state)
{
	struct strvec sv = STRVEC_INIT;

	(void)state;
	assert_int_equal(strvec_push(&sv, "A=1"), 0);
	assert_int_equal(strvec_push(&sv, "AB=2"), 0);
	assert_int_equal(strvec_setenv(&sv, "A", "3"), 0);
	assert_int_equal(sv.nr, 2);
	assert_string_equal(strvec_getenv(&sv, "A"), "3");
	assert_string_equal(strvec_getenv(&sv, "AB"), "2");
	assert_null(strvec_getenv(&sv, "B"));
	assert_int_equal(strvec_unsetenv(&sv, "AB"), 1);
	assert_int_equal(sv.nr, 1);
	assert_null(sv.v[1]);
	strvec_clear(&sv);
	assert_null(sv.v);
}

static void test_strvec_grows(void **state)
{
	struct strvec sv = STRVEC_INIT;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(strvec_pushf(&sv, "V%d=%d", i, i), 0);
	assert_int_equal(sv.nr, 1000);
	assert_string_equal(sv.v[999], "V999=999");
	assert_null(sv.v[1000]);
	strvec_clear(&sv);
}

/* What settings_load gives with no settings file: werf_synchronization is derived there. */
static struct settings defaults;

static int load_defaults(void **state)
{
	char file[] = "/tmp/berth-test-settings-XXXXXX";
	int fd = mkstemp(file), ret;

	(void)state;
	if (fd < 0)
		return -1;
	close(fd);
	ret = settings_load(&defaults, file);
	unlink(file);
	return ret;
}

static int release_defaults(void **state)
{
	(void)state;
	settings_release(&defaults);
	return 0;
}

static void test_stage_env(void **state)
{
	char *in[] = {
		"PATH=/usr/bin",
		"HOME=/root",
		"JOB_RESPONSE_FILE=/tmp/r.json",
		"BUILD_FAILURE_EXIT_CODE=77",
		"SYSTEM_FAILURE_EXIT_CODE=78",
		"BUILD_EXIT_CODE_FILE=/tmp/ec",
		"BERTH_CONFIG=/etc/b.yaml",
		"CUSTOM_ENV_CI_JOB_TOKEN=canary-token",
		"CUSTOM_ENV_X=1",
		"TMPDIR=/tmp/runner",
		"BERTH_JOB_DIR=/old",
		"KUBECONFIG=/root/.kube/runners-own",
		"WERF_KUBECONFIG_BASE64=cnVubmVyJ3Mgb3du",
		"WERF_KUBECONFIG=/root/.kube/runners-werf",
		"JOB_RESPONSE_FILE_NOT=kept",
		NULL,
	};
	struct workspace ws = {.dir = "/s/jobs/9",
			       .tmp = "/s/jobs/9/tmp",
			       .docker = "/s/jobs/9/docker",
			       .kube = "/s/jobs/9/kube",
			       .kubeconfig = "/nonexistent/kube/config",
			       .builds = "/s/builds",
			       .builds_shared = 1};
	struct strvec env = STRVEC_INIT;
	size_t i;

	(void)state;
	assert_int_equal(stage_env(&env, in, &ws, &defaults, NULL, NULL, NULL), 0);
	assert_string_equal(strvec_getenv(&env, "PATH"), "/usr/bin");
	assert_string_equal(strvec_getenv(&env, "HOME"), "/root");
	assert_string_equal(strvec_getenv(&env, "TMPDIR"), "/s/jobs/9/tmp");
	assert_string_equal(strvec_getenv(&env, JOB_MARKER), "/s/jobs/9");
	assert_string_equal(strvec_getenv(&env, "DOCKER_CONFIG"), "/s/jobs/9/docker");
	assert_string_equal(strvec_getenv(&env, "WERF_DOCKER_CONFIG"), "/s/jobs/9/docker");
	assert_string_equal(strvec_getenv(&env, "JOB_RESPONSE_FILE_NOT"), "kept");
	/* No kubeconfig for this job: the path is still the workspace's, never the runner's own
	 * (kubectl would otherwise fall back to ~/.kube/config). */
	assert_string_equal(strvec_getenv(&env, "KUBECONFIG"), "/nonexistent/kube/config");
	assert_string_equal(strvec_getenv(&env, "WERF_KUBE_CONFIG"), "/nonexistent/kube/config");
	assert_null(strvec_getenv(&env, "WERF_KUBECONFIG_BASE64"));
	assert_null(strvec_getenv(&env, "WERF_KUBECONFIG"));
	for (i = 0; i < env.nr; i++) {
		assert_null(strstr(env.v[i], "CUSTOM_ENV_"));
		assert_null(strstr(env.v[i], "canary-token"));
		assert_null(strstr(env.v[i], "EXIT_CODE"));
		assert_null(strstr(env.v[i], "BERTH_CONFIG"));
		assert_int_not_equal(strncmp(env.v[i], "JOB_RESPONSE_FILE=", 18), 0);
	}
	/* werf's tmp dir and home are the job's, and it never asks werf's public server. */
	assert_string_equal(strvec_getenv(&env, "WERF_TMP_DIR"), "/s/jobs/9/tmp");
	assert_string_equal(strvec_getenv(&env, "WERF_HOME"), "/s/jobs/9/tmp/werf-home");
	assert_string_equal(strvec_getenv(&env, "WERF_SYNCHRONIZATION"), ":local");
	assert_string_equal(strvec_getenv(&env, "WERF_TELEMETRY"), "0");
	assert_null(strvec_getenv(&env, "BASH_FUNC_werf%%"));
	assert_int_equal(env.nr, 17);
	strvec_clear(&env);
}

/*
 * A deploy to a rate-limited registry gets WERF_PARALLEL=0 from the job's WERF_REPO (the runner
 * hands it to berth as CUSTOM_ENV_WERF_REPO), and bash finds berth's `werf` before any on PATH.
 */
static void test_stage_env_werf_for_plain_werf(void **state)
{
	char *in[] = {"PATH=/usr/bin", "WERF_TMP_DIR=/var/tmp/runner-wide", NULL};
	struct workspace ws = {.dir = "/s/jobs/9",
			       .tmp = "/s/jobs/9/tmp",
			       .docker = "/s/jobs/9/docker",
			       .kube = "/s/jobs/9/kube",
			       .kubeconfig = "/s/jobs/9/kube/config",
			       .bin = "/s/jobs/9/bin"};
	struct strvec env = STRVEC_INIT;

	(void)state;
	setenv("CUSTOM_ENV_WERF_REPO", "cr.selcloud.ru/shop/group/app", 1);
	assert_int_equal(stage_env(&env, in, &ws, &defaults, NULL, "/t/bin", NULL), 0);
	assert_string_equal(strvec_getenv(&env, "WERF_PARALLEL"), "0");
	assert_string_equal(strvec_getenv(&env, "WERF_TMP_DIR"), "/s/jobs/9/tmp");
	assert_string_equal(strvec_getenv(&env, "PATH"), "/s/jobs/9/bin:/t/bin:/usr/bin");
	assert_string_equal(strvec_getenv(&env, "BASH_FUNC_werf%%"),
			    "() { '/s/jobs/9/bin/werf' \"$@\"; }");
	strvec_clear(&env);
	/* The job's own WERF_PARALLEL wins (the seed's cleanup sets 0 itself). */
	setenv("CUSTOM_ENV_WERF_PARALLEL", "4", 1);
	assert_int_equal(stage_env(&env, in, &ws, &defaults, NULL, NULL, NULL), 0);
	assert_null(strvec_getenv(&env, "WERF_PARALLEL"));
	strvec_clear(&env);
	unsetenv("CUSTOM_ENV_WERF_PARALLEL");
	setenv("CUSTOM_ENV_WERF_REPO", "registry.example.com/group/app", 1);
	assert_int_equal(stage_env(&env, in, &ws, &defaults, NULL, NULL, NULL), 0);
	assert_null(strvec_getenv(&env, "WERF_PARALLEL"));
	/* The job's own WERF_REPO comes from the script's exports, not from berth. */
	assert_null(strvec_getenv(&env, "WERF_REPO"));
	strvec_clear(&env);
	unsetenv("CUSTOM_ENV_WERF_REPO");
}

static const struct workspace plain_ws = {.dir = "/s/jobs/9",
					  .tmp = "/s/jobs/9/tmp",
					  .docker = "/s/jobs/9/docker",
					  .kube = "/s/jobs/9/kube",
					  .kubeconfig = "/s/jobs/9/kube/config"};

/* The stage's value of NAME for a job whose CI/CD variable VAR is VALUE (NULL: unset). */
static void assert_stage_sets(const char *var, const char *value, const char *name,
			      const char *want)
{
	char *in[] = {"PATH=/usr/bin", NULL}, spelled[128];
	struct strvec env = STRVEC_INIT;

	snprintf(spelled, sizeof(spelled), "CUSTOM_ENV_%s", var);
	if (value)
		setenv(spelled, value, 1);
	else
		unsetenv(spelled);
	assert_int_equal(stage_env(&env, in, &plain_ws, &defaults, NULL, NULL, NULL), 0);
	if (want)
		assert_string_equal(strvec_getenv(&env, name), want);
	else
		assert_null(strvec_getenv(&env, name));
	unsetenv(spelled);
	strvec_clear(&env);
}

/*
 * werf ci-env's WERF_REPO_CONTAINER_REGISTRY: gitlab when the repo is GitLab's registry, with
 * berth's mark so the wrapper works it out again for another repo; none for another registry.
 */
static void test_stage_env_gitlab_registry(void **state)
{
	const char *name = "WERF_REPO_CONTAINER_REGISTRY";

	(void)state;
	setenv("CUSTOM_ENV_CI_REGISTRY", "registry.gitlab.example.com", 1);
	setenv("CUSTOM_ENV_CI_REGISTRY_IMAGE", "registry.gitlab.example.com/group/app", 1);
	assert_stage_sets("WERF_REPO", NULL, name, "gitlab");
	assert_stage_sets("WERF_REPO", NULL, "BERTH_WERF_REPO_CONTAINER_REGISTRY", "gitlab");
	assert_stage_sets("WERF_REPO", "registry.gitlab.example.com/group/other", name, "gitlab");
	assert_stage_sets("WERF_REPO", "cr.selcloud.ru/reg/app", name, NULL);
	/* The job's own value comes from the script's exports, not from berth. */
	assert_stage_sets(name, "default", name, NULL);
	unsetenv("CUSTOM_ENV_CI_REGISTRY_IMAGE");
	assert_stage_sets("WERF_REPO", NULL, name, NULL);
	unsetenv("CUSTOM_ENV_CI_REGISTRY");
}

/* werf's colours are off on GitLab after 12.1.3 and before 12.2.0, as semantic versions. */
static void test_stage_env_color_mode_by_gitlab_version(void **state)
{
	static const char *const off[] = {"12.1.4", "12.1.6-ee", "v12.1.9", "12.2.0-rc1"};
	static const char *const on[] = {"12.1.3",    "12.1.3+ee", "12.2.0",  "12.1",
					 "17.5.1-ee", "12.1.5.1",  "12.1.5-", "bogus"};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(off); i++)
		assert_stage_sets("CI_SERVER_VERSION", off[i], "WERF_LOG_COLOR_MODE", "off");
	for (i = 0; i < ARRAY_SIZE(on); i++)
		assert_stage_sets("CI_SERVER_VERSION", on[i], "WERF_LOG_COLOR_MODE", "on");
}

static void test_stage_env_with_kubeconfig_and_settings(void **state)
{
	char kubeconfig[] = "/tmp/berth-test-kube-XXXXXX";
	char *in[] = {"PATH=/usr/bin", "BERTH_CONFIG=/etc/runner.yaml", NULL};
	struct workspace ws = {.dir = "/s/jobs/9",
			       .tmp = "/s/jobs/9/tmp",
			       .docker = "/s/jobs/9/docker",
			       .kube = "/tmp",
			       .kubeconfig = kubeconfig,
			       .builds = "/s/builds",
			       .builds_shared = 1};
	struct strvec env = STRVEC_INIT;

	(void)state;
	close(mkstemp(kubeconfig));
	assert_int_equal(stage_env(&env, in, &ws, &defaults, "/etc/berth/berth.yaml", NULL, NULL),
			 0);
	unlink(kubeconfig);
	assert_string_equal(strvec_getenv(&env, "KUBECONFIG"), kubeconfig);
	assert_string_equal(strvec_getenv(&env, "WERF_KUBE_CONFIG"), kubeconfig);
	/* The settings berth itself read, so berth inside the job behaves the same. */
	assert_string_equal(strvec_getenv(&env, "BERTH_CONFIG"), "/etc/berth/berth.yaml");
	strvec_clear(&env);
}

/* A tool bundle's bin/ comes first on PATH, once, whatever PATH was. */
static void test_stage_env_tools_first_on_path(void **state)
{
	char *in[] = {"PATH=/usr/local/bin:/usr/bin", NULL}, *none[] = {NULL};
	struct workspace ws = {.dir = "/s/jobs/9",
			       .tmp = "/s/jobs/9/tmp",
			       .docker = "/s/jobs/9/docker",
			       .kube = "/s/jobs/9/kube",
			       .kubeconfig = "/s/jobs/9/kube/config"};
	struct strvec env = STRVEC_INIT;
	size_t i, paths = 0;

	(void)state;
	assert_int_equal(
		stage_env(&env, in, &ws, &defaults, NULL, "/var/lib/berth/tools/ab/bin", NULL), 0);
	assert_string_equal(strvec_getenv(&env, "PATH"),
			    "/var/lib/berth/tools/ab/bin:/usr/local/bin:/usr/bin");
	for (i = 0; i < env.nr; i++)
		paths += !strncmp(env.v[i], "PATH=", 5);
	assert_int_equal(paths, 1);
	strvec_clear(&env);
	assert_int_equal(stage_env(&env, none, &ws, &defaults, NULL, "/t/bin", NULL), 0);
	assert_string_equal(strvec_getenv(&env, "PATH"), "/t/bin:/usr/bin:/bin");
	strvec_clear(&env);
}

/* A fleet with Lease locks: werf synchronizes in the locks' namespace, never the public server. */
static void test_stage_env_kubernetes_synchronization(void **state)
{
	char file[] = "/tmp/berth-test-settings-XXXXXX", *in[] = {"PATH=/usr/bin", NULL};
	struct workspace ws = {.dir = "/s/jobs/9",
			       .tmp = "/s/jobs/9/tmp",
			       .docker = "/s/jobs/9/docker",
			       .kubeconfig = "/s/jobs/9/kube/config"};
	struct strvec env = STRVEC_INIT;
	struct settings s;
	int fd = mkstemp(file);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "lock_backend: kubernetes\nlock_namespace: ci-locks\n", 50), 50);
	close(fd);
	memset(&s, 0, sizeof(s));
	assert_int_equal(settings_load(&s, file), 0);
	unlink(file);
	assert_int_equal(stage_env(&env, in, &ws, &s, NULL, NULL, NULL), 0);
	assert_string_equal(strvec_getenv(&env, "WERF_SYNCHRONIZATION"), "kubernetes://ci-locks");
	strvec_clear(&env);
	settings_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strvec_setenv_replaces),
		cmocka_unit_test(test_strvec_grows),
		cmocka_unit_test(test_stage_env),
		cmocka_unit_test(test_stage_env_with_kubeconfig_and_settings),
		cmocka_unit_test(test_stage_env_tools_first_on_path),
		cmocka_unit_test(test_stage_env_werf_for_plain_werf),
		cmocka_unit_test(test_stage_env_kubernetes_synchronization),
		cmocka_unit_test(test_stage_env_gitlab_registry),
		cmocka_unit_test(test_stage_env_color_mode_by_gitlab_version),
	};
	return cmocka_run_group_tests(tests, load_defaults, release_defaults);
}
