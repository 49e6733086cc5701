#include "pipeline/rules.h"

#include "base/strvec.h"
#include "pipeline/expand.h"
#include "pipeline/expr.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WALK 100000 /* files `rules:exists` looks at */

static const char *const rule_keys[] = {
	"if",	     "changes",	 "exists", "when",	    "allow_failure",
	"variables", "start_in", "needs",  "interruptible", NULL};
static const char *const whens[] = {"on_success", "manual",	"always", "never",
				    "delayed",	  "on_failure", NULL};

static int at(char *err, size_t size, const struct node *n, const char *what, const char *arg)
{
	snprintf(err, size, "%s:%zu: %s%s", n ? n->file : "?", n ? n->line : 0, what,
		 arg ? arg : "");
	return -1;
}

/* A `when:` value, checked. */
static int read_when(const struct node *n, const char *fallback, char *out, char *err, size_t size)
{
	if (!n) {
		snprintf(out, 16, "%s", fallback);
		return 0;
	}
	if (n->kind != NODE_SCALAR || !str_listed(whens, n->str))
		return at(err, size, n, "when is one of on_success, manual, always, never, delayed",
			  NULL);
	snprintf(out, 16, "%s", n->str);
	return 0;
}

/* ---- if ------------------------------------------------------------------------------ */

static int eval_if(const struct node *cond, const char *what, const struct civars *vars,
		   int *result, char *err, size_t size)
{
	char why[300];

	if (cond->kind != NODE_SCALAR)
		return at(err, size, cond, "if takes an expression", NULL);
	*result = expr_eval_patterns(cond->str, civars_lookup, civars_lookup_written, (void *)vars,
				     why, sizeof(why));
	if (*result < 0) {
		snprintf(err, size, "%s:%zu: %s '%.200s': %s", cond->file, cond->line, what,
			 cond->str, why);
		return -1;
	}
	return 0;
}

/* ---- changes and exists ------------------------------------------------------------- */

static int any_matches(const struct node *patterns, const struct strvec *paths,
		       const struct civars *vars, int *result, char *err, size_t size)
{
	size_t i, k;

	*result = 0;
	if (patterns->kind != NODE_SEQ)
		return at(err, size, patterns, "changes and exists take a list of paths", NULL);
	for (i = 0; i < patterns->n && !*result; i++) {
		char *pattern;

		if (patterns->items[i]->kind != NODE_SCALAR)
			return at(err, size, patterns->items[i], "a path pattern is a string",
				  NULL);
		pattern = expand_vars(patterns->items[i]->str, civars_lookup, (void *)vars);
		if (!pattern)
			return at(err, size, patterns, "out of memory", NULL);
		for (k = 0; k < paths->nr && !*result; k++)
			*result = repo_glob_match(pattern, paths->v[k]);
		free(pattern);
	}
	return 0;
}

/*
 * rules:changes. Without compare_to, GitLab compares a branch push with the commit before it and
 * a merge request with its target; every other pipeline counts as changed.
 */
static int eval_changes(struct rules_context *c, const struct node *ch, const struct civars *vars,
			int *result, char *err, size_t size)
{
	const struct node *paths = ch->kind == NODE_MAP ? node_get(ch, "paths") : ch;
	const struct node *to = ch->kind == NODE_MAP ? node_get(ch, "compare_to") : NULL;
	char why[300];
	int ret;

	if (!paths)
		return at(err, size, ch, "changes needs paths", NULL);
	if (!to && !strcmp(c->source, "merge_request_event")) {
		struct strvec changed = STRVEC_INIT;

		if (repo_changed_paths(c->repo, c->repo->default_branch, &changed, why,
				       sizeof(why)) < 0)
			return at(err, size, ch, "changes: ", why);
		ret = any_matches(paths, &changed, vars, result, err, size);
		strvec_clear(&changed);
		return ret;
	}
	if (to) {
		struct strvec changed = STRVEC_INIT;

		if (to->kind != NODE_SCALAR)
			return at(err, size, to, "compare_to is a branch, tag or commit", NULL);
		if (repo_changed_paths(c->repo, to->str, &changed, why, sizeof(why)) < 0)
			return at(err, size, to, "compare_to: ", why);
		ret = any_matches(paths, &changed, vars, result, err, size);
		strvec_clear(&changed);
		return ret;
	}
	if (strcmp(c->source, "push") != 0 || c->repo->is_tag) {
		*result = 1;
		return 0;
	}
	if (!c->changed_read) {
		if (repo_changed_paths(c->repo, NULL, &c->changed, why, sizeof(why)) < 0)
			return at(err, size, ch, "changes: ", why);
		c->changed_read = 1;
	}
	return any_matches(paths, &c->changed, vars, result, err, size);
}

