/*
 * `berth tools install BUNDLE --sha256 HEX` and `berth tools list` (docs/tools.md): offline tool
 * bundles for runner VMs without internet.
 */
#include "cmd/commands.h"
#include "base/log.h"
#include "conf/settings.h"
#include "tools/tools.h"

#include <stdio.h>
#include <string.h>

static enum berth_result install(const struct settings *s, const char *bundle, const char *sha256)
{
	int already = 0;

	if (tools_install(s, bundle, sha256, &already) < 0)
		return BERTH_SYSTEM_FAILURE;
	printf("%s %s into %s/tools/%s\n", already ? "already installed:" : "installed", bundle,
	       s->state_dir, sha256);
	return BERTH_OK;
}

/* `list`, or `install BUNDLE --sha256 HEX`: BERTH_OK, or the usage error said. */
static enum berth_result check_usage(const struct args *a, const char *sha256)
{
	const char *sub = a->nr_operand ? a->operand[0] : NULL;

	if (!sub)
		return args_error(a, "missing argument: list, or install BUNDLE");
	if (!strcmp(sub, "list") && (a->nr_operand > 1 || sha256))
		return args_error(a, "list takes no %s", sha256 ? "--sha256" : "argument");
	if (!strcmp(sub, "install") && (a->nr_operand != 2 || !sha256))
		return args_error(a, "install needs %s",
				  a->nr_operand != 2 ? "BUNDLE" : "--sha256 HEX");
	if (strcmp(sub, "list") != 0 && strcmp(sub, "install") != 0)
		return args_error(a, "unknown subcommand '%s': list or install", sub);
	return BERTH_OK;
}

enum berth_result cmd_tools(const struct args *a, const char *settings_file, int *exit_status)
{
	const char *sha256 = args_value(a, "--sha256");
	struct settings s;
	enum berth_result r = check_usage(a, sha256);

	(void)exit_status;
	if (r != BERTH_OK)
		return r;
	r = BERTH_SYSTEM_FAILURE;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	if (sha256)
		r = install(&s, a->operand[1], sha256);
	else if (tools_list(&s, stdout) == 0)
		r = BERTH_OK;
	settings_release(&s);
	return r;
}
