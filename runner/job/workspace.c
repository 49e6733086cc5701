#include "job/workspace.h"

#include "base/array.h"
#include "base/fs.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/procscan.h"
#include "base/secret.h"
#include "base/sha256.h"
#include "conf/vars.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "A/B" on the heap, for the paths a struct workspace keeps. */
static char *path_alloc(const char *a, const char *b)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", a, b) < 0) {
		error("out of memory");
		return NULL;
	}
	return p;
}

/* builds and cache: a job user's own below the shared roots, so no two users share a clone. */
static int set_job_dirs(struct workspace *ws, const struct settings *s)
{
	free(ws->builds);
	free(ws->cache);
	ws->builds = ws->cache = NULL;
	if (s->builds_per_job)
		ws->builds = path_alloc(ws->dir, "builds");
	else if (ws->user)
		ws->builds = path_alloc(s->builds_dir, ws->user);
	else
		ws->builds = strdup(s->builds_dir);
	if (ws->user)
		ws->cache = path_alloc(s->cache_dir, ws->user);
	else if (s->cache_dir)
		ws->cache = strdup(s->cache_dir);
	return ws->builds && (ws->cache || !s->cache_dir) ? 0 : -1;
}

int workspace_init(struct workspace *ws, const struct settings *s, const struct job *job)
{
	char *jobs = path_alloc(s->state_dir, "jobs"), user[64];

	memset(ws, 0, sizeof(*ws));
	ws->dir = jobs ? path_alloc(jobs, job->id) : NULL;
	free(jobs);
	if (!ws->dir || !(ws->tmp = path_alloc(ws->dir, "tmp")) ||
	    !(ws->docker = path_alloc(ws->dir, "docker")) ||
	    !(ws->kube = path_alloc(ws->dir, "kube")) ||
	    !(ws->kubeconfig = path_alloc(ws->kube, "config")) ||
	    !(ws->settings = path_alloc(ws->dir, "settings.yaml")) ||
	    !(ws->bin = path_alloc(ws->dir, "bin")))
		goto fail;
	if (s->job_users.nr && workspace_recorded(ws->dir, "user", user, sizeof(user)) == 0 &&
	    !(ws->user = strdup(user)))
		goto fail;
	/*
	 * Shared: the runner appends <short token>/<concurrent project slot>/<project path>, all
	 * computed by the runner, so a slot keeps its clone across jobs and no job variable can
	 * steer two running jobs into one directory.
	 */
	ws->builds_shared = !s->builds_per_job;
	if (set_job_dirs(ws, s) < 0)
		goto fail;
	workspace_recorded_cgroup(ws->dir, &ws->cgroup);
	return 0;
fail:
	workspace_release(ws);
	return error("out of memory");
}

static int make_private(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return error_errno("cannot create '%s'", path);
	return 0;
}

/*
 * <workspace>/bin, opened: created 0755 when missing, else only taken when it is a directory of
 * berth's own user that no one else may write (a job running as berth's user could have put
 * anything there, but then it is that user already). An fd, or -1 after reporting.
 */
