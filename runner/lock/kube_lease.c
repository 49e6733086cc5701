#include "lock/kube_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lease_microtime(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char whole[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(whole, sizeof(whole), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%.19s.%06dZ", whole, (int)(ts.tv_nsec / 1000));
}

/* A JSON string of `v`, or of "-" when `v` is not UTF-8 (a CI variable may hold anything). */
static json_t *text(const char *v)
{
	json_t *s = json_string(v);

	return s ? s : json_string("-");
}

static void annotate(json_t *ann, const char *name, json_t *value)
{
	char key[64];

	snprintf(key, sizeof(key), LEASE_ANNOTATION "%s", name);
	json_object_set_new(ann, key, value);
}

json_t *lease_number(long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return json_string(buf);
}

/* Who we are, on a Lease: annotations for `berth locks`, and the holder identity host/job. */
void lease_set_owner(json_t *obj, const struct lock *l)
{
	const struct lock_owner *o = &l->me;
	json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
	json_t *ann = json_object();
	char identity[300], now[40];

	annotate(ann, "key", json_string(l->key));
	annotate(ann, "job", text(o->job));
	annotate(ann, "project", text(o->project));
	annotate(ann, "pipeline-url", text(o->pipeline_url));
	annotate(ann, "host", text(o->host));
	annotate(ann, "pid", lease_number(o->pid));
	annotate(ann, "queued", lease_number(o->queued));
	annotate(ann, "since", lease_number(o->since));
	annotate(ann, "ticket", lease_number((long long)o->ticket));
	json_object_set_new(meta, "annotations", ann);
	snprintf(identity, sizeof(identity), "%s/%s", o->host, o->job);
	lease_microtime(now, sizeof(now));
	json_object_set_new(spec, "holderIdentity", text(identity));
	json_object_set_new(spec, "leaseDurationSeconds",
			    json_integer(l->settings->lock_lease_seconds));
	json_object_set_new(spec, "acquireTime", json_string(now));
	json_object_set_new(spec, "renewTime", json_string(now));
}

json_t *lease_new(const struct lock *l, const char *ns, const char *hash, const char *name,
		  const char *role)
{
	json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}, s:{}}", "apiVersion",
				"coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", name,
				"namespace", ns, "labels", LEASE_MANAGED_BY, "berth",
				LEASE_LABEL_LOCK, hash, LEASE_LABEL_ROLE, role, "spec");

	if (obj)
		lease_set_owner(obj, l);
	return obj;
}

const char *lease_field(json_t *obj, const char *part, const char *name)
{
	return json_string_value(json_object_get(json_object_get(obj, part), name));
}

const char *lease_annotation(json_t *obj, const char *name)
{
	json_t *all = json_object_get(json_object_get(obj, "metadata"), "annotations");
	char key[64];

	snprintf(key, sizeof(key), LEASE_ANNOTATION "%s", name);
	return json_string_value(json_object_get(all, key));
}

const char *lease_role(json_t *obj)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(obj, "metadata"), "labels"), LEASE_LABEL_ROLE));
}

void lease_owner(json_t *obj, struct lock_owner *o)
{
	const char *v;

	memset(o, 0, sizeof(*o));
	snprintf(o->job, sizeof(o->job), "%s", (v = lease_annotation(obj, "job")) ? v : "-");
	snprintf(o->project, sizeof(o->project), "%s",
		 (v = lease_annotation(obj, "project")) ? v : "-");
	snprintf(o->pipeline_url, sizeof(o->pipeline_url), "%s",
		 (v = lease_annotation(obj, "pipeline-url")) ? v : "-");
	snprintf(o->host, sizeof(o->host), "%s", (v = lease_annotation(obj, "host")) ? v : "-");
	o->pid = (pid_t)((v = lease_annotation(obj, "pid")) ? strtol(v, NULL, 10) : 0);
	o->queued = (v = lease_annotation(obj, "queued")) ? strtoll(v, NULL, 10) : 0;
	o->since = (v = lease_annotation(obj, "since")) ? strtoll(v, NULL, 10) : 0;
	o->ticket = (v = lease_annotation(obj, "ticket")) ? strtoull(v, NULL, 10) : 0;
}

int lease_is_ours(json_t *obj, const struct lock_owner *me)
{
	const char *host = lease_annotation(obj, "host"), *pid = lease_annotation(obj, "pid");

	return lease_field(obj, "spec", "holderIdentity") && host && pid &&
	       !strcmp(host, me->host) && strtol(pid, NULL, 10) == me->pid;
}

void lease_describe(json_t *obj, char *buf, size_t size)
{
	struct lock_owner o;

	if (!obj) {
		snprintf(buf, size, "nobody");
		return;
	}
	lease_owner(obj, &o);
	lock_owner_describe(&o, buf, size);
}

static unsigned duration_of(json_t *obj, unsigned fallback)
{
	json_int_t d = json_integer_value(
		json_object_get(json_object_get(obj, "spec"), "leaseDurationSeconds"));

	return d >= 1 && d <= 3600 ? (unsigned)d : fallback;
}

/* Since when this waiter has seen `name` at `version`: from the last look, or now. */
static long long sighted(const struct lease_sighting *seen, size_t nr_seen, const char *name,
			 const char *version, long long now)
{
	size_t i;

	for (i = 0; i < nr_seen; i++)
		if (!strcmp(seen[i].name, name) && !strcmp(seen[i].version, version))
			return seen[i].since_ms;
	return now;
}

void lease_sight(json_t *obj, unsigned fallback, const struct lease_sighting *seen, size_t nr_seen,
		 long long now, struct lease_item *it, struct lease_sighting *now_seen)
{
	const char *version = lease_field(obj, "metadata", "resourceVersion"), *n;

	memset(it, 0, sizeof(*it));
	it->obj = obj;
	it->name = lease_field(obj, "metadata", "name");
	it->holder = lease_field(obj, "spec", "holderIdentity");
	it->ticket = (n = lease_annotation(obj, "ticket")) ? strtoull(n, NULL, 10) : 0;
	it->duration = duration_of(obj, fallback);
	if (!it->name || !version)
		return;
	snprintf(now_seen->name, sizeof(now_seen->name), "%s", it->name);
	snprintf(now_seen->version, sizeof(now_seen->version), "%s", version);
	now_seen->since_ms = sighted(seen, nr_seen, it->name, version, now);
	it->unchanged_ms = now - now_seen->since_ms;
}

int lease_dead(const struct lease_item *it)
{
	return it->unchanged_ms >= (long long)it->duration * 1000;
}

int lease_by_ticket(const void *a, const void *b)
{
	const struct lease_item *x = a, *y = b;

	return (x->ticket > y->ticket) - (x->ticket < y->ticket);
}

int lease_by_lock_then_ticket(const void *a, const void *b)
{
	const struct lease_listed *x = a, *y = b;
	int c = strcmp(x->hash, y->hash);

	if (c)
		return c;
	if (x->is_lock != y->is_lock)
		return y->is_lock - x->is_lock;
	return (x->ticket > y->ticket) - (x->ticket < y->ticket);
}
