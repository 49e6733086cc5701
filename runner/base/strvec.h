/* A NULL-terminated, growable array of owned strings: argv and envp for child processes. */
#ifndef STRVEC_H
#define STRVEC_H

#include <stddef.h>

struct strvec {
	char **v; /* always NULL-terminated once anything was pushed */
	size_t nr;
	size_t alloc;
};

#define STRVEC_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* All return 0 or -1 (out of memory, reported). */
int strvec_push(struct strvec *sv, const char *s);
int strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes every "NAME=..." entry for NAME; returns how many went. */
size_t strvec_unsetenv(struct strvec *sv, const char *name);
/* Replaces or adds "NAME=value". */
int strvec_setenv(struct strvec *sv, const char *name, const char *value);
/* Value of NAME in an environment vector, or NULL. */
const char *strvec_getenv(const struct strvec *sv, const char *name);
void strvec_clear(struct strvec *sv);

/* 1 when `s` is one of the strings of the NULL-terminated `list`. */
int str_listed(const char *const *list, const char *s);

#endif
