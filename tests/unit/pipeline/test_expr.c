/*
 * expr: GitLab's own statement_spec.rb table, Ruby's value semantics, precedence, regexes and
 * their flags, regexes held in variables, every error message, and the backtracking bound.
 */
#include "unit.h"

#include "pipeline/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
	const char *name, *value;
} vars[] = {
	/* The variables of GitLab's statement_spec.rb. */
	{"PRESENT_VARIABLE", "my variable"},
	{"PATH_VARIABLE", "a/path/variable/value"},
	{"FULL_PATH_VARIABLE", "/a/full/path/variable/value"},
	{"EMPTY_VARIABLE", ""},
	{"teststring", "abcde"},
	{"pattern1", "/^ab.*/"},
	{"pattern2", "/^at.*/"},
	/* berth's own. */
	{"A", "a"},
	{"T", "t"},
	{"BLANK", " \t\n"},
	{"NBSP", "\xc2\xa0\xe3\x80\x80"}, /* U+00A0 and U+3000, both Unicode spaces */
	{"ZWSP", "\xe2\x80\x8b"},	  /* U+200B is no White_Space */
	{"TRUE_STRING", "true"},
	{"TAG", "v1.2.3"},
	{"BRANCH", "main"},
	{"RE_TAG", "/^v\\d+/"},
	{"RE_MAIN", "/^MAIN$/i"},
	{"RE_BAD", "/(/"},
	{"RE_FLAG_X", "/ab/x"},
	{"RE_SLASH", "/a\\/b/"},
	{"RE_EMPTY", "//"},
	{"RE_LINE2", "junk\n/^ab/"},
	{"MULTI", "line one\nline two"},
	{"NL", "a\n"},
	{"E_ACUTE", "\xc3\xa9"},
	{"E_ACUTE_UPPER", "\xc3\x89"},
	{"BACKSLASH", "a\\"},
	{"BAD_UTF", "a\377b"},
	{"1", "digit"},
	{"CATASTROPHE", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"},
	{"RE_CATASTROPHE", "/(a+)+$/"},
};

static const char *lookup(const char *name, void *data)
{
	size_t i;

	(void)data;
	for (i = 0; i < ARRAY_SIZE(vars); i++)
		if (!strcmp(vars[i].name, name))
			return vars[i].value;
	return NULL;
}

struct want {
	const char *text;
	int result;
};

static void check_all(const struct want *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char err[256] = "";
		int got = expr_eval(cases[i].text, lookup, NULL, err, sizeof(err));

		if (got != cases[i].result)
			fail_msg("'%s': got %d, want %d (%s)", cases[i].text, got, cases[i].result,
				 err);
		if (got >= 0 && err[0])
			fail_msg("'%s': a message without an error: %s", cases[i].text, err);
	}
}

/*
 * The #evaluate and #truthful? tables of GitLab's
 * spec/lib/gitlab/ci/pipeline/expression/statement_spec.rb, each value reduced to present?,
 * as rules:if does. Ruby's '\\' is one backslash.
 */
