/*
 * "did you mean ...?" for a name the user mistyped: the known name closest to it by edit
 * distance, when one is close enough to be what they meant.
 */
#ifndef SUGGEST_H
#define SUGGEST_H

#include <stddef.h>

/*
 * Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`: the optimal
 * string alignment distance. Names longer than SUGGEST_MAX_LEN count as far from everything.
 */
#define SUGGEST_MAX_LEN 64
size_t suggest_distance(const char *a, const char *b);

/*
 * The first of `names` (n of them) nearest to `word`, or NULL when none is within a third of
 * its length (at least 1, at most 3 edits): a suggestion far from what was typed misleads.
 */
const char *suggest_closest(const char *word, const char *const *names, size_t n);

#endif
