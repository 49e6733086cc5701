/*
 * The kubernetes backend (docs/locks.md): coordination.k8s.io/v1 Leases in one namespace.
 * The lock is the Lease `berth-<sha256(key)>`; its holder renews it from a thread. Waiters
 * queue as ticket Leases `<lock>-<n>` that they renew too. The first live ticket takes the lock
 * when it is free, or when it has seen it unchanged for a lease duration on its own monotonic
 * clock; no clock is ever compared across hosts. A holder that cannot renew in time kills the
 * command it protects before anyone may take over.
 */
#include "lock/lock.h"
#include "lock/kube_lease.h"

#include "kube/kube.h"
#include "base/clock.h"
#include "base/http.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/procscan.h"
#include "base/sha256.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEASES	     "/apis/coordination.k8s.io/v1/namespaces/%s/leases"
#define HASH_LEN     40
#define STATUS_EVERY 15 /* seconds between "still waiting" lines */
#define ATTEMPTS     5	/* tries of one request while the server fails or does not answer */

struct view {
	json_t *list;
	const char *version;	 /* the list's resourceVersion, for a watch */
	struct lease_item lease; /* obj NULL when the lock's Lease does not exist */
	struct lease_item *tickets;
	size_t nr_tickets;
	int mine_seen; /* our ticket is still there */
};

struct kube_lock {
	struct lock *l;
	struct kube api;
	enum berth_result refused; /* the class of 401/403: whose credentials these are */
	char ns[64];
	char hash[HASH_LEN + 1];
	char lease[LEASE_NAME_SIZE];  /* the lock itself */
	char ticket[LEASE_NAME_SIZE]; /* our place in the queue, "" when we have none */
	unsigned long long n;
	int nested; /* an enclosing berth of this job holds the lock (-1: cannot tell) */
	struct lease_sighting *seen;
	size_t nr_seen;

	/* Shared with the renewing thread, under `mu`. */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	json_t *renewing; /* the object the thread renews: our ticket, then the lock */
	unsigned generation;
	int holding;
	int lost; /* the lease (holding) or ticket (waiting) is gone, or went unrenewed */
	long long ok_ms;
	char last_error[256];
};

/* ---- Requests -------------------------------------------------------------------------- */

/* 401 or 403: the credentials are wrong or lack a permission; asking again cannot help. */
static int refused(long status)
{
	return http_status_result(status) == BERTH_BUILD_FAILURE;
}

/*
 * What a refusal (401, 403) of METHOD on PATH means for the user: whose credentials, the
 * permission they lack (the verb on the resource, from the request), and what to do.
 */
static void refusal_text(const struct kube_lock *kl, const char *method, const char *path,
			 const struct kube_reply *r, char *buf, size_t size)
{
	struct kube_rbac what;
	char where[96] = "cluster-wide";

	kube_rbac_of(method, path, &what);
	if (what.ns[0])
		snprintf(where, sizeof(where), "in namespace '%s'", what.ns);
	if (r->status == 401)
		snprintf(buf, size,
			 "the Kubernetes API at %s did not accept the credentials of %s (HTTP 401: "
			 "%s), so berth cannot %s %s %s for lock '%s': its token or client "
			 "certificate is wrong or has expired; renew it (docs/locks.md, 'RBAC')",
			 kl->api.config->server, kl->api.source, r->message, what.verb,
			 what.resource, where, kl->l->key);
	else
		snprintf(
			buf, size,
			"the credentials of %s may not %s %s %s (the Kubernetes API at %s answered "
			"HTTP %ld: %s), which lock '%s' needs: grant the verb '%s' on %s %s to "
			"their user (examples/kubernetes/rbac.yaml has every verb berth needs; "
			"docs/locks.md, 'RBAC')",
			kl->api.source, what.verb, what.resource, where, kl->api.config->server,
			r->status, r->message, kl->l->key, what.verb, what.resource, where);
}

/* Reports a refused request; the class of failure: whose credentials these are. */
static enum berth_result refusal(const struct kube_lock *kl, const char *method, const char *path,
				 const struct kube_reply *r)
{
	char text[2048];

	refusal_text(kl, method, path, r, text, sizeof(text));
	error("%s", text);
	return kl->refused;
}

/*
 * One request, tried again while the server fails (5xx, 429) or does not answer. BERTH_OK
 * with an answer the caller handles (2xx, 404, 409...); else the class after reporting.
 */
