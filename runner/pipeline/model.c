#include "pipeline/model.h"

#include "base/array.h"
#include "base/strvec.h"
#include "pipeline/expand.h"
#include "pipeline/parallel.h"
#include "pipeline/rules.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_FILE_SIZE  (4 << 20)
#define MAX_INCLUDES   150     /* GitLab's limit on included files */
#define MAX_EXTENDS    11      /* GitLab's limit on an extends chain */
#define MAX_REFERENCES 10      /* GitLab's limit on nested !reference */
#define MAX_WALK       100000  /* entries a wildcard include looks at */
#define MAX_WILD_STEPS 1000000 /* a wildcard's steps against one path */

static const char *const global_keys[] = {"include",	   "stages",	   "variables", "default",
					  "workflow",	   "image",	   "services",	"cache",
					  "before_script", "after_script", "types",	NULL};
/* Old globals that act as `default:` entries. */
static const char *const legacy_defaults[] = {"image",	       "services",     "cache",
					      "before_script", "after_script", NULL};
static const char *const default_keys[] = {
	"after_script",	 "artifacts", "before_script", "cache", "hooks",   "id_tokens", "image",
	"interruptible", "retry",     "services",      "tags",	"timeout", NULL};
static const char *const job_keys[] = {"after_script",
				       "allow_failure",
				       "artifacts",
				       "before_script",
				       "cache",
				       "coverage",
				       "dast_configuration",
				       "dependencies",
				       "environment",
				       "except",
				       "extends",
				       "hooks",
				       "id_tokens",
				       "identity",
				       "image",
				       "inherit",
				       "interruptible",
				       "manual_confirmation",
				       "needs",
				       "only",
				       "pages",
				       "parallel",
				       "release",
				       "resource_group",
				       "retry",
				       "rules",
				       "run",
				       "script",
				       "secrets",
				       "services",
				       "stage",
				       "start_in",
				       "tags",
				       "timeout",
				       "trigger",
				       "variables",
				       "when",
				       NULL};

struct loader {
	struct pipeline *p;
	int root;		     /* the work tree: every file is opened below it */
	struct rules_context *rules; /* for include rules, with vars; NULL: none allowed */
	const struct civars *vars;
	char *err;
	size_t err_size;
};

static int failf(struct loader *ld, const struct node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int failf(struct loader *ld, const struct node *at, const char *fmt, ...)
{
	int n = at ? snprintf(ld->err, ld->err_size, "%s:%zu: ", at->file, at->line) : 0;
	va_list ap;

	if (n < 0 || (size_t)n >= ld->err_size)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- files and includes -------------------------------------------------------------- */

/* A FIFO a repository's work tree holds must not block the read: it is refused as not a file. */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* open_beneath's rules by hand, one component at a time, for Linux before 5.6. */
static int open_walk(int root, const char *rel)
{
	char buf[4096], *save = NULL, *part, *next;
	int fd;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", rel) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
	for (part = strtok_r(buf, "/", &save); fd >= 0 && part; part = next) {
		struct stat st;
		int sub, e;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(part, "."))
			continue;
		sub = strcmp(part, "..")
			      ? openat(fd, part, OPEN_FLAGS | O_NOFOLLOW | (next ? O_DIRECTORY : 0))
			      : (errno = EXDEV, -1);
		e = errno;
		/* O_DIRECTORY on a link says ENOTDIR: say ELOOP, as openat2 does. */
		if (sub < 0 && fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			e = ELOOP;
		close(fd);
		fd = sub;
		errno = e;
	}
	return fd;
}

/*
 * Opens `rel` below the work tree `root` as GitLab reads the repository: never leaving it, and
 * never through a symlink (GitLab reads a link's blob, the name it points to, not the file).
 * -1 with errno ELOOP for a symlink, EXDEV for a path out, or what open says.
 */
static int open_beneath(int root, const char *rel)
{
	struct open_how how = {.flags = OPEN_FLAGS,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	long fd;
	int tries = 0;

	do /* EAGAIN: something was renamed under the work tree meanwhile */
		fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < 8);
	if (fd < 0 && errno == ENOSYS)
		return open_walk(root, rel);
	return (int)fd;
}

static int read_text(int root, const char *rel, char **text, size_t *len)
{
	int fd = open_beneath(root, rel);
	struct stat st;
	ssize_t got;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_SIZE) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : EISDIR;
		return -1;
	}
	*text = malloc((size_t)st.st_size + 1);
	got = *text ? read(fd, *text, (size_t)st.st_size) : -1;
	close(fd);
	if (got != st.st_size) {
		free(*text);
		return -1;
	}
	(*text)[got] = '\0';
	*len = (size_t)got;
	return 0;
}

