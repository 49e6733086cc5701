#include "pipeline/civars.h"

#include "base/array.h"
#include "pipeline/expand.h"
#include "pipeline/slug.h"

#include <stdlib.h>
#include <string.h>

int civars_set(struct civars *c, const char *name, const char *value, int masked)
{
	char *n, *v;
	size_t i;

	for (i = 0; i < c->nr; i++)
		if (!strcmp(c->v[i].name, name)) {
			if (!(v = strdup(value)))
				return -1;
			free(c->v[i].value);
			free(c->v[i].written);
			c->v[i].value = v;
			c->v[i].written = NULL;
			c->v[i].masked = masked;
			c->v[i].raw = 0;
			return 0;
		}
	if (ALLOC_GROW(c->v, c->nr + 1, c->alloc) < 0)
		return -1;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -1;
	}
	c->v[c->nr++] = (struct civar){n, v, masked, 0, NULL};
	return 0;
}

const char *civars_get(const struct civars *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nr; i++)
		if (!strcmp(c->v[i].name, name))
			return c->v[i].value;
	return NULL;
}

const char *civars_lookup(const char *name, void *data)
{
	return civars_get(data, name);
}

static struct civar *find(struct civars *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nr; i++)
		if (!strcmp(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

const char *civars_lookup_written(const char *name, void *data)
{
	const struct civar *v = find(data, name);

	return !v ? NULL : v->written ? v->written : v->value;
}

void civars_release(struct civars *c)
{
	size_t i;

	for (i = 0; i < c->nr; i++) {
		free(c->v[i].name);
		free(c->v[i].value);
		free(c->v[i].written);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int copy_all(struct civars *out, const struct civars *in)
{
	size_t i;

	for (i = 0; i < in->nr; i++)
		if (civars_set(out, in->v[i].name, in->v[i].value, in->v[i].masked) < 0)
			return -1;
	return 0;
}

/* ---- dotenv -------------------------------------------------------------------------- */

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int valid_name(const char *s, size_t n)
{
	size_t i;

	if (!n || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

static int dotenv_line(struct civars *out, char *line, const char *path, size_t nr, char *err,
		       size_t err_size)
{
	char *eq, *value;
	size_t len;

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	if (!strncmp(line, "export ", 7))
		line = trim(line + 7);
	eq = strchr(line, '=');
	if (!eq || !valid_name(line, (size_t)(eq - line))) {
		snprintf(err, err_size, "%s:%zu: expected NAME=value", path, nr);
		return -1;
	}
	*eq = '\0';
	value = trim(eq + 1);
	len = strlen(value);
	if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
		value[len - 1] = '\0';
		value++;
	}
	if (civars_set(out, trim(line), value, 1) < 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

int civars_read_dotenv(struct civars *out, const char *path, char *err, size_t err_size)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, nr = 0;
	int ret = 0;

	if (!f) {
		snprintf(err, err_size, "cannot read --vars-file '%s': %m", path);
		return -1;
	}
	while (ret == 0 && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		ret = dotenv_line(out, line, path, ++nr, err, err_size);
	}
	/* Lines may be secrets: gone before the memory is reused. */
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	return ret;
}

/* ---- building a job's set ------------------------------------------------------------ */

static int set_checked(struct civars *out, const char *name, const char *value, int masked,
		       char *err, size_t err_size)
{
	if (civars_set(out, name, value ? value : "", masked) < 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

static int predefined(struct civars *out, const struct pipeline *p, const struct repo_facts *r,
		      const char *source, char *err, size_t err_size)
{
	char slug[64];
	const char *fixed[][2] = {{"CI", "true"},
				  {"GITLAB_CI", "true"},
				  {"CI_SERVER", "yes"},
				  {"CI_COMMIT_SHA", r->sha},
				  {"CI_COMMIT_SHORT_SHA", r->short_sha},
				  {"CI_COMMIT_BEFORE_SHA", r->before_sha},
				  {"CI_COMMIT_REF_NAME", r->ref_name},
				  {"CI_COMMIT_MESSAGE", r->message},
				  {"CI_COMMIT_TITLE", r->title},
				  {"CI_COMMIT_TIMESTAMP", r->timestamp},
				  {"CI_COMMIT_AUTHOR", r->author},
				  {"CI_DEFAULT_BRANCH", r->default_branch},
				  {"CI_PROJECT_DIR", p->dir},
				  {"CI_PIPELINE_SOURCE", source}};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (set_checked(out, fixed[i][0], fixed[i][1], 0, err, err_size) < 0)
			return -1;
	slug_ref(r->ref_name, slug, sizeof(slug));
	if (set_checked(out, "CI_COMMIT_REF_SLUG", slug, 0, err, err_size) < 0)
		return -1;
	/* A merge request pipeline has neither; a tag pipeline has no branch. */
	if (strcmp(source, "merge_request_event") != 0 &&
	    set_checked(out, r->is_tag ? "CI_COMMIT_TAG" : "CI_COMMIT_BRANCH", r->ref_name, 0, err,
			err_size) < 0)
		return -1;
	if (!r->project_path)
		return 0;
	slug_ref(r->project_path, slug, sizeof(slug));
	return set_checked(out, "CI_PROJECT_PATH", r->project_path, 0, err, err_size) < 0 ||
			       set_checked(out, "CI_PROJECT_NAMESPACE", r->project_namespace, 0,
					   err, err_size) < 0 ||
			       set_checked(out, "CI_PROJECT_NAME", r->project_name, 0, err,
					   err_size) < 0 ||
			       set_checked(out, "CI_PROJECT_PATH_SLUG", slug, 0, err, err_size) < 0
		       ? -1
		       : 0;
}

/* `NAME: value` or `NAME: {value: ..., expand: false, description: ...}`. */
static int yaml_variable(struct civars *out, const char *name, const struct node *v, char *err,
			 size_t err_size)
{
	const struct node *value = v, *expand = NULL;

	if (v->kind == NODE_MAP) {
		value = node_get(v, "value");
		expand = node_get(v, "expand");
	}
	if (value && value->kind != NODE_SCALAR) {
		snprintf(err, err_size, "%s:%zu: variable '%s' must be a string", v->file, v->line,
			 name);
		return -1;
	}
	if (set_checked(out, name, value && !node_is_null(value) ? value->str : "", 0, err,
			err_size) < 0)
		return -1;
	find(out, name)->raw = expand && node_bool(expand) == 0;
	return 0;
}

int civars_inherits(const struct ci_job *j, const char *name)
{
	const struct node *inh = j ? node_get(node_get(j->def, "inherit"), "variables") : NULL;
	size_t k;

	if (!inh || node_bool(inh) == 1)
		return 1;
	for (k = 0; inh->kind == NODE_SEQ && k < inh->n; k++)
		if (inh->items[k]->kind == NODE_SCALAR && !strcmp(inh->items[k]->str, name))
			return 1;
	return 0;
}

/* A `variables:` mapping (only the names `inherit:variables` lets through, when J is given). */
static int yaml_variables(struct civars *out, const struct node *map, const struct ci_job *j,
			  char *err, size_t err_size)
{
	size_t i;

	for (i = 0; map && i < map->n; i++)
		if (civars_inherits(j, map->keys[i]) &&
		    yaml_variable(out, map->keys[i], map->items[i], err, err_size) < 0)
			return -1;
	return 0;
}

/*
 * `$VAR` references in the values the mapping defines, expanded against the set, in order. The
 * developer's variables are in the set already (they win over the file's), and are put back
 * after: their own values are never expanded.
 */
static int expand_values(struct civars *out, const struct node *map, char *err, size_t err_size)
{
	size_t i;

	for (i = 0; map && i < map->n; i++) {
		struct civar *v = find(out, map->keys[i]);
		char *expanded;

		/* written: expanded already, by an earlier mapping that set the same name */
		if (!v || v->raw || v->written || !expand_has_refs(v->value))
			continue;
		expanded = expand_vars(v->value, civars_lookup, out);
		if (!expanded) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		/* Kept: a regex stored in a variable is used as written (civars_lookup_written). */
		free(v->written);
		v->written = v->value;
		v->value = expanded;
	}
	return 0;
}

int civars_pipeline(struct civars *out, const struct pipeline *p, const struct repo_facts *r,
		    const struct civars_input *in, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (predefined(out, p, r, in->source, err, err_size) < 0 ||
	    yaml_variables(out, p->variables, NULL, err, err_size) < 0 ||
	    copy_all(out, &in->developer) < 0 ||
	    expand_values(out, p->variables, err, err_size) < 0 ||
	    copy_all(out, &in->developer) < 0) {
		civars_release(out);
		if (!err[0]) /* copy_all does not say why: it only runs out of memory */
			snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

/* CI_ENVIRONMENT_NAME, _SLUG and _ACTION from `environment:`, expanded with the job's set. */
static int environment(struct civars *out, const struct ci_job *j, char *err, size_t err_size)
{
	const struct node *env = node_get(j->def, "environment");
	const struct node *name = env && env->kind == NODE_MAP ? node_get(env, "name") : env;
	const struct node *action = env && env->kind == NODE_MAP ? node_get(env, "action") : NULL;
	char slug[32], *expanded;
	int ret;

	if (!name)
		return 0;
	if (name->kind != NODE_SCALAR) {
		snprintf(err, err_size, "%s:%zu: environment name must be a string", name->file,
			 name->line);
		return -1;
	}
	expanded = expand_vars(name->str, civars_lookup, out);
	if (!expanded) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	slug_environment(expanded, slug, sizeof(slug));
	ret = set_checked(out, "CI_ENVIRONMENT_NAME", expanded, 0, err, err_size) < 0 ||
			      set_checked(out, "CI_ENVIRONMENT_SLUG", slug, 0, err, err_size) < 0 ||
			      set_checked(out, "CI_ENVIRONMENT_ACTION",
					  action && action->kind == NODE_SCALAR ? action->str
										: "start",
					  0, err, err_size) < 0
		      ? -1
		      : 0;
	free(expanded);
	return ret;
}

int civars_job(struct civars *out, const struct pipeline *p, const struct ci_job *j,
	       const struct repo_facts *r, const struct civars_input *in, char *err,
	       size_t err_size)
{
	const struct node *own = node_get(j->def, "variables");

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (own && own->kind != NODE_MAP) {
		snprintf(err, err_size, "%s:%zu: job '%s': variables is a mapping", own->file,
			 own->line, j->name);
		return -1;
	}
	if (predefined(out, p, r, in->source, err, err_size) < 0 ||
	    set_checked(out, "CI_JOB_NAME", j->name, 0, err, err_size) < 0 ||
	    set_checked(out, "CI_JOB_STAGE", j->stage, 0, err, err_size) < 0 ||
	    yaml_variables(out, p->variables, j, err, err_size) < 0 ||
	    yaml_variables(out, in->workflow, j, err, err_size) < 0 ||
	    yaml_variables(out, own, NULL, err, err_size) < 0 ||
	    copy_all(out, &in->developer) < 0 ||
	    expand_values(out, p->variables, err, err_size) < 0 ||
	    expand_values(out, in->workflow, err, err_size) < 0 ||
	    expand_values(out, own, err, err_size) < 0 || copy_all(out, &in->developer) < 0 ||
	    environment(out, j, err, err_size) < 0) {
		civars_release(out);
		if (!err[0]) /* copy_all does not say why: it only runs out of memory */
			snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

int civars_add_rule(struct civars *out, const struct node *vars, const struct civars_input *in,
		    char *err, size_t err_size)
{
	err[0] = '\0';
	if (!vars)
		return 0;
	if (vars->kind != NODE_MAP) {
		snprintf(err, err_size, "%s:%zu: rules:variables is a mapping", vars->file,
			 vars->line);
		return -1;
	}
	if (yaml_variables(out, vars, NULL, err, err_size) < 0 ||
	    copy_all(out, &in->developer) < 0 || expand_values(out, vars, err, err_size) < 0 ||
	    copy_all(out, &in->developer) < 0) {
		if (!err[0]) /* copy_all does not say why: it only runs out of memory */
			snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct civar *)a)->name, ((const struct civar *)b)->name);
}

/* The earliest (then longest) masked value in `text`, or NULL. */
static const char *next_secret(const struct civars *c, const char *text, size_t *len)
{
	const char *best = NULL;
	size_t i;

	for (i = 0; i < c->nr; i++) {
		size_t n = strlen(c->v[i].value);
		const char *hit;

		/* Shorter values would mask ordinary words; GitLab refuses to mask them too. */
		if (!c->v[i].masked || n < 3 || !(hit = strstr(text, c->v[i].value)))
			continue;
		if (!best || hit < best || (hit == best && n > *len)) {
			best = hit;
			*len = n;
		}
	}
	return best;
}

void civars_print_masked(const struct civars *c, const char *text, FILE *out)
{
	const char *hit;
	size_t len = 0;

	while ((hit = next_secret(c, text, &len))) {
		fwrite(text, 1, (size_t)(hit - text), out);
		fputs("[MASKED]", out);
		text = hit + len;
	}
	fputs(text, out);
}

void civars_print(const struct civars *c, FILE *out, const char *indent)
{
	struct civar *sorted = malloc((c->nr + 1) * sizeof(*sorted));
	size_t i;

	if (!sorted)
		return;
	memcpy(sorted, c->v, c->nr * sizeof(*sorted));
	qsort(sorted, c->nr, sizeof(*sorted), by_name);
	for (i = 0; i < c->nr; i++) {
		char *line = NULL, *p;

		if (asprintf(&line, "%s%s=%s", indent, sorted[i].name,
			     sorted[i].masked ? "[MASKED]" : sorted[i].value) < 0)
			break;
		for (p = line; *p; p++) /* one line per variable: a commit message has newlines */
			if (*p == '\n')
				*p = ' ';
		civars_print_masked(c, line, out);
		fputc('\n', out);
		explicit_bzero(line, strlen(line)); /* a derived value may hold a secret */
		free(line);
	}
	free(sorted);
}