static void test_gitlab_statement_spec(void **state)
{
	static const struct want cases[] = {
		{"$PRESENT_VARIABLE == \"my variable\"", 1},
		{"\"my variable\" == $PRESENT_VARIABLE", 1},
		{"$PRESENT_VARIABLE == 'my variable'", 1},
		{"$PRESENT_VARIABLE == 'no match'", 0},
		{"$PRESENT_VARIABLE == null", 0},
		{"$EMPTY_VARIABLE == null", 0},
		{"\"\" == $EMPTY_VARIABLE", 1},
		{"$EMPTY_VARIABLE", 0},
		{"$UNDEFINED_VARIABLE == null", 1},
		{"null == $UNDEFINED_VARIABLE", 1},
		{"$PRESENT_VARIABLE", 1},
		{"$UNDEFINED_VARIABLE", 0},
		{"$PRESENT_VARIABLE =~ /var.*e$/", 1},
		{"$PRESENT_VARIABLE =~ /va\\r.*e$/", 0},
		{"$PRESENT_VARIABLE =~ /va\\/r.*e$/", 0},
		{"$PRESENT_VARIABLE =~ /^var.*/", 0},
		{"$EMPTY_VARIABLE =~ /var.*/", 0},
		{"$UNDEFINED_VARIABLE =~ /var.*/", 0},
		{"$PRESENT_VARIABLE =~ /VAR.*/i", 1},
		{"$PATH_VARIABLE =~ /path\\/variable/", 1},
		{"$FULL_PATH_VARIABLE =~ /^\\/a\\/full\\/path\\/variable\\/value$/", 1},
		{"$FULL_PATH_VARIABLE =~ /\\/path\\/variable\\/value$/", 1},
		{"$PRESENT_VARIABLE != \"my variable\"", 0},
		{"\"my variable\" != $PRESENT_VARIABLE", 0},
		{"$PRESENT_VARIABLE != null", 1},
		{"$EMPTY_VARIABLE != null", 1},
		{"\"\" != $EMPTY_VARIABLE", 0},
		{"$UNDEFINED_VARIABLE != null", 0},
		{"null != $UNDEFINED_VARIABLE", 0},
		{"$PRESENT_VARIABLE !~ /var.*e$/", 0},
		{"$PRESENT_VARIABLE !~ /^var.*/", 1},
		{"$PRESENT_VARIABLE !~ /^v\\ar.*/", 1},
		{"$PRESENT_VARIABLE !~ /^v\\/ar.*/", 1},
		{"$EMPTY_VARIABLE !~ /var.*/", 1},
		{"$UNDEFINED_VARIABLE !~ /var.*/", 1},
		{"$PRESENT_VARIABLE !~ /VAR.*/i", 0},
		{"$PRESENT_VARIABLE && \"string\"", 1},
		{"$PRESENT_VARIABLE && $PRESENT_VARIABLE", 1},
		{"$PRESENT_VARIABLE && $EMPTY_VARIABLE", 0},
		{"$PRESENT_VARIABLE && null", 0},
		{"\"string\" && $PRESENT_VARIABLE", 1},
		{"$EMPTY_VARIABLE && $PRESENT_VARIABLE", 1},
		{"null && $PRESENT_VARIABLE", 0},
		{"$EMPTY_VARIABLE && \"string\"", 1},
		{"$EMPTY_VARIABLE && $EMPTY_VARIABLE", 0},
		{"\"string\" && $EMPTY_VARIABLE", 0},
		{"\"string\" && null", 0},
		{"null && \"string\"", 0},
		{"\"string\" && \"string\"", 1},
		{"null && null", 0},
		{"$PRESENT_VARIABLE =~ /my var/ && $EMPTY_VARIABLE =~ /nope/", 0},
		{"$EMPTY_VARIABLE == \"\" && $PRESENT_VARIABLE", 1},
		{"$EMPTY_VARIABLE == \"\" && $PRESENT_VARIABLE != \"nope\"", 1},
		{"$PRESENT_VARIABLE && $UNDEFINED_VARIABLE", 0},
		{"$UNDEFINED_VARIABLE && $EMPTY_VARIABLE", 0},
		{"$UNDEFINED_VARIABLE && $PRESENT_VARIABLE", 0},
		{"$FULL_PATH_VARIABLE =~ /^\\/a\\/full\\/path\\/variable\\/value$/ && "
		 "$PATH_VARIABLE =~ /path\\/variable/",
		 1},
		{"$FULL_PATH_VARIABLE =~ /^\\/a\\/bad\\/path\\/variable\\/value$/ && "
		 "$PATH_VARIABLE =~ /path\\/variable/",
		 0},
		{"$FULL_PATH_VARIABLE =~ /^\\/a\\/full\\/path\\/variable\\/value$/ && "
		 "$PATH_VARIABLE =~ /bad\\/path\\/variable/",
		 0},
		{"$FULL_PATH_VARIABLE =~ /^\\/a\\/bad\\/path\\/variable\\/value$/ || "
		 "$PATH_VARIABLE =~ /path\\/variable/",
		 1},
		{"$FULL_PATH_VARIABLE =~ /^\\/a\\/bad\\/path\\/variable\\/value$/ || "
		 "$PATH_VARIABLE =~ /bad\\/path\\/variable/",
		 0},
		{"$PRESENT_VARIABLE =~ /my var/ || $EMPTY_VARIABLE =~ /nope/", 1},
		{"$EMPTY_VARIABLE == \"\" || $PRESENT_VARIABLE", 1},
		{"$PRESENT_VARIABLE != \"nope\" || $EMPTY_VARIABLE == \"\"", 1},
		{"$PRESENT_VARIABLE && null || $EMPTY_VARIABLE == \"\"", 1},
		{"$PRESENT_VARIABLE || $UNDEFINED_VARIABLE", 1},
		{"$UNDEFINED_VARIABLE || $PRESENT_VARIABLE", 1},
		{"$UNDEFINED_VARIABLE == null || $PRESENT_VARIABLE", 1},
		{"$PRESENT_VARIABLE || $UNDEFINED_VARIABLE == null", 1},
		{"($PRESENT_VARIABLE)", 1},
		{"(($PRESENT_VARIABLE))", 1},
		{"(($PRESENT_VARIABLE && null) || $EMPTY_VARIABLE == \"\")", 1},
		{"($PRESENT_VARIABLE) && (null || $EMPTY_VARIABLE == \"\")", 1},
		{"(\"string\" || \"test\") == \"string\"", 1},
		{"(null || (\"test\" == \"string\"))", 0},
		{"(\"string\" == (\"test\" && \"string\"))", 1},
		{"(\"string\" == (\"test\" || \"string\"))", 0},
		{"(\"string\" == \"test\" || \"string\")", 1},
		{"(\"string\" == (\"string\" || ((\"1\" == \"1\") && (\"2\" == \"3\"))))", 1},
		{"$teststring =~ \"abcde\"", 1},
		{"$teststring =~ $teststring", 1},
		{"$teststring =~ $pattern1", 1},
		{"$teststring =~ $pattern2", 0},
	};

	(void)state;
	check_all(cases, ARRAY_SIZE(cases));
}

