/*
 * `berth exec JOB` (docs/pipeline.md): runs a job of the local `.gitlab-ci.yml` on this machine
 * through berth's own prepare, run and cleanup, as a runner with the shell executor would: the
 * workspace, the kubeconfig and registry logins, the deploy lock, `before_script` + `script`
 * then `after_script` in bash, in the repository's work tree; `werf` in the scripts is
 * `berth werf`. Variables reach the scripts through the environment, never through a file.
 */
#include "pipeline/exec.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "conf/settings.h"
#include "pipeline/local.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct exec_dir {
	char root[2048];     /* private temp dir: response file, settings, scripts */
	char settings[2300]; /* the settings the stages use */
	char exit_file[2300];
	const struct exec_stages *stages;
};

/* A word bash reads back as `s`: bare when safe, else $'...' (the runner's own quoting). */
static int shell_quote(struct strvec *out, const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "_-./=:,+@%";
	char *buf = malloc(strlen(s) * 4 + 4), *p = buf;
	int ret;

	if (!buf)
		return error("out of memory");
	if (*s && strspn(s, safe) == strlen(s)) {
		ret = strvec_push(out, s);
		free(buf);
		return ret;
	}
	p += sprintf(p, "$'");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\'' || c == '\\')
			p += sprintf(p, "\\%c", c);
		else if (c == '\n')
			p += sprintf(p, "\\n");
		else if (c < 0x20 || c == 0x7f)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	sprintf(p, "'");
	ret = strvec_push(out, buf);
	free(buf);
	return ret;
}

/* The stage script in the shape GitLab Runner gives run_exec: each line shown, then run. */
static int write_script(const char *path, const char *dir, const struct strvec *lines)
{
	struct strvec body = STRVEC_INIT, words = STRVEC_INIT;
	FILE *f;
	size_t i;
	int ret = 0;

	for (i = 0; ret == 0 && i < lines->nr; i++) {
		char *shown = NULL;

		ret = asprintf(&shown, "$ %s", lines->v[i]) < 0 ? -1 : shell_quote(&words, shown);
		free(shown);
		if (ret == 0)
			ret = strvec_pushf(&body, "echo %s\n%s\n", words.v[words.nr - 1],
					   lines->v[i]);
	}
	f = ret == 0 ? fopen(path, "we") : NULL;
	if (!f) {
		strvec_clear(&body);
		strvec_clear(&words);
		return error_errno("cannot write the stage script '%s'", path);
	}
	fprintf(f,
		"#!/usr/bin/env bash\n\ntrap exit 1 TERM\n\n"
		"if set -o | grep pipefail > /dev/null; then set -o pipefail; fi; set -o errexit\n"
		"set +o noclobber\n");
	strvec_clear(&words);
	shell_quote(&words, dir);
	fprintf(f, "cd %s\n", words.v[0]);
	strvec_clear(&words);
	for (i = 0; i < body.nr; i++)
		fputs(body.v[i], f);
	fprintf(f, "exit 0\n");
	ret = fclose(f) == 0 ? 0 : error_errno("cannot write the stage script '%s'", path);
	strvec_clear(&body);
	return ret;
}

/*
 * The effective settings, where every stage and berth werf read them. `werf` in the scripts is
 * the stage's werf wrapper (docs/werf.md), as under a runner.
 */
static int write_settings(struct exec_dir *d, const char *settings_file)
{
	struct settings s;
	FILE *f;
	int ret;

	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return -1;
	/* The work tree is not in bwrap's sandbox: always the shell executor. */
	free(s.executor);
	s.executor = strdup("shell");
	ret = s.executor ? 0 : error("out of memory");
	snprintf(d->settings, sizeof(d->settings), "%s/berth.yaml", d->root);
	f = ret == 0 ? fopen(d->settings, "we") : NULL;
	if (f) {
		settings_print(&s, f);
		ret = fclose(f) == 0 ? 0 : error_errno("cannot write '%s'", d->settings);
	} else if (ret == 0) {
		ret = error_errno("cannot write '%s'", d->settings);
	}
	settings_release(&s);
	return ret;
}

/*
 * The project id for the lock keys: CI_PROJECT_ID when the developer gives it (--var), so that a
 * deploy from here waits for the runners' deploys of the same project; else a number derived
 * from the project's path, stable on this machine.
 */
static void project_id(const struct local_job *lj, char *out, size_t size)
{
	const char *given = civars_get(&lj->vars, "CI_PROJECT_ID");
	const char *path = civars_get(&lj->vars, "CI_PROJECT_PATH");
	char hex[SHA256_HEX_SIZE];

	if (given && *given && strspn(given, "0123456789") == strlen(given) && strlen(given) < 20) {
		snprintf(out, size, "%s", given);
		return;
	}
	sha256_hex(path ? path : "local", strlen(path ? path : "local"), hex);
	hex[15] = '\0'; /* 60 bits: at most 19 decimal digits */
	snprintf(out, size, "%llu", strtoull(hex, NULL, 16));
	info("no CI_PROJECT_ID (--var CI_PROJECT_ID=N shares the runners' locks): locks use %s",
	     out);
}