static int open_bin(const struct workspace *ws)
{
	int dir = open(ws->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd = -1;
	struct stat st;

	if (dir < 0)
		return error_errno("cannot open workspace '%s'", ws->dir);
	if (mkdirat(dir, "bin", 0755) == 0) {
		fd = openat(dir, "bin", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0755) < 0) /* main's umask is 077: others must enter */
			close(fd), fd = -1;
	} else if (errno == EEXIST) {
		fd = openat(dir, "bin", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	close(dir);
	if (fd < 0)
		return error_errno("cannot create directory '%s'", ws->bin);
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return error("'%s' is not a directory of uid %u that only it may write: remove it",
			     ws->bin, (unsigned)geteuid());
	}
	return fd;
}

/* bin/NAME -> `self`, replaced by a rename so that no moment is without one. */
static int link_self(int fd, const struct workspace *ws, const char *name, const char *self)
{
	char target[PATH_MAX], tmp[64];
	ssize_t n = readlinkat(fd, name, target, sizeof(target) - 1);

	if (n >= 0)
		target[n] = '\0';
	/* Every stage after the first finds the link there already. */
	if (n >= 0 && !strcmp(target, self))
		return 0;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	if ((unlinkat(fd, tmp, 0) < 0 && errno != ENOENT) || symlinkat(self, fd, tmp) < 0 ||
	    renameat(fd, tmp, fd, name) < 0)
		return error_errno("cannot link '%s/%s' to '%s'", ws->bin, name, self);
	return 0;
}

int workspace_link_berth(const struct workspace *ws, const char *self)
{
	int fd = open_bin(ws), ret;

	if (fd < 0)
		return -1;
	ret = link_self(fd, ws, "berth", self) < 0 || link_self(fd, ws, "werf", self) < 0 ? -1 : 0;
	close(fd);
	return ret;
}

/* Written to a temporary name and renamed, so a reader never sees half a record. */
static int write_state(const struct workspace *ws, const struct job *job)
{
	char *file = path_alloc(ws->dir, "state"), *tmp = path_alloc(ws->dir, ".state.tmp");
	FILE *f = NULL;
	int fd, ret = -1;

	if (!file || !tmp)
		goto out;
	/* Readable: the job's own berth reads its project for lock keys; nothing here is secret. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		error_errno("cannot write '%s'", tmp);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "job %s\n", job->id);
	if (job->project_id)
		fprintf(f, "project_id %s\n", job->project_id);
	if (job->project_path)
		fprintf(f, "project_path %s\n", job->project_path);
	if (ws->user)
		fprintf(f, "user %s\n", ws->user);
	if (job->domain)
		fprintf(f, "domain %s\n", job->domain);
	fprintf(f, "prepared %lld\n", (long long)time(NULL));
	fprintf(f, "created %s\n", ws->tmp);
	fprintf(f, "secrets %s\n", ws->docker);
	fprintf(f, "secrets %s\n", ws->kube);
	if (ws->builds_shared == 0)
		fprintf(f, "created %s\n", ws->builds);
	if (ws->cgroup.v2[0])
		fprintf(f, "cgroup %s\n", ws->cgroup.v2);
	for (size_t i = 0; i < ws->cgroup.nr_v1; i++)
		fprintf(f, "cgroup %s\n", ws->cgroup.v1[i]);
	if (fclose(f) != 0) {
		error_errno("cannot write '%s'", tmp);
		goto out;
	}
	if (rename(tmp, file) < 0) {
		error_errno("cannot rename '%s' to '%s'", tmp, file);
		goto out;
	}
	ret = 0;
out:
	free(file);
	free(tmp);
	return ret;
}

/* The job users that workspaces other than `mine` hold, from their state records. */
static int users_taken(const char *jobs, const char *mine, struct strvec *taken)
{
	char dir[PATH_MAX], user[64];
	struct dirent *e;
	DIR *d = opendir(jobs);

	if (!d)
		return errno == ENOENT ? 0 : error_errno("cannot read '%s'", jobs);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, mine))
			continue;
		if (path_join(dir, sizeof(dir), "%s/%s", jobs, e->d_name) < 0 ||
		    (workspace_recorded(dir, "user", user, sizeof(user)) == 0 &&
		     strvec_push(taken, user) < 0)) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/*
 * Each job user remembers the trust domain of its last job in <state_dir>/users/<name> (root's,
 * 0600), so that it goes to a job of the same domain with its warm clone, and is reset before
 * it goes to another.
 */
static int read_domain(const char *state_dir, const char *user, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n = -1;
	int fd;

	fd = path_join(path, sizeof(path), "%s/users/%s", state_dir, user) < 0
		     ? -1
		     : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? 0 : -1;
}

static int write_domain(const char *state_dir, const char *user, const char *domain)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	int fd, ret = 0;

	if (path_join(dir, sizeof(dir), "%s/users", state_dir) < 0 ||
	    path_join(path, sizeof(path), "%s/%s", dir, user) < 0)
		return -1;
	if (!domain)
		domain = "-"; /* no domain: matches none, so the next job resets the user */
	if (make_dirs(dir, 0700) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, domain, strlen(domain)) != (ssize_t)strlen(domain))
		ret = error_errno("cannot write '%s'", path);
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * Clones of another trust domain are parked, not removed: <builds_dir>/.parked/<user>/<domain>
 * (the same below cache_dir), in directories only root enters, so a job of another domain
 * cannot reach them although its user is the same. A later job of that domain that gets that
 * user gets them back, warm. Each user keeps the `parked_clones` most recently parked.
 */
#define PARKED ".parked"

static char *parked_path(const char *root, const char *user, const char *domain)
{
	char *p = NULL, *c;

	if (asprintf(&p, "%s/%s/%s/%s", root, PARKED, user, domain) < 0) {
		error("out of memory");
		return NULL;
	}
	for (c = p + strlen(p) - strlen(domain); *c; c++)
		if (*c == '/')
			*c = '-'; /* "42/protected": one name */
	return p;
}