/* && and || yield an operand, where "" is true; only the end result is tested for present?. */
static void test_ruby_values(void **state)
{
	static const struct want cases[] = {
		/* gitlab#321371 and gitlab#358775: an empty variable is true inside && and ||. */
		{"$EMPTY_VARIABLE && $A == \"a\"", 1},
		{"$EMPTY_VARIABLE || $A == \"a\"", 0},
		{"$UNDEFINED || $A == \"a\"", 1},
		{"$A == \"a\" || $EMPTY_VARIABLE", 1},
		{"$A == \"b\" || $EMPTY_VARIABLE", 0},
		/* present? is false for whitespace, Unicode's included, not for other characters.
		 */
		{"$BLANK", 0},
		{"$BLANK != \"\"", 1},
		{"$BLANK && $A", 1},
		{"$NBSP", 0},
		{"$ZWSP", 1},
		{"\" \"", 0},
		{"\"x\"", 1},
		{"\"\"", 0},
		{"null", 0},
		{"true", 1},
		{"false", 0},
		{"false || $A", 1},
		{"true && null", 0},
		/* Ruby's ==: a string is never a boolean or nil. */
		{"$TRUE_STRING == true", 0},
		{"$TRUE_STRING == \"true\"", 1},
		{"true == true", 1},
		{"false != true", 1},
		{"null == null", 1},
		{"null != null", 0},
		{"$UNDEFINED == \"\"", 0},
		{"$UNDEFINED != \"\"", 1},
		{"$EMPTY_VARIABLE == \"\"", 1},
		{"$UNDEFINED == $ALSO_UNDEFINED", 1},
		{"$A == 'a'", 1},
		{"'a' == \"a\"", 1},
		{"\"a\" == \"A\"", 0},
		{"\"a\" == \"a \"", 0},
		/* Strings have no escapes: a backslash before the quote is part of the string. */
		{"\"a\\\" == $BACKSLASH", 1},
		{"\"it\\\"s\" == $A", -1},
		{"'it\"s' != \"x\"", 1},
	};

	(void)state;
	check_all(cases, ARRAY_SIZE(cases));
}

