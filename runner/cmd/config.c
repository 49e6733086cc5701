/*
 * `berth config`: the JSON GitLab Runner reads before prepare. Nothing but JSON on stdout. With
 * job_users it claims the job's user, whose own builds and cache dirs it reports.
 */
#include "cmd/commands.h"
#include "job/context.h"
#include "conf/vars.h"
#include "base/log.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum berth_result show_settings(const char *settings_file)
{
	struct settings s;

	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	settings_print(&s, stdout);
	settings_release(&s);
	return BERTH_OK;
}

static json_t *config_json(const struct context *ctx)
{
	char host[HOST_NAME_MAX + 1] = "";

	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[HOST_NAME_MAX] = '\0';
	return json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:s}, s:{s:s}, s:s}", "builds_dir",
			 ctx->ws.builds, "cache_dir", ctx->ws.cache, "builds_dir_is_shared",
			 ctx->ws.builds_shared, "hostname", host, "driver", "name", "berth",
			 "version", BERTH_VERSION, "job_env", JOB_MARKER, ctx->ws.dir, "shell",
			 "bash");
}

enum berth_result cmd_config(const struct args *a, const char *settings_file, int *exit_status)
{
	struct context ctx;
	enum berth_result r;
	json_t *out;

	(void)exit_status;
	if (args_flag(a, "--show-settings"))
		return show_settings(settings_file);
	r = context_load(&ctx, settings_file);
	if (r != BERTH_OK)
		return r;
	/* With job users, the builds and cache dirs are the user's own: claim it now. */
	if (ctx.settings.job_users.nr && workspace_create(&ctx.ws, &ctx.settings, &ctx.job) < 0) {
		context_release(&ctx);
		return BERTH_SYSTEM_FAILURE;
	}
	out = config_json(&ctx);
	if (!out || json_dumpf(out, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF) {
		error("cannot write the config JSON to stdout");
		r = BERTH_SYSTEM_FAILURE;
	}
	json_decref(out);
	context_release(&ctx);
	return r;
}
