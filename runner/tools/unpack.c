#include "tools/unpack.h"

#include "base/array.h"
#include "base/dl.h"
#include "base/log.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libarchive pulls in a dozen compression libraries: loaded only by `berth tools install`. */
static struct {
	__typeof__(archive_read_new) *read_new;
	__typeof__(archive_read_support_filter_all) *support_filter_all;
	__typeof__(archive_read_support_format_tar) *support_format_tar;
	__typeof__(archive_read_open_filename) *open_filename;
	__typeof__(archive_read_next_header) *next_header;
	__typeof__(archive_read_data) *read_data;
	__typeof__(archive_read_free) *read_free;
	__typeof__(archive_error_string) *error_string;
	__typeof__(archive_entry_pathname) *pathname;
	__typeof__(archive_entry_filetype) *filetype;
	__typeof__(archive_entry_size) *size;
	__typeof__(archive_entry_symlink) *symlink;
	__typeof__(archive_entry_hardlink) *hardlink;
	__typeof__(archive_entry_perm) *perm;
} la;

#define ARCHIVE_LIBRARY "libarchive.so.13"

static int load_libarchive(void)
{
	static const struct dl_symbol symbols[] = {
#define SYM(field, name) {name, offsetof(__typeof__(la), field)}
		SYM(read_new, "archive_read_new"),
		SYM(support_filter_all, "archive_read_support_filter_all"),
		SYM(support_format_tar, "archive_read_support_format_tar"),
		SYM(open_filename, "archive_read_open_filename"),
		SYM(next_header, "archive_read_next_header"),
		SYM(read_data, "archive_read_data"),
		SYM(read_free, "archive_read_free"),
		SYM(error_string, "archive_error_string"),
		SYM(pathname, "archive_entry_pathname"),
		SYM(filetype, "archive_entry_filetype"),
		SYM(size, "archive_entry_size"),
		SYM(symlink, "archive_entry_symlink"),
		SYM(hardlink, "archive_entry_hardlink"),
		SYM(perm, "archive_entry_perm"),
#undef SYM
	};
	char why[512];

	if (dl_load(ARCHIVE_LIBRARY, symbols, ARRAY_SIZE(symbols), &la, "install libarchive13",
		    NULL, why, sizeof(why)) < 0)
		return error("%s", why);
	return 0;
}

struct unpacking {
	const char *archive;
	int root;		  /* the destination directory */
	unsigned long long total; /* bytes written so far */
	size_t entries;
};

static int refuse(const struct unpacking *u, const char *path, const char *why)
{
	return error("refusing bundle '%s': entry '%.200s' %s", u->archive, path, why);
}

/* A relative path of plain components: no '/' at the start, no '..', no empty component. */
static int safe_path(const char *path)
{
	const char *p = path;

	if (!*path || *path == '/')
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 2 && !strncmp(p, "..", 2)))
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

/*
 * Opens the directory holding `path`'s last component, creating the ones before it, one
 * component at a time and never through a symlink. The last component goes to *name.
 */
static int open_parent(const struct unpacking *u, char *path, char **name)
{
	int fd = dup(u->root);
	char *part = path, *slash;

	while (fd >= 0 && (slash = strchr(part, '/'))) {
		int next;

		*slash = '\0';
		if (strcmp(part, ".") != 0) {
			if (mkdirat(fd, part, 0755) < 0 && errno != EEXIST) {
				close(fd);
				return -1;
			}
			next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(fd);
			fd = next;
		}
		*slash = '/';
		part = slash + 1;
	}
	*name = part;
	return fd;
}

