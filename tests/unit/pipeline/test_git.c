/*
 * repo: the predefined-variable facts and rules:changes paths of real repositories built with
 * git under /tmp, every origin URL form, the failures' messages, and GitLab's glob (with cases
 * from Ruby's own test_fnmatch.rb, under the flags GitLab passes).
 */
#include "unit.h"

#include "pipeline/git.h"
#include "base/fs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATE "2024-05-01T12:34:56+02:00"

static char root[64];

/* Runs shell commands in DIR; the test fails, showing their output, unless they succeed. */
static void run(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void run(const char *dir, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && { ", dir);
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof(cmd) - (size_t)n, "; } >'%s/log' 2>&1", root);
	if (system(cmd) != 0) {
		int shown;

		snprintf(cmd, sizeof(cmd), "cat '%s/log' >&2", root);
		shown = system(cmd);
		fail_msg("failed in %s (output shown: %d)", dir, shown == 0);
	}
}

/* Writes TEXT to DIR/REL, making its directories. */
static void put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];
	char *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* A new repository ROOT/NAME on branch main; its path in DIR. */
static void make_repo(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "%s/%s", root, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	run(dir, "git -c init.defaultBranch=main init -q");
}

/* Commits everything in DIR with MESSAGE, kept verbatim, authored and committed at DATE. */
static void commit(const char *dir, const char *date, const char *message)
{
	put(root, "message", message);
	run(dir,
	    "git add -A && GIT_AUTHOR_DATE='%s' GIT_COMMITTER_DATE='%s' git commit -q "
	    "--allow-empty --allow-empty-message --cleanup=verbatim -F '%s/message'",
	    date, date, root);
}

