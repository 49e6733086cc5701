/*
 * slug: CI_COMMIT_REF_SLUG and CI_ENVIRONMENT_SLUG against values computed from GitLab's Ruby
 * rules, and the limits of the output buffer.
 */
#include "unit.h"

#include "pipeline/slug.h"

#include <string.h>

/* Non-ASCII bytes are written in octal, whose escapes end after three digits. */
struct pair {
	const char *in, *want;
};

/*
 * Gitlab::Utils.slugify, str.downcase.gsub(/[^a-z0-9]/, '-')[0..62].gsub(/(\A-+|-+\z)/, ''),
 * run in python3 as re.sub('(\A-+|-+\Z)', '', re.sub('[^a-z0-9]', '-', s.lower())[:63]):
 * both take characters, not bytes, and Unicode lowercase.
 */
static const struct pair refs[] = {
	{"main", "main"},
	{"feature/ABC_123", "feature-abc-123"},
	{"-x-", "x"},
	{"---a---", "a"},
	{"v1.2.3", "v1-2-3"},
	{"group/sub.group/my_project", "group-sub-group-my-project"},
	{"", ""},
	{"----------------------------------------------------------------------", ""},
	/* 62 a's, '/', 37 b's: the first 63 end in the '-', which goes. */
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
	 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	/* 63 a's and a b: cut at 63. */
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	/* One '-' per character: bytes would give "feature---n--code". */
	{"Feature/\303\234n\303\257code", "feature--n-code"},
	{"a\303\251b", "a-b"},
	{"a\360\237\232\200b", "a-b"},
	/* Unicode lowercase: U+0130 is "i" and a combining dot, U+212A (Kelvin) is "k". */
	{"\xc4\xb0stanbul", "i-stanbul"},
	{"\342\204\2528s", "k8s"},
	/* A stray byte is one character. */
	{"a\377\376b", "a--b"},
};

static void test_ref(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(refs); i++) {
		char out[64];

		memset(out, 'x', sizeof(out));
		slug_ref(refs[i].in, out, sizeof(out));
		if (strcmp(out, refs[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", refs[i].in, out, refs[i].want);
	}
}

static void test_ref_small_buffer(void **state)
{
	char out[8] = "unset";

	(void)state;
	slug_ref("Feature/Long-Name", out, sizeof(out));
	assert_string_equal(out, "feature");
	slug_ref("ab/cdefgh", out, 4);
	assert_string_equal(out, "ab");
	slug_ref("abc", out, 1);
	assert_string_equal(out, "");
	memcpy(out, "unset", 6);
	slug_ref("abc", out, 0);
	assert_string_equal(out, "unset");
	slug_ref(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

/*
 * Gitlab::Slug::Environment#generate. The suffixes are sha256(name) as an integer, in base
 * 36, its last six digits, computed in python3 from
 *   n = int(hashlib.sha256(name.encode()).hexdigest(), 16)
 *   d = '0123456789abcdefghijklmnopqrstuvwxyz'; s = ''
 *   while n: s = d[n % 36] + s; n //= 36
 *   s[-6:]
 * and the rest of each value from the rule by hand: it is noted where it is not obvious.
 */
static const struct pair environments[] = {
	/* Already a slug: unchanged. */
	{"production", "production"},
	{"staging", "staging"},
	{"x", "x"},
	{"a-b", "a-b"},
	{"abcdefghijklmnop-x", "abcdefghijklmnop-x"},
	/* 24 characters is still unchanged; 25 is cut to 17, a '-' and the suffix. */
	{"abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"},
	{"abcdefghijklmnopqrstuvwxy", "abcdefghijklmnopq-45ai7v"},
	{"a-very-long-environment-name-x", "a-very-long-envir-jhg2i5"},
	{"review/very-long-branch-name-here", "review-very-long-ryzkfk"},
	{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	 "xxxxxxxxxxxxxxxx",
	 "xxxxxxxxxxxxxxxxx-svp1i0"},
	/* Changed, so suffixed: a '/' or '_' became '-', uppercase became lowercase. */
	{"review/feature-x", "review-feature-x-bjrazc"},
	{"a_b", "a-b-73vpuq"},
	{"a/", "a-5pbvjs"},
	{"Production", "production-iis43c"},
	{"KELVIN", "kelvin-80abe0"},
	/* No letter first: "env-" in front, so changed. */
	{"1st", "env-1st-sru2wu"},
	{"9", "env-9-bntrxz"},
	{"", "env-qhkd3p"},
	/* "-" becomes "env--", squeezed to "env-", which already ends in '-'. */
	{"-", "env-dgv8k2"},
	/* Squeezed runs of '-': changed. */
	{"abc--", "abc-4dflic"},
	{"review/feat--x", "review-feat-x-8tjwq6"},
	{"Prod--", "prod-y9y7xw"},
	/* Suffixes whose last six digits start with zeros keep them. */
	{"review/mr-41", "review-mr-41-0i5ara"},
	{"review/mr-4623", "review-mr-4623-00taun"},
	/* Unchanged but a last '-': chomped, without a suffix. */
	{"abc-", "abc"},
	{"env-", "env"},
	/* The 17th character is a '-': no second one before the suffix. */
	{"abcdefghijklmnop/x", "abcdefghijklmnop-pprbjr"},
	{"abcdefghijklmnopq/x", "abcdefghijklmnopq-2zdzo9"},
	/* UTF-8: one '-' per character; U+0130 and U+212A as Ruby lowercases them. */
	{"review/\303\234n\303\257code", "review-n-code-unlppo"},
	{"\xc4\xb0stanbul", "i-stanbul-iw30d7"},
	{"\xe2\x84\xaa", "k-secax8"},
};

static void test_environment(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(environments); i++) {
		char out[25];

		memset(out, 'x', sizeof(out));
		slug_environment(environments[i].in, out, sizeof(out));
		if (strcmp(out, environments[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", environments[i].in, out,
				 environments[i].want);
		assert_true(strlen(out) <= 24);
	}
}

static void test_environment_small_buffer(void **state)
{
	char out[25] = "unset";

	(void)state;
	slug_environment("review/feature-x", out, 8);
	assert_string_equal(out, "review-");
	slug_environment("production", out, 1);
	assert_string_equal(out, "");
	memcpy(out, "unset", 6);
	slug_environment("production", out, 0);
	assert_string_equal(out, "unset");
	/* NULL is Ruby's nil.to_s, "". */
	slug_environment(NULL, out, sizeof(out));
	assert_string_equal(out, "env-qhkd3p");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_ref_small_buffer),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_environment_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
