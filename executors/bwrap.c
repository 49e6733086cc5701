/*
 * The sandbox backend: every stage script runs in bubblewrap with its own mount, PID, IPC and
 * UTS namespaces, where the system is read-only and the only writable places are the job's own
 * workspace, the builds dir and the cache dir. Other jobs' workspaces (their registry logins
 * and kubeconfigs), their processes and berth's state dir are not there to be seen.
 * docs/bwrap.md explains each flag.
 *
 *   bwrap [flags] -- BERTH supervise GRACE -- bash SCRIPT
 *
 * The network is the sandbox's own, out through slirp4netns (the default), the host's, or none:
 * bwrap_net.c.
 *
 * berth stops a stage by signalling its process group. bwrap's own processes would die of
 * SIGTERM and take the sandbox down with SIGKILL, so they ignore it (ignore_stops); `berth
 * supervise` inside catches it again and passes it on to the script's group, as `berth run`
 * does outside.
 */
#include "executors/executor.h"

#include "executors/bwrap_net.h"
#include "base/fs.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/proc.h"
#include "conf/settings.h"
#include "job/workspace.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/*
 * Directories at / that are links into /usr on Debian 12 (merged /usr) and real directories on
 * older systems: the sandbox gets the same link, or the directory read-only.
 */
static const char *const root_dirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

/* Pushes every string of `args`, up to NULL; PUSH(argv, "a", "b") for a list in place. */
static int push_all(struct strvec *argv, const char *const *args)
{
	for (; *args; args++)
		if (strvec_push(argv, *args) < 0)
			return -1;
	return 0;
}

#define PUSH(argv, ...) push_all(argv, (const char *const[]){__VA_ARGS__, NULL})

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 when `path` is `dir` or below it. */
static int is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static int push_root_dir(struct strvec *argv, const char *dir)
{
	char target[PATH_MAX];
	ssize_t n = readlink(dir, target, sizeof(target) - 1);

	if (n > 0) {
		target[n] = '\0';
		return PUSH(argv, "--symlink", target, dir);
	}
	if (is_dir(dir))
		return PUSH(argv, "--ro-bind", dir, dir);
	return 0;
}

/*
 * The system, read-only: programs and libraries, /etc for users, certificates and DNS. Not
 * /var, /run, /home, /srv, /opt or /root: what other jobs and services keep there.
 */
