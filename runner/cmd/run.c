/*
 * `berth run SCRIPT STAGE`: one stage script through the executor backend. Any stage name is
 * accepted: the runner adds new ones (step_*) and berth treats them all as scripts.
 */
#include "cmd/commands.h"
#include "job/census.h"
#include "job/context.h"
#include "job/env.h"
#include "executors/executor.h"
#include "base/cgroup.h"
#include "base/clock.h"
#include "base/job_user.h"
#include "lock/lock.h"
#include "job/lock_broker.h"
#include "job/metrics.h"
#include "base/log.h"
#include "base/proc.h"
#include "job/report.h"
#include "base/secret.h"
#include "tools/tools.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* GitLab's scripts export every variable; a job with many large ones makes a large script. */
#define SCRIPT_MAX (64u << 20)

extern char **environ;

/* The runner reads the script's real exit code from the first line of this file. */
static int write_exit_code(int code)
{
	const char *file = getenv("BUILD_EXIT_CODE_FILE");
	char line[16];
	int fd, n;

	if (!file || !*file)
		return 0;
	n = snprintf(line, sizeof(line), "%d\n", code);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return error_errno("cannot write BUILD_EXIT_CODE_FILE '%s'", file);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return error_errno("cannot write BUILD_EXIT_CODE_FILE '%s'", file);
	}
	return close(fd);
}

/*
 * The deploy lock around the user's script (docs/werf.md): for a job with an environment,
 * deploy/<project id>/<environment>, the project id from the runner's response file. 0 with
 * `key` set, or "" for none; -1 (the job's error) when the environment is no slug.
 */
static int deploy_key(const struct context *ctx, const char *stage, char *key, size_t size)
{
	const char *slug = vars_get(&vars_runner, "CI_ENVIRONMENT_SLUG");

	key[0] = '\0';
	if (!ctx->settings.lock_deploys || !slug ||
	    (strcmp(stage, "build_script") != 0 && strncmp(stage, "step_", 5) != 0))
		return 0;
	if (!ctx->job.project_id) {
		warning("no project id for job %s: its deploy to '%s' runs without a lock",
			ctx->job.id, slug);
		return 0;
	}
	return lock_deploy_key(ctx->job.project_id, slug, key, size);
}

/*
 * The stage script as a sealed in-memory file, which the child gets as PROC_SCRIPT_FD and bash
 * opens as /proc/self/fd/N. The runner's copy sits in a directory only root may read; a job
 * user is given neither access to it nor a copy on disk (the script holds the job's token).
 */
