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

enum berth_result exec_job(const struct args *a, const char *settings_file,
			   const struct exec_stages *stages, int *exit_code)
{
	struct exec_dir d = {.stages = stages};
	struct local l;
	struct local_job lj;
	const struct ci_job *j = NULL;
	char no_pipeline[512];
	const char *tmp = getenv("TMPDIR");
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
	if (r == BERTH_OK && (r = local_job(&l, j, &lj)) == BERTH_OK) {
		snprintf(d.root, sizeof(d.root), "%s/berth-exec-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!strcmp(lj.verdict.when, "never")) {
			error("job '%s' would not run in a %s pipeline: %s", j->name, l.in.source,
			      lj.verdict.why);
			r = BERTH_BUILD_FAILURE;
		} else if (!mkdtemp(d.root)) {
			error_errno("cannot create '%s'", d.root);
			r = BERTH_SYSTEM_FAILURE;
		} else {
			info("running job '%s' (%s) from %s in %s", j->name, lj.verdict.when,
			     l.file, l.repo.dir);
			r = run_job(&d, &l, &lj, settings_file);
			*exit_code = read_exit_code(&d);
			remove_tree(d.root, 0);
		}
		local_job_release(&lj);
	}
	local_close(&l);
	return r;
}
