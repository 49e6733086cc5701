/*
 * The local repository as GitLab would describe it to a job: HEAD's commit, the ref it was
 * pushed as, the project's path from the origin remote, and the paths `rules:changes` compares,
 * with GitLab's own glob (a port of Ruby's File.fnmatch) to compare them.
 */
#include "pipeline/git.h"

#include "base/array.h"
#include "base/dl.h"

#include <git2.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/*
 * libgit2 comes with a dozen shared libraries (TLS, SSH, HTTP...) that would cost every berth
 * exec their mapping, and only local dry runs read a repository: it is loaded on first use,
 * here, the only module that calls it. One list makes both the table and its symbol names.
 */
#define GIT_FUNCTIONS(X)                                                                           \
	X(libgit2_init)                                                                            \
	X(error_last)                                                                              \
	X(repository_open_ext)                                                                     \
	X(repository_free)                                                                         \
	X(repository_workdir)                                                                      \
	X(repository_path)                                                                         \
	X(repository_head)                                                                         \
	X(repository_head_detached)                                                                \
	X(reference_lookup)                                                                        \
	X(reference_peel)                                                                          \
	X(reference_shorthand)                                                                     \
	X(reference_symbolic_target)                                                               \
	X(reference_target)                                                                        \
	X(reference_free)                                                                          \
	X(tag_list)                                                                                \
	X(strarray_dispose)                                                                        \
	X(commit_lookup)                                                                           \
	X(commit_free)                                                                             \
	X(commit_id)                                                                               \
	X(commit_message)                                                                          \
	X(commit_author)                                                                           \
	X(commit_committer)                                                                        \
	X(commit_parentcount)                                                                      \
	X(commit_parent_id)                                                                        \
	X(commit_tree)                                                                             \
	X(oid_tostr)                                                                               \
	X(oid_fromstr)                                                                             \
	X(oid_equal)                                                                               \
	X(object_id)                                                                               \
	X(object_peel)                                                                             \
	X(object_free)                                                                             \
	X(repository_config_snapshot)                                                              \
	X(config_get_string)                                                                       \
	X(config_iterator_new)                                                                     \
	X(config_next)                                                                             \
	X(config_iterator_free)                                                                    \
	X(config_free)                                                                             \
	X(revparse_single)                                                                         \
	X(merge_base)                                                                              \
	X(tree_free)                                                                               \
	X(diff_tree_to_tree)                                                                       \
	X(diff_num_deltas)                                                                         \
	X(diff_get_delta)                                                                          \
	X(diff_free)

/* NAME is a declarator here: parentheses around it would only obscure the declaration. */
#define GIT_FIELD(name) __typeof__(git_##name) *name; // NOLINT(bugprone-macro-parentheses)
static struct {
	GIT_FUNCTIONS(GIT_FIELD)
} git;
#undef GIT_FIELD

#define GIT_LIBRARY "libgit2.so.1.5"

static int fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int load_git(char *err, size_t err_size)
{
	static const struct dl_symbol symbols[] = {
#define GIT_SYMBOL(name) {"git_" #name, offsetof(__typeof__(git), name)},
		GIT_FUNCTIONS(GIT_SYMBOL)
#undef GIT_SYMBOL
	};
	static char why[512]; /* the first failure, for every later caller */
	static int loaded;

	if (loaded)
		return loaded > 0 ? 0 : fail(err, err_size, "%s", why);
	loaded = -1;
	if (dl_load(GIT_LIBRARY, symbols, ARRAY_SIZE(symbols), &git,
		    "install it (apt-get install libgit2-1.5)", "berth needs libgit2 1.5", why,
		    sizeof(why)) < 0)
		return fail(err, err_size, "%s", why);
	if (git.libgit2_init() < 0) {
		snprintf(why, sizeof(why), "cannot initialize libgit2");
		return fail(err, err_size, "%s", why);
	}
	loaded = 1;
	return 0;
}