static void rev_parse(const char *dir, const char *rev, char out[41])
{
	char cmd[PATH_MAX + 64], line[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse '%s'", dir, rev);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(strlen(line), 40);
	memcpy(out, line, 41);
}

static void open_ok(struct repo_facts *f, const char *dir)
{
	char err[512] = "";

	if (repo_open(f, dir, err, sizeof(err)) != 0)
		fail_msg("repo_open(%s): %s", dir, err);
}

/* repo_open() fails on DIR with a message holding every one of the NULL-terminated WANT. */
static void open_fails(const char *dir, const char *const *want)
{
	struct repo_facts f;
	char err[512] = "";

	assert_int_equal(repo_open(&f, dir, err, sizeof(err)), -1);
	assert_null(f.dir);
	for (; *want; want++)
		if (!strstr(err, *want))
			fail_msg("'%s' lacks '%s'", err, *want);
}

/* The changed paths against BASE are exactly the NULL-terminated WANT. */
static void expect_paths(const struct repo_facts *f, const char *base, const char *const *want)
{
	struct strvec paths = STRVEC_INIT;
	char err[512] = "";
	size_t i;

	if (repo_changed_paths(f, base, &paths, err, sizeof(err)) != 0)
		fail_msg("repo_changed_paths(%s): %s", base ? base : "NULL", err);
	for (i = 0; want[i]; i++) {
		assert_true(i < paths.nr);
		assert_string_equal(paths.v[i], want[i]);
	}
	assert_int_equal(paths.nr, i);
	strvec_clear(&paths);
}

static int setup(void **state)
{
	static const char *const unset[] = {
		"GIT_DIR",
		"GIT_WORK_TREE",
		"GIT_INDEX_FILE",
		"GIT_OBJECT_DIRECTORY",
		"GIT_COMMON_DIR",
		"GIT_CEILING_DIRECTORIES",
		"GIT_NAMESPACE",
		"XDG_CONFIG_HOME",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES",
		"GIT_CONFIG_PARAMETERS",
		"GIT_CONFIG_COUNT",
		"GIT_CONFIG_GLOBAL",
		"GIT_TEMPLATE_DIR",
	};
	size_t i;

	(void)state;
	strcpy(root, "/tmp/berth-test-repo-XXXXXX");
	assert_non_null(mkdtemp(root));
	/* Run from a git hook, GIT_DIR would send every command here to the project itself. */
	for (i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		unsetenv(unset[i]);
	/* No user or system configuration (signing, hooks, URL rewrites) may change results. */
	setenv("HOME", root, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
	setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Grace Hopper", 1);
	setenv("GIT_COMMITTER_EMAIL", "grace@example.com", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(remove_tree(root, 0), 0);
	return 0;
}

static void test_branch(void **state)
{
	char dir[PATH_MAX], real[PATH_MAX], git_dir[PATH_MAX + 8], head[41], parent[41];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "branch");
	put(dir, "README.md", "hello\n");
	commit(dir, "2024-04-30T08:00:00+02:00", "Initial import\n");
	put(dir, "src/parse.c", "int x;\n");
	commit(dir, DATE, "Fix the parser\n\nIt read one byte too many\nwhen the input ended.\n");
	rev_parse(dir, "HEAD", head);
	rev_parse(dir, "HEAD~1", parent);
	assert_non_null(realpath(dir, real));
	snprintf(git_dir, sizeof(git_dir), "%s/.git/", real);

	open_ok(&f, dir);
	assert_string_equal(f.dir, real);
	assert_string_equal(f.git_dir, git_dir);
	assert_string_equal(f.sha, head);
	assert_int_equal(strlen(f.short_sha), 8);
	assert_memory_equal(f.short_sha, head, 8);
	assert_string_equal(f.before_sha, parent);
	assert_string_equal(f.ref_name, "main");
	assert_int_equal(f.is_tag, 0);
	assert_string_equal(f.message,
			    "Fix the parser\n\nIt read one byte too many\nwhen the input ended.\n");
	assert_string_equal(f.title, "Fix the parser");
	assert_string_equal(f.timestamp, DATE);
	assert_string_equal(f.author, "Ada Lovelace <ada@example.com>");
	assert_string_equal(f.default_branch, "main");
	assert_null(f.project_path);
	assert_null(f.project_namespace);
	assert_null(f.project_name);
	repo_release(&f);
	assert_null(f.dir);

	run(dir, "git checkout -q -b feature/login");
	open_ok(&f, dir);
	assert_string_equal(f.ref_name, "feature/login");
	assert_int_equal(f.is_tag, 0);
	assert_string_equal(f.sha, head);
	repo_release(&f);
}

static void test_subdirectory(void **state)
{
	char dir[PATH_MAX], sub[PATH_MAX + 16], real[PATH_MAX], head[41];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "sub");
	put(dir, "src/deep/x.c", "\n");
	commit(dir, DATE, "x\n");
	rev_parse(dir, "HEAD", head);
	assert_non_null(realpath(dir, real));
	snprintf(sub, sizeof(sub), "%s/src/deep", dir);

	open_ok(&f, sub);
	assert_string_equal(f.dir, real);
	assert_string_equal(f.sha, head);
	repo_release(&f);
}

static void test_detached_at_tag(void **state)
{
	char dir[PATH_MAX], first[41], second[41];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "tags");
	put(dir, "a", "1\n");
	commit(dir, DATE, "one\n");
	put(dir, "a", "2\n");
	commit(dir, DATE, "two\n");
	rev_parse(dir, "HEAD~1", first);
	rev_parse(dir, "HEAD", second);
	/* "0-old" sorts first but is elsewhere; the annotated one must be peeled to match. */
	run(dir, "git tag 0-old HEAD~1 && git tag v1.0 && git tag -a release-1 -m 'Release 1'");

	run(dir, "git checkout -q --detach main");
	open_ok(&f, dir);
	assert_string_equal(f.ref_name, "release-1");
	assert_int_equal(f.is_tag, 1);
	assert_string_equal(f.sha, second);
	repo_release(&f);

	run(dir, "git checkout -q --detach HEAD~1");
	open_ok(&f, dir);
	assert_string_equal(f.ref_name, "0-old");
	assert_int_equal(f.is_tag, 1);
	assert_string_equal(f.sha, first);
	repo_release(&f);
}

static void test_detached_root_commit_without_tag(void **state)
{
	char dir[PATH_MAX], head[41];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "detached");
	put(dir, "a", "1\n");
	commit(dir, DATE, "root\n");
	rev_parse(dir, "HEAD", head);
	run(dir, "git checkout -q --detach");

	open_ok(&f, dir);
	assert_string_equal(f.ref_name, head);
	assert_int_equal(f.is_tag, 0);
	assert_string_equal(f.before_sha, "0000000000000000000000000000000000000000");
	assert_string_equal(f.title, "root");
	repo_release(&f);
}