static enum berth_result request(struct kube_lock *kl, const char *method, const char *path,
				 json_t *body, struct kube_reply *r)
{
	struct backoff b = BACKOFF_INIT(500, 2, 0, ATTEMPTS);
	int got = kube_call_retry(&kl->api, &b, method, path, body, r);

	if (proc_stop_requested() && (got < 0 || kube_status_transient(r->status))) {
		kube_reply_release(r);
		error("stopped while the Kubernetes API at %s was failing for lock '%s': %s",
		      kl->api.config->server, kl->l->key, r->message);
		return BERTH_SYSTEM_FAILURE;
	}
	if (got < 0) {
		error("cannot reach the Kubernetes API at %s for lock '%s' (%s) after %u tries: %s",
		      kl->api.config->server, kl->l->key, kl->api.source, b.tried, r->message);
		return BERTH_SYSTEM_FAILURE;
	}
	if (refused(r->status)) {
		enum berth_result ret = refusal(kl, method, path, r);

		kube_reply_release(r);
		return ret;
	}
	if (kube_status_transient(r->status)) {
		error("the Kubernetes API at %s failed %u times for lock '%s': HTTP %ld: %s",
		      kl->api.config->server, b.tried, kl->l->key, r->status, r->message);
		kube_reply_release(r);
		return BERTH_SYSTEM_FAILURE;
	}
	return BERTH_OK;
}

static int lease_path(const struct kube_lock *kl, const char *name, char *buf, size_t size)
{
	return snprintf(buf, size, LEASES "%s%s", kl->ns, name ? "/" : "", name ? name : "");
}

static int unexpected(const struct kube_lock *kl, const char *what, const struct kube_reply *r)
{
	return error("cannot %s for lock '%s' in namespace '%s': HTTP %ld: %s", what, kl->l->key,
		     kl->ns, r->status, r->message);
}

/* ---- The renewing thread ---------------------------------------------------------------- */

static void lose(struct kube_lock *kl, const char *why)
{
	kl->lost = 1;
	if (!kl->holding) {
		error("lost the place of this job in the queue of lock '%s': %s", kl->l->key, why);
		return;
	}
	proc_abort();
	error("lost lock '%s': %s; killed the command it protected, so that two holders never "
	      "run at once",
	      kl->l->key, why);
}

/* After a renewal's answer, under `mu`: when to try again (monotonic ms). */
static long long renewed(struct kube_lock *kl, struct kube *api, struct kube_reply *r,
			 long long sent)
{
	unsigned d = kl->l->settings->lock_lease_seconds;
	long long now = clock_now_ms();
	char path[256];

	if (r->status == 200 && r->body) {
		json_decref(kl->renewing);
		kl->renewing = json_incref(r->body);
		kl->ok_ms = sent;
		return sent + d * 1000LL / 3;
	}
	if (refused(r->status)) {
		char why[2048];

		lease_path(kl, lease_field(kl->renewing, "metadata", "name"), path, sizeof(path));
		refusal_text(kl, "PUT", path, r, why, sizeof(why));
		lose(kl, why);
		return now;
	}
	if (r->status == 409 && kl->holding) {
		/* Only a takeover changes a held lease: did one happen? */
		struct kube_reply fresh;

		lease_path(kl, kl->lease, path, sizeof(path));
		if (kube_call(api, "GET", path, NULL, 0, &fresh) == 0 && fresh.status == 200) {
			if (lease_is_ours(fresh.body, &kl->l->me)) {
				json_decref(kl->renewing);
				kl->renewing = json_incref(fresh.body);
				kube_reply_release(&fresh);
				return now;
			}
			kube_reply_release(&fresh);
			lose(kl, "another job took it over: this berth did not renew it in time");
			return now;
		}
		kube_reply_release(&fresh);
	} else if (r->status == 404) {
		lose(kl, kl->holding ? "its Lease was deleted"
				     : "its ticket was removed after its renewals failed");
		return now;
	}
	if (r->status)
		snprintf(kl->last_error, sizeof(kl->last_error), "HTTP %ld: %.200s", r->status,
			 r->message);
	else
		snprintf(kl->last_error, sizeof(kl->last_error), "%.200s", r->message);
	return now + (d > 3 ? 1000 : 500); /* soon again: the deadline is near */
}

/* The holder gives up its command before a waiter may see the lease unchanged for long enough. */
static long long kill_deadline(const struct kube_lock *kl)
{
	return kl->ok_ms + kl->l->settings->lock_lease_seconds * 800LL; /* 4/5 of the duration */
}

static void wait_until(struct kube_lock *kl, long long at)
{
	struct timespec ts;
	long long now = clock_now_ms();

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)((at - now) / 1000);
	ts.tv_nsec += (long)((at - now) % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&kl->cv, &kl->mu, &ts);
}