/* libgit2's own words for its last failure. */
static const char *git_why(void)
{
	const git_error *e = git.error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

static int open_repository(git_repository **repo, const char *dir, char *err, size_t err_size)
{
	struct stat st;
	int rc;

	if (stat(dir, &st) < 0)
		return fail(err, err_size, "cannot read directory '%s': %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(err, err_size, "'%s' is not a directory", dir);
	rc = git.repository_open_ext(repo, dir, 0, NULL);
	/* libgit2 1.5 reports a repository of another user as not found, naming safe.directory. */
	if (rc == GIT_EOWNER || (rc == GIT_ENOTFOUND && strstr(git_why(), "safe.directory")))
		return fail(err, err_size,
			    "'%s' is in a git repository of another user: if you trust it, add "
			    "its top directory to safe.directory (git config --global --add "
			    "safe.directory DIR)",
			    dir);
	if (rc == GIT_ENOTFOUND)
		return fail(err, err_size,
			    "'%s' is not in a git repository (nor is any of its parents): run "
			    "berth inside a clone of the project",
			    dir);
	if (rc < 0)
		return fail(err, err_size, "cannot open the git repository of '%s': %s", dir,
			    git_why());
	if (!git.repository_workdir(*repo)) {
		git.repository_free(*repo);
		*repo = NULL;
		return fail(err, err_size,
			    "'%s' is a bare repository: a job needs a work tree; use a clone "
			    "with a checkout",
			    dir);
	}
	return 0;
}

static int out_of_memory(char *err, size_t err_size)
{
	return fail(err, err_size, "out of memory");
}

static int read_location(struct repo_facts *f, git_repository *repo, char *err, size_t err_size)
{
	size_t len;

	f->dir = strdup(git.repository_workdir(repo));
	f->git_dir = strdup(git.repository_path(repo));
	if (!f->dir || !f->git_dir)
		return out_of_memory(err, err_size);
	/* libgit2 ends directories with '/'; CI_PROJECT_DIR has none. */
	len = strlen(f->dir);
	while (len > 1 && f->dir[len - 1] == '/')
		f->dir[--len] = '\0';
	return 0;
}

/* GitLab's title: the message up to its first line break; its stand-in for a blank message. */
static char *commit_title(const char *message)
{
	const char *p = message;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p)
		return strdup("--no commit message");
	return strndup(message, strcspn(message, "\r\n"));
}

/*
 * ISO 8601 in the commit's own offset, as Ruby's Time#xmlschema prints GitLab's commit dates.
 * Ruby reads git's "-0000" (offset unknown) as UTC, printed "Z".
 */
static char *iso8601(const git_time *when)
{
	time_t local = (time_t)(when->time + (git_time_t)when->offset * 60);
	int minutes = when->offset < 0 ? -when->offset : when->offset;
	char buf[64];
	struct tm tm;
	size_t n;

	if (!gmtime_r(&local, &tm))
		return NULL;
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (!when->offset && when->sign == '-')
		snprintf(buf + n, sizeof(buf) - n, "Z");
	else
		snprintf(buf + n, sizeof(buf) - n, "%c%02d:%02d", when->offset < 0 ? '-' : '+',
			 minutes / 60, minutes % 60);
	return strdup(buf);
}

static int read_commit(struct repo_facts *f, const git_commit *c, char *err, size_t err_size)
{
	const git_signature *author = git.commit_author(c);
	const char *message = git.commit_message(c);

	git.oid_tostr(f->sha, sizeof(f->sha), git.commit_id(c));
	memcpy(f->short_sha, f->sha, sizeof(f->short_sha) - 1);
	f->short_sha[sizeof(f->short_sha) - 1] = '\0';
	if (git.commit_parentcount(c)) {
		git.oid_tostr(f->before_sha, sizeof(f->before_sha), git.commit_parent_id(c, 0));
	} else {
		memset(f->before_sha, '0', sizeof(f->before_sha) - 1);
		f->before_sha[sizeof(f->before_sha) - 1] = '\0';
	}
	f->message = strdup(message ? message : "");
	f->title = f->message ? commit_title(f->message) : NULL;
	f->timestamp = iso8601(&git.commit_committer(c)->when);
	if (asprintf(&f->author, "%s <%s>", author->name, author->email) < 0)
		f->author = NULL;
	if (!f->message || !f->title || !f->timestamp || !f->author)
		return out_of_memory(err, err_size);
	return 0;
}

/* Whether tag NAME leads (through annotated tags) to commit OID. */
static int tag_points_at(git_repository *repo, const char *name, const git_oid *oid)
{
	git_reference *ref = NULL;
	git_object *target = NULL;
	char *full;
	int at = 0;

	if (asprintf(&full, "refs/tags/%s", name) < 0)
		return 0;
	if (!git.reference_lookup(&ref, repo, full) &&
	    !git.reference_peel(&target, ref, GIT_OBJECT_COMMIT))
		at = git.oid_equal(git.object_id(target), oid);
	git.object_free(target);
	git.reference_free(ref);
	free(full);
	return at;
}

/* The first tag by name that points at OID, in *NAME (NULL when none does). */
static int tag_at(git_repository *repo, const git_oid *oid, char **name, char *err, size_t err_size)
{
	git_strarray tags = {NULL, 0};
	const char *first = NULL;
	size_t i;

	*name = NULL;
	if (git.tag_list(&tags, repo) < 0)
		return fail(err, err_size, "cannot list the tags: %s", git_why());
	for (i = 0; i < tags.count; i++)
		if ((!first || strcmp(tags.strings[i], first) < 0) &&
		    tag_points_at(repo, tags.strings[i], oid))
			first = tags.strings[i];
	if (first)
		*name = strdup(first);
	git.strarray_dispose(&tags);
	return first && !*name ? out_of_memory(err, err_size) : 0;
}

/*
 * What GitLab would call the pushed ref. A detached HEAD is how a tag is checked out, so a tag
 * at HEAD names it; with none, only the sha is left.
 */
static int read_ref_name(struct repo_facts *f, git_repository *repo, git_reference *head,
			 const git_oid *oid, char *err, size_t err_size)
{
	if (!git.repository_head_detached(repo)) {
		f->ref_name = strdup(git.reference_shorthand(head));
		return f->ref_name ? 0 : out_of_memory(err, err_size);
	}
	if (tag_at(repo, oid, &f->ref_name, err, err_size) < 0)
		return -1;
	f->is_tag = f->ref_name != NULL;
	if (!f->ref_name)
		f->ref_name = strdup(f->sha);
	return f->ref_name ? 0 : out_of_memory(err, err_size);
}

static int read_head(struct repo_facts *f, git_repository *repo, char *err, size_t err_size)
{
	git_reference *head = NULL;
	git_commit *commit = NULL;
	int rc = git.repository_head(&head, repo);

	if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND)
		return fail(err, err_size, "'%s' has no commit yet: commit something first",
			    f->dir);
	if (rc < 0)
		return fail(err, err_size, "cannot read HEAD of '%s': %s", f->dir, git_why());
	rc = git.commit_lookup(&commit, repo, git.reference_target(head));
	if (rc < 0)
		rc = fail(err, err_size, "cannot read the commit at HEAD of '%s': %s", f->dir,
			  git_why());
	else if ((rc = read_commit(f, commit, err, err_size)) == 0)
		rc = read_ref_name(f, repo, head, git.commit_id(commit), err, err_size);
	git.commit_free(commit);
	git.reference_free(head);
	return rc;
}