static void test_precedence(void **state)
{
	static const struct want cases[] = {
		/* && binds tighter than ||: $T || ($U && $U), not ($T || $U) && $U. */
		{"$T || $U && $U", 1},
		{"$U && $U || $T", 1},
		{"($T || $U) && $U", 0},
		{"$T || ($U && $U)", 1},
		/* Comparisons bind tighter than &&. */
		{"$T == \"t\" && $A == \"a\"", 1},
		{"$T == \"x\" || $A == \"a\"", 1},
		{"$A == \"a\" && $T", 1},
		/* Left to right: (\"a\" == \"b\") == false. */
		{"\"a\" == \"b\" == false", 1},
		{"\"a\" == (\"b\" == false)", 0},
		{"$U || $U || $A", 1},
		{"$A && $T && $U", 0},
		{"((($A)))", 1},
		{"($A == \"a\") == ($T == \"t\")", 1},
		/* Whitespace anywhere between tokens, or none. */
		{"\t$A\n==\r\n'a'  ", 1},
		{"$A==\"a\"&&$T!=\"x\"", 1},
		{"($A)&&($T)", 1},
		/* Names are \w+, digits first too. */
		{"$1 == \"digit\"", 1},
		/* Short-circuit: the right side of a decided && is never evaluated. */
		{"$U && $A =~ (\"x\" == \"x\")", 0},
		{"$A || $A =~ (\"x\" == \"x\")", 1},
	};

	(void)state;
	check_all(cases, ARRAY_SIZE(cases));
}

static void test_regex(void **state)
{
	static const struct want cases[] = {
		/* A search, unanchored unless the pattern anchors. */
		{"$PRESENT_VARIABLE =~ /varia/", 1},
		{"$PRESENT_VARIABLE =~ /^varia/", 0},
		{"$TAG =~ /^v\\d+\\.\\d+/", 1},
		{"$TAG !~ /^v\\d+\\.\\d+/", 0},
		{"\"abc\" =~ /b./", 1},
		/* i, m, s and U. */
		{"$BRANCH =~ /^MAIN$/", 0},
		{"$BRANCH =~ /^MAIN$/i", 1},
		{"$MULTI =~ /^line two$/", 0},
		{"$MULTI =~ /^line two$/m", 1},
		{"$MULTI =~ /one.line/", 0},
		{"$MULTI =~ /one.line/s", 1},
		{"$MULTI =~ /^LINE TWO$/mi", 1},
		{"$MULTI =~ /e.l/ism", 1},
		{"$A =~ /a+a*/U", 1},
		/* RE2's $ is the very end, not before a last newline. */
		{"$NL =~ /a$/", 0},
		{"$NL =~ /a$/m", 1},
		{"$NL =~ /a\\n$/", 1},
		/* UTF-8, caseless too. */
		{"$E_ACUTE =~ /^.$/", 1},
		{"$E_ACUTE_UPPER =~ /\xc3\xa9/i", 1},
		{"$E_ACUTE =~ /^\\x{e9}$/", 1},
		/* Invalid UTF-8 in the subject is no error. */
		{"$BAD_UTF =~ /b$/", 1},
		{"$BAD_UTF =~ /^a/", 1},
		/* \/ is a slash anywhere, even after another backslash. */
		{"$PATH_VARIABLE =~ /a\\/path/", 1},
		{"\"a/b\" =~ /a\\\\/b/", 1},
		/* An undefined left side is "", as Ruby's nil.to_s. */
		{"$UNDEFINED =~ /^$/", 1},
		{"$UNDEFINED !~ /^$/", 0},
		{"$UNDEFINED =~ /xy/", 0},
		{"$UNDEFINED !~ /xy/", 1},
		/* A comparison on the left is the text "true" or "false". */
		{"($A == \"a\") =~ /^true$/", 1},
		{"($A == \"b\") =~ /^false$/", 1},
		/* A right side of nil or false never matches. */
		{"$A =~ null", 0},
		{"$A !~ null", 1},
		{"$A =~ $UNDEFINED", 0},
		{"$A !~ $UNDEFINED", 1},
		{"$A =~ false", 0},
		{"$A !~ (\"a\" == \"b\")", 1},
		/* The pattern may be parenthesised, like any operand. */
		{"$A =~ (/^a$/)", 1},
	};

	(void)state;
	check_all(cases, ARRAY_SIZE(cases));
}

