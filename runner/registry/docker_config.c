#include "registry/docker_config.h"

#include "base/base64.h"
#include "base/json_file.h"
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_SIZE (4 << 20)

static char *config_path(const char *dir)
{
	char *path = NULL;

	if (asprintf(&path, "%s/config.json", dir) < 0) {
		error("out of memory");
		return NULL;
	}
	return path;
}

/* The parsed file, an empty object when there is none, or NULL after an error. */
static json_t *load(const char *path)
{
	int missing = 0;
	json_t *root =
		json_read_object(path, CONFIG_MAX_SIZE, READ_NOFOLLOW, "docker config", &missing);

	return missing ? json_object() : root;
}

static int store(const char *path, json_t *root)
{
	size_t len = json_dumpb(root, NULL, 0, JSON_INDENT(2));
	char *buf = len ? malloc(len + 1) : NULL;
	int ret;

	if (!buf)
		return error("cannot encode docker config '%s'", path);
	json_dumpb(root, buf, len, JSON_INDENT(2));
	buf[len] = '\n';
	ret = secret_write_file(path, buf, len + 1);
	explicit_bzero(buf, len + 1);
	free(buf);
	return ret;
}

/* The "auths" object of `root`, created when absent; NULL when it is not an object. */
static json_t *auths_of(json_t *root, const char *path)
{
	json_t *auths = json_object_get(root, "auths");

	if (!auths) {
		auths = json_object();
		if (json_object_set_new(root, "auths", auths) < 0)
			return NULL;
	}
	if (!json_is_object(auths)) {
		error("docker config '%s': 'auths' is not an object", path);
		return NULL;
	}
	return auths;
}

int docker_config_init(const char *dir)
{
	char *path;
	int ret = 0;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return error_errno("cannot create docker config dir '%s'", dir);
	path = config_path(dir);
	if (!path)
		return -1;
	if (access(path, F_OK) < 0)
		ret = secret_write_file(path, "{\n  \"auths\": {}\n}\n", 18);
	free(path);
	return ret;
}

int docker_config_set(const char *dir, const char *host, const struct secret *auth)
{
	char *path = config_path(dir);
	json_t *root = path ? load(path) : NULL, *auths = root ? auths_of(root, path) : NULL;
	int ret = -1;

	if (auths && json_object_set_new(auths, host,
					 json_pack("{s:s}", "auth", (const char *)auth->data)) == 0)
		ret = store(path, root);
	else if (auths)
		error("out of memory");
	json_decref(root);
	free(path);
	return ret;
}

int docker_config_remove(const char *dir, const char *host)
{
	char *path = config_path(dir);
	json_t *root = path ? load(path) : NULL, *auths = root ? auths_of(root, path) : NULL;
	int ret = -1;

	if (auths) {
		ret = host ? json_object_del(auths, host) == 0 : (int)json_object_size(auths);
		if (!host)
			json_object_clear(auths);
		if (ret && store(path, root) < 0)
			ret = -1;
	}
	json_decref(root);
	free(path);
	return ret;
}

int docker_config_get(const char *dir, const char *host, struct secret *login)
{
	char *path = config_path(dir);
	json_t *root = path ? load(path) : NULL, *entry;
	const char *auth;
	char why[128] = "";
	unsigned char *plain = NULL;
	size_t len = 0;
	int ret = -1;

	if (!root)
		goto out;
	entry = json_object_get(json_object_get(root, "auths"), host);
	auth = json_string_value(json_object_get(entry, "auth"));
	if (!auth) {
		ret = 0;
		goto out;
	}
	plain = base64_decode(auth, strlen(auth), 4096, &len, why, sizeof(why));
	if (!plain || !memchr(plain, ':', len)) {
		error("docker config '%s': the login for %s is not base64 of user:password%s%s",
		      path, host, why[0] ? ": " : "", why);
		goto out;
	}
	secret_adopt(login, plain, len);
	plain = NULL;
	ret = 1;
out:
	if (plain)
		explicit_bzero(plain, len);
	free(plain);
	json_decref(root);
	free(path);
	return ret;
}
