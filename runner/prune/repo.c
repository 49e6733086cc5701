/* A repository's tags and what becomes of them (docs/prune.md). */
#include "prune/prune.h"

#include "base/array.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct prune_tag *prune_repo_add(struct prune_repo *r, const char *tag)
{
	struct prune_tag *t;

	if (ALLOC_GROW(r->tags, r->nr_tags + 1, r->alloc_tags) < 0)
		return NULL;
	t = &r->tags[r->nr_tags];
	memset(t, 0, sizeof(*t));
	t->created = -1;
	t->tag = strdup(tag);
	if (!t->tag) {
		error("out of memory");
		return NULL;
	}
	r->nr_tags++;
	return t;
}

void prune_repo_release(struct prune_repo *r)
{
	size_t i;

	for (i = 0; i < r->nr_tags; i++) {
		free(r->tags[i].tag);
		free(r->tags[i].config);
		free(r->tags[i].error);
		strvec_clear(&r->tags[i].reasons);
	}
	free(r->tags);
	free(r->name);
	free(r->host);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

int prune_plan_deletes(const struct prune_repo *r, size_t **out, size_t *nr)
{
	size_t i, j, n = 0, *v = malloc((r->nr_tags ? r->nr_tags : 1) * sizeof(*v));

	if (!v)
		return error("out of memory");
	for (i = 0; i < r->nr_tags; i++) {
		if (r->tags[i].decision != PRUNE_DELETE)
			continue;
		for (j = 0; j < n && strcmp(r->tags[v[j]].digest, r->tags[i].digest) != 0; j++)
			;
		if (j == n)
			v[n++] = i;
	}
	*out = v;
	*nr = n;
	return 0;
}

void prune_set_result(struct prune_repo *r, const char *digest, const char *result)
{
	size_t i;

	for (i = 0; i < r->nr_tags; i++)
		if (r->tags[i].decision == PRUNE_DELETE && !strcmp(r->tags[i].digest, digest))
			snprintf(r->tags[i].result, sizeof(r->tags[i].result), "%s", result);
}

long long prune_parse_time(const char *s)
{
	struct tm tm;
	const char *p;
	long long t;
	int sign, hh, mm;

	memset(&tm, 0, sizeof(tm));
	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	t = (long long)timegm(&tm);
	if (*p == 'Z' && !p[1])
		return t;
	/* "+hh:mm" or "-hh:mm" and nothing after */
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':' ||
	    strspn(p + 1, "0123456789") != 2 || strspn(p + 4, "0123456789") != 2)
		return -1;
	hh = (p[1] - '0') * 10 + (p[2] - '0');
	mm = (p[4] - '0') * 10 + (p[5] - '0');
	sign = *p == '+' ? 1 : -1;
	return t - sign * (hh * 3600LL + mm * 60LL);
}
