/*
 * Offline tool bundles (docs/tools.md): a tarball of bin/werf (and kubectl, helm...) checked
 * against its sha256 and unpacked into <state_dir>/tools/<sha256>/, so that runner VMs without
 * internet get werf without trdl. The settings' `tools_bundle` names the one whose bin/ stage
 * scripts find first on their PATH.
 */
#ifndef TOOLS_H
#define TOOLS_H

#include "conf/settings.h"

#include <stddef.h>
#include <stdio.h>

/*
 * Installs BUNDLE, whose sha256 must be `sha256` (64 hex digits). *already = 1 when that
 * bundle was installed before (nothing changes). 0, or -1 after reporting.
 */
int tools_install(const struct settings *s, const char *bundle, const char *sha256, int *already);
/* One line per installed bundle: its sha256, when, and the programs in its bin/. */
int tools_list(const struct settings *s, FILE *out);
/*
 * <state_dir>/tools/<tools_bundle>/bin into `buf`; "" when the settings name no bundle.
 * 0, or -1 after reporting that the named bundle is not installed.
 */
int tools_bin_dir(const struct settings *s, char *buf, size_t size);

#endif
