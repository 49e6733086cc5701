/*
 * `berth prune` (docs/prune.md): what a repository holds, what the policies decide for each
 * tag, and the two APIs that list and delete (the Docker Registry API v2 in prune/v2.c, the
 * Selectel CRaaS management API in prune/craas.c). prune/run.c drives them.
 */
#ifndef PRUNE_H
#define PRUNE_H

#include "base/berth.h"
#include "prune/cluster.h"
#include "base/strvec.h"

#include <stddef.h>

#define PRUNE_RESULT_SIZE 600

enum prune_decision { PRUNE_KEEP, PRUNE_DELETE };

struct prune_tag {
	char *tag;
	char digest[80];   /* "sha256:...", "" until read */
	long long created; /* Unix seconds; -1 when unknown */
	char *config;	   /* v2: the config's digest (or an index's first manifest's) */
	int stage;	   /* v2: what reading it needs next (prune/v2.c) */
	char *error;	   /* why it could not be read, or NULL */
	enum prune_decision decision;
	struct strvec reasons;
	char result[PRUNE_RESULT_SIZE]; /* kept, deleted, already gone, would delete, failed: ... */
};

struct prune_repo {
	char *name; /* as given: "host/path" */
	char *host; /* "registry.example.com:5000" */
	char *path; /* "group/app"; CRaaS: the repository below the registry */
	struct prune_tag *tags;
	size_t nr_tags;
};

struct prune_policy {
	struct strvec keep_tags;	  /* PCRE2 patterns */
	void **compiled;		  /* pcre2_code *, one per pattern */
	long keep_newest;		  /* -1: none */
	long long keep_younger;		  /* seconds; -1: none */
	const struct image_refs *cluster; /* NULL: --no-cluster */
	long long now;
};

/* Compiles the patterns: 0, or -1 after naming the bad pattern and why. */
int prune_policy_compile(struct prune_policy *p);
/* 1 when at least one policy keeps something (no policy would delete every tag). */
int prune_policy_any(const struct prune_policy *p);
void prune_policy_release(struct prune_policy *p);

/*
 * Decides each tag of `r` (its digest and creation time read): kept with every reason, or to
 * delete. A digest a kept tag shares is kept for all its tags.
 */
void prune_decide(struct prune_repo *r, const struct prune_policy *p);

/* A tag of `r`; grows the array. NULL when out of memory (reported). */
struct prune_tag *prune_repo_add(struct prune_repo *r, const char *tag);
void prune_repo_release(struct prune_repo *r);

/*
 * One tag to delete for each digest decided PRUNE_DELETE (a delete is by digest): their
 * indexes in a malloc'd array. 0, or -1 after reporting.
 */
int prune_plan_deletes(const struct prune_repo *r, size_t **out, size_t *nr);
/* Records `result` for every tag to delete with `digest`. */
void prune_set_result(struct prune_repo *r, const char *digest, const char *result);

/* An RFC 3339 time ("2026-10-02T11:00:00.5Z", "...+02:00") as Unix seconds, or -1. */
long long prune_parse_time(const char *s);

#endif
