/*
 * config.json in a docker config dir: created 0700/0600, entries added and removed without
 * touching anything else in the file, atomic rewrites, and a corrupt file left alone.
 */
#include "unit.h"

#include "registry/docker_config.h"
#include "base/secret.h"
#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CANARY "canary-tok-0b4f7e21d9"
/* jansson quotes a token of up to 20 characters in its messages: a short auth fits. */
#define SHORT_CANARY "canary-tok-1"

struct fixture {
	char root[64]; /* a fresh temporary directory */
	char dir[96];  /* root/docker: the docker config dir */
	char file[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/berth-dc-XXXXXX");
	if (!mkdtemp(f->root))
		return free(f), -1;
	snprintf(f->dir, sizeof(f->dir), "%s/docker", f->root);
	snprintf(f->file, sizeof(f->file), "%s/config.json", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int ret = remove_tree(f->root, 0);

	free(f);
	return ret;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The file's bytes, malloc'd and NUL-terminated. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);

	if (!root)
		fail_msg("%s: %s", path, err.text);
	return root;
}

static void assert_mode(const char *path, mode_t want)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, want);
}

/* The entries of `dir`, other than "." and "..": how many, and whether all are `only`. */
static size_t entries(const char *dir, const char *only)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (only && strcmp(e->d_name, only) != 0)
			fail_msg("unexpected '%s' in %s", e->d_name, dir);
		n++;
	}
	closedir(d);
	return n;
}

static const char *auth_of(json_t *root, const char *host)
{
	return json_string_value(
		json_object_get(json_object_get(json_object_get(root, "auths"), host), "auth"));
}

static int set(const struct fixture *f, const char *host, const char *auth)
{
	struct secret s = SECRET_INIT;
	int ret;

	assert_int_equal(secret_set(&s, auth), 0);
	ret = docker_config_set(f->dir, host, &s);
	secret_release(&s);
	return ret;
}

static void test_init_creates(void **state)
{
	struct fixture *f = *state;
	json_t *root, *want = json_pack("{s:{}}", "auths");

	assert_int_equal(docker_config_init(f->dir), 0);
	assert_mode(f->dir, 0700);
	assert_mode(f->file, 0600);
	root = load_json(f->file);
	assert_true(json_equal(root, want));
	assert_int_equal(entries(f->dir, "config.json"), 1);
	json_decref(root);
	json_decref(want);
}

static void test_init_keeps_existing(void **state)
{
	struct fixture *f = *state;
	const char *mine = "{\"auths\": {\"a.io\": {\"auth\": \"eDp5\"}}, \"psFormat\": \"x\"}\n";
	char *got;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	write_file(f->file, mine, 0600);
	assert_int_equal(docker_config_init(f->dir), 0);
	got = slurp(f->file);
	assert_string_equal(got, mine);
	free(got);
	/* And again: init is idempotent. */
	assert_int_equal(docker_config_init(f->dir), 0);
	got = slurp(f->file);
	assert_string_equal(got, mine);
	free(got);
}

static void test_init_existing_empty_dir(void **state)
{
	struct fixture *f = *state;
	json_t *root;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(docker_config_init(f->dir), 0);
	root = load_json(f->file);
	assert_true(json_is_object(json_object_get(root, "auths")));
	assert_int_equal(json_object_size(json_object_get(root, "auths")), 0);
	json_decref(root);
}

static void test_set_keeps_the_rest(void **state)
{
	struct fixture *f = *state;
	json_t *root;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	write_file(
		f->file,
		"{\n"
		"  \"auths\": {\"other.io\": {\"auth\": \"b3RoZXI6cA==\", \"email\": \"o@x\"}},\n"
		"  \"credHelpers\": {\"gcr.io\": \"gcloud\"},\n"
		"  \"proxies\": {\"default\": {\"httpProxy\": \"http://p:3128\"}},\n"
		"  \"currentContext\": \"default\"\n"
		"}\n",
		0644);
	assert_int_equal(set(f, "registry.example.com:5000", "dXNlcjpwYXNz"), 0);
	assert_mode(f->file, 0600);
	assert_int_equal(entries(f->dir, "config.json"), 1);
	root = load_json(f->file);
	assert_string_equal(auth_of(root, "registry.example.com:5000"), "dXNlcjpwYXNz");
	assert_string_equal(auth_of(root, "other.io"), "b3RoZXI6cA==");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(root, "auths"), "other.io"), "email")),
		"o@x");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(root, "credHelpers"), "gcr.io")),
		"gcloud");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(root, "proxies"), "default"), "httpProxy")),
		"http://p:3128");
	assert_string_equal(json_string_value(json_object_get(root, "currentContext")), "default");
	assert_int_equal(json_object_size(root), 4);
	assert_int_equal(json_object_size(json_object_get(root, "auths")), 2);
	json_decref(root);

	/* Setting a host again replaces its entry. */
	assert_int_equal(set(f, "registry.example.com:5000", "bmV3Om5ldw=="), 0);
	root = load_json(f->file);
	assert_string_equal(auth_of(root, "registry.example.com:5000"), "bmV3Om5ldw==");
	assert_int_equal(json_object_size(json_object_get(root, "auths")), 2);
	json_decref(root);
	assert_mode(f->file, 0600);
	assert_int_equal(entries(f->dir, "config.json"), 1);
}

