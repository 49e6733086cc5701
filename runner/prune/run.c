/*
 * `berth prune`'s run (docs/prune.md): deletes the tags no policy keeps, never an image the
 * cluster references, at the pace the registry allows. For each repository: list its tags, read
 * each one's digest and creation time, decide, delete by digest. Registry API v2 (prune/v2.c)
 * or the Selectel CRaaS API (prune/craas.c); workers and pacing in prune/pool.c. The command
 * line is cmd/prune.c's.
 */
#include "prune/run.h"
#include "base/log.h"
#include "base/proc.h"
#include "conf/settings.h"
#include "prune/cluster.h"
#include "prune/craas.h"
#include "prune/pool.h"
#include "prune/prune.h"
#include "prune/v2.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What one repository's API does, the same way for both (prune/v2.h, prune/craas.h). */
struct target {
	const char *api; /* "registry-v2", "craas" */
	struct prune_repo *repo;
	void *state;
	enum pool_step (*inspect)(void *, size_t, struct http_client *, unsigned, long long *);
	void (*give_up_inspect)(void *, size_t);
	/* each try of a delete records its result: giving up needs nothing more */
	enum pool_step (*remove)(void *, size_t, struct http_client *, unsigned, long long *);
	size_t **deletes;
	size_t *nr_deletes;
	const char *fatal; /* why the API stopped the run, or "" */
};

struct run {
	const struct settings *s;
	struct prune_options *o;
	struct prune_policy *policy; /* the options', with the cluster and the time filled in */
	struct image_refs cluster;
	struct pool pool;
	struct http_client http;
	json_t *report;
	struct target *t; /* the repository at work */
	const char *phase;
	unsigned long deleted, kept, failed, would, requests;
	size_t done; /* items of the current phase finished */
	long long started_ms;
};

/* --- progress, output, report ------------------------------------------------------------- */

static void progress(void *arg, const struct pacer *p, long long now_ms)
{
	struct run *run = arg;
	size_t total =
		run->t ? (run->phase[0] == 'd' ? *run->t->nr_deletes : run->t->repo->nr_tags) : 0;

	fprintf(stderr,
		"prune: %s %s: %lu deleted, %lu kept, %lu failed, %zu remaining, %.1f req/s\n",
		run->phase, run->t ? run->t->repo->name : "", run->deleted, run->kept, run->failed,
		total > run->done ? total - run->done : 0, pacer_rate(p, now_ms));
}

static void short_digest(const char *digest, char *out, size_t size)
{
	snprintf(out, size, "%.19s", digest[0] ? digest : "(digest unknown)");
}

static void print_decision(const struct prune_repo *r, const struct prune_tag *t)
{
	char digest[32];
	size_t i;

	short_digest(t->digest, digest, sizeof(digest));
	printf("%-6s %s:%s  %s  ", t->decision == PRUNE_KEEP ? "keep" : "delete", r->name, t->tag,
	       digest);
	for (i = 0; i < t->reasons.nr; i++)
		printf("%s%s", i ? "; " : "", t->reasons.v[i]);
	if (!t->reasons.nr && t->created >= 0) {
		char when[32];
		time_t c = (time_t)t->created;

		strftime(when, sizeof(when), "created %Y-%m-%dT%H:%M:%SZ", gmtime(&c));
		fputs(when, stdout);
	}
	putchar('\n');
}

static json_t *tag_json(const struct prune_tag *t)
{
	json_t *reasons = json_array(), *created = json_null();
	char when[32];
	size_t i;

	for (i = 0; i < t->reasons.nr; i++)
		json_array_append_new(reasons, json_string(t->reasons.v[i]));
	if (t->created >= 0) {
		time_t c = (time_t)t->created;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&c));
		created = json_string(when);
	}
	return json_pack("{s:s, s:s?, s:o, s:s, s:o, s:s}", "tag", t->tag, "digest",
			 t->digest[0] ? t->digest : NULL, "created", created, "decision",
			 t->decision == PRUNE_KEEP ? "keep" : "delete", "reasons", reasons,
			 "result", t->result);
}

