#include "env.h"

#include "workspace.h"

#include <string.h>

static const char *const internal[] = {
	"JOB_RESPONSE_FILE",
	"BUILD_FAILURE_EXIT_CODE",
	"SYSTEM_FAILURE_EXIT_CODE",
	"BUILD_EXIT_CODE_FILE",
	"BERTH_CONFIG",
};

static int is_internal(const char *entry)
{
	size_t i, n;

	if (!strncmp(entry, "CUSTOM_ENV_", 11))
		return 1;
	for (i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		n = strlen(internal[i]);
		if (!strncmp(entry, internal[i], n) && entry[n] == '=')
			return 1;
	}
	return 0;
}

int stage_env(struct strvec *out, char *const *in, const struct workspace *ws)
{
	for (; *in; in++)
		if (!is_internal(*in) && strchr(*in, '=') && strvec_push(out, *in) < 0)
			return -1;
	if (strvec_setenv(out, JOB_MARKER, ws->dir) < 0 ||
	    strvec_setenv(out, "TMPDIR", ws->tmp) < 0)
		return -1;
	return 0;
}
