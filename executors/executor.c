#include "executors/executor.h"

#include "base/array.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct executor *const executors[] = {
	&executor_shell,
	&executor_bwrap,
};

const struct executor *executor_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(executors); i++)
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
	for (i = 0; i < ARRAY_SIZE(executors); i++) {
		if (i)
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, executors[i]->name, sizeof(names) - strlen(names) - 1);
	}
	return names;
}

int executor_on_path(const char *program)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL;
	int found = 0;

	if (!path || !*path)
		path = "/usr/bin:/bin";
	dirs = strdup(path);
	if (!dirs)
		return 0;
	for (dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *candidate = NULL;

		if (asprintf(&candidate, "%s/%s", *dir ? dir : ".", program) < 0)
			break;
		found = access(candidate, X_OK) == 0;
		free(candidate);
	}
	free(dirs);
	return found;
}
