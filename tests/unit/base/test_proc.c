/* Child processes: exit codes, exec errors, and what a script leaves behind. */
#include "unit.h"

#include "base/proc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* After proc_ignore_stops, children start with SIGINT and SIGTERM ignored (SigIgn 0x4002). */
static void test_ignore_stops(void **state)
{
	static const char ignored[] = "m=$(awk '/^SigIgn/ {print $2}' /proc/$$/status); "
				      "exit $(( (0x$m & 0x4002) == 0x4002 ? 0 : 1 ))";
	int status;

	(void)state;
	assert_int_equal(run(ignored, &status), 0);
	assert_int_equal(proc_exit_code(status), 1);
	proc_ignore_stops();
	assert_int_equal(run(ignored, &status), 0);
	assert_int_equal(proc_exit_code(status), 0);
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

/*
 * After test_ignore_stops: a helper keeps SIGTERM all the same, leads a process group of its
 * own, and writes to the descriptor it is given.
 */
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
	assert_int_equal(proc_start_helper(&h, out[1]), 0);
	close(out[1]);
	read_all(out[0], got, sizeof(got));
	assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
	assert_string_equal(got, "ignored=0 own_group=1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_stdin_is_dev_null),
		cmocka_unit_test(test_own_process_group),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_leftovers_are_ended),
		cmocka_unit_test(test_fds_are_given_in_order),
		cmocka_unit_test(test_ignore_stops), /* it stays set from here */
		cmocka_unit_test(test_helper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
