/* One file per command (cmd_<name>.c); main.c holds the table. */
#ifndef COMMANDS_H
#define COMMANDS_H

#include "berth.h"

/* argv[0] is the command's name; `settings_file` is --config FILE, or NULL. */
typedef enum berth_result (*command_fn)(int argc, char **argv, const char *settings_file);

enum berth_result cmd_config(int argc, char **argv, const char *settings_file);
enum berth_result cmd_prepare(int argc, char **argv, const char *settings_file);
enum berth_result cmd_run(int argc, char **argv, const char *settings_file);
enum berth_result cmd_cleanup(int argc, char **argv, const char *settings_file);
enum berth_result cmd_login(int argc, char **argv, const char *settings_file);
enum berth_result cmd_logout(int argc, char **argv, const char *settings_file);
enum berth_result cmd_kubeconfig(int argc, char **argv, const char *settings_file);
enum berth_result cmd_lock(int argc, char **argv, const char *settings_file);
enum berth_result cmd_locks(int argc, char **argv, const char *settings_file);
enum berth_result cmd_werf(int argc, char **argv, const char *settings_file);
enum berth_result cmd_pipeline(int argc, char **argv, const char *settings_file);
enum berth_result cmd_dry_run(int argc, char **argv, const char *settings_file);
enum berth_result cmd_exec(int argc, char **argv, const char *settings_file);
enum berth_result cmd_tools(int argc, char **argv, const char *settings_file);
enum berth_result cmd_gc(int argc, char **argv, const char *settings_file);
enum berth_result cmd_prune(int argc, char **argv, const char *settings_file);
enum berth_result cmd_supervise(int argc, char **argv, const char *settings_file);

#endif
