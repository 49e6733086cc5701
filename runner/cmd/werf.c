/*
 * `berth werf SUBCOMMAND [ARGS...]`, and berth called as `werf` (the wrapper every stage finds
 * first: docs/werf.md): werf with the job's environment (job/werf.h), the job's credentials and
 * the subcommand's lock. berth stays werf's parent until it exits, passes SIGTERM/SIGINT on,
 * and exits with werf's status.
 */
#include "cmd/commands.h"
#include "registry/docker_config.h"
#include "conf/vars.h"
#include "kube/kubeconfig.h"
#include "lock/lock.h"
#include "base/fs.h"
#include "base/log.h"
#include "registry/login.h"
#include "base/proc.h"
#include "job/werf.h"
#include "job/workspace.h"

#include <dirent.h>
#include <limits.h>
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
	char tmp[4096];	 /* werf's tmp dir in the workspace, "" outside a job */
	char home[4096]; /* werf's home in the workspace, "" outside a job */
	char temp[2048]; /* "" inside a job; else removed, wiped, when werf is done */
};

/* Outside a job: decode the kubeconfig and log in ourselves, into a private temp dir. */
static enum berth_result own_credentials(const struct settings *s, struct werf_creds *c)
{
	const char *tmp = getenv("TMPDIR");
	struct kubeconfig k;
	enum berth_result r;

	if (path_join(c->temp, sizeof(c->temp), "%s/berth-werf-XXXXXX",
		      tmp && *tmp ? tmp : "/tmp") < 0)
		return BERTH_SYSTEM_FAILURE;
	if (!mkdtemp(c->temp)) {
		error_errno("cannot create a private directory under '%s'", tmp ? tmp : "/tmp");
		c->temp[0] = '\0';
		return BERTH_SYSTEM_FAILURE;
	}
	if (path_join(c->docker, sizeof(c->docker), "%s/docker", c->temp) < 0 ||
	    path_join(c->kubeconfig, sizeof(c->kubeconfig), "%s/kubeconfig", c->temp) < 0)
		return BERTH_SYSTEM_FAILURE;
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
		if (path_join(c->docker, sizeof(c->docker), "%s/docker", ws) < 0 ||
		    path_join(c->kubeconfig, sizeof(c->kubeconfig), "%s/kube/config", ws) < 0 ||
		    path_join(c->tmp, sizeof(c->tmp), "%s/tmp", ws) < 0 ||
		    path_join(c->home, sizeof(c->home), "%s/tmp/" WERF_HOME_DIR, ws) < 0)
			return BERTH_SYSTEM_FAILURE;
		if (stat(c->docker, &st) == 0 && S_ISDIR(st.st_mode))
			return BERTH_OK;
		c->tmp[0] = c->home[0] = '\0';
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

/*
 * Runs werf, its exit status into *exit_status; `die_with_berth` when the lock it holds lives
 * only while berth renews it.
 */
static enum berth_result run_werf(const struct settings *s, char **argv, char *const *env,
				  int die_with_berth, int *exit_status)
{
	struct proc p = {
		.argv = argv, .env = env, .script_fd = -1, .die_with_berth = die_with_berth};
	int status = 0, stopped = 0;

	if (proc_start(&p) < 0) {
		error("cannot start werf '%s': install werf on the runner (trdl), or point settings "
		      "'werf_path' at it",
		      argv[0]);
		return BERTH_SYSTEM_FAILURE;
	}
	if (proc_supervise(&p, s->kill_grace, &status, &stopped) < 0)
		return BERTH_SYSTEM_FAILURE;
	if (WIFSIGNALED(status))
		info("werf was killed by signal %d (%s)", WTERMSIG(status),
		     strsignal(WTERMSIG(status)));
	*exit_status = proc_exit_code(status);
	return BERTH_OK;
}

/* The registries of `werf cr logout [OPTIONS] REGISTRY...`, or NULL for any other command. */
static char **logout_hosts(const struct args *a)
{
	if (a->nr_operand < 3 || strcmp(a->operand[0], "cr") != 0 ||
	    strcmp(a->operand[1], "logout") != 0)
		return NULL;
	return a->operand + 2;
}

/*
 * `werf ci-env` copies the docker config, logins included, into werf's tmp dir
 * (pkg/tmp_manager: werf-docker-config-*). A logout means the job wants the login gone: from
 * those copies too, not only from the docker config werf itself edits.
 */
static void forget_copied_logins(const char *tmp, char **hosts)
{
	DIR *d = tmp[0] ? opendir(tmp) : NULL;
	struct dirent *e;
	char dir[8192];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "werf-docker-config-", 19) && e->d_type == DT_DIR &&
		    path_join(dir, sizeof(dir), "%s/%s", tmp, e->d_name) == 0) {
			for (char **h = hosts; *h; h++)
				if (**h != '-')
					docker_config_remove(dir, *h);
		}
	closedir(d);
}