static void *renew_loop(void *arg)
{
	struct kube_lock *kl = arg;
	unsigned d = kl->l->settings->lock_lease_seconds;
	struct kube api;
	long long next = clock_now_ms() + d * 1000LL / 3;
	char path[256], now[40];

	pthread_mutex_lock(&kl->mu);
	if (kube_clone(&api, &kl->api, d) < 0) {
		lose(kl, "it cannot be renewed: no HTTP client");
		pthread_mutex_unlock(&kl->mu);
		return NULL;
	}
	while (!kl->stop) {
		long long at = next, sent;
		struct kube_reply r;
		json_t *obj;
		unsigned generation;

		if (kl->holding && !kl->lost && kill_deadline(kl) < at)
			at = kill_deadline(kl);
		if (clock_now_ms() < at) {
			wait_until(kl, at);
			continue;
		}
		if (kl->holding && !kl->lost && clock_now_ms() >= kill_deadline(kl)) {
			char why[400];

			snprintf(why, sizeof(why), "its lease went %u s without a renewal (%s)",
				 d * 4 / 5, kl->last_error[0] ? kl->last_error : "no answer");
			lose(kl, why);
		}
		if (kl->lost || !kl->renewing) {
			next = clock_now_ms() + 3600 * 1000LL;
			continue;
		}
		obj = json_deep_copy(kl->renewing);
		generation = kl->generation;
		/* A request must not outlast the deadline: the kill cannot wait for an answer. */
		api.timeout_ms = d * 1000L / 3;
		if (kl->holding && kill_deadline(kl) - clock_now_ms() < api.timeout_ms)
			api.timeout_ms = (long)(kill_deadline(kl) - clock_now_ms());
		if (api.timeout_ms < 50)
			api.timeout_ms = 50;
		pthread_mutex_unlock(&kl->mu);

		lease_microtime(now, sizeof(now));
		json_object_set_new(json_object_get(obj, "spec"), "renewTime", json_string(now));
		lease_path(kl, lease_field(obj, "metadata", "name"), path, sizeof(path));
		sent = clock_now_ms();
		if (kube_call(&api, "PUT", path, obj, 0, &r) < 0)
			r.status = 0;
		json_decref(obj);

		pthread_mutex_lock(&kl->mu);
		next = generation == kl->generation ? renewed(kl, &api, &r, sent) : clock_now_ms();
		kube_reply_release(&r);
	}
	pthread_mutex_unlock(&kl->mu);
	kube_close(&api);
	return NULL;
}

static int start_renewing(struct kube_lock *kl, json_t *ticket)
{
	pthread_condattr_t attr;
	sigset_t all, old;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&kl->cv, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&kl->mu, NULL);
	kl->renewing = json_incref(ticket);
	kl->ok_ms = clock_now_ms();
	/* Signals are berth's main thread's business: the thread starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&kl->thread, NULL, renew_loop, kl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return error_errno("cannot start the thread that renews lock '%s'", kl->l->key);
	}
	kl->started = 1;
	return 0;
}

static void stop_renewing(struct kube_lock *kl)
{
	if (!kl->started)
		return;
	pthread_mutex_lock(&kl->mu);
	kl->stop = 1;
	pthread_cond_signal(&kl->cv);
	pthread_mutex_unlock(&kl->mu);
	pthread_join(kl->thread, NULL);
	kl->started = 0;
	pthread_cond_destroy(&kl->cv);
	pthread_mutex_destroy(&kl->mu);
}

/* What the thread renews from now on. */
static void renew_instead(struct kube_lock *kl, json_t *obj, int holding)
{
	pthread_mutex_lock(&kl->mu);
	json_decref(kl->renewing);
	kl->renewing = json_incref(obj);
	kl->holding = holding;
	kl->ok_ms = clock_now_ms();
	kl->generation++;
	pthread_mutex_unlock(&kl->mu);
}

static int lost_now(struct kube_lock *kl)
{
	int lost;

	pthread_mutex_lock(&kl->mu);
	lost = kl->lost;
	pthread_mutex_unlock(&kl->mu);
	return lost;
}

/* ---- Looking at the queue -------------------------------------------------------------- */

static void view_release(struct view *v)
{
	json_decref(v->list);
	free(v->tickets);
	memset(v, 0, sizeof(*v));
}

/* Lists the lock's Leases: the lock and the tickets in order. */
static enum berth_result look(struct kube_lock *kl, struct view *v)
{
	struct kube_reply r;
	struct lease_sighting *seen;
	json_t *items, *obj;
	long long now = clock_now_ms();
	enum berth_result res;
	char path[512];
	size_t i, n;

