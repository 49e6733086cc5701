#include "base/dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int dl_load(const char *library, const struct dl_symbol *symbols, size_t n, void *table,
	    const char *hint, const char *need, char *why, size_t why_size)
{
	void *lib = dlopen(library, RTLD_LAZY | RTLD_LOCAL);
	size_t i;

	if (!lib) {
		snprintf(why, why_size, "cannot load %s: %s; %s", library, dlerror(), hint);
		return -1;
	}
	for (i = 0; i < n; i++) {
		void *fn = dlsym(lib, symbols[i].name);

		if (!fn) {
			snprintf(why, why_size, "%s has no %s%s%s", library, symbols[i].name,
				 need ? ": " : "", need ? need : "");
			return -1;
		}
		memcpy((char *)table + symbols[i].offset, &fn, sizeof(fn));
	}
	return 0;
}