/*
 * What the runner gives its driver: the response file (job id, project), CUSTOM_ENV_<NAME> for
 * berth's stages, and the plain variables for the scripts, inherited through the environment.
 */
static int runner_env(struct exec_dir *d, const struct local *l, const struct local_job *lj)
{
	char path[2300], id[32], pid[32];
	const char *project = civars_get(&lj->vars, "CI_PROJECT_PATH");
	json_t *resp;
	size_t i;
	int ret;

	snprintf(id, sizeof(id), "%d", (int)getpid()); /* unique on this host while it runs */
	snprintf(path, sizeof(path), "%s/response.json", d->root);
	project_id(lj, pid, sizeof(pid));
	resp = json_pack("{s:i, s:{s:I, s:s?}}", "id", (int)getpid(), "job_info", "project_id",
			 (json_int_t)strtoll(pid, NULL, 10), "project_full_path", project);
	ret = resp && json_dump_file(resp, path, 0) == 0 ? 0 : error("cannot write '%s'", path);
	json_decref(resp);
	snprintf(d->exit_file, sizeof(d->exit_file), "%s/exit_code", d->root);
	if (ret < 0 || setenv("JOB_RESPONSE_FILE", path, 1) < 0 ||
	    setenv("BUILD_EXIT_CODE_FILE", d->exit_file, 1) < 0 ||
	    setenv("BERTH_CONFIG", d->settings, 1) < 0 || setenv("CUSTOM_ENV_CI_JOB_ID", id, 1) < 0)
		return -1;
	for (i = 0; i < lj->vars.nr; i++) {
		char name[300];

		snprintf(name, sizeof(name), "CUSTOM_ENV_%s", lj->vars.v[i].name);
		if (setenv(name, lj->vars.v[i].value, 1) < 0 ||
		    setenv(lj->vars.v[i].name, lj->vars.v[i].value, 1) < 0)
			return error_errno("cannot set %s", lj->vars.v[i].name);
	}
	(void)l;
	return 0;
}

