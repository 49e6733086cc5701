/*
 * What the calls between capture_begin and capture_end write to stderr (berth's messages), for
 * tests that check a message. Include after <cmocka.h>.
 */
#ifndef CAPTURE_H
#define CAPTURE_H

#include <stdio.h>
#include <unistd.h>

static FILE *capture_begin(int *saved)
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
static void capture_end(FILE *tmp, int saved, char *buf, size_t size)
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
