/*
 * `berth login` and `berth logout`, for job scripts and people: the same logins prepare does,
 * into $DOCKER_CONFIG (the job's own config dir inside a job), from the job's variables or
 * from --username and --password-stdin. Passwords never come from argv.
 */
#include "cmd/commands.h"
#include "registry/docker_config.h"
#include "base/log.h"
#include "registry/login.h"
#include "conf/reference.h"
#include "base/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD_MAX 65536

/* $DOCKER_CONFIG, else ~/.docker, as docker and werf pick it. */
static const char *docker_dir(char *buf, size_t size)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (dir && *dir)
		return dir;
	if (!home || !*home) {
		error("neither DOCKER_CONFIG nor HOME is set: berth does not know where to log in");
		return NULL;
	}
	snprintf(buf, size, "%s/.docker", home);
	return buf;
}

static int read_password(struct secret *out)
{
	unsigned char *buf = malloc(PASSWORD_MAX + 1);
	size_t len = 0;
	ssize_t n = 1;

	if (!buf)
		return error("out of memory");
	while (len < PASSWORD_MAX && (n = read(0, buf + len, PASSWORD_MAX - len)) > 0)
		len += (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	secret_adopt(out, buf, len);
	if (n < 0)
		return error_errno("cannot read the password from stdin");
	if (len == 0 || len == PASSWORD_MAX)
		return error("--password-stdin: expected one password of 1 to %d bytes on stdin",
			     PASSWORD_MAX - 1);
	return 0;
}

static enum berth_result login_stdin(const struct settings *s, const char *host, const char *user,
				     const char *dir)
{
	struct secret password = SECRET_INIT;
	struct login_target t;
	enum berth_result r = BERTH_BUILD_FAILURE;

	memset(&t, 0, sizeof(t));
	if (reference_valid_host(host) < 0) {
		error("'%s' is not a registry host", host);
		return r;
	}
	if (read_password(&password) == 0) {
		snprintf(t.host, sizeof(t.host), "%s", host);
		t.user = user;
		t.password = (const char *)password.data;
		snprintf(t.source, sizeof(t.source), "--password-stdin");
		t.origin = "the command line";
		t.opts = settings_registry(s, host);
		r = login_target(s, &t, dir);
	}
	secret_release(&password);
	return r;
}

/* The job's registries, or only those named in `hosts` (each must be one of them). */
static enum berth_result login_from_variables(const struct settings *s, char **hosts, int nr,
					      const char *dir)
{
	struct login_targets targets;
	enum berth_result r = login_targets(&targets, s, &vars_script);
	size_t i;
	int j;

	for (j = 0; r == BERTH_OK && j < nr; j++)
		if (!login_find(&targets, hosts[j])) {
			error("no credentials for registry '%s' in the job's variables: use "
			      "--username USER --password-stdin %s",
			      hosts[j], hosts[j]);
			r = BERTH_BUILD_FAILURE;
		}
	if (r == BERTH_OK && targets.nr == 0)
		info("no registry to log in to: the job sets neither WERF_REPO with credentials, "
		     "nor CI_REGISTRY");
	for (i = 0; r == BERTH_OK && i < targets.nr; i++) {
		int wanted = nr == 0;

		for (j = 0; j < nr && !wanted; j++)
			wanted = !strcmp(hosts[j], targets.t[i].host);
		if (wanted)
			r = login_target(s, &targets.t[i], dir);
	}
	return r;
}

enum berth_result cmd_login(const struct args *a, const char *settings_file, int *exit_status)
{
	const char *user = args_value(a, "--username"), *dir;
	struct settings s;
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	char buf[4096];
	int password_stdin = args_flag(a, "--password-stdin");

	(void)exit_status;
	if (!user != !password_stdin || (password_stdin && a->nr_operand != 1))
		return args_error(a, "--username and --password-stdin go together, with exactly "
				     "one HOST");
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	dir = docker_dir(buf, sizeof(buf));
	if (dir && docker_config_init(dir) == 0)
		r = password_stdin ? login_stdin(&s, a->operand[0], user, dir)
				   : login_from_variables(&s, a->operand, a->nr_operand, dir);
	settings_release(&s);
	return r;
}

enum berth_result cmd_logout(const struct args *a, const char *settings_file, int *exit_status)
{
	const char *dir;
	char buf[4096];
	int i, gone;

	(void)settings_file;
	(void)exit_status;
	dir = docker_dir(buf, sizeof(buf));
	if (!dir)
		return BERTH_SYSTEM_FAILURE;
	if (a->nr_operand == 0) {
		gone = docker_config_remove(dir, NULL);
		if (gone < 0)
			return BERTH_SYSTEM_FAILURE;
		info("logged out of %d registr%s in %s", gone, gone == 1 ? "y" : "ies", dir);
		return BERTH_OK;
	}
	for (i = 0; i < a->nr_operand; i++) {
		gone = docker_config_remove(dir, a->operand[i]);
		if (gone < 0)
			return BERTH_SYSTEM_FAILURE;
		info("%s %s", gone ? "logged out of" : "was not logged in to", a->operand[i]);
	}
	return BERTH_OK;
}
