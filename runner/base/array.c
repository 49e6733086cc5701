#include "base/array.h"

#include "base/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The next capacity: half again plus 16 (git's alloc_nr), at least `nr`, saturating. */
static size_t next_alloc(size_t alloc, size_t nr, size_t size)
{
	size_t grown = alloc <= (SIZE_MAX - 16) / 3 * 2 ? alloc + alloc / 2 + 16 : SIZE_MAX;

	if (grown > SIZE_MAX / size)
		grown = SIZE_MAX / size; /* still room for nr when nr itself fits */
	return grown < nr ? nr : grown;
}

int array_grow(void *ptrp, size_t size, size_t nr, size_t *alloc)
{
	size_t grown = next_alloc(*alloc, nr, size);
	void *old, *p;

	/* Refused before the allocator sees it: sanitizers abort on an impossible size. */
	if (nr > SIZE_MAX / size)
		return error("out of memory: %zu elements of %zu bytes overflow", nr, size);
	/* The pointer is read and written as bytes: ptrp points at a `T *`, not a `void *`. */
	memcpy(&old, ptrp, sizeof(old));
	p = reallocarray(old, grown, size);
	if (!p)
		return error("out of memory");
	memcpy(ptrp, &p, sizeof(p));
	*alloc = grown;
	/* cppcheck-suppress memleak ; the memcpy stored p in the caller's pointer */
	return 0;
}
