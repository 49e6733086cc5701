#include "base/secret.h"

#include "base/fs.h"
#include "base/log.h"

#include <jansson.h>
#include <malloc.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void secret_adopt(struct secret *s, unsigned char *data, size_t len)
{
	secret_release(s);
	s->data = data;
	s->len = len;
}

int secret_set(struct secret *s, const char *text)
{
	size_t len = strlen(text);
	unsigned char *copy = malloc(len + 1);

	if (!copy)
		return error("out of memory");
	memcpy(copy, text, len + 1);
	secret_adopt(s, copy, len);
	return 0;
}

void secret_release(struct secret *s)
{
	if (s->data) {
		explicit_bzero(s->data, s->len + 1);
		free(s->data);
	}
	s->data = NULL;
	s->len = 0;
}

int secret_read_fd(int fd, const char *path, size_t max, const char *what, struct secret *out)
{
	struct stat st;
	unsigned char *buf;
	size_t len = 0;
	ssize_t n = 1;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		return error("cannot read %s '%s': not a regular file of at most %zu bytes", what,
			     path, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && len < (size_t)st.st_size &&
	       (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (!buf)
		return error("out of memory");
	buf[len] = '\0';
	secret_adopt(out, buf, len);
	if (n < 0) {
		secret_release(out);
		return error_errno("cannot read %s '%s'", what, path);
	}
	return 1;
}

int secret_read_file(const char *path, size_t max, int flags, const char *what, struct secret *out)
{
	int fd = open(path,
		      O_RDONLY | O_CLOEXEC | O_NOCTTY | (flags & READ_NOFOLLOW ? O_NOFOLLOW : 0));

	if (fd < 0 && errno == ENOENT && (flags & READ_MISSING_OK))
		return 0;
	if (fd < 0)
		return error_errno("cannot read %s '%s'", what, path);
	return secret_read_fd(fd, path, max, what, out);
}

int secret_printf(struct secret *s, const char *fmt, ...)
{
	va_list ap;
	int n;
	unsigned char *buf;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf = n < 0 ? NULL : malloc((size_t)n + 1);
	if (!buf)
		return error("out of memory");
	va_start(ap, fmt);
	vsnprintf((char *)buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	secret_adopt(s, buf, (size_t)n);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Overwrites the open regular file `fd` with zeros and syncs it. */
static void overwrite(int fd, off_t size)
{
	static const char zeros[4096];

	for (; size > 0; size -= (off_t)sizeof(zeros))
		if (write_all(fd, zeros,
			      size < (off_t)sizeof(zeros) ? (size_t)size : sizeof(zeros)) < 0)
			break;
	fsync(fd);
}

int secret_write_file(const char *path, const void *data, size_t len)
{
	char tmp[4096];
	struct stat st;
	int fd, old;

	if (path_join(tmp, sizeof(tmp), "%s.XXXXXX", path) < 0)
		return -1;
	fd = mkostemp(tmp, O_CLOEXEC); /* 0600, O_EXCL: nobody else's file */
	if (fd < 0)
		return error_errno("cannot create a temporary file beside '%s'", path);
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		error_errno("cannot write '%s'", tmp);
		close(fd);
		secret_wipe_file(tmp);
		return -1;
	}
	/* The file it replaces may hold a credential that is going away (logout): keep it open
	 * across the rename and overwrite it after, so no reader ever sees zeros. */
	old = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		error_errno("cannot put '%s' in place", path);
		secret_wipe_file(tmp);
		if (old >= 0)
			close(old);
		return -1;
	}
	if (old >= 0 && fstat(old, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0)
		overwrite(old, st.st_size);
	if (old >= 0)
		close(old);
	return 0;
}

int secret_wipe_at(int dirfd, const char *name)
{
	struct stat st;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	/* Only a file of ours alone: a hard link's other names would keep the data anyway, and
	 * zeroing them could damage a file outside the workspace. */
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		return 0;
	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	/* A file the job made read-only. Never through a link swapped in since the fstatat. */
	if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0600, AT_SYMLINK_NOFOLLOW) == 0)
		fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
		overwrite(fd, st.st_size);
	close(fd);
	return 0;
}

int secret_wipe_file(const char *path)
{
	if (secret_wipe_at(AT_FDCWD, path) < 0)
		error_errno("cannot overwrite '%s'", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return error_errno("cannot remove '%s'", path);
	return 0;
}

void secret_free_hook(void *p)
{
	if (p)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void *secret_realloc_hook(void *p, size_t n)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q;

	if (n == 0) {
		secret_free_hook(p);
		return NULL;
	}
	q = malloc(n);
	if (q && p)
		memcpy(q, p, old < n ? old : n);
	if (q)
		secret_free_hook(p);
	return q;
}

void secret_wipe_json_memory(void)
{
	json_set_alloc_funcs(malloc, secret_free_hook);
}
