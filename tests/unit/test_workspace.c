/* Workspaces: paths, permissions, repeated prepare, and removal that follows no symlink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "workspace.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static int make_root(void **state)
{
	(void)state;
	strcpy(root, "/tmp/berth-test-ws-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int drop_root(void **state)
{
	(void)state;
	assert_int_equal(remove_tree(root), 0);
	return 0;
}

static void setup_context(struct settings *s, struct job *job, int per_job)
{
	char state_dir[128];

	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	memset(s, 0, sizeof(*s));
	s->state_dir = strdup(state_dir);
	s->builds_dir = strdup("/b");
	s->builds_per_job = per_job;
	memset(job, 0, sizeof(*job));
	job->id = strdup("31");
}

static void touch(const char *dir, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void test_create_and_remove(void **state)
{
	struct settings s;
	struct workspace ws;
	struct job job;
	struct stat st;
	char path[256];

	(void)state;
	setup_context(&s, &job, 0);
	assert_int_equal(workspace_init(&ws, &s, &job), 0);
	assert_string_equal(ws.builds, "/b");
	assert_int_equal(ws.builds_shared, 1);
	assert_int_equal(workspace_exists(&ws), 0);
	assert_int_equal(workspace_create(&ws, &job), 0);
	assert_int_equal(workspace_create(&ws, &job), 0); /* a second prepare attempt */
	assert_int_equal(workspace_exists(&ws), 1);
	assert_int_equal(stat(ws.dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/state", ws.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(workspace_remove(&ws), 0);
	assert_int_equal(workspace_exists(&ws), 0);
	assert_int_equal(workspace_remove(&ws), 0); /* idempotent */
	workspace_release(&ws);
	job_release(&job);
	settings_release(&s);
}

static void test_per_job_builds(void **state)
{
	struct settings s;
	struct workspace ws;
	struct job job;
	struct stat st;

	(void)state;
	setup_context(&s, &job, 1);
	assert_int_equal(workspace_init(&ws, &s, &job), 0);
	assert_int_equal(ws.builds_shared, 0);
	assert_non_null(strstr(ws.builds, "/jobs/31/builds"));
	assert_int_equal(workspace_create(&ws, &job), 0);
	assert_int_equal(stat(ws.builds, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(workspace_remove(&ws), 0);
	assert_int_not_equal(stat(ws.builds, &st), 0);
	workspace_release(&ws);
	job_release(&job);
	settings_release(&s);
}

static void test_remove_follows_no_symlink(void **state)
{
	char outside[128], inside[128], link_path[256], deep[256], kept[256];
	struct stat st;

	(void)state;
	snprintf(outside, sizeof(outside), "%s/outside", root);
	snprintf(inside, sizeof(inside), "%s/ws", root);
	assert_int_equal(mkdir(outside, 0700), 0);
	touch(outside, "precious");
	assert_int_equal(mkdir(inside, 0700), 0);
	snprintf(deep, sizeof(deep), "%s/a", inside);
	assert_int_equal(mkdir(deep, 0000), 0); /* unreadable to others; root still removes */
	snprintf(link_path, sizeof(link_path), "%s/link", inside);
	assert_int_equal(symlink(outside, link_path), 0);
	touch(inside, "file");
	assert_int_equal(remove_tree(inside), 0);
	assert_int_not_equal(lstat(inside, &st), 0);
	snprintf(kept, sizeof(kept), "%s/precious", outside);
	assert_int_equal(stat(kept, &st), 0);
}

static void test_occupied_path_is_an_error(void **state)
{
	struct settings s;
	struct workspace ws;
	struct job job;
	char jobs[128];

	(void)state;
	setup_context(&s, &job, 0);
	assert_int_equal(workspace_init(&ws, &s, &job), 0);
	snprintf(jobs, sizeof(jobs), "%s/state", root);
	touch(root, "state"); /* a file where the state directory should be */
	assert_int_equal(workspace_create(&ws, &job), -1);
	assert_int_equal(workspace_exists(&ws), 0);
	assert_int_equal(workspace_remove(&ws), 0); /* cleanup after that failed prepare */
	unlink(jobs);
	workspace_release(&ws);
	job_release(&job);
	settings_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_remove, make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_per_job_builds, make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_remove_follows_no_symlink, make_root,
						drop_root),
		cmocka_unit_test_setup_teardown(test_occupied_path_is_an_error, make_root,
						drop_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
