/*
 * berth: a GitLab Runner custom-executor driver. This file holds the command table and is the
 * only place where a command's result becomes the runner's exit code.
 */
#include "base/array.h"
#include "base/berth.h"
#include "base/args.h"
#include "cmd/commands.h"
#include "pipeline/local.h"
#include "base/log.h"
#include "base/proc.h"
#include "job/report.h"
#include "base/secret.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static enum berth_result cmd_help(const struct args *a, const char *settings_file,
				  int *exit_status);
static enum berth_result cmd_version(const struct args *a, const char *settings_file,
				     int *exit_status);

/* Every command with everything it takes: the one source of usage (args.h). */
static const struct command commands[] = {
	{.name = "config",
	 .fn = cmd_config,
	 .summary = "print the runner's config JSON (GitLab Runner's config_exec)",
	 .options = {{"--show-settings", NULL, NULL, 0, "print the settings in force instead"}}},
	{.name = "prepare",
	 .fn = cmd_prepare,
	 .summary = "create the job's workspace and credentials (GitLab Runner's prepare_exec)"},
	{.name = "run",
	 .fn = cmd_run,
	 .operands = "SCRIPT STAGE",
	 .min = 2,
	 .max = 2,
	 .summary = "run one stage script of the job (GitLab Runner's run_exec)"},
	{.name = "cleanup",
	 .fn = cmd_cleanup,
	 .summary = "end the job's processes, remove its workspace (GitLab Runner's cleanup_exec)"},
	{.name = "login",
	 .fn = cmd_login,
	 .operands = "[HOST...]",
	 .max = -1,
	 .summary = "log in to the job's registries (or those HOSTs) into $DOCKER_CONFIG",
	 .note = "With --username and --password-stdin: log in to exactly one HOST with the\n"
		 "password read from stdin.",
	 .options = {{"--username", NULL, "USER", 0, "log in as USER (with --password-stdin)"},
		     {"--password-stdin", NULL, NULL, 0, "read the password from stdin"}}},
	{.name = "logout",
	 .fn = cmd_logout,
	 .operands = "[HOST...]",
	 .max = -1,
	 .summary = "remove the registry logins (or those of HOSTs) from $DOCKER_CONFIG"},
	{.name = "kubeconfig",
	 .fn = cmd_kubeconfig,
	 .summary = "decode and check the job's kubeconfig (WERF_KUBECONFIG_BASE64 ...)",
	 .options = {{"--output", "-o", "FILE", 0, "write it to FILE (0600)"},
		     {"--no-preflight", NULL, NULL, 0, "skip the cluster check (GET /version)"}}},
	{.name = "lock",
	 .fn = cmd_lock,
	 .operands = "KEY -- CMD [ARGS...]",
	 .min = 1,
	 .max = 1,
	 .flags = ARGS_COMMAND,
	 .summary = "run CMD holding the lock KEY (docs/locks.md)",
	 .options = {{"--timeout", NULL, "S", 0, "give up after waiting S seconds (0: forever)"}}},
	{.name = "locks",
	 .fn = cmd_locks,
	 .summary = "list lock holders and waiters",
	 .options = {{"--json", NULL, NULL, 0, "print them as JSON"}}},
	{.name = "werf",
	 .fn = cmd_werf,
	 .operands = "SUBCOMMAND [ARGS...]",
	 .min = 1,
	 .max = -1,
	 .flags = ARGS_STOP_AT_OPERAND,
	 .summary = "run werf with the job's environment, credentials and lock (docs/werf.md)",
	 .note = "berth werf passes SUBCOMMAND and everything after it to werf:\n"
		 "`berth werf converge --help` is werf's own help."},
	{.name = "pipeline",
	 .fn = cmd_pipeline,
	 .summary = "list the local pipeline's jobs and what each waits for (docs/pipeline.md)",
	 .options = {LOCAL_OPTIONS,
		     {"--json", NULL, NULL, 0, "print the jobs as JSON"},
		     {"--preview", NULL, "JOB", 0, "print JOB fully resolved, as YAML"}}},
	{.name = "dry-run",
	 .fn = cmd_dry_run,
	 .operands = "JOB",
	 .min = 1,
	 .max = 1,
	 .summary = "print what a berth runner would do with JOB, without doing it",
	 .options = {LOCAL_OPTIONS}},
	{.name = "exec",
	 .fn = cmd_exec,
	 .operands = "JOB",
	 .min = 1,
	 .max = 1,
	 .summary = "run JOB here through berth's stages",
	 .options = {LOCAL_OPTIONS,
		     {"--with-needs", NULL, NULL, 0,
		      "run the jobs JOB needs first, in needs order"}}},
	{.name = "tools",
	 .fn = cmd_tools,
	 .operands = "list | install BUNDLE",
	 .max = 2,
	 .summary = "list or install offline tool bundles such as werf (docs/tools.md)",
	 .options = {{"--sha256", NULL, "HEX", 0, "the bundle's SHA-256 (install needs it)"}}},
	{.name = "gc",
	 .fn = cmd_gc,
	 .summary = "remove workspaces of jobs whose cleanup never ran",
	 .options = {{"--dry-run", NULL, NULL, 0, "only list what would be removed"}}},
	{.name = "status",
	 .fn = cmd_status,
	 .summary = "what runs on this runner now: jobs, their stages, users and locks",
	 .options = {{"--json", NULL, NULL, 0, "print it as one JSON object"},
		     {"--remote", NULL, NULL, 0,
		      "kubernetes lock backend: ask the cluster for the locks"}}},
	{.name = "prune",
	 .fn = cmd_prune,
	 .operands = "REPOSITORY...",
	 .min = 1,
	 .max = -1,
	 .summary = "delete the registry tags no policy keeps (docs/prune.md)",
	 .options = {{"--dry-run", NULL, NULL, 0, "decide and report, delete nothing"},
		     {"--report", NULL, "FILE", 0, "write every decision to FILE as JSON"},
		     {"--keep-tag", NULL, "REGEX", 1, "keep the tags REGEX matches"},
		     {"--keep-newest", NULL, "N", 0, "keep each repository's N newest tags"},
		     {"--keep-younger", NULL, "AGE", 0, "keep tags younger than AGE (36h, 14d)"},
		     {"--cluster", NULL, "KUBECONFIG", 0, "keep what the cluster's workloads use"},
		     {"--no-cluster", NULL, NULL, 0, "go without a cluster ($KUBECONFIG unset)"},
		     {"--parallel", NULL, "N", 0, "use N workers"},
		     {"--max-rps", NULL, "R", 0, "send at most R requests per second"},
		     {"--gc", NULL, NULL, 0, "start the registry's garbage collection (CRaaS)"}}},
	{.name = "supervise",
	 .fn = cmd_supervise,
	 .operands = "GRACE -- CMD [ARGS...]",
	 .min = 1,
	 .max = 1,
	 .flags = ARGS_COMMAND,
	 .summary = "run CMD as a stage: the bwrap sandbox's first process (docs/bwrap.md)"},
	{.name = "help",
	 .fn = cmd_help,
	 .operands = "[COMMAND]",
	 .max = 1,
	 .summary = "print every command's usage, or COMMAND's"},
	{.name = "version", .fn = cmd_version, .summary = "print berth's version"},
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: berth [--config FILE] COMMAND [ARGS...]\n"
		     "       berth help [COMMAND] | berth COMMAND --help | berth --version\n\n"
		     "commands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		fputs("  ", out);
		args_usage_line(&commands[i], out);
		fprintf(out, "      %s\n", commands[i].summary);
	}
	fprintf(out, "\nsettings: --config FILE, else $BERTH_CONFIG, else /etc/berth/berth.yaml "
		     "when present, else defaults (berth config --show-settings)\n");
}