	memset(v, 0, sizeof(*v));
	n = (size_t)lease_path(kl, NULL, path, sizeof(path));
	snprintf(path + n, sizeof(path) - n, "?labelSelector=" LEASE_LABEL_LOCK "%%3D%s", kl->hash);
	res = request(kl, "GET", path, NULL, &r);
	if (res != BERTH_OK)
		return res;
	items = json_object_get(r.body, "items");
	if (r.status != 200 || !json_is_array(items)) {
		unexpected(kl, "list the queue", &r);
		kube_reply_release(&r);
		return BERTH_SYSTEM_FAILURE;
	}
	v->list = r.body;
	v->version = lease_field(v->list, "metadata", "resourceVersion");
	n = json_array_size(items);
	v->tickets = calloc(n + 1, sizeof(*v->tickets));
	seen = calloc(n + 1, sizeof(*seen));
	if (!v->tickets || !seen) {
		free(seen);
		view_release(v);
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	json_array_foreach(items, i, obj)
	{
		const char *role = lease_role(obj);
		struct lease_item it;

		lease_sight(obj, kl->l->settings->lock_lease_seconds, kl->seen, kl->nr_seen, now,
			    &it, &seen[i]);
		if (!it.name || !role)
			continue;
		if (!strcmp(role, "lock") && !strcmp(it.name, kl->lease))
			v->lease = it;
		else if (!strcmp(role, "ticket"))
			v->tickets[v->nr_tickets++] = it;
		if (kl->ticket[0] && !strcmp(it.name, kl->ticket))
			v->mine_seen = 1;
	}
	free(kl->seen);
	kl->seen = seen;
	kl->nr_seen = n;
	qsort(v->tickets, v->nr_tickets, sizeof(*v->tickets), lease_by_ticket);
	return BERTH_OK;
}

/*
 * Deletes a ticket nobody renewed for its duration, if it is still the version we saw. -1 when
 * the credentials may not (reported): a queue whose dead tickets stay cannot be trusted.
 */
static int remove_dead(struct kube_lock *kl, const struct lease_item *it)
{
	json_t *body =
		json_pack("{s:s, s:s, s:{s:s?, s:s?}}", "apiVersion", "v1", "kind", "DeleteOptions",
			  "preconditions", "uid", lease_field(it->obj, "metadata", "uid"),
			  "resourceVersion", lease_field(it->obj, "metadata", "resourceVersion"));
	struct kube_reply r;
	char path[256], who[1024];
	int ret = 0;

	lease_path(kl, it->name, path, sizeof(path));
	if (body && kube_call(&kl->api, "DELETE", path, body, 0, &r) == 0) {
		if (refused(r.status)) {
			refusal(kl, "DELETE", path, &r);
			ret = -1;
		} else if (r.status == 200) {
			lease_describe(it->obj, who, sizeof(who));
			info("lock '%s': removed the queue ticket of %s: not renewed for %u s",
			     kl->l->key, who, it->duration);
		}
		kube_reply_release(&r);
	}
	json_decref(body);
	return ret;
}

/* ---- Joining the queue, taking the lock ------------------------------------------------ */

static enum berth_result create_namespace(struct kube_lock *kl)
{
	json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
			       "metadata", "name", kl->ns);
	struct kube_reply r;
	enum berth_result ret = BERTH_SYSTEM_FAILURE;

	if (!kl->l->settings->lock_create_namespace) {
		json_decref(ns);
		error("namespace '%s' for lock Leases does not exist: create it (kubectl create "
		      "namespace %s), or let berth (lock_create_namespace: true)",
		      kl->ns, kl->ns);
		return BERTH_SYSTEM_FAILURE;
	}
	ret = request(kl, "POST", "/api/v1/namespaces", ns, &r);
	if (ret == BERTH_OK) {
		if (r.status != 201 && r.status != 409) {
			unexpected(kl, "create the namespace for lock Leases", &r);
			ret = BERTH_SYSTEM_FAILURE;
		} else if (r.status == 201) {
			info("created namespace '%s' for lock Leases", kl->ns);
		}
		kube_reply_release(&r);
	}
	json_decref(ns);
	return ret;
}

/* Creates our ticket, numbered after the last one, and starts renewing it. */
static enum berth_result enqueue(struct kube_lock *kl)
{
	char path[256];
	int tries, created_ns = 0;