/* This process's environment plus werf's: the job's places when in a job, else ours. */
static int werf_environment(struct strvec *env, const struct settings *s,
			    const struct werf_creds *c)
{
	const struct werf_places p = {.docker = c->docker,
				      .kubeconfig = c->kubeconfig,
				      .tmp = c->tmp[0] ? c->tmp : NULL,
				      .home = c->home[0] ? c->home : NULL};

	for (char **e = environ; *e; e++)
		if (strvec_push(env, *e) < 0)
			return -1;
	return werf_env(env, s, &vars_script, &p);
}

/* argv for werf: the real werf (never berth's wrapper), then the operands as given. */
static int werf_argv(struct strvec *args, const struct args *a, const struct settings *s,
		     const struct strvec *env)
{
	char werf[PATH_MAX];
	int i;

	if (werf_locate(s->werf_path, strvec_getenv(env, "PATH"), werf, sizeof(werf)) < 0 ||
	    strvec_push(args, werf) < 0)
		return -1;
	for (i = 0; i < a->nr_operand; i++)
		if (strvec_push(args, a->operand[i]) < 0)
			return -1;
	return 0;
}

static enum berth_result take_lock(struct lock *l, const struct settings *s, const char *key,
				   const char *kubeconfig)
{
	l->settings = s;
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->kubeconfig = kubeconfig;
	lock_owner_init(&l->me, &vars_script);
	return lock_backend_for(s)->acquire(l, s->lock_timeout);
}

enum berth_result cmd_werf(const struct args *a, const char *settings_file, int *exit_status)
{
	struct strvec env = STRVEC_INIT, args = STRVEC_INIT;
	struct werf_creds creds;
	struct settings s;
	struct lock l;
	char key[LOCK_KEY_MAX + 1] = "", **hosts = logout_hosts(a);
	enum berth_result r;
	int locked = 0;

	/* A stop while credentials are fetched must still reach drop_credentials. */
	if (proc_catch_stops() < 0)
		return BERTH_SYSTEM_FAILURE;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	r = find_credentials(&s, &creds);
	if (r == BERTH_OK &&
	    (werf_environment(&env, &s, &creds) < 0 || werf_argv(&args, a, &s, &env) < 0))
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK &&
	    werf_lock_key(a->nr_operand ? a->operand[0] : NULL, &s, &env, key, sizeof(key)) < 0)
		r = BERTH_BUILD_FAILURE;
	if (r == BERTH_OK && proc_stop_requested()) {
		error("stopped before werf started");
		r = BERTH_SYSTEM_FAILURE;
	}
	memset(&l, 0, sizeof(l));
	if (r == BERTH_OK && key[0]) {
		r = take_lock(&l, &s, key, creds.kubeconfig);
		locked = r == BERTH_OK;
	}
	if (r == BERTH_OK)
		r = run_werf(&s, args.v, env.v, l.die_with_berth, exit_status);
	if (r == BERTH_OK && hosts && *exit_status == 0)
		forget_copied_logins(creds.tmp, hosts);
	if (locked && lock_backend_for(&s)->release(&l) < 0)
		r = BERTH_SYSTEM_FAILURE;
	drop_credentials(&creds);
	strvec_clear(&args);
	strvec_clear(&env);
	settings_release(&s);
	return r;
}