static void test_timestamps_and_titles(void **state)
{
	char dir[PATH_MAX], raw[512];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "times");
	commit(dir, "2024-01-02T03:04:05-07:30", "Windows title\r\nbody\r\n");
	open_ok(&f, dir);
	assert_string_equal(f.timestamp, "2024-01-02T03:04:05-07:30");
	assert_string_equal(f.title, "Windows title");
	assert_string_equal(f.message, "Windows title\r\nbody\r\n");
	repo_release(&f);

	commit(dir, "2024-05-01T12:34:56Z", "");
	open_ok(&f, dir);
	assert_string_equal(f.timestamp, "2024-05-01T12:34:56+00:00");
	assert_string_equal(f.message, "");
	assert_string_equal(f.title, "--no commit message"); /* GitLab's words */
	repo_release(&f);

	/* git never writes "-0000" (offset unknown) itself, but old tools did: Ruby says UTC. */
	run(dir, "git hash-object -t tree -w --stdin </dev/null");
	snprintf(raw, sizeof(raw),
		 "tree %s\nauthor A <a@example.com> 1714566896 -0000\n"
		 "committer C <c@example.com> 1714566896 -0000\n\nold tool\n",
		 "4b825dc642cb6eb9a060e54bf8d69288fbee4904" /* the empty tree */);
	put(root, "raw", raw);
	run(dir, "git update-ref HEAD $(git hash-object -t commit -w '%s/raw')", root);
	open_ok(&f, dir);
	assert_string_equal(f.timestamp, "2024-05-01T12:34:56Z");
	assert_string_equal(f.author, "A <a@example.com>");
	assert_string_equal(f.before_sha, "0000000000000000000000000000000000000000");
	repo_release(&f);
}

static void test_default_branch(void **state)
{
	char dir[PATH_MAX];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "origin-head");
	commit(dir, DATE, "x\n");
	run(dir, "git remote add origin https://gitlab.example.com/group/project.git && "
		 "git update-ref refs/remotes/origin/develop HEAD && "
		 "git symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/develop");
	open_ok(&f, dir);
	assert_string_equal(f.default_branch, "develop");
	repo_release(&f);

	run(dir, "git symbolic-ref --delete refs/remotes/origin/HEAD");
	open_ok(&f, dir);
	assert_string_equal(f.default_branch, "main");
	repo_release(&f);
}

