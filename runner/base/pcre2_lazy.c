#include "base/pcre2_lazy.h"

#include "base/dl.h"

#include <stdio.h>
#include <string.h>

#define PCRE2_LIBRARY "libpcre2-8.so.0"

struct pcre2_lazy pcre2_lazy;

int pcre2_lazy_load(char *err, size_t err_size)
{
	static const struct dl_symbol symbols[] = {
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

	if (loaded > 0)
		return 0;
	if (loaded < 0) {
		snprintf(err, err_size, "%s is not usable", PCRE2_LIBRARY);
		return -1;
	}
	loaded = -1;
	if (dl_load(PCRE2_LIBRARY, symbols, sizeof(symbols) / sizeof(symbols[0]), &pcre2_lazy,
		    "install libpcre2-8-0", NULL, err, err_size) < 0)
		return -1;
	loaded = 1;
	return 0;
}