static int read_default_branch(struct repo_facts *f, git_repository *repo, char *err,
			       size_t err_size)
{
	static const char prefix[] = "refs/remotes/origin/";
	git_reference *ref = NULL;
	const char *target = NULL;

	/* `git clone` records the remote's default branch as this symbolic ref. */
	if (!git.reference_lookup(&ref, repo, "refs/remotes/origin/HEAD"))
		target = git.reference_symbolic_target(ref);
	if (target && !strncmp(target, prefix, sizeof(prefix) - 1) && target[sizeof(prefix) - 1])
		f->default_branch = strdup(target + sizeof(prefix) - 1);
	else
		f->default_branch = strdup("main");
	git.reference_free(ref);
	return f->default_branch ? 0 : out_of_memory(err, err_size);
}

/*
 * Where the path starts in a remote URL: after "scheme://authority", or after "host:" in git's
 * scp-like syntax (a ':' before any '/'). NULL for local paths and file:// URLs: no GitLab
 * project is behind those.
 */
static const char *url_path(const char *url)
{
	static const char scheme_chars[] = "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-";
	size_t scheme = strspn(url, scheme_chars);
	const char *colon = strchr(url, ':');

	if (scheme && !strncmp(url + scheme, "://", 3)) {
		const char *authority = url + scheme + 3;

		if (scheme == 4 && !strncasecmp(url, "file", 4))
			return NULL;
		return authority + strcspn(authority, "/?#");
	}
	if (colon && colon < url + strcspn(url, "/"))
		return colon + 1;
	return NULL;
}