static void test_origin_urls(void **state)
{
	static const struct {
		const char *url, *path, *namespace, *name;
	} cases[] = {
		{"git@gitlab.example.com:group/sub/project.git", "group/sub/project", "group/sub",
		 "project"},
		{"ssh://git@gitlab.example.com:2222/group/project.git", "group/project", "group",
		 "project"},
		{"https://gitlab.example.com/group/project.git", "group/project", "group",
		 "project"},
		{"https://user:token@gitlab.example.com/group/project", "group/project", "group",
		 "project"},
		{"http://host:8080/a/b/c", "a/b/c", "a/b", "c"},
		{"https://gitlab.example.com/group/project/", "group/project", "group", "project"},
		{"https://gitlab.example.com/group/project.git/", "group/project", "group",
		 "project"},
		{"git@gitlab.example.com:/group/project.git", "group/project", "group", "project"},
		{"gitlab.example.com:g/p", "g/p", "g", "p"},
		{"git://gitlab.example.com/g/my.project.git", "g/my.project", "g", "my.project"},
	};
	char dir[PATH_MAX];
	struct repo_facts f;
	size_t i;

	(void)state;
	make_repo(dir, sizeof(dir), "urls");
	commit(dir, DATE, "x\n");
	run(dir, "git remote add origin placeholder");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run(dir, "git remote set-url origin '%s'", cases[i].url);
		open_ok(&f, dir);
		if (!f.project_path || strcmp(f.project_path, cases[i].path) != 0)
			fail_msg("%s: got %s", cases[i].url, f.project_path);
		assert_string_equal(f.project_namespace, cases[i].namespace);
		assert_string_equal(f.project_name, cases[i].name);
		repo_release(&f);
	}

	/* git rewrites URLs by their longest url.<base>.insteadOf prefix first. */
	run(dir, "git config url.git@gitlab.example.com:mygroup/.insteadOf mg: && "
		 "git config url.https://gitlab.example.com/other/deep/.insteadOf mg:deep/ && "
		 "git remote set-url origin mg:app");
	open_ok(&f, dir);
	assert_string_equal(f.project_path, "mygroup/app");
	repo_release(&f);
	run(dir, "git remote set-url origin mg:deep/app.git");
	open_ok(&f, dir);
	assert_string_equal(f.project_path, "other/deep/app");
	assert_string_equal(f.project_namespace, "other/deep");
	repo_release(&f);
}

static void test_origin_local_or_missing(void **state)
{
	static const char *const local[] = {"/srv/git/group/project.git",
					    "file:///srv/git/group/project.git", "../project"};
	char dir[PATH_MAX];
	struct repo_facts f;
	size_t i;

	(void)state;
	make_repo(dir, sizeof(dir), "local-origin");
	commit(dir, DATE, "x\n");
	open_ok(&f, dir); /* no origin at all */
	assert_null(f.project_path);
	repo_release(&f);
	run(dir, "git remote add origin placeholder");
	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		run(dir, "git remote set-url origin '%s'", local[i]);
		open_ok(&f, dir);
		assert_null(f.project_path);
		assert_null(f.project_namespace);
		assert_null(f.project_name);
		assert_string_equal(f.default_branch, "main");
		repo_release(&f);
	}
}

static void test_origin_without_project(void **state)
{
	static const char *const want_solo[] = {"https://gitlab.example.com/solo.git",
						"group/project", NULL};
	static const char *const want_host[] = {"gitlab.example.com:", NULL};
	char dir[PATH_MAX], err[512] = "";
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "bad-origin");
	commit(dir, DATE, "x\n");
	run(dir,
	    "git remote add origin 'https://user:s3cret@gitlab.example.com/solo.git?t=s3cret'");
	open_fails(dir, want_solo);
	assert_int_equal(repo_open(&f, dir, err, sizeof(err)), -1);
	assert_null(strstr(err, "s3cret"));
	assert_null(strstr(err, "user"));

	run(dir, "git remote set-url origin 'deploy@gitlab.example.com:'");
	open_fails(dir, want_host);
	assert_int_equal(repo_open(&f, dir, err, sizeof(err)), -1);
	assert_null(strstr(err, "deploy"));
}

