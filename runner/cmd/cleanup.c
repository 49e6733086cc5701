/*
 * `berth cleanup`: ends the job's processes and removes its workspace. Idempotent: the runner
 * calls it after every failed prepare attempt and at the end, also when nothing was created,
 * and possibly while a canceled `run` is still dying. Its output reaches the runner's own log
 * unmasked: it names paths and counts, never variables.
 */
#include "cmd/commands.h"
#include "job/context.h"
#include "conf/vars.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/procscan.h"

#include <stdio.h>
#include <stdlib.h>

enum berth_result cmd_cleanup(const struct args *a, const char *settings_file, int *exit_status)
{
	enum berth_result r;
	struct context ctx;
	char *marker = NULL;
	int killed;

	(void)a;
	(void)exit_status;
	r = context_load(&ctx, settings_file);
	if (r == BERTH_BUILD_FAILURE) {
		/* config and prepare refused the same identity: nothing was ever created. */
		info("nothing to clean up: the job's identity was refused");
		return BERTH_OK;
	}
	if (r != BERTH_OK)
		return r;
	if (asprintf(&marker, "%s=%s", JOB_MARKER, ctx.ws.dir) < 0) {
		marker = NULL;
		r = BERTH_SYSTEM_FAILURE;
		goto out;
	}
	killed = procscan_kill_marked(marker, job_user_uid(ctx.ws.user), ctx.settings.kill_grace);
	if (killed > 0)
		info("job %s: ended %d leftover process(es)", ctx.job.id, killed);
	/* Before the workspace goes: then the user is free for the next job. */
	if (killed < 0 || workspace_scrub_user(ctx.ws.user, &ctx.settings) < 0 ||
	    workspace_remove(&ctx.ws) < 0) {
		r = BERTH_SYSTEM_FAILURE;
		goto out;
	}
out:
	free(marker);
	context_release(&ctx);
	return r;
}