/* A link target must stay inside: counted from the link's own directory, never above root. */
static int link_stays_inside(const char *path, const char *target)
{
	long depth = 0;
	const char *p;

	if (*target == '/' || !*target)
		return 0;
	for (p = path; *p; p++)
		depth += *p == '/';
	for (p = target; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !strncmp(p, "..", 2))
			depth--;
		else if (n && !(n == 1 && *p == '.'))
			depth++;
		if (depth < 0)
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

static int write_file(struct unpacking *u, struct archive *a, int dir, const char *name,
		      const char *path, int mode)
{
	char buf[65536];
	la_ssize_t n;
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0 && errno == EEXIST)
		return refuse(u, path, "clashes with another entry");
	if (fd < 0)
		return error_errno("cannot create '%s' from bundle '%s'", path, u->archive);
	while ((n = la.read_data(a, buf, sizeof(buf))) > 0) {
		u->total += (unsigned long long)n;
		if (u->total > UNPACK_MAX_TOTAL) {
			close(fd);
			return refuse(u, path, "makes the bundle larger than 4 GiB unpacked");
		}
		if (write(fd, buf, (size_t)n) != n) {
			close(fd);
			return error_errno("cannot write '%s'", path);
		}
	}
	if (n < 0) {
		close(fd);
		return error("cannot read bundle '%s' at '%s': %s", u->archive, path,
			     la.error_string(a));
	}
	return close(fd) == 0 ? 0 : error_errno("cannot write '%s'", path);
}

static int make_dir(int dir, const char *name)
{
	struct stat st;

	if (mkdirat(dir, name, 0755) == 0)
		return 0;
	return errno == EEXIST && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			       S_ISDIR(st.st_mode)
		       ? 0
		       : -1;
}

/* One entry: checked, then made. */
static int entry(struct unpacking *u, struct archive *a, struct archive_entry *e)
{
	const char *raw = la.pathname(e), *target = la.symlink(e);
	unsigned type = la.filetype(e);
	char *path, *name;
	int dir, ret;

	if (!raw || !safe_path(raw))
		return refuse(u, raw ? raw : "(no name)", "has an absolute path or '..'");
	if (la.hardlink(e))
		return refuse(u, raw, "is a hard link");
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return refuse(u, raw, "is a device file, FIFO or socket");
	if (type == AE_IFREG && (unsigned long long)la.size(e) > UNPACK_MAX_ENTRY)
		return refuse(u, raw, "is larger than 1 GiB");
	if (type == AE_IFLNK && (!target || !link_stays_inside(raw, target)))
		return refuse(u, raw, "is a link that leads outside the bundle");
	if (++u->entries > UNPACK_MAX_ENTRIES)
		return refuse(u, raw, "is one entry too many (100000 at most)");
	path = strdup(raw);
	if (!path)
		return error("out of memory");
	dir = open_parent(u, path, &name);
	if (dir < 0) {
		ret = refuse(u, raw, "goes through a link or a file");
	} else if (!*name || !strcmp(name, ".")) {
		ret = 0; /* "dir/" or "./": the parents are made */
	} else if (type == AE_IFDIR) {
		ret = make_dir(dir, name) < 0 ? refuse(u, raw, "clashes with another entry") : 0;
	} else if (type == AE_IFLNK) {
		ret = symlinkat(target, dir, name) < 0
			      ? refuse(u, raw, "clashes with another entry")
			      : 0;
	} else {
		ret = write_file(u, a, dir, name, raw, (int)(la.perm(e) & 0755));
	}
	if (dir >= 0)
		close(dir);
	free(path);
	return ret;
}

int unpack(const char *archive, const char *dir, const char *name)
{
	struct unpacking u = {name, -1, 0, 0};
	struct archive_entry *e;
	struct archive *a;
	int rc = ARCHIVE_OK, ret = 0;

	if (load_libarchive() < 0)
		return -1;
	u.root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u.root < 0)
		return error_errno("cannot open '%s'", dir);
	a = la.read_new();
	if (!a || la.support_filter_all(a) != ARCHIVE_OK ||
	    la.support_format_tar(a) != ARCHIVE_OK ||
	    la.open_filename(a, archive, 65536) != ARCHIVE_OK) {
		ret = error("cannot read bundle '%s': %s (a tar.gz, tar.xz or tar.zst is expected)",
			    name, a ? la.error_string(a) : "out of memory");
		goto out;
	}
	while (ret == 0 && ((rc = la.next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN))
		ret = entry(&u, a, e);
	if (ret == 0 && rc != ARCHIVE_EOF)
		ret = error("cannot read bundle '%s': %s", name, la.error_string(a));
	if (ret == 0 && u.entries == 0)
		ret = error("bundle '%s' is empty", name);
out:
	if (a)
		la.read_free(a);
	close(u.root);
	return ret;
}
