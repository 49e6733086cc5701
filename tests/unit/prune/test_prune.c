/* berth prune's pure parts: the pacer on a made-up clock, the policies, times and plans. */
#include "unit.h"

#include "prune/pacer.h"
#include "prune/prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -- the pacer --------------------------------------------------------------------------- */

static void test_window_starts_small_and_grows_with_successes(void **state)
{
	struct pacer p;
	int i;

	(void)state;
	pacer_init(&p, 16, 0, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pacer_acquire(&p, 0), 0);
	assert_true(pacer_acquire(&p, 0) > 0); /* 4 in flight: the window is full */
	for (i = 0; i < 4; i++)
		assert_int_equal(pacer_done(&p, PACE_OK, -1, 1, 1), 0);
	assert_int_equal(p.window, 5);
	for (i = 0; i < 200; i++) {
		assert_int_equal(pacer_acquire(&p, 2 + i), 0);
		pacer_done(&p, PACE_OK, -1, 1, 2 + i);
	}
	assert_int_equal(p.window, 16); /* never beyond --parallel */
}

static void test_a_429_halves_the_window_and_sets_a_pace_under_what_got_through(void **state)
{
	struct pacer p;
	long long t, wait;
	unsigned window;
	int i;

	(void)state;
	pacer_init(&p, 16, 0, 0);
	/* 100 answers a second got through for a second... */
	for (t = 0, i = 0; i < 100; i++, t += 10) {
		assert_int_equal(pacer_acquire(&p, t), 0);
		pacer_done(&p, PACE_OK, -1, 1, t);
	}
	assert_int_equal(pacer_acquire(&p, t), 0);
	window = p.window;
	assert_true(window > 8);
	/* ...then a 429 with Retry-After: 2 s for that request. */
	wait = pacer_done(&p, PACE_LIMITED, 2000, 1, t);
	assert_int_equal(wait, 2000);
	assert_true(p.rps > 85 && p.rps < 95); /* 90% of about 100 */
	assert_int_equal(p.window, window / 2);
	/* The pace now spaces requests about 11 ms apart. */
	assert_int_equal(pacer_acquire(&p, t), 0);
	wait = pacer_acquire(&p, t);
	assert_true(wait >= 10 && wait <= 13);
	/* Retry-After is capped. */
	pacer_done(&p, PACE_OK, -1, 1, t);
	assert_int_equal(pacer_acquire(&p, t + 100), 0);
	assert_int_equal(pacer_done(&p, PACE_LIMITED, 3600 * 1000, 1, t + 100), p.max_pause_ms);
}

static void test_max_rps_caps_from_the_start(void **state)
{
	struct pacer p;
	long long t = 0, sent = 0;

	(void)state;
	pacer_init(&p, 64, 20, 0);
	/* One simulated second, asking every millisecond: about 20 get through. */
	for (t = 0; t < 1000; t++) {
		if (pacer_acquire(&p, t) == 0) {
			sent++;
			pacer_done(&p, PACE_OK, -1, 1, t);
		}
	}
	assert_true(sent >= 19 && sent <= 21);
}

static void test_failures_back_off_with_jitter_up_to_8s(void **state)
{
	struct pacer p;
	long long w;
	unsigned attempt;
	int i;

	(void)state;
	pacer_init(&p, 4, 0, 0);
	for (i = 0; i < 50; i++) {
		for (attempt = 1; attempt <= 8; attempt++) {
			long long full = 250LL << (attempt - 1);

			if (full > 8000)
				full = 8000;
			assert_int_equal(pacer_acquire(&p, 0), 0);
			w = pacer_done(&p, PACE_FAILED, -1, attempt, 0);
			assert_true(w >= full / 2 && w <= full);
		}
	}
	assert_int_equal(p.window, 4); /* failures are not the registry asking to slow down */
}

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
		cmocka_unit_test(test_window_starts_small_and_grows_with_successes),
		cmocka_unit_test(
			test_a_429_halves_the_window_and_sets_a_pace_under_what_got_through),
		cmocka_unit_test(test_max_rps_caps_from_the_start),
		cmocka_unit_test(test_failures_back_off_with_jitter_up_to_8s),
		cmocka_unit_test(test_policies_keep_and_say_why),
		cmocka_unit_test(test_a_delete_plan_has_one_item_per_digest),
		cmocka_unit_test(test_bad_pattern_is_named),
		cmocka_unit_test(test_rfc3339_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
