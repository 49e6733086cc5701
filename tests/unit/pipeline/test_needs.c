/*
 * needs: matched to parallel instances, checked, ordered. Pipelines are built by hand here, so
 * that parallel instances (parallel_of) can be given without the loader's expansion.
 */
#include "unit.h"

#include "pipeline/needs.h"

#include <stdlib.h>
#include <string.h>

struct spec {
	const char *name;
	size_t stage_index;
	const char *parallel_of;
};

/* A pipeline of `nr` jobs whose definitions are the mappings of `yaml` under each job's name. */
static void build(struct pipeline *p, struct node **root, const struct spec *jobs, size_t nr,
		  const char *yaml)
{
	char err[256];
	size_t i;

	memset(p, 0, sizeof(*p));
	assert_int_equal(node_parse("t.yml", yaml, strlen(yaml), root, err, sizeof(err)), 0);
	p->root = *root;
	p->jobs = calloc(nr, sizeof(*p->jobs));
	assert_non_null(p->jobs);
	p->nr_jobs = nr;
	for (i = 0; i < nr; i++) {
		p->jobs[i].name = (char *)jobs[i].name;
		p->jobs[i].parallel_of = (char *)jobs[i].parallel_of;
		p->jobs[i].stage_index = jobs[i].stage_index;
		p->jobs[i].order = i;
		p->jobs[i].def = node_get(*root, jobs[i].name);
		assert_non_null(p->jobs[i].def);
	}
}

static void release(struct pipeline *p, struct node *root, struct job_needs *all)
{
	needs_release(all, p->nr_jobs);
	free(p->jobs);
	node_free(root);
}

/* The names of what job i waits for, comma-separated. */
static void waits(const struct pipeline *p, const struct job_needs *all, size_t i, char *out,
		  size_t size)
{
	int in[16], w[16];
	size_t k, used = 0;

	for (k = 0; k < p->nr_jobs; k++)
		in[k] = 1;
	needs_waits_for(p, all, in, i, w);
	out[0] = '\0';
	for (k = 0; k < p->nr_jobs; k++)
		if (w[k])
			used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "",
						 p->jobs[k].name);
}

static void test_a_need_of_a_parallel_job_is_every_instance(void **state)
{
	static const struct spec jobs[] = {{"build 1/2", 0, "build"},
					   {"build 2/2", 0, "build"},
					   {"lint", 0, NULL},
					   {"test", 1, NULL}};
	struct pipeline p;
	struct node *root;
	struct job_needs *all = NULL;
	char why[512], got[256];

	(void)state;
	build(&p, &root, jobs, ARRAY_SIZE(jobs),
	      "build 1/2: {script: [x]}\nbuild 2/2: {script: [x]}\nlint: {script: [x]}\n"
	      "test: {needs: [build], script: [x]}\n");
	assert_int_equal(needs_load(&p, &all, why, sizeof(why)), 0);
	waits(&p, all, 3, got, sizeof(got));
	assert_string_equal(got, "build 1/2, build 2/2");
	release(&p, root, all);
}

static void test_a_matrix_need_selects_instances(void **state)
{
	static const struct spec jobs[] = {{"build: [aws, app1]", 0, "build"},
					   {"build: [aws, app2]", 0, "build"},
					   {"build: [gcp, app1]", 0, "build"},
					   {"deploy", 1, NULL}};
	static const char yaml[] =
		"'build: [aws, app1]': {script: [x]}\n'build: [aws, app2]': {script: [x]}\n"
		"'build: [gcp, app1]': {script: [x]}\n"
		"deploy:\n  script: [x]\n  needs:\n    - job: build\n      parallel:\n"
		"        matrix:\n          - PROVIDER: aws\n            STACK: [app1, app2]\n";
	struct pipeline p;
	struct node *root;
	struct job_needs *all = NULL;
	char why[512], got[256];

	(void)state;
	build(&p, &root, jobs, ARRAY_SIZE(jobs), yaml);
	assert_int_equal(needs_load(&p, &all, why, sizeof(why)), 0);
	waits(&p, all, 3, got, sizeof(got));
	assert_string_equal(got, "build: [aws, app1], build: [aws, app2]");
	release(&p, root, all);
}

static void test_a_matrix_need_of_a_missing_instance_is_undefined(void **state)
{
	static const struct spec jobs[] = {{"build: [aws]", 0, "build"}, {"deploy", 1, NULL}};
	struct pipeline p;
	struct node *root;
	struct job_needs *all = NULL;
	char why[512];

	(void)state;
	build(&p, &root, jobs, ARRAY_SIZE(jobs),
	      "'build: [aws]': {script: [x]}\n"
	      "deploy:\n  script: [x]\n  needs:\n"
	      "    - {job: build, parallel: {matrix: [{PROVIDER: azure}]}}\n");
	assert_int_equal(needs_load(&p, &all, why, sizeof(why)), -1);
	assert_null(all);
	assert_string_equal(why, "t.yml:5: deploy job: undefined need: build: [azure]");
	release(&p, root, all);
}

