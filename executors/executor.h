/*
 * Executor backends: how a stage script is started. A backend builds the command line and
 * checks it can work, and may start a helper beside the command (`start`); cmd/run.c
 * supervises and maps the result the same way for all. Adding a backend means one new file and
 * one line in executor.c's table.
 */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include "base/strvec.h"

struct job_user;
struct proc;
struct settings;
struct workspace;

struct executor {
	const char *name;
	/*
	 * prepare: 0 when the backend can run here with settings `s` for user `u` (NULL: berth's
	 * own), else -1 after saying what to install or fix.
	 */
	int (*check)(const struct settings *s, const struct job_user *u);
	/*
	 * run: the argv that runs `script` (a bash script) for the job in `ws`; the command
	 * starts as user `u` (NULL: berth's own) with the script's environment.
	 */
	int (*command)(struct strvec *argv, const char *script, const struct workspace *ws,
		       const struct settings *s, const struct job_user *u);
	/* 1: the command's own processes ignore SIGTERM and SIGINT (proc.ignore_stops). */
	int ignore_stops;
	/*
	 * Optional, in place of proc_start: starts `p`, the command as `command` made it, and
	 * what it needs beside it before its script may run (bwrap: the sandbox's own network,
	 * through proc_start_helper). What it starts beside ends with the stage or with berth. 0,
	 * or -1 after reporting, with nothing left running.
	 */
	int (*start)(struct proc *p, const struct settings *s, const struct job_user *u);
};

const struct executor *executor_find(const char *name);
/* 1 when `program` is on PATH (else /usr/bin:/bin) where execvp will find it, 0 when not. */
int executor_on_path(const char *program);
/* "shell, ..." for messages. */
const char *executor_names(void);

extern const struct executor executor_shell;
extern const struct executor executor_bwrap;

#endif