/* A string on the right is a regex when it reads /pattern/flags and compiles, else the text. */
static void test_regex_in_strings(void **state)
{
	static const struct want cases[] = {
		{"$TAG =~ $RE_TAG", 1},
		{"$TAG !~ $RE_TAG", 0},
		{"$BRANCH =~ $RE_TAG", 0},
		{"$BRANCH =~ $RE_MAIN", 1},
		{"\"xa/b\" =~ $RE_SLASH", 1},
		{"\"ab\" =~ $RE_SLASH", 0},
		{"\"\" =~ $RE_EMPTY", 1},
		{"\"anything\" =~ $RE_EMPTY", 1},
		/* Ruby's ^ and $ are line anchors: the second line holds the regex. */
		{"\"abc\" =~ $RE_LINE2", 1},
		{"\"xabc\" =~ $RE_LINE2", 0},
		{"\"x\" =~ \"/X/i\"", 1},
		/* Not a regex: String#scan tests whether the RIGHT side contains the left. */
		{"\"bcd\" =~ $teststring", 1},
		{"$teststring =~ \"bcd\"", 0},
		{"\"bcd\" =~ \"abcde\"", 1},
		{"\"bcd\" !~ \"abcde\"", 0},
		{"\"\" =~ \"abc\"", 1},
		{"$UNDEFINED =~ \"abc\"", 1},
		{"\"abc\" =~ \"\"", 0},
		/* gitlab#426313's table, with 1234, 23 and /23/. */
		{"\"1234\" =~ \"1234\"", 1},
		{"\"1234\" =~ \"23\"", 0},
		{"\"1234\" =~ \"/23/\"", 1},
		{"\"23\" =~ \"1234\"", 1},
		{"\"23\" =~ \"/23/\"", 1},
		{"\"/23/\" =~ \"1234\"", 0},
		{"\"/23/\" =~ \"/23/\"", 1},
		/* A regex that does not compile, or an unknown flag: the text again. */
		{"\"(\" =~ $RE_BAD", 1},
		{"\"x\" =~ $RE_BAD", 0},
		{"\"ab\" =~ $RE_FLAG_X", 1},
		{"\"abx\" =~ $RE_FLAG_X", 0},
	};

	(void)state;
	check_all(cases, ARRAY_SIZE(cases));
}

