/* A job's cgroup: the record it is read back from, sizes in messages, and (where this machine
 * lets the test make one) a child started into it, ended with it. */
#include "unit.h"

#include "base/cgroup.h"
#include "base/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_format_bytes(void **state)
{
	static const struct {
		unsigned long long bytes;
		const char *want;
	} cases[] = {
		{0, "0 MiB"},
		{64ull << 20, "64 MiB"},
		{1023ull << 20, "1023 MiB"},
		{1ull << 30, "1.0 GiB"},
		{(4ull << 30) + (512ull << 20), "4.5 GiB"},
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		cgroup_format_bytes(cases[i].bytes, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
}

/* A record naming anything but a directory below /sys/fs/cgroup is refused, and says so. */
static void test_add_refuses_other_paths(void **state)
{
	static const char *const bad[] = {"/tmp", "/sys/fs/cgroupx/a", "relative/dir", ""};
	struct cgroup cg;
	char msg[512];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int saved;
		FILE *tmp = capture_begin(&saved);

		memset(&cg, 0, sizeof(cg));
		assert_int_equal(cgroup_add(&cg, bad[i]), -1);
		capture_end(tmp, saved, msg, sizeof(msg));
		assert_non_null(strstr(msg, "is no cgroup directory"));
		assert_false(cgroup_any(&cg));
	}
}

/* 1 when /proc/PID/cgroup has the line "0::REL" for the v2 directory `dir`. */
static int in_v2_cgroup(pid_t pid, const char *dir)
{
	char path[64], line[4200], want[4200];
	const char *rel = strstr(dir, "/" CGROUP_JOBS "/");
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f || !rel)
		return f ? fclose(f), 0 : 0;
	while (fgets(line, sizeof(line), f)) {
		snprintf(want, sizeof(want), "%s\n", rel);
		if (!strncmp(line, "0::", 3) && strlen(line + 3) >= strlen(want) &&
		    !strcmp(line + 3 + strlen(line + 3) - strlen(want), want))
			found = 1;
	}
	fclose(f);
	return found;
}

/* The child joins before exec; cgroup_end kills it and leaves no directory. */
static void test_child_joins_and_end_kills(void **state)
{
	char *argv[] = {"sleep", "1000", NULL};
	char *env[] = {NULL};
	struct cgroup_limits l = {0, 0, 0};
	struct proc p = {.argv = argv, .env = env, .script_fd = -1};
	struct cgroup cg, again;
	char name[64], summary[8192];
	struct stat st;
	int status, r;

	(void)state;
	snprintf(name, sizeof(name), "unit-%d", (int)getpid());
	r = cgroup_create(&cg, name, &l, summary, sizeof(summary));
	if (r <= 0) {
		print_message("skipped: %s\n", summary);
		skip();
	}
	assert_non_null(strstr(summary, "cgroup v2 at "));
	p.cgroup = &cg;
	assert_int_equal(proc_start(&p), 0);
	assert_true(in_v2_cgroup(p.pid, cg.v2));
	/* What a workspace records reads back the same. */
	memset(&again, 0, sizeof(again));
	assert_int_equal(cgroup_add(&again, cg.v2), 0);
	assert_string_equal(again.v2, cg.v2);
	assert_int_equal(cgroup_populated(&again), 1);
	assert_int_equal(cgroup_end(&cg), 1);
	assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(stat(cg.v2, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(cgroup_populated(&again), 0);
	for (r = 0; r < (int)cg.nr_v1; r++)
		assert_int_equal(stat(cg.v1[r], &st), -1);
	/* Idempotent, as cleanup must be. */
	assert_int_equal(cgroup_end(&cg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_bytes),
		cmocka_unit_test(test_add_refuses_other_paths),
		cmocka_unit_test(test_child_joins_and_end_kills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
