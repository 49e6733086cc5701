/* What `berth prune` keeps and why (docs/prune.md, "Policies"): pure decisions, no I/O. */
#include "prune/prune.h"

#include "base/log.h"
#include "base/pcre2_lazy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int prune_policy_compile(struct prune_policy *p)
{
	char why[256];
	size_t i;

	if (!p->keep_tags.nr)
		return 0;
	if (pcre2_lazy_load(why, sizeof(why)) < 0)
		return error("--keep-tag needs PCRE2: %s", why);
	p->compiled = calloc(p->keep_tags.nr, sizeof(*p->compiled));
	if (!p->compiled)
		return error("out of memory");
	for (i = 0; i < p->keep_tags.nr; i++) {
		int code;
		PCRE2_SIZE at;
		unsigned char msg[160];

		p->compiled[i] = pcre2_compile((PCRE2_SPTR)p->keep_tags.v[i], PCRE2_ZERO_TERMINATED,
					       PCRE2_UTF, &code, &at, NULL);
		if (!p->compiled[i]) {
			pcre2_get_error_message(code, msg, sizeof(msg));
			return error("keep-tag pattern '%s' at offset %zu: %s", p->keep_tags.v[i],
				     (size_t)at, msg);
		}
	}
	return 0;
}

int prune_policy_any(const struct prune_policy *p)
{
	return p->keep_tags.nr || p->keep_newest >= 0 || p->keep_younger >= 0;
}

void prune_policy_release(struct prune_policy *p)
{
	size_t i;

	for (i = 0; p->compiled && i < p->keep_tags.nr; i++)
		if (p->compiled[i])
			pcre2_code_free(p->compiled[i]);
	free(p->compiled);
	strvec_clear(&p->keep_tags);
	memset(p, 0, sizeof(*p));
}

static int matches(void *code, const char *tag)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int rc;

	if (!md)
		return 0;
	rc = pcre2_match(code, (PCRE2_SPTR)tag, strlen(tag), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* Keeps `t` for `reason`; printf-style. */
__attribute__((format(printf, 2, 3))) static void keep(struct prune_tag *t, const char *fmt, ...)
{
	char reason[PRUNE_RESULT_SIZE];
	va_list ap;

	size_t i;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	t->decision = PRUNE_KEEP;
	for (i = 0; i < t->reasons.nr; i++)
		if (!strcmp(t->reasons.v[i], reason))
			return; /* two policies, one reason */
	strvec_push(&t->reasons, reason);
}

/* 90 s as "90s", 172800 as "2d": the largest unit that divides it. */
static void format_age(long long s, char *buf, size_t size)
{
	const long long week = 7LL * 86400;

	if (s && s % week == 0)
		snprintf(buf, size, "%lldw", s / week);
	else if (s && s % 86400 == 0)
		snprintf(buf, size, "%lldd", s / 86400);
	else if (s && s % 3600 == 0)
		snprintf(buf, size, "%lldh", s / 3600);
	else if (s && s % 60 == 0)
		snprintf(buf, size, "%lldm", s / 60);
	else
		snprintf(buf, size, "%llds", s);
}

static void by_pattern(struct prune_tag *t, const struct prune_policy *p)
{
	size_t i;

	for (i = 0; i < p->keep_tags.nr; i++)
		if (matches(p->compiled[i], t->tag))
			keep(t, "matches %s", p->keep_tags.v[i]);
}

static void by_age(struct prune_tag *t, const struct prune_policy *p)
{
	char age[32];

	if (p->keep_younger < 0)
		return;
	format_age(p->keep_younger, age, sizeof(age));
	if (t->created < 0)
		keep(t, "creation time unknown");
	else if (p->now - t->created < p->keep_younger)
		keep(t, "younger than %s", age);
}

static void by_cluster(struct prune_tag *t, const struct prune_repo *r,
		       const struct prune_policy *p)
{
	const struct image_ref *ref;

	if (!p->cluster)
		return;
	ref = image_refs_find(p->cluster, r->host, r->path, t->tag, NULL);
	if (ref)
		keep(t, "in the cluster: %s", ref->where);
	ref = t->digest[0] ? image_refs_find(p->cluster, r->host, r->path, NULL, t->digest) : NULL;
	if (ref)
		keep(t, "its digest is in the cluster: %s", ref->where);
}

/* Newest first; ties by name, for a stable order. */
static int newer_first(const void *a, const void *b)
{
	const struct prune_tag *x = *(struct prune_tag *const *)a,
			       *y = *(struct prune_tag *const *)b;

	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(x->tag, y->tag);
}

/*
 * The N newest tags whose time is known. A tag of unknown age cannot be ranked: it is kept
 * for that, and takes no place from a tag that can be.
 */
static void by_newest(struct prune_repo *r, const struct prune_policy *p)
{
	struct prune_tag **order;
	size_t i, n = 0;

	if (p->keep_newest < 0 || !r->nr_tags)
		return;
	order = calloc(r->nr_tags, sizeof(struct prune_tag *));
	for (i = 0; i < r->nr_tags; i++) {
		if (r->tags[i].created < 0 || !order)
			keep(&r->tags[i],
			     order ? "creation time unknown" : "out of memory to rank");
		else
			order[n++] = &r->tags[i];
	}
	if (!order)
		return;
	qsort((void *)order, n, sizeof(struct prune_tag *), newer_first);
	for (i = 0; i < n && i < (size_t)p->keep_newest; i++)
		keep(order[i], "newest %ld", p->keep_newest);
	free(order);
}

/* A delete removes the digest with every tag on it: a kept tag keeps its digest's others. */
static void by_shared_digest(struct prune_repo *r)
{
	size_t i, j;

	for (i = 0; i < r->nr_tags; i++) {
		struct prune_tag *t = &r->tags[i];

		for (j = 0; t->decision == PRUNE_DELETE && j < r->nr_tags; j++)
			if (r->tags[j].decision == PRUNE_KEEP &&
			    !strcmp(r->tags[j].digest, t->digest))
				keep(t, "shares its digest with kept tag %s", r->tags[j].tag);
	}
}

void prune_decide(struct prune_repo *r, const struct prune_policy *p)
{
	size_t i;

	for (i = 0; i < r->nr_tags; i++) {
		struct prune_tag *t = &r->tags[i];

		strvec_clear(&t->reasons);
		t->decision = PRUNE_DELETE;
		/* A tag whose digest could not be read cannot be deleted by digest. */
		if (!t->digest[0])
			keep(t, "digest unknown: %s", t->error ? t->error : "not read");
		by_pattern(t, p);
		by_age(t, p);
		by_cluster(t, r, p);
	}
	by_newest(r, p);
	by_shared_digest(r);
}