static const struct {
	const char *text, *err;
} errors[] = {
	{"$VAR = \"x\"", "column 6: unexpected '=': compare with '==' or '=~'"},
	{"$VAR === \"x\"", "column 8: unexpected '=': compare with '==' or '=~'"},
	{"$VAR ==", "column 8: expected a variable, string, null or '(' after '==', found the end"},
	{"$VAR != )", "column 9: expected a variable, string, null or '(' after '!=', found ')'"},
	{"$VAR =~", "column 8: expected a regex, variable, string, null or '(' after '=~', found "
		    "the end"},
	{"$VAR !~ &&", "column 9: expected a regex, variable, string, null or '(' after '!~', "
		       "found '&&'"},
	{"== \"x\"", "column 1: expected a variable, string, null or '(', found '=='"},
	{"$A &&", "column 6: expected a variable, string, null or '(' after '&&', found the end"},
	{"$A || || $B", "column 7: expected a variable, string, null or '(' after '||', found "
			"'||'"},
	{"()", "column 2: expected a variable, string, null or '(' after '(', found ')'"},
	{"($A", "column 1: '(' without a matching ')'"},
	{"(($A) || $B", "column 1: '(' without a matching ')'"},
	{"$A)", "column 3: ')' without a matching '('"},
	{"($A))", "column 5: ')' without a matching '('"},
	{"$A \"x\"", "column 4: expected an operator, found a string"},
	{"$A $B ==", "column 4: expected an operator, found a variable"},
	{"$A == \"x\" null", "column 11: expected an operator, found null"},
	{"($A $B)", "column 5: expected an operator or ')', found a variable"},
	{"$A == \"x", "column 7: unterminated string: no closing \" on its line"},
	{"$A == 'x\n'", "column 7: unterminated string: no closing ' on its line"},
	{"$A =~ /abc", "column 7: unterminated regex: no closing / on its line"},
	{"$A =~ /ab\\/", "column 7: unterminated regex: no closing / on its line"},
	{"$A =~ /ab\n/", "column 7: unterminated regex: no closing / on its line"},
	{"$A =~ //", "column 7: empty regex"},
	{"$A =~ /a/", "column 7: a regex needs at least two characters between its slashes in "
		      "GitLab"},
	{"$A =~ /ab/x", "column 11: unknown regex flag 'x' (GitLab takes i, m, s and U)"},
	{"$A =~ /ab/ig", "column 12: unknown regex flag 'g' (GitLab takes i, m, s and U)"},
	{"$A == /ab/", "column 7: a regex goes only on the right of '=~' or '!~'"},
	{"/ab/ =~ $A", "column 1: a regex goes only on the right of '=~' or '!~'"},
	{"/ab/", "column 1: a regex goes only on the right of '=~' or '!~'"},
	{"$A && /ab/", "column 7: a regex goes only on the right of '=~' or '!~'"},
	{"$", "column 1: '$' needs a variable name after it"},
	{"$A == $-", "column 7: '$' needs a variable name after it"},
	/* GitLab's lexer has no ${NAME}: "invalid expression syntax" there too. */
	{"${A", "column 1: invalid expression syntax: a variable is $NAME, not ${...}"},
	{"${} == \"\"", "column 1: invalid expression syntax: a variable is $NAME, not ${...}"},
	{"${A} == \"a\"", "column 1: invalid expression syntax: GitLab takes $A here, not ${A}"},
	{"$A == \"a\" && ${T}", "column 14: invalid expression syntax: GitLab takes $T here, not "
				"${T}"},
	{"!$A", "column 1: unexpected '!': GitLab has no '!' operator, only '!=' and '!~'"},
	{"$A & $B", "column 4: unexpected '&': 'and' is '&&'"},
	{"$A | $B", "column 4: unexpected '|': 'or' is '||'"},
	{"main == $A", "column 1: unexpected 'main': a string needs quotes, a variable a '$'"},
	{"$A == nullx", "column 7: unexpected 'nullx': a string needs quotes, a variable a '$'"},
	{"$A == 1", "column 7: unexpected '1': a string needs quotes, a variable a '$'"},
	{"$A == \"x\" ;", "column 11: unexpected ';'"},
	/* Columns count characters: the e-acute is two bytes. */
	{"$A == \"\xc3\xa9\" ;", "column 11: unexpected ';'"},
	{"$A == \xc3\xa9", "column 7: unexpected byte 0xc3"},
	{"", "column 1: empty expression"},
	{"   ", "column 4: empty expression"},
	/* GitLab fails too: true has no scan method. */
	{"$A =~ (\"x\" == \"x\")", "column 4: the right side of '=~' is true, not a regex or a "
				   "string"},
	{"$A !~ true", "column 4: the right side of '!~' is true, not a regex or a string"},
};