static int is_parked(const char *root, const char *user, const char *domain)
{
	char *p = domain ? parked_path(root, user, domain) : NULL;
	struct stat st;
	int found = p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return found;
}

/* Removes the oldest entries of `dir` (root's parking of one user) beyond the `keep` newest. */
static int evict(const char *dir, long keep)
{
	for (;;) {
		char oldest[NAME_MAX + 1] = "", *path;
		struct timespec when = {0, 0};
		long count = 0;
		struct dirent *e;
		struct stat st;
		DIR *d = opendir(dir);
		int ret;

		if (!d)
			return error_errno("cannot read '%s'", dir);
		while ((e = readdir(d)))
			if (e->d_name[0] != '.' &&
			    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    ++count &&
			    (!oldest[0] || st.st_mtim.tv_sec < when.tv_sec ||
			     (st.st_mtim.tv_sec == when.tv_sec &&
			      st.st_mtim.tv_nsec < when.tv_nsec))) {
				when = st.st_mtim;
				snprintf(oldest, sizeof(oldest), "%s", e->d_name);
			}
		closedir(d);
		if (count <= keep)
			return 0;
		path = path_alloc(dir, oldest);
		ret = path ? remove_tree(path, 0) : -1;
		free(path);
		if (ret < 0)
			return -1;
	}
}

/*
 * The user's builds or cache dir `dir` below `root`: parked as domain `from`'s (removed when
 * there is no such domain or no parking), and domain `to`'s parked one put back, if any.
 */
static int swap_dir(const char *root, const char *user, const char *dir, const char *from,
		    const char *to, long keep)
{
	char *mine = NULL, *park = NULL, *back = NULL;
	int ret = -1;

	if (!from || keep <= 0) {
		if (remove_tree(dir, 0) < 0)
			goto out;
	} else if (asprintf(&mine, "%s/%s/%s", root, PARKED, user) < 0 ||
		   !(park = parked_path(root, user, from)) || make_dirs(mine, 0700) < 0 ||
		   remove_tree(park, 0) < 0) {
		goto out;
	} else if (rename(dir, park) == 0) {
		utimensat(AT_FDCWD, park, NULL, AT_SYMLINK_NOFOLLOW); /* when it was parked */
		if (evict(mine, keep) < 0)
			goto out;
	} else if (errno != ENOENT) {
		error_errno("cannot park '%s' as '%s'", dir, park);
		goto out;
	}
	if (to && is_parked(root, user, to) && (back = parked_path(root, user, to)) &&
	    rename(back, dir) < 0) {
		error_errno("cannot take '%s' back as '%s'", back, dir);
		goto out;
	}
	ret = 0;
out:
	free(mine);
	free(park);
	free(back);
	return ret;
}

/*
 * The user for a job of `domain` among the free ones (taken[i] 0): one whose last job was of
 * the same domain (*warm: it keeps what it has), else one with that domain's clone parked,
 * else one with no record (a new user, or one an older berth used), else the first.
 */
static size_t pick_user(const struct settings *s, const char *domain, const unsigned char *taken,
			int *warm)
{
	size_t i, parked = s->job_users.nr, fresh = s->job_users.nr, first = s->job_users.nr;
	const char *root = s->builds_per_job ? s->cache_dir : s->builds_dir;
	char last[256];

	*warm = 0;
	for (i = 0; i < s->job_users.nr; i++) {
		const char *user = s->job_users.v[i];

		if (taken[i])
			continue;
		if (read_domain(s->state_dir, user, last, sizeof(last)) < 0) {
			fresh = fresh < s->job_users.nr ? fresh : i;
		} else if (domain && !strcmp(last, domain)) {
			*warm = 1;
			return i;
		}
		if (parked == s->job_users.nr && is_parked(root, user, domain))
			parked = i;
		first = first < s->job_users.nr ? first : i;
	}
	return parked < s->job_users.nr ? parked : fresh < s->job_users.nr ? fresh : first;
}

/*
 * A user that changes trust domain: what the last domain's jobs left in its builds and cache
 * dirs (a clone with hooks in .git/config) is parked out of its reach, the new domain's comes
 * back, and its home is emptied.
 */
