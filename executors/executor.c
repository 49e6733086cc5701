#include "executor.h"

#include <string.h>

static const struct executor *const executors[] = {
	&executor_shell,
	&executor_bwrap,
};

#define EXECUTORS_NR (sizeof(executors) / sizeof(executors[0]))

const struct executor *executor_find(const char *name)
{
	size_t i;

	for (i = 0; i < EXECUTORS_NR; i++)
		if (!strcmp(executors[i]->name, name))
			return executors[i];
	return NULL;
}

const char *executor_names(void)
{
	static char names[256];
	size_t i;

	if (names[0])
		return names;
	for (i = 0; i < EXECUTORS_NR; i++) {
		if (i)
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, executors[i]->name, sizeof(names) - strlen(names) - 1);
	}
	return names;
}