/* URL as it may be quoted: no "user:token@", no query (both can carry credentials). */
static void shown_url(const char *url, char *out, size_t size)
{
	const char *sep = strstr(url, "://");
	const char *host = sep ? sep + 3 : url;
	size_t authority = strcspn(host, sep ? "/?#" : ":/");
	const char *at = memrchr(host, '@', authority);

	if (at)
		snprintf(out, size, "%.*s%.*s", (int)(host - url), url, (int)strcspn(at + 1, "?#"),
			 at + 1);
	else
		snprintf(out, size, "%.*s", (int)strcspn(url, "?#"), url);
}

/* "group/project" at least: two or more non-empty components. */
static int is_project_path(const char *p, size_t len)
{
	size_t i;
	int slashes = 0;

	if (!len || p[0] == '/' || p[len - 1] == '/')
		return 0;
	for (i = 0; i < len; i++) {
		if (p[i] != '/')
			continue;
		if (p[i + 1] == '/')
			return 0;
		slashes++;
	}
	return slashes > 0;
}

static int read_project_path(struct repo_facts *f, const char *url, char *err, size_t err_size)
{
	const char *start = url_path(url);
	size_t len;
	char *slash;

	if (!start)
		return 0;
	while (*start == '/')
		start++;
	len = strcspn(start, "?#");
	while (len && start[len - 1] == '/')
		len--;
	if (len >= 4 && !strncmp(start + len - 4, ".git", 4))
		len -= 4;
	while (len && start[len - 1] == '/')
		len--;
	if (!is_project_path(start, len)) {
		char shown[512];

		shown_url(url, shown, sizeof(shown));
		return fail(err, err_size,
			    "cannot tell the GitLab project from the origin URL '%s': it has no "
			    "group/project path; point origin at the project (git remote set-url "
			    "origin URL)",
			    shown);
	}
	f->project_path = strndup(start, len);
	if (!f->project_path)
		return out_of_memory(err, err_size);
	slash = strrchr(f->project_path, '/');
	f->project_namespace = strndup(f->project_path, (size_t)(slash - f->project_path));
	f->project_name = strdup(slash + 1);
	if (!f->project_namespace || !f->project_name)
		return out_of_memory(err, err_size);
	return 0;
}

/*
 * URL with its longest url.<base>.insteadOf prefix replaced by that base, as git rewrites
 * remote URLs (a copy of URL when none applies). NULL when out of memory.
 */
static char *rewrite_url(git_config_iterator *it, const char *url)
{
	static const char section[] = "url.", key[] = ".insteadof";
	size_t skip = sizeof(section) - 1, tail = sizeof(key) - 1, best = 0;
	char *base = NULL, *out = NULL;
	git_config_entry *e;

	while (!git.config_next(&e, it)) {
		size_t len = strlen(e->name), prefix = e->value ? strlen(e->value) : 0;

		if (len <= skip + tail || strncmp(e->name, section, skip) != 0 ||
		    strcmp(e->name + len - tail, key) != 0 || prefix <= best ||
		    strncmp(url, e->value, prefix) != 0)
			continue;
		/* The entry only lives until the next one is read. */
		free(base);
		base = strndup(e->name + skip, len - skip - tail);
		if (!base)
			return NULL;
		best = prefix;
	}
	if (asprintf(&out, "%s%s", base ? base : "", url + best) < 0)
		out = NULL;
	free(base);
	return out;
}

/*
 * The origin's URL straight from the configuration: git_remote_lookup() would do it, but
 * libgit2 1.5 leaks a regex match block in it (fixed upstream by libgit2#6382).
 */
static int read_project(struct repo_facts *f, git_repository *repo, char *err, size_t err_size)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	const char *url = NULL;
	char *rewritten = NULL;
	int rc;

	if (git.repository_config_snapshot(&cfg, repo) < 0)
		return fail(err, err_size, "cannot read the git configuration of '%s': %s", f->dir,
			    git_why());
	rc = git.config_get_string(&url, cfg, "remote.origin.url");
	if (rc == GIT_ENOTFOUND)
		rc = 0; /* no origin: no project */
	else if (rc < 0 || git.config_iterator_new(&it, cfg) < 0)
		rc = fail(err, err_size, "cannot read the origin remote of '%s': %s", f->dir,
			  git_why());
	else if (!(rewritten = rewrite_url(it, url)))
		rc = out_of_memory(err, err_size);
	else
		rc = read_project_path(f, rewritten, err, err_size);
	free(rewritten);
	git.config_iterator_free(it);
	git.config_free(cfg);
	return rc;
}

