/*
 * The local git repository, read with libgit2 (loaded on first use): the facts GitLab would
 * give a job as predefined CI_COMMIT_* / CI_PROJECT_* variables, the paths that `rules:changes`
 * compares, and GitLab's glob for those paths.
 */
#ifndef GIT_H
#define GIT_H

#include "base/strvec.h"

#include <stddef.h>

struct repo_facts {
	char *dir;	     /* the work tree's root, no trailing '/': CI_PROJECT_DIR */
	char *git_dir;	     /* the repository itself (its .git), for repo_changed_paths() */
	char sha[41];	     /* HEAD commit: CI_COMMIT_SHA */
	char short_sha[9];   /* its first 8 hex digits: CI_COMMIT_SHORT_SHA */
	char before_sha[41]; /* HEAD's first parent (40 zeros for a root): CI_COMMIT_BEFORE_SHA */
	/*
	 * CI_COMMIT_REF_NAME: the branch HEAD is on; when HEAD is detached, the first (by name)
	 * tag that points at HEAD, else the full sha.
	 */
	char *ref_name;
	int is_tag;	 /* ref_name is a tag: CI_COMMIT_TAG, else CI_COMMIT_BRANCH */
	char *message;	 /* CI_COMMIT_MESSAGE: the whole message, trailing newline included */
	char *title;	 /* CI_COMMIT_TITLE: its first line ("--no commit message" if blank) */
	char *timestamp; /* CI_COMMIT_TIMESTAMP: committer time in its own offset, ISO 8601 */
	char *author;	 /* CI_COMMIT_AUTHOR: "Name <email>" */
	/* CI_DEFAULT_BRANCH: where refs/remotes/origin/HEAD points, else "main". */
	char *default_branch;
	/*
	 * CI_PROJECT_PATH ("group/sub/project"), from the origin remote's URL; NULL when there is
	 * no origin or it is a local path. The namespace is everything before the last '/', the
	 * name the last component; both NULL with the path.
	 */
	char *project_path;
	char *project_namespace;
	char *project_name;
};

/*
 * Reads the repository containing DIR (searching upwards like git does) into F. 0, or -1
 * with a message in ERR (F then holds nothing to release, though releasing it is harmless).
 */
int repo_open(struct repo_facts *f, const char *dir, char *err, size_t err_size);
void repo_release(struct repo_facts *f);

/*
 * Appends to PATHS the paths (relative to the work tree, '/'-separated, sorted, no duplicates)
 * that `rules:changes` would see for the commit F was read at:
 *  - BASE NULL, GitLab's default for a branch push: the paths the commit itself changed (the
 *    diff from its first parent; every file for a root commit);
 *  - BASE a revision (branch, tag, sha, "origin/main"...), as `rules:changes:compare_to`:
 *    the diff from the merge base of BASE and the commit, as GitLab computes it.
 * A rename counts as both paths. 0, or -1 with ERR (PATHS is left as it was).
 */
int repo_changed_paths(const struct repo_facts *f, const char *base, struct strvec *paths,
		       char *err, size_t err_size);

/*
 * GitLab's `rules:changes` glob: Ruby's File.fnmatch? with FNM_PATHNAME | FNM_DOTMATCH |
 * FNM_EXTGLOB. '*' matches within one path component, "**" followed by '/' zero or more
 * directories, '?' one character, "[a-z]" / "[!abc]" a class, "{a,b}" alternatives (nested
 * braces allowed), '\' escapes. A leading '.' needs no explicit match. 1 when PATH matches.
 */
int repo_glob_match(const char *pattern, const char *path);

#endif