static enum berth_result cmd_help(const struct args *a, const char *settings_file, int *exit_status)
{
	const struct command *c = a->nr_operand ? find_command(a->operand[0]) : NULL;

	(void)settings_file;
	(void)exit_status;
	if (a->nr_operand && !c)
		return args_error(a, "unknown command '%s'", a->operand[0]);
	if (c)
		args_help(c, stdout);
	else
		usage(stdout);
	return BERTH_OK;
}

static enum berth_result cmd_version(const struct args *a, const char *settings_file,
				     int *exit_status)
{
	(void)a;
	(void)settings_file;
	(void)exit_status;
	printf("berth %s\n", BERTH_VERSION);
	return BERTH_OK;
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

/* `exit_status`: of the child the command ran for the user (commands.h), or -1: none. */
static int to_exit_code(enum berth_result r, int exit_status)
{
	switch (r) {
	case BERTH_OK:
		return exit_status >= 0 ? exit_status : 0;
	case BERTH_BUILD_FAILURE:
		return exit_code("BUILD_FAILURE_EXIT_CODE", 1);
	case BERTH_USAGE_ERROR:
		return 2; /* the convention of every command-line tool, whoever calls berth */
	case BERTH_SYSTEM_FAILURE:
		break;
	}
	return exit_code("SYSTEM_FAILURE_EXIT_CODE", 2);
}

/*
 * berth's own options, before COMMAND. Returns the command's name, argv[*arg] being its first
 * argument (-h and --help name `help`, -V and --version `version`), or NULL after saying what is
 * wrong.
 */
static const char *global_options(int argc, char **argv, int *arg, const char **settings_file)
{
	const struct args none = {0}; /* messages without a command's usage */

	for (; *arg < argc && argv[*arg][0] == '-'; (*arg)++) {
		const char *a = argv[*arg];

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return "help";
		if (!strcmp(a, "-V") || !strcmp(a, "--version"))
			return "version";
		if (!strncmp(a, "--config=", 9)) {
			*settings_file = a + 9;
		} else if (strcmp(a, "--config") != 0) {
			args_error(&none, "unknown option '%s'", a);
			return NULL;
		} else if (*arg + 1 >= argc) {
			args_error(&none, "option '--config' needs a value (FILE)");
			return NULL;
		} else {
			*settings_file = argv[++*arg];
		}
	}
	if (*arg >= argc) {
		args_error(&none, "missing argument COMMAND");
		return NULL;
	}
	return argv[*arg];
}

/* Runs `c` with its parsed arguments; the exit code. */
static int run_parsed(const struct command *c, const struct args *a, const char *settings_file)
{
	enum berth_result r;
	int code, exit_status = -1;

	/* Only what ran goes to the stage log and metrics: a usage error is no job's outcome. */
	report_begin(c->name);
	r = c->fn(a, settings_file, &exit_status);
	code = to_exit_code(r, exit_status);
	report_end(r, code);
	return code;
}

/* Parses the command line for `c` and runs it; the exit code. */
static int run_command(const struct command *c, int argc, char **argv, const char *settings_file)
{
	struct args a;
	int code, parsed = args_parse(&a, c, argc, argv);

	if (parsed != 0) {
		if (parsed > 0)
			args_help(c, stdout);
		args_release(&a);
		return to_exit_code(parsed > 0 ? BERTH_OK : BERTH_USAGE_ERROR, -1);
	}
	code = run_parsed(c, &a, settings_file);
	args_release(&a);
	return code;
}

/*
 * berth called as `werf` (the wrapper in every job's PATH, docs/werf.md): `berth werf` with
 * every argument werf's, none berth's.
 */
static int run_as_werf(int argc, char **argv)
{
	const struct args a = {.operand = argv + 1, .nr_operand = argc - 1};

	return run_parsed(find_command("werf"), &a, NULL);
}

static int called_as(const char *argv0, const char *name)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	return argv0 && !strcmp(base ? base + 1 : argv0, name);
}

int main(int argc, char **argv)
{
	const struct args none = {0};
	const struct command *c = NULL;
	const char *settings_file = NULL, *name;
	int arg = 1;

	/* Before anything holds a secret: no core file may ever show berth's memory. */
	if (proc_no_core_dumps() < 0)
		return to_exit_code(BERTH_SYSTEM_FAILURE, -1);
	/* Secrets are written by berth alone: nothing it creates is readable by others. */
	umask(077);
	/* A file-size limit (RLIMIT_FSIZE) makes a write fail with EFBIG, reported like a full
	 * disk, instead of killing berth mid-way with no message; scripts get the default back. */
	signal(SIGXFSZ, SIG_IGN);
	secret_wipe_json_memory();
	if (called_as(argv[0], "werf"))
		return run_as_werf(argc, argv);
	name = global_options(argc, argv, &arg, &settings_file);
	if (name && !(c = find_command(name)))
		args_error(&none, "unknown command '%s'", name);
	if (!c) {
		fprintf(stderr, "usage: berth [--config FILE] COMMAND [ARGS...] (berth help lists "
				"every command)\n");
		return to_exit_code(BERTH_USAGE_ERROR, -1);
	}
	return run_command(c, argc - arg, argv + arg, settings_file);
}
