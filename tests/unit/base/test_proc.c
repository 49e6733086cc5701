/* Child processes: exit codes, exec errors, options, and what a script leaves behind. */
#include "unit.h"

#include "base/clock.h"
#include "base/proc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int run(const char *script, int *status)
{
	char *argv[] = {"bash", "-c", (char *)script, NULL};
	struct proc p = {.argv = argv, .env = environ, .script_fd = -1};
	int stopped = 0;

	if (proc_start(&p) < 0)
		return -1;
	return proc_supervise(&p, 1, status, &stopped);
}

static void test_exit_codes(void **state)
{
	int status;

	(void)state;
	assert_int_equal(run("exit 0", &status), 0);
	assert_int_equal(proc_exit_code(status), 0);
	assert_int_equal(run("exit 42", &status), 0);
	assert_int_equal(proc_exit_code(status), 42);
	assert_int_equal(run("kill -KILL $$", &status), 0);
	assert_int_equal(proc_exit_code(status), 128 + SIGKILL);
}

static void test_stdin_is_dev_null(void **state)
{
	int status;

	(void)state;
	assert_int_equal(run("read -r line && exit 3; exit 0", &status), 0);
	assert_int_equal(proc_exit_code(status), 0);
}

static void test_own_process_group(void **state)
{
	int status;
	char script[128];

	(void)state;
	snprintf(script, sizeof(script), "test \"$(ps -o pgid= $$ | tr -d ' ')\" != %d",
		 (int)getpgrp());
	assert_int_equal(run(script, &status), 0);
	assert_int_equal(proc_exit_code(status), 0);
}

static void test_missing_program(void **state)
{
	char *argv[] = {"/nonexistent/program", NULL};
	struct proc p = {.argv = argv, .env = environ, .script_fd = -1};

	(void)state;
	assert_int_equal(proc_start(&p), -1);
}

static void test_leftovers_are_ended(void **state)
{
	char pidfile[] = "/tmp/berth-test-proc-XXXXXX", script[256];
	int status, pids[2] = {0, 0};
	FILE *f;

	(void)state;
	close(mkstemp(pidfile));
	/* One child in the group, one that leaves it with setsid: both must be gone. */
	snprintf(script, sizeof(script),
		 "sleep 1000 & echo $! > %s; setsid sleep 1000 & echo $! >> %s; exit 0", pidfile,
		 pidfile);
	assert_int_equal(run(script, &status), 0);
	assert_int_equal(proc_exit_code(status), 0);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d %d", &pids[0], &pids[1]), 2);
	fclose(f);
	unlink(pidfile);
	assert_int_equal(kill(pids[0], 0), -1);
	assert_int_equal(kill(pids[1], 0), -1);
}

/* What a child wrote to the pipe `fd` (write end already closed), as a string. */
static void read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/*
 * Starts `bash -c SCRIPT` with the read end of a pipe as descriptor 4, sends it SIGTERM once it
 * runs (proc_start returns after exec), then writes a line to the pipe: the exit code.
 */
static int sigterm_then_line(const char *script, int ignore_stops)
{
	char *argv[] = {"bash", "-c", (char *)script, NULL};
	struct proc p = {.argv = argv, .env = environ, .script_fd = -1};
	int fds[2], status, stopped;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	p.fds = &fds[0];
	p.nr_fds = 1;
	p.ignore_stops = ignore_stops;
	assert_int_equal(proc_start(&p), 0);
	close(fds[0]);
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_int_equal(write(fds[1], "go\n", 3), 3);
	close(fds[1]);
	assert_int_equal(proc_supervise(&p, 1, &status, &stopped), 0);
	return proc_exit_code(status);
}

/* With ignore_stops the child lives through SIGTERM; without, SIGTERM ends it. */
static void test_ignore_stops(void **state)
{
	static const char script[] = "read -r line <&4 && exit 7";

	(void)state;
	assert_int_equal(sigterm_then_line(script, 1), 7);
	/* the option is the child's own: the next one gets SIGTERM's default again */
	assert_int_equal(sigterm_then_line(script, 0), 128 + SIGTERM);
}

struct orphan {
	int die_with_berth;
	int pid_fd; /* where the grandchild's pid goes */
};

/* In a child of the test, standing in for berth: starts `sleep` and exits at once. */
static int start_and_exit(void *arg)
{
	const struct orphan *o = arg;
	char *argv[] = {"sleep", "1000", NULL};
	struct proc p = {
		.argv = argv, .env = environ, .script_fd = -1, .die_with_berth = o->die_with_berth};

	if (proc_start(&p) < 0 || write(o->pid_fd, &p.pid, sizeof(p.pid)) != sizeof(p.pid))
		return -1;
	return 0;
}

/*
 * The signal that ended a child started by a "berth" that exited right after it: the test is
 * a subreaper, so the orphan becomes its child. One that outlived its parent gets SIGTERM here.
 */
