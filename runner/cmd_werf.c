/*
 * `berth werf SUBCOMMAND [ARGS...]` (docs/werf.md): werf with the job's environment (werf's
 * `ci-env gitlab` mapping), the job's credentials and the subcommand's lock. berth stays werf's
 * parent until it exits, passes SIGTERM/SIGINT on, and exits with werf's status.
 */
#include "commands.h"
#include "docker_config.h"
#include "env.h"
#include "kubeconfig.h"
#include "lock.h"
#include "log.h"
#include "login.h"
#include "proc.h"
#include "reference.h"
#include "workspace.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Where werf finds the job's credentials: the workspace's, or a private temp dir of ours. */
struct werf_creds {
	char docker[4096];
	char kubeconfig[4096];
	char temp[2048]; /* "" inside a job; else removed, wiped, when werf is done */
};

static void set_default(struct strvec *env, const char *name, const char *value)
{
	if (value && !strvec_getenv(env, name))
		strvec_setenv(env, name, value);
}

/* "PREFIX=$VAR" when VAR is set, for werf's annotations. */
static void annotate(struct strvec *env, const char *name, const char *prefix, const char *var)
{
	const char *v = getenv(var);
	char buf[4096];

	if (v && *v) {
		snprintf(buf, sizeof(buf), "%s=%s", prefix, v);
		set_default(env, name, buf);
	}
}

static void repo_host(const struct strvec *env, char *host, size_t size, char *registry,
		      size_t rsize)
{
	const char *repo = strvec_getenv(env, "WERF_REPO"), *why;
	struct reference ref;

	host[0] = registry[0] = '\0';
	if (repo && reference_parse(repo, &ref, &why) == 0) {
		snprintf(host, size, "%s", ref.host);
		snprintf(registry, rsize, "%.*s", (int)strcspn(ref.path, "/"), ref.path);
	}
}

/* werf's `ci-env gitlab` mapping: what the job set itself wins, but credential paths. */
static int werf_env(struct strvec *env, const struct settings *s, const struct werf_creds *c)
{
	char host[256], registry[256];

	for (char **e = environ; *e; e++)
		if (strvec_push(env, *e) < 0)
			return -1;
	set_default(env, "WERF_REPO", getenv("CI_REGISTRY_IMAGE"));
	set_default(env, "WERF_ENV", getenv("CI_ENVIRONMENT_SLUG"));
	annotate(env, "WERF_ADD_ANNOTATION_PROJECT_GIT", "project.werf.io/git", "CI_PROJECT_URL");
	annotate(env, "WERF_ADD_ANNOTATION_CI_COMMIT", "ci.werf.io/commit", "CI_COMMIT_SHA");
	annotate(env, "WERF_ADD_ANNOTATION_CI_GIT_TAG", "ci.werf.io/tag", "CI_COMMIT_TAG");
	annotate(env, "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
		 "gitlab.ci.werf.io/pipeline-url", "CI_PIPELINE_URL");
	annotate(env, "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL", "gitlab.ci.werf.io/job-url",
		 "CI_JOB_URL");
	set_default(env, "WERF_LOG_COLOR_MODE", "on");
	set_default(env, "WERF_LOG_PROJECT_DIR", "1");
	set_default(env, "WERF_LOG_TERMINAL_WIDTH", "130");
	set_default(env, "WERF_ENABLE_PROCESS_EXTERMINATOR", "1");
	set_default(env, "WERF_SYNCHRONIZATION", s->werf_synchronization);
	repo_host(env, host, sizeof(host), registry, sizeof(registry));
	if (*host && settings_is_rate_limited(s, host))
		set_default(env, "WERF_PARALLEL", "0");
	/* Credentials are the job's own, checked by berth: never a path the job chose. */
	return env_pin_credentials(env, c->docker, c->kubeconfig);
}

/* Outside a job: decode the kubeconfig and log in ourselves, into a private temp dir. */
static enum berth_result own_credentials(const struct settings *s, struct werf_creds *c)
{
	const char *tmp = getenv("TMPDIR");
	struct kubeconfig k;
	enum berth_result r;

	snprintf(c->temp, sizeof(c->temp), "%s/berth-werf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c->temp)) {
		error_errno("cannot create a private directory under '%s'", tmp ? tmp : "/tmp");
		c->temp[0] = '\0';
		return BERTH_SYSTEM_FAILURE;
	}
	snprintf(c->docker, sizeof(c->docker), "%s/docker", c->temp);
	snprintf(c->kubeconfig, sizeof(c->kubeconfig), "%s/kubeconfig", c->temp);
	r = kubeconfig_load(&k, &vars_script, s);
	if (r == BERTH_OK && k.variable) {
		if (kubeconfig_write(&k, c->kubeconfig) < 0)
			r = BERTH_SYSTEM_FAILURE;
		else if (s->kube_preflight)
			r = kubeconfig_preflight(&k, s->kube_timeout);
	}
	kubeconfig_release(&k);
	if (r == BERTH_OK && docker_config_init(c->docker) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK)
		r = login_all(s, &vars_script, c->docker);
	return r;
}

/* In a job the run stage set BERTH_JOB_DIR: prepare wrote and checked the credentials there. */
static enum berth_result find_credentials(const struct settings *s, struct werf_creds *c)
{
	const char *ws = getenv(JOB_MARKER);
	struct stat st;

