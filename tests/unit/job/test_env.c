/* The stage environment and the string vectors it is built from. */
#include "unit.h"

#include "job/env.h"
#include "conf/vars.h"
#include "base/strvec.h"
#include "job/workspace.h"

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
	assert_int_equal(stage_env(&env, in, &ws, NULL, NULL, NULL), 0);
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
	assert_int_equal(env.nr, 9);
	strvec_clear(&env);
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
	assert_int_equal(stage_env(&env, in, &ws, "/etc/berth/berth.yaml", NULL, NULL), 0);
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
	assert_int_equal(stage_env(&env, in, &ws, NULL, "/var/lib/berth/tools/ab/bin", NULL), 0);
	assert_string_equal(strvec_getenv(&env, "PATH"),
			    "/var/lib/berth/tools/ab/bin:/usr/local/bin:/usr/bin");
	for (i = 0; i < env.nr; i++)
		paths += !strncmp(env.v[i], "PATH=", 5);
	assert_int_equal(paths, 1);
	strvec_clear(&env);
	assert_int_equal(stage_env(&env, none, &ws, NULL, "/t/bin", NULL), 0);
	assert_string_equal(strvec_getenv(&env, "PATH"), "/t/bin:/usr/bin:/bin");
	strvec_clear(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strvec_setenv_replaces),
		cmocka_unit_test(test_strvec_grows),
		cmocka_unit_test(test_stage_env),
		cmocka_unit_test(test_stage_env_with_kubeconfig_and_settings),
		cmocka_unit_test(test_stage_env_tools_first_on_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