/* GitLab counts the instances a need names against its limit of 50, after expansion. */
static void test_the_limit_counts_parallel_instances(void **state)
{
	struct spec jobs[52];
	char names[51][16], yaml[4096] = "", why[512] = "";
	int in[52];
	struct pipeline p;
	struct node *root;
	struct job_needs *all = NULL;
	size_t i, used = 0;

	(void)state;
	for (i = 0; i < 51; i++) {
		snprintf(names[i], sizeof(names[i]), "b %zu/51", i + 1);
		jobs[i] = (struct spec){names[i], 0, "b"};
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "'%s': {script: [x]}\n",
					 names[i]);
	}
	jobs[51] = (struct spec){"test", 1, NULL};
	snprintf(yaml + used, sizeof(yaml) - used, "test: {needs: [b], script: [x]}\n");
	build(&p, &root, jobs, ARRAY_SIZE(jobs), yaml);
	assert_int_equal(needs_load(&p, &all, why, sizeof(why)), 0);
	for (i = 0; i < ARRAY_SIZE(in); i++)
		in[i] = 1;
	assert_int_equal(needs_check_present(&p, all, in, why, sizeof(why)), -1);
	assert_string_equal(why, "t.yml:52: test: one job can only need 50 others, but you have "
				 "listed 51. See needs keyword documentation for more details");
	in[51] = 0; /* rules leave the job out: its needs are not checked */
	assert_int_equal(needs_check_present(&p, all, in, why, sizeof(why)), 0);
	release(&p, root, all);
}

/* Each case: the definitions, and needs_load's message (NULL: valid). */
static const struct {
	const char *yaml, *why;
} checks[] = {
	{"a: {script: [x]}\nb: {needs: [a, a], script: [x]}\n",
	 "t.yml:2: b has the following needs duplicated: a."},
	{"a: {needs: [b], script: [x]}\nb: {needs: [a], script: [x]}\n",
	 "t.yml:1: The pipeline has circular dependencies: a -> b -> a"},
	{"a: {needs: [a], script: [x]}\nb: {script: [x]}\n",
	 "t.yml:1: The pipeline has circular dependencies: a -> a"},
	{"a: {script: [x]}\nb: {needs: [{job: a, colour: red}], script: [x]}\n",
	 "t.yml:2: jobs:b:needs:need config contains unknown keys: colour"},
	{"a: {script: [x]}\nb: {needs: [{job: a, optional: maybe}], script: [x]}\n",
	 "t.yml:2: jobs:b:needs:need optional should be a boolean value"},
	{"a: {script: [x]}\nb: {needs: [{job: c, optional: true}], script: [x]}\n", NULL},
	{"a: {script: [x]}\nb: {needs: [{project: g/p, job: c, ref: main}], script: [x]}\n", NULL},
};

static void test_checks(void **state)
{
	static const struct spec jobs[] = {{"a", 0, NULL}, {"b", 0, NULL}};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(checks); i++) {
		struct pipeline p;
		struct node *root;
		struct job_needs *all = NULL;
		char why[512] = "";
		int ret;

		build(&p, &root, jobs, ARRAY_SIZE(jobs), checks[i].yaml);
		ret = needs_load(&p, &all, why, sizeof(why));
		if (checks[i].why) {
			assert_int_equal(ret, -1);
			assert_string_equal(why, checks[i].why);
		} else {
			assert_int_equal(ret, 0);
		}
		release(&p, root, all);
	}
}

static void test_order_and_closure(void **state)
{
	/* in stage order, as the loader leaves them; unit needs smoke, written after it */
	static const struct spec jobs[] = {{"compile", 0, NULL}, {"lint", 0, NULL},
					   {"unit", 1, NULL},	 {"smoke", 1, NULL},
					   {"report", 1, NULL},	 {"deploy", 2, NULL}};
	struct pipeline p;
	struct node *root;
	struct job_needs *all = NULL;
	char why[512];
	size_t order[6], *run = NULL, nr = 0, i;
	static const size_t want_order[] = {0, 1, 3, 2, 4, 5}, want_run[] = {0, 3, 2, 5};

	(void)state;
	build(&p, &root, jobs, ARRAY_SIZE(jobs),
	      "compile: {script: [x]}\nlint: {script: [x]}\n"
	      "unit: {needs: [compile, smoke], script: [x]}\nsmoke: {needs: [], script: [x]}\n"
	      "report: {script: [x]}\ndeploy: {needs: [unit], script: [x]}\n");
	assert_int_equal(needs_load(&p, &all, why, sizeof(why)), 0);
	needs_order(&p, all, order);
	for (i = 0; i < ARRAY_SIZE(order); i++)
		assert_int_equal(order[i], want_order[i]);
	assert_int_equal(needs_closure(&p, all, 5, &run, &nr), 0);
	assert_int_equal(nr, ARRAY_SIZE(want_run));
	for (i = 0; i < nr; i++)
		assert_int_equal(run[i], want_run[i]);
	free(run);
	release(&p, root, all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_need_of_a_parallel_job_is_every_instance),
		cmocka_unit_test(test_a_matrix_need_selects_instances),
		cmocka_unit_test(test_a_matrix_need_of_a_missing_instance_is_undefined),
		cmocka_unit_test(test_the_limit_counts_parallel_instances),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_order_and_closure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
