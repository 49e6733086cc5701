/*
 * `berth status [--json] [--remote]` (docs/operations.md): what runs on this runner now, read
 * from the state dir (job/census.h) and the lock store; never the network, unless --remote asks
 * the kubernetes backend's API. The status is built once, as JSON; the text shows that JSON.
 */
#include "cmd/commands.h"
#include "job/census.h"
#include "lock/lock.h"
#include "base/fs.h"
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct status {
	const struct settings *s;
	char host[256];
	json_t *root;
	int failed; /* something could not be read (and was reported) */
};

/*
 * 1 when this user may read <state_dir>/`name` (or it is not there: the reader says so). Root
 * reads everything; anyone else is told which part is root's, in the status's "unreadable".
 */
static int readable(struct status *st, const char *what, const char *name)
{
	char path[PATH_MAX];

	if (path_join(path, sizeof(path), "%s/%s", st->s->state_dir, name) < 0) {
		st->failed = 1;
		return 0;
	}
	if (geteuid() == 0 || access(path, R_OK | X_OK) == 0 || errno == ENOENT)
		return 1;
	json_array_append_new(json_object_get(st->root, "unreadable"),
			      json_pack("{s:s, s:s, s:s}", "what", what, "path", path, "why",
					errno == EACCES
						? "only root may read it: run berth status as root"
						: strerror(errno)));
	st->failed = 1;
	return 0;
}

/* A recorded value, or null where none was recorded ("-", ""). */
static json_t *recorded(const char *v)
{
	return *v && strcmp(v, "-") != 0 ? json_string(v) : json_null();
}

/* The lock its stage record names: the kubernetes backend's only local record of it. */
static json_t *recorded_locks(const struct census_job *j, int use)
{
	const struct stage_record *r = &j->stage;

	if (!use || !j->running || !r->lock[0])
		return json_array();
	return json_pack("[{s:s, s:s, s:I}]", "key", r->lock, "state",
			 r->holding ? "holding" : "waiting", "since",
			 (json_int_t)(r->holding ? r->taken : r->queued));
}

static json_t *job_json(const struct census_job *j, int with_recorded_locks)
{
	json_t *stage = j->running ? json_pack("{s:s, s:I, s:i}", "name", j->stage.stage, "since",
					       (json_int_t)j->stage.since, "pid", (int)j->stage.pid)
				   : json_null();
	json_t *o = json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "id", j->id, "workspace",
		j->dir, "project", recorded(j->project), "project_id", recorded(j->project_id),
		"user", recorded(j->user), "prepared", (json_int_t)j->prepared, "idle_seconds",
		(json_int_t)j->idle, "stage", stage, "processes",
		j->processes >= 0 ? json_integer(j->processes) : json_null(), "cgroup",
		recorded(j->cgroup), "locks", recorded_locks(j, with_recorded_locks));

	if (!o)
		error("cannot show job %s: what its workspace records is not valid UTF-8", j->id);
	return o;
}

/* "jobs" (running), "stale_workspaces" and "job_users", from the workspaces; null unread. */
static void add_jobs(struct status *st, int with_recorded_locks)
{
	json_t *running, *stale, *in_use, *free_users;
	struct census_job *jobs = NULL;
	size_t nr = 0, i, u;

	if (!readable(st, "jobs", "jobs") || census_jobs(st->s, &jobs, &nr) < 0) {
		st->failed = 1;
		json_object_set_new(st->root, "jobs", json_null());
		json_object_set_new(st->root, "stale_workspaces", json_null());
		json_object_set_new(st->root, "job_users",
				    json_pack("{s:i, s:n, s:n}", "configured",
					      (int)st->s->job_users.nr, "in_use", "free"));
		return;
	}
	running = json_array();
	stale = json_array();
	in_use = json_array();
	free_users = json_array();
	for (i = 0; i < nr; i++) {
		json_t *o = job_json(&jobs[i], with_recorded_locks);

		st->failed |= !o;
		json_array_append_new(jobs[i].stale ? stale : running, o);
		if (jobs[i].user[0])
			json_array_append_new(in_use, json_string(jobs[i].user));
	}
	/* A user is taken while any workspace records it, a stale one too (as prepare sees it). */
	for (u = 0; u < st->s->job_users.nr; u++) {
		int taken = 0;

		for (i = 0; i < nr; i++)
			taken |= !strcmp(jobs[i].user, st->s->job_users.v[u]);
		if (!taken)
			json_array_append_new(free_users, json_string(st->s->job_users.v[u]));
	}
	json_object_set_new(st->root, "jobs", running);
	json_object_set_new(st->root, "stale_workspaces", stale);
	json_object_set_new(st->root, "job_users",
			    json_pack("{s:i, s:o, s:o}", "configured", (int)st->s->job_users.nr,
				      "in_use", in_use, "free", free_users));
	free(jobs);
}