static int switch_domain(const struct workspace *ws, const struct settings *s, const char *to)
{
	char from[256];
	const char *last = NULL;
	int builds = ws->builds_shared;
	int cache = ws->cache && !(builds && !strcmp(ws->cache, ws->builds)); /* the same dir */

	if (read_domain(s->state_dir, ws->user, from, sizeof(from)) == 0 && strcmp(from, "-") != 0)
		last = from;
	if ((builds &&
	     swap_dir(s->builds_dir, ws->user, ws->builds, last, to, s->parked_clones) < 0) ||
	    (cache &&
	     swap_dir(s->cache_dir, ws->user, ws->cache, last, to, s->parked_clones) < 0) ||
	    workspace_scrub_user(ws->user, s) < 0)
		return error("cannot reset job user '%s' for a job of another project or "
			     "protection",
			     ws->user);
	return 0;
}

/*
 * Takes a job user no other workspace holds (pick_user). Under <state_dir>/users.lock, held
 * until the state record naming the user is written, so two prepares never take the same one.
 * Returns the lock's fd for the caller to close, or -1 after reporting.
 */
static int claim_user(struct workspace *ws, const struct settings *s, const char *jobs,
		      const struct job *job)
{
	struct strvec taken = STRVEC_INIT;
	char *lock = path_alloc(s->state_dir, "users.lock");
	unsigned char *busy = NULL;
	size_t i, j;
	int fd = lock ? open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600) : -1, warm;

	if (fd < 0 || flock(fd, LOCK_EX) < 0 || users_taken(jobs, job->id, &taken) < 0) {
		error_errno("cannot claim a job user under '%s'", s->state_dir);
		goto fail;
	}
	busy = calloc(s->job_users.nr, 1);
	if (!busy) {
		error("out of memory");
		goto fail;
	}
	for (i = 0; i < s->job_users.nr; i++)
		for (j = 0; j < taken.nr; j++)
			if (!strcmp(taken.v[j], s->job_users.v[i]))
				busy[i] = 1;
	i = pick_user(s, job->domain, busy, &warm);
	if (i == s->job_users.nr) {
		error("all %zu job users are taken by running jobs: list one per concurrent job in "
		      "job_users, or run 'berth gc' when those jobs are gone",
		      s->job_users.nr);
		goto fail;
	}
	ws->user = strdup(s->job_users.v[i]);
	if (!ws->user || set_job_dirs(ws, s) < 0) {
		error("out of memory");
		goto fail;
	}
	if ((!warm && switch_domain(ws, s, job->domain) < 0) ||
	    write_domain(s->state_dir, ws->user, job->domain) < 0)
		goto fail;
	free(busy);
	strvec_clear(&taken);
	free(lock);
	return fd;
fail:
	free(busy);
	strvec_clear(&taken);
	free(lock);
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Where a job user can leave files outside its own places, for a later job to find or for
 * the system to run as it: the shared temp dirs, and at's spool (its jobs are the user's files).
 */
static const char *const shared_dirs[] = {"/tmp", "/var/tmp", "/dev/shm", "/var/spool/cron/atjobs"};
#define CRONTABS "/var/spool/cron/crontabs"

/* Removes what `uid` owns at the top of `dir` (every entry, with `all`). */
static int remove_owned(const char *dir, uid_t uid, int all)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char *path;
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : error_errno("cannot read '%s'", dir);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (!all && st.st_uid != uid))
			continue;
		path = path_alloc(dir, e->d_name);
		if (!path || remove_tree(path, 0) < 0)
			ret = -1;
		free(path);
	}
	closedir(d);
	return ret;
}

