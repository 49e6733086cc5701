#include "base/suggest.h"

#include <string.h>

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

size_t suggest_distance(const char *a, const char *b)
{
	/* Three rows of the dynamic-programming table: a swap looks two rows back. */
	size_t rows[3][SUGGEST_MAX_LEN + 1], la = strlen(a), lb = strlen(b), i, j;
	size_t *back = rows[0], *prev = rows[1], *cur = rows[2], *t;

	if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];

			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    back[j - 2] + 1 < cur[j])
				cur[j] = back[j - 2] + 1;
		}
		t = back, back = prev, prev = cur, cur = t;
	}
	return prev[lb];
}

const char *suggest_closest(const char *word, const char *const *names, size_t n)
{
	size_t limit = strlen(word) / 3, best = (size_t)-1, i, d;
	const char *found = NULL;

	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	for (i = 0; i < n; i++) {
		d = suggest_distance(word, names[i]);
		if (d <= limit && d < best) {
			best = d;
			found = names[i];
		}
	}
	return found;
}