/* Counts the repository's outcome and adds it to the report. */
static void account(struct run *run, const struct target *t)
{
	json_t *tags = json_array();
	size_t i;

	for (i = 0; i < t->repo->nr_tags; i++) {
		const struct prune_tag *tag = &t->repo->tags[i];

		if (tag->decision == PRUNE_DELETE && !strncmp(tag->result, "failed", 6))
			run->failed++;
		else if (tag->decision == PRUNE_DELETE && !strcmp(tag->result, "would delete"))
			run->would++;
		json_array_append_new(tags, tag_json(tag));
	}
	json_array_append_new(json_object_get(run->report, "repositories"),
			      json_pack("{s:s, s:s, s:o}", "repository", t->repo->name, "api",
					t->api, "tags", tags));
}

static int write_report(struct run *run, double seconds)
{
	json_t *summary =
		json_pack("{s:I, s:I, s:I, s:I, s:f}", "deleted", (json_int_t)run->deleted, "kept",
			  (json_int_t)run->kept, "failed", (json_int_t)run->failed, "requests",
			  (json_int_t)run->requests, "seconds", seconds);

	json_object_set_new(run->report, "summary", summary);
	json_object_set_new(run->report, "dry_run", json_boolean(run->o->dry_run));
	if (!run->o->report)
		return 0;
	if (json_dump_file(run->report, run->o->report, JSON_INDENT(2)) < 0)
		return error_errno("cannot write the report '%s'", run->o->report);
	return 0;
}

/* --- one repository ----------------------------------------------------------------------- */

/* The pool's step for deletes, counting as results come. */
static enum pool_step remove_step(void *arg, size_t i, struct http_client *c, unsigned attempt,
				  long long *retry_after_ms)
{
	struct run *run = arg;
	struct target *t = run->t;
	enum pool_step s = t->remove(t->state, i, c, attempt, retry_after_ms);
	const struct prune_tag *tag = &t->repo->tags[(*t->deletes)[i]];
	size_t k;

	if (s != STEP_DONE)
		return s;
	for (k = 0; k < t->repo->nr_tags; k++)
		if (t->repo->tags[k].decision == PRUNE_DELETE &&
		    !strcmp(t->repo->tags[k].digest, tag->digest) &&
		    (!strcmp(tag->result, "deleted") || !strcmp(tag->result, "already gone")))
			__atomic_add_fetch(&run->deleted, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&run->done, 1, __ATOMIC_RELAXED);
	return s;
}

static enum pool_step inspect_step(void *arg, size_t i, struct http_client *c, unsigned attempt,
				   long long *retry_after_ms)
{
	struct run *run = arg;
	enum pool_step s = run->t->inspect(run->t->state, i, c, attempt, retry_after_ms);

	if (s == STEP_DONE)
		__atomic_add_fetch(&run->done, 1, __ATOMIC_RELAXED);
	return s;
}

static void give_up(void *arg, size_t i)
{
	struct run *run = arg;

	if (run->phase[0] != 'd')
		run->t->give_up_inspect(run->t->state, i);
	__atomic_add_fetch(&run->done, 1, __ATOMIC_RELAXED);
}

static int
phase(struct run *run, const char *name,
      enum pool_step (*step)(void *, size_t, struct http_client *, unsigned, long long *), size_t n)
{
	run->phase = name;
	run->done = 0;
	run->pool.step = step;
	if (pool_run(&run->pool, n) < 0)
		return -1;
	if (*run->t->fatal)
		return error("%s", run->t->fatal);
	if (run->pool.aborted)
		return error("stopped on request");
	return 0;
}

