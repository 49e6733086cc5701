/*
 * The kubernetes lock backend's Leases without a server: what a Lease says about its holder,
 * who reads back from it, when a waiter may call one dead, and the queue's order.
 */
#include "unit.h"

#include "lock/kube_lease.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

static struct settings settings;

static void make_lock(struct lock *l)
{
	memset(l, 0, sizeof(*l));
	settings.lock_lease_seconds = 30;
	l->settings = &settings;
	snprintf(l->key, sizeof(l->key), "deploy/42/production");
	snprintf(l->me.job, sizeof(l->me.job), "1234");
	snprintf(l->me.project, sizeof(l->me.project), "group/app");
	snprintf(l->me.pipeline_url, sizeof(l->me.pipeline_url), "https://gitlab/p/1");
	snprintf(l->me.host, sizeof(l->me.host), "runner-1");
	l->me.pid = 4321;
	l->me.queued = 1700000000;
	l->me.ticket = 7;
}

static const char *get(json_t *obj, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(obj, a), b));
}

static void assert_microtime(const char *s)
{
	regex_t re;

	assert_non_null(s);
	assert_int_equal(
		regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
			REG_EXTENDED | REG_NOSUB),
		0);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("'%s' is not a MicroTime", s);
	regfree(&re);
}

static void test_new_lease_names_its_holder(void **state)
{
	struct lock l;
	json_t *obj, *labels, *spec;

	(void)state;
	make_lock(&l);
	obj = lease_new(&l, "berth-locks", "abc123", "berth-abc123-7", "ticket");
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "kind")), "Lease");
	assert_string_equal(get(obj, "metadata", "name"), "berth-abc123-7");
	assert_string_equal(get(obj, "metadata", "namespace"), "berth-locks");
	labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	assert_string_equal(json_string_value(json_object_get(labels, LEASE_LABEL_LOCK)), "abc123");
	assert_string_equal(lease_role(obj), "ticket");
	assert_string_equal(json_string_value(json_object_get(labels, LEASE_MANAGED_BY)), "berth");
	spec = json_object_get(obj, "spec");
	assert_string_equal(get(obj, "spec", "holderIdentity"), "runner-1/1234");
	assert_int_equal(json_integer_value(json_object_get(spec, "leaseDurationSeconds")), 30);
	assert_microtime(get(obj, "spec", "acquireTime"));
	assert_microtime(get(obj, "spec", "renewTime"));
	assert_string_equal(lease_annotation(obj, "key"), "deploy/42/production");
	assert_string_equal(lease_annotation(obj, "pid"), "4321");
	assert_string_equal(lease_annotation(obj, "ticket"), "7");
	json_decref(obj);
}

static void test_owner_reads_back(void **state)
{
	struct lock l;
	struct lock_owner o;
	json_t *obj;

	(void)state;
	make_lock(&l);
	obj = lease_new(&l, "ns", "h", "berth-h", "lock");
	lease_owner(obj, &o);
	assert_string_equal(o.job, "1234");
	assert_string_equal(o.project, "group/app");
	assert_string_equal(o.pipeline_url, "https://gitlab/p/1");
	assert_string_equal(o.host, "runner-1");
	assert_int_equal(o.pid, 4321);
	assert_int_equal(o.queued, 1700000000);
	assert_int_equal(o.ticket, 7);
	json_decref(obj);

	/* A Lease without berth's annotations (a free lock, someone else's object). */
	obj = json_pack("{s:{}, s:{}}", "metadata", "spec");
	lease_owner(obj, &o);
	assert_string_equal(o.job, "-");
	assert_string_equal(o.host, "-");
	assert_int_equal(o.pid, 0);
	assert_int_equal(o.ticket, 0);
	json_decref(obj);
}

/* A CI variable may hold bytes that are not UTF-8: the Lease says "-" rather than fail. */
static void test_non_utf8_owner_becomes_a_dash(void **state)
{
	struct lock l;
	json_t *obj;

	(void)state;
	make_lock(&l);
	snprintf(l.me.project, sizeof(l.me.project), "bad\xff");
	obj = lease_new(&l, "ns", "h", "berth-h", "lock");
	assert_non_null(obj);
	assert_string_equal(lease_annotation(obj, "project"), "-");
	assert_string_equal(lease_annotation(obj, "job"), "1234");
	json_decref(obj);
}

static void test_ours_is_host_and_pid_with_a_holder(void **state)
{
	struct lock l;
	struct lock_owner other;
	json_t *obj;

	(void)state;
	make_lock(&l);
	obj = lease_new(&l, "ns", "h", "berth-h", "lock");
	assert_true(lease_is_ours(obj, &l.me));
	other = l.me;
	other.pid = 4322;
	assert_false(lease_is_ours(obj, &other));
	other = l.me;
	snprintf(other.host, sizeof(other.host), "runner-2");
	assert_false(lease_is_ours(obj, &other));
	/* Released: the annotations may stay, but nobody holds it. */
	json_object_del(json_object_get(obj, "spec"), "holderIdentity");
	assert_false(lease_is_ours(obj, &l.me));
	json_decref(obj);
}