int repo_open(struct repo_facts *f, const char *dir, char *err, size_t err_size)
{
	git_repository *repo = NULL;
	int rc;

	memset(f, 0, sizeof(*f));
	if (load_git(err, err_size) < 0 || open_repository(&repo, dir, err, err_size) < 0)
		return -1;
	rc = read_location(f, repo, err, err_size);
	if (!rc)
		rc = read_head(f, repo, err, err_size);
	if (!rc)
		rc = read_default_branch(f, repo, err, err_size);
	if (!rc)
		rc = read_project(f, repo, err, err_size);
	git.repository_free(repo);
	if (rc)
		repo_release(f);
	return rc;
}

void repo_release(struct repo_facts *f)
{
	free(f->dir);
	free(f->git_dir);
	free(f->ref_name);
	free(f->message);
	free(f->title);
	free(f->timestamp);
	free(f->author);
	free(f->default_branch);
	free(f->project_path);
	free(f->project_namespace);
	free(f->project_name);
	memset(f, 0, sizeof(*f));
}

/* The merge base of BASE and HEAD: GitLab measures compare_to's changes from there. */
static int merge_base_of(git_repository *repo, const git_commit *head, const char *base,
			 git_commit **out, char *err, size_t err_size)
{
	git_object *obj = NULL, *commit = NULL;
	git_oid oid;
	int rc = git.revparse_single(&obj, repo, base);

	if (rc == GIT_ENOTFOUND)
		return fail(err, err_size,
			    "unknown revision '%s': name a branch, tag or commit of this clone, "
			    "or fetch it first (git fetch origin)",
			    base);
	if (rc == GIT_EAMBIGUOUS)
		return fail(err, err_size, "ambiguous revision '%s': give more of the sha", base);
	if (rc < 0)
		return fail(err, err_size, "invalid revision '%s': %s", base, git_why());
	rc = git.object_peel(&commit, obj, GIT_OBJECT_COMMIT);
	git.object_free(obj);
	if (rc < 0)
		return fail(err, err_size, "revision '%s' is not a commit: %s", base, git_why());
	rc = git.merge_base(&oid, repo, git.object_id(commit), git.commit_id(head));
	git.object_free(commit);
	if (rc < 0)
		return fail(err, err_size,
			    "cannot find where '%s' and HEAD diverged: %s (a shallow clone? try "
			    "git fetch --unshallow; unrelated histories have no changes in GitLab)",
			    base, git_why());
	if (git.commit_lookup(out, repo, &oid) < 0)
		return fail(err, err_size, "cannot read the merge base of '%s' and HEAD: %s", base,
			    git_why());
	return 0;
}

/* The tree changes are measured from: *TREE stays NULL (the empty tree) for a root commit. */
static int base_tree(git_repository *repo, const git_commit *head, const char *base,
		     git_tree **tree, char *err, size_t err_size)
{
	git_commit *from = NULL;
	int rc;

	*tree = NULL;
	if (base) {
		if (merge_base_of(repo, head, base, &from, err, err_size) < 0)
			return -1;
	} else if (!git.commit_parentcount(head)) {
		return 0;
	} else if (git.commit_lookup(&from, repo, git.commit_parent_id(head, 0)) < 0) {
		return fail(err, err_size, "cannot read the parent of HEAD: %s", git_why());
	}
	rc = git.commit_tree(tree, from);
	git.commit_free(from);
	return rc < 0 ? fail(err, err_size, "cannot read a tree: %s", git_why()) : 0;
}

static int diff_from(git_repository *repo, const struct repo_facts *f, const char *base,
		     git_diff **diff, char *err, size_t err_size)
{
	git_commit *head = NULL;
	git_tree *old_tree = NULL, *new_tree = NULL;
	git_oid oid;
	int rc;

	if (git.oid_fromstr(&oid, f->sha) < 0 || git.commit_lookup(&head, repo, &oid) < 0)
		return fail(err, err_size, "cannot read commit %s: %s", f->sha, git_why());
	rc = base_tree(repo, head, base, &old_tree, err, err_size);
	if (!rc && git.commit_tree(&new_tree, head) < 0)
		rc = fail(err, err_size, "cannot read the tree of %s: %s", f->sha, git_why());
	/* Trees only: the work tree's uncommitted edits are not what GitLab would see. */
	if (!rc && git.diff_tree_to_tree(diff, repo, old_tree, new_tree, NULL) < 0)
		rc = fail(err, err_size, "cannot compare the trees: %s", git_why());
	git.tree_free(new_tree);
	git.tree_free(old_tree);
	git.commit_free(head);
	return rc;
}

