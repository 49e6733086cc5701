/* The bwrap executor: what its command line shows the script, hides from it, and runs last. */
#include "unit.h"

#include "executors/executor.h"
#include "base/job_user.h"
#include "conf/settings.h"
#include "job/workspace.h"
#include "base/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

struct fixture {
	struct settings s;
	struct workspace ws;
	struct strvec argv;
	const struct job_user *user; /* NULL: scripts run as berth's user */
};

static int make_root(void **state)
{
	(void)state;
	strcpy(root, "/tmp/berth-test-bwrap-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int drop_root(void **state)
{
	(void)state;
	assert_int_equal(remove_tree(root, 0), 0);
	return 0;
}

/*
 * The command line for job 7 with `extra` settings (state, builds and cache under root), for
 * job user `user` (NULL: berth's).
 */
static void command_as(struct fixture *f, const char *extra, const struct job_user *user)
{
	struct job job;
	char yaml[512];

	memset(f, 0, sizeof(*f));
	f->user = user;
	snprintf(yaml, sizeof(yaml), "state_dir: %s/state\nexecutor: bwrap\n%s", root, extra);
	assert_int_equal(settings_parse(&f->s, "t.yaml", yaml, strlen(yaml)), 0);
	memset(&job, 0, sizeof(job));
	job.id = "7";
	assert_int_equal(workspace_init(&f->ws, &f->s, &job), 0);
	assert_int_equal(executor_find("bwrap")->command(&f->argv, "/proc/self/fd/3", &f->ws, &f->s,
							 f->user),
			 0);
}

static void command(struct fixture *f, const char *extra)
{
	command_as(f, extra, NULL);
}

static void release(struct fixture *f)
{
	strvec_clear(&f->argv);
	workspace_release(&f->ws);
	settings_release(&f->s);
}

/* Index of the first `a b c` in argv (b, c NULL: fewer), or -1. */
static int find(const struct fixture *f, const char *a, const char *b, const char *c)
{
	size_t i;

	for (i = 0; i < f->argv.nr; i++)
		if (!strcmp(f->argv.v[i], a) &&
		    (!b || (i + 1 < f->argv.nr && !strcmp(f->argv.v[i + 1], b))) &&
		    (!c || (i + 2 < f->argv.nr && !strcmp(f->argv.v[i + 2], c))))
			return (int)i;
	return -1;
}

static void test_namespaces_and_a_private_network_by_default(void **state)
{
	struct fixture f;

	(void)state;
	command(&f, "");
	assert_string_equal(f.argv.v[0], "bwrap");
	assert_true(find(&f, "--unshare-pid", NULL, NULL) > 0);
	assert_true(find(&f, "--unshare-ipc", NULL, NULL) > 0);
	assert_true(find(&f, "--unshare-uts", NULL, NULL) > 0);
	assert_true(find(&f, "--die-with-parent", NULL, NULL) > 0);
	assert_true(find(&f, "--cap-drop", "ALL", NULL) > 0);
	assert_int_equal(find(&f, "--new-session", NULL, NULL), -1);
	assert_int_equal(find(&f, "--as-pid-1", NULL, NULL), -1);
	assert_true(executor_find("bwrap")->ignore_stops);
	assert_false(executor_find("shell")->ignore_stops);
	assert_non_null(executor_find("bwrap")->start);
	assert_null(executor_find("shell")->start);
	/* Private: a namespace of its own, held (--block-fd) until start has its network up. */
	assert_true(find(&f, "--unshare-net", NULL, NULL) > 0);
	assert_true(find(&f, "--info-fd", "4", NULL) > 0);
	assert_true(find(&f, "--block-fd", "5", NULL) > 0);
	release(&f);
	command(&f, "bwrap_network: true\n");
	assert_true(find(&f, "--info-fd", "4", NULL) > 0);
	release(&f);
	/* The host's: no namespace; none: one with nothing to start beside it. */
	command(&f, "bwrap_network: host\n");
	assert_int_equal(find(&f, "--unshare-net", NULL, NULL), -1);
	assert_int_equal(find(&f, "--info-fd", NULL, NULL), -1);
	release(&f);
	command(&f, "bwrap_network: false\n");
	assert_true(find(&f, "--unshare-net", NULL, NULL) > 0);
	assert_int_equal(find(&f, "--info-fd", NULL, NULL), -1);
	assert_int_equal(find(&f, "--block-fd", NULL, NULL), -1);
	release(&f);
}

static void test_only_the_jobs_own_places_are_writable(void **state)
{
	char state_dir[128], jobs[128], locks[128];
	struct fixture f;
	size_t i;

	(void)state;
	command(&f, "");
	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	snprintf(jobs, sizeof(jobs), "%s/state/jobs", root);
	snprintf(locks, sizeof(locks), "%s/state/locks", root);
	assert_true(find(&f, "--bind", f.ws.dir, f.ws.dir) > 0);
	assert_true(find(&f, "--bind", f.s.builds_dir, f.s.builds_dir) > 0);
	assert_true(find(&f, "--bind", f.s.cache_dir, f.s.cache_dir) > 0);
	/* The lock store is root's: the script reaches it through the broker's socket, which is
	 * in the workspace. */
	assert_int_equal(find(&f, "--bind", locks, NULL), -1);
	/* Bound places exist: a bind of a missing directory would fail the stage. */
	assert_int_equal(access(f.s.builds_dir, F_OK), 0);
	assert_int_equal(access(f.s.cache_dir, F_OK), 0);
	/* Neither the state dir nor the other jobs' workspaces. */
	for (i = 0; i < f.argv.nr; i++) {
		assert_string_not_equal(f.argv.v[i], state_dir);
		assert_string_not_equal(f.argv.v[i], jobs);
	}
	/* /tmp is private: its tmpfs comes before the binds below it. */
	assert_true(find(&f, "--tmpfs", "/tmp", NULL) < find(&f, "--bind", f.ws.dir, NULL));
	assert_true(find(&f, "--ro-bind", "/usr", "/usr") > 0);
	assert_true(find(&f, "--ro-bind", "/etc", "/etc") > 0);
	assert_true(find(&f, "--proc", "/proc", NULL) > 0);
	release(&f);
}

static void test_read_only_files_come_after_the_writable_places(void **state)
{
	struct fixture f;

	(void)state;
	command(&f, "lock_backend: kubernetes\nlock_kubeconfig: /etc/berth/admin.kubeconfig\n");
	/* The admin kubeconfig readable for berth lock. */
	assert_true(find(&f, "--ro-bind-try", "/etc/berth/admin.kubeconfig", NULL) >
		    find(&f, "--bind", f.s.cache_dir, NULL));
	release(&f);
}

/* A job user: its home, and not the admin's kubeconfig, which it could not read anyway. */
static void test_a_job_user_gets_its_home_and_not_the_admins_kubeconfig(void **state)
{
	struct strvec none = STRVEC_INIT;
	struct job_user u;
	struct fixture f;

	(void)state;
	assert_int_equal(job_user_lookup(&u, "nobody", &none), 0);
	command_as(&f, "lock_backend: kubernetes\nlock_kubeconfig: /etc/berth/admin.kubeconfig\n",
		   &u);
	assert_int_equal(find(&f, "--ro-bind-try", "/etc/berth/admin.kubeconfig", NULL), -1);
	assert_true(find(&f, "--dir", u.home, NULL) > 0);
	release(&f);
	job_user_release(&u);
}

static void test_the_sandbox_runs_berth_supervise_then_bash(void **state)
{
	struct fixture f;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int i;

	(void)state;
	assert_true(n > 0);
	self[n] = '\0';
	command(&f, "kill_grace: 7s\n");
	i = find(&f, "--", self, "supervise");
	assert_true(i > 0);
	assert_int_equal((int)f.argv.nr, i + 7);
	assert_string_equal(f.argv.v[i + 3], "7");
	assert_string_equal(f.argv.v[i + 4], "--");
	assert_string_equal(f.argv.v[i + 5], "bash");
	assert_string_equal(f.argv.v[i + 6], "/proc/self/fd/3");
	assert_true(find(&f, "--ro-bind-try", self, self) > 0);
	release(&f);
}

static void test_check_without_bwrap_on_path(void **state)
{
	char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	struct fixture f;

	(void)state;
	command(&f, "");
	setenv("PATH", root, 1);
	assert_int_equal(executor_find("bwrap")->check(&f.s, NULL), -1);
	if (path)
		setenv("PATH", path, 1);
	free(path);
	release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_namespaces_and_a_private_network_by_default,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_only_the_jobs_own_places_are_writable,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_read_only_files_come_after_the_writable_places,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_the_sandbox_runs_berth_supervise_then_bash,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(
			test_a_job_user_gets_its_home_and_not_the_admins_kubeconfig, make_root,
			drop_root),
		cmocka_unit_test_setup_teardown(test_check_without_bwrap_on_path, make_root,
						drop_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