int workspace_scrub_user(const char *name, const struct settings *s)
{
	struct job_user u;
	struct stat st;
	char crontab[PATH_MAX];
	size_t i;
	int ret = 0;

	if (!name)
		return 0;
	if (!getpwnam(name)) {
		warning("job user '%s' is gone from this machine: nothing of it to reset", name);
		return 0;
	}
	if (job_user_lookup(&u, name, &s->job_groups) < 0)
		return -1;
	/* The home, when it is the user's own: never a shared or system directory. */
	if (u.home[0] == '/' && u.home[1] && lstat(u.home, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == u.uid && remove_owned(u.home, u.uid, 1) < 0)
		ret = -1;
	for (i = 0; i < ARRAY_SIZE(shared_dirs); i++)
		if (remove_owned(shared_dirs[i], u.uid, 0) < 0)
			ret = -1;
	if (path_join(crontab, sizeof(crontab), "%s/%s", CRONTABS, u.name) < 0)
		ret = -1;
	else if (unlink(crontab) < 0 && errno != ENOENT)
		ret = error_errno("cannot remove '%s'", crontab);
	job_user_release(&u);
	return ret;
}

/*
 * A directory of the job user's: created, or taken over when an earlier berth made it root's.
 * Its parent (the builds or cache root, or the workspace) must let the user through.
 */
static int make_users_dir(const struct job_user *u, const char *path)
{
	char parent[PATH_MAX];
	struct stat st;

	if (path_join(parent, sizeof(parent), "%s", path) < 0)
		return -1;
	*strrchr(parent, '/') = '\0';
	if (make_dirs(parent, 0711) < 0 || lstat(parent, &st) < 0)
		return error_errno("cannot create '%s'", parent);
	if ((st.st_mode & 0111) != 0111 && chmod(parent, (st.st_mode & 07777) | 0111) < 0)
		return error_errno("cannot let job users through '%s'", parent);
	if ((mkdir(path, 0700) < 0 && errno != EEXIST) || lstat(path, &st) < 0)
		return error_errno("cannot create '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return error("'%s' is not a directory", path);
	if (st.st_uid == u->uid)
		return 0;
	if (st.st_uid != 0)
		return error("'%s' belongs to uid %u, not to job user '%s': remove it", path,
			     (unsigned)st.st_uid, u->name);
	return job_user_give(u, path);
}

/*
 * The job's places become the job user's; the workspace and its record stay root's, and so do
 * the credential dirs until prepare has written them (workspace_hand_over).
 */
static int give_places(const struct workspace *ws, const struct settings *s)
{
	struct job_user u;
	int ret = -1;

	if (job_user_lookup(&u, ws->user, &s->job_groups) < 0)
		return -1;
	if (job_user_give(&u, ws->tmp) == 0 && make_users_dir(&u, ws->builds) == 0 &&
	    make_users_dir(&u, ws->cache) == 0)
		ret = 0;
	job_user_release(&u);
	return ret;
}

/*
 * The job's cgroup: <job id>-<8 hex of the workspace path>, so that two runners with state
 * dirs of their own never share one for jobs of the same id. An existing one (an earlier
 * prepare attempt's) is kept.
 */
static int make_cgroup(struct workspace *ws, const struct settings *s)
{
	struct cgroup_limits l = {s->job_pids_max, s->job_memory_max, s->job_cpu_max};
	char hex[SHA256_HEX_SIZE], name[128], note[PATH_MAX + 256];

	free(ws->cgroup_note);
	ws->cgroup_note = NULL;
	if (!s->cgroup) {
		snprintf(note, sizeof(note),
			 "no cgroup (the settings say cgroup: off): /proc scan");
	} else {
		sha256_hex(ws->dir, strlen(ws->dir), hex);
		snprintf(name, sizeof(name), "%.64s-%.8s", strrchr(ws->dir, '/') + 1, hex);
		if (cgroup_create(&ws->cgroup, name, &l, note, sizeof(note)) < 0) {
			cgroup_end(&ws->cgroup); /* what it made before failing */
			return -1;
		}
	}
	if (!(ws->cgroup_note = strdup(note)))
		return error("out of memory");
	return 0;
}

int workspace_end_processes(const struct workspace *ws, unsigned grace)
{
	char marker[4600];
	uid_t uid = job_user_uid(ws->user);
	int killed = 0, r;

	if (!ws->cgroup.v2[0]) {
		if (path_join(marker, sizeof(marker), "%s=%s", JOB_MARKER, ws->dir) < 0 ||
		    (killed = procscan_kill_marked(marker, grace)) < 0)
			return -1;
	}
	if ((r = cgroup_end(&ws->cgroup)) < 0)
		return -1;
	killed += r;
	/* The cgroup holds all the job started. A process of its user started some other way (at,
	 * a lingering user manager) is outside it: the user goes to the next job, that must not. */
	if (uid != (uid_t)-1 && (r = proc_end_user(uid, grace)) < 0)
		return -1;
	return killed + r;
}

void workspace_recorded_cgroup(const char *dir, struct cgroup *cg)
{
	char path[4096], line[PATH_MAX + 16];
	FILE *f;

	memset(cg, 0, sizeof(*cg));
	if (path_join(path, sizeof(path), "%s/state", dir) < 0 || !(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "cgroup ", 7))
			cgroup_add(cg, line + 7);
	}
	fclose(f);
}

int workspace_create(struct workspace *ws, const struct settings *s, const struct job *job)
{
	char *jobs = strdup(ws->dir);
	int ret = -1, claim = -1;

	if (!jobs)
		return error("out of memory");
	*strrchr(jobs, '/') = '\0';
	/* Parents are traversable (0711): a job user must reach only its own workspace. */
	if (make_dirs(jobs, 0711) < 0)
		goto out;
	if (s->job_users.nr && !ws->user && (claim = claim_user(ws, s, jobs, job)) < 0)
		goto out;
	if (mkdir(ws->dir, 0700) < 0 && errno != EEXIST) {
		error_errno("cannot create workspace '%s'", ws->dir);
		goto out;
	}
	if (set_dir_mode(ws->dir, ws->user ? 0711 : 0700, 1) < 0)
		goto out;
	if (make_private(ws->tmp) < 0 || make_private(ws->docker) < 0 || make_private(ws->kube) < 0)
		goto out;
	if (!ws->builds_shared && mkdir(ws->builds, 0700) < 0 && errno != EEXIST) {
		error_errno("cannot create '%s'", ws->builds);
		goto out;
	}
	if (make_cgroup(ws, s) < 0)
		goto out;
	if (write_state(ws, job) < 0) {
		cgroup_end(&ws->cgroup); /* unrecorded: cleanup and gc would never find it */
		goto out;
	}
	if (ws->user && give_places(ws, s) < 0)
		goto out;
	ret = 0;
out:
	if (claim >= 0)
		close(claim);
	free(jobs);
	return ret;
}

/* Gives every entry of `dir` to `u`; entries are berth's own, written before any job code. */
static int give_entries(const struct job_user *u, const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int ret = 0;

	if (!d)
		return error_errno("cannot read '%s'", dir);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    fchownat(dirfd(d), e->d_name, u->uid, u->gid, AT_SYMLINK_NOFOLLOW) < 0)
			ret = error_errno("cannot give '%s/%s' to job user '%s'", dir, e->d_name,
					  u->name);
	closedir(d);
	return ret;
}