static int orphan_end(int die_with_berth)
{
	struct orphan o = {die_with_berth, -1};
	int fds[2], status;
	pid_t berth, orphan = 0;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	o.pid_fd = fds[1];
	assert_int_equal(proc_call(start_and_exit, &o, &berth), 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], &orphan, sizeof(orphan)), sizeof(orphan));
	close(fds[0]);
	assert_int_equal(waitpid(berth, &status, 0), berth);
	assert_int_equal(proc_exit_code(status), 0);
	/* The parent-death signal is sent as the parent exits, before waitpid sees it gone. */
	kill(orphan, SIGTERM);
	assert_int_equal(waitpid(orphan, &status, 0), orphan);
	assert_true(WIFSIGNALED(status));
	return WTERMSIG(status);
}

static void test_die_with_berth(void **state)
{
	(void)state;
	assert_int_equal(orphan_end(1), SIGKILL);
	assert_int_equal(orphan_end(0), SIGTERM);
}

/* out_fd and err_fd: where the child's stdout and stderr go, each its own. */
static void test_out_and_err(void **state)
{
	char *argv[] = {"bash", "-c", "echo out; echo err >&2", NULL};
	struct proc p = {.argv = argv, .env = environ, .script_fd = -1};
	int out[2], err[2], status, stopped;
	char got[64];

	(void)state;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	p.out_fd = out[1];
	p.err_fd = err[1];
	assert_int_equal(proc_start(&p), 0);
	close(out[1]);
	close(err[1]);
	assert_int_equal(proc_supervise(&p, 1, &status, &stopped), 0);
	assert_int_equal(proc_exit_code(status), 0);
	read_all(out[0], got, sizeof(got));
	assert_string_equal(got, "out\n");
	read_all(err[0], got, sizeof(got));
	assert_string_equal(got, "err\n");
}

/* proc_run: the wait status, as the child's user and with its output where it was told. */
static void test_run(void **state)
{
	char *argv[] = {"bash", "-c", "echo said >&2; exit 5", NULL};
	char *missing[] = {"/nonexistent/program", NULL};
	struct proc p = {.argv = argv, .env = environ, .script_fd = -1};
	struct proc m = {.argv = missing, .env = environ, .script_fd = -1};
	int err[2], status = 0;
	char got[64];

	(void)state;
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	p.err_fd = err[1];
	assert_int_equal(proc_run(&p, &status), 0);
	close(err[1]);
	assert_int_equal(proc_exit_code(status), 5);
	read_all(err[0], got, sizeof(got));
	assert_string_equal(got, "said\n");
	assert_int_equal(proc_run(&m, &status), -1);
}

/* proc.fds arrive as 4, 5, ... in order, even when they sit at each other's numbers. */
static void test_fds_are_given_in_order(void **state)
{
	char *argv[] = {"bash", "-c", "echo four >&4; echo five >&5", NULL};
	struct proc p = {.argv = argv, .env = environ, .script_fd = -1};
	int a[2], b[2], fds[2], status, stopped;
	char got[64];

	(void)state;
	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	/* The read ends out of the way; a's write end at 5 and b's at 4: each is the other's
	 * target. */
	assert_int_equal(dup3(a[0], 30, O_CLOEXEC), 30);
	assert_int_equal(dup3(b[0], 31, O_CLOEXEC), 31);
	assert_int_equal(dup3(a[1], 32, O_CLOEXEC), 32);
	assert_int_equal(dup3(b[1], 33, O_CLOEXEC), 33);
	close(a[0]);
	close(b[0]);
	close(a[1]);
	close(b[1]);
	a[0] = 30;
	b[0] = 31;
	assert_int_equal(dup3(32, 5, O_CLOEXEC), 5);
	assert_int_equal(dup3(33, 4, O_CLOEXEC), 4);
	close(32);
	close(33);
	fds[0] = 5;
	fds[1] = 4;
	p.fds = fds;
	p.nr_fds = 2;
	assert_int_equal(proc_start(&p), 0);
	close(4);
	close(5);
	assert_int_equal(proc_supervise(&p, 1, &status, &stopped), 0);
	assert_int_equal(proc_exit_code(status), 0);
	read_all(a[0], got, sizeof(got));
	assert_string_equal(got, "four\n");
	read_all(b[0], got, sizeof(got));
	assert_string_equal(got, "five\n");
}

/* A helper keeps SIGTERM, leads a process group of its own, and writes where it is told. */
static void test_helper(void **state)
{
	char *argv[] = {
		"bash", "-c",
		"m=$(awk '/^SigIgn/ {print $2}' /proc/$$/status); "
		"echo ignored=$(( (0x$m & 0x4000) != 0 )) own_group=$(( $(ps -o pgid= $$) == $$ ))",
		NULL};
	struct proc h = {.argv = argv, .env = environ, .script_fd = -1};
	int out[2], status;
	char got[128];

	(void)state;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	h.out_fd = h.err_fd = out[1];
	assert_int_equal(proc_start_helper(&h), 0);
	close(out[1]);
	read_all(out[0], got, sizeof(got));
	assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
	assert_string_equal(got, "ignored=0 own_group=1\n");
}