static int read_exit_code(const struct exec_dir *d)
{
	char buf[16] = "";
	int fd = open(d->exit_file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	return n > 0 ? (int)strtol(buf, NULL, 10) : -1;
}

static enum berth_result run_stage(struct exec_dir *d, const struct local *l,
				   const struct local_job *lj, const char *stage,
				   const char *const *keys)
{
	struct strvec lines = STRVEC_INIT;
	char script[2400];
	char *operands[] = {script, (char *)stage, NULL};
	const struct args run = {.operand = operands, .nr_operand = 2};
	enum berth_result r;

	if (local_stage_lines(lj, keys, &lines) != BERTH_OK)
		return BERTH_BUILD_FAILURE;
	snprintf(script, sizeof(script), "%s/%s", d->root, stage);
	r = write_script(script, l->repo.dir, &lines) < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
	strvec_clear(&lines);
	if (r == BERTH_OK)
		r = d->stages->run(&run, d->settings, NULL);
	if (r == BERTH_BUILD_FAILURE)
		info("%s failed with exit code %d", stage, read_exit_code(d));
	return r;
}

static enum berth_result run_job(struct exec_dir *d, const struct local *l,
				 const struct local_job *lj, const char *settings_file)
{
	static const char *const main_keys[] = {"before_script", "script", NULL};
	static const char *const after_keys[] = {"after_script", NULL};
	const struct args none = {0}; /* prepare and cleanup take nothing */
	enum berth_result r, after;

	if (write_settings(d, settings_file) < 0 || runner_env(d, l, lj) < 0)
		return BERTH_SYSTEM_FAILURE;
	r = d->stages->prepare(&none, d->settings, NULL);
	if (r == BERTH_OK) {
		r = run_stage(d, l, lj, "step_script", main_keys);
		after = run_stage(d, l, lj, "after_script", after_keys);
		if (after != BERTH_OK)
			warning("after_script failed; as on GitLab, the job's result does not change");
	}
	d->stages->cleanup(&none, d->settings, NULL);
	return r;
}

/* One job, decided: refused when the pipeline leaves it out, else run in a temp dir of its own. */
static enum berth_result exec_one(const struct local *l, const struct local_job *lj,
				  const char *settings_file, const struct exec_stages *stages,
				  int *exit_code)
{
	struct exec_dir d = {.stages = stages};
	const char *tmp = getenv("TMPDIR");
	enum berth_result r;

	if (!strcmp(lj->verdict.when, "never")) {
		error("job '%s' would not run in a %s pipeline: %s", lj->job->name, l->in.source,
		      lj->verdict.why);
		return BERTH_BUILD_FAILURE;
	}
	snprintf(d.root, sizeof(d.root), "%s/berth-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d.root)) {
		error_errno("cannot create '%s'", d.root);
		return BERTH_SYSTEM_FAILURE;
	}
	info("running job '%s' (%s) from %s in %s", lj->job->name, lj->verdict.when, l->file,
	     l->repo.dir);
	r = run_job(&d, l, lj, settings_file);
	*exit_code = read_exit_code(&d);
	remove_tree(d.root, 0);
	return r;
}

/*
 * The process's environment as it was before a job set its variables (runner_env), so the
 * next job of --with-needs starts from the same one. The copies may hold the developer's
 * secrets: wiped before they are freed.
 */
static int env_save(struct strvec *saved)
{
	char **e;

	for (e = environ; *e; e++)
		if (strvec_push(saved, *e) < 0)
			return -1;
	return 0;
}

static int env_restore(struct strvec *saved)
{
	size_t i;
	int ret = clearenv() == 0 ? 0 : error("cannot reset the environment");

	for (i = 0; i < saved->nr; i++) {
		char *eq = strchr(saved->v[i], '=');

		if (ret == 0 && eq) {
			*eq = '\0';
			ret = setenv(saved->v[i], eq + 1, 1) == 0
				      ? 0
				      : error_errno("cannot set %s", saved->v[i]);
		}
		explicit_bzero(saved->v[i], strlen(saved->v[i]) + (eq ? strlen(eq + 1) + 1 : 0));
	}
	strvec_clear(saved);
	return ret;
}

/*
 * --with-needs: the jobs JOB needs, transitively, each after what it needs, then JOB. A need
 * that rules leave out is GitLab's error unless it is optional, when it is skipped. Stops at
 * the first job that fails; *exit_code is that job's.
 */
static enum berth_result exec_with_needs(struct local *l, size_t target, const char *settings_file,
					 const struct exec_stages *stages, int *exit_code)
{
	const struct pipeline *p = &l->pipeline;
	struct local_job *lj = calloc(p->nr_jobs + 1, sizeof(*lj));
	int *in = calloc(p->nr_jobs + 1, sizeof(*in));
	size_t *run = NULL, nr = 0, i, decided = 0;
	char why[1024];
	enum berth_result r = BERTH_OK;

	if (!lj || !in || needs_closure(p, l->needs, target, &run, &nr) < 0) {
		error("out of memory");
		r = BERTH_SYSTEM_FAILURE;
	}
	for (; r == BERTH_OK && decided < nr; decided++) {
		r = local_job(l, &p->jobs[run[decided]], &lj[decided]);
		if (r == BERTH_OK)
			in[run[decided]] = strcmp(lj[decided].verdict.when, "never") != 0;
	}
	if (r == BERTH_OK)
		in[target] = 1; /* left out, it is refused by exec_one with the reason */
	if (r == BERTH_OK && needs_check_present(p, l->needs, in, why, sizeof(why)) < 0) {
		error("%s", why);
		r = BERTH_BUILD_FAILURE;
	}
	if (r == BERTH_OK && nr > 1)
		info("job '%s' needs %zu job%s, run first: each through prepare, run and cleanup",
		     p->jobs[target].name, nr - 1, nr > 2 ? "s" : "");
	for (i = 0; r == BERTH_OK && i < nr; i++) {
		struct strvec saved = STRVEC_INIT;

		if (run[i] != target && !in[run[i]]) {
			info("skipping job '%s', an optional need: %s", p->jobs[run[i]].name,
			     lj[i].verdict.why);
			continue;
		}
		if (env_save(&saved) < 0) {
			r = BERTH_SYSTEM_FAILURE;
			break;
		}
		r = exec_one(l, &lj[i], settings_file, stages, exit_code);
		if (env_restore(&saved) < 0 && r == BERTH_OK)
			r = BERTH_SYSTEM_FAILURE;
		if (r != BERTH_OK && run[i] != target)
			info("job '%s' failed: '%s' does not run", p->jobs[run[i]].name,
			     p->jobs[target].name);
	}
	for (i = 0; lj && i < decided; i++)
		local_job_release(&lj[i]);
	free(lj);
	free(in);
	free(run);
	return r;
}

enum berth_result exec_job(const struct args *a, const char *settings_file,
			   const struct exec_stages *stages, int *exit_code)
{
	struct local l;
	struct local_job lj;
	const struct ci_job *j = NULL;
	char no_pipeline[512];
	enum berth_result r = local_open(&l, a);

	*exit_code = -1;

	if (r == BERTH_OK)
		r = local_workflow(&l, no_pipeline, sizeof(no_pipeline));
	if (r == BERTH_OK && no_pipeline[0]) {
		error("no pipeline would run: %s", no_pipeline);
		r = BERTH_BUILD_FAILURE;
	}
	if (r == BERTH_OK && !(j = pipeline_job(&l.pipeline, l.job))) {
		local_no_such_job(&l, l.job);
		r = BERTH_BUILD_FAILURE;
	}
	if (r == BERTH_OK && args_flag(a, "--with-needs")) {
		r = exec_with_needs(&l, (size_t)(j - l.pipeline.jobs), settings_file, stages,
				    exit_code);
	} else if (r == BERTH_OK && (r = local_job(&l, j, &lj)) == BERTH_OK) {
		r = exec_one(&l, &lj, settings_file, stages, exit_code);
		local_job_release(&lj);
	}
	local_close(&l);
	return r;
}