	lease_path(kl, NULL, path, sizeof(path));
	for (tries = 0; tries < 50; tries++) {
		struct view v;
		struct kube_reply r;
		json_t *obj;
		enum berth_result got = look(kl, &v);

		if (got != BERTH_OK)
			return got;
		/* After the last ticket, and after the holder's, whose ticket is gone. */
		kl->n = (v.nr_tickets ? v.tickets[v.nr_tickets - 1].ticket : 0) + 1;
		if (v.lease.obj && v.lease.ticket >= kl->n)
			kl->n = v.lease.ticket + 1;
		view_release(&v);
		kl->l->me.ticket = kl->n;
		snprintf(kl->ticket, sizeof(kl->ticket), "%.60s-%llu", kl->lease, kl->n);
		obj = lease_new(kl->l, kl->ns, kl->hash, kl->ticket, "ticket");
		if (!obj)
			error("out of memory");
		got = obj ? request(kl, "POST", path, obj, &r) : BERTH_SYSTEM_FAILURE;
		json_decref(obj);
		if (got != BERTH_OK) {
			kl->ticket[0] = '\0';
			return got;
		}
		if (r.status == 201) {
			int started = start_renewing(kl, r.body);

			kube_reply_release(&r);
			return started < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
		}
		kl->ticket[0] = '\0';
		if (r.status == 404 && !created_ns) {
			kube_reply_release(&r);
			created_ns = 1;
			got = create_namespace(kl);
			if (got != BERTH_OK)
				return got;
			continue;
		}
		if (r.status != 409) {
			unexpected(kl, "join the queue", &r);
			kube_reply_release(&r);
			return BERTH_SYSTEM_FAILURE;
		}
		kube_reply_release(&r); /* another arrival took that number */
	}
	error("cannot join the queue of lock '%s': 50 tries lost to other arrivals", kl->l->key);
	return BERTH_SYSTEM_FAILURE;
}

/*
 * At the head of the queue: takes the lock when its Lease is missing, free, or unchanged for
 * its duration on our clock. BERTH_OK when taken (kl->holding is set then) or not now.
 */
static enum berth_result try_take(struct kube_lock *kl, const struct lease_item *lease)
{
	int takeover = lease->obj && lease->holder && *lease->holder;
	enum berth_result ret;
	char path[256], who[1024];
	struct kube_reply r;
	json_t *obj, *spec;

	if (takeover && !lease_dead(lease))
		return BERTH_OK;
	kl->l->me.since = (long long)time(NULL);
	obj = lease->obj ? json_deep_copy(lease->obj)
			 : lease_new(kl->l, kl->ns, kl->hash, kl->lease, "lock");
	if (!obj) {
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	lease_path(kl, lease->obj ? kl->lease : NULL, path, sizeof(path));
	if (lease->obj) {
		spec = json_object_get(obj, "spec");
		lease_set_owner(obj, kl->l);
		json_object_set_new(spec, "leaseTransitions",
				    json_integer(json_integer_value(json_object_get(
							 json_object_get(lease->obj, "spec"),
							 "leaseTransitions")) +
						 1));
	}
	ret = request(kl, lease->obj ? "PUT" : "POST", path, obj, &r);
	if (ret != BERTH_OK)
		goto out;
	if (r.status == 200 || r.status == 201) {
		if (takeover) {
			lease_describe(lease->obj, who, sizeof(who));
			warning("took over lock '%s' from %s: its lease went unrenewed for %u s",
				kl->l->key, who, lease->duration);
		}
		renew_instead(kl, r.body, 1);
	} else if (r.status != 409) { /* 409: it changed since we looked: look again */
		unexpected(kl, "take the lock", &r);
		ret = BERTH_SYSTEM_FAILURE;
	}
	kube_reply_release(&r);
out:
	json_decref(obj);
	return ret;
}

/*
 * Waits for `name` to change (a watch), a second at most: stops, deadlines and leases that
 * stay unchanged need a look. Just before the deadline, only sleeps until it. -1 when the
 * credentials may not watch (reported): polling instead would hide a missing permission.
 */
static int watch(struct kube_lock *kl, const char *name, const char *version, long long deadline)
{
	struct kube_reply r;
	char path[512];
	size_t n = (size_t)lease_path(kl, NULL, path, sizeof(path));

	int ret = 0;

	if (deadline && deadline - clock_now_ms() < 1000) {
		clock_sleep_ms(deadline - clock_now_ms());
		return 0;
	}
	snprintf(path + n, sizeof(path) - n,
		 "?watch=1&fieldSelector=metadata.name%%3D%s&resourceVersion=%s&timeoutSeconds=1",
		 name, version ? version : "0");
	if (kube_call(&kl->api, "GET", path, NULL, 1, &r) == 0 && refused(r.status)) {
		refusal(kl, "GET", path, &r);
		ret = -1;
	} else if (r.status != 200)
		clock_sleep_ms(200); /* a failing watch must not spin */
	kube_reply_release(&r);
	return ret;
}

/* -1 when the credentials may not delete it (reported): tickets would pile up unseen. */
static int delete_ticket(struct kube_lock *kl)
{
	struct kube_reply r;
	char path[256];
	int ret = 0;

	if (!kl->ticket[0])
		return 0;
	lease_path(kl, kl->ticket, path, sizeof(path));
	if (kube_call(&kl->api, "DELETE", path, NULL, 0, &r) == 0) {
		if (refused(r.status)) {
			refusal(kl, "DELETE", path, &r);
			ret = -1;
		}
		kube_reply_release(&r);
	}
	kl->ticket[0] = '\0'; /* if that failed, the ticket goes stale and the next one sweeps it */
	return ret;
}

/*
 * Counts the live tickets ahead of ours (removing dead ones) into *nr; the last of them in
 * *last. -1 when a dead one may not be removed (reported).
 */
static int ahead_of_us(struct kube_lock *kl, const struct view *v, size_t *nr_ahead,
		       const struct lease_item **last)
{
	size_t i, nr = 0;

	*last = NULL;
	for (i = 0; i < v->nr_tickets && v->tickets[i].ticket < kl->n; i++) {
		if (lease_dead(&v->tickets[i])) {
			if (remove_dead(kl, &v->tickets[i]) < 0)
				return -1;
			continue;
		}
		*last = &v->tickets[i];
		nr++;
	}
	*nr_ahead = nr;
	return 0;
}

/* The stop and deadline checks, and the periodic status line. 0 to go on waiting, or -1. */
static int still_waiting(struct kube_lock *kl, const struct view *v, size_t nr_ahead,
			 long long deadline, long long *next_status)
{
	int held = v->lease.holder && *v->lease.holder;
	long long now = clock_now_ms();
	char who[1024];

	lease_describe(held ? v->lease.obj : NULL, who, sizeof(who));
	nr_ahead += (size_t)held;
	if (proc_stop_requested())
		return error("stopped while waiting for lock '%s', held by %s", kl->l->key, who);
	if (deadline && now >= deadline)
		return error("cannot take lock '%s' within the timeout: it is held by %s; %zu "
			     "job(s) were ahead of this one",
			     kl->l->key, who, nr_ahead);
	if (now >= *next_status) {
		info("waiting for lock '%s': held by %s; %zu ahead of this job", kl->l->key, who,
		     nr_ahead);
		*next_status = now + STATUS_EVERY * 1000LL;
		if (kl->l->waiting)
			kl->l->waiting(kl->l);
	}
	return 0;
}

static enum berth_result wait_turn(struct kube_lock *kl, long long deadline)
{
	long long next_status = clock_now_ms(); /* the first wait says who holds it */

