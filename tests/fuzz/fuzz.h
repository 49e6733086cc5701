/*
 * What the fuzz targets share: a NUL-terminated copy of the input, and a fresh temporary
 * directory for targets whose entry point reads a file.
 */
#ifndef FUZZ_H
#define FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a C string (it may hold NULs before the end); free() it. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A temporary directory made once per process (mkdtemp under $TMPDIR or /tmp). */
static inline const char *fuzz_dir(void)
{
	static char dir[4096];
	const char *tmp;

	if (dir[0])
		return dir;
	tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/berth-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	return dir;
}

/* Writes `size` bytes to `path`, replacing it. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}
#endif