static struct strvec *walked; /* nftw has no user data */

static int collect(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	if (type == FTW_D && !strcmp(path + f->base, ".git"))
		return FTW_SKIP_SUBTREE;
	if (type != FTW_F)
		return FTW_CONTINUE;
	if (walked->nr >= MAX_WALK)
		return FTW_STOP;
	return strvec_push(walked, path) < 0 ? FTW_STOP : FTW_CONTINUE;
}

/* rules:exists: any file of the work tree matches. */
static int eval_exists(struct rules_context *c, const struct node *ex, const struct civars *vars,
		       int *result, char *err, size_t size)
{
	struct strvec files = STRVEC_INIT;
	size_t i, skip = strlen(c->p->dir) + 1;
	int ret;

	walked = &files;
	nftw(c->p->dir, collect, 32, FTW_PHYS | FTW_ACTIONRETVAL);
	walked = NULL;
	for (i = 0; i < files.nr; i++)
		memmove(files.v[i], files.v[i] + skip, strlen(files.v[i] + skip) + 1);
	ret = any_matches(ex->kind == NODE_MAP ? node_get(ex, "paths") : ex, &files, vars, result,
			  err, size);
	strvec_clear(&files);
	return ret;
}

/* ---- rules --------------------------------------------------------------------------- */

/* 1 when every clause of RULE holds. */
static int rule_matches(struct rules_context *c, const struct node *rule, const struct civars *vars,
			int *result, char *err, size_t size)
{
	const struct node *n;
	size_t i;

	for (i = 0; i < rule->n; i++)
		if (!str_listed(rule_keys, rule->keys[i]))
			return at(err, size, rule->items[i],
				  "unknown rules keyword: ", rule->keys[i]);
	*result = 1;
	if ((n = node_get(rule, "if")) && eval_if(n, "rules:if", vars, result, err, size) < 0)
		return -1;
	if (*result && (n = node_get(rule, "changes")) &&
	    eval_changes(c, n, vars, result, err, size) < 0)
		return -1;
	if (*result && (n = node_get(rule, "exists")) &&
	    eval_exists(c, n, vars, result, err, size) < 0)
		return -1;
	return 0;
}

static void describe_rule(const struct node *rule, size_t index, char *out, size_t size)
{
	const struct node *cond = node_get(rule, "if");

	if (cond && cond->kind == NODE_SCALAR)
		snprintf(out, size, "rules[%zu] (if: %.300s)", index, cond->str);
	else
		snprintf(out, size, "rules[%zu] (line %zu)", index, rule->line);
}

static int apply_rule(const struct node *rule, const char *job_when, struct verdict *v, char *err,
		      size_t size)
{
	const struct node *af = node_get(rule, "allow_failure"),
			  *start = node_get(rule, "start_in");

	if (read_when(node_get(rule, "when"), job_when, v->when, err, size) < 0)
		return -1;
	if (af && node_bool(af) >= 0)
		v->allow_failure = node_bool(af);
	if (start && start->kind == NODE_SCALAR)
		snprintf(v->start_in, sizeof(v->start_in), "%s", start->str);
	v->variables = node_get(rule, "variables");
	return 0;
}

/* Every rule's `if` must parse, as GitLab checks them all when it reads the file. */
static int check_ifs(const struct node *rules, const struct civars *vars, char *err, size_t size)
{
	size_t i;
	int ignored;

	for (i = 0; i < rules->n; i++) {
		const struct node *cond = node_get(rules->items[i], "if");

		if (cond && eval_if(cond, "rules:if", vars, &ignored, err, size) < 0)
			return -1;
	}
	return 0;
}