/* Parses `rel` (a path under the work tree) into *root; its name joins the file list. */
static int load_file(struct loader *ld, const struct node *from, const char *rel,
		     struct node **root)
{
	const char *name, *what = from ? "include " : "";
	char *text = NULL;
	size_t len;
	int ret;

	while (*rel == '/')
		rel++;
	if (strstr(rel, "../") || !strcmp(rel, ".."))
		return failf(ld, from, "%s'%s' leaves the repository", what, rel);
	if (read_text(ld->root, rel, &text, &len) < 0) {
		if (errno == ELOOP)
			return failf(ld, from,
				     "%s'%s' is a symlink, or has one in its path: GitLab reads "
				     "only the repository's files, and a symlink's content is the "
				     "name it points to",
				     what, rel);
		if (errno == EXDEV)
			return failf(ld, from, "%s'%s' leaves the repository", what, rel);
		return failf(ld, from, "cannot read '%s': %s", rel, strerror(errno));
	}
	if (strvec_push(&ld->p->files, rel) < 0) {
		free(text);
		return failf(ld, from, "out of memory");
	}
	name = ld->p->files.v[ld->p->files.nr - 1];
	ret = node_parse(name, text, len, root, ld->err, ld->err_size);
	free(text);
	return ret;
}

static int already_read(const struct pipeline *p, const char *rel)
{
	size_t i;

	while (*rel == '/')
		rel++;
	for (i = 0; i < p->files.nr; i++)
		if (!strcmp(p->files.v[i], rel))
			return 1;
	return 0;
}

static int load_with_includes(struct loader *ld, const struct node *from, const char *rel,
			      struct node **out);

/* pipeline_wildcard_match, with a budget of steps that a hostile pattern cannot exceed. */
static int wild(const char *p, const char *s, long *budget)
{
	int deep, r;

	for (; *p != '*'; p++, s++)
		if (*p != *s)
			return 0;
		else if (!*p)
			return 1;
	deep = p[1] == '*';
	p += deep ? 2 : 1;
	for (;; s++) {
		if (--*budget < 0)
			return -1;
		r = wild(p, s, budget);
		if (r != 0)
			return r;
		if (!*s || (!deep && *s == '/'))
			return 0;
	}
}

int pipeline_wildcard_match(const char *pattern, const char *path)
{
	long budget = MAX_WILD_STEPS;

	return wild(pattern, path, &budget);
}

/* A wildcard include's search: the files below one directory that match the pattern. */
struct walk {
	struct loader *ld;
	const struct node *at;
	const char *pattern;
	size_t max_depth; /* directories to go down: SIZE_MAX with `**` */
	size_t seen;
	struct strvec found;
};

static int walk_dir(struct walk *w, int dfd, char *rel, size_t len, size_t depth);