	for (;;) {
		const struct lease_item *last;
		struct view v;
		size_t nr;
		enum berth_result r;

		if (lost_now(kl))
			return BERTH_SYSTEM_FAILURE;
		r = look(kl, &v);
		if (r != BERTH_OK)
			return r;
		if (!v.mine_seen) {
			view_release(&v);
			error("the ticket of this job in the queue of lock '%s' was removed: its "
			      "renewals failed for %u s",
			      kl->l->key, kl->l->settings->lock_lease_seconds);
			return BERTH_SYSTEM_FAILURE;
		}
		if (ahead_of_us(kl, &v, &nr, &last) < 0)
			r = kl->refused;
		else if (nr == 0)
			r = try_take(kl, &v.lease);
		if (r == BERTH_OK && !kl->holding &&
		    still_waiting(kl, &v, nr, deadline, &next_status) < 0)
			r = BERTH_SYSTEM_FAILURE;
		if (r == BERTH_OK && !kl->holding &&
		    watch(kl, last ? last->name : kl->lease, v.version, deadline) < 0)
			r = kl->refused;
		view_release(&v);
		if (r != BERTH_OK || kl->holding)
			return r;
	}
}

/* ---- The backend ----------------------------------------------------------------------- */

/*
 * The credentials for the Leases: the admin's lock_kubeconfig, else the job's own kubeconfig
 * (`job_file`; a job without one cannot take a kubernetes lock), else outside a job the
 * user's ($KUBECONFIG's first file, ~/.kube/config).
 */
static enum berth_result open_api(struct kube_lock *kl, const char *job_file)
{
	const struct settings *s = kl->l->settings;
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char buf[4096];