static void test_set_without_file(void **state)
{
	struct fixture *f = *state;
	json_t *root;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(set(f, "a.io", "YTpi"), 0);
	assert_mode(f->file, 0600);
	root = load_json(f->file);
	assert_string_equal(auth_of(root, "a.io"), "YTpi");
	json_decref(root);
	assert_int_equal(entries(f->dir, "config.json"), 1);
}

static void test_set_without_auths(void **state)
{
	struct fixture *f = *state;
	json_t *root;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	write_file(f->file, "{\"credsStore\": \"desktop\"}", 0600);
	assert_int_equal(set(f, "a.io", "YTpi"), 0);
	root = load_json(f->file);
	assert_string_equal(auth_of(root, "a.io"), "YTpi");
	assert_string_equal(json_string_value(json_object_get(root, "credsStore")), "desktop");
	json_decref(root);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	json_t *root;

	assert_int_equal(docker_config_init(f->dir), 0);
	assert_int_equal(set(f, "a.io", "YTox"), 0);
	assert_int_equal(set(f, "b.io", "Yjoy"), 0);
	assert_int_equal(set(f, "c.io:5000", "YzPz"), 0);

	assert_int_equal(docker_config_remove(f->dir, "b.io"), 1);
	root = load_json(f->file);
	assert_null(auth_of(root, "b.io"));
	assert_string_equal(auth_of(root, "a.io"), "YTox");
	assert_string_equal(auth_of(root, "c.io:5000"), "YzPz");
	json_decref(root);
	assert_int_equal(docker_config_remove(f->dir, "b.io"), 0);
	assert_int_equal(docker_config_remove(f->dir, "nowhere.io"), 0);
	assert_mode(f->file, 0600);
	assert_int_equal(entries(f->dir, "config.json"), 1);
}

static void test_remove_all(void **state)
{
	struct fixture *f = *state;
	json_t *root;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	write_file(f->file, "{\"auths\": {}, \"credHelpers\": {\"gcr.io\": \"gcloud\"}}", 0600);
	assert_int_equal(set(f, "a.io", "YTox"), 0);
	assert_int_equal(set(f, "b.io", "Yjoy"), 0);
	assert_int_equal(set(f, "c.io", "YzPz"), 0);
	assert_int_equal(docker_config_remove(f->dir, NULL), 3);
	root = load_json(f->file);
	assert_true(json_is_object(json_object_get(root, "auths")));
	assert_int_equal(json_object_size(json_object_get(root, "auths")), 0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(root, "credHelpers"), "gcr.io")),
		"gcloud");
	json_decref(root);
	assert_int_equal(docker_config_remove(f->dir, NULL), 0);
	assert_int_equal(entries(f->dir, "config.json"), 1);
}

static void test_remove_without_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(docker_config_remove(f->dir, "a.io"), 0);
	assert_int_equal(docker_config_remove(f->dir, NULL), 0);
	/* Nothing went, so nothing was written. */
	assert_int_equal(entries(f->dir, NULL), 0);
}

