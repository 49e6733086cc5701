/*
 * Executor backends: how a stage script is started. A backend only builds the command line
 * and checks it can work; cmd_run.c starts, supervises and maps the result the same way for
 * all. Adding a backend means one new file and one line in executor.c's table.
 */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include "strvec.h"

struct job_user;
struct settings;
struct workspace;

struct executor {
	const char *name;
	/*
	 * prepare: 0 when the backend can run here for user `u` (NULL: berth's own), else -1
	 * after saying what to install or fix.
	 */
	int (*check)(const struct job_user *u);
	/*
	 * run: the argv that runs `script` (a bash script) for the job in `ws`; the command
	 * starts as user `u` (NULL: berth's own) with the script's environment.
	 */
	int (*command)(struct strvec *argv, const char *script, const struct workspace *ws,
		       const struct settings *s, const struct job_user *u);
	/* 1: the command's own processes ignore SIGTERM and SIGINT (proc_ignore_stops). */
	int ignore_stops;
};

const struct executor *executor_find(const char *name);
/* "shell, ..." for messages. */
const char *executor_names(void);

extern const struct executor executor_shell;
extern const struct executor executor_bwrap;

#endif
