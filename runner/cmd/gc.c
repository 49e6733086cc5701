/* `berth gc [--dry-run]` (docs/gc.md): remove stale workspaces. Safe while jobs run. */
#include "cmd/commands.h"
#include "job/gc.h"
#include "base/log.h"
#include "conf/settings.h"

#include <stdio.h>
#include <string.h>

enum berth_result cmd_gc(const struct args *a, const char *settings_file, int *exit_status)
{
	int dry_run = args_flag(a, "--dry-run"), n;
	struct settings s;

	(void)exit_status;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	n = gc_run(&s, stdout, dry_run);
	if (n >= 0)
		printf("%d stale workspace(s) %s\n", n, dry_run ? "would be removed" : "removed");
	settings_release(&s);
	return n < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
}