static void test_corrupt_left_alone(void **state)
{
	static const char *corrupt[] = {
		"{not json",
		"",
		"[]",
		"\"auths\"",
		"{\"auths\": []}",
		"{\"auths\": \"" CANARY "\"}",
		"{\"auths\": {\"a.io\": {\"auth\": \"" CANARY "\"}}",
		"{\"auths\": {\"a.io\": {\"auth\": \"" CANARY "\"}, \"a.io\": {}}}",
		"{\"auths\": {\"a.io\": {\"auth\": " CANARY "}}}",
	};
	struct fixture *f = *state;
	size_t i;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		char err[4096], *got;
		int saved, r1, r2, r3;
		FILE *tmp;

		write_file(f->file, corrupt[i], 0644);
		tmp = capture_begin(&saved);
		r1 = set(f, "b.io", "Yjoy");
		r2 = docker_config_remove(f->dir, "a.io");
		r3 = docker_config_remove(f->dir, NULL);
		capture_end(tmp, saved, err, sizeof(err));
		if (r1 != -1 || r2 != -1 || r3 != -1)
			fail_msg("'%s': set %d, remove %d, remove all %d", corrupt[i], r1, r2, r3);
		got = slurp(f->file);
		assert_string_equal(got, corrupt[i]);
		free(got);
		assert_mode(f->file, 0644);
		assert_int_equal(entries(f->dir, "config.json"), 1);
		assert_non_null(strstr(err, f->file));
		if (strstr(err, "canary-tok"))
			fail_msg("'%s': the message shows a credential: %s", corrupt[i], err);
	}
}

static void test_corrupt_message_never_quotes_a_credential(void **state)
{
	/*
	 * Two strings with no ':' or ',' between: jansson's text says "near '<next token>'" when
	 * that token is short, as base64("user:pass") is.
	 */
	static const char *corrupt[] = {
		"{\"auths\": {\"a.io\": {\"auth\": \"eDp5\" \"" SHORT_CANARY "\"}}}",
		"{\"auths\": {\"a.io\": {\"auth\": \"eDp5\" \"" CANARY "\"}}}",
		"{\"auths\": {\"a.io\": {\"email\": \"e\" \"auth\": \"" SHORT_CANARY "\"}}}",
		"{\"auths\": {\"a.io\": {\"auth\", \"" SHORT_CANARY "\"}}}",
	};
	struct fixture *f = *state;
	size_t i;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		char err[4096];
		int saved, r;
		FILE *tmp;

		write_file(f->file, corrupt[i], 0600);
		tmp = capture_begin(&saved);
		r = set(f, "b.io", "Yjoy");
		capture_end(tmp, saved, err, sizeof(err));
		assert_int_equal(r, -1);
		assert_non_null(strstr(err, "line 1"));
		if (strstr(err, "canary-tok"))
			fail_msg("'%s': the message shows a credential: %s", corrupt[i], err);
	}
}

static void test_symlinked_config_refused(void **state)
{
	struct fixture *f = *state;
	char target[160], err[4096], *got;
	int saved;
	FILE *tmp;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	snprintf(target, sizeof(target), "%s/elsewhere.json", f->root);
	write_file(target, "{\"auths\": {}}", 0644);
	assert_int_equal(symlink(target, f->file), 0);
	tmp = capture_begin(&saved);
	assert_int_equal(set(f, "a.io", "YTpi"), -1);
	capture_end(tmp, saved, err, sizeof(err));
	got = slurp(target);
	assert_string_equal(got, "{\"auths\": {}}");
	free(got);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Logout: the replaced file held the credential, and must not keep it on disk. */
static void test_logout_overwrites_the_replaced_file(void **state)
{
	struct fixture *f = *state;
	char buf[256];
	ssize_t n, i;
	int old;

	assert_int_equal(docker_config_init(f->dir), 0);
	assert_int_equal(set(f, "a.io", "Y2FuYXJ5LWxvZ291dA=="), 0);
	old = open(f->file, O_RDONLY); /* the inode that rename will replace */
	assert_true(old >= 0);
	assert_int_equal(docker_config_remove(f->dir, "a.io"), 1);
	n = pread(old, buf, sizeof(buf), 0);
	close(old);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		assert_int_equal(buf[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_init_creates),
		TEST(test_init_keeps_existing),
		TEST(test_init_existing_empty_dir),
		TEST(test_set_keeps_the_rest),
		TEST(test_set_without_file),
		TEST(test_set_without_auths),
		TEST(test_remove),
		TEST(test_remove_all),
		TEST(test_remove_without_file),
		TEST(test_corrupt_left_alone),
		TEST(test_corrupt_message_never_quotes_a_credential),
		TEST(test_symlinked_config_refused),
		TEST(test_logout_overwrites_the_replaced_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