/* Decides, prints and deletes; the repository's tags are read. */
static int settle(struct run *run, struct target *t)
{
	size_t i;
	int ret = 0;

	run->policy->now = (long long)time(NULL);
	prune_decide(t->repo, run->policy);
	for (i = 0; i < t->repo->nr_tags; i++) {
		struct prune_tag *tag = &t->repo->tags[i];

		snprintf(tag->result, sizeof(tag->result), "%s",
			 tag->decision == PRUNE_KEEP ? "kept"
			 : run->o->dry_run	     ? "would delete"
						     : "failed: not tried");
		run->kept += tag->decision == PRUNE_KEEP;
		print_decision(t->repo, tag);
	}
	fflush(stdout);
	free(*t->deletes);
	*t->deletes = NULL;
	if (prune_plan_deletes(t->repo, t->deletes, t->nr_deletes) < 0)
		return -1;
	if (!run->o->dry_run && *t->nr_deletes)
		ret = phase(run, "deleting", remove_step, *t->nr_deletes);
	return ret;
}

static int prune_target(struct run *run, struct target *t)
{
	int ret = 0;

	run->t = t;
	if (t->inspect)
		ret = phase(run, "reading", inspect_step, t->repo->nr_tags);
	if (ret == 0)
		ret = settle(run, t);
	account(run, t);
	run->t = NULL;
	return ret;
}

/* "HOST/PATH": the host must be explicit (a dot, a port, or localhost). */
static int split_repository(const char *name, struct prune_repo *r)
{
	const char *slash = strchr(name, '/');

	if (!slash || slash == name || !slash[1] || strpbrk(name, "@ \t") || strchr(slash, ':'))
		return error("'%s' is no repository: give HOST/PATH, without a tag or digest",
			     name);
	r->name = strdup(name);
	r->host = strndup(name, (size_t)(slash - name));
	r->path = strdup(slash + 1);
	return r->name && r->host && r->path ? 0 : error("out of memory");
}

static enum berth_result prune_v2(struct run *run, struct prune_repo *r)
{
	const char *docker = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	char dir[4096];
	struct v2 v;
	struct target t = {.api = "registry-v2",
			   .repo = r,
			   .state = &v,
			   .inspect = v2_inspect,
			   .give_up_inspect = v2_give_up_inspect,
			   .remove = v2_delete,
			   .deletes = &v.deletes,
			   .nr_deletes = &v.nr_deletes,
			   .fatal = v.fatal};
	enum berth_result res;

	snprintf(dir, sizeof(dir), "%s", docker && *docker ? docker : "");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "%s/.docker", home ? home : "");
	res = v2_open(&v, r, run->s, dir, &run->http);
	v.need_created = run->policy->keep_newest >= 0 || run->policy->keep_younger >= 0;
	if (res == BERTH_OK)
		res = v2_list(&v, &run->http);
	if (res == BERTH_OK && prune_target(run, &t) < 0)
		res = BERTH_SYSTEM_FAILURE;
	run->requests += v.requests;
	v2_close(&v);
	return res;
}

/* One CRaaS repository of the registry `c` opened. */
static enum berth_result prune_craas_repo(struct run *run, struct craas *c, const char *repo)
{
	struct prune_repo r;
	struct target t = {.api = "craas",
			   .repo = &r,
			   .state = c,
			   .remove = craas_delete,
			   .deletes = &c->deletes,
			   .nr_deletes = &c->nr_deletes,
			   .fatal = c->fatal};
	enum berth_result res = BERTH_SYSTEM_FAILURE;

	memset(&r, 0, sizeof(r));
	if (asprintf(&r.name, "%s/%s/%s", c->host, c->registry, repo) < 0)
		r.name = NULL;
	else if (asprintf(&r.path, "%s/%s", c->registry, repo) < 0)
		r.path = NULL;
	r.host = strdup(c->host);
	if (r.name && r.path && r.host)
		res = craas_list(c, &r, &run->http);
	if (res == BERTH_OK && prune_target(run, &t) < 0)
		res = BERTH_SYSTEM_FAILURE;
	prune_repo_release(&r);
	return res;
}

/* HOST/REGISTRY[/REPO] on a CRaaS host: one repository, or every one of the registry. */
static enum berth_result prune_craas(struct run *run, const struct prune_repo *given)
{
	const char *slash = strchr(given->path, '/');
	struct strvec repos = STRVEC_INIT;
	char registry[256];
	struct craas c;
	enum berth_result res;
	size_t i;