static json_t *listed(const char *name, const char *version, json_t *duration)
{
	json_t *obj = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", name,
				"resourceVersion", version, "spec", "holderIdentity", "h/1");

	if (duration)
		json_object_set_new(json_object_get(obj, "spec"), "leaseDurationSeconds", duration);
	return obj;
}

/* Staleness is this waiter's own clock: since it first saw the version it sees now. */
static void test_sight_measures_unchanged_time_on_our_clock(void **state)
{
	struct lease_sighting seen[1] = {{"berth-h", "100", 1000}}, now_seen;
	struct lease_item it;
	json_t *same = listed("berth-h", "100", json_integer(10));
	json_t *changed = listed("berth-h", "101", json_integer(10));
	json_t *other = listed("berth-h-3", "100", json_integer(10));

	(void)state;
	lease_sight(same, 30, seen, 1, 10999, &it, &now_seen);
	assert_string_equal(it.name, "berth-h");
	assert_string_equal(it.holder, "h/1");
	assert_int_equal(it.duration, 10);
	assert_int_equal(it.unchanged_ms, 9999);
	assert_int_equal(now_seen.since_ms, 1000);
	assert_false(lease_dead(&it));
	lease_sight(same, 30, seen, 1, 11000, &it, &now_seen);
	assert_true(lease_dead(&it));

	/* A new version, or a Lease not seen before, starts the clock again. */
	lease_sight(changed, 30, seen, 1, 50000, &it, &now_seen);
	assert_int_equal(it.unchanged_ms, 0);
	assert_int_equal(now_seen.since_ms, 50000);
	assert_string_equal(now_seen.version, "101");
	lease_sight(other, 30, seen, 1, 50000, &it, &now_seen);
	assert_int_equal(it.unchanged_ms, 0);
	assert_false(lease_dead(&it));
	json_decref(same);
	json_decref(changed);
	json_decref(other);
}

/* A duration the API would not accept (or none) is the settings' own. */
static void test_duration_falls_back_when_insane(void **state)
{
	json_t *cases[] = {NULL, json_integer(0), json_integer(3601), json_string("10")};
	struct lease_sighting now_seen;
	struct lease_item it;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *obj = listed("berth-h", "1", cases[i]);

		lease_sight(obj, 30, NULL, 0, 0, &it, &now_seen);
		assert_int_equal(it.duration, 30);
		json_decref(obj);
	}
}

static void test_queue_orders_by_ticket(void **state)
{
	struct lease_item v[] = {{.ticket = 5000000000ULL},
				 {.ticket = 3},
				 {.ticket = 12},
				 {.ticket = 4294967297ULL}};
	static const unsigned long long want[] = {3, 12, 4294967297ULL, 5000000000ULL};
	size_t i;

	(void)state;
	qsort(v, ARRAY_SIZE(v), sizeof(v[0]), lease_by_ticket);
	for (i = 0; i < ARRAY_SIZE(want); i++)
		assert_true(v[i].ticket == want[i]);
}

/* `berth locks`: grouped by lock, its own Lease (the holder) first, then its waiters. */
static void test_listing_orders_lock_first_then_tickets(void **state)
{
	struct lease_listed v[] = {
		{"bbb", 0, 9, NULL}, {"aaa", 0, 2, NULL}, {"bbb", 1, 8, NULL},
		{"aaa", 0, 1, NULL}, {"aaa", 1, 3, NULL},
	};
	static const struct {
		const char *hash;
		int is_lock;
		unsigned long long ticket;
	} want[] = {{"aaa", 1, 3}, {"aaa", 0, 1}, {"aaa", 0, 2}, {"bbb", 1, 8}, {"bbb", 0, 9}};
	size_t i;

	(void)state;
	qsort(v, ARRAY_SIZE(v), sizeof(v[0]), lease_by_lock_then_ticket);
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(v[i].hash, want[i].hash);
		assert_int_equal(v[i].is_lock, want[i].is_lock);
		assert_true(v[i].ticket == want[i].ticket);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_lease_names_its_holder),
		cmocka_unit_test(test_owner_reads_back),
		cmocka_unit_test(test_non_utf8_owner_becomes_a_dash),
		cmocka_unit_test(test_ours_is_host_and_pid_with_a_holder),
		cmocka_unit_test(test_sight_measures_unchanged_time_on_our_clock),
		cmocka_unit_test(test_duration_falls_back_when_insane),
		cmocka_unit_test(test_queue_orders_by_ticket),
		cmocka_unit_test(test_listing_orders_lock_first_then_tickets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
