#include "pipeline/parallel.h"

#include "base/array.h"
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * GitLab's own messages (lib/gitlab/ci/config/entry/product/parallel.rb, matrix.rb,
 * variables.rb and lib/gitlab/config/entry/validators.rb), after berth's "FILE:LINE: ".
 */
static int fail(char *err, size_t size, const struct node *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t size, const struct node *at, const char *fmt, ...)
{
	int n = snprintf(err, size, "%s:%zu: ", at->file, at->line);
	va_list ap;

	if (n < 0 || (size_t)n >= size)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(err + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* One copy: its name and variables, CI_NODE_INDEX/_TOTAL added; takes `vars` either way. */
static int add_copy(struct parallel *out, char *name, struct node *vars, size_t total)
{
	char index[24], count[24];
	struct parallel_copy *c;

	snprintf(index, sizeof(index), "%zu", out->nr + 1);
	snprintf(count, sizeof(count), "%zu", total);
	if (!name || !vars || ALLOC_GROW(out->v, out->nr + 1, out->alloc) < 0 ||
	    node_set(vars, "CI_NODE_INDEX", node_scalar(index, vars->file, vars->line)) < 0 ||
	    node_set(vars, "CI_NODE_TOTAL", node_scalar(count, vars->file, vars->line)) < 0) {
		free(name);
		node_free(vars);
		return -1;
	}
	c = &out->v[out->nr++];
	c->name = name;
	c->variables = vars;
	return 0;
}

/* `parallel: N`: a plain integer from 1 to 200. Ruby reads `1.5` as a number, `"3"` not. */
static int expand_number(struct parallel *out, const char *job, const struct node *value, char *err,
			 size_t err_size)
{
	char *end = NULL;
	long n;
	size_t i;

	if (!value->plain || !*value->str)
		return fail(err, err_size, value, "jobs:%s:parallel should be an integer or a hash",
			    job);
	n = strtol(value->str, &end, 10); /* out of range: clamped, refused below */
	if (*end) {
		strtod(value->str, &end);
		return fail(err, err_size, value,
			    *end ? "jobs:%s:parallel should be an integer or a hash"
				 : "jobs:%s:parallel config must be an integer",
			    job);
	}
	if (n < 1)
		return fail(err, err_size, value,
			    "jobs:%s:parallel config must be greater than or equal to 1", job);
	if (n > PARALLEL_MAX)
		return fail(err, err_size, value,
			    "jobs:%s:parallel config must be less than or equal to %d", job,
			    PARALLEL_MAX);
	for (i = 1; i <= (size_t)n; i++) {
		struct strbuf name = STRBUF_INIT;

		strbuf_addf(&name, "%s %zu/%ld", job, i, n);
		if (add_copy(out, strbuf_detach(&name, NULL),
			     node_new(NODE_MAP, value->file, value->line), (size_t)n) < 0)
			return fail(err, err_size, value, "out of memory");
	}
	return 0;
}

/* A matrix value GitLab takes: a string or an integer, not null, a boolean or a float. */
static int alphanumeric(const struct node *v)
{
	char *end;

	if (v->kind != NODE_SCALAR)
		return 0;
	if (!v->plain)
		return 1;
	if (node_is_null(v) || node_bool(v) >= 0)
		return 0;
	strtod(v->str, &end);
	return *end || strchr(v->str, '.') == NULL; /* not a number, or one without a point */
}

static size_t nr_values(const struct node *v)
{
	return v->kind == NODE_SEQ ? v->n : 1;
}

static const struct node *value_at(const struct node *v, size_t i)
{
	return v->kind == NODE_SEQ ? v->items[i] : v;
}

/* One mapping of the matrix: each value a string or a list of them. */
static int check_entry(const char *job, const struct node *entry, char *err, size_t err_size)
{
	size_t k, i;

	if (entry->n == 0)
		return fail(err, err_size, entry,
			    "jobs:%s:parallel:matrix:variables config requires at least 1 items",
			    job);
	for (k = 0; k < entry->n; k++)
		for (i = 0; i < nr_values(entry->items[k]); i++)
			if (!alphanumeric(value_at(entry->items[k], i)))
				return fail(err, err_size, entry->items[k],
					    "jobs:%s:parallel:matrix:variables config should be "
					    "a hash of key value pairs, value can be an array",
					    job);
	return 0;
}

/* How many jobs an entry makes, counting no further than past the limit. */
static size_t combinations(const struct node *entry)
{
	size_t k, total = 1;

	for (k = 0; k < entry->n && total <= PARALLEL_MAX; k++)
		total *= nr_values(entry->items[k]);
	return total;
}

/* The combination `idx` of `entry` as a copy: "job: [a, b]", values in the keys' order. */
static int add_combination(struct parallel *out, const char *job, const struct node *entry,
			   const size_t *idx, size_t total)
{
	struct strbuf name = STRBUF_INIT;
	struct node *vars = node_new(NODE_MAP, entry->file, entry->line);
	size_t k;

	strbuf_addf(&name, "%s: [", job);
	for (k = 0; vars && k < entry->n; k++) {
		const struct node *v = value_at(entry->items[k], idx[k]);
		struct node *s = node_scalar(v->str, v->file, v->line);

		if (s)
			s->plain = 0; /* GitLab makes every value a string (to_s) */
		strbuf_addf(&name, "%s%s", k ? ", " : "", v->str);
		if (node_set(vars, entry->keys[k], s) < 0) {
			node_free(vars);
			vars = NULL;
		}
	}
	strbuf_addch(&name, ']');
	return add_copy(out, strbuf_detach(&name, NULL), vars, total);
}

/* Every combination of one entry, the first key's values varying slowest (Ruby's product). */
static int expand_entry(struct parallel *out, const char *job, const struct node *entry,
			size_t total)
{
	size_t *idx = calloc(entry->n, sizeof(*idx));
	size_t k;
	int ret = idx ? 0 : -1;

	if (combinations(entry) == 0) {
		free(idx);
		return 0; /* an empty list: no combination */
	}
	while (ret == 0) {
		ret = add_combination(out, job, entry, idx, total);
		for (k = entry->n; k-- > 0;) {
			if (++idx[k] < nr_values(entry->items[k]))
				break;
			idx[k] = 0;
		}
		if (k == (size_t)-1)
			break; /* every key wrapped: done */
	}
	free(idx);
	return ret;
}

static int expand_matrix(struct parallel *out, const char *job, const struct node *value, char *err,
			 size_t err_size)
{
	const struct node *m = node_get(value, "matrix");
	size_t i, total = 0;

	for (i = 0; i < value->n; i++)
		if (strcmp(value->keys[i], "matrix") != 0)
			return fail(err, err_size, value,
				    "jobs:%s:parallel config contains unknown keys: %s", job,
				    value->keys[i]);
	if (!m)
		return fail(err, err_size, value,
			    "jobs:%s:parallel config missing required keys: matrix", job);
	for (i = 0; m->kind == NODE_SEQ && i < m->n; i++)
		if (m->items[i]->kind != NODE_MAP)
			break;
	if (m->kind != NODE_SEQ || i < m->n)
		return fail(err, err_size, m,
			    "jobs:%s:parallel:matrix config should be an array of hashes", job);
	for (i = 0; i < m->n && total <= PARALLEL_MAX; i++) {
		if (check_entry(job, m->items[i], err, err_size) < 0)
			return -1;
		total += combinations(m->items[i]);
	}
	if (total > PARALLEL_MAX)
		return fail(
			err, err_size, m,
			"jobs:%s:parallel:matrix config generates too many jobs (maximum is %d)",
			job, PARALLEL_MAX);
	for (i = 0; i < m->n; i++)
		if (expand_entry(out, job, m->items[i], total) < 0)
			return fail(err, err_size, m->items[i], "out of memory");
	return 0;
}

int parallel_expand(struct parallel *out, const char *job, const struct node *value, char *err,
		    size_t err_size)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (!value || node_is_null(value))
		return 0;
	if (value->kind == NODE_MAP)
		ret = expand_matrix(out, job, value, err, err_size);
	else if (value->kind == NODE_SCALAR)
		ret = expand_number(out, job, value, err, err_size);
	else
		ret = fail(err, err_size, value, "jobs:%s:parallel should be an integer or a hash",
			   job);
	if (ret < 0)
		parallel_release(out);
	return ret;
}

void parallel_release(struct parallel *p)
{
	size_t i;

	for (i = 0; i < p->nr; i++) {
		free(p->v[i].name);
		node_free(p->v[i].variables);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}