static int script_memfd(const char *script)
{
	struct secret text = SECRET_INIT;
	size_t done = 0;
	ssize_t n = 0;
	int fd;

	if (secret_read_file(script, SCRIPT_MAX, 0, "stage script", &text) < 0)
		return -1;
	fd = memfd_create("berth-stage-script", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	while (fd >= 0 && done < text.len &&
	       ((n = write(fd, text.data + done, text.len - done)) > 0 || errno == EINTR))
		done += n > 0 ? (size_t)n : 0;
	secret_release(&text);
	if (fd < 0 || done < text.len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		error_errno("cannot hand the stage script '%s' to the job", script);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The file backend's locks reach the script through a broker for the stage's length. */
static int serve_locks(struct lock_broker *b, const struct context *ctx, const struct job_user *u,
		       struct proc *p)
{
	if (lock_store_for(&ctx->settings) != &lock_file)
		return 0;
	if (lock_broker_start(b, ctx, u ? u->uid : geteuid()) < 0)
		return -1;
	p->serve = lock_broker_serve;
	p->serve_arg = b;
	p->serve_fd = b->listen;
	return 0;
}

/*
 * What the stage's processes used (its CPU, the job's peak memory so far) for the report, and
 * which of the job's limits they hit: 1 after telling the job log, else 0.
 */
static int account(const struct context *ctx, const struct cgroup_usage *before, int failed)
{
	const struct settings *s = &ctx->settings;
	struct cgroup_usage after;
	char what[128], mem[32];

	cgroup_usage(&ctx->ws.cgroup, &after);
	report_usage(before->cpu_usec >= 0 && after.cpu_usec >= 0
			     ? after.cpu_usec - before->cpu_usec
			     : -1,
		     after.mem_peak);
	if (after.oom_kills > before->oom_kills) {
		cgroup_format_bytes(s->job_memory_max, mem, sizeof(mem));
		snprintf(what, sizeof(what),
			 "memory limit of %s (job_memory_max): the kernel "
			 "killed a process of it",
			 mem);
	} else if (after.pids_hits > before->pids_hits) {
		snprintf(what, sizeof(what), "process limit of %ld (job_pids_max): a fork failed",
			 s->job_pids_max);
	} else {
		return 0;
	}
	if (failed)
		error("the job hit its %s; the runner's admin sets the limit in berth's settings "
		      "(docs/cgroups.md)",
		      what);
	else
		warning("the job hit its %s, and the stage went on", what);
	return 1;
}

/* `die_with_berth`: the lock the stage holds lives only while berth renews it. */
static enum berth_result run_stage(const struct context *ctx, const char *script, const char *stage,
				   int die_with_berth)
{
	const struct executor *ex = executor_find(ctx->settings.executor);
	struct strvec argv = STRVEC_INIT, env = STRVEC_INIT;
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	struct lock_broker broker = {.listen = -1};
	struct job_user user, *u = NULL;
	struct proc p = {.dir = ctx->ws.tmp, .script_fd = -1, .die_with_berth = die_with_berth};
	struct cgroup_usage before;
	char tools[4096], script_path[32], self[PATH_MAX];
	int status = 0, stopped = 0, code;

	snprintf(script_path, sizeof(script_path), "/proc/self/fd/%d", PROC_SCRIPT_FD);
	if (ctx->ws.user && job_user_lookup(&user, ctx->ws.user, &ctx->settings.job_groups) == 0)
		u = &user;
	if (!ex || (ctx->ws.user && !u) || (p.script_fd = script_memfd(script)) < 0 ||
	    ex->command(&argv, script_path, &ctx->ws, &ctx->settings, u) < 0 ||
	    tools_bin_dir(&ctx->settings, tools, sizeof(tools)) < 0 ||
	    proc_self_path(self, sizeof(self)) < 0 || workspace_link_berth(&ctx->ws, self) < 0 ||
	    stage_env(&env, environ, &ctx->ws, &ctx->settings, ctx->ws.settings, tools, u) < 0 ||
	    serve_locks(&broker, ctx, u, &p) < 0)
		goto out;
	p.argv = argv.v;
	p.env = env.v;
	p.user = u;
	p.ignore_stops = ex->ignore_stops;
	p.cgroup = cgroup_any(&ctx->ws.cgroup) ? &ctx->ws.cgroup : NULL;
	cgroup_usage(&ctx->ws.cgroup, &before);
	if ((ex->start ? ex->start(&p, &ctx->settings, u) : proc_start(&p)) < 0 ||
	    proc_supervise(&p, ctx->settings.kill_grace, &status, &stopped) < 0)
		goto out;
	code = proc_exit_code(status);
	account(ctx, &before, code != 0);
	if (stopped)
		info("stage '%s' stopped on request (exit code %d)", stage, code);
	if (code == 0) {
		r = BERTH_OK;
	} else if (write_exit_code(code) == 0) {
		r = BERTH_BUILD_FAILURE;
	}
out:
	lock_broker_stop(&broker);
	if (p.script_fd >= 0)
		close(p.script_fd);
	if (u)
		job_user_release(u);
	strvec_clear(&argv);
	strvec_clear(&env);
	return r;
}

/*
 * The gauges (lock holders and waiters) written while the stage waits, not only at its end:
 * a queue that never empties is what the lock alerts look for (docs/operations.md).
 */
static void gauges_now(const struct lock *l)
{
	metrics_write(l->settings, NULL);
}

/*
 * Runs the stage, holding the deploy lock when it is the user's script of a deploy job; the
 * stage record `rec` says which lock it waits for, then holds.
 */
static enum berth_result locked_stage(const struct context *ctx, const char *script,
				      const char *stage, struct stage_record *rec)
{
	const struct lock_backend *b = lock_store_for(&ctx->settings);
	enum berth_result r;
	long long waited;
	struct lock l;

	memset(&l, 0, sizeof(l));
	if (deploy_key(ctx, stage, l.key, sizeof(l.key)) < 0)
		return BERTH_BUILD_FAILURE;
	if (!l.key[0])
		return run_stage(ctx, script, stage, 0);
	l.settings = &ctx->settings;
	l.kubeconfig = ctx->ws.kubeconfig;
	lock_owner_init(&l.me, &vars_runner);
	waited = clock_now_ms();
	stage_record_lock(rec, l.key, 0);
	l.waiting = gauges_now;
	r = b->acquire(&l, ctx->settings.lock_timeout);
	report_lock_wait(l.key, clock_now_ms() - waited);
	if (r != BERTH_OK)
		return r;
	stage_record_lock(rec, l.key, 1);
	metrics_write(&ctx->settings, NULL); /* one holder more: not at the stage's end */
	info("holding lock '%s' for stage '%s'", l.key, stage);
	/* file: the script inherits the lock, which lasts as long as the script even if berth
	 * dies. kubernetes: berth renews the lease while the script runs. */
	r = run_stage(ctx, script, stage, l.die_with_berth);
	if (b->release(&l) < 0)
		r = BERTH_SYSTEM_FAILURE;
	return r;
}

enum berth_result cmd_run(const struct args *a, const char *settings_file, int *exit_status)
{
	const char *script = a->operand[0], *stage = a->operand[1];
	struct stage_record rec;
	struct context ctx;
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	int exists;

	(void)exit_status;
	r = context_load(&ctx, settings_file);
	if (r != BERTH_OK)
		return r;
	exists = workspace_exists(&ctx.ws);
	if (exists == 0)
		error("no workspace '%s' for job %s: prepare did not run, or cleanup already did",
		      ctx.ws.dir, ctx.job.id);
	report_stage(stage);
	if (exists == 1) {
		workspace_touch(&ctx.ws); /* a stage started: not stale for berth gc */
		stage_record_begin(&rec, ctx.ws.dir, stage); /* what runs now: berth status */
		r = locked_stage(&ctx, script, stage, &rec);
		stage_record_end(&rec);
	}
	context_release(&ctx);
	return r;
}