/* One directory entry: a file (or link: git keeps it as a file) tested, a directory entered. */
static int walk_entry(struct walk *w, int dfd, const struct dirent *d, char *rel, size_t len,
		      size_t depth)
{
	unsigned char type = d->d_type;
	size_t n = len ? (size_t)snprintf(rel + len, 4096 - len, "/%s", d->d_name)
		       : (size_t)snprintf(rel, 4096, "%s", d->d_name);
	struct stat st;
	int sub, m, ret;

	if (len + n >= 4096)
		return failf(w->ld, w->at, "include '%s': a path under '%.200s' is too long",
			     w->pattern, rel);
	if (type == DT_UNKNOWN && fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		type = S_ISDIR(st.st_mode)   ? DT_DIR
		       : S_ISLNK(st.st_mode) ? DT_LNK
		       : S_ISREG(st.st_mode) ? DT_REG
					     : DT_UNKNOWN;
	if (type == DT_DIR) {
		if (depth >= w->max_depth || !strcmp(d->d_name, ".git"))
			return 0;
		/* O_NOFOLLOW: a link swapped in since readdir is not entered. */
		sub = openat(dfd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		return sub < 0 ? 0 : walk_dir(w, sub, rel, len + n, depth + 1);
	}
	if (type != DT_REG && type != DT_LNK)
		return 0;
	m = pipeline_wildcard_match(w->pattern, rel);
	if (m < 0)
		return failf(w->ld, w->at, "include '%s' is too complex a wildcard", w->pattern);
	ret = m ? strvec_push(&w->found, rel) : 0;
	return ret < 0 ? failf(w->ld, w->at, "out of memory") : 0;
}

/* Takes dfd. rel holds the directory's path below the work tree ("" for its root). */
static int walk_dir(struct walk *w, int dfd, char *rel, size_t len, size_t depth)
{
	DIR *dir = fdopendir(dfd);
	struct dirent *d;
	int ret = 0;

	if (!dir) {
		close(dfd);
		return failf(w->ld, w->at, "include '%s': cannot read '%s': %s", w->pattern,
			     len ? rel : ".", strerror(errno));
	}
	while (ret == 0 && (d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (++w->seen > MAX_WALK)
			ret = failf(w->ld, w->at, "include '%s': more than %d files to look at",
				    w->pattern, MAX_WALK);
		else
			ret = walk_entry(w, dirfd(dir), d, rel, len, depth);
		rel[len] = '\0';
	}
	closedir(dir);
	return ret;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The work tree's files that PATTERN matches, in git's order (bytewise by path, as GitLab lists
 * them from the repository's tree): the walk starts at the directory before the first `*`,
 * never follows a link, and leaves out `.git`.
 */
static int wildcard_files(struct loader *ld, const struct node *at, const char *pattern,
			  struct strvec *out)
{
	struct walk w = {.ld = ld, .at = at, .pattern = pattern, .found = STRVEC_INIT};
	char rel[4096];
	size_t len = (size_t)(strchr(pattern, '*') - pattern), i;
	struct stat st;
	int dfd, ret;

	while (len > 0 && pattern[len - 1] != '/')
		len--;
	if (len >= sizeof(rel))
		return failf(ld, at, "include '%.200s...' is too long a path", pattern);
	len -= len > 0; /* the directory, without its '/' */
	memcpy(rel, pattern, len);
	rel[len] = '\0';
	w.max_depth = strstr(pattern, "**") ? SIZE_MAX : 0;
	for (i = len; w.max_depth != SIZE_MAX && pattern[i]; i++)
		w.max_depth += pattern[i] == '/' && i > len;
	dfd = len ? open_beneath(ld->root, rel) : fcntl(ld->root, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0 && (errno == ELOOP || errno == EXDEV))
		return failf(ld, at,
			     "include '%s': '%s' is a symlink, has one in its path, or leaves the "
			     "repository: GitLab reads only the repository's files",
			     pattern, rel);
	if (dfd >= 0 && (fstat(dfd, &st) < 0 || !S_ISDIR(st.st_mode))) {
		close(dfd);
		dfd = -1;
	}
	if (dfd < 0) /* no such directory: nothing matches, which GitLab accepts */
		return 0;
	ret = walk_dir(&w, dfd, rel, len, 0);
	if (ret == 0 && w.found.nr > 1) /* qsort takes no NULL, even for none */
		qsort(w.found.v, w.found.nr, sizeof(*w.found.v), by_path);
	*out = w.found;
	if (ret < 0)
		strvec_clear(out);
	return ret;
}

/*
 * One `include:` entry's local files, merged onto *acc in order. Only `*` is a wildcard, as in
 * GitLab; a wildcard that matches nothing includes nothing.
 */
static int include_local(struct loader *ld, const struct node *at, const char *pattern,
			 struct node **acc)
{
	struct strvec files = STRVEC_INIT;
	size_t i;
	int ret = 0;

	while (*pattern == '/')
		pattern++;
	if (!strchr(pattern, '*'))
		return load_with_includes(ld, at, pattern, acc);
	if (wildcard_files(ld, at, pattern, &files) < 0)
		return -1;
	for (i = 0; ret == 0 && i < files.nr; i++)
		ret = load_with_includes(ld, at, files.v[i], acc);
	strvec_clear(&files);
	return ret;
}

/*
 * include:local with its $VARs expanded first, by the variables include rules see (docs: "Use
 * variables with include": predefined and the developer's, not the file's `variables:`).
 */
static int include_path(struct loader *ld, const struct node *at, const char *path,
			struct node **acc)
{
	char *expanded;
	int ret;

	if (!expand_has_refs(path))
		return include_local(ld, at, path, acc);
	if (!ld->vars)
		return failf(ld, at, "include '%s' uses variables: they cannot be expanded here",
			     path);
	expanded = expand_vars(path, civars_lookup, (void *)ld->vars);
	if (!expanded)
		return failf(ld, at, "out of memory");
	ret = include_local(ld, at, expanded, acc);
	free(expanded);
	return ret;
}

/* An entry's `rules`: *keep 0 when they leave the file out of the pipeline. */
static int include_rules(struct loader *ld, const struct node *rules, int *keep)
{
	if (!ld->rules || !ld->vars)
		return failf(ld, rules, "include:rules cannot be decided here: no repository");
	return rules_include(ld->rules, rules, ld->vars, keep, ld->err, ld->err_size);
}

static int include_entry(struct loader *ld, const struct node *e, struct node **acc)
{
	static const char *const remote[] = {"project", "remote", "template", "component", NULL};
	const struct node *local, *rules;
	size_t i;
	int keep = 1;

	if (e->kind == NODE_SCALAR) {
		if (strstr(e->str, "://"))
			return failf(ld, e,
				     "include '%s' is remote: not available locally (only "
				     "local includes are)",
				     e->str);
		return include_path(ld, e, e->str, acc);
	}
	if (e->kind != NODE_MAP)
		return failf(ld, e, "an include is a path or a mapping such as {local: path}");
	/* Rules first, as GitLab filters entries before it fetches any. */
	rules = node_get(e, "rules");
	if (rules && include_rules(ld, rules, &keep) < 0)
		return -1;
	if (!keep)
		return 0;
	for (i = 0; remote[i]; i++)
		if (node_get(e, remote[i]))
			return failf(ld, e,
				     "include:%s is not available locally (only include:local "
				     "is)",
				     remote[i]);
	local = node_get(e, "local");
	if (!local || local->kind != NODE_SCALAR)
		return failf(ld, e, "an include mapping needs 'local: PATH'");
	return include_path(ld, local, local->str, acc);
}

/* The file `rel`, with its includes merged under it (the including file wins). */
static int load_with_includes(struct loader *ld, const struct node *from, const char *rel,
			      struct node **out)
{
	struct node *root = NULL, *acc = NULL, *inc, *merged;
	size_t i;

	if (already_read(ld->p, rel))
		return 0; /* included twice: once is enough */
	if (ld->p->files.nr >= MAX_INCLUDES)
		return failf(ld, from, "more than 150 included files");
	if (load_file(ld, from, rel, &root) < 0)
		return -1;
	inc = node_get(root, "include");
	if (inc && inc->kind != NODE_SEQ && include_entry(ld, inc, &acc) < 0)
		goto fail;
	for (i = 0; inc && inc->kind == NODE_SEQ && i < inc->n; i++)
		if (include_entry(ld, inc->items[i], &acc) < 0)
			goto fail;
	node_del(root, "include");
	merged = acc ? node_merge(acc, root) : root;
	if (acc) {
		node_free(acc);
		node_free(root);
	}
	acc = *out ? node_merge(*out, merged) : merged;
	if (*out) {
		node_free(*out);
		node_free(merged);
	}
	*out = acc;
	return acc ? 0 : failf(ld, from, "out of memory");
fail:
	node_free(root);
	node_free(acc);
	return -1;
}

/* ---- !reference ---------------------------------------------------------------------- */

static int resolve_refs(struct loader *ld, struct node *n, int depth);

/* The value a `!reference [job, key, ...]` names, resolved itself, as a new tree. */
static struct node *dereference(struct loader *ld, const struct node *ref, int depth)
{
	const struct node *at = ld->p->root;
	struct node *copy;
	size_t i;

	if (depth > MAX_REFERENCES) {
		failf(ld, ref, "!reference nested more than 10 deep");
		return NULL;
	}
	if (ref->n == 0) {
		failf(ld, ref, "!reference needs [job, key, ...]");
		return NULL;
	}
	for (i = 0; i < ref->n; i++) {
		if (ref->items[i]->kind != NODE_SCALAR) {
			failf(ld, ref, "!reference takes names only");
			return NULL;
		}
		at = node_get(at, ref->items[i]->str);
		if (!at) {
			failf(ld, ref, "!reference target '%s' does not exist", ref->items[i]->str);
			return NULL;
		}
	}
	copy = node_copy(at);
	if (copy && resolve_refs(ld, copy, depth + 1) < 0) {
		node_free(copy);
		return NULL;
	}
	return copy;
}

static int resolve_refs(struct loader *ld, struct node *n, int depth)
{
	size_t i;

	if (!n)
		return 0;
	for (i = 0; i < n->n; i++) {
		struct node *item = n->items[i];

		if (item->reference) {
			struct node *value = dereference(ld, item, depth);

			if (!value)
				return -1;
			node_free(item);
			n->items[i] = value;
		} else if (resolve_refs(ld, item, depth) < 0) {
			return -1;
		}
	}
	return 0;
}

/* ---- extends ------------------------------------------------------------------------- */

struct pending {
	const char *name;
	struct node *resolved; /* NULL until done */
	int visiting;
};

static struct pending *find_pending(struct pending *all, size_t nr, const char *name)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (!strcmp(all[i].name, name))
			return &all[i];
	return NULL;
}

static int resolve_job(struct loader *ld, struct pending *all, size_t nr, struct pending *job,
		       int depth);

/* The parents' merge, in `extends` order, with the job itself on top. */
static int merge_parents(struct loader *ld, struct pending *all, size_t nr, struct node *def,
			 const struct node *ext, int depth, struct node **out)
{
	struct node *acc = NULL, *next;
	size_t i, n = ext->kind == NODE_SEQ ? ext->n : 1;

	for (i = 0; i < n; i++) {
		const struct node *name = ext->kind == NODE_SEQ ? ext->items[i] : ext;
		struct pending *parent;

		if (name->kind != NODE_SCALAR) {
			node_free(acc);
			return failf(ld, name, "extends takes job names");
		}
		parent = find_pending(all, nr, name->str);
		if (!parent) {
			node_free(acc);
			return failf(ld, name, "extends: no job or template '%s'", name->str);
		}
		if (resolve_job(ld, all, nr, parent, depth + 1) < 0) {
			node_free(acc);
			return -1;
		}
		next = acc ? node_merge(acc, parent->resolved) : node_copy(parent->resolved);
		node_free(acc);
		acc = next;
	}
	*out = acc ? node_merge(acc, def) : node_copy(def);
	node_free(acc);
	if (*out)
		node_del(*out, "extends");
	return *out ? 0 : failf(ld, def, "out of memory");
}

static int resolve_job(struct loader *ld, struct pending *all, size_t nr, struct pending *job,
		       int depth)
{
	struct node *def = node_get(ld->p->root, job->name);
	const struct node *ext = node_get(def, "extends");

	if (job->resolved)
		return 0;
	if (job->visiting)
		return failf(ld, ext ? ext : def, "extends: '%s' extends itself (a cycle)",
			     job->name);
	if (depth > MAX_EXTENDS)
		return failf(ld, ext, "extends: chain deeper than 11 at '%s'", job->name);
	if (!ext)
		return (job->resolved = node_copy(def)) ? 0 : failf(ld, def, "out of memory");
	job->visiting = 1;
	if (merge_parents(ld, all, nr, def, ext, depth, &job->resolved) < 0)
		return -1;
	job->visiting = 0;
	return 0;
}

/* ---- globals, defaults, jobs --------------------------------------------------------- */

static int read_stages(struct loader *ld)
{
	static const char *const standard[] = {"build", "test", "deploy", NULL};
	const struct node *s = node_get(ld->p->root, "stages");
	size_t i;

	if (!s)
		s = node_get(ld->p->root, "types"); /* the old name */
	if (strvec_push(&ld->p->stages, ".pre") < 0)
		return -1;
	if (s && s->kind != NODE_SEQ)
		return failf(ld, s, "stages is a list of names");
	for (i = 0; s ? i < s->n : standard[i] != NULL; i++) {
		const char *name = s ? s->items[i]->str : standard[i];

		if (s && s->items[i]->kind != NODE_SCALAR)
			return failf(ld, s->items[i], "a stage is a name");
		if (strcmp(name, ".pre") != 0 && strcmp(name, ".post") != 0 &&
		    strvec_push(&ld->p->stages, name) < 0)
			return -1;
	}
	return strvec_push(&ld->p->stages, ".post");
}

/* `default:`, with the old top-level image, services, ... under it. */
static struct node *defaults_of(struct loader *ld)
{
	const struct node *d = node_get(ld->p->root, "default");
	struct node *out;
	size_t i;

	if (d && node_is_null(d)) /* `default:` with nothing under it: as if absent */
		d = NULL;
	if (d && d->kind != NODE_MAP) {
		failf(ld, d, "default is a mapping of keywords");
		return NULL;
	}
	out = d ? node_copy(d) : node_new(NODE_MAP, "(defaults)", 0);
	for (i = 0; out && legacy_defaults[i]; i++) {
		const struct node *v = node_get(ld->p->root, legacy_defaults[i]);

		if (v && !node_get(out, legacy_defaults[i]) &&
		    node_set(out, legacy_defaults[i], node_copy(v)) < 0) {
			node_free(out);
			return NULL;
		}
	}
	return out;
}

/* `inherit: default:` true, false, or a list of the keys to inherit. */
static int inherits(const struct node *def, const char *what, const char *key)
{
	const struct node *inh = node_get(node_get(def, "inherit"), what);
	size_t i;

	if (!inh)
		return 1;
	if (inh->kind == NODE_SCALAR)
		return node_bool(inh) != 0;
	for (i = 0; inh->kind == NODE_SEQ && i < inh->n; i++)
		if (inh->items[i]->kind == NODE_SCALAR && !strcmp(inh->items[i]->str, key))
			return 1;
	return 0;
}

static int check_job(struct loader *ld, const char *name, const struct node *def)
{
	size_t i;

	for (i = 0; i < def->n; i++)
		if (!str_listed(job_keys, def->keys[i])) {
			struct node key = {.file = def->items[i]->file,
					   .line = node_key_line(def, i)};

			return failf(ld, &key, "job '%.100s': unknown keyword '%.100s'", name,
				     def->keys[i]);
		}
	if (!node_get(def, "script") && !node_get(def, "trigger") && !node_get(def, "run"))
		return failf(ld, def, "job '%s' needs a script (or a trigger)", name);
	return 0;
}

static int apply_defaults(struct loader *ld, struct ci_job *j, const struct node *defaults)
{
	size_t i;

	for (i = 0; i < defaults->n; i++) {
		const char *key = defaults->keys[i];

		if (!str_listed(default_keys, key))
			return failf(ld, defaults->items[i], "default: unknown keyword '%s'", key);
		if (!node_get(j->def, key) && inherits(j->def, "default", key) &&
		    node_set(j->def, key, node_copy(defaults->items[i])) < 0)
			return failf(ld, defaults, "out of memory");
	}
	return 0;
}

/* GitLab's list in its message: ".pre, build, test, deploy, .post". */
static void stage_list(const struct strvec *stages, char *out, size_t size)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < stages->nr && n < size; i++) {
		int w = snprintf(out + n, size - n, "%s%s", i ? ", " : "", stages->v[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
}

static int place_stage(struct loader *ld, struct ci_job *j)
{
	const struct node *s = node_get(j->def, "stage");
	const char *name = s ? s->str : "test"; /* GitLab's default stage */
	char available[512];
	size_t i;

	if (s && s->kind != NODE_SCALAR)
		return failf(ld, s, "job '%s': stage is a name", j->name);
	for (i = 0; i < ld->p->stages.nr; i++)
		if (!strcmp(ld->p->stages.v[i], name)) {
			j->stage = ld->p->stages.v[i];
			j->stage_index = i;
			return 0;
		}
	stage_list(&ld->p->stages, available, sizeof(available));
	if (s)
		return failf(ld, s,
			     "%s job: chosen stage %s does not exist; available stages are %s "
			     "(add '%s' to stages:, or move the job to one of them)",
			     j->name, name, available, name);
	return failf(ld, j->def,
		     "%s job: chosen stage test does not exist; available stages are %s (the job "
		     "has no stage:, so it was given the default stage 'test': add 'test' to "
		     "stages:, or give the job a stage)",
		     j->name, available);
}

static int by_stage(const void *a, const void *b)
{
	const struct ci_job *x = a, *y = b;

	if (x->stage_index != y->stage_index)
		return x->stage_index < y->stage_index ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/* Lists GitLab flattens: script lines from aliases and !reference, rules spliced in. */
static int flatten_lists(struct loader *ld, struct node *def)
{
	static const char *const lists[] = {"before_script", "script", "after_script", "rules",
					    NULL};
	size_t i;

	for (i = 0; lists[i]; i++) {
		struct node *l = node_get(def, lists[i]);

		if (l && l->kind == NODE_SEQ && node_flatten(l) < 0)
			return failf(ld, l, "out of memory");
	}
	return 0;
}

/* `variables:` with a parallel copy's own on top (GitLab deep-merges them into the job). */
static int add_copy_variables(struct ci_job *j, const struct node *copy_vars)
{
	const struct node *own = node_get(j->def, "variables");
	struct node *merged;

	if (own && own->kind != NODE_MAP)
		return 0; /* civars_job says what is wrong with it */
	merged = own ? node_merge(own, copy_vars) : node_copy(copy_vars);
	return merged ? node_set(j->def, "variables", merged) : -1;
}

/* A visible job, or one parallel copy of it (`copy` NULL for a job that is not parallel). */
static int add_job(struct loader *ld, const char *name, const struct node *resolved,
		   const struct node *defaults, const struct parallel_copy *copy)
{
	struct ci_job *j;

	if (ALLOC_GROW(ld->p->jobs, ld->p->nr_jobs + 1, ld->p->jobs_alloc) < 0)
		return failf(ld, resolved, "out of memory");
	j = &ld->p->jobs[ld->p->nr_jobs];
	memset(j, 0, sizeof(*j));
	j->name = strdup(copy ? copy->name : name);
	j->parallel_of = copy ? strdup(name) : NULL;
	j->def = node_copy(resolved);
	if (!j->name || !j->def || (copy && !j->parallel_of)) {
		free(j->name);
		free(j->parallel_of);
		node_free(j->def);
		return failf(ld, resolved, "out of memory");
	}
	j->order = ld->p->nr_jobs++;
	if (check_job(ld, name, j->def) < 0 || apply_defaults(ld, j, defaults) < 0 ||
	    flatten_lists(ld, j->def) < 0)
		return -1;
	if (copy && add_copy_variables(j, copy->variables) < 0)
		return failf(ld, resolved, "out of memory");
	return place_stage(ld, j);
}

/* A visible job: itself, or the copies its `parallel:` makes, in place of it. */
static int add_visible_job(struct loader *ld, const char *name, const struct node *resolved,
			   const struct node *defaults)
{
	const struct node *value = node_get(resolved, "parallel");
	struct parallel copies;
	size_t i;
	int ret = 0;

	if (!value || node_is_null(value))
		return add_job(ld, name, resolved, defaults, NULL);
	/* A matrix with an empty list makes no job at all, as in GitLab. */
	if (parallel_expand(&copies, name, value, ld->err, ld->err_size) < 0)
		return -1;
	for (i = 0; ret == 0 && i < copies.nr; i++)
		ret = add_job(ld, name, resolved, defaults, &copies.v[i]);
	parallel_release(&copies);
	return ret;
}

/* Resolves every job's extends; keeps the visible ones, checked, with defaults, by stage. */
static int build_jobs(struct loader *ld, const struct node *defaults)
{
	struct node *root = ld->p->root;
	struct pending *all = calloc(root->n + 1, sizeof(*all));
	size_t i, nr = 0;
	int ret = 0;

	if (!all)
		return failf(ld, root, "out of memory");
	for (i = 0; i < root->n; i++) {
		if (str_listed(global_keys, root->keys[i]))
			continue;
		if (root->items[i]->kind != NODE_MAP) {
			if (root->keys[i][0] == '.')
				continue; /* a hidden value, e.g. an anchor's holder */
			ret = failf(ld, root->items[i],
				    "'%s' is not a keyword, and a job is a mapping", root->keys[i]);
			goto out;
		}
		all[nr++].name = root->keys[i];
	}
	for (i = 0; ret == 0 && i < nr; i++) {
		ret = resolve_job(ld, all, nr, &all[i], 0);
		if (ret == 0 && all[i].name[0] != '.')
			ret = add_visible_job(ld, all[i].name, all[i].resolved, defaults);
	}
	if (ret == 0 && ld->p->nr_jobs) /* none: jobs is NULL, which qsort must not get */
		qsort(ld->p->jobs, ld->p->nr_jobs, sizeof(*ld->p->jobs), by_stage);
out:
	for (i = 0; i < nr; i++)
		node_free(all[i].resolved);
	free(all);
	return ret;
}

int pipeline_load(struct pipeline *p, const char *dir, const char *file,
		  struct rules_context *rules, const struct civars *vars, char *err,
		  size_t err_size)
{
	struct loader ld = {p, -1, rules, vars, err, err_size};
	struct node *defaults = NULL;
	const struct node *v;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	if (!(p->dir = strdup(dir))) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	ld.root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ld.root < 0) {
		failf(&ld, NULL, "cannot open the work tree '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (load_with_includes(&ld, NULL, file, &p->root) < 0 ||
	    resolve_refs(&ld, p->root, 0) < 0 || read_stages(&ld) < 0)
		goto out;
	v = node_get(p->root, "variables");
	if (v && v->kind != NODE_MAP) {
		failf(&ld, v, "variables is a mapping of names to values");
		goto out;
	}
	p->variables = v ? node_copy(v) : node_new(NODE_MAP, file, 0);
	p->workflow = node_copy(node_get(p->root, "workflow"));
	defaults = defaults_of(&ld);
	if (p->variables && defaults)
		ret = build_jobs(&ld, defaults);
out:
	node_free(defaults);
	if (ld.root >= 0)
		close(ld.root);
	if (ret < 0)
		pipeline_release(p);
	return ret;
}

void pipeline_release(struct pipeline *p)
{
	size_t i;

	for (i = 0; i < p->nr_jobs; i++) {
		free(p->jobs[i].name);
		free(p->jobs[i].parallel_of);
		node_free(p->jobs[i].def);
	}
	free(p->jobs);
	node_free(p->root);
	node_free(p->variables);
	node_free(p->workflow);
	strvec_clear(&p->stages);
	strvec_clear(&p->files);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}

const struct ci_job *pipeline_job(const struct pipeline *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nr_jobs; i++)
		if (!strcmp(p->jobs[i].name, name))
			return &p->jobs[i];
	return NULL;
}

const struct ci_job *pipeline_parallel_copy(const struct pipeline *p, const char *name)
{
	const struct ci_job *first = NULL;
	size_t i;

	/* jobs are in stage order: the lowest `order` is the copy GitLab lists first */
	for (i = 0; i < p->nr_jobs; i++)
		if (p->jobs[i].parallel_of && !strcmp(p->jobs[i].parallel_of, name) &&
		    (!first || p->jobs[i].order < first->order))
			first = &p->jobs[i];
	return first;
}

static int flatten(const struct node *n, struct strvec *lines, char *err, size_t err_size)
{
	size_t i;

	if (n->kind == NODE_SCALAR)
		return strvec_push(lines, n->str);
	if (n->kind == NODE_MAP) {
		snprintf(err, err_size, "%s:%zu: a script line is a string, not a mapping", n->file,
			 n->line);
		return -1;
	}
	for (i = 0; i < n->n; i++)
		if (flatten(n->items[i], lines, err, err_size) < 0)
			return -1;
	return 0;
}

int job_script(const struct ci_job *j, const char *key, struct strvec *lines, char *err,
	       size_t err_size)
{
	const struct node *s = node_get(j->def, key);

	return s ? flatten(s, lines, err, err_size) : 0;
}