static int push_system(struct strvec *argv)
{
	char resolv[PATH_MAX];
	size_t i;

	if (PUSH(argv, "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc") < 0)
		return -1;
	for (i = 0; i < sizeof(root_dirs) / sizeof(root_dirs[0]); i++)
		if (push_root_dir(argv, root_dirs[i]) < 0)
			return -1;
	/* systemd-resolved links /etc/resolv.conf into /run: without its target, no DNS. */
	if (realpath("/etc/resolv.conf", resolv) && !is_under(resolv, "/etc") &&
	    !is_under(resolv, "/usr") && PUSH(argv, "--ro-bind-try", resolv, resolv) < 0)
		return -1;
	/* The runner's config.toml holds its token, with which a job could take others' jobs. */
	if (is_dir("/etc/gitlab-runner") && PUSH(argv, "--tmpfs", "/etc/gitlab-runner") < 0)
		return -1;
	return PUSH(argv, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
}

/* A private, empty home: tools that write below ~ work, and see nothing of the runner's. */
static int push_home(struct strvec *argv, const struct job_user *u)
{
	const char *home = u ? u->home : getenv("HOME");

	if (!home || home[0] != '/' || !home[1])
		return 0;
	return PUSH(argv, "--dir", home);
}

/* Writable, at its own path, so every path in the stage's environment holds inside. */
static int push_writable(struct strvec *argv, const char *dir)
{
	if (make_dirs(dir, 0700) < 0)
		return -1;
	return PUSH(argv, "--bind", dir, dir);
}

/*
 * The job's own places: its workspace (tmp, registry logins, kubeconfig, and the socket of
 * the stage's lock broker, through which `berth lock` and `berth werf` in the script queue
 * with the other jobs), the builds dir the runner clones into and the cache dir. The rest of
 * the state dir (other jobs' workspaces, the lock store) stays out.
 */
static int push_job(struct strvec *argv, const struct workspace *ws)
{
	if (PUSH(argv, "--bind", ws->dir, ws->dir) < 0)
		return -1;
	if (!is_under(ws->builds, ws->dir) && push_writable(argv, ws->builds) < 0)
		return -1;
	return push_writable(argv, ws->cache);
}

static int push_readable(struct strvec *argv, const char *path)
{
	if (!path || path[0] != '/')
		return 0;
	return PUSH(argv, "--ro-bind-try", path, path);
}

/*
 * What berth itself needs when the script runs it (berth login, lock, werf): its binary, the
 * job's copy of the settings (in the workspace) and the files they name, the tool bundle.
 * Read-only, and after the writable places, so that none of them can be changed from a
 * writable directory above it. Not the admin's settings file.
 */
static int push_berth(struct strvec *argv, const struct settings *s, const char *self,
		      const struct job_user *u)
{
	char bundle[PATH_MAX];
	size_t i;

	if (push_readable(argv, self) < 0 || (!u && push_readable(argv, s->lock_kubeconfig) < 0))
		return -1;
	if (strchr(s->werf_path, '/') && push_readable(argv, s->werf_path) < 0)
		return -1;
	for (i = 0; i < s->nr_registries; i++)
		if (push_readable(argv, s->registries[i].ca_file) < 0)
			return -1;
	if (!s->tools_bundle)
		return 0;
	if ((size_t)snprintf(bundle, sizeof(bundle), "%s/tools/%s", s->state_dir,
			     s->tools_bundle) >= sizeof(bundle))
		return error("state_dir is too long");
	return push_readable(argv, bundle);
}

static int bwrap_command(struct strvec *argv, const char *script, const struct workspace *ws,
			 const struct settings *s, const struct job_user *u)
{
	char self[PATH_MAX]; /* the sandbox's first process, and what `berth` runs in it */

	if (proc_self_path(self, sizeof(self)) < 0)
		return -1;
	if (PUSH(argv, "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
		 "--die-with-parent", "--cap-drop", "ALL") < 0 ||
	    (!s->bwrap_network && PUSH(argv, "--unshare-net") < 0) || push_system(argv) < 0 ||
	    push_home(argv, u) < 0 || push_job(argv, ws) < 0 || push_berth(argv, s, self, u) < 0)
		return -1;
	/* After the system's binds, whose resolv.conf it may replace. */
	if (bwrap_net_args(argv, s) < 0)
		return -1;
	if (PUSH(argv, "--", self, "supervise") < 0 || strvec_pushf(argv, "%u", s->kill_grace) < 0)
		return -1;
	/* The script is a descriptor berth passes (cmd/run.c), which --proc shows inside. */
	return PUSH(argv, "--", "bash", script);
}

/*
 * Runs bwrap with every namespace on a copy of /, as the job user when there is one (then the
 * namespaces are unprivileged ones): 0 with its wait status in *status and the first line it
 * said in `msg`, or -1 after reporting when it could not run.
 */
static int probe(const struct job_user *u, int *status, char *msg, size_t size)
{
	static char *const args[] = {
		"bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true", NULL};
	/* A file, not a pipe: read after bwrap is gone, its output cannot block it. */
	int fd = memfd_create("berth-bwrap-probe", MFD_CLOEXEC), ret;
	struct proc p = {.argv = args, .env = environ, .user = u, .script_fd = -1};
	ssize_t n = 0;

	msg[0] = '\0';
	if (fd < 0)
		return error_errno(
			"cannot try executor 'bwrap': no in-memory file for its messages");
	p.out_fd = p.err_fd = fd;
	ret = proc_run(&p, status);
	if (ret == 0 && (n = pread(fd, msg, size - 1, 0)) > 0) {
		msg[n] = '\0';
		msg[strcspn(msg, "\n")] = '\0';
	}
	close(fd);
	return ret;
}

static int bwrap_check(const struct settings *s, const struct job_user *u)
{
	char msg[512];
	int status = -1;

	if (!executor_on_path("bwrap"))
		return error("executor 'bwrap' needs bubblewrap, and there is no 'bwrap' on PATH "
			     "'%s': install it (apt-get install bubblewrap)",
			     getenv("PATH") ? getenv("PATH") : "");
	if (probe(u, &status, msg, sizeof(msg)) < 0)
		return -1;
	if (status == 0)
		return bwrap_net_check(s, u);
	if (u)
		return error("executor 'bwrap' cannot create namespaces as job user '%s' (bwrap: "
			     "%s): enable unprivileged user namespaces (sysctl -w "
			     "kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000)",
			     u->name, msg);
	if (geteuid() == 0)
		return error(
			"executor 'bwrap' cannot create namespaces here (bwrap: %s): run berth "
			"as root outside a container, or in one allowed to create namespaces "
			"(CAP_SYS_ADMIN, no seccomp or AppArmor profile refusing unshare)",
			msg);
	return error("executor 'bwrap' cannot create namespaces as user %u (bwrap: %s): enable "
		     "unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1 "
		     "user.max_user_namespaces=15000), or run berth as root",
		     (unsigned)geteuid(), msg);
}

const struct executor executor_bwrap = {
	.name = "bwrap",
	.check = bwrap_check,
	.command = bwrap_command,
	.ignore_stops = 1,
	.start = bwrap_net_start,
};
