/* expand: $VAR and ${VAR}, $$, what stays literal, one pass only, and expand_has_refs. */
#include "unit.h"

#include "pipeline/expand.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name, *value;
} vars[] = {
	{"A", "alpha"}, {"B", "beta"}, {"A1", "a-one"},	  {"_u", "under"},
	{"EMPTY", ""},	{"REF", "$A"}, {"DOLLARS", "$$"},
};

static const char *lookup(const char *name, void *data)
{
	size_t i;

	if (data)
		(*(int *)data)++;
	for (i = 0; i < ARRAY_SIZE(vars); i++)
		if (!strcmp(vars[i].name, name))
			return vars[i].value;
	return NULL;
}

static void test_expand(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"", ""},
		{"plain text", "plain text"},
		{"$A", "alpha"},
		{"${A}", "alpha"},
		{"$A-$B", "alpha-beta"},
		{"${A}${B}", "alphabeta"},
		{"x${A}y", "xalphay"},
		/* The bare form takes the longest name. */
		{"$A1", "a-one"},
		{"$A1x", ""},
		{"${A}1", "alpha1"},
		{"$_u.$A", "under.alpha"},
		/* Undefined and empty are both nothing. */
		{"[$NOPE]", "[]"},
		{"[${NOPE}]", "[]"},
		{"[$EMPTY]", "[]"},
		/* $$ is one $, and what follows it is not a reference. */
		{"$$", "$"},
		{"$$A", "$A"},
		{"$${A}", "${A}"},
		{"$$$A", "$alpha"},
		{"$$$$", "$$"},
		/* A $ without a name, '{' or '$' after it stays. */
		{"$", "$"},
		{"a$", "a$"},
		{"5$ each", "5$ each"},
		{"$ A", "$ A"},
		{"$1", "$1"},
		{"$-A", "$-A"},
		/* So does a ${ that is not ${NAME}. */
		{"${", "${"},
		{"${A", "${A"},
		{"${}", "${}"},
		{"${1A}", "${1A}"},
		{"${A-B}", "${A-B}"},
		{"${A }", "${A }"},
		{"${${A}}", "${alpha}"},
		/* One pass: values are not expanded again, nor their $$ unescaped. */
		{"$REF", "$A"},
		{"${REF}$A", "$Aalpha"},
		{"$DOLLARS", "$$"},
		/* Non-ASCII around references. */
		{"\303\251$A\303\251", "\303\251alpha\303\251"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = expand_vars(cases[i].text, lookup, NULL);

		assert_non_null(got);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", cases[i].text, got, cases[i].want);
		free(got);
	}
}

static void test_lookups(void **state)
{
	int calls = 0;
	char *got;

	(void)state;
	got = expand_vars("$A $$B ${B} $ ${ $NOPE", lookup, &calls);
	assert_string_equal(got, "alpha $B beta $ ${ ");
	assert_int_equal(calls, 3);
	free(got);
	/* No lookup: every reference is empty. */
	got = expand_vars("[$A]", NULL, NULL);
	assert_string_equal(got, "[]");
	free(got);
	got = expand_vars(NULL, lookup, NULL);
	assert_string_equal(got, "");
	free(got);
}

/* A value is looked up by its whole name, however long, and the result may be long. */
static const char *lookup_long(const char *name, void *data)
{
	(void)data;
	return strlen(name) == 1000 ? "long-name" : strlen(name) == 1 ? "0123456789" : NULL;
}

static void test_long(void **state)
{
	char text[1200] = "$", *got;
	char many[2001] = "";
	size_t i;

	(void)state;
	memset(text + 1, 'N', 1000);
	text[1001] = '\0';
	got = expand_vars(text, lookup_long, NULL);
	assert_string_equal(got, "long-name");
	free(got);
	for (i = 0; i < 1000; i++)
		memcpy(many + 2 * i, "$X", 3);
	got = expand_vars(many, lookup_long, NULL);
	assert_non_null(got);
	assert_int_equal(strlen(got), 10000);
	assert_memory_equal(got + 9990, "0123456789", 10);
	free(got);
}

static void test_has_refs(void **state)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{"", 0},      {"plain", 0}, {"$A", 1},	    {"${A}", 1},   {"x${A}y", 1},
		{"$_", 1},    {"$$", 0},    {"$$A", 0},	    {"$${A}", 0},  {"$$$A", 1},
		{"$$$$A", 0}, {"a$", 0},    {"5$ each", 0}, {"$1", 0},	   {"${", 0},
		{"${A", 0},   {"${}", 0},   {"${1A}", 0},   {"${A-B}", 0}, {"$ $A", 1},
		{"${ $A", 1}, {"$-", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (expand_has_refs(cases[i].text) != cases[i].want)
			fail_msg("'%s': want %d", cases[i].text, cases[i].want);
	assert_int_equal(expand_has_refs(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_has_refs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
