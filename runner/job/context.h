/* What every stage command starts from: the settings, the job, and the job's workspace. */
#ifndef CONTEXT_H
#define CONTEXT_H

#include "base/berth.h"
#include "job/job.h"
#include "conf/settings.h"
#include "job/workspace.h"

struct context {
	struct settings settings;
	struct job job;
	struct workspace ws;
};

/* Broken settings are the admin's to fix: a system failure. Job errors keep their class. */
enum berth_result context_load(struct context *ctx, const char *settings_file);
void context_release(struct context *ctx);

#endif