/*
 * A process of `uid` that is not this one's child (its parent exits at once, so init reaps it):
 * as a job user's process left outside the job's cgroup, running `argv`. Returns its pid once it
 * runs as `uid`; `ignore_term`: it ignores SIGTERM.
 */
static pid_t orphan_running(uid_t uid, int ignore_term, char *const argv[])
{
	int ready[2], status;
	pid_t pid, orphan = 0;
	char c;

	/* Orphans go to init, not to this process, which proc_start made a subreaper. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fork() == 0) {
			sigset_t none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			if (ignore_term)
				signal(SIGTERM, SIG_IGN);
			if (setresuid(uid, uid, uid) < 0)
				_exit(1);
			orphan = getpid();
			if (write(ready[1], &orphan, sizeof(orphan)) != sizeof(orphan))
				_exit(1);
			execvp(argv[0], argv);
			_exit(1);
		}
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(read(ready[0], &orphan, sizeof(orphan)), (ssize_t)sizeof(orphan));
	assert_int_equal(read(ready[0], &c, 1), 0); /* EOF: it has exec'd sleep */
	close(ready[0]);
	return orphan;
}

static pid_t orphan_of(uid_t uid, int ignore_term)
{
	char *const sleeper[] = {"sleep", "1000", NULL};

	return orphan_running(uid, ignore_term, sleeper);
}

/* A uid no account and no other test uses: proc_signal_user signals all of its processes. */
static uid_t unused_uid(void)
{
	return (uid_t)(3000000 + getpid() % 100000);
}

/* Every process of a uid is found and ended without /proc, one ignoring SIGTERM too; this one
 * (root) and its other children are left alone; root itself is refused. */
static void test_end_user(void **state)
{
	uid_t uid = unused_uid();
	pid_t a, b, mine;
	int status;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(proc_signal_user(uid, 0), 0);
	assert_int_equal(proc_end_user(uid, 0), 0);
	mine = fork();
	if (mine == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion must not leave it */
		pause();
		_exit(0);
	}
	a = orphan_of(uid, 0);
	b = orphan_of(uid, 1);
	assert_int_equal(proc_signal_user(uid, 0), 1);
	assert_int_equal(proc_end_user(uid, 0), 1);
	/* Ended: init may not have reaped them yet, which the kernel's count waits for. */
	assert_false(proc_alive(a));
	assert_false(proc_alive(b));
	while (proc_signal_user(uid, 0) == 1)
		clock_sleep_ms(10);
	assert_int_equal(proc_signal_user(uid, 0), 0);
	assert_true(proc_alive(mine));
	kill(mine, SIGKILL);
	assert_int_equal(waitpid(mine, &status, 0), mine);
	assert_int_equal(proc_signal_user(0, 0), -1);
}

/* With a grace period, SIGTERM comes first: a process it ends needs no SIGKILL. */
static void test_end_user_terminates_first(void **state)
{
	uid_t uid = unused_uid() + 1;
	long long start;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = orphan_of(uid, 0);
	start = clock_now_ms();
	assert_int_equal(proc_end_user(uid, 30), 1);
	assert_false(proc_alive(pid));
	assert_true(clock_now_ms() - start < 30000); /* SIGTERM did it: no SIGKILL was due */
}

/*
 * A process of the uid that keeps stopping every other process of it (berth's helpers among
 * them) neither hangs proc_end_user nor survives it: where it stops every helper, berth kills
 * it from outside the uid.
 */
static void test_end_user_whose_processes_stop_the_helper(void **state)
{
	char *const stopper[] = {"sh", "-c", "while :; do kill -STOP -1; done", NULL};
	uid_t uid = unused_uid() + 2;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = orphan_running(uid, 1, stopper);
	assert_int_equal(proc_end_user(uid, 0), 1);
	assert_false(proc_alive(pid));
}

int main(void)
{
	/*
	 * test_fds_are_given_in_order comes first: it puts its own pipes at descriptors 4 and 5,
	 * where proc.c's wake pipe would sit once an earlier test had made it when descriptor 3
	 * is taken (flock(1) or make hand one down), and closing them would leave proc.c with
	 * numbers that later name the tests' own pipes.
	 */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_are_given_in_order),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_stdin_is_dev_null),
		cmocka_unit_test(test_own_process_group),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_leftovers_are_ended),
		cmocka_unit_test(test_ignore_stops),
		cmocka_unit_test(test_die_with_berth),
		cmocka_unit_test(test_out_and_err),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_helper),
		cmocka_unit_test(test_end_user),
		cmocka_unit_test(test_end_user_terminates_first),
		cmocka_unit_test(test_end_user_whose_processes_stop_the_helper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
