/*
 * Libraries loaded on first use (libcurl, libgit2, PCRE2, libarchive): `berth run`, on every
 * stage's path, should not map at each exec what only some commands need. One loader for all.
 */
#ifndef DL_H
#define DL_H

#include <stddef.h>

/* A function to find: its name in the library, and where its address goes in the table. */
struct dl_symbol {
	const char *name;
	size_t offset;
};

/*
 * dlopen's `library` and stores each symbol's address into `table` at its offset. 0, or -1
 * with the reason in `why`: "cannot load LIB: ERROR; HINT", or "LIB has no SYMBOL: NEED" (NEED
 * may be NULL).
 */
int dl_load(const char *library, const struct dl_symbol *symbols, size_t n, void *table,
	    const char *hint, const char *need, char *why, size_t why_size);

#endif
