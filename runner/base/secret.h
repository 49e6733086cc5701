/*
 * Secret bytes (passwords, tokens, kubeconfigs): owned by a struct secret and wiped before they
 * are freed; written to disk only 0600, atomically, and overwritten before they are unlinked.
 */
#ifndef SECRET_H
#define SECRET_H

#include <stddef.h>

struct secret {
	unsigned char *data; /* NUL-terminated for convenience; len excludes the NUL */
	size_t len;
};

#define SECRET_INIT                                                                                \
	{                                                                                          \
		NULL, 0                                                                            \
	}

/* Takes ownership of a malloc'd buffer of len + 1 bytes. */
void secret_adopt(struct secret *s, unsigned char *data, size_t len);
/* A copy of `text`; 0 or -1. */
int secret_set(struct secret *s, const char *text);
void secret_release(struct secret *s);
/* A formatted secret ("Bearer %s"); replaces what `s` held. 0, or -1 when out of memory. */
int secret_printf(struct secret *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Flags for secret_read_file. */
#define READ_NOFOLLOW	1 /* a symlink is refused */
#define READ_MISSING_OK 2 /* a missing file is not an error: 0 is returned, unreported */

/*
 * Reads a whole regular file of at most `max` bytes into `out` (NUL-terminated; wiped when
 * released, since such files hold tokens). 1 when read; 0 when it does not exist and
 * READ_MISSING_OK is set; -1 after reporting "cannot read WHAT 'PATH': ...".
 */
int secret_read_file(const char *path, size_t max, int flags, const char *what, struct secret *out);
/* secret_read_file on a descriptor opened already (`path` for messages), which it closes. */
int secret_read_fd(int fd, const char *path, size_t max, const char *what, struct secret *out);

/*
 * Writes `len` bytes to `path` with mode 0600 through a temporary file in the same directory,
 * fsync and rename: a reader sees the old or the new file, never half of one.
 */
int secret_write_file(const char *path, const void *data, size_t len);
/*
 * Overwrites `name` (relative to `dirfd`, or a path with AT_FDCWD) with zeros when it is a
 * regular file with no other link, without following a symlink; the caller unlinks it.
 * 0 also when there is nothing to overwrite; -1 with errno.
 */
int secret_wipe_at(int dirfd, const char *name);
/* secret_wipe_at, then unlink; 0 also when it is absent. */
int secret_wipe_file(const char *path);

/*
 * free() and realloc() that wipe the block they give up, for libraries that let berth choose
 * their allocator (jansson, libcurl): they keep their own copies of tokens and headers.
 */
void secret_free_hook(void *p);
void *secret_realloc_hook(void *p, size_t n);

/*
 * Makes jansson wipe every block it frees: parsed response files, docker configs and API bodies
 * carry tokens, and jansson keeps its own copies of every string. Call once, first thing.
 */
void secret_wipe_json_memory(void);

#endif