static void test_not_a_repository(void **state)
{
	char dir[PATH_MAX], file[PATH_MAX + 8];
	const char *want[] = {NULL, "not in a git repository", NULL};

	(void)state;
	snprintf(dir, sizeof(dir), "%s/plain", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	want[0] = dir;
	open_fails(dir, want);

	snprintf(file, sizeof(file), "%s/missing", root);
	want[0] = file;
	want[1] = "No such file or directory";
	open_fails(file, want);

	put(dir, "file", "x\n");
	snprintf(file, sizeof(file), "%s/file", dir);
	want[0] = file;
	want[1] = "not a directory";
	open_fails(file, want);
}

static void test_bare_or_unborn(void **state)
{
	char dir[PATH_MAX];
	const char *want[] = {NULL, NULL, NULL};

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bare.git", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	run(dir, "git init -q --bare");
	want[0] = dir;
	want[1] = "bare repository";
	open_fails(dir, want);

	make_repo(dir, sizeof(dir), "unborn");
	want[0] = "unborn";
	want[1] = "no commit yet";
	open_fails(dir, want);
}

static void test_other_owner(void **state)
{
	static const char *const want[] = {"of another user", "safe.directory", NULL};
	char dir[PATH_MAX];

	(void)state;
	if (geteuid() != 0)
		skip(); /* only root can give a repository away */
	make_repo(dir, sizeof(dir), "not-mine");
	commit(dir, DATE, "x\n");
	run(dir, "chown -R 65534 .");
	open_fails(dir, want);
}

/* A history of three commits: add, modify and add, rename and delete. */
static void make_history(char *dir, size_t size, const char *name)
{
	make_repo(dir, size, name);
	put(dir, "a.txt", "a\n");
	put(dir, "src/main.c", "int main(void) { return 0; }\n");
	put(dir, "docs/guide.md", "# Guide\n");
	put(dir, ".gitlab/ci.yml", "x: 1\n");
	commit(dir, DATE, "one\n");
	put(dir, "src/main.c", "int main(void) { return 1; }\n");
	put(dir, "docs/api/x.md", "# X\n");
	commit(dir, DATE, "two\n");
	run(dir, "git mv a.txt b.txt && git rm -q docs/guide.md");
	commit(dir, DATE, "three\n");
}

static void test_changed_paths(void **state)
{
	static const char *const head_commit[] = {"a.txt", "b.txt", "docs/guide.md", NULL};
	static const char *const since_first[] = {"a.txt",	   "b.txt",	 "docs/api/x.md",
						  "docs/guide.md", "src/main.c", NULL};
	char dir[PATH_MAX], first[41];
	struct repo_facts f;

	(void)state;
	make_history(dir, sizeof(dir), "changes");
	rev_parse(dir, "HEAD~2", first);
	run(dir, "git tag start HEAD~2");
	open_ok(&f, dir);
	expect_paths(&f, NULL, head_commit);
	expect_paths(&f, "HEAD~2", since_first);
	expect_paths(&f, first, since_first);
	expect_paths(&f, "start", since_first);
	expect_paths(&f, f.sha, (const char *const[]){NULL});

	/* F stays the commit it was read at, whatever HEAD does next. */
	put(dir, "later.txt", "later\n");
	commit(dir, DATE, "four\n");
	expect_paths(&f, NULL, head_commit);
	repo_release(&f);
}

static void test_changed_paths_from_merge_base(void **state)
{
	static const char *const want[] = {"a.txt", "b.txt", "docs/guide.md", NULL};
	char dir[PATH_MAX];
	struct repo_facts f;

	(void)state;
	make_history(dir, sizeof(dir), "merge-base");
	/* "other" forks from the second commit: its own changes are no change of HEAD's. */
	run(dir, "git checkout -q -b other HEAD~1");
	put(dir, "other.txt", "o\n");
	put(dir, "src/main.c", "changed on other\n");
	commit(dir, DATE, "other\n");
	run(dir, "git checkout -q main");
	open_ok(&f, dir);
	expect_paths(&f, "other", want);
	repo_release(&f);
}

static void test_changed_paths_root_commit(void **state)
{
	static const char *const want[] = {".hidden", "a", "dir/b", "dir/sub/c", NULL};
	char dir[PATH_MAX];
	struct repo_facts f;

	(void)state;
	make_repo(dir, sizeof(dir), "root-paths");
	put(dir, "dir/sub/c", "c\n");
	put(dir, "a", "a\n");
	put(dir, "dir/b", "b\n");
	put(dir, ".hidden", "h\n");
	commit(dir, DATE, "root\n");
	open_ok(&f, dir);
	expect_paths(&f, NULL, want);
	repo_release(&f);
}

static void test_changed_paths_errors(void **state)
{
	struct strvec paths = STRVEC_INIT;
	char dir[PATH_MAX], err[512];
	struct repo_facts f;

	(void)state;
	make_history(dir, sizeof(dir), "bad-base");
	open_ok(&f, dir);
	assert_int_equal(strvec_push(&paths, "kept"), 0);

	assert_int_equal(repo_changed_paths(&f, "no-such-branch", &paths, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown revision 'no-such-branch'"));
	assert_int_equal(paths.nr, 1);

	assert_int_equal(repo_changed_paths(&f, "HEAD:b.txt", &paths, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'HEAD:b.txt' is not a commit"));
	assert_int_equal(paths.nr, 1);

	assert_int_equal(repo_changed_paths(&f, "main@{", &paths, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "main@{"));
	assert_int_equal(paths.nr, 1);

	/* Success appends after what was there. */
	assert_int_equal(repo_changed_paths(&f, NULL, &paths, err, sizeof(err)), 0);
	assert_int_equal(paths.nr, 4);
	assert_string_equal(paths.v[0], "kept");
	assert_string_equal(paths.v[1], "a.txt");
	assert_string_equal(paths.v[3], "docs/guide.md");
	assert_null(paths.v[4]);
	strvec_clear(&paths);
	repo_release(&f);
}

static const struct {
	const char *pattern, *path;
	int match;
} globs[] = {
	/* The cases rules:changes users write. */
	{"*.c", "a/b.c", 0},
	{"*.c", "b.c", 1},
	{"**/*.c", "b.c", 1},
	{"**/*.c", "a/b/c.c", 1},
	{"**/*.c", "a/b/c.h", 0},
	{"docs/**/*", "docs/a.md", 1},
	{"docs/**/*", "docs/a/b/c.md", 1},
	{"docs/**/*", "doc/a.md", 0},
	{"docs/**/*", "docs", 0},
	{"docs/*", "docs/a/b.md", 0},
	{"docs/**", "docs/a.md", 1}, /* "**" without '/' is a '*' */
	{"docs/**", "docs/a/b.md", 0},
	{"a/**/b", "a/b", 1},
	{"a/**/b", "a/x/y/b", 1},
	{"{src,lib}/**/*.go", "src/main.go", 1},
	{"{src,lib}/**/*.go", "lib/x/y.go", 1},
	{"{src,lib}/**/*.go", "cmd/main.go", 0},
	{"{src,lib}/**/*.go", "src/main.c", 0},
	{"*.{js,ts}", "app.ts", 1},
	{"{a,{b,c}}.md", "c.md", 1},
	{"{a,{b,c}}.md", "d.md", 0},
	{"{a,b", "{a,b", 0}, /* an unclosed '{' matches nothing, in Ruby too */
	{"{a,b", "a", 0},
	{"a}", "a}", 1},
	{"*", ".hidden", 1},
	{"**/*", ".gitlab/ci.yml", 1},
	{"*", "a/b", 0},
	{"file?.txt", "file1.txt", 1},
	{"file?.txt", "file10.txt", 0},
	{"file?.txt", "file/.txt", 0},
	{"[ab].txt", "a.txt", 1},
	{"[ab].txt", "b.txt", 1},
	{"[ab].txt", "c.txt", 0},
	{"[!ab].txt", "c.txt", 1},
	{"[^ab].txt", "a.txt", 0},
	{"[a-c]x", "bx", 1},
	{"[a-c]x", "dx", 0},
	{"[ab", "a", 0}, /* an unclosed class too */
	{"README.md", "README.md", 1},
	{"readme.md", "README.md", 0},
	{"\\*.c", "*.c", 1},
	{"\\*.c", "a.c", 0},
	{"?.txt", "\xc3\xa9.txt", 1}, /* one character, two bytes */
	{"[\xc3\xa9]", "\xc3\xa9", 1},
	/* Ruby's test_fnmatch.rb, as it comes out with GitLab's flags. */
	{"\\[1\\]", "[1]", 1},
	{"*?", "a", 1},
	{"*/", "a/", 1},
	{"cat", "cat", 1},
	{"cat", "category", 0},
	{"cat", "wildcat", 0},
	{"?at", "cat", 1},
	{"c?t", "cat", 1},
	{"ca?", "cat", 1},
	{"?a?", "cat", 1},
	{"c??t", "cat", 0},
	{"??at", "cat", 0},
	{"ca??", "cat", 0},
	{"c*", "cats", 1},
	{"c*ts", "cats", 1},
	{"*ts", "cats", 1},
	{"*c*a*t*s*", "cats", 1},
	{"c*t", "cats", 0},
	{"*abc", "abcabz", 0},
	{"*abz", "abcabz", 1},
	{"a*abc", "abc", 0},
	{"a*bc", "abc", 1},
	{"a*bc", "abcd", 0},
	{"\\?", "?", 1},
	{"\\?", "\\?", 0},
	{"\\?", "a", 0},
	{"\\?", "\\a", 0},
	{"\\*", "*", 1},
	{"\\*", "\\*", 0},
	{"\\*", "cats", 0},
	{"\\*", "\\cats", 0},
	{"\\a", "a", 1},
	{"\\a", "\\a", 0},
	{"[a\\-c]", "a", 1},
	{"[a\\-c]", "-", 1},
	{"[a\\-c]", "c", 1},
	{"[a\\-c]", "b", 0},
	{"[a\\-c]", "\\", 0},
	{"cat", "CAT", 0},
	{"[a-z]", "D", 0},
	{"[abc]", "B", 0},
	{"foo?boo", "foo/boo", 0},
	{"foo*", "foo/boo", 0},
	{"*", ".profile", 1},
	{".*", ".profile", 1},
	{"*", "dave/.profile", 0},
	{"*/*", "dave/.profile", 1},
	{"**/foo", "a/b/c/foo", 1},
	{"**/foo", "/foo", 1},
	{"**/foo", "a/.b/c/foo", 1},
	{"**/foo", "/root/foo", 1},
	{"**/foo", "c:/root/foo", 1},
	{"{.g,t}*", ".gem", 1},
	{"{*,a}", "\xe3\x81\x82", 1},
	{"[a-\xe3\x81\x82]*", "\xe3\x81\x82", 1},
	{"[a-\xe3\x81\x82]*", "\xe3\x81\x83", 0},
};

static void test_glob(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
		if (repo_glob_match(globs[i].pattern, globs[i].path) != globs[i].match)
			fail_msg("'%s' vs '%s': want %d", globs[i].pattern, globs[i].path,
				 globs[i].match);
}

/* test_fnmatch.rb's bracket_test(): every printable character against a class and its negations. */
static void test_glob_bracket_sweep(void **state)
{
	static const char members[] = "bdefgiklmosvwx";
	int c;

	(void)state;
	for (c = 0x21; c <= 0x7e; c++) {
		char path[2] = {(char)c, '\0'};
		int in = strchr(members, c) != NULL;

		if (c == '/')
			continue; /* FNM_PATHNAME: no class matches a separator */
		assert_int_equal(repo_glob_match("[bd-gikl-mosv-x]", path), in);
		assert_int_equal(repo_glob_match("[^bd-gikl-mosv-x]", path), !in);
		assert_int_equal(repo_glob_match("[!bd-gikl-mosv-x]", path), !in);
	}
	assert_int_equal(repo_glob_match("[bd-gikl-mosv-x]", "/"), 0);
	assert_int_equal(repo_glob_match("[!bd-gikl-mosv-x]", "/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_branch),
		cmocka_unit_test(test_subdirectory),
		cmocka_unit_test(test_detached_at_tag),
		cmocka_unit_test(test_detached_root_commit_without_tag),
		cmocka_unit_test(test_timestamps_and_titles),
		cmocka_unit_test(test_default_branch),
		cmocka_unit_test(test_origin_urls),
		cmocka_unit_test(test_origin_local_or_missing),
		cmocka_unit_test(test_origin_without_project),
		cmocka_unit_test(test_not_a_repository),
		cmocka_unit_test(test_bare_or_unborn),
		cmocka_unit_test(test_other_owner),
		cmocka_unit_test(test_changed_paths),
		cmocka_unit_test(test_changed_paths_from_merge_base),
		cmocka_unit_test(test_changed_paths_root_commit),
		cmocka_unit_test(test_changed_paths_errors),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_glob_bracket_sweep),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
