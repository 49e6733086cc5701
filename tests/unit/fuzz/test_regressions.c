/*
 * Inputs the fuzz targets (tests/fuzz) found crashing, each through the same entry point,
 * asserting the sane outcome. The inputs are in the targets' corpora too.
 */
#include "unit.h"

#include "pipeline/model.h"
#include "base/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Loads `text` as the only file of a repository: pipeline_load's result, err filled. When it
 * loads and `job` is not NULL, that job must have `image: alpine`.
 */
static int load_pipeline(const char *text, const char *job, char *err, size_t err_size)
{
	char dir[] = "/tmp/berth-fuzzreg-XXXXXX";
	char path[64];
	struct pipeline p;
	FILE *f;
	int ret;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/.gitlab-ci.yml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	ret = pipeline_load(&p, dir, ".gitlab-ci.yml", NULL, NULL, err, err_size);
	if (ret == 0 && job) {
		const struct ci_job *j = pipeline_job(&p, job);

		/* The top-level image (a legacy default) reaches the job. */
		assert_non_null(j);
		assert_non_null(node_get(j->def, "image"));
		assert_string_equal(node_get(j->def, "image")->str, "alpine");
	}
	if (ret == 0)
		pipeline_release(&p);
	assert_int_equal(remove_tree(dir, 0), 0);
	return ret;
}

/*
 * fuzz_pipeline: `default:` that is not a mapping. A null one with a top-level `image:` had
 * node_set write a key into a scalar (NULL keys); a sequence had apply_defaults read its keys.
 */
static void test_pipeline_default_not_a_mapping(void **state)
{
	static const char *const bad[] = {
		"default: [image]\njob:\n  script: [echo]\n",
		"default: alpine\nimage: alpine\njob:\n  script: [echo]\n",
		"default: \"\"\njob:\n  script: [echo]\n",
	};
	char err[512];
	size_t i;
	int ret;

	(void)state;
	/* `default:` with nothing under it is as if absent. */
	assert_int_equal(load_pipeline("default:\nimage: alpine\njob:\n  script: [echo]\n", "job",
				       err, sizeof(err)),
			 0);
	assert_int_equal(load_pipeline("default: ~\nimage: alpine\njob:\n  script: [echo]\n", "job",
				       err, sizeof(err)),
			 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load_pipeline(bad[i], "job", err, sizeof(err)), -1);
		assert_non_null(strstr(err, ".gitlab-ci.yml:1: default is a mapping"));
	}
	/* The input as the fuzzer found it: loads or not, but no crash. */
	ret = load_pipeline("\n  default:\n  image: alpine:e]\n\nsome_defaults:\n  inherit:\n    "
			    "default: [image]rutest\n    -../ if: \n   script: [echo some]\n",
			    NULL, err, sizeof(err));
	assert_true(ret == 0 || ret == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_default_not_a_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
