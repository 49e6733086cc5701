/* What every berth command returns; main.c alone maps it to the runner's exit codes. */
#ifndef BERTH_H
#define BERTH_H

enum berth_result {
	BERTH_OK = 0,
	BERTH_BUILD_FAILURE,  /* the job's own input or script is wrong: the user must fix it */
	BERTH_SYSTEM_FAILURE, /* infrastructure fault: the runner may retry */
	BERTH_USAGE_ERROR,    /* the command line is wrong, already said: exit 2 (args.h) */
};

#endif
