/*
 * PCRE2 (8-bit) for rules:if regexes, loaded on first use like libcurl and libgit2: most berth
 * commands never match a regex, and `berth run`, on every stage's path, should not map the
 * library at each exec. Include this instead of <pcre2.h>; the pcre2_* calls then go through
 * the table, which pcre2_lazy_load fills.
 */
#ifndef PCRE2_LAZY_H
#define PCRE2_LAZY_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stddef.h>

struct pcre2_lazy {
	__typeof__(pcre2_compile_8) *compile;
	__typeof__(pcre2_code_free_8) *code_free;
	__typeof__(pcre2_get_error_message_8) *get_error_message;
	__typeof__(pcre2_match_8) *match;
	__typeof__(pcre2_dfa_match_8) *dfa_match;
	__typeof__(pcre2_match_data_create_8) *match_data_create;
	__typeof__(pcre2_match_data_free_8) *match_data_free;
	__typeof__(pcre2_match_context_create_8) *match_context_create;
	__typeof__(pcre2_match_context_free_8) *match_context_free;
	__typeof__(pcre2_set_match_limit_8) *set_match_limit;
	__typeof__(pcre2_set_heap_limit_8) *set_heap_limit;
};

extern struct pcre2_lazy pcre2_lazy;

/* Loads the library once. 0, or -1 with the reason (and what to install) in err. */
int pcre2_lazy_load(char *err, size_t err_size);

#undef pcre2_compile
#undef pcre2_code_free
#undef pcre2_get_error_message
#undef pcre2_match
#undef pcre2_dfa_match
#undef pcre2_match_data_create
#undef pcre2_match_data_free
#undef pcre2_match_context_create
#undef pcre2_match_context_free
#undef pcre2_set_match_limit
#undef pcre2_set_heap_limit
#define pcre2_compile		   pcre2_lazy.compile
#define pcre2_code_free		   pcre2_lazy.code_free
#define pcre2_get_error_message	   pcre2_lazy.get_error_message
#define pcre2_match		   pcre2_lazy.match
#define pcre2_dfa_match		   pcre2_lazy.dfa_match
#define pcre2_match_data_create	   pcre2_lazy.match_data_create
#define pcre2_match_data_free	   pcre2_lazy.match_data_free
#define pcre2_match_context_create pcre2_lazy.match_context_create
#define pcre2_match_context_free   pcre2_lazy.match_context_free
#define pcre2_set_match_limit	   pcre2_lazy.set_match_limit
#define pcre2_set_heap_limit	   pcre2_lazy.set_heap_limit

#endif