/* The first rule that matches decides; none matching leaves the job out. */
static int eval_rules(struct rules_context *c, const struct node *rules, const char *job_when,
		      const struct civars *vars, struct verdict *v, char *err, size_t size)
{
	char which[400];
	size_t i;

	if (rules->kind != NODE_SEQ)
		return at(err, size, rules, "rules is a list", NULL);
	if (check_ifs(rules, vars, err, size) < 0)
		return -1;
	for (i = 0; i < rules->n; i++) {
		const struct node *rule = rules->items[i];
		int match;

		if (rule->kind != NODE_MAP)
			return at(err, size, rule, "a rule is a mapping", NULL);
		if (rule_matches(c, rule, vars, &match, err, size) < 0)
			return -1;
		if (!match)
			continue;
		describe_rule(rule, i, which, sizeof(which));
		if (apply_rule(rule, job_when, v, err, size) < 0)
			return -1;
		snprintf(v->why, sizeof(v->why), "%s%s", which,
			 strcmp(v->when, "never") ? " matched" : ": when: never");
		return 0;
	}
	snprintf(v->when, sizeof(v->when), "never");
	snprintf(v->why, sizeof(v->why), "rules: none of %zu rule(s) matched", rules->n);
	return 0;
}

/* ---- only / except ------------------------------------------------------------------- */

/* One `only`/`except` refs pattern: a keyword, a /regex/ or a ref name. */
static int ref_pattern(struct rules_context *c, const struct node *e, const char *s,
		       const struct civars *vars, int *match, char *err, size_t size)
{
	const char *src = c->source;
	int tag = c->repo->is_tag, mr = !strcmp(src, "merge_request_event");
	const char *ref;
	char why[300];

	*match = !strcmp(s, "branches")		? !tag && !mr
		 : !strcmp(s, "tags")		? tag && !mr
		 : !strcmp(s, "pushes")		? !strcmp(src, "push")
		 : !strcmp(s, "schedules")	? !strcmp(src, "schedule")
		 : !strcmp(s, "web")		? !strcmp(src, "web")
		 : !strcmp(s, "api")		? !strcmp(src, "api")
		 : !strcmp(s, "triggers")	? !strcmp(src, "trigger")
		 : !strcmp(s, "pipelines")	? !strcmp(src, "pipeline")
		 : !strcmp(s, "merge_requests") ? mr
		 : !strcmp(s, "chat")		? !strcmp(src, "chat")
		 : !strcmp(s, "external") || !strcmp(s, "external_pull_requests") ? !strcmp(src, s)
										  : -1;
	if (*match >= 0)
		return 0;
	if (s[0] == '/') { /* a regex on the ref name */
		ref = civars_get(vars, "CI_COMMIT_REF_NAME");
		*match = expr_regex_match(s, ref ? ref : "", why, sizeof(why));
		return *match < 0 ? at(err, size, e, "bad ref pattern: ", why) : 0;
	}
	*match = !mr && !strcmp(s, c->repo->ref_name);
	return 0;
}

/*
 * One `only`/`except` refs entry. `PATTERN@PATH` holds only in the project at PATH
 * (CI_PROJECT_PATH): GitLab splits the entry at its first '@' and matches the path literally,
 * so an '@' inside a /regex/ is written \x40.
 */
static int ref_entry(struct rules_context *c, const struct node *e, const struct civars *vars,
		     int *match, char *err, size_t size)
{
	const char *at_sign, *project;
	char *pattern;
	int ret;

	if (e->kind != NODE_SCALAR)
		return at(err, size, e, "a refs entry is a string", NULL);
	at_sign = strchr(e->str, '@');
	if (!at_sign)
		return ref_pattern(c, e, e->str, vars, match, err, size);
	project = civars_get(vars, "CI_PROJECT_PATH");
	*match = 0;
	if (!project || strcmp(at_sign + 1, project) != 0)
		return 0;
	pattern = strndup(e->str, (size_t)(at_sign - e->str));
	if (!pattern)
		return at(err, size, e, "out of memory", NULL);
	ret = ref_pattern(c, e, pattern, vars, match, err, size);
	free(pattern);
	return ret;
}

