/* The YAML tree of a pipeline: merge keys, aliases, !reference marks, lines, limits, merging. */
#include "unit.h"

#include "pipeline/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct node *parse(const char *text, char *err, size_t size)
{
	struct node *root = NULL;

	err[0] = '\0';
	if (node_parse("t.yml", text, strlen(text), &root, err, size) < 0)
		return NULL;
	return root;
}

static const char *str(const struct node *n)
{
	return n && n->kind == NODE_SCALAR ? n->str : "(not a scalar)";
}

static void test_merge_keys_and_aliases(void **state)
{
	char err[256];
	struct node *root = parse(".a: &a {x: 1, y: 2}\n"
				  ".b: &b {y: 3, z: 4}\n"
				  "job:\n  <<: [*a, *b]\n  x: 9\n  list: &l [p, q]\n  again: *l\n",
				  err, sizeof(err));
	const struct node *job;

	(void)state;
	assert_non_null(root);
	job = node_get(root, "job");
	assert_string_equal(str(node_get(job, "x")), "9"); /* explicit wins */
	assert_string_equal(str(node_get(job, "y")), "2"); /* earlier source wins */
	assert_string_equal(str(node_get(job, "z")), "4");
	assert_null(node_get(job, "<<"));
	assert_int_equal(node_get(job, "again")->n, 2);
	assert_string_equal(str(node_get(job, "again")->items[1]), "q");
	node_free(root);
}

static void test_reference_marked_and_lines(void **state)
{
	char err[256];
	struct node *root = parse("a:\n  script:\n    - !reference [.t, script]\n"
				  "  long_key:\n\n    value\n",
				  err, sizeof(err));
	const struct node *a;

	(void)state;
	assert_non_null(root);
	a = node_get(root, "a");
	assert_int_equal(node_get(a, "script")->items[0]->reference, 1);
	assert_int_equal(node_key_line(a, 1), 4);	    /* the key's line, */
	assert_int_equal(node_get(a, "long_key")->line, 6); /* not its value's */
	node_free(root);
}

static void test_errors_name_file_and_line(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{"a: [1, 2\n", "t.yml:2: invalid YAML"},
		{"a: !custom x\n", "t.yml:1: unknown YAML tag"},
		{"a: !reference x\n", "t.yml:1: !reference takes a list"},
		{"- a\n- b\n", "t.yml:1: a pipeline file is a mapping"},
		{"a:\n  <<: 3\n", "t.yml:2: a '<<' merge key takes a mapping"},
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(parse(bad[i].text, err, sizeof(err)));
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("for %s: got '%s', want '%s...'", bad[i].text, err, bad[i].want);
	}
}

static void test_alias_bomb_stops(void **state)
{
	char err[256], text[2048];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 9; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
				      "*a%d, *a%d]\n",
				      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
				      i - 1, i - 1);
	assert_null(parse(text, err, sizeof(err)));
	assert_non_null(strstr(err, "alias bomb"));
}

/* `job: {script: [[[...]]]}`, `levels` collections deep in all. */
static char *nested(int levels)
{
	char *text = malloc((size_t)levels * 2 + 32), *p = text;
	int i;

	assert_non_null(text);
	p += sprintf(p, "job:\n  script: ");
	for (i = 2; i < levels; i++)
		*p++ = '[';
	*p++ = 'x';
	for (i = 2; i < levels; i++)
		*p++ = ']';
	strcpy(p, "\n");
	return text;
}

/* GitLab's max_yaml_depth is 100: a file it takes parses, one level more does not, and a file
 * 160,000 levels deep is refused at once instead of after minutes in libyaml's scanner. */
static void test_nesting_is_bounded(void **state)
{
	static const struct {
		int levels;
		const char *want; /* NULL: parses */
	} cases[] = {
		{100, NULL},
		{101, "t.yml:2: nested deeper than 100 levels"},
		{160000, "t.yml:2: nested deeper than 100 levels"},
	};
	struct timespec t0, t1;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = nested(cases[i].levels);
		struct node *root;

		/* CPU time: a bound on the work, whatever else the machine runs. */
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		root = parse(text, err, sizeof(err));
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		free(text);
		if (cases[i].want && (root || strcmp(err, cases[i].want) != 0))
			fail_msg("%d levels: got '%s', want '%s'", cases[i].levels,
				 root ? "(parsed)" : err, cases[i].want);
		if (!cases[i].want && !root)
			fail_msg("%d levels: got '%s', want it parsed", cases[i].levels, err);
		assert_true(t1.tv_sec - t0.tv_sec < 2);
		node_free(root);
	}
}

static void test_merge_and_flatten(void **state)
{
	char err[256];
	struct node *root = parse("base: {v: {A: 1, B: 2}, s: [a, b], k: x}\n"
				  "over: {v: {B: 3, C: 4}, s: [c]}\n"
				  "nested: [a, [b, [c, d]], e]\n",
				  err, sizeof(err));
	struct node *m, *nested;

	(void)state;
	assert_non_null(root);
	m = node_merge(node_get(root, "base"), node_get(root, "over"));
	assert_string_equal(str(node_get(node_get(m, "v"), "A")), "1");
	assert_string_equal(str(node_get(node_get(m, "v"), "B")), "3");
	assert_string_equal(str(node_get(node_get(m, "v"), "C")), "4");
	assert_int_equal(node_get(m, "s")->n, 1); /* lists are replaced, not merged */
	assert_string_equal(str(node_get(m, "k")), "x");
	nested = node_get(root, "nested");
	assert_int_equal(node_flatten(nested), 0);
	assert_int_equal(nested->n, 5);
	assert_string_equal(str(nested->items[3]), "d");
	assert_string_equal(str(nested->items[4]), "e");
	node_free(m);
	node_free(root);
}

static void test_print_round_trips(void **state)
{
	char err[256], *text = NULL;
	size_t len = 0;
	struct node *root = parse("job:\n  script: ['echo \"a: b\"', '# not a comment', 'x']\n"
				  "  when: manual\n  empty: []\n  n: 3\n  yes_string: 'yes'\n",
				  err, sizeof(err));
	struct node *again;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	assert_non_null(root);
	node_print(root, out, 0);
	fclose(out);
	again = parse(text, err, sizeof(err));
	assert_non_null(again);
	assert_string_equal(str(node_get(node_get(again, "job"), "script")->items[0]),
			    "echo \"a: b\"");
	assert_string_equal(str(node_get(node_get(again, "job"), "script")->items[1]),
			    "# not a comment");
	assert_int_equal(node_get(node_get(again, "job"), "yes_string")->plain, 0);
	assert_int_equal(node_get(node_get(again, "job"), "empty")->n, 0);
	node_free(again);
	node_free(root);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_keys_and_aliases),
		cmocka_unit_test(test_reference_marked_and_lines),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_alias_bomb_stops),
		cmocka_unit_test(test_nesting_is_bounded),
		cmocka_unit_test(test_merge_and_flatten),
		cmocka_unit_test(test_print_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