static int add_lock(const struct lock_entry *e, void *data)
{
	json_t *entry = lock_entry_json(e);

	return entry ? json_array_append_new(data, entry) : -1;
}

static int same(json_t *a, json_t *b)
{
	return json_is_string(a) && json_is_string(b) &&
	       !strcmp(json_string_value(a), json_string_value(b));
}

/* `owner` (of a listed lock) is `job`, the job of this host's workspace. */
static int owned_by(json_t *owner, json_t *job, json_t *host)
{
	return json_is_object(owner) &&
	       same(json_object_get(owner, "job"), json_object_get(job, "id")) &&
	       same(json_object_get(owner, "host"), host);
}

/* Each job's places in the listed `locks`, into its "locks". */
static void add_job_locks(json_t *jobs, json_t *locks, json_t *host)
{
	json_t *job, *entry, *w;
	size_t i, j, k;

	json_array_foreach(jobs, i, job)
	{
		json_t *mine = json_object_get(job, "locks");

		json_array_foreach(locks, j, entry)
		{
			json_t *holder = json_object_get(entry, "holder");

			if (owned_by(holder, job, host))
				json_array_append_new(mine,
						      json_pack("{s:O, s:s, s:O}", "key",
								json_object_get(entry, "key"),
								"state", "holding", "since",
								json_object_get(holder, "since")));
			json_array_foreach(json_object_get(entry, "waiters"), k, w)
			{
				if (owned_by(w, job, host))
					json_array_append_new(
						mine, json_pack("{s:O, s:s, s:O}", "key",
								json_object_get(entry, "key"),
								"state", "waiting", "since",
								json_object_get(w, "queued")));
			}
		}
	}
}

/* The entry of `key` in `locks`, added (no holder, no waiters) when missing. */
static json_t *entry_of(json_t *locks, json_t *key)
{
	json_t *e;
	size_t i;

	json_array_foreach(locks, i, e)
	{
		if (same(json_object_get(e, "key"), key))
			return e;
	}
	e = json_pack("{s:O, s:n, s:[]}", "key", key, "holder", "waiters");
	json_array_append_new(locks, e);
	return e;
}

/* The locks as this runner's stage records tell them (the kubernetes backend, no --remote). */
static json_t *locks_from_records(json_t *jobs, json_t *host)
{
	json_t *locks = json_array(), *job, *l;
	size_t i, j;

	json_array_foreach(jobs, i, job)
	{
		json_array_foreach(json_object_get(job, "locks"), j, l)
		{
			json_t *e = entry_of(locks, json_object_get(l, "key"));
			int holding =
				!strcmp(json_string_value(json_object_get(l, "state")), "holding");
			json_t *owner = json_pack(
				"{s:O, s:O, s:O, s:O, s:O, s:I}", "job", json_object_get(job, "id"),
				"project", json_object_get(job, "project"), "host", host, "pid",
				json_object_get(json_object_get(job, "stage"), "pid"),
				holding ? "since" : "queued", json_object_get(l, "since"),
				holding ? "queued" : "since", (json_int_t)0);

			if (holding)
				json_object_set_new(e, "holder", owner);
			else
				json_array_append_new(json_object_get(e, "waiters"), owner);
		}
	}
	return locks;
}

/*
 * "locks" and "locks_from": the file store (this host's locks), the kubernetes backend's API
 * (--remote), else this runner's stage records; and each job's own, in its "locks".
 */
