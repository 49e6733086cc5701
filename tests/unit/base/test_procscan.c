/* Finding processes in /proc: by an environment entry, by uid, and this process's ancestors. */
#include "unit.h"

#include "base/proc.h"
#include "base/procscan.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_kill_marked(void **state)
{
	char *argv[] = {"sleep", "1000", NULL};
	char *env[] = {"BERTH_TEST_MARK=unit-7", NULL};
	struct proc p = {.argv = argv, .env = env, .script_fd = -1};
	int status;

	(void)state;
	assert_int_equal(proc_start(&p), 0);
	assert_int_equal(procscan_kill_marked("BERTH_TEST_MARK=unit-7", 1), 1);
	assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(procscan_kill_marked("BERTH_TEST_MARK=unit-7", 1), 0);
	assert_int_equal(procscan_kill_marked("BERTH_TEST_MARK=unit", 1), 0);
}

/* Counting finds the marked process and only it; this process, unmarked, is never counted. */
static void test_count_marked(void **state)
{
	char *argv[] = {"sleep", "1000", NULL};
	char *env[] = {"BERTH_TEST_MARK=unit-8", NULL};
	struct proc p = {.argv = argv, .env = env, .script_fd = -1};
	int status;

	(void)state;
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-8"), 0);
	assert_int_equal(proc_start(&p), 0);
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-8"), 1);
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-80"), 0);
	kill(p.pid, SIGKILL);
	assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-8"), 0);
}

static void test_stat_and_ancestors(void **state)
{
	pid_t ppid = 0;
	char st = 0;

	(void)state;
	assert_int_equal(procscan_stat(getpid(), &st, &ppid), 0);
	assert_int_equal(st, 'R');
	assert_int_equal(ppid, getppid());
	assert_true(procscan_is_ancestor(getppid()));
	assert_false(procscan_is_ancestor(getpid()));
	assert_false(procscan_is_ancestor(1));
}

/*
 * A child that takes on `uid` and waits (ignoring SIGTERM); returned once /proc shows it as the
 * uid's (or it failed and exited).
 */
static pid_t child_of_uid(uid_t uid)
{
	pid_t pid = fork(), ppid;
	char st = 0;

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGTERM, SIG_IGN);
		if (setresuid(uid, uid, uid) == 0)
			pause();
		_exit(1);
	}
	while (procscan_count_uid(uid) == 0 && procscan_stat(pid, &st, &ppid) == 0 && st != 'Z')
		usleep(1000); /* until setresuid is done (or the child failed) */
	return pid;
}

/* A uid's live processes are counted, its zombies not (their parent has yet to reap them). */
static void test_count_uid(void **state)
{
	uid_t uid = (uid_t)(3200000 + getpid() % 100000);
	pid_t pid, ppid;
	int status;
	char st = 0;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(procscan_count_uid(uid), 0);
	pid = child_of_uid(uid);
	assert_int_equal(procscan_count_uid(uid), 1);
	kill(pid, SIGKILL);
	while (procscan_stat(pid, &st, &ppid) == 0 && st != 'Z')
		usleep(1000); /* until it is a zombie */
	assert_int_equal(procscan_count_uid(uid), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* A process of the uid that ignores SIGTERM and is stopped still dies: SIGKILL from root. */
static void test_kill_uid(void **state)
{
	uid_t uid = (uid_t)(3300000 + getpid() % 100000);
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = child_of_uid(uid);
	kill(pid, SIGSTOP);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(procscan_kill_uid(uid), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(procscan_kill_uid(uid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_marked),	   cmocka_unit_test(test_count_marked),
		cmocka_unit_test(test_stat_and_ancestors), cmocka_unit_test(test_count_uid),
		cmocka_unit_test(test_kill_uid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
