/* berth prune's pure parts: the policies, times and plans (the pacer: test_pacer.c). */
#include "unit.h"

#include "prune/prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -- policies ----------------------------------------------------------------------------- */

static struct prune_tag *tag(struct prune_repo *r, const char *name, const char *digest_hex,
			     long long created)
{
	struct prune_tag *t = prune_repo_add(r, name);

	assert_non_null(t);
	snprintf(t->digest, sizeof(t->digest), "sha256:%s", digest_hex);
	t->created = created;
	return t;
}

static const char *reasons(const struct prune_tag *t)
{
	static char buf[512];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < t->reasons.nr; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "; " : "",
			 t->reasons.v[i]);
	return buf;
}

static void test_policies_keep_and_say_why(void **state)
{
	struct prune_policy p;
	struct prune_repo r;

	(void)state;
	memset(&p, 0, sizeof(p));
	memset(&r, 0, sizeof(r));
	r.host = strdup("reg.example.com");
	r.path = strdup("group/app");
	strvec_push(&p.keep_tags, "^v[0-9]");
	p.keep_newest = 2;
	p.keep_younger = 2 * 86400;
	p.now = 100 * 86400;
	assert_int_equal(prune_policy_compile(&p), 0);
	assert_true(prune_policy_any(&p));
	tag(&r, "v1.0", "aa", 10 * 86400);	 /* old, matches the pattern */
	tag(&r, "old", "bb", 20 * 86400);	 /* old: goes */
	tag(&r, "newest", "cc", 99 * 86400);	 /* newest and young */
	tag(&r, "second", "dd", 90 * 86400);	 /* second newest */
	tag(&r, "third", "ee", 80 * 86400);	 /* goes */
	tag(&r, "alias-of-v1", "aa", 5 * 86400); /* shares v1.0's digest */
	tag(&r, "unknown-time", "ff", -1);	 /* kept: its age is unknown */
	prune_decide(&r, &p);
	assert_int_equal(r.tags[0].decision, PRUNE_KEEP);
	assert_string_equal(reasons(&r.tags[0]), "matches ^v[0-9]");
	assert_int_equal(r.tags[1].decision, PRUNE_DELETE);
	assert_string_equal(reasons(&r.tags[2]), "younger than 2d; newest 2");
	/* A tag of unknown age is kept, and takes no place among the newest. */
	assert_string_equal(reasons(&r.tags[3]), "newest 2");
	assert_int_equal(r.tags[4].decision, PRUNE_DELETE);
	assert_string_equal(reasons(&r.tags[5]), "shares its digest with kept tag v1.0");
	assert_string_equal(reasons(&r.tags[6]), "creation time unknown");
	prune_repo_release(&r);
	prune_policy_release(&p);
}

static void test_a_delete_plan_has_one_item_per_digest(void **state)
{
	struct prune_policy p;
	struct prune_repo r;
	size_t *plan = NULL, n = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	memset(&r, 0, sizeof(r));
	p.keep_newest = 0; /* a policy that keeps nothing here */
	p.keep_younger = -1;
	tag(&r, "a", "11", 1);
	tag(&r, "b", "11", 2);
	tag(&r, "c", "22", 3);
	prune_decide(&r, &p);
	assert_int_equal(prune_plan_deletes(&r, &plan, &n), 0);
	assert_int_equal(n, 2);
	prune_set_result(&r, "sha256:11", "deleted");
	assert_string_equal(r.tags[0].result, "deleted");
	assert_string_equal(r.tags[1].result, "deleted");
	assert_string_equal(r.tags[2].result, "");
	free(plan);
	prune_repo_release(&r);
	prune_policy_release(&p);
}

static void test_bad_pattern_is_named(void **state)
{
	struct prune_policy p;

	(void)state;
	memset(&p, 0, sizeof(p));
	strvec_push(&p.keep_tags, "(unclosed");
	assert_int_equal(prune_policy_compile(&p), -1);
	prune_policy_release(&p);
}

static void test_rfc3339_times(void **state)
{
	(void)state;
	assert_int_equal(prune_parse_time("1970-01-02T00:00:00Z"), 86400);
	assert_int_equal(prune_parse_time("1970-01-02T00:00:00.123456789Z"), 86400);
	assert_int_equal(prune_parse_time("1970-01-02T02:00:00+02:00"), 86400);
	assert_int_equal(prune_parse_time("1970-01-01T22:30:00-01:30"), 86400);
	assert_int_equal(prune_parse_time("2026-11-26T12:00:00Z"), 1795694400LL);
	assert_int_equal(prune_parse_time("yesterday"), -1);
	assert_int_equal(prune_parse_time("1970-01-02T00:00:00"), -1);
	assert_int_equal(prune_parse_time("1970-01-02T00:00:00+2"), -1);
	assert_int_equal(prune_parse_time(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies_keep_and_say_why),
		cmocka_unit_test(test_a_delete_plan_has_one_item_per_digest),
		cmocka_unit_test(test_bad_pattern_is_named),
		cmocka_unit_test(test_rfc3339_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
