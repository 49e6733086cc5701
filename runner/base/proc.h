/*
 * Child processes: the only module that forks. A stage script runs in its own process group
 * with stdin on /dev/null; berth stays its parent, forwards SIGTERM/SIGINT to the group, and
 * does not return until the script and everything it started are gone. What a child does
 * differently (ignore stops, die with berth, where its output goes) is in its struct proc.
 * Finding a job's processes in /proc is procscan.h's.
 */
#ifndef PROC_H
#define PROC_H

#include <sys/types.h>

struct cgroup;
struct job_user;

/* The stage script reaches the child on this descriptor (see cmd/run.c). */
#define PROC_SCRIPT_FD 3
/* How many more descriptors a child may be given (proc.fds). */
#define PROC_FDS_MAX 4

struct proc {
	char *const *argv; /* argv[0] is looked up in PATH */
	char *const *env;
	const struct job_user *user; /* the child becomes this user, or NULL: stays berth's */
	const char *dir;	     /* the child's working directory, or NULL: berth's */
	/* The cgroup the child joins before it changes user and execs (the job's: every process
	 * it starts stays in it, whatever it does), or NULL: berth's own. */
	const struct cgroup *cgroup;
	int script_fd;	/* given to the child as PROC_SCRIPT_FD, or -1 */
	const int *fds; /* given to the child as PROC_SCRIPT_FD + 1, + 2, ... */
	size_t nr_fds;	/* how many: at most PROC_FDS_MAX */
	/* While the command runs, serve(serve_arg) is called each time serve_fd (a listening
	 * socket) is readable; NULL: nothing to serve. */
	void (*serve)(void *arg);
	void *serve_arg;
	int serve_fd;
	/* Options: how the child behaves. Left 0, each is what berth's own children get. */
	int ignore_stops;   /* SIGTERM and SIGINT ignored, SIGKILL still ends it: for a command
			     * with a process of its own that passes stops on (executors/bwrap.c) */
	int die_with_berth; /* SIGKILL when berth dies: for a command whose lock lives only as
			     * long as berth renews it (lock.die_with_berth, lock/kube.c) */
	int out_fd;	    /* the child's stdout, or 0: berth's */
	int err_fd;	    /* the child's stderr, or 0: berth's */
	pid_t pid;	    /* also the id of its process group */
};

/*
 * From now on SIGTERM and SIGINT only note a stop (and wake a supervise loop): a command calls
 * this first, so a stop that comes while it prepares or waits for a lock is not lost.
 * proc_start does it too. 0, or -1 after reporting.
 */
int proc_catch_stops(void);
/* The signal berth was asked to stop with since proc_catch_stops, or 0. */
int proc_stop_requested(void);

/*
 * No core file of this process: RLIMIT_CORE's soft limit 0 and PR_SET_DUMPABLE 0 (which also
 * gives its /proc files to root and refuses ptrace to its own user). main calls it first: berth
 * holds tokens, passwords and kubeconfigs. Children started by proc_start get the limit back.
 * 0, or -1 after reporting.
 */
int proc_no_core_dumps(void);

/* Starts the child. An exec failure (no such program) is reported here, not later. */
int proc_start(struct proc *p);
/*
 * Starts `h`, a helper that the command proc_start started needs beside it (executors/bwrap_net.c:
 * the sandbox's network). It runs in a process group of its own, so the stops proc_supervise
 * passes on to the command's group do not reach it. It gets SIGKILL as soon as the command ends
 * (proc_supervise), or when berth dies (whatever h->die_with_berth says). 0, or -1 after
 * reporting.
 */
int proc_start_helper(struct proc *h);
/*
 * Runs `p` to its end, as a function call, for a short check (executors/bwrap.c's probe): berth
 * keeps its signal handling (a stop ends berth, not the wait), and nothing the child leaves is
 * swept. 0 with *status its wait status, or -1 after reporting (an exec failure included).
 */
int proc_run(struct proc *p, int *status);

/*
 * Waits for the child. SIGTERM or SIGINT to berth is passed on, as it came, to the child's
 * group, and SIGKILL follows `grace` seconds later. When the child exits, what it left running gets
 * SIGTERM and, after `grace`, SIGKILL. Sets *status to the child's wait status; *stopped to 1 when
 * berth was asked to stop. Returns 0, or -1 when waiting itself failed.
 */
int proc_supervise(struct proc *p, unsigned grace, int *status, int *stopped);

/*
 * From any thread: the command berth runs must end now (the lock it ran under is lost). Its
 * process group gets SIGKILL, what it left gets SIGKILL without grace, and no command starts
 * after this.
 */
void proc_abort(void);
/* 1 while process `pid` runs (a zombie has ended). */
int proc_alive(pid_t pid);
/*
 * The path of the berth binary running now (/proc/self/exe), into `buf`: what the runner
 * invoked, symlinks resolved. 0, or -1 after reporting.
 */
int proc_self_path(char *buf, size_t size);
/* 1 after proc_abort. */
int proc_aborted(void);

/*
 * Sends `sig` (0: none, a probe) to every process of `uid` (a job user's, never root's): by its
 * real or saved uid, wherever it runs (outside the job's cgroup too), without reading /proc.
 * SIGTERM comes with SIGCONT. Processes that stop or kill every helper sent as the uid get
 * SIGKILL from berth itself, found in /proc. 1 when there was one, 0 when none, -1 after
 * reporting.
 */
int proc_signal_user(uid_t uid, int sig);
/* 1 while a process of `uid` lives (a zombie does not), 0 when none, -1 after reporting. */
int proc_user_alive(uid_t uid);
/*
 * Ends every process of `uid`: SIGTERM, then SIGKILL after `grace` seconds, until none is
 * left. 1 when there were some, 0 when none, -1 after reporting (one outlived SIGKILL).
 */
int proc_end_user(uid_t uid, unsigned grace);

/* The exit code a shell would report for a wait status: the code, or 128 + signal. */
int proc_exit_code(int status);

/*
 * Runs fn(arg) in a child process, which exits with 0 when fn returns 0, else 1. The child
 * starts with none of berth's signal handling (SIGTERM ends it unless fn catches stops again),
 * is no subreaper, and gets SIGKILL when berth dies. A child of a running stage counts among
 * what the stage leaves: its end sweeps it. 0, or -1 after reporting.
 */
int proc_call(int (*fn)(void *), void *arg, pid_t *pid);

#endif
