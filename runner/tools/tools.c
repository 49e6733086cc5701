#include "tools/tools.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "tools/unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int valid_sha256(const char *hex)
{
	return strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64;
}

/*
 * Copies BUNDLE into the private file `copy` while hashing it: what is unpacked is exactly what
 * was checked, whatever happens to the original meanwhile.
 */
static int copy_and_hash(const char *bundle, const char *copy, char hex[SHA256_HEX_SIZE])
{
	char buf[1 << 16];
	struct sha256 c;
	ssize_t n;
	int in = open(bundle, O_RDONLY | O_CLOEXEC), out;

	if (in < 0)
		return error_errno("cannot read bundle '%s'", bundle);
	out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return error_errno("cannot create '%s'", copy);
	}
	sha256_init(&c);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		sha256_update(&c, buf, (size_t)n);
		if (write(out, buf, (size_t)n) != n)
			break;
	}
	close(in);
	if (n != 0 || close(out) != 0)
		return error_errno("cannot copy bundle '%s' to '%s'", bundle, copy);
	sha256_final(&c, hex);
	return 0;
}

static int tools_dir(const struct settings *s, char *buf, size_t size)
{
	if (path_join(buf, size, "%s/tools", s->state_dir) < 0)
		return -1;
	return make_dirs(buf, 0755);
}

/* Checked and unpacked into a temp dir beside the final one, then renamed into place. */
static int install_checked(const char *dir, const char *copy, const char *sha256,
			   const char *bundle)
{
	char tmp[4200], final[4200];

	if (path_join(tmp, sizeof(tmp), "%s/.unpack-XXXXXX", dir) < 0 ||
	    path_join(final, sizeof(final), "%s/%s", dir, sha256) < 0)
		return -1;
	if (!mkdtemp(tmp))
		return error_errno("cannot create '%s'", tmp);
	if (chmod(tmp, 0755) < 0 || unpack(copy, tmp, bundle) < 0) {
		remove_tree(tmp, 0);
		return -1;
	}
	if (rename(tmp, final) < 0) {
		int e = errno;

		remove_tree(tmp, 0);
		if (e == ENOTEMPTY || e == EEXIST)
			return 0; /* another install of the same bundle won */
		errno = e;
		return error_errno("cannot move the unpacked '%s' to '%s'", bundle, final);
	}
	return 0;
}

int tools_install(const struct settings *s, const char *bundle, const char *sha256, int *already)
{
	char dir[4096], copy[4200], got[SHA256_HEX_SIZE], final[4200];
	struct stat st;
	int ret;

	*already = 0;
	if (!valid_sha256(sha256))
		return error("--sha256 takes the bundle's sha256 as 64 lowercase hex digits, not "
			     "'%.80s'",
			     sha256);
	if (tools_dir(s, dir, sizeof(dir)) < 0)
		return -1;
	if (path_join(final, sizeof(final), "%s/%s", dir, sha256) < 0 ||
	    path_join(copy, sizeof(copy), "%s/.incoming-%d", dir, (int)getpid()) < 0)
		return -1;
	unlink(copy);
	ret = copy_and_hash(bundle, copy, got);
	if (ret == 0 && strcmp(got, sha256) != 0)
		ret = error("bundle '%s' has sha256 %s, not the %s it should have: download it "
			    "again, or check the --sha256 value",
			    bundle, got, sha256);
	if (ret == 0 && lstat(final, &st) == 0 && S_ISDIR(st.st_mode))
		*already = 1;
	else if (ret == 0)
		ret = install_checked(dir, copy, sha256, bundle);
	unlink(copy);
	return ret;
}

static void list_bin(const char *dir, FILE *out)
{
	char bin[4500];
	struct dirent *e;
	DIR *d;
	int first = 1;

	d = path_join(bin, sizeof(bin), "%s/bin", dir) < 0 ? NULL : opendir(bin);
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			fprintf(out, "%s%s", first ? "" : " ", e->d_name);
			first = 0;
		}
	if (d)
		closedir(d);
	if (first)
		fputs("(no bin/)", out);
}

int tools_list(const struct settings *s, FILE *out)
{
	char dir[4096], path[4400], when[32];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (path_join(dir, sizeof(dir), "%s/tools", s->state_dir) < 0)
		return -1;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : error_errno("cannot read '%s'", dir);
	while ((e = readdir(d))) {
		if (!valid_sha256(e->d_name))
			continue;
		if (path_join(path, sizeof(path), "%s/%s", dir, e->d_name) < 0 ||
		    stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&st.st_mtime));
		fprintf(out, "%s  %s%s  ", e->d_name, when,
			s->tools_bundle && !strcmp(s->tools_bundle, e->d_name) ? "  (in use)" : "");
		list_bin(path, out);
		fputc('\n', out);
	}
	closedir(d);
	return 0;
}

int tools_bin_dir(const struct settings *s, char *buf, size_t size)
{
	struct stat st;

	buf[0] = '\0';
	if (!s->tools_bundle)
		return 0;
	if (path_join(buf, size, "%s/tools/%s/bin", s->state_dir, s->tools_bundle) < 0)
		return -1;
	if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
		return error("tool bundle %s (settings 'tools_bundle') is not installed here: run "
			     "berth tools install BUNDLE --sha256 %s",
			     s->tools_bundle, s->tools_bundle);
	return 0;
}