static int compare_paths(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the entries from START on and drops repeats among them. */
static void sort_unique(struct strvec *sv, size_t start)
{
	size_t i, kept = start;

	if (sv->nr - start < 2)
		return;
	qsort(sv->v + start, sv->nr - start, sizeof(*sv->v), compare_paths);
	for (i = start; i < sv->nr; i++) {
		if (kept > start && !strcmp(sv->v[kept - 1], sv->v[i]))
			free(sv->v[i]);
		else
			sv->v[kept++] = sv->v[i];
	}
	sv->nr = kept;
	sv->v[kept] = NULL;
}

static void drop_from(struct strvec *sv, size_t start)
{
	while (sv->nr > start)
		free(sv->v[--sv->nr]);
	if (sv->v)
		sv->v[sv->nr] = NULL;
}

/* Both sides of every delta: without rename detection a rename is a deletion and an addition. */
static int push_paths(const git_diff *diff, struct strvec *paths)
{
	size_t i, n = git.diff_num_deltas(diff);

	for (i = 0; i < n; i++) {
		const git_diff_delta *d = git.diff_get_delta(diff, i);

		if (strvec_push(paths, d->old_file.path) < 0)
			return -1;
		if (strcmp(d->old_file.path, d->new_file.path) != 0 &&
		    strvec_push(paths, d->new_file.path) < 0)
			return -1;
	}
	return 0;
}

int repo_changed_paths(const struct repo_facts *f, const char *base, struct strvec *paths,
		       char *err, size_t err_size)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	size_t start = paths->nr;
	int rc;

	if (load_git(err, err_size) < 0)
		return -1;
	/* Opened again, by its .git: F stays plain data, and HEAD is the commit F was read at. */
	if (git.repository_open_ext(&repo, f->git_dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return fail(err, err_size, "cannot open the git repository '%s': %s", f->git_dir,
			    git_why());
	rc = diff_from(repo, f, base, &diff, err, err_size);
	if (!rc && push_paths(diff, paths) < 0)
		rc = out_of_memory(err, err_size);
	git.diff_free(diff);
	git.repository_free(repo);
	if (rc)
		drop_from(paths, start);
	else
		sort_unique(paths, start);
	return rc;
}

/*
 * The glob: a port of Ruby's File.fnmatch (dir.c: ruby_brace_expand, fnmatch, fnmatch_helper,
 * bracket) for the flags GitLab passes, FNM_PATHNAME | FNM_DOTMATCH | FNM_EXTGLOB, on UTF-8.
 * Its quirks are kept on purpose: a dry run must decide as GitLab does.
 */
#define SEGMENT_END(p) (!*(p) || *(p) == '/')

static const char *unescape(const char *p)
{
	return *p == '\\' ? p + 1 : p;
}

/* Bytes in the UTF-8 character at S; a stray byte counts alone, as Ruby steps over it. */
static size_t char_len(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c >= 0xf8 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1, i;

	for (i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

static unsigned long codepoint(const char *s)
{
	size_t n = char_len(s), i;
	unsigned long c = (unsigned char)s[0];

	if (n == 1)
		return c;
	c &= 0x7fu >> n;
	for (i = 1; i < n; i++)
		c = (c << 6) | ((unsigned char)s[i] & 0x3f);
	return c;
}

/*
 * The class at P (just past its '['): where the pattern goes on past the ']' when the character
 * at S is in it, else NULL. An unclosed class matches nothing, like Ruby's.
 */
static const char *bracket(const char *p, const char *s)
{
	int ok = 0, negate = 0;

	if (*p == '!' || *p == '^') {
		negate = 1;
		p++;
	}
	while (*p != ']') {
		const char *t1 = unescape(p), *t2;
		size_t r1, r2;

		if (!*t1)
			return NULL;
		r1 = char_len(t1);
		p = t1 + r1;
		if (!*p)
			return NULL;
		if (p[0] != '-' || p[1] == ']') {
			ok |= !strncmp(t1, s, r1);
			continue;
		}
		t2 = unescape(p + 1);
		if (!*t2)
			return NULL;
		r2 = char_len(t2);
		p = t2 + r2;
		ok |= !strncmp(t1, s, r1) || !strncmp(t2, s, r2) ||
		      (codepoint(t1) <= codepoint(s) && codepoint(s) <= codepoint(t2));
	}
	return ok == negate ? NULL : p + 1;
}

/*
 * Matches one component of the pattern at *PP against the path at *SP (Ruby's
 * fnmatch_helper), leaving both where it stopped. 0 on a match.
 */
static int match_segment(const char **pp, const char **sp)
{
	const char *p = *pp, *s = *sp, *star_p = NULL, *star_s = NULL, *next;
	int ret, ok;

	for (;;) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (SEGMENT_END(unescape(p))) {
				p = unescape(p);
				ret = 0;
				break;
			}
			if (SEGMENT_END(s)) {
				ret = 1;
				break;
			}
			star_p = p;
			star_s = s;
			continue;
		}
		if (*p == '?' || *p == '[') {
			if (SEGMENT_END(s)) {
				ret = 1;
				break;
			}
			next = *p == '?' ? p + 1 : bracket(p + 1, s);
			ok = next != NULL;
		} else {
			p = unescape(p);
			if (SEGMENT_END(s)) {
				ret = !SEGMENT_END(p);
				break;
			}
			next = p + char_len(p);
			ok = !SEGMENT_END(p) && !strncmp(p, s, (size_t)(next - p));
		}
		if (ok) {
			p = next;
			s += char_len(s);
			continue;
		}
		if (!star_p) {
			ret = 1;
			break;
		}
		/* The last '*' takes one more character; retry the rest from there. */
		p = star_p;
		star_s += char_len(star_s);
		s = star_s;
	}
	*pp = p;
	*sp = s;
	return ret;
}

/* Ruby's fnmatch() with FNM_PATHNAME: component by component, "**" + '/' retried deeper. */
static int match_path(const char *pattern, const char *path)
{
	const char *p = pattern, *s = path, *glob_p = NULL, *glob_s = NULL;

	for (;;) {
		if (p[0] == '*' && p[1] == '*' && p[2] == '/') {
			do
				p += 3;
			while (p[0] == '*' && p[1] == '*' && p[2] == '/');
			glob_p = p;
			glob_s = s;
		}
		if (!match_segment(&p, &s)) {
			while (*s && *s != '/')
				s++;
			if (*p && *s) {
				p++;
				s++;
				continue;
			}
			if (!*p && !*s)
				return 1;
		}
		/* "**" + '/' takes one more directory, if the path has one left. */
		if (!glob_p)
			return 0;
		while (*glob_s && *glob_s != '/')
			glob_s++;
		if (!*glob_s)
			return 0;
		p = glob_p;
		s = ++glob_s;
	}
}

/*
 * Ruby's ruby_brace_expand(): each alternative of the first {...} replaces it in turn, and the
 * result is expanded again. An unclosed '{' matches nothing, like Ruby's.
 */
static int match_braces(const char *pattern, const char *path)
{
	const char *p, *lbrace = NULL, *rbrace = NULL;
	size_t prefix, len = strlen(pattern);
	int nest = 0, found = 0;
	char *buf;

	for (p = pattern; *p; p++) {
		if (*p == '{' && nest++ == 0)
			lbrace = p;
		if (*p == '}' && lbrace && --nest == 0) {
			rbrace = p;
			break;
		}
		if (*p == '\\' && !*++p)
			break;
	}
	if (!lbrace)
		return match_path(pattern, path);
	if (!rbrace || !(buf = malloc(len + 1)))
		return 0;
	prefix = (size_t)(lbrace - pattern);
	memcpy(buf, pattern, prefix);
	for (p = lbrace; !found && p < rbrace;) {
		const char *alt = ++p;

		for (nest = 0; p < rbrace && !(*p == ',' && nest == 0); p++) {
			if (*p == '{')
				nest++;
			if (*p == '}')
				nest--;
			if (*p == '\\' && ++p == rbrace)
				break;
		}
		memcpy(buf + prefix, alt, (size_t)(p - alt));
		memcpy(buf + prefix + (p - alt), rbrace + 1, strlen(rbrace + 1) + 1);
		found = match_braces(buf, path);
	}
	free(buf);
	return found;
}

int repo_glob_match(const char *pattern, const char *path)
{
	return match_braces(pattern, path);
}
