/* One file per command (cmd/<name>.c); main.c holds the table of what each takes (args.h). */
#ifndef COMMANDS_H
#define COMMANDS_H

#include "base/args.h"
#include "base/berth.h"

/*
 * `a` holds the command line as parsed; `settings_file` is --config FILE, or NULL. A command
 * that runs a child for the user (lock, werf, supervise, exec) sets *exit_status to the child's
 * exit status, which berth exits with when the command returns BERTH_OK; the others leave it
 * as main set it, -1 (cmd/exec.c, which calls prepare, run and cleanup itself, gives them NULL).
 */
enum berth_result cmd_config(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_prepare(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_run(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_cleanup(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_login(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_logout(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_kubeconfig(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_lock(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_locks(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_werf(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_pipeline(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_dry_run(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_exec(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_tools(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_gc(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_prune(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_status(const struct args *a, const char *settings_file, int *exit_status);
enum berth_result cmd_supervise(const struct args *a, const char *settings_file, int *exit_status);

#endif
