/* Finding processes in /proc: by an environment entry, by uid, and this process's ancestors. */
#include "unit.h"

#include "base/proc.h"
#include "base/procscan.h"

#include <signal.h>
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
	assert_int_equal(procscan_kill_marked("BERTH_TEST_MARK=unit-7", (uid_t)-1, 1), 1);
	assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(procscan_kill_marked("BERTH_TEST_MARK=unit-7", (uid_t)-1, 1), 0);
	assert_int_equal(procscan_kill_marked("BERTH_TEST_MARK=unit", (uid_t)-1, 1), 0);
}

/* Counting finds the marked process and only it; this process, unmarked, is never counted. */
static void test_count_marked(void **state)
{
	char *argv[] = {"sleep", "1000", NULL};
	char *env[] = {"BERTH_TEST_MARK=unit-8", NULL};
	struct proc p = {.argv = argv, .env = env, .script_fd = -1};
	int status;

	(void)state;
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-8", (uid_t)-1), 0);
	assert_int_equal(proc_start(&p), 0);
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-8", (uid_t)-1), 1);
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-80", (uid_t)-1), 0);
	kill(p.pid, SIGKILL);
	assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
	assert_int_equal(procscan_count_marked("BERTH_TEST_MARK=unit-8", (uid_t)-1), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_marked),
		cmocka_unit_test(test_count_marked),
		cmocka_unit_test(test_stat_and_ancestors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