static int refs_match(struct rules_context *c, const struct node *refs, const struct civars *vars,
		      int *match, char *which, size_t which_size, char *err, size_t size)
{
	size_t i;

	*match = 0;
	if (refs->kind == NODE_SCALAR)
		return ref_entry(c, refs, vars, match, err, size) < 0 ? -1 : 0;
	if (refs->kind != NODE_SEQ)
		return at(err, size, refs, "refs is a list", NULL);
	for (i = 0; i < refs->n && !*match; i++) {
		if (ref_entry(c, refs->items[i], vars, match, err, size) < 0)
			return -1;
		if (*match)
			snprintf(which, which_size, "%s", refs->items[i]->str);
	}
	return 0;
}

static int variables_match(const struct node *list, const struct civars *vars, int *match,
			   char *which, size_t which_size, char *err, size_t size)
{
	size_t i;

	*match = 0;
	if (list->kind != NODE_SEQ)
		return at(err, size, list, "variables is a list of expressions", NULL);
	for (i = 0; i < list->n && !*match; i++) {
		if (eval_if(list->items[i], "variables", vars, match, err, size) < 0)
			return -1;
		if (*match)
			snprintf(which, which_size, "variables: %.300s", list->items[i]->str);
	}
	return 0;
}

/*
 * `only` or `except` (a list of refs, or {refs, variables, changes}): for `only` every key
 * given must hold (*all = 1), for `except` any one is enough.
 */
static int policy(struct rules_context *c, const struct node *pol, const struct civars *vars,
		  int all, int *result, char *which, size_t which_size, char *err, size_t size)
{
	const struct node *refs = pol->kind == NODE_MAP ? node_get(pol, "refs") : pol;
	const struct node *v = pol->kind == NODE_MAP ? node_get(pol, "variables") : NULL;
	const struct node *ch = pol->kind == NODE_MAP ? node_get(pol, "changes") : NULL;
	int got;

	*result = all;
	which[0] = '\0';
	if (refs) {
		if (refs_match(c, refs, vars, &got, which, which_size, err, size) < 0)
			return -1;
		if (got != all) {
			*result = got;
			return 0;
		}
	}
	if (v) {
		if (variables_match(v, vars, &got, which, which_size, err, size) < 0)
			return -1;
		if (got != all) {
			*result = got;
			return 0;
		}
	}
	if (ch) {
		if (eval_changes(c, ch, vars, &got, err, size) < 0)
			return -1;
		if (got)
			snprintf(which, which_size, "changes");
		if (got != all) {
			*result = got;
			return 0;
		}
	}
	return 0;
}

static int eval_only_except(struct rules_context *c, const struct ci_job *j, const char *job_when,
			    const struct civars *vars, struct verdict *v, char *err, size_t size)
{
	const struct node *only = node_get(j->def, "only"), *except = node_get(j->def, "except");
	char which[400];
	int ok;

	snprintf(v->when, sizeof(v->when), "%s", job_when);
	if (only) {
		if (policy(c, only, vars, 1, &ok, which, sizeof(which), err, size) < 0)
			return -1;
		if (!ok) {
			snprintf(v->when, sizeof(v->when), "never");
			snprintf(v->why, sizeof(v->why), "only: not for ref '%s' in a %s pipeline",
				 c->repo->ref_name, c->source);
			return 0;
		}
	} else {
		/* The default: only: [branches, tags]. */
		int mr = !strcmp(c->source, "merge_request_event");

		if (mr) {
			snprintf(v->when, sizeof(v->when), "never");
			snprintf(v->why, sizeof(v->why),
				 "only (default: branches, tags): not in merge request pipelines");
			return 0;
		}
	}
	if (except) {
		if (policy(c, except, vars, 0, &ok, which, sizeof(which), err, size) < 0)
			return -1;
		if (ok) {
			snprintf(v->when, sizeof(v->when), "never");
			snprintf(v->why, sizeof(v->why), "except: %s", which);
		}
	}
	return 0;
}