int workspace_hand_over(const struct workspace *ws, const struct settings *s)
{
	struct job_user u;
	int ret;

	if (!ws->user)
		return 0;
	if (job_user_lookup(&u, ws->user, &s->job_groups) < 0)
		return -1;
	/* The directories last: while prepare writes the credentials as root, they are root's. */
	ret = 0;
	if (give_entries(&u, ws->docker) < 0 || give_entries(&u, ws->kube) < 0 ||
	    job_user_give(&u, ws->docker) < 0 || job_user_give(&u, ws->kube) < 0)
		ret = -1;
	job_user_release(&u);
	return ret;
}

int workspace_exists(const struct workspace *ws)
{
	struct stat st;

	if (lstat(ws->dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 1 : error("'%s' is not a directory", ws->dir);
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return error_errno("cannot inspect workspace '%s'", ws->dir);
}

int workspace_remove(const struct workspace *ws)
{
	int ret = 0;

	/* Credentials are overwritten before they are unlinked; the rest just goes. */
	if (remove_tree(ws->docker, 1) < 0 || remove_tree(ws->kube, 1) < 0)
		ret = -1;
	if (remove_tree(ws->dir, 0) < 0)
		ret = -1;
	return ret;
}

void workspace_touch(const struct workspace *ws)
{
	char path[4400];

	if (path_join(path, sizeof(path), "%s/state", ws->dir) == 0)
		utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

int workspace_recorded(const char *dir, const char *key, char *out, size_t size)
{
	char path[4096], line[256];
	size_t n = strlen(key);
	int found = -1;
	FILE *f;

	if (path_join(path, sizeof(path), "%s/state", dir) < 0)
		return -1;
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, key, n) && line[n] == ' ' && line[n + 1] &&
		    strlen(line + n + 1) < size) {
			memcpy(out, line + n + 1, strlen(line + n + 1) + 1);
			found = 0;
		}
	}
	if (f)
		fclose(f);
	return found;
}

void workspace_release(struct workspace *ws)
{
	free(ws->dir);
	free(ws->tmp);
	free(ws->docker);
	free(ws->kube);
	free(ws->kubeconfig);
	free(ws->builds);
	free(ws->cache);
	free(ws->settings);
	free(ws->bin);
	free(ws->user);
	free(ws->cgroup_note);
	memset(ws, 0, sizeof(*ws));
}