static void add_locks(struct status *st, int from_api)
{
	const struct lock_backend *b = lock_store_for(st->s);
	json_t *jobs = json_object_get(st->root, "jobs"), *host = json_string(st->host);
	json_t *locks = json_array();

	if (b != &lock_file && !from_api) {
		json_decref(locks);
		locks = locks_from_records(jobs, host);
	} else if (b == &lock_file && !readable(st, "locks", "locks")) {
		json_decref(locks);
		locks = json_null();
	} else if (b->list(st->s, add_lock, locks) < 0) {
		st->failed = 1;
	} else {
		add_job_locks(jobs, locks, host);
	}
	json_object_set_new(st->root, "locks", locks);
	json_object_set_new(st->root, "locks_from",
			    json_string(b == &lock_file ? "store"
					: from_api	? "api"
							: "stage records"));
	json_decref(host);
}

/* Unix time `t` for people: "2026-12-07T17:20:03Z"; "-" when unknown. */
static const char *stamp(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (tt <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return "-";
	return buf;
}

/* The same with its age: "2026-12-07T17:20:03Z (4 min ago)". */
static const char *when(long long t, long long now, char *buf, size_t size)
{
	long long age = now - t;
	size_t n;

	if (!strcmp(stamp(t, buf, size), "-"))
		return "-";
	n = strlen(buf);
	if (age < 60)
		snprintf(buf + n, size - n, " (%lld s ago)", age < 0 ? 0 : age);
	else if (age < 3600)
		snprintf(buf + n, size - n, " (%lld min ago)", age / 60);
	else if (age < 86400)
		snprintf(buf + n, size - n, " (%lld h %02lld min ago)", age / 3600,
			 age % 3600 / 60);
	else
		snprintf(buf + n, size - n, " (%lld d %02lld h ago)", age / 86400,
			 age % 86400 / 3600);
	return buf;
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *text(json_t *o, const char *key, const char *none)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : none;
}

static void print_job(json_t *job, long long now)
{
	json_t *stage = json_object_get(job, "stage"), *procs = json_object_get(job, "processes");
	json_t *l;
	char t[96];
	size_t i;

	printf("  job %s  project %s (id %s)  user %s  prepared %s\n", text(job, "id", "-"),
	       text(job, "project", "-"), text(job, "project_id", "-"),
	       text(job, "user", "(berth's own)"), when(num(job, "prepared"), now, t, sizeof(t)));
	if (json_is_object(stage))
		printf("    stage %s since %s, berth pid %lld\n", text(stage, "name", "-"),
		       when(num(stage, "since"), now, t, sizeof(t)), num(stage, "pid"));
	else
		printf("    no stage running; the last started %s\n",
		       when(now - num(job, "idle_seconds"), now, t, sizeof(t)));
	if (json_is_integer(procs))
		printf("    %lld process(es)%s%s\n", json_integer_value(procs),
		       json_is_string(json_object_get(job, "cgroup")) ? " in cgroup "
								      : " (no cgroup)",
		       text(job, "cgroup", ""));
	else
		printf("    processes: unknown (cannot read them)\n");
	json_array_foreach(json_object_get(job, "locks"), i, l)
	{
		printf("    %s lock %s since %s\n",
		       !strcmp(text(l, "state", ""), "holding") ? "holding" : "waiting for",
		       text(l, "key", "-"), when(num(l, "since"), now, t, sizeof(t)));
	}
}

static void print_owner(const char *role, json_t *o, long long now)
{
	char t[96];
	int holding = !strcmp(role, "holding");

	printf("    %-8s job %s (project %s) on %s, pid %lld, %s %s\n", role, text(o, "job", "-"),
	       text(o, "project", "-"), text(o, "host", "-"), num(o, "pid"),
	       holding ? "since" : "queued at",
	       when(num(o, holding ? "since" : "queued"), now, t, sizeof(t)));
}

static void print_locks(json_t *root, long long now)
{
	json_t *locks = json_object_get(root, "locks"), *e, *w;
	const char *from = text(root, "locks_from", "");
	size_t i, j;

	if (!json_is_array(locks)) {
		printf("locks: unknown (see below)\n");
		return;
	}
	if (!json_array_size(locks)) {
		printf("locks: none held or waited for%s\n",
		       !strcmp(from, "stage records") ? " by this runner's stages" : "");
		return;
	}
	printf("locks%s:\n", !strcmp(from, "stage records")
				     ? " (this runner's stages; --remote asks the cluster)"
				     : "");
	json_array_foreach(locks, i, e)
	{
		printf("  %s\n", text(e, "key", "-"));
		if (json_is_object(json_object_get(e, "holder")))
			print_owner("holding", json_object_get(e, "holder"), now);
		json_array_foreach(json_object_get(e, "waiters"), j, w)
		{
			print_owner("waiting", w, now);
		}
	}
}

/* "WHAT: N`more`", "WHAT: `none`", or unknown when `list` could not be read. */
static void print_heading(const char *what, json_t *list, const char *none, const char *more)
{
	if (!json_is_array(list))
		printf("%s: unknown (see below)\n", what);
	else if (!json_array_size(list))
		printf("%s: %s\n", what, none);
	else
		printf("%s: %zu%s\n", what, json_array_size(list), more);
}

static void print_text(json_t *root)
{
	long long now = num(root, "time");
	json_t *jobs = json_object_get(root, "jobs"),
	       *stale = json_object_get(root, "stale_workspaces");
	json_t *users = json_object_get(root, "job_users"), *o, *u;
	char t[96];
	size_t i;

	printf("berth status of %s at %s, state dir %s\n", text(root, "host", "-"),
	       stamp(now, t, sizeof(t)), text(root, "state_dir", "-"));
	print_heading("jobs", jobs, "none running", "");
	json_array_foreach(jobs, i, o)
	{
		print_job(o, now);
	}
	if (!num(users, "configured")) {
		printf("job users: none configured (scripts run as berth's own user)\n");
	} else if (!json_is_array(json_object_get(users, "free"))) {
		printf("job users: %lld, which are free is unknown (see below)\n",
		       num(users, "configured"));
	} else {
		printf("job users: %zu of %lld free",
		       json_array_size(json_object_get(users, "free")), num(users, "configured"));
		json_array_foreach(json_object_get(users, "free"), i, u)
		{
			printf("%s%s", i ? ", " : ": ", json_string_value(u));
		}
		putchar('\n');
	}
	print_heading("stale workspaces", stale, "none", " (berth gc removes them)");
	json_array_foreach(stale, i, o)
	{
		printf("  job %s  project %s  no stage since %s  %s\n", text(o, "id", "-"),
		       text(o, "project", "-"),
		       when(now - num(o, "idle_seconds"), now, t, sizeof(t)),
		       text(o, "workspace", "-"));
	}
	print_locks(root, now);
	json_array_foreach(json_object_get(root, "unreadable"), i, o)
	{
		printf("cannot read the %s in %s: %s\n", text(o, "what", "-"), text(o, "path", "-"),
		       text(o, "why", "-"));
	}
}

enum berth_result cmd_status(const struct args *a, const char *settings_file, int *exit_status)
{
	int as_json = args_flag(a, "--json"), remote = args_flag(a, "--remote");
	struct settings s;
	struct status st;

	(void)exit_status;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	memset(&st, 0, sizeof(st));
	st.s = &s;
	if (gethostname(st.host, sizeof(st.host)) < 0)
		snprintf(st.host, sizeof(st.host), "-");
	st.host[sizeof(st.host) - 1] = '\0';
	st.root = json_pack("{s:s, s:I, s:s, s:s, s:[]}", "host", st.host, "time",
			    (json_int_t)time(NULL), "state_dir", s.state_dir, "lock_backend",
			    s.lock_backend, "unreadable");
	add_jobs(&st, lock_store_for(&s) != &lock_file && !remote);
	add_locks(&st, remote);
	if (as_json) {
		json_dumpf(st.root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		print_text(st.root);
	}
	json_decref(st.root);
	settings_release(&s);
	return st.failed ? BERTH_SYSTEM_FAILURE : BERTH_OK;
}
