/*
 * parallel: the copies `parallel: N` and `parallel: matrix:` make, their names and variables,
 * against GitLab's normalizer (number_strategy.rb, matrix_strategy.rb), and GitLab's messages
 * for the values it refuses.
 */
#include "unit.h"

#include "pipeline/parallel.h"

#include <string.h>

/* `parallel:`'s value, parsed from YAML text as the loader would. */
static struct node *parse(const char *text)
{
	struct node *root = NULL;
	char err[256];

	if (node_parse("t.yml", text, strlen(text), &root, err, sizeof(err)) < 0)
		fail_msg("%s: %s", text, err);
	return root;
}

struct expansion {
	const char *yaml;   /* `parallel: ...` */
	const char *names;  /* every copy's name, joined by '|' */
	const char *vars_3; /* the third copy's variables, "K=V " each, in order ("" to skip) */
};

static const struct expansion expansions[] = {
	{"parallel: 3", "job 1/3|job 2/3|job 3/3", "CI_NODE_INDEX=3 CI_NODE_TOTAL=3 "},
	{"parallel: 1", "job 1/1", ""},
	/* Ruby's product: the first key's values vary slowest; entries in order. */
	{"parallel: {matrix: [{P: aws, S: [mon, app1, app2]}, {P: [ovh, gcp], S: [data]}]}",
	 "job: [aws, mon]|job: [aws, app1]|job: [aws, app2]|job: [ovh, data]|job: [gcp, data]",
	 "P=aws S=app2 CI_NODE_INDEX=3 CI_NODE_TOTAL=5 "},
	{"parallel: {matrix: [{A: [x, y], B: [1, 2]}]}",
	 "job: [x, 1]|job: [x, 2]|job: [y, 1]|job: [y, 2]",
	 "A=y B=1 CI_NODE_INDEX=3 CI_NODE_TOTAL=4 "},
	{"parallel: {matrix: [{ONE: only}]}", "job: [only]", ""},
	/* An empty list: no combination, so no job. */
	{"parallel: {matrix: [{A: [], B: [x]}]}", "", ""},
	{"parallel: ~", "", ""},
};

static void joined_names(const struct parallel *p, char *out, size_t size)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < p->nr; i++) {
		strncat(out, i ? "|" : "", size - strlen(out) - 1);
		strncat(out, p->v[i].name, size - strlen(out) - 1);
	}
}

static void joined_vars(const struct node *vars, char *out, size_t size)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < vars->n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s=%s ", vars->keys[i],
			 vars->items[i]->str);
}

static void test_expand(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(expansions); i++) {
		const struct expansion *e = &expansions[i];
		struct node *root = parse(e->yaml);
		struct parallel p;
		char err[256] = "", got[1024];

		if (parallel_expand(&p, "job", node_get(root, "parallel"), err, sizeof(err)) < 0)
			fail_msg("%s: %s", e->yaml, err);
		joined_names(&p, got, sizeof(got));
		if (strcmp(got, e->names) != 0)
			fail_msg("%s: names '%s', want '%s'", e->yaml, got, e->names);
		if (e->vars_3[0]) {
			joined_vars(p.v[2].variables, got, sizeof(got));
			if (strcmp(got, e->vars_3) != 0)
				fail_msg("%s: variables '%s', want '%s'", e->yaml, got, e->vars_3);
		}
		parallel_release(&p);
		assert_int_equal(p.nr, 0);
		node_free(root);
	}
}

struct refusal {
	const char *yaml, *want; /* GitLab's message, after "t.yml:LINE: " */
};

static const struct refusal refusals[] = {
	{"parallel: 0", "jobs:job:parallel config must be greater than or equal to 1"},
	{"parallel: 201", "jobs:job:parallel config must be less than or equal to 200"},
	{"parallel: 99999999999999999999999",
	 "jobs:job:parallel config must be less than or equal to 200"},
	{"parallel: 2.5", "jobs:job:parallel config must be an integer"},
	{"parallel: \"3\"", "jobs:job:parallel should be an integer or a hash"},
	{"parallel: three", "jobs:job:parallel should be an integer or a hash"},
	{"parallel: [1, 2]", "jobs:job:parallel should be an integer or a hash"},
	{"parallel: {matrix: [{A: x}], other: 1}",
	 "jobs:job:parallel config contains unknown keys: other"},
	{"parallel: {}", "jobs:job:parallel config missing required keys: matrix"},
	{"parallel: {matrix: {A: x}}",
	 "jobs:job:parallel:matrix config should be an array of hashes"},
	{"parallel: {matrix: [x]}", "jobs:job:parallel:matrix config should be an array of hashes"},
	{"parallel: {matrix: [{}]}",
	 "jobs:job:parallel:matrix:variables config requires at least 1 items"},
	{"parallel: {matrix: [{A: {b: c}}]}",
	 "jobs:job:parallel:matrix:variables config should be a hash of key value pairs, value can be "
	 "an array"},
	{"parallel: {matrix: [{A: [x, [y]]}]}",
	 "jobs:job:parallel:matrix:variables config should be a hash of key value pairs, value can be "
	 "an array"},
	{"parallel: {matrix: [{A: true}]}",
	 "jobs:job:parallel:matrix:variables config should be a hash of key value pairs, value can be "
	 "an array"},
	/* 15 x 14 = 210 from one entry; 100 + 101 from two. */
	{"parallel: {matrix: [{A: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15], "
	 "B: [1,2,3,4,5,6,7,8,9,10,11,12,13,14]}]}",
	 "jobs:job:parallel:matrix config generates too many jobs (maximum is 200)"},
	{"parallel: {matrix: [{A: [1,2,3,4,5,6,7,8,9,10], B: [1,2,3,4,5,6,7,8,9,10]}, "
	 "{C: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,"
	 "32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,"
	 "62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,"
	 "92,93,94,95,96,97,98,99,100,101]}]}",
	 "jobs:job:parallel:matrix config generates too many jobs (maximum is 200)"},
};

static void test_refused(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(refusals); i++) {
		struct node *root = parse(refusals[i].yaml);
		struct parallel p;
		char err[512] = "";
		const char *text;

		if (parallel_expand(&p, "job", node_get(root, "parallel"), err, sizeof(err)) == 0)
			fail_msg("%s: accepted, want '%s'", refusals[i].yaml, refusals[i].want);
		assert_int_equal(p.nr, 0);
		text = strstr(err, ": ");
		if (strncmp(err, "t.yml:1: ", 9) != 0 || !text ||
		    strcmp(text + 2, refusals[i].want))
			fail_msg("%s: got '%s', want 't.yml:1: %s'", refusals[i].yaml, err,
				 refusals[i].want);
		node_free(root);
	}
}

/* The limit itself is allowed: 200 jobs, the last one 200/200. */
static void test_limit(void **state)
{
	struct node *root = parse("parallel: 200");
	struct parallel p;
	char err[256];

	(void)state;
	assert_int_equal(parallel_expand(&p, "job", node_get(root, "parallel"), err, sizeof(err)),
			 0);
	assert_int_equal(p.nr, 200);
	assert_string_equal(p.v[199].name, "job 200/200");
	parallel_release(&p);
	node_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