	kl->refused = s->lock_kubeconfig ? BERTH_SYSTEM_FAILURE : BERTH_BUILD_FAILURE;
	snprintf(kl->ns, sizeof(kl->ns), "%s", s->lock_namespace);
	if (s->lock_kubeconfig)
		snprintf(buf, sizeof(buf), "%s", s->lock_kubeconfig);
	else if (job_file && access(job_file, F_OK) == 0)
		snprintf(buf, sizeof(buf), "%s", job_file);
	else if (!job_file && env && *env)
		snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(env, ":"), env);
	else if (!job_file && home && *home)
		snprintf(buf, sizeof(buf), "%s/.kube/config", home);
	else
		return error("lock '%s' lives in Kubernetes, and this job has no kubeconfig: set "
			     "WERF_KUBECONFIG_BASE64 in the project, or 'lock_kubeconfig' in the "
			     "runner's settings",
			     kl->l->key),
		       BERTH_BUILD_FAILURE;
	return kube_open(&kl->api, buf, s->kube_timeout, kl->refused);
}

/*
 * 1 when an enclosing berth of this job holds the lock: a script that runs berth again. -1
 * when the credentials may not read the lock's Lease (reported).
 */
static int held_by_ancestor(struct kube_lock *kl)
{
	struct kube_reply r;
	const char *host, *pid;
	char path[256];
	int found = 0;

	lease_path(kl, kl->lease, path, sizeof(path));
	if (kube_call(&kl->api, "GET", path, NULL, 0, &r) < 0)
		return 0;
	if (refused(r.status)) {
		refusal(kl, "GET", path, &r);
		kube_reply_release(&r);
		return -1;
	}
	host = lease_annotation(r.body, "host");
	pid = lease_annotation(r.body, "pid");
	found = r.status == 200 && lease_field(r.body, "spec", "holderIdentity") && host && pid &&
		!strcmp(host, kl->l->me.host) && procscan_is_ancestor((pid_t)strtol(pid, NULL, 10));
	kube_reply_release(&r);
	return found;
}

/*
 * Clears the holder so that the next in line takes the lock at once; the thread is stopped.
 * -1 when the credentials may not (reported): the admin must know, though the lease passes.
 */
static int free_lease(struct kube_lock *kl)
{
	struct kube_reply r;
	char path[256];
	int tries, done = 0, ret = 0;

	lease_path(kl, kl->lease, path, sizeof(path));
	for (tries = 0; kl->holding && !kl->lost && !done && tries < 3; tries++) {
		json_t *obj = json_deep_copy(kl->renewing), *spec = json_object_get(obj, "spec");

		json_object_del(spec, "holderIdentity");
		json_object_del(spec, "acquireTime");
		json_object_del(spec, "renewTime");
		/* The last ticket stays: numbers keep growing for `berth locks`. */
		json_object_set_new(json_object_get(obj, "metadata"), "annotations",
				    json_pack("{s:s, s:o}", LEASE_ANNOTATION "key", kl->l->key,
					      LEASE_ANNOTATION "ticket",
					      lease_number((long long)kl->n)));
		if (request(kl, "PUT", path, obj, &r) != BERTH_OK) {
			json_decref(obj);
			ret = refused(r.status) ? -1
						: 0; /* a server that fails is only warned of */
			break;
		}
		json_decref(obj);
		done = r.status == 200;
		if (r.status == 409) {
			kube_reply_release(
				&r); /* renewed meanwhile? then again on the new version */
			if (kube_call(&kl->api, "GET", path, NULL, 0, &r) < 0)
				break;
			if (r.status != 200 || !lease_is_ours(r.body, &kl->l->me)) {
				kube_reply_release(&r);
				break;
			}
			json_decref(kl->renewing);
			kl->renewing = json_incref(r.body);
		}
		kube_reply_release(&r);
	}
	if (kl->holding && !kl->lost && !done)
		warning("could not release lock '%s': it is free once its lease runs out (%u s)",
			kl->l->key, kl->l->settings->lock_lease_seconds);
	kl->holding = 0;
	return ret;
}

static void discard(struct lock *l)
{
	struct kube_lock *kl = l->impl;

	if (!kl)
		return;
	stop_renewing(kl);
	if (kl->api.config)
		delete_ticket(kl);
	json_decref(kl->renewing);
	kube_close(&kl->api);
	free(kl->seen);
	free(kl);
	l->impl = NULL;
}

static enum berth_result acquire(struct lock *l, unsigned timeout)
{
	struct kube_lock *kl = calloc(1, sizeof(*kl));
	long long deadline = timeout ? clock_now_ms() + timeout * 1000LL : 0;
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	char hash[SHA256_HEX_SIZE];

