#include "base/fs.h"

#include "base/log.h"
#include "base/secret.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int set_dir_mode(const char *path, mode_t mode, int owned)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return error_errno("cannot open directory '%s'", path);
	if (fstat(fd, &st) < 0 || (owned && st.st_uid != geteuid()))
		ret = error("'%s' is not a directory owned by uid %u: remove it, or check who else "
			    "writes under the state directory",
			    path, (unsigned)geteuid());
	else if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
		ret = error_errno("cannot set the mode of '%s'", path);
	close(fd);
	return ret;
}

/*
 * mkdir -p; the directories it creates get `mode` whatever the umask (main sets 077).
 * Existing ones are left as they are.
 */
int make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return error("cannot create '%s': path too long", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) == 0) {
			if (set_dir_mode(buf, mode, 0) < 0)
				return -1;
		} else if (errno != EEXIST) {
			return error_errno("cannot create directory '%s'", buf);
		}
		buf[i] = path[i];
	}
	return 0;
}

/* Opens subdirectory `name` of `dfd` without following a symlink; one a job made unreadable
 * is made ours to read again. */
static int open_subdir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 && errno == EACCES && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && fchmodat(dfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* Unlinks `name` in `dfd`; a directory a job made read-only is made writable first. */
static int unlink_entry(int dfd, const char *name, int flags)
{
	if (unlinkat(dfd, name, flags) == 0 || errno == ENOENT)
		return 0;
	if (errno == EACCES && fchmod(dfd, 0700) == 0 && unlinkat(dfd, name, flags) == 0)
		return 0;
	return -1;
}

/*
 * Removal holds two levels of the tree at a time, never more: a subdirectory of the top is
 * emptied by unlinking its files and moving its own subdirectories up into the top (renamed
 * ".berth-removing-N"), then removed, and the top is read again until it is empty. Every
 * directory moves once, so a tree a job made 100,000 levels deep costs what a flat one of the
 * same size does: no recursion, three descriptors, no depth limit, and no ".." (a job could
 * have moved a directory elsewhere in between). Every name is resolved in a directory berth
 * holds open and no symlink is followed. Messages name the moved directories' new paths.
 */
struct removal {
	int top;	     /* the tree's top directory */
	const char *path;    /* its path, for messages */
	int wipe;	     /* overwrite regular files before unlinking them (credentials) */
	unsigned long moved; /* the next ".berth-removing-N" */
};

static int is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* Removes `name` of `dfd` (the directory `dir`) unless it is a directory: 0 when gone, 1 for a
 * directory (the caller's), -1 after reporting. */
static int remove_file(const struct removal *r, int dfd, const char *dir, const char *name)
{
	struct stat st;
	int ret = 0, e;

	if (r->wipe && secret_wipe_at(dfd, name) < 0)
		ret = error_errno("cannot overwrite '%s/%s'", dir, name);
	if (unlink_entry(dfd, name, 0) == 0)
		return ret;
	e = errno;
	/* POSIX lets unlink() of a directory fail with EPERM; so does an immutable file. */
	if (e == EISDIR || (e == EPERM && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode)))
		return 1;
	errno = e;
	return error_errno("cannot remove '%s/%s'", dir, name);
}

/* Renames directory `name` of `dfd` into the top under a name no entry there has. */
static int rename_into_top(struct removal *r, int dfd, const char *name)
{
	char to[64];
	struct stat st;

	for (;;) {
		snprintf(to, sizeof(to), ".berth-removing-%lu", r->moved++);
		if (renameat2(dfd, name, r->top, to, RENAME_NOREPLACE) == 0)
			return 0;
		/* EINVAL: a file system without RENAME_NOREPLACE; the job that could race is gone.
		 */
		if (errno == EINVAL && fstatat(r->top, to, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			return renameat(dfd, name, r->top, to);
		if (errno != EEXIST)
			return -1;
	}
}

/*
 * Moves directory `name` of `dfd` (the directory `dir`) into the top. Without root's powers a
 * move needs write access to both parents and to the directory itself (its ".." changes).
 */
static int move_up(struct removal *r, int dfd, const char *dir, const char *name)
{
	int fd;

	if (rename_into_top(r, dfd, name) == 0 || errno == ENOENT)
		return 0;
	if (errno == EACCES && fchmod(dfd, 0700) == 0 && fchmod(r->top, 0700) == 0 &&
	    (fd = open_subdir(dfd, name)) >= 0) {
		int ok = fchmod(fd, 0700) == 0;

		close(fd);
		if (ok && rename_into_top(r, dfd, name) == 0)
			return 0;
	}
	return error_errno("cannot move '%s/%s' into '%s' to remove it", dir, name, r->path);
}

static int remove_dir(struct removal *r, const char *name);

/*
 * Empties the directory `d` (its path `dir`): files go; a subdirectory of the top is removed
 * (remove_dir, which calls back here for that one level only), one further down moves up to
 * the top. Read again until a pass finds nothing: moves add names to the top, and a directory
 * read while it changes may skip some.
 */
static int empty_dir(struct removal *r, DIR *d, const char *dir)
{
	int at_top = dirfd(d) == r->top, ret = 0, seen;
	struct dirent *e;

	do {
		seen = 0;
		rewinddir(d);
		while ((e = readdir(d))) {
			int k;

			if (is_dot(e->d_name))
				continue;
			seen = 1;
			k = remove_file(r, dirfd(d), dir, e->d_name);
			if (k > 0)
				k = at_top ? remove_dir(r, e->d_name)
					   : move_up(r, dirfd(d), dir, e->d_name);
			if (k < 0)
				ret = -1;
		}
	} while (ret == 0 && seen);
	return ret;
}

/* Removes directory `name` of the top: emptied, then unlinked. */
static int remove_dir(struct removal *r, const char *name)
{
	char *path = NULL;
	DIR *d = NULL;
	int fd, ret = 0;

	if (asprintf(&path, "%s/%s", r->path, name) < 0)
		return error("out of memory");
	fd = open_subdir(r->top, name);
	if (fd >= 0 && !(d = fdopendir(fd))) {
		int e = errno;

		close(fd);
		errno = e;
	}
	if (!d && errno != ENOENT)
		ret = error_errno("cannot open '%s'", path);
	else if (d && empty_dir(r, d, path) < 0)
		ret = -1;
	if (d)
		closedir(d);
	if (d && ret == 0 && unlink_entry(r->top, name, AT_REMOVEDIR) < 0)
		ret = error_errno("cannot remove '%s'", path);
	free(path);
	return ret;
}

int remove_tree(const char *path, int wipe)
{
	struct removal r = {-1, path, wipe, 0};
	struct stat st;
	DIR *t;
	int ret;

	/* ENOTDIR: a parent is not a directory, so nothing of ours can be below it. */
	if (lstat(path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR
			       ? 0
			       : error_errno("cannot inspect '%s'", path);
	if (!S_ISDIR(st.st_mode) && wipe)
		return secret_wipe_file(path);
	if (!S_ISDIR(st.st_mode))
		return unlink(path) == 0 || errno == ENOENT
			       ? 0
			       : error_errno("cannot remove '%s'", path);
	r.top = open_subdir(AT_FDCWD, path);
	if (r.top < 0)
		return errno == ENOENT ? 0 : error_errno("cannot open '%s'", path);
	t = fdopendir(r.top);
	if (!t) {
		close(r.top);
		return error_errno("cannot read directory '%s'", path);
	}
	ret = empty_dir(&r, t, path);
	closedir(t);
	if (ret < 0)
		return -1;
	if (rmdir(path) < 0 && errno != ENOENT)
		return error_errno("cannot remove '%s'", path);
	return 0;
}

int path_join(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < size)
		return 0;
	if (n < 0 || !size)
		return error("cannot make a path of '%s'", fmt);
	error("path too long: '%s...' is over %zu bytes; shorten the directory or the name in it",
	      out, size - 1);
	out[0] = '\0';
	return -1;
}