int rules_job(struct rules_context *c, const struct ci_job *j, const struct civars *vars,
	      struct verdict *v, char *err, size_t err_size)
{
	const struct node *rules = node_get(j->def, "rules"),
			  *af = node_get(j->def, "allow_failure");
	char job_when[16];

	memset(v, 0, sizeof(*v));
	if (read_when(node_get(j->def, "when"), "on_success", job_when, err, err_size) < 0)
		return -1;
	if (rules && (node_get(j->def, "only") || node_get(j->def, "except"))) {
		snprintf(err, err_size,
			 "%s:%zu: job '%s': rules cannot be used with only or except", rules->file,
			 rules->line, j->name);
		return -1;
	}
	/* A manual job may fail unless rules or the job say otherwise. */
	v->allow_failure = !rules && !strcmp(job_when, "manual");
	if (af && node_bool(af) >= 0)
		v->allow_failure = node_bool(af);
	if (rules ? eval_rules(c, rules, job_when, vars, v, err, err_size)
		  : eval_only_except(c, j, job_when, vars, v, err, err_size))
		return -1;
	if (!v->why[0])
		snprintf(v->why, sizeof(v->why), "%s", rules ? "rules" : "only/except");
	return 0;
}

int rules_workflow(struct rules_context *c, const struct civars *vars, struct verdict *v, char *err,
		   size_t err_size)
{
	const struct node *rules = node_get(c->p->workflow, "rules");

	memset(v, 0, sizeof(*v));
	snprintf(v->when, sizeof(v->when), "always");
	if (!rules)
		return 0;
	if (eval_rules(c, rules, "always", vars, v, err, err_size) < 0)
		return -1;
	if (!strcmp(v->when, "never")) {
		char why[sizeof(v->why)];

		snprintf(why, sizeof(why), "%s", v->why);
		snprintf(v->why, sizeof(v->why), "workflow:%.490s", why);
	}
	return 0;
}

/*
 * What GitLab accepts in an include's rules (Entry::Include::Rules::Rule), in its words; an `if`
 * must parse. Checked here because eval_rules takes a job's rules, which allow more.
 */
static int check_include_rules(const struct node *rules, const struct civars *vars, char *err,
			       size_t size)
{
	static const char *const keys[] = {"if", "exists", "when", "changes", NULL};
	const struct node *when, *cond;
	size_t i, k;
	int ignored;

	if (rules->kind == NODE_SEQ && rules->n == 0)
		return at(err, size, rules, "include:rules config can't be blank", NULL);
	for (i = 0; rules->kind == NODE_SEQ && i < rules->n; i++) {
		const struct node *rule = rules->items[i];

		if (rule->kind != NODE_MAP)
			return at(err, size, rule, "include:rules:rule config should be a hash",
				  NULL);
		for (k = 0; k < rule->n; k++)
			if (!str_listed(keys, rule->keys[k]))
				return at(err, size, rule->items[k],
					  "include:rules:rule config contains unknown keys: ",
					  rule->keys[k]);
		when = node_get(rule, "when");
		if (when && (when->kind != NODE_SCALAR ||
			     (strcmp(when->str, "never") != 0 && strcmp(when->str, "always") != 0)))
			return at(err, size, when, "include:rules:rule when unknown value: ",
				  when->str ? when->str : "");
		cond = node_get(rule, "if");
		if (cond && eval_if(cond, "include:rules:if", vars, &ignored, err, size) < 0)
			return -1;
	}
	return 0;
}

int rules_include(struct rules_context *c, const struct node *rules, const struct civars *vars,
		  int *keep, char *err, size_t err_size)
{
	struct verdict v;

	memset(&v, 0, sizeof(v));
	if (check_include_rules(rules, vars, err, err_size) < 0 ||
	    eval_rules(c, rules, "always", vars, &v, err, err_size) < 0)
		return -1;
	*keep = strcmp(v.when, "never") != 0;
	return 0;
}

void rules_context_release(struct rules_context *c)
{
	strvec_clear(&c->changed);
	c->changed_read = 0;
}
