/*
 * What every unit test includes: cmocka (which needs the three headers before it), ARRAY_SIZE,
 * and capture_begin/capture_end for tests that check a message berth prints on stderr.
 */
#ifndef UNIT_H
#define UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/array.h"

#include <stdio.h>
#include <unistd.h>

/* Starts sending stderr to a temporary file; `saved` keeps the real one. */
static inline FILE *capture_begin(int *saved)
{
	FILE *tmp = tmpfile();

	assert_non_null(tmp);
	fflush(stderr);
	*saved = dup(2);
	assert_true(*saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	return tmp;
}

/* Puts stderr back, and what was written to it in `buf`, NUL-terminated (cut to `size`). */
static inline void capture_end(FILE *tmp, int saved, char *buf, size_t size)
{
	size_t n;

	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, size - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

#endif