static void test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(errors); i++) {
		char err[256] = "";
		int got = expr_eval(errors[i].text, lookup, NULL, err, sizeof(err));

		if (got != -1 || strcmp(err, errors[i].err) != 0)
			fail_msg("'%s': got %d '%s', want -1 '%s'", errors[i].text, got, err,
				 errors[i].err);
	}
}

static void test_invalid_regex(void **state)
{
	char err[256] = "";

	(void)state;
	/* PCRE2's message follows berth's words and the column. */
	assert_int_equal(expr_eval("$A =~ /(ab/", lookup, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "column 7: invalid regex: "));
	assert_non_null(strstr(err, "parenthesis"));
	assert_int_equal(expr_eval("$A =~ /a{2,1}/", lookup, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "column 7: invalid regex: "));
	/* A bad regex is an error even where it would never be evaluated. */
	assert_int_equal(expr_eval("$U && $A =~ /[ab/", lookup, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "column 13: invalid regex: "));
}

/* GitLab's lexer fails at its 100th token. */
static void test_token_limit(void **state)
{
	char text[1024] = "$A", err[256] = "";
	size_t i, len = 2;

	(void)state;
	for (i = 0; i < 49; i++, len += 6)
		memcpy(text + len, " || $A", 7);
	assert_int_equal(expr_eval(text, lookup, NULL, err, sizeof(err)), 1); /* 99 tokens */
	memcpy(text + len, " ||", 4);
	assert_int_equal(expr_eval(text, lookup, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "column 298: GitLab reads at most 99 tokens in an expression");
}

static void test_err_buffer(void **state)
{
	char err[12];

	(void)state;
	/* No buffer at all. */
	assert_int_equal(expr_eval("$A ==", lookup, NULL, NULL, 0), -1);
	assert_int_equal(expr_eval("$A == \"a\"", lookup, NULL, NULL, 0), 1);
	/* A short one: cut, terminated. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(expr_eval("$A ==", lookup, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "column 6: e");
	/* Cleared on success. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(expr_eval("$A", lookup, NULL, err, sizeof(err)), 1);
	assert_string_equal(err, "");
	/* No lookup: every variable undefined. */
	assert_int_equal(expr_eval("$A == null", NULL, NULL, err, sizeof(err)), 1);
	assert_int_equal(expr_eval(NULL, lookup, NULL, err, sizeof(err)), -1);
}

/* A lookup that reuses one buffer: expr_eval must copy each value when it gets it. */
static const char *lookup_shared(const char *name, void *data)
{
	char *buf = data;

	snprintf(buf, 32, "value of %s", name);
	return buf;
}

static void test_lookup_copied(void **state)
{
	char buf[32], err[256];

	(void)state;
	assert_int_equal(expr_eval("$X == $Y", lookup_shared, buf, err, sizeof(err)), 0);
	assert_int_equal(expr_eval("$X != $Y", lookup_shared, buf, err, sizeof(err)), 1);
	assert_int_equal(expr_eval("$X == \"value of X\"", lookup_shared, buf, err, sizeof(err)),
			 1);
	assert_int_equal(expr_eval("$Y =~ $X", lookup_shared, buf, err, sizeof(err)), 0);
}

/*
 * The values as written, for expr_eval_patterns: what a file wrote before berth expanded
 * it. Only the patterns differ from `lookup`'s values.
 */
static const char *lookup_written(const char *name, void *data)
{
	(void)data;
	if (!strcmp(name, "RE_TAG"))
		return "/^$PREFIX/"; /* expanded, it read /^v\d+/ */
	if (!strcmp(name, "A"))
		return "$LETTER";
	return lookup(name, data);
}

/* A regex stored in a variable is used as written: its own $VARs are not resolved. */
static void test_pattern_as_written(void **state)
{
	static const struct want cases[] = {
		/* The right of =~ and !~ reads the written value... */
		{"$TAG =~ $RE_TAG", 0},
		{"$TAG !~ $RE_TAG", 1},
		{"$TAG =~ ($RE_TAG)", 0},
		/* ...a substring test when it is no regex, as written too... */
		{"\"LETTER\" =~ $A", 1},
		{"\"a\" =~ $A", 0},
		/* ...and everywhere else the value is the expanded one. */
		{"$A == \"a\"", 1},
		{"$A =~ /^a$/", 1},
		{"$RE_TAG == \"/^v\\d+/\"", 1},
		{"$A =~ $A", 0}, /* "a" is not in "$LETTER" */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char err[256] = "";
		int got = expr_eval_patterns(cases[i].text, lookup, lookup_written, NULL, err,
					     sizeof(err));

		if (got != cases[i].result)
			fail_msg("'%s': got %d, want %d (%s)", cases[i].text, got, cases[i].result,
				 err);
	}
	/* expr_eval reads patterns through its one lookup: the expanded value. */
	assert_int_equal(expr_eval("$TAG =~ $RE_TAG", lookup, NULL, NULL, 0), 1);
}

/* only/except refs regexes: a whole /pattern/flags, slashes inside it as they are. */
static void test_regex_match(void **state)
{
	static const struct {
		const char *regex, *subject;
		int result;
	} cases[] = {
		{"/^release/.*$/", "release/1.0", 1},
		{"/^release/.*$/", "main", 0},
		{"/^ma.*$/", "main", 1},
		{"/^MAIN$/i", "main", 1},
		{"/^MAIN$/", "main", 0},
		{"/a\\/b/", "a/b", 1}, /* \/ is a slash, as GitLab unescapes it */
		{"/issue-/", "severe-issue-7", 1},
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int got = expr_regex_match(cases[i].regex, cases[i].subject, err, sizeof(err));

		if (got != cases[i].result)
			fail_msg("'%s' on '%s': got %d, want %d (%s)", cases[i].regex,
				 cases[i].subject, got, cases[i].result, got < 0 ? err : "");
	}
	assert_int_equal(expr_regex_match("/(/", "x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid regex"));
	assert_int_equal(expr_regex_match("/ab/x", "ab", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a /regex/flags"));
}

/* CPU seconds since START: a bound on the work, whatever else the machine runs. */
static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/*
 * (a+)+$ against forty a's and a '!' takes 2^40 steps to backtrack. The match limit stops
 * that, and the DFA matcher answers as RE2 would: no match.
 */
static void test_catastrophic_backtracking(void **state)
{
	static const struct want cases[] = {
		{"$CATASTROPHE =~ /(a+)+$/", 0},	{"$CATASTROPHE !~ /(a+)+$/", 1},
		{"$CATASTROPHE =~ $RE_CATASTROPHE", 0}, {"$CATASTROPHE =~ /(a|aa)+$/", 0},
		{"$CATASTROPHE =~ /(a+)+!$/", 1},
	};
	struct timespec start;
	char err[256] = "";

	(void)state;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
	check_all(cases, ARRAY_SIZE(cases));
	/* A backreference has no DFA: then the limit is an error, still quick. */
	assert_int_equal(expr_eval("$CATASTROPHE =~ /^(a+)+\\1$/", lookup, NULL, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "column 14: the regex could not run: "));
	assert_true(seconds_since(&start) < 5.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gitlab_statement_spec),
		cmocka_unit_test(test_ruby_values),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_regex_in_strings),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_invalid_regex),
		cmocka_unit_test(test_token_limit),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_lookup_copied),
		cmocka_unit_test(test_pattern_as_written),
		cmocka_unit_test(test_regex_match),
		cmocka_unit_test(test_catastrophic_backtracking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
