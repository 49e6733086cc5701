/* Secrets: set, format, read and write, and the wipes that keep them off the disk. */
#include "unit.h"

#include "base/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/berth-test-secret-XXXXXX";

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void at(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void test_set_printf_release(void **state)
{
	struct secret s = SECRET_INIT;

	(void)state;
	assert_int_equal(secret_set(&s, "canary-pw"), 0);
	assert_int_equal(s.len, 9);
	assert_string_equal((char *)s.data, "canary-pw");
	/* printf replaces what the secret held, and may read it while doing so. */
	assert_int_equal(secret_printf(&s, "Bearer %s", "tok"), 0);
	assert_string_equal((char *)s.data, "Bearer tok");
	assert_int_equal(s.len, 10);
	secret_release(&s);
	assert_null(s.data);
	assert_int_equal(s.len, 0);
	secret_release(&s); /* twice is harmless */
}

/* A file written as a secret is 0600, read back whole, and refused over its size limit. */
static void test_write_read_limits(void **state)
{
	struct secret s = SECRET_INIT;
	char path[128];
	struct stat st;

	(void)state;
	at(path, sizeof(path), "config.json");
	assert_int_equal(secret_write_file(path, "{\"auth\":\"canary\"}", 17), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(secret_read_file(path, 17, 0, "docker config", &s), 1);
	assert_string_equal((char *)s.data, "{\"auth\":\"canary\"}");
	secret_release(&s);
	assert_int_equal(secret_read_file(path, 16, 0, "docker config", &s), -1);
	assert_null(s.data);
	at(path, sizeof(path), "missing");
	assert_int_equal(secret_read_file(path, 100, READ_MISSING_OK, "kubeconfig", &s), 0);
	assert_int_equal(secret_read_file(path, 100, 0, "kubeconfig", &s), -1);
}

/* A link planted where a secret is read is refused with READ_NOFOLLOW, not followed. */
static void test_read_refuses_a_link(void **state)
{
	struct secret s = SECRET_INIT;
	char target[128], link[128];

	(void)state;
	at(target, sizeof(target), "target");
	at(link, sizeof(link), "link");
	assert_int_equal(secret_write_file(target, "x", 1), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(secret_read_file(link, 100, READ_NOFOLLOW, "kubeconfig", &s), -1);
	assert_null(s.data);
}

/* The wipe overwrites the bytes in place before the unlink: a second name sees zeros. */
static void test_wipe_overwrites_before_unlink(void **state)
{
	char path[128], buf[16];
	int fd;

	(void)state;
	at(path, sizeof(path), "token");
	assert_int_equal(secret_write_file(path, "canary-token", 12), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(secret_wipe_at(AT_FDCWD, path), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 12);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
	close(fd);
	assert_int_equal(secret_wipe_file(path), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(secret_wipe_file(path), 0); /* absent: nothing to do */
}

/* A link or a file with a second hard link is not overwritten: the bytes may be another's. */
static void test_wipe_leaves_links_alone(void **state)
{
	char target[128], planted[128], hard[128], buf[8];
	int fd;

	(void)state;
	at(target, sizeof(target), "victim");
	at(planted, sizeof(planted), "planted");
	at(hard, sizeof(hard), "hard");
	assert_int_equal(secret_write_file(target, "victim", 6), 0);
	assert_int_equal(symlink(target, planted), 0);
	assert_int_equal(secret_wipe_at(AT_FDCWD, planted), 0);
	assert_int_equal(link(target, hard), 0);
	assert_int_equal(secret_wipe_at(AT_FDCWD, hard), 0);
	fd = open(target, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "victim", 6);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_printf_release),
		cmocka_unit_test(test_write_read_limits),
		cmocka_unit_test(test_read_refuses_a_link),
		cmocka_unit_test(test_wipe_overwrites_before_unlink),
		cmocka_unit_test(test_wipe_leaves_links_alone),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
