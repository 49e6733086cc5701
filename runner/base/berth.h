/* What every berth command returns; main.c alone maps it to the runner's exit codes. */
#ifndef BERTH_H
#define BERTH_H

enum berth_result {
	BERTH_OK = 0,
	BERTH_BUILD_FAILURE,  /* the job's own input or script is wrong: the user must fix it */
	BERTH_SYSTEM_FAILURE, /* infrastructure fault: the runner may retry */
	BERTH_USAGE_ERROR,    /* the command line is wrong, already said: exit 2 (args.h) */
};

/*
 * A command that runs a child for the user (berth lock, berth werf) sets its exit status here;
 * main exits with it when the command itself succeeded. -1: not set.
 */
extern int berth_exit_status;

#endif
