#include "job/context.h"

#include "job/report.h"

#include <string.h>

enum berth_result context_load(struct context *ctx, const char *settings_file)
{
	enum berth_result r;

	memset(ctx, 0, sizeof(*ctx));
	if (settings_load(&ctx->settings, settings_file) < 0) {
		context_release(ctx);
		return BERTH_SYSTEM_FAILURE;
	}
	r = job_load(&ctx->job);
	if (r == BERTH_OK && workspace_init(&ctx->ws, &ctx->settings, &ctx->job) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK)
		report_job(&ctx->settings, &ctx->job, ctx->ws.dir);
	if (r != BERTH_OK)
		context_release(ctx);
	return r;
}

void context_release(struct context *ctx)
{
	workspace_release(&ctx->ws);
	job_release(&ctx->job);
	settings_release(&ctx->settings);
}
