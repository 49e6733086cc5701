#include "base/proc.h"

#include "base/cgroup.h"
#include "base/clock.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/procscan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Signal handlers only note the signal and wake the wait loop through this pipe. */
static volatile sig_atomic_t stop_requested; /* the signal berth was asked to stop with */
static int wake_pipe[2] = {-1, -1};
/* For proc_abort, which a lock's renewing thread calls. */
static _Atomic pid_t running; /* the group proc_supervise waits for, 0 when none */
static _Atomic int aborted;
/* What proc_start_helper started for the command: ended as soon as the command ends. */
#define HELPERS_MAX 4
static pid_t helpers[HELPERS_MAX];
static int nr_helpers;
static struct rlimit core_limit; /* RLIMIT_CORE as berth was started with */
static int core_limit_saved;

static void on_signal(int sig)
{
	int saved = errno;
	char c = 0;

	if (sig == SIGTERM || sig == SIGINT)
		stop_requested = sig;
	if (write(wake_pipe[1], &c, 1) < 0) {
		/* the pipe is full: the loop is awake already */
	}
	errno = saved;
}

int proc_catch_stops(void)
{
	struct sigaction sa;

	if (wake_pipe[0] >= 0)
		return 0;
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return error_errno("cannot create a pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGCHLD, &sa, NULL) < 0)
		return error_errno("cannot install signal handlers");
	return 0;
}

int proc_stop_requested(void)
{
	return stop_requested;
}

/*
 * Sleeps until a signal arrives or `timeout_ms` passes (-1: no timeout); while the command `p`
 * runs, a request on its serve_fd is served too.
 */
static void wait_serving(const struct proc *p, long long timeout_ms)
{
	struct pollfd pfd[2] = {{wake_pipe[0], POLLIN, 0}, {p ? p->serve_fd : -1, POLLIN, 0}};
	char buf[64];

	if (timeout_ms > INT_MAX)
		timeout_ms = INT_MAX;
	if (poll(pfd, p && p->serve ? 2 : 1, (int)timeout_ms) <= 0)
		return;
	if (pfd[0].revents)
		while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
			;
	if (p && p->serve && pfd[1].revents)
		p->serve(p->serve_arg);
}

static void wait_event(long long timeout_ms)
{
	wait_serving(NULL, timeout_ms);
}

int proc_no_core_dumps(void)
{
	struct rlimit none;

	if (getrlimit(RLIMIT_CORE, &core_limit) < 0)
		return error_errno("cannot read the core file size limit");
	core_limit_saved = 1;
	none = (struct rlimit){0, core_limit.rlim_max};
	if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
		return error_errno("cannot turn core dumps off");
	return 0;
}

/* What a child is to berth: what proc_start, proc_start_helper and proc_run do differently. */
enum role {
	ROLE_COMMAND, /* proc_start: the group proc_supervise waits for and proc_abort kills */
	ROLE_HELPER,  /* proc_start_helper: beside the command, ended with it, dies with berth */
	ROLE_RUN,     /* proc_run: waited for at once; berth's signal handling left as it is */
};

/* How a child starts, for the child. */
struct spawn {
	int errno_fd; /* exec's errno goes here */
	enum role role;
	pid_t parent;
};

/*
 * Gives the child the descriptors of `p` at their numbers (PROC_SCRIPT_FD, then p->fds in
 * order). Each first moves above every number handed out, so that none overwrites another
 * that is still to be given; *errno_fd moves too. Async-signal-safe.
 */
static int give_fds(const struct proc *p, int *errno_fd)
{
	int fds[1 + PROC_FDS_MAX], above = PROC_SCRIPT_FD + 1 + (int)p->nr_fds, fd;
	size_t i, n = 0;

	fds[n++] = p->script_fd;
	for (i = 0; i < p->nr_fds; i++)
		fds[n++] = p->fds[i];
	if (*errno_fd < above) {
		if ((fd = fcntl(*errno_fd, F_DUPFD_CLOEXEC, above)) < 0)
			return -1;
		*errno_fd = fd;
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0 && fds[i] < above &&
		    (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, above)) < 0)
			return -1;
	/* dup2 clears close-on-exec on the copy: these, and only these, outlive exec. */
	for (i = 0; i < n; i++)
		if (fds[i] >= 0 && dup2(fds[i], PROC_SCRIPT_FD + (int)i) < 0)
			return -1;
	return 0;
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static void child(const struct proc *p, struct spawn *sp)
{
	int e, null_fd;

	setpgid(0, 0);
	/* First, as root: nothing the child runs can start outside the job's cgroup. */
	if (p->cgroup && cgroup_join(p->cgroup) < 0)
		goto fail;
	/*
	 * The command is the job's (a script, werf): it gets the core size limit berth was given,
	 * so a program of the job's may still dump core where the admin lets it, as without berth.
	 * Its memory is the job's own; this copy of berth's stays undumpable until execve, which
	 * makes the new program dumpable again (a raw syscall: safe here).
	 */
	if (core_limit_saved)
		setrlimit(RLIMIT_CORE, &core_limit);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL); /* main ignores it for berth alone */
	if (p->ignore_stops) {
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
	}
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0)
		goto fail;
	if (null_fd > 2)
		close(null_fd);
	if ((p->out_fd > 0 && dup2(p->out_fd, 1) < 0) || (p->err_fd > 0 && dup2(p->err_fd, 2) < 0))
		goto fail;
	if (give_fds(p, &sp->errno_fd) < 0)
		goto fail;
	if ((p->dir && chdir(p->dir) < 0) || (p->user && job_user_become(p->user) < 0))
		goto fail;
	/* After the user change, which clears the parent-death signal. */
	if ((p->die_with_berth || sp->role == ROLE_HELPER) &&
	    (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != sp->parent))
		goto fail; /* berth is gone already */
	execvpe(p->argv[0], p->argv, p->env);