	memset(c, 0, sizeof(*c));
	if (ws && *ws) {
		snprintf(c->docker, sizeof(c->docker), "%s/docker", ws);
		snprintf(c->kubeconfig, sizeof(c->kubeconfig), "%s/kube/config", ws);
		if (stat(c->docker, &st) == 0 && S_ISDIR(st.st_mode))
			return BERTH_OK;
		warning("%s='%s' has no docker config: logging in here instead", JOB_MARKER, ws);
	}
	return own_credentials(s, c);
}

/* Logs out and wipes what own_credentials made. */
static void drop_credentials(struct werf_creds *c)
{
	if (!c->temp[0])
		return;
	docker_config_remove(c->docker, NULL);
	remove_tree(c->temp, 1);
}

/* The workspace's record (prepare, from the response file), else CI_PROJECT_ID, else local. */
static void project_id(char *out, size_t size)
{
	const char *ws = getenv(JOB_MARKER), *v = getenv("CI_PROJECT_ID");

	if (ws && *ws && workspace_recorded_project(ws, out, size) == 0)
		return;
	snprintf(out, size, "%s", v && job_valid_id(v) == 0 ? v : "local");
}

/* The lock a subcommand takes, in `key`; "" for none. 0, or -1 (a build failure) after saying why.
 */
static int werf_lock_key(const char *sub, const struct settings *s, const struct strvec *env,
			 char *key, size_t size)
{
	const char *slug = getenv("CI_ENVIRONMENT_SLUG"), *why = NULL;
	char project[32], host[256], registry[256];
	int n = 0;

	key[0] = '\0';
	if (!strcmp(sub, "converge") || !strcmp(sub, "dismiss")) {
		if (slug && *slug &&
		    strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(slug))
			return error("CI_ENVIRONMENT_SLUG '%s' is not an environment slug "
				     "([a-z0-9-])",
				     slug);
		project_id(project, sizeof(project));
		n = snprintf(key, size, "deploy/%s/%.63s", project,
			     slug && *slug ? slug : "default");
	} else if (!strcmp(sub, "cleanup")) {
		repo_host(env, host, sizeof(host), registry, sizeof(registry));
		if (s->cleanup_lock)
			n = snprintf(key, size, "%s", s->cleanup_lock);
		else if (*host)
			n = snprintf(key, size, "cleanup/%.100s/%.80s", host,
				     *registry ? registry : "-");
		else
			return error("werf cleanup needs WERF_REPO (or CI_REGISTRY_IMAGE) to know "
				     "which registry's lock to take");
	}
	if (key[0] && ((size_t)n >= size || lock_valid_key(key, &why) < 0))
		return error("cannot make a lock key of '%s': %s", key, why ? why : "too long");
	return 0;
}

static enum berth_result run_werf(const struct settings *s, char **argv, char *const *env)
{
	struct proc p = {argv, env, 0};
	int status = 0, stopped = 0;

	if (proc_start(&p) < 0) {
		error("werf is needed here: install it on the runner (trdl), or point settings "
		      "'werf_path' at it (now '%s')",
		      s->werf_path);
		return BERTH_SYSTEM_FAILURE;
	}
	if (proc_supervise(&p, s->kill_grace, &status, &stopped) < 0)
		return BERTH_SYSTEM_FAILURE;
	if (WIFSIGNALED(status))
		info("werf was killed by signal %d (%s)", WTERMSIG(status),
		     strsignal(WTERMSIG(status)));
	berth_exit_status = proc_exit_code(status);
	return BERTH_OK;
}

enum berth_result cmd_werf(int argc, char **argv, const char *settings_file)
{
	struct strvec env = STRVEC_INIT, args = STRVEC_INIT;
	struct werf_creds creds;
	struct settings s;
	struct lock l;
	char key[LOCK_KEY_MAX + 1];
	enum berth_result r;
	int i, locked = 0;

	if (argc < 2) {
		error("usage: berth werf SUBCOMMAND [ARGS...]");
		return BERTH_SYSTEM_FAILURE;
	}
	/* A stop while credentials are fetched must still reach drop_credentials. */
	if (proc_catch_stops() < 0)
		return BERTH_SYSTEM_FAILURE;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	r = find_credentials(&s, &creds);
	if (r == BERTH_OK && werf_env(&env, &s, &creds) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK && werf_lock_key(argv[1], &s, &env, key, sizeof(key)) < 0)
		r = BERTH_BUILD_FAILURE;
	if (r == BERTH_OK && strvec_push(&args, s.werf_path) < 0)
		r = BERTH_SYSTEM_FAILURE;
	for (i = 1; r == BERTH_OK && i < argc; i++)
		if (strvec_push(&args, argv[i]) < 0)
			r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK && proc_stop_requested()) {
		error("stopped before werf started");
		r = BERTH_SYSTEM_FAILURE;
	}
	if (r == BERTH_OK && key[0]) {
		memset(&l, 0, sizeof(l));
		l.settings = &s;
		snprintf(l.key, sizeof(l.key), "%s", key);
		l.kubeconfig = creds.kubeconfig;
		lock_owner_init(&l.me, &vars_script);
		r = lock_backend_for(&s)->acquire(&l, s.lock_timeout);
		locked = r == BERTH_OK;
	}
	if (r == BERTH_OK)
		r = run_werf(&s, args.v, env.v);
	if (locked && lock_backend_for(&s)->release(&l) < 0)
		r = BERTH_SYSTEM_FAILURE;
	drop_credentials(&creds);
	strvec_clear(&args);
	strvec_clear(&env);
	settings_release(&s);
	return r;
}
