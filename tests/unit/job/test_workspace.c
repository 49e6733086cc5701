/* Workspaces: paths, permissions, repeated prepare, and removal that follows no symlink. */
#include "unit.h"

#include "job/workspace.h"
#include "base/fs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	assert_int_equal(remove_tree(root, 0), 0);
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
	assert_int_equal(workspace_create(&ws, &s, &job), 0);
	assert_int_equal(workspace_create(&ws, &s, &job), 0); /* a second prepare attempt */
	assert_int_equal(workspace_exists(&ws), 1);
	assert_int_equal(stat(ws.dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/state", ws.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
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
	assert_int_equal(workspace_create(&ws, &s, &job), 0);
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
	assert_int_equal(remove_tree(inside, 0), 0);
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
	assert_int_equal(workspace_create(&ws, &s, &job), -1);
	assert_int_equal(workspace_exists(&ws), 0);
	assert_int_equal(workspace_remove(&ws), 0); /* cleanup after that failed prepare */
	unlink(jobs);
	workspace_release(&ws);
	job_release(&job);
	settings_release(&s);
}

static void test_wipe_overwrites_and_spares_hard_links(void **state)
{
	char dir[128], outside[128], path[256], buf[16];
	int fd, keep;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/docker", root);
	snprintf(outside, sizeof(outside), "%s/precious", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	fd = open(outside, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	snprintf(path, sizeof(path), "%s/hardlink", dir);
	assert_int_equal(link(outside, path), 0);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0400); /* read-only: still overwritten */
	assert_int_equal(write(fd, "secret-canary", 13), 13);
	close(fd);
	keep = open(path, O_RDONLY); /* the inode outlives the unlink: read what is left */
	assert_true(keep >= 0);

	assert_int_equal(remove_tree(dir, 1), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(pread(keep, buf, 13, 0), 13);
	close(keep);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0\0\0\0\0\0", 13);
	fd = open(outside, O_RDONLY);
	assert_int_equal(read(fd, buf, 8), 8);
	close(fd);
	assert_memory_equal(buf, "precious", 8);
}

/*
 * A tree deeper than any recursion should go (a job makes one in a loop of mkdir and cd): a file
 * and a symlink out at every level, every 250th level mode 0, the deepest file a credential.
 */
static void test_remove_deep_tree(void **state)
{
	char dir[128], outside[128], buf[8];
	int fd, level, secret, keep;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tmp", root);
	snprintf(outside, sizeof(outside), "%s/precious", root);
	touch(root, "precious");
	assert_int_equal(mkdir(dir, 0700), 0);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	for (level = 1; level <= 1000; level++) {
		int sub;

		assert_true(fd >= 0);
		assert_int_equal(mkdirat(fd, "d", 0700), 0);
		assert_int_equal(symlinkat(outside, fd, "link"), 0);
		close(openat(fd, "f", O_WRONLY | O_CREAT, 0600));
		sub = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		if (level % 250 == 0)
			assert_int_equal(fchmod(fd, 0), 0);
		close(fd);
		fd = sub;
	}
	secret = openat(fd, "secret", O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(secret, "canary", 6), 6);
	close(secret);
	keep = openat(fd, "secret", O_RDONLY);
	close(fd);

	assert_int_equal(remove_tree(dir, 1), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(pread(keep, buf, 6, 0), 6);
	close(keep);
	assert_memory_equal(buf, "\0\0\0\0\0\0", 6);
	assert_int_equal(access(outside, F_OK), 0);
}

/* As a user without root's powers, a tree a job made read-only must still go. */
static void test_remove_read_only_tree_as_non_root(void **state)
{
	char dir[128], sub[160], file[192], inner[192], inner_file[224];
	int status;
	pid_t pid;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tmp", root);
	snprintf(sub, sizeof(sub), "%s/modcache", dir);
	snprintf(file, sizeof(file), "%s/go.mod", sub);
	snprintf(inner, sizeof(inner), "%s/pkg", sub);
	snprintf(inner_file, sizeof(inner_file), "%s/go.sum", inner);
	assert_int_equal(chown(root, 65534, 65534), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		if (setgid(65534) < 0 || setuid(65534) < 0 || mkdir(dir, 0700) < 0 ||
		    mkdir(sub, 0700) < 0 || mkdir(inner, 0700) < 0)
			_exit(10);
		fd = open(file, O_WRONLY | O_CREAT, 0400);
		if (fd < 0)
			_exit(11);
		close(fd);
		fd = open(inner_file, O_WRONLY | O_CREAT, 0400);
		if (fd < 0)
			_exit(11);
		close(fd);
		/* A directory moves up as it goes: that takes write access to it and both parents.
		 */
		if (chmod(inner, 0500) < 0 || chmod(sub, 0555) < 0 || chmod(dir, 0500) < 0)
			_exit(12);
		_exit(remove_tree(dir, 0) == 0 && access(dir, F_OK) < 0 ? 0 : 13);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_parents_are_traversable(void **state)
{
	struct settings s;
	struct workspace ws;
	struct job job;
	struct stat st;
	char jobs[160];

	(void)state;
	umask(077); /* as berth runs */
	setup_context(&s, &job, 0);
	assert_int_equal(workspace_init(&ws, &s, &job), 0);
	assert_int_equal(workspace_create(&ws, &s, &job), 0);
	snprintf(jobs, sizeof(jobs), "%s/state/jobs", root);
	assert_int_equal(stat(jobs, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_int_equal(workspace_remove(&ws), 0);
	workspace_release(&ws);
	job_release(&job);
	settings_release(&s);
}

/* Creates the workspace of job `id` of trust domain `domain`; its claimed user or NULL. */
static char *claim_in(struct settings *s, const char *id, const char *domain)
{
	struct workspace ws;
	struct job job;
	char *user = NULL;

	memset(&job, 0, sizeof(job));
	job.id = (char *)id;
	job.domain = (char *)domain;
	assert_int_equal(workspace_init(&ws, s, &job), 0);
	if (workspace_create(&ws, s, &job) == 0) {
		user = strdup(ws.user);
		/* A later stage reads the claim back from the workspace's record. */
		workspace_release(&ws);
		assert_int_equal(workspace_init(&ws, s, &job), 0);
		assert_string_equal(ws.user, user);
	}
	workspace_release(&ws);
	return user;
}

/* With job users daemon and bin, of no trust domain. */
static char *claim(struct settings *s, const char *id)
{
	return claim_in(s, id, NULL);
}

static void drop(struct settings *s, const char *id)
{
	struct workspace ws;
	struct job job;

	memset(&job, 0, sizeof(job));
	job.id = (char *)id;
	assert_int_equal(workspace_init(&ws, s, &job), 0);
	assert_int_equal(workspace_remove(&ws), 0);
	workspace_release(&ws);
}

static int exists(const char *fmt, const char *arg)
{
	char path[512];

	snprintf(path, sizeof(path), fmt, root, arg);
	return access(path, F_OK) == 0;
}

/* A user goes back to its domain with its clone; to another domain, reset. */
static void test_job_users_keep_to_their_trust_domain(void **state)
{
	struct settings s;
	struct job job;
	struct stat st;
	char path[256], *a;

	(void)state;
	if (geteuid() != 0)
		skip();
	setup_context(&s, &job, 0);
	free(s.builds_dir);
	snprintf(path, sizeof(path), "%s/builds", root);
	s.builds_dir = strdup(path);
	snprintf(path, sizeof(path), "%s/cache", root);
	s.cache_dir = strdup(path);
	s.parked_clones = 4; /* the default */
	strvec_push(&s.job_users, "daemon");
	strvec_push(&s.job_users, "bin");
	a = claim_in(&s, "51", "7/protected");
	assert_string_equal(a, "daemon");
	free(a);
	snprintf(path, sizeof(path), "%s/builds/daemon", root);
	touch(path, "marker");
	drop(&s, "51");
	/* Another domain: the user with no record, not the one of project 7. */
	a = claim_in(&s, "52", "8/unprotected");
	assert_string_equal(a, "bin");
	free(a);
	drop(&s, "52");
	/* Back to project 7's protected refs: daemon, its clone still there. */
	a = claim_in(&s, "53", "7/protected");
	assert_string_equal(a, "daemon");
	free(a);
	assert_true(exists("%s/builds/%s/marker", "daemon"));
	drop(&s, "53");
	/* bin busy: the unprotected job of project 7 takes daemon, which is reset first. */
	free(claim_in(&s, "54", "8/unprotected"));
	a = claim_in(&s, "55", "7/unprotected");
	assert_string_equal(a, "daemon");
	free(a);
	assert_false(exists("%s/builds/%s/marker", "daemon"));
	assert_true(exists("%s/builds/%s", "daemon")); /* the user's own, fresh */
	/* Project 7's protected clone was parked where only root goes, and comes back. */
	assert_true(exists("%s/builds/.parked/daemon/%s/marker", "7-protected"));
	snprintf(path, sizeof(path), "%s/builds/.parked", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	drop(&s, "55");
	a = claim_in(&s, "56", "7/protected");
	assert_string_equal(a, "daemon");
	free(a);
	assert_true(exists("%s/builds/%s/marker", "daemon"));
	assert_false(exists("%s/builds/.parked/daemon/%s", "7-protected"));
	job_release(&job);
	settings_release(&s);
}

static void test_job_users_are_claimed_one_per_workspace(void **state)
{
	struct settings s;
	struct workspace ws;
	struct job job;
	struct stat st;
	char path[256], *a, *b;

	(void)state;
	if (geteuid() != 0)
		skip();
	setup_context(&s, &job, 0);
	free(s.builds_dir);
	snprintf(path, sizeof(path), "%s/builds", root);
	s.builds_dir = strdup(path);
	s.cache_dir = strdup(path);
	strvec_push(&s.job_users, "daemon");
	strvec_push(&s.job_users, "bin");
	a = claim(&s, "41");
	b = claim(&s, "42");
	assert_string_equal(a, "daemon");
	assert_string_equal(b, "bin");
	assert_null(claim(&s, "43")); /* both taken */
	free(claim(&s, "41"));	      /* a repeated prepare keeps its own */
	/* The places are the user's; builds below the shared root, per user. */
	snprintf(path, sizeof(path), "%s/state/jobs/41/tmp", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 1);
	snprintf(path, sizeof(path), "%s/builds/daemon", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 1);
	/* Removing a workspace frees its user. */
	free(job.id);
	job.id = strdup("41");
	assert_int_equal(workspace_init(&ws, &s, &job), 0);
	assert_int_equal(workspace_remove(&ws), 0);
	workspace_release(&ws);
	free(a);
	a = claim(&s, "43");
	assert_string_equal(a, "daemon");
	free(a);
	free(b);
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
		cmocka_unit_test_setup_teardown(test_wipe_overwrites_and_spares_hard_links,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_remove_deep_tree, make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_remove_read_only_tree_as_non_root, make_root,
						drop_root),
		cmocka_unit_test_setup_teardown(test_parents_are_traversable, make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_job_users_are_claimed_one_per_workspace,
						make_root, drop_root),
		cmocka_unit_test_setup_teardown(test_job_users_keep_to_their_trust_domain,
						make_root, drop_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
