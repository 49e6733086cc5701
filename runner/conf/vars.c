#include "conf/vars.h"

#include <stdio.h>
#include <stdlib.h>

const struct vars vars_runner = {"CUSTOM_ENV_", "CI/CD variable"};
const struct vars vars_script = {"", "variable"};

const char *vars_spelling(const struct vars *v, const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s%s", v->prefix, name);
	return buf;
}

const char *vars_get(const struct vars *v, const char *name)
{
	const char *value = getenv(vars_spelling(v, name));

	return value && *value ? value : NULL;
}