	snprintf(registry, sizeof(registry), "%.*s",
		 (int)(slash ? (size_t)(slash - given->path) : strlen(given->path)), given->path);
	res = craas_open(&c, run->s, given->host, registry, &run->http);
	if (res == BERTH_OK)
		res = slash ? (strvec_push(&repos, slash + 1) < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK)
			    : craas_repositories(&c, &run->http, &repos);
	for (i = 0; res == BERTH_OK && i < repos.nr; i++)
		res = prune_craas_repo(run, &c, repos.v[i]);
	if (res == BERTH_OK && run->o->gc && !run->o->dry_run)
		res = craas_collect_garbage(&c, &run->http);
	run->requests += c.requests;
	strvec_clear(&repos);
	craas_close(&c);
	return res;
}

static enum berth_result prune_one(struct run *run, const char *name)
{
	struct prune_repo r;
	enum berth_result res;

	memset(&r, 0, sizeof(r));
	if (split_repository(name, &r) < 0) {
		prune_repo_release(&r);
		return BERTH_BUILD_FAILURE;
	}
	if (settings_is_craas(run->s, r.host))
		res = prune_craas(run, &r);
	else
		res = prune_v2(run, &r);
	prune_repo_release(&r);
	return res;
}

/* --- the run ------------------------------------------------------------------------------ */

static enum berth_result start(struct run *run)
{
	enum berth_result r;

	if (run->o->cluster) {
		r = cluster_images(run->o->cluster, run->s->kube_timeout, &run->cluster);
		if (r != BERTH_OK)
			return r;
		info("the cluster references %zu images in %zu objects: none of them goes",
		     run->cluster.nr, run->cluster.objects);
		run->policy->cluster = &run->cluster;
	}
	pool_init(&run->pool, (unsigned)(run->o->parallel ? run->o->parallel : 1),
		  (double)run->o->max_rps);
	run->pool.ctx = run;
	run->pool.give_up = give_up;
	run->pool.progress = progress;
	run->report = json_pack("{s:[]}", "repositories");
	if (!run->report || http_client_init(&run->http) < 0)
		return BERTH_SYSTEM_FAILURE;
	return proc_catch_stops() < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
}

static void finish(struct run *run)
{
	json_decref(run->report);
	http_client_release(&run->http);
	run->policy->cluster = NULL; /* the images go with the run */
	image_refs_release(&run->cluster);
}

/* The summary line, the report and the tags that could not go; the worst result. */
static enum berth_result conclude(struct run *run, enum berth_result worst)
{
	double seconds = (double)(proc_now_ms() - run->started_ms) / 1000.0;

	printf("prune: %lu %s, %lu kept, %lu failed in %.1f s (%lu requests, %.1f req/s)\n",
	       run->o->dry_run ? run->would : run->deleted,
	       run->o->dry_run ? "would be deleted" : "deleted", run->kept, run->failed, seconds,
	       run->requests, seconds > 0 ? (double)run->requests / seconds : 0.0);
	if (write_report(run, seconds) < 0)
		worst = BERTH_SYSTEM_FAILURE;
	if (run->failed)
		error("%lu tag(s) could not be deleted: run berth prune again to finish "
		      "(a tag already gone counts as done)",
		      run->failed);
	if (run->failed && worst == BERTH_OK)
		worst = BERTH_BUILD_FAILURE;
	return worst;
}

enum berth_result prune_run(const struct settings *s, struct prune_options *o)
{
	struct run run;
	enum berth_result r, worst = BERTH_OK;
	size_t i;

	memset(&run, 0, sizeof(run));
	run.s = s;
	run.o = o;
	run.policy = &o->policy;
	run.started_ms = proc_now_ms();
	r = start(&run);
	for (i = 0; r == BERTH_OK && i < o->repos.nr; i++) {
		enum berth_result one = prune_one(&run, o->repos.v[i]);

		if (one != BERTH_OK && worst != BERTH_SYSTEM_FAILURE)
			worst = one;
	}
	if (r == BERTH_OK)
		r = conclude(&run, worst);
	finish(&run);
	return r;
}
