/*
 * berth: a GitLab Runner custom-executor driver. This file holds the command table and is the
 * only place where a command's result becomes the runner's exit code.
 */
#include "berth.h"
#include "commands.h"
#include "log.h"
#include "proc.h"
#include "report.h"
#include "secret.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct command {
	const char *name;
	command_fn fn;
	const char *help;
};

static const struct command commands[] = {
	{"config", cmd_config, "print the runner's config JSON (config_exec)"},
	{"prepare", cmd_prepare, "create the job's workspace (prepare_exec)"},
	{"run", cmd_run, "SCRIPT STAGE: run one stage script (run_exec)"},
	{"cleanup", cmd_cleanup, "end the job's processes, remove its workspace (cleanup_exec)"},
	{"login", cmd_login, "[HOST...]: log in to the job's registries into $DOCKER_CONFIG"},
	{"logout", cmd_logout, "[HOST...]: remove registry logins from $DOCKER_CONFIG"},
	{"kubeconfig", cmd_kubeconfig, "[-o FILE]: decode, check and write the job's kubeconfig"},
	{"lock", cmd_lock, "KEY [--timeout S] -- CMD...: run CMD holding the lock KEY"},
	{"locks", cmd_locks, "[--json]: list lock holders and waiters"},
	{"werf", cmd_werf, "SUBCOMMAND [ARGS...]: werf with the job's env, credentials and lock"},
	{"pipeline", cmd_pipeline,
	 "[--source S] [--json] [--preview JOB]: the local pipeline's jobs"},
	{"dry-run", cmd_dry_run, "JOB [--source S] [--var K=V]: what a runner would do with JOB"},
	{"exec", cmd_exec, "JOB [--source S] [--var K=V]: run JOB here through berth's stages"},
	{"tools", cmd_tools, "install BUNDLE --sha256 HEX | list: offline tool bundles (werf)"},
	{"gc", cmd_gc, "[--dry-run]: remove workspaces of jobs whose cleanup never ran"},
	{"prune", cmd_prune,
	 "REPOSITORY... [--keep-tag RE] [--keep-newest N] [--keep-younger AGE] [--dry-run]: "
	 "delete unused registry tags"},
	{"supervise", cmd_supervise, "GRACE -- CMD...: run CMD as a stage (the bwrap sandbox's)"},
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: berth [--config FILE] COMMAND [ARGS...]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nsettings: --config FILE, else $BERTH_CONFIG, else /etc/berth/berth.yaml "
		     "when present, else defaults (berth config --show-settings)\n");
}

/* The runner names its exit codes; by hand they are the conventional 1 and 2. */
static int exit_code(const char *name, int fallback)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return fallback;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 1 || n > 255) {
		warning("ignoring %s='%s': not an exit code from 1 to 255", name, v);
		return fallback;
	}
	return (int)n;
}

static int to_exit_code(enum berth_result r)
{
	switch (r) {
	case BERTH_OK:
		return berth_exit_status >= 0 ? berth_exit_status : 0;
	case BERTH_BUILD_FAILURE:
		return exit_code("BUILD_FAILURE_EXIT_CODE", 1);
	case BERTH_SYSTEM_FAILURE:
		break;
	}
	return exit_code("SYSTEM_FAILURE_EXIT_CODE", 2);
}

int main(int argc, char **argv)
{
	const char *settings_file = NULL;
	size_t i;
	int arg = 1;

	/* Before anything holds a secret: no core file may ever show berth's memory. */
	if (proc_no_core_dumps() < 0)
		return to_exit_code(BERTH_SYSTEM_FAILURE);
	/* Secrets are written by berth alone: nothing it creates is readable by others. */
	umask(077);
	/* A file-size limit (RLIMIT_FSIZE) makes a write fail with EFBIG, reported like a full
	 * disk, instead of killing berth mid-way with no message; scripts get the default back. */
	signal(SIGXFSZ, SIG_IGN);
	secret_wipe_json_memory();
	if (arg + 1 < argc && !strcmp(argv[arg], "--config")) {
		settings_file = argv[arg + 1];
		arg += 2;
	}
	if (arg >= argc) {
		usage(stderr);
		return to_exit_code(BERTH_SYSTEM_FAILURE);
	}
	if (!strcmp(argv[arg], "--help") || !strcmp(argv[arg], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[arg], "--version")) {
		printf("berth %s\n", BERTH_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		enum berth_result r;
		int code;

		if (strcmp(argv[arg], commands[i].name) != 0)
			continue;
		report_begin(commands[i].name);
		r = commands[i].fn(argc - arg, argv + arg, settings_file);
		code = to_exit_code(r);
		report_end(r, code);
		return code;
	}
	error("unknown command '%s'", argv[arg]);
	usage(stderr);
	return to_exit_code(BERTH_SYSTEM_FAILURE);
}
