/*
 * LD_PRELOAD shim for tests/e2e/test_secret_memory.py: every block the process frees (and every
 * block realloc moves away from) is searched for the canary strings listed, one per line, in
 * $CANARY_FILE; a hit appends "canary N in a freed block of S bytes" to $CANARY_REPORT.
 * It shows what berth leaves in freed memory: berth promises that is never a secret.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char canaries[8][256];
static size_t lengths[8];
static int count;
static void (*real_free)(void *);
static void *(*real_malloc)(size_t);

__attribute__((constructor)) static void load(void)
{
	const char *file = getenv("CANARY_FILE");
	char buf[2048], *line, *save = NULL;
	ssize_t n;
	int fd;

	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	if (!file || (fd = open(file, O_RDONLY)) < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line && count < 8; line = strtok_r(NULL, "\n", &save)) {
		snprintf(canaries[count], sizeof(canaries[count]), "%s", line);
		lengths[count] = strlen(canaries[count]);
		count++;
	}
}

static void check(void *p)
{
	const char *report = getenv("CANARY_REPORT");
	size_t size, i;

	if (!p || !count || !report)
		return;
	size = malloc_usable_size(p);
	for (i = 0; i < (size_t)count; i++)
		if (memmem(p, size, canaries[i], lengths[i])) {
			char line[128];
			int fd = open(report, O_WRONLY | O_APPEND | O_CREAT, 0600);
			int len = snprintf(line, sizeof(line), "canary %zu in a freed block of %zu bytes\n", i, size);

			if (fd >= 0) {
				if (write(fd, line, (size_t)len) < 0) {
				}
				close(fd);
			}
		}
}

void free(void *p)
{
	if (!real_free)
		real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	check(p);
	real_free(p);
}

void *realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!real_malloc)
		real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	if (!p)
		return real_malloc(n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	q = real_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
}