fail:
	e = errno;
	if (write(sp->errno_fd, &e, sizeof(e)) < 0) {
		/* nothing left to tell anyone */
	}
	_exit(127);
}

/* Forks the child `p` in its `role`; exec's errno comes back through a close-on-exec pipe. */
static int start(struct proc *p, enum role role)
{
	struct spawn sp = {-1, role, getpid()};
	int err_pipe[2], child_errno = 0;
	ssize_t n;

	if (role != ROLE_RUN && proc_catch_stops() < 0)
		return -1;
	if (aborted)
		return error("not starting '%s': the lock it needs is lost", p->argv[0]);
	if (p->nr_fds > PROC_FDS_MAX)
		return error("cannot give '%s' %zu descriptors: at most %d", p->argv[0], p->nr_fds,
			     PROC_FDS_MAX);
	if (role == ROLE_HELPER && nr_helpers == HELPERS_MAX)
		return error("cannot start '%s': %d helpers run already", p->argv[0], HELPERS_MAX);
	/* Orphans of the script become our children, so none escapes the end-of-stage sweep. */
	if (role != ROLE_RUN && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return error_errno("cannot become a subreaper");
	if (pipe2(err_pipe, O_CLOEXEC) < 0)
		return error_errno("cannot create a pipe");
	sp.errno_fd = err_pipe[1];
	p->pid = fork();
	if (p->pid < 0) {
		close(err_pipe[0]);
		close(err_pipe[1]);
		return error_errno("cannot start '%s'", p->argv[0]);
	}
	if (p->pid == 0)
		child(p, &sp);
	close(err_pipe[1]);
	setpgid(p->pid, p->pid); /* both sides set it: no window where a signal misses */
	if (role == ROLE_HELPER)
		helpers[nr_helpers++] = p->pid;
	else if (role == ROLE_COMMAND)
		running = p->pid;
	if (aborted)
		kill(-p->pid, SIGKILL); /* proc_abort came between the check and the fork */
	do
		n = read(err_pipe[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(err_pipe[0]);
	if (n > 0) {
		waitpid(p->pid, NULL, 0);
		if (role == ROLE_HELPER)
			nr_helpers--;
		else if (role == ROLE_COMMAND)
			running = 0;
		p->pid = 0;
		errno = child_errno;
		return error_errno("cannot run '%s'", p->argv[0]);
	}
	return 0;
}

int proc_start(struct proc *p)
{
	return start(p, ROLE_COMMAND);
}

int proc_start_helper(struct proc *h)
{
	return start(h, ROLE_HELPER);
}

int proc_run(struct proc *p, int *status)
{
	pid_t r;

	if (start(p, ROLE_RUN) < 0)
		return -1;
	while ((r = waitpid(p->pid, status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return error_errno("cannot wait for '%s'", p->argv[0]);
	return 0;
}

int proc_alive(pid_t pid)
{
	pid_t ppid;
	char state;

	return procscan_stat(pid, &state, &ppid) == 0 && state != 'Z' && state != 'X';
}

static int signal_if_child(pid_t pid, void *data)
{
	int sig = *(int *)data;
	pid_t ppid;
	char state;

	if (procscan_stat(pid, &state, &ppid) == 0 && ppid == getpid() && state != 'Z') {
		kill(pid, sig);
		kill(pid, SIGCONT); /* a stopped process would never act on SIGTERM */
	}
	return 0;
}

static void signal_leftovers(pid_t pgid, int sig)
{
	kill(-pgid, sig);
	kill(-pgid, SIGCONT);
	procscan_each(signal_if_child, &sig);
}

/* Reaps finished children; 1 while any child or any member of the group remains. */
static int leftovers_remain(pid_t pgid)
{
	siginfo_t si;

	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
		return 1;
	return kill(-pgid, 0) == 0;
}

/*
 * The helpers of the command that has just ended: SIGKILL, for nothing of the stage needs them
 * now, and waited for by pid, so that the sweep after finds no child left to look for in /proc.
 */
static void end_helpers(void)
{
	long long give_up = clock_now_ms() + PROCSCAN_KILL_TIMEOUT_MS;
	int i;

	for (i = 0; i < nr_helpers; i++)
		kill(helpers[i], SIGKILL);
	for (i = 0; i < nr_helpers; i++)
		while (waitpid(helpers[i], NULL, WNOHANG) == 0 && clock_now_ms() < give_up)
			wait_event(
				100); /* SIGCHLD wakes it; one stuck in the kernel: the sweep's */
	nr_helpers = 0;
}

/* What the script started and left running: SIGTERM, then SIGKILL after grace. */
static void end_leftovers(pid_t pgid, long long kill_at)
{
	int sig = SIGTERM;

	if (!leftovers_remain(pgid))
		return;
	signal_leftovers(pgid, sig);
	while (leftovers_remain(pgid)) {
		long long left = kill_at - clock_now_ms();

		if (left <= 0 && sig != SIGKILL)
			sig = SIGKILL;
		if (left <= -PROCSCAN_KILL_TIMEOUT_MS) {
			warning("processes the stage left are still there %lld ms after SIGKILL "
				"(stuck in the kernel?); cleanup tries again",
				(long long)PROCSCAN_KILL_TIMEOUT_MS);
			return;
		}
		wait_event(left > 100 || left <= 0 ? 100 : left);
		signal_leftovers(pgid, sig);
	}
}

int proc_supervise(struct proc *p, unsigned grace, int *status, int *stopped)
{
	long long kill_at = -1;

	for (;;) {
		pid_t r = waitpid(p->pid, status, WNOHANG);

		if (r == p->pid) {
			running = 0;
			break;
		}
		if (r < 0 && errno != EINTR)
			return error_errno("cannot wait for '%s'", p->argv[0]);
		if (stop_requested && kill_at < 0) {
			kill(-p->pid, stop_requested); /* as asked: SIGINT stays SIGINT */
			kill(-p->pid, SIGCONT);
			kill_at = clock_now_ms() + grace * 1000LL;
		}
		if (kill_at >= 0 && clock_now_ms() >= kill_at) {
			kill(-p->pid, SIGKILL);
			wait_serving(p, -1); /* SIGCHLD wakes us */
		} else {
			wait_serving(p, kill_at < 0 ? -1 : kill_at - clock_now_ms() + 1);
		}
	}
	*stopped = stop_requested != 0;
	end_helpers();
	if (aborted)
		kill_at =
			clock_now_ms(); /* no grace: the next holder of the lock may be starting */
	end_leftovers(p->pid, kill_at >= 0 ? kill_at : clock_now_ms() + grace * 1000LL);
	return 0;
}

void proc_abort(void)
{
	pid_t pgid = running;
	char c = 0;

	aborted = 1;
	if (pgid > 0) {
		kill(-pgid, SIGKILL);
		if (write(wake_pipe[1], &c, 1) < 0) {
			/* SIGCHLD wakes the wait loop anyway */
		}
	}
}

int proc_aborted(void)
{
	return aborted;
}

/* In a new process: forget the parent's signal state, then run fn. */
int proc_call(int (*fn)(void *), void *arg, pid_t *pid)
{
	pid_t parent = getpid();

	*pid = fork();
	if (*pid < 0)
		return error_errno("cannot start a process");
	if (*pid > 0)
		return 0;
	/* The child: none of the parent's signal state, and no life beyond the parent's. */
	if (wake_pipe[0] >= 0) {
		close(wake_pipe[0]);
		close(wake_pipe[1]);
		wake_pipe[0] = wake_pipe[1] = -1;
	}
	stop_requested = 0;
	running = 0;
	nr_helpers = 0;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	_exit(fn(arg) == 0 ? 0 : 1);
}

/*
 * In a child that takes on `uid` and nothing else: kill(-1, sig) signals every process that uid
 * may signal (its real or saved uid is `uid`), wherever it runs; then a fork under
 * RLIMIT_NPROC 2 tells whether one is left, for the kernel counts each uid's processes (this
 * child among them) and refuses a fork that would make a third. Neither walks /proc, and
 * kill(-1)'s own result cannot tell: it succeeds whenever the host runs any process. The child
 * is not dumpable (a change of uid), so the uid's processes cannot read it; they may kill or
 * stop it, which is why the parent tries again. Exits 0 when a process of `uid` is there, 1
 * when none.
 */
static void signal_as(uid_t uid, int sig)
{
	struct rlimit two = {2, 2};
	pid_t pid;

	signal(SIGTERM, SIG_DFL); /* berth's handlers would wake its loop, not end this child */
	signal(SIGINT, SIG_DFL);
	if (setgroups(0, NULL) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(3);
	if (sig)
		kill(-1, sig);
	if (sig == SIGTERM)
		kill(-1, SIGCONT); /* a stopped process must run to handle it */
	if (setrlimit(RLIMIT_NPROC, &two) < 0)
		_exit(3);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		_exit(errno == EAGAIN ? 0 : 3);
	kill(pid, SIGKILL); /* one of the uid's may have stopped it: waiting must not hang */
	waitpid(pid, NULL, 0);
	_exit(1);
}

/*
 * Every helper sent as `uid` was killed or stopped: its processes fight back (a loop of
 * `kill -STOP -1`). They cannot stop root: berth finds them in /proc (slow, but only now) and
 * sends SIGKILL, whatever `sig` was. As proc_signal_user returns.
 */
static int fight_back(uid_t uid, int sig)
{
	int n;

	if (sig == 0) {
		n = procscan_count_uid(uid);
		return n < 0 ? -1 : n > 0;
	}
	n = procscan_kill_uid(uid);
	if (n > 0)
		warning("the processes of uid %ld stopped or killed every helper sent as that "
			"user: %d killed from outside it",
			(long)uid, n);
	return n < 0 ? -1 : n > 0;
}

int proc_signal_user(uid_t uid, int sig)
{
	int status, tries;
	pid_t pid;

	if (uid == 0 || uid == (uid_t)-1)
		return error("refusing to signal every process of uid %ld", (long)uid);
	for (tries = 0; tries < 100; tries++) {
		pid = fork();
		if (pid < 0)
			return error_errno("cannot start a process");
		if (pid == 0)
			signal_as(uid, sig);
		while (waitpid(pid, &status, WUNTRACED) < 0)
			if (errno != EINTR)
				return error_errno("cannot wait for a process");
		if (WIFSTOPPED(status)) { /* one of the uid's stopped it: never wait on that */
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			continue;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) <= 1)
			return WEXITSTATUS(status) == 0;
		if (WIFEXITED(status))
			return error("cannot signal the processes of uid %ld", (long)uid);
		/* killed or stopped: one of the uid's processes got to it first; again */
	}
	return fight_back(uid, sig);
}

int proc_user_alive(uid_t uid)
{
	int r = proc_signal_user(uid, 0);

	/* the kernel's count includes zombies: when it says some, /proc tells whether one lives */
	return r <= 0 ? r : procscan_count_uid(uid) != 0;
}

int proc_end_user(uid_t uid, unsigned grace)
{
	long long kill_at = clock_now_ms() + grace * 1000LL;
	int sig = SIGTERM, r = proc_signal_user(uid, SIGTERM);

	if (r <= 0)
		return r;
	while ((r = proc_signal_user(uid, sig)) > 0) {
		/* Left for a while after SIGKILL: zombies, which count until their parent reaps
		 * them (the kernel's count cannot tell them apart), or one stuck in the kernel. */
		if (clock_now_ms() >= kill_at + 100 && procscan_count_uid(uid) == 0)
			return 1;
		if (clock_now_ms() >= kill_at + PROCSCAN_KILL_TIMEOUT_MS)
			return error(
				"processes of uid %ld are still there %d ms after SIGKILL "
				"(stuck in the kernel, e.g. on a hung mount); cleanup and berth "
				"gc try again",
				(long)uid, PROCSCAN_KILL_TIMEOUT_MS);
		if (clock_now_ms() >= kill_at)
			sig = SIGKILL;
		clock_sleep_ms(sig == SIGKILL ? 1 : 20);
	}
	return r < 0 ? -1 : 1;
}

int proc_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int proc_self_path(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n < 0)
		return error_errno("cannot find the berth binary in /proc/self/exe");
	if ((size_t)n >= size - 1)
		return error("the berth binary's path is too long");
	buf[n] = '\0';
	return 0;
}