	if (!kl) {
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	l->impl = kl;
	kl->l = l;
	sha256_hex(l->key, strlen(l->key), hash);
	snprintf(kl->hash, sizeof(kl->hash), "%.*s", HASH_LEN, hash);
	snprintf(kl->lease, sizeof(kl->lease), "berth-%s", kl->hash);
	if (proc_catch_stops() < 0 || (r = open_api(kl, l->kubeconfig)) != BERTH_OK)
		goto fail;
	kl->nested = held_by_ancestor(kl);
	if (kl->nested < 0) {
		r = kl->refused;
		goto fail;
	}
	if (kl->nested) {
		info("lock '%s' is held by this job already", l->key);
		return BERTH_OK;
	}
	r = enqueue(kl);
	if (r == BERTH_OK)
		r = wait_turn(kl, deadline);
	if (r == BERTH_OK && proc_stop_requested()) {
		error("stopped while taking lock '%s'", l->key);
		stop_renewing(kl);
		free_lease(kl);
		r = BERTH_SYSTEM_FAILURE;
	}
	/* The next in line is now the head of the queue; its ticket gone, ours must go too. */
	if (r == BERTH_OK && delete_ticket(kl) < 0) {
		stop_renewing(kl);
		free_lease(kl);
		r = kl->refused;
	}
	if (r == BERTH_OK) {
		l->die_with_berth = 1;
		return BERTH_OK;
	}
fail:
	discard(l);
	return r;
}

static int release(struct lock *l)
{
	struct kube_lock *kl = l->impl;
	int lost;

	if (!kl)
		return 0;
	if (kl->nested) {
		discard(l);
		return 0;
	}
	stop_renewing(kl);
	lost = kl->lost;
	if (free_lease(kl) < 0)
		lost = 1;
	discard(l);
	return lost ? -1 : 0;
}

/* ---- berth locks ----------------------------------------------------------------------- */

/* One lock's entry from its sorted Leases (the lock's own first, when it exists). */
static int list_group(const struct lease_listed *g, size_t nr,
		      int (*each)(const struct lock_entry *, void *), void *data)
{
	struct lock_entry e;
	const char *key = NULL;
	size_t i;
	int ret = 0;

	memset(&e, 0, sizeof(e));
	e.owners = calloc(nr, sizeof(*e.owners));
	if (!e.owners)
		return error("out of memory");
	for (i = 0; i < nr; i++) {
		if (!key)
			key = lease_annotation(g[i].obj, "key");
		if (g[i].is_lock && !lease_field(g[i].obj, "spec", "holderIdentity"))
			continue; /* free: only its waiters count */
		lease_owner(g[i].obj, &e.owners[e.nr++]);
		e.held |= g[i].is_lock;
	}
	snprintf(e.key, sizeof(e.key), "%s", key ? key : g[0].hash);
	if (e.nr)
		ret = each(&e, data);
	free(e.owners);
	return ret;
}

static int list(const struct settings *s, int (*each)(const struct lock_entry *, void *),
		void *data)
{
	struct kube_lock kl;
	struct lock l;
	struct kube_reply r;
	struct lease_listed *all = NULL;
	json_t *items, *obj;
	char path[512];
	size_t i, n = 0, start;
	int ret = -1;

	memset(&kl, 0, sizeof(kl));
	memset(&l, 0, sizeof(l));
	l.settings = s;
	snprintf(l.key, sizeof(l.key), "(all)");
	kl.l = &l;
	if (open_api(&kl, NULL) != BERTH_OK)
		return -1;
	i = (size_t)lease_path(&kl, NULL, path, sizeof(path));
	snprintf(path + i, sizeof(path) - i, "?labelSelector=" LEASE_MANAGED_BY "%%3Dberth");
	if (request(&kl, "GET", path, NULL, &r) != BERTH_OK)
		goto out;
	items = json_object_get(r.body, "items");
	if (r.status != 200 || !json_is_array(items) ||
	    !(all = calloc(json_array_size(items) + 1, sizeof(*all)))) {
		unexpected(&kl, "list the locks", &r);
		goto reply;
	}
	json_array_foreach(items, i, obj)
	{
		const char *hash = json_string_value(
			json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"),
					LEASE_LABEL_LOCK));
		const char *role = lease_role(obj), *t = lease_annotation(obj, "ticket");

		if (!hash || !role)
			continue;
		all[n].hash = hash;
		all[n].is_lock = !strcmp(role, "lock");
		all[n].ticket = t ? strtoull(t, NULL, 10) : 0;
		all[n++].obj = obj;
	}
	qsort(all, n, sizeof(*all), lease_by_lock_then_ticket);
	ret = 0;
	for (start = 0, i = 1; ret == 0 && start < n; i++) {
		if (i < n && !strcmp(all[i].hash, all[start].hash))
			continue;
		ret = list_group(all + start, i - start, each, data);
		start = i;
	}
reply:
	free(all);
	kube_reply_release(&r);
out:
	kube_close(&kl.api);
	return ret;
}

const struct lock_backend lock_kube = {
	.name = "kubernetes",
	.acquire = acquire,
	.release = release,
	.list = list,
};
