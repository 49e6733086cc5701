/*
 * `berth tools install BUNDLE --sha256 HEX` and `berth tools list` (docs/tools.md): offline tool
 * bundles for runner VMs without internet.
 */
#include "commands.h"
#include "log.h"
#include "settings.h"
#include "tools.h"

#include <stdio.h>
#include <string.h>

#define USAGE "usage: berth tools install BUNDLE --sha256 HEX | berth tools list"

static enum berth_result install(const struct settings *s, int argc, char **argv)
{
	int already = 0;

	if (argc != 5 || strcmp(argv[3], "--sha256") != 0) {
		error(USAGE);
		return BERTH_SYSTEM_FAILURE;
	}
	if (tools_install(s, argv[2], argv[4], &already) < 0)
		return BERTH_SYSTEM_FAILURE;
	printf("%s %s into %s/tools/%s\n", already ? "already installed:" : "installed", argv[2],
	       s->state_dir, argv[4]);
	return BERTH_OK;
}

enum berth_result cmd_tools(int argc, char **argv, const char *settings_file)
{
	struct settings s;
	enum berth_result r = BERTH_SYSTEM_FAILURE;

	if (argc < 2 || (strcmp(argv[1], "install") != 0 && strcmp(argv[1], "list") != 0) ||
	    (!strcmp(argv[1], "list") && argc != 2)) {
		error(USAGE);
		return BERTH_SYSTEM_FAILURE;
	}
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	if (!strcmp(argv[1], "install"))
		r = install(&s, argc, argv);
	else if (tools_list(&s, stdout) == 0)
		r = BERTH_OK;
	settings_release(&s);
	return r;
}
