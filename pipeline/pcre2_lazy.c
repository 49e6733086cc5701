#include "pcre2_lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define PCRE2_LIBRARY "libpcre2-8.so.0"

struct pcre2_lazy pcre2_lazy;

int pcre2_lazy_load(char *err, size_t err_size)
{
	static const struct {
		const char *name;
		size_t offset;
	} symbols[] = {
#define SYM(field, name) {name, offsetof(struct pcre2_lazy, field)}
		SYM(compile, "pcre2_compile_8"),
		SYM(code_free, "pcre2_code_free_8"),
		SYM(get_error_message, "pcre2_get_error_message_8"),
		SYM(match, "pcre2_match_8"),
		SYM(dfa_match, "pcre2_dfa_match_8"),
		SYM(match_data_create, "pcre2_match_data_create_8"),
		SYM(match_data_free, "pcre2_match_data_free_8"),
		SYM(match_context_create, "pcre2_match_context_create_8"),
		SYM(match_context_free, "pcre2_match_context_free_8"),
		SYM(set_match_limit, "pcre2_set_match_limit_8"),
		SYM(set_heap_limit, "pcre2_set_heap_limit_8"),
#undef SYM
	};
	static int loaded;
	void *lib;
	size_t i;

	if (loaded)
		return loaded > 0
			       ? 0
			       : (snprintf(err, err_size, "%s is not usable", PCRE2_LIBRARY), -1);
	loaded = -1;
	lib = dlopen(PCRE2_LIBRARY, RTLD_LAZY | RTLD_LOCAL);
	if (!lib)
		return snprintf(err, err_size, "cannot load %s: %s; install libpcre2-8-0",
				PCRE2_LIBRARY, dlerror()),
		       -1;
	for (i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *fn = dlsym(lib, symbols[i].name);

		if (!fn)
			return snprintf(err, err_size, "%s has no %s", PCRE2_LIBRARY,
					symbols[i].name),
			       -1;
		memcpy((char *)&pcre2_lazy + symbols[i].offset, &fn, sizeof(fn));
	}
	loaded = 1;
	return 0;
}
