/*
 * `berth prepare`: the job's workspace, a check that its executor can run here, and its
 * credentials: the kubeconfig written and checked, registry logins proven. A failure leaves
 * what was made for cleanup, which the runner always calls.
 */
#include "commands.h"
#include "context.h"
#include "credentials.h"
#include "executor.h"
#include "log.h"
#include "tools.h"

enum berth_result cmd_prepare(int argc, char **argv, const char *settings_file)
{
	const struct executor *ex;
	struct context ctx;
	enum berth_result r;
	char tools[4096]; /* a configured tool bundle must be installed before jobs rely on it */

	(void)argv;
	if (argc != 1) {
		error("usage: berth prepare");
		return BERTH_SYSTEM_FAILURE;
	}
	r = context_load(&ctx, settings_file);
	if (r != BERTH_OK)
		return r;
	ex = executor_find(ctx.settings.executor);
	if (!ex || ex->check() < 0 || tools_bin_dir(&ctx.settings, tools, sizeof(tools)) < 0 ||
	    workspace_create(&ctx.ws, &ctx.job) < 0)
		r = BERTH_SYSTEM_FAILURE;
	else
		r = credentials_prepare(&ctx.settings, &ctx.ws);
	if (r == BERTH_OK)
		info("job %s ready in %s (berth %s, executor %s)", ctx.job.id, ctx.ws.dir,
		     BERTH_VERSION, ex->name);
	context_release(&ctx);
	return r;
}
