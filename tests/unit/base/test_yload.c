/* YAML from events: the bounds on depth and values, aliases, and the tree it builds. */
#include "unit.h"

#include "base/yload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct yload_limits small = {4, 20, 1}, no_aliases = {4, 20, 0},
				 berth = {64, 100000, 0};

/* `n` nested flow sequences around one scalar; `n` 0: a list of `items` scalars. */
static char *generate(int n, size_t items)
{
	size_t size = (size_t)n * 2 + items * 2 + 8, i;
	char *text = malloc(size), *p = text;

	assert_non_null(text);
	if (items) {
		*p++ = '[';
		for (i = 0; i < items; i++)
			p += sprintf(p, "%s1", i ? "," : "");
		*p++ = ']';
	} else {
		memset(p, '[', (size_t)n);
		p[n] = 'x';
		memset(p + n + 1, ']', (size_t)n);
		p += 2 * (size_t)n + 1;
	}
	strcpy(p, "\n");
	return text;
}

static void test_bounds_and_refusals(void **state)
{
	static const struct {
		const char *what;
		const char *text; /* NULL: generated from nest/items */
		int nest;
		size_t items;
		const struct yload_limits *lim;
		size_t line; /* 0: loads */
		const char *message;
	} cases[] = {
		{"an empty input", "", 0, 0, &small, 0, NULL},
		{"as deep as allowed", NULL, 4, 0, &small, 0, NULL},
		{"a level deeper, in flow style", NULL, 5, 0, &small, 1,
		 "nested deeper than 4 levels"},
		{"a level deeper, in block style", "a:\n b:\n  c:\n   - d:\n     - x\n", 0, 0,
		 &small, 4, "nested deeper than 4 levels"},
		{"as many values as allowed", NULL, 0, 19, &small, 0, NULL},
		{"one value more", NULL, 0, 20, &small, 1, "more than 20 values"},
		{"an alias where none are allowed", "a: &x 1\nb: *x\n", 0, 0, &no_aliases, 2,
		 "YAML anchors and aliases are not allowed here"},
		{"an anchor alone where no alias is allowed", "a: &x 1\n", 0, 0, &no_aliases, 0,
		 NULL},
		{"an alias inside what it names", "a: &x [1, *x]\n", 0, 0, &small, 1,
		 "an alias must name an anchor set before it"},
		{"an alias before its anchor", "a: *x\nb: &x 1\n", 0, 0, &small, 1,
		 "an alias must name an anchor set before it"},
		{"not YAML", "a: [1\n", 0, 0, &small, 2, "invalid YAML: did not find expected"},
		{"160,000 levels", NULL, 160000, 0, &berth, 1, "nested deeper than 64 levels"},
		{"100,001 values", NULL, 0, 100000, &berth, 1, "more than 100000 values"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = cases[i].text ? strdup(cases[i].text)
					   : generate(cases[i].nest, cases[i].items);
		struct yload_error err;
		struct timespec t0, t1;
		yaml_document_t doc;
		int ret;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		ret = yload(&doc, text, strlen(text), cases[i].lim, &err);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		free(text);
		/*
		 * A bounds check, not a benchmark: unbounded, 160,000 levels took 48 s. CPU
		 * time, so that other work on the machine does not count.
		 */
		if (t1.tv_sec - t0.tv_sec >= 2)
			fail_msg("%s: took %lld s", cases[i].what,
				 (long long)(t1.tv_sec - t0.tv_sec));
		if (!cases[i].line && ret < 0)
			fail_msg("%s: refused at line %zu: %s", cases[i].what, err.line, err.what);
		if (cases[i].line && ret == 0)
			fail_msg("%s: loaded, want '%s'", cases[i].what, cases[i].message);
		if (ret == 0) {
			yload_release(&doc);
			continue;
		}
		if (err.line != cases[i].line || !strstr(err.what, cases[i].message))
			fail_msg("%s: got %zu: %s; want %zu: %s", cases[i].what, err.line, err.what,
				 cases[i].line, cases[i].message);
	}
}

static yaml_node_t *value(yaml_document_t *doc, const char *key)
{
	yaml_node_t *map = yaml_document_get_root_node(doc);
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (!strcmp((const char *)yaml_document_get_node(doc, p->key)->data.scalar.value,
			    key))
			return yaml_document_get_node(doc, p->value);
	return NULL;
}

/* The tree is what yaml_parser_load builds: lines, tags, styles, aliases as shared nodes. */
static void test_tree(void **state)
{
	const char *text = "a: &x [1, 2]\n"
			   "b: *x\n"
			   "c: &y one\n"
			   "c2: &y two\n"
			   "d: *y\n"
			   "e:\n"
			   "  - !reference [.job, script]\n"
			   "  - 'quoted'\n"
			   "---\n"
			   "[[[[[[[[ not read\n";
	struct yload_error err;
	yaml_document_t doc;
	yaml_node_t *e;

	(void)state;
	assert_int_equal(yload(&doc, text, strlen(text), &small, &err), 0);
	assert_ptr_equal(value(&doc, "a"), value(&doc, "b"));
	assert_int_equal(value(&doc, "a")->start_mark.line, 0);
	assert_string_equal((const char *)value(&doc, "d")->data.scalar.value, "two");
	e = value(&doc, "e");
	assert_int_equal(e->start_mark.line, 6);
	assert_string_equal(
		(const char *)yaml_document_get_node(&doc, e->data.sequence.items.start[0])->tag,
		"!reference");
	assert_int_equal(
		yaml_document_get_node(&doc, e->data.sequence.items.start[1])->data.scalar.style,
		YAML_SINGLE_QUOTED_SCALAR_STYLE);
	assert_string_equal((const char *)value(&doc, "c")->tag, YAML_DEFAULT_SCALAR_TAG);
	yload_release(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_and_refusals),
		cmocka_unit_test(test_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
