/* Helpers for fixed arrays, and the one way to grow a heap array. */
#ifndef BERTH_ARRAY_H
#define BERTH_ARRAY_H

#include <stddef.h>

/* The number of elements of a true array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Makes room for at least `nr` elements in the heap array `ptr` whose capacity is `alloc`
 * (both lvalues, updated on success): 0, or -1 after error("out of memory"), with `ptr` and
 * `alloc` untouched, so the caller still owns and frees the old array. Capacity grows by half
 * plus 16 at a time, so pushing one element after another costs amortized constant time; a
 * size that overflows is refused, never wrapped (reallocarray).
 */
#define ALLOC_GROW(ptr, nr, alloc)                                                                 \
	((size_t)(nr) <= (alloc) ? 0 : array_grow(&(ptr), ELEMENT_SIZE(ptr), (nr), &(alloc)))

/*
 * The size of what `ptr` points at, written through the type: clang-tidy takes sizeof(*ptr) of
 * an array of struct pointers for a mistaken sizeof(struct x *), which here it is not.
 */
#define ELEMENT_SIZE(ptr) sizeof(__typeof__(*(ptr)))

/* ALLOC_GROW's worker: `ptrp` is the address of the array pointer, `size` an element's size. */
int array_grow(void *ptrp, size_t size, size_t nr, size_t *alloc);

#endif
